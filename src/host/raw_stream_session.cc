#include "host/raw_stream_session.h"

namespace utpm::host {

RawStreamSession::RawStreamSession(EngineLink& engine, const char* channel,
                                   size_t max_command_size, uint64_t stall_timeout_ms)
    : engine_(engine),
      channel_(channel),
      framer_(max_command_size),
      response_(max_command_size),
      stall_timeout_ms_(stall_timeout_ms) {}

Session::Verdict RawStreamSession::on_bytes(std::span<const uint8_t> in,
                                            std::vector<uint8_t>& out, uint64_t now_ms) {
  while (true) {
    size_t used = 0;
    const StreamFramer::Event ev = framer_.feed(in, used, now_ms);
    in = in.subspan(used);
    if (ev == StreamFramer::Event::frame) {
      const size_t n = engine_.execute(channel_, 0, framer_.frame(), response_);
      out.insert(out.end(), response_.begin(), response_.begin() + static_cast<std::ptrdiff_t>(n));
    } else if (ev == StreamFramer::Event::oversize) {
      out.insert(out.end(), std::begin(kCommandSizeResponse), std::end(kCommandSizeResponse));
    } else {
      return Verdict::keep;
    }
  }
}

int64_t RawStreamSession::timer_due_in(uint64_t now_ms) const {
  if (!framer_.partial()) return -1;
  const uint64_t due = framer_.last_byte_ms() + stall_timeout_ms_;
  return due <= now_ms ? 0 : static_cast<int64_t>(due - now_ms);
}

void RawStreamSession::on_timer(uint64_t now_ms) { framer_.expire(now_ms, stall_timeout_ms_); }

}  // namespace utpm::host
