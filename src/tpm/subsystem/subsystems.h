// Engine subsystems used by the command handlers: PCR banks, object slots, clock, NV
// persistence, hierarchies/authorization, random numbers. State lives in State; these are the
// rules that act on it.
#pragma once

#include <cstdint>
#include <span>

#include "crypto/drbg.h"
#include "crypto/ecc.h"
#include "tpm/state.h"
#include "tpm/types/capability.h"
#include "tpm/types/part2.h"

namespace utpm::tpm {

class Tpm;

// ---- physical presence (commands/misc.cc PP_Commands) ----
// Whether code, authorized by TPM_RH_PLATFORM, needs physical presence asserted (PP_Commands
// always; others as PP_Commands listed them).
bool pp_required(const State& st, TPM_CC code);

// ---- failure mode ----
void enter_failure(State& st, FailureCause cause);

// ---- random numbers (random.cc) ----
// Fills out from the TPM's DRBG, reseeding from platform entropy when due. False if the
// entropy source failed (the TPM is then in failure mode).
bool tpm_random(Tpm& tpm, std::span<uint8_t> out);
// Instantiates the DRBG from fresh platform entropy. False (and failure mode) on source failure.
bool drbg_seed_from_platform(Tpm& tpm);

// The TPM's RNG as a crypto::RandomSource (for key generation, padding, nonces).
crypto::RandomSource tpm_random_source(Tpm& tpm);

// ---- ECC commits (commit.cc) ----
// The commit value r of count (the key's Name for Commit/ECDAA, empty otherwise); false if r
// came out zero (the caller answers TPM_RC_NO_RESULT).
bool commit_r(const State& st, crypto::EccCurve curve, uint64_t count, std::span<const uint8_t> name,
              crypto::EccScalar& r);
// The count the next commit will take; commit_take takes it (commitCounter + 1, its bit set)
// and returns its low 16 bits (the counter a command answers).
uint64_t commit_next(const State& st);
uint16_t commit_take(State& st);
// The full count of an outstanding commit named by its 16 low bits; false if none.
bool commit_lookup(const State& st, uint16_t count16, uint64_t& count);
// The commit was used: its bit is cleared.
void commit_end(State& st, uint64_t count);

// ---- PCRs (pcr.cc) ----
struct PcrAttributes {
  bool state_save;       // preserved by Shutdown(STATE) + Startup(STATE)
  uint8_t reset_locality;   // bit n: PCR_Reset allowed from locality n
  uint8_t extend_locality;  // bit n: PCR_Extend/Event allowed from locality n
  bool drtm_reset;       // initialised to all ones at TPM Reset/Restart (D-RTM PCRs)
};
// The one PCR policy group and the one PCR authValue group: PCRs 20-22 (as swtpm/libtpms report
// in TPM_PT_PCR_POLICY / TPM_PT_PCR_AUTH; PCR_SetAuthPolicy / PCR_SetAuthValue act on them).
constexpr bool pcr_in_group(uint32_t pcr) { return pcr >= 20 && pcr <= 22; }
PcrAttributes pcr_attributes(uint32_t pcr);
// Index of an allocated bank for alg, or -1.
int pcr_bank(const State& st, TPM_ALG_ID alg);
std::span<uint8_t> pcr_value(State& st, int bank, uint32_t pcr);
std::span<const uint8_t> pcr_value(const State& st, int bank, uint32_t pcr);
// PCR := H(PCR || digest) in bank (digest must be the bank's size).
void pcr_extend_bank(State& st, int bank, uint32_t pcr, std::span<const uint8_t> digest);
// Initial values at Startup: locality-dependent PCR 0, all ones for D-RTM PCRs, else zero.
// With keep_saved, state-saved PCRs keep their (restored) values.
void pcr_startup(State& st, uint8_t startup_locality, bool keep_saved);
TPM_RC pcr_check_extend_locality(uint32_t pcr, uint8_t locality);
// Lays out the banks of st.pers.pcr_active (values are set by the next pcr_startup).
void pcr_apply_allocation(State& st);

// ---- object slots (object.cc) ----
ObjectSlot* object_at(State& st, TPM_HANDLE h);   // loaded transient object or nullptr
TPM_HANDLE object_handle(const State& st, const ObjectSlot* slot);
ObjectSlot* object_allocate(State& st);           // free slot or nullptr
void object_flush(ObjectSlot& slot);
void objects_flush_all(State& st);
size_t objects_loaded(const State& st);

// ---- keys and data objects (keys.cc) ----
// The primary seed of a hierarchy (the null seed for TPM_RH_NULL).
std::span<const uint8_t> hierarchy_seed(const State& st, TPM_HANDLE hierarchy);
// Name = nameAlg || H_nameAlg(TPMT_PUBLIC). Returns false if the area cannot be marshalled.
bool public_name(const TPMT_PUBLIC& pub, TPM2B_NAME& name);
// QN = nameAlg || H_nameAlg(QN(parent) || Name).
void qualified_name(TPM_ALG_ID name_alg, std::span<const uint8_t> parent_qn, const TPM2B_NAME& name,
                    TPM2B_NAME& out);
// The consistency checks on a public area (Part 1 §27, Part 2 TPMA_OBJECT, Part 3
// CreatePrimary/Create/Load): a bare code for the caller to number. parent is nullptr for a
// primary object.
TPM_RC public_check(const TPMT_PUBLIC& pub, const ObjectSlot* parent);
// authPolicy is empty or a digest of nameAlg (TPM_RC_SIZE otherwise, in public_check and
// LoadExternal).
bool auth_policy_fits(const TPMT_PUBLIC& pub);
// The part of public_check that concerns the key's use (restricted/sign/decrypt against the
// scheme and symmetric definition of its type), which LoadExternal also applies. Without
// uses_checked only the schemes are checked against the attributes (which uses the attributes
// allow, e.g. neither sign nor decrypt on a key, is not judged): what LoadExternal asks of a
// public-only object or one without a nameAlg (docs/conformance.md C6/D6).
TPM_RC public_type_check(const TPMT_PUBLIC& pub, bool uses_checked = true);
// The symmetric definition of an RSA/ECC (asymmetric symmetric field) or symmetric object.
const TPMT_SYM_DEF_OBJECT& object_symmetric(const TPMT_PUBLIC& pub);
// The creation-time rules on sensitiveDataOrigin and the caller's sensitive data (Part 3
// Create/CreatePrimary). TPM_RC_KEY_SIZE concerns inSensitive, every other code the template
// (numbered so by TPM2B_SENSITIVE_CREATE-first callers, as the reference TPM does).
TPM_RC sensitive_create_check(const TPMT_PUBLIC& pub, const TPMS_SENSITIVE_CREATE& s, bool primary);
// Generates a new object from a checked template, drawing every secret from rng. Fills the
// public area's unique field, the private material, auth and name. cached_primes (RSA only,
// p || q of keyBits/16 octets each, from the primary derivation cache) replaces the prime search
// and must be what the search would find in rng's stream at that point.
TPM_RC object_generate(const TPMT_PUBLIC& tmpl, const TPMS_SENSITIVE_CREATE& s, crypto::RandomSource rng,
                       ObjectSlot& out, const uint8_t* cached_primes = nullptr);
// A derivation parent (Part 1 "Derived objects"): a loaded keyedHash object (not public-only,
// with a nameAlg) with restricted and decrypt SET; its sensitive data is the derivation secret.
bool is_derivation_parent(const ObjectSlot& o);
// Generates the object that `parent` derives for a checked template (sensitiveDataOrigin CLEAR,
// not RSA) and label/context: every secret is drawn in order from
// KDFa(parent's XOR hashAlg, parent's secret, label, context, 8192): a keyed-hash or symmetric
// key first (its scheme's digest size / keyBits), then the seedValue; ECC the scalar by testing
// candidates (crypto::ecc_generate). sens.userAuth becomes the authValue; sens.data is used as
// scratch and left empty.
TPM_RC object_derive(const ObjectSlot& parent, const TPMT_PUBLIC& tmpl, const TPMS_DERIVE& lc,
                     TPMS_SENSITIVE_CREATE& sens, ObjectSlot& out);
// The sensitive area of a loaded object (Part 2 TPMT_SENSITIVE).
void object_sensitive(const ObjectSlot& o, TPMT_SENSITIVE& out);
// Rebuilds a loaded object from its public and sensitive areas, checking that they belong
// together (TPM_RC_BINDING) and computing its Name. Hierarchy and qualified name are the
// caller's. check_binding may be false only for areas this TPM sealed itself (saved contexts,
// persistent objects), where the point-multiply of the ECC check would be wasted work.
// rsa_crt: for an RSA key this TPM saved itself (context payload v3), the reader holds q, dp,
// dq and qinv after the sensitive area; they are taken as they are instead of being computed
// from the prime (two constant-time modular inverses: most of a ContextLoad's cost).
TPM_RC object_from_parts(const TPMT_PUBLIC& pub, const TPMT_SENSITIVE& sens, ObjectSlot& out,
                         bool check_binding = true, Reader* rsa_crt = nullptr);
// A public-only object (LoadExternal without a sensitive area, or its saved context): checks
// that the public key is usable (RSA modulus of keyBits/8 octets: TPM_RC_KEY; ECC point on
// the curve: TPM_RC_ECC_POINT; keyed-hash/symmetric unique a nameAlg digest: TPM_RC_KEY),
// fills the key material commands use (RSA public key) and computes its Name.
TPM_RC object_public_only(const TPMT_PUBLIC& pub, ObjectSlot& out);
// Protected storage (Part 1 §23): the child's sensitive area encrypted with a key derived from
// the parent's seed and bound to the child's Name, under an outer HMAC.
// rng supplies the fresh IV of each blob.
TPM_RC sensitive_wrap(const ObjectSlot& parent, const TPM2B_NAME& name, const TPMT_SENSITIVE& sens,
                      crypto::RandomSource rng, TPM2B_PRIVATE& out);
// TPM_RC_INTEGRITY if the blob was not made by this parent for this Name.
TPM_RC sensitive_unwrap(const ObjectSlot& parent, const TPM2B_NAME& name, const TPM2B_PRIVATE& in,
                        TPMT_SENSITIVE& out);
// Secrets shared with an asymmetric decryption key: credentials (Part 1 §24, label "IDENTITY")
// and duplication (§23.3, label "DUPLICATE"). The seed is nameAlg-sized: RSA: random,
// OAEP-encrypted (the key's OAEP hash, else its nameAlg) with the label; ECC: KDFe(nameAlg, Z.x,
// label, Qe.x, Qs.x) of an ephemeral ECDH, the secret being the ephemeral point Qe. Labels
// include their terminating zero. Bare codes for the caller to number: recover TPM_RC_SIZE /
// VALUE (RSA), INSUFFICIENT / SIZE / ECC_POINT / NO_RESULT (ECC).
inline constexpr uint8_t kLabelIdentity[] = {'I', 'D', 'E', 'N', 'T', 'I', 'T', 'Y', 0};
inline constexpr uint8_t kLabelDuplicate[] = {'D', 'U', 'P', 'L', 'I', 'C', 'A', 'T', 'E', 0};
TPM_RC secret_seed_make(const ObjectSlot& key, std::span<const uint8_t> label, crypto::RandomSource rng,
                        TPM2B_DIGEST& seed, TPM2B_ENCRYPTED_SECRET& secret);
TPM_RC secret_seed_recover(const ObjectSlot& key, std::span<const uint8_t> label, crypto::RandomSource rng,
                           const TPM2B_ENCRYPTED_SECRET& secret, TPM2B_DIGEST& seed);
// The credential blob (TPM2B_ID_OBJECT: outer HMAC "INTEGRITY" and AES-CFB "STORAGE" with a
// zero IV, both keyed from the seed and bound to the Name of the object the credential is for);
// unwrap: TPM_RC_INSUFFICIENT / INTEGRITY / SIZE.
TPM_RC credential_wrap(const ObjectSlot& key, const TPM2B_DIGEST& seed, const TPM2B_NAME& name,
                       const TPM2B_DIGEST& credential, TPM2B_ID_OBJECT& out);
TPM_RC credential_unwrap(const ObjectSlot& key, const TPM2B_DIGEST& seed, const TPM2B_NAME& name,
                         const TPM2B_ID_OBJECT& blob, TPM2B_DIGEST& out);
// Duplication blobs (Part 1 §23.3.2, the spec's format: no IV, unlike our TPM2B_PRIVATE):
// an optional inner wrapper (AES-CFB with the caller's key, iv 0, over
// TPM2B_DIGEST(H_nameAlg(TPM2B_SENSITIVE || Name)) || TPM2B_SENSITIVE) inside an optional outer
// wrapper (AES-CFB with KDFa(pHash, seed, "STORAGE", Name, -, pBits), iv 0, under
// HMAC(KDFa(pHash, seed, "INTEGRITY", -, -, digest bits), encrypted || Name)).
struct DuplicationKeys {
  TPM_ALG_ID name_alg = TPM_ALG_NULL;    // the object's nameAlg (inner integrity hash)
  TPM_ALG_ID inner_alg = TPM_ALG_AES;    // the inner wrapper's block cipher (symmetricAlg)
  uint16_t inner_bits = 0;               // key bits of the inner wrapper; 0: no inner wrapper
  std::span<const uint8_t> inner_key;    // inner_bits / 8 octets
  TPM_ALG_ID outer_hash = TPM_ALG_NULL;  // the (new) parent's nameAlg; TPM_ALG_NULL: no outer wrapper
  TPM_ALG_ID outer_alg = TPM_ALG_AES;    // the (new) parent's symmetric algorithm
  uint16_t outer_bits = 0;               // the (new) parent's symmetric key bits
  std::span<const uint8_t> seed;         // the outer wrapper's seed
};
// Writes the blob (without its TPM2B size) into out; len its length.
TPM_RC duplicate_wrap(const DuplicationKeys& k, const TPM2B_NAME& name, const TPMT_SENSITIVE& sens,
                      std::span<uint8_t> out, size_t& len);
// Unwraps a blob in place (its buffer ends up zeroized): TPM_RC_INSUFFICIENT / SIZE (malformed),
// TPM_RC_INTEGRITY (an HMAC or inner digest that does not match), or the unmarshalling code of
// the sensitive area.
TPM_RC duplicate_unwrap(const DuplicationKeys& k, const TPM2B_NAME& name, std::span<uint8_t> blob,
                        TPMT_SENSITIVE& out);
// The outer wrapper alone (Rewrap): wrap encrypts data_len octets at buf[2 + digest size] in
// place and writes the HMAC before them (returns the total length, 0 if buf is too small);
// unwrap checks and decrypts in place, data being what it wrapped.
// hash, sym and bits are the parent's nameAlg, symmetric algorithm and key size.
size_t duplicate_outer_wrap(TPM_ALG_ID hash, TPM_ALG_ID sym, uint16_t bits, std::span<const uint8_t> seed,
                            const TPM2B_NAME& name, std::span<uint8_t> buf, size_t data_len);
TPM_RC duplicate_outer_unwrap(TPM_ALG_ID hash, TPM_ALG_ID sym, uint16_t bits, std::span<const uint8_t> seed,
                              const TPM2B_NAME& name, std::span<uint8_t> blob, std::span<uint8_t>& data);
// Our own versioned encoding of a loaded object or sequence, for saved contexts and
// persistent objects (public area, sensitive area, hierarchy, qualified name; or sequence state).
void object_serialize(const ObjectSlot& o, Writer& w);
TPM_RC object_deserialize(Reader& r, ObjectSlot& o);  // TPM_RC_INTEGRITY if malformed
// Loads persistent object h into a free slot for the current command (flushed after it).
TPM_RC persistent_load(Tpm& tpm, TPM_HANDLE h);
void persistent_unload_all(State& st);
int persistent_index(const State& st, TPM_HANDLE h);  // -1 if not defined
// Is the object a storage parent (restricted decrypt asymmetric or symmetric key)?
bool is_storage_parent(const ObjectSlot& o);

// ---- sessions (session.cc) ----
SessionSlot* session_at(State& st, TPM_HANDLE h);  // loaded session or nullptr
TPM_HANDLE session_handle(const State& st, const SessionSlot* s);
// A free loaded slot with a free handle; rc says which ran out (SESSION_MEMORY/HANDLES), or
// CONTEXT_GAP when the last free slot is kept for the oldest saved session.
SessionSlot* session_allocate(State& st, bool policy, TPM_RC& rc);
// Session context gap (Part 1 "Context Management"): the index of the oldest saved session (-1:
// none); whether the gap is full (the next session save would give the oldest's low bits
// again: TPM_RC_CONTEXT_GAP); whether the last free slot is reserved for the oldest saved
// session (gap full and `loading`, the index being loaded or -1 for a new session, is not it).
int session_oldest_saved(const State& st);
bool session_gap_full(const State& st);
bool session_gap_blocks_last_slot(const State& st, int loading);
void session_flush(State& st, SessionSlot& s);
size_t sessions_loaded(const State& st);
size_t sessions_active(const State& st);  // loaded + saved
// Context save/load of sessions: the slot leaves TPM RAM, its handle stays reserved.
void session_saved(State& st, SessionSlot& s, uint64_t sequence);
// The index of a saved session that `sequence` may load, or -1.
int session_loadable(const State& st, TPM_HANDLE h, uint64_t sequence);
// Drops a saved (not loaded) session by handle; false if there is none.
bool session_forget_saved(State& st, TPM_HANDLE h);
void session_serialize(const SessionSlot& s, Writer& w);
bool session_deserialize(Reader& r, SessionSlot& s);

// ---- clock (clock.cc) ----
// The TPM's millisecond count: the platform timer at the ClockRateAdjust rate.
uint64_t tpm_ms(Tpm& tpm);
void clock_rate_reset(Tpm& tpm);                    // _TPM_Init: nominal rate
void clock_rate_adjust(Tpm& tpm, int8_t adjust);    // TPM_CLOCK_ADJUST: -3..3
uint64_t clock_now(Tpm& tpm);      // TPMS_CLOCK_INFO.clock
uint64_t time_now(Tpm& tpm);       // TPMS_TIME_INFO.time (ms since _TPM_Init)
void clock_set(Tpm& tpm, uint64_t new_clock);
// Called after every command: writes Clock to NV when it crosses an update interval.
void clock_periodic_update(Tpm& tpm);
TPMS_CLOCK_INFO clock_info(Tpm& tpm);

// ---- persistence (persist.cc) ----
enum class LoadResult { loaded, absent, failed };
LoadResult persist_load_all(Tpm& tpm);  // persistent + clock records
void persist_manufacture(Tpm& tpm);     // fresh seeds, proofs, defaults
// Serialises the records marked dirty and commits them atomically. On failure the TPM
// answers the command with the returned code (failure mode for integrity/io errors).
TPM_RC persist_flush(Tpm& tpm);
void persist_discard(Tpm& tpm);
TPM_RC persist_save_state(Tpm& tpm);   // Shutdown(STATE) payload, staged
bool persist_restore_state(Tpm& tpm);  // Startup(STATE): false if no valid saved state
void persist_drop_saved_state(Tpm& tpm);  // the saved state and the ACT record
// Stages record id (the store's answer as a TPM_RC; integrity/I-O faults enter failure mode).
TPM_RC persist_stage(Tpm& tpm, uint32_t id, const Writer& w);

// ---- Authenticated Countdown Timers (act.cc) ----
constexpr bool act_handle(TPM_HANDLE h) { return h >= TPM_RH_ACT_0 && h <= TPM_RH_ACT_F; }
constexpr bool act_implemented(TPM_HANDLE h) { return act_handle(h) && h - TPM_RH_ACT_0 < profile::kNumActs; }
uint32_t act_remaining(Tpm& tpm, unsigned i);  // seconds left (0xFFFFFFFF: held)
bool act_signaled(Tpm& tpm, unsigned i);
// ACT_SetTimeout's action (the caller checked the handle and the UINT32_MAX rule).
void act_set(Tpm& tpm, unsigned i, uint32_t start_timeout);
TPMS_ACT_DATA act_data(Tpm& tpm, unsigned i);
// Startup: Resume restores what Shutdown(STATE) saved; Reset/Restart stop every ACT.
void act_startup(Tpm& tpm, bool resume, bool after_state_save);
TPM_RC act_save(Tpm& tpm);  // Shutdown(STATE): record kRecAct, staged

// ---- hierarchies and authorization (hierarchy.cc) ----
// What a handle names (its Name, authValue, authPolicy, DA protection) is resolved once per
// command: core/entity.h.
// An authValue as the TPM uses it: without trailing zero octets (Part 1 §19.6.5); empty for
// nullptr.
std::span<const uint8_t> auth_trimmed(const TPM2B_AUTH* a);
// The policy of a permanent entity (SetPrimaryPolicy: owner, endorsement, lockout, platform);
// hashAlg TPM_ALG_NULL when none is set, nullptr for any other handle.
const TPMT_HA* hierarchy_policy(const State& st, TPM_HANDLE h);
TPMT_HA* hierarchy_policy(State& st, TPM_HANDLE h);
// The proof value of a hierarchy (for tickets and contexts); the null proof for TPM_RH_NULL.
std::span<const uint8_t> hierarchy_proof(const State& st, TPM_HANDLE hierarchy);
bool hierarchy_enabled(const State& st, TPM_HANDLE hierarchy);
// Flushes every loaded object of a hierarchy (when it is disabled, cleared or re-seeded).
void objects_flush_hierarchy(State& st, TPM_HANDLE hierarchy);

// ---- dictionary-attack protection (da.cc) ----
// Applies the self-healing of failedTries (one per recoveryTime seconds of powered time).
void da_recover(Tpm& tpm);
bool da_in_lockout(const State& st);
// Records a failed authorization of a DA-protected entity (or of lockoutAuth).
void da_failure(Tpm& tpm, TPM_HANDLE entity);
// Whether a failed authorization of this entity is written to NV: DA-protected entities while
// DA is enabled (recoveryTime != 0), lockoutAuth while lockoutRecovery != 0.
bool da_records_failure(const State& st, TPM_HANDLE entity, bool da_protected);
// At power on: a lockoutAuth blocked before the power loss stays blocked for a full
// lockoutRecovery of powered time (a power cycle must not speed up recovery).
void da_power_on(Tpm& tpm);
void da_mark_used(State& st);  // a DA-protected authValue is about to be checked
// Startup: one failure counted if the TPM went down non-orderly after da_mark_used.
void da_startup(Tpm& tpm, bool after_orderly_shutdown);
bool lockout_auth_available(Tpm& tpm);

}  // namespace utpm::tpm
