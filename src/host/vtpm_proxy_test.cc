// The vtpm proxy channel without a kernel: the session's protocol (SET_LOCALITY answered here,
// commands to the engine with that locality, sizes checked) and the daemon serving a descriptor
// with the driver's message semantics (a SOCK_SEQPACKET socket: one read = one command, one
// write = one response) with the bare engine. The real /dev/vtpmx is exercised by
// tests/e2e/vtpm_proxy_test.py where the kernel module loads.
#include "host/vtpm_proxy.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "host/daemon.h"
#include "host/fake_engine_link_for_test.h"

namespace utpm::host {
namespace {

using Bytes = std::vector<uint8_t>;
using testing::make_command;

// The driver's locality request: TPM_ST_SESSIONS, size 11, TPM2_CC_SET_LOCALITY, locality.
Bytes set_locality(uint8_t loc, uint16_t tag = 0x8002) {
  Bytes c = make_command(11, kVtpmSetLocality, tag);
  c[10] = loc;
  return c;
}

uint32_t rc_of(const Bytes& rsp) {
  return (uint32_t{rsp[6]} << 24) | (uint32_t{rsp[7]} << 16) | (uint32_t{rsp[8]} << 8) | rsp[9];
}

TEST(VtpmProxySession, SetLocalityIsAnsweredHereAndAppliesToTheFollowingCommands) {
  testing::RecordingEngine engine;
  ConnectionState state;
  VtpmProxySession s(engine, "vtpm", 4096, state);
  Bytes out;
  s.on_bytes(set_locality(3), out, 0);
  EXPECT_EQ(out, (Bytes{0x80, 0x01, 0, 0, 0, 10, 0, 0, 0, 0}));  // TPM_RC_SUCCESS, header only
  EXPECT_TRUE(engine.calls.empty());                            // never reaches the engine
  EXPECT_EQ(state.locality, 3);
  out.clear();
  s.on_bytes(make_command(12, 0x17B), out, 0);
  ASSERT_EQ(engine.calls.size(), 1u);
  EXPECT_EQ(engine.calls[0].locality, 3);
  EXPECT_EQ(engine.calls[0].channel, "vtpm");
  EXPECT_EQ(out.size(), 18u);
  // Back to 0 (the tag the driver uses for a TPM 1.2 style header is accepted as well).
  out.clear();
  s.on_bytes(set_locality(0, 0x8001), out, 0);
  EXPECT_EQ(rc_of(out), 0u);
  s.on_bytes(make_command(12, 0x17B), out, 0);
  ASSERT_EQ(engine.calls.size(), 2u);
  EXPECT_EQ(engine.calls[1].locality, 0);
}

TEST(VtpmProxySession, ALocalityBeyondFourIsRefused) {
  testing::RecordingEngine engine;
  ConnectionState state;
  state.locality = 2;
  VtpmProxySession s(engine, "vtpm", 4096, state);
  Bytes out;
  s.on_bytes(set_locality(5), out, 0);
  ASSERT_EQ(out.size(), 10u);
  EXPECT_EQ(rc_of(out), 0x907u);  // TPM_RC_LOCALITY
  EXPECT_EQ(state.locality, 2);
  out.clear();
  s.on_bytes(make_command(10, kVtpmSetLocality), out, 0);  // no locality byte
  EXPECT_EQ(rc_of(out), 0x907u);
  EXPECT_TRUE(engine.calls.empty());
}

TEST(VtpmProxySession, SplitCommandsWaitAndBadSizesAreAnsweredCommandSize) {
  testing::RecordingEngine engine;
  ConnectionState state;
  VtpmProxySession s(engine, "vtpm", 4096, state);
  const Bytes cmd = make_command(20, 0x144);
  Bytes out;
  s.on_bytes({cmd.data(), 7}, out, 0);
  EXPECT_TRUE(out.empty());
  s.on_bytes({cmd.data() + 7, cmd.size() - 7}, out, 0);
  ASSERT_EQ(engine.calls.size(), 1u);
  EXPECT_EQ(engine.calls[0].command, cmd);
  out.clear();
  s.on_bytes(make_command(10, 0x144), out, 0);  // fine: exactly a header
  EXPECT_EQ(engine.calls.size(), 2u);
  out.clear();
  Bytes huge = make_command(12);
  huge[2] = 0x00, huge[3] = 0x01, huge[4] = 0x10, huge[5] = 0x00;  // 69632 bytes announced
  s.on_bytes(huge, out, 0);
  EXPECT_EQ(out, Bytes(std::begin(kCommandSizeResponse), std::end(kCommandSizeResponse)));
  EXPECT_EQ(engine.calls.size(), 2u);
  EXPECT_EQ(s.discarded_bytes(), 12u);
}

TEST(VtpmChannel, AMissingVtpmxSaysWhatToDo) {
  VtpmDevice dev;
  std::string error;
  EXPECT_EQ(VtpmChannel::create("vtpm", "/nonexistent/vtpmx", dev, error), nullptr);
  EXPECT_NE(error.find("does not exist"), std::string::npos) << error;
  EXPECT_NE(error.find("modprobe tpm_vtpm_proxy"), std::string::npos) << error;
}

// Counts the per-connection links the daemon makes (there must be none for a bare channel).
class CountingLink final : public EngineLink {
 public:
  CountingLink(std::atomic<int>& made, EngineLink& engine) : engine_(engine) { ++made; }
  size_t execute(const char* channel, uint8_t locality, std::span<const uint8_t> command,
                 std::span<uint8_t> response) override {
    return engine_.execute(channel, locality, command, response);
  }
  void signal(PlatformSignal s) override { engine_.signal(s); }

 private:
  EngineLink& engine_;
};

Bytes recv_message(int fd) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, 5000) != 1) return {};
  Bytes b(8192);
  const ssize_t r = ::recv(fd, b.data(), b.size(), 0);
  b.resize(r > 0 ? static_cast<size_t>(r) : 0);
  return b;
}

TEST(VtpmChannel, TheDaemonServesTheDescriptorWithTheBareEngineOneResponsePerWrite) {
  testing::RecordingEngine engine;
  std::atomic<int> links_made{0};
  Daemon daemon(engine, 4096, 2000, stderr, false);
  daemon.set_connection_links([&] { return std::make_unique<CountingLink>(links_made, engine); });
  int sp[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp), 0);
  daemon.add_channel(
      VtpmChannel::from_fd("vtpm", sp[0]),
      [](Channel& c, EngineLink& link) {
        return std::make_unique<VtpmProxySession>(link, c.name(), 4096, c.state());
      },
      /*bare=*/true);
  int stop_pipe[2];
  ASSERT_EQ(::pipe2(stop_pipe, O_CLOEXEC), 0);
  int rc = -1;
  std::thread t([&] { rc = daemon.run(stop_pipe[0]); });

  const Bytes loc = set_locality(2);
  ASSERT_EQ(::send(sp[1], loc.data(), loc.size(), 0), static_cast<ssize_t>(loc.size()));
  EXPECT_EQ(recv_message(sp[1]), (Bytes{0x80, 0x01, 0, 0, 0, 10, 0, 0, 0, 0}));
  for (int i = 0; i < 3; ++i) {
    const Bytes cmd = make_command(static_cast<uint32_t>(12 + i), 0x17B);
    ASSERT_EQ(::send(sp[1], cmd.data(), cmd.size(), 0), static_cast<ssize_t>(cmd.size()));
    const Bytes rsp = recv_message(sp[1]);  // the whole response in one message
    ASSERT_EQ(rsp.size(), 18u);
    EXPECT_EQ(rsp[13], 12 + i);  // RecordingEngine echoes the command's size
  }
  ASSERT_EQ(engine.calls.size(), 3u);
  EXPECT_EQ(engine.calls[2].locality, 2);
  EXPECT_EQ(links_made.load(), 0);  // the bare engine: the kernel is the resource manager

  const char siginfo[128] = {};
  EXPECT_EQ(::write(stop_pipe[1], siginfo, sizeof siginfo), 128);
  t.join();
  EXPECT_EQ(rc, 0);
  ::close(stop_pipe[0]);
  ::close(stop_pipe[1]);
  ::close(sp[1]);
}

}  // namespace
}  // namespace utpm::host
