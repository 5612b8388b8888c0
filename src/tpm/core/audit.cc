#include "tpm/core/audit.h"

#include <cstring>

#include "crypto/crypto.h"
#include "tpm/core/authorization.h"
#include "tpm/subsystem/subsystems.h"
#include "tpm/tpm.h"
#include "tpm/types/attest.h"

namespace utpm::tpm {
namespace {

constexpr uint16_t kTagAudit = 0x5541;  // "UA"
constexpr uint16_t kAuditVersion = 1;
constexpr uint32_t kAuditCcCount = 8 * sizeof(AuditState::commands);

int hash_index(TPM_ALG_ID alg) {
  for (size_t i = 0; i < kHashCount; ++i)
    if (kHashAlgs[i] == alg) return static_cast<int>(i);
  return -1;
}

// The command's cpHash under alg, computed once per hash by audit_begin.
void need_cp(Command& c, TPM_ALG_ID alg, std::span<const uint8_t> parameters) {
  const int i = hash_index(alg);
  if (i < 0 || c.audit_cp[i].size != 0) return;
  c.audit_cp[i].size = static_cast<uint16_t>(cp_hash(c, alg, parameters, c.audit_cp[i].buffer));
}

// digest := H_alg(digest || cpHash || rpHash)
void extend(Command& c, TPM_ALG_ID alg, TPM2B_DIGEST& digest, std::span<const uint8_t> response_parameters) {
  const int i = hash_index(alg);
  if (i < 0) return;
  uint8_t rp[profile::kMaxDigestSize];
  const size_t rplen = rp_hash(c, alg, response_parameters, rp);
  crypto::HashState h;
  crypto::hash_start(h, to_crypto(alg));
  crypto::hash_update(h, digest.view());
  crypto::hash_update(h, c.audit_cp[i].view());
  crypto::hash_update(h, {rp, rplen});
  digest.size = static_cast<uint16_t>(crypto::hash_finish(h, digest.buffer));
}

void zeros(TPM2B_DIGEST& d, TPM_ALG_ID alg) {
  d.size = digest_size(alg);
  std::memset(d.buffer, 0, d.size);
}

}  // namespace

void audit_defaults(AuditState& a) {
  a = AuditState{};
  a.commands[(TPM_CC_SetCommandCodeAuditStatus - kAuditCcFirst) / 8] |=
      uint8_t(1u << ((TPM_CC_SetCommandCodeAuditStatus - kAuditCcFirst) % 8));
}

void audit_record_write(const AuditState& a, Writer& w) {
  w.u16(kTagAudit);
  w.u16(kAuditVersion);
  w.u16(a.alg);
  w.u64(a.counter);
  w.bytes(a.commands, sizeof a.commands);
}

bool audit_record_read(Reader& r, AuditState& a) {
  uint16_t tag = 0, version = 0;
  return r.u16(tag) && tag == kTagAudit && r.u16(version) && version == kAuditVersion && r.u16(a.alg) &&
         hash_implemented(a.alg) && r.u64(a.counter) && r.bytes(a.commands, sizeof a.commands) &&
         r.remaining() == 0;
}

bool audit_listed(const State& st, TPM_CC code) {
  const uint32_t bit = code - kAuditCcFirst;  // codes below TPM_CC_FIRST wrap to large values
  return bit < kAuditCcCount && (st.audit.commands[bit / 8] >> (bit % 8) & 1);
}

void audit_list_set(State& st, TPM_CC code, bool audited) {
  const uint32_t bit = code - kAuditCcFirst;
  if (bit >= kAuditCcCount || !find_command(code)) return;  // only implemented commands
  if (!audited && code == TPM_CC_SetCommandCodeAuditStatus) return;  // always audited
  const uint8_t mask = uint8_t(1u << (bit % 8));
  st.audit.commands[bit / 8] = audited ? st.audit.commands[bit / 8] | mask : st.audit.commands[bit / 8] & ~mask;
}

void audit_commands_digest(const State& st, TPM2B_DIGEST& out) {
  crypto::HashState h;
  crypto::hash_start(h, to_crypto(st.audit.alg));
  for (uint32_t bit = 0; bit < kAuditCcCount; ++bit) {
    if (!(st.audit.commands[bit / 8] >> (bit % 8) & 1)) continue;
    const uint32_t code = kAuditCcFirst + bit;
    const uint8_t b[4] = {uint8_t(code >> 24), uint8_t(code >> 16), uint8_t(code >> 8), uint8_t(code)};
    crypto::hash_update(h, b);
  }
  out.size = static_cast<uint16_t>(crypto::hash_finish(h, out.buffer));
}

TPM_RC audit_check_session(const State& st, TPM_HANDLE session, uint8_t attributes) {
  if ((attributes & (TPMA_SESSION_auditExclusive | TPMA_SESSION_auditReset)) && !(attributes & TPMA_SESSION_audit))
    return TPM_RC_ATTRIBUTES;
  if ((attributes & TPMA_SESSION_auditExclusive) && st.audit.exclusive_session != session) return TPM_RC_EXCLUSIVE;
  return TPM_RC_SUCCESS;
}

void audit_begin(Command& c, std::span<const uint8_t> parameters) {
  c.audit_command = audit_listed(c.st, c.info.code);
  if (c.audit_command) need_cp(c, c.st.audit.alg, parameters);
  for (unsigned i = 0; i < c.session_count; ++i) {
    if (!(c.sessions[i].attributes & TPMA_SESSION_audit)) continue;
    if (const SessionSlot* s = session_at(c.st, c.sessions[i].handle)) need_cp(c, s->auth_hash, parameters);
  }
}

void audit_commit(Command& c) {
  // The command that changed the hash is not extended into a digest of either hash.
  if (!c.audit_command || c.audit_alg_changed || c.st.audit.digest.size != 0) return;
  ++c.st.audit.counter;
  c.st.dirty |= kDirtyAudit;
}

void audit_sessions(Command& c, std::span<const uint8_t> response_parameters) {
  for (unsigned i = 0; i < c.session_count; ++i) {
    SessionIn& in = c.sessions[i];
    if (!(in.attributes & TPMA_SESSION_audit)) continue;
    SessionSlot* s = session_at(c.st, in.handle);
    if (!s) continue;
    c.audit_session = in.handle;
    if (!s->audit || (in.attributes & TPMA_SESSION_auditReset)) {
      s->audit = true;
      zeros(s->audit_digest, s->auth_hash);
      c.audit_session_restarted = true;
    }
    extend(c, s->auth_hash, s->audit_digest, response_parameters);
  }
  // The exclusive audit session: set when a session's digest restarts, kept while every command
  // uses it for audit, lost at the first command that does not (audit_end). The response's
  // auditExclusive says whether the audit session is now exclusive (Part 2 TPMA_SESSION).
  if (c.audit_session == 0) return;
  const bool exclusive = c.audit_session_restarted || c.st.audit.exclusive_session == c.audit_session;
  c.st.audit.exclusive_session = exclusive ? c.audit_session : 0;
  for (unsigned i = 0; i < c.session_count; ++i) {
    SessionIn& in = c.sessions[i];
    if (in.handle != c.audit_session || !(in.attributes & TPMA_SESSION_audit)) continue;
    in.attributes = static_cast<uint8_t>((in.attributes & ~TPMA_SESSION_auditExclusive) |
                                         (exclusive ? TPMA_SESSION_auditExclusive : 0));
  }
}

void audit_end(Command& c, std::span<const uint8_t> response_parameters) {
  AuditState& a = c.st.audit;
  if (c.audit_command && !c.audit_alg_changed) {
    if (a.digest.size == 0) zeros(a.digest, a.alg);  // restarted: audit_commit counted it
    extend(c, a.alg, a.digest, response_parameters);
  }
  if (c.audit_clear || c.audit_alg_changed) a.digest.size = 0;
  if (c.audit_session == 0) a.exclusive_session = 0;  // a command without the audit session
}

}  // namespace utpm::tpm
