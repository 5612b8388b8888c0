// SP 800-90A §10.2.1 CTR_DRBG, AES-256, without derivation function.
#include "crypto/drbg.h"

#include "crypto/sym.h"

namespace utpm::crypto {
inline namespace UTPM_CRYPTO_NS {
namespace {

// V = (V + 1) mod 2^128 (ctr_len = blocklen, so the whole block is the counter).
void increment(uint8_t (&v)[kDrbgBlockSize]) {
  for (size_t i = kDrbgBlockSize; i-- > 0;) {
    if (++v[i] != 0) break;
  }
}

// CTR_DRBG_Update (§10.2.1.2): (Key, V) = leftmost seedlen bits of E(Key, V+1) || E(Key, V+2)
// || E(Key, V+3), XOR provided_data. aes holds the current Key.
void update_with(AesContext& aes, DrbgState& st, const uint8_t (&provided)[kDrbgSeedSize]) {
  uint8_t temp[kDrbgSeedSize];
  for (size_t off = 0; off < kDrbgSeedSize; off += kDrbgBlockSize) {
    increment(st.v);
    for (size_t i = 0; i < kDrbgBlockSize; ++i) temp[off + i] = st.v[i];
  }
  aes_blocks(aes, temp, temp, kDrbgSeedSize / kDrbgBlockSize);
  for (size_t i = 0; i < kDrbgSeedSize; ++i) temp[i] = static_cast<uint8_t>(temp[i] ^ provided[i]);
  for (size_t i = 0; i < kDrbgKeySize; ++i) st.key[i] = temp[i];
  for (size_t i = 0; i < kDrbgBlockSize; ++i) st.v[i] = temp[kDrbgKeySize + i];
  zeroize(temp);
}

Status update(DrbgState& st, const uint8_t (&provided)[kDrbgSeedSize]) {
  AesContext aes;
  const Status s = aes_init(aes, Bytes(st.key, kDrbgKeySize), true);
  if (s != Status::ok) return s;
  update_with(aes, st, provided);
  aes_release(aes);
  return Status::ok;
}

// Zero-pads input to seedlen (the no-df variant's rule for shorter personalization/additional).
bool pad_to_seed(Bytes in, uint8_t (&out)[kDrbgSeedSize]) {
  if (in.size() > kDrbgSeedSize) return false;
  for (size_t i = 0; i < kDrbgSeedSize; ++i) out[i] = i < in.size() ? in[i] : 0;
  return true;
}

Status drbg_fill(void* ctx, MutBytes out) {
  DrbgState& st = *static_cast<DrbgState*>(ctx);
  while (!out.empty()) {
    const size_t n = out.size() < kDrbgMaxRequest ? out.size() : kDrbgMaxRequest;
    const Status s = drbg_generate(st, out.first(n));
    if (s != Status::ok) return s;
    out = out.subspan(n);
  }
  return Status::ok;
}

}  // namespace

Status drbg_instantiate(DrbgState& st, Bytes entropy, Bytes personalization) {
  uint8_t seed[kDrbgSeedSize];
  if (entropy.size() != kDrbgSeedSize || !pad_to_seed(personalization, seed)) {
    return Status::bad_input;
  }
  for (size_t i = 0; i < kDrbgSeedSize; ++i) seed[i] = static_cast<uint8_t>(seed[i] ^ entropy[i]);
  for (auto& b : st.key) b = 0;
  for (auto& b : st.v) b = 0;
  const Status s = update(st, seed);
  zeroize(seed);
  st.reseed_counter = s == Status::ok ? 1 : 0;
  return s;
}

Status drbg_reseed(DrbgState& st, Bytes entropy, Bytes additional) {
  uint8_t seed[kDrbgSeedSize];
  if (st.reseed_counter == 0 || entropy.size() != kDrbgSeedSize ||
      !pad_to_seed(additional, seed)) {
    return Status::bad_input;
  }
  for (size_t i = 0; i < kDrbgSeedSize; ++i) seed[i] = static_cast<uint8_t>(seed[i] ^ entropy[i]);
  const Status s = update(st, seed);
  zeroize(seed);
  if (s == Status::ok) st.reseed_counter = 1;
  return s;
}

Status drbg_generate(DrbgState& st, MutBytes out, Bytes additional) {
  if (st.reseed_counter == 0 || out.size() > kDrbgMaxRequest) return Status::bad_input;
  if (st.reseed_counter > kDrbgReseedInterval) return Status::failure;
  uint8_t add[kDrbgSeedSize];
  if (!pad_to_seed(additional, add)) return Status::bad_input;
  Status s = Status::ok;
  if (!additional.empty()) s = update(st, add);
  AesContext aes;
  if (s == Status::ok) s = aes_init(aes, Bytes(st.key, kDrbgKeySize), true);
  if (s != Status::ok) return s;
  // Counter blocks are produced a chunk at a time so the block function runs many blocks
  // per call.
  constexpr size_t kChunkBlocks = 16;
  uint8_t buf[kChunkBlocks * kDrbgBlockSize];
  size_t done = 0;
  while (done < out.size()) {
    const size_t want = out.size() - done;
    size_t blocks = (want + kDrbgBlockSize - 1) / kDrbgBlockSize;
    if (blocks > kChunkBlocks) blocks = kChunkBlocks;
    for (size_t b = 0; b < blocks; ++b) {
      increment(st.v);
      for (size_t i = 0; i < kDrbgBlockSize; ++i) buf[b * kDrbgBlockSize + i] = st.v[i];
    }
    aes_blocks(aes, buf, buf, blocks);
    const size_t n = want < blocks * kDrbgBlockSize ? want : blocks * kDrbgBlockSize;
    for (size_t i = 0; i < n; ++i) out[done + i] = buf[i];
    done += n;
  }
  zeroize(buf);
  // additional_input is reused (not re-derived) for the closing update, per §10.2.1.5.1. The
  // Key has not changed since the output blocks, so the update runs on the same key schedule
  // (one AES key set-up per request instead of two).
  update_with(aes, st, add);
  aes_release(aes);
  zeroize(add);
  ++st.reseed_counter;
  return Status::ok;
}

RandomSource drbg_source(DrbgState& st) { return RandomSource{&drbg_fill, &st}; }

DrbgState* drbg_state_of(RandomSource src) {
  return src.fill == &drbg_fill ? static_cast<DrbgState*>(src.ctx) : nullptr;
}

}  // namespace UTPM_CRYPTO_NS
}  // namespace utpm::crypto
