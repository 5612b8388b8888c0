// The public-area consistency checks, each with its response code; the binding checks of
// object_from_parts; protected storage refusing tampered or misdirected blobs.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "crypto/drbg.h"
#include "tpm/subsystem/subsystems.h"

namespace utpm::tpm {
namespace {

constexpr uint32_t kKey = TPMA_OBJECT_fixedTPM | TPMA_OBJECT_fixedParent | TPMA_OBJECT_sensitiveDataOrigin |
                          TPMA_OBJECT_userWithAuth;

TPMT_PUBLIC rsa(uint32_t attrs, TPM_ALG_ID scheme = TPM_ALG_NULL, TPM_ALG_ID sym = TPM_ALG_NULL) {
  TPMT_PUBLIC p{};
  p.type.value = TPM_ALG_RSA;
  p.nameAlg.value = TPM_ALG_SHA256;
  p.objectAttributes.value = attrs;
  p.parameters.rsaDetail.scheme.scheme.value = scheme;
  p.parameters.rsaDetail.scheme.details.hashAlg.value = TPM_ALG_SHA256;
  p.parameters.rsaDetail.symmetric.algorithm.value = sym;
  p.parameters.rsaDetail.symmetric.keyBits.value = 128;
  p.parameters.rsaDetail.symmetric.mode.value = TPM_ALG_CFB;
  p.parameters.rsaDetail.keyBits.value = 2048;
  return p;
}

TPMT_PUBLIC ecc(uint32_t attrs, TPM_ALG_ID scheme = TPM_ALG_NULL) {
  TPMT_PUBLIC p{};
  p.type.value = TPM_ALG_ECC;
  p.nameAlg.value = TPM_ALG_SHA256;
  p.objectAttributes.value = attrs;
  p.parameters.eccDetail.scheme.scheme.value = scheme;
  p.parameters.eccDetail.scheme.details.hashAlg.value = TPM_ALG_SHA256;
  p.parameters.eccDetail.symmetric.algorithm.value = TPM_ALG_NULL;
  p.parameters.eccDetail.curveID.value = TPM_ECC_NIST_P256;
  p.parameters.eccDetail.kdf.scheme.value = TPM_ALG_NULL;
  return p;
}

TPMT_PUBLIC keyedhash(uint32_t attrs, TPM_ALG_ID scheme) {
  TPMT_PUBLIC p{};
  p.type.value = TPM_ALG_KEYEDHASH;
  p.nameAlg.value = TPM_ALG_SHA256;
  p.objectAttributes.value = attrs;
  p.parameters.keyedHashDetail.scheme.scheme.value = scheme;
  p.parameters.keyedHashDetail.scheme.details.hashAlg.value = TPM_ALG_SHA256;
  return p;
}

TEST(PublicCheck, NameAlgAndPolicySize) {
  TPMT_PUBLIC p = rsa(kKey | TPMA_OBJECT_sign);
  EXPECT_EQ(public_check(p, nullptr), TPM_RC_SUCCESS);
  p.nameAlg.value = TPM_ALG_NULL;
  EXPECT_EQ(public_check(p, nullptr), TPM_RC_HASH);
  p = rsa(kKey | TPMA_OBJECT_sign);
  p.authPolicy.size = 20;  // not the size of a SHA-256 digest
  EXPECT_EQ(public_check(p, nullptr), TPM_RC_SIZE);
}

TEST(PublicCheck, FixedTpmNeedsFixedParentAndAFixedParent) {
  TPMT_PUBLIC p = rsa((kKey & ~TPMA_OBJECT_fixedParent) | TPMA_OBJECT_sign);
  EXPECT_EQ(public_check(p, nullptr), TPM_RC_ATTRIBUTES);
  ObjectSlot duplicable_parent;
  duplicable_parent.kind = SlotKind::object;
  duplicable_parent.pub = rsa(TPMA_OBJECT_restricted | TPMA_OBJECT_decrypt, TPM_ALG_NULL, TPM_ALG_AES);
  p = rsa(kKey | TPMA_OBJECT_sign);
  EXPECT_EQ(public_check(p, &duplicable_parent), TPM_RC_ATTRIBUTES);
  p.objectAttributes.value &= ~(TPMA_OBJECT_fixedTPM | TPMA_OBJECT_fixedParent);
  EXPECT_EQ(public_check(p, &duplicable_parent), TPM_RC_SUCCESS);
}

TEST(PublicCheck, StorageParentsNeedCfbAndNoScheme) {
  const uint32_t storage = kKey | TPMA_OBJECT_restricted | TPMA_OBJECT_decrypt;
  EXPECT_EQ(public_check(rsa(storage, TPM_ALG_NULL, TPM_ALG_AES), nullptr), TPM_RC_SUCCESS);
  EXPECT_EQ(public_check(rsa(storage, TPM_ALG_NULL, TPM_ALG_NULL), nullptr), TPM_RC_SYMMETRIC);
  EXPECT_EQ(public_check(rsa(storage, TPM_ALG_OAEP, TPM_ALG_AES), nullptr), TPM_RC_SCHEME);
  TPMT_PUBLIC p = rsa(storage, TPM_ALG_NULL, TPM_ALG_AES);
  p.parameters.rsaDetail.symmetric.mode.value = TPM_ALG_CBC;
  EXPECT_EQ(public_check(p, nullptr), TPM_RC_SUCCESS) << "children are wrapped in CFB whatever the mode";
  ObjectSlot parent;
  parent.kind = SlotKind::object;
  parent.pub = rsa(storage, TPM_ALG_NULL, TPM_ALG_AES);
  EXPECT_EQ(public_check(p, &parent), TPM_RC_SYMMETRIC) << "a child storage key has its parent's symmetric";
  p.parameters.rsaDetail.symmetric = parent.pub.parameters.rsaDetail.symmetric;
  EXPECT_EQ(public_check(p, &parent), TPM_RC_SUCCESS);
}

TEST(PublicCheck, SigningAndDecryptionSchemes) {
  EXPECT_EQ(public_check(rsa(kKey | TPMA_OBJECT_sign, TPM_ALG_RSAPSS), nullptr), TPM_RC_SUCCESS);
  EXPECT_EQ(public_check(rsa(kKey | TPMA_OBJECT_sign, TPM_ALG_OAEP), nullptr), TPM_RC_SCHEME);
  EXPECT_EQ(public_check(rsa(kKey | TPMA_OBJECT_decrypt, TPM_ALG_RSASSA), nullptr), TPM_RC_SCHEME);
  EXPECT_EQ(public_check(rsa(kKey | TPMA_OBJECT_restricted | TPMA_OBJECT_sign), nullptr), TPM_RC_SCHEME)
      << "a restricted signing key names its scheme";
  EXPECT_EQ(public_check(rsa(kKey | TPMA_OBJECT_sign | TPMA_OBJECT_decrypt, TPM_ALG_RSASSA), nullptr), TPM_RC_SCHEME)
      << "a key that signs and decrypts has no scheme";
  EXPECT_EQ(public_check(rsa(kKey | TPMA_OBJECT_sign, TPM_ALG_NULL, TPM_ALG_AES), nullptr), TPM_RC_SYMMETRIC)
      << "only storage keys have a symmetric algorithm";
  EXPECT_EQ(public_check(rsa(kKey), nullptr), TPM_RC_ATTRIBUTES) << "neither sign nor decrypt";
  EXPECT_EQ(public_check(ecc(kKey | TPMA_OBJECT_sign, TPM_ALG_ECDH), nullptr), TPM_RC_SCHEME);
  TPMT_PUBLIC p = ecc(kKey | TPMA_OBJECT_sign, TPM_ALG_ECDSA);
  p.parameters.eccDetail.kdf.scheme.value = TPM_ALG_KDF1_SP800_108;
  EXPECT_EQ(public_check(p, nullptr), TPM_RC_KDF);
}

TEST(PublicCheck, KeyedHashRoles) {
  EXPECT_EQ(public_check(keyedhash(kKey | TPMA_OBJECT_sign, TPM_ALG_HMAC), nullptr), TPM_RC_SUCCESS);
  EXPECT_EQ(public_check(keyedhash(kKey | TPMA_OBJECT_sign, TPM_ALG_XOR), nullptr), TPM_RC_SCHEME);
  EXPECT_EQ(public_check(keyedhash(kKey | TPMA_OBJECT_sign | TPMA_OBJECT_decrypt, TPM_ALG_NULL), nullptr),
            TPM_RC_SUCCESS)
      << "sign and decrypt with no scheme (tpm2_create -G keyedhash)";
  EXPECT_EQ(public_check(keyedhash(kKey | TPMA_OBJECT_sign | TPMA_OBJECT_decrypt, TPM_ALG_HMAC), nullptr),
            TPM_RC_SCHEME);
  EXPECT_EQ(public_check(keyedhash(kKey | TPMA_OBJECT_sign, TPM_ALG_NULL), nullptr), TPM_RC_SCHEME)
      << "an HMAC key names its scheme";
  EXPECT_EQ(public_check(keyedhash(kKey | TPMA_OBJECT_decrypt, TPM_ALG_NULL), nullptr), TPM_RC_SCHEME);
  EXPECT_EQ(public_check(keyedhash(kKey | TPMA_OBJECT_decrypt, TPM_ALG_XOR), nullptr), TPM_RC_SUCCESS);
  EXPECT_EQ(public_check(keyedhash(kKey, TPM_ALG_HMAC), nullptr), TPM_RC_SCHEME) << "sealed data has no scheme";
  EXPECT_EQ(public_check(keyedhash(kKey | TPMA_OBJECT_restricted, TPM_ALG_NULL), nullptr), TPM_RC_ATTRIBUTES);
  EXPECT_EQ(public_check(keyedhash(kKey | TPMA_OBJECT_restricted, TPM_ALG_HMAC), nullptr), TPM_RC_ATTRIBUTES)
      << "a restricted key has one use (checked before the scheme)";
  EXPECT_EQ(public_check(keyedhash(kKey | TPMA_OBJECT_restricted | TPMA_OBJECT_decrypt, TPM_ALG_NULL), nullptr),
            TPM_RC_SCHEME)
      << "a derivation parent needs XOR";
}

TEST(SensitiveCreateCheck, DataOriginRules) {
  TPMS_SENSITIVE_CREATE s;
  EXPECT_EQ(sensitive_create_check(rsa(kKey | TPMA_OBJECT_sign), s, false), TPM_RC_SUCCESS);
  EXPECT_EQ(sensitive_create_check(rsa((kKey & ~TPMA_OBJECT_sensitiveDataOrigin) | TPMA_OBJECT_sign), s, false),
            TPM_RC_ATTRIBUTES);
  s.data.size = 4;
  EXPECT_EQ(sensitive_create_check(rsa(kKey | TPMA_OBJECT_sign), s, false), TPM_RC_ATTRIBUTES) << "no outside RSA key";
  EXPECT_EQ(sensitive_create_check(rsa(kKey | TPMA_OBJECT_sign), s, true), TPM_RC_SUCCESS)
      << "a primary key's data feeds its derivation";
  EXPECT_EQ(sensitive_create_check(keyedhash(kKey, TPM_ALG_NULL), s, false), TPM_RC_ATTRIBUTES)
      << "sealed data is not TPM-generated";
  const uint32_t caller = kKey & ~TPMA_OBJECT_sensitiveDataOrigin;
  EXPECT_EQ(sensitive_create_check(keyedhash(caller, TPM_ALG_NULL), s, false), TPM_RC_SUCCESS);
  EXPECT_EQ(sensitive_create_check(keyedhash(caller | TPMA_OBJECT_restricted | TPMA_OBJECT_sign, TPM_ALG_HMAC), s,
                                   false),
            TPM_RC_ATTRIBUTES)
      << "a restricted keyed hash is TPM-generated";
  s.data.size = 0;
  EXPECT_EQ(sensitive_create_check(keyedhash(caller, TPM_ALG_NULL), s, false), TPM_RC_ATTRIBUTES)
      << "no data to seal";
}

// Deterministic test randomness.
crypto::DrbgState test_drbg() {
  crypto::DrbgState d{};
  uint8_t seed[crypto::kDrbgSeedSize] = {1, 2, 3};
  crypto::drbg_instantiate(d, seed, {});
  return d;
}

TEST(ObjectFromParts, BindingFailsForForeignSecrets) {
  crypto::DrbgState d = test_drbg();
  ObjectSlot a, b, back;
  TPMS_SENSITIVE_CREATE s;
  ASSERT_EQ(object_generate(ecc(kKey | TPMA_OBJECT_sign, TPM_ALG_ECDSA), s, crypto::drbg_source(d), a), TPM_RC_SUCCESS);
  ASSERT_EQ(object_generate(ecc(kKey | TPMA_OBJECT_sign, TPM_ALG_ECDSA), s, crypto::drbg_source(d), b), TPM_RC_SUCCESS);
  TPMT_SENSITIVE sa, sb;
  object_sensitive(a, sa);
  object_sensitive(b, sb);
  EXPECT_EQ(object_from_parts(a.pub, sa, back), TPM_RC_SUCCESS);
  EXPECT_EQ(object_from_parts(a.pub, sb, back), TPM_RC_BINDING);

  ObjectSlot k;
  TPMS_SENSITIVE_CREATE data;
  data.data.assign(std::vector<uint8_t>{'s', 'e', 'c', 'r', 'e', 't'});
  ASSERT_EQ(object_generate(keyedhash(kKey & ~TPMA_OBJECT_sensitiveDataOrigin, TPM_ALG_NULL), data,
                            crypto::drbg_source(d), k),
            TPM_RC_SUCCESS);
  TPMT_SENSITIVE sk;
  object_sensitive(k, sk);
  EXPECT_EQ(object_from_parts(k.pub, sk, back), TPM_RC_SUCCESS);
  sk.sensitive.bits.buffer[0] ^= 1;
  EXPECT_EQ(object_from_parts(k.pub, sk, back), TPM_RC_BINDING) << "unique = H(seed || data) no longer matches";
}

// A saved RSA key (context or persistent object) carries its CRT values (payload v3) and comes
// back as the key that was saved, without recomputing them; a v2 payload (prime only, as saved
// before) still loads to the same key; cut CRT values are refused.
TEST(ObjectSerialize, RsaKeyComesBackWithItsCrtValuesAndTheOlderPayloadStillLoads) {
  crypto::DrbgState d = test_drbg();
  ObjectSlot a, back;
  TPMS_SENSITIVE_CREATE s;
  ASSERT_EQ(object_generate(rsa(kKey | TPMA_OBJECT_sign, TPM_ALG_RSASSA), s, crypto::drbg_source(d), a), TPM_RC_SUCCESS);
  a.hierarchy = TPM_RH_OWNER;
  std::vector<uint8_t> buf(4096);
  Writer w(buf);
  object_serialize(a, w);
  ASSERT_FALSE(w.overflow());
  const std::vector<uint8_t> v3(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(w.size()));
  ASSERT_EQ(v3[0], 3);
  // The reference: the key computed by the crypto library from the public area and the prime,
  // as a Load does (its CRT values also equal the generated key's).
  TPMT_SENSITIVE sens;
  object_sensitive(a, sens);
  ObjectSlot ref;
  ASSERT_EQ(object_from_parts(a.pub, sens, ref), TPM_RC_SUCCESS);
  for (auto part : {&crypto::RsaPrivateKey::p, &crypto::RsaPrivateKey::q, &crypto::RsaPrivateKey::dp,
                    &crypto::RsaPrivateKey::dq, &crypto::RsaPrivateKey::qinv})
    EXPECT_EQ(std::memcmp(ref.rsa.*part, a.rsa.*part, sizeof a.rsa.p), 0);
  Reader r(v3);
  ASSERT_EQ(object_deserialize(r, back), TPM_RC_SUCCESS);
  EXPECT_EQ(std::memcmp(&back.rsa, &ref.rsa, sizeof ref.rsa), 0);
  EXPECT_EQ(std::memcmp(back.name.buffer, a.name.buffer, a.name.size), 0);

  // The same object as v2 wrote it: no CRT values (4 x 128 octets before the qualified name).
  const size_t h = 128, qn = 2 + a.qualified_name.size;
  std::vector<uint8_t> v2(v3.begin(), v3.end() - static_cast<std::ptrdiff_t>(qn + 4 * h));
  v2.insert(v2.end(), v3.end() - static_cast<std::ptrdiff_t>(qn), v3.end());
  v2[0] = 2;
  ObjectSlot old;
  Reader r2(v2);
  ASSERT_EQ(object_deserialize(r2, old), TPM_RC_SUCCESS);
  EXPECT_EQ(std::memcmp(&old.rsa, &ref.rsa, sizeof ref.rsa), 0) << "computed from the prime: the same key";

  // v3 with the CRT values cut short.
  std::vector<uint8_t> cut(v3.begin(), v3.end() - static_cast<std::ptrdiff_t>(qn + h));
  Reader r3(cut);
  EXPECT_EQ(object_deserialize(r3, back), TPM_RC_INTEGRITY);
}

TEST(ProtectedStorage, WrapUnwrapAndTamper) {
  crypto::DrbgState d = test_drbg();
  ObjectSlot parent, child, other_parent;
  TPMS_SENSITIVE_CREATE s;
  const uint32_t storage = kKey | TPMA_OBJECT_restricted | TPMA_OBJECT_decrypt;
  TPMT_PUBLIC ptmpl = ecc(storage);
  ptmpl.parameters.eccDetail.symmetric.algorithm.value = TPM_ALG_AES;
  ptmpl.parameters.eccDetail.symmetric.keyBits.value = 128;
  ptmpl.parameters.eccDetail.symmetric.mode.value = TPM_ALG_CFB;
  ASSERT_EQ(object_generate(ptmpl, s, crypto::drbg_source(d), parent), TPM_RC_SUCCESS);
  ASSERT_EQ(object_generate(ptmpl, s, crypto::drbg_source(d), other_parent), TPM_RC_SUCCESS);
  ASSERT_EQ(object_generate(ecc(kKey | TPMA_OBJECT_sign, TPM_ALG_ECDSA), s, crypto::drbg_source(d), child),
            TPM_RC_SUCCESS);
  ASSERT_TRUE(public_name(child.pub, child.name));
  TPMT_SENSITIVE sens, back;
  object_sensitive(child, sens);
  TPM2B_PRIVATE blob;
  ASSERT_EQ(sensitive_wrap(parent, child.name, sens, crypto::drbg_source(d), blob), TPM_RC_SUCCESS);
  TPM2B_PRIVATE again;
  ASSERT_EQ(sensitive_wrap(parent, child.name, sens, crypto::drbg_source(d), again), TPM_RC_SUCCESS);
  ASSERT_EQ(again.size, blob.size);
  EXPECT_NE(std::memcmp(again.buffer, blob.buffer, blob.size), 0) << "a fresh IV for every blob";
  ASSERT_EQ(sensitive_unwrap(parent, child.name, blob, back), TPM_RC_SUCCESS);
  EXPECT_EQ(std::memcmp(back.sensitive.ecc.buffer, sens.sensitive.ecc.buffer, sens.sensitive.ecc.size), 0);
  EXPECT_EQ(sensitive_unwrap(other_parent, child.name, blob, back), TPM_RC_INTEGRITY) << "another parent";
  TPM2B_NAME wrong = child.name;
  wrong.buffer[5] ^= 1;
  EXPECT_EQ(sensitive_unwrap(parent, wrong, blob, back), TPM_RC_INTEGRITY) << "another Name";
  for (size_t i = 0; i < blob.size; ++i) {
    TPM2B_PRIVATE t = blob;
    t.buffer[i] ^= 0x80;
    EXPECT_EQ(sensitive_unwrap(parent, child.name, t, back), TPM_RC_INTEGRITY) << "byte " << i;
  }
}

}  // namespace
}  // namespace utpm::tpm
