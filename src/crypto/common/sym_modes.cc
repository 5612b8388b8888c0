// Block cipher modes of operation (NIST SP 800-38A) on the backend's block function (AES,
// Camellia, SM4: any 128-bit block), with the TPM's
// chaining-value (ivOut) conventions described in sym.h.
#include "crypto/sym.h"

namespace utpm::crypto {
inline namespace UTPM_CRYPTO_NS {
namespace {

constexpr size_t kBlock = kAesBlockSize;
// Blocks processed per call of the block function where the mode allows parallel blocks.
constexpr size_t kChunkBlocks = 32;

void xor_into(uint8_t* dst, const uint8_t* a, const uint8_t* b, size_t n) {
  for (size_t i = 0; i < n; ++i) dst[i] = static_cast<uint8_t>(a[i] ^ b[i]);
}

void increment_be(uint8_t* block) {
  for (size_t i = kBlock; i-- > 0;) {
    if (++block[i] != 0) break;
  }
}

void ctr(AesContext& aes, uint8_t* iv, const uint8_t* in, uint8_t* out, size_t n) {
  uint8_t ks[kChunkBlocks * kBlock];
  while (n > 0) {
    size_t blocks = (n + kBlock - 1) / kBlock;
    if (blocks > kChunkBlocks) blocks = kChunkBlocks;
    for (size_t b = 0; b < blocks; ++b) {
      for (size_t i = 0; i < kBlock; ++i) ks[b * kBlock + i] = iv[i];
      increment_be(iv);
    }
    aes_blocks(aes, ks, ks, blocks);
    const size_t take = n < blocks * kBlock ? n : blocks * kBlock;
    xor_into(out, in, ks, take);
    in += take;
    out += take;
    n -= take;
  }
  zeroize(ks);
}

void ofb(AesContext& aes, uint8_t* iv, const uint8_t* in, uint8_t* out, size_t n) {
  while (n > 0) {
    aes_blocks(aes, iv, iv, 1);
    const size_t take = n < kBlock ? n : kBlock;
    xor_into(out, in, iv, take);
    in += take;
    out += take;
    n -= take;
  }
}

void cfb(AesContext& aes, uint8_t* iv, const uint8_t* in, uint8_t* out, size_t n, bool encrypt) {
  while (n > 0) {
    aes_blocks(aes, iv, iv, 1);
    const size_t take = n < kBlock ? n : kBlock;
    for (size_t i = 0; i < take; ++i) {
      const uint8_t c_in = in[i];
      const uint8_t res = static_cast<uint8_t>(c_in ^ iv[i]);
      out[i] = res;
      // The register takes the ciphertext octet, whichever direction we run.
      iv[i] = encrypt ? res : c_in;
    }
    in += take;
    out += take;
    n -= take;
  }
}

void cbc_encrypt(AesContext& aes, uint8_t* iv, const uint8_t* in, uint8_t* out, size_t n) {
  for (size_t off = 0; off < n; off += kBlock) {
    xor_into(iv, iv, in + off, kBlock);
    aes_blocks(aes, iv, iv, 1);
    for (size_t i = 0; i < kBlock; ++i) out[off + i] = iv[i];
  }
}

void cbc_decrypt(AesContext& aes, uint8_t* iv, const uint8_t* in, uint8_t* out, size_t n) {
  uint8_t ct[kChunkBlocks * kBlock];
  while (n > 0) {
    const size_t take = n < sizeof ct ? n : sizeof ct;
    for (size_t i = 0; i < take; ++i) ct[i] = in[i];  // in may alias out
    aes_blocks(aes, ct, out, take / kBlock);
    xor_into(out, out, iv, kBlock);
    for (size_t off = kBlock; off < take; off += kBlock) {
      xor_into(out + off, out + off, ct + off - kBlock, kBlock);
    }
    for (size_t i = 0; i < kBlock; ++i) iv[i] = ct[take - kBlock + i];
    in += take;
    out += take;
    n -= take;
  }
  zeroize(ct);
}

Status run(BlockCipher c, SymMode mode, Bytes key, MutBytes iv, Bytes in, MutBytes out, bool encrypt) {
  if (out.size() != in.size()) return Status::bad_input;
  if (key.size() != 16 && key.size() != 24 && key.size() != 32) return Status::bad_input;
  if (!block_cipher_supported(c, key.size())) return Status::unsupported;
  switch (mode) {
    case SymMode::ecb:
    case SymMode::cbc:
      if (in.size() % kBlock != 0) return Status::bad_input;
      break;
    case SymMode::ctr:
    case SymMode::ofb:
    case SymMode::cfb: break;
    default: return Status::unsupported;
  }
  if (mode != SymMode::ecb && iv.size() != kBlock) return Status::bad_input;
  if (in.empty()) return Status::ok;
  // Only ECB and CBC decryption run the inverse cipher; the stream modes always encrypt.
  const bool inverse = !encrypt && (mode == SymMode::ecb || mode == SymMode::cbc);
  AesContext aes;
  const Status s = block_init(aes, c, key, !inverse);
  if (s != Status::ok) return s;
  const uint8_t* src = in.data();
  uint8_t* dst = out.data();
  switch (mode) {
    case SymMode::ecb: aes_blocks(aes, src, dst, in.size() / kBlock); break;
    case SymMode::cbc:
      if (encrypt) {
        cbc_encrypt(aes, iv.data(), src, dst, in.size());
      } else {
        cbc_decrypt(aes, iv.data(), src, dst, in.size());
      }
      break;
    case SymMode::ctr: ctr(aes, iv.data(), src, dst, in.size()); break;
    case SymMode::ofb: ofb(aes, iv.data(), src, dst, in.size()); break;
    case SymMode::cfb: cfb(aes, iv.data(), src, dst, in.size(), encrypt); break;
  }
  aes_release(aes);
  return Status::ok;
}

}  // namespace

Status sym_encrypt(SymMode mode, Bytes key, MutBytes iv, Bytes in, MutBytes out) {
  return run(BlockCipher::aes, mode, key, iv, in, out, true);
}
Status sym_encrypt(BlockCipher c, SymMode mode, Bytes key, MutBytes iv, Bytes in, MutBytes out) {
  return run(c, mode, key, iv, in, out, true);
}
Status sym_decrypt(BlockCipher c, SymMode mode, Bytes key, MutBytes iv, Bytes in, MutBytes out) {
  return run(c, mode, key, iv, in, out, false);
}

Status sym_decrypt(SymMode mode, Bytes key, MutBytes iv, Bytes in, MutBytes out) {
  return run(BlockCipher::aes, mode, key, iv, in, out, false);
}

}  // namespace UTPM_CRYPTO_NS
}  // namespace utpm::crypto
