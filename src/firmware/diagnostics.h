// Firmware diagnostics over the TPM link: a vendor-specific command (TPM_CC with the V bit,
// Part 2 §6.5.2) that the main loop answers itself, before the engine sees it. It lets a
// test read what only the firmware knows: the painted-stack high-water mark and the cost of
// the previous command, on QEMU and on the real board alike, without a debugger.
//
// Command:  80 01 | 00 00 00 0a | 20 00 f0 01           (TPM_ST_NO_SESSIONS, no parameters)
// Response: 80 01 | size | 00 00 00 00 | DiagReport fields, each a big-endian u32, in order.
// Format 2 appended last_cost_high; a reader of format 1 sees the same first 12 fields.
#pragma once

#include <cstddef>
#include <cstdint>

#include "tpm/marshal/marshal.h"

namespace utpm::firmware {

inline constexpr uint32_t kCcFirmwareDiagnostics = 0x2000F001;

struct DiagReport {
  uint32_t format;            // kDiagFormat
  uint32_t stack_reserve;     // bytes reserved for the main stack
  uint32_t stack_high_water;  // deepest stack use since boot (painted-stack scan)
  uint32_t static_ram;        // .data + .bss
  uint32_t last_command;      // command code of the previous command
  uint32_t last_cost;         // its cost in board::kCyclesUnit (insns on QEMU -icount, cycles on the
                              // board), low 32 bits (last_cost_high holds the rest)
  uint32_t uptime_ms;
  uint32_t uart_overruns;     // RX bytes dropped because the ring was full
  uint32_t boot_count;        // persisted by the firmware: proves the store survives restarts
  uint32_t store_used;        // bytes of the store area in use
  uint32_t cost_unit;         // 1 = instructions (QEMU -icount shift=0), 2 = CPU cycles (DWT)
  uint32_t features;          // kFeature* bits: what this image was built with
  uint32_t last_cost_high;    // high 32 bits of last_cost (format 2)
  // The wire order, once: `utpm decode` reads the vendor command's response with it.
  UTPM_FIELDS(format, stack_reserve, stack_high_water, static_ram, last_command, last_cost, uptime_ms, uart_overruns,
              boot_count, store_used, cost_unit, features, last_cost_high)
};
inline constexpr uint32_t kFeatureEngine = 1u << 0;       // the TPM engine answers commands
inline constexpr uint32_t kFeatureLinkDecoder = 1u << 1;  // src/link decoder
inline constexpr uint32_t kFeatureSecureStore = 1u << 2;  // src/storage secure store
inline constexpr uint32_t kDiagFormat = 2;
inline constexpr size_t kDiagFields = 13;
static_assert(sizeof(DiagReport) == kDiagFields * 4, "wire layout: 13 u32 fields, no padding");
inline constexpr size_t kDiagResponseSize = 10 + sizeof(DiagReport);

}  // namespace utpm::firmware
