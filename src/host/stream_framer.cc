#include "host/stream_framer.h"

#include <algorithm>
#include <cstring>

namespace utpm::host {

namespace {
uint32_t load_be32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}
}  // namespace

StreamFramer::StreamFramer(size_t max_frame_size) : buf_(max_frame_size), max_(max_frame_size) {}

void StreamFramer::reset() {
  if (len_ > 0 && frame_len_ == 0) ++dropped_;
  len_ = 0;
  frame_len_ = 0;
}

void StreamFramer::drop_first_byte() {
  std::memmove(buf_.data(), buf_.data() + 1, len_ - 1);
  --len_;
  ++skipped_;
}

bool StreamFramer::expire(uint64_t now_ms, uint64_t timeout_ms) {
  if (!partial() || now_ms - last_byte_ms_ < timeout_ms) return false;
  reset();
  return true;
}

StreamFramer::Event StreamFramer::feed(std::span<const uint8_t> in, size_t& consumed,
                                       uint64_t now_ms) {
  consumed = 0;
  if (frame_len_ != 0) {  // the previous frame was handed out; start afresh
    len_ = 0;
    frame_len_ = 0;
  }
  if (!in.empty()) last_byte_ms_ = now_ms;
  for (;;) {
    // Judge the frame start as soon as enough bytes are there, so garbage never waits for a
    // timeout: first byte must be 0x80, the tag 0x8001/0x8002, the size within bounds.
    // Dropping one byte at a time (never the whole buffer) finds a frame that starts inside it.
    bool progressed = true;
    while (progressed) {
      progressed = false;
      if (len_ >= 1 && buf_[0] != 0x80) {
        drop_first_byte();
        progressed = true;
      } else if (len_ >= 2 && buf_[1] != 0x01 && buf_[1] != 0x02) {
        drop_first_byte();
        progressed = true;
      } else if (len_ >= kTagAndSize) {
        const uint32_t size = load_be32(&buf_[2]);
        if (size < kHeaderSize) {
          drop_first_byte();
          progressed = true;
        } else if (size > max_) {
          // The TPM answers TPM_RC_COMMAND_SIZE; we drop tag+size so the scan resumes after
          // them (the announced body, if it comes, is then skipped as garbage).
          len_ = 0;
          return Event::oversize;
        }
      }
    }
    const size_t want = len_ < kTagAndSize ? kTagAndSize : load_be32(&buf_[2]);
    if (len_ == want) {
      frame_len_ = len_;
      return Event::frame;
    }
    if (consumed == in.size()) return Event::need_more;
    // Before the size is known take one byte at a time so validation happens per byte; after
    // that copy the rest of the frame in one go.
    const size_t take = len_ < kTagAndSize ? 1 : std::min(want - len_, in.size() - consumed);
    std::memcpy(&buf_[len_], in.data() + consumed, take);
    len_ += take;
    consumed += take;
  }
}

}  // namespace utpm::host
