// The Microsoft TPM simulator TCP protocol (TCG TPM 2.0 Library Part 4, Annex D.3), as spoken
// by tpm2-tss's mssim TCTI and wolfTPM: a command port and a platform port (command port + 1).
// All integers are u32 big-endian. Byte layouts: shared/reference/transport.md §2.1.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "host/engine_link.h"
#include "host/session.h"
#include "link/mssim.h"

namespace utpm::host {

// The protocol's codes live in link/mssim.h (one set for the daemon, the link, the TCTI and the
// tests); this is the daemon's own limit.
namespace mssim = link::mssim;
// A SEND_COMMAND larger than the TPM buffer is read and discarded up to this many bytes (then
// answered with TPM_RC_COMMAND_SIZE); anything larger is not a TPM client and is disconnected.
inline constexpr uint32_t kMssimMaxDiscard = 1u << 20;

// Command ("TPM") port: SEND_COMMAND, REMOTE_HANDSHAKE, HASH_*, SESSION_END, STOP.
class MssimCommandSession final : public Session {
 public:
  // `name`: the channel name the engine link sees (trace lines; "vm1/mssim" for an instance).
  MssimCommandSession(EngineLink& engine, size_t max_command_size, const char* name = "mssim");
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
    hash_data,      // streamed to EngineLink::hash_data
    alt_result,     // u32, SET_ALTERNATIVE_RESULT
  };
  // Bytes still needed for the current field and where they go.
  void expect(Want w, size_t n);
  Verdict on_field(std::vector<uint8_t>& out);

  EngineLink& engine_;
  const char* name_ = "mssim";
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
  // CANCEL_ON/OFF that arrive while a command runs are applied and acked at once; any other
  // code waits for the end of the command (and so does everything after it).
  bool reads_while_busy() const override { return true; }
  size_t on_bytes_busy(std::span<const uint8_t> in, std::vector<uint8_t>& out) override;

 private:
  EngineLink& engine_;
  uint8_t code_[4] = {};
  size_t have_ = 0;
};

}  // namespace utpm::host
