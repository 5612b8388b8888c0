// Derivation cache of RSA primary keys: see primary_cache.h and docs/primary_cache.md.
#include "tpm/subsystem/primary_cache.h"

#include <cstring>

#include "tpm/tpm.h"

namespace utpm::tpm {
namespace {

// Record layout (big-endian), one record per entry:
//   version u8 (1) | hierarchy u8 | keyBits u16 | tag[32] | p[keyBits/16] | q[keyBits/16]
// tag = HMAC-SHA256(entry key, version | hierarchy | keyBits | p | q), where
// entry key = HMAC-SHA256(DRBG seed material of the derivation, "utpm primary cache v1").
constexpr uint8_t kVersion = 1;
constexpr size_t kHeader = 4;
constexpr size_t kTag = 32;
constexpr char kLabel[] = "utpm primary cache v1";

uint8_t hierarchy_code(TPM_HANDLE h) {
  switch (h) {
    case TPM_RH_OWNER: return 1;
    case TPM_RH_ENDORSEMENT: return 2;
    case TPM_RH_PLATFORM: return 3;
  }
  return 0;
}

size_t record_size(uint16_t bits) { return kHeader + kTag + bits / 8u; }

void entry_tag(const State& st, const uint8_t* rec, size_t len, uint8_t* tag) {
  crypto::HmacState h;
  crypto::hmac_start(h, crypto::HashAlg::sha256, {st.primary_cache.key, sizeof st.primary_cache.key});
  crypto::hmac_update(h, {rec, kHeader});
  crypto::hmac_update(h, {rec + kHeader + kTag, len - kHeader - kTag});
  crypto::hmac_finish(h, {tag, kTag});
  crypto::zeroize(h);
}

}  // namespace

bool primary_cache_applies(TPM_HANDLE hierarchy, const TPMT_PUBLIC& tmpl) {
  return profile::kPrimaryCacheEntries > 0 && tmpl.type == TPM_ALG_RSA && hierarchy_code(hierarchy) != 0;
}

void primary_cache_begin(State& st, crypto::Bytes seed_material) {
  crypto::hmac(crypto::HashAlg::sha256, seed_material,
               {reinterpret_cast<const uint8_t*>(kLabel), sizeof kLabel - 1}, st.primary_cache.key);
}

void primary_cache_end(State& st) { crypto::zeroize(st.primary_cache.key); }

const uint8_t* primary_cache_lookup(Tpm& tpm, TPM_HANDLE hierarchy, uint16_t bits, std::span<uint8_t> scratch) {
  State& st = tpm.state();
  const size_t want = record_size(bits);
  if (scratch.size() < want) return nullptr;
  NvStore& nv = tpm.platform().nv();
  for (size_t i = 0; i < profile::kPrimaryCacheEntries; ++i) {
    size_t len = 0;
    if (nv.read(kRecPrimaryCache + static_cast<uint32_t>(i), scratch.first(want), len) != NvStore::Result::ok)
      continue;
    const uint8_t* r = scratch.data();
    if (len != want || r[0] != kVersion || r[1] != hierarchy_code(hierarchy) || ((r[2] << 8) | r[3]) != bits)
      continue;
    uint8_t tag[kTag];
    entry_tag(st, r, len, tag);
    const bool match = crypto::ct_equal({tag, kTag}, {r + kHeader, kTag});
    crypto::zeroize(tag);
    if (!match) continue;  // another derivation's entry (or a damaged one: derived afresh)
    st.primary_cache.used[i] = ++st.primary_cache.tick;
    return r + kHeader + kTag;
  }
  crypto::zeroize(scratch.data(), want);
  return nullptr;
}

void primary_cache_store(Tpm& tpm, TPM_HANDLE hierarchy, const crypto::RsaPrivateKey& key, std::span<uint8_t> scratch) {
  State& st = tpm.state();
  const uint16_t bits = key.pub.bits;
  const size_t want = record_size(bits), h = bits / 16u;
  if (scratch.size() < want || profile::kPrimaryCacheEntries == 0) return;
  NvStore& nv = tpm.platform().nv();
  // A free entry, else the least recently used one (never used since power-on counts oldest).
  size_t victim = 0;
  bool found_free = false;
  for (size_t i = 0; i < profile::kPrimaryCacheEntries && !found_free; ++i) {
    size_t len = 0;
    if (nv.read(kRecPrimaryCache + static_cast<uint32_t>(i), scratch.first(want), len) == NvStore::Result::not_found) {
      victim = i;
      found_free = true;
    } else if (st.primary_cache.used[i] < st.primary_cache.used[victim]) {
      victim = i;
    }
  }
  uint8_t* r = scratch.data();
  r[0] = kVersion;
  r[1] = hierarchy_code(hierarchy);
  r[2] = static_cast<uint8_t>(bits >> 8);
  r[3] = static_cast<uint8_t>(bits);
  std::memcpy(r + kHeader + kTag, key.p, h);
  std::memcpy(r + kHeader + kTag + h, key.q, h);
  entry_tag(st, r, want, r + kHeader);
  if (nv.write(kRecPrimaryCache + static_cast<uint32_t>(victim), {r, want}) == NvStore::Result::ok) {
    st.primary_cache.used[victim] = ++st.primary_cache.tick;
    st.dirty |= kDirtyStaged;
  }
  crypto::zeroize(r, want);
}

void primary_cache_invalidate(Tpm& tpm, TPM_HANDLE hierarchy, std::span<uint8_t> scratch) {
  NvStore& nv = tpm.platform().nv();
  const size_t room = scratch.size() < record_size(profile::kMaxRsaKeyBits) ? scratch.size()
                                                                             : record_size(profile::kMaxRsaKeyBits);
  for (size_t i = 0; i < profile::kPrimaryCacheEntries; ++i) {
    const uint32_t id = kRecPrimaryCache + static_cast<uint32_t>(i);
    size_t len = 0;
    const NvStore::Result res = nv.read(id, scratch.first(room), len);
    if (res == NvStore::Result::not_found) continue;
    // Unreadable or malformed entries go too: only an entry known to be another hierarchy's stays.
    if (res == NvStore::Result::ok && len > kHeader && scratch[0] == kVersion && scratch[1] != hierarchy_code(hierarchy))
      continue;
    if (nv.remove(id) == NvStore::Result::ok) tpm.state().dirty |= kDirtyStaged;
    tpm.state().primary_cache.used[i] = 0;
  }
  crypto::zeroize(scratch.data(), room);
}

}  // namespace utpm::tpm
