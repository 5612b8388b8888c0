// Derivation cache of RSA primary keys (docs/primary_cache.md). A primary key is a function of
// its hierarchy's seed, its template and sensitive.data; finding RSA primes is by far the
// costliest part of that function, so the primes of recently derived keys are kept in the
// secure store, each entry bound to the derivation's seed material by a MAC. A hit skips only
// the prime search: everything else of the derivation runs as without the cache.
#pragma once

#include <cstdint>
#include <span>

#include "crypto/crypto.h"
#include "crypto/rsa.h"
#include "tpm/state.h"
#include "tpm/types/part2.h"

namespace utpm::tpm {

class Tpm;

// Whether the primary of tmpl under hierarchy goes through the cache: RSA keys of the owner,
// endorsement and platform hierarchies (the null hierarchy's seed changes at every TPM Reset:
// never cached).
bool primary_cache_applies(TPM_HANDLE hierarchy, const TPMT_PUBLIC& tmpl);
// Derives the entry key of this derivation from its DRBG seed material (kept in
// st.primary_cache.key until primary_cache_end).
void primary_cache_begin(State& st, crypto::Bytes seed_material);
void primary_cache_end(State& st);
// The primes p || q (bits/16 octets each, p > q) of the matching entry, read into scratch, or
// nullptr. The caller wipes scratch when done.
const uint8_t* primary_cache_lookup(Tpm& tpm, TPM_HANDLE hierarchy, uint16_t bits, std::span<uint8_t> scratch);
// Keeps the primes of a freshly derived key (staged; committed with the command). A store
// without room simply keeps nothing. Wipes what it wrote to scratch.
void primary_cache_store(Tpm& tpm, TPM_HANDLE hierarchy, const crypto::RsaPrivateKey& key, std::span<uint8_t> scratch);
// Removes every entry of hierarchy (its seed changed), staged with the command's changes.
void primary_cache_invalidate(Tpm& tpm, TPM_HANDLE hierarchy, std::span<uint8_t> scratch);

}  // namespace utpm::tpm
