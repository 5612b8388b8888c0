// Attestation structures, the privacy rule and the audit record, with expected values computed
// independently: encodings written out field by field from Part 2, KDFa and signatures with
// OpenSSL directly.
#include <gtest/gtest.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "tpm/core/audit.h"
#include "tpm/testing/fake_platform.h"
#include "tpm/tpm.h"
#include "tpm/types/attest.h"

namespace utpm::tpm {
namespace {

using testing::CommandBuilder;
using testing::FakePlatform;
using testing::Response;
using testing::run;
using Bytes = std::vector<uint8_t>;

Bytes marshalled(const TPMS_ATTEST& a) {
  uint8_t buf[2048];
  Writer w(buf);
  marshal(w, a);
  EXPECT_FALSE(w.overflow());
  return Bytes(buf, buf + w.size());
}

// Appends big-endian fields.
struct B {
  Bytes b;
  B& u8(uint8_t v) { b.push_back(v); return *this; }
  B& u16(uint16_t v) { return u8(uint8_t(v >> 8)).u8(uint8_t(v)); }
  B& u32(uint32_t v) { return u16(uint16_t(v >> 16)).u16(uint16_t(v)); }
  B& u64(uint64_t v) { return u32(uint32_t(v >> 32)).u32(uint32_t(v)); }
  B& raw(const Bytes& v) { b.insert(b.end(), v.begin(), v.end()); return *this; }
  B& tpm2b(const Bytes& v) { return u16(uint16_t(v.size())).raw(v); }
};

// The TPMS_ATTEST header of Part 2 §10.12.12, written out here.
B header(uint16_t type, const Bytes& signer, const Bytes& extra) {
  B b;
  b.u32(0xff544347).u16(type).tpm2b(signer).tpm2b(extra).u64(0x0102030405060708).u32(7).u32(9).u8(1)
      .u64(0xA1A2A3A4A5A6A7A8);
  return b;
}

TPMS_ATTEST attest_of(uint16_t type, const Bytes& signer, const Bytes& extra) {
  TPMS_ATTEST a;
  a.type.value = type;
  a.qualifiedSigner.assign(signer);
  a.extraData.assign(extra);
  a.clockInfo = {0x0102030405060708, 7, 9, 1};
  a.firmwareVersion = 0xA1A2A3A4A5A6A7A8;
  return a;
}

// Every TPMU_ATTEST arm: the encoding matches Part 2's layout, and unmarshalling it gives the
// same bytes back.
TEST(AttestStructures, EveryArmEncodesAsPart2SaysAndRoundTrips) {
  const Bytes signer = {0x00, 0x0B, 1, 2, 3}, extra = {9, 8}, name = {0x00, 0x0B, 4, 5}, qn = {0x00, 0x0B, 6};
  const Bytes digest(32, 0x5A), data = {1, 2, 3, 4, 5};
  std::vector<std::pair<TPMS_ATTEST, Bytes>> cases;
  {
    TPMS_ATTEST a = attest_of(TPM_ST_ATTEST_CERTIFY, signer, extra);
    a.attested.certify.name.assign(name);
    a.attested.certify.qualifiedName.assign(qn);
    cases.push_back({a, header(TPM_ST_ATTEST_CERTIFY, signer, extra).tpm2b(name).tpm2b(qn).b});
  }
  {
    TPMS_ATTEST a = attest_of(TPM_ST_ATTEST_QUOTE, signer, extra);
    a.attested.quote.pcrSelect.count = 2;
    a.attested.quote.pcrSelect.items[0].hash.value = TPM_ALG_SHA1;
    a.attested.quote.pcrSelect.items[0].sizeofSelect = 3;
    a.attested.quote.pcrSelect.items[0].pcrSelect[0] = 0x81;
    a.attested.quote.pcrSelect.items[1].hash.value = TPM_ALG_SHA384;
    a.attested.quote.pcrSelect.items[1].sizeofSelect = 3;
    a.attested.quote.pcrSelect.items[1].pcrSelect[2] = 0x01;
    a.attested.quote.pcrDigest.assign(digest);
    cases.push_back({a, header(TPM_ST_ATTEST_QUOTE, signer, extra)
                            .u32(2).u16(TPM_ALG_SHA1).u8(3).raw({0x81, 0, 0}).u16(TPM_ALG_SHA384).u8(3)
                            .raw({0, 0, 1}).tpm2b(digest).b});
  }
  {
    TPMS_ATTEST a = attest_of(TPM_ST_ATTEST_CREATION, signer, extra);
    a.attested.creation.objectName.assign(name);
    a.attested.creation.creationHash.assign(digest);
    cases.push_back({a, header(TPM_ST_ATTEST_CREATION, signer, extra).tpm2b(name).tpm2b(digest).b});
  }
  {
    TPMS_ATTEST a = attest_of(TPM_ST_ATTEST_COMMAND_AUDIT, signer, extra);
    a.attested.commandAudit = {77, TPM_ALG_SHA256, {}, {}};
    a.attested.commandAudit.auditDigest.assign(digest);
    a.attested.commandAudit.commandDigest.assign(data);
    cases.push_back({a, header(TPM_ST_ATTEST_COMMAND_AUDIT, signer, extra)
                            .u64(77).u16(TPM_ALG_SHA256).tpm2b(digest).tpm2b(data).b});
  }
  {
    TPMS_ATTEST a = attest_of(TPM_ST_ATTEST_SESSION_AUDIT, signer, extra);
    a.attested.sessionAudit.exclusiveSession = 1;
    a.attested.sessionAudit.sessionDigest.assign(digest);
    cases.push_back({a, header(TPM_ST_ATTEST_SESSION_AUDIT, signer, extra).u8(1).tpm2b(digest).b});
  }
  {
    TPMS_ATTEST a = attest_of(TPM_ST_ATTEST_TIME, signer, extra);
    a.attested.time.time = {55, {66, 3, 4, 0}};
    a.attested.time.firmwareVersion = 0x11;
    cases.push_back({a, header(TPM_ST_ATTEST_TIME, signer, extra).u64(55).u64(66).u32(3).u32(4).u8(0).u64(0x11).b});
  }
  {
    TPMS_ATTEST a = attest_of(TPM_ST_ATTEST_NV, signer, extra);
    a.attested.nv.indexName.assign(name);
    a.attested.nv.offset = 12;
    a.attested.nv.nvContents.assign(data);
    cases.push_back({a, header(TPM_ST_ATTEST_NV, signer, extra).tpm2b(name).u16(12).tpm2b(data).b});
  }
  {
    TPMS_ATTEST a = attest_of(TPM_ST_ATTEST_NV_DIGEST, signer, extra);
    a.attested.nvDigest.indexName.assign(name);
    a.attested.nvDigest.nvDigest.assign(digest);
    cases.push_back({a, header(TPM_ST_ATTEST_NV_DIGEST, signer, extra).tpm2b(name).tpm2b(digest).b});
  }
  ASSERT_EQ(cases.size(), std::tuple_size_v<decltype(TPMU_ATTEST::arms())>) << "one case per arm";
  for (auto& [a, expect] : cases) {
    EXPECT_EQ(marshalled(a), expect) << std::hex << a.type.value;
    Reader r(expect);
    TPMS_ATTEST back;
    ASSERT_EQ(unmarshal(r, back), TPM_RC_SUCCESS);
    EXPECT_EQ(r.remaining(), 0u);
    EXPECT_EQ(marshalled(back), expect);
  }
  // A type that is no attestation structure.
  Bytes bad = header(TPM_ST_CREATION, signer, extra).b;
  Reader r(bad);
  TPMS_ATTEST back;
  EXPECT_EQ(unmarshal(r, back), TPM_RC_VALUE);
}

TEST(AuditRecord, RoundTripsAndRefusesAnotherVersion) {
  AuditState a;
  audit_defaults(a);
  a.alg = TPM_ALG_SHA384;
  a.counter = 0x0102030405060708;
  a.commands[3] = 0x5A;
  uint8_t buf[64];
  Writer w(buf);
  audit_record_write(a, w);
  const Bytes expect = B{}.u16(0x5541).u16(1).u16(TPM_ALG_SHA384).u64(0x0102030405060708).raw([&] {
    Bytes bits(32, 0);
    bits[(TPM_CC_SetCommandCodeAuditStatus - 0x11F) / 8] |= uint8_t(1 << ((TPM_CC_SetCommandCodeAuditStatus - 0x11F) % 8));
    bits[3] = 0x5A;
    return bits;
  }()).b;
  EXPECT_EQ(Bytes(buf, buf + w.size()), expect);
  AuditState back;
  Reader r({buf, w.size()});
  ASSERT_TRUE(audit_record_read(r, back));
  EXPECT_EQ(back.alg, TPM_ALG_SHA384);
  EXPECT_EQ(back.counter, a.counter);
  EXPECT_EQ(0, memcmp(back.commands, a.commands, sizeof a.commands));
  buf[3] = 2;  // version 2
  Reader r2({buf, w.size()});
  EXPECT_FALSE(audit_record_read(r2, back));
}

// ---- through commands ----

// Two password sessions (empty passwords).
CommandBuilder& two_pw(CommandBuilder& b) {
  return b.u32(18).u32(0x40000009).u16(0).u8(1).u16(0).u32(0x40000009).u16(0).u8(1).u16(0);
}

class AttestCommands : public ::testing::Test {
 protected:
  void SetUp() override { testing::start(tpm); }

  // A primary ECC P-256 key in `hierarchy`: restricted ECDSA-SHA256 signing key, or (decrypt) a
  // storage key with AES-128-CFB. Returns its handle.
  TPM_HANDLE primary(TPM_HANDLE hierarchy, bool decrypt = false) {
    B t;
    const uint32_t attrs = 0x2 | 0x10 | 0x20 | 0x40 | 0x10000 | (decrypt ? 0x20000 : 0x40000);
    t.u16(TPM_ALG_ECC).u16(TPM_ALG_SHA256).u32(attrs).u16(0);
    if (decrypt)
      t.u16(TPM_ALG_AES).u16(128).u16(TPM_ALG_CFB).u16(TPM_ALG_NULL);
    else
      t.u16(TPM_ALG_NULL).u16(TPM_ALG_ECDSA).u16(TPM_ALG_SHA256);
    t.u16(TPM_ECC_NIST_P256).u16(TPM_ALG_NULL).u16(0).u16(0);
    Response r = run(tpm, CommandBuilder(0x8002, TPM_CC_CreatePrimary).u32(hierarchy).pw_session()
                              .tpm2b(B{}.u16(0).u16(0).b).tpm2b(t.b).u16(0).u32(0).bytes());
    EXPECT_EQ(r.rc, 0u);
    TPM_HANDLE h = r.u32();
    r.u32();
    Bytes pub = r.tpm2b();
    pub_area = pub;
    return h;
  }

  Response quote(TPM_HANDLE key) {
    return run(tpm, CommandBuilder(0x8002, TPM_CC_Quote).u32(key).pw_session().tpm2b(Bytes{1, 2}).u16(TPM_ALG_NULL)
                        .u32(1).u16(TPM_ALG_SHA256).u8(3).raw(Bytes{1, 0, 0}).bytes());
  }

  // The TPMS_ATTEST of a successful attestation response, decoded.
  TPMS_ATTEST attested(Response& r) {
    r.u32();  // parameterSize
    Bytes bytes = r.tpm2b();
    Reader rd(bytes);
    TPMS_ATTEST a;
    EXPECT_EQ(unmarshal(rd, a), TPM_RC_SUCCESS);
    EXPECT_EQ(rd.remaining(), 0u);
    return a;
  }

  FakePlatform platform;
  Tpm tpm{platform};
  Bytes pub_area;
};

// KDFa (SP 800-108 counter mode, HMAC) written here with OpenSSL.
Bytes kdfa_openssl(const EVP_MD* md, const Bytes& key, const std::string& label, const Bytes& context, uint32_t bits) {
  Bytes out;
  for (uint32_t i = 1; out.size() * 8 < bits; ++i) {
    Bytes msg = B{}.u32(i).raw(Bytes(label.begin(), label.end())).u8(0).raw(context).u32(bits).b;
    uint8_t mac[64];
    unsigned n = 0;
    HMAC(md, key.data(), int(key.size()), msg.data(), msg.size(), mac, &n);
    out.insert(out.end(), mac, mac + n);
  }
  out.resize(bits / 8);
  return out;
}

uint64_t be(const Bytes& b, size_t at, size_t n) {
  uint64_t v = 0;
  for (size_t i = 0; i < n; ++i) v = v << 8 | b[at + i];
  return v;
}

TEST_F(AttestCommands, OwnerKeyCountsAreOffsetByKdfaOfShProofEndorsementKeysAreNot) {
  const TPMS_CLOCK_INFO truth = [&] {
    Response r = run(tpm, CommandBuilder(0x8001, TPM_CC_ReadClock).bytes());
    EXPECT_EQ(r.rc, 0u);
    TPMS_CLOCK_INFO ci;
    r.u64();
    ci.clock = r.u64();
    ci.resetCount = r.u32();
    ci.restartCount = r.u32();
    return ci;
  }();
  const uint64_t firmware = uint64_t{profile::kFirmwareVersion1} << 32 | profile::kFirmwareVersion2;

  TPM_HANDLE ek_side = primary(TPM_RH_ENDORSEMENT);
  Response r = quote(ek_side);
  ASSERT_EQ(r.rc, 0u);
  TPMS_ATTEST a = attested(r);
  EXPECT_EQ(a.clockInfo.resetCount, truth.resetCount);
  EXPECT_EQ(a.clockInfo.restartCount, truth.restartCount);
  EXPECT_EQ(a.firmwareVersion, firmware);
  ASSERT_EQ(run(tpm, CommandBuilder(0x8001, TPM_CC_FlushContext).u32(ek_side).bytes()).rc, 0u);

  TPM_HANDLE owner = primary(TPM_RH_OWNER);
  r = quote(owner);
  ASSERT_EQ(r.rc, 0u);
  a = attested(r);
  // obfuscation = KDFa(SHA-256 (the key's nameAlg), shProof, "OBFUSCATE", QN(key), -, 128)
  const Bytes& proof = Bytes(tpm.state().pers.sh_proof, tpm.state().pers.sh_proof + profile::kProofSize);
  const Bytes qn(a.qualifiedSigner.buffer, a.qualifiedSigner.buffer + a.qualifiedSigner.size);
  // the QN of a primary: nameAlg || H(hierarchy handle || Name), Name = nameAlg || H(public area)
  Bytes name = B{}.u16(TPM_ALG_SHA256).b;
  uint8_t h[32];
  unsigned n = 0;
  EVP_Digest(pub_area.data(), pub_area.size(), h, &n, EVP_sha256(), nullptr);
  name.insert(name.end(), h, h + 32);
  Bytes qn_input = B{}.u32(TPM_RH_OWNER).raw(name).b;
  EVP_Digest(qn_input.data(), qn_input.size(), h, &n, EVP_sha256(), nullptr);
  Bytes expect_qn = B{}.u16(TPM_ALG_SHA256).raw(Bytes(h, h + 32)).b;
  ASSERT_EQ(qn, expect_qn);
  const Bytes o = kdfa_openssl(EVP_sha256(), proof, "OBFUSCATE", qn, 128);
  EXPECT_EQ(a.firmwareVersion, firmware + be(o, 0, 8));
  EXPECT_EQ(a.clockInfo.resetCount, uint32_t(truth.resetCount + be(o, 8, 4)));
  EXPECT_EQ(a.clockInfo.restartCount, uint32_t(truth.restartCount + be(o, 12, 4)));
  EXPECT_EQ(a.clockInfo.safe, 1);
}

// GetTime reports the clock twice (the TPMS_ATTEST header and TPMS_TIME_INFO): for a signer that
// is not obfuscated both are one sample, even when the clock moves between reads (it did on a
// loaded machine: e2e_attest test_gettime saw them differ once).
TEST_F(AttestCommands, GetTimeReportsOneClockSampleInHeaderAndBody) {
  TPM_HANDLE ek_side = primary(TPM_RH_ENDORSEMENT);
  platform.tick_per_read = 7;
  CommandBuilder b(0x8002, TPM_CC_GetTime);
  b.u32(TPM_RH_ENDORSEMENT).u32(ek_side);
  Response r = run(tpm, two_pw(b).tpm2b(Bytes{9}).u16(TPM_ALG_NULL).bytes());
  platform.tick_per_read = 0;
  ASSERT_EQ(r.rc, 0u);
  TPMS_ATTEST a = attested(r);
  ASSERT_EQ(a.type, TPM_ST_ATTEST_TIME);
  EXPECT_EQ(a.attested.time.time.clockInfo.clock, a.clockInfo.clock);
  EXPECT_EQ(a.attested.time.time.clockInfo.resetCount, a.clockInfo.resetCount);
}

TEST_F(AttestCommands, KeysThatCannotSignOrProtectCredentialsAreRefused) {
  TPM_HANDLE storage = primary(TPM_RH_OWNER, true);
  EXPECT_EQ(quote(storage).rc, rc_handle(TPM_RC_KEY, 1)) << "a decryption key does not sign";
  EXPECT_EQ(run(tpm, CommandBuilder(0x8001, TPM_CC_MakeCredential).u32(storage).tpm2b(Bytes(33, 1))
                         .tpm2b(Bytes{0, 0xB, 1}).bytes()).rc,
            rc_param(TPM_RC_SIZE, 1))
      << "a credential larger than the key's nameAlg digest";
  TPM_HANDLE signer = primary(TPM_RH_OWNER);
  EXPECT_EQ(run(tpm, CommandBuilder(0x8001, TPM_CC_MakeCredential).u32(signer).tpm2b(Bytes(16, 1))
                         .tpm2b(Bytes{0, 0xB, 1}).bytes()).rc,
            rc_handle(TPM_RC_TYPE, 1))
      << "not a restricted decryption key";
  // MakeCredential for the signer's Name, then ActivateCredential with it: a flipped octet of
  // the blob fails the integrity check.
  Response name_r = run(tpm, CommandBuilder(0x8001, TPM_CC_ReadPublic).u32(signer).bytes());
  ASSERT_EQ(name_r.rc, 0u);
  name_r.tpm2b();
  const Bytes signer_name = name_r.tpm2b();
  const Bytes credential(16, 0x42);
  Response mk = run(tpm, CommandBuilder(0x8001, TPM_CC_MakeCredential).u32(storage).tpm2b(credential)
                             .tpm2b(signer_name).bytes());
  ASSERT_EQ(mk.rc, 0u);
  Bytes blob = mk.tpm2b(), secret = mk.tpm2b();
  auto activate = [&](const Bytes& b) {
    CommandBuilder cb(0x8002, TPM_CC_ActivateCredential);
    cb.u32(signer).u32(storage);
    return run(tpm, two_pw(cb).tpm2b(b).tpm2b(secret).bytes());
  };
  Response ok = activate(blob);
  ASSERT_EQ(ok.rc, 0u);
  ok.u32();
  EXPECT_EQ(ok.tpm2b(), credential);
  Bytes bad = blob;
  bad.back() ^= 1;
  EXPECT_EQ(activate(bad).rc, rc_param(TPM_RC_INTEGRITY, 1));
}

TEST_F(AttestCommands, AuditCounterPersistsAndAuditedCommandsAreListed) {
  CommandBuilder set(0x8002, TPM_CC_SetCommandCodeAuditStatus);
  ASSERT_EQ(run(tpm, set.u32(TPM_RH_OWNER).pw_session().u16(TPM_ALG_NULL).u32(1).u32(TPM_CC_GetRandom).u32(0)
                         .bytes()).rc, 0u);
  auto counter = [&](Tpm& t) {
    Response r = run(t, CommandBuilder(0x8001, TPM_CC_GetCapability).u32(TPM_CAP_TPM_PROPERTIES)
                            .u32(TPM_PT_AUDIT_COUNTER_1).u32(1).bytes());
    EXPECT_EQ(r.rc, 0u);
    r.u8();
    r.u32();
    EXPECT_EQ(r.u32(), 1u);
    EXPECT_EQ(r.u32(), TPM_PT_AUDIT_COUNTER_1);
    return r.u32();
  };
  EXPECT_EQ(counter(tpm), 1u) << "SetCommandCodeAuditStatus started the digest";
  Response r = run(tpm, CommandBuilder(0x8001, TPM_CC_GetCapability).u32(TPM_CAP_AUDIT_COMMANDS).u32(0).u32(10).bytes());
  ASSERT_EQ(r.rc, 0u);
  r.u8();
  r.u32();
  ASSERT_EQ(r.u32(), 2u);
  EXPECT_EQ(r.u32(), TPM_CC_SetCommandCodeAuditStatus);
  EXPECT_EQ(r.u32(), TPM_CC_GetRandom);
  // A new TPM on the same store (power cycle): the counter and the list persist, the digest
  // restarts at the next audited command.
  Tpm again{platform};
  testing::start(again);
  EXPECT_EQ(counter(again), 1u);
  ASSERT_EQ(run(again, CommandBuilder(0x8001, TPM_CC_GetRandom).u16(4).bytes()).rc, 0u);
  EXPECT_EQ(counter(again), 2u);
}

}  // namespace
}  // namespace utpm::tpm
