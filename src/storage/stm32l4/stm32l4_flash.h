// STM32L4 (L476/L496/L4A6) internal flash as a FlashDevice: register level, no ST HAL.
// Facts from RM0351 (FLASH chapter): 2 KB pages, 72-bit double-word programming (64 data bits +
// 8 ECC bits), a double-word may be programmed only once after erase (PROGERR otherwise), two
// banks of 256 pages (bank 2 at 0x08080000 with BFB2 = 0) so a region in bank 2 can be written
// while code runs from bank 1, and ECC errors reported in FLASH_ECCR (ECCD raises NMI).
//
// A double-word torn by a power cut has data and ECC bits that disagree; reading it gives an
// ECC error even if the data bits read 0xFF. The board's NMI handler must call
// Stm32l4Flash::on_nmi() so that such a read returns io_error / "not erased" instead of
// locking up, which is what lets the store decide not to append after an unclean tail.
#pragma once

#include <cstdint>

#include "storage/flash.h"

namespace utpm::storage {

class Stm32l4Flash final : public FlashDevice {
 public:
  static constexpr uint32_t kFlashBase = 0x08000000u;
  static constexpr uint32_t kPageSize = 2048;
  static constexpr uint32_t kPagesPerBank = 256;

  // region_addr: first byte of the region in the memory map (page aligned); pages: its size.
  constexpr Stm32l4Flash(uint32_t region_addr, uint32_t pages)
      : region_(region_addr), pages_(pages) {}

  FlashGeometry geometry() const override { return {kPageSize, pages_, 8}; }
  FlashStatus read(uint32_t addr, std::span<uint8_t> out) override;
  FlashStatus program(uint32_t addr, std::span<const uint8_t> data) override;
  FlashStatus erase(uint32_t block) override;
  FlashStatus check_erased(uint32_t addr, uint32_t len, bool& erased) override;

  // Call from NMI_Handler: if the NMI is a flash double ECC error, clears it and returns true
  // (the handler then returns normally); the driver sees the error on its next check.
  static bool on_nmi();

 private:
  bool ecc_error_since(uint32_t mark) const;
  uint32_t region_;
  uint32_t pages_;
};

}  // namespace utpm::storage
