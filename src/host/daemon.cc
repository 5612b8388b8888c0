#include "host/daemon.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>

#include "host/host_platform.h"
#include "host/mssim_session.h"
#include "host/link_stream_session.h"

namespace utpm::host {

namespace {

uint64_t now_ms() { return monotonic_us() / 1000u; }

void set_int_option(int fd, int level, int name, int value) {
  ::setsockopt(fd, level, name, &value, sizeof value);
}

std::string errno_text(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

}  // namespace

Daemon::Daemon(EngineLink& engine, size_t max_command_size, uint32_t stall_timeout_ms,
               std::FILE* log, bool trace)
    : engine_(engine),
      max_command_size_(max_command_size),
      stall_timeout_ms_(stall_timeout_ms),
      log_(log),
      trace_(trace) {}

Daemon::~Daemon() { cleanup(); }

bool Daemon::listen_tcp(const std::string& host, uint16_t port, int& fd, std::string& error) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* res = nullptr;
  const std::string service = std::to_string(port);
  if (const int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &res); rc != 0) {
    error = "cannot resolve " + host + ": " + ::gai_strerror(rc);
    return false;
  }
  fd = ::socket(res->ai_family, res->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    error = errno_text("socket");
    ::freeaddrinfo(res);
    return false;
  }
  set_int_option(fd, SOL_SOCKET, SO_REUSEADDR, 1);
  const bool ok = ::bind(fd, res->ai_addr, res->ai_addrlen) == 0 && ::listen(fd, 16) == 0;
  ::freeaddrinfo(res);
  if (!ok) {
    error = errno_text(("cannot listen on " + host + ":" + service).c_str());
    ::close(fd);
    fd = -1;
    return false;
  }
  return true;
}

bool Daemon::add_mssim(const std::string& host, uint16_t port, std::string& error) {
  if (port == 0 || port == 65535) {
    error = "mssim port must be 1..65534 (the platform port is port+1)";
    return false;
  }
  auto cmd = std::make_unique<Endpoint>();
  auto plat = std::make_unique<Endpoint>();
  if (!listen_tcp(host, port, cmd->listen_fd, error)) return false;
  if (!listen_tcp(host, static_cast<uint16_t>(port + 1), plat->listen_fd, error)) {
    ::close(cmd->listen_fd);
    return false;
  }
  cmd->name = "mssim";
  cmd->tcp = true;
  cmd->make_session = [this] {
    return std::make_unique<MssimCommandSession>(engine_, max_command_size_);
  };
  plat->name = "mssim-platform";
  plat->tcp = true;
  plat->make_session = [this] { return std::make_unique<MssimPlatformSession>(engine_); };
  endpoints_.push_back(std::move(cmd));
  endpoints_.push_back(std::move(plat));
  return true;
}

bool Daemon::add_pty(const std::string& link, std::string& error) {
  if (pty_slave_fd_ >= 0) {
    error = "only one --pty";
    return false;
  }
  struct stat st{};
  if (::lstat(link.c_str(), &st) == 0 && !S_ISLNK(st.st_mode)) {
    error = link + " exists and is not a symlink; not replacing it";
    return false;
  }
  const int master = ::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (master < 0 || ::grantpt(master) != 0 || ::unlockpt(master) != 0) {
    error = errno_text("cannot create a pty");
    if (master >= 0) ::close(master);
    return false;
  }
  char name[PATH_MAX];
  if (::ptsname_r(master, name, sizeof name) != 0) {
    error = errno_text("ptsname");
    ::close(master);
    return false;
  }
  // Holding the slave open ourselves keeps the pty alive between clients (no hangup on the
  // master when a tool exits) and keeps the termios we set: the device TCTI never sets any,
  // and a cooked tty (ICANON, ECHO, ONLCR...) corrupts the binary stream.
  const int slave = ::open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
  termios tio{};
  if (slave < 0 || ::tcgetattr(slave, &tio) != 0) {
    error = errno_text("cannot open the pty slave");
    if (slave >= 0) ::close(slave);
    ::close(master);
    return false;
  }
  ::cfmakeraw(&tio);
  tio.c_lflag &= ~static_cast<tcflag_t>(ECHO | ECHONL);
  tio.c_cc[VMIN] = 1;
  tio.c_cc[VTIME] = 0;
  if (::tcsetattr(slave, TCSANOW, &tio) != 0) {
    error = errno_text("cannot make the pty raw");
    ::close(slave);
    ::close(master);
    return false;
  }
  ::fcntl(master, F_SETFL, ::fcntl(master, F_GETFL) | O_NONBLOCK);

  // Replace the link atomically so a client never sees it missing or half made.
  const std::string tmp = link + ".new";
  ::unlink(tmp.c_str());
  if (::symlink(name, tmp.c_str()) != 0 || ::rename(tmp.c_str(), link.c_str()) != 0) {
    error = errno_text(("cannot create the symlink " + link).c_str());
    ::unlink(tmp.c_str());
    ::close(slave);
    ::close(master);
    return false;
  }
  pty_slave_fd_ = slave;
  pty_slave_ = name;
  pty_link_ = link;

  // We hold the slave open, so the master never sees a client hang up. inotify on the slave
  // does: a client opening or closing it means whatever is buffered belongs to a client that is
  // gone (killed mid-write, or exited without reading its response). We drop the partial command
  // and flush the response bytes still queued toward the slave at once: the next tool may read
  // as soon as it opens the port, before the daemon could react to that open.
  pty_watch_fd_ = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (pty_watch_fd_ >= 0 && ::inotify_add_watch(pty_watch_fd_, name, IN_OPEN | IN_CLOSE) < 0) {
    ::close(pty_watch_fd_);
    pty_watch_fd_ = -1;  // degrade to the stall timeout alone
  }

  auto ep = std::make_unique<Endpoint>();
  ep->name = "pty";
  ep->pty = true;
  ep->io_fd = master;
  ep->session = std::make_unique<LinkStreamSession>(engine_, "pty", stall_timeout_ms_);
  pty_endpoint_ = ep.get();
  endpoints_.push_back(std::move(ep));
  return true;
}

void Daemon::drain_pty_peer_events() {
  if (pty_watch_fd_ < 0) return;
  alignas(inotify_event) char buf[4096];
  bool changed = false;
  for (;;) {
    const ssize_t r = ::read(pty_watch_fd_, buf, sizeof buf);
    if (r <= 0) break;
    changed = true;  // only opens and closes are watched; which one does not matter
  }
  if (changed && pty_endpoint_ != nullptr) {
    pty_endpoint_->session->on_new_peer();
    pty_endpoint_->out.clear();
    ::tcflush(pty_slave_fd_, TCIFLUSH);
    if (trace_) std::fprintf(log_, "utpmd: pty: opened or closed by a client\n");
  }
}

bool Daemon::add_unix(const std::string& path, std::string& error) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) {
    error = "unix socket path too long: " + path;
    return false;
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  struct stat st{};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      error = path + " exists and is not a socket; not replacing it";
      return false;
    }
    // A socket file left by a previous run is replaced; a live one belongs to someone else.
    const int probe = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const bool live = ::connect(probe, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    ::close(probe);
    if (live) {
      error = path + " is in use by another server";
      return false;
    }
    ::unlink(path.c_str());
  }
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(fd, 16) != 0) {
    error = errno_text(("cannot listen on " + path).c_str());
    if (fd >= 0) ::close(fd);
    return false;
  }
  unix_path_ = path;
  auto ep = std::make_unique<Endpoint>();
  ep->name = "unix";
  ep->listen_fd = fd;
  ep->make_session = [this] {
    return std::make_unique<LinkStreamSession>(engine_, "unix", stall_timeout_ms_);
  };
  endpoints_.push_back(std::move(ep));
  return true;
}

void Daemon::accept_peer(Endpoint& ep) {
  const int fd = ::accept4(ep.listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (fd < 0) return;  // the peer gave up already, or EAGAIN: nothing to do
  if (ep.tcp) {
    // The stock client sends the 9-byte mssim prefix and the command in two writes; with Nagle
    // on either side and delayed ACKs that costs ~40 ms per command.
    set_int_option(fd, IPPROTO_TCP, TCP_NODELAY, 1);
    set_int_option(fd, IPPROTO_TCP, TCP_QUICKACK, 1);
  }
  ep.io_fd = fd;
  ep.session = ep.make_session();
  ep.out.clear();
  ep.close_after_flush = false;
  if (trace_) std::fprintf(log_, "utpmd: %s: client connected\n", ep.name);
}

void Daemon::close_peer(Endpoint& ep, const char* why) {
  if (ep.io_fd >= 0) ::close(ep.io_fd);
  ep.io_fd = -1;
  ep.session.reset();  // a partial command of this peer dies with it
  ep.out.clear();
  ep.close_after_flush = false;
  if (trace_) std::fprintf(log_, "utpmd: %s: client %s\n", ep.name, why);
}

void Daemon::flush_output(Endpoint& ep) {
  while (!ep.out.empty()) {
    const ssize_t w = ep.pty ? ::write(ep.io_fd, ep.out.data(), ep.out.size())
                             : ::send(ep.io_fd, ep.out.data(), ep.out.size(), MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;  // poll for POLLOUT
      if (ep.pty) {
        ep.out.clear();  // nothing sensible to do; the next command starts clean
        return;
      }
      close_peer(ep, "lost (write error)");
      return;
    }
    ep.out.erase(ep.out.begin(), ep.out.begin() + w);
  }
  if (ep.close_after_flush) close_peer(ep, "disconnected");
}

bool Daemon::service_input(Endpoint& ep) {
  if (ep.pty) drain_pty_peer_events();
  uint8_t buf[65536];
  const ssize_t r = ::read(ep.io_fd, buf, sizeof buf);
  if (r < 0) {
    if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK || errno == EIO) return true;
    if (!ep.pty) close_peer(ep, "lost (read error)");
    return true;
  }
  if (r == 0) {
    if (!ep.pty) close_peer(ep, "disconnected");  // a plain close is a session end
    return true;
  }
  if (ep.tcp) set_int_option(ep.io_fd, IPPROTO_TCP, TCP_QUICKACK, 1);  // not sticky
  if (ep.pty && !ep.out.empty()) {
    // A new command while an old response is still unwritten: that reader is gone.
    ep.out.clear();
  }
  const size_t before = ep.out.size();
  const uint64_t discarded_before = ep.session->discarded_bytes();
  const Session::Verdict v =
      ep.session->on_bytes({buf, static_cast<size_t>(r)}, ep.out, now_ms());
  if (trace_ && ep.session->discarded_bytes() != discarded_before) {
    std::fprintf(log_, "utpmd: %s: skipped %llu byte(s) that start no command\n", ep.name,
                 static_cast<unsigned long long>(ep.session->discarded_bytes() - discarded_before));
  }
  if (ep.pty && ep.out.size() > before) {
    // The client has sent a whole command and now waits, so anything still queued for it on
    // the slave side is stale (a previous tool read a response only partly): drop it, or it
    // would become the start of this response and desynchronise every later one.
    ::tcflush(pty_slave_fd_, TCIFLUSH);
  }
  if (v == Session::Verdict::stop_daemon) {
    if (log_) std::fprintf(log_, "utpmd: %s: STOP received\n", ep.name);
    flush_output(ep);
    return false;
  }
  if (v == Session::Verdict::close) ep.close_after_flush = true;
  flush_output(ep);
  return true;
}

int Daemon::run(int signal_fd) {
  std::vector<pollfd> fds;
  std::vector<Endpoint*> owners;
  while (!stop_) {
    fds.clear();
    owners.clear();
    if (signal_fd >= 0) {
      fds.push_back({signal_fd, POLLIN, 0});
      owners.push_back(nullptr);
    }
    int timeout = -1;
    const uint64_t now = now_ms();
    for (auto& ep : endpoints_) {
      if (ep->io_fd >= 0) {
        short events = 0;
        if (ep->pty || ep->out.empty()) events |= POLLIN;  // sockets: one reply at a time
        if (!ep->out.empty()) events |= POLLOUT;
        fds.push_back({ep->io_fd, events, 0});
        owners.push_back(ep.get());
        if (ep->session) {
          const int64_t due = ep->session->timer_due_in(now);
          if (due >= 0 && (timeout < 0 || due < timeout)) {
            timeout = static_cast<int>(std::min<int64_t>(due, INT_MAX));
          }
        }
        if (ep->pty && pty_watch_fd_ >= 0) {
          fds.push_back({pty_watch_fd_, POLLIN, 0});
          owners.push_back(ep.get());
        }
      } else if (ep->listen_fd >= 0) {
        fds.push_back({ep->listen_fd, POLLIN, 0});
        owners.push_back(ep.get());
      }
    }
    const int n = ::poll(fds.data(), fds.size(), timeout);
    if (n < 0) {
      if (errno == EINTR) continue;
      std::fprintf(log_, "utpmd: poll: %s\n", std::strerror(errno));
      return 1;
    }
    for (size_t i = 0; i < fds.size() && !stop_; ++i) {
      if (fds[i].revents == 0) continue;
      Endpoint* ep = owners[i];
      if (ep == nullptr) {
        signalfd_siginfo si{};
        if (::read(signal_fd, &si, sizeof si) == sizeof si && log_) {
          std::fprintf(log_, "utpmd: %s, stopping\n", ::strsignal(static_cast<int>(si.ssi_signo)));
        }
        stop_ = true;
        break;
      }
      if (ep->pty && fds[i].fd == pty_watch_fd_) {
        drain_pty_peer_events();
        continue;
      }
      if (fds[i].fd == ep->listen_fd && ep->io_fd < 0) {
        accept_peer(*ep);
        continue;
      }
      if (fds[i].fd != ep->io_fd) continue;  // closed earlier in this round
      if (fds[i].revents & POLLOUT) flush_output(*ep);
      if (ep->io_fd >= 0 && (fds[i].revents & (POLLIN | POLLHUP | POLLERR))) {
        if (!service_input(*ep)) stop_ = true;
      }
    }
    const uint64_t later = now_ms();
    for (auto& ep : endpoints_) {
      if (ep->session && ep->session->timer_due_in(later) == 0 &&
          ep->session->on_timer(later) && trace_) {
        std::fprintf(log_, "utpmd: %s: stalled partial command dropped\n", ep->name);
      }
    }
  }
  cleanup();
  return 0;
}

void Daemon::cleanup() {
  for (auto& ep : endpoints_) {
    if (ep->io_fd >= 0) ::close(ep->io_fd);
    if (ep->listen_fd >= 0) ::close(ep->listen_fd);
    ep->io_fd = ep->listen_fd = -1;
  }
  endpoints_.clear();
  if (!pty_link_.empty()) {
    // Remove the link only if it is still ours (another daemon may have taken the name).
    char target[PATH_MAX];
    const ssize_t n = ::readlink(pty_link_.c_str(), target, sizeof target - 1);
    if (n > 0 && pty_slave_ == std::string(target, static_cast<size_t>(n))) {
      ::unlink(pty_link_.c_str());
    }
    pty_link_.clear();
  }
  if (pty_slave_fd_ >= 0) ::close(pty_slave_fd_);
  pty_slave_fd_ = -1;
  if (pty_watch_fd_ >= 0) ::close(pty_watch_fd_);
  pty_watch_fd_ = -1;
  pty_endpoint_ = nullptr;
  if (!unix_path_.empty()) ::unlink(unix_path_.c_str());
  unix_path_.clear();
}

}  // namespace utpm::host
