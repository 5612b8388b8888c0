// The engine's platform on a Linux host: entropy from getrandom(2), a monotonic millisecond
// clock, cancel / physical-presence flags driven by platform signals (mssim platform port),
// and the persistent store utpmd hands in.
#pragma once

#include <cstdint>

#include "tpm/platform.h"

namespace utpm::host {

class HostPlatform final : public tpm::Platform {
 public:
  explicit HostPlatform(tpm::NvStore& nv) : nv_(nv) {}

  // The kernel CRNG is the health-tested, full-entropy source on a host: getrandom(2) blocks
  // only until it is seeded at boot and never returns weak bytes afterwards.
  bool get_entropy(std::span<uint8_t> out) override;
  uint64_t now_ms() override;
  bool cancel_requested() override { return cancel_; }
  bool physical_presence() override { return physical_presence_; }
  tpm::NvStore& nv() override { return nv_; }

  void set_cancel(bool on) { cancel_ = on; }
  void set_physical_presence(bool on) { physical_presence_ = on; }

 private:
  tpm::NvStore& nv_;
  bool cancel_ = false;
  bool physical_presence_ = false;
};

// Microseconds of CLOCK_MONOTONIC, for trace durations.
uint64_t monotonic_us();

}  // namespace utpm::host
