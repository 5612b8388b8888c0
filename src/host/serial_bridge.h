// The bridge: an EngineLink whose TPM is a board on a serial line (the firmware's UART, e.g. a
// Nucleo's /dev/ttyACM0, or QEMU's pty). utpmd --bridge DEVICE serves it over mssim TCP (and
// the other channels), so any TSS, tpm2-abrmd or QEMU-side tool can use a physical board.
//
// Commands go down in mssim framing (it carries the locality) and the response is reassembled
// by size however the bytes arrive (link::ResponseReader). Cancel travels as the mssim
// CANCEL_ON/OFF codes; a platform reset as the legacy 'Tpm2' Reset signal, which reboots the
// board (a new _TPM_Init). Power and NV signals have no meaning for a powered board: acked only.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

#include "host/engine_link.h"

namespace utpm::host {

class SerialBridge final : public EngineLink {
 public:
  ~SerialBridge() override;
  // Opens the tty raw 8N1 at `baud`, without becoming its controlling terminal.
  bool open(const std::string& device, unsigned baud, std::string& error);
  // How long one command may take on the board (RSA key generation on an MCU: tens of seconds).
  void set_timeout_ms(int ms) { timeout_ms_ = ms; }
  void set_trace(std::FILE* trace) { trace_ = trace; }

  size_t execute(const char* channel, uint8_t locality, std::span<const uint8_t> command,
                 std::span<uint8_t> response) override;
  void signal(PlatformSignal s) override;

 private:
  bool write_all(std::span<const uint8_t> bytes);
  void drain();  // discards input until the line is quiet (after a broken response)

  int fd_ = -1;
  int timeout_ms_ = 300000;
  std::FILE* trace_ = nullptr;
};

}  // namespace utpm::host
