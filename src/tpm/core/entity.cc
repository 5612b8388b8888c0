// Entities: what a handle names, resolved once per command (see entity.h).
#include "tpm/core/entity.h"

#include "crypto/crypto.h"
#include "tpm/subsystem/nv.h"
#include "tpm/subsystem/subsystems.h"

namespace utpm::tpm {
namespace {

const TPM2B_AUTH* permanent_auth(const State& st, TPM_HANDLE h) {
  switch (h) {
    case TPM_RH_OWNER: return &st.pers.owner_auth;
    case TPM_RH_ENDORSEMENT: return &st.pers.endorsement_auth;
    case TPM_RH_PLATFORM: return &st.platform_auth;
    case TPM_RH_LOCKOUT: return &st.pers.lockout_auth;
    default:
      // An ACT is authorized with platformAuth or its own policy (as the reference TPM);
      // TPM_RH_NULL and the others have the empty authValue.
      return act_implemented(h) ? &st.platform_auth : nullptr;
  }
}

void set_handle_name(TPM_HANDLE h, TPM2B_NAME& name) {
  uint8_t b[4];
  handle_name(h, b);
  name.assign(b);
}

}  // namespace

void handle_name(TPM_HANDLE h, uint8_t (&out)[4]) {
  for (int i = 0; i < 4; ++i) out[i] = static_cast<uint8_t>(h >> (24 - 8 * i));
}

TPM_RC entity_resolve(State& st, TPM_HANDLE h, Entity& out) {
  out = Entity{};
  out.handle = h;
  const uint8_t type = handle_type(h);
  if (type == TPM_HT_PERMANENT) {
    if (h != TPM_RH_OWNER && h != TPM_RH_ENDORSEMENT && h != TPM_RH_PLATFORM && h != TPM_RH_LOCKOUT &&
        h != TPM_RH_NULL && !act_implemented(h))
      return TPM_RC_HANDLE;
    out.kind = EntityKind::permanent;
    out.auth = permanent_auth(st, h);
    // Permanent handles other than lockout are exempt from DA protection (Part 1 §19.8.2);
    // lockoutAuth has its own rule (da.cc).
    if (const TPMT_HA* p = hierarchy_policy(st, h); p && p->hashAlg != TPM_ALG_NULL) {
      out.policy_alg = p->hashAlg;
      out.policy = {p->digest.bytes, digest_size(p->hashAlg)};
    }
    set_handle_name(h, out.name);
    return TPM_RC_SUCCESS;
  }
  if (type == TPM_HT_PCR) {
    if (h >= profile::kNumPcrs) return TPM_RC_HANDLE;
    out.kind = EntityKind::pcr;
    // PCRs 20-22 form the one auth group and the one policy group (PCR_SetAuthValue,
    // PCR_SetAuthPolicy); the others have the empty authValue and no policy.
    if (pcr_in_group(h)) {
      out.auth = &st.pcr_auth;
      if (st.pers.pcr_policy.hashAlg != TPM_ALG_NULL) {
        out.policy_alg = st.pers.pcr_policy.hashAlg;
        out.policy = {st.pers.pcr_policy.digest.bytes, digest_size(st.pers.pcr_policy.hashAlg)};
      }
    }
    set_handle_name(h, out.name);
    return TPM_RC_SUCCESS;
  }
  if (type == TPM_HT_HMAC_SESSION || type == TPM_HT_POLICY_SESSION) {
    out.session = session_at(st, h);
    if (!out.session) return TPM_RC_HANDLE;
    out.kind = EntityKind::session;
    set_handle_name(h, out.name);
    return TPM_RC_SUCCESS;
  }
  if (type == TPM_HT_NV_INDEX) {
    // Loaded by the dispatcher (nv_load); Name = nameAlg || H(TPMS_NV_PUBLIC) (Part 1 §16).
    out.nv = nv_at(st, h);
    if (!out.nv) return TPM_RC_HANDLE;
    out.kind = EntityKind::nv_index;
    out.name = out.nv->name;
    out.auth = &out.nv->auth;
    out.da_protected = !out.nv->pub.attributes.has(TPMA_NV::NO_DA);
    out.policy_alg = out.nv->pub.nameAlg;
    out.policy = out.nv->pub.authPolicy.view();
    return TPM_RC_SUCCESS;
  }
  if (ObjectSlot* o = object_at(st, h)) {
    out.object = o;
    out.auth = &o->auth;
    if (o->kind != SlotKind::object) {
      // A sequence's Name is the Empty Buffer (it has no public area). Sequences are not DA
      // protected: their auth is chosen by the caller that uses it.
      out.kind = EntityKind::sequence;
      return TPM_RC_SUCCESS;
    }
    out.kind = EntityKind::object;
    out.name = o->name;
    out.da_protected = !o->pub.objectAttributes.has(TPMA_OBJECT_noDA);
    out.policy_alg = o->pub.nameAlg;
    out.policy = o->pub.authPolicy.view();
    return TPM_RC_SUCCESS;
  }
  return TPM_RC_HANDLE;
}

void bind_identity(const Entity& e, TPM_ALG_ID hash, TPM2B_DIGEST& out) {
  crypto::HashState hs;
  crypto::hash_start(hs, to_crypto(hash));
  crypto::hash_update(hs, e.name.view());
  crypto::hash_update(hs, auth_trimmed(e.auth));
  out.size = static_cast<uint16_t>(crypto::hash_finish(hs, out.buffer));
  crypto::zeroize(hs);  // it has seen the authValue
}

bool policy_satisfied(const Entity& e, const SessionSlot& s) {
  if (e.policy_alg == TPM_ALG_NULL || e.policy_alg != s.auth_hash) return false;
  return e.policy.size() == s.policy_digest.size && crypto::ct_equal(e.policy, s.policy_digest.view());
}

}  // namespace utpm::tpm
