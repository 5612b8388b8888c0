// The NV index state the engine keeps in RAM (docs/engine.md, "NV indices"): the list of
// defined indices (handles only, never their data) and the slots an index is loaded into for
// the one command that uses it. Index data stays in the store; a command reads its record.
#pragma once

#include <cstdint>

#include "tpm/profile.h"
#include "tpm/types/nv.h"
#include "tpm/types/object.h"

namespace utpm::tpm {

// Per-index flags kept in the list, so that Clear, GlobalWriteLock and GetCapability need not
// read every record.
inline constexpr uint8_t kNvListPlatform = 1 << 0;    // TPMA_NV_PLATFORMCREATE
inline constexpr uint8_t kNvListCounter = 1 << 1;     // TPM_NT_COUNTER
inline constexpr uint8_t kNvListGlobalLock = 1 << 2;  // TPMA_NV_GLOBALLOCK
inline constexpr uint8_t kNvListOrderly = 1 << 3;     // TPMA_NV_ORDERLY (not a PIN index): kept in RAM

// Record kRecNvList: the defined indices (sorted by handle) and the TPM-wide NV state.
struct NvIndexList {
  // Startup epoch: incremented at every TPM Reset and TPM Restart (not at a Resume). An index
  // record written in an older epoch has its stClear state (READLOCKED, WRITELOCKED unless
  // WRITEDEFINE and WRITTEN, WRITTEN of CLEAR_STCLEAR indices) cleared when it is next read.
  uint32_t epoch = 1;
  // The epoch in which NV_GlobalWriteLock last ran (0: never): while it is the current epoch,
  // every GLOBALLOCK index is write locked.
  uint32_t global_lock_epoch = 0;
  // The largest value any counter index had when it was undefined: a new counter starts above
  // it (Part 1 §37.4.3: counters never go back).
  uint64_t max_counter = 0;
  uint32_t count = 0;
  TPM_HANDLE handle[profile::kMaxNvIndices]{};
  uint8_t flags[profile::kMaxNvIndices]{};
};

// The RAM of orderly indices (docs/engine.md "Orderly indices"): packed entries, each a 16-octet
// header {u32 handle, u32 attributes, u32 epoch, u16 size, u8 flags, u8 0} and size octets of
// data. The data, attributes and epoch are the index's current ones; its store record holds the
// last copy written (at define, write-through, or orderly Shutdown) and the authValue/policy.
struct NvOrderlyRam {
  uint32_t used = 0;
  uint8_t pool[profile::kNvOrderlyRam]{};
};
inline constexpr uint8_t kNvRamDirty = 1 << 0;   // newer than the store record
inline constexpr uint8_t kNvRamStaged = 1 << 1;  // its record is staged: clean once committed

// An index loaded for the current command (by the dispatcher, like a persistent object): its
// public area with the effective attributes, authValue and Name. Never its data.
struct NvSlot {
  TPM_HANDLE handle = 0;  // 0: free
  TPMS_NV_PUBLIC pub;
  TPM2B_AUTH auth;
  TPM2B_NAME name;
};
inline constexpr size_t kNvSlots = 2;  // NV_Certify/PolicyNV name an auth index and an index

}  // namespace utpm::tpm
