// Fault-injecting flash simulator for power-loss and corruption tests (host only).
//
// Every program of one program unit and every erase of one block is a "step" counted on a
// PowerRail shared by all devices of one simulated board (store flash and anchor flash), so a
// test can cut power at exactly step N of a workload, whichever device that step touches.
// A cut either happens before the step (nothing changes) or tears it: a torn program leaves a
// random subset of the unit's intended bits programmed, a torn erase leaves a random subset of
// the block's bits erased. After a cut every access fails with power_lost until reboot().
// Torn or partially programmed units are remembered: programming them again fails (as
// STM32L4's PROGERR / ECC would), and check_erased() reports them as not erased even if they
// read 0xFF, the way the STM32L4 driver sees them through the ECC flags.
// Reads can additionally suffer transient bit errors at a configurable rate.
#pragma once

#include <cstdint>
#include <vector>

#include "storage/flash.h"

namespace utpm::storage {

class PowerRail {
 public:
  enum class Step { proceed, cut_before, cut_torn };
  // Cut power at step `step` (0-based count of steps since the last reset_steps()).
  void arm(uint64_t step, bool torn) {
    armed_ = true;
    cut_step_ = step;
    torn_ = torn;
  }
  void disarm() { armed_ = false; }
  void reset_steps() { steps_ = 0; }
  uint64_t steps() const { return steps_; }
  bool lost() const { return lost_; }
  void reboot() {
    lost_ = false;
    armed_ = false;
  }
  void seed(uint64_t s) { rng_ = s ? s : 0x9E3779B97F4A7C15ull; }
  uint64_t next_random();
  Step step();

 private:
  bool armed_ = false;
  bool torn_ = false;
  bool lost_ = false;
  uint64_t cut_step_ = 0;
  uint64_t steps_ = 0;
  uint64_t rng_ = 0x9E3779B97F4A7C15ull;
};

class SimFlash final : public FlashDevice {
 public:
  SimFlash(FlashGeometry geometry, PowerRail& rail);
  FlashGeometry geometry() const override { return geo_; }
  FlashStatus read(uint32_t addr, std::span<uint8_t> out) override;
  FlashStatus program(uint32_t addr, std::span<const uint8_t> data) override;
  FlashStatus erase(uint32_t block) override;
  FlashStatus check_erased(uint32_t addr, uint32_t len, bool& erased) override;

  // Transient read errors: each read() flips one random bit of its output with probability
  // 1/one_in (0 = off). The stored data is not changed.
  void set_read_error_rate(uint32_t one_in) { read_error_one_in_ = one_in; }
  uint64_t read_errors_injected() const { return read_errors_; }

  // Direct access for tests that tamper with or snapshot the image.
  std::vector<uint8_t>& memory() { return mem_; }
  // Replaces the image (e.g. an older snapshot); forgets programmed-unit state.
  void load_image(const std::vector<uint8_t>& image);
  const std::vector<uint32_t>& erase_counts() const { return erase_counts_; }
  uint64_t program_units() const { return program_units_; }
  uint64_t erase_ops() const { return erase_ops_; }

 private:
  FlashGeometry geo_;
  PowerRail& rail_;
  std::vector<uint8_t> mem_;
  std::vector<uint8_t> dirty_;  // per program unit: programmed (or torn) since the last erase
  std::vector<uint32_t> erase_counts_;
  uint32_t read_error_one_in_ = 0;
  uint64_t read_errors_ = 0;
  uint64_t program_units_ = 0;
  uint64_t erase_ops_ = 0;
};

}  // namespace utpm::storage
