// Command frame processing (Part 3 §5, Part 1 §18): header checks, handle area, authorization
// area, dispatch to the handler, response assembly, and the NV commit that makes a command's
// effects durable only if it succeeded.
#include <algorithm>
#include <cstring>

#include "crypto/crypto.h"
#include "tpm/core/command.h"
#include "tpm/subsystem/subsystems.h"
#include "tpm/tpm.h"

namespace utpm::tpm {
namespace {

constexpr size_t kHeaderSize = 10;
// handle(4) + nonce size(2) + attributes(1) + hmac size(2): the smallest session.
constexpr uint32_t kMinSessionSize = 9;

size_t error_response(std::span<uint8_t> rsp, TPM_RC rc) {
  Writer w(rsp);
  w.u16(TPM_ST_NO_SESSIONS);
  w.u32(kHeaderSize);
  w.u32(rc);
  return kHeaderSize;
}

// Checks a handle-area value against what the command allows and that the entity exists.
// n is the 1-based handle number for the response code.
TPM_RC check_handle(State& st, HandleKind kind, TPM_HANDLE h, unsigned n) {
  switch (kind) {
    case HandleKind::none:
      break;
    case HandleKind::pcr_or_null:
      if (h == TPM_RH_NULL) return TPM_RC_SUCCESS;
      [[fallthrough]];
    case HandleKind::pcr:
      return h < profile::kNumPcrs ? TPM_RC_SUCCESS : rc_handle(TPM_RC_VALUE, n);
    case HandleKind::provision:
      if (h != TPM_RH_OWNER && h != TPM_RH_PLATFORM) return rc_handle(TPM_RC_VALUE, n);
      return hierarchy_enabled(st, h) ? TPM_RC_SUCCESS : rc_handle(TPM_RC_HIERARCHY, n);
    case HandleKind::object:
      if (handle_type(h) == TPM_HT_TRANSIENT)
        return object_at(st, h) ? TPM_RC_SUCCESS : TPM_RC_REFERENCE_H0 + (n - 1);
      if (handle_type(h) == TPM_HT_PERSISTENT) return rc_handle(TPM_RC_HANDLE, n);
      return rc_handle(TPM_RC_VALUE, n);
  }
  return TPM_RC_SUCCESS;
}

// Parses the authorization area (Part 1 §18.7). Errors carry the session number.
TPM_RC parse_sessions(Reader& r, Command& c) {
  uint32_t auth_size;
  if (!r.u32(auth_size)) return TPM_RC_AUTHSIZE;
  if (auth_size < kMinSessionSize || auth_size > r.remaining()) return TPM_RC_AUTHSIZE;
  Reader area;
  r.sub(auth_size, area);
  while (area.remaining() > 0) {
    if (c.session_count == profile::kMaxSessionsPerCommand) return TPM_RC_AUTHSIZE;
    SessionIn& s = c.sessions[c.session_count++];
    const unsigned n = c.session_count;
    if (!area.u32(s.handle)) return TPM_RC_AUTHSIZE;
    TPM_RC rc = unmarshal(area, s.nonce);
    if (rc == TPM_RC_SUCCESS) rc = area.u8(s.attributes) ? TPM_RC_SUCCESS : TPM_RC_INSUFFICIENT;
    if (rc == TPM_RC_SUCCESS) rc = unmarshal(area, s.hmac);
    if (rc == TPM_RC_INSUFFICIENT) return TPM_RC_AUTHSIZE;
    if (rc != TPM_RC_SUCCESS) return rc_session(rc, n);
    // Reserved attribute bits (3, 4) must be clear.
    if (s.attributes & 0x18) return rc_session(TPM_RC_RESERVED_BITS, n);
    if (s.handle == TPM_RS_PW) {
      // A password session has no nonce and may only ask to continue (Part 1 §19.6.4).
      if (s.attributes & ~TPMA_SESSION_continueSession) return rc_session(TPM_RC_ATTRIBUTES, n);
      if (s.nonce.size != 0) return rc_session(TPM_RC_NONCE, n);
      continue;
    }
    uint8_t t = handle_type(s.handle);
    if (t == TPM_HT_HMAC_SESSION || t == TPM_HT_POLICY_SESSION)
      return TPM_RC_REFERENCE_S0 + (n - 1);  // no such session is loaded
    return rc_session(TPM_RC_HANDLE, n);
  }
  return TPM_RC_SUCCESS;
}

// Strips trailing zero octets: authValues compare without them (Part 1 §19.6.5).
size_t trimmed_size(const TPM2B_AUTH& a) {
  size_t n = a.size;
  while (n > 0 && a.buffer[n - 1] == 0) --n;
  return n;
}

// Password authorization of handle i by session i (Part 1 §19.6.5).
TPM_RC authorize(Tpm& tpm, Command& c, unsigned i) {
  State& st = c.st;
  const SessionIn& s = c.sessions[i];
  const unsigned n = i + 1;
  EntityAuth ea{};
  TPM_RC rc = entity_auth(st, c.handles[i], ea);
  if (rc != TPM_RC_SUCCESS) return rc_handle(rc, n);
  if (ea.da_protected && st.pers.max_tries != 0 && st.pers.failed_tries >= st.pers.max_tries)
    return TPM_RC_LOCKOUT;
  static const TPM2B_AUTH kEmpty{};
  const TPM2B_AUTH& want = ea.auth ? *ea.auth : kEmpty;
  size_t got_len = trimmed_size(s.hmac), want_len = trimmed_size(want);
  bool ok = got_len == want_len && crypto::ct_equal({s.hmac.buffer, got_len}, {want.buffer, want_len});
  if (ok) return TPM_RC_SUCCESS;
  if (!ea.da_protected) return rc_session(TPM_RC_BAD_AUTH, n);
  // A failure against a DA-protected entity counts even though the command fails.
  ++st.pers.failed_tries;
  st.dirty |= kDirtyPersistent;
  persist_flush(tpm);
  return rc_session(TPM_RC_AUTH_FAIL, n);
}

}  // namespace

size_t Tpm::execute(uint8_t locality, std::span<const uint8_t> command, std::span<uint8_t> response) {
  if (response.size() < kHeaderSize) return 0;
  if (!st_.powered) return error_response(response, TPM_RC_FAILURE);
  st_.dirty = 0;

  // ---- header ----
  Reader r(command);
  uint16_t tag = 0;
  uint32_t size = 0, code = 0;
  if (command.size() >= 2) r.u16(tag);
  if (command.size() >= 2 && tag != TPM_ST_NO_SESSIONS && tag != TPM_ST_SESSIONS)
    return error_response(response, TPM_RC_BAD_TAG);
  if (command.size() < kHeaderSize) return error_response(response, TPM_RC_COMMAND_SIZE);
  r.u32(size);
  r.u32(code);
  if (size != command.size() || size > profile::kMaxCommandSize)
    return error_response(response, TPM_RC_COMMAND_SIZE);

  const CommandInfo* info = find_command(code);
  if (!info) return error_response(response, TPM_RC_COMMAND_CODE);
  if (st_.failure.active && !(info->flags & kCmdAllowedInFailure))
    return error_response(response, TPM_RC_FAILURE);
  if (!st_.failure.active && st_.phase != Phase::operational && code != TPM_CC_Startup)
    return error_response(response, TPM_RC_INITIALIZE);
  if ((info->flags & kCmdNv) && !st_.nv_available)
    return error_response(response, TPM_RC_NV_UNAVAILABLE);

  Command c{*this, st_, platform_, *info, locality};

  // ---- handle area ----
  for (unsigned i = 0; i < info->handle_count; ++i) {
    if (!r.u32(c.handles[i])) return error_response(response, rc_handle(TPM_RC_INSUFFICIENT, i + 1));
    TPM_RC rc = check_handle(st_, info->handles[i], c.handles[i], i + 1);
    if (rc != TPM_RC_SUCCESS) return error_response(response, rc);
  }

  // ---- authorization area ----
  const uint8_t auth_count = info->auth_count();
  if (tag == TPM_ST_SESSIONS) {
    TPM_RC rc = parse_sessions(r, c);
    if (rc != TPM_RC_SUCCESS) return error_response(response, rc);
  }
  if (c.session_count < auth_count) return error_response(response, TPM_RC_AUTH_MISSING);
  for (unsigned i = 0; i < auth_count; ++i) {
    if (c.sessions[i].handle != TPM_RS_PW) return error_response(response, TPM_RC_AUTH_UNAVAILABLE);
    TPM_RC rc = authorize(*this, c, i);
    if (rc != TPM_RC_SUCCESS) return error_response(response, rc);
  }

  // ---- dispatch ----
  // Room for the header, an optional response handle and, with sessions, parameterSize.
  const bool sessions = tag == TPM_ST_SESSIONS;
  const size_t handle_at = kHeaderSize;
  const size_t params_at = handle_at + ((info->flags & kCmdRHandle) ? 4 : 0) + (sessions ? 4 : 0);
  if (response.size() < params_at) return error_response(response, TPM_RC_FAILURE);
  c.params = r;
  c.out = Writer(response.subspan(params_at));

  TPM_RC rc = info->handler(c);
  if (rc == TPM_RC_SUCCESS && c.out.overflow()) rc = TPM_RC_FAILURE;  // cannot happen: sizes are bounded
  if (rc != TPM_RC_SUCCESS) {
    persist_discard(*this);
    return error_response(response, rc);
  }

  // A state-changing command after Shutdown(STATE) invalidates the saved state (Part 3 §9.4).
  if (st_.shutdown_seen && !(info->flags & kCmdKeepsOrderly)) {
    st_.shutdown_seen = false;
    st_.clock.orderly = kOrderlyNone;
    st_.dirty |= kDirtyClock;
  }
  clock_periodic_update(*this);
  rc = persist_flush(*this);
  if (rc != TPM_RC_SUCCESS) return error_response(response, rc);

  // ---- response ----
  const size_t param_size = c.out.size();
  Writer w(response);
  w.u16(sessions ? TPM_ST_SESSIONS : TPM_ST_NO_SESSIONS);
  w.u32(0);  // size, patched below
  w.u32(TPM_RC_SUCCESS);
  if (info->flags & kCmdRHandle) w.u32(c.response_handle);
  if (sessions) w.u32(static_cast<uint32_t>(param_size));
  // Parameters are already in place; skip over them.
  Writer tail(response.subspan(params_at + param_size));
  if (sessions) {
    for (unsigned i = 0; i < c.session_count; ++i) {
      tail.u16(0);  // nonceTPM: empty for a password session
      tail.u8(c.sessions[i].attributes & TPMA_SESSION_continueSession);
      tail.u16(0);  // hmac: empty for a password session
    }
  }
  if (tail.overflow()) return error_response(response, TPM_RC_FAILURE);
  const size_t total = params_at + param_size + tail.size();
  w.patch32(2, static_cast<uint32_t>(total));
  return total;
}

}  // namespace utpm::tpm
