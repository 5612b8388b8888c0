// Engine subsystems used by the command handlers: PCR banks, object slots, clock, NV
// persistence, hierarchies/authorization, random numbers. State lives in State; these are the
// rules that act on it.
#pragma once

#include <cstdint>
#include <span>

#include "tpm/state.h"
#include "tpm/types/part2.h"

namespace utpm::tpm {

class Tpm;

// ---- failure mode ----
void enter_failure(State& st, FailureCause cause);

// ---- random numbers (random_source.cc) ----
// Fills out from the TPM's DRBG, reseeding from platform entropy when due. False if the
// entropy source failed (the TPM is then in failure mode).
bool tpm_random(Tpm& tpm, std::span<uint8_t> out);
// Instantiates the DRBG from fresh platform entropy. False (and failure mode) on source failure.
bool drbg_seed_from_platform(Tpm& tpm);

// ---- PCRs (pcr.cc) ----
struct PcrAttributes {
  bool state_save;       // preserved by Shutdown(STATE) + Startup(STATE)
  uint8_t reset_locality;   // bit n: PCR_Reset allowed from locality n
  uint8_t extend_locality;  // bit n: PCR_Extend/Event allowed from locality n
  bool drtm_reset;       // initialised to all ones at TPM Reset/Restart (D-RTM PCRs)
};
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

// ---- object slots (object.cc) ----
ObjectSlot* object_at(State& st, TPM_HANDLE h);   // loaded transient object or nullptr
TPM_HANDLE object_handle(const State& st, const ObjectSlot* slot);
ObjectSlot* object_allocate(State& st);           // free slot or nullptr
void object_flush(ObjectSlot& slot);
void objects_flush_all(State& st);
size_t objects_loaded(const State& st);

// ---- clock (clock.cc) ----
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
void persist_drop_saved_state(Tpm& tpm);

// ---- hierarchies and authorization (hierarchy.cc) ----
// The authValue behind an entity handle, whether DA protects it, and whether it exists.
struct EntityAuth {
  const TPM2B_AUTH* auth;  // nullptr: the entity has no authValue (empty)
  bool da_protected;
};
TPM_RC entity_auth(State& st, TPM_HANDLE h, EntityAuth& out);
// The proof value of a hierarchy (for tickets); empty span for TPM_RH_NULL.
std::span<const uint8_t> hierarchy_proof(const State& st, TPM_HANDLE hierarchy);
bool hierarchy_enabled(const State& st, TPM_HANDLE hierarchy);

}  // namespace utpm::tpm
