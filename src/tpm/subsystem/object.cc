// Transient object slots. Handles are TRANSIENT_FIRST + slot index, as the slot count is small
// (profile::kMaxLoadedObjects) and a handle's meaning ends when the object is flushed.
#include <memory>

#include "crypto/crypto.h"
#include "tpm/subsystem/subsystems.h"

namespace utpm::tpm {

ObjectSlot* object_at(State& st, TPM_HANDLE h) {
  if (handle_type(h) == TPM_HT_PERSISTENT) {
    for (auto& s : st.objects)
      if (s.kind != SlotKind::empty && s.evict_handle == h) return &s;
    return nullptr;
  }
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

void objects_flush_hierarchy(State& st, TPM_HANDLE hierarchy) {
  for (auto& s : st.objects)
    if (s.kind == SlotKind::object && s.hierarchy == hierarchy) object_flush(s);
}

size_t objects_loaded(const State& st) {
  size_t n = 0;
  for (const auto& s : st.objects) n += s.kind != SlotKind::empty && s.evict_handle == 0;
  return n;
}

}  // namespace utpm::tpm

#include "tpm/platform.h"
#include "tpm/tpm.h"

namespace utpm::tpm {

int persistent_index(const State& st, TPM_HANDLE h) {
  for (uint32_t i = 0; i < st.pers.persistent_count; ++i)
    if (st.pers.persistent[i] == h) return static_cast<int>(i);
  return -1;
}

TPM_RC persistent_load(Tpm& tpm, TPM_HANDLE h) {
  State& st = tpm.state();
  if (object_at(st, h)) return TPM_RC_SUCCESS;  // already loaded for this command
  if (persistent_index(st, h) < 0) return TPM_RC_HANDLE;
  ObjectSlot* slot = object_allocate(st);
  if (!slot) return TPM_RC_OBJECT_MEMORY;
  uint8_t buf[profile::kMaxContextSize];
  size_t len = 0;
  NvStore::Result res = tpm.platform().nv().read(h, buf, len);
  TPM_RC rc = TPM_RC_SUCCESS;
  if (res != NvStore::Result::ok) {
    rc = TPM_RC_FAILURE;
    if (res == NvStore::Result::integrity_error) enter_failure(st, FailureCause::nv_integrity);
  } else {
    Reader r({buf, len});
    rc = object_deserialize(r, *slot) == TPM_RC_SUCCESS ? TPM_RC_SUCCESS : TPM_RC_FAILURE;
  }
  crypto::zeroize(buf);
  if (rc != TPM_RC_SUCCESS) {
    object_flush(*slot);
    return rc;
  }
  slot->evict_handle = h;
  return TPM_RC_SUCCESS;
}

void persistent_unload_all(State& st) {
  for (auto& s : st.objects)
    if (s.kind != SlotKind::empty && s.evict_handle != 0) object_flush(s);
}

}  // namespace utpm::tpm
