#include "host/tpm_engine_link.h"

#include <array>

namespace utpm::host {

namespace {
uint32_t load_be32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}
}  // namespace

const char* platform_signal_name(PlatformSignal s) {
  switch (s) {
    case PlatformSignal::power_on: return "POWER_ON";
    case PlatformSignal::power_off: return "POWER_OFF";
    case PlatformSignal::reset: return "RESET";
    case PlatformSignal::restart: return "RESTART";
    case PlatformSignal::nv_on: return "NV_ON";
    case PlatformSignal::nv_off: return "NV_OFF";
    case PlatformSignal::cancel_on: return "CANCEL_ON";
    case PlatformSignal::cancel_off: return "CANCEL_OFF";
    case PlatformSignal::phys_pres_on: return "PHYS_PRES_ON";
    case PlatformSignal::phys_pres_off: return "PHYS_PRES_OFF";
  }
  return "?";
}

size_t TpmEngineLink::execute(const char* channel, uint8_t locality,
                              std::span<const uint8_t> command, std::span<uint8_t> response) {
  const uint64_t t0 = trace_ ? monotonic_us() : 0;
  const size_t n = tpm_.execute(locality, command, response);
  if (trace_) {
    const uint64_t dt = monotonic_us() - t0;
    char cc_text[32];
    const char* cc_name = "(no header)";
    if (command.size() >= 10) {
      const uint32_t cc = load_be32(&command[6]);
      cc_name = tpm::command_name(cc);
      if (!cc_name) {
        std::snprintf(cc_text, sizeof cc_text, "CC 0x%08x", cc);
        cc_name = cc_text;
      }
    }
    std::array<char, 64> rc_text{};
    const char* rc_name = n >= 10 ? tpm::rc_to_string(load_be32(&response[6]), rc_text) : "(short)";
    std::fprintf(trace_, "utpmd: %-5s loc=%u %s cmd=%zu rsp=%zu %s %lluus\n", channel,
                 unsigned{locality}, cc_name, command.size(), n, rc_name,
                 static_cast<unsigned long long>(dt));
    std::fflush(trace_);
  }
  return n;
}

void TpmEngineLink::signal(PlatformSignal s) {
  switch (s) {
    case PlatformSignal::power_on:
      // Every tcti-mssim init sends POWER_ON; re-initialising a running TPM each time would
      // wipe the session of the previous tool, so it only applies power when it is off.
      if (!tpm_.powered()) tpm_.power_on();
      break;
    case PlatformSignal::power_off: tpm_.power_off(); break;
    case PlatformSignal::reset:
    case PlatformSignal::restart: tpm_.reset(); break;
    case PlatformSignal::nv_on: tpm_.set_nv_available(true); break;
    case PlatformSignal::nv_off: tpm_.set_nv_available(false); break;
    case PlatformSignal::cancel_on: platform_.set_cancel(true); break;
    case PlatformSignal::cancel_off: platform_.set_cancel(false); break;
    case PlatformSignal::phys_pres_on: platform_.set_physical_presence(true); break;
    case PlatformSignal::phys_pres_off: platform_.set_physical_presence(false); break;
  }
  if (trace_) {
    std::fprintf(trace_, "utpmd: platform %s%s\n", platform_signal_name(s),
                 tpm_.in_failure_mode() ? " (TPM in failure mode)" : "");
    std::fflush(trace_);
  }
}

}  // namespace utpm::host
