#include "host/link_stream_session.h"

#include <gtest/gtest.h>

#include "host/fake_engine_link_for_test.h"

namespace utpm::host {
namespace {

using testing::make_command;
using Bytes = std::vector<uint8_t>;

Bytes concat(std::initializer_list<Bytes> parts) {
  Bytes b;
  for (const auto& p : parts) b.insert(b.end(), p.begin(), p.end());
  return b;
}
Bytes be32(uint32_t v) {
  return {static_cast<uint8_t>(v >> 24), static_cast<uint8_t>(v >> 16), static_cast<uint8_t>(v >> 8),
          static_cast<uint8_t>(v)};
}
Bytes mssim_frame(uint8_t locality, const Bytes& cmd) {
  return concat({be32(link::mssim::kSendCommand), Bytes{locality},
                 be32(static_cast<uint32_t>(cmd.size())), cmd});
}
uint32_t be32_at(const Bytes& b, size_t off) {
  return (uint32_t{b[off]} << 24) | (uint32_t{b[off + 1]} << 16) | (uint32_t{b[off + 2]} << 8) |
         b[off + 3];
}
void feed(LinkStreamSession& s, const Bytes& in, Bytes& out, size_t chunk, uint64_t now = 0) {
  for (size_t off = 0; off < in.size(); off += chunk) {
    EXPECT_EQ(s.on_bytes({in.data() + off, std::min(chunk, in.size() - off)}, out, now),
              Session::Verdict::keep);
  }
}

TEST(LinkStreamSession, RawCommandsHoweverSplitAreExecutedAtLocalityZero) {
  const Bytes a = make_command(12, 0x17B);
  const Bytes b = make_command(300, 0x17E, 0x8002);
  for (size_t chunk : {size_t{1}, size_t{7}, size_t{10}, size_t{4096}}) {
    testing::RecordingEngine engine;
    LinkStreamSession s(engine, "pty", 2000);
    Bytes out;
    feed(s, concat({a, b}), out, chunk);
    ASSERT_EQ(engine.calls.size(), 2u) << "chunk " << chunk;
    EXPECT_EQ(engine.calls[0].command, a);
    EXPECT_EQ(engine.calls[0].locality, 0);
    EXPECT_EQ(engine.calls[0].channel, "pty");
    EXPECT_EQ(engine.calls[1].command, b);
    // Raw responses go back as they are: two 18-byte responses of the fake.
    ASSERT_EQ(out.size(), 36u);
    EXPECT_EQ(be32_at(out, 2), 18u);
    EXPECT_EQ(be32_at(out, 18 + 14), 0x17Eu);
  }
}

TEST(LinkStreamSession, MssimFramesCarryLocalityAndGetSizeResponseAck) {
  testing::RecordingEngine engine;
  LinkStreamSession s(engine, "pty", 2000);
  const Bytes cmd = make_command(12);
  Bytes out;
  feed(s, concat({mssim_frame(3, cmd), make_command(12)}), out, 5);
  ASSERT_EQ(engine.calls.size(), 2u);
  EXPECT_EQ(engine.calls[0].locality, 3);
  EXPECT_EQ(engine.calls[0].command, cmd);
  EXPECT_EQ(engine.calls[1].locality, 0);  // the raw one after it
  ASSERT_EQ(out.size(), (4 + 18 + 4u) + 18u);
  EXPECT_EQ(be32_at(out, 0), 18u);
  EXPECT_EQ(be32_at(out, 22), 0u);          // mssim ack
  EXPECT_EQ(out[26], 0x80);                 // raw response follows directly
}

TEST(LinkStreamSession, MssimCancelSignalsReachThePlatform) {
  testing::RecordingEngine engine;
  LinkStreamSession s(engine, "pty", 2000);
  Bytes out;
  feed(s, concat({be32(link::mssim::kCancelOn), be32(link::mssim::kCancelOff)}), out, 3);
  ASSERT_EQ(engine.signals.size(), 2u);
  EXPECT_EQ(engine.signals[0], PlatformSignal::cancel_on);
  EXPECT_EQ(engine.signals[1], PlatformSignal::cancel_off);
  EXPECT_TRUE(out.empty());  // unacknowledged on a serial stream (see link/framing.cc)
  EXPECT_TRUE(engine.calls.empty());
}

TEST(LinkStreamSession, GarbageIsSkippedAndCounted) {
  testing::RecordingEngine engine;
  LinkStreamSession s(engine, "unix", 2000);
  // ModemManager's probe, stray 0x80s, a raw tag with an impossible size (5 < 10; its last four
  // bytes 00 00 00 05 are no mssim code the link accepts either).
  const Bytes garbage = {'A', 'T', '\r', '\n', 0x80, 0x80, 0x7F, 0x80, 0x01, 0, 0, 0, 5};
  const Bytes cmd = make_command(12);
  Bytes out;
  feed(s, concat({garbage, cmd}), out, 1);
  ASSERT_EQ(engine.calls.size(), 1u);
  EXPECT_EQ(engine.calls[0].command, cmd);
  EXPECT_EQ(s.discarded_bytes(), garbage.size());
  EXPECT_TRUE(engine.signals.empty());
  EXPECT_EQ(out.size(), 18u);
}

TEST(LinkStreamSession, OversizeCommandIsRejectedAndItsBodySkipped) {
  testing::RecordingEngine engine;
  LinkStreamSession s(engine, "pty", 2000);
  // A real client sends the whole oversized command; its body must not be parsed as frames
  // (here it even contains a well-formed command, which must not run).
  Bytes big = make_command(5000);
  const Bytes inner = make_command(12, 0x144);
  std::copy(inner.begin(), inner.end(), big.begin() + 100);
  const Bytes next = make_command(12, 0x17B);
  Bytes out;
  feed(s, concat({big, next}), out, 512);
  ASSERT_EQ(engine.calls.size(), 1u);
  EXPECT_EQ(engine.calls[0].command, next);
  ASSERT_EQ(out.size(), 10u + 18u);
  EXPECT_EQ(Bytes(out.begin(), out.begin() + 10),
            Bytes(std::begin(kCommandSizeResponse), std::end(kCommandSizeResponse)));
}

TEST(LinkStreamSession, StalledPartialFrameIsDroppedByTheTimer) {
  testing::RecordingEngine engine;
  LinkStreamSession s(engine, "pty", 500);
  const Bytes cmd = make_command(20);
  Bytes out;
  EXPECT_EQ(s.timer_due_in(1000), -1);
  s.on_bytes({cmd.data(), 15}, out, 1000);
  EXPECT_EQ(s.timer_due_in(1200), 300);
  EXPECT_EQ(s.timer_due_in(1500), 0);
  EXPECT_TRUE(s.on_timer(1500));
  EXPECT_EQ(s.timer_due_in(1500), -1);
  EXPECT_EQ(s.stats().timeouts, 1u);
  // The next command is read on its own, not as the tail of the dropped one.
  s.on_bytes(cmd, out, 1600);
  ASSERT_EQ(engine.calls.size(), 1u);
  EXPECT_EQ(engine.calls[0].command, cmd);
}

TEST(LinkStreamSession, ANewPeerDropsThePartialFrameAtOnce) {
  testing::RecordingEngine engine;
  LinkStreamSession s(engine, "pty", 2000);
  const Bytes cmd = make_command(12);
  Bytes out;
  s.on_bytes({cmd.data(), 7}, out, 0);
  s.on_new_peer();
  EXPECT_EQ(s.timer_due_in(0), -1);
  s.on_bytes(cmd, out, 1);
  ASSERT_EQ(engine.calls.size(), 1u);
  EXPECT_EQ(engine.calls[0].command, cmd);
}

}  // namespace
}  // namespace utpm::host
