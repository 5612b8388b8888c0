// utpmd's I/O: one single-threaded poll() loop serving every channel (channel.h). The loop
// knows no transport: each Channel reports its fds, peers arriving and leaving, and bytes; each
// peer gets a Session (session.h) from its channel's factory.
//
// Several clients at once: the mssim and unix listeners spawn a channel per peer
// (Channel::set_spawns_peers), so every client of every channel is connected at the same time,
// each with its own session and (utpmd) its own EngineLink, a ResourceManager connection with
// its own handle space. One command executes at a time (the engine is single-threaded, as a
// TPM is); each poll round serves every ready connection once (one read, which for TPM clients
// is one command), starting one endpoint further each round (round-robin), so no client waits
// for another to close. At most max_connections spawned connections; more are closed at once.
//
// Channels utpmd sets up:
//   mssim    TCP command port + platform port (port+1)          -> MssimCommandSession /
//                                                                  MssimPlatformSession
//   pty      a pseudo-terminal whose slave is raw and symlinked -> LinkStreamSession
//   unix     a unix stream socket                               -> LinkStreamSession
//   vtpm     the kernel's vtpm proxy descriptor (/dev/tpmN)     -> VtpmProxySession (bare TPM)
// (LinkStreamSession: raw TPM stream, mssim or legacy 'Tpm2' frames, autodetected per frame.)
//
// Cancel while a command runs (the cancel pump). The engine polls Platform::cancel_requested()
// during long commands; HostPlatform calls poll_for_cancel() from there (at most once per
// interval), on the engine's own thread. It polls every channel without blocking, accepts
// waiting peers, and reads the input of sessions that take signals while busy (the mssim
// platform port, the stream channels); each session acts at once on the cancel signals at the
// head of that input (MssimPlatformSession acks them) and leaves everything else -- power, NV,
// a next command, a peer leaving -- to be fed in order after the command. So no second thread
// touches the engine, nothing but a cancel can change TPM state mid-command, and the cancel
// flag is set on the engine's thread (it is atomic anyway, so a signal handler or another
// thread may set it too). Limits: bytes that arrived in the same read() as the running command
// are behind it and wait for it; a mssim TCP client that sends CANCEL_ON on the command port
// (not the protocol) is not served; the bridge does not poll (its board has its own cancel).
#pragma once

#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "host/channel.h"
#include "host/engine_link.h"
#include "host/host_platform.h"
#include "host/session.h"
#include "host/vtpm_proxy.h"

namespace utpm::host {

class Daemon final : public CancelPoller {
 public:
  // A session for a peer of `channel`, executing its commands through `engine` (the daemon's
  // engine, or the peer's own connection link: set_connection_links()).
  using SessionFactory = std::function<std::unique_ptr<Session>(Channel&, EngineLink&)>;
  // One EngineLink per client connection (utpmd: a ResourceManager connection, its own handle
  // space); destroyed when the client leaves, told on_client_change() when a pty changes hands.
  using ConnectionLinkFactory = std::function<std::unique_ptr<EngineLink>()>;
  // Bound on client connections at once over the spawning listeners (mssim command and platform
  // sockets count one each; the pty is not counted): beyond it a new peer is accepted and closed
  // at once, so it fails fast instead of waiting in silence.
  static constexpr size_t kDefaultMaxConnections = 64;

  Daemon(EngineLink& engine, size_t max_command_size, uint32_t stall_timeout_ms,
         std::FILE* log, bool trace);
  ~Daemon();
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  // utpmd's channels. Each returns false and sets `error` on failure.
  bool add_mssim(const std::string& host, uint16_t port, std::string& error);
  bool add_pty(const std::string& link, std::string& error);
  bool add_unix(const std::string& path, std::string& error);
  // The kernel's vtpm proxy (vtpm_proxy.h): creates /dev/tpmN + /dev/tpmrmN through `vtpmx`
  // and serves the kernel's commands with the bare TPM (the kernel is the resource manager).
  bool add_vtpm_proxy(const std::string& vtpmx, VtpmDevice& device, std::string& error);

  // Serves any channel: each peer it reports gets a session from `make_session` (a channel that
  // is connected from the start, like the pty, gets one now). Returns the channel.
  // `bare`: the sessions use the daemon's engine even when set_connection_links() gives every
  // other connection its own link (a channel whose peer does its own resource management).
  Channel& add_channel(std::unique_ptr<Channel> channel, SessionFactory make_session,
                       bool bare = false);
  // Descriptors that sessions on `from` hand over (Session::take_hand_over) become the peer of
  // `to`, with a new session: swtpm's control channel passing its data channel (SET_DATAFD).
  void hand_over_to(const Channel& from, Channel& to);

  // Gives every session its own EngineLink from `make` (before channels are added; applies to
  // the current instance).
  void set_connection_links(ConnectionLinkFactory make) {
    instances_[current_].make_link = std::move(make);
  }
  // The bound on spawned connections, per instance (the current one and those begun later).
  void set_max_connections(size_t n) {
    max_connections_ = n;
    instances_[current_].max_connections = n;
  }

  // ---- several TPM instances in one daemon (utpmd --instance) ----
  // Starts instance `name`: the channels added from now on (add_mssim, add_unix, add_channel,
  // serve_swtpm...) execute through `engine`, their connections get links from set_connection_
  // links() called after this, their spawned connections are bounded per instance, and their
  // channel names (trace lines) are prefixed "name/". An instance's STOP (mssim STOP, swtpm
  // CMD_SHUTDOWN) closes only the connection that sent it: one instance cannot stop the daemon.
  // The daemon's constructor engine is instance 0 (the only one unless this is called).
  void begin_instance(const std::string& name, EngineLink& engine);
  size_t instances() const { return instances_.size(); }
  // `name` with the current instance's prefix ("vm1/mssim"; `name` itself for the single
  // instance), stable for the daemon's life: for the channels an instance adds.
  const char* instance_name(const char* name);
  // The daemon stops (as on SIGTERM) when the peer of `channel` goes away: swtpm's --terminate
  // for the data channel QEMU passes.
  void stop_when_lost(const Channel& channel) { stop_when_lost_ = &channel; }
  // Where per-request trace lines go (nullptr without --trace).
  std::FILE* trace_stream() const { return trace_ ? log_ : nullptr; }
  // Spawned client connections being served now (of every instance).
  size_t connections() const;

  // The slave path of the pty (for messages), empty without a pty.
  const std::string& pty_slave() const { return pty_slave_; }

  // Serves until a signal arrives on `signal_fd` (a signalfd; -1 for none) or a peer sends
  // mssim STOP. Returns after the command in progress has been answered. Returns 0, or 1 on a
  // fatal error. Channels are closed (links and socket files removed) when it returns.
  int run(int signal_fd);

  // CancelPoller: the cancel pump (see above). Does nothing unless a command is running.
  void poll_for_cancel() override;

 private:
  struct Endpoint {
    std::unique_ptr<Channel> channel;
    SessionFactory make_session;
    std::unique_ptr<EngineLink> link;  // the connection's own link (declared before the session
                                       // that refers to it, so it is destroyed after it)
    std::unique_ptr<Session> session;
    bool bare = false;     // no connection link of its own (add_channel)
    size_t instance = 0;   // which TPM instance its sessions execute on (begin_instance)
    bool spawned = false;  // a peer of a spawning listener: removed when the peer leaves
    Endpoint* hand_over = nullptr;  // whose channel serves descriptors this session hands over
    // What the cancel pump took off the channel while a command ran and the session could not
    // act on yet: bytes, then possibly the end of the peer (new_peer or closed; ok = none).
    std::vector<uint8_t> early;
    Channel::Io early_end = Channel::Io::ok;
    size_t poll_first = 0;  // this round's slice of the pollfd array
    size_t poll_count = 0;
  };

  struct Instance {
    EngineLink* engine = nullptr;
    ConnectionLinkFactory make_link;
    size_t max_connections = kDefaultMaxConnections;
    bool may_stop = true;  // a peer's STOP stops the daemon (single-instance mode only)
    std::string prefix;    // "name/" for channel names, empty for the single instance
  };
  // Live peers (spawned endpoints with a session) of an instance, those born this round too.
  size_t connections_of(size_t instance,
                        const std::vector<std::unique_ptr<Endpoint>>& born) const;
  // Serves and ends the peers of an instance that have already hung up (see accept_connections).
  void reap_departed(size_t instance, std::vector<std::unique_ptr<Endpoint>>& born);
  // Polls these endpoints without waiting (inside a round: the pump, the reaper) and returns
  // what each channel found, in order. An endpoint with a pending end is not polled.
  std::vector<Channel::Ready> poll_now(std::span<Endpoint* const> eps);
  void start_session(Endpoint& ep, bool trace_connect);
  void end_session(Endpoint& ep);
  // Takes every peer waiting on a spawning listener as a new endpoint (into `born`).
  void accept_connections(Endpoint& listener, std::vector<std::unique_ptr<Endpoint>>& born);
  void new_peer(Endpoint& ep);
  // Feeds bytes to the session and sends its reply. Returns false if the daemon must stop.
  bool feed(Endpoint& ep, std::span<const uint8_t> bytes);
  bool service_input(Endpoint& ep);
  bool replay_early(Endpoint& ep);
  bool has_early(const Endpoint& ep) const {
    return !ep.early.empty() || ep.early_end != Channel::Io::ok;
  }
  void pump_read(Endpoint& ep);
  void drop_session_if_gone(Endpoint& ep);

  std::vector<Instance> instances_;
  size_t current_ = 0;
  std::vector<std::unique_ptr<std::string>> names_;  // instance_name() storage
  size_t max_command_size_;
  uint32_t stall_timeout_ms_;
  std::FILE* log_;
  bool trace_;
  std::vector<std::unique_ptr<Endpoint>> endpoints_;
  std::vector<pollfd> fds_;
  std::vector<uint8_t> reply_;

  Endpoint* busy_ = nullptr;  // whose command the engine is running
  bool pumping_ = false;
  bool has_pty_ = false;
  std::string pty_slave_;
  bool stop_ = false;
  size_t max_connections_ = kDefaultMaxConnections;
  size_t round_ = 0;  // round-robin: where this poll round starts serving
  const Channel* stop_when_lost_ = nullptr;
};

}  // namespace utpm::host
