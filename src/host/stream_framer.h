// Reassembles raw TPM commands from a byte stream (pty, unix socket) that may deliver them in
// any split: one byte at a time, several commands in one read, or garbage in between.
//
// Why a tolerant framer: a serial-like channel has no message boundaries, and real peers put
// junk on it (ModemManager's "AT\r" probes, a client killed mid-write, echo from a cooked tty).
// We frame by the TPM header only (tag 0x8001/0x8002, 10 <= size <= max), skip anything that
// cannot start a frame one byte at a time, and drop a partial frame that stalls, so the next
// well-formed command is always understood.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace utpm::host {

class StreamFramer {
 public:
  enum class Event : uint8_t {
    need_more,  // all input consumed, no complete frame yet
    frame,      // frame() holds one complete command
    oversize,   // a header announced a size above the maximum; its tag and size were dropped
  };

  explicit StreamFramer(size_t max_frame_size);

  // Consumes bytes from `in` until a frame completes, an oversize header is seen, or the input
  // is exhausted. `consumed` reports how many bytes of `in` were used; call again with the rest.
  // A returned frame stays valid until the next call to feed() or reset().
  Event feed(std::span<const uint8_t> in, size_t& consumed, uint64_t now_ms);

  std::span<const uint8_t> frame() const { return {buf_.data(), frame_len_}; }

  // True while part of a frame is buffered (the caller arms the stall timer).
  bool partial() const { return len_ > 0 && frame_len_ == 0; }
  uint64_t last_byte_ms() const { return last_byte_ms_; }

  // Drops a partial frame if no byte arrived for `timeout_ms`; returns true if one was dropped.
  bool expire(uint64_t now_ms, uint64_t timeout_ms);
  void reset();

  // Statistics for the trace: bytes skipped as garbage, frames dropped by timeout or reset.
  uint64_t skipped_bytes() const { return skipped_; }
  uint64_t dropped_frames() const { return dropped_; }

 private:
  static constexpr size_t kHeaderSize = 10;
  static constexpr size_t kTagAndSize = 6;  // enough to judge a frame start

  void drop_first_byte();

  std::vector<uint8_t> buf_;
  size_t max_;
  size_t len_ = 0;        // bytes buffered for the frame being assembled
  size_t frame_len_ = 0;  // != 0 after feed() returned Event::frame
  uint64_t last_byte_ms_ = 0;
  uint64_t skipped_ = 0;
  uint64_t dropped_ = 0;
};

}  // namespace utpm::host
