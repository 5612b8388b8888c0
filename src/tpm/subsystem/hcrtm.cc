// The H-CRTM / D-RTM Event sequence (Part 3 §6.1-6.3, Part 1 "H-CRTM" and "D-RTM"): the TPM
// interface's _TPM_Hash_Start / _TPM_Hash_Data / _TPM_Hash_End indications, sent at
// locality 4. The sequence lives in a transient object slot as an event sequence (one hash per
// implemented algorithm), marked `hcrtm` so at most one exists.
//
// Readings taken (checked against swtpm 0.7 / libtpms, tests/e2e/hcrtm_test.py):
// - Before TPM2_Startup, _TPM_Hash_End sets PCR 0 of every active bank to its locality-4
//   initial value 0...04 and extends H(data) into it: PCR0 = H(0...04 || H(data)). The next
//   Startup(CLEAR) keeps PCR 0 as it is (pcr_startup).
// - After Startup it resets PCR 17-22 (the PC Client D-RTM PCRs) of every bank to zero and
//   extends H(data) into PCR 17: PCR17 = H(0...0 || H(data)).
// - _TPM_Hash_Start with no free slot flushes a loaded object so the sequence always starts;
//   a second _TPM_Hash_Start abandons the first sequence.
#include <cstring>

#include "crypto/crypto.h"
#include "tpm/subsystem/subsystems.h"
#include "tpm/tpm.h"

namespace utpm::tpm {
namespace {

ObjectSlot* hcrtm_slot(State& st) {
  for (auto& s : st.objects)
    if (s.kind == SlotKind::event_sequence && s.hcrtm) return &s;
  return nullptr;
}

bool accepts_indications(const State& st) { return st.powered && !st.failure.active; }

}  // namespace

void Tpm::hash_start() {
  if (!accepts_indications(st_)) return;
  if (ObjectSlot* old = hcrtm_slot(st_)) object_flush(*old);
  ObjectSlot* s = object_allocate(st_);
  if (!s) {
    // Part 3 §6.1: the TPM makes room so the sequence always starts.
    object_flush(st_.objects[0]);
    s = &st_.objects[0];
  }
  s->kind = SlotKind::event_sequence;
  s->hcrtm = true;
  for (size_t i = 0; i < kHashCount; ++i) crypto::hash_start(s->hash[i], to_crypto(kHashAlgs[i]));
}

void Tpm::hash_data(std::span<const uint8_t> data) {
  if (!accepts_indications(st_)) return;
  ObjectSlot* s = hcrtm_slot(st_);
  if (!s) return;
  for (size_t i = 0; i < kHashCount; ++i) crypto::hash_update(s->hash[i], data);
}

void Tpm::hash_end() {
  if (!accepts_indications(st_)) return;
  ObjectSlot* s = hcrtm_slot(st_);
  if (!s) return;
  const bool before_startup = st_.phase != Phase::operational;
  const uint32_t pcr = before_startup ? 0 : 17;
  for (int b = 0; b < st_.pcr.count; ++b) {
    if (before_startup) {
      std::span<uint8_t> v = pcr_value(st_, b, 0);
      std::memset(v.data(), 0, v.size());
      v[v.size() - 1] = 4;  // locality-4 initial value: the H-CRTM indication
    } else {
      for (uint32_t p = 17; p <= 22; ++p) {
        std::span<uint8_t> v = pcr_value(st_, b, p);
        std::memset(v.data(), 0, v.size());
      }
    }
  }
  for (size_t i = 0; i < kHashCount; ++i) {
    uint8_t digest[crypto::kMaxDigestSize];
    const size_t n = crypto::hash_finish(s->hash[i], digest);
    const int bank = pcr_bank(st_, kHashAlgs[i]);
    if (bank >= 0) pcr_extend_bank(st_, bank, pcr, {digest, n});
  }
  if (before_startup) st_.hcrtm_pre_startup = true;
  ++st_.pcr.update_counter;
  st_.tpm_established = true;
  object_flush(*s);
}

}  // namespace utpm::tpm
