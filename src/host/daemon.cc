#include "host/daemon.h"

#include <sys/signalfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>

#include "host/link_stream_session.h"
#include "host/mssim_session.h"

namespace utpm::host {

namespace {

uint64_t now_ms() { return monotonic_us() / 1000u; }

// The pump keeps at most this much unprocessed input per channel while a command runs; the
// rest waits in the kernel, as it would without the pump.
constexpr size_t kMaxEarlyBytes = 4096;

}  // namespace

Daemon::Daemon(EngineLink& engine, size_t max_command_size, uint32_t stall_timeout_ms,
               std::FILE* log, bool trace)
    : max_command_size_(max_command_size),
      stall_timeout_ms_(stall_timeout_ms),
      log_(log),
      trace_(trace) {
  instances_.emplace_back();
  instances_.back().engine = &engine;
}

void Daemon::begin_instance(const std::string& name, EngineLink& engine) {
  if (instances_.size() == 1 && instances_[0].prefix.empty() && !instances_[0].make_link &&
      endpoints_.empty()) {
    instances_.clear();  // the constructor's engine serves nothing: instance 0 is this one
  }
  Instance in;
  in.engine = &engine;
  in.max_connections = max_connections_;
  in.may_stop = false;
  in.prefix = name + "/";
  for (auto& other : instances_) other.may_stop = false;
  instances_.push_back(std::move(in));
  current_ = instances_.size() - 1;
}

const char* Daemon::instance_name(const char* name) {
  const std::string& prefix = instances_[current_].prefix;
  if (prefix.empty()) return name;
  names_.push_back(std::make_unique<std::string>(prefix + name));
  return names_.back()->c_str();
}

Daemon::~Daemon() = default;

Channel& Daemon::add_channel(std::unique_ptr<Channel> channel, SessionFactory make_session,
                             bool bare) {
  auto ep = std::make_unique<Endpoint>();
  ep->channel = std::move(channel);
  ep->make_session = std::move(make_session);
  ep->bare = bare;
  ep->instance = current_;
  if (ep->channel->connected()) start_session(*ep, false);
  Channel& ch = *ep->channel;
  endpoints_.push_back(std::move(ep));
  return ch;
}

void Daemon::hand_over_to(const Channel& from, Channel& to) {
  Endpoint* src = nullptr;
  Endpoint* dst = nullptr;
  for (auto& ep : endpoints_) {
    if (ep->channel.get() == &from) src = ep.get();
    if (ep->channel.get() == &to) dst = ep.get();
  }
  if (src != nullptr) src->hand_over = dst;
}

bool Daemon::add_mssim(const std::string& host, uint16_t port, std::string& error) {
  if (port == 0 || port == 65535) {
    error = "mssim port must be 1..65534 (the platform port is port+1)";
    return false;
  }
  // One TPM connection over two sockets: they share their per-connection state.
  auto state = std::make_shared<ConnectionState>();
  auto cmd = TcpChannel::listen(instance_name("mssim"), host, port, state, error);
  if (!cmd) return false;
  auto plat = TcpChannel::listen(instance_name("mssim-platform"), host, static_cast<uint16_t>(port + 1), state,
                                 error);
  if (!plat) return false;
  cmd->set_spawns_peers();
  plat->set_spawns_peers();
  add_channel(std::move(cmd), [this](Channel& ch, EngineLink& link) {
    return std::make_unique<MssimCommandSession>(link, max_command_size_, ch.name());
  });
  add_channel(std::move(plat),
              [](Channel&, EngineLink& link) { return std::make_unique<MssimPlatformSession>(link); });
  return true;
}

bool Daemon::add_pty(const std::string& link, std::string& error) {
  if (has_pty_) {
    error = "only one --pty";
    return false;
  }
  auto pty = PtyChannel::create("pty", link, nullptr, error);
  if (!pty) return false;
  has_pty_ = true;
  pty_slave_ = pty->slave_path();
  add_channel(std::move(pty), [this](Channel& ch, EngineLink& engine) {
    return std::make_unique<LinkStreamSession>(engine, ch.name(), stall_timeout_ms_,
                                               &ch.state());
  });
  return true;
}

bool Daemon::add_unix(const std::string& path, std::string& error) {
  auto ch = UnixChannel::listen(instance_name("unix"), path, nullptr, error);
  if (!ch) return false;
  ch->set_spawns_peers();
  add_channel(std::move(ch), [this](Channel& c, EngineLink& link) {
    return std::make_unique<LinkStreamSession>(link, c.name(), stall_timeout_ms_, &c.state());
  });
  return true;
}

bool Daemon::add_vtpm_proxy(const std::string& vtpmx, VtpmDevice& device, std::string& error) {
  auto ch = VtpmChannel::create("vtpm", vtpmx, device, error);
  if (!ch) return false;
  add_channel(
      std::move(ch),
      [this](Channel& c, EngineLink& engine) {
        return std::make_unique<VtpmProxySession>(engine, c.name(), max_command_size_, c.state());
      },
      /*bare=*/true);
  return true;
}

void Daemon::start_session(Endpoint& ep, bool trace_connect) {
  end_session(ep);
  const Instance& in = instances_[ep.instance];
  if (in.make_link && !ep.bare) ep.link = in.make_link();
  ep.session = ep.make_session(*ep.channel, ep.link ? *ep.link : *in.engine);
  ep.early.clear();
  ep.early_end = Channel::Io::ok;
  if (trace_connect && trace_) std::fprintf(log_, "utpmd: %s: client connected\n", ep.channel->name());
}

void Daemon::end_session(Endpoint& ep) {
  ep.session.reset();  // first: it refers to the link
  ep.link.reset();     // a ResourceManager connection flushes what its client left
}

size_t Daemon::connections() const {
  size_t n = 0;
  for (const auto& ep : endpoints_) n += ep->spawned ? 1 : 0;
  return n;
}

size_t Daemon::connections_of(size_t instance,
                              const std::vector<std::unique_ptr<Endpoint>>& born) const {
  size_t n = 0;
  for (const auto* list : {&endpoints_, &born}) {
    for (const auto& ep : *list) n += ep->spawned && ep->session && ep->instance == instance;
  }
  return n;
}

std::vector<Channel::Ready> Daemon::poll_now(std::span<Endpoint* const> eps) {
  // Its own pollfd array and slices: the loop's round (fds_ and each poll_first) stays intact
  // for the endpoints it has yet to visit.
  std::vector<pollfd> fds;
  std::vector<std::pair<size_t, size_t>> slices;
  for (Endpoint* ep : eps) {
    const size_t first = fds.size();
    const size_t count = ep->early_end == Channel::Io::ok ? ep->channel->poll_fds(fds) : 0;
    slices.emplace_back(first, count);
  }
  std::vector<Channel::Ready> ready(eps.size());
  if (fds.empty() || ::poll(fds.data(), fds.size(), 0) <= 0) return ready;
  for (size_t i = 0; i < eps.size(); ++i) {
    ready[i] = eps[i]->channel->on_poll({fds.data() + slices[i].first, slices[i].second});
  }
  return ready;
}

void Daemon::reap_departed(size_t instance, std::vector<std::unique_ptr<Endpoint>>& born) {
  std::vector<Endpoint*> peers;
  for (const auto* list : {&endpoints_, &born}) {
    for (const auto& ep : *list) {
      if (ep->spawned && ep->session && ep->instance == instance && !has_early(*ep)) {
        peers.push_back(ep.get());
      }
    }
  }
  const std::vector<Channel::Ready> ready = poll_now(peers);
  for (size_t i = 0; i < peers.size(); ++i) {
    Endpoint* ep = peers[i];
    if (!ready[i].readable) continue;
    // What the peer sent before it left is served as the loop would; a peer that sends
    // without end stays (bounded work here), as do its bytes for the next round.
    for (int k = 0; k < 8 && ep->session && ep->channel->connected(); ++k) {
      if (!service_input(*ep)) {
        stop_ = true;
        return;
      }
    }
    drop_session_if_gone(*ep);
  }
}

void Daemon::accept_connections(Endpoint& listener,
                                std::vector<std::unique_ptr<Endpoint>>& born) {
  const size_t bound = instances_[listener.instance].max_connections;
  while (std::unique_ptr<Channel> ch = listener.channel->accept_connection()) {
    // Peers that already hung up count until the loop reads their end: while the engine was
    // busy, a client that connects and leaves over and over fills the backlog with them.
    if (connections_of(listener.instance, born) >= bound) reap_departed(listener.instance, born);
    if (connections_of(listener.instance, born) >= bound) {
      if (log_) {
        std::fprintf(log_, "utpmd: %s: connection refused: %zu connections (the bound)\n",
                     ch->name(), bound);
      }
      continue;  // destroying the channel closes the socket: the client sees EOF at once
    }
    auto ep = std::make_unique<Endpoint>();
    ep->channel = std::move(ch);
    ep->make_session = listener.make_session;
    ep->hand_over = listener.hand_over;  // descriptors its peers pass go where the listener's go
    ep->spawned = true;
    ep->instance = listener.instance;
    start_session(*ep, true);
    born.push_back(std::move(ep));
  }
}

void Daemon::new_peer(Endpoint& ep) {
  if (ep.link) ep.link->on_client_change();
  if (ep.session) ep.session->on_new_peer();
  if (trace_) std::fprintf(log_, "utpmd: %s: opened or closed by a client\n", ep.channel->name());
}

void Daemon::drop_session_if_gone(Endpoint& ep) {
  if (!ep.session || ep.channel->connected() || has_early(ep)) return;
  end_session(ep);  // a partial command of this peer dies with it
  if (trace_) {
    std::fprintf(log_, "utpmd: %s: client %s\n", ep.channel->name(), ep.channel->close_reason());
  }
  if (ep.channel.get() == stop_when_lost_) {
    if (log_) std::fprintf(log_, "utpmd: %s: connection lost, stopping\n", ep.channel->name());
    stop_ = true;
  }
}

bool Daemon::feed(Endpoint& ep, std::span<const uint8_t> bytes) {
  Channel& ch = *ep.channel;
  for (int fd = ch.take_received_fd(); fd >= 0; fd = ch.take_received_fd()) {
    if (!ep.session->on_descriptor(fd)) ::close(fd);
  }
  std::vector<uint8_t>& reply = reply_;  // reused: feed() never nests (the pump does not feed)
  reply.clear();
  const uint64_t discarded_before = ep.session->discarded_bytes();
  busy_ = &ep;
  const Session::Verdict v = ep.session->on_bytes(bytes, reply, now_ms());
  busy_ = nullptr;
  if (trace_ && ep.session->discarded_bytes() != discarded_before) {
    std::fprintf(log_, "utpmd: %s: skipped %llu byte(s) that start no command\n", ch.name(),
                 static_cast<unsigned long long>(ep.session->discarded_bytes() - discarded_before));
  }
  if (const int fd = ep.session->take_hand_over(); fd >= 0) {
    if (ep.hand_over != nullptr && ep.hand_over->channel->adopt(fd)) {
      start_session(*ep.hand_over, false);
      if (trace_) {
        std::fprintf(log_, "utpmd: %s: serving a descriptor handed over by %s\n",
                     ep.hand_over->channel->name(), ch.name());
      }
    } else if (ep.hand_over == nullptr) {
      ::close(fd);  // adopt() closes what it refuses
    }
  }
  if (!reply.empty()) {
    ch.write(reply);
  } else if (v == Session::Verdict::keep) {
    ch.expect_more_input();  // a partial frame (the reply would have carried the ACK)
  }
  if (v == Session::Verdict::stop_daemon) {
    if (!instances_[ep.instance].may_stop) {
      // One instance of several: its STOP/SHUTDOWN ends this connection, not the others' TPMs.
      if (log_) std::fprintf(log_, "utpmd: %s: STOP received, closing this connection only\n", ch.name());
      ch.close_after_flush();
      return true;
    }
    if (log_) std::fprintf(log_, "utpmd: %s: STOP received\n", ch.name());
    return false;
  }
  if (v == Session::Verdict::close) ch.close_after_flush();
  return true;
}

bool Daemon::service_input(Endpoint& ep) {
  uint8_t buf[65536];
  for (;;) {
    size_t n = 0;
    switch (ep.channel->read(buf, n)) {
      case Channel::Io::again:
      case Channel::Io::closed:  // drop_session_if_gone() ends the session
        return true;
      case Channel::Io::new_peer:
        new_peer(ep);
        continue;
      case Channel::Io::ok:
        return feed(ep, {buf, n});
    }
  }
}

bool Daemon::replay_early(Endpoint& ep) {
  while (has_early(ep) && ep.session) {
    if (!ep.early.empty()) {
      std::vector<uint8_t> bytes;
      bytes.swap(ep.early);  // feeding may run a command that pumps more into ep.early
      if (!feed(ep, bytes)) return false;
      continue;
    }
    const Channel::Io end = ep.early_end;
    ep.early_end = Channel::Io::ok;
    if (end == Channel::Io::new_peer) {
      // The pump saw the client change mid-command; the response written since then was for
      // the client that is gone (what read() flushes when it sees the change in the loop).
      ep.channel->discard_output();
      new_peer(ep);
    }
  }
  ep.early.clear();
  ep.early_end = Channel::Io::ok;
  return true;
}

void Daemon::pump_read(Endpoint& ep) {
  uint8_t buf[512];
  while (ep.early_end == Channel::Io::ok && ep.early.size() < kMaxEarlyBytes) {
    size_t n = 0;
    const Channel::Io io =
        ep.channel->read({buf, std::min(sizeof buf, kMaxEarlyBytes - ep.early.size())}, n);
    if (io == Channel::Io::again) break;
    if (io != Channel::Io::ok) {
      ep.early_end = io;  // the session learns it after the command, in order
      break;
    }
    ep.early.insert(ep.early.end(), buf, buf + n);
  }
  std::vector<uint8_t> reply;
  const size_t used = ep.session->on_bytes_busy(ep.early, reply);
  ep.early.erase(ep.early.begin(), ep.early.begin() + static_cast<std::ptrdiff_t>(used));
  if (!reply.empty()) ep.channel->write(reply);
}

void Daemon::poll_for_cancel() {
  if (busy_ == nullptr || pumping_) return;
  pumping_ = true;
  std::vector<Endpoint*> eps;
  for (auto& ep : endpoints_) eps.push_back(ep.get());
  const std::vector<Channel::Ready> ready = poll_now(eps);
  for (size_t i = 0; i < eps.size(); ++i) {
    Endpoint* ep = eps[i];
    // A spawning listener's peers wait in the backlog until the command is answered.
    if (ready[i].connected && ep != busy_ && !ep->channel->spawns_peers()) {
      start_session(*ep, true);
    }
    if (ready[i].readable && ep->session && ep->session->reads_while_busy()) pump_read(*ep);
  }
  pumping_ = false;
}

int Daemon::run(int signal_fd) {
  while (!stop_) {
    fds_.clear();
    if (signal_fd >= 0) fds_.push_back({signal_fd, POLLIN, 0});
    int timeout = -1;
    const uint64_t now = now_ms();
    for (auto& ep : endpoints_) {
      ep->poll_first = fds_.size();
      ep->poll_count = ep->channel->poll_fds(fds_);
      if (ep->session) {
        const int64_t due = ep->session->timer_due_in(now);
        if (due >= 0 && (timeout < 0 || due < timeout)) {
          timeout = static_cast<int>(std::min<int64_t>(due, INT_MAX));
        }
      }
    }
    const int n = ::poll(fds_.data(), fds_.size(), timeout);
    if (n < 0) {
      if (errno == EINTR) continue;
      std::fprintf(log_, "utpmd: poll: %s\n", std::strerror(errno));
      endpoints_.clear();
      return 1;
    }
    if (signal_fd >= 0 && fds_[0].revents != 0) {
      signalfd_siginfo si{};
      if (::read(signal_fd, &si, sizeof si) == sizeof si && log_) {
        std::fprintf(log_, "utpmd: %s, stopping\n", ::strsignal(static_cast<int>(si.ssi_signo)));
      }
      stop_ = true;
      break;
    }
    // Round-robin: every ready endpoint once per round, starting one further each round.
    std::vector<std::unique_ptr<Endpoint>> born;
    const size_t count = endpoints_.size();
    const size_t first = count == 0 ? 0 : round_++ % count;
    for (size_t k = 0; k < count && !stop_; ++k) {
      Endpoint* ep = endpoints_[(first + k) % count].get();
      const Channel::Ready r =
          ep->channel->on_poll({fds_.data() + ep->poll_first, ep->poll_count});
      if (r.connected) {
        if (ep->channel->spawns_peers()) {
          accept_connections(*ep, born);
        } else {
          start_session(*ep, true);
        }
      }
      if (r.readable && ep->session && !has_early(*ep) && !service_input(*ep)) stop_ = true;
    }
    for (auto& ep : born) endpoints_.push_back(std::move(ep));
    // What the cancel pump read during commands: the channels will not report it again.
    for (bool more = true; more && !stop_;) {
      more = false;
      for (auto& ep : endpoints_) {
        if (stop_ || !has_early(*ep)) continue;
        if (!replay_early(*ep)) stop_ = true;
        more = true;
      }
    }
    for (auto& ep : endpoints_) drop_session_if_gone(*ep);
    std::erase_if(endpoints_, [](const std::unique_ptr<Endpoint>& ep) {
      return ep->spawned && !ep->session;  // its peer left: the channel closes with it
    });
    const uint64_t later = now_ms();
    for (auto& ep : endpoints_) {
      if (ep->session && ep->session->timer_due_in(later) == 0 && ep->session->on_timer(later)) {
        if (trace_) {
          std::fprintf(log_, "utpmd: %s: stalled partial command dropped\n", ep->channel->name());
        }
        if (ep->session->close_after_stall()) ep->channel->close_peer("closed (stalled request)");
      }
    }
  }
  // Sessions before links (a ResourceManager connection flushes its client's objects on the
  // engine, which must still be powered), then every fd, the pty link and the unix socket file.
  for (auto& ep : endpoints_) end_session(*ep);
  endpoints_.clear();
  return 0;
}

}  // namespace utpm::host
