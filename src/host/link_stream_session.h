// The byte-stream channels (pty, unix socket) on the serial-link decoder (src/link), so utpmd's
// virtual serial port accepts exactly what a utpm device accepts on its UART, frame by frame:
//   - the raw TPM stream (tpm2-tss's device TCTI: -T device:<link>),
//   - mssim framing (our TCTI: -T utpm:<link>, wolfTPM's UART transport): carries locality and
//     cancel,
//   - the legacy 'Tpm2' signal frames of the Nucleo-TPM sample.
// The decoder reassembles however the bytes arrive, skips garbage to the next plausible frame
// start, rejects oversized commands with TPM_RC_COMMAND_SIZE and skips their body, and drops a
// partial frame that stalls. Each response is appended in one piece (one write()).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "host/channel.h"
#include "host/engine_link.h"
#include "host/session.h"
#include "link/decoder.h"
#include "tpm/profile.h"

namespace utpm::host {

class LinkStreamSession final : public Session {
 public:
  // `state` (optional) gives the locality of raw TPM frames, which carry none.
  LinkStreamSession(EngineLink& engine, const char* channel, uint32_t stall_timeout_ms,
                    const ConnectionState* state = nullptr);
  Verdict on_bytes(std::span<const uint8_t> in, std::vector<uint8_t>& out,
                   uint64_t now_ms) override;
  int64_t timer_due_in(uint64_t now_ms) const override;
  bool on_timer(uint64_t now_ms) override;
  void on_new_peer() override;
  uint64_t discarded_bytes() const override { return decoder_.stats().garbage_bytes; }
  // Cancel frames (mssim CANCEL_ON/OFF, legacy CancelOn/Off) that arrive while a command runs
  // reach the engine at once, if nothing is pending before them in the stream.
  bool reads_while_busy() const override { return true; }
  size_t on_bytes_busy(std::span<const uint8_t> in, std::vector<uint8_t>& out) override;

  const link::DecoderStats& stats() const { return decoder_.stats(); }

 private:
  void handle(const link::Event& ev, std::vector<uint8_t>& out);
  void send_response(link::Framing framing, size_t len, std::vector<uint8_t>& out);

  EngineLink& engine_;
  const char* channel_;
  const ConnectionState* state_;
  uint32_t stall_timeout_ms_;
  uint64_t last_byte_ms_ = 0;
  link::BufferedDecoder<profile::kMaxCommandSize> decoder_;
  std::vector<uint8_t> response_;
  size_t last_response_len_ = 0;  // for the legacy "send the response again" signal
  size_t unpushed_ = 0;  // input of the current on_bytes() not yet given to the decoder
};

}  // namespace utpm::host
