// The raw TPM stream (what tpm2-tss's device TCTI speaks): commands and responses back to back
// with no framing beyond the TPM header. Used for the pty and the unix socket. Locality is
// always 0: the stream has no way to carry it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "host/engine_link.h"
#include "host/session.h"
#include "host/stream_framer.h"

namespace utpm::host {

class RawStreamSession final : public Session {
 public:
  RawStreamSession(EngineLink& engine, const char* channel, size_t max_command_size,
                   uint64_t stall_timeout_ms);
  Verdict on_bytes(std::span<const uint8_t> in, std::vector<uint8_t>& out,
                   uint64_t now_ms) override;
  int64_t timer_due_in(uint64_t now_ms) const override;
  void on_timer(uint64_t now_ms) override;
  void on_new_peer() override { framer_.reset(); }
  uint64_t discarded_bytes() const override { return framer_.skipped_bytes(); }

  const StreamFramer& framer() const { return framer_; }

 private:
  EngineLink& engine_;
  const char* channel_;
  StreamFramer framer_;
  std::vector<uint8_t> response_;
  uint64_t stall_timeout_ms_;
};

}  // namespace utpm::host
