// utpmd's TPM state blobs (swtpm's GET/SET_STATEBLOB, VM migration): the TPM's state taken out
// of one utpmd and put into another, sealed as the secure store seals its records (AES-256-GCM
// through src/crypto, key derived with KDFa). Format and readings: docs/swtpm.md "State blobs".
//
//   permanent  every record of the secure store (seeds, hierarchy auths, persistent objects,
//              NV indices, clock, the state TPM2_Shutdown(STATE) saved, audit)
//   savestate  only the record TPM2_Shutdown(STATE) writes
//   volatile   the engine's RAM state (PCRs, loaded objects and sessions, context counter,
//              null seed, DRBG...): a byte image of tpm::State, so only between identical
//              builds (the blob names the build; another build's blob is refused)
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "host/secure_nv_store.h"
#include "tpm/tpm.h"

namespace utpm::host::stateblob {

inline constexpr uint32_t kKeyDeviceSecret = 1;  // the state directory's nv.key
inline constexpr uint32_t kKeyMigration = 2;     // an operator-supplied migration key

struct Key {
  std::array<uint8_t, 32> secret{};
  uint32_t kind = kKeyDeviceSecret;
};

inline constexpr size_t kHeaderSize = 52;
inline constexpr size_t kTagSize = 16;

// Result of open(): what is wrong with a blob.
enum class OpenResult : uint8_t { ok, malformed, wrong_type, wrong_key, bad_auth };
const char* open_result_name(OpenResult r);

// Seals `payload` as a blob of `type` (swtpm::BlobType). False only if the crypto fails.
bool seal(const Key& key, uint32_t type, std::span<const uint8_t> payload,
          std::vector<uint8_t>& blob);
// Authenticates and decrypts.
OpenResult open(const Key& key, uint32_t type, std::span<const uint8_t> blob,
                std::vector<uint8_t>& payload);

// The store's records: all of them, or (savestate_only) just the Shutdown(STATE) record.
// False if the store is unusable or a record cannot be read.
bool capture_records(SecureNvStore& nv, bool savestate_only, std::vector<uint8_t>& payload);
// Replaces the store's records by the payload's (savestate_only: only that record). False on a
// malformed payload or a store error (`error` says which).
bool restore_records(SecureNvStore& nv, bool savestate_only, std::span<const uint8_t> payload,
                     std::string& error);

// The engine's RAM state (an empty payload if the TPM is not powered).
void capture_volatile(tpm::Tpm& tpm, uint64_t now_ms, std::vector<uint8_t>& payload);
// Whether `payload` is a volatile image this build can load (empty counts: "no state").
bool volatile_matches_build(std::span<const uint8_t> payload);
// Loads it into a powered TPM, moving its platform-time stamps to this host's clock.
bool restore_volatile(tpm::Tpm& tpm, uint64_t now_ms, std::span<const uint8_t> payload);

}  // namespace utpm::host::stateblob
