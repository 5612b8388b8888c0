// Part 3 chapter 13: Duplication commands (Duplicate, Rewrap, Import).
// The wrappers are Part 1 §23.3's (subsystem/protect.cc, duplicate_wrap/duplicate_unwrap): a
// duplication blob is the spec's format on the wire (no IV); Import's output is our own
// TPM2B_PRIVATE (with its IV), which Load reads. docs/engine.md "Duplication" lists the readings.
#include <cstring>

#include "crypto/crypto.h"
#include "tpm/commands/commands.h"
#include "tpm/commands/keys_common.h"
#include "tpm/subsystem/subsystems.h"
#include "tpm/tpm.h"

namespace utpm::tpm {
namespace {

// A parent that can receive a duplication seed (Part 3 "storage key"): an asymmetric restricted
// decryption key. A symmetric storage parent has no key exchange.
bool asymmetric_storage(const ObjectSlot* o) {
  return o && is_storage_parent(*o) && (o->pub.type == TPM_ALG_RSA || o->pub.type == TPM_ALG_ECC);
}

uint16_t inner_bits(const TPMT_SYM_DEF_OBJECT& sym) {
  return sym.algorithm == TPM_ALG_NULL ? 0 : uint16_t(sym.keyBits);
}

}  // namespace

TPM_RC TPM2_Duplicate(Command& c) {
  TPM2B_DATA key;  // encryptionKeyIn, then encryptionKeyOut
  crypto::ZeroizeOnExit wipe_key{key};
  TPMT_SYM_DEF_OBJECT sym;
  if (TPM_RC rc = c.parse(key, sym)) return rc;
  const ObjectSlot* obj = loaded_key(c, 0);
  if (!obj) return rc_handle(TPM_RC_TYPE, 1);  // a sequence object has nothing to duplicate
  const TPMA_OBJECT& a = obj->pub.objectAttributes;
  if (a.has(TPMA_OBJECT_fixedParent)) return rc_handle(TPM_RC_ATTRIBUTES, 1);
  if (obj->pub.nameAlg == TPM_ALG_NULL) return rc_handle(TPM_RC_TYPE, 1);
  if (obj->public_only) return rc_handle(TPM_RC_KEY, 1);  // no sensitive area to duplicate
  const bool to_null = c.handles[1] == TPM_RH_NULL;
  const ObjectSlot* parent = to_null ? nullptr : c.entities[1].object;
  if (!to_null && !asymmetric_storage(parent)) return rc_handle(TPM_RC_TYPE, 2);
  const bool inner = sym.algorithm != TPM_ALG_NULL;
  if (a.has(TPMA_OBJECT_encryptedDuplication)) {
    if (!inner) return rc_param(TPM_RC_SYMMETRIC, 2);
    if (to_null) return rc_handle(TPM_RC_HIERARCHY, 2);
  }
  if (key.size != 0 && (!inner || key.size != inner_bits(sym) / 8u)) return rc_param(TPM_RC_SIZE, 1);

  // The outer wrapper's seed, shared with the new parent.
  TPM2B_DIGEST seed;
  crypto::ZeroizeOnExit wipe_seed{seed};
  TPM2B_ENCRYPTED_SECRET secret;
  if (parent) {
    if (TPM_RC rc = secret_seed_make(*parent, kLabelDuplicate, tpm_random_source(c.tpm), seed, secret))
      return rc == TPM_RC_FAILURE && parent->pub.type == TPM_ALG_ECC ? rc_handle(TPM_RC_KEY, 2) : rc;
  }
  // The inner wrapper's key: the caller's, else a fresh one. encryptionKeyOut carries only a key
  // the TPM generated (Part 3 §13.1: empty when the caller gave one or there is no inner wrapper).
  const bool generated = inner && key.size == 0;
  if (generated) {
    key.size = static_cast<uint16_t>(inner_bits(sym) / 8u);
    if (!tpm_random(c.tpm, {key.buffer, key.size})) return TPM_RC_FAILURE;
  }
  if (generated) {
    c.put(key);
  } else {
    c.put(uint16_t{0});
  }
  // The blob is written straight into the response (no TPM2B_PRIVATE on the stack).
  const size_t size_at = c.out.reserve(2);
  size_t len = 0;
  TPM_RC rc;
  {
    TPMT_SENSITIVE sens;
    object_sensitive(*obj, sens);
    DuplicationKeys k;
    k.name_alg = obj->pub.nameAlg;
    k.inner_alg = sym.algorithm;
    k.inner_bits = inner_bits(sym);
    k.inner_key = key.view();
    if (parent) {
      k.outer_hash = parent->pub.nameAlg;
      k.outer_alg = object_symmetric(parent->pub).algorithm;
      k.outer_bits = object_symmetric(parent->pub).keyBits;
      k.seed = seed.view();
    }
    std::span<uint8_t> room = c.out.spare();
    if (room.size() > kMaxPrivateSize) room = room.first(kMaxPrivateSize);
    rc = duplicate_wrap(k, obj->name, sens, room, len);
    crypto::zeroize(sens);
  }
  if (rc != TPM_RC_SUCCESS) return rc;
  c.out.commit(len);
  c.out.patch16(size_at, static_cast<uint16_t>(len));
  if (parent) {
    c.put(secret);
  } else {
    c.put(uint16_t{0});
  }
  return c.out.overflow() ? TPM_RC_FAILURE : TPM_RC_SUCCESS;
}

TPM_RC TPM2_Rewrap(Command& c) {
  TPM2B_PRIVATE blob;  // inDuplicate, rewrapped in place into outDuplicate
  TPM2B_NAME name;
  TPM2B_ENCRYPTED_SECRET secret;  // inSymSeed, then outSymSeed
  if (TPM_RC rc = c.parse(blob, name, secret)) return rc;
  const bool from_null = c.handles[0] == TPM_RH_NULL;
  const bool to_null = c.handles[1] == TPM_RH_NULL;
  // An outer wrapper comes with a seed, and only then with an old parent.
  if ((secret.size == 0) != from_null) return rc_handle(TPM_RC_HANDLE, 1);
  size_t off = 0, len = blob.size;
  if (!from_null) {
    const ObjectSlot* old_parent = c.entities[0].object;
    if (!asymmetric_storage(old_parent) || old_parent->public_only) return rc_handle(TPM_RC_TYPE, 1);
    TPM2B_DIGEST seed;
    crypto::ZeroizeOnExit wipe_seed{seed};
    if (secret_seed_recover(*old_parent, kLabelDuplicate, tpm_random_source(c.tpm), secret, seed) != TPM_RC_SUCCESS)
      return rc_param(TPM_RC_VALUE, 3);
    std::span<uint8_t> data;
    if (TPM_RC rc = duplicate_outer_unwrap(old_parent->pub.nameAlg, object_symmetric(old_parent->pub).algorithm,
                                           object_symmetric(old_parent->pub).keyBits,
                                           seed.view(), name, {blob.buffer, blob.size}, data))
      return rc_param(rc, 1);
    off = static_cast<size_t>(data.data() - blob.buffer);
    len = data.size();
  }
  if (!to_null) {
    const ObjectSlot* new_parent = c.entities[1].object;
    if (!asymmetric_storage(new_parent)) return rc_handle(TPM_RC_TYPE, 2);
    TPM2B_DIGEST seed;
    crypto::ZeroizeOnExit wipe_seed{seed};
    if (TPM_RC rc = secret_seed_make(*new_parent, kLabelDuplicate, tpm_random_source(c.tpm), seed, secret))
      return rc == TPM_RC_FAILURE && new_parent->pub.type == TPM_ALG_ECC ? rc_handle(TPM_RC_KEY, 2) : rc;
    const size_t head = 2u + digest_size(new_parent->pub.nameAlg);
    if (len + head > sizeof blob.buffer) return rc_param(TPM_RC_VALUE, 1);
    std::memmove(blob.buffer + head, blob.buffer + off, len);
    const size_t total = duplicate_outer_wrap(new_parent->pub.nameAlg, object_symmetric(new_parent->pub).algorithm,
                                              object_symmetric(new_parent->pub).keyBits,
                                              seed.view(), name, {blob.buffer, sizeof blob.buffer}, len);
    if (total == 0) return TPM_RC_FAILURE;
    blob.size = static_cast<uint16_t>(total);
  } else {
    std::memmove(blob.buffer, blob.buffer + off, len);
    blob.size = static_cast<uint16_t>(len);
    secret.size = 0;
  }
  c.put(blob);
  c.put(secret);
  crypto::zeroize(blob);  // without an outer wrapper it may hold an inner-wrapped (or plain) area
  return TPM_RC_SUCCESS;
}

TPM_RC TPM2_Import(Command& c) {
  TPM2B_DATA key;  // encryptionKey (inner wrapper)
  crypto::ZeroizeOnExit wipe_key{key};
  TPM2B_PUBLIC pub;
  TPM2B_PRIVATE blob;  // duplicate, then outPrivate
  crypto::ZeroizeOnExit wipe_blob{blob};
  TPM2B_ENCRYPTED_SECRET in_seed;
  TPMT_SYM_DEF_OBJECT sym;
  if (TPM_RC rc = c.parse(key, pub, blob, in_seed, sym)) return rc;
  const TPMA_OBJECT& a = pub.t.objectAttributes;
  if (a.has(TPMA_OBJECT_fixedTPM) || a.has(TPMA_OBJECT_fixedParent)) return rc_param(TPM_RC_ATTRIBUTES, 2);
  const ObjectSlot* parent = c.entities[0].object;
  if (!parent || !is_storage_parent(*parent) || parent->public_only) return rc_handle(TPM_RC_TYPE, 1);
  const bool encrypted_dup = a.has(TPMA_OBJECT_encryptedDuplication);
  if (sym.algorithm != TPM_ALG_NULL) {
    if (key.size != inner_bits(sym) / 8u) return rc_param(TPM_RC_SIZE, 1);
  } else {
    if (key.size != 0) return rc_param(TPM_RC_SIZE, 1);
    if (encrypted_dup) return rc_param(TPM_RC_ATTRIBUTES, 1);  // no inner wrapper
  }
  TPM2B_DIGEST seed;
  crypto::ZeroizeOnExit wipe_seed{seed};
  if (in_seed.size != 0) {
    if (parent->pub.type == TPM_ALG_SYMCIPHER) return rc_handle(TPM_RC_TYPE, 1);  // no key exchange
    if (TPM_RC rc = secret_seed_recover(*parent, kLabelDuplicate, tpm_random_source(c.tpm), in_seed, seed))
      return rc_param(rc, 4);
  } else if (encrypted_dup) {
    return rc_param(TPM_RC_ATTRIBUTES, 4);  // no outer wrapper
  }
  TPM2B_NAME name;
  if (!public_name(pub.t, name)) return rc_param(TPM_RC_HASH, 2);
  TPMT_SENSITIVE sens;
  crypto::ZeroizeOnExit wipe_sens{sens};
  DuplicationKeys k;
  k.name_alg = pub.t.nameAlg;
  k.inner_alg = sym.algorithm;
  k.inner_bits = inner_bits(sym);
  k.inner_key = key.view();
  if (in_seed.size != 0) {
    k.outer_hash = parent->pub.nameAlg;
    k.outer_alg = object_symmetric(parent->pub).algorithm;
    k.outer_bits = object_symmetric(parent->pub).keyBits;
    k.seed = seed.view();
  }
  if (TPM_RC rc = duplicate_unwrap(k, name, {blob.buffer, blob.size}, sens)) return rc_param(rc, 3);
  // Checked as Load will check it: the public area under this parent, then that the sensitive
  // area belongs to it (TPM_RC_BINDING), in a scratch slot (Part 3: TPM_RC_OBJECT_MEMORY).
  if (TPM_RC rc = public_check(pub.t, parent)) return rc_param(rc, 2);
  ObjectSlot* scratch = object_allocate(c.st);
  if (!scratch) return TPM_RC_OBJECT_MEMORY;
  TPM_RC rc = object_from_parts(pub.t, sens, *scratch);
  object_flush(*scratch);
  if (rc != TPM_RC_SUCCESS) return rc_param(rc, 3);
  // outPrivate: our own protected-storage form, as Create makes it.
  if (TPM_RC wrap_rc = sensitive_wrap(*parent, name, sens, tpm_random_source(c.tpm), blob)) return wrap_rc;
  c.put(blob);
  return TPM_RC_SUCCESS;
}

}  // namespace utpm::tpm
