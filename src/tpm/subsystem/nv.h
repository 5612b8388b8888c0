// NV indices on the record store (docs/engine.md "NV indices"): one record per index, id = the
// NV handle, holding its data, public area, authValue and the startup epoch of its stClear
// state; the list of defined indices is record kRecNvList. Only orderly indices keep their data
// in RAM (State::nv_ram) until an orderly Shutdown; a command loads the index it names into an
// NvSlot (public area, authValue, Name) and reads or rewrites the record (or the RAM copy) when
// it needs the data.
#pragma once

#include <cstdint>
#include <span>

#include "tpm/state.h"
#include "tpm/types/nv.h"

namespace utpm::tpm {

class Tpm;

// Bytes of an index record: tag, version, u16 data size, data, TPMS_NV_PUBLIC (at most
// 4 + 2 + 4 + 2 + digest + 2), TPM2B_AUTH, u32 epoch.
inline constexpr size_t kNvRecordOverhead = 4 + 2 + (14 + profile::kMaxDigestSize) + (2 + profile::kMaxDigestSize) + 4;
inline constexpr size_t kNvRecordMax = kNvRecordOverhead + profile::kMaxNvIndexSize;

// Name = nameAlg || H_nameAlg(TPMS_NV_PUBLIC) (Part 1 §16).
bool nv_name(const TPMS_NV_PUBLIC& pub, TPM2B_NAME& out);

// ---- the list ----
int nv_find(const State& st, TPM_HANDLE h);  // position in the list, -1 if not defined
uint32_t nv_counter_count(const State& st);
void nv_list_write(const NvIndexList& l, Writer& w);
bool nv_list_read(Reader& r, NvIndexList& l);
// Reads the list record again (after a failed command changed the RAM copy). Absent: empty.
void nv_list_reload(Tpm& tpm);

// ---- per command ----
// Loads index h into a free slot for the current command: TPM_RC_HANDLE if it is not defined
// or its hierarchy is disabled (platform index with phEnableNV CLEAR, owner index with
// shEnable CLEAR); TPM_RC_FAILURE (and failure mode) if its record cannot be read.
TPM_RC nv_load(Tpm& tpm, TPM_HANDLE h);
NvSlot* nv_at(State& st, TPM_HANDLE h);
void nv_unload_all(State& st);

// Reads size octets of the index's data from offset (the caller checked the range).
TPM_RC nv_read_data(Tpm& tpm, const NvSlot& slot, uint16_t offset, std::span<uint8_t> out);
// Writes data at offset (empty data: only the public area and authValue are rewritten) and
// stages the record with the slot's public area and authValue; updates the slot's Name.
TPM_RC nv_write_data(Tpm& tpm, NvSlot& slot, uint16_t offset, std::span<const uint8_t> data);
// Stages a new index (data 0xFF..., WRITTEN clear) and adds it to the list. TPM_RC_NV_SPACE
// when the list or the store is full.
TPM_RC nv_define(Tpm& tpm, const TPMS_NV_PUBLIC& pub, const TPM2B_AUTH& auth);
// Removes the index (record and list entry); a counter's value is kept as the floor for new
// counters.
TPM_RC nv_undefine(Tpm& tpm, NvSlot& slot);

// ---- orderly indices (docs/engine.md "Orderly indices") ----
// Brings the RAM of orderly indices in line with the list: drops entries of indices no longer
// listed, loads listed orderly indices RAM does not hold from their records (at power-on: all
// of them, so RAM starts as the store's copy). nv_list_reload calls it.
void nv_orderly_sync(Tpm& tpm);
// Shutdown: stages the record of every orderly index whose RAM state is newer than it (committed
// with the orderly flag, in one transaction).
TPM_RC nv_orderly_flush(Tpm& tpm);
// Startup after a non-orderly shutdown: every written orderly counter restarts at its stored
// value + MAX_ORDERLY_COUNT + 1, above any value it can have reached; staged.
TPM_RC nv_orderly_recover(Tpm& tpm);
// After the store committed (true) or dropped (false) what the command staged: staged entries
// become clean (true) or keep their dirty state (false).
void nv_orderly_committed(State& st, bool committed);

// ---- TPM-wide ----
// Startup: a TPM Reset or Restart (not a Resume) starts a new epoch, which clears every index's
// stClear state and the global write lock.
void nv_startup(State& st, bool resume);
// TPM2_Clear: removes every index without TPMA_NV_PLATFORMCREATE.
TPM_RC nv_clear_owner(Tpm& tpm);
// TPM2_NV_GlobalWriteLock.
TPM_RC nv_global_lock(Tpm& tpm);

// Whether the authValue / authPolicy of an index may be used for a command (Part 1 §19.7,
// TPMA_NV AUTHREAD/AUTHWRITE, POLICYREAD/POLICYWRITE; PIN indices while pinCount < pinLimit;
// ADMIN role: policy only, with the command code bound). write: the command changes the index
// (NV_Write, ...). TPM_RC_POLICY_FAIL is for the caller to number by session.
TPM_RC nv_auth_available(Tpm& tpm, const NvSlot& slot, bool policy, bool admin, bool write, bool policy_cc_bound);
// After an authValue authorization of a PIN index: PIN_PASS counts a success, PIN_FAIL a
// failure (and a success resets it); the new pinCount is committed at once (fail closed).
TPM_RC nv_pin_result(Tpm& tpm, NvSlot& slot, bool success);
// NvReadAccessChecks (Part 3 §31.3.1) for NV_Read, NV_ReadLock, NV_Certify, PolicyNV and
// PolicyAuthorizeNV: not read locked, `auth` (the command's authHandle) allowed to read by the
// index's attributes, and written (checked last, so that NV_ReadLock of an unwritten index is
// still authorized properly).
TPM_RC nv_read_access(const NvSlot& slot, TPM_HANDLE auth);

}  // namespace utpm::tpm
