// The primary-key derivation cache (subsystem/primary_cache.cc): a hit gives the bit-identical
// key a fresh derivation gives, entries are bound to the seed (Clear, ChangePPS/EPS remove
// them), LRU replacement at the profile's capacity, a damaged entry falls back to derivation.
// "Fresh derivation" is a second TPM with the same persistent state but no cache records.
#include <gtest/gtest.h>

#include "tpm/state.h"
#include "tpm/testing/fake_platform.h"
#include "tpm/tpm.h"

namespace utpm::tpm {
namespace {

using testing::CommandBuilder;
using testing::FakePlatform;
using testing::Response;
using testing::run;
using Bytes = std::vector<uint8_t>;

struct B {
  Bytes b;
  B& u8(uint8_t v) { b.push_back(v); return *this; }
  B& u16(uint16_t v) { return u8(uint8_t(v >> 8)).u8(uint8_t(v)); }
  B& u32(uint32_t v) { return u16(uint16_t(v >> 16)).u16(uint16_t(v)); }
  B& raw(const Bytes& v) { b.insert(b.end(), v.begin(), v.end()); return *this; }
  B& tpm2b(const Bytes& v) { return u16(uint16_t(v.size())).raw(v); }
};

bool is_cache_record(uint32_t id) { return id >= kRecPrimaryCache && id < kRecPrimaryCache + 0x100; }

size_t cache_records(const FakePlatform& p) {
  size_t n = 0;
  for (const auto& [id, data] : p.store.committed) n += is_cache_record(id);
  return n;
}

struct Created {
  uint32_t rc = 0;
  Bytes pub;  // outPublic as marshalled (TPMT_PUBLIC with the modulus)
};

// CreatePrimary of an RSA storage key (AES-128-CFB, keyBits bits) with sensitive.data = data;
// the object is flushed again.
Created create(Tpm& tpm, TPM_HANDLE hierarchy, const Bytes& data = {}, uint16_t bits = 1024,
               TPM_ALG_ID type = TPM_ALG_RSA) {
  B t;
  t.u16(type).u16(TPM_ALG_SHA256).u32(0x2 | 0x10 | 0x20 | 0x40 | 0x10000 | 0x20000).u16(0);
  t.u16(TPM_ALG_AES).u16(128).u16(TPM_ALG_CFB).u16(TPM_ALG_NULL);
  if (type == TPM_ALG_RSA)
    t.u16(bits).u32(0).u16(0);
  else
    t.u16(TPM_ECC_NIST_P256).u16(TPM_ALG_NULL).u16(0).u16(0);
  Response r = run(tpm, CommandBuilder(0x8002, TPM_CC_CreatePrimary).u32(hierarchy).pw_session()
                            .tpm2b(B{}.u16(0).tpm2b(data).b).tpm2b(t.b).u16(0).u32(0).bytes());
  Created c{r.rc, {}};
  if (r.rc != 0) return c;
  const uint32_t h = r.u32();
  r.u32();
  c.pub = r.tpm2b();
  EXPECT_EQ(run(tpm, CommandBuilder(0x8001, TPM_CC_FlushContext).u32(h).bytes()).rc, 0u);
  return c;
}

// The key a fresh derivation gives: a TPM on a copy of the platform's store without the cache.
Bytes fresh_derivation(const FakePlatform& from, TPM_HANDLE hierarchy, const Bytes& data = {}, uint16_t bits = 1024) {
  FakePlatform other;
  for (const auto& [id, rec] : from.store.committed)
    if (!is_cache_record(id)) other.store.committed[id] = rec;
  Tpm t{other};
  testing::start(t);
  Created c = create(t, hierarchy, data, bits);
  EXPECT_EQ(c.rc, 0u);
  EXPECT_EQ(cache_records(other), 1u);  // it did derive (and kept the result)
  return c.pub;
}

class PrimaryCache : public ::testing::Test {
 protected:
  void SetUp() override { testing::start(tpm); }
  FakePlatform platform;
  Tpm tpm{platform};
};

TEST_F(PrimaryCache, HitGivesTheKeyOfAFreshDerivation) {
  static_assert(profile::kPrimaryCacheEntries == 8);
  Created first = create(tpm, TPM_RH_OWNER);
  ASSERT_EQ(first.rc, 0u);
  EXPECT_EQ(cache_records(platform), 1u);
  const int commits = platform.store.commits;
  Created again = create(tpm, TPM_RH_OWNER);
  ASSERT_EQ(again.rc, 0u);
  EXPECT_EQ(platform.store.commits, commits);  // a hit writes nothing: it was served from the cache
  EXPECT_EQ(again.pub, first.pub);
  EXPECT_EQ(again.pub, fresh_derivation(platform, TPM_RH_OWNER));
  // After a power cycle (a new engine on the same store) the entry still hits.
  Tpm rebooted{platform};
  testing::start(rebooted);
  const int commits2 = platform.store.commits;
  Created after = create(rebooted, TPM_RH_OWNER);
  ASSERT_EQ(after.rc, 0u);
  EXPECT_EQ(after.pub, first.pub);
  EXPECT_EQ(platform.store.commits, commits2);
}

TEST_F(PrimaryCache, EntryIsBoundToHierarchyAndSensitiveData) {
  Created owner = create(tpm, TPM_RH_OWNER);
  Created endorsement = create(tpm, TPM_RH_ENDORSEMENT);
  Created with_data = create(tpm, TPM_RH_OWNER, Bytes{1, 2, 3});
  ASSERT_EQ(owner.rc | endorsement.rc | with_data.rc, 0u);
  EXPECT_NE(owner.pub, endorsement.pub);
  EXPECT_NE(owner.pub, with_data.pub);
  EXPECT_EQ(cache_records(platform), 3u);
  EXPECT_EQ(with_data.pub, fresh_derivation(platform, TPM_RH_OWNER, Bytes{1, 2, 3}));
  EXPECT_EQ(endorsement.pub, fresh_derivation(platform, TPM_RH_ENDORSEMENT));
  // Null hierarchy and ECC keys are not cached.
  ASSERT_EQ(create(tpm, TPM_RH_NULL).rc, 0u);
  ASSERT_EQ(create(tpm, TPM_RH_OWNER, {}, 0, TPM_ALG_ECC).rc, 0u);
  EXPECT_EQ(cache_records(platform), 3u);
}

TEST_F(PrimaryCache, SeedChangeRemovesTheHierarchysEntries) {
  Created owner = create(tpm, TPM_RH_OWNER);
  Created endorsement = create(tpm, TPM_RH_ENDORSEMENT);
  Created platform_key = create(tpm, TPM_RH_PLATFORM);
  ASSERT_EQ(owner.rc | endorsement.rc | platform_key.rc, 0u);
  ASSERT_EQ(cache_records(platform), 3u);
  // TPM2_Clear: new SPS; the owner entry goes, the EPS and PPS entries stay.
  ASSERT_EQ(run(tpm, CommandBuilder(0x8002, TPM_CC_Clear).u32(TPM_RH_LOCKOUT).pw_session().bytes()).rc, 0u);
  EXPECT_EQ(cache_records(platform), 2u);
  Created owner2 = create(tpm, TPM_RH_OWNER);
  ASSERT_EQ(owner2.rc, 0u);
  EXPECT_NE(owner2.pub, owner.pub);
  EXPECT_EQ(owner2.pub, fresh_derivation(platform, TPM_RH_OWNER));
  int commits = platform.store.commits;
  EXPECT_EQ(create(tpm, TPM_RH_ENDORSEMENT).pub, endorsement.pub);
  EXPECT_EQ(platform.store.commits, commits);  // still a hit
  // ChangeEPS, ChangePPS: their hierarchy's entries go.
  ASSERT_EQ(run(tpm, CommandBuilder(0x8002, TPM_CC_ChangeEPS).u32(TPM_RH_PLATFORM).pw_session().bytes()).rc, 0u);
  EXPECT_EQ(cache_records(platform), 2u);
  ASSERT_EQ(run(tpm, CommandBuilder(0x8002, TPM_CC_ChangePPS).u32(TPM_RH_PLATFORM).pw_session().bytes()).rc, 0u);
  EXPECT_EQ(cache_records(platform), 1u);
  Created endorsement2 = create(tpm, TPM_RH_ENDORSEMENT);
  EXPECT_NE(endorsement2.pub, endorsement.pub);
  EXPECT_NE(create(tpm, TPM_RH_PLATFORM).pub, platform_key.pub);
}

TEST_F(PrimaryCache, LeastRecentlyUsedEntryIsReplaced) {
  constexpr size_t n = profile::kPrimaryCacheEntries;
  std::vector<Bytes> pubs;
  for (size_t i = 0; i < n; ++i) {
    Created c = create(tpm, TPM_RH_OWNER, Bytes{uint8_t(i)});
    ASSERT_EQ(c.rc, 0u);
    pubs.push_back(c.pub);
  }
  EXPECT_EQ(cache_records(platform), n);
  int commits = platform.store.commits;
  EXPECT_EQ(create(tpm, TPM_RH_OWNER, Bytes{0}).pub, pubs[0]);  // key 0 used again: a hit
  EXPECT_EQ(platform.store.commits, commits);
  ASSERT_EQ(create(tpm, TPM_RH_OWNER, Bytes{uint8_t(n)}).rc, 0u);  // one more: replaces key 1
  EXPECT_EQ(cache_records(platform), n);
  commits = platform.store.commits;
  EXPECT_EQ(create(tpm, TPM_RH_OWNER, Bytes{0}).pub, pubs[0]);
  EXPECT_EQ(create(tpm, TPM_RH_OWNER, Bytes{2}).pub, pubs[2]);
  EXPECT_EQ(platform.store.commits, commits);  // 0 and 2 still cached
  EXPECT_EQ(create(tpm, TPM_RH_OWNER, Bytes{1}).pub, pubs[1]);  // derived again, same key
  EXPECT_EQ(platform.store.commits, commits + 1);
}

TEST_F(PrimaryCache, DamagedEntryFallsBackToDerivation) {
  Created first = create(tpm, TPM_RH_OWNER);
  ASSERT_EQ(first.rc, 0u);
  ASSERT_EQ(cache_records(platform), 1u);
  for (auto& [id, rec] : platform.store.committed)
    if (is_cache_record(id)) rec[rec.size() - 1] ^= 0x02;  // q altered (still odd): MAC fails
  int commits = platform.store.commits;
  Created again = create(tpm, TPM_RH_OWNER);
  ASSERT_EQ(again.rc, 0u);
  EXPECT_EQ(again.pub, first.pub);
  EXPECT_EQ(platform.store.commits, commits + 1);  // derived and kept again
  // An unreadable store: derivation, same key.
  platform.store.fail_read = NvStore::Result::io_error;
  Created unreadable = create(tpm, TPM_RH_OWNER);
  platform.store.fail_read = NvStore::Result::ok;
  ASSERT_EQ(unreadable.rc, 0u);
  EXPECT_EQ(unreadable.pub, first.pub);
}

}  // namespace
}  // namespace utpm::tpm
