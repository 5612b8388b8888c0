#include "host/link_stream_session.h"

namespace utpm::host {

LinkStreamSession::LinkStreamSession(EngineLink& engine, const char* channel,
                                     uint32_t stall_timeout_ms)
    : engine_(engine),
      channel_(channel),
      stall_timeout_ms_(stall_timeout_ms),
      decoder_(stall_timeout_ms),
      response_(profile::kMaxResponseSize) {}

Session::Verdict LinkStreamSession::on_bytes(std::span<const uint8_t> in,
                                             std::vector<uint8_t>& out, uint64_t now_ms) {
  if (!in.empty()) last_byte_ms_ = now_ms;
  // The decoder keeps a 32-bit millisecond clock; only differences matter, so wrapping is fine.
  const auto now32 = static_cast<uint32_t>(now_ms);
  // Keep pushing (even with no bytes left) until no event comes: bytes examined during a
  // resync may already hold the next frame.
  for (;;) {
    link::Event ev;
    const size_t used = decoder_.push(in, now32, ev);
    in = in.subspan(used);
    if (ev.kind == link::EventKind::kNone) return Verdict::keep;
    handle(ev, out);
  }
}

void LinkStreamSession::send_response(link::Framing framing, size_t len,
                                      std::vector<uint8_t>& out) {
  const link::Wrap w = link::wrap_response(framing, static_cast<uint32_t>(len));
  out.insert(out.end(), w.prefix, w.prefix + w.prefix_len);
  out.insert(out.end(), response_.begin(), response_.begin() + static_cast<std::ptrdiff_t>(len));
  out.insert(out.end(), w.suffix, w.suffix + w.suffix_len);
}

void LinkStreamSession::handle(const link::Event& ev, std::vector<uint8_t>& out) {
  switch (ev.kind) {
    case link::EventKind::kCommand: {
      last_response_len_ = engine_.execute(channel_, ev.locality, ev.data, response_);
      send_response(ev.framing, last_response_len_, out);
      return;
    }
    case link::EventKind::kReject:
    case link::EventKind::kSignal: {
      if (ev.kind == link::EventKind::kSignal) {
        switch (ev.signal) {
          case link::Signal::kCancelOn: engine_.signal(PlatformSignal::cancel_on); break;
          case link::Signal::kCancelOff: engine_.signal(PlatformSignal::cancel_off); break;
          // Legacy frames carry a magic, so these are deliberate host requests, as on the
          // Nucleo-TPM sample: power the TPM off, or power-cycle it (Startup needed again).
          case link::Signal::kShutdown: engine_.signal(PlatformSignal::power_off); break;
          case link::Signal::kReset: engine_.signal(PlatformSignal::reset); break;
          case link::Signal::kResendResponse:
            if (last_response_len_ != 0) send_response(ev.framing, last_response_len_, out);
            return;
          // The host clock is the TPM's time base; a legacy SetClock has nothing to set.
          case link::Signal::kSetClock:
          case link::Signal::kNothing:
          case link::Signal::kHandshake:
          case link::Signal::kSessionEnd: break;
        }
      }
      uint8_t reply[link::kMaxReplySize];
      const size_t n = link::encode_reply(ev, reply);
      out.insert(out.end(), reply, reply + n);
      return;
    }
    case link::EventKind::kNone: return;
  }
}

int64_t LinkStreamSession::timer_due_in(uint64_t now_ms) const {
  if (decoder_.idle()) return -1;
  const uint64_t due = last_byte_ms_ + stall_timeout_ms_;
  return due <= now_ms ? 0 : static_cast<int64_t>(due - now_ms);
}

bool LinkStreamSession::on_timer(uint64_t now_ms) {
  if (decoder_.expire(static_cast<uint32_t>(now_ms))) return true;
  // The decoder measures the stall from its own view of the last byte; if it disagrees by a
  // millisecond, do not spin: the next byte or the next timer round settles it.
  last_byte_ms_ = now_ms;
  return false;
}

void LinkStreamSession::on_new_peer() { decoder_.reset(); }

}  // namespace utpm::host
