// The uniform shape of a command handler (tpm-rs style): every handler is
//     TPM_RC TPM2_<Name>(Command& c);
// It parses its parameters with c.parse(...) (which numbers errors and rejects trailing
// bytes), acts on c.st, and writes response parameters with c.put(...). Handles have already
// been validated and authorized by the dispatcher when the handler runs.
//
// Invariant: a handler parses all of its parameters before it writes any output. The
// dispatcher relies on it: a decrypted parameter area lives in the response buffer, where the
// output is then written (one I/O buffer for both directions, as the MCU needs).
#pragma once

#include <cstdint>

#include "crypto/crypto.h"
#include "tpm/core/entity.h"
#include "tpm/marshal/marshal.h"
#include "tpm/platform.h"
#include "tpm/state.h"
#include "tpm/types/constants.h"
#include "tpm/types/part2.h"

namespace utpm::tpm {

class Tpm;
struct Command;
using Handler = TPM_RC (*)(Command&);

// What a handle in a command's handle area may refer to; the dispatcher checks the value
// (TPM_RC_VALUE + H) and that the entity exists (TPM_RC_REFERENCE_H0 / TPM_RC_HANDLE).
enum class HandleKind : uint8_t {
  none,
  pcr,            // TPMI_DH_PCR
  pcr_or_null,    // TPMI_DH_PCR+
  provision,      // TPMI_RH_PROVISION (owner, platform)
  object,         // TPMI_DH_OBJECT (loaded transient or persistent)
  object_or_null, // TPMI_DH_OBJECT+
  entity_or_null, // TPMI_DH_ENTITY+
  hierarchy_or_null,  // TPMI_RH_HIERARCHY+
  parent,         // TPMI_DH_PARENT+: a hierarchy (incl. NULL) or a loaded object
  context,        // TPMI_DH_CONTEXT: a loaded object or session
  hierarchy,      // TPMI_RH_HIERARCHY (owner, endorsement, platform)
  hierarchy_auth, // TPMI_RH_HIERARCHY_AUTH (+ lockout)
  clear,          // TPMI_RH_CLEAR (lockout, platform)
  lockout,        // TPMI_RH_LOCKOUT
  platform,       // TPMI_RH_PLATFORM
  nv_index,       // TPMI_RH_NV_INDEX: a defined NV index (loaded for the command)
  nv_auth,        // TPMI_RH_NV_AUTH: owner, platform or a defined NV index
  nv_index_exp,   // TPMI_RH_NV_EXP_INDEX: nv_index, or an external/permanent NV handle (none exist)
  policy_session, // TPMI_SH_POLICY: a loaded policy or trial session
  endorsement,    // TPMI_RH_ENDORSEMENT (the privacy administrator of GetTime and the audit digests)
  hmac_session,   // TPMI_SH_HMAC: a loaded HMAC session (GetSessionAuditDigest)
  hierarchy_policy,  // TPMI_RH_HIERARCHY_POLICY: hierarchy_auth or an implemented ACT
  act,            // TPMI_RH_ACT: an implemented ACT
  ac,             // TPMI_RH_AC: an attached component (none exist: always TPM_RC_HANDLE)
};

// Authorization role required of the handle's session (Part 1 §19.2).
enum class AuthRole : uint8_t { none, user, admin, dup };

// Command attributes beyond the handle list (mirrors TPMA_CC where it can). 16 bits: room for
// what audit, NV and policy add (physical presence, audit exclusivity, ...).
using CommandFlags = uint16_t;
inline constexpr CommandFlags kCmdNv = 1 << 0;          // may write NV: refused while NV is unavailable
inline constexpr CommandFlags kCmdExtensive = 1 << 1;   // TPMA_CC.extensive
inline constexpr CommandFlags kCmdFlushed = 1 << 2;     // TPMA_CC.flushed
inline constexpr CommandFlags kCmdRHandle = 1 << 3;     // returns a handle
inline constexpr CommandFlags kCmdAllowedInFailure = 1 << 4;  // answered in failure mode
// Changes state that Shutdown(STATE) saved (PCRs, hierarchy enables, platform auth/policy):
// running it after a Shutdown(STATE) invalidates that saved state.
inline constexpr CommandFlags kCmdChangesSavedState = 1 << 5;
inline constexpr CommandFlags kCmdDecrypt = 1 << 6;  // first command parameter is a TPM2B: may be encrypted
inline constexpr CommandFlags kCmdEncrypt = 1 << 7;  // first response parameter is a TPM2B: may be encrypted
// Changes an NV index's data or state: an index authorizes it with AUTHWRITE/POLICYWRITE (else
// AUTHREAD/POLICYREAD).
inline constexpr CommandFlags kCmdNvWrite = 1 << 8;
// Refused as a whole while the TPM is in Read-Only mode (ReadOnlyControl): TPM_RC_READ_ONLY before
// the handle area is looked at. NV commands whose refusal depends on the index's attributes check
// for themselves (nv_read_only_check).
inline constexpr CommandFlags kCmdReadOnlyRefused = 1 << 9;

inline constexpr unsigned kMaxCommandHandles = 3;  // NV_Certify, PolicyNV, PolicyAuthorizeNV have 3

// One handle of a command's handle area: what it may refer to and the authorization role its
// session must have (AuthRole::none: no session; handles needing auth come first, Part 3).
struct HandleSpec {
  HandleKind kind = HandleKind::none;
  AuthRole auth = AuthRole::none;
};

struct CommandInfo {
  TPM_CC code;
  const char* name;
  Handler handler;
  uint8_t handle_count;
  HandleKind handles[kMaxCommandHandles];
  AuthRole auth[kMaxCommandHandles];  // per handle; handles needing auth come first (Part 3 convention)
  CommandFlags flags;

  uint8_t auth_count() const {
    uint8_t n = 0;
    for (uint8_t i = 0; i < handle_count; ++i)
      if (auth[i] != AuthRole::none) ++n;
    return n;
  }
  // TPMA_CC as GetCapability(TPM_CAP_COMMANDS) reports it.
  uint32_t tpma_cc() const {
    return (code & 0xFFFF) | (flags & kCmdNv ? 1u << 22 : 0) | (flags & kCmdExtensive ? 1u << 23 : 0) |
           (flags & kCmdFlushed ? 1u << 24 : 0) | uint32_t{handle_count} << 25 |
           (flags & kCmdRHandle ? 1u << 28 : 0) | (code & 0x20000000u);  // V: a vendor command
  }
};


struct SessionIn {
  TPM_HANDLE handle = 0;
  TPM2B_NONCE nonce;
  uint8_t attributes = 0;
  TPM2B_AUTH hmac;
  // Set when the session authorized a handle (its index in the handle area, -1: none); the
  // response HMAC uses the same key.
  int8_t authorized_index = -1;
  bool include_auth_value = false;
  bool policy_password = false;  // a policy session after PolicyPassword: the HMAC field is the authValue
  // The entity's authValue as it was when this session authorized it, for a response whose
  // command flushed the entity (SequenceComplete). Zeroized with the Command.
  TPM2B_AUTH auth_at_authorization;
};

struct Command {
  Command(Tpm& t, State& s, Platform& p, const CommandInfo& i, uint8_t loc)
      : tpm(t), st(s), platform(p), info(i), locality(loc) {}
  ~Command() { crypto::zeroize(sessions); }  // auth values and HMACs do not outlive the command
  Command(const Command&) = delete;
  Command& operator=(const Command&) = delete;
  Tpm& tpm;
  State& st;
  Platform& platform;
  const CommandInfo& info;
  uint8_t locality;
  TPM_HANDLE handles[kMaxCommandHandles] = {};
  // What each handle names, resolved once by the dispatcher (checked against its HandleKind:
  // an object handle's entity always has its slot, a session handle's its session).
  Entity entities[kMaxCommandHandles];
  SessionIn sessions[profile::kMaxSessionsPerCommand];
  uint8_t session_count = 0;
  Reader params;
  Writer out;
  TPM_HANDLE response_handle = 0;
  int8_t decrypt_session = -1;  // index of the session that encrypts the first parameter
  int8_t encrypt_session = -1;  // index of the session that encrypts the first response parameter
  // Audit (core/audit.h): the cpHash of the command under each hash an audit needs (computed
  // before dispatch, while the parameters as sent are still there), and what the handler of an
  // audit command asks of the command-audit step.
  TPM2B_DIGEST audit_cp[kHashCount];
  bool audit_command = false;       // the command is in the command-audit list
  bool audit_alg_changed = false;   // SetCommandCodeAuditStatus changed the hash: digest cleared
  bool audit_clear = false;         // GetCommandAuditDigest signed the digest: cleared after it
  TPM_HANDLE audit_session = 0;     // the command's audit session, if any
  bool audit_session_restarted = false;  // its digest was (re)started: auditReset or first use

  // Unmarshals all parameters in order. A failure in parameter n returns the code with
  // TPM_RC_P + n; bytes left over after the last parameter are TPM_RC_SIZE.
  template <class... T>
  TPM_RC parse(T&... p) {
    return parse_numbered(1, p...);
  }
  // The same, when the first parameter parsed here is parameter number `first` (a command
  // whose leading parameter was consumed separately).
  template <class... T>
  TPM_RC parse_numbered(unsigned first, T&... p) {
    unsigned n = first - 1;
    TPM_RC rc = TPM_RC_SUCCESS;
    ((rc == TPM_RC_SUCCESS ? (++n, rc = unmarshal(params, p), 0) : 0), ...);
    if (rc != TPM_RC_SUCCESS) return rc_param(rc, n);
    if (params.remaining() != 0) return TPM_RC_SIZE;
    parsed = true;
    return TPM_RC_SUCCESS;
  }
  // Writes a response parameter. Only after every parameter was parsed (the decrypted command
  // parameters share the buffer the output goes to): the dispatcher answers TPM_RC_FAILURE for a
  // handler that writes output without a completed parse.
  template <class T>
  void put(const T& v) {
    if (!parsed) {
      output_before_parse = true;
      return;
    }
    marshal(out, v);
  }
  bool parsed = false;               // set by a successful parse()/parse_numbered()
  bool output_before_parse = false;  // an invariant violation, reported as TPM_RC_FAILURE
};

// The table, sorted by command code (command_table.cc).
const CommandInfo* find_command(TPM_CC code);
struct CommandTable {
  const CommandInfo* begin;
  const CommandInfo* end;
};
CommandTable command_table();

}  // namespace utpm::tpm
