#include "link/framing.h"

#include <gtest/gtest.h>

#include <vector>

#include "link/decoder.h"
#include "link/response_reader.h"

namespace utpm::link {
namespace {

using Bytes = std::vector<uint8_t>;

const Bytes kResponse = {0x80, 0x01, 0, 0, 0, 0x0e, 0, 0, 0, 0, 0, 2, 0xaa, 0xbb};

TEST(LinkFraming, ResponseInEachFraming) {
  Bytes out(64);
  size_t n = encode_response(Framing::kRaw, kResponse, out);
  EXPECT_EQ(Bytes(out.begin(), out.begin() + n), kResponse);

  n = encode_response(Framing::kMssim, kResponse, out);
  Bytes mssim = {0, 0, 0, 0x0e};
  mssim.insert(mssim.end(), kResponse.begin(), kResponse.end());
  mssim.insert(mssim.end(), {0, 0, 0, 0});
  EXPECT_EQ(Bytes(out.begin(), out.begin() + n), mssim);

  n = encode_response(Framing::kLegacy, kResponse, out);
  Bytes legacy = {0x0e, 0, 0, 0};
  legacy.insert(legacy.end(), kResponse.begin(), kResponse.end());
  EXPECT_EQ(Bytes(out.begin(), out.begin() + n), legacy);

  EXPECT_EQ(encode_response(Framing::kMssim, kResponse, std::span(out).first(21)), 0u);
}

TEST(LinkFraming, RejectReplyIsACommandSizeErrorInTheCommandsFraming) {
  Event ev;
  ev.kind = EventKind::kReject;
  ev.value = kRcCommandSize;
  uint8_t out[kMaxReplySize];
  const Bytes error = {0x80, 0x01, 0, 0, 0, 0x0a, 0, 0, 0x01, 0x42};
  ev.framing = Framing::kRaw;
  EXPECT_EQ(Bytes(out, out + encode_reply(ev, out)), error);
  ev.framing = Framing::kMssim;
  Bytes mssim = {0, 0, 0, 0x0a};
  mssim.insert(mssim.end(), error.begin(), error.end());
  mssim.insert(mssim.end(), {0, 0, 0, 0});
  EXPECT_EQ(Bytes(out, out + encode_reply(ev, out)), mssim);
  ev.framing = Framing::kLegacy;
  Bytes legacy = {0x0a, 0, 0, 0};
  legacy.insert(legacy.end(), error.begin(), error.end());
  EXPECT_EQ(Bytes(out, out + encode_reply(ev, out)), legacy);
}

TEST(LinkFraming, SignalReplies) {
  Event ev;
  ev.kind = EventKind::kSignal;
  ev.framing = Framing::kMssim;
  ev.signal = Signal::kHandshake;
  uint8_t out[kMaxReplySize];
  EXPECT_EQ(Bytes(out, out + encode_reply(ev, out)),
            (Bytes{0, 0, 0, 1, 0, 0, 0, 0x0d, 0, 0, 0, 0}));
  for (Signal s : {Signal::kSessionEnd, Signal::kCancelOn, Signal::kCancelOff, Signal::kNothing,
                   Signal::kReset, Signal::kShutdown, Signal::kSetClock}) {
    ev.signal = s;
    EXPECT_EQ(encode_reply(ev, out), 0u) << int(s);
  }
  ev.kind = EventKind::kCommand;
  EXPECT_EQ(encode_reply(ev, out), 0u);
}

TEST(LinkFraming, WrapMatchesEncode) {
  for (Framing f : {Framing::kRaw, Framing::kMssim, Framing::kLegacy}) {
    const Wrap w = wrap_response(f, static_cast<uint32_t>(kResponse.size()));
    Bytes streamed(w.prefix, w.prefix + w.prefix_len);
    streamed.insert(streamed.end(), kResponse.begin(), kResponse.end());
    streamed.insert(streamed.end(), w.suffix, w.suffix + w.suffix_len);
    Bytes out(64);
    out.resize(encode_response(f, kResponse, out));
    EXPECT_EQ(streamed, out) << int(f);
  }
}

TEST(LinkFraming, EncodedCommandsDecode) {
  const Bytes cmd = {0x80, 0x02, 0, 0, 0, 0x0c, 0, 0, 0x01, 0x7b, 0, 8};
  for (Framing f : {Framing::kRaw, Framing::kMssim, Framing::kLegacy}) {
    Bytes wire(64);
    wire.resize(encode_command(f, 3, cmd, wire));
    ASSERT_FALSE(wire.empty());
    BufferedDecoder<64> d;
    Event ev;
    EXPECT_EQ(d.push(wire, 0, ev), wire.size());
    EXPECT_EQ(ev.kind, EventKind::kCommand);
    EXPECT_EQ(ev.framing, f);
    EXPECT_EQ(ev.locality, f == Framing::kRaw ? 0 : 3);
    EXPECT_EQ(Bytes(ev.data.begin(), ev.data.end()), cmd);
  }
  uint8_t code[4];
  encode_mssim_code(mssim::kCancelOn, code);
  BufferedDecoder<64> d;
  Event ev;
  d.push(code, 0, ev);
  EXPECT_EQ(ev.signal, Signal::kCancelOn);
}

// ---- ResponseReader ----

Bytes framed(Framing f, const Bytes& rsp) {
  Bytes out(rsp.size() + 8);
  out.resize(encode_response(f, rsp, out));
  return out;
}

TEST(LinkResponseReader, ReassemblesEverySplitAndNeverReadsPast) {
  for (Framing f : {Framing::kRaw, Framing::kMssim, Framing::kLegacy}) {
    Bytes wire = framed(f, kResponse);
    const size_t frame_len = wire.size();
    wire.insert(wire.end(), {0x80, 0x01, 0xde, 0xad});  // the start of something else
    for (size_t cut = 0; cut <= frame_len; ++cut) {
      uint8_t buf[64];
      ResponseReader r(buf);
      r.start(f);
      size_t used1 = 0, used2 = 0;
      auto st = r.push(std::span(wire).first(cut), used1);
      EXPECT_EQ(used1, cut);
      if (cut < frame_len) {
        EXPECT_EQ(st, ResponseReader::Status::kMore);
        EXPECT_EQ(r.wanted() > 0, true);
        st = r.push(std::span(wire).subspan(cut), used2);
      }
      EXPECT_EQ(st, ResponseReader::Status::kDone) << int(f) << " cut " << cut;
      EXPECT_EQ(used1 + used2, frame_len);
      EXPECT_EQ(r.wanted(), 0u);
      EXPECT_EQ(Bytes(r.response().begin(), r.response().end()), kResponse);
    }
  }
}

TEST(LinkResponseReader, RejectsMalformedResponses) {
  struct Bad {
    Framing f;
    Bytes wire;
  };
  const std::vector<Bad> bad = {
      {Framing::kRaw, {0x80, 0x03, 0, 0, 0, 0x0a}},               // bad tag
      {Framing::kRaw, {0x80, 0x01, 0, 0, 0, 0x09}},               // size < 10
      {Framing::kRaw, {0x80, 0x01, 0, 0, 0x10, 0x00}},            // larger than the buffer
      {Framing::kMssim, {0, 0, 0, 0x0b, 0x80, 0x01, 0, 0, 0, 0x0a}},  // prefix disagrees
      {Framing::kLegacy, {0x0b, 0, 0, 0, 0x80, 0x01, 0, 0, 0, 0x0a}},
  };
  for (const auto& b : bad) {
    uint8_t buf[64];
    ResponseReader r(buf);
    r.start(b.f);
    size_t used = 0;
    EXPECT_EQ(r.push(b.wire, used), ResponseReader::Status::kMalformed);
    EXPECT_TRUE(r.response().empty());
  }
}

TEST(LinkResponseReader, AnnouncesSizeOnceTheHeaderIsIn) {
  uint8_t buf[64];
  ResponseReader r(buf);
  r.start(Framing::kMssim);
  const Bytes wire = framed(Framing::kMssim, kResponse);
  size_t used = 0;
  r.push(std::span(wire).first(9), used);
  EXPECT_EQ(r.announced_size(), 0u);
  r.push(std::span(wire).subspan(9, 1), used);
  EXPECT_EQ(r.announced_size(), kResponse.size());
}

}  // namespace
}  // namespace utpm::link
