// Loaded authorization sessions. Handles are HMAC_SESSION_FIRST / POLICY_SESSION_FIRST plus
// the slot index; the handle type must match the session type.
#include <memory>

#include "crypto/crypto.h"
#include "tpm/subsystem/subsystems.h"

namespace utpm::tpm {

SessionSlot* session_at(State& st, TPM_HANDLE h) {
  uint8_t t = handle_type(h);
  if (t != TPM_HT_HMAC_SESSION && t != TPM_HT_POLICY_SESSION) return nullptr;
  uint32_t i = h & 0x00FFFFFF;
  if (i >= profile::kMaxLoadedSessions || !st.sessions[i].used) return nullptr;
  SessionSlot& s = st.sessions[i];
  bool policy = s.type == TPM_SE_POLICY || s.type == TPM_SE_TRIAL;
  if (policy != (t == TPM_HT_POLICY_SESSION)) return nullptr;
  return &s;
}

TPM_HANDLE session_handle(const State& st, const SessionSlot* s) {
  uint32_t i = static_cast<uint32_t>(s - st.sessions);
  bool policy = s->type == TPM_SE_POLICY || s->type == TPM_SE_TRIAL;
  return (policy ? POLICY_SESSION_FIRST : HMAC_SESSION_FIRST) + i;
}

SessionSlot* session_allocate(State& st) {
  for (auto& s : st.sessions)
    if (!s.used) return &s;
  return nullptr;
}

void session_flush(SessionSlot& s) {
  crypto::zeroize(s);  // the session key is a secret
  std::construct_at(&s);
}

size_t sessions_loaded(const State& st) {
  size_t n = 0;
  for (const auto& s : st.sessions) n += s.used;
  return n;
}

}  // namespace utpm::tpm
