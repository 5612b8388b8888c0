// The TPM's random bit generator: NIST SP 800-90A CTR_DRBG with AES-256, no derivation
// function (seed material is exactly seedlen = 48 bytes of full-entropy input, which is what
// the platform entropy source and the TPM's own seed derivations provide).
//
// The same mechanism serves two purposes:
//   - the TPM's RNG (TPM2_GetRandom, nonces, salts), seeded from platform entropy and reseeded;
//   - a deterministic derivation stream for primary keys: instantiated from a seed, it yields
//     the same bytes on both backends, so key generation driven by it is reproducible.
// Built in src/crypto/common on the backend's AES block function only, so both backends are
// bit-identical.
#pragma once

#include <type_traits>

#include "crypto/crypto.h"

namespace utpm::crypto {

inline constexpr size_t kDrbgKeySize = 32;    // AES-256
inline constexpr size_t kDrbgBlockSize = 16;  // outlen
inline constexpr size_t kDrbgSeedSize = kDrbgKeySize + kDrbgBlockSize;  // seedlen = 48
// SP 800-90A Table 3 limits for CTR_DRBG (AES): per-request output and reseed interval.
inline constexpr size_t kDrbgMaxRequest = 1u << 16;               // 2^19 bits
inline constexpr uint64_t kDrbgReseedInterval = uint64_t{1} << 48;

// Fixed-size, trivially copyable: the engine keeps it in its state and may save it.
struct DrbgState {
  uint8_t key[kDrbgKeySize];
  uint8_t v[kDrbgBlockSize];
  uint64_t reseed_counter;  // 0 = not instantiated
};
static_assert(std::is_trivially_copyable_v<DrbgState>);
static_assert(sizeof(DrbgState) == 56);

// A source of random-looking bytes that key generation and padding draw from. It is a plain
// function pointer + context (no virtuals, no heap) so the engine can hand in a DRBG, a KDF
// stream, or the platform's entropy.
struct RandomSource {
  Status (*fill)(void* ctx, MutBytes out);
  void* ctx;
  Status operator()(MutBytes out) const { return fill(ctx, out); }
};

inline namespace UTPM_CRYPTO_NS {

// Instantiate: entropy must be exactly kDrbgSeedSize bytes; personalization is at most
// kDrbgSeedSize bytes (shorter is zero-padded, as SP 800-90A 10.2.1.3.1 specifies).
Status drbg_instantiate(DrbgState& st, Bytes entropy, Bytes personalization);
// Reseed: entropy exactly kDrbgSeedSize bytes; additional input at most kDrbgSeedSize bytes.
Status drbg_reseed(DrbgState& st, Bytes entropy, Bytes additional);
// Generate out.size() (<= kDrbgMaxRequest) bytes. Returns bad_input for an oversize request
// or an uninstantiated state, and failure when a reseed is required (the caller reseeds).
Status drbg_generate(DrbgState& st, MutBytes out, Bytes additional = {});
// Wraps a DrbgState as a RandomSource (requests larger than kDrbgMaxRequest are split).
RandomSource drbg_source(DrbgState& st);
// The state behind a source made by drbg_source, else nullptr. Lets a consumer of a DRBG
// stream read ahead on a copy of the state and keep the copy only if it uses what it read.
DrbgState* drbg_state_of(RandomSource src);

}  // namespace UTPM_CRYPTO_NS
}  // namespace utpm::crypto
