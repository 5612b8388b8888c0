// The flash devices enforce the NOR rules the store's power-loss argument relies on.
#include "storage/flash.h"

#include <gtest/gtest.h>

#include <vector>

#include "storage/host/sim_flash.h"

namespace utpm::storage {
namespace {

constexpr FlashGeometry kGeo{256, 4, 8};

template <class Dev>
void check_nor_rules(Dev& d) {
  std::vector<uint8_t> buf(16);
  ASSERT_EQ(d.erase(1), FlashStatus::ok);
  ASSERT_EQ(d.read(256, buf), FlashStatus::ok);
  for (uint8_t b : buf) EXPECT_EQ(b, kErasedByte);
  const std::vector<uint8_t> data(16, 0x5A);
  EXPECT_EQ(d.program(256 + 4, std::span<const uint8_t>(data).first(8)), FlashStatus::misaligned);
  EXPECT_EQ(d.program(256, std::span<const uint8_t>(data).first(12)), FlashStatus::misaligned);
  EXPECT_EQ(d.program(1024, std::span<const uint8_t>(data).first(8)), FlashStatus::out_of_range);
  ASSERT_EQ(d.program(256, data), FlashStatus::ok);
  EXPECT_EQ(d.program(256 + 8, std::span<const uint8_t>(data).first(8)), FlashStatus::not_erased);
  ASSERT_EQ(d.read(256, buf), FlashStatus::ok);
  EXPECT_EQ(buf, data);
  bool erased = true;
  ASSERT_EQ(d.check_erased(256, 16, erased), FlashStatus::ok);
  EXPECT_FALSE(erased);
  ASSERT_EQ(d.check_erased(256 + 16, 64, erased), FlashStatus::ok);
  EXPECT_TRUE(erased);
  ASSERT_EQ(d.erase(1), FlashStatus::ok);
  ASSERT_EQ(d.program(256 + 8, std::span<const uint8_t>(data).first(8)), FlashStatus::ok);
  EXPECT_EQ(d.erase(4), FlashStatus::out_of_range);
}

TEST(RamFlash, EnforcesNorRules) {
  std::vector<uint8_t> mem(kGeo.size(), 0);
  RamFlash d(kGeo, mem);
  check_nor_rules(d);
}

TEST(SimFlash, EnforcesNorRules) {
  PowerRail rail;
  SimFlash d(kGeo, rail);
  check_nor_rules(d);
}

TEST(SimFlash, CutBeforeStepChangesNothingAndBlocksUntilReboot) {
  PowerRail rail;
  SimFlash d(kGeo, rail);
  const std::vector<uint8_t> data(32, 0x00);
  rail.arm(2, false);
  EXPECT_EQ(d.program(0, data), FlashStatus::power_lost);
  std::vector<uint8_t> buf(32);
  EXPECT_EQ(d.read(0, buf), FlashStatus::power_lost);
  rail.reboot();
  ASSERT_EQ(d.read(0, buf), FlashStatus::ok);
  for (size_t i = 0; i < 16; ++i) EXPECT_EQ(buf[i], 0x00);  // units 0, 1 done
  for (size_t i = 16; i < 32; ++i) EXPECT_EQ(buf[i], 0xFF);
  EXPECT_EQ(rail.steps(), 3u);
}

TEST(SimFlash, TornProgramLeavesPartialUnitThatCannotBeReprogrammed) {
  int partial = 0;
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    PowerRail rail;
    rail.seed(seed);
    SimFlash d(kGeo, rail);
    rail.arm(0, true);
    const std::vector<uint8_t> zeros(8, 0x00);
    EXPECT_EQ(d.program(0, zeros), FlashStatus::power_lost);
    rail.reboot();
    std::vector<uint8_t> buf(8);
    ASSERT_EQ(d.read(0, buf), FlashStatus::ok);
    int zero_bits = 0;
    for (uint8_t b : buf) zero_bits += 8 - __builtin_popcount(b);
    if (zero_bits > 0 && zero_bits < 64) ++partial;
    bool erased = true;
    ASSERT_EQ(d.check_erased(0, 8, erased), FlashStatus::ok);
    EXPECT_FALSE(erased);  // even if it happened to read 0xFF
    EXPECT_EQ(d.program(0, zeros), FlashStatus::not_erased);
  }
  EXPECT_GT(partial, 15);
}

TEST(SimFlash, TornEraseLeavesBlockUnusableUntilErased) {
  PowerRail rail;
  SimFlash d(kGeo, rail);
  const std::vector<uint8_t> zeros(256, 0x00);
  ASSERT_EQ(d.program(0, zeros), FlashStatus::ok);
  rail.reset_steps();
  rail.arm(0, true);
  EXPECT_EQ(d.erase(0), FlashStatus::power_lost);
  rail.reboot();
  std::vector<uint8_t> buf(256);
  ASSERT_EQ(d.read(0, buf), FlashStatus::ok);
  int ones = 0;
  for (uint8_t b : buf) ones += __builtin_popcount(b);
  EXPECT_GT(ones, 256 * 8 / 4);
  EXPECT_LT(ones, 256 * 8 * 3 / 4);
  EXPECT_EQ(d.program(0, std::span<const uint8_t>(zeros).first(8)), FlashStatus::not_erased);
  ASSERT_EQ(d.erase(0), FlashStatus::ok);
  EXPECT_EQ(d.program(0, std::span<const uint8_t>(zeros).first(8)), FlashStatus::ok);
}

TEST(SimFlash, TransientReadErrorsDoNotChangeTheImage) {
  PowerRail rail;
  SimFlash d(kGeo, rail);
  d.set_read_error_rate(1);
  std::vector<uint8_t> buf(64);
  ASSERT_EQ(d.read(0, buf), FlashStatus::ok);
  int ones = 0;
  for (uint8_t b : buf) ones += __builtin_popcount(b);
  EXPECT_EQ(ones, 64 * 8 - 1);
  for (uint8_t b : d.memory()) ASSERT_EQ(b, 0xFF);
}

}  // namespace
}  // namespace utpm::storage
