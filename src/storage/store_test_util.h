// Test support for the store tests: a simulated board (store flash + anchor flash on one power
// rail), a reference model of the committed state, and helpers to compare the two.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "storage/host/sim_flash.h"
#include "storage/secure_store.h"

namespace utpm::storage::test {

using Model = std::map<uint32_t, std::vector<uint8_t>>;

inline constexpr FlashGeometry kSmallGeometry{512, 16, 8};
inline constexpr FlashGeometry kAnchorGeometry{256, 2, 8};

std::array<uint8_t, 32> test_secret(uint8_t variant = 0);
std::array<uint8_t, kInstanceIdSize> test_instance(uint8_t variant = 0);

class Board {
 public:
  explicit Board(FlashGeometry g = kSmallGeometry, StoreConfig c = {1, 128},
                 size_t index_capacity = 64, size_t staged_capacity = 16);
  // Simulated power cycle: a new store object over the same flash, then mount.
  MountCause boot(uint8_t secret_variant = 0);
  MountCause format(uint8_t secret_variant = 0, uint8_t instance_variant = 0);
  SecureStore& store() { return *store_; }

  PowerRail rail;
  SimFlash flash;
  SimFlash anchor_flash;
  FlashCounterAnchor anchor;
  StoreConfig cfg;

 private:
  void make_store();
  std::vector<IndexEntry> index_, staged_;
  std::vector<SegmentInfo> segs_;
  std::vector<uint8_t> work_;
  std::unique_ptr<SecureStore> store_;
};

// Empty string if the store holds exactly the model's records; otherwise what differs.
std::string diff_state(SecureStore& s, const Model& m);

// Deterministic record content for (id, version, length).
std::vector<uint8_t> pattern(uint32_t id, uint32_t version, size_t len);

}  // namespace utpm::storage::test
