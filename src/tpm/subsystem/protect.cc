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
#include "crypto/ecc.h"
#include "crypto/rsa.h"
#include "crypto/sym.h"
#include "tpm/subsystem/subsystems.h"

namespace utpm::tpm {
namespace {

// symKey = KDFa(nameAlg, seed, "STORAGE", Name, -, bits); returns the key length.
size_t storage_key(TPM_ALG_ID alg, std::span<const uint8_t> seed, size_t bits, const TPM2B_NAME& name, uint8_t* key) {
  static constexpr uint8_t kStorage[] = {'S', 'T', 'O', 'R', 'A', 'G', 'E'};
  crypto::kdfa(to_crypto(alg), seed, kStorage, name.view(), {}, static_cast<uint32_t>(bits), {key, bits / 8});
  return bits / 8;
}
size_t storage_key(const ObjectSlot& parent, const TPM2B_NAME& name, uint8_t* key) {
  return storage_key(parent.pub.nameAlg, parent.seed_value.view(), object_symmetric(parent.pub).keyBits, name, key);
}

// HMAC(KDFa(nameAlg, seed, "INTEGRITY", -, -, digest bits), enc || Name)
size_t outer_hmac(TPM_ALG_ID alg, std::span<const uint8_t> seed, const TPM2B_NAME& name, std::span<const uint8_t> enc,
                  uint8_t* out) {
  static constexpr uint8_t kIntegrity[] = {'I', 'N', 'T', 'E', 'G', 'R', 'I', 'T', 'Y'};
  const uint16_t dlen = digest_size(alg);
  uint8_t hmac_key[profile::kMaxDigestSize];
  crypto::kdfa(to_crypto(alg), seed, kIntegrity, {}, {}, dlen * 8u, {hmac_key, dlen});
  crypto::HmacState h;
  crypto::hmac_start(h, to_crypto(alg), {hmac_key, dlen});
  crypto::hmac_update(h, enc);
  crypto::hmac_update(h, name.view());
  size_t n = crypto::hmac_finish(h, {out, profile::kMaxDigestSize});
  crypto::zeroize(hmac_key);
  crypto::zeroize(h);
  return n;
}
size_t outer_hmac(const ObjectSlot& parent, const TPM2B_NAME& name, std::span<const uint8_t> enc, uint8_t* out) {
  return outer_hmac(parent.pub.nameAlg, parent.seed_value.view(), name, enc, out);
}

// The OAEP hash of an RSA decryption key: its OAEP scheme's, else its nameAlg.
TPM_ALG_ID oaep_hash(const TPMT_PUBLIC& pub) {
  const TPMT_RSA_SCHEME& s = pub.parameters.rsaDetail.scheme;
  return s.scheme == TPM_ALG_OAEP ? TPM_ALG_ID(s.details.hashAlg) : TPM_ALG_ID(pub.nameAlg);
}

crypto::EccPoint point_of(const TPMS_ECC_POINT& p) {
  crypto::EccPoint q{};
  std::memcpy(q.x, p.x.buffer, p.x.size);
  std::memcpy(q.y, p.y.buffer, p.y.size);
  return q;
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
  crypto::Status s = crypto::sym_encrypt(block_cipher(object_symmetric(parent.pub).algorithm), crypto::SymMode::cfb,
                                         {key, klen}, ivb, plain, plain);
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
  crypto::sym_decrypt(block_cipher(object_symmetric(parent.pub).algorithm), crypto::SymMode::cfb, {key, klen}, ivb,
                      cipher, {plain, cipher.size()});
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

// ---- secrets shared with an asymmetric key (Part 1 §24 credentials "IDENTITY", §23.3 duplication
// "DUPLICATE") ----

TPM_RC secret_seed_make(const ObjectSlot& key, std::span<const uint8_t> label, crypto::RandomSource rng,
                        TPM2B_DIGEST& seed, TPM2B_ENCRYPTED_SECRET& secret) {
  const TPM_ALG_ID alg = key.pub.nameAlg;
  const uint16_t dlen = digest_size(alg);
  seed.size = dlen;
  if (key.pub.type == TPM_ALG_RSA) {
    // A random seed, RSA-OAEP encrypted to the key with the label (its terminating zero included).
    if (rng({seed.buffer, dlen}) != crypto::Status::ok) return TPM_RC_FAILURE;
    secret.size = static_cast<uint16_t>(crypto::rsa_bytes(key.rsa.pub));
    if (crypto::rsa_encrypt(crypto::RsaScheme::oaep, to_crypto(oaep_hash(key.pub)), label, key.rsa.pub,
                            seed.view(), rng, {secret.buffer, secret.size}) != crypto::Status::ok)
      return TPM_RC_FAILURE;
    return TPM_RC_SUCCESS;
  }
  // ECC: an ephemeral key (d_e, Q_e); seed = KDFe(nameAlg, (d_e·Q_s).x, label, Q_e.x, Q_s.x, bits),
  // the secret is Q_e (TPMS_ECC_POINT).
  const auto curve = static_cast<crypto::EccCurve>(key.pub.parameters.eccDetail.curveID.value);
  const size_t n = crypto::ecc_bytes(curve);
  crypto::EccScalar d;
  crypto::EccPoint qe, z;
  if (crypto::ecc_generate(curve, rng, d, qe) != crypto::Status::ok ||
      crypto::ecdh_z(curve, d, point_of(key.pub.unique.ecc), z) != crypto::Status::ok) {
    crypto::zeroize(d);
    return TPM_RC_FAILURE;
  }
  crypto::zeroize(d);
  TPMS_ECC_POINT point;
  point.x.assign({qe.x, n});
  point.y.assign({qe.y, n});
  crypto::kdfe(to_crypto(alg), {z.x, n}, label, point.x.view(), key.pub.unique.ecc.x.view(), dlen * 8u,
               {seed.buffer, dlen});
  crypto::zeroize(z);
  Writer w({secret.buffer, sizeof secret.buffer});
  marshal(w, point);
  secret.size = static_cast<uint16_t>(w.size());
  return TPM_RC_SUCCESS;
}

TPM_RC secret_seed_recover(const ObjectSlot& key, std::span<const uint8_t> label, crypto::RandomSource rng,
                           const TPM2B_ENCRYPTED_SECRET& secret, TPM2B_DIGEST& seed) {
  const TPM_ALG_ID alg = key.pub.nameAlg;
  const uint16_t dlen = digest_size(alg);
  if (key.pub.type == TPM_ALG_RSA) {
    if (secret.size != crypto::rsa_bytes(key.rsa.pub)) return TPM_RC_SIZE;
    uint8_t plain[crypto::kMaxRsaBytes];
    size_t len = 0;
    const bool ok = crypto::rsa_decrypt(crypto::RsaScheme::oaep, to_crypto(oaep_hash(key.pub)), label, key.rsa,
                                        secret.view(), rng, {plain, sizeof plain}, &len) == crypto::Status::ok &&
                    len <= dlen;
    if (ok) seed.assign({plain, len});
    crypto::zeroize(plain);
    return ok ? TPM_RC_SUCCESS : TPM_RC_VALUE;
  }
  const auto curve = static_cast<crypto::EccCurve>(key.pub.parameters.eccDetail.curveID.value);
  const size_t n = crypto::ecc_bytes(curve);
  Reader r(secret.view());
  TPMS_ECC_POINT qe;
  if (TPM_RC rc = unmarshal(r, qe)) return rc;
  if (r.remaining() != 0) return TPM_RC_SIZE;
  if (qe.x.size != n || qe.y.size != n) return TPM_RC_ECC_POINT;
  crypto::EccPoint peer = point_of(qe), z;
  if (crypto::ecc_validate_point(curve, peer) != crypto::Status::ok) return TPM_RC_ECC_POINT;
  if (crypto::ecdh_z(curve, key.ecc, peer, z) != crypto::Status::ok) return TPM_RC_NO_RESULT;
  seed.size = dlen;
  crypto::kdfe(to_crypto(alg), {z.x, n}, label, qe.x.view(), key.pub.unique.ecc.x.view(), dlen * 8u,
               {seed.buffer, dlen});
  crypto::zeroize(z);
  return TPM_RC_SUCCESS;
}

// encIdentity = AES-CFB(KDFa(nameAlg, seed, "STORAGE", Name, -, symBits), iv 0, TPM2B credential);
// integrityHMAC = HMAC(KDFa(nameAlg, seed, "INTEGRITY", -, -, digest bits), encIdentity || Name).
TPM_RC credential_wrap(const ObjectSlot& key, const TPM2B_DIGEST& seed, const TPM2B_NAME& name,
                       const TPM2B_DIGEST& credential, TPM2B_ID_OBJECT& out) {
  const TPM_ALG_ID alg = key.pub.nameAlg;
  const uint16_t dlen = digest_size(alg);
  Writer w({out.buffer, sizeof out.buffer});
  w.u16(dlen);
  const size_t mac_at = w.reserve(dlen);
  const size_t enc_at = w.size();
  marshal(w, credential);
  if (w.overflow()) return TPM_RC_FAILURE;
  std::span<uint8_t> enc{out.buffer + enc_at, w.size() - enc_at};
  uint8_t sym[32];
  const size_t klen = storage_key(alg, seed.view(), object_symmetric(key.pub).keyBits, name, sym);
  uint8_t iv[kStorageIvSize] = {};
  const crypto::Status s =
      crypto::sym_encrypt(block_cipher(object_symmetric(key.pub).algorithm), crypto::SymMode::cfb, {sym, klen}, iv, enc, enc);
  crypto::zeroize(sym);
  if (s != crypto::Status::ok) return TPM_RC_FAILURE;
  outer_hmac(alg, seed.view(), name, enc, out.buffer + mac_at);
  out.size = static_cast<uint16_t>(w.size());
  return TPM_RC_SUCCESS;
}

TPM_RC credential_unwrap(const ObjectSlot& key, const TPM2B_DIGEST& seed, const TPM2B_NAME& name,
                         const TPM2B_ID_OBJECT& blob, TPM2B_DIGEST& out) {
  const TPM_ALG_ID alg = key.pub.nameAlg;
  Reader r(blob.view());
  TPM2B_DIGEST mac;
  if (TPM_RC rc = unmarshal(r, mac)) return rc;
  std::span<const uint8_t> enc{r.position(), r.remaining()};
  uint8_t expect[profile::kMaxDigestSize];
  const size_t n = outer_hmac(alg, seed.view(), name, enc, expect);
  if (n != mac.size || !crypto::ct_equal(mac.view(), {expect, n})) return TPM_RC_INTEGRITY;
  uint8_t plain[sizeof blob.buffer];
  uint8_t sym[32];
  const size_t klen = storage_key(alg, seed.view(), object_symmetric(key.pub).keyBits, name, sym);
  uint8_t iv[kStorageIvSize] = {};
  crypto::sym_decrypt(block_cipher(object_symmetric(key.pub).algorithm), crypto::SymMode::cfb, {sym, klen}, iv, enc,
                      {plain, enc.size()});
  crypto::zeroize(sym);
  Reader pr({plain, enc.size()});
  TPM_RC rc = unmarshal(pr, out);
  if (rc == TPM_RC_SUCCESS && (pr.remaining() != 0 || out.size > digest_size(alg))) rc = TPM_RC_SIZE;
  crypto::zeroize(plain);
  if (rc != TPM_RC_SUCCESS) crypto::zeroize(out);
  return rc;
}

// ---- duplication blobs (Part 1 §23.3.2; Duplicate, Import, Rewrap) ----
// The spec's format, without the IV of our own TPM2B_PRIVATE (the outer seed is fresh for every
// blob and the inner key is the caller's, so both wrappers use a zero IV, as Part 1 says):
//   inner = AES-CFB(innerKey, iv 0, TPM2B_DIGEST(H_nameAlg(TPM2B_SENSITIVE || Name)) || TPM2B_SENSITIVE)
//   outer = TPM2B_DIGEST(HMAC(KDFa(pHash, seed, "INTEGRITY", -, -, digest bits), dup || Name)) || dup,
//   dup   = AES-CFB(KDFa(pHash, seed, "STORAGE", Name, -, pBits), iv 0, inner or TPM2B_SENSITIVE)
// pHash and pBits are the new parent's nameAlg and symmetric key size.

size_t duplicate_outer_wrap(TPM_ALG_ID hash, TPM_ALG_ID sym, uint16_t bits, std::span<const uint8_t> seed,
                            const TPM2B_NAME& name, std::span<uint8_t> buf, size_t data_len) {
  const uint16_t dlen = digest_size(hash);
  const size_t total = 2u + dlen + data_len;
  if (total > buf.size()) return 0;
  std::span<uint8_t> data = buf.subspan(2u + dlen, data_len);
  uint8_t key[32];
  const size_t klen = storage_key(hash, seed, bits, name, key);
  uint8_t iv[kStorageIvSize] = {};
  const crypto::Status s = crypto::sym_encrypt(block_cipher(sym), crypto::SymMode::cfb, {key, klen}, iv, data, data);
  crypto::zeroize(key);
  if (s != crypto::Status::ok) return 0;
  buf[0] = static_cast<uint8_t>(dlen >> 8);
  buf[1] = static_cast<uint8_t>(dlen);
  outer_hmac(hash, seed, name, data, buf.data() + 2);
  return total;
}

TPM_RC duplicate_outer_unwrap(TPM_ALG_ID hash, TPM_ALG_ID sym, uint16_t bits, std::span<const uint8_t> seed,
                              const TPM2B_NAME& name, std::span<uint8_t> blob, std::span<uint8_t>& data) {
  Reader r(blob);
  TPM2B_DIGEST mac;
  if (TPM_RC rc = unmarshal(r, mac)) return rc;
  const size_t at = blob.size() - r.remaining();
  data = blob.subspan(at);
  uint8_t expect[profile::kMaxDigestSize];
  const size_t n = outer_hmac(hash, seed, name, data, expect);
  if (n != mac.size || !crypto::ct_equal(mac.view(), {expect, n})) return TPM_RC_INTEGRITY;
  uint8_t key[32];
  const size_t klen = storage_key(hash, seed, bits, name, key);
  uint8_t iv[kStorageIvSize] = {};
  const crypto::Status s = crypto::sym_decrypt(block_cipher(sym), crypto::SymMode::cfb, {key, klen}, iv, data, data);
  crypto::zeroize(key);
  return s == crypto::Status::ok ? TPM_RC_SUCCESS : TPM_RC_FAILURE;
}

namespace {

// H_nameAlg(TPM2B_SENSITIVE || Name)
size_t inner_integrity(TPM_ALG_ID alg, std::span<const uint8_t> sensitive, const TPM2B_NAME& name, uint8_t* out) {
  crypto::HashState h;
  crypto::hash_start(h, to_crypto(alg));
  crypto::hash_update(h, sensitive);
  crypto::hash_update(h, name.view());
  return crypto::hash_finish(h, {out, profile::kMaxDigestSize});
}

}  // namespace

TPM_RC duplicate_wrap(const DuplicationKeys& k, const TPM2B_NAME& name, const TPMT_SENSITIVE& sens,
                      std::span<uint8_t> out, size_t& len) {
  len = 0;
  const bool outer = k.outer_hash != TPM_ALG_NULL;
  const bool inner = k.inner_bits != 0;
  if (inner && k.inner_key.size() != k.inner_bits / 8u) return TPM_RC_FAILURE;
  const uint16_t odlen = outer ? digest_size(k.outer_hash) : 0;
  const uint16_t idlen = inner ? digest_size(k.name_alg) : 0;
  Writer w(out);
  if (outer) w.reserve(2u + odlen);
  const size_t enc_at = w.size();
  if (inner) {
    w.u16(idlen);
    w.reserve(idlen);
  }
  const size_t sens_at = w.size();
  marshal(w, Sized<TPMT_SENSITIVE>{0, sens});
  if (w.overflow()) return TPM_RC_FAILURE;
  const size_t end = w.size();
  if (inner) {
    inner_integrity(k.name_alg, out.subspan(sens_at, end - sens_at), name, out.data() + enc_at + 2);
    uint8_t iv[kStorageIvSize] = {};
    std::span<uint8_t> data = out.subspan(enc_at, end - enc_at);
    if (crypto::sym_encrypt(block_cipher(k.inner_alg), crypto::SymMode::cfb, k.inner_key, iv, data, data) !=
        crypto::Status::ok)
      return TPM_RC_FAILURE;
  }
  if (outer) {
    len = duplicate_outer_wrap(k.outer_hash, k.outer_alg, k.outer_bits, k.seed, name, out, end - enc_at);
    return len ? TPM_RC_SUCCESS : TPM_RC_FAILURE;
  }
  len = end;
  return TPM_RC_SUCCESS;
}

TPM_RC duplicate_unwrap(const DuplicationKeys& k, const TPM2B_NAME& name, std::span<uint8_t> blob,
                        TPMT_SENSITIVE& out) {
  if (blob.empty()) return TPM_RC_INSUFFICIENT;
  std::span<uint8_t> data = blob;
  if (k.outer_hash != TPM_ALG_NULL)
    if (TPM_RC rc = duplicate_outer_unwrap(k.outer_hash, k.outer_alg, k.outer_bits, k.seed, name, blob, data))
      return rc;
  if (k.inner_bits != 0) {
    if (k.inner_key.size() != k.inner_bits / 8u) return TPM_RC_FAILURE;
    uint8_t iv[kStorageIvSize] = {};
    if (crypto::sym_decrypt(block_cipher(k.inner_alg), crypto::SymMode::cfb, k.inner_key, iv, data, data) !=
        crypto::Status::ok)
      return TPM_RC_FAILURE;
    Reader r(data);
    TPM2B_DIGEST integrity;
    // Decrypted with another key, the digest's size is noise: an integrity failure as well.
    if (unmarshal(r, integrity) != TPM_RC_SUCCESS) return TPM_RC_INTEGRITY;
    data = data.subspan(data.size() - r.remaining());
    uint8_t expect[profile::kMaxDigestSize];
    const size_t n = inner_integrity(k.name_alg, data, name, expect);
    if (n != integrity.size || !crypto::ct_equal(integrity.view(), {expect, n})) return TPM_RC_INTEGRITY;
  }
  // TPM2B_SENSITIVE: its size must cover exactly the rest.
  Reader r(data);
  uint16_t size = 0;
  if (!r.u16(size)) return TPM_RC_INSUFFICIENT;
  if (size + 2u != data.size()) return TPM_RC_SIZE;
  Reader sr(data.subspan(2));
  TPM_RC rc = unmarshal(sr, out);
  if (rc == TPM_RC_SUCCESS && sr.remaining() != 0) rc = TPM_RC_SIZE;
  crypto::zeroize(data.data(), data.size());  // the plaintext sensitive area, in the caller's buffer
  if (rc != TPM_RC_SUCCESS) crypto::zeroize(out);
  return rc;
}

}  // namespace utpm::tpm
