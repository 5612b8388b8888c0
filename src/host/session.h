// A session is the protocol logic of one connected peer, independent of the fd it runs on:
// it is fed whatever bytes arrived and appends what must be sent. Channels (channel.h) own the
// fds and the daemon's poll loop drives both; sessions own no OS resources (a descriptor handed
// to one is only held until it is handed on), which keeps them unit-testable.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace utpm::host {

class Session {
 public:
  enum class Verdict : uint8_t {
    keep,          // keep the connection
    close,         // send what is queued, then close this connection
    stop_daemon,   // the peer asked the whole daemon to stop (mssim STOP)
  };
  virtual ~Session() = default;
  // Consumes all of `in`; appends the bytes to send to `out`. Each complete reply is appended
  // in one piece, so the caller can send it with one write().
  virtual Verdict on_bytes(std::span<const uint8_t> in, std::vector<uint8_t>& out,
                           uint64_t now_ms) = 0;
  // Milliseconds until on_timer() should run, or -1 if no timer is armed.
  virtual int64_t timer_due_in(uint64_t /*now_ms*/) const { return -1; }
  // Returns true if it dropped a stalled partial input (for the trace).
  virtual bool on_timer(uint64_t /*now_ms*/) { return false; }
  // After on_timer() dropped input: close the connection (a message protocol that cannot
  // resynchronise, like swtpm's control channel).
  virtual bool close_after_stall() const { return false; }
  // A new peer took over the channel (pty opened by another process): forget partial input.
  virtual void on_new_peer() {}
  // Input bytes thrown away so far (garbage between frames, dropped partial frames), for the
  // trace: a peer that keeps producing them has a framing problem worth seeing.
  virtual uint64_t discarded_bytes() const { return 0; }

  // ---- while the engine runs a command (daemon.h: the cancel pump) ----
  // Whether this session's input should be read while a command runs (on any channel), to find
  // signals that must reach the engine before it finishes: cancel.
  virtual bool reads_while_busy() const { return false; }
  // Consumes the longest prefix of `in` made of signals that are safe to act on while the engine
  // runs a command (cancel on/off) and appends their replies to `out`; returns its length. The
  // daemon feeds the rest of `in` to on_bytes() after the command, in order. Must not touch
  // state the running command uses (it may be called from inside this session's on_bytes()).
  virtual size_t on_bytes_busy(std::span<const uint8_t> /*in*/, std::vector<uint8_t>& /*out*/) {
    return 0;
  }

  // ---- file descriptors (swtpm's CMD_SET_DATAFD) ----
  // A descriptor arrived with the input that follows (SCM_RIGHTS on a unix socket). Return true
  // to keep it; otherwise the daemon closes it (a peer cannot leak descriptors into utpmd).
  virtual bool on_descriptor(int /*fd*/) { return false; }
  // A descriptor this session hands to the daemon after on_bytes(), to be served as the peer of
  // the channel registered with Daemon::hand_over_to(); -1 if none. The daemon owns it then.
  virtual int take_hand_over() { return -1; }
};

}  // namespace utpm::host
