// The Microsoft TPM simulator TCP protocol (TCG TPM 2.0 Library Part 4, Annex D.3), as spoken
// by tpm2-tss's mssim TCTI and wolfTPM: a command port and a platform port (command port + 1).
// All integers are u32 big-endian. Byte layouts: docs in shared/reference/transport.md §2.1.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "host/engine_link.h"
#include "host/session.h"

namespace utpm::host {

namespace mssim {
inline constexpr uint32_t kPowerOn = 1;
inline constexpr uint32_t kPowerOff = 2;
inline constexpr uint32_t kPhysPresOn = 3;
inline constexpr uint32_t kPhysPresOff = 4;
inline constexpr uint32_t kHashStart = 5;
inline constexpr uint32_t kHashData = 6;
inline constexpr uint32_t kHashEnd = 7;
inline constexpr uint32_t kSendCommand = 8;
inline constexpr uint32_t kCancelOn = 9;
inline constexpr uint32_t kCancelOff = 10;
inline constexpr uint32_t kNvOn = 11;
inline constexpr uint32_t kNvOff = 12;
inline constexpr uint32_t kKeyCacheOn = 13;
inline constexpr uint32_t kKeyCacheOff = 14;
inline constexpr uint32_t kRemoteHandshake = 15;
inline constexpr uint32_t kSetAlternativeResult = 16;
inline constexpr uint32_t kReset = 17;
inline constexpr uint32_t kRestart = 18;
inline constexpr uint32_t kSessionEnd = 20;
inline constexpr uint32_t kStop = 21;

inline constexpr uint32_t kServerVersion = 1;
// TpmEndPointInfo: platformAvailable | inRawMode | supportsPP.
inline constexpr uint32_t kEndpointFlags = 0x01 | 0x04 | 0x08;
// A SEND_COMMAND larger than the TPM buffer is read and discarded up to this many bytes (then
// answered with TPM_RC_COMMAND_SIZE); anything larger is not a TPM client and is disconnected.
inline constexpr uint32_t kMaxDiscard = 1u << 20;
}  // namespace mssim

// Command ("TPM") port: SEND_COMMAND, REMOTE_HANDSHAKE, HASH_*, SESSION_END, STOP.
class MssimCommandSession final : public Session {
 public:
  MssimCommandSession(EngineLink& engine, size_t max_command_size);
  Verdict on_bytes(std::span<const uint8_t> in, std::vector<uint8_t>& out,
                   uint64_t now_ms) override;

 private:
  enum class Want : uint8_t {
    code,           // u32 protocol command
    locality,       // u8, SEND_COMMAND
    command_size,   // u32, SEND_COMMAND
    command,        // the TPM command bytes
    discard,        // bytes of an oversize command being skipped
    handshake,      // u32 client version
    hash_size,      // u32, HASH_DATA
    hash_data,      // ignored: the engine has no H-CRTM event sequence
    alt_result,     // u32, SET_ALTERNATIVE_RESULT
  };
  // Bytes still needed for the current field and where they go.
  void expect(Want w, size_t n);
  Verdict on_field(std::vector<uint8_t>& out);

  EngineLink& engine_;
  std::vector<uint8_t> field_;
  std::vector<uint8_t> response_;
  size_t max_;
  Want want_ = Want::code;
  size_t need_ = 4;
  size_t skip_ = 0;  // remaining bytes for discard/hash_data
  uint8_t locality_ = 0;
};

// Platform port: power, NV, cancel, physical presence signals; each acknowledged with u32 0.
class MssimPlatformSession final : public Session {
 public:
  explicit MssimPlatformSession(EngineLink& engine) : engine_(engine) {}
  Verdict on_bytes(std::span<const uint8_t> in, std::vector<uint8_t>& out,
                   uint64_t now_ms) override;

 private:
  EngineLink& engine_;
  uint8_t code_[4] = {};
  size_t have_ = 0;
};

}  // namespace utpm::host
