// Protected storage (Part 1 §23.3): how a child's sensitive area leaves the TPM.
//   symKey  = KDFa(parent.nameAlg, parent.seedValue, "STORAGE", Name(child), -, parent key bits)
//   hmacKey = KDFa(parent.nameAlg, parent.seedValue, "INTEGRITY", -, -, digest bits)
//   encSensitive = TPM2B_IV(iv) || AES-CFB(symKey, iv, TPM2B_SENSITIVE), iv fresh and random
//   TPM2B_PRIVATE = HMAC(hmacKey, encSensitive || Name(child)) || encSensitive
// The key is the same for every blob of one object (it depends on the Name only): without a
// fresh IV, ObjectChangeAuth would encrypt the old and new sensitive areas with the same
// keystream and their XOR (old authValue ^ new authValue) would leak. The reference TPM also
// prepends an IV (swtpm's blobs are 18 octets longer than ours were).
#include <cstring>

#include "crypto/crypto.h"
#include "crypto/kdf.h"
#include "crypto/sym.h"
#include "tpm/subsystem/subsystems.h"

namespace utpm::tpm {
namespace {

// Returns the key length.
size_t storage_key(const ObjectSlot& parent, const TPM2B_NAME& name, uint8_t* key) {
  static constexpr uint8_t kStorage[] = {'S', 'T', 'O', 'R', 'A', 'G', 'E'};
  const size_t bits = object_symmetric(parent.pub).keyBits;
  crypto::kdfa(to_crypto(parent.pub.nameAlg), parent.seed_value.view(), kStorage, name.view(), {},
               static_cast<uint32_t>(bits), {key, bits / 8});
  return bits / 8;
}

size_t outer_hmac(const ObjectSlot& parent, const TPM2B_NAME& name, std::span<const uint8_t> enc, uint8_t* out) {
  static constexpr uint8_t kIntegrity[] = {'I', 'N', 'T', 'E', 'G', 'R', 'I', 'T', 'Y'};
  const TPM_ALG_ID alg = parent.pub.nameAlg;
  const uint16_t dlen = digest_size(alg);
  uint8_t hmac_key[profile::kMaxDigestSize];
  crypto::kdfa(to_crypto(alg), parent.seed_value.view(), kIntegrity, {}, {}, dlen * 8u, {hmac_key, dlen});
  crypto::HmacState h;
  crypto::hmac_start(h, to_crypto(alg), {hmac_key, dlen});
  crypto::hmac_update(h, enc);
  crypto::hmac_update(h, name.view());
  size_t n = crypto::hmac_finish(h, {out, profile::kMaxDigestSize});
  crypto::zeroize(hmac_key);
  crypto::zeroize(h);
  return n;
}

}  // namespace

TPM_RC sensitive_wrap(const ObjectSlot& parent, const TPM2B_NAME& name, const TPMT_SENSITIVE& sens,
                      crypto::RandomSource rng, TPM2B_PRIVATE& out) {
  const uint16_t dlen = digest_size(parent.pub.nameAlg);
  Writer w({out.buffer, sizeof out.buffer});
  w.u16(dlen);
  size_t mac_at = w.reserve(dlen);
  size_t enc_at = w.size();
  w.u16(kStorageIvSize);
  size_t iv_at = w.reserve(kStorageIvSize);
  size_t sens_at = w.size();
  marshal(w, Sized<TPMT_SENSITIVE>{0, sens});
  if (w.overflow()) return TPM_RC_FAILURE;
  uint8_t* iv = out.buffer + iv_at;
  if (rng({iv, kStorageIvSize}) != crypto::Status::ok) return TPM_RC_FAILURE;
  std::span<uint8_t> plain{out.buffer + sens_at, w.size() - sens_at};
  uint8_t key[32];
  size_t klen = storage_key(parent, name, key);
  uint8_t ivb[kStorageIvSize];  // the cipher may advance its IV argument
  std::memcpy(ivb, iv, kStorageIvSize);
  crypto::Status s = crypto::sym_encrypt(crypto::SymMode::cfb, {key, klen}, ivb, plain, plain);
  crypto::zeroize(key);
  if (s != crypto::Status::ok) return TPM_RC_FAILURE;
  outer_hmac(parent, name, {out.buffer + enc_at, w.size() - enc_at}, out.buffer + mac_at);
  out.size = static_cast<uint16_t>(w.size());
  return TPM_RC_SUCCESS;
}

TPM_RC sensitive_unwrap(const ObjectSlot& parent, const TPM2B_NAME& name, const TPM2B_PRIVATE& in,
                        TPMT_SENSITIVE& out) {
  Reader r(in.view());
  TPM2B_DIGEST mac;
  if (unmarshal(r, mac) != TPM_RC_SUCCESS || mac.size != digest_size(parent.pub.nameAlg) || r.remaining() == 0)
    return TPM_RC_INTEGRITY;
  std::span<const uint8_t> enc{r.position(), r.remaining()};
  uint8_t expect[profile::kMaxDigestSize];
  size_t n = outer_hmac(parent, name, enc, expect);
  if (n != mac.size || !crypto::ct_equal(mac.view(), {expect, n})) return TPM_RC_INTEGRITY;
  // Authenticated: the IV, then the encrypted TPM2B_SENSITIVE.
  TPM2B_IV iv;
  if (unmarshal(r, iv) != TPM_RC_SUCCESS || iv.size != kStorageIvSize || r.remaining() == 0)
    return TPM_RC_INTEGRITY;
  std::span<const uint8_t> cipher{r.position(), r.remaining()};
  uint8_t plain[kMaxPrivateSize];
  uint8_t key[32];
  size_t klen = storage_key(parent, name, key);
  uint8_t ivb[kStorageIvSize];
  std::memcpy(ivb, iv.buffer, kStorageIvSize);
  crypto::sym_decrypt(crypto::SymMode::cfb, {key, klen}, ivb, cipher, {plain, cipher.size()});
  crypto::zeroize(key);
  Reader pr({plain, cipher.size()});
  Sized<TPMT_SENSITIVE> sens;
  TPM_RC rc = unmarshal(pr, sens);
  if (rc == TPM_RC_SUCCESS && pr.remaining() != 0) rc = TPM_RC_SIZE;
  out = sens.t;
  crypto::zeroize(plain);
  crypto::zeroize(sens);
  // Past the integrity check the blob is ours; a malformed inside is still refused.
  return rc == TPM_RC_SUCCESS ? TPM_RC_SUCCESS : TPM_RC_INTEGRITY;
}

}  // namespace utpm::tpm
