// What the board-independent firmware (main loop, platform glue) needs from a board.
// Each boards/<name>/board.cc implements exactly these functions with register-level drivers.
// Nothing here allocates; every buffer is static and sized at compile time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "storage/flash.h"

namespace utpm::firmware::board {

// Human-readable board name, reported by the diagnostics command.
extern const char* const kName;

// Clocks, UART (with its RX interrupt feeding the ring buffer), SysTick, entropy source,
// button, watchdog. Called once from main before anything else.
void init();

// Milliseconds since boot (SysTick). Wraps after 49 days; callers use differences.
uint32_t millis();

// A free-running performance counter for per-command cost: CPU cycles on the Nucleo (DWT,
// extended to 64 bits), instructions on QEMU run with `-icount shift=0` (SysTick-derived).
// 64 bits because RSA-2048 key derivation alone has measured up to 2.5e9 instructions, and
// the prime search makes longer runs possible.
uint64_t cycles();
extern const char* const kCyclesUnit;

// Takes the next received byte from the UART ring buffer; false if none is waiting.
bool uart_pop(uint8_t& byte);
// Bytes the RX interrupt had to drop because the ring was full (the link then resyncs).
uint32_t uart_overruns();
// Blocking write of a whole buffer.
void uart_write(std::span<const uint8_t> data);

// Full-entropy bytes from a health-checked source. false = the source failed its health
// checks; the engine then enters failure mode rather than using weak randomness.
bool entropy(std::span<uint8_t> out);

// Physical presence (the user button on the Nucleo; never asserted on QEMU).
bool physical_presence();

// Refreshes the independent watchdog (no-op where none exists).
void watchdog_kick();
// While a command runs the main loop cannot kick the watchdog, and RSA key derivation can take
// longer than its period. Between hold and release the SysTick interrupt keeps the watchdog
// fed, but only until max_ms have passed: a command that runs longer is taken as hung.
void watchdog_hold(uint32_t max_ms);
void watchdog_release();

// Sleeps until the next interrupt (UART byte or the 1 ms SysTick).
void idle();

// Flash for the secure store's log, and separate flash for its rollback anchor (the store
// never touches the anchor's flash, so rewriting the store image cannot rewind the anchor).
storage::FlashDevice& store_flash();
storage::FlashDevice& anchor_flash();

// The 32-byte device secret the store derives its keys from: created once from the entropy
// source on first boot and kept where only this device can read it. false = unavailable.
bool device_secret(std::span<uint8_t, 32> out);

// Diagnostic text for the developer (semihosting on QEMU; dropped on the Nucleo, whose
// only UART is the TPM link).
void log(const char* text);

// Unrecoverable fault: logs and resets (the watchdog or SYSRESETREQ).
[[noreturn]] void panic(const char* why);

}  // namespace utpm::firmware::board
