// The entity behind a handle (Part 1 §14-§16), resolved once by the dispatcher: its kind, Name,
// authValue, authPolicy and dictionary-attack protection. Authorization, cpHash, bound
// sessions and handlers read these fields instead of looking the handle up again; a new kind of
// entity (NV indices) is one more case in entity_resolve().
#pragma once

#include <cstdint>
#include <span>

#include "tpm/state.h"
#include "tpm/types/object.h"

namespace utpm::tpm {

enum class EntityKind : uint8_t {
  none,       // no handle
  permanent,  // TPM_RH_* (hierarchies, lockout, NULL, ...)
  pcr,
  object,     // a loaded key or data object (transient, or persistent loaded for the command)
  sequence,   // a hash, HMAC or event sequence object
  session,    // a loaded HMAC or policy session
  nv_index,   // an NV index (its public area loaded into an NvSlot for the command)
};

struct Entity {
  TPM_HANDLE handle = 0;
  EntityKind kind = EntityKind::none;
  ObjectSlot* object = nullptr;      // object and sequence
  SessionSlot* session = nullptr;    // session
  NvSlot* nv = nullptr;              // nv_index
  TPM2B_NAME name;                   // an object's digest Name, empty for a sequence, else the handle
  const TPM2B_AUTH* auth = nullptr;  // the live authValue (nullptr: the entity has none)
  bool da_protected = false;         // failed authorizations count (Part 1 §19.8)
  TPM_ALG_ID policy_alg = TPM_ALG_NULL;  // TPM_ALG_NULL: no authPolicy
  std::span<const uint8_t> policy;       // the authPolicy digest

  // An object or sequence that the command has since flushed (SequenceComplete).
  bool gone() const {
    return (kind == EntityKind::object || kind == EntityKind::sequence) && object->kind == SlotKind::empty;
  }
};

// Resolves h against the TPM's current state. TPM_RC_HANDLE if it names nothing.
TPM_RC entity_resolve(State& st, TPM_HANDLE h, Entity& out);
// The Name of a handle that is its own Name (permanent handles, PCRs, sessions): 4 octets.
void handle_name(TPM_HANDLE h, uint8_t (&out)[4]);
// What a bound session remembers of its bind entity: H_hash(Name || authValue without trailing
// zeros). A session is bound to an entity only if both still match (Part 1 §19.6.10; Names
// alone are not unique: every sequence object has the empty Name).
void bind_identity(const Entity& e, TPM_ALG_ID hash, TPM2B_DIGEST& out);
// Whether a policy session's digest satisfies the entity's authPolicy: same hash, same digest
// (constant time). An entity without an authPolicy is never satisfied.
bool policy_satisfied(const Entity& e, const SessionSlot& s);

}  // namespace utpm::tpm
