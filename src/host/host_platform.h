// The engine's platform on a Linux host: entropy from getrandom(2), a monotonic millisecond
// clock, cancel / physical-presence flags driven by platform signals (mssim platform port, the
// stream channels' cancel frames), and the persistent store utpmd hands in.
#pragma once

#include <atomic>
#include <cstdint>

#include "tpm/platform.h"

namespace utpm::host {

// Something that can bring a cancel in while a command runs: utpmd's daemon, which reads its
// channels from inside cancel_requested() (daemon.h, "the cancel pump").
class CancelPoller {
 public:
  virtual void poll_for_cancel() = 0;

 protected:
  ~CancelPoller() = default;
};

class HostPlatform final : public tpm::Platform {
 public:
  explicit HostPlatform(tpm::NvStore& nv) : nv_(nv) {}

  // The kernel CRNG is the health-tested, full-entropy source on a host: getrandom(2) blocks
  // only until it is seeded at boot and never returns weak bytes afterwards.
  bool get_entropy(std::span<uint8_t> out) override;
  uint64_t now_ms() override;
  // Polled by the engine during long commands: first lets the poller (if any, at most once per
  // poll interval) bring in a cancel that arrived meanwhile, then reads the flag.
  bool cancel_requested() override;
  bool physical_presence() override { return physical_presence_; }
  tpm::NvStore& nv() override { return nv_; }

  // Settable and readable from any thread and from a signal handler: a lock-free atomic.
  void set_cancel(bool on) { cancel_.store(on, std::memory_order_release); }
  bool cancel_flag() const { return cancel_.load(std::memory_order_acquire); }
  void set_physical_presence(bool on) { physical_presence_ = on; }

  // `poller` runs on the engine's thread, from cancel_requested(); nullptr for none. Polls closer
  // than `interval_us` apart are skipped (the engine may ask in a tight loop).
  void set_cancel_poller(CancelPoller* poller, uint32_t interval_us = 1000) {
    poller_ = poller;
    poll_interval_us_ = interval_us;
    last_poll_us_ = 0;
  }

 private:
  static_assert(std::atomic<bool>::is_always_lock_free, "set_cancel must be async-signal-safe");

  tpm::NvStore& nv_;
  std::atomic<bool> cancel_{false};
  bool physical_presence_ = false;
  CancelPoller* poller_ = nullptr;
  uint32_t poll_interval_us_ = 1000;
  uint64_t last_poll_us_ = 0;
};

// Microseconds of CLOCK_MONOTONIC, for trace durations.
uint64_t monotonic_us();

}  // namespace utpm::host
