// The secure store's AEAD: AES-256-GCM with the fixed sizes the store format uses.
#include "crypto/sym.h"

namespace utpm::crypto {
inline namespace UTPM_CRYPTO_NS {

Status aead_seal(Bytes key, Bytes nonce, Bytes aad, Bytes in, MutBytes out, MutBytes tag) {
  if (key.size() != kAeadKeySize || nonce.size() != kAeadNonceSize ||
      tag.size() != kAeadTagSize) {
    return Status::bad_input;
  }
  return aes_gcm_seal(key, nonce, aad, in, out, tag);
}

Status aead_open(Bytes key, Bytes nonce, Bytes aad, Bytes in, Bytes tag, MutBytes out) {
  if (key.size() != kAeadKeySize || nonce.size() != kAeadNonceSize ||
      tag.size() != kAeadTagSize) {
    return Status::bad_input;
  }
  return aes_gcm_open(key, nonce, aad, in, tag, out);
}

}  // namespace UTPM_CRYPTO_NS
}  // namespace utpm::crypto
