// The mechanisms the new chapters plug into: entity resolution (one lookup per handle, with
// Name, authValue, authPolicy and DA protection), the command descriptor (three handles, wide
// flags, authorized handles first) and "parse before put".
#include <gtest/gtest.h>
#include <openssl/evp.h>

#include "tpm/core/command.h"
#include "tpm/core/entity.h"
#include "tpm/subsystem/subsystems.h"
#include "tpm/testing/fake_platform.h"
#include "tpm/tpm.h"

namespace utpm::tpm {
namespace {

using testing::CommandBuilder;
using testing::FakePlatform;
using testing::Response;
using testing::run;
using Bytes = std::vector<uint8_t>;

class Entities : public ::testing::Test {
 protected:
  void SetUp() override { testing::start(tpm); }
  FakePlatform platform;
  Tpm tpm{platform};
  State& st() { return tpm.state(); }
};

Bytes be32(uint32_t h) { return {uint8_t(h >> 24), uint8_t(h >> 16), uint8_t(h >> 8), uint8_t(h)}; }
Bytes view(const TPM2B_NAME& n) { return Bytes(n.buffer, n.buffer + n.size); }

TEST_F(Entities, PermanentHandlesAreNamedByTheHandleAndCarryTheirAuthAndPolicy) {
  Entity e;
  ASSERT_EQ(entity_resolve(st(), TPM_RH_OWNER, e), TPM_RC_SUCCESS);
  EXPECT_EQ(e.kind, EntityKind::permanent);
  EXPECT_EQ(view(e.name), be32(TPM_RH_OWNER));
  EXPECT_EQ(e.auth, &st().pers.owner_auth) << "the live value: HierarchyChangeAuth is seen";
  EXPECT_FALSE(e.da_protected);
  EXPECT_EQ(e.policy_alg, TPM_ALG_NULL);
  st().pers.owner_policy.hashAlg.value = TPM_ALG_SHA256;
  ASSERT_EQ(entity_resolve(st(), TPM_RH_OWNER, e), TPM_RC_SUCCESS);
  EXPECT_EQ(e.policy_alg, TPM_ALG_SHA256);
  EXPECT_EQ(e.policy.size(), 32u);
  ASSERT_EQ(entity_resolve(st(), TPM_RH_NULL, e), TPM_RC_SUCCESS);
  EXPECT_EQ(e.auth, nullptr);
  EXPECT_EQ(entity_resolve(st(), 0x40000002 /* not a permanent entity here */, e), TPM_RC_HANDLE);
}

TEST_F(Entities, PcrsSequencesAndSessions) {
  Entity e;
  ASSERT_EQ(entity_resolve(st(), 7, e), TPM_RC_SUCCESS);
  EXPECT_EQ(e.kind, EntityKind::pcr);
  EXPECT_EQ(view(e.name), be32(7));
  EXPECT_EQ(entity_resolve(st(), profile::kNumPcrs, e), TPM_RC_HANDLE);

  Response r = run(tpm, CommandBuilder(0x8001, TPM_CC_HashSequenceStart).tpm2b(Bytes{'a'}).u16(TPM_ALG_SHA256).bytes());
  ASSERT_EQ(r.rc, 0u);
  const uint32_t seq = r.u32();
  ASSERT_EQ(entity_resolve(st(), seq, e), TPM_RC_SUCCESS);
  EXPECT_EQ(e.kind, EntityKind::sequence);
  EXPECT_EQ(e.name.size, 0u) << "a sequence's Name is the Empty Buffer";
  EXPECT_FALSE(e.da_protected);
  ASSERT_NE(e.auth, nullptr);
  EXPECT_EQ(e.auth->size, 1u);
  EXPECT_FALSE(e.gone());
  ASSERT_EQ(run(tpm, CommandBuilder(0x8001, TPM_CC_FlushContext).u32(seq).bytes()).rc, 0u);
  EXPECT_TRUE(e.gone()) << "an entity knows when the command flushed its object";
  EXPECT_EQ(entity_resolve(st(), seq, e), TPM_RC_HANDLE);

  r = run(tpm, CommandBuilder(0x8001, TPM_CC_StartAuthSession).u32(TPM_RH_NULL).u32(TPM_RH_NULL)
                   .tpm2b(Bytes(16, 1)).u16(0).u8(0).u16(TPM_ALG_NULL).u16(TPM_ALG_SHA256).bytes());
  ASSERT_EQ(r.rc, 0u);
  const uint32_t session = r.u32();
  ASSERT_EQ(entity_resolve(st(), session, e), TPM_RC_SUCCESS);
  EXPECT_EQ(e.kind, EntityKind::session);
  EXPECT_NE(e.session, nullptr);
  EXPECT_EQ(view(e.name), be32(session));
}

TEST_F(Entities, BindIdentityCoversNameAndAuthValue) {
  Entity a, b;
  ASSERT_EQ(entity_resolve(st(), TPM_RH_OWNER, a), TPM_RC_SUCCESS);
  ASSERT_EQ(entity_resolve(st(), TPM_RH_ENDORSEMENT, b), TPM_RC_SUCCESS);
  TPM2B_DIGEST ia, ib;
  bind_identity(a, TPM_ALG_SHA256, ia);
  bind_identity(b, TPM_ALG_SHA256, ib);
  // H(Name || authValue), computed here with OpenSSL: owner, empty auth.
  Bytes expect(32);
  Bytes name = be32(TPM_RH_OWNER);
  unsigned n = 0;
  EVP_Digest(name.data(), name.size(), expect.data(), &n, EVP_sha256(), nullptr);
  EXPECT_EQ(Bytes(ia.buffer, ia.buffer + ia.size), expect);
  EXPECT_NE(Bytes(ia.buffer, ia.buffer + ia.size), Bytes(ib.buffer, ib.buffer + ib.size));
  // The same Name with another authValue is another identity; trailing zeros do not count.
  st().pers.owner_auth.assign(Bytes{'x', 0, 0});
  TPM2B_DIGEST ia2;
  bind_identity(a, TPM_ALG_SHA256, ia2);
  Bytes in = name;
  in.push_back('x');
  EVP_Digest(in.data(), in.size(), expect.data(), &n, EVP_sha256(), nullptr);
  EXPECT_EQ(Bytes(ia2.buffer, ia2.buffer + ia2.size), expect);
}

TEST(CommandDescriptor, TableRowsDescribeHandlesRolesAndAttributes) {
  // Two handles, the first authorized: EvictControl(auth: provision USER, objectHandle).
  const CommandInfo* ec = find_command(TPM_CC_EvictControl);
  ASSERT_NE(ec, nullptr);
  EXPECT_EQ(ec->handle_count, 2);
  EXPECT_EQ(ec->handles[0], HandleKind::provision);
  EXPECT_EQ(ec->auth[0], AuthRole::user);
  EXPECT_EQ(ec->handles[1], HandleKind::object);
  EXPECT_EQ(ec->auth[1], AuthRole::none);
  EXPECT_EQ(ec->auth_count(), 1);
  EXPECT_EQ(ec->tpma_cc(), (TPM_CC_EvictControl & 0xFFFF) | 1u << 22 | 2u << 25) << "nv, cHandles 2";
  // Every row: handle count within the descriptor, authorized handles first.
  for (const CommandInfo* c = command_table().begin; c != command_table().end; ++c) {
    ASSERT_LE(c->handle_count, kMaxCommandHandles) << c->name;
    bool unauthorized_seen = false;
    for (unsigned i = 0; i < c->handle_count; ++i) {
      EXPECT_NE(c->handles[i], HandleKind::none) << c->name;
      if (c->auth[i] == AuthRole::none) unauthorized_seen = true;
      else EXPECT_FALSE(unauthorized_seen) << c->name << ": authorized handle after an unauthorized one";
    }
  }
  static_assert(kMaxCommandHandles == 3, "NV_Certify, PolicyNV and PolicyAuthorizeNV have three handles");
  static_assert(sizeof(CommandFlags) * 8 >= 16, "room for the flags audit, NV and policy add");
}

TEST_F(Entities, PutBeforeParseWritesNothingAndIsFlagged) {
  const CommandInfo* info = find_command(TPM_CC_GetRandom);
  uint8_t in[2] = {0, 8}, out[16] = {};
  Command c{tpm, st(), platform, *info, 0};
  c.params = Reader(in);
  c.out = Writer(out);
  c.put(uint32_t{0xDEADBEEF});
  EXPECT_TRUE(c.output_before_parse);
  EXPECT_EQ(c.out.size(), 0u) << "nothing written over the (possibly decrypted) parameters";
  uint16_t n = 0;
  ASSERT_EQ(c.parse(n), TPM_RC_SUCCESS);
  EXPECT_TRUE(c.parsed);
  c.put(uint16_t{7});
  EXPECT_EQ(c.out.size(), 2u);
}

}  // namespace
}  // namespace utpm::tpm
