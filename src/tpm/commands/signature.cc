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
    case TPM_ALG_ECDSA:
    case TPM_ALG_ECDAA:
    case TPM_ALG_ECSCHNORR: return type == TPM_ALG_ECC;
    case TPM_ALG_HMAC: return type == TPM_ALG_KEYEDHASH;
  }
  return false;
}

TPMT_TK_VERIFIED verified_ticket(const State& st, const ObjectSlot& key, std::span<const uint8_t> digest) {
  TPMT_TK_VERIFIED t;
  // A key of the null hierarchy or without a nameAlg (no Name to bind) gives the NULL Ticket
  // (Part 3 §20.1: hierarchy TPM_RH_NULL, empty digest).
  t.hierarchy = TPM_RH_NULL;
  if (key.hierarchy == TPM_RH_NULL || key.pub.nameAlg == TPM_ALG_NULL) return t;
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

// A big-endian value of up to n octets, left-padded to n (false if longer).
bool pad_to(std::span<const uint8_t> v, size_t n, uint8_t* out) {
  if (v.size() > n) return false;
  std::memset(out, 0, n - v.size());
  std::memcpy(out + n - v.size(), v.data(), v.size());
  return true;
}

// EC-Schnorr's challenge (Part 1, EC-Schnorr): e = H(R.x || digest), truncated to the order's
// size (its leading octets) when the hash is longer; written as n octets.
void schnorr_challenge(crypto::HashAlg hash, const crypto::EccPoint& r, size_t n, std::span<const uint8_t> digest,
                       uint8_t* e) {
  uint8_t h[crypto::kMaxDigestSize];
  crypto::HashState st;
  crypto::hash_start(st, hash);
  crypto::hash_update(st, {r.x, n});
  crypto::hash_update(st, digest);
  const size_t hs = crypto::hash_finish(st, h);
  pad_to({h, hs < n ? hs : n}, n, e);
}

// EC-Schnorr: k random, R = [k]G, e = challenge, s = k + e*d mod n; (e, s). A challenge that is
// zero or not below n (it could not verify) is drawn again.
crypto::Status schnorr_sign(Command& c, const ObjectSlot& key, crypto::HashAlg hash, std::span<const uint8_t> digest,
                            TPMS_SIGNATURE_ECC& sig) {
  const crypto::EccCurve curve = key_curve(key);
  const size_t n = crypto::ecc_bytes(curve);
  crypto::EccScalar k, e, s;
  crypto::ZeroizeOnExit<crypto::EccScalar> wipe(k);
  crypto::EccPoint r;
  for (int tries = 0; tries < 8; ++tries) {
    if (crypto::Status st = crypto::ecc_generate(curve, tpm_random_source(c.tpm), k, r); st != crypto::Status::ok)
      return st;
    schnorr_challenge(hash, r, n, digest, e.d);
    if (!crypto::ecc_scalar_valid(curve, e)) continue;
    if (crypto::Status st = crypto::ecc_scalar_muladd(curve, {k.d, n}, {e.d, n}, {key.ecc.d, n}, s);
        st != crypto::Status::ok)
      return st;
    if (!crypto::ecc_scalar_valid(curve, s)) continue;
    sig.signatureR.assign({e.d, n});
    sig.signatureS.assign({s.d, n});
    return crypto::Status::ok;
  }
  return crypto::Status::failure;
}

bool schnorr_verify(const ObjectSlot& key, crypto::HashAlg hash, std::span<const uint8_t> digest,
                    const TPMS_SIGNATURE_ECC& sig) {
  const crypto::EccCurve curve = key_curve(key);
  const size_t n = crypto::ecc_bytes(curve);
  crypto::EccScalar r, s, neg_r;
  crypto::EccPoint q, sg, rq, rp;
  if (!pad_to(sig.signatureR.view(), n, r.d) || !pad_to(sig.signatureS.view(), n, s.d) ||
      !crypto::ecc_scalar_valid(curve, r) || !crypto::ecc_scalar_valid(curve, s) ||
      !ecc_point_in(key.pub.unique.ecc, n, q))
    return false;
  // R' = [s]G - [r]Q, with -r = r * (n - 1) mod n.
  uint8_t nm1[crypto::kMaxEccBytes];
  const auto order = crypto::ecc_order(curve);
  std::memcpy(nm1, order.data(), n);
  nm1[n - 1] = static_cast<uint8_t>(nm1[n - 1] - 1);  // n is odd
  if (crypto::ecc_scalar_muladd(curve, {}, {r.d, n}, {nm1, n}, neg_r) != crypto::Status::ok ||
      crypto::ecc_point_mul(curve, s, nullptr, sg) != crypto::Status::ok ||
      crypto::ecc_point_mul(curve, neg_r, &q, rq) != crypto::Status::ok ||
      crypto::ecc_point_add(curve, sg, rq, rp) != crypto::Status::ok)
    return false;
  uint8_t e[crypto::kMaxEccBytes];
  schnorr_challenge(hash, rp, n, digest, e);
  return crypto::ct_equal({e, n}, {r.d, n});
}

// ECDAA (Part 1, ECDAA sign): r from the commit named by count, nonceK random in [1, n-1],
// T = H(nonceK || digest), s = r + T*d mod n; (nonceK, s). nonceK is written as n octets and
// hashed so. The commit is used up only if the signature was made.
TPM_RC ecdaa_sign(Command& c, const ObjectSlot& key, crypto::HashAlg hash, uint16_t count16,
                  std::span<const uint8_t> digest, TPMS_SIGNATURE_ECC& sig) {
  const crypto::EccCurve curve = key_curve(key);
  const size_t n = crypto::ecc_bytes(curve);
  uint64_t count = 0;
  crypto::EccScalar r, nonce, s;
  crypto::ZeroizeOnExit<crypto::EccScalar> wipe(r);
  if (!commit_lookup(c.st, count16, count) || !commit_r(c.st, curve, count, key.name.view(), r)) return TPM_RC_VALUE;
  uint8_t wide[crypto::kMaxEccBytes + 8];
  do {
    if (!tpm_random(c.tpm, {wide, n + 8}) ||
        crypto::ecc_scalar_muladd(curve, {wide, n + 8}, {}, {}, nonce) != crypto::Status::ok)
      return TPM_RC_NO_RESULT;
  } while (!crypto::ecc_scalar_valid(curve, nonce));
  uint8_t t[crypto::kMaxDigestSize];
  crypto::HashState st;
  crypto::hash_start(st, hash);
  crypto::hash_update(st, {nonce.d, n});
  crypto::hash_update(st, digest);
  const size_t ts = crypto::hash_finish(st, t);
  if (crypto::ecc_scalar_muladd(curve, {r.d, n}, {t, ts}, {key.ecc.d, n}, s) != crypto::Status::ok)
    return TPM_RC_NO_RESULT;
  sig.signatureR.assign({nonce.d, n});
  sig.signatureS.assign({s.d, n});
  commit_end(c.st, count);
  return TPM_RC_SUCCESS;
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
  } else if (in_scheme.scheme == TPM_ALG_ECDAA) {
    out.details.count = in_scheme.details.count;  // the commit to use comes with the command
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
    case TPM_ALG_ECSCHNORR:
      sig.signature.ecschnorr.hash.value = hash;
      s = schnorr_sign(c, key, to_crypto(hash), digest, sig.signature.ecschnorr);
      break;
    case TPM_ALG_ECDAA:
      sig.signature.ecdaa.hash.value = hash;
      return ecdaa_sign(c, key, to_crypto(hash), scheme.details.count, digest, sig.signature.ecdaa);
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
    case TPM_ALG_ECSCHNORR:
      return schnorr_verify(key, to_crypto(sig.ecschnorr.hash), digest, sig.ecschnorr);
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
  // ECDAA signatures are verified by the DAA verifier, not by a TPM (Part 1).
  if (signature.sigAlg == TPM_ALG_ECDAA) return rc_param(TPM_RC_SCHEME, 2);
  if (!signature_verifies(*key, digest.view(), signature)) return rc_param(TPM_RC_SIGNATURE, 2);
  c.put(verified_ticket(c.st, *key, digest.view()));
  return TPM_RC_SUCCESS;
}

}  // namespace utpm::tpm
