// Part 3 chapter 19: Ephemeral EC keys (TPM2_Commit, TPM2_EC_Ephemeral). The commit state and
// the derivation of r are in subsystem/commit.cc.
#include "crypto/crypto.h"
#include "crypto/ecc.h"
#include "tpm/commands/commands.h"
#include "tpm/commands/keys_common.h"
#include "tpm/subsystem/subsystems.h"
#include "tpm/tpm.h"

namespace utpm::tpm {

// Commit (§19.2): K = [d]P2 and L = [r]P2 for P2 = (H_nameAlg(s2) mod p, y2) when s2 is given;
// E = [r]P1 when P1 is given, and E = [r]G when neither is. The check order is Part 3's table
// as the reference TPM runs it.
TPM_RC TPM2_Commit(Command& c) {
  TPM2B_ECC_POINT_OPT p1;
  TPM2B_SENSITIVE_DATA s2;
  TPM2B_ECC_PARAMETER y2;
  if (TPM_RC rc = c.parse(p1, s2, y2)) return rc;
  ObjectSlot* key = loaded_key(c, 0);
  if (!key || key->pub.type != TPM_ALG_ECC) return rc_handle(TPM_RC_KEY, 1);
  // Only a key with an anonymous scheme (ECDAA; a sign+decrypt key has no scheme).
  if (key->pub.parameters.eccDetail.scheme.scheme != TPM_ALG_ECDAA) return rc_handle(TPM_RC_SCHEME, 1);
  if ((s2.size == 0) != (y2.size == 0)) return rc_param(TPM_RC_SIZE, 3);
  const crypto::EccCurve curve = key_curve(*key);
  const size_t n = crypto::ecc_bytes(curve);
  crypto::EccScalar r;
  crypto::ZeroizeOnExit<crypto::EccScalar> wipe(r);
  const uint64_t count = commit_next(c.st);
  if (!commit_r(c.st, curve, count, key->name.view(), r)) return TPM_RC_NO_RESULT;

  crypto::EccPoint p2{}, pt1{}, out{};
  const bool have_p2 = s2.size != 0;
  if (have_p2) {
    uint8_t x2[crypto::kMaxDigestSize];
    const size_t hn = crypto::hash(to_crypto(key->pub.nameAlg), s2.view(), x2);
    if (hn == 0) return rc_handle(TPM_RC_HASH, 1);
    if (crypto::ecc_field_reduce(curve, {x2, hn}, {p2.x, n}) != crypto::Status::ok) return TPM_RC_NO_RESULT;
    if (y2.size > n) return rc_param(TPM_RC_ECC_POINT, 2);
    std::memcpy(p2.y + n - y2.size, y2.buffer, y2.size);
    if (crypto::ecc_validate_point(curve, p2) != crypto::Status::ok) return rc_param(TPM_RC_ECC_POINT, 2);
    if (key->public_only) return rc_handle(TPM_RC_KEY, 1);
  }
  const bool have_p1 = p1.size > 4;
  if (have_p1 && (!ecc_point_in(p1.t, n, pt1) || crypto::ecc_validate_point(curve, pt1) != crypto::Status::ok))
    return rc_param(TPM_RC_ECC_POINT, 1);

  TPM2B_ECC_POINT k_out, l_out, e_out;  // empty points unless computed (size 4, as the reference)
  if (have_p2) {
    if (crypto::ecc_point_mul(curve, key->ecc, &p2, out) != crypto::Status::ok) return TPM_RC_NO_RESULT;
    ecc_point_out(out, n, k_out.t);
    if (crypto::ecc_point_mul(curve, r, &p2, out) != crypto::Status::ok) return TPM_RC_NO_RESULT;
    ecc_point_out(out, n, l_out.t);
  }
  if (have_p1 || !have_p2) {
    if (crypto::ecc_point_mul(curve, r, have_p1 ? &pt1 : nullptr, out) != crypto::Status::ok) return TPM_RC_NO_RESULT;
    ecc_point_out(out, n, e_out.t);
  }
  const uint16_t counter = commit_take(c.st);
  c.put(k_out);
  c.put(l_out);
  c.put(e_out);
  c.put(counter);
  return TPM_RC_SUCCESS;
}

// EC_Ephemeral (§19.3): Q = [r]G for the next commit count (no key: r is not bound to a Name).
TPM_RC TPM2_EC_Ephemeral(Command& c) {
  TPMI_ECC_CURVE curve_id;
  if (TPM_RC rc = c.parse(curve_id)) return rc;
  const auto curve = static_cast<crypto::EccCurve>(curve_id.value);
  const size_t n = crypto::ecc_bytes(curve);
  crypto::EccScalar r;
  crypto::ZeroizeOnExit<crypto::EccScalar> wipe(r);
  crypto::EccPoint q;
  // A count whose r is zero is taken and skipped (so it is never offered again).
  for (int tries = 0; tries < 4; ++tries) {
    const uint64_t count = commit_next(c.st);
    const uint16_t counter = commit_take(c.st);
    if (commit_r(c.st, curve, count, {}, r) && crypto::ecc_point_mul(curve, r, nullptr, q) == crypto::Status::ok) {
      TPM2B_ECC_POINT out;
      ecc_point_out(q, n, out.t);
      c.put(out);
      c.put(counter);
      return TPM_RC_SUCCESS;
    }
    commit_end(c.st, count);
  }
  return TPM_RC_NO_RESULT;
}

}  // namespace utpm::tpm
