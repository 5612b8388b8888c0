// A region of the host file that stands in for the board's flash (QEMU board only), reached
// through semihosting. It enforces the NOR rules of storage::FlashDevice exactly as the
// STM32L4 does (erase sets 0xFF; a program unit may only be programmed while erased), so the
// secure store behaves in QEMU as it will on the chip.
#pragma once

#include <cstdint>

#include "storage/flash.h"

namespace utpm::firmware {

class SemihostedFlash final : public storage::FlashDevice {
 public:
  // fd: semihosting handle of the backing file; offset: where this region starts in it.
  SemihostedFlash(int32_t fd, uint32_t offset, storage::FlashGeometry geometry)
      : fd_(fd), offset_(offset), geo_(geometry) {}

  storage::FlashGeometry geometry() const override { return geo_; }
  storage::FlashStatus read(uint32_t addr, std::span<uint8_t> out) override;
  storage::FlashStatus program(uint32_t addr, std::span<const uint8_t> data) override;
  storage::FlashStatus erase(uint32_t block) override;

 private:
  int32_t fd_;
  uint32_t offset_;
  storage::FlashGeometry geo_;
};

}  // namespace utpm::firmware
