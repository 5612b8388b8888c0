// Transient object slots. Handles are TRANSIENT_FIRST + slot index, as the slot count is small
// (profile::kMaxLoadedObjects) and a handle's meaning ends when the object is flushed.
#include <memory>

#include "crypto/crypto.h"
#include "tpm/subsystem/subsystems.h"

namespace utpm::tpm {

ObjectSlot* object_at(State& st, TPM_HANDLE h) {
  if (handle_type(h) != TPM_HT_TRANSIENT) return nullptr;
  uint32_t i = h - TRANSIENT_FIRST;
  if (i >= profile::kMaxLoadedObjects || st.objects[i].kind == SlotKind::empty) return nullptr;
  return &st.objects[i];
}

TPM_HANDLE object_handle(const State& st, const ObjectSlot* slot) {
  return TRANSIENT_FIRST + static_cast<uint32_t>(slot - st.objects);
}

ObjectSlot* object_allocate(State& st) {
  for (auto& s : st.objects)
    if (s.kind == SlotKind::empty) return &s;
  return nullptr;
}

void object_flush(ObjectSlot& slot) {
  crypto::zeroize(slot);  // auth values and hash states
  std::construct_at(&slot);  // in place, no stack temporary
}

void objects_flush_all(State& st) {
  for (auto& s : st.objects) object_flush(s);
}

size_t objects_loaded(const State& st) {
  size_t n = 0;
  for (const auto& s : st.objects) n += s.kind != SlotKind::empty;
  return n;
}

}  // namespace utpm::tpm
