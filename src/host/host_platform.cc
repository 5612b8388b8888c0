#include "host/host_platform.h"

#include <sys/random.h>
#include <time.h>

#include <cerrno>

namespace utpm::host {

bool HostPlatform::get_entropy(std::span<uint8_t> out) {
  size_t done = 0;
  while (done < out.size()) {
    const ssize_t r = ::getrandom(out.data() + done, out.size() - done, 0);
    if (r < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    done += static_cast<size_t>(r);
  }
  return true;
}

uint64_t monotonic_us() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000u + static_cast<uint64_t>(ts.tv_nsec) / 1000u;
}

uint64_t HostPlatform::now_ms() { return monotonic_us() / 1000u; }

bool HostPlatform::cancel_requested() {
  if (poller_ != nullptr && !cancel_.load(std::memory_order_acquire)) {
    const uint64_t now = monotonic_us();
    if (last_poll_us_ == 0 || now - last_poll_us_ >= poll_interval_us_) {
      last_poll_us_ = now;
      poller_->poll_for_cancel();
    }
  }
  return cancel_.load(std::memory_order_acquire);
}

}  // namespace utpm::host
