// Test double for EngineLink: records every command and signal and answers each command with
// a response that identifies it (rc 0, then the command's size and code), so tests can see
// exactly which bytes reached the engine as one command.
#pragma once

#include <string>
#include <vector>

#include "host/engine_link.h"

namespace utpm::host::testing {

class RecordingEngine final : public EngineLink {
 public:
  struct Call {
    std::string channel;
    uint8_t locality;
    std::vector<uint8_t> command;
  };
  std::vector<Call> calls;
  std::vector<PlatformSignal> signals;

  size_t execute(const char* channel, uint8_t locality, std::span<const uint8_t> command,
                 std::span<uint8_t> response) override {
    calls.push_back({channel, locality, {command.begin(), command.end()}});
    const uint32_t size = static_cast<uint32_t>(command.size());
    const uint8_t cc[4] = {command.size() >= 10 ? command[6] : uint8_t{0xEE},
                           command.size() >= 10 ? command[7] : uint8_t{0xEE},
                           command.size() >= 10 ? command[8] : uint8_t{0xEE},
                           command.size() >= 10 ? command[9] : uint8_t{0xEE}};
    const uint8_t rsp[18] = {0x80, 0x01, 0, 0, 0, 18, 0, 0, 0, 0,
                             static_cast<uint8_t>(size >> 24), static_cast<uint8_t>(size >> 16),
                             static_cast<uint8_t>(size >> 8), static_cast<uint8_t>(size),
                             cc[0], cc[1], cc[2], cc[3]};
    std::copy(std::begin(rsp), std::end(rsp), response.begin());
    return sizeof rsp;
  }
  void signal(PlatformSignal s) override { signals.push_back(s); }
  // H-CRTM indications as text: "start", "data:<hex>" per chunk, "end".
  std::vector<std::string> hash_events;
  void hash_start() override { hash_events.push_back("start"); }
  void hash_data(std::span<const uint8_t> data) override {
    std::string e = "data:";
    static const char* hex = "0123456789abcdef";
    for (uint8_t b : data) {
      e += hex[b >> 4];
      e += hex[b & 15];
    }
    hash_events.push_back(e);
  }
  void hash_end() override { hash_events.push_back("end"); }
};

// A TPM command of `size` bytes: tag 0x8001, size, command code `cc`, then filler.
inline std::vector<uint8_t> make_command(uint32_t size, uint32_t cc = 0x17B, uint16_t tag = 0x8001) {
  std::vector<uint8_t> c(size < 10 ? 10 : size, 0x5A);
  c[0] = static_cast<uint8_t>(tag >> 8);
  c[1] = static_cast<uint8_t>(tag);
  for (int i = 0; i < 4; ++i) c[2 + i] = static_cast<uint8_t>(size >> (24 - 8 * i));
  for (int i = 0; i < 4; ++i) c[6 + i] = static_cast<uint8_t>(cc >> (24 - 8 * i));
  c.resize(size);
  return c;
}

}  // namespace utpm::host::testing
