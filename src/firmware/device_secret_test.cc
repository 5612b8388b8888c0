#include "device_secret.h"

#include <gtest/gtest.h>

#include <array>
#include <cstring>
#include <vector>

#include "board.h"

// The one board function device_secret.cc uses, controllable by the tests.
namespace {
bool g_entropy_ok = true;
uint8_t g_entropy_byte = 0x40;
}  // namespace

namespace utpm::firmware::board {
bool entropy(std::span<uint8_t> out) {
  for (auto& b : out) b = g_entropy_byte++;
  return g_entropy_ok;
}
}  // namespace utpm::firmware::board

namespace utpm::firmware {
namespace {

constexpr storage::FlashGeometry kGeo{2048, 1, 8};

class DeviceSecret : public ::testing::Test {
 protected:
  void SetUp() override {
    g_entropy_ok = true;
    mem_.assign(kGeo.size(), storage::kErasedByte);
  }
  std::vector<uint8_t> mem_;
  storage::RamFlash flash() { return storage::RamFlash(kGeo, mem_); }
};

TEST_F(DeviceSecret, CreatedOnceThenStable) {
  auto dev = flash();
  std::array<uint8_t, 32> a{}, b{};
  ASSERT_TRUE(load_or_create_device_secret(dev, a));
  EXPECT_NE(a, (std::array<uint8_t, 32>{})) << "secret comes from the entropy source";
  ASSERT_TRUE(load_or_create_device_secret(dev, b));
  EXPECT_EQ(a, b) << "a second boot reads the same secret, it does not make a new one";
}

TEST_F(DeviceSecret, EntropyFailureLeavesAreaErased) {
  g_entropy_ok = false;
  auto dev = flash();
  std::array<uint8_t, 32> s{};
  EXPECT_FALSE(load_or_create_device_secret(dev, s));
  for (uint8_t b : mem_) ASSERT_EQ(b, storage::kErasedByte);
  g_entropy_ok = true;
  EXPECT_TRUE(load_or_create_device_secret(dev, s)) << "a later boot with entropy succeeds";
}

TEST_F(DeviceSecret, TornOrTamperedRecordIsRefused) {
  {
    auto dev = flash();
    std::array<uint8_t, 32> s{};
    ASSERT_TRUE(load_or_create_device_secret(dev, s));
  }
  const std::vector<uint8_t> good = mem_;
  // A first-boot program cut short: the last 8-byte unit (the check) still erased.
  std::memset(mem_.data() + 40, 0xFF, 8);
  {
    auto dev = flash();
    std::array<uint8_t, 32> s{};
    EXPECT_FALSE(load_or_create_device_secret(dev, s));
  }
  // One secret bit flipped.
  mem_ = good;
  mem_[8] ^= 0x01;
  auto dev = flash();
  std::array<uint8_t, 32> s{};
  EXPECT_FALSE(load_or_create_device_secret(dev, s));
}

}  // namespace
}  // namespace utpm::firmware
