// Small helpers shared by the commands that use keys.
#pragma once

#include <cstring>

#include "crypto/ecc.h"
#include "tpm/core/command.h"
#include "tpm/subsystem/subsystems.h"
#include "tpm/types/attest.h"

namespace utpm::tpm {

// The key/data object behind handle i of the command, or nullptr for a sequence object.
inline ObjectSlot* loaded_key(Command& c, unsigned i) {
  ObjectSlot* o = c.entities[i].object;
  return o && o->kind == SlotKind::object ? o : nullptr;
}
// The same, but only if its private part is loaded (not a public-only LoadExternal).
inline ObjectSlot* loaded_private_key(Command& c, unsigned i) {
  ObjectSlot* o = loaded_key(c, i);
  return o && !o->public_only ? o : nullptr;
}

// The key and hash of an HMAC (TPM2_HMAC, TPM2_HMAC_Start): an unrestricted keyed-hash signing
// key; its HMAC scheme fixes the hash, else the caller (parameter 2) must name one.
inline TPM_RC hmac_key(Command& c, TPM_ALG_ID requested, ObjectSlot*& key, TPM_ALG_ID& hash) {
  key = loaded_private_key(c, 0);
  if (!key || key->pub.type != TPM_ALG_KEYEDHASH) return rc_handle(TPM_RC_TYPE, 1);
  const TPMA_OBJECT& a = key->pub.objectAttributes;
  if (a.has(TPMA_OBJECT_restricted) || !a.has(TPMA_OBJECT_sign)) return rc_handle(TPM_RC_ATTRIBUTES, 1);
  const TPMT_KEYEDHASH_SCHEME& own = key->pub.parameters.keyedHashDetail.scheme;
  hash = requested;
  if (own.scheme == TPM_ALG_HMAC) {
    if (hash != TPM_ALG_NULL && hash != own.details.hashAlg) return rc_param(TPM_RC_VALUE, 2);
    hash = own.details.hashAlg;
  } else if (hash == TPM_ALG_NULL) {
    return rc_param(TPM_RC_VALUE, 2);
  }
  return TPM_RC_SUCCESS;
}

// The signing scheme of a command (Sign and the attestation commands, Part 3 CryptSelectSignScheme):
// the key's own scheme, or the caller's when the key has none; a caller scheme that differs from
// the key's, a NULL scheme on both sides, or a scheme that does not fit the key's type: false
// (the caller answers TPM_RC_SCHEME on its inScheme parameter).
bool select_sign_scheme(const ObjectSlot& key, const TPMT_SIG_SCHEME& in_scheme, TPMT_SIG_SCHEME& out);
// Signs digest (the scheme's hash size) with a loaded private signing key (signature.cc).
TPM_RC sign_digest(Command& c, const ObjectSlot& key, const TPMT_SIG_SCHEME& scheme, std::span<const uint8_t> digest,
                   TPMT_SIGNATURE& sig);

// Whether signature is a valid signature of digest by key (RSASSA/RSAPSS, ECDSA, HMAC), the
// scheme fitting the key's type (signature.cc; VerifySignature and PolicySigned).
bool signature_verifies(const ObjectSlot& key, std::span<const uint8_t> digest, const TPMT_SIGNATURE& signature);

// Attestation (attestation.cc): TPMS_ATTEST.firmwareVersion (TPM_PT_FIRMWARE_VERSION_1 || _2),
// and the privacy rule of Part 3 §18.1: resetCount, restartCount and firmwareVersion offset by a
// per-key value unless the signing key (nullptr: none) is in the endorsement or platform hierarchy.
uint64_t attest_firmware_version();
void attest_obfuscate(const State& st, const ObjectSlot* key, TPMS_CLOCK_INFO& clock, uint64_t& firmware);

// ECC points between the wire and the crypto layer: a coordinate of up to n octets is
// left-padded (false if longer); an empty TPM2B_ECC_POINT (both coordinates empty) stays empty.
inline bool ecc_point_in(const TPMS_ECC_POINT& p, size_t n, crypto::EccPoint& out) {
  out = crypto::EccPoint{};
  if (p.x.size > n || p.y.size > n) return false;
  std::memcpy(out.x + n - p.x.size, p.x.buffer, p.x.size);
  std::memcpy(out.y + n - p.y.size, p.y.buffer, p.y.size);
  return true;
}
inline void ecc_point_out(const crypto::EccPoint& p, size_t n, TPMS_ECC_POINT& out) {
  out.x.assign({p.x, n});
  out.y.assign({p.y, n});
}
inline crypto::EccCurve key_curve(const ObjectSlot& key) {
  return static_cast<crypto::EccCurve>(key.pub.parameters.eccDetail.curveID.value);
}

// The NULL-terminated-label rule of RSA encryption (Part 1 §B.10.3): an empty label, or one
// whose last octet is zero.
inline bool label_ok(const TPM2B_DATA& label) { return label.size == 0 || label.buffer[label.size - 1] == 0; }

}  // namespace utpm::tpm
