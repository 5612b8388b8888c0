// Byte layouts of the three framings a utpm device accepts on its serial line, and the encoders
// for what goes back. Facts from docs/serial.md (which cites reference/transport.md §0, §2.1, §3).
//
//   raw     TPM command as-is: u16 tag (0x8001/0x8002) | u32 size | ...      response: as-is
//   mssim   u32 8 | u8 locality | u32 size | command  (big endian)          response: u32 size |
//           response | u32 0 (ack)
//   legacy  "Tpm2" signal frames of the Nucleo-TPM sample (little endian): u32 magic 0x326d7054 |
//           u32 signal | u32 dataSize | data.   Command/Response reply: u32 LE size | response
//
// Portable: no heap, no OS; used by the firmware, utpmd's bridge, the TCTI and tests.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "link/mssim.h"

namespace utpm::link {

// ---- TPM header (TPM 2.0 Part 1 §18; all TPM fields big endian) ----
inline constexpr uint16_t kTagNoSessions = 0x8001;  // TPM_ST_NO_SESSIONS
inline constexpr uint16_t kTagSessions = 0x8002;    // TPM_ST_SESSIONS
inline constexpr size_t kTpmHeaderSize = 10;        // tag + size + code
inline constexpr uint32_t kRcSuccess = 0x000;
inline constexpr uint32_t kRcCommandSize = 0x142;   // TPM_RC_COMMAND_SIZE (RC_VER1 + 0x042)

// ---- mssim (link/mssim.h: the one set of codes) ----
// Only the codes that make sense on one serial stream are accepted by the decoder: the TPM-port
// ones plus the two cancel signals, which the TCTI needs to cancel a running command. Power, NV
// and physical presence are deliberately refused: a byte stream must never be able to assert
// physical presence, and line noise must never be able to power-cycle the TPM.

// ---- legacy Nucleo-TPM signal frames (little endian) ----
namespace legacy {
inline constexpr uint32_t kMagic = 0x326d7054;  // "Tpm2" on the wire: 54 70 6d 32
inline constexpr size_t kHeaderSize = 12;       // magic, signal, dataSize
inline constexpr size_t kCommandPrefix = 8;     // u32 locality, u32 cmdSize after the header
enum Code : uint32_t {
  kNothing = 0,
  kShutdown = 1,
  kReset = 2,
  kSetClock = 3,
  kCancelOn = 4,
  kCancelOff = 5,
  kCommand = 6,
  kResponse = 7,
};
}  // namespace legacy

enum class Framing : uint8_t { kRaw, kMssim, kLegacy };

// Platform-level requests that arrive on the link instead of a TPM command. The firmware or the
// daemon maps them onto the engine (power, cancel, clock); the link only recognises them.
enum class Signal : uint8_t {
  kNothing,         // legacy SignalNothing: a ping, no reply
  kShutdown,        // legacy SignalShutdown: power the TPM off (the sample then stops the link)
  kReset,           // legacy SignalReset: power cycle, host must send TPM2_Startup again
  kSetClock,        // legacy SignalSetClock: Event::value = Unix time in seconds
  kCancelOn,        // legacy 4 / mssim 9
  kCancelOff,       // legacy 5 / mssim 10
  kResendResponse,  // legacy SignalResponse: send the last response again, if there is one
  kHandshake,       // mssim REMOTE_HANDSHAKE: Event::value = client version
  kSessionEnd,      // mssim SESSION_END: the client is done; no reply
};

enum class EventKind : uint8_t {
  kNone,
  kCommand,  // data = one complete TPM command; answer with encode_response/wrap_response
  kSignal,   // signal (+ value); answer with encode_reply (may be zero bytes)
  kReject,   // a frame the TPM must refuse before reading it: value = TPM_RC; encode_reply
};

struct Event {
  EventKind kind = EventKind::kNone;
  Framing framing = Framing::kRaw;
  Signal signal = Signal::kNothing;
  uint8_t locality = 0;            // commands: mssim/legacy locality; raw commands use 0
  uint32_t value = 0;              // SetClock seconds, handshake version, reject TPM_RC
  std::span<const uint8_t> data;   // kCommand: points into the decoder's buffer
};

// Bytes that surround a response of `response_len` bytes in a given framing. Lets the firmware
// stream prefix, its I/O buffer and suffix to the UART without a second buffer.
struct Wrap {
  uint8_t prefix[4];
  uint8_t prefix_len;
  uint8_t suffix[4];
  uint8_t suffix_len;
};
Wrap wrap_response(Framing framing, uint32_t response_len);

// Writes prefix + response + suffix into out. Returns the length, or 0 if out is too small.
size_t encode_response(Framing framing, std::span<const uint8_t> response, std::span<uint8_t> out);

// The reply the device owes for a kSignal or kReject event (at most kMaxReplySize bytes).
// Zero length means "send nothing" (most signals). Not for kCommand (use encode_response) and not
// for kResendResponse (the caller owns the last response: encode_response it again).
inline constexpr size_t kMaxReplySize = 18;  // mssim-framed 10-byte error response
size_t encode_reply(const Event& event, std::span<uint8_t> out);

// Host side: frames a command for the device. Raw copies; mssim adds the 9-byte prefix; legacy
// adds the 12-byte header and 8-byte locality/size prefix. Returns the length or 0 if too small.
size_t encode_command(Framing framing, uint8_t locality, std::span<const uint8_t> command,
                      std::span<uint8_t> out);
// Host side: a bodiless mssim signal (cancel on/off, session end) as its 4 bytes.
void encode_mssim_code(uint32_t code, std::span<uint8_t, 4> out);

// ---- big/little endian helpers shared by the link code ----
inline uint32_t load_be32(const uint8_t* p) {
  return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | uint32_t{p[3]};
}
inline uint16_t load_be16(const uint8_t* p) {
  return static_cast<uint16_t>(p[0] << 8 | p[1]);
}
inline uint32_t load_le32(const uint8_t* p) {
  return uint32_t{p[3]} << 24 | uint32_t{p[2]} << 16 | uint32_t{p[1]} << 8 | uint32_t{p[0]};
}
inline void store_be32(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 24);
  p[1] = static_cast<uint8_t>(v >> 16);
  p[2] = static_cast<uint8_t>(v >> 8);
  p[3] = static_cast<uint8_t>(v);
}
inline void store_le32(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v);
  p[1] = static_cast<uint8_t>(v >> 8);
  p[2] = static_cast<uint8_t>(v >> 16);
  p[3] = static_cast<uint8_t>(v >> 24);
}
inline bool is_tpm_tag(uint16_t tag) { return tag == kTagNoSessions || tag == kTagSessions; }

}  // namespace utpm::link
