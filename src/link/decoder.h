// The device side of the serial link: turns an arbitrary byte stream into TPM commands and
// platform signals, autodetecting the framing of every frame (raw TPM, mssim, legacy 'Tpm2').
//
// Why one decoder for all three: tpm2-tss's device TCTI sends raw TPM bytes, our TCTI and
// wolfTPM's UART transport send mssim frames (locality and cancel travel with them), and the
// Nucleo-TPM sample's host tools send 'Tpm2' signal frames. The first bytes tell them apart:
// 80 01|02 (raw), 00 00 00 <code> (mssim), 54 70 6d 32 (legacy). Anything else — ModemManager's
// "AT\r", echo, line noise — is skipped one byte at a time until a plausible frame start, and a
// candidate header is validated as far as its bytes allow (an mssim or legacy command must carry
// a TPM header whose size agrees with the outer size) so garbage rarely poses as a frame.
//
// Push API, no heap, no OS, no time source of its own: the caller feeds bytes with its notion of
// "now" in ms, and gets at most one event per call:
//
//   Event ev;
//   while (!bytes.empty() || more) {
//     size_t used = decoder.push(bytes, now_ms, ev);
//     bytes = bytes.subspan(used);
//     if (ev.kind == EventKind::kNone) break;    // everything consumed, nothing complete
//     handle(ev);                                // ev.data stays valid until the next push()
//   }
//
// Keep calling push (even with no bytes) after an event until it returns kNone: bytes that were
// looked at while resynchronising may already hold the next frame.
//
// A frame that stalls (no byte for timeout_ms) is dropped, so a host that died mid-command can
// never wedge the link. The time spent handling an event (the engine may run for seconds) does
// not count as a stall. Oversized commands produce kReject (TPM_RC_COMMAND_SIZE) as soon as
// their header is seen; their body is then skipped (or dropped by the timeout).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "link/framing.h"
#include "tpm/profile.h"

namespace utpm::link {

struct DecoderStats {
  uint32_t frames = 0;          // commands and signals delivered
  uint32_t rejected = 0;        // oversized commands answered with TPM_RC_COMMAND_SIZE
  uint32_t garbage_bytes = 0;   // bytes skipped while looking for a frame start
  uint32_t timeouts = 0;        // stalled partial frames dropped
};

class Decoder {
 public:
  static constexpr uint32_t kDefaultTimeoutMs = 250;
  // Longest header we must see before a frame is accepted: legacy 12-byte header, 8-byte
  // locality/size prefix, then the TPM tag and size (6 bytes) of the command inside.
  static constexpr size_t kMaxHeader = legacy::kHeaderSize + legacy::kCommandPrefix + 6;

  // `buffer` receives one command; its size is the largest command accepted (commands larger
  // than that are rejected). A buffer smaller than a TPM header rejects every command.
  explicit Decoder(std::span<uint8_t> buffer, uint32_t timeout_ms = kDefaultTimeoutMs);
  Decoder(const Decoder&) = delete;
  Decoder& operator=(const Decoder&) = delete;

  // Consumes bytes until one event completes or the input ends; returns how many were used.
  // `event` is always written (kNone if nothing completed).
  size_t push(std::span<const uint8_t> bytes, uint32_t now_ms, Event& event);

  // Drops a partial frame that has been stalled for timeout_ms. Returns true if it dropped one.
  // push() does the same check itself; call this from an idle loop to free the state earlier.
  bool expire(uint32_t now_ms);

  // Forgets any partial frame (e.g. the host reopened the port).
  void reset();

  // True when no partial frame is held.
  bool idle() const { return state_ == State::kHunt && hdr_len_ == 0 && replay_len_ == 0; }
  size_t max_command_size() const { return max_; }
  const DecoderStats& stats() const { return stats_; }

 private:
  enum class State : uint8_t { kHunt, kBody, kSkip };
  enum class Verdict : uint8_t { kMore, kGarbage, kFrame };

  Verdict classify(size_t n, size_t& header_len) const;
  size_t consume(const uint8_t* p, size_t n, Event& ev);
  bool resolve_header(Event& ev);
  void start_frame(Event& ev);
  void begin_command(Framing framing, uint8_t locality, const uint8_t* tpm_header,
                     uint32_t size, Event& ev);
  void drop_partial();

  uint8_t* buf_;
  size_t max_;
  uint32_t timeout_ms_;
  uint32_t last_ms_ = 0;
  bool clock_paused_ = false;  // an event was just returned: its handling time is no stall

  State state_ = State::kHunt;
  Framing framing_ = Framing::kRaw;
  uint8_t locality_ = 0;
  uint32_t fill_ = 0;  // bytes of the current command in buf_
  uint32_t need_ = 0;  // body bytes still to come (kBody) or to discard (kSkip)

  // Candidate frame start, validated byte by byte.
  uint8_t hdr_[kMaxHeader] = {};
  uint8_t hdr_len_ = 0;
  // Bytes that were already received but belong after a header that completed early inside the
  // candidate window (found after a resync); processed before new input.
  uint8_t replay_[kMaxHeader] = {};
  uint8_t replay_len_ = 0;
  uint8_t replay_pos_ = 0;

  DecoderStats stats_;
};

// A decoder that owns its buffer: BufferedDecoder<> in the firmware's static RAM, or on the host.
template <size_t MaxCommand>
struct DecoderStorage {
  uint8_t storage[MaxCommand];
};

template <size_t MaxCommand = profile::kMaxCommandSize>
class BufferedDecoder : private DecoderStorage<MaxCommand>, public Decoder {
  static_assert(MaxCommand >= kTpmHeaderSize, "a command buffer must hold a TPM header");

 public:
  explicit BufferedDecoder(uint32_t timeout_ms = kDefaultTimeoutMs)
      : DecoderStorage<MaxCommand>{}, Decoder(std::span<uint8_t>(this->storage), timeout_ms) {}
};

}  // namespace utpm::link
