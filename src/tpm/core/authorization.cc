// Authorization (Part 1 §19.6): password sessions compare the authValue directly; HMAC
// sessions prove knowledge of it with an HMAC over cpHash and the session nonces, keyed by
// sessionKey || authValue; the response carries a fresh nonceTPM and an HMAC over rpHash.
#include "tpm/core/authorization.h"

#include <cstring>

#include "crypto/crypto.h"
#include "crypto/kdf.h"
#include "crypto/sym.h"
#include "tpm/core/audit.h"
#include "tpm/subsystem/nv.h"
#include "tpm/subsystem/subsystems.h"
#include "tpm/tpm.h"

namespace utpm::tpm {
namespace {

void put_u32(crypto::HashState& h, uint32_t v) {
  const uint8_t b[4] = {uint8_t(v >> 24), uint8_t(v >> 16), uint8_t(v >> 8), uint8_t(v)};
  crypto::hash_update(h, b);
}

}  // namespace

// cpHash = H(commandCode || Name(handle 1) || ... || parameters)
size_t cp_hash(Command& c, TPM_ALG_ID alg, std::span<const uint8_t> parameters, uint8_t* out) {
  crypto::HashState h;
  crypto::hash_start(h, to_crypto(alg));
  put_u32(h, c.info.code);
  for (unsigned i = 0; i < c.info.handle_count; ++i) crypto::hash_update(h, c.entities[i].name.view());
  crypto::hash_update(h, parameters);
  return crypto::hash_finish(h, {out, profile::kMaxDigestSize});
}

namespace {

// A password (TPM_RS_PW or PolicyPassword): the HMAC field is the authValue, compared in
// constant time without trailing zeros on either side.
bool password_matches(const SessionIn& s, std::span<const uint8_t> auth_value) {
  return crypto::ct_equal(auth_trimmed(&s.hmac), auth_value);  // ct_equal also compares lengths
}

}  // namespace

// rpHash = H(responseCode || commandCode || parameters); only successful responses carry one.
size_t rp_hash(Command& c, TPM_ALG_ID alg, std::span<const uint8_t> parameters, uint8_t* out) {
  crypto::HashState h;
  crypto::hash_start(h, to_crypto(alg));
  put_u32(h, TPM_RC_SUCCESS);
  put_u32(h, c.info.code);
  crypto::hash_update(h, parameters);
  return crypto::hash_finish(h, {out, profile::kMaxDigestSize});
}

namespace {

// A session is bound to the entity whose Name and authValue it was started with (Part 1
// §19.6.10): both must match, since Names alone are not unique (every sequence object has the
// empty Name). Only then is the entity's authValue already in the session key.
bool bound_to(const SessionSlot& s, const Entity& entity) {
  if (s.bind == TPM_RH_NULL) return false;
  TPM2B_DIGEST id;
  bind_identity(entity, s.auth_hash, id);
  return id.size == s.bind_id.size && crypto::ct_equal(id.view(), s.bind_id.view());
}

// sessionValue = sessionKey || authValue: the key of the session's HMAC and parameter
// encryption. Returns its length.
size_t session_value(const SessionSlot& s, std::span<const uint8_t> auth_value, uint8_t* key) {
  size_t klen = 0;
  for (uint8_t b : s.session_key.view()) key[klen++] = b;
  for (uint8_t b : auth_value) key[klen++] = b;
  return klen;
}

// HMAC(sessionValue, pHash || nonceNewer || nonceOlder || [nonceTPMdecrypt] ||
//      [nonceTPMencrypt] || sessionAttributes)
size_t session_hmac(const SessionSlot& s, std::span<const uint8_t> auth_value, std::span<const uint8_t> p_hash,
                    const TPM2B_NONCE& newer, const TPM2B_NONCE& older, uint8_t attributes, uint8_t* out,
                    std::span<const uint8_t> extra_nonces = {}) {
  uint8_t key[2 * profile::kMaxDigestSize];
  size_t klen = session_value(s, auth_value, key);
  crypto::HmacState h;
  crypto::hmac_start(h, to_crypto(s.auth_hash), {key, klen});
  crypto::hmac_update(h, p_hash);
  crypto::hmac_update(h, newer.view());
  crypto::hmac_update(h, older.view());
  crypto::hmac_update(h, extra_nonces);
  crypto::hmac_update(h, {&attributes, 1});
  size_t n = crypto::hmac_finish(h, {out, profile::kMaxDigestSize});
  crypto::zeroize(key);
  crypto::zeroize(h);
  return n;
}

// A failed authorization of a DA-protected entity (or of lockoutAuth) counts even though the
// command fails, so it is committed at once.
// Fails closed: the failure is on record before the caller learns anything from it. If the
// store cannot record it, the answer is the store's error (failure mode for an I/O or
// integrity fault), never a plain AUTH_FAIL that invites the next guess.
TPM_RC auth_failed(Command& c, TPM_HANDLE entity, bool da_protected, unsigned n) {
  if (!da_protected && entity != TPM_RH_LOCKOUT) return rc_session(TPM_RC_BAD_AUTH, n);
  da_failure(c.tpm, entity);
  if (TPM_RC rc = persist_flush(c.tpm)) return rc;
  return rc_session(TPM_RC_AUTH_FAIL, n);
}

// A policy session whose HMAC or password is wrong: TPM_RC_POLICY_FAIL for an entity whose
// failures are not recorded (the reference TPM's answer, where an HMAC session says BAD_AUTH);
// a recorded failure counts and answers as for HMAC sessions.
TPM_RC policy_auth_failed(Command& c, TPM_HANDLE entity, bool da_protected, unsigned n) {
  TPM_RC rc = auth_failed(c, entity, da_protected, n);
  return rc == rc_session(TPM_RC_BAD_AUTH, n) ? rc_session(TPM_RC_POLICY_FAIL, n) : rc;
}

// The policy session's state checked when it authorizes handle i (Part 1 §19.7, Part 3 §23):
// expiry, physical presence, command code, the policy digest against the entity's authPolicy,
// PCR changes since PolicyPCR, locality, cpHash/nameHash/templateHash/pHash, PolicyNvWritten.
TPM_RC policy_check(Command& c, unsigned i, const SessionSlot& slot, std::span<const uint8_t> parameters) {
  const unsigned n = i + 1;
  const Entity& e = c.entities[i];
  if (slot.timeout != 0 && time_now(c.tpm) > slot.timeout) return rc_session(TPM_RC_EXPIRED, n);
  if ((slot.flags & kPolicyPpRequired) && !c.platform.physical_presence()) return rc_session(TPM_RC_PP, n);
  // PolicyTransportSPDM: no command reaches this TPM over an SPDM secure session (docs/engine.md).
  if (slot.flags & kPolicySecureChannel) return rc_session(TPM_RC_CHANNEL, n);
  if (slot.command_code != 0 && slot.command_code != c.info.code) return rc_session(TPM_RC_POLICY_CC, n);
  if (!policy_satisfied(e, slot)) return rc_session(TPM_RC_POLICY_FAIL, n);
  if ((slot.flags & kPolicyPcrCounterSet) && slot.pcr_update_counter != c.st.pcr.update_counter)
    return TPM_RC_PCR_CHANGED;
  if (slot.locality != 0) {
    const bool ok = slot.locality < 32 ? c.locality < 5 && (slot.locality >> c.locality & 1)
                                       : c.locality == slot.locality;
    if (!ok) return TPM_RC_LOCALITY;
  }
  if (slot.cp_hash_kind != kPolicyCpNone) {
    uint8_t d[profile::kMaxDigestSize];
    size_t len = 0;
    crypto::HashState h;
    crypto::hash_start(h, to_crypto(slot.auth_hash));
    if (slot.cp_hash_kind == kPolicyCpHash) {
      len = cp_hash(c, slot.auth_hash, parameters, d);
    } else if (slot.cp_hash_kind == kPolicyParamHash) {
      // pHash = H(commandCode || parameters): cpHash without the Names (PolicyParameters)
      const uint8_t cc[4] = {uint8_t(c.info.code >> 24), uint8_t(c.info.code >> 16), uint8_t(c.info.code >> 8),
                             uint8_t(c.info.code)};
      crypto::hash_update(h, cc);
      crypto::hash_update(h, parameters);
      len = crypto::hash_finish(h, {d, sizeof d});
    } else if (slot.cp_hash_kind == kPolicyNameHash) {
      // nameHash = H(Name(handle 1) || ... || Name(handle n))
      for (unsigned k = 0; k < c.info.handle_count; ++k) crypto::hash_update(h, c.entities[k].name.view());
      len = crypto::hash_finish(h, {d, sizeof d});
    } else {
      // templateHash = H(the TPMT_PUBLIC of inPublic), the second parameter of CreatePrimary,
      // Create and CreateLoaded (after the TPM2B inSensitive)
      if (c.info.code != TPM_CC_CreatePrimary && c.info.code != TPM_CC_Create && c.info.code != TPM_CC_CreateLoaded)
        return rc_session(TPM_RC_POLICY_FAIL, n);
      Reader r(parameters);
      uint16_t size = 0;
      std::span<const uint8_t> field;
      if (!r.u16(size) || !r.take(size, field) || !r.u16(size) || !r.take(size, field))
        return rc_session(TPM_RC_POLICY_FAIL, n);
      crypto::hash_update(h, field);
      len = crypto::hash_finish(h, {d, sizeof d});
    }
    if (len != slot.cp_hash.size || !crypto::ct_equal({d, len}, slot.cp_hash.view()))
      return rc_session(TPM_RC_POLICY_FAIL, n);
  }
  // PolicyNvWritten: the index's TPMA_NV_WRITTEN must be as the policy asserted; any entity
  // that is not an NV index fails it.
  if (slot.flags & kPolicyCheckNvWritten) {
    if (e.kind != EntityKind::nv_index) return rc_session(TPM_RC_POLICY_FAIL, n);
    const bool written = e.nv->pub.attributes.has(TPMA_NV::WRITTEN);
    if (written != ((slot.flags & kPolicyNvWrittenState) != 0)) return rc_session(TPM_RC_POLICY_FAIL, n);
  }
  return TPM_RC_SUCCESS;
}

}  // namespace

TPM_RC check_session_entry(Command& c, const SessionIn& s, unsigned n) {
  if (s.attributes & 0x18) return rc_session(TPM_RC_RESERVED_BITS, n);  // bits 3, 4 reserved
  if (s.handle == TPM_RS_PW) {
    // A password session has no nonce and may only ask to continue (Part 1 §19.6.4).
    if (s.attributes & ~TPMA_SESSION_continueSession) return rc_session(TPM_RC_ATTRIBUTES, n);
    if (s.nonce.size != 0) return rc_session(TPM_RC_NONCE, n);
    return TPM_RC_SUCCESS;
  }
  uint8_t t = handle_type(s.handle);
  if (t != TPM_HT_HMAC_SESSION && t != TPM_HT_POLICY_SESSION) return rc_session(TPM_RC_HANDLE, n);
  SessionSlot* slot = session_at(c.st, s.handle);
  if (!slot) return TPM_RC_REFERENCE_S0 + (n - 1);
  // Parameter encryption needs a session symmetric algorithm.
  if ((s.attributes & (TPMA_SESSION_decrypt | TPMA_SESSION_encrypt)) && slot->symmetric.algorithm == TPM_ALG_NULL)
    return rc_session(TPM_RC_SYMMETRIC, n);
  if (TPM_RC rc = audit_check_session(c.st, s.handle, s.attributes)) return rc_session(rc, n);
  // The caller's nonce is 16 octets up to the session hash's digest size (Part 1 §19.6.4).
  if (s.nonce.size < 16 || s.nonce.size > digest_size(slot->auth_hash)) return rc_session(TPM_RC_NONCE, n);
  return TPM_RC_SUCCESS;
}

namespace {

// Whether session i's HMAC is the one the caller must have computed (Part 1 §19.6.5): over
// cpHash, both nonces and the attributes, keyed with the session key and `auth_value`; the
// first session's HMAC also covers the nonceTPM of separate decrypt/encrypt sessions.
bool session_hmac_matches(Command& c, unsigned i, const SessionSlot& slot, std::span<const uint8_t> auth_value,
                          std::span<const uint8_t> parameters) {
  const SessionIn& s = c.sessions[i];
  uint8_t cp[profile::kMaxDigestSize], expect[profile::kMaxDigestSize];
  size_t cplen = cp_hash(c, slot.auth_hash, parameters, cp);
  uint8_t extra[2 * profile::kMaxDigestSize];
  size_t extra_len = 0;
  if (i == 0) {
    for (int idx : {int{c.decrypt_session}, c.encrypt_session != c.decrypt_session ? int{c.encrypt_session} : -1}) {
      if (idx <= 0) continue;
      const SessionSlot* other = session_at(c.st, c.sessions[idx].handle);
      std::memcpy(extra + extra_len, other->nonce_tpm.buffer, other->nonce_tpm.size);
      extra_len += other->nonce_tpm.size;
    }
  }
  size_t hlen = session_hmac(slot, auth_value, {cp, cplen}, s.nonce, slot.nonce_tpm, s.attributes, expect,
                             {extra, extra_len});
  bool ok = s.hmac.size == hlen && crypto::ct_equal(s.hmac.view(), {expect, hlen});
  crypto::zeroize(expect);
  return ok;
}

}  // namespace

TPM_RC authorize(Command& c, unsigned i, std::span<const uint8_t> parameters) {
  State& st = c.st;
  SessionIn& s = c.sessions[i];
  const unsigned n = i + 1;
  const Entity& e = c.entities[i];
  // Read-Only mode: PolicySecret may not use a PIN index (its authorization would change
  // pinCount). Refused before the authValue is checked, so nothing is counted (docs/engine.md).
  if (st.read_only && c.info.code == TPM_CC_PolicySecret && e.kind == EntityKind::nv_index &&
      (e.nv->pub.attributes.type() == TPM_NT_PIN_PASS || e.nv->pub.attributes.type() == TPM_NT_PIN_FAIL))
    return TPM_RC_READ_ONLY;
  // A failure that would have to be recorded cannot be recorded while NV is unavailable: then
  // no such authValue is checked at all (fail closed).
  if (da_records_failure(st, e.handle, e.da_protected) && !st.nv_available) return TPM_RC_NV_UNAVAILABLE;
  if (e.da_protected) {
    da_recover(c.tpm);
    if (da_in_lockout(st)) return TPM_RC_LOCKOUT;
    da_mark_used(st);
  }
  if (e.handle == TPM_RH_LOCKOUT && !lockout_auth_available(c.tpm)) return TPM_RC_LOCKOUT;
  // A command PP_Commands gated needs physical presence when platformAuth/platformPolicy
  // authorizes it, whatever the session type (Part 3 §26.2); checked before the authValue.
  if (e.handle == TPM_RH_PLATFORM && pp_required(st, c.info.code) && !c.platform.physical_presence())
    return rc_session(TPM_RC_PP, n);
  const std::span<const uint8_t> auth_value = auth_trimmed(e.auth);
  s.authorized_index = static_cast<int8_t>(i);
  s.auth_at_authorization = e.auth ? *e.auth : TPM2B_AUTH{};

  // An object's attributes decide whether its authValue may be used for a role at all
  // (Part 1 §19.7): USER needs userWithAuth, ADMIN needs adminWithPolicy CLEAR.
  const bool policy_session = s.handle != TPM_RS_PW && handle_type(s.handle) == TPM_HT_POLICY_SESSION;
  // A public-only object has neither an authValue nor a usable authPolicy here: without its
  // sensitive area it cannot be authorized at all (the reference TPM and libtpms agree;
  // docs/conformance.md C7).
  if (e.kind == EntityKind::object && e.object->public_only) return TPM_RC_AUTH_UNAVAILABLE;
  if (e.kind == EntityKind::object && !policy_session) {
    const TPMA_OBJECT& a = e.object->pub.objectAttributes;
    if (c.info.auth[i] == AuthRole::user && !a.has(TPMA_OBJECT_userWithAuth)) return TPM_RC_AUTH_UNAVAILABLE;
    // ADMIN with adminWithPolicy SET: a policy session is required (TPM_RC_AUTH_TYPE, swtpm's answer)
    if (c.info.auth[i] == AuthRole::admin && a.has(TPMA_OBJECT_adminWithPolicy)) return TPM_RC_AUTH_TYPE;
    // DUP (Duplicate's objectHandle): only a policy session may authorize it (Part 1 §19.2).
    if (c.info.auth[i] == AuthRole::dup) return TPM_RC_AUTH_TYPE;
  }
  // A PCR whose group has an authPolicy (PCR_SetAuthPolicy) needs a policy session (swtpm agrees).
  if (e.kind == EntityKind::pcr && e.policy_alg != TPM_ALG_NULL && !policy_session) return TPM_RC_AUTH_TYPE;
  // ADMIN and DUP role policy authorizations of an object must name the command
  // (PolicyCommandCode or PolicyDuplicationSelect); policy_check then requires it to be this one.
  if (e.kind == EntityKind::object && policy_session && c.info.auth[i] != AuthRole::user) {
    const SessionSlot* ps = session_at(st, s.handle);
    if (ps && ps->type == TPM_SE_POLICY && ps->command_code == 0) return rc_session(TPM_RC_POLICY_FAIL, n);
  }

  // An NV index's attributes decide which of its authorizations a command may use (TPMA_NV
  // AUTHREAD/AUTHWRITE, POLICYREAD/POLICYWRITE; ADMIN: policy only; PIN indices: pinCount).
  if (e.kind == EntityKind::nv_index) {
    const SessionSlot* ps = policy_session ? session_at(st, s.handle) : nullptr;
    const bool cc_bound = ps && ps->command_code != 0;  // policy_check: it must be this command
    if (TPM_RC rc = nv_auth_available(c.tpm, *e.nv, policy_session, c.info.auth[i] == AuthRole::admin,
                                      (c.info.flags & kCmdNvWrite) != 0, cc_bound))
      return rc == TPM_RC_POLICY_FAIL ? rc_session(rc, n) : rc;
  }
  // A PIN index counts successes (PIN_PASS) or failures (PIN_FAIL) of its authValue.
  auto result = [&](bool ok) -> TPM_RC {
    if (e.kind == EntityKind::nv_index && !policy_session)
      if (TPM_RC rc = nv_pin_result(c.tpm, *e.nv, ok)) return rc;
    if (ok) return TPM_RC_SUCCESS;
    // A policy session's wrong HMAC/password: policy_auth_failed (DA-recorded failures still
    // answer AUTH_FAIL); password and HMAC sessions: auth_failed.
    return policy_session ? policy_auth_failed(c, e.handle, e.da_protected, n)
                          : auth_failed(c, e.handle, e.da_protected, n);
  };

  if (s.handle == TPM_RS_PW) {
    return result(password_matches(s, auth_value));
  }

  SessionSlot& slot = *session_at(st, s.handle);
  if (slot.type == TPM_SE_TRIAL) return rc_session(TPM_RC_AUTH_TYPE, n);  // trial sessions never authorize
  if (slot.type == TPM_SE_POLICY) {
    // A policy session authorizes when the digest its policy commands accumulated equals the
    // entity's authPolicy under the same hash (Part 1 §19.7.4): a session that ran no policy
    // command (all-zero digest) satisfies exactly an all-zero authPolicy. Its HMAC is keyed
    // by the session key alone unless PolicyAuthValue asked for the authValue.
    if (TPM_RC rc = policy_check(c, i, slot, parameters)) return rc;
    if (slot.flags & kPolicyPasswordNeeded) {
      // PolicyPassword: the HMAC field carries the authValue in the clear; the response HMAC is
      // then empty (as ESAPI expects).
      s.policy_password = true;
      s.include_auth_value = false;
      return password_matches(s, auth_value) ? TPM_RC_SUCCESS : policy_auth_failed(c, e.handle, e.da_protected, n);
    }
    // PolicyAuthValue: the authValue joins the HMAC key, unless the session is bound to the
    // entity (then it is already in the session key).
    s.include_auth_value = (slot.flags & kPolicyAuthValueNeeded) && !bound_to(slot, e);
  } else {
    s.include_auth_value = !bound_to(slot, e);
  }
  const bool ok = session_hmac_matches(c, i, slot,
                                       s.include_auth_value ? auth_value : std::span<const uint8_t>{}, parameters);
  return result(ok);
}

TPM_RC check_extra_session(Command& c, unsigned i, std::span<const uint8_t> parameters) {
  const SessionIn& s = c.sessions[i];
  const unsigned n = i + 1;
  // A password authorizes a handle and nothing else; a session that authorizes no handle must
  // be there for something: decrypt, encrypt or audit (Part 1 §18.7; swtpm answers the same).
  if (s.handle == TPM_RS_PW) return rc_session(TPM_RC_HANDLE, n);
  if (!(s.attributes & (TPMA_SESSION_decrypt | TPMA_SESSION_encrypt | TPMA_SESSION_audit)))
    return rc_session(TPM_RC_ATTRIBUTES, n);
  // Its HMAC is keyed by the session key alone and is checked like any other: otherwise the
  // parameters of an audited or encrypted command could be changed in transit. A wrong HMAC
  // here is not a failed authorization of an entity: BAD_AUTH, no DA count.
  const SessionSlot& slot = *session_at(c.st, s.handle);
  return session_hmac_matches(c, i, slot, {}, parameters) ? TPM_RC_SUCCESS : rc_session(TPM_RC_BAD_AUTH, n);
}

namespace {

// The authValue in a response's HMAC and parameter encryption: the entity's value now (after
// HierarchyChangeAuth the new one, as the reference TPM and ESAPI have it), or, if the command
// flushed the entity (SequenceComplete, EventSequenceComplete), the value it was authorized
// with: the caller proved knowledge of it and expects it in the response HMAC.
std::span<const uint8_t> authorized_auth_value(const Command& c, const SessionIn& s) {
  if (s.authorized_index < 0) return {};
  const Entity& e = c.entities[s.authorized_index];
  return e.gone() ? auth_trimmed(&s.auth_at_authorization) : auth_trimmed(e.auth);
}
// ... in a response HMAC only when the session's HMAC carried it (not bound, or PolicyAuthValue).
std::span<const uint8_t> session_auth_value(const Command& c, const SessionIn& s) {
  return s.include_auth_value ? authorized_auth_value(c, s) : std::span<const uint8_t>{};
}

// The authValue in a parameter-encryption key: that of the entity the session authorized, also
// when the session is bound to it (Part 1 §21.1: sessionValue for encryption always carries the
// authorized entity's authValue; only the HMAC leaves it out for the bind entity). The
// reference TPM and ESAPI agree (tests/e2e/nv_test.py, a session bound to an NV index). Policy
// sessions: as their HMAC.
std::span<const uint8_t> encryption_auth_value(const Command& c, const SessionIn& s) {
  const SessionSlot* slot = session_at(c.st, s.handle);
  if (!slot || slot->type != TPM_SE_HMAC) return session_auth_value(c, s);
  return authorized_auth_value(c, s);
}

// Encrypts or decrypts, in place, the data of the TPM2B at the start of `area` with the
// session's symmetric algorithm (Part 1 §21): CFB with {key, iv} = KDFa(authHash,
// sessionValue, "CFB", nonceNewer, nonceOlder, keyBits + 128), or XOR with the mask
// KDFa(authHash, sessionValue, "XOR", nonceNewer, nonceOlder, 8 * size) over all of it.
TPM_RC crypt_first_parameter(const Command& c, const SessionIn& s, const TPM2B_NONCE& newer, const TPM2B_NONCE& older,
                             std::span<uint8_t> area, bool encrypt) {
  if (area.size() < 2) return TPM_RC_INSUFFICIENT;
  const size_t size = size_t{area[0]} << 8 | area[1];
  if (size > area.size() - 2) return TPM_RC_SIZE;
  std::span<uint8_t> data = area.subspan(2, size);
  const SessionSlot& slot = *session_at(c.st, s.handle);
  uint8_t key[2 * profile::kMaxDigestSize];
  const size_t klen = session_value(slot, encryption_auth_value(c, s), key);
  const crypto::HashAlg hash = to_crypto(slot.auth_hash);
  crypto::Status rc = crypto::Status::ok;
  if (slot.symmetric.algorithm != TPM_ALG_XOR) {  // a block cipher (AES, SM4, Camellia) in CFB
    static constexpr uint8_t kCfb[] = {'C', 'F', 'B'};
    const crypto::BlockCipher cipher = block_cipher(slot.symmetric.algorithm);
    const size_t key_bytes = slot.symmetric.keyBits.aes / 8u;  // the arms share the number
    uint8_t key_iv[32 + 16];
    crypto::kdfa(hash, {key, klen}, kCfb, newer.view(), older.view(), static_cast<uint32_t>((key_bytes + 16) * 8),
                 {key_iv, key_bytes + 16});
    rc = encrypt
             ? crypto::sym_encrypt(cipher, crypto::SymMode::cfb, {key_iv, key_bytes}, {key_iv + key_bytes, 16}, data, data)
             : crypto::sym_decrypt(cipher, crypto::SymMode::cfb, {key_iv, key_bytes}, {key_iv + key_bytes, 16}, data, data);
    crypto::zeroize(key_iv);
  } else {
    // XOR obfuscation of the whole parameter, whatever its size, keyed with the session's
    // authHash: the hash a TPMT_SYM_DEF of XOR names is not the one parameter encryption uses
    // (Part 1 §21.2; the reference TPM and every TSS agree).
    static constexpr uint8_t kXor[] = {'X', 'O', 'R'};
    rc = crypto::kdfa_xor(hash, {key, klen}, kXor, newer.view(), older.view(), data);
  }
  crypto::zeroize(key);
  return rc == crypto::Status::ok ? TPM_RC_SUCCESS : TPM_RC_FAILURE;
}

}  // namespace

TPM_RC check_parameter_encryption(Command& c) {
  for (unsigned i = 0; i < c.session_count; ++i) {
    const uint8_t a = c.sessions[i].attributes;
    const unsigned n = i + 1;
    if (a & TPMA_SESSION_decrypt) {
      // One decrypt session at most, and only for a command whose first parameter is a TPM2B.
      if (c.decrypt_session >= 0 || !(c.info.flags & kCmdDecrypt)) return rc_session(TPM_RC_ATTRIBUTES, n);
      c.decrypt_session = static_cast<int8_t>(i);
    }
    if (a & TPMA_SESSION_encrypt) {
      if (c.encrypt_session >= 0 || !(c.info.flags & kCmdEncrypt)) return rc_session(TPM_RC_ATTRIBUTES, n);
      c.encrypt_session = static_cast<int8_t>(i);
    }
  }
  return TPM_RC_SUCCESS;
}

TPM_RC decrypt_parameter(Command& c, std::span<uint8_t> parameters) {
  const SessionIn& s = c.sessions[c.decrypt_session];
  const SessionSlot& slot = *session_at(c.st, s.handle);
  // nonceNewer is the caller's nonce of this command, nonceOlder the TPM's last one.
  TPM_RC rc = crypt_first_parameter(c, s, s.nonce, slot.nonce_tpm, parameters, false);
  return rc == TPM_RC_SUCCESS ? rc : rc_param(rc, 1);
}

void write_response_sessions(Command& c, std::span<uint8_t> parameters, Writer& out) {
  State& st = c.st;
  // Every HMAC/policy session gets a new nonceTPM; the caller's nonce becomes nonceOlder.
  for (unsigned i = 0; i < c.session_count; ++i) {
    SessionIn& s = c.sessions[i];
    SessionSlot* slot = s.handle == TPM_RS_PW ? nullptr : session_at(st, s.handle);
    if (!slot) continue;
    slot->nonce_caller = s.nonce;
    // Same size as the session's first nonceTPM (nonceCaller's size at StartAuthSession).
    if (!tpm_random(c.tpm, {slot->nonce_tpm.buffer, slot->nonce_tpm.size})) slot->nonce_tpm.size = 0;
  }
  // rpHash covers the parameters as sent: encrypt first.
  if (c.encrypt_session >= 0) {
    const SessionIn& s = c.sessions[c.encrypt_session];
    const SessionSlot& slot = *session_at(st, s.handle);
    crypt_first_parameter(c, s, slot.nonce_tpm, s.nonce, parameters, true);
  }
  audit_sessions(c, parameters);  // audit sessions: digest of cpHash || rpHash (as sent)
  for (unsigned i = 0; i < c.session_count; ++i) {
    SessionIn& s = c.sessions[i];
    SessionSlot* slot = s.handle == TPM_RS_PW ? nullptr : session_at(st, s.handle);
    if (slot && s.policy_password) {  // PolicyPassword: no response HMAC
      marshal(out, slot->nonce_tpm);
      out.u8(s.attributes);
      out.u16(0);
      if (!(s.attributes & TPMA_SESSION_continueSession)) session_flush(st, *slot);
      continue;
    }
    if (!slot) {  // password session: empty nonce and HMAC, continueSession SET (Part 1 §19.6.4)
      out.u16(0);
      out.u8(TPMA_SESSION_continueSession);
      out.u16(0);
      continue;
    }
    uint8_t rp[profile::kMaxDigestSize], hmac[profile::kMaxDigestSize];
    size_t rplen = rp_hash(c, slot->auth_hash, parameters, rp);
    size_t hlen = session_hmac(*slot, session_auth_value(c, s), {rp, rplen}, slot->nonce_tpm, s.nonce, s.attributes,
                               hmac);
    marshal(out, slot->nonce_tpm);
    out.u8(s.attributes);
    out.u16(static_cast<uint16_t>(hlen));
    out.bytes(hmac, hlen);
    if (!(s.attributes & TPMA_SESSION_continueSession)) session_flush(st, *slot);
  }
}

}  // namespace utpm::tpm
