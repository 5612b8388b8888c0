// The one place a port configures the engine: capacities, algorithms, sizes.
// Two algorithm profiles (docs/engine.md "Profiles"), chosen by one macro:
//   firmware (UTPM_PROFILE_FIRMWARE=1, set by src/tpm/CMakeLists.txt when cross-compiling): the
//     TPM 2.0 Library 1.84 default set as trimmed in docs/DESIGN: RSA-1024/2048, P-256/P-384,
//     SHA-1/256/384, AES-128/256, PCR banks SHA-1/256/384;
//   host (default): the firmware set plus RSA-3072/4096, AES-192, SHA-512 (also a PCR bank).
// Everything algorithm-dependent (TPM_CAP_ALGS, TPMI_* checks, TPM_PT_* sizes, the PCR pool)
// derives from the constants below. 8 objects (firmware 3), 3 loaded / 64 active sessions, 24
// PCRs. A build may override the I/O size (firmware uses a smaller buffer).
#pragma once

#include <cstddef>
#include <cstdint>

#ifndef UTPM_MAX_COMMAND_SIZE
#define UTPM_MAX_COMMAND_SIZE 4096
#endif
// NV index capacity (docs/engine.md "NV indices"): the host default; the firmware build sets
// smaller values (src/tpm/CMakeLists.txt) so that an index record fits the store's 2 KB record
// limit and the index list stays small in RAM.
#ifndef UTPM_NV_INDICES
#define UTPM_NV_INDICES 256
#endif
#ifndef UTPM_NV_INDEX_MAX
#define UTPM_NV_INDEX_MAX 2048
#endif
// Object slots and the persistent-object minimum reported as TPM_PT_HR_PERSISTENT_MIN: the host
// has room for PC Client software (>= 7 persistent objects) and for clients that keep a few keys
// loaded; the firmware keeps 3 slots and reports 2 (src/tpm/CMakeLists.txt).
#ifndef UTPM_MAX_LOADED_OBJECTS
#define UTPM_MAX_LOADED_OBJECTS 8
#endif
#ifndef UTPM_MIN_EVICT_OBJECTS
#define UTPM_MIN_EVICT_OBJECTS 7
#endif
// RAM for TPMA_NV_ORDERLY indices (docs/engine.md "Orderly indices"): every orderly index
// (except PIN indices) is kept in RAM, 16 octets of header + its data; NV_DefineSpace of one that
// does not fit is TPM_RC_NV_SPACE. Host 8 KB; the firmware sets 512 octets.
#ifndef UTPM_NV_ORDERLY_RAM
#define UTPM_NV_ORDERLY_RAM 8192
#endif

// Derivation cache of RSA primary keys (docs/primary_cache.md): entries kept in the store, LRU.
// Host 8; the firmware sets 2 (src/tpm/CMakeLists.txt). 0 disables the cache.
#ifndef UTPM_PRIMARY_CACHE_ENTRIES
#define UTPM_PRIMARY_CACHE_ENTRIES 8
#endif

#ifndef UTPM_PROFILE_FIRMWARE
#define UTPM_PROFILE_FIRMWARE 0
#endif

namespace utpm::profile {

// ---- which algorithm profile ----
inline constexpr bool kHostProfile = !UTPM_PROFILE_FIRMWARE;

// ---- command/response I/O ----
inline constexpr size_t kMaxCommandSize = UTPM_MAX_COMMAND_SIZE;
inline constexpr size_t kMaxResponseSize = UTPM_MAX_COMMAND_SIZE;
inline constexpr size_t kMaxSessionsPerCommand = 3;

// ---- hashes: implemented set and the largest digest (TPMU_HA) ----
inline constexpr bool kSha1 = true;
inline constexpr bool kSha256 = true;
inline constexpr bool kSha384 = true;
inline constexpr bool kSha512 = kHostProfile;
inline constexpr size_t kMaxDigestSize = kSha512 ? 64 : (kSha384 ? 48 : 32);
inline constexpr size_t kMaxHashBlockSize = (kSha384 || kSha512) ? 128 : 64;

// ---- buffers (Part 2 table 79 ff.) ----
inline constexpr size_t kMaxDigestBuffer = 1024;  // TPM2B_MAX_BUFFER
inline constexpr size_t kMaxEventData = 1024;     // TPM2B_EVENT
inline constexpr size_t kMaxSensitiveData = 128;  // TPM2B_SENSITIVE_DATA
inline constexpr size_t kMaxCapBuffer = 1024;     // bytes of TPMS_CAPABILITY_DATA payload
inline constexpr size_t kMaxNvBuffer = 1024;
inline constexpr size_t kMaxNvIndexSize = UTPM_NV_INDEX_MAX;  // TPM_PT_NV_INDEX_MAX
// An RSA key's context carries its CRT values (4 x keyBits/16 octets, keys.cc payload v3): an
// RSA-4096 key with SHA-512 names and full-size secrets needs about 2.1 KB; RSA-2048 on the
// firmware about 1.2 KB.
inline constexpr size_t kMaxContextSize = kHostProfile ? 2560 : 1344;  // TPM2B_CONTEXT_DATA

// ---- PCRs ----
inline constexpr uint32_t kNumPcrs = 24;
inline constexpr uint8_t kPcrSelectMin = (kNumPcrs + 7) / 8;
inline constexpr uint8_t kPcrSelectMax = (kNumPcrs + 7) / 8;
// The banks allocated at manufacture, by TPM_ALG_ID (SHA-1 0x0004, SHA-256 0x000B, SHA-384
// 0x000C, SHA-512 0x000D on the host): PC Client software reads the first three. Each must be an
// implemented hash (state.h checks); PCR_Allocate chooses among these banks.
#if UTPM_PROFILE_FIRMWARE
inline constexpr uint16_t kPcrBankAlgs[] = {0x0004, 0x000B, 0x000C};
#else
inline constexpr uint16_t kPcrBankAlgs[] = {0x0004, 0x000B, 0x000C, 0x000D};
#endif
inline constexpr size_t kMaxPcrBanks = sizeof(kPcrBankAlgs) / sizeof(kPcrBankAlgs[0]);

// ---- objects and sessions ----
inline constexpr size_t kMaxLoadedObjects = UTPM_MAX_LOADED_OBJECTS;
inline constexpr size_t kMaxLoadedSessions = 3;
// Authenticated Countdown Timers: TPM_RH_ACT_0 .. TPM_RH_ACT_0 + kNumActs - 1 (at most 16).
inline constexpr size_t kNumActs = 2;
static_assert(kNumActs >= 1 && kNumActs <= 16);
inline constexpr size_t kMaxActiveSessions = 64;
// Session context gap (Part 1 "Context Management", contextArray): a saved session's entry
// keeps the low bits of its context's sequence in a ContextSlot, so two saved session contexts
// may differ by at most the slot type's maximum, TPM_PT_CONTEXT_GAP_MAX (docs/engine.md
// "Session context gap").
using ContextSlot = uint16_t;
inline constexpr uint32_t kContextGapMax = static_cast<ContextSlot>(~ContextSlot{0});
static_assert(kContextGapMax >= 0xFFFF, "Part 1: CONTEXT_GAP_MAX is 2^n - 1 with n >= 16");
// TPM_PT_HR_PERSISTENT_MIN: persistent objects the TPM guarantees (never above the store's cap).
inline constexpr size_t kMinEvictObjects = UTPM_MIN_EVICT_OBJECTS;
// Persistent (evicted) objects the store may hold; each is one NV record.
inline constexpr size_t kMaxPersistentObjects = 7;
static_assert(kMinEvictObjects <= kMaxPersistentObjects);
inline constexpr size_t kMinCounterIndices = 8;
// NV indices that may be defined (each is one store record; the list of handles is in RAM).
inline constexpr size_t kMaxNvIndices = UTPM_NV_INDICES;
// Octets of RAM for orderly indices (16 per index + its data).
inline constexpr size_t kNvOrderlyRam = UTPM_NV_ORDERLY_RAM;
// An orderly counter is written to the store when an increment makes its low kNvOrderlyCountBits
// bits 0, so at most MAX_ORDERLY_COUNT = 2^bits - 1 increments live only in RAM (TPM_PT_ORDERLY_COUNT);
// after a non-orderly shutdown it restarts at stored value + MAX_ORDERLY_COUNT + 1.
inline constexpr unsigned kNvOrderlyCountBits = 8;
inline constexpr uint64_t kMaxOrderlyCount = (uint64_t{1} << kNvOrderlyCountBits) - 1;

// ---- asymmetric ----
// RSA key sizes: 1024 and 2048, plus 3072 and 4096 on the host (each up to kMaxRsaKeyBits).
inline constexpr uint16_t kMaxRsaKeyBits = kHostProfile ? 4096 : 2048;
// ECC curves: NIST P-256 and P-384, plus P-521 on the host.
inline constexpr bool kEccP521 = kHostProfile;
inline constexpr uint16_t kMaxEccKeyBits = kEccP521 ? 521 : 384;
// AES key sizes: 128 and 256, plus 192 on the host.
inline constexpr bool kAes192 = kHostProfile;
// Camellia (128/192/256, as AES) and SM4 (128) on the host, from OpenSSL; the firmware's
// mbedTLS build has AES only (docs/algorithms.md).
inline constexpr bool kCamellia = kHostProfile;
inline constexpr bool kSm4 = kHostProfile;

// Primary-key derivation cache (docs/primary_cache.md): RSA primary keys of the owner,
// endorsement and platform hierarchies whose primes are kept in the secure store, one record
// each (records kRecPrimaryCache + i).
inline constexpr size_t kPrimaryCacheEntries = UTPM_PRIMARY_CACHE_ENTRIES;

// ---- seeds, proofs, auth ----
inline constexpr size_t kPrimarySeedSize = 32;
inline constexpr size_t kProofSize = 32;

// ---- clock ----
// Clock is written to NV at most this often while running (ms); an orderly Shutdown writes it
// exactly. 2^22 ms (~70 min) keeps flash wear to a few thousand writes a year.
// ClockRateAdjust: Clock and Time advance kClockNominal / rate times as fast as the platform
// timer; each request moves rate by a step, within kClockNominal +- kClockAdjustLimit (16.7%).
inline constexpr uint32_t kClockNominal = 30000;
inline constexpr uint32_t kClockAdjustCoarse = 300, kClockAdjustMedium = 30, kClockAdjustFine = 1;
inline constexpr uint32_t kClockAdjustLimit = 5000;
inline constexpr uint64_t kClockUpdateIntervalMs = uint64_t{1} << 22;

// ---- dictionary attack defaults (Part 1 §19.8; reference values) ----
inline constexpr uint32_t kDefaultMaxTries = 3;
inline constexpr uint32_t kDefaultRecoveryTime = 1000;    // seconds
inline constexpr uint32_t kDefaultLockoutRecovery = 1000; // seconds

// ---- identity reported by GetCapability ----
inline constexpr uint32_t kManufacturer = 0x5554504D;  // "UTPM"
inline constexpr char kVendorString[17] = "utpm open TPM   ";
inline constexpr uint32_t kFirmwareVersion1 = 0x00000001;
inline constexpr uint32_t kFirmwareVersion2 = 0x00000000;
inline constexpr uint32_t kSpecLevel = 0;
inline constexpr uint32_t kSpecRevision = 184;
inline constexpr uint32_t kSpecDayOfYear = 79;
inline constexpr uint32_t kSpecYear = 2025;

}  // namespace utpm::profile
