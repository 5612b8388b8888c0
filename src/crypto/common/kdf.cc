// KDFa, KDFe (TPM 2.0 Part 1 §11.4.10) and MGF1, on the backend's hash and HMAC.
#include "crypto/kdf.h"

#include <cstdint>

namespace utpm::crypto {
inline namespace UTPM_CRYPTO_NS {
namespace {

void put_be32(uint8_t (&b)[4], uint32_t v) {
  b[0] = static_cast<uint8_t>(v >> 24);
  b[1] = static_cast<uint8_t>(v >> 16);
  b[2] = static_cast<uint8_t>(v >> 8);
  b[3] = static_cast<uint8_t>(v);
}

// The TPM's labels are NUL-terminated strings and the terminator is part of the derivation;
// callers may pass the label with or without it.
Bytes label_body(Bytes label) {
  if (!label.empty() && label.back() == 0) return label.first(label.size() - 1);
  return label;
}

bool bits_match(uint32_t bits, MutBytes out) {
  return bits != 0 && out.size() == (static_cast<size_t>(bits) + 7) / 8;
}

// Clears the unused high-order bits of the most significant octet (Part 1 §11.4.10.2).
void mask_top(uint32_t bits, MutBytes out) {
  if (bits % 8 != 0) out[0] = static_cast<uint8_t>(out[0] & ((1u << (bits % 8)) - 1));
}

// K(i) of KDFa: HMAC(key, [i]_32 || Label || 0x00 || ContextU || ContextV || [bits]_32), from
// st, an HMAC state freshly keyed with the key (consumed). lab is the label without its zero.
size_t kdfa_block(HmacState& st, uint32_t i, Bytes lab, Bytes context_u, Bytes context_v, uint32_t bits,
                  uint8_t (&block)[kMaxDigestSize]) {
  static constexpr uint8_t kZero[1] = {0};
  uint8_t ctr[4], bits_be[4];
  put_be32(ctr, i);
  put_be32(bits_be, bits);
  hmac_update(st, Bytes(ctr, 4));
  hmac_update(st, lab);
  hmac_update(st, Bytes(kZero, 1));
  hmac_update(st, context_u);
  hmac_update(st, context_v);
  hmac_update(st, Bytes(bits_be, 4));
  return hmac_finish(st, MutBytes(block, sizeof block));
}

}  // namespace

Status kdf_sp800_108_ctr_hmac(HashAlg alg, Bytes key, Bytes fixed, MutBytes out) {
  const size_t dsize = digest_size(alg);
  if (dsize == 0) return Status::unsupported;
  HmacState keyed;
  Status s = hmac_start(keyed, alg, key);
  if (s != Status::ok) return s;
  uint8_t block[kMaxDigestSize];
  uint32_t counter = 0;
  for (size_t done = 0; done < out.size(); done += dsize) {
    uint8_t ctr[4];
    put_be32(ctr, ++counter);
    HmacState st = keyed;  // restart from the keyed state instead of re-hashing the key
    hmac_update(st, Bytes(ctr, 4));
    hmac_update(st, fixed);
    hmac_finish(st, MutBytes(block, sizeof block));
    const size_t n = out.size() - done < dsize ? out.size() - done : dsize;
    for (size_t i = 0; i < n; ++i) out[done + i] = block[i];
  }
  zeroize(block);
  zeroize(keyed);
  return Status::ok;
}

namespace {

// The KDFa output stream for (key, label, u, v, bits), handed block by block to emit(offset,
// block, n): kdfa() copies it out, kdfa_xor() folds it into data of any size.
template <class Emit>
Status kdfa_blocks(HashAlg alg, Bytes key, Bytes label, Bytes context_u, Bytes context_v, uint32_t bits,
                   size_t len, Emit emit) {
  const size_t dsize = digest_size(alg);
  if (dsize == 0) return Status::unsupported;
  const Bytes lab = label_body(label);
  HmacState keyed;
  Status s = hmac_start(keyed, alg, key);
  if (s != Status::ok) return s;
  uint8_t block[kMaxDigestSize];
  uint32_t counter = 0;
  for (size_t done = 0; done < len; done += dsize) {
    HmacState st = keyed;
    kdfa_block(st, ++counter, lab, context_u, context_v, bits, block);
    emit(done, block, len - done < dsize ? len - done : dsize);
  }
  zeroize(block);
  zeroize(keyed);
  return Status::ok;
}

}  // namespace

Status kdfa(HashAlg alg, Bytes key, Bytes label, Bytes context_u, Bytes context_v,
            uint32_t bits, MutBytes out) {
  if (digest_size(alg) == 0) return Status::unsupported;
  if (!bits_match(bits, out)) return Status::bad_input;
  const Status s = kdfa_blocks(alg, key, label, context_u, context_v, bits, out.size(),
                               [&](size_t at, const uint8_t* block, size_t n) {
                                 for (size_t i = 0; i < n; ++i) out[at + i] = block[i];
                               });
  if (s == Status::ok) mask_top(bits, out);
  return s;
}

Status kdfa_stream_start(KdfaStream& s, HashAlg alg, Bytes key, Bytes label, Bytes context_u, Bytes context_v,
                         uint32_t bits) {
  if (digest_size(alg) == 0) return Status::unsupported;
  if (bits == 0 || bits % 8 != 0) return Status::bad_input;
  s = KdfaStream{};
  s.alg = alg;
  s.key = key;
  s.label = label_body(label);
  s.context_u = context_u;
  s.context_v = context_v;
  s.bits = bits;
  return Status::ok;
}

Status kdfa_stream_read(KdfaStream& s, MutBytes out) {
  for (size_t done = 0; done < out.size();) {
    if (s.used == s.block_size) {
      const size_t dsize = digest_size(s.alg);
      if ((s.counter + size_t{1}) * dsize > s.bits / 8) return Status::bad_input;  // KDFa has no more
      // Keyed again for every block (no second HMAC state on the caller's stack).
      if (Status st = hmac_start(s.hmac, s.alg, s.key); st != Status::ok) return st;
      s.block_size = static_cast<uint8_t>(kdfa_block(s.hmac, ++s.counter, s.label, s.context_u, s.context_v,
                                                     s.bits, s.block));
      s.used = 0;
    }
    const size_t n = out.size() - done < size_t{s.block_size} - s.used ? out.size() - done
                                                                       : size_t{s.block_size} - s.used;
    for (size_t i = 0; i < n; ++i) out[done + i] = s.block[s.used + i];
    done += n;
    s.used = static_cast<uint8_t>(s.used + n);
  }
  return Status::ok;
}

Status kdfa_xor(HashAlg alg, Bytes key, Bytes label, Bytes context_u, Bytes context_v, MutBytes data) {
  if (digest_size(alg) == 0) return Status::unsupported;
  if (data.empty()) return Status::ok;  // nothing to mask (KDFa itself has no 0-bit output)
  if (data.size() > UINT32_MAX / 8) return Status::bad_input;
  return kdfa_blocks(alg, key, label, context_u, context_v, static_cast<uint32_t>(data.size() * 8), data.size(),
                     [&](size_t at, const uint8_t* block, size_t n) {
                       for (size_t i = 0; i < n; ++i) data[at + i] ^= block[i];
                     });
}

Status kdfe(HashAlg alg, Bytes z, Bytes label, Bytes party_u, Bytes party_v, uint32_t bits,
            MutBytes out) {
  const size_t dsize = digest_size(alg);
  if (dsize == 0) return Status::unsupported;
  if (!bits_match(bits, out)) return Status::bad_input;
  const Bytes lab = label_body(label);
  static constexpr uint8_t kZero[1] = {0};
  uint8_t block[kMaxDigestSize];
  uint32_t counter = 0;
  for (size_t done = 0; done < out.size(); done += dsize) {
    uint8_t ctr[4];
    put_be32(ctr, ++counter);
    HashState st;
    const Status s = hash_start(st, alg);
    if (s != Status::ok) return s;
    hash_update(st, Bytes(ctr, 4));
    hash_update(st, z);
    hash_update(st, lab);
    hash_update(st, Bytes(kZero, 1));
    hash_update(st, party_u);
    hash_update(st, party_v);
    hash_finish(st, MutBytes(block, sizeof block));
    const size_t n = out.size() - done < dsize ? out.size() - done : dsize;
    for (size_t i = 0; i < n; ++i) out[done + i] = block[i];
  }
  zeroize(block);
  mask_top(bits, out);
  return Status::ok;
}

namespace {
Status hash_counter_kdf(HashAlg alg, Bytes seed, uint32_t counter, MutBytes out, bool xor_into = false) {
  const size_t dsize = digest_size(alg);
  if (dsize == 0) return Status::unsupported;
  uint8_t block[kMaxDigestSize];
  for (size_t done = 0; done < out.size(); done += dsize) {
    uint8_t ctr[4];
    put_be32(ctr, counter++);
    HashState st;
    const Status s = hash_start(st, alg);
    if (s != Status::ok) return s;
    hash_update(st, seed);
    hash_update(st, Bytes(ctr, 4));
    hash_finish(st, MutBytes(block, sizeof block));
    const size_t n = out.size() - done < dsize ? out.size() - done : dsize;
    for (size_t i = 0; i < n; ++i) out[done + i] = static_cast<uint8_t>(xor_into ? out[done + i] ^ block[i] : block[i]);
  }
  zeroize(block);
  return Status::ok;
}
}  // namespace

Status mgf1(HashAlg alg, Bytes seed, MutBytes out) { return hash_counter_kdf(alg, seed, 0, out); }
Status kdf2(HashAlg alg, Bytes z, MutBytes out) { return hash_counter_kdf(alg, z, 1, out); }
Status kdf2_xor(HashAlg alg, Bytes z, MutBytes data) { return hash_counter_kdf(alg, z, 1, data, true); }

}  // namespace UTPM_CRYPTO_NS
}  // namespace utpm::crypto
