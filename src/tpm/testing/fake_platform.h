// Test doubles for the engine's platform: a RAM NvStore with real staging/commit semantics and
// a platform with a settable clock. Host-only (uses the heap freely).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <vector>

#include "tpm/platform.h"
#include "tpm/testing/ram_nv_store.h"
#include "tpm/tpm.h"

namespace utpm::tpm::testing {


class FakePlatform : public Platform {
 public:
  bool get_entropy(std::span<uint8_t> out) override;
  // tick_per_read > 0: the clock moves on at every read (a command that samples it twice sees two
  // values, as on a busy machine).
  uint64_t now_ms() override {
    const uint64_t t = now;
    now += tick_per_read;
    return t;
  }
  bool cancel_requested() override { return cancel; }
  bool physical_presence() override { return pp; }
  NvStore& nv() override { return store; }

  uint64_t now = 1000;
  uint64_t tick_per_read = 0;
  bool cancel = false, pp = false, entropy_ok = true;
  uint32_t entropy_counter = 0;
  RamNvStore store;
};

// Builds a command: header, then big-endian fields; size patched by bytes().
class CommandBuilder {
 public:
  CommandBuilder(uint16_t tag, uint32_t cc) { u16(tag).u32(0).u32(cc); }
  CommandBuilder& u8(uint8_t v) { b_.push_back(v); return *this; }
  CommandBuilder& u16(uint16_t v) { return u8(uint8_t(v >> 8)).u8(uint8_t(v)); }
  CommandBuilder& u32(uint32_t v) { return u16(uint16_t(v >> 16)).u16(uint16_t(v)); }
  CommandBuilder& u64(uint64_t v) { return u32(uint32_t(v >> 32)).u32(uint32_t(v)); }
  CommandBuilder& raw(std::span<const uint8_t> s) { b_.insert(b_.end(), s.begin(), s.end()); return *this; }
  CommandBuilder& tpm2b(std::span<const uint8_t> s) { return u16(uint16_t(s.size())).raw(s); }
  // A password session (TPM_RS_PW) area with the given password.
  CommandBuilder& pw_session(std::span<const uint8_t> password = {}, uint8_t attrs = 1) {
    u32(uint32_t(9 + password.size()));
    return u32(0x40000009).u16(0).u8(attrs).tpm2b(password);
  }
  std::vector<uint8_t> bytes() const {
    std::vector<uint8_t> b = b_;
    uint32_t n = uint32_t(b.size());
    b[2] = uint8_t(n >> 24); b[3] = uint8_t(n >> 16); b[4] = uint8_t(n >> 8); b[5] = uint8_t(n);
    return b;
  }

 private:
  std::vector<uint8_t> b_;
};

struct Response {
  uint16_t tag = 0;
  uint32_t size = 0;
  uint32_t rc = 0;
  std::vector<uint8_t> body;  // everything after the header
  size_t pos = 0;
  uint8_t u8() { return body.at(pos++); }
  uint16_t u16() { uint16_t v = uint16_t(u8() << 8); return uint16_t(v | u8()); }
  uint32_t u32() { uint32_t v = uint32_t(u16()) << 16; return v | u16(); }
  uint64_t u64() { uint64_t v = uint64_t(u32()) << 32; return v | u32(); }
  std::vector<uint8_t> take(size_t n) {
    std::vector<uint8_t> v(body.begin() + long(pos), body.begin() + long(pos + n));
    pos += n;
    return v;
  }
  std::vector<uint8_t> tpm2b() { return take(u16()); }
  size_t left() const { return body.size() - pos; }
};

// Runs one command and decodes the header.
Response run(Tpm& tpm, const std::vector<uint8_t>& cmd, uint8_t locality = 0);
// Power on + Startup(CLEAR), asserting success.
void start(Tpm& tpm);

}  // namespace utpm::tpm::testing
