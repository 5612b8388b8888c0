#include "link/decoder.h"

#include <cstring>

namespace utpm::link {
namespace {

constexpr uint8_t kLegacyMagicBytes[4] = {0x54, 0x70, 0x6d, 0x32};  // "Tpm2", little endian
constexpr size_t kTpmTagSize = 6;  // tag + size: the part of a TPM header that frames it

// Checks the tag and size of a TPM header prefix of `n` bytes at `h`. `expect_size` (if nonzero)
// is the size the outer framing announced. Returns kGarbage/kMore/kFrame semantics as an int:
// -1 garbage, 0 need more, 1 complete.
int check_tpm_header(const uint8_t* h, size_t n, uint32_t expect_size) {
  if (n >= 1 && h[0] != 0x80) return -1;
  if (n >= 2 && h[1] != 0x01 && h[1] != 0x02) return -1;
  if (n < kTpmTagSize) return 0;
  const uint32_t size = load_be32(h + 2);
  if (size < kTpmHeaderSize) return -1;  // too short to be a command: noise, not an error
  if (expect_size != 0 && size != expect_size) return -1;
  return 1;
}

}  // namespace

Decoder::Decoder(std::span<uint8_t> buffer, uint32_t timeout_ms)
    : buf_(buffer.data()),
      max_(buffer.size() >= kTpmHeaderSize ? buffer.size() : 0),
      timeout_ms_(timeout_ms) {}

void Decoder::reset() {
  state_ = State::kHunt;
  hdr_len_ = 0;
  replay_len_ = 0;
  replay_pos_ = 0;
  fill_ = 0;
  need_ = 0;
}

void Decoder::drop_partial() {
  ++stats_.timeouts;
  reset();
}

bool Decoder::expire(uint32_t now_ms) {
  if (clock_paused_ || idle()) return false;
  // Unsigned difference: correct across the 49-day wrap of a 32-bit ms counter.
  if (now_ms - last_ms_ < timeout_ms_) return false;
  drop_partial();
  return true;
}

size_t Decoder::push(std::span<const uint8_t> bytes, uint32_t now_ms, Event& event) {
  event = Event{};
  if (clock_paused_) {
    clock_paused_ = false;
    last_ms_ = now_ms;
  } else {
    expire(now_ms);
  }
  size_t used = 0;
  for (;;) {
    if (replay_pos_ < replay_len_) {
      // Replayed bytes were received earlier; they go first and do not count as new input.
      // One at a time through a copy: a completing header may rewrite replay_.
      const uint8_t b = replay_[replay_pos_++];
      if (replay_pos_ == replay_len_) replay_pos_ = replay_len_ = 0;
      consume(&b, 1, event);
    } else if (used < bytes.size()) {
      last_ms_ = now_ms;
      used += consume(bytes.data() + used, bytes.size() - used, event);
    } else {
      return used;
    }
    if (event.kind != EventKind::kNone) {
      // Executing a command or signal may take seconds; that is no stall of the sender. A reject
      // is answered at once, and its skipped body must still time out if it never comes.
      clock_paused_ = event.kind != EventKind::kReject;
      return used;
    }
  }
}

// Processes bytes from one source. Returns after at most one event, and also right after a
// header completes, because that may have queued replay bytes that must come before `p`.
size_t Decoder::consume(const uint8_t* p, size_t n, Event& ev) {
  size_t i = 0;
  while (i < n) {
    switch (state_) {
      case State::kHunt: {
        hdr_[hdr_len_++] = p[i++];
        if (resolve_header(ev)) return i;
        break;
      }
      case State::kBody: {
        const size_t take = need_ < n - i ? need_ : n - i;
        std::memcpy(buf_ + fill_, p + i, take);
        fill_ += static_cast<uint32_t>(take);
        need_ -= static_cast<uint32_t>(take);
        i += take;
        if (need_ == 0) {
          ev.kind = EventKind::kCommand;
          ev.framing = framing_;
          ev.locality = locality_;
          ev.data = std::span<const uint8_t>(buf_, fill_);
          ++stats_.frames;
          state_ = State::kHunt;
          return i;
        }
        break;
      }
      case State::kSkip: {
        const size_t take = need_ < n - i ? need_ : n - i;
        need_ -= static_cast<uint32_t>(take);
        i += take;
        if (need_ == 0) state_ = State::kHunt;
        break;
      }
    }
  }
  return i;
}

// Looks at the candidate window after a byte was added. On garbage the first byte is discarded
// and the rest re-examined, because a real frame may start anywhere inside the window. Returns
// true when a header completed (an event may have been produced).
bool Decoder::resolve_header(Event& ev) {
  for (;;) {
    size_t header_len = 0;
    Verdict v = classify(hdr_len_, header_len);
    // Cannot happen (every kind decides by kMaxHeader bytes); kept so the window is bounded
    // by construction, not only by reasoning.
    if (v == Verdict::kMore && hdr_len_ >= kMaxHeader) v = Verdict::kGarbage;
    if (v == Verdict::kMore) return false;
    if (v == Verdict::kGarbage) {
      ++stats_.garbage_bytes;
      --hdr_len_;
      std::memmove(hdr_, hdr_ + 1, hdr_len_);
      if (hdr_len_ == 0) return false;
      continue;
    }
    // A header completed; anything in the window past it was received after it.
    const size_t extra = hdr_len_ - header_len;
    if (extra != 0) {
      uint8_t merged[kMaxHeader];
      const size_t pending = replay_len_ - replay_pos_;
      // The window and the unread replay bytes together never exceed the window size: both are
      // made of bytes that were in the window before, and no new input was added since.
      std::memcpy(merged, hdr_ + header_len, extra);
      std::memcpy(merged + extra, replay_ + replay_pos_, pending);
      std::memcpy(replay_, merged, extra + pending);
      replay_len_ = static_cast<uint8_t>(extra + pending);
      replay_pos_ = 0;
    }
    start_frame(ev);
    hdr_len_ = 0;
    return true;
  }
}

// Judges the first n bytes of the window. Checks every constraint n bytes allow, so garbage is
// recognised as early as possible. On kFrame, header_len = bytes that form the frame header.
Decoder::Verdict Decoder::classify(size_t n, size_t& header_len) const {
  const uint8_t* h = hdr_;
  int tpm = 0;
  switch (h[0]) {
    case 0x80: {  // raw TPM command
      tpm = check_tpm_header(h, n, 0);
      if (tpm < 0) return Verdict::kGarbage;
      if (tpm == 0) return Verdict::kMore;
      header_len = kTpmTagSize;
      return Verdict::kFrame;
    }
    case 0x00: {  // mssim: u32 BE code, all accepted codes are < 256
      if ((n >= 2 && h[1] != 0) || (n >= 3 && h[2] != 0)) return Verdict::kGarbage;
      if (n < 4) return Verdict::kMore;
      switch (h[3]) {
        case mssim::kSendCommand: {
          if (n < mssim::kSendCommandPrefix) return Verdict::kMore;
          const uint32_t size = load_be32(h + 5);
          if (size < kTpmHeaderSize) return Verdict::kGarbage;
          tpm = check_tpm_header(h + 9, n - 9, size);
          if (tpm < 0) return Verdict::kGarbage;
          if (tpm == 0) return Verdict::kMore;
          header_len = mssim::kSendCommandPrefix + kTpmTagSize;
          return Verdict::kFrame;
        }
        case mssim::kRemoteHandshake:
          if (n < 8) return Verdict::kMore;
          header_len = 8;
          return Verdict::kFrame;
        case mssim::kSessionEnd:
        case mssim::kCancelOn:
        case mssim::kCancelOff:
          header_len = 4;
          return Verdict::kFrame;
        default:
          return Verdict::kGarbage;
      }
    }
    case kLegacyMagicBytes[0]: {  // legacy 'Tpm2' signal frame
      for (size_t i = 1; i < 4 && i < n; ++i) {
        if (h[i] != kLegacyMagicBytes[i]) return Verdict::kGarbage;
      }
      // Signal codes are 0..7 in the low byte of a u32.
      if (n >= 5 && h[4] > legacy::kResponse) return Verdict::kGarbage;
      if ((n >= 6 && h[5] != 0) || (n >= 7 && h[6] != 0) || (n >= 8 && h[7] != 0)) {
        return Verdict::kGarbage;
      }
      if (n < legacy::kHeaderSize) return Verdict::kMore;
      const uint32_t data_size = load_le32(h + 8);
      switch (h[4]) {
        case legacy::kCommand: {
          if (data_size < legacy::kCommandPrefix + kTpmHeaderSize) return Verdict::kGarbage;
          if (n < 16) return Verdict::kMore;
          if (load_le32(h + 12) > 0xFF) return Verdict::kGarbage;  // locality
          if (n < 20) return Verdict::kMore;
          const uint32_t cmd_size = load_le32(h + 16);
          if (cmd_size != data_size - legacy::kCommandPrefix) return Verdict::kGarbage;
          tpm = check_tpm_header(h + 20, n - 20, cmd_size);
          if (tpm < 0) return Verdict::kGarbage;
          if (tpm == 0) return Verdict::kMore;
          header_len = kMaxHeader;
          return Verdict::kFrame;
        }
        case legacy::kSetClock:
          if (data_size != 4) return Verdict::kGarbage;
          if (n < 16) return Verdict::kMore;
          header_len = 16;
          return Verdict::kFrame;
        default:
          if (data_size != 0) return Verdict::kGarbage;
          header_len = legacy::kHeaderSize;
          return Verdict::kFrame;
      }
    }
    default:
      return Verdict::kGarbage;
  }
}

void Decoder::begin_command(Framing framing, uint8_t locality, const uint8_t* tpm_header,
                            uint32_t size, Event& ev) {
  framing_ = framing;
  locality_ = locality;
  if (size > max_) {
    // TPM_RC_COMMAND_SIZE right away; the host gets its answer even if it never sends the rest.
    ev.kind = EventKind::kReject;
    ev.framing = framing;
    ev.locality = locality;
    ev.value = kRcCommandSize;
    ++stats_.rejected;
    state_ = State::kSkip;
    need_ = size - static_cast<uint32_t>(kTpmTagSize);
    return;
  }
  std::memcpy(buf_, tpm_header, kTpmTagSize);
  fill_ = kTpmTagSize;
  need_ = size - static_cast<uint32_t>(kTpmTagSize);  // size >= 10, so never zero
  state_ = State::kBody;
}

void Decoder::start_frame(Event& ev) {
  const uint8_t* h = hdr_;
  auto signal = [&](Framing f, Signal s, uint32_t value) {
    ev.kind = EventKind::kSignal;
    ev.framing = f;
    ev.signal = s;
    ev.value = value;
    ++stats_.frames;
  };
  if (h[0] == 0x80) {
    begin_command(Framing::kRaw, 0, h, load_be32(h + 2), ev);
  } else if (h[0] == 0x00) {
    switch (h[3]) {
      case mssim::kSendCommand:
        begin_command(Framing::kMssim, h[4], h + 9, load_be32(h + 5), ev);
        break;
      case mssim::kRemoteHandshake:
        signal(Framing::kMssim, Signal::kHandshake, load_be32(h + 4));
        break;
      case mssim::kSessionEnd:
        signal(Framing::kMssim, Signal::kSessionEnd, 0);
        break;
      case mssim::kCancelOn:
        signal(Framing::kMssim, Signal::kCancelOn, 0);
        break;
      default:  // kCancelOff: classify admits nothing else
        signal(Framing::kMssim, Signal::kCancelOff, 0);
        break;
    }
  } else {
    switch (h[4]) {
      case legacy::kCommand:
        begin_command(Framing::kLegacy, h[12], h + 20, load_le32(h + 16), ev);
        break;
      case legacy::kNothing:
        signal(Framing::kLegacy, Signal::kNothing, 0);
        break;
      case legacy::kShutdown:
        signal(Framing::kLegacy, Signal::kShutdown, 0);
        break;
      case legacy::kReset:
        signal(Framing::kLegacy, Signal::kReset, 0);
        break;
      case legacy::kSetClock:
        signal(Framing::kLegacy, Signal::kSetClock, load_le32(h + 12));
        break;
      case legacy::kCancelOn:
        signal(Framing::kLegacy, Signal::kCancelOn, 0);
        break;
      case legacy::kCancelOff:
        signal(Framing::kLegacy, Signal::kCancelOff, 0);
        break;
      default:  // legacy::kResponse
        signal(Framing::kLegacy, Signal::kResendResponse, 0);
        break;
    }
  }
}

}  // namespace utpm::link
