// EngineLink over the real engine: runs commands on utpm::tpm::Tpm, turns platform signals
// into power/NV/cancel/physical-presence changes, and writes the --trace line per command.
#pragma once

#include <cstdio>

#include "host/engine_link.h"
#include "host/host_platform.h"
#include "tpm/tpm.h"

namespace utpm::host {

class TpmEngineLink final : public EngineLink {
 public:
  // `trace` may be nullptr (no trace).
  TpmEngineLink(tpm::Tpm& tpm, HostPlatform& platform, std::FILE* trace)
      : tpm_(tpm), platform_(platform), trace_(trace) {}

  size_t execute(const char* channel, uint8_t locality, std::span<const uint8_t> command,
                 std::span<uint8_t> response) override;
  void signal(PlatformSignal s) override;
  void hash_start() override { tpm_.hash_start(); }
  void hash_data(std::span<const uint8_t> data) override { tpm_.hash_data(data); }
  void hash_end() override { tpm_.hash_end(); }

 private:
  tpm::Tpm& tpm_;
  HostPlatform& platform_;
  std::FILE* trace_;
};

const char* platform_signal_name(PlatformSignal s);

}  // namespace utpm::host
