// Authorization sessions. A session is active from StartAuthSession until it is flushed; while
// active it is either loaded (in one of the few RAM slots) or context-saved (only a sequence
// number kept, so an older saved context of it cannot be replayed). Its handle is
// HMAC_SESSION_FIRST or POLICY_SESSION_FIRST plus its index in the active table.
#include <memory>

#include "crypto/crypto.h"
#include "tpm/subsystem/subsystems.h"

namespace utpm::tpm {
namespace {
constexpr uint8_t kFree = 0, kLoaded = 1, kSaved = 2;

bool is_policy(const SessionSlot& s) { return s.type == TPM_SE_POLICY || s.type == TPM_SE_TRIAL; }

// Index of a session handle whose type (HMAC/policy) matches the active entry, or -1.
int index_of(const State& st, TPM_HANDLE h) {
  uint8_t t = handle_type(h);
  if (t != TPM_HT_HMAC_SESSION && t != TPM_HT_POLICY_SESSION) return -1;
  uint32_t i = h & 0x00FFFFFF;
  if (i >= profile::kMaxActiveSessions || st.active_sessions[i].state == kFree) return -1;
  if (st.active_sessions[i].policy != (t == TPM_HT_POLICY_SESSION)) return -1;
  return static_cast<int>(i);
}
}  // namespace

SessionSlot* session_at(State& st, TPM_HANDLE h) {
  int i = index_of(st, h);
  if (i < 0 || st.active_sessions[i].state != kLoaded) return nullptr;
  for (auto& s : st.sessions)
    if (s.used && s.index == i) return &s;
  return nullptr;
}

TPM_HANDLE session_handle(const State&, const SessionSlot* s) {
  return (is_policy(*s) ? POLICY_SESSION_FIRST : HMAC_SESSION_FIRST) + s->index;
}

int session_oldest_saved(const State& st) {
  // The saved sequences lie in [session_counter - kContextGapMax - 1, session_counter), so their
  // distance above the counter's low bits, modulo the slot type, orders them: the smallest is
  // the oldest (0 when the gap is full: the oldest's low bits are the counter's own).
  const auto low = static_cast<profile::ContextSlot>(st.session_counter);
  int oldest = -1;
  profile::ContextSlot best = 0;
  for (uint32_t i = 0; i < profile::kMaxActiveSessions; ++i) {
    const auto& a = st.active_sessions[i];
    if (a.state != kSaved) continue;
    const auto d = static_cast<profile::ContextSlot>(a.slot - low);
    if (oldest < 0 || d < best) {
      oldest = static_cast<int>(i);
      best = d;
    }
  }
  return oldest;
}

bool session_gap_full(const State& st) {
  const int oldest = session_oldest_saved(st);
  return oldest >= 0 && st.active_sessions[oldest].slot == static_cast<profile::ContextSlot>(st.session_counter);
}

bool session_gap_blocks_last_slot(const State& st, int loading) {
  size_t free_slots = 0;
  for (const auto& s : st.sessions) free_slots += !s.used;
  if (free_slots != 1 || !session_gap_full(st)) return false;
  return loading < 0 || loading != session_oldest_saved(st);
}

SessionSlot* session_allocate(State& st, bool policy, TPM_RC& rc) {
  SessionSlot* slot = nullptr;
  for (auto& s : st.sessions)
    if (!s.used) {
      slot = &s;
      break;
    }
  if (!slot) {
    rc = TPM_RC_SESSION_MEMORY;
    return nullptr;
  }
  // The last free slot stays free while the gap is full: the oldest saved session must still
  // be loadable, to be saved again under a new sequence (Part 1 "Session Context Gap").
  if (session_gap_blocks_last_slot(st, -1)) {
    rc = TPM_RC_CONTEXT_GAP;
    return nullptr;
  }
  for (uint32_t i = 0; i < profile::kMaxActiveSessions; ++i) {
    if (st.active_sessions[i].state != kFree) continue;
    st.active_sessions[i] = {kLoaded, policy, 0};
    slot->used = true;
    slot->index = static_cast<uint8_t>(i);
    return slot;
  }
  rc = TPM_RC_SESSION_HANDLES;
  return nullptr;
}

void session_flush(State& st, SessionSlot& s) {
  if (s.used && st.audit.exclusive_session == session_handle(st, &s)) st.audit.exclusive_session = 0;
  if (s.used) st.active_sessions[s.index] = {};
  crypto::zeroize(s);  // the session key is a secret
  std::construct_at(&s);
}

void session_saved(State& st, SessionSlot& s, uint64_t sequence) {
  const uint8_t i = s.index;
  const bool policy = is_policy(s);
  crypto::zeroize(s);
  std::construct_at(&s);
  st.active_sessions[i] = {kSaved, policy, static_cast<profile::ContextSlot>(sequence)};
}

int session_loadable(const State& st, TPM_HANDLE h, uint64_t sequence) {
  int i = index_of(st, h);
  // Only the low bits are kept, so the sequence must also be recent enough that no other
  // context of this session can share them: below the counter, by at most the gap + 1.
  if (i < 0 || st.active_sessions[i].state != kSaved ||
      st.active_sessions[i].slot != static_cast<profile::ContextSlot>(sequence) || sequence >= st.session_counter ||
      st.session_counter - sequence > uint64_t{profile::kContextGapMax} + 1)
    return -1;
  return i;
}

bool session_forget_saved(State& st, TPM_HANDLE h) {
  int i = index_of(st, h);
  if (i < 0 || st.active_sessions[i].state != kSaved) return false;
  st.active_sessions[i] = {};
  if (st.audit.exclusive_session == h) st.audit.exclusive_session = 0;  // its handle may be reused
  return true;
}

size_t sessions_loaded(const State& st) {
  size_t n = 0;
  for (const auto& s : st.sessions) n += s.used;
  return n;
}

size_t sessions_active(const State& st) {
  size_t n = 0;
  for (const auto& a : st.active_sessions) n += a.state != kFree;
  return n;
}

// Explicit encoding for session contexts (never a struct dump).
void session_serialize(const SessionSlot& s, Writer& w) {
  w.u8(4);  // version (2: bind_id replaced v1's bind Name; 3: policy session state; 4: audit)
  w.u8(s.type);
  w.u16(s.auth_hash);
  w.u32(s.bind);
  for (const auto* b : {&s.bind_id, &s.session_key, &s.nonce_tpm, &s.nonce_caller, &s.policy_digest})
    marshal(w, *b);
  w.u16(s.symmetric.algorithm.value);
  w.u16(s.symmetric.keyBits.aes.value);
  w.u16(s.symmetric.mode.aes.value);
  // v3: the policy session state
  w.u64(s.start_time);
  w.u64(s.timeout);
  w.u32(s.command_code);
  w.u32(s.pcr_update_counter);
  marshal(w, s.cp_hash);
  w.u8(s.cp_hash_kind);
  w.u8(s.locality);
  w.u8(s.flags);
  // v4: session audit
  w.u8(s.audit ? 1 : 0);
  marshal(w, s.audit_digest);
}

bool session_deserialize(Reader& r, SessionSlot& s) {
  uint8_t version = 0;
  uint8_t audit = 0;
  bool ok = r.u8(version) && (version == 3 || version == 4) && r.u8(s.type) && r.u16(s.auth_hash) && r.u32(s.bind);
  for (auto* b : {&s.bind_id, &s.session_key, &s.nonce_tpm, &s.nonce_caller, &s.policy_digest})
    ok = ok && unmarshal(r, *b) == TPM_RC_SUCCESS;
  ok = ok && r.u16(s.symmetric.algorithm.value) && r.u16(s.symmetric.keyBits.aes.value) &&
       r.u16(s.symmetric.mode.aes.value);
  ok = ok && r.u64(s.start_time) && r.u64(s.timeout) && r.u32(s.command_code) && r.u32(s.pcr_update_counter) &&
       unmarshal(r, s.cp_hash) == TPM_RC_SUCCESS && r.u8(s.cp_hash_kind) && r.u8(s.locality) && r.u8(s.flags);
  if (ok && version >= 4) ok = r.u8(audit) && audit <= 1 && unmarshal(r, s.audit_digest) == TPM_RC_SUCCESS;
  s.audit = audit != 0;
  return ok && hash_implemented(s.auth_hash) && s.cp_hash_kind <= kPolicyParamHash && r.remaining() == 0;
}

}  // namespace utpm::tpm
