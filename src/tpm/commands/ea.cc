// Part 3 chapter 23: Enhanced Authorization (EA) commands. Each extends a policy or trial
// session's policyDigest (policyDigest_new = H_authHash(policyDigest_old || TPM_CC || ...)) and
// records what must hold when the session authorizes (core/authorization.cc checks it).
#include <cstring>

#include "crypto/crypto.h"
#include "tpm/commands/commands.h"
#include "tpm/commands/keys_common.h"
#include "tpm/subsystem/nv.h"
#include "tpm/subsystem/subsystems.h"
#include "tpm/tpm.h"

namespace utpm::tpm {
namespace {

using Bytes = std::span<const uint8_t>;

// The hash of every ticket of PolicySigned/PolicySecret (independent of the session's hash, so a
// ticket can be checked by a session of another hash).
constexpr TPM_ALG_ID kTicketHash = TPM_ALG_SHA256;

struct Be {
  uint8_t b[8];
  size_t n;
  Be(uint64_t v, size_t size) : n(size) {
    for (size_t i = 0; i < size; ++i) b[i] = static_cast<uint8_t>(v >> (8 * (size - 1 - i)));
  }
  Bytes view() const { return {b, n}; }
};

SessionSlot& session_of(Command& c, unsigned i) { return *c.entities[i].session; }
bool trial(const SessionSlot& s) { return s.type == TPM_SE_TRIAL; }

// policyDigest := H_authHash(policyDigest || [cc] || parts...)
void policy_hash(SessionSlot& s, const TPM_CC* cc, std::initializer_list<Bytes> parts) {
  crypto::HashState h;
  crypto::hash_start(h, to_crypto(s.auth_hash));
  crypto::hash_update(h, s.policy_digest.view());
  if (cc) crypto::hash_update(h, Be(*cc, 4).view());
  for (Bytes p : parts) crypto::hash_update(h, p);
  s.policy_digest.size = static_cast<uint16_t>(crypto::hash_finish(h, s.policy_digest.buffer));
}
void policy_extend(SessionSlot& s, TPM_CC cc, std::initializer_list<Bytes> parts = {}) { policy_hash(s, &cc, parts); }

// PolicyUpdate (Part 3 §23.2.3): H(H(policyDigest || cc || name) || policyRef).
void policy_update(SessionSlot& s, TPM_CC cc, Bytes name, Bytes policy_ref) {
  policy_extend(s, cc, {name});
  policy_hash(s, nullptr, {policy_ref});
}

uint16_t session_digest_size(const SessionSlot& s) { return digest_size(s.auth_hash); }

// Whether the session's cpHash allows cpHashA (empty: no constraint). TPM_RC_CPHASH if the
// session already has a different cpHash or a nameHash/templateHash.
TPM_RC cp_hash_compatible(const SessionSlot& s, const TPM2B_DIGEST& cp) {
  if (cp.size == 0 || s.cp_hash_kind == kPolicyCpNone) return TPM_RC_SUCCESS;
  if (s.cp_hash_kind != kPolicyCpHash || s.cp_hash.size != cp.size || !crypto::ct_equal(s.cp_hash.view(), cp.view()))
    return TPM_RC_CPHASH;
  return TPM_RC_SUCCESS;
}

void set_cp_hash(SessionSlot& s, const TPM2B_DIGEST& cp, uint8_t kind) {
  if (cp.size == 0) return;
  s.cp_hash = cp;
  s.cp_hash_kind = kind;
}

void set_timeout(SessionSlot& s, uint64_t timeout) {
  if (timeout != 0 && (s.timeout == 0 || timeout < s.timeout)) s.timeout = timeout;
}

// The checks PolicySigned and PolicySecret share (Part 3 §23.3, §23.4): nonceTPM is the
// session's (or empty, but not with a negative expiration), cpHashA fits the session, and the
// expiry, |expiration| seconds after the session started, has not passed. Parameter numbers:
// nonceTPM p, cpHashA p + 1, expiration p + 3.
TPM_RC parameter_checks(Command& c, const SessionSlot& s, const TPM2B_NONCE& nonce, const TPM2B_DIGEST& cp,
                        int32_t expiration, unsigned p, uint64_t& timeout) {
  timeout = 0;
  if (nonce.size != 0) {
    if (nonce.size != s.nonce_tpm.size || !crypto::ct_equal(nonce.view(), s.nonce_tpm.view()))
      return rc_param(TPM_RC_NONCE, p);
  } else if (expiration < 0) {
    return rc_param(TPM_RC_EXPIRED, p + 3);
  }
  if (cp.size != 0 && cp.size != session_digest_size(s)) return rc_param(TPM_RC_SIZE, p + 1);
  if (TPM_RC rc = cp_hash_compatible(s, cp)) return rc;
  if (expiration != 0) {
    const uint64_t seconds = expiration < 0 ? uint64_t(-int64_t{expiration}) : uint64_t(expiration);
    timeout = s.start_time + seconds * 1000;
    if (time_now(c.tpm) > timeout) return rc_param(TPM_RC_EXPIRED, p + 3);
  }
  return TPM_RC_SUCCESS;
}

// The hierarchy whose proof keys the tickets about an entity.
TPM_HANDLE entity_hierarchy(const Entity& e) {
  if (e.object) return e.object->hierarchy;
  if (e.kind == EntityKind::nv_index)  // an index belongs to the hierarchy that defined it
    return e.nv->pub.attributes.has(TPMA_NV::PLATFORMCREATE) ? TPM_RH_PLATFORM : TPM_RH_OWNER;
  switch (e.handle) {
    case TPM_RH_ENDORSEMENT: return TPM_RH_ENDORSEMENT;
    case TPM_RH_PLATFORM: return TPM_RH_PLATFORM;
    case TPM_RH_NULL: return TPM_RH_NULL;
    default: return TPM_RH_OWNER;  // owner, lockout, PCRs
  }
}

// TPMT_TK_AUTH.digest = HMAC_SHA256(proof(hierarchy), tag || timeout || resetCount ||
// restartCount || cpHashA || policyRef || authName). The counts tie the ticket to this TPM time
// base (timeouts are measured from _TPM_Init).
void auth_ticket_digest(const State& st, TPM_ST tag, TPM_HANDLE hierarchy, const TPM2B_TIMEOUT& timeout,
                        const TPM2B_DIGEST& cp, const TPM2B_NONCE& ref, const TPM2B_NAME& name, TPM2B_DIGEST& out) {
  crypto::HmacState h;
  crypto::hmac_start(h, to_crypto(kTicketHash), hierarchy_proof(st, hierarchy));
  crypto::hmac_update(h, Be(tag, 2).view());
  crypto::hmac_update(h, timeout.view());
  crypto::hmac_update(h, Be(st.clock.reset_count, 4).view());
  crypto::hmac_update(h, Be(st.clock.restart_count, 4).view());
  crypto::hmac_update(h, cp.view());
  crypto::hmac_update(h, ref.view());
  crypto::hmac_update(h, name.view());
  out.size = static_cast<uint16_t>(crypto::hmac_finish(h, out.buffer));
  crypto::zeroize(h);
}

// The answer of PolicySigned/PolicySecret: a ticket only for a negative expiration.
void put_ticket(Command& c, TPM_ST tag, TPM_HANDLE hierarchy, uint64_t timeout, int32_t expiration,
                const TPM2B_DIGEST& cp, const TPM2B_NONCE& ref, const TPM2B_NAME& name) {
  TPM2B_TIMEOUT to;
  TPMT_TK_AUTH ticket;
  ticket.tag.value = tag;
  if (expiration < 0 && timeout != 0) {
    to.assign(Be(timeout, 8).view());
    ticket.hierarchy.value = hierarchy;
    auth_ticket_digest(c.st, tag, hierarchy, to, cp, ref, name, ticket.digest);
  }
  c.put(to);
  c.put(ticket);
}

bool hierarchy_handle(TPM_HANDLE h) {
  return h == TPM_RH_OWNER || h == TPM_RH_ENDORSEMENT || h == TPM_RH_PLATFORM || h == TPM_RH_NULL;
}

// The hash of a signature's scheme (TPM_ALG_NULL for none).
TPM_ALG_ID signature_hash(const TPMT_SIGNATURE& s) {
  switch (s.sigAlg) {
    case TPM_ALG_RSASSA: return s.signature.rsassa.hash;
    case TPM_ALG_RSAPSS: return s.signature.rsapss.hash;
    case TPM_ALG_ECDSA: return s.signature.ecdsa.hash;
    case TPM_ALG_ECDAA: return s.signature.ecdaa.hash;
    case TPM_ALG_ECSCHNORR: return s.signature.ecschnorr.hash;
    case TPM_ALG_HMAC: return s.signature.hmac.hashAlg;
  }
  return TPM_ALG_NULL;
}

// A big-endian comparison of two equal-length operands (PolicyCounterTimer, PolicyNV).
int compare(Bytes a, Bytes b, bool is_signed) {
  if (a.empty()) return 0;
  if (is_signed && ((a[0] ^ b[0]) & 0x80)) return (a[0] & 0x80) ? -1 : 1;
  const int r = std::memcmp(a.data(), b.data(), a.size());
  return r < 0 ? -1 : (r > 0 ? 1 : 0);
}

// TPM_EO (Part 2 §6.8). Returns false for an unknown operation (valid = false).
bool operation_holds(TPM_EO op, Bytes a, Bytes b, bool& valid) {
  valid = true;
  switch (op) {
    case 0x0: return compare(a, b, false) == 0;
    case 0x1: return compare(a, b, false) != 0;
    case 0x2: return compare(a, b, true) > 0;
    case 0x3: return compare(a, b, false) > 0;
    case 0x4: return compare(a, b, true) < 0;
    case 0x5: return compare(a, b, false) < 0;
    case 0x6: return compare(a, b, true) >= 0;
    case 0x7: return compare(a, b, false) >= 0;
    case 0x8: return compare(a, b, true) <= 0;
    case 0x9: return compare(a, b, false) <= 0;
    case 0xA:  // every bit set in B is set in A
    case 0xB: {  // every bit set in B is clear in A
      for (size_t i = 0; i < a.size(); ++i)
        if ((a[i] & b[i]) != (op == 0xA ? b[i] : 0)) return false;
      return true;
    }
  }
  valid = false;
  return false;
}

}  // namespace

TPM_RC TPM2_PolicyRestart(Command& c) {
  if (TPM_RC rc = c.parse()) return rc;
  SessionSlot& s = session_of(c, 0);
  s.policy_digest.size = session_digest_size(s);
  std::memset(s.policy_digest.buffer, 0, sizeof s.policy_digest.buffer);
  s.start_time = time_now(c.tpm);
  s.timeout = 0;
  s.command_code = 0;
  s.pcr_update_counter = 0;
  s.cp_hash = {};
  s.cp_hash_kind = kPolicyCpNone;
  s.locality = 0;
  s.flags = 0;
  return TPM_RC_SUCCESS;
}

TPM_RC TPM2_PolicyGetDigest(Command& c) {
  if (TPM_RC rc = c.parse()) return rc;
  c.put(session_of(c, 0).policy_digest);
  return TPM_RC_SUCCESS;
}

TPM_RC TPM2_PolicyCommandCode(Command& c) {
  TPM_CC code;
  if (TPM_RC rc = c.parse(code)) return rc;
  SessionSlot& s = session_of(c, 0);
  if (s.command_code != 0 && s.command_code != code) return rc_param(TPM_RC_VALUE, 1);
  if (!find_command(code)) return rc_param(TPM_RC_POLICY_CC, 1);
  policy_extend(s, TPM_CC_PolicyCommandCode, {Be(code, 4).view()});
  s.command_code = code;
  return TPM_RC_SUCCESS;
}

TPM_RC TPM2_PolicyAuthValue(Command& c) {
  if (TPM_RC rc = c.parse()) return rc;
  SessionSlot& s = session_of(c, 0);
  policy_extend(s, TPM_CC_PolicyAuthValue);
  s.flags = static_cast<uint8_t>((s.flags & ~kPolicyPasswordNeeded) | kPolicyAuthValueNeeded);
  return TPM_RC_SUCCESS;
}

// The same digest as PolicyAuthValue (Part 3 §23.18): only how the authValue is shown differs.
TPM_RC TPM2_PolicyPassword(Command& c) {
  if (TPM_RC rc = c.parse()) return rc;
  SessionSlot& s = session_of(c, 0);
  policy_extend(s, TPM_CC_PolicyAuthValue);
  s.flags = static_cast<uint8_t>((s.flags & ~kPolicyAuthValueNeeded) | kPolicyPasswordNeeded);
  return TPM_RC_SUCCESS;
}

TPM_RC TPM2_PolicyPhysicalPresence(Command& c) {
  if (TPM_RC rc = c.parse()) return rc;
  SessionSlot& s = session_of(c, 0);
  policy_extend(s, TPM_CC_PolicyPhysicalPresence);
  s.flags |= kPolicyPpRequired;
  return TPM_RC_SUCCESS;
}

TPM_RC TPM2_PolicyPCR(Command& c) {
  TPM2B_DIGEST pcr_digest;
  TPML_PCR_SELECTION pcrs;
  if (TPM_RC rc = c.parse(pcr_digest, pcrs)) return rc;
  SessionSlot& s = session_of(c, 0);
  // digestTPM = H_authHash(the selected PCR values, bank by bank in selection order, each bank's
  // PCRs in ascending order).
  TPM2B_DIGEST current;
  crypto::HashState h;
  crypto::hash_start(h, to_crypto(s.auth_hash));
  for (uint32_t i = 0; i < pcrs.count; ++i) {
    const int bank = pcr_bank(c.st, pcrs.items[i].hash);
    if (bank < 0) continue;  // an unallocated bank selects nothing
    for (uint32_t pcr = 0; pcr < profile::kNumPcrs; ++pcr)
      if (pcrs.items[i].selected(pcr)) crypto::hash_update(h, pcr_value(c.st, bank, pcr));
  }
  current.size = static_cast<uint16_t>(crypto::hash_finish(h, current.buffer));
  const TPM2B_DIGEST* digest = &current;
  if (trial(s)) {
    if (pcr_digest.size != 0) digest = &pcr_digest;  // a trial policy may name values not present
  } else {
    if (pcr_digest.size != 0 &&
        (pcr_digest.size != current.size || !crypto::ct_equal(pcr_digest.view(), current.view())))
      return rc_param(TPM_RC_VALUE, 1);
    if ((s.flags & kPolicyPcrCounterSet) && s.pcr_update_counter != c.st.pcr.update_counter)
      return TPM_RC_PCR_CHANGED;
    s.pcr_update_counter = c.st.pcr.update_counter;
    s.flags |= kPolicyPcrCounterSet;
  }
  uint8_t sel[4 + kHashCount * (3 + profile::kPcrSelectMax)];
  Writer w(sel);
  marshal(w, pcrs);
  policy_extend(s, TPM_CC_PolicyPCR, {Bytes{sel, w.size()}, digest->view()});
  return TPM_RC_SUCCESS;
}

TPM_RC TPM2_PolicyLocality(Command& c) {
  uint8_t locality;  // TPMA_LOCALITY
  if (TPM_RC rc = c.parse(locality)) return rc;
  SessionSlot& s = session_of(c, 0);
  if (locality == 0) return rc_param(TPM_RC_RANGE, 1);
  uint8_t next = locality;
  if (locality < 32) {  // localities 0-4 as a bit field: the session keeps the intersection
    if (s.locality >= 32) return rc_param(TPM_RC_RANGE, 1);
    if (s.locality != 0) next = s.locality & locality;
    if (next == 0) return rc_param(TPM_RC_RANGE, 1);
  } else if (s.locality != 0 && s.locality != locality) {  // an extended locality, exactly
    return rc_param(TPM_RC_RANGE, 1);
  }
  policy_extend(s, TPM_CC_PolicyLocality, {Bytes{&locality, 1}});
  s.locality = next;
  return TPM_RC_SUCCESS;
}

TPM_RC TPM2_PolicyOR(Command& c) {
  TPML_DIGEST list;
  // pHashList's count is {2:8} (#TPM_RC_SIZE), judged as it is read: a short count is SIZE on
  // parameter 1 even when octets follow it (libtpms agrees; TPML_DIGEST in responses may be
  // shorter, so the bound lives here rather than in the type).
  Reader peek = c.params;
  uint32_t count = 0;
  if (peek.u32(count) && count < 2) return rc_param(TPM_RC_SIZE, 1);
  if (TPM_RC rc = c.parse(list)) return rc;
  SessionSlot& s = session_of(c, 0);
  if (!trial(s)) {
    bool found = false;
    for (uint32_t i = 0; i < list.count; ++i)
      found |= list.items[i].size == s.policy_digest.size &&
               crypto::ct_equal(list.items[i].view(), s.policy_digest.view());
    if (!found) return rc_param(TPM_RC_VALUE, 1);
  }
  // policyDigest := H(0...0 || TPM_CC_PolicyOR || digests)
  std::memset(s.policy_digest.buffer, 0, s.policy_digest.size);
  crypto::HashState h;
  crypto::hash_start(h, to_crypto(s.auth_hash));
  crypto::hash_update(h, s.policy_digest.view());
  crypto::hash_update(h, Be(TPM_CC_PolicyOR, 4).view());
  for (uint32_t i = 0; i < list.count; ++i) crypto::hash_update(h, list.items[i].view());
  s.policy_digest.size = static_cast<uint16_t>(crypto::hash_finish(h, s.policy_digest.buffer));
  return TPM_RC_SUCCESS;
}

TPM_RC TPM2_PolicyCpHash(Command& c) {
  TPM2B_DIGEST cp;
  if (TPM_RC rc = c.parse(cp)) return rc;
  SessionSlot& s = session_of(c, 0);
  if (cp.size != session_digest_size(s)) return rc_param(TPM_RC_SIZE, 1);
  if (TPM_RC rc = cp_hash_compatible(s, cp)) return rc;
  policy_extend(s, TPM_CC_PolicyCpHash, {cp.view()});
  set_cp_hash(s, cp, kPolicyCpHash);
  return TPM_RC_SUCCESS;
}

TPM_RC TPM2_PolicyNameHash(Command& c) {
  TPM2B_DIGEST name_hash;
  if (TPM_RC rc = c.parse(name_hash)) return rc;
  SessionSlot& s = session_of(c, 0);
  if (name_hash.size != session_digest_size(s)) return rc_param(TPM_RC_SIZE, 1);
  if (s.cp_hash_kind != kPolicyCpNone) return TPM_RC_CPHASH;
  policy_extend(s, TPM_CC_PolicyNameHash, {name_hash.view()});
  set_cp_hash(s, name_hash, kPolicyNameHash);
  return TPM_RC_SUCCESS;
}

TPM_RC TPM2_PolicyTemplate(Command& c) {
  TPM2B_DIGEST template_hash;
  if (TPM_RC rc = c.parse(template_hash)) return rc;
  SessionSlot& s = session_of(c, 0);
  if (template_hash.size != session_digest_size(s)) return rc_param(TPM_RC_SIZE, 1);
  if (s.cp_hash_kind == kPolicyCpHash || s.cp_hash_kind == kPolicyNameHash) return TPM_RC_CPHASH;
  if (s.cp_hash_kind == kPolicyTemplateHash && !crypto::ct_equal(s.cp_hash.view(), template_hash.view()))
    return rc_param(TPM_RC_VALUE, 1);
  policy_extend(s, TPM_CC_PolicyTemplate, {template_hash.view()});
  set_cp_hash(s, template_hash, kPolicyTemplateHash);
  return TPM_RC_SUCCESS;
}

TPM_RC TPM2_PolicyNvWritten(Command& c) {
  TPMI_YES_NO_CHECKED written;
  if (TPM_RC rc = c.parse(written)) return rc;
  SessionSlot& s = session_of(c, 0);
  const bool set = written.value != 0;
  if ((s.flags & kPolicyCheckNvWritten) && ((s.flags & kPolicyNvWrittenState) != 0) != set)
    return rc_param(TPM_RC_VALUE, 1);
  const uint8_t b = written.value;
  policy_extend(s, TPM_CC_PolicyNvWritten, {Bytes{&b, 1}});
  s.flags |= kPolicyCheckNvWritten;
  if (set) s.flags |= kPolicyNvWrittenState;
  return TPM_RC_SUCCESS;
}

TPM_RC TPM2_PolicyDuplicationSelect(Command& c) {
  TPM2B_NAME object_name, new_parent_name;
  TPMI_YES_NO_CHECKED include_object;
  if (TPM_RC rc = c.parse(object_name, new_parent_name, include_object)) return rc;
  SessionSlot& s = session_of(c, 0);
  if (s.cp_hash_kind != kPolicyCpNone) return TPM_RC_CPHASH;
  if (s.command_code != 0 && s.command_code != TPM_CC_Duplicate) return TPM_RC_COMMAND_CODE;
  // nameHash = H(objectName || newParentName)
  TPM2B_DIGEST name_hash;
  crypto::HashState h;
  crypto::hash_start(h, to_crypto(s.auth_hash));
  crypto::hash_update(h, object_name.view());
  crypto::hash_update(h, new_parent_name.view());
  name_hash.size = static_cast<uint16_t>(crypto::hash_finish(h, name_hash.buffer));
  const uint8_t include = include_object.value;
  if (include)
    policy_extend(s, TPM_CC_PolicyDuplicationSelect, {object_name.view(), new_parent_name.view(), Bytes{&include, 1}});
  else
    policy_extend(s, TPM_CC_PolicyDuplicationSelect, {new_parent_name.view(), Bytes{&include, 1}});
  set_cp_hash(s, name_hash, kPolicyNameHash);
  s.command_code = TPM_CC_Duplicate;
  return TPM_RC_SUCCESS;
}

TPM_RC TPM2_PolicyCounterTimer(Command& c) {
  TPM2B_OPERAND operand_b;
  uint16_t offset;
  TPM_EO operation;
  if (TPM_RC rc = c.parse(operand_b, offset, operation)) return rc;
  SessionSlot& s = session_of(c, 0);
  bool valid;
  operation_holds(operation, {}, {}, valid);
  if (!valid) return rc_param(TPM_RC_VALUE, 3);
  if (!trial(s)) {
    TPMS_TIME_INFO info{time_now(c.tpm), clock_info(c.tpm)};
    uint8_t buf[25];
    Writer w(buf);
    marshal(w, info);
    if (size_t{offset} + operand_b.size > w.size()) return rc_param(TPM_RC_RANGE, 2);
    if (!operation_holds(operation, {buf + offset, operand_b.size}, operand_b.view(), valid)) return TPM_RC_POLICY;
  }
  // args = H(operandB || offset || operation); policyDigest := H(policyDigest || CC || args)
  uint8_t args[profile::kMaxDigestSize];
  crypto::HashState h;
  crypto::hash_start(h, to_crypto(s.auth_hash));
  crypto::hash_update(h, operand_b.view());
  crypto::hash_update(h, Be(offset, 2).view());
  crypto::hash_update(h, Be(operation, 2).view());
  const size_t n = crypto::hash_finish(h, args);
  policy_extend(s, TPM_CC_PolicyCounterTimer, {Bytes{args, n}});
  return TPM_RC_SUCCESS;
}

TPM_RC TPM2_PolicySecret(Command& c) {
  TPM2B_NONCE nonce_tpm;
  TPM2B_DIGEST cp_hash_a;
  TPM2B_NONCE policy_ref;
  uint32_t expiration_u;  // INT32
  if (TPM_RC rc = c.parse(nonce_tpm, cp_hash_a, policy_ref, expiration_u)) return rc;
  const int32_t expiration = static_cast<int32_t>(expiration_u);
  const Entity& auth = c.entities[0];  // authorized by the dispatcher (USER role)
  SessionSlot& s = session_of(c, 1);
  uint64_t timeout = 0;
  if (!trial(s)) {
    if (TPM_RC rc = parameter_checks(c, s, nonce_tpm, cp_hash_a, expiration, 1, timeout)) return rc;
  }
  set_cp_hash(s, cp_hash_a, kPolicyCpHash);
  set_timeout(s, timeout);
  policy_update(s, TPM_CC_PolicySecret, auth.name.view(), policy_ref.view());
  put_ticket(c, TPM_ST_AUTH_SECRET, entity_hierarchy(auth), timeout, expiration, cp_hash_a, policy_ref, auth.name);
  return TPM_RC_SUCCESS;
}

TPM_RC TPM2_PolicySigned(Command& c) {
  TPM2B_NONCE nonce_tpm;
  TPM2B_DIGEST cp_hash_a;
  TPM2B_NONCE policy_ref;
  uint32_t expiration_u;  // INT32
  TPMT_SIGNATURE auth;
  if (TPM_RC rc = c.parse(nonce_tpm, cp_hash_a, policy_ref, expiration_u, auth)) return rc;
  const int32_t expiration = static_cast<int32_t>(expiration_u);
  const Entity& key_entity = c.entities[0];
  ObjectSlot* key = loaded_key(c, 0);
  if (!key || !key->pub.objectAttributes.has(TPMA_OBJECT_sign)) return rc_handle(TPM_RC_ATTRIBUTES, 1);
  SessionSlot& s = session_of(c, 1);
  uint64_t timeout = 0;
  if (!trial(s)) {
    if (TPM_RC rc = parameter_checks(c, s, nonce_tpm, cp_hash_a, expiration, 1, timeout)) return rc;
    // aHash = H_sigHash(nonceTPM || expiration || cpHashA || policyRef), signed by authObject
    const TPM_ALG_ID hash = signature_hash(auth);
    if (!hash_implemented(hash)) return rc_param(TPM_RC_SCHEME, 5);
    uint8_t a_hash[profile::kMaxDigestSize];
    crypto::HashState h;
    crypto::hash_start(h, to_crypto(hash));
    crypto::hash_update(h, nonce_tpm.view());
    crypto::hash_update(h, Be(expiration_u, 4).view());
    crypto::hash_update(h, cp_hash_a.view());
    crypto::hash_update(h, policy_ref.view());
    const size_t n = crypto::hash_finish(h, a_hash);
    if (!signature_verifies(*key, {a_hash, n}, auth)) return rc_param(TPM_RC_SIGNATURE, 5);
  }
  set_cp_hash(s, cp_hash_a, kPolicyCpHash);
  set_timeout(s, timeout);
  policy_update(s, TPM_CC_PolicySigned, key_entity.name.view(), policy_ref.view());
  put_ticket(c, TPM_ST_AUTH_SIGNED, key->hierarchy, timeout, expiration, cp_hash_a, policy_ref, key_entity.name);
  return TPM_RC_SUCCESS;
}

TPM_RC TPM2_PolicyTicket(Command& c) {
  TPM2B_TIMEOUT timeout_in;
  TPM2B_DIGEST cp_hash_a;
  TPM2B_NONCE policy_ref;
  TPM2B_NAME auth_name;
  TPMT_TK_AUTH ticket;
  if (TPM_RC rc = c.parse(timeout_in, cp_hash_a, policy_ref, auth_name, ticket)) return rc;
  SessionSlot& s = session_of(c, 0);
  // Only tickets with a timeout are made (expiration < 0); a NULL ticket never verifies.
  if (timeout_in.size != 8) return rc_param(TPM_RC_SIZE, 1);
  uint64_t timeout = 0;
  for (uint8_t b : timeout_in.view()) timeout = timeout << 8 | b;
  if (time_now(c.tpm) > timeout) return rc_param(TPM_RC_EXPIRED, 1);
  if (cp_hash_a.size != 0 && cp_hash_a.size != session_digest_size(s)) return rc_param(TPM_RC_SIZE, 2);
  if (TPM_RC rc = cp_hash_compatible(s, cp_hash_a)) return rc;
  if (!hierarchy_handle(ticket.hierarchy) || ticket.digest.size == 0)
    return rc_param(TPM_RC_TICKET, 5);
  TPM2B_DIGEST expect;
  auth_ticket_digest(c.st, ticket.tag, ticket.hierarchy, timeout_in, cp_hash_a, policy_ref, auth_name, expect);
  if (expect.size != ticket.digest.size || !crypto::ct_equal(expect.view(), ticket.digest.view()))
    return rc_param(TPM_RC_TICKET, 5);
  set_cp_hash(s, cp_hash_a, kPolicyCpHash);
  set_timeout(s, timeout);
  const TPM_CC cc = ticket.tag == TPM_ST_AUTH_SIGNED ? TPM_CC_PolicySigned : TPM_CC_PolicySecret;
  policy_update(s, cc, auth_name.view(), policy_ref.view());
  return TPM_RC_SUCCESS;
}

TPM_RC TPM2_PolicyAuthorize(Command& c) {
  TPM2B_DIGEST approved_policy;
  TPM2B_NONCE policy_ref;
  TPM2B_NAME key_sign;
  TPMT_TK_VERIFIED check_ticket;
  if (TPM_RC rc = c.parse(approved_policy, policy_ref, key_sign, check_ticket)) return rc;
  SessionSlot& s = session_of(c, 0);
  if (!trial(s)) {
    // keySign is a digest Name: its nameAlg and a digest of that size.
    const TPM_ALG_ID name_alg = key_sign.size >= 2 ? TPM_ALG_ID(key_sign.buffer[0] << 8 | key_sign.buffer[1]) : 0;
    if (!hash_implemented(name_alg) || key_sign.size != 2 + digest_size(name_alg)) return rc_param(TPM_RC_HASH, 3);
    if (approved_policy.size != s.policy_digest.size ||
        !crypto::ct_equal(approved_policy.view(), s.policy_digest.view()))
      return rc_param(TPM_RC_VALUE, 1);
    // aHash = H_nameAlg(approvedPolicy || policyRef); the ticket is VerifySignature's over it:
    // HMAC_nameAlg(proof(hierarchy), TPM_ST_VERIFIED || aHash || keySign).
    uint8_t a_hash[profile::kMaxDigestSize];
    crypto::HashState h;
    crypto::hash_start(h, to_crypto(name_alg));
    crypto::hash_update(h, approved_policy.view());
    crypto::hash_update(h, policy_ref.view());
    const size_t n = crypto::hash_finish(h, a_hash);
    // A NULL-hierarchy ticket proves nothing (VerifySignature with a key outside the hierarchies).
    if (check_ticket.tag != TPM_ST_VERIFIED || !hierarchy_handle(check_ticket.hierarchy) ||
        check_ticket.hierarchy == TPM_RH_NULL)
      return rc_param(TPM_RC_VALUE, 4);
    uint8_t expect[profile::kMaxDigestSize];
    crypto::HmacState m;
    crypto::hmac_start(m, to_crypto(name_alg), hierarchy_proof(c.st, check_ticket.hierarchy));
    crypto::hmac_update(m, Be(TPM_ST_VERIFIED, 2).view());
    crypto::hmac_update(m, {a_hash, n});
    crypto::hmac_update(m, key_sign.view());
    const size_t en = crypto::hmac_finish(m, expect);
    crypto::zeroize(m);
    if (check_ticket.digest.size != en || !crypto::ct_equal(check_ticket.digest.view(), {expect, en}))
      return rc_param(TPM_RC_VALUE, 4);
  }
  // policyDigest := H(H(0...0 || TPM_CC_PolicyAuthorize || keySign) || policyRef)
  std::memset(s.policy_digest.buffer, 0, s.policy_digest.size);
  policy_update(s, TPM_CC_PolicyAuthorize, key_sign.view(), policy_ref.view());
  return TPM_RC_SUCCESS;
}

// Part 3 §23.9. The comparison is skipped for a trial session (the index is still authorized
// for reading by the dispatcher). args = H(operandB || offset || operation);
// policyDigest := H(policyDigest || TPM_CC_PolicyNV || args || nvIndex Name).
TPM_RC TPM2_PolicyNV(Command& c) {
  TPM2B_OPERAND operand_b;
  uint16_t offset;
  TPM_EO operation;
  if (TPM_RC rc = c.parse(operand_b, offset, operation)) return rc;
  SessionSlot& s = session_of(c, 2);
  const Entity& index = c.entities[1];
  bool valid;
  operation_holds(operation, {}, {}, valid);
  if (!valid) return rc_param(TPM_RC_VALUE, 3);
  if (!trial(s)) {
    const NvSlot& nv = *index.nv;
    if (TPM_RC rc = nv_read_access(nv, c.handles[0])) return rc;
    if (offset > nv.pub.dataSize) return rc_param(TPM_RC_VALUE, 2);
    if (operand_b.size > nv.pub.dataSize - offset) return rc_param(TPM_RC_SIZE, 1);
    uint8_t data[sizeof operand_b.buffer];
    if (TPM_RC rc = nv_read_data(c.tpm, nv, offset, {data, operand_b.size})) return rc;
    const bool holds = operation_holds(operation, {data, operand_b.size}, operand_b.view(), valid);
    crypto::zeroize(data);
    if (!holds) return TPM_RC_POLICY;
  }
  uint8_t args[profile::kMaxDigestSize];
  crypto::HashState h;
  crypto::hash_start(h, to_crypto(s.auth_hash));
  crypto::hash_update(h, operand_b.view());
  crypto::hash_update(h, Be(offset, 2).view());
  crypto::hash_update(h, Be(operation, 2).view());
  const size_t n = crypto::hash_finish(h, args);
  policy_extend(s, TPM_CC_PolicyNV, {Bytes{args, n}, index.name.view()});
  return TPM_RC_SUCCESS;
}

// Part 3 §23.22: the index holds a TPMT_HA (hashAlg || digest) naming the approved policy. The
// session's digest must equal it (hashAlg the session's: TPM_RC_HASH, unnumbered as swtpm;
// digest: TPM_RC_VALUE); then policyDigest := H(0...0 || TPM_CC_PolicyAuthorizeNV || nvIndex Name).
// Trial sessions skip the checks.
TPM_RC TPM2_PolicyAuthorizeNV(Command& c) {
  if (TPM_RC rc = c.parse()) return rc;
  SessionSlot& s = session_of(c, 2);
  const Entity& index = c.entities[1];
  if (!trial(s)) {
    const NvSlot& nv = *index.nv;
    if (TPM_RC rc = nv_read_access(nv, c.handles[0])) return rc;
    uint8_t data[2 + profile::kMaxDigestSize];
    const uint16_t len = nv.pub.dataSize < sizeof data ? nv.pub.dataSize : uint16_t{sizeof data};
    if (len < 2) return TPM_RC_HASH;
    if (TPM_RC rc = nv_read_data(c.tpm, nv, 0, {data, len})) return rc;
    const TPM_ALG_ID alg = TPM_ALG_ID(data[0] << 8 | data[1]);
    if (alg != s.auth_hash) return TPM_RC_HASH;
    const size_t dn = digest_size(alg);
    if (size_t{len} < 2 + dn) return TPM_RC_VALUE;  // too short to hold the digest: no match
    if (dn != s.policy_digest.size || !crypto::ct_equal({data + 2, dn}, s.policy_digest.view())) return TPM_RC_VALUE;
  }
  std::memset(s.policy_digest.buffer, 0, s.policy_digest.size);
  policy_extend(s, TPM_CC_PolicyAuthorizeNV, {index.name.view()});
  return TPM_RC_SUCCESS;
}

// Part 3 §23.23 (1.84): an immediate assertion on one capability entry, the bytes GetCapability
// would list for `property` (TPMS_ALG_PROPERTY, a handle, TPMA_CC, TPMS_TAGGED_PROPERTY, ...),
// compared from `offset` with operandB as PolicyNV compares NV data. A missing entry satisfies
// only TPM_EO_NEQ. Trial sessions skip the checks. args = H(operandB || offset || operation ||
// capability || property); policyDigest := H(policyDigest || TPM_CC_PolicyCapability || args).
TPM_RC TPM2_PolicyCapability(Command& c) {
  TPM2B_OPERAND operand_b;
  uint16_t offset;
  TPM_EO operation;
  TPM_CAP capability;
  uint32_t property;
  if (TPM_RC rc = c.parse(operand_b, offset, operation, capability, property)) return rc;
  SessionSlot& s = session_of(c, 0);
  bool valid;
  operation_holds(operation, {}, {}, valid);
  if (!valid) return rc_param(TPM_RC_VALUE, 3);
  if (!trial(s)) {
    uint8_t entry[4 + 2 + profile::kMaxDigestSize];
    size_t size = 0;
    if (TPM_RC rc = capability_entry(c.tpm, capability, property, entry, size)) {
      if (rc == TPM_RC_HANDLE) return rc_param(TPM_RC_HANDLE, 5);
      const bool bad_property = capability == TPM_CAP_AUTH_POLICIES;
      return rc_param(TPM_RC_VALUE, bad_property ? 5 : 4);
    }
    if (size == 0) {
      if (operation != 0x1) return TPM_RC_POLICY;  // TPM_EO_NEQ
    } else {
      if (offset > size) return rc_param(TPM_RC_VALUE, 2);
      if (operand_b.size > size - offset) return rc_param(TPM_RC_SIZE, 1);
      if (!operation_holds(operation, {entry + offset, operand_b.size}, operand_b.view(), valid)) return TPM_RC_POLICY;
    }
  }
  uint8_t args[profile::kMaxDigestSize];
  crypto::HashState h;
  crypto::hash_start(h, to_crypto(s.auth_hash));
  crypto::hash_update(h, operand_b.view());
  crypto::hash_update(h, Be(offset, 2).view());
  crypto::hash_update(h, Be(operation, 2).view());
  crypto::hash_update(h, Be(capability, 4).view());
  crypto::hash_update(h, Be(property, 4).view());
  const size_t n = crypto::hash_finish(h, args);
  policy_extend(s, TPM_CC_PolicyCapability, {Bytes{args, n}});
  return TPM_RC_SUCCESS;
}

// Part 3 §23.24 (1.84): binds the policy to the command's parameters, whatever its handles:
// pHash = H(commandCode || parameters) is checked when the session authorizes (authorization.cc).
// It occupies the cpHash slot: a second PolicyParameters, even with the same pHash, or any
// cpHash/nameHash/templateHash already set, is TPM_RC_CPHASH (as the reference TPM).
// policyDigest := H(policyDigest || TPM_CC_PolicyParameters || pHash).
TPM_RC TPM2_PolicyParameters(Command& c) {
  TPM2B_DIGEST p_hash;
  if (TPM_RC rc = c.parse(p_hash)) return rc;
  SessionSlot& s = session_of(c, 0);
  if (p_hash.size != session_digest_size(s)) return rc_param(TPM_RC_SIZE, 1);
  if (s.cp_hash_kind != kPolicyCpNone) return TPM_RC_CPHASH;
  policy_extend(s, TPM_CC_PolicyParameters, {p_hash.view()});
  set_cp_hash(s, p_hash, kPolicyParamHash);
  return TPM_RC_SUCCESS;
}

namespace {

// A secure-channel key Name given to PolicyTransportSPDM: empty, or nameAlg || digest with an
// implemented nameAlg and the digest of its size (TPM_RC_SIZE / TPM_RC_HASH on parameter p).
TPM_RC check_channel_key_name(const TPM2B_NAME& name, unsigned p) {
  if (name.size == 0) return TPM_RC_SUCCESS;
  if (name.size < 2) return rc_param(TPM_RC_SIZE, p);
  const auto alg = static_cast<TPM_ALG_ID>(name.buffer[0] << 8 | name.buffer[1]);
  if (!hash_implemented(alg)) return rc_param(TPM_RC_HASH, p);
  if (name.size - 2u != digest_size(alg)) return rc_param(TPM_RC_SIZE, p);
  return TPM_RC_SUCCESS;
}

}  // namespace

// Part 3 §23.25 (1.84): the policy holds only for commands that arrive over an SPDM secure
// session (with the requester's and the TPM's channel keys named, if given). The assertion
// is deferred; no transport of this TPM is SPDM-secured, so a session that carries it never
// authorizes (TPM_RC_CHANNEL, authorization.cc), while its digest is the one a policy
// author computes: H(policyDigest || TPM_CC_PolicyTransportSPDM || scKeyNameHash), with
// scKeyNameHash = H(reqKeyName.size || reqKeyName || tpmKeyName.size || tpmKeyName), or
// empty if both Names are. A second assertion in one session is TPM_RC_VALUE.
TPM_RC TPM2_PolicyTransportSPDM(Command& c) {
  TPM2B_NAME req_key_name, tpm_key_name;
  if (TPM_RC rc = c.parse(req_key_name, tpm_key_name)) return rc;
  SessionSlot& s = session_of(c, 0);
  if (s.flags & kPolicySecureChannel) return TPM_RC_VALUE;
  if (TPM_RC rc = check_channel_key_name(req_key_name, 1)) return rc;
  if (TPM_RC rc = check_channel_key_name(tpm_key_name, 2)) return rc;
  uint8_t key_names_hash[profile::kMaxDigestSize];
  size_t n = 0;
  if (req_key_name.size != 0 || tpm_key_name.size != 0) {
    crypto::HashState h;
    crypto::hash_start(h, to_crypto(s.auth_hash));
    crypto::hash_update(h, Be(req_key_name.size, 2).view());
    crypto::hash_update(h, req_key_name.view());
    crypto::hash_update(h, Be(tpm_key_name.size, 2).view());
    crypto::hash_update(h, tpm_key_name.view());
    n = crypto::hash_finish(h, key_names_hash);
  }
  policy_extend(s, TPM_CC_PolicyTransportSPDM, {Bytes{key_names_hash, n}});
  s.flags |= kPolicySecureChannel;
  return TPM_RC_SUCCESS;
}

}  // namespace utpm::tpm
