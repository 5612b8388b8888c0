// HMAC (FIPS 198-1) on the backend's hash. The state is two hash states (inner keyed with
// K^ipad, outer keyed with K^opad), so an HMAC sequence is as context-savable as a hash.
#include "crypto/crypto.h"

namespace utpm::crypto {
inline namespace UTPM_CRYPTO_NS {

Status hmac_start(HmacState& st, HashAlg alg, Bytes key) {
  const size_t block = block_size(alg);
  if (block == 0) return Status::unsupported;
  uint8_t k[kMaxHashBlockSize] = {};
  if (key.size() > block) {
    hash(alg, key, MutBytes(k, sizeof k));
  } else {
    for (size_t i = 0; i < key.size(); ++i) k[i] = key[i];
  }
  uint8_t pad[kMaxHashBlockSize];
  for (size_t i = 0; i < block; ++i) pad[i] = static_cast<uint8_t>(k[i] ^ 0x36);
  Status s = hash_start(st.inner, alg);
  if (s == Status::ok) {
    hash_update(st.inner, Bytes(pad, block));
    for (size_t i = 0; i < block; ++i) pad[i] = static_cast<uint8_t>(k[i] ^ 0x5c);
    s = hash_start(st.outer, alg);
    if (s == Status::ok) hash_update(st.outer, Bytes(pad, block));
  }
  zeroize(k);
  zeroize(pad);
  return s;
}

void hmac_update(HmacState& st, Bytes data) { hash_update(st.inner, data); }

size_t hmac_finish(HmacState& st, MutBytes out) {
  uint8_t inner[kMaxDigestSize];
  const size_t n = hash_finish(st.inner, MutBytes(inner, sizeof inner));
  if (n == 0) return 0;
  hash_update(st.outer, Bytes(inner, n));
  const size_t m = hash_finish(st.outer, out);
  zeroize(inner);
  zeroize(st);
  return m;
}

size_t hmac(HashAlg alg, Bytes key, Bytes data, MutBytes out) {
  HmacState st;
  if (hmac_start(st, alg, key) != Status::ok) return 0;
  hmac_update(st, data);
  return hmac_finish(st, out);
}

}  // namespace UTPM_CRYPTO_NS
}  // namespace utpm::crypto
