#include "boards/qemu/semihosted_flash.h"

#include <cstring>

#include "boards/qemu/semihosting.h"

namespace utpm::firmware {

using storage::FlashStatus;

FlashStatus SemihostedFlash::read(uint32_t addr, std::span<uint8_t> out) {
  if (FlashStatus s = check_read(addr, out.size()); s != FlashStatus::ok) return s;
  if (out.empty()) return FlashStatus::ok;
  return semihosting::seek(fd_, offset_ + addr) && semihosting::read(fd_, out.data(), out.size())
             ? FlashStatus::ok
             : FlashStatus::io_error;
}

FlashStatus SemihostedFlash::program(uint32_t addr, std::span<const uint8_t> data) {
  if (FlashStatus s = check_program(addr, data.size()); s != FlashStatus::ok) return s;
  // Refuse to program a unit that is not erased, as the flash controller does (PROGERR).
  uint8_t chunk[64];
  for (size_t done = 0; done < data.size(); done += sizeof chunk) {
    const size_t n = data.size() - done < sizeof chunk ? data.size() - done : sizeof chunk;
    if (read(static_cast<uint32_t>(addr + done), std::span<uint8_t>(chunk, n)) != FlashStatus::ok) {
      return FlashStatus::io_error;
    }
    for (size_t i = 0; i < n; ++i) {
      if (chunk[i] != storage::kErasedByte) return FlashStatus::not_erased;
    }
  }
  return semihosting::seek(fd_, offset_ + addr) && semihosting::write(fd_, data.data(), data.size())
             ? FlashStatus::ok
             : FlashStatus::io_error;
}

FlashStatus SemihostedFlash::erase(uint32_t block) {
  if (block >= geo_.block_count) return FlashStatus::out_of_range;
  uint8_t ff[64];
  std::memset(ff, storage::kErasedByte, sizeof ff);
  if (!semihosting::seek(fd_, offset_ + block * geo_.erase_block_size)) return FlashStatus::io_error;
  for (uint32_t pos = 0; pos < geo_.erase_block_size; pos += sizeof ff) {
    if (!semihosting::write(fd_, ff, sizeof ff)) return FlashStatus::io_error;
  }
  return FlashStatus::ok;
}

}  // namespace utpm::firmware
