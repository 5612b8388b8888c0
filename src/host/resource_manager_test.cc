// ResourceManager against the real engine (FakePlatform: RAM NV, deterministic clock). Expected
// policy digests are computed with OpenSSL's SHA-256 from the Part 1 formula; names returned at
// creation (by the TPM, before any swapping) are compared with what the swapped objects report.
#include "host/resource_manager.h"

#include <gtest/gtest.h>
#include <openssl/sha.h>

#include <memory>
#include <vector>

#include "tpm/profile.h"
#include "tpm/testing/fake_platform.h"
#include "tpm/tpm.h"

namespace utpm::host {
namespace {

using tpm::testing::CommandBuilder;

constexpr uint32_t kRhNull = 0x40000007;
constexpr uint32_t kRsPw = 0x40000009;

// The engine as utpmd's TpmEngineLink gives it (no trace, no platform signals needed here).
class Engine final : public EngineLink {
 public:
  Engine() : tpm(platform) { tpm::testing::start(tpm); }
  size_t execute(const char*, uint8_t locality, std::span<const uint8_t> command,
                 std::span<uint8_t> response) override {
    ++commands;
    return tpm.execute(locality, command, response);
  }
  void signal(PlatformSignal s) override {
    if (s == PlatformSignal::reset) tpm.reset();
  }
  tpm::testing::FakePlatform platform;
  tpm::Tpm tpm;
  size_t commands = 0;
};

struct Rsp {
  uint32_t rc = 0;
  std::vector<uint8_t> b;  // the whole response
  size_t pos = 10;
  uint32_t u32() {
    const uint32_t v = uint32_t{b.at(pos)} << 24 | uint32_t{b.at(pos + 1)} << 16 |
                       uint32_t{b.at(pos + 2)} << 8 | b.at(pos + 3);
    pos += 4;
    return v;
  }
  uint16_t u16() {
    const uint16_t v = static_cast<uint16_t>(b.at(pos) << 8 | b.at(pos + 1));
    pos += 2;
    return v;
  }
  std::vector<uint8_t> tpm2b() {
    const size_t n = u16();
    std::vector<uint8_t> v(b.begin() + static_cast<long>(pos), b.begin() + static_cast<long>(pos + n));
    pos += n;
    return v;
  }
};

class RmTest : public ::testing::Test {
 protected:
  Rsp send(EngineLink& link, const std::vector<uint8_t>& cmd) {
    Rsp r;
    r.b.resize(4096);
    const size_t n = link.execute("test", 0, cmd, r.b);
    r.b.resize(n);
    EXPECT_GE(n, 10u);
    r.rc = n >= 10 ? uint32_t{r.b[6]} << 24 | uint32_t{r.b[7]} << 16 | uint32_t{r.b[8]} << 8 | r.b[9]
                   : 0xFFFFFFFF;
    return r;
  }
  // A keyed-hash (HMAC) primary in the NULL hierarchy; `unique` makes each one a different key.
  // Returns the handle the client sees, and the name the TPM computed at creation.
  uint32_t create_primary(EngineLink& link, uint8_t unique, std::vector<uint8_t>* name = nullptr) {
    std::vector<uint8_t> area;
    {
      CommandBuilder a(0, 0);
      a.u16(0x0008).u16(0x000B).u32(0x00040072).u16(0).u16(0x0005).u16(0x000B);
      a.u16(1).u8(unique);
      area = a.bytes();
      area.erase(area.begin(), area.begin() + 10);  // drop the dummy header
    }
    const auto cmd = CommandBuilder(0x8002, 0x131)
                         .u32(kRhNull)
                         .pw_session()
                         .u16(4).u16(0).u16(0)
                         .tpm2b(area)
                         .u16(0)
                         .u32(0)
                         .bytes();
    Rsp r = send(link, cmd);
    EXPECT_EQ(r.rc, 0u);
    if (r.rc != 0) return 0;
    const uint32_t h = r.u32();
    r.u32();         // parameterSize
    r.tpm2b();       // outPublic
    r.tpm2b();       // creationData
    r.tpm2b();       // creationHash
    r.u16(); r.u32(); r.tpm2b();  // creationTicket
    if (name) *name = r.tpm2b();
    return h;
  }
  std::vector<uint8_t> read_name(EngineLink& link, uint32_t h, uint32_t* rc = nullptr) {
    Rsp r = send(link, CommandBuilder(0x8001, 0x173).u32(h).bytes());
    if (rc) *rc = r.rc;
    if (r.rc != 0) return {};
    r.tpm2b();
    return r.tpm2b();
  }
  uint32_t start_policy_session(EngineLink& link) {
    std::vector<uint8_t> nonce(16, 0x5A);
    Rsp r = send(link, CommandBuilder(0x8001, 0x176)
                           .u32(kRhNull).u32(kRhNull)
                           .tpm2b(nonce).u16(0).u8(0x01).u16(0x0010).u16(0x000B)
                           .bytes());
    EXPECT_EQ(r.rc, 0u);
    return r.rc == 0 ? r.u32() : 0;
  }
  std::vector<uint8_t> policy_digest(EngineLink& link, uint32_t session, uint32_t* rc = nullptr) {
    Rsp r = send(link, CommandBuilder(0x8001, 0x189).u32(session).bytes());
    if (rc) *rc = r.rc;
    return r.rc == 0 ? r.tpm2b() : std::vector<uint8_t>{};
  }
  // Part 1 PolicyCommandCode: digest' = H(digest || TPM_CC_PolicyCommandCode || code).
  static std::vector<uint8_t> expect_command_code(uint32_t code) {
    uint8_t in[32 + 8] = {};
    const uint32_t cc = 0x16C;
    for (int i = 0; i < 4; ++i) {
      in[32 + i] = static_cast<uint8_t>(cc >> (24 - 8 * i));
      in[36 + i] = static_cast<uint8_t>(code >> (24 - 8 * i));
    }
    std::vector<uint8_t> d(32);
    SHA256(in, sizeof in, d.data());
    return d;
  }
  // What the TPM itself holds, asked without the RM (0x02000000: loaded sessions, 0x03000000:
  // saved ones, each listed by its own handle).
  std::vector<uint32_t> bare_handles(uint32_t first) {
    Rsp r = send(engine, CommandBuilder(0x8001, 0x17A).u32(1).u32(first).u32(64).bytes());
    EXPECT_EQ(r.rc, 0u);
    std::vector<uint32_t> hs;
    if (r.rc != 0) return hs;
    r.pos = 11;
    EXPECT_EQ(r.u32(), 1u);
    const uint32_t n = r.u32();
    for (uint32_t i = 0; i < n; ++i) hs.push_back(r.u32());
    return hs;
  }

  Engine engine;
  ResourceManager rm{engine};
};

TEST_F(RmTest, EachConnectionHasItsOwnHandlesAndNothingStaysLoaded) {
  auto a = rm.connect();
  auto b = rm.connect();
  std::vector<uint8_t> name_a, name_b;
  EXPECT_EQ(create_primary(*a, 1, &name_a), 0x80000000u);
  EXPECT_EQ(create_primary(*b, 2, &name_b), 0x80000000u);
  EXPECT_NE(name_a, name_b);
  EXPECT_TRUE(bare_handles(0x80000000).empty());  // swapped out between commands
  EXPECT_EQ(read_name(*a, 0x80000000), name_a);
  EXPECT_EQ(read_name(*b, 0x80000000), name_b);
  uint32_t rc = 0;
  read_name(*a, 0x80000001, &rc);
  EXPECT_EQ(rc, 0x18Bu);  // TPM_RC_HANDLE + H1: not a handle of this connection
}

TEST_F(RmTest, MoreObjectsThanSlotsAreSwapped) {
  auto a = rm.connect();
  const size_t n = profile::kMaxLoadedObjects + 3;
  std::vector<std::vector<uint8_t>> names(n);
  for (size_t i = 0; i < n; ++i) {
    EXPECT_EQ(create_primary(*a, static_cast<uint8_t>(10 + i), &names[i]), 0x80000000u + i);
  }
  for (size_t i = 0; i < n; ++i) EXPECT_EQ(read_name(*a, static_cast<uint32_t>(0x80000000u + i)), names[i]);
  // GetCapability(HANDLES) lists this connection's handles only, from the property on.
  auto b = rm.connect();
  create_primary(*b, 99);
  Rsp r = send(*a, CommandBuilder(0x8001, 0x17A).u32(1).u32(0x80000001).u32(2).bytes());
  ASSERT_EQ(r.rc, 0u);
  EXPECT_EQ(r.b[10], 1);  // moreData
  r.pos = 11;
  EXPECT_EQ(r.u32(), 1u);
  ASSERT_EQ(r.u32(), 2u);
  EXPECT_EQ(r.u32(), 0x80000001u);
  EXPECT_EQ(r.u32(), 0x80000002u);
  Rsp rb = send(*b, CommandBuilder(0x8001, 0x17A).u32(1).u32(0x80000000).u32(20).bytes());
  rb.pos = 15;
  EXPECT_EQ(rb.u32(), 1u);
  EXPECT_EQ(rm.objects(), n + 1);
  a.reset();
  EXPECT_EQ(rm.objects(), 1u);
}

TEST_F(RmTest, FlushContextOfAVirtualHandle) {
  auto a = rm.connect();
  create_primary(*a, 1);
  create_primary(*a, 2);
  EXPECT_EQ(send(*a, CommandBuilder(0x8001, 0x165).u32(0x80000000).bytes()).rc, 0u);
  uint32_t rc = 0;
  read_name(*a, 0x80000000, &rc);
  EXPECT_EQ(rc, 0x18Bu);
  read_name(*a, 0x80000001, &rc);
  EXPECT_EQ(rc, 0u);
  EXPECT_EQ(send(*a, CommandBuilder(0x8001, 0x165).u32(0x80000000).bytes()).rc, 0x1CBu);
  EXPECT_EQ(rm.objects(), 1u);
}

TEST_F(RmTest, SessionsAreSwappedAndFlushedAtClose) {
  auto a = rm.connect();
  auto b = rm.connect();
  const uint32_t s = start_policy_session(*a);
  ASSERT_EQ(s >> 24, 0x03u);
  // b fills and overfills the session slots meanwhile.
  std::vector<uint32_t> others;
  for (size_t i = 0; i < profile::kMaxLoadedSessions + 1; ++i) others.push_back(start_policy_session(*b));
  EXPECT_EQ(send(*a, CommandBuilder(0x8001, 0x16C).u32(s).u32(0x15E).bytes()).rc, 0u);
  EXPECT_EQ(policy_digest(*a, s), expect_command_code(0x15E));
  // Another connection cannot flush it.
  EXPECT_EQ(send(*b, CommandBuilder(0x8001, 0x165).u32(s).bytes()).rc, 0x1CBu);
  EXPECT_EQ(rm.sessions(), others.size() + 1);
  b.reset();
  a.reset();
  EXPECT_EQ(rm.sessions(), 0u);
  EXPECT_TRUE(bare_handles(0x03000000).empty());
  EXPECT_TRUE(bare_handles(0x02000000).empty());
}

TEST_F(RmTest, ASessionTheClientSavedOutlivesItsConnection) {
  std::vector<uint8_t> blob;
  uint32_t s = 0;
  {
    auto a = rm.connect();
    s = start_policy_session(*a);
    EXPECT_EQ(send(*a, CommandBuilder(0x8001, 0x16C).u32(s).u32(0x15E).bytes()).rc, 0u);
    Rsp r = send(*a, CommandBuilder(0x8001, 0x162).u32(s).bytes());
    ASSERT_EQ(r.rc, 0u);
    blob.assign(r.b.begin() + 10, r.b.end());
  }
  EXPECT_EQ(bare_handles(0x03000000), std::vector<uint32_t>{s});  // saved, not flushed
  EXPECT_EQ(rm.sessions(), 0u);
  auto c = rm.connect();
  Rsp r = send(*c, CommandBuilder(0x8001, 0x161).raw(blob).bytes());
  ASSERT_EQ(r.rc, 0u);
  EXPECT_EQ(r.u32(), s);
  EXPECT_EQ(policy_digest(*c, s), expect_command_code(0x15E));
  c.reset();  // loaded by c and not saved back: flushed with it
  EXPECT_TRUE(bare_handles(0x02000000).empty());
  EXPECT_TRUE(bare_handles(0x03000000).empty());
}

TEST_F(RmTest, AContextTheClientSavedLoadsUnderANewHandle) {
  std::vector<uint8_t> blob, name;
  {
    auto a = rm.connect();
    create_primary(*a, 7, &name);
    Rsp r = send(*a, CommandBuilder(0x8001, 0x162).u32(0x80000000).bytes());
    ASSERT_EQ(r.rc, 0u);
    blob.assign(r.b.begin() + 10, r.b.end());
  }
  EXPECT_EQ(rm.objects(), 0u);
  auto b = rm.connect();
  create_primary(*b, 8);
  Rsp r = send(*b, CommandBuilder(0x8001, 0x161).raw(blob).bytes());
  ASSERT_EQ(r.rc, 0u);
  EXPECT_EQ(r.u32(), 0x80000001u);
  EXPECT_EQ(read_name(*b, 0x80000001), name);
}

TEST_F(RmTest, ASequenceCompletedIsForgotten) {
  auto a = rm.connect();
  Rsp r = send(*a, CommandBuilder(0x8001, 0x186).u16(0).u16(0x000B).bytes());  // HashSequenceStart
  ASSERT_EQ(r.rc, 0u);
  const uint32_t seq = r.u32();
  EXPECT_EQ(seq, 0x80000000u);
  const uint8_t data[3] = {'a', 'b', 'c'};
  // SequenceComplete(seq, "abc", NULL hierarchy) with an empty password session.
  r = send(*a, CommandBuilder(0x8002, 0x13E).u32(seq).pw_session().tpm2b(data).u32(kRhNull).bytes());
  ASSERT_EQ(r.rc, 0u);
  r.u32();
  uint8_t expected[32];
  SHA256(data, 3, expected);
  EXPECT_EQ(r.tpm2b(), std::vector<uint8_t>(expected, expected + 32));
  EXPECT_EQ(rm.objects(), 0u);
}

TEST_F(RmTest, PlatformResetForgetsEverything) {
  auto a = rm.connect();
  create_primary(*a, 1);
  start_policy_session(*a);
  rm.signal(PlatformSignal::reset);
  EXPECT_EQ(rm.objects(), 0u);
  EXPECT_EQ(rm.sessions(), 0u);
}

// Session context gap (TPM_PT_CONTEXT_GAP_MAX = 0xFFFF, docs/engine.md "Session context gap"):
// a's session stays saved while b starts and flushes 70,000 sessions, each of which the RM
// saves once. Sequences: a's session 0 (StartAuthSession) and 1 (PolicyCommandCode), b's from
// 2 on; the save that would take 1 + 0x10000 is refused, the RM re-gaps a's session (now the
// newest), and nothing else needs it before the 70,002nd save: exactly one re-gap.
TEST_F(RmTest, AnOldSessionSurvivesSeventyThousandOthers) {
  auto a = rm.connect();
  auto b = rm.connect();
  const uint32_t s = start_policy_session(*a);
  ASSERT_EQ(send(*a, CommandBuilder(0x8001, 0x16C).u32(s).u32(0x15E).bytes()).rc, 0u);
  constexpr int kCycles = 70000;
  int failures = 0;
  for (int i = 0; i < kCycles && failures < 5; ++i) {
    Rsp r = send(*b, CommandBuilder(0x8001, 0x176)
                         .u32(kRhNull).u32(kRhNull)
                         .tpm2b(std::vector<uint8_t>(16, 0x5A)).u16(0).u8(0x01).u16(0x0010).u16(0x000B)
                         .bytes());
    if (r.rc != 0) {
      ADD_FAILURE() << "StartAuthSession " << i << ": rc 0x" << std::hex << r.rc;
      ++failures;
      continue;
    }
    const uint32_t h = r.u32();
    // The RM saved b's new session: nothing is loaded between commands (checked around where
    // the gap fills up, and now and then).
    if ((i >= 65500 && i < 65600) || i % 5000 == 0) {
      const std::vector<uint32_t> loaded = bare_handles(0x02000000);
      if (!loaded.empty()) {
        ADD_FAILURE() << "after StartAuthSession " << i << ": session 0x" << std::hex << loaded[0]
                      << " left loaded";
        ++failures;
      }
    }
    const uint32_t rc = send(*b, CommandBuilder(0x8001, 0x165).u32(h).bytes()).rc;
    if (rc != 0) {
      ADD_FAILURE() << "FlushContext " << i << ": rc 0x" << std::hex << rc;
      ++failures;
    }
  }
  EXPECT_EQ(rm.regaps(), (kCycles + 2) / 0x10000);
  // a's session still works, with the policy state it had; nothing stays loaded.
  EXPECT_EQ(policy_digest(*a, s), expect_command_code(0x15E));
  EXPECT_TRUE(bare_handles(0x02000000).empty());
  EXPECT_EQ(bare_handles(0x03000000), std::vector<uint32_t>{s});
}

// A client's own ContextSave refused for the gap is run again after a re-gap. The engine's
// counter is moved (test-only) to where 0xFFFF saves after a's would leave it; the rule itself
// is proven with the real counter above and in src/tpm/commands/context_test.cc.
TEST_F(RmTest, AClientsContextSaveRefusedForTheGapIsRetriedAfterARegap) {
  auto a = rm.connect();
  auto b = rm.connect();
  const uint32_t s = start_policy_session(*a);  // saved by the RM: sequence 0
  const uint32_t t = start_policy_session(*b);  // sequence 1
  ASSERT_TRUE(s && t);
  engine.tpm.state().session_counter = 0x10000;  // the next session save would repeat s's low bits
  Rsp r = send(*b, CommandBuilder(0x8001, 0x162).u32(t).bytes());
  ASSERT_EQ(r.rc, 0u);
  EXPECT_EQ(rm.regaps(), 1u);
  uint64_t seq = 0;
  for (int i = 0; i < 8; ++i) seq = seq << 8 | r.b.at(10 + static_cast<size_t>(i));
  EXPECT_EQ(seq, 0x10001u) << "s re-saved as 0x10000, then t";
  std::vector<uint8_t> blob(r.b.begin() + 10, r.b.end());
  Rsp l = send(*b, CommandBuilder(0x8001, 0x161).raw(blob).bytes());
  ASSERT_EQ(l.rc, 0u);
  EXPECT_EQ(l.u32(), t);
  EXPECT_EQ(policy_digest(*a, s), std::vector<uint8_t>(32, 0));
}

}  // namespace
}  // namespace utpm::host
