// Command frame processing (Part 3 §5, Part 1 §18): header checks, handle area, authorization
// area, dispatch to the handler, response assembly, and the NV commit that makes a command's
// effects durable only if it succeeded.
#include <algorithm>
#include <cstring>

#include "crypto/crypto.h"
#include "tpm/core/audit.h"
#include "tpm/core/authorization.h"
#include "tpm/core/command.h"
#include "tpm/core/entity.h"
#include "tpm/subsystem/nv.h"
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

// A persistent object referenced by a command is loaded into a free slot for that command
// only; this puts it back however the command ends.
struct PersistentObjectsGuard {
  State& st;
  ~PersistentObjectsGuard() {
    persistent_unload_all(st);
    nv_unload_all(st);  // NV indices are loaded the same way (their authValues go too)
  }
};

// Checks a handle-area value against what the command allows and that the entity exists.
// n is the 1-based handle number for the response code.
TPM_RC check_handle(Tpm& tpm, HandleKind kind, TPM_HANDLE h, unsigned n) {
  State& st = tpm.state();
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
    case HandleKind::context:
      if (handle_type(h) == TPM_HT_HMAC_SESSION || handle_type(h) == TPM_HT_POLICY_SESSION)
        return session_at(st, h) ? TPM_RC_SUCCESS : TPM_RC_REFERENCE_H0 + (n - 1);
      if (handle_type(h) == TPM_HT_TRANSIENT)
        return object_at(st, h) ? TPM_RC_SUCCESS : TPM_RC_REFERENCE_H0 + (n - 1);
      return rc_handle(TPM_RC_VALUE, n);
    case HandleKind::hierarchy:
      if (h != TPM_RH_OWNER && h != TPM_RH_ENDORSEMENT && h != TPM_RH_PLATFORM) return rc_handle(TPM_RC_VALUE, n);
      return hierarchy_enabled(st, h) ? TPM_RC_SUCCESS : rc_handle(TPM_RC_HIERARCHY, n);
    case HandleKind::act:
      // TPMI_RH_ACT: an ACT this TPM does not implement fails its unmarshalling (TPM_RC_VALUE).
      return act_implemented(h) ? TPM_RC_SUCCESS : rc_handle(TPM_RC_VALUE, n);
    case HandleKind::ac:
      // TPMI_RH_AC (TPM_HT_AC): no attached component exists, so any such handle names nothing.
      return handle_type(h) == TPM_HT_AC ? rc_handle(TPM_RC_HANDLE, n) : rc_handle(TPM_RC_VALUE, n);
    case HandleKind::hierarchy_policy:
      if (act_implemented(h)) return TPM_RC_SUCCESS;  // not tied to a hierarchy's enable
      [[fallthrough]];
    case HandleKind::hierarchy_auth:
      if (h == TPM_RH_LOCKOUT) return TPM_RC_SUCCESS;
      if (h != TPM_RH_OWNER && h != TPM_RH_ENDORSEMENT && h != TPM_RH_PLATFORM) return rc_handle(TPM_RC_VALUE, n);
      return hierarchy_enabled(st, h) ? TPM_RC_SUCCESS : rc_handle(TPM_RC_HIERARCHY, n);
    case HandleKind::clear:
      if (h == TPM_RH_LOCKOUT) return TPM_RC_SUCCESS;
      if (h != TPM_RH_PLATFORM) return rc_handle(TPM_RC_VALUE, n);
      return hierarchy_enabled(st, h) ? TPM_RC_SUCCESS : rc_handle(TPM_RC_HIERARCHY, n);
    case HandleKind::endorsement:
      if (h != TPM_RH_ENDORSEMENT) return rc_handle(TPM_RC_VALUE, n);
      return hierarchy_enabled(st, h) ? TPM_RC_SUCCESS : rc_handle(TPM_RC_HIERARCHY, n);
    case HandleKind::hmac_session:
      if (handle_type(h) != TPM_HT_HMAC_SESSION) return rc_handle(TPM_RC_VALUE, n);
      return session_at(st, h) ? TPM_RC_SUCCESS : TPM_RC_REFERENCE_H0 + (n - 1);
    case HandleKind::lockout:
      return h == TPM_RH_LOCKOUT ? TPM_RC_SUCCESS : rc_handle(TPM_RC_VALUE, n);
    case HandleKind::platform:
      if (h != TPM_RH_PLATFORM) return rc_handle(TPM_RC_VALUE, n);
      return hierarchy_enabled(st, h) ? TPM_RC_SUCCESS : rc_handle(TPM_RC_HIERARCHY, n);
    case HandleKind::nv_index_exp:
      // No external or permanent NV index is ever defined here.
      if (handle_type(h) == TPM_HT_EXTERNAL_NV || handle_type(h) == TPM_HT_PERMANENT_NV) return rc_handle(TPM_RC_HANDLE, n);
      return check_handle(tpm, HandleKind::nv_index, h, n);
    case HandleKind::nv_auth:
      if (h == TPM_RH_OWNER || h == TPM_RH_PLATFORM)
        return hierarchy_enabled(st, h) ? TPM_RC_SUCCESS : rc_handle(TPM_RC_HIERARCHY, n);
      [[fallthrough]];
    case HandleKind::nv_index: {
      if (handle_type(h) != TPM_HT_NV_INDEX) return rc_handle(TPM_RC_VALUE, n);
      TPM_RC rc = nv_load(tpm, h);
      return rc == TPM_RC_HANDLE ? rc_handle(TPM_RC_HANDLE, n) : rc;
    }
    case HandleKind::parent:
      if (handle_type(h) == TPM_HT_TRANSIENT || handle_type(h) == TPM_HT_PERSISTENT)
        return check_handle(tpm, HandleKind::object, h, n);
      [[fallthrough]];
    case HandleKind::hierarchy_or_null:
      if (h == TPM_RH_NULL) return TPM_RC_SUCCESS;
      if (h != TPM_RH_OWNER && h != TPM_RH_ENDORSEMENT && h != TPM_RH_PLATFORM) return rc_handle(TPM_RC_VALUE, n);
      return hierarchy_enabled(st, h) ? TPM_RC_SUCCESS : rc_handle(TPM_RC_HIERARCHY, n);
    case HandleKind::entity_or_null:
      if (h == TPM_RH_NULL || h < profile::kNumPcrs) return TPM_RC_SUCCESS;
      if (handle_type(h) == TPM_HT_NV_INDEX) return check_handle(tpm, HandleKind::nv_index, h, n);
      if (h == TPM_RH_OWNER || h == TPM_RH_ENDORSEMENT || h == TPM_RH_PLATFORM || h == TPM_RH_LOCKOUT)
        return hierarchy_enabled(st, h) ? TPM_RC_SUCCESS : rc_handle(TPM_RC_HIERARCHY, n);
      [[fallthrough]];
    case HandleKind::object_or_null:
      if (h == TPM_RH_NULL) return TPM_RC_SUCCESS;
      [[fallthrough]];
    case HandleKind::object:
      if (handle_type(h) == TPM_HT_TRANSIENT)
        return object_at(st, h) ? TPM_RC_SUCCESS : TPM_RC_REFERENCE_H0 + (n - 1);
      if (handle_type(h) == TPM_HT_PERSISTENT) {
        TPM_RC rc = persistent_load(tpm, h);
        if (rc == TPM_RC_HANDLE) return rc_handle(TPM_RC_HANDLE, n);
        if (rc != TPM_RC_SUCCESS) return rc;
        return hierarchy_enabled(st, object_at(st, h)->hierarchy) ? TPM_RC_SUCCESS : rc_handle(TPM_RC_HIERARCHY, n);
      }
      return rc_handle(TPM_RC_VALUE, n);
    case HandleKind::policy_session:
      if (handle_type(h) != TPM_HT_POLICY_SESSION) return rc_handle(TPM_RC_VALUE, n);
      return session_at(st, h) ? TPM_RC_SUCCESS : TPM_RC_REFERENCE_H0 + (n - 1);
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
    if (TPM_RC rc2 = check_session_entry(c, s, n)) return rc2;
  }
  return TPM_RC_SUCCESS;
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
  // Failure mode: GetTestResult and GetCapability without sessions, nothing else (Part 3
  // "Failure mode"; the session machinery is not trusted then).
  if (st_.failure.active && (!(info->flags & kCmdAllowedInFailure) || tag != TPM_ST_NO_SESSIONS))
    return error_response(response, TPM_RC_FAILURE);
  // Read-Only mode refuses these commands before their handles or authorizations are looked at
  // (the reference TPM checks it right after the command code; the flag is clear before Startup).
  if (st_.read_only && (info->flags & kCmdReadOnlyRefused)) return error_response(response, TPM_RC_READ_ONLY);
  if (!st_.failure.active && st_.phase != Phase::operational && code != TPM_CC_Startup)
    return error_response(response, TPM_RC_INITIALIZE);
  if ((info->flags & kCmdNv) && !st_.nv_available)
    return error_response(response, TPM_RC_NV_UNAVAILABLE);

  Command c{*this, st_, platform_, *info, locality};
  PersistentObjectsGuard persistent_guard{st_};

  // ---- handle area ----
  // The whole area is read before any handle is checked (Part 3 §5.2: the handles are
  // unmarshalled, then validated): a command cut inside its handle area is
  // TPM_RC_INSUFFICIENT at the missing handle whatever the handles before it hold.
  for (unsigned i = 0; i < info->handle_count; ++i)
    if (!r.u32(c.handles[i])) return error_response(response, rc_handle(TPM_RC_INSUFFICIENT, i + 1));
  for (unsigned i = 0; i < info->handle_count; ++i) {
    TPM_RC rc = check_handle(*this, info->handles[i], c.handles[i], i + 1);
    if (rc != TPM_RC_SUCCESS) return error_response(response, rc);
    // Resolved once: authorization, cpHash and the handler all read this entity.
    rc = entity_resolve(st_, c.handles[i], c.entities[i]);
    if (rc != TPM_RC_SUCCESS) return error_response(response, rc_handle(rc, i + 1));
  }

  // ---- authorization area ----
  const uint8_t auth_count = info->auth_count();
  if (tag == TPM_ST_SESSIONS) {
    TPM_RC rc = parse_sessions(r, c);
    if (rc != TPM_RC_SUCCESS) return error_response(response, rc);
  }
  if (c.session_count < auth_count) return error_response(response, TPM_RC_AUTH_MISSING);
  if (TPM_RC rc = check_parameter_encryption(c)) return error_response(response, rc);
  const std::span<const uint8_t> parameters{r.position(), r.remaining()};
  for (unsigned i = 0; i < auth_count; ++i) {
    TPM_RC rc = authorize(c, i, parameters);
    if (rc != TPM_RC_SUCCESS) return error_response(response, rc);
  }
  for (unsigned i = auth_count; i < c.session_count; ++i) {
    if (TPM_RC rc = check_extra_session(c, i, parameters)) return error_response(response, rc);
  }
  audit_begin(c, parameters);  // cpHashes now: the response may overwrite the parameters

  // ---- dispatch ----
  // Room for the header, an optional response handle and, with sessions, parameterSize.
  const bool sessions = tag == TPM_ST_SESSIONS;
  const size_t handle_at = kHeaderSize;
  const size_t params_at = handle_at + ((info->flags & kCmdRHandle) ? 4 : 0) + (sessions ? 4 : 0);
  if (response.size() < params_at) return error_response(response, TPM_RC_FAILURE);
  c.params = r;
  c.out = Writer(response.subspan(params_at));
  if (c.decrypt_session >= 0) {
    // Decrypt a copy of the parameter area where the output will go (handlers parse all
    // their parameters before writing: see command.h).
    std::span<uint8_t> area = response.subspan(params_at);
    if (area.size() < parameters.size()) return error_response(response, TPM_RC_COMMAND_SIZE);
    std::memmove(area.data(), parameters.data(), parameters.size());  // the buffers may be one
    area = area.first(parameters.size());
    if (TPM_RC rc = decrypt_parameter(c, area)) return error_response(response, rc);
    c.params = Reader(area);
  }

  TPM_RC rc = info->handler(c);
  if (rc == TPM_RC_SUCCESS && c.out.overflow()) rc = TPM_RC_FAILURE;  // cannot happen: sizes are bounded
  // Parse before put (command.h): a handler that succeeded without parsing all of its
  // parameters, or wrote output before it had, broke the invariant the shared buffer needs.
  if (rc == TPM_RC_SUCCESS && (!c.parsed || c.output_before_parse)) rc = TPM_RC_FAILURE;
  if (rc != TPM_RC_SUCCESS) {
    persist_discard(*this);
    return error_response(response, rc);
  }

  // Changing what Shutdown(STATE) saved invalidates that saved state (Part 3 §9.4); reads,
  // transient objects and sessions do not (as the reference TPM behaves).
  if (st_.shutdown_seen && (info->flags & kCmdChangesSavedState)) {
    st_.shutdown_seen = false;
    st_.clock.orderly = kOrderlyNone;
    st_.dirty |= kDirtyClock;
  }
  audit_commit(c);
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
  if (sessions) write_response_sessions(c, response.subspan(params_at, param_size), tail);
  if (tail.overflow()) return error_response(response, TPM_RC_FAILURE);
  audit_end(c, response.subspan(params_at, param_size));
  const size_t total = params_at + param_size + tail.size();
  w.patch32(2, static_cast<uint32_t>(total));
  return total;
}

}  // namespace utpm::tpm
