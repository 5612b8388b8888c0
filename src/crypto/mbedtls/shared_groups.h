// mbedTLS backend: EC groups kept loaded across calls (firmware only; ecc.cc says why).
#pragma once

namespace utpm::crypto {
inline namespace UTPM_CRYPTO_NS {

// Forgets the shared groups without freeing them: backend_init() calls it when it gives
// mbedTLS a new allocation pool, which the old groups' memory belonged to.
void ecc_forget_shared_groups();

// Frees the shared groups into the pool (they are loaded again on next use): lets a test see
// a pool with nothing allocated.
void ecc_free_shared_groups();

}  // namespace UTPM_CRYPTO_NS
}  // namespace utpm::crypto
