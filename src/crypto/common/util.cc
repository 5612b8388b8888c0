// Backend-independent utilities: constant-time compare, wipe, algorithm queries.
#include "crypto/crypto.h"

namespace utpm::crypto {
inline namespace UTPM_CRYPTO_NS {

bool ct_equal(Bytes a, Bytes b) {
  if (a.size() != b.size()) return false;
  // Accumulate every difference so the time depends only on the length.
  volatile uint8_t diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff = static_cast<uint8_t>(diff | (a[i] ^ b[i]));
  return diff == 0;
}

void zeroize(void* p, size_t n) {
  if (p == nullptr || n == 0) return;
  // Writes through a volatile pointer cannot be removed as dead stores; the barrier keeps
  // the compiler from assuming the memory is unused afterwards.
  volatile uint8_t* v = static_cast<volatile uint8_t*>(p);
  for (size_t i = 0; i < n; ++i) v[i] = 0;
  __asm__ __volatile__("" : : "r"(p) : "memory");
}

bool hash_supported(uint16_t alg_id) {
  switch (static_cast<HashAlg>(alg_id)) {
    case HashAlg::sha1:
    case HashAlg::sha256:
    case HashAlg::sha384:
    case HashAlg::sha512: return true;
  }
  return false;
}

}  // namespace UTPM_CRYPTO_NS
}  // namespace utpm::crypto
