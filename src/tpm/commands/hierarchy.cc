// Part 3 chapter 24: Hierarchy commands.
#include <cstring>

#include "crypto/crypto.h"
#include "crypto/drbg.h"
#include "crypto/kdf.h"
#include "tpm/commands/commands.h"
#include "tpm/commands/creation.h"
#include "tpm/subsystem/nv.h"
#include "tpm/subsystem/primary_cache.h"
#include "tpm/subsystem/subsystems.h"
#include "tpm/tpm.h"

namespace utpm::tpm {

// Primary objects are derived, not stored: a CTR_DRBG is instantiated from
//   KDFa(SHA-256, seed(hierarchy), "Primary Object Creation", H_nameAlg(template), sensitive.data, 384)
// and every secret of the object (primes, scalar, seed value, key bits) is drawn from it. The
// same template and data therefore give the same object until the hierarchy's seed changes.
TPM_RC derive_primary(Command& c, TPM_HANDLE hierarchy, const TPMS_SENSITIVE_CREATE& sens, const TPMT_PUBLIC& tmpl,
                      ObjectSlot*& out) {
  ObjectSlot* slot = object_allocate(c.st);
  if (!slot) return TPM_RC_OBJECT_MEMORY;
  uint8_t template_bytes[sizeof(TPMT_PUBLIC) + 64];
  Writer tw(template_bytes);
  marshal(tw, tmpl);
  uint8_t template_hash[profile::kMaxDigestSize];
  size_t th = crypto::hash(to_crypto(tmpl.nameAlg), tw.written(), template_hash);
  uint8_t seed_material[crypto::kDrbgSeedSize];
  static constexpr char kLabel[] = "Primary Object Creation";
  crypto::kdfa(crypto::HashAlg::sha256, hierarchy_seed(c.st, hierarchy),
               {reinterpret_cast<const uint8_t*>(kLabel), sizeof kLabel - 1}, {template_hash, th}, sens.data.view(),
               crypto::kDrbgSeedSize * 8, seed_material);
  // RSA primes may come from the derivation cache (subsystem/primary_cache.h): the entry is
  // bound to seed_material, i.e. to exactly this derivation.
  const bool cached = primary_cache_applies(hierarchy, tmpl);
  const uint8_t* primes = nullptr;
  const std::span<uint8_t> scratch = c.out.spare();  // nothing written yet: the response comes later
  if (cached) {
    primary_cache_begin(c.st, seed_material);
    primes = primary_cache_lookup(c.tpm, hierarchy, tmpl.parameters.rsaDetail.keyBits, scratch);
  }
  crypto::DrbgState drbg{};
  crypto::drbg_instantiate(drbg, seed_material, {});
  crypto::zeroize(seed_material);
  TPM_RC rc = object_generate(tmpl, sens, crypto::drbg_source(drbg), *slot, primes);
  crypto::zeroize(drbg);
  if (cached) {
    if (primes != nullptr) {
      crypto::zeroize(scratch.data(), scratch.size());
    } else if (rc == TPM_RC_SUCCESS) {
      primary_cache_store(c.tpm, hierarchy, slot->rsa, scratch);
    }
    primary_cache_end(c.st);
  }
  if (rc != TPM_RC_SUCCESS || !public_name(slot->pub, slot->name)) {
    object_flush(*slot);
    return rc != TPM_RC_SUCCESS ? rc : TPM_RC_FAILURE;
  }
  slot->hierarchy = hierarchy;
  uint8_t parent_name[4];
  handle_name(hierarchy, parent_name);
  qualified_name(slot->pub.nameAlg, parent_name, slot->name, slot->qualified_name);
  out = slot;
  return TPM_RC_SUCCESS;
}

TPM_RC TPM2_CreatePrimary(Command& c) {
  TPM2B_SENSITIVE_CREATE in_sensitive;
  crypto::ZeroizeOnExit wipe_sensitive{in_sensitive};  // also on early error returns
  TPM2B_PUBLIC in_public;
  TPM2B_DATA outside_info;
  TPML_PCR_SELECTION creation_pcr;
  if (TPM_RC rc = c.parse(in_sensitive, in_public, outside_info, creation_pcr)) return rc;
  const TPMT_PUBLIC& tmpl = in_public.t;
  if (TPM_RC rc = creation_checks(tmpl, in_sensitive.t, nullptr)) return rc;
  ObjectSlot* slot = nullptr;
  TPM_RC rc = derive_primary(c, c.handles[0], in_sensitive.t, tmpl, slot);
  crypto::zeroize(in_sensitive);
  if (rc != TPM_RC_SUCCESS) return rc;
  uint8_t parent_name[4];
  handle_name(c.handles[0], parent_name);
  c.response_handle = object_handle(c.st, slot);
  c.put(Sized<TPMT_PUBLIC>{0, slot->pub});
  write_creation(c, *slot, TPM_ALG_NULL, {parent_name, 4}, {parent_name, 4}, outside_info, creation_pcr);
  c.put(slot->name);
  return TPM_RC_SUCCESS;
}

}  // namespace utpm::tpm

namespace utpm::tpm {
namespace {

// Removes the persistent objects of a hierarchy (staged with the command's NV changes).
void evict_hierarchy(Tpm& tpm, TPM_HANDLE hierarchy) {
  PersistentData& p = tpm.state().pers;
  uint32_t kept = 0;
  for (uint32_t i = 0; i < p.persistent_count; ++i) {
    if (p.persistent_hierarchy[i] == hierarchy) {
      tpm.platform().nv().remove(p.persistent[i]);
      continue;
    }
    p.persistent[kept] = p.persistent[i];
    p.persistent_hierarchy[kept++] = p.persistent_hierarchy[i];
  }
  p.persistent_count = kept;
  tpm.state().dirty |= kDirtyPersistent;
}

bool fresh(Tpm& tpm, uint8_t* seed, size_t seed_len, uint8_t* proof) {
  return tpm_random(tpm, {seed, seed_len}) && tpm_random(tpm, {proof, profile::kProofSize});
}

}  // namespace

TPM_RC TPM2_HierarchyControl(Command& c) {
  TPM_HANDLE enable = 0;
  TPMI_YES_NO_CHECKED state;
  if (TPM_RC rc = c.parse(enable, state)) return rc;
  if (enable != TPM_RH_OWNER && enable != TPM_RH_ENDORSEMENT && enable != TPM_RH_PLATFORM &&
      enable != TPM_RH_PLATFORM_NV)
    return rc_param(TPM_RC_VALUE, 1);
  const TPM_HANDLE auth = c.handles[0];
  // Only platformAuth enables anything; a hierarchy's own auth may only disable itself.
  if (auth != TPM_RH_PLATFORM && (state.value || enable != auth)) return TPM_RC_AUTH_TYPE;
  State& st = c.st;
  uint8_t* flag = enable == TPM_RH_OWNER         ? &st.sh_enable
                  : enable == TPM_RH_ENDORSEMENT ? &st.eh_enable
                  : enable == TPM_RH_PLATFORM    ? &st.ph_enable
                                                 : &st.ph_enable_nv;
  *flag = state.value;
  if (!state.value && enable != TPM_RH_PLATFORM_NV) objects_flush_hierarchy(st, enable);
  return TPM_RC_SUCCESS;
}

TPM_RC TPM2_SetPrimaryPolicy(Command& c) {
  TPM2B_DIGEST auth_policy;
  TPMI_ALG_HASH_NULL hash_alg;
  if (TPM_RC rc = c.parse(auth_policy, hash_alg)) return rc;
  if (auth_policy.size != digest_size(hash_alg)) return rc_param(TPM_RC_SIZE, 1);
  TPMT_HA* policy = hierarchy_policy(c.st, c.handles[0]);
  policy->hashAlg = hash_alg;
  std::memcpy(policy->digest.bytes, auth_policy.buffer, auth_policy.size);
  if (c.handles[0] != TPM_RH_PLATFORM) c.st.dirty |= kDirtyPersistent;
  return TPM_RC_SUCCESS;
}

TPM_RC TPM2_ChangePPS(Command& c) {
  if (TPM_RC rc = c.parse()) return rc;
  State& st = c.st;
  if (!fresh(c.tpm, st.pers.pps, sizeof st.pers.pps, st.pers.ph_proof)) return TPM_RC_FAILURE;
  st.platform_policy = TPMT_HA{};
  objects_flush_hierarchy(st, TPM_RH_PLATFORM);
  evict_hierarchy(c.tpm, TPM_RH_PLATFORM);
  primary_cache_invalidate(c.tpm, TPM_RH_PLATFORM, c.out.spare());
  return TPM_RC_SUCCESS;
}

TPM_RC TPM2_ChangeEPS(Command& c) {
  if (TPM_RC rc = c.parse()) return rc;
  State& st = c.st;
  if (!fresh(c.tpm, st.pers.eps, sizeof st.pers.eps, st.pers.eh_proof)) return TPM_RC_FAILURE;
  st.pers.endorsement_auth = TPM2B_AUTH{};
  st.pers.endorsement_policy = TPMT_HA{};
  objects_flush_hierarchy(st, TPM_RH_ENDORSEMENT);
  evict_hierarchy(c.tpm, TPM_RH_ENDORSEMENT);
  primary_cache_invalidate(c.tpm, TPM_RH_ENDORSEMENT, c.out.spare());
  return TPM_RC_SUCCESS;
}

TPM_RC TPM2_Clear(Command& c) {
  if (TPM_RC rc = c.parse()) return rc;
  State& st = c.st;
  if (st.pers.disable_clear) return TPM_RC_DISABLED;
  // A new owner: new storage seed and proofs, no auth or policy, nothing of the old owner's
  // or endorsement hierarchy's objects left (Part 3 §24.6). The EPS stays.
  if (!fresh(c.tpm, st.pers.sps, sizeof st.pers.sps, st.pers.sh_proof) ||
      !tpm_random(c.tpm, st.pers.eh_proof))
    return TPM_RC_FAILURE;
  st.pers.owner_auth = st.pers.endorsement_auth = st.pers.lockout_auth = TPM2B_AUTH{};
  st.pers.owner_policy = st.pers.endorsement_policy = st.pers.lockout_policy = TPMT_HA{};
  st.pers.failed_tries = 0;
  st.sh_enable = st.eh_enable = 1;
  for (TPM_HANDLE h : {TPM_RH_OWNER, TPM_RH_ENDORSEMENT}) {
    objects_flush_hierarchy(st, h);
    evict_hierarchy(c.tpm, h);
  }
  if (TPM_RC rc = nv_clear_owner(c.tpm)) return rc;  // owner NV indices go too
  primary_cache_invalidate(c.tpm, TPM_RH_OWNER, c.out.spare());  // the SPS changed (the EPS did not)
  st.dirty |= kDirtyPersistent;
  return TPM_RC_SUCCESS;
}

TPM_RC TPM2_ClearControl(Command& c) {
  TPMI_YES_NO_CHECKED disable;
  if (TPM_RC rc = c.parse(disable)) return rc;
  // lockoutAuth may forbid Clear; only platformAuth may allow it again.
  if (c.handles[0] == TPM_RH_LOCKOUT && !disable.value) return TPM_RC_AUTH_FAIL;
  c.st.pers.disable_clear = disable.value;
  c.st.dirty |= kDirtyPersistent;
  return TPM_RC_SUCCESS;
}

// Part 3 §24.9 (1.84): enters (state YES) or leaves (NO) Read-Only mode. The mode itself is
// enforced by the dispatcher (commands flagged kCmdReadOnlyRefused), by the NV write/lock
// commands for indices that are not ORDERLY+CLEAR_STCLEAR, and by PolicySecret on PIN indices.
// State-clear data: the command table marks it as changing what Shutdown(STATE) saved.
TPM_RC TPM2_ReadOnlyControl(Command& c) {
  TPMI_YES_NO_CHECKED state;
  if (TPM_RC rc = c.parse(state)) return rc;
  c.st.read_only = state.value;
  return TPM_RC_SUCCESS;
}

TPM_RC TPM2_HierarchyChangeAuth(Command& c) {
  TPM2B_AUTH new_auth;
  crypto::ZeroizeOnExit wipe_auth{new_auth};
  if (TPM_RC rc = c.parse(new_auth)) return rc;
  const size_t n = auth_trimmed(&new_auth).size();
  if (n > digest_size(TPM_ALG_SHA256)) return rc_param(TPM_RC_SIZE, 1);  // the context hash
  new_auth.size = static_cast<uint16_t>(n);
  State& st = c.st;
  switch (c.handles[0]) {
    case TPM_RH_PLATFORM: st.platform_auth = new_auth; break;
    case TPM_RH_OWNER: st.pers.owner_auth = new_auth; st.dirty |= kDirtyPersistent; break;
    case TPM_RH_ENDORSEMENT: st.pers.endorsement_auth = new_auth; st.dirty |= kDirtyPersistent; break;
    case TPM_RH_LOCKOUT: st.pers.lockout_auth = new_auth; st.dirty |= kDirtyPersistent; break;
  }
  crypto::zeroize(new_auth);
  return TPM_RC_SUCCESS;
}

}  // namespace utpm::tpm
