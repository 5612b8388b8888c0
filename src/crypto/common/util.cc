// Backend-independent utilities: constant-time compare, wipe, algorithm queries.
#include <cstring>

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
  // A plain memset may be removed as a dead store; the barrier after it tells the compiler the
  // memory is read (through p) by code it cannot see, so the stores must happen. This keeps
  // memset's word-wide speed: the engine wipes kilobyte-sized object slots on every flush, and
  // a volatile byte loop was 11 % of utpmd's instructions in an HMAC workload (callgrind).
  std::memset(p, 0, n);
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
