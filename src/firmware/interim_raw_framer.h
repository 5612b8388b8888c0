// INTERIM framer, used only until the shared link decoder (src/link) lands: accepts the raw
// TPM stream (tag 0x8001/0x8002 + big-endian size), skips anything else one byte at a time
// and drops a partial frame that stalls. The real decoder adds mssim and the legacy 'Tpm2'
// signal frames and answers over-size frames with TPM_RC_COMMAND_SIZE.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace utpm::firmware {

template <size_t kMax>
class InterimRawFramer {
 public:
  // Feeds one byte; returns true when buf() holds a complete command of size() bytes.
  bool feed(uint8_t b, uint32_t now_ms) {
    if (len_ > 0 && now_ms - last_ms_ > kStallMs) len_ = 0;
    last_ms_ = now_ms;
    buf_[len_++] = b;
    // Resync: drop leading bytes until the buffer starts with a plausible header.
    while (len_ > 0 && !plausible()) {
      for (size_t i = 1; i < len_; ++i) buf_[i - 1] = buf_[i];
      --len_;
    }
    if (len_ >= 10 && len_ == expected()) {
      done_ = len_;
      len_ = 0;
      return true;
    }
    return false;
  }
  std::span<const uint8_t> frame() const { return {buf_, done_}; }

 private:
  static constexpr uint32_t kStallMs = 500;
  size_t expected() const {
    return (size_t{buf_[2]} << 24) | (size_t{buf_[3]} << 16) | (size_t{buf_[4]} << 8) | buf_[5];
  }
  bool plausible() const {
    if (buf_[0] != 0x80) return false;
    if (len_ >= 2 && buf_[1] != 0x01 && buf_[1] != 0x02) return false;
    if (len_ >= 6) {
      const size_t n = expected();
      if (n < 10 || n > kMax) return false;
    }
    return true;
  }
  uint8_t buf_[kMax] = {};
  size_t len_ = 0;
  size_t done_ = 0;
  uint32_t last_ms_ = 0;
};

}  // namespace utpm::firmware
