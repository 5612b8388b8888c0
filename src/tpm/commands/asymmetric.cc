// Part 3 chapter 14: Asymmetric primitives.
#include <cstring>

#include "crypto/crypto.h"
#include "crypto/ecc.h"
#include "crypto/kdf.h"
#include "crypto/rsa.h"
#include "tpm/commands/commands.h"
#include "tpm/commands/keys_common.h"
#include "tpm/subsystem/subsystems.h"
#include "tpm/tpm.h"

namespace utpm::tpm {
namespace {

// CryptRsaSelectScheme: the key's decryption scheme, the caller's, or both if they agree.
bool select_rsa_decrypt_scheme(const ObjectSlot& key, const TPMT_RSA_DECRYPT& in, TPMT_RSA_DECRYPT& out) {
  const TPMT_RSA_SCHEME& own = key.pub.parameters.rsaDetail.scheme;
  if (own.scheme == TPM_ALG_NULL) {
    out = in;
    return true;
  }
  if (own.scheme != TPM_ALG_RSAES && own.scheme != TPM_ALG_OAEP) return false;  // a signing scheme
  if (in.scheme != TPM_ALG_NULL &&
      (in.scheme != own.scheme || (own.scheme == TPM_ALG_OAEP && in.details.hashAlg != own.details.hashAlg)))
    return false;
  out.scheme.value = own.scheme;
  out.details.hashAlg = own.details.hashAlg;
  return true;
}

crypto::RsaScheme to_crypto_rsa(TPM_ALG_ID s) {
  return s == TPM_ALG_NULL ? crypto::RsaScheme::null : static_cast<crypto::RsaScheme>(s);
}
crypto::HashAlg oaep_hash(const TPMT_RSA_DECRYPT& s) {
  return s.scheme == TPM_ALG_OAEP ? to_crypto(s.details.hashAlg) : crypto::HashAlg::sha256;
}

TPM_RC rsa_decrypt_key(Command& c, ObjectSlot*& key) {
  key = loaded_key(c, 0);
  if (!key || key->pub.type != TPM_ALG_RSA) return rc_handle(TPM_RC_KEY, 1);
  if (!key->pub.objectAttributes.has(TPMA_OBJECT_decrypt)) return rc_handle(TPM_RC_ATTRIBUTES, 1);
  return TPM_RC_SUCCESS;
}

// ECDH_ZGen's key (Part 3 §14.5): an unrestricted ECC decryption key with no scheme or ECDH.
TPM_RC ecdh_zgen_key(Command& c, ObjectSlot*& key) {
  key = loaded_key(c, 0);
  if (!key || key->pub.type != TPM_ALG_ECC) return rc_handle(TPM_RC_KEY, 1);
  const TPMA_OBJECT& a = key->pub.objectAttributes;
  if (a.has(TPMA_OBJECT_restricted) || !a.has(TPMA_OBJECT_decrypt)) return rc_handle(TPM_RC_ATTRIBUTES, 1);
  TPM_ALG_ID scheme = key->pub.parameters.eccDetail.scheme.scheme;
  if (scheme != TPM_ALG_NULL && scheme != TPM_ALG_ECDH) return rc_handle(TPM_RC_SCHEME, 1);
  return TPM_RC_SUCCESS;
}

crypto::EccPoint point_of(const TPMS_ECC_POINT& p) {
  crypto::EccPoint q{};
  std::memcpy(q.x, p.x.buffer, p.x.size);
  std::memcpy(q.y, p.y.buffer, p.y.size);
  return q;
}
TPM2B_ECC_POINT to_tpm(const crypto::EccPoint& p, size_t n) {
  TPM2B_ECC_POINT out;
  out.t.x.assign({p.x, n});
  out.t.y.assign({p.y, n});
  return out;
}

// Domain parameters of the implemented curves (FIPS 186-4 D.1.2.3, D.1.2.4 and D.1.2.5).
// prime256v1 (256-bit): p, a, b, Gx, Gy, n as printed by `openssl ecparam -param_enc explicit`
constexpr uint8_t k256_p[] = {0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
constexpr uint8_t k256_a[] = {0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfc};
constexpr uint8_t k256_b[] = {0x5a, 0xc6, 0x35, 0xd8, 0xaa, 0x3a, 0x93, 0xe7, 0xb3, 0xeb, 0xbd, 0x55, 0x76, 0x98, 0x86, 0xbc, 0x65, 0x1d, 0x06, 0xb0, 0xcc, 0x53, 0xb0, 0xf6, 0x3b, 0xce, 0x3c, 0x3e, 0x27, 0xd2, 0x60, 0x4b};
constexpr uint8_t k256_gx[] = {0x6b, 0x17, 0xd1, 0xf2, 0xe1, 0x2c, 0x42, 0x47, 0xf8, 0xbc, 0xe6, 0xe5, 0x63, 0xa4, 0x40, 0xf2, 0x77, 0x03, 0x7d, 0x81, 0x2d, 0xeb, 0x33, 0xa0, 0xf4, 0xa1, 0x39, 0x45, 0xd8, 0x98, 0xc2, 0x96};
constexpr uint8_t k256_gy[] = {0x4f, 0xe3, 0x42, 0xe2, 0xfe, 0x1a, 0x7f, 0x9b, 0x8e, 0xe7, 0xeb, 0x4a, 0x7c, 0x0f, 0x9e, 0x16, 0x2b, 0xce, 0x33, 0x57, 0x6b, 0x31, 0x5e, 0xce, 0xcb, 0xb6, 0x40, 0x68, 0x37, 0xbf, 0x51, 0xf5};
constexpr uint8_t k256_n[] = {0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51};
// secp384r1 (384-bit): p, a, b, Gx, Gy, n as printed by `openssl ecparam -param_enc explicit`
constexpr uint8_t k384_p[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe, 0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff};
constexpr uint8_t k384_a[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe, 0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xfc};
constexpr uint8_t k384_b[] = {0xb3, 0x31, 0x2f, 0xa7, 0xe2, 0x3e, 0xe7, 0xe4, 0x98, 0x8e, 0x05, 0x6b, 0xe3, 0xf8, 0x2d, 0x19, 0x18, 0x1d, 0x9c, 0x6e, 0xfe, 0x81, 0x41, 0x12, 0x03, 0x14, 0x08, 0x8f, 0x50, 0x13, 0x87, 0x5a, 0xc6, 0x56, 0x39, 0x8d, 0x8a, 0x2e, 0xd1, 0x9d, 0x2a, 0x85, 0xc8, 0xed, 0xd3, 0xec, 0x2a, 0xef};
constexpr uint8_t k384_gx[] = {0xaa, 0x87, 0xca, 0x22, 0xbe, 0x8b, 0x05, 0x37, 0x8e, 0xb1, 0xc7, 0x1e, 0xf3, 0x20, 0xad, 0x74, 0x6e, 0x1d, 0x3b, 0x62, 0x8b, 0xa7, 0x9b, 0x98, 0x59, 0xf7, 0x41, 0xe0, 0x82, 0x54, 0x2a, 0x38, 0x55, 0x02, 0xf2, 0x5d, 0xbf, 0x55, 0x29, 0x6c, 0x3a, 0x54, 0x5e, 0x38, 0x72, 0x76, 0x0a, 0xb7};
constexpr uint8_t k384_gy[] = {0x36, 0x17, 0xde, 0x4a, 0x96, 0x26, 0x2c, 0x6f, 0x5d, 0x9e, 0x98, 0xbf, 0x92, 0x92, 0xdc, 0x29, 0xf8, 0xf4, 0x1d, 0xbd, 0x28, 0x9a, 0x14, 0x7c, 0xe9, 0xda, 0x31, 0x13, 0xb5, 0xf0, 0xb8, 0xc0, 0x0a, 0x60, 0xb1, 0xce, 0x1d, 0x7e, 0x81, 0x9d, 0x7a, 0x43, 0x1d, 0x7c, 0x90, 0xea, 0x0e, 0x5f};
constexpr uint8_t k384_n[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xc7, 0x63, 0x4d, 0x81, 0xf4, 0x37, 0x2d, 0xdf, 0x58, 0x1a, 0x0d, 0xb2, 0x48, 0xb0, 0xa7, 0x7a, 0xec, 0xec, 0x19, 0x6a, 0xcc, 0xc5, 0x29, 0x73};
// secp521r1 (521-bit, 66 octets): as printed by `openssl ecparam -param_enc explicit`
constexpr uint8_t k521_p[] = {0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
constexpr uint8_t k521_a[] = {0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfc};
constexpr uint8_t k521_b[] = {0x00, 0x51, 0x95, 0x3e, 0xb9, 0x61, 0x8e, 0x1c, 0x9a, 0x1f, 0x92, 0x9a, 0x21, 0xa0, 0xb6, 0x85, 0x40, 0xee, 0xa2, 0xda, 0x72, 0x5b, 0x99, 0xb3, 0x15, 0xf3, 0xb8, 0xb4, 0x89, 0x91, 0x8e, 0xf1, 0x09, 0xe1, 0x56, 0x19, 0x39, 0x51, 0xec, 0x7e, 0x93, 0x7b, 0x16, 0x52, 0xc0, 0xbd, 0x3b, 0xb1, 0xbf, 0x07, 0x35, 0x73, 0xdf, 0x88, 0x3d, 0x2c, 0x34, 0xf1, 0xef, 0x45, 0x1f, 0xd4, 0x6b, 0x50, 0x3f, 0x00};
constexpr uint8_t k521_gx[] = {0x00, 0xc6, 0x85, 0x8e, 0x06, 0xb7, 0x04, 0x04, 0xe9, 0xcd, 0x9e, 0x3e, 0xcb, 0x66, 0x23, 0x95, 0xb4, 0x42, 0x9c, 0x64, 0x81, 0x39, 0x05, 0x3f, 0xb5, 0x21, 0xf8, 0x28, 0xaf, 0x60, 0x6b, 0x4d, 0x3d, 0xba, 0xa1, 0x4b, 0x5e, 0x77, 0xef, 0xe7, 0x59, 0x28, 0xfe, 0x1d, 0xc1, 0x27, 0xa2, 0xff, 0xa8, 0xde, 0x33, 0x48, 0xb3, 0xc1, 0x85, 0x6a, 0x42, 0x9b, 0xf9, 0x7e, 0x7e, 0x31, 0xc2, 0xe5, 0xbd, 0x66};
constexpr uint8_t k521_gy[] = {0x01, 0x18, 0x39, 0x29, 0x6a, 0x78, 0x9a, 0x3b, 0xc0, 0x04, 0x5c, 0x8a, 0x5f, 0xb4, 0x2c, 0x7d, 0x1b, 0xd9, 0x98, 0xf5, 0x44, 0x49, 0x57, 0x9b, 0x44, 0x68, 0x17, 0xaf, 0xbd, 0x17, 0x27, 0x3e, 0x66, 0x2c, 0x97, 0xee, 0x72, 0x99, 0x5e, 0xf4, 0x26, 0x40, 0xc5, 0x50, 0xb9, 0x01, 0x3f, 0xad, 0x07, 0x61, 0x35, 0x3c, 0x70, 0x86, 0xa2, 0x72, 0xc2, 0x40, 0x88, 0xbe, 0x94, 0x76, 0x9f, 0xd1, 0x66, 0x50};
constexpr uint8_t k521_n[] = {0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfa, 0x51, 0x86, 0x87, 0x83, 0xbf, 0x2f, 0x96, 0x6b, 0x7f, 0xcc, 0x01, 0x48, 0xf7, 0x09, 0xa5, 0xd0, 0x3b, 0xb5, 0xc9, 0xb8, 0x89, 0x9c, 0x47, 0xae, 0xbb, 0x6f, 0xb7, 0x1e, 0x91, 0x38, 0x64, 0x09};

struct CurveParameters {
  TPM_ECC_CURVE id;
  uint16_t key_bits;
  uint16_t len;
  const uint8_t* v[6];  // p, a, b, Gx, Gy, n
};
constexpr CurveParameters kCurves[] = {
    {TPM_ECC_NIST_P256, 256, 32, {k256_p, k256_a, k256_b, k256_gx, k256_gy, k256_n}},
    {TPM_ECC_NIST_P384, 384, 48, {k384_p, k384_a, k384_b, k384_gx, k384_gy, k384_n}},
    {TPM_ECC_NIST_P521, 521, 66, {k521_p, k521_a, k521_b, k521_gx, k521_gy, k521_n}},
};

}  // namespace

TPM_RC TPM2_ECC_Parameters(Command& c) {
  TPMI_ECC_CURVE curve;
  if (TPM_RC rc = c.parse(curve)) return rc;  // only the curves this profile implements
  const CurveParameters* cp = nullptr;
  for (const CurveParameters& k : kCurves) {
    if (k.id == curve) cp = &k;
  }
  if (cp == nullptr) return rc_param(TPM_RC_CURVE, 1);
  const uint8_t* const* v = cp->v;
  const uint16_t len = cp->len;
  TPMS_ALGORITHM_DETAIL_ECC detail;
  detail.curveID = curve;
  detail.keySize = cp->key_bits;
  detail.kdf.scheme.value = TPM_ALG_NULL;
  detail.sign.scheme.value = TPM_ALG_NULL;
  TPM2B_ECC_PARAMETER* fields[6] = {&detail.p, &detail.a, &detail.b, &detail.gX, &detail.gY, &detail.n};
  for (int i = 0; i < 6; ++i) fields[i]->assign({v[i], len});
  static constexpr uint8_t kCofactor[] = {1};
  detail.h.assign(kCofactor);
  c.put(detail);
  return TPM_RC_SUCCESS;
}

TPM_RC TPM2_RSA_Encrypt(Command& c) {
  TPM2B_PUBLIC_KEY_RSA message;
  TPMT_RSA_DECRYPT in_scheme;
  TPM2B_DATA label;
  if (TPM_RC rc = c.parse(message, in_scheme, label)) return rc;
  ObjectSlot* key;
  if (TPM_RC rc = rsa_decrypt_key(c, key)) return rc;
  if (!label_ok(label)) return rc_param(TPM_RC_VALUE, 3);
  TPMT_RSA_DECRYPT scheme;
  if (!select_rsa_decrypt_scheme(*key, in_scheme, scheme)) return rc_param(TPM_RC_SCHEME, 2);
  TPM2B_PUBLIC_KEY_RSA out;
  out.size = static_cast<uint16_t>(crypto::rsa_bytes(key->rsa.pub));
  crypto::Status s = crypto::rsa_encrypt(to_crypto_rsa(scheme.scheme), oaep_hash(scheme), label.view(), key->rsa.pub,
                                         message.view(), tpm_random_source(c.tpm), {out.buffer, out.size});
  if (s != crypto::Status::ok) return rc_param(TPM_RC_VALUE, 1);  // message too long for the padding
  c.put(out);
  return TPM_RC_SUCCESS;
}

TPM_RC TPM2_RSA_Decrypt(Command& c) {
  TPM2B_PUBLIC_KEY_RSA cipher_text;
  TPMT_RSA_DECRYPT in_scheme;
  TPM2B_DATA label;
  if (TPM_RC rc = c.parse(cipher_text, in_scheme, label)) return rc;
  ObjectSlot* key;
  if (TPM_RC rc = rsa_decrypt_key(c, key)) return rc;
  if (key->public_only) return rc_handle(TPM_RC_KEY, 1);
  if (key->pub.objectAttributes.has(TPMA_OBJECT_restricted)) return rc_handle(TPM_RC_ATTRIBUTES, 1);
  if (!label_ok(label)) return rc_param(TPM_RC_VALUE, 3);
  TPMT_RSA_DECRYPT scheme;
  if (!select_rsa_decrypt_scheme(*key, in_scheme, scheme)) return rc_param(TPM_RC_SCHEME, 2);
  if (cipher_text.size != crypto::rsa_bytes(key->rsa.pub)) return rc_param(TPM_RC_SIZE, 1);
  TPM2B_PUBLIC_KEY_RSA out;
  size_t n = 0;
  crypto::Status s = crypto::rsa_decrypt(to_crypto_rsa(scheme.scheme), oaep_hash(scheme), label.view(), key->rsa,
                                         cipher_text.view(), tpm_random_source(c.tpm), {out.buffer, sizeof out.buffer}, &n);
  if (s != crypto::Status::ok) return rc_param(TPM_RC_VALUE, 1);  // padding check failed
  out.size = static_cast<uint16_t>(n);
  c.put(out);
  crypto::zeroize(out);
  return TPM_RC_SUCCESS;
}

TPM_RC TPM2_ECDH_KeyGen(Command& c) {
  if (TPM_RC rc = c.parse()) return rc;
  // Any loaded ECC public key will do (Part 3 §14.4: TPM_RC_KEY is its only key error); the
  // private part and the attributes do not matter, as only the public point is used.
  ObjectSlot* key = loaded_key(c, 0);
  if (!key || key->pub.type != TPM_ALG_ECC) return rc_handle(TPM_RC_KEY, 1);
  const auto curve = static_cast<crypto::EccCurve>(key->pub.parameters.eccDetail.curveID.value);
  const size_t n = crypto::ecc_bytes(curve);
  // An ephemeral key pair; zPoint = d_e · Q_key, pubPoint = d_e · G.
  crypto::EccScalar d;
  crypto::EccPoint pub, z;
  if (crypto::ecc_generate(curve, tpm_random_source(c.tpm), d, pub) != crypto::Status::ok ||
      crypto::ecdh_z(curve, d, point_of(key->pub.unique.ecc), z) != crypto::Status::ok) {
    crypto::zeroize(d);
    return TPM_RC_FAILURE;
  }
  crypto::zeroize(d);
  c.put(to_tpm(z, n));
  c.put(to_tpm(pub, n));
  crypto::zeroize(z);
  return TPM_RC_SUCCESS;
}

TPM_RC TPM2_ECDH_ZGen(Command& c) {
  TPM2B_ECC_POINT in_point;
  if (TPM_RC rc = c.parse(in_point)) return rc;
  ObjectSlot* key;
  if (TPM_RC rc = ecdh_zgen_key(c, key)) return rc;
  if (key->public_only) return rc_handle(TPM_RC_KEY, 1);
  const auto curve = static_cast<crypto::EccCurve>(key->pub.parameters.eccDetail.curveID.value);
  const size_t n = crypto::ecc_bytes(curve);
  if (in_point.t.x.size != n || in_point.t.y.size != n) return rc_param(TPM_RC_ECC_POINT, 1);
  crypto::EccPoint peer = point_of(in_point.t), z;
  if (crypto::ecc_validate_point(curve, peer) != crypto::Status::ok) return rc_param(TPM_RC_ECC_POINT, 1);
  if (crypto::ecdh_z(curve, key->ecc, peer, z) != crypto::Status::ok) return rc_param(TPM_RC_NO_RESULT, 1);
  c.put(to_tpm(z, n));
  crypto::zeroize(z);
  return TPM_RC_SUCCESS;
}

}  // namespace utpm::tpm

namespace utpm::tpm {

// ZGen_2Phase (§14.7), TPM_ALG_ECDH (SP 800-56A C(2e, 2s) Full Unified Model):
// outZ1 = [dsA]QsB (static), outZ2 = [deA]QeB with deA the r of EC_Ephemeral's counter.
// ECMQV and SM2 are not in this build (inScheme's type refuses them: TPM_RC_SCHEME+P3).
TPM_RC TPM2_ZGen_2Phase(Command& c) {
  TPM2B_ECC_POINT qs_b, qe_b;
  TPMI_ECC_KEY_EXCHANGE in_scheme;
  uint16_t counter = 0;
  if (TPM_RC rc = c.parse(qs_b, qe_b, in_scheme, counter)) return rc;
  ObjectSlot* key = loaded_key(c, 0);
  if (!key || key->pub.type != TPM_ALG_ECC) return rc_handle(TPM_RC_KEY, 1);
  const TPMA_OBJECT& a = key->pub.objectAttributes;
  if (a.has(TPMA_OBJECT_restricted) || !a.has(TPMA_OBJECT_decrypt)) return rc_handle(TPM_RC_ATTRIBUTES, 1);
  TPM_ALG_ID scheme = key->pub.parameters.eccDetail.scheme.scheme;
  if (scheme != TPM_ALG_NULL && scheme != in_scheme) return rc_param(TPM_RC_SCHEME, 3);
  if (in_scheme != TPM_ALG_ECDH) return rc_param(TPM_RC_SCHEME, 3);
  if (key->public_only) return rc_handle(TPM_RC_KEY, 1);
  const crypto::EccCurve curve = key_curve(*key);
  const size_t n = crypto::ecc_bytes(curve);
  crypto::EccPoint qs, qe, z;
  if (!ecc_point_in(qs_b.t, n, qs) || crypto::ecc_validate_point(curve, qs) != crypto::Status::ok)
    return rc_param(TPM_RC_ECC_POINT, 1);
  if (!ecc_point_in(qe_b.t, n, qe) || crypto::ecc_validate_point(curve, qe) != crypto::Status::ok)
    return rc_param(TPM_RC_ECC_POINT, 2);
  uint64_t count = 0;
  crypto::EccScalar r;
  crypto::ZeroizeOnExit<crypto::EccScalar> wipe(r);
  if (!commit_lookup(c.st, counter, count) || !commit_r(c.st, curve, count, {}, r)) return rc_param(TPM_RC_VALUE, 4);
  TPM2B_ECC_POINT z1, z2;
  if (crypto::ecdh_z(curve, key->ecc, qs, z) != crypto::Status::ok) return TPM_RC_NO_RESULT;
  ecc_point_out(z, n, z1.t);
  if (crypto::ecdh_z(curve, r, qe, z) != crypto::Status::ok) return TPM_RC_NO_RESULT;
  ecc_point_out(z, n, z2.t);
  crypto::zeroize(z);
  commit_end(c.st, count);
  c.put(z1);
  c.put(z2);
  crypto::zeroize(z1);
  crypto::zeroize(z2);
  return TPM_RC_SUCCESS;
}

namespace {

// ECC_Encrypt/ECC_Decrypt's scheme (CryptEccSelectScheme): the key's kdf (always NULL here: an
// ECC key's kdf must be NULL), else the caller's; NULL on both sides is TPM_RC_SCHEME on
// inScheme. Only TPM_ALG_KDF2 is an encryption scheme (a bare TPM_RC_SCHEME otherwise, as the
// reference answers).
TPM_RC ecc_crypt_scheme(const ObjectSlot& key, const TPMT_KDF_SCHEME& in, unsigned param, crypto::HashAlg& hash) {
  const TPMT_KDF_SCHEME& own = key.pub.parameters.eccDetail.kdf;
  const TPMT_KDF_SCHEME& s = in.scheme == TPM_ALG_NULL ? own : in;
  if (s.scheme == TPM_ALG_NULL) return rc_param(TPM_RC_SCHEME, param);
  if (own.scheme != TPM_ALG_NULL && (own.scheme != s.scheme || own.details.hashAlg != s.details.hashAlg))
    return rc_param(TPM_RC_SCHEME, param);
  if (s.scheme != TPM_ALG_KDF2) return TPM_RC_SCHEME;
  hash = to_crypto(s.details.hashAlg);
  return TPM_RC_SUCCESS;
}

// Part 1 "ECC encryption": with P2 = (x2, y2) the shared point, C2 = M xor KDF2(x2 || y2, |M|)
// and C3 = H(x2 || M || y2). Applies the mask to data in place and returns C3 over plain.
void ecc_crypt_mask(crypto::HashAlg hash, const crypto::EccPoint& p2, size_t n, std::span<uint8_t> data) {
  uint8_t z[2 * crypto::kMaxEccBytes];
  std::memcpy(z, p2.x, n);
  std::memcpy(z + n, p2.y, n);
  crypto::kdf2_xor(hash, {z, 2 * n}, data);
  crypto::zeroize(z);
}
void ecc_crypt_c3(crypto::HashAlg hash, const crypto::EccPoint& p2, size_t n, std::span<const uint8_t> plain,
                  TPM2B_DIGEST& c3) {
  crypto::HashState h;
  crypto::hash_start(h, hash);
  crypto::hash_update(h, {p2.x, n});
  crypto::hash_update(h, plain);
  crypto::hash_update(h, {p2.y, n});
  c3.size = static_cast<uint16_t>(crypto::hash_finish(h, c3.buffer));
}

}  // namespace

// ECC_Encrypt (§14.8): C1 = [k]G for a fresh k, P2 = [k]Q.
TPM_RC TPM2_ECC_Encrypt(Command& c) {
  TPM2B_MAX_BUFFER plain;
  TPMT_KDF_SCHEME in_scheme;
  if (TPM_RC rc = c.parse(plain, in_scheme)) return rc;
  ObjectSlot* key = loaded_key(c, 0);
  if (!key || key->pub.type != TPM_ALG_ECC) return rc_handle(TPM_RC_KEY, 1);
  crypto::HashAlg hash;
  if (TPM_RC rc = ecc_crypt_scheme(*key, in_scheme, 2, hash)) return rc;
  const crypto::EccCurve curve = key_curve(*key);
  const size_t n = crypto::ecc_bytes(curve);
  crypto::EccScalar k;
  crypto::ZeroizeOnExit<crypto::EccScalar> wipe(k);
  crypto::EccPoint c1, p2, q;
  if (!ecc_point_in(key->pub.unique.ecc, n, q)) return TPM_RC_FAILURE;
  if (crypto::ecc_generate(curve, tpm_random_source(c.tpm), k, c1) != crypto::Status::ok ||
      crypto::ecdh_z(curve, k, q, p2) != crypto::Status::ok)
    return TPM_RC_NO_RESULT;
  TPM2B_DIGEST c3;
  ecc_crypt_c3(hash, p2, n, plain.view(), c3);
  ecc_crypt_mask(hash, p2, n, {plain.buffer, plain.size});  // plain becomes C2
  crypto::zeroize(p2);
  TPM2B_ECC_POINT c1_out;
  ecc_point_out(c1, n, c1_out.t);
  c.put(c1_out);
  c.put(plain);
  c.put(c3);
  return TPM_RC_SUCCESS;
}

// ECC_Decrypt (§14.9): P2 = [d]C1; C3 compared in constant time (TPM_RC_VALUE, bare, as the
// reference answers). An invalid C1 is TPM_RC_ECC_POINT+P1 (the reference goes on with it and
// fails the C3 check instead).
TPM_RC TPM2_ECC_Decrypt(Command& c) {
  TPM2B_ECC_POINT c1_in;
  TPM2B_MAX_BUFFER data;
  TPM2B_DIGEST c3;
  TPMT_KDF_SCHEME in_scheme;
  if (TPM_RC rc = c.parse(c1_in, data, c3, in_scheme)) return rc;
  ObjectSlot* key = loaded_key(c, 0);
  if (!key || key->pub.type != TPM_ALG_ECC) return rc_handle(TPM_RC_KEY, 1);
  const TPMA_OBJECT& a = key->pub.objectAttributes;
  if (a.has(TPMA_OBJECT_restricted) || !a.has(TPMA_OBJECT_decrypt)) return rc_handle(TPM_RC_ATTRIBUTES, 1);
  crypto::HashAlg hash;
  if (TPM_RC rc = ecc_crypt_scheme(*key, in_scheme, 4, hash)) return rc;
  if (key->public_only) return rc_handle(TPM_RC_KEY, 1);
  const crypto::EccCurve curve = key_curve(*key);
  const size_t n = crypto::ecc_bytes(curve);
  crypto::EccPoint c1, p2;
  if (!ecc_point_in(c1_in.t, n, c1) || crypto::ecc_validate_point(curve, c1) != crypto::Status::ok)
    return rc_param(TPM_RC_ECC_POINT, 1);
  if (crypto::ecdh_z(curve, key->ecc, c1, p2) != crypto::Status::ok) return rc_param(TPM_RC_ECC_POINT, 1);
  ecc_crypt_mask(hash, p2, n, {data.buffer, data.size});  // data is now the plaintext
  TPM2B_DIGEST check;
  ecc_crypt_c3(hash, p2, n, data.view(), check);
  crypto::zeroize(p2);
  if (check.size != c3.size || !crypto::ct_equal(check.view(), c3.view())) {
    crypto::zeroize(data);
    return TPM_RC_VALUE;
  }
  c.put(data);
  crypto::zeroize(data);
  return TPM_RC_SUCCESS;
}

}  // namespace utpm::tpm
