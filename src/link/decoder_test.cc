#include "link/decoder.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace utpm::link {
namespace {

using Bytes = std::vector<uint8_t>;

// ---- frame builders (independent of the encoders where the layout is the point) ----

Bytes raw_command(uint32_t code, size_t body_len, uint16_t tag = kTagNoSessions) {
  const uint32_t size = static_cast<uint32_t>(kTpmHeaderSize + body_len);
  Bytes b = {static_cast<uint8_t>(tag >> 8), static_cast<uint8_t>(tag),
             static_cast<uint8_t>(size >> 24), static_cast<uint8_t>(size >> 16),
             static_cast<uint8_t>(size >> 8), static_cast<uint8_t>(size),
             static_cast<uint8_t>(code >> 24), static_cast<uint8_t>(code >> 16),
             static_cast<uint8_t>(code >> 8), static_cast<uint8_t>(code)};
  // Body bytes include 0x80/0x00/'T' so that they would confuse a decoder that scans bodies.
  for (size_t i = 0; i < body_len; ++i) b.push_back(static_cast<uint8_t>(i * 37 + 0x80));
  return b;
}

Bytes get_random_probe() { return {0x80, 0x01, 0, 0, 0, 0x0c, 0, 0, 0x01, 0x7b, 0, 8}; }

Bytes be32(uint32_t v) {
  return {static_cast<uint8_t>(v >> 24), static_cast<uint8_t>(v >> 16),
          static_cast<uint8_t>(v >> 8), static_cast<uint8_t>(v)};
}
Bytes le32(uint32_t v) {
  return {static_cast<uint8_t>(v), static_cast<uint8_t>(v >> 8), static_cast<uint8_t>(v >> 16),
          static_cast<uint8_t>(v >> 24)};
}
Bytes cat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

Bytes mssim_command(uint8_t locality, const Bytes& cmd) {
  return cat({be32(mssim::kSendCommand), Bytes{locality}, be32(static_cast<uint32_t>(cmd.size())), cmd});
}
Bytes legacy_frame(uint32_t signal, const Bytes& data) {
  return cat({le32(0x326d7054), le32(signal), le32(static_cast<uint32_t>(data.size())), data});
}
Bytes legacy_command(uint32_t locality, const Bytes& cmd) {
  return legacy_frame(6, cat({le32(locality), le32(static_cast<uint32_t>(cmd.size())), cmd}));
}

// What a test expects to come out, copied out of the decoder's buffer.
struct Seen {
  EventKind kind;
  Framing framing;
  Signal signal;
  uint8_t locality;
  uint32_t value;
  Bytes data;
  bool operator==(const Seen&) const = default;
};

std::ostream& operator<<(std::ostream& os, const Seen& s) {
  return os << "{kind=" << int(s.kind) << " framing=" << int(s.framing) << " signal="
            << int(s.signal) << " loc=" << int(s.locality) << " value=" << s.value
            << " data=" << s.data.size() << "B}";
}

Seen command(Framing f, uint8_t loc, const Bytes& cmd) {
  return {EventKind::kCommand, f, Signal::kNothing, loc, 0, cmd};
}
Seen signal(Framing f, Signal s, uint32_t value = 0) {
  return {EventKind::kSignal, f, s, 0, value, {}};
}
Seen reject(Framing f, uint8_t loc = 0) {
  return {EventKind::kReject, f, Signal::kNothing, loc, kRcCommandSize, {}};
}

// Feeds `stream` in the given pieces (all at time `now`), collecting every event.
std::vector<Seen> feed(Decoder& d, const Bytes& stream, const std::vector<size_t>& cuts,
                       uint32_t now = 1000) {
  std::vector<Seen> out;
  size_t start = 0;
  std::vector<size_t> ends = cuts;
  ends.push_back(stream.size());
  for (size_t end : ends) {
    std::span<const uint8_t> piece(stream.data() + start, end - start);
    start = end;
    for (;;) {
      Event ev;
      const size_t used = d.push(piece, now, ev);
      EXPECT_LE(used, piece.size());
      piece = piece.subspan(used);
      if (ev.kind == EventKind::kNone) {
        EXPECT_TRUE(piece.empty()) << "push stopped without an event before the input ended";
        break;
      }
      out.push_back({ev.kind, ev.framing, ev.signal, ev.locality, ev.value,
                     Bytes(ev.data.begin(), ev.data.end())});
    }
  }
  return out;
}

std::vector<Seen> feed_whole(Decoder& d, const Bytes& stream, uint32_t now = 1000) {
  return feed(d, stream, {}, now);
}

struct Case {
  std::string name;
  Bytes frame;
  Seen expect;
};

std::vector<Case> all_frame_kinds() {
  const Bytes cmd = raw_command(0x144, 2);       // Startup-sized
  const Bytes big = raw_command(0x17b, 300, kTagSessions);
  return {
      {"raw", get_random_probe(), command(Framing::kRaw, 0, get_random_probe())},
      {"raw_sessions", big, command(Framing::kRaw, 0, big)},
      {"mssim_command", mssim_command(3, cmd), command(Framing::kMssim, 3, cmd)},
      {"mssim_handshake", cat({be32(mssim::kRemoteHandshake), be32(1)}),
       signal(Framing::kMssim, Signal::kHandshake, 1)},
      {"mssim_session_end", be32(mssim::kSessionEnd), signal(Framing::kMssim, Signal::kSessionEnd)},
      {"mssim_cancel_on", be32(mssim::kCancelOn), signal(Framing::kMssim, Signal::kCancelOn)},
      {"mssim_cancel_off", be32(mssim::kCancelOff), signal(Framing::kMssim, Signal::kCancelOff)},
      {"legacy_command", legacy_command(2, cmd), command(Framing::kLegacy, 2, cmd)},
      {"legacy_nothing", legacy_frame(0, {}), signal(Framing::kLegacy, Signal::kNothing)},
      {"legacy_shutdown", legacy_frame(1, {}), signal(Framing::kLegacy, Signal::kShutdown)},
      {"legacy_reset", legacy_frame(2, {}), signal(Framing::kLegacy, Signal::kReset)},
      {"legacy_set_clock", legacy_frame(3, le32(1700000000)),
       signal(Framing::kLegacy, Signal::kSetClock, 1700000000)},
      {"legacy_cancel_on", legacy_frame(4, {}), signal(Framing::kLegacy, Signal::kCancelOn)},
      {"legacy_cancel_off", legacy_frame(5, {}), signal(Framing::kLegacy, Signal::kCancelOff)},
      {"legacy_response", legacy_frame(7, {}),
       signal(Framing::kLegacy, Signal::kResendResponse)},
  };
}

TEST(LinkDecoder, EveryFrameKindWhole) {
  for (const auto& c : all_frame_kinds()) {
    BufferedDecoder<1024> d;
    EXPECT_EQ(feed_whole(d, c.frame), std::vector<Seen>{c.expect}) << c.name;
    EXPECT_TRUE(d.idle()) << c.name;
    EXPECT_EQ(d.stats().garbage_bytes, 0u) << c.name;
  }
}

TEST(LinkDecoder, EveryFrameKindSplitAtEveryBoundary) {
  for (const auto& c : all_frame_kinds()) {
    for (size_t cut = 1; cut < c.frame.size(); ++cut) {
      BufferedDecoder<1024> d;
      EXPECT_EQ(feed(d, c.frame, {cut}), std::vector<Seen>{c.expect}) << c.name << " cut " << cut;
      EXPECT_EQ(d.stats().garbage_bytes, 0u) << c.name << " cut " << cut;
    }
  }
}

TEST(LinkDecoder, EveryFrameKindSplitAtEveryPairOfBoundaries) {
  for (const auto& c : all_frame_kinds()) {
    if (c.frame.size() > 40) continue;  // quadratic; the long frame is covered above
    for (size_t a = 1; a < c.frame.size(); ++a) {
      for (size_t b = a; b < c.frame.size(); ++b) {
        BufferedDecoder<1024> d;
        EXPECT_EQ(feed(d, c.frame, {a, b}), std::vector<Seen>{c.expect}) << c.name;
      }
    }
  }
}

TEST(LinkDecoder, ByteByByte) {
  for (const auto& c : all_frame_kinds()) {
    std::vector<size_t> cuts;
    for (size_t i = 1; i < c.frame.size(); ++i) cuts.push_back(i);
    BufferedDecoder<1024> d;
    EXPECT_EQ(feed(d, c.frame, cuts), std::vector<Seen>{c.expect}) << c.name;
  }
}

TEST(LinkDecoder, BackToBackFramesInOneBuffer) {
  Bytes stream;
  std::vector<Seen> expect;
  for (const auto& c : all_frame_kinds()) {
    stream.insert(stream.end(), c.frame.begin(), c.frame.end());
    expect.push_back(c.expect);
  }
  BufferedDecoder<1024> d;
  EXPECT_EQ(feed_whole(d, stream), expect);
  EXPECT_EQ(d.stats().garbage_bytes, 0u);
  EXPECT_EQ(d.stats().frames, expect.size());
}

TEST(LinkDecoder, InterleavedFramingsKeepTheirLocalityAndFraming) {
  const Bytes a = raw_command(0x17e, 4);
  const Bytes stream = cat({mssim_command(1, a), a, legacy_command(4, a), mssim_command(0, a),
                            be32(mssim::kCancelOn), legacy_frame(5, {}), a, be32(mssim::kSessionEnd)});
  BufferedDecoder<1024> d;
  EXPECT_EQ(feed_whole(d, stream),
            (std::vector<Seen>{command(Framing::kMssim, 1, a), command(Framing::kRaw, 0, a),
                               command(Framing::kLegacy, 4, a), command(Framing::kMssim, 0, a),
                               signal(Framing::kMssim, Signal::kCancelOn),
                               signal(Framing::kLegacy, Signal::kCancelOff),
                               command(Framing::kRaw, 0, a),
                               signal(Framing::kMssim, Signal::kSessionEnd)}));
}

TEST(LinkDecoder, SkipsModemManagerProbesAndEcho) {
  const std::string at = "AT\rAT\r\nATE0\r\nAT+GCAP\r\nATI\r\n";
  const Bytes garbage(at.begin(), at.end());
  const Bytes stream = cat({garbage, get_random_probe(), garbage, mssim_command(0, get_random_probe())});
  BufferedDecoder<1024> d;
  EXPECT_EQ(feed_whole(d, stream),
            (std::vector<Seen>{command(Framing::kRaw, 0, get_random_probe()),
                               command(Framing::kMssim, 0, get_random_probe())}));
  EXPECT_EQ(d.stats().garbage_bytes, 2 * garbage.size());
}

TEST(LinkDecoder, SkipsGarbageThatLooksLikeFrameStarts) {
  // Each piece starts like a frame and goes wrong at a different byte.
  const std::vector<Bytes> lures = {
      {0x80},                                   // raw tag cut short by the next frame
      {0x80, 0x03},                             // bad tag
      {0x80, 0x01, 0, 0, 0, 5},  // raw size 5 < 10: noise, not an error (9 would be CANCEL_ON)
      {0, 0, 0, mssim::kHashEnd},              // mssim HASH_END: not accepted on the link
      {0, 0, 0, mssim::kPowerOff},             // mssim POWER_OFF: never from the data line
      {0, 0, 0, mssim::kPhysPresOn},           // physical presence: never from the data line
      {0, 0, 0, mssim::kSendCommand, 0, 0, 0, 0, 5},  // mssim size < 10
      cat({be32(mssim::kSendCommand), Bytes{0}, be32(12), Bytes{0x80, 0x01, 0, 0, 0, 7}}),  // inner size differs
      {0x54, 0x70, 0x6d, 0x33},                 // "Tpm3"
      cat({le32(0x326d7054), le32(9)}),         // unknown legacy signal
      cat({le32(0x326d7054), le32(0), le32(4)}),  // Nothing with a payload
      cat({le32(0x326d7054), le32(6), le32(21), le32(0), le32(11)}),  // sizes disagree
      cat({le32(0x326d7054), le32(6), le32(18), le32(0x100), le32(10)}),  // locality > 255
  };
  const Bytes good = raw_command(0x176, 6);
  for (size_t i = 0; i < lures.size(); ++i) {
    for (const auto& good_frame : {good, mssim_command(2, good), legacy_command(1, good)}) {
      BufferedDecoder<1024> d;
      const auto seen = feed_whole(d, cat({lures[i], good_frame}));
      ASSERT_EQ(seen.size(), 1u) << "lure " << i;
      EXPECT_EQ(seen[0].kind, EventKind::kCommand) << "lure " << i;
      EXPECT_EQ(seen[0].data, good) << "lure " << i;
      EXPECT_EQ(d.stats().garbage_bytes, lures[i].size()) << "lure " << i;
    }
  }
}

TEST(LinkDecoder, UndersizedRawFramesAreNoiseNotErrors) {
  // Sizes below the 10-byte TPM header cannot be commands; they get no response at all.
  // (Size 9 is left out: its size bytes 00 00 00 09 are a genuine mssim CANCEL_ON.)
  for (uint8_t size = 0; size < 9; ++size) {
    BufferedDecoder<1024> d;
    const Bytes undersized = {0x80, 0x01, 0, 0, 0, size, 0, 0, 0x01, 0x7b};
    EXPECT_EQ(feed_whole(d, cat({undersized, get_random_probe()})),
              std::vector<Seen>{command(Framing::kRaw, 0, get_random_probe())})
        << int(size);
    EXPECT_EQ(d.stats().rejected, 0u);
    EXPECT_EQ(d.stats().garbage_bytes, undersized.size());
  }
}

TEST(LinkDecoder, FrameFoundInsideAFailedCandidateIsReplayed) {
  // An mssim SEND_COMMAND candidate that fails only at its 15th byte; inside it sit a
  // SESSION_END and the start of a raw command whose header must not be lost.
  const Bytes stream = cat({Bytes{0, 0, 0, mssim::kSendCommand, 0}, be32(mssim::kSessionEnd), get_random_probe()});
  for (size_t cut = 0; cut <= stream.size(); ++cut) {
    BufferedDecoder<1024> d;
    std::vector<size_t> cuts;
    if (cut > 0 && cut < stream.size()) cuts.push_back(cut);
    EXPECT_EQ(feed(d, stream, cuts),
              (std::vector<Seen>{signal(Framing::kMssim, Signal::kSessionEnd),
                                 command(Framing::kRaw, 0, get_random_probe())}))
        << "cut " << cut;
    EXPECT_EQ(d.stats().garbage_bytes, 5u);
    EXPECT_TRUE(d.idle());
  }
}

TEST(LinkDecoder, OversizeIsRejectedWithCommandSizeInTheSameFraming) {
  BufferedDecoder<64> d;
  const Bytes over = raw_command(0x17b, 64 - kTpmHeaderSize + 1);  // 65 bytes
  const Bytes fits = raw_command(0x17b, 64 - kTpmHeaderSize);      // exactly the buffer
  const auto seen = feed_whole(d, cat({over, mssim_command(3, over), legacy_command(2, over), fits}));
  EXPECT_EQ(seen, (std::vector<Seen>{reject(Framing::kRaw), reject(Framing::kMssim, 3),
                                     reject(Framing::kLegacy, 2), command(Framing::kRaw, 0, fits)}));
  EXPECT_EQ(d.stats().rejected, 3u);
  EXPECT_EQ(d.stats().garbage_bytes, 0u);  // the bodies were skipped, not scanned
}

TEST(LinkDecoder, RejectIsAnnouncedBeforeTheBodyArrives) {
  BufferedDecoder<64> d;
  Bytes header = {0x80, 0x01, 0x00, 0x01, 0x00, 0x00};  // size 65536
  Event ev;
  EXPECT_EQ(d.push(header, 0, ev), header.size());
  EXPECT_EQ(ev.kind, EventKind::kReject);
  EXPECT_EQ(ev.value, 0x142u);
  // The host never sends the rest: after the timeout the link is free again.
  EXPECT_EQ(feed_whole(d, get_random_probe(), 10 + Decoder::kDefaultTimeoutMs),
            std::vector<Seen>{command(Framing::kRaw, 0, get_random_probe())});
  EXPECT_EQ(d.stats().timeouts, 1u);
}

TEST(LinkDecoder, StalledPartialFrameIsDroppedAfterTheTimeout) {
  const Bytes probe = get_random_probe();
  for (const auto& c : all_frame_kinds()) {
    for (size_t cut = 1; cut < c.frame.size(); cut += 3) {
      BufferedDecoder<1024> d(100);
      Event ev;
      d.push(std::span(c.frame).first(cut), 5000, ev);
      EXPECT_EQ(ev.kind, EventKind::kNone);
      EXPECT_FALSE(d.idle());
      EXPECT_FALSE(d.expire(5099));  // still within the timeout
      // The sender restarts: a whole new frame after the gap.
      EXPECT_EQ(feed_whole(d, probe, 5100), std::vector<Seen>{command(Framing::kRaw, 0, probe)})
          << c.name << " cut " << cut;
      EXPECT_EQ(d.stats().timeouts, 1u);
    }
  }
}

TEST(LinkDecoder, SlowButSteadyFrameIsNotDropped) {
  const Bytes big = raw_command(0x17b, 200);
  BufferedDecoder<1024> d(100);
  std::vector<Seen> seen;
  uint32_t now = 0xFFFFF000u;  // crosses the 32-bit wrap on the way
  for (size_t i = 0; i < big.size(); ++i) {
    now += 99;
    Event ev;
    d.push(std::span(big).subspan(i, 1), now, ev);
    if (ev.kind != EventKind::kNone) seen.push_back({ev.kind, ev.framing, ev.signal, ev.locality,
                                                     ev.value, Bytes(ev.data.begin(), ev.data.end())});
  }
  EXPECT_EQ(seen, std::vector<Seen>{command(Framing::kRaw, 0, big)});
  EXPECT_EQ(d.stats().timeouts, 0u);
}

TEST(LinkDecoder, ExpireDropsWithoutNewBytes) {
  BufferedDecoder<1024> d(100);
  Event ev;
  const Bytes probe = get_random_probe();
  d.push(std::span(probe).first(7), 0, ev);
  EXPECT_FALSE(d.expire(50));
  EXPECT_TRUE(d.expire(100));
  EXPECT_TRUE(d.idle());
  EXPECT_FALSE(d.expire(1000));  // nothing left to drop
}

TEST(LinkDecoder, TimeSpentOnAnEventIsNotAStall) {
  // The engine may run for seconds between push() calls; the next frame, already half
  // received behind the first, must survive that.
  const Bytes a = raw_command(0x17b, 2);
  const Bytes b = mssim_command(1, raw_command(0x17e, 20));
  const Bytes stream = cat({a, Bytes(b.begin(), b.begin() + 10)});
  BufferedDecoder<1024> d(100);
  Event ev;
  size_t used = d.push(stream, 0, ev);
  ASSERT_EQ(ev.kind, EventKind::kCommand);
  used += d.push(std::span(stream).subspan(used), 30000, ev);  // long after
  EXPECT_EQ(ev.kind, EventKind::kNone);
  EXPECT_EQ(used, stream.size());
  d.push(std::span(b).subspan(10), 30050, ev);
  EXPECT_EQ(ev.kind, EventKind::kCommand);
  EXPECT_EQ(ev.locality, 1);
  EXPECT_EQ(d.stats().timeouts, 0u);
}

TEST(LinkDecoder, ResetForgetsAPartialFrame) {
  BufferedDecoder<1024> d;
  Event ev;
  const Bytes probe = get_random_probe();
  d.push(std::span(probe).first(8), 0, ev);
  d.reset();
  EXPECT_TRUE(d.idle());
  EXPECT_EQ(feed_whole(d, get_random_probe(), 1),
            std::vector<Seen>{command(Framing::kRaw, 0, get_random_probe())});
}

TEST(LinkDecoder, TinyBufferRejectsEverythingButStillFrames) {
  uint8_t small[4];
  Decoder d(small);
  EXPECT_EQ(d.max_command_size(), 0u);
  EXPECT_EQ(feed_whole(d, cat({get_random_probe(), be32(mssim::kSessionEnd)})),
            (std::vector<Seen>{reject(Framing::kRaw), signal(Framing::kMssim, Signal::kSessionEnd)}));
}

// Random frames separated by random garbage that cannot start a frame, cut at random places:
// every frame must come out, in order, with nothing extra.
TEST(LinkDecoder, RandomStreamsOfFramesAndAsciiGarbage) {
  std::mt19937 rng(12345);
  const auto kinds = all_frame_kinds();
  for (int round = 0; round < 200; ++round) {
    Bytes stream;
    std::vector<Seen> expect;
    const int frames = 1 + static_cast<int>(rng() % 12);
    for (int f = 0; f < frames; ++f) {
      const int garbage = static_cast<int>(rng() % 6);
      for (int g = 0; g < garbage; ++g) stream.push_back(static_cast<uint8_t>('A' + rng() % 20));
      const auto& c = kinds[rng() % kinds.size()];
      stream.insert(stream.end(), c.frame.begin(), c.frame.end());
      expect.push_back(c.expect);
    }
    std::vector<size_t> cuts;
    for (size_t at = 1 + rng() % 40; at < stream.size(); at += 1 + rng() % 40) cuts.push_back(at);
    BufferedDecoder<1024> d;
    ASSERT_EQ(feed(d, stream, cuts), expect) << "round " << round;
  }
}

// Fuzz-like: arbitrary bytes (biased toward frame-start bytes) in arbitrary pieces with
// arbitrary time steps. The decoder must never crash, never hand out data beyond its buffer,
// always consume everything it is given, and always recover: after a quiet period a valid frame
// decodes.
TEST(LinkDecoder, FuzzNeverWedges) {
  std::mt19937 rng(777);
  const uint8_t biased[] = {0x00, 0x80, 0x01, 0x02, 0x54, 0x70, 0x6d, 0x32, 0x08, 0x06, 0x0c, 0x14};
  BufferedDecoder<256> d(50);
  uint32_t now = 0;
  uint64_t events = 0;
  for (int round = 0; round < 3000; ++round) {
    Bytes chunk(rng() % 64);
    for (auto& b : chunk) {
      b = (rng() % 2) ? biased[rng() % sizeof(biased)] : static_cast<uint8_t>(rng());
    }
    now += static_cast<uint32_t>(rng() % 30);
    std::span<const uint8_t> in(chunk);
    for (int guard = 0; guard < 1000; ++guard) {
      Event ev;
      const size_t used = d.push(in, now, ev);
      ASSERT_LE(used, in.size());
      in = in.subspan(used);
      if (ev.kind == EventKind::kNone) break;
      ++events;
      ASSERT_LE(ev.data.size(), d.max_command_size());
      if (ev.kind == EventKind::kCommand) {
        ASSERT_GE(ev.data.size(), kTpmHeaderSize);
        ASSERT_EQ(load_be32(ev.data.data() + 2), ev.data.size());
      }
    }
    ASSERT_TRUE(in.empty());
    if (round % 100 == 99) {
      now += 1000;
      d.expire(now);
      ASSERT_TRUE(d.idle()) << "round " << round;  // a quiet line always frees the state
      const auto seen = feed_whole(d, get_random_probe(), now);
      ASSERT_FALSE(seen.empty());
      ASSERT_EQ(seen.back(), command(Framing::kRaw, 0, get_random_probe())) << "round " << round;
    }
  }
  EXPECT_GT(events, 0u);
  EXPECT_GT(d.stats().garbage_bytes, 0u);
}

}  // namespace
}  // namespace utpm::link
