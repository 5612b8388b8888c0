// Small helpers shared by the commands that use keys.
#pragma once

#include "tpm/core/command.h"
#include "tpm/subsystem/subsystems.h"

namespace utpm::tpm {

// The key/data object behind handle i of the command, or nullptr for a sequence object.
inline ObjectSlot* loaded_key(Command& c, unsigned i) {
  ObjectSlot* o = object_at(c.st, c.handles[i]);
  return o && o->kind == SlotKind::object ? o : nullptr;
}
// The same, but only if its private part is loaded (not a public-only LoadExternal).
inline ObjectSlot* loaded_private_key(Command& c, unsigned i) {
  ObjectSlot* o = loaded_key(c, i);
  return o && !o->public_only ? o : nullptr;
}

// The NULL-terminated-label rule of RSA encryption (Part 1 §B.10.3): an empty label, or one
// whose last octet is zero.
inline bool label_ok(const TPM2B_DATA& label) { return label.size == 0 || label.buffer[label.size - 1] == 0; }

}  // namespace utpm::tpm
