// Flash device interface for the secure store: the properties of real NOR / MCU internal flash
// that the store's power-loss argument depends on, and nothing more.
//
//  - erase works on whole erase blocks and sets every byte to 0xFF (kErasedByte);
//  - program works on aligned "program units" (8-byte double-words on STM32L4) and may only be
//    applied to a unit that is still erased: programming a unit twice is a device error (it is
//    on STM32L4: PROGERR, and the ECC of the double-word would be wrong anyway);
//  - a power cut during program leaves the unit being programmed in an undefined state (some of
//    its bits programmed), during erase leaves the block in an undefined state.
//
// The store never relies on anything stronger, so every device here (RAM, file, simulator,
// STM32L4) is interchangeable. The destructor is protected and non-virtual on purpose: devices
// are owned by value by whoever creates them, and firmware links no operator delete.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace utpm::storage {

inline constexpr uint8_t kErasedByte = 0xFF;

enum class FlashStatus : uint8_t {
  ok = 0,
  out_of_range,  // address/length outside the device
  misaligned,    // program not aligned to the program unit
  not_erased,    // program over a unit that is not erased (device would refuse or corrupt)
  io_error,      // the device reported a failure (file I/O error, flash controller error)
  power_lost,    // simulator only: power was cut; nothing more happens until "reboot"
};

struct FlashGeometry {
  uint32_t erase_block_size;  // bytes per erase block (power of two)
  uint32_t block_count;
  uint32_t program_unit;      // bytes per program unit (power of two, divides erase_block_size)
  constexpr uint32_t size() const { return erase_block_size * block_count; }
};

class FlashDevice {
 public:
  virtual FlashGeometry geometry() const = 0;
  virtual FlashStatus read(uint32_t addr, std::span<uint8_t> out) = 0;
  // addr and data.size() must be multiples of program_unit; every unit must be erased.
  virtual FlashStatus program(uint32_t addr, std::span<const uint8_t> data) = 0;
  virtual FlashStatus erase(uint32_t block) = 0;
  // True if [addr, addr+len) reads as erased AND is safe to program. The default only reads;
  // devices that can see a half-programmed unit that still reads 0xFF (STM32L4: ECC flags)
  // override this.
  virtual FlashStatus check_erased(uint32_t addr, uint32_t len, bool& erased) {
    return read_check_erased(addr, len, erased);
  }
  // Makes everything programmed/erased so far durable before later operations (file: fdatasync).
  // The store calls it before it updates the rollback anchor, so the anchor never runs ahead of
  // the log on disk.
  virtual FlashStatus sync() { return FlashStatus::ok; }

 protected:
  FlashDevice() = default;
  ~FlashDevice() = default;
  FlashDevice(const FlashDevice&) = default;
  FlashDevice& operator=(const FlashDevice&) = default;

  // Every virtual is defined in this header on purpose: with no out-of-line "key function" the
  // type info is emitted wherever it is needed, so host code built with RTTI (and UBSan's vptr
  // check) can derive from a class whose portable library is built with -fno-rtti.
  FlashStatus read_check_erased(uint32_t addr, uint32_t len, bool& erased);
  // Shared argument checks for implementations.
  FlashStatus check_read(uint32_t addr, size_t len) const;
  FlashStatus check_program(uint32_t addr, size_t len) const;
};

// Flash in caller-provided RAM (tests, and a RAM-only store on boards without spare flash).
// Enforces the NOR rules above so that tests catch a store that programs a unit twice.
class RamFlash final : public FlashDevice {
 public:
  // memory.size() must equal geometry.size(); its content is the initial flash content.
  RamFlash(FlashGeometry geometry, std::span<uint8_t> memory) : geo_(geometry), mem_(memory) {}
  FlashGeometry geometry() const override { return geo_; }
  FlashStatus read(uint32_t addr, std::span<uint8_t> out) override;
  FlashStatus program(uint32_t addr, std::span<const uint8_t> data) override;
  FlashStatus erase(uint32_t block) override;
  std::span<uint8_t> memory() { return mem_; }

 private:
  FlashGeometry geo_;
  std::span<uint8_t> mem_;
};

}  // namespace utpm::storage
