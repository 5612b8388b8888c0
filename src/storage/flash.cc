#include "storage/flash.h"

#include <cstring>

namespace utpm::storage {

FlashStatus FlashDevice::check_read(uint32_t addr, size_t len) const {
  const uint64_t end = uint64_t{addr} + len;
  return end > geometry().size() ? FlashStatus::out_of_range : FlashStatus::ok;
}

FlashStatus FlashDevice::check_program(uint32_t addr, size_t len) const {
  const FlashGeometry g = geometry();
  if (uint64_t{addr} + len > g.size()) return FlashStatus::out_of_range;
  if (addr % g.program_unit != 0 || len % g.program_unit != 0) return FlashStatus::misaligned;
  return FlashStatus::ok;
}

FlashStatus FlashDevice::read_check_erased(uint32_t addr, uint32_t len, bool& erased) {
  erased = false;
  uint8_t chunk[64];
  while (len > 0) {
    const uint32_t n = len < sizeof chunk ? len : uint32_t{sizeof chunk};
    const FlashStatus st = read(addr, std::span<uint8_t>(chunk, n));
    if (st != FlashStatus::ok) return st;
    for (uint32_t i = 0; i < n; ++i) {
      if (chunk[i] != kErasedByte) return FlashStatus::ok;
    }
    addr += n;
    len -= n;
  }
  erased = true;
  return FlashStatus::ok;
}

FlashStatus RamFlash::read(uint32_t addr, std::span<uint8_t> out) {
  const FlashStatus st = check_read(addr, out.size());
  if (st != FlashStatus::ok) return st;
  std::memcpy(out.data(), mem_.data() + addr, out.size());
  return FlashStatus::ok;
}

FlashStatus RamFlash::program(uint32_t addr, std::span<const uint8_t> data) {
  const FlashStatus st = check_program(addr, data.size());
  if (st != FlashStatus::ok) return st;
  for (size_t i = 0; i < data.size(); ++i) {
    if (mem_[addr + i] != kErasedByte) return FlashStatus::not_erased;
  }
  std::memcpy(mem_.data() + addr, data.data(), data.size());
  return FlashStatus::ok;
}

FlashStatus RamFlash::erase(uint32_t block) {
  if (block >= geo_.block_count) return FlashStatus::out_of_range;
  std::memset(mem_.data() + size_t{block} * geo_.erase_block_size, kErasedByte,
              geo_.erase_block_size);
  return FlashStatus::ok;
}

}  // namespace utpm::storage
