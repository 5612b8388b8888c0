// Single-producer/single-consumer byte ring between the UART RX interrupt (producer) and the
// main loop (consumer). Lock-free: each side writes only its own index, and the acquire/
// release pairs make the byte visible before the index that publishes it.
#pragma once

#include <cstddef>
#include <cstdint>

namespace utpm::firmware {

template <size_t N>
class RingBuffer {
  static_assert(N >= 2 && (N & (N - 1)) == 0, "capacity must be a power of two");

 public:
  // Interrupt side. Returns false (byte dropped, counted) when full.
  bool push(uint8_t b) {
    const uint32_t head = __atomic_load_n(&head_, __ATOMIC_RELAXED);
    const uint32_t tail = __atomic_load_n(&tail_, __ATOMIC_ACQUIRE);
    if (head - tail >= N) {
      ++overruns_;
      return false;
    }
    buf_[head & (N - 1)] = b;
    __atomic_store_n(&head_, head + 1, __ATOMIC_RELEASE);
    return true;
  }
  // Main-loop side.
  bool pop(uint8_t& b) {
    const uint32_t tail = __atomic_load_n(&tail_, __ATOMIC_RELAXED);
    const uint32_t head = __atomic_load_n(&head_, __ATOMIC_ACQUIRE);
    if (head == tail) return false;
    b = buf_[tail & (N - 1)];
    __atomic_store_n(&tail_, tail + 1, __ATOMIC_RELEASE);
    return true;
  }
  uint32_t overruns() const { return __atomic_load_n(&overruns_, __ATOMIC_RELAXED); }

 private:
  uint8_t buf_[N] = {};
  uint32_t head_ = 0;  // written only by push (free-running; wraps modulo 2^32)
  uint32_t tail_ = 0;  // written only by pop
  uint32_t overruns_ = 0;
};

}  // namespace utpm::firmware
