// PCR banks and the PC Client platform attributes (PC Client PTP, PCR table): which
// localities may reset or extend each PCR, which survive Shutdown(STATE), which are D-RTM PCRs.
#include <cstring>

#include "crypto/crypto.h"
#include "tpm/subsystem/subsystems.h"

namespace utpm::tpm {

PcrAttributes pcr_attributes(uint32_t pcr) {
  // Locality masks: bit n = locality n.
  if (pcr <= 15) return {true, 0x00, 0x1F, false};  // static RTM: no reset, any extend
  switch (pcr) {
    case 16: return {false, 0x1F, 0x1F, false};  // debug
    case 17: return {false, 0x10, 0x1C, true};   // D-RTM, locality 4 reset
    case 18: return {false, 0x10, 0x1C, true};
    case 19: return {false, 0x10, 0x0C, true};
    case 20: return {false, 0x14, 0x0E, true};
    case 21: return {false, 0x04, 0x04, true};   // dynamic OS
    case 22: return {false, 0x04, 0x04, true};
    case 23: return {false, 0x1F, 0x1F, false};  // application specific
    default: return {false, 0, 0, false};
  }
}

static bool locality_in(uint8_t mask, uint8_t locality) {
  return locality <= 4 && (mask >> locality & 1);
}

TPM_RC pcr_check_extend_locality(uint32_t pcr, uint8_t locality) {
  return locality_in(pcr_attributes(pcr).extend_locality, locality) ? TPM_RC_SUCCESS : TPM_RC_LOCALITY;
}

int pcr_bank(const State& st, TPM_ALG_ID alg) {
  for (int i = 0; i < st.pcr.count; ++i)
    if (st.pcr.alg[i] == alg) return i;
  return -1;
}

static size_t bank_offset(const State& st, int bank) {
  size_t off = 0;
  for (int i = 0; i < bank; ++i) off += size_t{digest_size(st.pcr.alg[i])} * profile::kNumPcrs;
  return off;
}

std::span<uint8_t> pcr_value(State& st, int bank, uint32_t pcr) {
  size_t n = digest_size(st.pcr.alg[bank]);
  return {st.pcr.values + bank_offset(st, bank) + pcr * n, n};
}
std::span<const uint8_t> pcr_value(const State& st, int bank, uint32_t pcr) {
  size_t n = digest_size(st.pcr.alg[bank]);
  return {st.pcr.values + bank_offset(st, bank) + pcr * n, n};
}

void pcr_extend_bank(State& st, int bank, uint32_t pcr, std::span<const uint8_t> digest) {
  std::span<uint8_t> v = pcr_value(st, bank, pcr);
  crypto::HashState h;
  crypto::hash_start(h, to_crypto(st.pcr.alg[bank]));
  crypto::hash_update(h, v);
  crypto::hash_update(h, digest);
  crypto::hash_finish(h, v);
}

void pcr_apply_allocation(State& st) {
  st.pcr.count = 0;
  for (size_t i = 0; i < profile::kMaxPcrBanks; ++i)
    if (st.pers.pcr_active >> i & 1) st.pcr.alg[st.pcr.count++] = profile::kPcrBankAlgs[i];
  for (size_t i = st.pcr.count; i < profile::kMaxPcrBanks; ++i) st.pcr.alg[i] = TPM_ALG_NULL;
  std::memset(st.pcr.values, 0, sizeof st.pcr.values);
}

void pcr_startup(State& st, uint8_t startup_locality, bool keep_saved) {
  for (int b = 0; b < st.pcr.count; ++b) {
    for (uint32_t p = 0; p < profile::kNumPcrs; ++p) {
      PcrAttributes a = pcr_attributes(p);
      if (keep_saved && a.state_save) continue;
      std::span<uint8_t> v = pcr_value(st, b, p);
      std::memset(v.data(), a.drtm_reset ? 0xFF : 0x00, v.size());
      // PCR 0 records the locality of Startup when it is 3 (H-CRTM rules aside).
      if (p == 0 && startup_locality == 3) v[v.size() - 1] = 3;
    }
  }
}

}  // namespace utpm::tpm
