// Part 3 chapter 15 (symmetric primitives): TPM2_Hash, and the hashcheck ticket that lets a
// restricted signing key sign a digest the TPM computed itself.
#include <cstring>

#include "crypto/crypto.h"
#include "tpm/commands/commands.h"
#include "tpm/commands/tickets.h"
#include "tpm/subsystem/subsystems.h"
#include "tpm/tpm.h"

namespace utpm::tpm {

bool starts_with_generated_value(std::span<const uint8_t> data) {
  return data.size() >= 4 && (uint32_t{data[0]} << 24 | uint32_t{data[1]} << 16 | uint32_t{data[2]} << 8 |
                              data[3]) == TPM_GENERATED_VALUE;
}

TPMT_TK_HASHCHECK hashcheck_ticket(const State& st, TPM_HANDLE hierarchy, TPM_ALG_ID hash_alg,
                                   std::span<const uint8_t> digest) {
  TPMT_TK_HASHCHECK t;
  t.tag = TPM_ST_HASHCHECK;
  if (hierarchy == TPM_RH_NULL) return t;  // the NULL ticket: hierarchy NULL, empty digest
  t.hierarchy = hierarchy;
  // ticket = HMAC(proof(hierarchy), TPM_ST_HASHCHECK || digest)  (Part 2 TPMT_TK_HASHCHECK)
  crypto::HmacState h;
  crypto::hmac_start(h, to_crypto(hash_alg), hierarchy_proof(st, hierarchy));
  const uint8_t tag[2] = {static_cast<uint8_t>(TPM_ST_HASHCHECK >> 8), static_cast<uint8_t>(TPM_ST_HASHCHECK)};
  crypto::hmac_update(h, tag);
  crypto::hmac_update(h, digest);
  t.digest.size = static_cast<uint16_t>(crypto::hmac_finish(h, t.digest.buffer));
  crypto::zeroize(h);
  return t;
}

TPM_RC TPM2_Hash(Command& c) {
  TPM2B_MAX_BUFFER data;
  TPMI_ALG_HASH hash_alg;
  TPMI_RH_HIERARCHY_NULL hierarchy;
  if (TPM_RC rc = c.parse(data, hash_alg, hierarchy)) return rc;
  if (!hierarchy_enabled(c.st, hierarchy)) return rc_param(TPM_RC_HIERARCHY, 3);
  TPM2B_DIGEST out;
  out.size = static_cast<uint16_t>(crypto::hash(to_crypto(hash_alg), data.view(), out.buffer));
  // Data that could pass for a TPM-generated structure gets no ticket (Part 3 §15.4).
  TPM_HANDLE ticket_hierarchy = starts_with_generated_value(data.view()) ? TPM_RH_NULL : hierarchy.value;
  c.put(out);
  c.put(hashcheck_ticket(c.st, ticket_hierarchy, hash_alg, out.view()));
  return TPM_RC_SUCCESS;
}

}  // namespace utpm::tpm
