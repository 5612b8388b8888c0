#include "host/link_stream_session.h"

#include <algorithm>

namespace utpm::host {

LinkStreamSession::LinkStreamSession(EngineLink& engine, const char* channel,
                                     uint32_t stall_timeout_ms, const ConnectionState* state)
    : engine_(engine),
      channel_(channel),
      state_(state),
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
    unpushed_ = in.size();
    handle(ev, out);
    unpushed_ = 0;
  }
}

size_t LinkStreamSession::on_bytes_busy(std::span<const uint8_t> in, std::vector<uint8_t>& /*out*/) {
  // Only at a frame boundary with nothing queued before these bytes: otherwise they are not the
  // start of a frame, and the decoder (whose buffer holds the running command) sorts them out
  // after the command.
  if (unpushed_ != 0 || !decoder_.idle()) return 0;
  // The exact frames the decoder would read as cancel signals (link/decoder.cc classify()).
  static constexpr uint8_t kLegacyCancel[2][12] = {
      {0x54, 0x70, 0x6d, 0x32, link::legacy::kCancelOn, 0, 0, 0, 0, 0, 0, 0},
      {0x54, 0x70, 0x6d, 0x32, link::legacy::kCancelOff, 0, 0, 0, 0, 0, 0, 0}};
  size_t used = 0;
  for (;;) {
    const std::span<const uint8_t> rest = in.subspan(used);
    if (rest.size() >= 4 && rest[0] == 0 && rest[1] == 0 && rest[2] == 0 &&
        (rest[3] == link::mssim::kCancelOn || rest[3] == link::mssim::kCancelOff)) {
      engine_.signal(rest[3] == link::mssim::kCancelOn ? PlatformSignal::cancel_on
                                                       : PlatformSignal::cancel_off);
      used += 4;  // unacknowledged on a stream (link/framing.cc encode_reply)
      continue;
    }
    bool legacy = false;
    for (int i = 0; i < 2 && !legacy; ++i) {
      if (rest.size() >= 12 && std::equal(rest.begin(), rest.begin() + 12, kLegacyCancel[i])) {
        engine_.signal(i == 0 ? PlatformSignal::cancel_on : PlatformSignal::cancel_off);
        used += 12;
        legacy = true;
      }
    }
    if (!legacy) return used;
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
      // Raw TPM frames carry no locality: the connection's (0 unless a control channel set it).
      const uint8_t locality =
          ev.framing == link::Framing::kRaw && state_ != nullptr ? state_->locality : ev.locality;
      last_response_len_ = engine_.execute(channel_, locality, ev.data, response_);
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
