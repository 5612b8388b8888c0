// The firmware main loop: UART bytes (RX interrupt -> ring buffer) -> link decoder -> engine
// -> response streamed back. Everything is statically allocated; the stack is only used for
// call frames. Board specifics live behind board.h.
#include <cstring>
#include <new>

#include "board.h"
#include "crypto/backend.h"
#include "diagnostics.h"
#include "link/decoder.h"
#include "link/framing.h"
#include "runtime/startup.h"
#include "secure_nv_store.h"
#include "tpm/platform.h"
#include "tpm/profile.h"
#if UTPM_FW_ENGINE
#include "tpm/tpm.h"
#endif
extern "C" uint32_t __data_start[], __bss_end[];

namespace utpm::firmware {
namespace {

// Firmware-owned record in the store. The engine's record ids are small numbers (tpm/state.h
// RecordId) or TPM handle values, whose top byte is at most 0x81; 0xF1 is no handle type.
// Holds the boot counter that the QEMU test uses to show that state persists across
// restarts independently of what the engine stores.
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
  bool cancel_requested() override { return cancel_; }
  bool physical_presence() override { return board::physical_presence(); }
  tpm::NvStore& nv() override { return nv_; }
  void set_cancel(bool on) { cancel_ = on; }

 private:
  tpm::NvStore& nv_;
  uint32_t last_ = 0;
  uint64_t high_ = 0;
  bool cancel_ = false;
};

#if UTPM_FW_ENGINE
constexpr uint32_t kFeatures = kFeatureEngine | kFeatureLinkDecoder | kFeatureSecureStore;
#else
constexpr uint32_t kFeatures = kFeatureLinkDecoder | kFeatureSecureStore;
#endif

#ifndef UTPM_FW_CRYPTO_POOL
#define UTPM_FW_CRYPTO_POOL 12288
#endif
// mbedTLS allocates (RSA/ECC bignums, the GCM cipher context) only from this pool, which is
// handed over once at boot. Sized from the QEMU test: RSA-2048 signing fails with 8 KB and
// passes with 10 KB; 12 KB leaves room for fragmentation of the first-fit allocator.
__attribute__((section(".heap_pool"))) alignas(16) uint8_t crypto_pool[UTPM_FW_CRYPTO_POOL];

StaticInstance<SecureNvStore> store;
StaticInstance<FirmwarePlatform> platform;
#if UTPM_FW_ENGINE
StaticInstance<tpm::Tpm> engine;
#endif
// The command arrives in the decoder's buffer and the response is built in `response`; the
// response stays there after sending so a legacy "re-send response" signal can repeat it.
link::BufferedDecoder<profile::kMaxCommandSize> decoder;
uint8_t response[profile::kMaxResponseSize];
size_t response_len = 0;

// Longest a command may run before the watchdog takes it as hung (RSA-2048 key derivation
// has been measured at up to 2.5e9 instructions, about 40 s at 80 MHz).
constexpr uint32_t kMaxCommandMs = 300'000;

uint32_t boot_count = 0;
uint32_t last_command = 0;
uint64_t last_cost = 0;

void put_u32(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 24);
  p[1] = static_cast<uint8_t>(v >> 16);
  p[2] = static_cast<uint8_t>(v >> 8);
  p[3] = static_cast<uint8_t>(v);
}
uint32_t get_u32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

[[maybe_unused]] size_t header_only(uint16_t tag, uint32_t rc) {
  response[0] = static_cast<uint8_t>(tag >> 8);
  response[1] = static_cast<uint8_t>(tag);
  put_u32(response + 2, 10);
  put_u32(response + 6, rc);
  return 10;
}

#if UTPM_FW_DIAGNOSTICS
size_t diagnostics() {
  const uint32_t fields[kDiagFields] = {
      kDiagFormat,
      static_cast<uint32_t>(runtime::stack_reserve()),
      static_cast<uint32_t>(runtime::stack_high_water()),
      static_cast<uint32_t>(reinterpret_cast<uintptr_t>(__bss_end) - reinterpret_cast<uintptr_t>(__data_start)),
      last_command,
      static_cast<uint32_t>(last_cost),
      board::millis(),
      board::uart_overruns(),
      boot_count,
      static_cast<uint32_t>(store.get().used_bytes()),
      std::strcmp(board::kCyclesUnit, "cycles") == 0 ? 2u : 1u,
      kFeatures,
      static_cast<uint32_t>(last_cost >> 32),
  };
  header_only(0x8001, 0);
  for (size_t i = 0; i < kDiagFields; ++i) put_u32(response + 10 + 4 * i, fields[i]);
  put_u32(response + 2, kDiagResponseSize);
  return kDiagResponseSize;
}
#endif

size_t execute(uint8_t locality, std::span<const uint8_t> command) {
#if UTPM_FW_ENGINE
  if (!engine.get().powered()) engine.get().power_on();
  return engine.get().execute(locality, command, response);
#else
  // Without the engine every command is answered as by a TPM that has not been started:
  // TPM_RC_INITIALIZE (0x100), which is what tcti-device's init probe expects from one.
  static_cast<void>(locality);
  static_cast<void>(command);
  return header_only(0x8001, 0x100);
#endif
}

void send(link::Framing framing) {
  const link::Wrap w = link::wrap_response(framing, static_cast<uint32_t>(response_len));
  board::uart_write(std::span<const uint8_t>(w.prefix, w.prefix_len));
  board::uart_write(std::span<const uint8_t>(response, response_len));
  board::uart_write(std::span<const uint8_t>(w.suffix, w.suffix_len));
}

void on_command(const link::Event& ev) {
  const uint32_t cc = get_u32(ev.data.data() + 6);
  // The link is read only between commands, so a cancel signal can never reach the command it
  // was meant for; one that arrived since the last command is stale and must not cancel this.
  platform.get().set_cancel(false);
#if UTPM_FW_DIAGNOSTICS
  if (cc == kCcFirmwareDiagnostics) {
    response_len = diagnostics();  // last_command/last_cost keep describing the previous command
  } else
#endif
  {
    const uint64_t start = board::cycles();
    board::watchdog_hold(kMaxCommandMs);
    response_len = execute(ev.locality, ev.data);
    board::watchdog_release();
    last_cost = board::cycles() - start;
    last_command = cc;
  }
  send(ev.framing);
}

void on_signal(const link::Event& ev) {
  switch (ev.signal) {
#if UTPM_FW_ENGINE
    case link::Signal::kReset: engine.get().reset(); break;
    case link::Signal::kShutdown: engine.get().power_off(); break;  // next command powers on
#endif
    case link::Signal::kCancelOn: platform.get().set_cancel(true); break;
    case link::Signal::kCancelOff: platform.get().set_cancel(false); break;
    case link::Signal::kResendResponse:
      if (response_len > 0) send(ev.framing);
      return;
    default: break;
  }
  uint8_t reply[link::kMaxReplySize];
  const size_t n = link::encode_reply(ev, reply);
  board::uart_write(std::span<const uint8_t>(reply, n));
}

void on_event(const link::Event& ev) {
  switch (ev.kind) {
    case link::EventKind::kCommand: on_command(ev); break;
    case link::EventKind::kSignal: on_signal(ev); break;
    case link::EventKind::kReject: {
      uint8_t reply[link::kMaxReplySize];
      const size_t n = link::encode_reply(ev, reply);
      board::uart_write(std::span<const uint8_t>(reply, n));
      break;
    }
    case link::EventKind::kNone: break;
  }
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
  if (utpm::crypto::backend_init(crypto_pool) != utpm::crypto::Status::ok) board::panic("crypto pool");
  // A store that does not mount (tampering, rollback, wiped anchor) stays locked: the engine
  // then answers every command from failure mode instead of running on fresh state.
  if (store.emplace(board::store_flash(), board::anchor_flash()).open() == utpm::storage::MountCause::ok) {
    count_boot();
  } else {
    board::log("utpm: secure store refused to mount: ");
    board::log(utpm::storage::mount_cause_name(store.get().cause()));
    board::log("\n");
  }
  platform.emplace(store.get());
#if UTPM_FW_ENGINE
  engine.emplace(platform.get()).power_on();
#endif
  board::log("utpm firmware ready\n");

  // Bytes are taken from the ring in small batches so the decoder's push API sees spans.
  uint8_t batch[32];
  for (;;) {
    board::watchdog_kick();
    size_t n = 0;
    while (n < sizeof batch && board::uart_pop(batch[n])) ++n;
    std::span<const uint8_t> bytes(batch, n);
    // After an event keep pushing (even with no bytes): resync may already hold the next frame.
    for (;;) {
      utpm::link::Event ev;
      const size_t used = decoder.push(bytes, board::millis(), ev);
      bytes = bytes.subspan(used);
      if (ev.kind == utpm::link::EventKind::kNone) break;
      on_event(ev);
    }
    platform.get().now_ms();
    if (n == 0) {
      decoder.expire(board::millis());
      board::idle();
    }
  }
}
