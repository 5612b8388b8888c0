#include "host/state_blob.h"

#include <sys/random.h>

#include <algorithm>
#include <cstring>
#include <type_traits>

#include "crypto/crypto.h"
#include "crypto/kdf.h"
#include "tpm/profile.h"

#ifndef UTPM_VERSION
#define UTPM_VERSION "0.0.0"
#endif

namespace utpm::host::stateblob {

namespace {

constexpr uint8_t kMagic[8] = {'U', 'T', 'P', 'M', 'B', 'L', 'O', 'B'};
constexpr uint32_t kFormat = 1;
constexpr uint8_t kLabel[] = "UTPM STATE BLOB";  // KDFa label (its NUL is part of it, as in Part 1)
constexpr size_t kMaxRecord = SecureNvStore::kConfig.max_record_size;

static_assert(std::is_trivially_copyable_v<tpm::State>,
              "the volatile blob is a byte image of tpm::State");

uint32_t get32(const uint8_t* p) {
  return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | p[3];
}
void set32(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 24);
  p[1] = static_cast<uint8_t>(v >> 16);
  p[2] = static_cast<uint8_t>(v >> 8);
  p[3] = static_cast<uint8_t>(v);
}
void put32(std::vector<uint8_t>& out, uint32_t v) {
  uint8_t b[4];
  set32(b, v);
  out.insert(out.end(), b, b + 4);
}

bool random_bytes(uint8_t* p, size_t n) {
  while (n > 0) {
    const ssize_t got = ::getrandom(p, n, 0);
    if (got <= 0) return false;
    p += got;
    n -= static_cast<size_t>(got);
  }
  return true;
}

bool derive(const Key& key, const uint8_t* salt, uint8_t out[32]) {
  return crypto::kdfa(crypto::HashAlg::sha256, key.secret, {kLabel, sizeof kLabel}, {salt, 16},
                      {}, 256, {out, 32}) == crypto::Status::ok;
}

// Names the build whose tpm::State layout a volatile image has.
std::string build_id() {
  return std::string("utpm " UTPM_VERSION " State ") + std::to_string(sizeof(tpm::State)) +
         " objects " + std::to_string(profile::kMaxLoadedObjects) + " sessions " +
         std::to_string(profile::kMaxLoadedSessions) + " active " +
         std::to_string(profile::kMaxActiveSessions);
}

}  // namespace

const char* open_result_name(OpenResult r) {
  switch (r) {
    case OpenResult::ok: return "ok";
    case OpenResult::malformed: return "not a utpm state blob (or truncated)";
    case OpenResult::wrong_type: return "a blob of another type";
    case OpenResult::wrong_key: return "sealed with another kind of key";
    case OpenResult::bad_auth: return "does not authenticate (another key, or altered)";
  }
  return "?";
}

bool seal(const Key& key, uint32_t type, std::span<const uint8_t> payload,
          std::vector<uint8_t>& blob) {
  blob.assign(kHeaderSize + payload.size() + kTagSize, 0);
  uint8_t* h = blob.data();
  std::memcpy(h, kMagic, 8);
  set32(h + 8, kFormat);
  set32(h + 12, type);
  set32(h + 16, key.kind);
  if (!random_bytes(h + 20, 16 + 12)) return false;  // salt, nonce
  set32(h + 48, static_cast<uint32_t>(payload.size()));
  uint8_t k[32];
  bool ok = derive(key, h + 20, k);
  ok = ok && crypto::aead_seal(k, {h + 36, 12}, {h, kHeaderSize}, payload,
                               {h + kHeaderSize, payload.size()},
                               {h + kHeaderSize + payload.size(), kTagSize}) == crypto::Status::ok;
  crypto::zeroize(k);
  return ok;
}

OpenResult open(const Key& key, uint32_t type, std::span<const uint8_t> blob,
                std::vector<uint8_t>& payload) {
  payload.clear();
  if (blob.size() < kHeaderSize + kTagSize || std::memcmp(blob.data(), kMagic, 8) != 0 ||
      get32(&blob[8]) != kFormat) {
    return OpenResult::malformed;
  }
  const uint32_t len = get32(&blob[48]);
  if (blob.size() != kHeaderSize + size_t{len} + kTagSize) return OpenResult::malformed;
  if (get32(&blob[12]) != type) return OpenResult::wrong_type;
  if (get32(&blob[16]) != key.kind) return OpenResult::wrong_key;
  uint8_t k[32];
  if (!derive(key, &blob[20], k)) return OpenResult::bad_auth;
  payload.resize(len);
  const bool ok = crypto::aead_open(k, blob.subspan(36, 12), blob.first(kHeaderSize),
                                    blob.subspan(kHeaderSize, len),
                                    blob.subspan(kHeaderSize + len, kTagSize),
                                    payload) == crypto::Status::ok;
  crypto::zeroize(k);
  if (!ok) {
    crypto::zeroize(payload.data(), payload.size());
    payload.clear();
    return OpenResult::bad_auth;
  }
  return OpenResult::ok;
}

bool capture_records(SecureNvStore& nv, bool savestate_only, std::vector<uint8_t>& payload) {
  payload.clear();
  if (nv.store() == nullptr || !nv.store()->mounted()) return false;
  std::vector<uint32_t> ids = nv.record_ids();
  if (savestate_only) {
    std::erase_if(ids, [](uint32_t id) { return id != tpm::kRecSavedState; });
  }
  put32(payload, static_cast<uint32_t>(ids.size()));
  std::vector<uint8_t> buf(kMaxRecord);
  for (const uint32_t id : ids) {
    size_t len = 0;
    if (nv.read(id, buf, len) != tpm::NvStore::Result::ok) {
      crypto::zeroize(buf.data(), buf.size());
      return false;
    }
    put32(payload, id);
    put32(payload, static_cast<uint32_t>(len));
    payload.insert(payload.end(), buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(len));
  }
  crypto::zeroize(buf.data(), buf.size());
  return true;
}

bool restore_records(SecureNvStore& nv, bool savestate_only, std::span<const uint8_t> payload,
                     std::string& error) {
  if (nv.store() == nullptr || !nv.store()->mounted()) {
    error = "the state store is not usable";
    return false;
  }
  // Parse all of it before touching the store.
  struct Rec {
    uint32_t id;
    std::span<const uint8_t> data;
  };
  std::vector<Rec> recs;
  if (payload.size() < 4) {
    error = "record list truncated";
    return false;
  }
  const uint32_t count = get32(payload.data());
  size_t pos = 4;
  for (uint32_t i = 0; i < count; ++i) {
    if (payload.size() - pos < 8) {
      error = "record list truncated";
      return false;
    }
    const uint32_t id = get32(&payload[pos]);
    const uint32_t len = get32(&payload[pos + 4]);
    pos += 8;
    if (len > kMaxRecord || payload.size() - pos < len ||
        (savestate_only && id != tpm::kRecSavedState) ||
        (!recs.empty() && recs.back().id >= id)) {
      error = "malformed record list";
      return false;
    }
    recs.push_back({id, payload.subspan(pos, len)});
    pos += len;
  }
  if (pos != payload.size()) {
    error = "trailing bytes after the record list";
    return false;
  }
  // Remove what the blob does not have, write what it has, committing in chunks the staging
  // area holds. The TPM is stopped meanwhile; a failure midway is reported (the store stays
  // consistent as a store, the TPM state is then a mix: restore again).
  size_t staged = 0;
  auto step = [&](tpm::NvStore::Result r) {
    if (r != tpm::NvStore::Result::ok) return false;
    if (++staged >= SecureNvStore::kMaxStagedPerCommit / 2) {
      staged = 0;
      return nv.commit() == tpm::NvStore::Result::ok;
    }
    return true;
  };
  for (const uint32_t id : nv.record_ids()) {
    if (savestate_only && id != tpm::kRecSavedState) continue;
    const bool kept = std::any_of(recs.begin(), recs.end(), [id](const Rec& r) { return r.id == id; });
    if (!kept && !step(nv.remove(id))) {
      nv.abort();
      error = "store error while removing records";
      return false;
    }
  }
  for (const Rec& r : recs) {
    if (!step(nv.write(r.id, r.data))) {
      nv.abort();
      error = "store error while writing records (full?)";
      return false;
    }
  }
  if (nv.commit() != tpm::NvStore::Result::ok) {
    error = "store commit failed";
    return false;
  }
  return true;
}

void capture_volatile(tpm::Tpm& tpm, uint64_t now_ms, std::vector<uint8_t>& payload) {
  payload.clear();
  if (!tpm.powered()) return;
  const std::string id = build_id();
  put32(payload, static_cast<uint32_t>(id.size()));
  payload.insert(payload.end(), id.begin(), id.end());
  put32(payload, static_cast<uint32_t>(now_ms >> 32));
  put32(payload, static_cast<uint32_t>(now_ms));
  const auto* p = reinterpret_cast<const uint8_t*>(&tpm.state());
  payload.insert(payload.end(), p, p + sizeof(tpm::State));
}

bool volatile_matches_build(std::span<const uint8_t> payload) {
  if (payload.empty()) return true;
  const std::string id = build_id();
  if (payload.size() != 4 + id.size() + 8 + sizeof(tpm::State)) return false;
  return get32(payload.data()) == id.size() &&
         std::memcmp(&payload[4], id.data(), id.size()) == 0;
}

bool restore_volatile(tpm::Tpm& tpm, uint64_t now_ms, std::span<const uint8_t> payload) {
  if (payload.empty() || !volatile_matches_build(payload) || !tpm.powered()) return false;
  const size_t at = 4 + get32(payload.data());
  const uint64_t then = uint64_t{get32(&payload[at])} << 32 | get32(&payload[at + 4]);
  tpm::State& st = tpm.state();
  std::memcpy(&st, &payload[at + 8], sizeof(tpm::State));
  // Platform milliseconds of the source host -> this host's: every stamp moves by the same
  // amount, so every interval (time since _TPM_Init, DA recovery, lockout) carries over.
  const uint64_t shift = now_ms - then;  // modular: differences survive wrap-around
  st.timer_at_power_on += shift;
  st.timer_at_clock_base += shift;
  if (st.da_last_recovery_ms != 0) st.da_last_recovery_ms += shift;
  if (st.lockout_auth_blocked_until != 0 && st.lockout_auth_blocked_until != UINT64_MAX) {
    st.lockout_auth_blocked_until += shift;
  }
  st.dirty = 0;
  return true;
}

}  // namespace utpm::host::stateblob
