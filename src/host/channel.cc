#include "host/channel.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>

namespace utpm::host {

namespace {

void set_int_option(int fd, int level, int name, int value) {
  ::setsockopt(fd, level, name, &value, sizeof value);
}

std::string errno_text(const std::string& what) { return what + ": " + std::strerror(errno); }

bool transient(int err) { return err == EINTR || err == EAGAIN || err == EWOULDBLOCK; }

}  // namespace

// ---- Channel ----

Channel::Channel(const char* name, std::shared_ptr<ConnectionState> state)
    : name_(name), state_(state ? std::move(state) : std::make_shared<ConnectionState>()) {}

Channel::~Channel() {
  if (peer_fd_ >= 0) ::close(peer_fd_);
  if (listen_fd_ >= 0) ::close(listen_fd_);
  close_received_fds();
}

size_t Channel::poll_fds(std::vector<pollfd>& fds) const {
  if (peer_fd_ >= 0) {
    short events = 0;
    if (wants_input()) events |= POLLIN;
    if (!out_.empty()) events |= POLLOUT;
    fds.push_back({peer_fd_, events, 0});
    return 1;
  }
  if (listen_fd_ >= 0) {
    fds.push_back({listen_fd_, POLLIN, 0});
    return 1;
  }
  return 0;
}

Channel::Ready Channel::on_poll(std::span<const pollfd> fds) {
  Ready r;
  for (const pollfd& p : fds) {
    if (p.revents == 0) continue;
    if (p.fd == listen_fd_ && spawns_) {
      r.connected = true;  // the daemon takes it with accept_connection()
    } else if (p.fd == listen_fd_ && peer_fd_ < 0) {
      r.connected = accept();
    } else if (p.fd == peer_fd_) {
      if (p.revents & POLLOUT) flush();
      if (peer_fd_ >= 0 && (p.revents & (POLLIN | POLLHUP | POLLERR))) r.readable = true;
    }
  }
  return r;
}

std::unique_ptr<Channel> Channel::accept_connection() {
  if (listen_fd_ < 0) return nullptr;
  std::unique_ptr<Channel> ch = make_peer_channel();
  if (!ch) return nullptr;
  const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (fd < 0) return nullptr;
  ch->peer_fd_ = fd;
  ch->on_accepted(fd);
  return ch;
}

bool Channel::accept() {
  if (listen_fd_ < 0 || peer_fd_ >= 0 || spawns_) return false;
  const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (fd < 0) return false;  // the peer gave up already, or EAGAIN: nothing to do
  peer_fd_ = fd;
  out_.clear();
  close_after_flush_ = false;
  on_accepted(fd);
  return true;
}

ssize_t Channel::read_some(std::span<uint8_t> buf) { return ::read(peer_fd_, buf.data(), buf.size()); }

ssize_t Channel::write_some(std::span<const uint8_t> bytes) {
  return ::send(peer_fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
}

Channel::Io Channel::read(std::span<uint8_t> buf, size_t& n) {
  n = 0;
  if (peer_fd_ < 0) return Io::closed;
  const ssize_t r = read_some(buf);
  if (r < 0) {
    if (transient(errno) || errno == EIO) return Io::again;
    close_peer("lost (read error)");
    return Io::closed;
  }
  if (r == 0) {
    close_peer("disconnected");  // a plain close is a session end
    return Io::closed;
  }
  n = static_cast<size_t>(r);
  return Io::ok;
}

Channel::Io Channel::write(std::span<const uint8_t> bytes) {
  if (peer_fd_ < 0) return Io::closed;
  if (!bytes.empty()) {
    before_reply();
    out_.insert(out_.end(), bytes.begin(), bytes.end());
  }
  flush();
  return peer_fd_ >= 0 ? Io::ok : Io::closed;
}

void Channel::flush() {
  while (!out_.empty() && peer_fd_ >= 0) {
    const ssize_t w = write_some(out_);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;  // poll for POLLOUT
      on_write_error();
      return;
    }
    out_.erase(out_.begin(), out_.begin() + w);
  }
  if (out_.empty() && close_after_flush_) close_peer("disconnected");
}

void Channel::close_after_flush() {
  close_after_flush_ = true;
  flush();
}

void Channel::close_peer(const char* reason) {
  if (peer_fd_ >= 0) ::close(peer_fd_);
  peer_fd_ = -1;
  out_.clear();
  close_after_flush_ = false;
  close_reason_ = reason;
  close_received_fds();  // passed by a peer that is gone, to nobody
}

bool Channel::adopt(int fd) {
  if (fd < 0) return false;
  int type = 0;
  socklen_t len = sizeof type;
  if (::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_STREAM) {
    ::close(fd);
    return false;
  }
  if (peer_fd_ >= 0) close_peer("replaced by a handed-over descriptor");
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  ::fcntl(fd, F_SETFD, FD_CLOEXEC);
  peer_fd_ = fd;
  out_.clear();
  close_after_flush_ = false;
  return true;
}

int Channel::take_received_fd() {
  if (received_fds_.empty()) return -1;
  const int fd = received_fds_.front();
  received_fds_.erase(received_fds_.begin());
  return fd;
}

void Channel::close_received_fds() {
  for (const int fd : received_fds_) ::close(fd);
  received_fds_.clear();
}

// ---- TcpChannel ----

std::unique_ptr<TcpChannel> TcpChannel::listen(const char* name, const std::string& host,
                                               uint16_t port,
                                               std::shared_ptr<ConnectionState> state,
                                               std::string& error) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* res = nullptr;
  const std::string service = std::to_string(port);
  if (const int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &res); rc != 0) {
    error = "cannot resolve " + host + ": " + ::gai_strerror(rc);
    return nullptr;
  }
  const int fd = ::socket(res->ai_family, res->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    error = errno_text("socket");
    ::freeaddrinfo(res);
    return nullptr;
  }
  set_int_option(fd, SOL_SOCKET, SO_REUSEADDR, 1);
  const bool ok = ::bind(fd, res->ai_addr, res->ai_addrlen) == 0 && ::listen(fd, 16) == 0;
  ::freeaddrinfo(res);
  if (!ok) {
    error = errno_text("cannot listen on " + host + ":" + service);
    ::close(fd);
    return nullptr;
  }
  std::unique_ptr<TcpChannel> ch(new TcpChannel(name, std::move(state)));
  ch->listen_fd_ = fd;
  return ch;
}

uint16_t TcpChannel::local_port() const {
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  if (::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return 0;
  if (addr.ss_family == AF_INET) return ntohs(reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
  if (addr.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port);
  return 0;
}

void TcpChannel::on_accepted(int fd) {
  // The stock client sends the 9-byte mssim prefix and the command in two writes; with Nagle
  // on either side and delayed ACKs that costs ~40 ms per command.
  set_int_option(fd, IPPROTO_TCP, TCP_NODELAY, 1);
  set_int_option(fd, IPPROTO_TCP, TCP_QUICKACK, 1);
}

std::unique_ptr<Channel> TcpChannel::make_peer_channel() const {
  return std::unique_ptr<Channel>(new TcpChannel(name_, nullptr));
}

void TcpChannel::expect_more_input() {
  // Not sticky (the kernel goes back to delayed ACKs once it sends data): re-armed whenever a
  // read leaves a frame incomplete, which also sends the pending ACK at once.
  if (peer_fd_ >= 0) set_int_option(peer_fd_, IPPROTO_TCP, TCP_QUICKACK, 1);
}

// ---- UnixChannel ----

std::unique_ptr<UnixChannel> UnixChannel::listen(const char* name, const std::string& path,
                                                 std::shared_ptr<ConnectionState> state,
                                                 std::string& error) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) {
    error = "unix socket path too long: " + path;
    return nullptr;
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  struct stat st{};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      error = path + " exists and is not a socket; not replacing it";
      return nullptr;
    }
    // A socket file left by a previous run is replaced; a live one belongs to someone else.
    const int probe = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const bool live = ::connect(probe, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    ::close(probe);
    if (live) {
      error = path + " is in use by another server";
      return nullptr;
    }
    ::unlink(path.c_str());
  }
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(fd, 16) != 0) {
    error = errno_text("cannot listen on " + path);
    if (fd >= 0) ::close(fd);
    return nullptr;
  }
  std::unique_ptr<UnixChannel> ch(new UnixChannel(name, std::move(state)));
  ch->listen_fd_ = fd;
  ch->path_ = path;
  return ch;
}

std::unique_ptr<UnixChannel> UnixChannel::unbound(const char* name,
                                                  std::shared_ptr<ConnectionState> state) {
  return std::unique_ptr<UnixChannel>(new UnixChannel(name, std::move(state)));
}

std::unique_ptr<Channel> UnixChannel::make_peer_channel() const {
  return std::unique_ptr<Channel>(new UnixChannel(name_, nullptr));  // no path: unlinks nothing
}

UnixChannel::~UnixChannel() {
  if (!path_.empty()) ::unlink(path_.c_str());
}

ssize_t UnixChannel::read_some(std::span<uint8_t> buf) {
  // Descriptors may come with the bytes (SCM_RIGHTS): kept for take_received_fd(), never lost
  // (MSG_CMSG_CLOEXEC: none leaks into a child).
  constexpr size_t kMaxFds = 4;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFds)];
  iovec iov{buf.data(), buf.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  const ssize_t r = ::recvmsg(peer_fd_, &msg, MSG_CMSG_CLOEXEC);
  if (r < 0) return r;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    const size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; ++i) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
      received_fds_.push_back(fd);
    }
  }
  // MSG_CTRUNC: descriptors beyond kMaxFds were closed by the kernel; the bytes are intact.
  return r;
}

// ---- PtyChannel ----

std::unique_ptr<PtyChannel> PtyChannel::create(const char* name, const std::string& link,
                                               std::shared_ptr<ConnectionState> state,
                                               std::string& error) {
  struct stat st{};
  if (::lstat(link.c_str(), &st) == 0 && !S_ISLNK(st.st_mode)) {
    error = link + " exists and is not a symlink; not replacing it";
    return nullptr;
  }
  const int master = ::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (master < 0 || ::grantpt(master) != 0 || ::unlockpt(master) != 0) {
    error = errno_text("cannot create a pty");
    if (master >= 0) ::close(master);
    return nullptr;
  }
  char name_buf[PATH_MAX];
  if (::ptsname_r(master, name_buf, sizeof name_buf) != 0) {
    error = errno_text("ptsname");
    ::close(master);
    return nullptr;
  }
  // Holding the slave open ourselves keeps the pty alive between clients (no hangup on the
  // master when a tool exits) and keeps the termios we set: the device TCTI never sets any,
  // and a cooked tty (ICANON, ECHO, ONLCR...) corrupts the binary stream.
  const int slave = ::open(name_buf, O_RDWR | O_NOCTTY | O_CLOEXEC);
  termios tio{};
  if (slave < 0 || ::tcgetattr(slave, &tio) != 0) {
    error = errno_text("cannot open the pty slave");
    if (slave >= 0) ::close(slave);
    ::close(master);
    return nullptr;
  }
  ::cfmakeraw(&tio);
  tio.c_lflag &= ~static_cast<tcflag_t>(ECHO | ECHONL);
  tio.c_cc[VMIN] = 1;
  tio.c_cc[VTIME] = 0;
  if (::tcsetattr(slave, TCSANOW, &tio) != 0) {
    error = errno_text("cannot make the pty raw");
    ::close(slave);
    ::close(master);
    return nullptr;
  }
  ::fcntl(master, F_SETFL, ::fcntl(master, F_GETFL) | O_NONBLOCK);

  // Replace the link atomically so a client never sees it missing or half made.
  const std::string tmp = link + ".new";
  ::unlink(tmp.c_str());
  if (::symlink(name_buf, tmp.c_str()) != 0 || ::rename(tmp.c_str(), link.c_str()) != 0) {
    error = errno_text("cannot create the symlink " + link);
    ::unlink(tmp.c_str());
    ::close(slave);
    ::close(master);
    return nullptr;
  }
  std::unique_ptr<PtyChannel> ch(new PtyChannel(name, std::move(state)));
  ch->peer_fd_ = master;
  ch->slave_fd_ = slave;
  ch->slave_ = name_buf;
  ch->link_ = link;

  // We hold the slave open, so the master never sees a client hang up. inotify on the slave
  // does: a client opening or closing it means whatever is buffered belongs to a client that
  // is gone (killed mid-write, or exited without reading its response). read() reports it as a
  // new peer before any further byte, and the response bytes still queued toward the slave are
  // flushed at once: the next tool may read as soon as it opens the port.
  ch->watch_fd_ = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (ch->watch_fd_ >= 0 &&
      ::inotify_add_watch(ch->watch_fd_, name_buf, IN_OPEN | IN_CLOSE) < 0) {
    ::close(ch->watch_fd_);
    ch->watch_fd_ = -1;  // degrade to the stall timeout alone
  }
  return ch;
}

PtyChannel::~PtyChannel() {
  // Remove the link only if it is still ours (another daemon may have taken the name).
  char target[PATH_MAX];
  const ssize_t n = ::readlink(link_.c_str(), target, sizeof target - 1);
  if (n > 0 && slave_ == std::string(target, static_cast<size_t>(n))) ::unlink(link_.c_str());
  if (slave_fd_ >= 0) ::close(slave_fd_);
  if (watch_fd_ >= 0) ::close(watch_fd_);
}

size_t PtyChannel::poll_fds(std::vector<pollfd>& fds) const {
  const size_t n = Channel::poll_fds(fds);
  if (watch_fd_ < 0) return n;
  fds.push_back({watch_fd_, POLLIN, 0});
  return n + 1;
}

Channel::Ready PtyChannel::on_poll(std::span<const pollfd> fds) {
  Ready r;
  for (const pollfd& p : fds) {
    if (p.revents == 0) continue;
    if (p.fd == watch_fd_) r.readable = true;  // read() reports the new peer, in order
    if (p.fd == peer_fd_) {
      if (p.revents & POLLOUT) flush();
      if (p.revents & (POLLIN | POLLHUP | POLLERR)) r.readable = true;
    }
  }
  return r;
}

bool PtyChannel::peer_changed() {
  if (watch_fd_ < 0) return false;
  alignas(inotify_event) char buf[4096];
  bool changed = false;
  while (::read(watch_fd_, buf, sizeof buf) > 0) {
    changed = true;  // only opens and closes are watched; which one does not matter
  }
  if (changed) discard_output();
  return changed;
}

void PtyChannel::discard_output() {
  out_.clear();
  ::tcflush(slave_fd_, TCIFLUSH);
}

Channel::Io PtyChannel::read(std::span<uint8_t> buf, size_t& n) {
  n = 0;
  // An open or close of the slave seen before these bytes separates them from what came
  // earlier: report it first, so the session drops a gone client's partial command.
  if (peer_changed()) return Io::new_peer;
  const ssize_t r = ::read(peer_fd_, buf.data(), buf.size());
  if (r <= 0) return Io::again;  // never closed: we hold the slave, so no hangup, no EOF
  n = static_cast<size_t>(r);
  // A new command while an old response is still unwritten: that reader is gone.
  out_.clear();
  return Io::ok;
}

void PtyChannel::before_reply() {
  // The client has sent a whole command and now waits, so anything still queued for it on the
  // slave side is stale (a previous tool read a response only partly): drop it, or it would
  // become the start of this response and desynchronise every later one.
  ::tcflush(slave_fd_, TCIFLUSH);
}

ssize_t PtyChannel::write_some(std::span<const uint8_t> bytes) {
  return ::write(peer_fd_, bytes.data(), bytes.size());
}

void PtyChannel::close_peer(const char* /*reason*/) {
  // The pty itself stays: a "closed" peer is only forgotten output.
  out_.clear();
  close_after_flush_ = false;
}

bool PtyChannel::adopt(int fd) {
  if (fd >= 0) ::close(fd);
  return false;
}

}  // namespace utpm::host
