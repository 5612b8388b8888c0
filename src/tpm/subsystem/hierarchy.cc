// Hierarchies as authorization entities: whose authValue a handle names, whether the
// dictionary-attack logic protects it, and the proof values that key tickets.
#include "crypto/crypto.h"
#include "tpm/subsystem/subsystems.h"

namespace utpm::tpm {

TPM_RC entity_auth(State& st, TPM_HANDLE h, EntityAuth& out) {
  // Permanent handles other than lockout are exempt from DA protection (Part 1 §19.8.2).
  switch (h) {
    case TPM_RH_OWNER: out = {&st.pers.owner_auth, false}; return TPM_RC_SUCCESS;
    case TPM_RH_ENDORSEMENT: out = {&st.pers.endorsement_auth, false}; return TPM_RC_SUCCESS;
    case TPM_RH_PLATFORM: out = {&st.platform_auth, false}; return TPM_RC_SUCCESS;
    case TPM_RH_LOCKOUT: out = {&st.pers.lockout_auth, false}; return TPM_RC_SUCCESS;
    case TPM_RH_NULL: out = {nullptr, false}; return TPM_RC_SUCCESS;
    default: break;
  }
  if (h < profile::kNumPcrs) {
    out = {nullptr, false};  // PCR authValues are empty in this profile
    return TPM_RC_SUCCESS;
  }
  if (ObjectSlot* o = object_at(st, h)) {
    // Sequence objects are not DA protected: their auth is chosen by the same caller that
    // uses it, and a lockout would only deny service. Objects are, unless noDA is SET.
    bool da = o->kind == SlotKind::object && !o->pub.objectAttributes.has(TPMA_OBJECT_noDA);
    out = {&o->auth, da};
    return TPM_RC_SUCCESS;
  }
  return TPM_RC_HANDLE;
}

size_t entity_name(State& st, TPM_HANDLE h, std::span<uint8_t> out) {
  if (ObjectSlot* o = object_at(st, h)) {
    // A sequence object's Name is the Empty Buffer (it has no public area to digest).
    if (o->kind != SlotKind::object) return 0;
    if (out.size() < o->name.size) return kNameDoesNotFit;
    for (size_t i = 0; i < o->name.size; ++i) out[i] = o->name.buffer[i];
    return o->name.size;
  }
  // Everything else this build has is named by its handle; keys and NV indices get digest
  // Names when they arrive.
  if (out.size() < 4) return kNameDoesNotFit;
  for (int i = 0; i < 4; ++i) out[i] = static_cast<uint8_t>(h >> (24 - 8 * i));
  return 4;
}

TPM_RC bind_identity(State& st, TPM_HANDLE h, TPM_ALG_ID hash, TPM2B_DIGEST& out) {
  uint8_t name[2 + profile::kMaxDigestSize];
  const size_t n = entity_name(st, h, name);
  EntityAuth ea{};
  if (n == kNameDoesNotFit || !hash_implemented(hash)) return TPM_RC_FAILURE;
  if (TPM_RC rc = entity_auth(st, h, ea)) return rc;
  crypto::HashState hs;
  crypto::hash_start(hs, to_crypto(hash));
  crypto::hash_update(hs, {name, n});
  crypto::hash_update(hs, auth_trimmed(ea.auth));
  out.size = static_cast<uint16_t>(crypto::hash_finish(hs, out.buffer));
  crypto::zeroize(hs);  // it has seen the authValue
  return TPM_RC_SUCCESS;
}

bool entity_policy(State& st, TPM_HANDLE h, TPM_ALG_ID& alg, std::span<const uint8_t>& digest) {
  const TPMT_HA* policy = nullptr;
  switch (h) {
    case TPM_RH_OWNER: policy = &st.pers.owner_policy; break;
    case TPM_RH_ENDORSEMENT: policy = &st.pers.endorsement_policy; break;
    case TPM_RH_LOCKOUT: policy = &st.pers.lockout_policy; break;
    case TPM_RH_PLATFORM: policy = &st.platform_policy; break;
    default: break;
  }
  if (policy) {
    if (policy->hashAlg == TPM_ALG_NULL) return false;
    alg = policy->hashAlg;
    digest = {policy->digest.bytes, digest_size(alg)};
    return true;
  }
  if (ObjectSlot* o = object_at(st, h); o && o->kind == SlotKind::object) {
    alg = o->pub.nameAlg;
    digest = o->pub.authPolicy.view();
    return true;
  }
  return false;  // PCRs have no authPolicy in this profile; sequences have none
}

bool policy_satisfied(State& st, const SessionSlot& s, TPM_HANDLE entity) {
  TPM_ALG_ID alg = TPM_ALG_NULL;
  std::span<const uint8_t> policy;
  if (!entity_policy(st, entity, alg, policy) || alg != s.auth_hash) return false;
  return policy.size() == s.policy_digest.size && crypto::ct_equal(policy, s.policy_digest.view());
}

std::span<const uint8_t> auth_trimmed(const TPM2B_AUTH* a) {
  if (!a) return {};
  size_t n = a->size;
  while (n > 0 && a->buffer[n - 1] == 0) --n;
  return {a->buffer, n};
}

std::span<const uint8_t> hierarchy_proof(const State& st, TPM_HANDLE hierarchy) {
  switch (hierarchy) {
    case TPM_RH_OWNER: return st.pers.sh_proof;
    case TPM_RH_PLATFORM: return st.pers.ph_proof;
    case TPM_RH_ENDORSEMENT: return st.pers.eh_proof;
    case TPM_RH_NULL: return st.null_proof;
    default: return {};
  }
}

bool hierarchy_enabled(const State& st, TPM_HANDLE hierarchy) {
  switch (hierarchy) {
    case TPM_RH_OWNER: return st.sh_enable;
    case TPM_RH_PLATFORM: return st.ph_enable;
    case TPM_RH_ENDORSEMENT: return st.eh_enable;
    default: return true;
  }
}

}  // namespace utpm::tpm
