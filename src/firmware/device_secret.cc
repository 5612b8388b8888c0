#include "device_secret.h"

#include <cstring>

#include "board.h"
#include "crypto/crypto.h"

namespace utpm::firmware {

namespace {

// Persisted layout (48 bytes = 6 program units of 8): magic, secret, check. The check is the
// bitwise complement of the secret's first 8 bytes: it tells a complete record from a torn one
// (a torn program leaves some units erased, which cannot match both secret and complement).
struct SecretRecord {
  uint8_t magic[8];
  uint8_t secret[32];
  uint8_t check[8];
};
static_assert(sizeof(SecretRecord) == 48, "persisted layout");
constexpr uint8_t kMagic[8] = {'U', 'T', 'P', 'M', 'S', 'E', 'C', '1'};

bool valid(const SecretRecord& r) {
  if (std::memcmp(r.magic, kMagic, sizeof kMagic) != 0) return false;
  for (size_t i = 0; i < sizeof r.check; ++i) {
    if (r.check[i] != static_cast<uint8_t>(~r.secret[i])) return false;
  }
  return true;
}

}  // namespace

bool load_or_create_device_secret(storage::FlashDevice& area, std::span<uint8_t, 32> out) {
  SecretRecord rec;
  auto bytes = std::span<uint8_t>(reinterpret_cast<uint8_t*>(&rec), sizeof rec);
  bool erased = false;
  if (area.check_erased(0, sizeof rec, erased) != storage::FlashStatus::ok) return false;
  if (erased) {
    std::memcpy(rec.magic, kMagic, sizeof kMagic);
    if (!board::entropy(rec.secret)) return false;
    for (size_t i = 0; i < sizeof rec.check; ++i) rec.check[i] = static_cast<uint8_t>(~rec.secret[i]);
    const bool ok = area.program(0, bytes) == storage::FlashStatus::ok && area.sync() == storage::FlashStatus::ok;
    crypto::zeroize(rec);
    if (!ok) return false;
  }
  const bool ok = area.read(0, bytes) == storage::FlashStatus::ok && valid(rec);
  if (ok) std::memcpy(out.data(), rec.secret, out.size());
  crypto::zeroize(rec);
  return ok;
}

}  // namespace utpm::firmware
