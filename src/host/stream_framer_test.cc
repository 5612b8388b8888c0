#include "host/stream_framer.h"

#include <gtest/gtest.h>

#include "host/fake_engine_link_for_test.h"
#include "host/raw_stream_session.h"

namespace utpm::host {
namespace {

using testing::make_command;
using Bytes = std::vector<uint8_t>;

// Feeds `stream` in pieces of `chunk` bytes and collects frames and oversize events.
struct Collected {
  std::vector<Bytes> frames;
  int oversize = 0;
};
Collected feed_chunked(StreamFramer& f, const Bytes& stream, size_t chunk) {
  Collected out;
  for (size_t off = 0; off < stream.size(); off += chunk) {
    std::span<const uint8_t> in(stream.data() + off, std::min(chunk, stream.size() - off));
    while (true) {
      size_t used = 0;
      const auto ev = f.feed(in, used, 0);
      in = in.subspan(used);
      if (ev == StreamFramer::Event::frame) {
        out.frames.emplace_back(f.frame().begin(), f.frame().end());
      } else if (ev == StreamFramer::Event::oversize) {
        ++out.oversize;
      } else {
        break;
      }
    }
  }
  return out;
}

Bytes concat(std::initializer_list<Bytes> parts) {
  Bytes b;
  for (const auto& p : parts) b.insert(b.end(), p.begin(), p.end());
  return b;
}

TEST(StreamFramer, ReassemblesCommandsHoweverTheBytesAreSplit) {
  const Bytes a = make_command(12, 0x17B);
  const Bytes b = make_command(300, 0x17E, 0x8002);
  const Bytes c = make_command(10, 0x144);
  const Bytes stream = concat({a, b, c});
  for (size_t chunk : {size_t{1}, size_t{2}, size_t{5}, size_t{9}, size_t{10}, size_t{64},
                       stream.size()}) {
    StreamFramer f(4096);
    const Collected got = feed_chunked(f, stream, chunk);
    ASSERT_EQ(got.frames.size(), 3u) << "chunk " << chunk;
    EXPECT_EQ(got.frames[0], a);
    EXPECT_EQ(got.frames[1], b);
    EXPECT_EQ(got.frames[2], c);
    EXPECT_EQ(got.oversize, 0);
    EXPECT_EQ(f.skipped_bytes(), 0u);
  }
}

TEST(StreamFramer, SkipsGarbageToTheNextFrameStart) {
  const Bytes cmd = make_command(12);
  // "AT\r" (ModemManager), stray 0x80s, a TPM 1.2 tag, a valid tag with an impossible size.
  const Bytes garbage = {'A', 'T', '\r', 0x80, 0x80, 0x00, 0xC1, 0x80, 0x01, 0, 0, 0, 9};
  for (size_t chunk : {size_t{1}, size_t{3}, size_t{100}}) {
    StreamFramer f(4096);
    const Collected got = feed_chunked(f, concat({garbage, cmd, garbage, cmd}), chunk);
    ASSERT_EQ(got.frames.size(), 2u) << "chunk " << chunk;
    EXPECT_EQ(got.frames[0], cmd);
    EXPECT_EQ(got.frames[1], cmd);
    EXPECT_EQ(f.skipped_bytes(), 2 * garbage.size());
  }
}

TEST(StreamFramer, FindsAFrameThatStartsInsideADiscardedCandidate) {
  // 80 80 01 ...: the first 0x80 cannot start a frame (0x8080), the second one does.
  const Bytes cmd = make_command(12);
  StreamFramer f(4096);
  const Collected got = feed_chunked(f, concat({{0x80}, cmd}), 1);
  ASSERT_EQ(got.frames.size(), 1u);
  EXPECT_EQ(got.frames[0], cmd);
  EXPECT_EQ(f.skipped_bytes(), 1u);
}

TEST(StreamFramer, OversizeHeaderIsReportedThenTheStreamResyncs) {
  const Bytes big = make_command(4097);  // one byte over the maximum
  const Bytes cmd = make_command(12);
  StreamFramer f(4096);
  const Collected got = feed_chunked(f, concat({Bytes(big.begin(), big.begin() + 40), cmd}), 7);
  EXPECT_EQ(got.oversize, 1);
  ASSERT_EQ(got.frames.size(), 1u);
  EXPECT_EQ(got.frames[0], cmd);
}

TEST(StreamFramer, MaximumSizeIsAccepted) {
  const Bytes cmd = make_command(4096);
  StreamFramer f(4096);
  const Collected got = feed_chunked(f, cmd, 1000);
  ASSERT_EQ(got.frames.size(), 1u);
  EXPECT_EQ(got.oversize, 0);
}

TEST(StreamFramer, StalledPartialFrameIsDroppedAfterTheTimeout) {
  const Bytes cmd = make_command(20);
  StreamFramer f(4096);
  size_t used = 0;
  EXPECT_EQ(f.feed({cmd.data(), 15}, used, 1000), StreamFramer::Event::need_more);
  EXPECT_TRUE(f.partial());
  EXPECT_FALSE(f.expire(2999, 2000));  // not yet
  EXPECT_TRUE(f.partial());
  EXPECT_TRUE(f.expire(3000, 2000));
  EXPECT_FALSE(f.partial());
  EXPECT_EQ(f.dropped_frames(), 1u);
  // The next whole command is read on its own, not as the tail of the dropped one.
  EXPECT_EQ(f.feed(cmd, used, 3100), StreamFramer::Event::frame);
  EXPECT_EQ(used, cmd.size());
  EXPECT_EQ(Bytes(f.frame().begin(), f.frame().end()), cmd);
}

TEST(StreamFramer, EachArrivingByteRestartsTheStallTimer) {
  const Bytes cmd = make_command(20);
  StreamFramer f(4096);
  size_t used = 0;
  f.feed({cmd.data(), 10}, used, 1000);
  f.feed({cmd.data() + 10, 5}, used, 2500);
  EXPECT_FALSE(f.expire(4000, 2000));
  EXPECT_EQ(f.feed({cmd.data() + 15, 5}, used, 4100), StreamFramer::Event::frame);
}

TEST(RawStreamSession, AnswersEachCommandAndTheOversizeHeaderInOrder) {
  testing::RecordingEngine engine;
  RawStreamSession s(engine, "pty", 4096, 2000);
  const Bytes a = make_command(12, 0x17B);
  const Bytes big = make_command(5000);
  const Bytes b = make_command(14, 0x17E);
  Bytes out;
  const Bytes stream = concat({a, Bytes(big.begin(), big.begin() + 10), b});
  EXPECT_EQ(s.on_bytes(stream, out, 0), Session::Verdict::keep);
  ASSERT_EQ(engine.calls.size(), 2u);
  EXPECT_EQ(engine.calls[0].command, a);
  EXPECT_EQ(engine.calls[0].locality, 0);
  EXPECT_EQ(engine.calls[1].command, b);
  ASSERT_EQ(out.size(), 18u + 10u + 18u);
  EXPECT_EQ(Bytes(out.begin() + 18, out.begin() + 28),
            Bytes(std::begin(kCommandSizeResponse), std::end(kCommandSizeResponse)));
  EXPECT_EQ(out[18 + 9], 0x42);
}

TEST(RawStreamSession, TimerIsArmedOnlyWhileAFrameIsPartial) {
  testing::RecordingEngine engine;
  RawStreamSession s(engine, "unix", 4096, 500);
  Bytes out;
  EXPECT_EQ(s.timer_due_in(0), -1);
  const Bytes cmd = make_command(12);
  s.on_bytes({cmd.data(), 4}, out, 100);
  EXPECT_EQ(s.timer_due_in(300), 300);
  EXPECT_EQ(s.timer_due_in(700), 0);
  s.on_timer(700);
  EXPECT_EQ(s.timer_due_in(700), -1);
  s.on_bytes(cmd, out, 800);
  EXPECT_EQ(engine.calls.size(), 1u);
}

}  // namespace
}  // namespace utpm::host
