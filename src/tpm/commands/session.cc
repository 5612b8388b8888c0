// Part 3 chapter 11: Session commands.
#include "crypto/crypto.h"
#include <cstring>

#include "crypto/ecc.h"
#include "crypto/kdf.h"
#include "crypto/rsa.h"
#include "tpm/commands/commands.h"
#include "tpm/subsystem/subsystems.h"
#include "tpm/tpm.h"

namespace utpm::tpm {
namespace {

// The salt of a salted session (Part 1 §24, B.10.4, C.6.1): RSA-OAEP-decrypted with the label
// "SECRET" (with its terminating zero), or for ECC the KDFe of the ECDH point with the
// caller's ephemeral key, labelled "SECRET". The key is an asymmetric decryption key.
TPM_RC recover_salt(Command& c, const TPM2B_ENCRYPTED_SECRET& in, uint8_t* salt, size_t& len) {
  ObjectSlot* key = c.entities[0].object;  // tpmKey
  if (!key || key->kind != SlotKind::object || key->public_only ||
      !key->pub.objectAttributes.has(TPMA_OBJECT_decrypt))
    return rc_handle(TPM_RC_KEY, 1);
  static constexpr uint8_t kSecret[] = {'S', 'E', 'C', 'R', 'E', 'T', 0};
  const TPM_ALG_ID name_alg = key->pub.nameAlg;
  if (key->pub.type == TPM_ALG_RSA) {
    const TPMT_RSA_SCHEME& s = key->pub.parameters.rsaDetail.scheme;
    if (s.scheme != TPM_ALG_NULL && s.scheme != TPM_ALG_OAEP) return rc_handle(TPM_RC_SCHEME, 1);
    const TPM_ALG_ID hash = s.scheme == TPM_ALG_OAEP ? TPM_ALG_ID(s.details.hashAlg) : name_alg;
    // No OAEP hash and no nameAlg: the salt cannot be decrypted (libtpms answers the same).
    if (hash == TPM_ALG_NULL) return rc_param(TPM_RC_VALUE, 2);
    if (in.size != crypto::rsa_bytes(key->rsa.pub)) return rc_param(TPM_RC_VALUE, 2);
    if (crypto::rsa_decrypt(crypto::RsaScheme::oaep, to_crypto(hash), kSecret, key->rsa, in.view(),
                            tpm_random_source(c.tpm), {salt, crypto::kMaxRsaBytes}, &len) != crypto::Status::ok ||
        len > profile::kMaxDigestSize)
      return rc_param(TPM_RC_VALUE, 2);
    return TPM_RC_SUCCESS;
  }
  if (key->pub.type == TPM_ALG_ECC) {
    if (name_alg == TPM_ALG_NULL) return rc_param(TPM_RC_VALUE, 2);  // KDFe needs the nameAlg
    const auto curve = static_cast<crypto::EccCurve>(key->pub.parameters.eccDetail.curveID.value);
    const size_t n = crypto::ecc_bytes(curve);
    Reader r(in.view());
    TPMS_ECC_POINT qe;
    if (unmarshal(r, qe) != TPM_RC_SUCCESS || r.remaining() != 0 || qe.x.size != n || qe.y.size != n)
      return rc_param(TPM_RC_VALUE, 2);
    crypto::EccPoint peer{}, z{};
    std::memcpy(peer.x, qe.x.buffer, n);
    std::memcpy(peer.y, qe.y.buffer, n);
    if (crypto::ecc_validate_point(curve, peer) != crypto::Status::ok) return rc_param(TPM_RC_ECC_POINT, 2);
    if (crypto::ecdh_z(curve, key->ecc, peer, z) != crypto::Status::ok) return rc_param(TPM_RC_VALUE, 2);
    len = digest_size(name_alg);
    // KDFe(nameAlg, Z.x, "SECRET", QeU.x, QsV.x, bits): PartyU is the caller's ephemeral key.
    crypto::kdfe(to_crypto(name_alg), {z.x, n}, {kSecret, sizeof kSecret - 1}, qe.x.view(),
                 key->pub.unique.ecc.x.view(), static_cast<uint32_t>(len * 8), {salt, len});
    crypto::zeroize(z);
    return TPM_RC_SUCCESS;
  }
  return rc_handle(TPM_RC_KEY, 1);
}

}  // namespace

TPM_RC TPM2_StartAuthSession(Command& c) {
  TPM2B_NONCE nonce_caller;
  TPM2B_ENCRYPTED_SECRET encrypted_salt;
  TPM_SE_CHECKED session_type;
  TPMT_SYM_DEF symmetric;
  TPMI_ALG_HASH auth_hash;
  if (TPM_RC rc = c.parse(nonce_caller, encrypted_salt, session_type, symmetric, auth_hash)) return rc;
  const TPM_HANDLE tpm_key = c.handles[0], bind = c.handles[1];
  const uint16_t digest_len = digest_size(auth_hash);
  if (nonce_caller.size < 16 || nonce_caller.size > digest_len) return rc_param(TPM_RC_SIZE, 1);
  uint8_t salt[profile::kMaxDigestSize + crypto::kMaxRsaBytes];
  size_t salt_len = 0;
  if (tpm_key == TPM_RH_NULL) {
    if (encrypted_salt.size != 0) return rc_param(TPM_RC_VALUE, 2);
  } else {
    if (TPM_RC rc = recover_salt(c, encrypted_salt, salt, salt_len)) return rc;
  }

  SessionSlot fresh;
  fresh.used = true;
  fresh.type = session_type;
  fresh.auth_hash = auth_hash;
  fresh.nonce_caller = nonce_caller;
  // nonceTPM has nonceCaller's size, and keeps it for the session's life (Part 1 "Session
  // nonces": the size of nonceCaller sets the size of every nonce the TPM returns; libtpms agrees,
  // tests/differential).
  fresh.nonce_tpm.size = nonce_caller.size;
  if (!tpm_random(c.tpm, {fresh.nonce_tpm.buffer, fresh.nonce_tpm.size})) return TPM_RC_FAILURE;
  if (bind != TPM_RH_NULL || tpm_key != TPM_RH_NULL) {
    // sessionKey = KDFa(authHash, bind.authValue || salt, "ATH", nonceTPM, nonceCaller, bits)
    uint8_t key[profile::kMaxDigestSize + sizeof salt];
    size_t klen = 0;
    if (bind != TPM_RH_NULL) {
      const Entity& be = c.entities[1];
      const std::span<const uint8_t> auth = auth_trimmed(be.auth);
      if (!auth.empty()) std::memcpy(key, auth.data(), auth.size());
      klen = auth.size();
      fresh.bind = bind;
      bind_identity(be, auth_hash, fresh.bind_id);
    }
    std::memcpy(key + klen, salt, salt_len);
    klen += salt_len;
    static constexpr uint8_t kAth[] = {'A', 'T', 'H'};
    fresh.session_key.size = digest_len;
    crypto::kdfa(to_crypto(auth_hash), {key, klen}, kAth, fresh.nonce_tpm.view(), nonce_caller.view(),
                 digest_len * 8u, {fresh.session_key.buffer, digest_len});
    crypto::zeroize(key);
    crypto::zeroize(salt);
  }
  fresh.symmetric = symmetric;
  if (session_type != TPM_SE_HMAC) fresh.policy_digest.size = digest_len;  // starts all zero
  fresh.start_time = time_now(c.tpm);  // policy expirations count from here
  // Take a slot and a handle last, so nothing above can leak one.
  TPM_RC alloc_rc = TPM_RC_SUCCESS;
  SessionSlot* s = session_allocate(c.st, session_type != TPM_SE_HMAC, alloc_rc);
  if (!s) {
    crypto::zeroize(fresh);
    return alloc_rc;
  }
  fresh.index = s->index;
  *s = fresh;
  crypto::zeroize(fresh);
  c.response_handle = session_handle(c.st, s);
  c.put(s->nonce_tpm);
  return TPM_RC_SUCCESS;
}

}  // namespace utpm::tpm
