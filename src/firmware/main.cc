// The firmware main loop: UART bytes (RX interrupt -> ring buffer) -> link decoder -> engine
// -> response streamed back. Everything is statically allocated; the stack is only used for
// call frames. Board specifics live behind board.h.
#include <cstring>
#include <new>

#include "board.h"
#include "diagnostics.h"
#include "interim_log_store.h"
#include "interim_raw_framer.h"
#include "runtime/startup.h"
#include "tpm/platform.h"
#include "tpm/profile.h"

extern "C" uint32_t __data_start[], __bss_end[];

namespace utpm::firmware {
namespace {

// Firmware-owned record in the store (outside the engine's id space by convention: the
// engine uses ids below 0xF0000000). Holds the boot counter that the QEMU test uses to show
// that state persists across restarts independently of what the engine stores.
constexpr uint32_t kBootCountRecord = 0xF1F70001;

// Static storage without a static destructor: constructing globals with virtual destructors
// the usual way would register them with atexit, which this firmware never runs.
template <typename T>
class StaticInstance {
 public:
  template <typename... Args>
  T& emplace(Args&&... args) {
    return *new (storage_) T(static_cast<Args&&>(args)...);
  }
  T& get() { return *std::launder(reinterpret_cast<T*>(storage_)); }

 private:
  alignas(T) unsigned char storage_[sizeof(T)];
};

class FirmwarePlatform final : public tpm::Platform {
 public:
  explicit FirmwarePlatform(tpm::NvStore& nv) : nv_(nv) {}
  bool get_entropy(std::span<uint8_t> out) override { return board::entropy(out); }
  uint64_t now_ms() override {
    // Extends the 32-bit SysTick millisecond count; called often enough (every command and
    // every idle loop pass) never to miss a wrap.
    const uint32_t now = board::millis();
    if (now < last_) high_ += uint64_t{1} << 32;
    last_ = now;
    return high_ | now;
  }
  bool physical_presence() override { return board::physical_presence(); }
  tpm::NvStore& nv() override { return nv_; }

 private:
  tpm::NvStore& nv_;
  uint32_t last_ = 0;
  uint64_t high_ = 0;
};

StaticInstance<InterimLogStore> store;
StaticInstance<FirmwarePlatform> platform;
InterimRawFramer<profile::kMaxCommandSize> framer;
uint8_t response[profile::kMaxResponseSize];

constexpr uint32_t kFeatures = 0;

uint32_t boot_count = 0;
uint32_t last_command = 0;
uint32_t last_cost = 0;

void put_u32(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 24);
  p[1] = static_cast<uint8_t>(v >> 16);
  p[2] = static_cast<uint8_t>(v >> 8);
  p[3] = static_cast<uint8_t>(v);
}
uint32_t get_u32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

size_t header_only(uint16_t tag, uint32_t rc) {
  response[0] = static_cast<uint8_t>(tag >> 8);
  response[1] = static_cast<uint8_t>(tag);
  put_u32(response + 2, 10);
  put_u32(response + 6, rc);
  return 10;
}

size_t diagnostics() {
  const uint32_t fields[kDiagFields] = {
      kDiagFormat,
      static_cast<uint32_t>(runtime::stack_reserve()),
      static_cast<uint32_t>(runtime::stack_high_water()),
      static_cast<uint32_t>(reinterpret_cast<uintptr_t>(__bss_end) - reinterpret_cast<uintptr_t>(__data_start)),
      last_command,
      last_cost,
      board::millis(),
      board::uart_overruns(),
      boot_count,
      static_cast<uint32_t>(store.get().used_bytes()),
      std::strcmp(board::kCyclesUnit, "cycles") == 0 ? 2u : 1u,
      kFeatures,
  };
  header_only(0x8001, 0);
  for (size_t i = 0; i < kDiagFields; ++i) put_u32(response + 10 + 4 * i, fields[i]);
  put_u32(response + 2, kDiagResponseSize);
  return kDiagResponseSize;
}

// Until the engine lands every command is answered as a TPM that has not been started:
// TPM_RC_INITIALIZE (0x100), which is what tcti-device's probe expects from such a TPM.
size_t execute(std::span<const uint8_t> command) {
  return header_only(0x8001, 0x100);
  static_cast<void>(command);
}

void handle(std::span<const uint8_t> command) {
  const uint32_t cc = get_u32(command.data() + 6);
  size_t n;
  if (cc == kCcFirmwareDiagnostics) {
    n = diagnostics();  // does not overwrite last_command/last_cost: they describe the previous one
  } else {
    const uint32_t start = board::cycles();
    n = execute(command);
    last_cost = board::cycles() - start;
    last_command = cc;
  }
  board::uart_write(std::span<const uint8_t>(response, n));
}

void count_boot() {
  uint8_t buf[4] = {};
  size_t len = 0;
  if (store.get().read(kBootCountRecord, buf, len) == tpm::NvStore::Result::ok && len == 4) {
    boot_count = get_u32(buf);
  }
  ++boot_count;
  put_u32(buf, boot_count);
  if (store.get().write(kBootCountRecord, buf) != tpm::NvStore::Result::ok ||
      store.get().commit() != tpm::NvStore::Result::ok) {
    board::log("utpm: boot counter not persisted (store full or failing)\n");
  }
}

}  // namespace
}  // namespace utpm::firmware

int main() {
  using namespace utpm::firmware;
  board::init();
  if (!store.emplace().mount()) board::log("utpm: store area was not a valid log; started afresh\n");
  platform.emplace(store.get());
  count_boot();
  board::log("utpm firmware ready\n");

  for (;;) {
    board::watchdog_kick();
    uint8_t b;
    bool worked = false;
    while (board::uart_pop(b)) {
      worked = true;
      if (framer.feed(b, board::millis())) handle(framer.frame());
    }
    platform.get().now_ms();
    if (!worked) board::idle();
  }
}
