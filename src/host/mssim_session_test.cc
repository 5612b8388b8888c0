#include "host/mssim_session.h"

#include <gtest/gtest.h>

#include "host/fake_engine_link_for_test.h"

namespace utpm::host {
namespace {

using testing::make_command;
using Bytes = std::vector<uint8_t>;

void be32(Bytes& b, uint32_t v) {
  for (int i = 0; i < 4; ++i) b.push_back(static_cast<uint8_t>(v >> (24 - 8 * i)));
}
Bytes send_command(uint8_t locality, const Bytes& cmd, uint32_t announced) {
  Bytes b;
  be32(b, mssim::kSendCommand);
  b.push_back(locality);
  be32(b, announced);
  b.insert(b.end(), cmd.begin(), cmd.end());
  return b;
}
Bytes send_command(uint8_t locality, const Bytes& cmd) {
  return send_command(locality, cmd, static_cast<uint32_t>(cmd.size()));
}
uint32_t be32_at(const Bytes& b, size_t off) {
  return (uint32_t{b[off]} << 24) | (uint32_t{b[off + 1]} << 16) | (uint32_t{b[off + 2]} << 8) |
         b[off + 3];
}

// Feeds `in` in `chunk`-byte pieces; returns the last verdict.
Session::Verdict feed(Session& s, const Bytes& in, Bytes& out, size_t chunk) {
  Session::Verdict v = Session::Verdict::keep;
  for (size_t off = 0; off < in.size() && v == Session::Verdict::keep; off += chunk) {
    v = s.on_bytes({in.data() + off, std::min(chunk, in.size() - off)}, out, 0);
  }
  return v;
}

TEST(MssimCommandSession, SendCommandCarriesLocalityAndRepliesSizeResponseAck) {
  for (size_t chunk : {size_t{1}, size_t{4}, size_t{9}, size_t{1000}}) {
    testing::RecordingEngine engine;
    MssimCommandSession s(engine, 4096);
    const Bytes cmd = make_command(12, 0x17B);
    Bytes in = send_command(3, cmd);
    const Bytes second = send_command(0, make_command(30, 0x17E));
    in.insert(in.end(), second.begin(), second.end());
    Bytes out;
    EXPECT_EQ(feed(s, in, out, chunk), Session::Verdict::keep);
    ASSERT_EQ(engine.calls.size(), 2u) << "chunk " << chunk;
    EXPECT_EQ(engine.calls[0].channel, "mssim");
    EXPECT_EQ(engine.calls[0].locality, 3);
    EXPECT_EQ(engine.calls[0].command, cmd);
    EXPECT_EQ(engine.calls[1].locality, 0);
    // u32 size | 18-byte response | u32 0, twice.
    ASSERT_EQ(out.size(), 2 * (4 + 18 + 4u));
    EXPECT_EQ(be32_at(out, 0), 18u);
    EXPECT_EQ(be32_at(out, 4 + 10), 12u);  // the fake echoes the command size it received
    EXPECT_EQ(be32_at(out, 4 + 18), 0u);
    EXPECT_EQ(be32_at(out, 26 + 4 + 14), 0x17Eu);
  }
}

TEST(MssimCommandSession, CommandIsExactlyTheAnnouncedBytesEvenIfTheHeaderDisagrees) {
  // Header claims 40 bytes, mssim frames 12: the engine gets the 12 and judges the size.
  testing::RecordingEngine engine;
  MssimCommandSession s(engine, 4096);
  const Bytes cmd = make_command(40);
  Bytes out;
  feed(s, send_command(0, Bytes(cmd.begin(), cmd.begin() + 12), 12), out, 100);
  ASSERT_EQ(engine.calls.size(), 1u);
  EXPECT_EQ(engine.calls[0].command.size(), 12u);
}

TEST(MssimCommandSession, OversizeCommandIsDrainedAndAnsweredWithCommandSize) {
  testing::RecordingEngine engine;
  MssimCommandSession s(engine, 4096);
  const Bytes big = make_command(5000);
  Bytes in = send_command(0, big);
  const Bytes next = send_command(0, make_command(12));
  in.insert(in.end(), next.begin(), next.end());
  Bytes out;
  EXPECT_EQ(feed(s, in, out, 333), Session::Verdict::keep);
  ASSERT_EQ(engine.calls.size(), 1u);  // only the well-formed one reached the engine
  ASSERT_EQ(out.size(), (4 + 10 + 4u) + (4 + 18 + 4u));
  EXPECT_EQ(be32_at(out, 0), 10u);
  EXPECT_EQ(be32_at(out, 4 + 6), kRcCommandSize);
  EXPECT_EQ(be32_at(out, 14), 0u);
  EXPECT_EQ(be32_at(out, 18 + 4 + 6), 0u);
}

TEST(MssimCommandSession, AbsurdSizeDisconnects) {
  testing::RecordingEngine engine;
  MssimCommandSession s(engine, 4096);
  Bytes in;
  be32(in, mssim::kSendCommand);
  in.push_back(0);
  be32(in, 0xFFFFFFF0u);
  Bytes out;
  EXPECT_EQ(feed(s, in, out, 100), Session::Verdict::close);
  EXPECT_TRUE(engine.calls.empty());
}

TEST(MssimCommandSession, HandshakeHashSignalsAndSessionEnd) {
  testing::RecordingEngine engine;
  MssimCommandSession s(engine, 4096);
  Bytes in;
  be32(in, mssim::kRemoteHandshake);
  be32(in, 1);
  be32(in, mssim::kHashStart);
  be32(in, mssim::kHashData);
  be32(in, 3);
  in.insert(in.end(), {1, 2, 3});
  be32(in, mssim::kHashEnd);
  Bytes out;
  EXPECT_EQ(feed(s, in, out, 5), Session::Verdict::keep);
  ASSERT_EQ(out.size(), 12u + 4 + 4 + 4);
  EXPECT_EQ(be32_at(out, 0), mssim::kServerVersion);
  EXPECT_EQ(be32_at(out, 4), mssim::kEndpointFlags);
  for (size_t off = 8; off < out.size(); off += 4) EXPECT_EQ(be32_at(out, off), 0u);
  // The HASH_* signals reach the engine in order, the data split as the 5-byte feed split it.
  ASSERT_GE(engine.hash_events.size(), 3u);
  EXPECT_EQ(engine.hash_events.front(), "start");
  EXPECT_EQ(engine.hash_events.back(), "end");
  std::string data;
  for (size_t i = 1; i + 1 < engine.hash_events.size(); ++i) {
    ASSERT_EQ(engine.hash_events[i].rfind("data:", 0), 0u);
    data += engine.hash_events[i].substr(5);
  }
  EXPECT_EQ(data, "010203");
  Bytes end;
  be32(end, mssim::kSessionEnd);
  Bytes out2;
  EXPECT_EQ(feed(s, end, out2, 4), Session::Verdict::close);
  EXPECT_TRUE(out2.empty());  // SESSION_END has no reply
}

TEST(MssimCommandSession, HandshakeFromVersionZeroClientIsRefused) {
  testing::RecordingEngine engine;
  MssimCommandSession s(engine, 4096);
  Bytes in;
  be32(in, mssim::kRemoteHandshake);
  be32(in, 0);
  Bytes out;
  EXPECT_EQ(feed(s, in, out, 8), Session::Verdict::close);
}

TEST(MssimCommandSession, UnknownCodeRepliesOneAndCloses) {
  testing::RecordingEngine engine;
  MssimCommandSession s(engine, 4096);
  Bytes in;
  be32(in, 0x12345678);
  Bytes out;
  EXPECT_EQ(feed(s, in, out, 4), Session::Verdict::close);
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(be32_at(out, 0), 1u);
}

TEST(MssimCommandSession, StopAsksTheDaemonToStop) {
  testing::RecordingEngine engine;
  MssimCommandSession s(engine, 4096);
  Bytes in;
  be32(in, mssim::kStop);
  Bytes out;
  EXPECT_EQ(feed(s, in, out, 4), Session::Verdict::stop_daemon);
}

TEST(MssimPlatformSession, EverySignalIsDeliveredAndAcked) {
  testing::RecordingEngine engine;
  MssimPlatformSession s(engine);
  const std::vector<std::pair<uint32_t, PlatformSignal>> table = {
      {mssim::kPowerOn, PlatformSignal::power_on},
      {mssim::kPowerOff, PlatformSignal::power_off},
      {mssim::kReset, PlatformSignal::reset},
      {mssim::kRestart, PlatformSignal::restart},
      {mssim::kNvOn, PlatformSignal::nv_on},
      {mssim::kNvOff, PlatformSignal::nv_off},
      {mssim::kCancelOn, PlatformSignal::cancel_on},
      {mssim::kCancelOff, PlatformSignal::cancel_off},
      {mssim::kPhysPresOn, PlatformSignal::phys_pres_on},
      {mssim::kPhysPresOff, PlatformSignal::phys_pres_off},
  };
  Bytes in;
  for (const auto& [code, sig] : table) be32(in, code);
  Bytes out;
  EXPECT_EQ(feed(s, in, out, 3), Session::Verdict::keep);
  ASSERT_EQ(engine.signals.size(), table.size());
  for (size_t i = 0; i < table.size(); ++i) EXPECT_EQ(engine.signals[i], table[i].second);
  ASSERT_EQ(out.size(), 4 * table.size());
  for (size_t off = 0; off < out.size(); off += 4) EXPECT_EQ(be32_at(out, off), 0u);
}

TEST(MssimPlatformSession, UnknownRepliesOneAndClosesSessionEndClosesSilently) {
  testing::RecordingEngine engine;
  {
    MssimPlatformSession s(engine);
    Bytes in;
    be32(in, 99);
    Bytes out;
    EXPECT_EQ(feed(s, in, out, 4), Session::Verdict::close);
    ASSERT_EQ(out.size(), 4u);
    EXPECT_EQ(be32_at(out, 0), 1u);
  }
  {
    MssimPlatformSession s(engine);
    Bytes in;
    be32(in, mssim::kSessionEnd);
    Bytes out;
    EXPECT_EQ(feed(s, in, out, 4), Session::Verdict::close);
    EXPECT_TRUE(out.empty());
  }
  EXPECT_TRUE(engine.signals.empty());
}

}  // namespace
}  // namespace utpm::host
