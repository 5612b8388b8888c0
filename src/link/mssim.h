// The Microsoft TPM simulator protocol (TCG TPM 2.0 Library Part 4, Annex D.3; tpm2-tss
// tcti-mssim; wolfTPM's UART transport): the one set of its codes in utpm. Every u32 on the wire
// is big endian. utpmd's mssim TCP sessions (src/host/mssim_session.*), the serial-link decoder
// (link/decoder.*), the TCTI module, the bridge and the C++ tests all use these names; the
// Python tests (tests/e2e/utpmd_harness.py) name the same values MS_<NAME>.
//
// Portable: constants only, usable from the firmware.
#pragma once

#include <cstddef>
#include <cstdint>

namespace utpm::link::mssim {

// Command codes. The TCP simulator takes the platform ones (power, NV, physical presence,
// cancel, key cache, reset/restart) on its platform port = command port + 1, and the rest on the
// command port. A utpm serial line accepts only kSendCommand, kRemoteHandshake, kSessionEnd and
// the two cancel codes (docs/serial.md).
inline constexpr uint32_t kPowerOn = 1;               // MS_SIM_POWER_ON
inline constexpr uint32_t kPowerOff = 2;              // MS_SIM_POWER_OFF
inline constexpr uint32_t kPhysPresOn = 3;            // TPM_SIGNAL_PHYS_PRES_ON
inline constexpr uint32_t kPhysPresOff = 4;           // TPM_SIGNAL_PHYS_PRES_OFF
inline constexpr uint32_t kHashStart = 5;             // TPM_SIGNAL_HASH_START
inline constexpr uint32_t kHashData = 6;              // TPM_SIGNAL_HASH_DATA: u32 size | data
inline constexpr uint32_t kHashEnd = 7;               // TPM_SIGNAL_HASH_END
inline constexpr uint32_t kSendCommand = 8;           // TPM_SEND_COMMAND: u8 locality | u32 size | cmd
inline constexpr uint32_t kCancelOn = 9;              // TPM_SIGNAL_CANCEL_ON
inline constexpr uint32_t kCancelOff = 10;            // TPM_SIGNAL_CANCEL_OFF
inline constexpr uint32_t kNvOn = 11;                 // MS_SIM_NV_ON
inline constexpr uint32_t kNvOff = 12;                // MS_SIM_NV_OFF
inline constexpr uint32_t kKeyCacheOn = 13;           // TPM_SIGNAL_KEY_CACHE_ON
inline constexpr uint32_t kKeyCacheOff = 14;          // TPM_SIGNAL_KEY_CACHE_OFF
inline constexpr uint32_t kRemoteHandshake = 15;      // TPM_REMOTE_HANDSHAKE: u32 client version
inline constexpr uint32_t kSetAlternativeResult = 16; // TPM_SET_ALTERNATIVE_RESULT: u32 value
inline constexpr uint32_t kReset = 17;                // TPM_SIGNAL_RESET
inline constexpr uint32_t kRestart = 18;              // TPM_SIGNAL_RESTART
inline constexpr uint32_t kSessionEnd = 20;           // TPM_SESSION_END: no reply
inline constexpr uint32_t kStop = 21;                 // TPM_STOP: no reply

// Framing sizes and the handshake answer.
inline constexpr size_t kSendCommandPrefix = 9;  // code + locality + size
inline constexpr uint32_t kServerVersion = 1;
// TpmEndPointInfo flags answered to a handshake: platformAvailable(0x01) | inRawMode(0x04) |
// supportsPP(0x08), the simulator's own answer; clients only check that the handshake succeeds.
inline constexpr uint32_t kEndpointFlags = 0x01 | 0x04 | 0x08;
// Every platform code is acknowledged with this u32; the command port's replies end with it.
inline constexpr uint32_t kAck = 0;
// An unknown code is answered with this u32 (then the simulator closes the connection).
inline constexpr uint32_t kNack = 1;

}  // namespace utpm::link::mssim
