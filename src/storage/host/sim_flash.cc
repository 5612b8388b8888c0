#include "storage/host/sim_flash.h"

#include <algorithm>
#include <cstring>

namespace utpm::storage {

uint64_t PowerRail::next_random() {
  // xorshift64*: deterministic per seed, so every failing cut is reproducible.
  rng_ ^= rng_ >> 12;
  rng_ ^= rng_ << 25;
  rng_ ^= rng_ >> 27;
  return rng_ * 0x2545F4914F6CDD1Dull;
}

PowerRail::Step PowerRail::step() {
  if (lost_) return Step::cut_before;
  const uint64_t n = steps_++;
  if (armed_ && n == cut_step_) {
    lost_ = true;
    return torn_ ? Step::cut_torn : Step::cut_before;
  }
  return Step::proceed;
}

SimFlash::SimFlash(FlashGeometry geometry, PowerRail& rail)
    : geo_(geometry),
      rail_(rail),
      mem_(geometry.size(), kErasedByte),
      dirty_(geometry.size() / geometry.program_unit, 0),
      erase_counts_(geometry.block_count, 0) {}

FlashStatus SimFlash::read(uint32_t addr, std::span<uint8_t> out) {
  if (rail_.lost()) return FlashStatus::power_lost;
  const FlashStatus st = check_read(addr, out.size());
  if (st != FlashStatus::ok) return st;
  std::memcpy(out.data(), mem_.data() + addr, out.size());
  if (read_error_one_in_ != 0 && !out.empty() && rail_.next_random() % read_error_one_in_ == 0) {
    const uint64_t bit = rail_.next_random() % (out.size() * 8);
    out[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
    ++read_errors_;
  }
  return FlashStatus::ok;
}

FlashStatus SimFlash::program(uint32_t addr, std::span<const uint8_t> data) {
  if (rail_.lost()) return FlashStatus::power_lost;
  const FlashStatus st = check_program(addr, data.size());
  if (st != FlashStatus::ok) return st;
  const uint32_t pu = geo_.program_unit;
  for (uint32_t off = 0; off < data.size(); off += pu) {
    const uint32_t unit = (addr + off) / pu;
    uint8_t* dst = mem_.data() + addr + off;
    if (dirty_[unit] || std::any_of(dst, dst + pu, [](uint8_t b) { return b != kErasedByte; })) {
      return FlashStatus::not_erased;
    }
    switch (rail_.step()) {
      case PowerRail::Step::proceed:
        std::memcpy(dst, data.data() + off, pu);
        dirty_[unit] = 1;
        ++program_units_;
        break;
      case PowerRail::Step::cut_before:
        return FlashStatus::power_lost;
      case PowerRail::Step::cut_torn:
        // Some of the bits that were to go 1->0 did; which ones is random.
        for (uint32_t i = 0; i < pu; ++i) {
          const uint8_t keep = static_cast<uint8_t>(rail_.next_random());
          dst[i] = static_cast<uint8_t>(data[off + i] | keep);
        }
        dirty_[unit] = 1;
        return FlashStatus::power_lost;
    }
  }
  return FlashStatus::ok;
}

FlashStatus SimFlash::erase(uint32_t block) {
  if (rail_.lost()) return FlashStatus::power_lost;
  if (block >= geo_.block_count) return FlashStatus::out_of_range;
  uint8_t* p = mem_.data() + size_t{block} * geo_.erase_block_size;
  uint8_t* d = dirty_.data() + size_t{block} * geo_.erase_block_size / geo_.program_unit;
  const size_t units = geo_.erase_block_size / geo_.program_unit;
  switch (rail_.step()) {
    case PowerRail::Step::proceed:
      std::memset(p, kErasedByte, geo_.erase_block_size);
      std::memset(d, 0, units);
      ++erase_counts_[block];
      ++erase_ops_;
      return FlashStatus::ok;
    case PowerRail::Step::cut_before:
      return FlashStatus::power_lost;
    case PowerRail::Step::cut_torn:
      for (uint32_t i = 0; i < geo_.erase_block_size; ++i) {
        p[i] = static_cast<uint8_t>(p[i] | rail_.next_random());
      }
      std::memset(d, 1, units);  // state unknown: must be erased again before programming
      ++erase_counts_[block];
      return FlashStatus::power_lost;
  }
  return FlashStatus::io_error;
}

FlashStatus SimFlash::check_erased(uint32_t addr, uint32_t len, bool& erased) {
  erased = false;
  if (rail_.lost()) return FlashStatus::power_lost;
  const FlashStatus st = check_read(addr, len);
  if (st != FlashStatus::ok) return st;
  const uint32_t pu = geo_.program_unit;
  for (uint32_t a = addr; a < addr + len; ++a) {
    if (mem_[a] != kErasedByte || dirty_[a / pu]) return FlashStatus::ok;
  }
  erased = true;
  return FlashStatus::ok;
}

void SimFlash::load_image(const std::vector<uint8_t>& image) {
  mem_ = image;
  mem_.resize(geo_.size(), kErasedByte);
  // A unit counts as programmed if it does not read erased; that is what a real chip holding
  // this image would look like.
  const uint32_t pu = geo_.program_unit;
  for (size_t u = 0; u < dirty_.size(); ++u) {
    dirty_[u] = std::any_of(mem_.begin() + static_cast<long>(u * pu),
                            mem_.begin() + static_cast<long>((u + 1) * pu),
                            [](uint8_t b) { return b != kErasedByte; });
  }
}

}  // namespace utpm::storage
