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

#include "host/engine_link.h"
#include "host/session.h"
#include "link/decoder.h"
#include "tpm/profile.h"

namespace utpm::host {

class LinkStreamSession final : public Session {
 public:
  LinkStreamSession(EngineLink& engine, const char* channel, uint32_t stall_timeout_ms);
  Verdict on_bytes(std::span<const uint8_t> in, std::vector<uint8_t>& out,
                   uint64_t now_ms) override;
  int64_t timer_due_in(uint64_t now_ms) const override;
  bool on_timer(uint64_t now_ms) override;
  void on_new_peer() override;
  uint64_t discarded_bytes() const override { return decoder_.stats().garbage_bytes; }

  const link::DecoderStats& stats() const { return decoder_.stats(); }

 private:
  void handle(const link::Event& ev, std::vector<uint8_t>& out);
  void send_response(link::Framing framing, size_t len, std::vector<uint8_t>& out);

  EngineLink& engine_;
  const char* channel_;
  uint32_t stall_timeout_ms_;
  uint64_t last_byte_ms_ = 0;
  link::BufferedDecoder<profile::kMaxCommandSize> decoder_;
  std::vector<uint8_t> response_;
  size_t last_response_len_ = 0;  // for the legacy "send the response again" signal
};

}  // namespace utpm::host
