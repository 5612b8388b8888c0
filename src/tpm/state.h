// All TPM state, in one struct owned by Tpm. Grouped by lifetime as Part 1 §36 describes:
//   persistent   - survives everything (seeds, proofs, hierarchy auth, DA parameters);
//   clock/orderly - small, frequently written (clock, reset/restart counts, orderly flag);
//   saved state  - written by Shutdown(STATE), consumed by the next Startup(STATE);
//   volatile     - lost at power off (PCRs, objects, DRBG, platform auth).
// Serialisation to NV is explicit, versioned and tagged (persist.cc); never a raw struct dump.
#pragma once

#include <cstdint>

#include "crypto/crypto.h"
#include "crypto/drbg.h"
#include "tpm/profile.h"
#include "tpm/subsystem/nv_state.h"
#include "crypto/ecc.h"
#include "crypto/rsa.h"
#include "tpm/types/object.h"
#include "tpm/types/part2.h"

namespace utpm::tpm {

// Why the TPM entered failure mode. Reported by GetTestResult and printed by the daemon.
enum class FailureCause : uint8_t {
  none = 0,
  self_test,       // a known-answer self test failed
  entropy,         // the entropy source failed its health test
  nv_integrity,    // the persistent store failed authentication / rollback check
  nv_io,           // the persistent store could not be read or committed
  nv_format,       // a persisted record has an unknown version or bad layout
  internal,        // an engine invariant was violated
};
const char* failure_cause_name(FailureCause c);

// NV record ids used by the engine (the store treats them as opaque).
enum RecordId : uint32_t {
  kRecPersistent = 1,
  kRecClock = 2,
  kRecSavedState = 3,
  kRecNvList = 4,  // the NV index list (subsystem/nv.cc); each index is record <its handle>
  kRecAudit = 5,   // command audit: hash algorithm, counter, audited commands (subsystem/audit.cc)
  kRecAct = 6,     // ACT state saved by Shutdown(STATE) for the next Resume (subsystem/act.cc)
  // Primary-key derivation cache (subsystem/primary_cache.cc): records kRecPrimaryCache + i,
  // i < profile::kPrimaryCacheEntries.
  kRecPrimaryCache = 0x100,
};

inline constexpr uint8_t kAllPcrBanks = static_cast<uint8_t>((1u << profile::kMaxPcrBanks) - 1);
static_assert(profile::kMaxPcrBanks <= 8, "PCR allocation bitmap is one octet");

// What a TPM keeps forever (record kRecPersistent).
struct PersistentData {
  uint8_t eps[profile::kPrimarySeedSize]{};  // endorsement primary seed
  uint8_t sps[profile::kPrimarySeedSize]{};  // storage primary seed
  uint8_t pps[profile::kPrimarySeedSize]{};  // platform primary seed
  uint8_t ph_proof[profile::kProofSize]{};
  uint8_t sh_proof[profile::kProofSize]{};
  uint8_t eh_proof[profile::kProofSize]{};
  TPM2B_AUTH owner_auth;
  TPM2B_AUTH endorsement_auth;
  TPM2B_AUTH lockout_auth;
  uint8_t disable_clear = 0;
  uint32_t max_tries = profile::kDefaultMaxTries;
  uint32_t recovery_time = profile::kDefaultRecoveryTime;
  uint32_t lockout_recovery = profile::kDefaultLockoutRecovery;
  uint32_t failed_tries = 0;
  // lockoutAuth failed and lockoutRecovery (non-zero) has not yet passed: survives power loss.
  uint8_t lockout_auth_blocked = 0;
  uint64_t total_reset_count = 0;
  TPMT_HA owner_policy;        // hashAlg TPM_ALG_NULL: no policy
  TPMT_HA endorsement_policy;
  TPMT_HA lockout_policy;
  TPMT_HA pcr_policy;          // PCR_SetAuthPolicy of the PCR policy group (PCRs 20-22)
  // PCR allocation (PCR_Allocate), bit i = bank profile::kPcrBankAlgs[i], each bank whole:
  // the one in use since the last Startup(CLEAR), and the one the next Startup(CLEAR) applies.
  uint8_t pcr_active = kAllPcrBanks;
  uint8_t pcr_pending = kAllPcrBanks;
  uint32_t algorithm_set = 0;  // SetAlgorithmSet (TPM_PT_ALGORITHM_SET); vendor-defined, one set here
  // PP_Commands: bit n = command TPM_CC_FIRST + n needs physical presence when authorized by
  // TPM_RH_PLATFORM (PP_Commands itself always does, it is not recorded here). Record v5.
  uint8_t pp_commands[32]{};
  // Handles of persistent objects; each object is NV record <handle> (EvictControl).
  uint32_t persistent_count = 0;
  TPM_HANDLE persistent[profile::kMaxPersistentObjects]{};
  TPM_HANDLE persistent_hierarchy[profile::kMaxPersistentObjects]{};
};

// Small, frequently updated (record kRecClock). Kept apart so a clock tick does not rewrite seeds.
struct ClockData {
  uint64_t clock = 0;          // ms; TPMS_CLOCK_INFO.clock as last written to NV
  uint32_t reset_count = 0;
  uint32_t restart_count = 0;
  TPM_SU orderly = TPM_SU_CLEAR;  // how the TPM was last shut down; kOrderlyNone while running
  int8_t clock_adjust = 0;
  // ECC commitCounter (TPM2_Commit/EC_Ephemeral): kept over TPM Restart and Resume (it is in
  // this record, which every Shutdown writes), zero after a TPM Reset. Record v2.
  uint64_t commit_counter = 0;
  // A DA-protected authValue was checked since the last Startup/orderly Shutdown: after a
  // non-orderly shutdown the next Startup counts one failure (Part 1 DA; da.cc). Record v3.
  uint8_t da_used = 0;
};
inline constexpr TPM_SU kOrderlyNone = 0xFFFF;

// PCR values: one flat pool, bank i holds kNumPcrs digests of its algorithm. The banks are
// the profile's (profile::kPcrBankAlgs).
constexpr size_t pcr_pool_size() {
  size_t n = 0;
  for (TPM_ALG_ID a : profile::kPcrBankAlgs) n += digest_size(a);
  return n * profile::kNumPcrs;
}
constexpr bool pcr_banks_implemented() {
  for (TPM_ALG_ID a : profile::kPcrBankAlgs)
    if (!hash_implemented(a)) return false;
  return true;
}
static_assert(pcr_banks_implemented(), "every PCR bank of the profile must be an implemented hash");
struct PcrBanks {
  TPM_ALG_ID alg[profile::kMaxPcrBanks]{};
  uint8_t count = 0;
  uint8_t values[pcr_pool_size()]{};
  uint32_t update_counter = 0;
  constexpr PcrBanks() {
    for (size_t i = 0; i < profile::kMaxPcrBanks; ++i) alg[i] = profile::kPcrBankAlgs[i];
    count = static_cast<uint8_t>(profile::kMaxPcrBanks);
  }
};

// A transient object slot: a key or data object, or a hash/event sequence. A slot holds one
// kind at a time: the secret of its key type or the hash states of its sequence share storage.
enum class SlotKind : uint8_t { empty = 0, hash_sequence, event_sequence, hmac_sequence, object };
struct ObjectSlot {
  ObjectSlot() : rsa{} {}  // the largest member, value-initialized: the whole union starts zero
  SlotKind kind = SlotKind::empty;
  TPM2B_AUTH auth;
  // ---- sequences ----
  // False once the data hashed so far started with TPM_GENERATED_VALUE: no ticket then.
  bool ticket_allowed = true;
  bool first_block_seen = false;
  // The H-CRTM/D-RTM Event sequence of _TPM_Hash_Start (an event sequence; at most one).
  bool hcrtm = false;
  // ---- objects ----
  TPMT_PUBLIC pub;
  TPM2B_NAME name;
  TPM2B_NAME qualified_name;
  TPM_HANDLE hierarchy = TPM_RH_NULL;  // the hierarchy the object belongs to
  bool public_only = false;            // LoadExternal of a public area alone
  TPM_HANDLE evict_handle = 0;         // a persistent object loaded for the current command
  TPM2B_DIGEST seed_value;             // storage parents: protection seed; keyed hash/sym: obfuscation
  // ---- the one kind's secret or state (which member is in use follows kind and pub.type) ----
  union {
    crypto::RsaPrivateKey rsa;            // RSA: CRT form, expanded once at load (public-only: .pub)
    crypto::EccScalar ecc;                // ECC: private scalar
    TPM2B_SENSITIVE_DATA bits;            // KEYEDHASH: HMAC key or sealed data; SYMCIPHER: the key
    // A hash sequence keeps one state; an event sequence one per hash; an HMAC sequence its
    // inner and outer hash states in hash[0] and hash[1].
    crypto::HashState hash[kHashCount];
  };
};
static_assert(sizeof(crypto::RsaPrivateKey) >= sizeof(crypto::HashState) * kHashCount &&
                  sizeof(crypto::RsaPrivateKey) >= sizeof(TPM2B_SENSITIVE_DATA),
              "ObjectSlot() zero-fills the union through its largest member");

// A loaded authorization session (Part 1 §19.6). A context-saved session leaves its slot and
// keeps only its entry in State::active_sessions (its handle and the low bits of its newest
// context sequence).
inline constexpr uint8_t TPM_SE_HMAC = 0x00;
inline constexpr uint8_t TPM_SE_POLICY = 0x01;
inline constexpr uint8_t TPM_SE_TRIAL = 0x03;
struct SessionSlot {
  bool used = false;
  uint8_t index = 0;              // the session's place in the active-session table (its handle)
  uint8_t type = TPM_SE_HMAC;
  TPM_ALG_ID auth_hash = TPM_ALG_NULL;
  TPM_HANDLE bind = TPM_RH_NULL;  // entity the session is bound to (its authValue is in the key)
  TPM2B_DIGEST bind_id;           // H_authHash(Name || authValue) of the bind entity (bind_identity)
  TPM2B_DIGEST session_key;
  TPM2B_NONCE nonce_tpm;
  TPM2B_NONCE nonce_caller;
  TPM2B_DIGEST policy_digest;     // policy and trial sessions
  TPMT_SYM_DEF symmetric;         // parameter encryption (TPM_ALG_NULL: none)
  // ---- policy session state (Part 1 §19.7, Part 3 §23), checked when the session authorizes ----
  uint64_t start_time = 0;        // TPM time (ms since _TPM_Init) at start or PolicyRestart
  uint64_t timeout = 0;           // TPM time after which the session no longer authorizes (0: none)
  TPM_CC command_code = 0;        // PolicyCommandCode / PolicyDuplicationSelect (0: any command)
  uint32_t pcr_update_counter = 0;  // PolicyPCR: the PCR update counter it saw (if pcr_counter_set)
  TPM2B_DIGEST cp_hash;           // cpHash, nameHash or templateHash, as cp_hash_kind says
  uint8_t cp_hash_kind = 0;       // kPolicyCpNone / Cp / Name / Template / Parameters
  uint8_t locality = 0;           // TPMA_LOCALITY from PolicyLocality (0: any)
  uint8_t flags = 0;              // kPolicy* below
  // ---- session audit (Part 1 "Session Audit"; core/audit.cc) ----
  bool audit = false;             // used with TPMA_SESSION audit at least once
  TPM2B_DIGEST audit_digest;      // H_authHash(old || cpHash || rpHash) per audited command
};
inline constexpr uint8_t kPolicyCpNone = 0, kPolicyCpHash = 1, kPolicyNameHash = 2, kPolicyTemplateHash = 3,
                         kPolicyParamHash = 4;
inline constexpr uint8_t kPolicyAuthValueNeeded = 1 << 0;  // PolicyAuthValue: HMAC includes the authValue
inline constexpr uint8_t kPolicyPasswordNeeded = 1 << 1;   // PolicyPassword: the HMAC field is the authValue
inline constexpr uint8_t kPolicyPpRequired = 1 << 2;       // PolicyPhysicalPresence
inline constexpr uint8_t kPolicyPcrCounterSet = 1 << 3;    // pcr_update_counter is valid
inline constexpr uint8_t kPolicyCheckNvWritten = 1 << 4;   // PolicyNvWritten ran...
inline constexpr uint8_t kPolicyNvWrittenState = 1 << 5;   // ...with this writtenSet
inline constexpr uint8_t kPolicySecureChannel = 1 << 6;    // PolicyTransportSPDM: SPDM transport required

// Command audit (Part 1 "Command Audit", Part 3 §21): the list, hash and counter persist
// (record kRecAudit); the digest and the exclusive audit session are volatile.
inline constexpr uint32_t kAuditCcFirst = 0x11F;  // TPM_CC_FIRST: bit (code - 0x11F) of commands
struct AuditState {
  TPM_ALG_ID alg = TPM_ALG_SHA256;
  uint64_t counter = 0;
  uint8_t commands[32]{};
  TPM2B_DIGEST digest;               // size 0: cleared (the next audited command restarts it)
  TPM_HANDLE exclusive_session = 0;  // the exclusive audit session (0: none)
};

enum class Phase : uint8_t { off, awaiting_startup, operational };

struct State {
  bool powered = false;
  bool nv_available = true;
  Phase phase = Phase::off;
  struct {
    bool active = false;
    FailureCause cause = FailureCause::none;
  } failure;

  PersistentData pers;
  ClockData clock;
  PcrBanks pcr;
  ObjectSlot objects[profile::kMaxLoadedObjects];
  SessionSlot sessions[profile::kMaxLoadedSessions];
  // Every active session, loaded or context-saved, owns one entry (Part 1's contextArray): its
  // handle is HMAC/POLICY_SESSION_FIRST + index, and a saved one is loadable only with its
  // latest context, whose sequence has the low bits `slot` and is at most kContextGapMax + 1
  // below session_counter (the gap rule keeps it so; subsystem/session.cc).
  struct ActiveSession {
    uint8_t state = 0;  // 0 free, 1 loaded, 2 saved
    bool policy = false;
    profile::ContextSlot slot = 0;  // saved: the low bits of its newest context's sequence
  } active_sessions[profile::kMaxActiveSessions];
  // contextCounter: the sequence the next saved session context gets (volatile, like the null
  // proof that protects session contexts; 0 at every Startup).
  uint64_t session_counter = 0;

  // volatile, reset on every Startup(CLEAR) / power cycle
  TPM2B_AUTH platform_auth;
  TPM2B_AUTH pcr_auth;  // PCR_SetAuthValue of the PCR auth group: state-clear data (kept by Resume)
  uint8_t null_seed[profile::kPrimarySeedSize]{};   // renewed at every TPM Reset
  uint8_t null_proof[profile::kProofSize]{};
  uint64_t context_counter = 0;  // TPMS_CONTEXT.sequence of objects; set at Startup so it never repeats
  TPMT_HA platform_policy;
  // Dictionary-attack timing (volatile: a reboot neither speeds up nor slows down recovery
  // more than Part 1 §19.8 allows, since failedTries itself is persistent).
  uint64_t da_last_recovery_ms = 0;    // platform ms of the last failedTries decrement
  uint64_t lockout_auth_blocked_until = 0;  // platform ms; UINT64_MAX until the next Startup
  bool lockout_auth_blocked = false;  // lockoutAuth failed; see da.cc (persisted when lockoutRecovery != 0)
  uint8_t ph_enable = 1, sh_enable = 1, eh_enable = 1, ph_enable_nv = 1;
  // Read-Only mode (ReadOnlyControl, TPMA_STARTUP_CLEAR.readOnly): state-clear like the enables:
  // Startup(CLEAR) ends it, Shutdown(STATE) saves it for Startup(STATE) (saved state v3).
  uint8_t read_only = 0;
  crypto::DrbgState drbg{};
  // The TPM's own millisecond count (clock.cc tpm_ms): the platform timer scaled by the
  // ClockRateAdjust rate (volatile: nominal after every _TPM_Init), rebased at each change.
  uint64_t rate_base_platform = 0;     // platform ms at the last rate change
  uint64_t rate_base_ms = 0;           // tpm_ms at that moment
  uint32_t clock_rate = profile::kClockNominal;
  uint64_t timer_at_power_on = 0;      // tpm_ms at _TPM_Init (TPMS_TIME_INFO.time base)
  uint64_t timer_at_clock_base = 0;    // tpm_ms when clock.clock was last set/loaded
  uint64_t clock_at_base = 0;          // Clock value at timer_at_clock_base
  uint8_t clock_safe = 1;
  bool shutdown_seen = false;          // Shutdown executed since Startup (orderly pending)
  bool startup_orderly = false;        // TPMA_STARTUP_CLEAR.orderly: last Startup followed a Shutdown
  bool self_tested = false;
  // _TPM_Hash_End ran before TPM2_Startup: PCR 0 holds the H-CRTM measurement, which Startup
  // keeps (Part 1 H-CRTM; PC Client PCR 0 locality-4 indication).
  bool hcrtm_pre_startup = false;
  // TPM_ACCESS.tpmEstablishment as the swtpm control channel reports it: set by an H-CRTM/D-RTM
  // sequence, cleared by RESET_TPMESTABLISHED at locality 3/4. Volatile here (see docs/swtpm.md).
  bool tpm_established = false;

  // NV indices: the list of defined indices and the slots of those the current command uses.
  NvIndexList nv;
  NvSlot nv_slots[kNvSlots];
  NvOrderlyRam nv_ram;  // orderly indices (TPMA_NV_ORDERLY): their current data

  AuditState audit;

  // Authenticated Countdown Timers (subsystem/act.cc). Counted lazily from the platform timer:
  // the remaining seconds are timeout - whole seconds since base_ms. Volatile; a Shutdown(STATE)
  // saves them (record kRecAct) for the next Resume.
  struct Act {
    uint32_t timeout = 0;   // seconds at base_ms (0: stopped; 0xFFFFFFFF: held, no countdown)
    uint64_t base_ms = 0;   // platform ms when timeout was set
    bool signaled = false;  // latched signal of an ACT set to 0 while running, or restored
    TPMT_HA policy;         // authPolicy (SetPrimaryPolicy); TPM_ALG_NULL: none
  } act[profile::kNumActs];
  uint16_t act_updated = 0;   // bit i: ACT_i set since the last Startup (else halved at Shutdown(STATE))
  uint16_t act_preserve = 0;  // bit i: TPMA_ACT.preserveSignaled

  // ECC commit state besides the counter (Part 1 ECDAA "Commit"): the nonce the commit values r
  // are derived from is new at every Startup and the array of outstanding commits (bit
  // count mod 128) is volatile, so no r can be used twice whatever the shutdown sequence.
  struct {
    uint8_t nonce[32]{};
    uint8_t array[16]{};
  } commit;

  // Primary-key derivation cache (subsystem/primary_cache.cc), volatile: the last use of each
  // entry (LRU replacement) and the key of the current CreatePrimary's lookup (wiped after it).
  struct {
    uint32_t tick = 0;
    uint32_t used[profile::kPrimaryCacheEntries > 0 ? profile::kPrimaryCacheEntries : 1]{};
    uint8_t key[32]{};
  } primary_cache;

  // NV records changed by the current command; flushed and committed after it succeeds.
  uint8_t dirty = 0;
};
inline constexpr uint8_t kDirtyPersistent = 1 << 0;
inline constexpr uint8_t kDirtyClock = 1 << 1;
inline constexpr uint8_t kDirtySavedState = 1 << 2;
inline constexpr uint8_t kDirtyNvList = 1 << 3;  // the NV index list record
inline constexpr uint8_t kDirtyStaged = 1 << 4;
inline constexpr uint8_t kDirtyAudit = 1 << 5;   // the command audit record  // records staged directly (NV index data): commit

}  // namespace utpm::tpm
