// What the transport sessions need from the TPM: execute a command and deliver platform
// signals. utpmd implements it over utpm::tpm::Tpm + HostPlatform (tpm_engine_link.cc) or a
// board on a serial line (serial_bridge.cc); unit tests of the protocols use a scripted fake, so
// the wire logic is tested without an engine.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace utpm::host {

enum class PlatformSignal : uint8_t {
  power_on,   // applies power if off; a no-op when already on (every tcti-mssim init sends it)
  power_off,
  reset,      // _TPM_Init with a power cycle
  restart,    // _TPM_Init
  nv_on,
  nv_off,
  cancel_on,
  cancel_off,
  phys_pres_on,
  phys_pres_off,
};

class EngineLink {
 public:
  virtual ~EngineLink() = default;
  // Runs one command; `channel` names the transport for the trace. Returns the response length
  // (always >= 10: the engine answers every input with a well-formed response).
  virtual size_t execute(const char* channel, uint8_t locality, std::span<const uint8_t> command,
                         std::span<uint8_t> response) = 0;
  virtual void signal(PlatformSignal s) = 0;
  // The TPM interface's H-CRTM / D-RTM indications at locality 4 (_TPM_Hash_Start, _Data,
  // _End; mssim HASH_* and swtpm CMD_HASH_*). A link without an event sequence ignores them.
  virtual void hash_start() {}
  virtual void hash_data(std::span<const uint8_t> /*data*/) {}
  virtual void hash_end() {}
  // The client behind this link changed (a pty opened by another process): a per-connection
  // link (the resource manager's) treats it as the old client leaving.
  virtual void on_client_change() {}
};

// The 10-byte response the transport itself gives when a command cannot even be handed to the
// engine (announced size above the maximum): TPM_ST_NO_SESSIONS, size 10, TPM_RC_COMMAND_SIZE.
inline constexpr uint32_t kRcCommandSize = 0x142;
inline constexpr uint8_t kCommandSizeResponse[10] = {0x80, 0x01, 0, 0, 0, 10, 0, 0, 0x01, 0x42};

}  // namespace utpm::host
