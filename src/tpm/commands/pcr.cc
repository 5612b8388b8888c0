// Part 3 chapter 22: Integrity collection (PCR).
#include <cstring>

#include "crypto/crypto.h"
#include "tpm/commands/commands.h"
#include "tpm/subsystem/subsystems.h"
#include "tpm/tpm.h"

namespace utpm::tpm {

TPM_RC TPM2_PCR_Extend(Command& c) {
  TPML_DIGEST_VALUES digests;
  if (TPM_RC rc = c.parse(digests)) return rc;
  const TPM_HANDLE pcr = c.handles[0];
  if (pcr == TPM_RH_NULL) return TPM_RC_SUCCESS;
  if (TPM_RC rc = pcr_check_extend_locality(pcr, c.locality)) return rc;
  // Digests for banks that are not allocated are ignored (Part 3 §22.2).
  for (uint32_t i = 0; i < digests.count; ++i) {
    const TPMT_HA& d = digests.items[i];
    int bank = pcr_bank(c.st, d.hashAlg);
    if (bank >= 0) pcr_extend_bank(c.st, bank, pcr, {d.digest.bytes, digest_size(d.hashAlg)});
  }
  ++c.st.pcr.update_counter;
  return TPM_RC_SUCCESS;
}

TPM_RC TPM2_PCR_Event(Command& c) {
  TPM2B_EVENT event_data;
  if (TPM_RC rc = c.parse(event_data)) return rc;
  const TPM_HANDLE pcr = c.handles[0];
  if (pcr != TPM_RH_NULL)
    if (TPM_RC rc = pcr_check_extend_locality(pcr, c.locality)) return rc;
  TPML_DIGEST_VALUES digests;
  digests.count = kHashCount;
  for (size_t i = 0; i < kHashCount; ++i) {
    TPMT_HA& d = digests.items[i];
    d.hashAlg.value = kHashAlgs[i];
    crypto::hash(to_crypto(kHashAlgs[i]), event_data.view(), d.digest.bytes);
    int bank = pcr_bank(c.st, kHashAlgs[i]);
    if (pcr != TPM_RH_NULL && bank >= 0)
      pcr_extend_bank(c.st, bank, pcr, {d.digest.bytes, digest_size(kHashAlgs[i])});
  }
  if (pcr != TPM_RH_NULL) ++c.st.pcr.update_counter;
  c.put(digests);
  return TPM_RC_SUCCESS;
}

TPM_RC TPM2_PCR_Read(Command& c) {
  TPML_PCR_SELECTION in;
  if (TPM_RC rc = c.parse(in)) return rc;
  TPML_PCR_SELECTION out;
  TPML_DIGEST values;
  out.count = in.count;
  // Walk the selections in order, PCRs in ascending order, until 8 digests are returned; the
  // output selection says exactly which ones came back (Part 3 §22.4).
  for (uint32_t s = 0; s < in.count; ++s) {
    const TPMS_PCR_SELECTION& sel = in.items[s];
    TPMS_PCR_SELECTION& o = out.items[s];
    o.hash = sel.hash;
    o.sizeofSelect = sel.sizeofSelect;
    std::memset(o.pcrSelect, 0, sizeof o.pcrSelect);
    int bank = pcr_bank(c.st, sel.hash);
    if (bank < 0) continue;
    for (uint32_t p = 0; p < profile::kNumPcrs; ++p) {
      if (!sel.selected(p)) continue;
      if (values.count == TPML_DIGEST::kCapacity) break;
      values.items[values.count++].assign(pcr_value(c.st, bank, p));
      o.pcrSelect[p / 8] = static_cast<uint8_t>(o.pcrSelect[p / 8] | 1u << (p % 8));
    }
  }
  c.put(c.st.pcr.update_counter);
  c.put(out);
  c.put(values);
  return TPM_RC_SUCCESS;
}

TPM_RC TPM2_PCR_Reset(Command& c) {
  if (TPM_RC rc = c.parse()) return rc;
  const TPM_HANDLE pcr = c.handles[0];
  uint8_t mask = pcr_attributes(pcr).reset_locality;
  if (c.locality > 4 || !(mask >> c.locality & 1)) return TPM_RC_LOCALITY;
  for (int b = 0; b < c.st.pcr.count; ++b) {
    std::span<uint8_t> v = pcr_value(c.st, b, pcr);
    std::memset(v.data(), 0, v.size());
  }
  ++c.st.pcr.update_counter;
  return TPM_RC_SUCCESS;
}

// Part 3 §22.5: the platform chooses the PCR banks the next Startup(CLEAR) uses. Banks are
// allocated whole (every PCR or none) among the profile's (profile::kPcrBankAlgs); a bank not
// listed keeps its pending allocation, a bank listed twice takes the last selection. A request
// this TPM cannot hold (a bank partly selected, a hash with no bank in this profile, more than
// the pool) answers allocationSuccess NO and changes nothing; one that leaves no bank (so no
// H-CRTM PCR 0 and no D-RTM PCR 17) is TPM_RC_PCR. docs/engine.md "PCR allocation".
TPM_RC TPM2_PCR_Allocate(Command& c) {
  TPML_PCR_SELECTION allocation;
  if (TPM_RC rc = c.parse(allocation)) return rc;
  uint8_t banks = c.st.pers.pcr_pending;
  bool possible = true;
  for (uint32_t s = 0; s < allocation.count; ++s) {
    const TPMS_PCR_SELECTION& sel = allocation.items[s];
    uint32_t selected = 0;
    for (uint32_t p = 0; p < profile::kNumPcrs; ++p) selected += sel.selected(p) ? 1 : 0;
    int bank = -1;
    for (size_t i = 0; i < profile::kMaxPcrBanks; ++i)
      if (profile::kPcrBankAlgs[i] == sel.hash) bank = static_cast<int>(i);
    if (bank < 0) {
      possible = possible && selected == 0;  // nothing asked of a hash without a bank
      continue;
    }
    if (selected != 0 && selected != profile::kNumPcrs) possible = false;
    banks = static_cast<uint8_t>(selected ? banks | 1u << bank : banks & ~(1u << bank));
  }
  if (banks == 0) return TPM_RC_PCR;
  uint32_t needed = 0;
  for (size_t i = 0; i < profile::kMaxPcrBanks; ++i)
    if (banks >> i & 1) needed += digest_size(profile::kPcrBankAlgs[i]) * profile::kNumPcrs;
  const uint32_t available = static_cast<uint32_t>(pcr_pool_size());
  possible = possible && needed <= available;
  if (possible && banks != c.st.pers.pcr_pending) {
    c.st.pers.pcr_pending = banks;
    c.st.dirty |= kDirtyPersistent;
  }
  c.put(static_cast<TPMI_YES_NO>(possible ? 1 : 0));
  c.put(profile::kNumPcrs);
  c.put(needed);
  c.put(available);
  return TPM_RC_SUCCESS;
}

// Part 3 §22.7: the platform sets the policy of the PCR policy group pcrNum belongs to (an
// empty digest with TPM_ALG_NULL removes it). It persists (record kRecPersistent).
TPM_RC TPM2_PCR_SetAuthPolicy(Command& c) {
  TPM2B_DIGEST auth_policy;
  TPMI_ALG_HASH_NULL hash_alg;
  uint32_t pcr_num;  // TPMI_DH_PCR
  if (TPM_RC rc = c.parse(auth_policy, hash_alg, pcr_num)) return rc;
  if (auth_policy.size != digest_size(hash_alg)) return rc_param(TPM_RC_SIZE, 1);
  if (pcr_num >= profile::kNumPcrs || !pcr_in_group(pcr_num)) return rc_param(TPM_RC_VALUE, 3);
  TPMT_HA& policy = c.st.pers.pcr_policy;
  policy = TPMT_HA{};
  policy.hashAlg = hash_alg;
  std::memcpy(policy.digest.bytes, auth_policy.buffer, auth_policy.size);
  c.st.dirty |= kDirtyPersistent;
  return TPM_RC_SUCCESS;
}

// Part 3 §22.8: the authValue of the PCR auth group pcrHandle belongs to (state-clear data:
// a TPM Reset or Restart empties it, a Resume keeps it). A PCR outside the group: TPM_RC_VALUE.
TPM_RC TPM2_PCR_SetAuthValue(Command& c) {
  TPM2B_DIGEST auth;
  if (TPM_RC rc = c.parse(auth)) return rc;
  if (!pcr_in_group(c.handles[0])) return TPM_RC_VALUE;  // unnumbered, as swtpm answers
  if (auth.size > sizeof c.st.pcr_auth.buffer) return rc_param(TPM_RC_SIZE, 1);
  c.st.pcr_auth.assign(auth.view());
  crypto::zeroize(auth);
  return TPM_RC_SUCCESS;
}

}  // namespace utpm::tpm
