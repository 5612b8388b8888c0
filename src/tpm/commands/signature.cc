// Part 3 chapter 20: Signing and signature verification.
#include <cstring>

#include "crypto/crypto.h"
#include "crypto/ecc.h"
#include "crypto/rsa.h"
#include "tpm/commands/commands.h"
#include "tpm/commands/keys_common.h"
#include "tpm/commands/tickets.h"
#include "tpm/subsystem/subsystems.h"
#include "tpm/tpm.h"

namespace utpm::tpm {
namespace {

// The key's own scheme (TPM_ALG_NULL if it leaves the choice to the caller).
TPMT_SIG_SCHEME key_sign_scheme(const TPMT_PUBLIC& p) {
  TPMT_SIG_SCHEME s;
  s.scheme.value = TPM_ALG_NULL;
  TPM_ALG_ID id = TPM_ALG_NULL;
  TPM_ALG_ID hash = TPM_ALG_NULL;
  switch (p.type) {
    case TPM_ALG_RSA: id = p.parameters.rsaDetail.scheme.scheme; hash = p.parameters.rsaDetail.scheme.details.hashAlg; break;
    case TPM_ALG_ECC: id = p.parameters.eccDetail.scheme.scheme; hash = p.parameters.eccDetail.scheme.details.hashAlg; break;
    case TPM_ALG_KEYEDHASH: id = p.parameters.keyedHashDetail.scheme.scheme; hash = p.parameters.keyedHashDetail.scheme.details.hashAlg; break;
  }
  s.scheme.value = id;
  s.details.hashAlg.value = hash;
  return s;
}

bool scheme_fits_key(TPM_ALG_ID scheme, TPM_ALG_ID type) {
  switch (scheme) {
    case TPM_ALG_RSASSA:
    case TPM_ALG_RSAPSS: return type == TPM_ALG_RSA;
    case TPM_ALG_ECDSA: return type == TPM_ALG_ECC;
    case TPM_ALG_HMAC: return type == TPM_ALG_KEYEDHASH;
  }
  return false;
}

TPMT_TK_VERIFIED verified_ticket(const State& st, const ObjectSlot& key, std::span<const uint8_t> digest) {
  TPMT_TK_VERIFIED t;
  t.hierarchy = key.hierarchy;
  // ticket = HMAC(proof(hierarchy), TPM_ST_VERIFIED || digest || keyName)
  crypto::HmacState h;
  crypto::hmac_start(h, to_crypto(key.pub.nameAlg), hierarchy_proof(st, key.hierarchy));
  const uint8_t tag[2] = {uint8_t(TPM_ST_VERIFIED >> 8), uint8_t(TPM_ST_VERIFIED)};
  crypto::hmac_update(h, tag);
  crypto::hmac_update(h, digest);
  crypto::hmac_update(h, key.name.view());
  t.digest.size = static_cast<uint16_t>(crypto::hmac_finish(h, t.digest.buffer));
  crypto::zeroize(h);
  return t;
}

crypto::RsaPublicKey rsa_public(const ObjectSlot& key) {
  crypto::RsaPublicKey pub{};
  pub.bits = key.pub.parameters.rsaDetail.keyBits;
  pub.exponent = key.pub.parameters.rsaDetail.exponent;
  std::memcpy(pub.n, key.pub.unique.rsa.buffer, key.pub.unique.rsa.size);
  return pub;
}

}  // namespace

bool select_sign_scheme(const ObjectSlot& key, const TPMT_SIG_SCHEME& in_scheme, TPMT_SIG_SCHEME& out) {
  // The key's scheme wins; a caller scheme must agree with it or fill its absence.
  out = key_sign_scheme(key.pub);
  if (out.scheme == TPM_ALG_NULL) {
    if (in_scheme.scheme == TPM_ALG_NULL) return false;
    out = in_scheme;
  } else if (in_scheme.scheme != TPM_ALG_NULL &&
             (in_scheme.scheme != out.scheme || in_scheme.details.hashAlg != out.details.hashAlg)) {
    return false;
  }
  return scheme_fits_key(out.scheme, key.pub.type);
}

TPM_RC sign_digest(Command& c, const ObjectSlot& key, const TPMT_SIG_SCHEME& scheme, std::span<const uint8_t> digest,
                   TPMT_SIGNATURE& sig) {
  const TPM_ALG_ID hash = scheme.details.hashAlg;
  sig.sigAlg.value = scheme.scheme;
  crypto::Status s = crypto::Status::failure;
  switch (scheme.scheme) {
    case TPM_ALG_RSASSA:
    case TPM_ALG_RSAPSS: {
      // rsassa and rsapss share one layout (TPMS_SIGNATURE_RSA)
      TPMS_SIGNATURE_RSA& rsa = scheme.scheme == TPM_ALG_RSASSA ? sig.signature.rsassa : sig.signature.rsapss;
      rsa.hash.value = hash;
      rsa.sig.size = static_cast<uint16_t>(crypto::rsa_bytes(key.rsa.pub));
      s = crypto::rsa_sign(static_cast<crypto::RsaScheme>(scheme.scheme.value), to_crypto(hash), key.rsa, digest,
                           tpm_random_source(c.tpm), {rsa.sig.buffer, rsa.sig.size});
      break;
    }
    case TPM_ALG_ECDSA: {
      const auto curve = static_cast<crypto::EccCurve>(key.pub.parameters.eccDetail.curveID.value);
      const uint16_t n = static_cast<uint16_t>(crypto::ecc_bytes(curve));
      TPMS_SIGNATURE_ECC& ecc = sig.signature.ecdsa;
      ecc.hash.value = hash;
      ecc.signatureR.size = ecc.signatureS.size = n;
      s = crypto::ecdsa_sign(curve, key.ecc, digest, tpm_random_source(c.tpm), {ecc.signatureR.buffer, n},
                             {ecc.signatureS.buffer, n});
      break;
    }
    case TPM_ALG_HMAC:
      sig.signature.hmac.hashAlg.value = hash;
      crypto::hmac(to_crypto(hash), key.bits.view(), digest, sig.signature.hmac.digest.bytes);
      s = crypto::Status::ok;
      break;
  }
  return s == crypto::Status::ok ? TPM_RC_SUCCESS : TPM_RC_FAILURE;
}

TPM_RC TPM2_Sign(Command& c) {
  TPM2B_DIGEST digest;
  TPMT_SIG_SCHEME in_scheme;
  TPMT_TK_HASHCHECK validation;  // tag and hierarchy checked by unmarshal; the HMAC below
  if (TPM_RC rc = c.parse(digest, in_scheme, validation)) return rc;
  ObjectSlot* key = loaded_private_key(c, 0);
  if (!key || !key->pub.objectAttributes.has(TPMA_OBJECT_sign)) return rc_handle(TPM_RC_KEY, 1);
  TPMT_SIG_SCHEME scheme;
  if (!select_sign_scheme(*key, in_scheme, scheme)) return rc_param(TPM_RC_SCHEME, 2);
  const TPM_ALG_ID hash = scheme.details.hashAlg;
  if (digest.size != digest_size(hash)) return rc_param(TPM_RC_SIZE, 1);
  // A restricted key signs only digests the TPM itself computed (Part 1 §11.4.6.3).
  if (key->pub.objectAttributes.has(TPMA_OBJECT_restricted)) {
    if (validation.hierarchy == TPM_RH_NULL) return rc_param(TPM_RC_TICKET, 3);
    TPMT_TK_HASHCHECK expect = hashcheck_ticket(c.st, validation.hierarchy, hash, digest.view());
    if (expect.digest.size != validation.digest.size ||
        !crypto::ct_equal(expect.digest.view(), validation.digest.view()))
      return rc_param(TPM_RC_TICKET, 3);
  }
  TPMT_SIGNATURE sig;
  if (TPM_RC rc = sign_digest(c, *key, scheme, digest.view(), sig)) return rc;
  c.put(sig);
  return TPM_RC_SUCCESS;
}

bool signature_verifies(const ObjectSlot& key, std::span<const uint8_t> digest, const TPMT_SIGNATURE& signature) {
  if (!scheme_fits_key(signature.sigAlg, key.pub.type)) return false;
  const TPMU_SIGNATURE& sig = signature.signature;
  switch (signature.sigAlg) {
    case TPM_ALG_RSASSA:
    case TPM_ALG_RSAPSS: {
      const TPMS_SIGNATURE_RSA& rsa = signature.sigAlg == TPM_ALG_RSASSA ? sig.rsassa : sig.rsapss;
      return crypto::rsa_verify(static_cast<crypto::RsaScheme>(signature.sigAlg.value), to_crypto(rsa.hash),
                                rsa_public(key), digest, rsa.sig.view()) == crypto::Status::ok;
    }
    case TPM_ALG_ECDSA: {
      const auto curve = static_cast<crypto::EccCurve>(key.pub.parameters.eccDetail.curveID.value);
      crypto::EccPoint q{};
      std::memcpy(q.x, key.pub.unique.ecc.x.buffer, key.pub.unique.ecc.x.size);
      std::memcpy(q.y, key.pub.unique.ecc.y.buffer, key.pub.unique.ecc.y.size);
      return crypto::ecdsa_verify(curve, q, digest, sig.ecdsa.signatureR.view(), sig.ecdsa.signatureS.view()) ==
             crypto::Status::ok;
    }
    case TPM_ALG_HMAC: {
      const TPM_ALG_ID hash = sig.hmac.hashAlg;
      if (hash == TPM_ALG_NULL || key.public_only) return false;  // an HMAC signature names its hash
      uint8_t expect[crypto::kMaxDigestSize];
      size_t n = crypto::hmac(to_crypto(hash), key.bits.view(), digest, expect);
      return crypto::ct_equal({expect, n}, {sig.hmac.digest.bytes, digest_size(hash)});
    }
  }
  return false;
}

TPM_RC TPM2_VerifySignature(Command& c) {
  TPM2B_DIGEST digest;
  TPMT_SIGNATURE signature;
  if (TPM_RC rc = c.parse(digest, signature)) return rc;
  ObjectSlot* key = loaded_key(c, 0);
  if (!key || !key->pub.objectAttributes.has(TPMA_OBJECT_sign)) return rc_handle(TPM_RC_ATTRIBUTES, 1);
  if (!scheme_fits_key(signature.sigAlg, key->pub.type)) return rc_param(TPM_RC_SCHEME, 2);
  if (!signature_verifies(*key, digest.view(), signature)) return rc_param(TPM_RC_SIGNATURE, 2);
  c.put(verified_ticket(c.st, *key, digest.view()));
  return TPM_RC_SUCCESS;
}

}  // namespace utpm::tpm
