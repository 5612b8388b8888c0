// A session is the protocol logic of one connected peer, independent of the fd it runs on:
// it is fed whatever bytes arrived and appends what must be sent. The daemon's poll loop owns
// the fds; sessions own no OS resources, which keeps them unit-testable.
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
  // A new peer took over the channel (pty opened by another process): forget partial input.
  virtual void on_new_peer() {}
  // Input bytes thrown away so far (garbage between frames, dropped partial frames), for the
  // trace: a peer that keeps producing them has a framing problem worth seeing.
  virtual uint64_t discarded_bytes() const { return 0; }
};

}  // namespace utpm::host
