// libFuzzer target for the resource manager (resource_manager.cc) over the real engine: up to
// four client connections interleave commands, close and reopen, and platform signals arrive
// between them, against one TPM that lives for the whole fuzzing session.
// Input: records of {u8 op, u16 length, length bytes}; op % 8: 0-3 = a command of connection
// op, 4 = connection (byte 0 of the record % 4) closes and reopens, 5 = a platform signal
// (reset/restart), 6-7 = a command of connection 0 at locality (length byte % 5).
// Checks: no crash/UB (ASan+UBSan); every response is well formed (size field = length,
// at least a header); the RM's invariant: between commands no transient object of any
// connection is loaded in the TPM (GetCapability(TPM_CAP_HANDLES, 0x80000000) on the engine
// itself lists none).
#include <array>
#include <cstdint>
#include <cstdlib>
#include <memory>

#include "host/resource_manager.h"
#include "tpm/platform.h"
#include "tpm/profile.h"
#include "tpm/testing/ram_nv_store.h"
#include "tpm/tpm.h"

namespace {

using namespace utpm;

class FuzzPlatform : public tpm::Platform {
 public:
  bool get_entropy(std::span<uint8_t> out) override {
    for (auto& b : out) b = static_cast<uint8_t>(++counter_ * 167u);
    return true;
  }
  uint64_t now_ms() override { return now_ += 7; }
  tpm::NvStore& nv() override { return store_; }

 private:
  uint64_t now_ = 0;
  uint32_t counter_ = 0;
  tpm::testing::RamNvStore store_;
};

class DirectLink final : public host::EngineLink {
 public:
  explicit DirectLink(tpm::Tpm& t) : tpm_(t) {}
  size_t execute(const char*, uint8_t locality, std::span<const uint8_t> command,
                 std::span<uint8_t> response) override {
    return tpm_.execute(locality, command, response);
  }
  void signal(host::PlatformSignal s) override {
    if (s == host::PlatformSignal::reset || s == host::PlatformSignal::restart) {
      tpm_.power_off();
      tpm_.power_on();
    }
  }

 private:
  tpm::Tpm& tpm_;
};

uint32_t be32(const uint8_t* p) {
  return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | p[3];
}

FuzzPlatform platform;
tpm::Tpm* engine = nullptr;
host::ResourceManager* rm = nullptr;
std::array<uint32_t, 4> conn{};
uint8_t response[profile::kMaxResponseSize];

void check_response(size_t n) {
  if (n < 10 || n > sizeof response || be32(response + 2) != n) std::abort();
}

void startup() {
  static const uint8_t cmd[] = {0x80, 0x01, 0, 0, 0, 12, 0, 0, 0x01, 0x44, 0, 0};
  check_response(engine->execute(0, cmd, response));
}

// GetCapability(TPM_CAP_HANDLES, TRANSIENT_FIRST, 16) straight to the engine: must list none.
void no_transient_loaded() {
  static const uint8_t cmd[] = {0x80, 0x01, 0, 0, 0, 22, 0, 0, 0x01, 0x7A,
                                0, 0, 0, 1, 0x80, 0, 0, 0, 0, 0, 0, 16};
  const size_t n = engine->execute(0, cmd, response);
  check_response(n);
  if (be32(response + 6) != 0) return;  // e.g. failure mode, or not started after a signal
  // header 10, moreData 1, capability 4, count 4
  if (n < 19 || be32(response + 15) != 0) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (!engine) {
    static tpm::Tpm instance(platform);
    static DirectLink direct(instance);
    static host::ResourceManager manager(direct);
    engine = &instance;
    rm = &manager;
    engine->power_on();
    startup();
    for (auto& c : conn) c = rm->open();
  }
  while (size >= 3) {
    const uint8_t op = data[0] % 8;
    size_t len = size_t{data[1]} << 8 | data[2];
    data += 3;
    size -= 3;
    if (len > size) len = size;
    const std::span<const uint8_t> body{data, len};
    data += len;
    size -= len;
    if (op < 4 || op >= 6) {
      const uint32_t id = conn[op < 4 ? op : 0];
      const uint8_t locality = op < 4 ? 0 : static_cast<uint8_t>(len % 5);
      check_response(rm->execute(id, "fuzz", locality, body, response));
    } else if (op == 4) {
      const size_t which = len ? body[0] % 4 : 0;
      rm->close(conn[which]);
      conn[which] = rm->open();
    } else {
      rm->signal(len % 2 ? host::PlatformSignal::reset : host::PlatformSignal::restart);
      startup();
    }
    no_transient_loaded();
  }
  return 0;
}
