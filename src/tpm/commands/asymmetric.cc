// Part 3 chapter 14: Asymmetric primitives.
#include <cstring>

#include "crypto/crypto.h"
#include "crypto/ecc.h"
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

TPM_RC ecdh_key(Command& c, ObjectSlot*& key) {
  key = loaded_key(c, 0);
  if (!key || key->pub.type != TPM_ALG_ECC) return rc_handle(TPM_RC_KEY, 1);
  const TPMA_OBJECT& a = key->pub.objectAttributes;
  // An ECDH key is an unrestricted decryption key (Part 3 §14.5).
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

}  // namespace

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
  ObjectSlot* key;
  if (TPM_RC rc = ecdh_key(c, key)) return rc;
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
  if (TPM_RC rc = ecdh_key(c, key)) return rc;
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
