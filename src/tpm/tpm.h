// The engine's public face: one object that owns all TPM state. The caller (utpmd, firmware)
// owns it; nothing lives in globals, so tests can run several TPMs in one process.
//
// Entry points mirror the hardware: power on/off (_TPM_Init happens at power on and on reset),
// and execute(locality, command) -> response. Failure mode is a state, never a crash: every
// command still gets a well-formed response.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "platform.h"
#include "tpm/state.h"

namespace utpm::tpm {

class Tpm {
 public:
  explicit Tpm(Platform& platform);
  Tpm(const Tpm&) = delete;
  Tpm& operator=(const Tpm&) = delete;

  // Power applied: loads persistent state (manufacturing the TPM on first use) and performs
  // _TPM_Init. After this the TPM answers TPM_RC_INITIALIZE until TPM2_Startup.
  void power_on();
  // Power removed: volatile state is lost. A TPM that was not shut down orderly notices at the
  // next Startup.
  void power_off();
  // _TPM_Init without a power cycle of the platform (mssim RESET/RESTART signals, reset pin).
  void reset() { power_off(); power_on(); }
  bool powered() const { return st_.powered; }

  // Executes one command. `command` is exactly one TPM command as received (its size may
  // disagree with the header; that is checked). Writes the response into `response` (at least
  // 10 bytes; profile::kMaxResponseSize recommended) and returns its length. Never fails:
  // errors are TPM response codes. `command` may lie inside `response` at its start (one I/O
  // buffer for both directions, as a small MCU wants): handlers parse every parameter before
  // they write output, and the dispatcher moves a decrypted parameter area with memmove.
  size_t execute(uint8_t locality, std::span<const uint8_t> command, std::span<uint8_t> response);

  // The H-CRTM / D-RTM event sequence (Part 3 §6.1-6.3), indications of the TPM interface at
  // locality 4. Before TPM2_Startup, _TPM_Hash_End sets PCR 0 of each bank to
  // H(0...04 || H(data)) and Startup keeps it; after Startup it resets PCR 17-22 and extends
  // H(data) into PCR 17. Ignored when off or in failure mode; Hash_Data/End without a sequence
  // are discarded.
  void hash_start();
  void hash_data(std::span<const uint8_t> data);
  void hash_end();
  bool tpm_established() const { return st_.tpm_established; }
  void reset_tpm_established() { st_.tpm_established = false; }

  // NV availability as signalled by the platform (mssim NV_ON/NV_OFF).
  void set_nv_available(bool on) { st_.nv_available = on; }

  bool in_failure_mode() const { return st_.failure.active; }
  // Why the TPM is in failure mode (a FailureCause value), for the daemon to print.
  FailureCause failure_cause() const { return st_.failure.cause; }

  // Engine internals for the command handlers; not part of the stable API.
  State& state() { return st_; }
  Platform& platform() { return platform_; }

 private:
  Platform& platform_;
  State st_;
};

// Human-readable names for traces and tools; nullptr if unknown.
const char* command_name(uint32_t command_code);
// Writes a name such as "TPM_RC_VALUE+P1" into out (always NUL-terminated); returns out.data().
const char* rc_to_string(uint32_t rc, std::span<char> out);

}  // namespace utpm::tpm
