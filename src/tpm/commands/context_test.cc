// Session context gap (Part 1 "Context Management", Part 3 ContextSave / ContextLoad /
// StartAuthSession): the expected numbers are the spec's rule written out here, with
// TPM_PT_CONTEXT_GAP_MAX = 0xFFFF: a session save is refused (TPM_RC_CONTEXT_GAP) when its
// sequence would be GAP_MAX + 1 above the oldest saved session's; while that is so, the last
// free session slot is kept for the oldest saved session (StartAuthSession and ContextLoad of
// any other session: TPM_RC_CONTEXT_GAP); loading the oldest and saving it again moves it up.
// One test runs the real counter through the whole gap (65,534 save/load pairs).
#include <gtest/gtest.h>

#include "tpm/state.h"
#include "tpm/testing/fake_platform.h"
#include "tpm/tpm.h"
#include "tpm/types/constants.h"

namespace utpm::tpm {
namespace {

using testing::CommandBuilder;
using testing::FakePlatform;
using testing::Response;
using testing::run;

constexpr uint64_t kGapMax = 0xFFFF;  // what TPM_PT_CONTEXT_GAP_MAX must say (checked below)

struct Saved {
  uint32_t rc = 0;
  uint64_t sequence = 0;
  std::vector<uint8_t> context;  // the TPMS_CONTEXT as returned (to send back to ContextLoad)
};

class ContextGap : public ::testing::Test {
 protected:
  void SetUp() override { testing::start(tpm); }

  // An unbound, unsalted HMAC session; returns its handle (0 and the rc on failure).
  uint32_t start_session(uint32_t* rc_out = nullptr) {
    std::vector<uint8_t> nonce(16, 0x5A);
    Response r = run(tpm, CommandBuilder(0x8001, TPM_CC_StartAuthSession)
                              .u32(TPM_RH_NULL)
                              .u32(TPM_RH_NULL)
                              .tpm2b(nonce)
                              .u16(0)
                              .u8(0x00)  // TPM_SE_HMAC
                              .u16(TPM_ALG_NULL)
                              .u16(TPM_ALG_SHA256)
                              .bytes());
    if (rc_out) *rc_out = r.rc;
    return r.rc == 0 ? r.u32() : 0;
  }
  Saved save(uint32_t handle) {
    Response r = run(tpm, CommandBuilder(0x8001, TPM_CC_ContextSave).u32(handle).bytes());
    Saved s;
    s.rc = r.rc;
    if (r.rc != 0) return s;
    s.context = r.take(r.left());
    for (int i = 0; i < 8; ++i) s.sequence = s.sequence << 8 | s.context[i];
    return s;
  }
  uint32_t load(const Saved& s, uint32_t* handle = nullptr) {
    Response r = run(tpm, CommandBuilder(0x8001, TPM_CC_ContextLoad).raw(s.context).bytes());
    if (r.rc == 0 && handle) *handle = r.u32();
    return r.rc;
  }
  uint32_t flush(uint32_t handle) {
    return run(tpm, CommandBuilder(0x8001, TPM_CC_FlushContext).u32(handle).bytes()).rc;
  }
  // Saves and reloads `handle` until the save is refused; returns how many saves succeeded and
  // the last sequence given.
  uint64_t cycle_until_refused(uint32_t handle, uint64_t& last, uint32_t& refused_rc) {
    uint64_t n = 0;
    for (;;) {
      Saved s = save(handle);
      if (s.rc != 0) {
        refused_rc = s.rc;
        return n;
      }
      ++n;
      last = s.sequence;
      uint32_t h = 0;
      if (load(s, &h) != 0 || h != handle) {
        ADD_FAILURE() << "reload " << n << " failed";
        return n;
      }
    }
  }

  FakePlatform platform;
  Tpm tpm{platform};
};

TEST_F(ContextGap, GetCapabilityReportsTheGapOfTheSlotType) {
  Response r = run(tpm, CommandBuilder(0x8001, TPM_CC_GetCapability)
                            .u32(TPM_CAP_TPM_PROPERTIES)
                            .u32(0x114)  // TPM_PT_CONTEXT_GAP_MAX
                            .u32(1)
                            .bytes());
  ASSERT_EQ(r.rc, 0u);
  r.u8();
  EXPECT_EQ(r.u32(), TPM_CAP_TPM_PROPERTIES);
  ASSERT_EQ(r.u32(), 1u);
  EXPECT_EQ(r.u32(), 0x114u);
  EXPECT_EQ(r.u32(), kGapMax);
}

TEST_F(ContextGap, ObjectSavesDoNotCountTowardsTheSessionGap) {
  const uint32_t s = start_session();
  ASSERT_NE(s, 0u);
  Saved a = save(s);
  ASSERT_EQ(a.rc, 0u);
  ASSERT_EQ(load(a), 0u);
  // A null-hierarchy primary, saved many times: the session's next sequence is the next one.
  Response p = run(tpm, CommandBuilder(0x8002, TPM_CC_CreatePrimary)
                            .u32(TPM_RH_NULL)
                            .pw_session()
                            .u16(4).u16(0).u16(0)  // inSensitive: empty auth, empty data
                            // TPM2B_PUBLIC: keyed hash, SHA-256, sign|userWithAuth|..., HMAC-SHA-256
                            .u16(16).u16(0x0008).u16(0x000B).u32(0x00040072)
                            .u16(0).u16(0x0005).u16(0x000B).u16(0)
                            .u16(0).u32(0)
                            .bytes());
  ASSERT_EQ(p.rc, 0u);
  const uint32_t obj = p.u32();
  for (int i = 0; i < 5; ++i) ASSERT_EQ(save(obj).rc, 0u);
  Saved b = save(s);
  ASSERT_EQ(b.rc, 0u);
  EXPECT_EQ(b.sequence, a.sequence + 1);
}

// The whole gap with the real counter: A and E saved first, B saved and reloaded until refused.
TEST_F(ContextGap, TheRealCounterRunsIntoTheGapAndRecyclingTheOldestClearsIt) {
  const uint32_t a = start_session(), e = start_session(), b = start_session();
  ASSERT_TRUE(a && e && b);
  Saved sa = save(a), se = save(e);
  ASSERT_EQ(sa.rc, 0u);
  ASSERT_EQ(se.rc, 0u);
  ASSERT_EQ(se.sequence, sa.sequence + 1);
  uint64_t last = 0;
  uint32_t refused = 0;
  const uint64_t n = cycle_until_refused(b, last, refused);
  // B's saves take sa+2 .. sa+GAP_MAX; sa+GAP_MAX+1 would have A's low 16 bits.
  EXPECT_EQ(refused, TPM_RC_CONTEXT_GAP);
  EXPECT_EQ(n, kGapMax - 1);
  EXPECT_EQ(last - sa.sequence, kGapMax);
  // B is still loaded (the refused save changed nothing); two slots are free.
  ASSERT_EQ(save(b).rc, TPM_RC_CONTEXT_GAP);
  uint32_t rc = 0;
  const uint32_t c = start_session(&rc);
  ASSERT_EQ(rc, 0u) << "a slot other than the last one may still be used";
  // One slot left: kept for the oldest saved session.
  EXPECT_EQ(start_session(&rc), 0u);
  EXPECT_EQ(rc, TPM_RC_CONTEXT_GAP);
  EXPECT_EQ(load(se), TPM_RC_CONTEXT_GAP) << "E is not the oldest";
  uint32_t h = 0;
  ASSERT_EQ(load(sa, &h), 0u) << "the oldest may take the last slot";
  EXPECT_EQ(h, a);
  // A saved again: its new sequence is the one B was refused; E is the oldest now, and the
  // gap is full again at once (E is only one above A's old sequence).
  Saved sa2 = save(a);
  ASSERT_EQ(sa2.rc, 0u);
  EXPECT_EQ(sa2.sequence, sa.sequence + kGapMax + 1);
  EXPECT_EQ(load(sa), rc_param(TPM_RC_HANDLE, 1)) << "A's old context is dead";
  EXPECT_EQ(save(b).rc, TPM_RC_CONTEXT_GAP);
  ASSERT_EQ(load(se, &h), 0u);
  EXPECT_EQ(h, e);
  Saved se2 = save(e);
  ASSERT_EQ(se2.rc, 0u);
  EXPECT_EQ(load(se), rc_param(TPM_RC_HANDLE, 1)) << "E's old context is dead";
  // Now the gap has room again: B saves, and every session is usable.
  Saved sb = save(b);
  ASSERT_EQ(sb.rc, 0u);
  EXPECT_EQ(sb.sequence, se2.sequence + 1);
  EXPECT_EQ(load(sb), 0u);
  EXPECT_EQ(load(sa2), 0u);
  EXPECT_EQ(flush(c), 0u);
  EXPECT_EQ(load(se2), 0u);
}

// Flushing the oldest saved session is the other way out of a full gap.
TEST_F(ContextGap, FlushingTheOldestClearsTheGap) {
  const uint32_t a = start_session(), b = start_session();
  ASSERT_TRUE(a && b);
  Saved sa = save(a);
  ASSERT_EQ(sa.rc, 0u);
  // Test-only shortcut (the rule itself is proven with the real counter above): the counter
  // as 65,533 session saves since A's would leave it.
  tpm.state().session_counter = sa.sequence + kGapMax - 1;
  Saved s1 = save(b);
  ASSERT_EQ(s1.rc, 0u);
  ASSERT_EQ(load(s1), 0u);
  Saved s2 = save(b);
  ASSERT_EQ(s2.rc, 0u);
  EXPECT_EQ(s2.sequence - sa.sequence, kGapMax);
  ASSERT_EQ(load(s2), 0u);
  EXPECT_EQ(save(b).rc, TPM_RC_CONTEXT_GAP);
  EXPECT_EQ(flush(a), 0u);
  Saved s3 = save(b);
  ASSERT_EQ(s3.rc, 0u);
  EXPECT_EQ(s3.sequence, sa.sequence + kGapMax + 1);
}

// A context older than the gap can never load, even if its low bits match the entry again.
TEST_F(ContextGap, AContextOlderThanTheGapIsRefused) {
  const uint32_t a = start_session();
  ASSERT_NE(a, 0u);
  Saved sa = save(a);
  ASSERT_EQ(sa.rc, 0u);
  // Test-only: forge the entry so its low bits are those of a sequence 2^16 later, as a replay
  // of an old context would need; the range rule refuses it.
  tpm.state().session_counter = sa.sequence + kGapMax + 2;
  EXPECT_EQ(load(sa), rc_param(TPM_RC_HANDLE, 1));
  tpm.state().session_counter = sa.sequence + kGapMax + 1;
  uint32_t h = 0;
  EXPECT_EQ(load(sa, &h), 0u) << "GAP_MAX + 1 below the counter is still in range";
  EXPECT_EQ(h, a);
}

TEST_F(ContextGap, TheSixtyFourBitCounterNeverWraps) {
  const uint32_t a = start_session();
  ASSERT_NE(a, 0u);
  tpm.state().session_counter = UINT64_MAX;  // test-only
  EXPECT_EQ(save(a).rc, TPM_RC_TOO_MANY_CONTEXTS);
  tpm.state().session_counter = UINT64_MAX - 1;
  Saved s = save(a);
  ASSERT_EQ(s.rc, 0u);
  EXPECT_EQ(s.sequence, UINT64_MAX - 1);
  EXPECT_EQ(load(s), 0u);
}

// No saved session outlives a Startup here (the null proof is new), so the gap starts empty.
TEST_F(ContextGap, StartupForgetsSavedSessionsAndTheGap) {
  const uint32_t a = start_session();
  ASSERT_NE(a, 0u);
  Saved sa = save(a);
  ASSERT_EQ(sa.rc, 0u);
  ASSERT_EQ(run(tpm, CommandBuilder(0x8001, TPM_CC_Shutdown).u16(TPM_SU_STATE).bytes()).rc, 0u);
  tpm.power_off();
  tpm.power_on();
  ASSERT_EQ(run(tpm, CommandBuilder(0x8001, TPM_CC_Startup).u16(TPM_SU_STATE).bytes()).rc, 0u);
  EXPECT_EQ(load(sa), rc_param(TPM_RC_HANDLE, 1));
  uint32_t rc = 0;
  for (int i = 0; i < 3; ++i) {
    EXPECT_NE(start_session(&rc), 0u);
    EXPECT_EQ(rc, 0u);
  }
}

}  // namespace
}  // namespace utpm::tpm
