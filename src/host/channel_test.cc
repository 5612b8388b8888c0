// Each Channel implementation on real descriptors (loopback TCP, a unix socket in a temporary
// directory, a real pty): accept, partial reads and writes, a peer closing, descriptor hand-off.
#include "host/channel.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace utpm::host {
namespace {

using Bytes = std::vector<uint8_t>;

// One round of the daemon's loop for one channel: poll its fds, hand it the revents.
Channel::Ready poll_once(Channel& ch, int timeout_ms = 2000) {
  std::vector<pollfd> fds;
  ch.poll_fds(fds);
  if (fds.empty() || ::poll(fds.data(), fds.size(), timeout_ms) <= 0) return {};
  return ch.on_poll(fds);
}

// Reads what the channel has, polling until `want` bytes arrived (or an event other than ok).
Channel::Io read_n(Channel& ch, size_t want, Bytes& got) {
  uint8_t buf[256];
  for (int rounds = 0; got.size() < want && rounds < 100; ++rounds) {
    if (!poll_once(ch).readable) continue;
    size_t n = 0;
    const Channel::Io io = ch.read(buf, n);
    if (io == Channel::Io::again) continue;
    if (io != Channel::Io::ok) return io;
    got.insert(got.end(), buf, buf + n);
  }
  return Channel::Io::ok;
}

Bytes recv_n(int fd, size_t n) {
  Bytes out(n);
  size_t have = 0;
  while (have < n) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 2000) <= 0) break;
    const ssize_t r = ::read(fd, out.data() + have, n - have);
    if (r <= 0) break;
    have += static_cast<size_t>(r);
  }
  out.resize(have);
  return out;
}

void send_all(int fd, const Bytes& b) {
  ASSERT_EQ(::write(fd, b.data(), b.size()), static_cast<ssize_t>(b.size()));
}

int connect_tcp(uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  return fd;
}

int connect_unix(const std::string& path) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::strncpy(a.sun_path, path.c_str(), sizeof a.sun_path - 1);
  EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  return fd;
}

// Sends `bytes` with `fd_to_pass` attached (SCM_RIGHTS).
void send_with_fd(int sock, const Bytes& bytes, int fd_to_pass) {
  iovec iov{const_cast<uint8_t*>(bytes.data()), bytes.size()};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(c), &fd_to_pass, sizeof(int));
  ASSERT_EQ(::sendmsg(sock, &msg, 0), static_cast<ssize_t>(bytes.size()));
}

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/utpm-channel-test-XXXXXX";
    path_ = ::mkdtemp(tmpl);
  }
  ~TempDir() { std::system(("rm -rf " + path_).c_str()); }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// ---- TCP ----

TEST(TcpChannel, AcceptsOnePeerAtATimeAndReadsPartialInput) {
  std::string error;
  auto ch = TcpChannel::listen("t", "127.0.0.1", 0, nullptr, error);
  ASSERT_TRUE(ch) << error;
  ASSERT_NE(ch->local_port(), 0);
  EXPECT_FALSE(ch->connected());
  size_t n = 0;
  uint8_t buf[16];
  EXPECT_EQ(ch->read(buf, n), Channel::Io::closed);  // no peer yet

  const int a = connect_tcp(ch->local_port());
  const int b = connect_tcp(ch->local_port());  // waits in the backlog
  EXPECT_TRUE(poll_once(*ch).connected);
  EXPECT_TRUE(ch->connected());
  EXPECT_FALSE(ch->accept());  // one peer at a time

  send_all(a, {1, 2, 3});
  Bytes got;
  ASSERT_EQ(read_n(*ch, 3, got), Channel::Io::ok);
  send_all(a, {4, 5});
  ASSERT_EQ(read_n(*ch, 5, got), Channel::Io::ok);
  EXPECT_EQ(got, (Bytes{1, 2, 3, 4, 5}));

  // The peer closing is the end of it, with the reason for the trace; the next one is accepted.
  ::close(a);
  got.clear();
  EXPECT_EQ(read_n(*ch, 1, got), Channel::Io::closed);
  EXPECT_FALSE(ch->connected());
  EXPECT_STREQ(ch->close_reason(), "disconnected");
  EXPECT_TRUE(poll_once(*ch).connected);
  send_all(b, {9});
  got.clear();
  ASSERT_EQ(read_n(*ch, 1, got), Channel::Io::ok);
  EXPECT_EQ(got, Bytes{9});
  ::close(b);
}

TEST(TcpChannel, QueuesWhatThePeerDoesNotTakeAndAsksForNoInputMeanwhile) {
  std::string error;
  auto ch = TcpChannel::listen("t", "127.0.0.1", 0, nullptr, error);
  ASSERT_TRUE(ch) << error;
  const int peer = connect_tcp(ch->local_port());
  ASSERT_TRUE(poll_once(*ch).connected);

  // Far more than the socket buffers hold while the peer reads nothing: a partial write.
  Bytes big(8u << 20);
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<uint8_t>(i * 131u);
  EXPECT_EQ(ch->write(big), Channel::Io::ok);
  EXPECT_TRUE(ch->output_pending());
  std::vector<pollfd> fds;
  ch->poll_fds(fds);
  ASSERT_EQ(fds.size(), 1u);
  EXPECT_EQ(fds[0].events, POLLOUT);  // one reply at a time: no input until it is out

  // The rest goes out on POLLOUT, in order.
  Bytes got;
  got.reserve(big.size());
  uint8_t buf[65536];
  while (got.size() < big.size()) {
    if (ch->output_pending()) poll_once(*ch, 0);
    pollfd p{peer, POLLIN, 0};
    ASSERT_GT(::poll(&p, 1, 2000), 0);
    const ssize_t r = ::read(peer, buf, sizeof buf);
    ASSERT_GT(r, 0);
    got.insert(got.end(), buf, buf + r);
  }
  EXPECT_EQ(got, big);
  EXPECT_FALSE(ch->output_pending());
  ::close(peer);
}

TEST(TcpChannel, ClosesAfterFlushAndLosesAPeerThatVanished) {
  std::string error;
  auto ch = TcpChannel::listen("t", "127.0.0.1", 0, nullptr, error);
  ASSERT_TRUE(ch) << error;
  const int peer = connect_tcp(ch->local_port());
  ASSERT_TRUE(poll_once(*ch).connected);
  ch->write(Bytes{0, 0, 0, 1});
  ch->close_after_flush();
  EXPECT_FALSE(ch->connected());
  EXPECT_EQ(recv_n(peer, 5), (Bytes{0, 0, 0, 1}));  // the reply, then EOF
  ::close(peer);

  // A peer that reset the connection: the write fails, the peer is lost, nothing crashes.
  const int gone = connect_tcp(ch->local_port());
  ASSERT_TRUE(poll_once(*ch).connected);
  linger l{1, 0};
  ::setsockopt(gone, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  ::close(gone);
  ::usleep(20000);
  Channel::Io io = Channel::Io::ok;
  for (int i = 0; i < 3 && io == Channel::Io::ok; ++i) io = ch->write(Bytes(100000, 7));
  EXPECT_EQ(io, Channel::Io::closed);
  EXPECT_FALSE(ch->connected());
}

TEST(TcpChannel, ListenErrorsAreReported) {
  std::string error;
  auto a = TcpChannel::listen("a", "127.0.0.1", 0, nullptr, error);
  ASSERT_TRUE(a);
  EXPECT_FALSE(TcpChannel::listen("b", "127.0.0.1", a->local_port(), nullptr, error));
  EXPECT_NE(error.find("cannot listen"), std::string::npos) << error;
  EXPECT_FALSE(TcpChannel::listen("c", "no such host.invalid", 1, nullptr, error));
}

TEST(Channel, ChannelsOfOneConnectionShareTheirState) {
  std::string error;
  auto state = std::make_shared<ConnectionState>();
  auto a = TcpChannel::listen("a", "127.0.0.1", 0, state, error);
  auto b = TcpChannel::listen("b", "127.0.0.1", 0, state, error);
  auto c = TcpChannel::listen("c", "127.0.0.1", 0, nullptr, error);
  ASSERT_TRUE(a && b && c);
  a->state().locality = 3;
  EXPECT_EQ(b->state().locality, 3);
  EXPECT_EQ(c->state().locality, 0);  // a channel of its own gets its own state
}

// ---- unix ----

TEST(UnixChannel, ServesAPeerAndRemovesItsSocketFile) {
  TempDir dir;
  const std::string path = dir / "s";
  std::string error;
  {
    auto ch = UnixChannel::listen("u", path, nullptr, error);
    ASSERT_TRUE(ch) << error;
    // A live socket belongs to someone else.
    EXPECT_FALSE(UnixChannel::listen("u2", path, nullptr, error));
    EXPECT_NE(error.find("in use"), std::string::npos) << error;
    // That probe was a peer that connected and left at once.
    ASSERT_TRUE(poll_once(*ch).connected);
    Bytes got;
    EXPECT_EQ(read_n(*ch, 1, got), Channel::Io::closed);
    const int peer = connect_unix(path);
    ASSERT_TRUE(poll_once(*ch).connected);
    send_all(peer, {0x80});
    ASSERT_EQ(read_n(*ch, 1, got), Channel::Io::ok);
    send_all(peer, {0x01, 0x02});
    ASSERT_EQ(read_n(*ch, 3, got), Channel::Io::ok);
    EXPECT_EQ(got, (Bytes{0x80, 0x01, 0x02}));
    ch->write(Bytes{5, 6});
    EXPECT_EQ(recv_n(peer, 2), (Bytes{5, 6}));
    ::close(peer);
    got.clear();
    EXPECT_EQ(read_n(*ch, 1, got), Channel::Io::closed);
  }
  struct stat st{};
  EXPECT_NE(::lstat(path.c_str(), &st), 0);  // removed with the channel

  // Another kind of file is never replaced.
  const int f = ::open(path.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
  ::close(f);
  EXPECT_FALSE(UnixChannel::listen("u", path, nullptr, error));
  EXPECT_NE(error.find("not a socket"), std::string::npos) << error;
}

TEST(UnixChannel, DescriptorsArriveWithTheBytes) {
  TempDir dir;
  std::string error;
  auto ch = UnixChannel::listen("u", dir / "s", nullptr, error);
  ASSERT_TRUE(ch) << error;
  const int peer = connect_unix(dir / "s");
  ASSERT_TRUE(poll_once(*ch).connected);
  int pipe_fds[2];
  ASSERT_EQ(::pipe2(pipe_fds, O_CLOEXEC), 0);
  send_with_fd(peer, {0, 0, 0, 0x10}, pipe_fds[1]);
  ::close(pipe_fds[1]);
  EXPECT_EQ(ch->take_received_fd(), -1);  // nothing before the read
  Bytes got;
  ASSERT_EQ(read_n(*ch, 4, got), Channel::Io::ok);
  EXPECT_EQ(got, (Bytes{0, 0, 0, 0x10}));
  const int received = ch->take_received_fd();
  ASSERT_GE(received, 0);
  EXPECT_EQ(ch->take_received_fd(), -1);
  EXPECT_EQ(::fcntl(received, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
  // It is the same pipe: what goes in here comes out of the read end we kept.
  ASSERT_EQ(::write(received, "x", 1), 1);
  ::close(received);
  EXPECT_EQ(recv_n(pipe_fds[0], 2), (Bytes{'x'}));  // then EOF: the only writer is closed
  ::close(pipe_fds[0]);
  ::close(peer);
}

TEST(UnixChannel, DescriptorsNobodyTookAreClosedWithThePeer) {
  TempDir dir;
  std::string error;
  auto ch = UnixChannel::listen("u", dir / "s", nullptr, error);
  ASSERT_TRUE(ch) << error;
  const int peer = connect_unix(dir / "s");
  ASSERT_TRUE(poll_once(*ch).connected);
  int pipe_fds[2];
  ASSERT_EQ(::pipe2(pipe_fds, O_CLOEXEC), 0);
  send_with_fd(peer, {1}, pipe_fds[1]);
  ::close(pipe_fds[1]);
  Bytes got;
  ASSERT_EQ(read_n(*ch, 1, got), Channel::Io::ok);
  ::close(peer);
  got.clear();
  EXPECT_EQ(read_n(*ch, 1, got), Channel::Io::closed);
  // The channel held the last write end: closing it is EOF on the read end.
  EXPECT_TRUE(recv_n(pipe_fds[0], 1).empty());
  ::close(pipe_fds[0]);
}

TEST(UnixChannel, AdoptsAHandedOverSocketAsItsPeer) {
  auto ch = UnixChannel::unbound("data", nullptr);
  EXPECT_FALSE(ch->connected());
  EXPECT_FALSE(ch->accept());  // no listener
  std::vector<pollfd> fds;
  EXPECT_EQ(ch->poll_fds(fds), 0u);

  int sp[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
  ASSERT_TRUE(ch->adopt(sp[0]));
  EXPECT_TRUE(ch->connected());
  send_all(sp[1], {0x80, 0x01});
  Bytes got;
  ASSERT_EQ(read_n(*ch, 2, got), Channel::Io::ok);
  EXPECT_EQ(got, (Bytes{0x80, 0x01}));
  ch->write(Bytes{3, 4, 5});
  EXPECT_EQ(recv_n(sp[1], 3), (Bytes{3, 4, 5}));

  // A second hand-over replaces the first peer (which sees EOF).
  int sp2[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp2), 0);
  ASSERT_TRUE(ch->adopt(sp2[0]));
  EXPECT_TRUE(recv_n(sp[1], 1).empty());
  ::close(sp[1]);
  ::close(sp2[1]);
  got.clear();
  EXPECT_EQ(read_n(*ch, 1, got), Channel::Io::closed);

  // Not a stream socket: refused and closed.
  int pipe_fds[2];
  ASSERT_EQ(::pipe2(pipe_fds, O_CLOEXEC), 0);
  EXPECT_FALSE(ch->adopt(pipe_fds[1]));
  EXPECT_EQ(::fcntl(pipe_fds[1], F_GETFD), -1);  // closed by adopt()
  ::close(pipe_fds[0]);
}

// ---- pty ----

TEST(PtyChannel, IsAlwaysConnectedAndReportsClientsOpeningAndClosingAsNewPeers) {
  TempDir dir;
  const std::string link = dir / "tty";
  std::string error;
  {
    auto ch = PtyChannel::create("pty", link, nullptr, error);
    ASSERT_TRUE(ch) << error;
    char target[256] = {};
    ASSERT_GT(::readlink(link.c_str(), target, sizeof target - 1), 0);
    EXPECT_EQ(ch->slave_path(), target);
    EXPECT_TRUE(ch->connected());
    EXPECT_FALSE(ch->adopt(::dup(0)));  // a pty serves no sockets

    const int client = ::open(link.c_str(), O_RDWR | O_NOCTTY | O_CLOEXEC);
    ASSERT_GE(client, 0);
    send_all(client, {0x80, 0x01, 0, 0});
    // The open comes first, then the bytes however they were split.
    uint8_t buf[64];
    size_t n = 0;
    ASSERT_TRUE(poll_once(*ch).readable);
    EXPECT_EQ(ch->read(buf, n), Channel::Io::new_peer);
    Bytes got;
    ASSERT_EQ(read_n(*ch, 4, got), Channel::Io::ok);
    send_all(client, {0, 10});
    ASSERT_EQ(read_n(*ch, 6, got), Channel::Io::ok);
    EXPECT_EQ(got, (Bytes{0x80, 0x01, 0, 0, 0, 10}));
    ch->write(Bytes{0xAA, 0xBB});
    EXPECT_EQ(recv_n(client, 2), (Bytes{0xAA, 0xBB}));

    // Closing is no EOF (the daemon holds the slave): a new peer, and the channel stays.
    ::close(client);
    ASSERT_TRUE(poll_once(*ch).readable);
    EXPECT_EQ(ch->read(buf, n), Channel::Io::new_peer);
    EXPECT_EQ(ch->read(buf, n), Channel::Io::again);
    EXPECT_TRUE(ch->connected());
  }
  struct stat st{};
  EXPECT_NE(::lstat(link.c_str(), &st), 0);  // the link goes with the channel
}

TEST(PtyChannel, AResponseLeftUnreadIsFlushedBeforeTheNextClient) {
  TempDir dir;
  const std::string link = dir / "tty";
  std::string error;
  auto ch = PtyChannel::create("pty", link, nullptr, error);
  ASSERT_TRUE(ch) << error;
  const int first = ::open(link.c_str(), O_RDWR | O_NOCTTY | O_CLOEXEC);
  ASSERT_GE(first, 0);
  uint8_t buf[64];
  size_t n = 0;
  poll_once(*ch);
  EXPECT_EQ(ch->read(buf, n), Channel::Io::new_peer);
  ch->write(Bytes(40, 0x55));  // the first client never reads it
  ::close(first);

  const int second = ::open(link.c_str(), O_RDWR | O_NOCTTY | O_CLOEXEC);
  ASSERT_GE(second, 0);
  ASSERT_TRUE(poll_once(*ch).readable);
  EXPECT_EQ(ch->read(buf, n), Channel::Io::new_peer);  // flushes what was queued to the slave
  pollfd p{second, POLLIN, 0};
  EXPECT_EQ(::poll(&p, 1, 100), 0) << "stale response bytes reached the next client";
  ch->write(Bytes{1, 2});
  EXPECT_EQ(recv_n(second, 2), (Bytes{1, 2}));
  ::close(second);
}

TEST(PtyChannel, RefusesToReplaceAFileThatIsNoSymlink) {
  TempDir dir;
  const std::string link = dir / "tty";
  const int f = ::open(link.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
  ::close(f);
  std::string error;
  EXPECT_FALSE(PtyChannel::create("pty", link, nullptr, error));
  EXPECT_NE(error.find("not a symlink"), std::string::npos) << error;
}

}  // namespace
}  // namespace utpm::host
