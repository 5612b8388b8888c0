// Board: QEMU `netduinoplus2` (STM32F405, Cortex-M4) as shipped in Debian's qemu-system-arm.
//
// What QEMU models and what we use:
//   - USART1 (F4 register layout) wired to `-serial pty`: the TPM link.
//   - SysTick on the 168 MHz sysclk: milliseconds, and instruction counts under -icount.
//   - No RCC, GPIO, RNG or flash controller (QEMU maps them as unimplemented), hence:
//   - the store's "flash" is a host file reached through semihosting (SYS_OPEN/READ/WRITE/SEEK),
//     with the STM32L4's NOR rules enforced (SemihostedFlash), laid out as on the Nucleo:
//     128 KB secure store log | 8 KB rollback anchor | 2 KB device secret. The secret sits in a
//     host file, so this board is TEST-ONLY in that respect too;
//   - entropy is read from the host's /dev/urandom through semihosting. TEST-ONLY: there is
//     no health check and the host sees every byte; never ship this board.
#include <cstring>
#include <new>

#include "board.h"
#include "boards/qemu/semihosted_flash.h"
#include "boards/qemu/semihosting.h"
#include "device_secret.h"
#include "ring_buffer.h"
#include "runtime/mmio.h"
#include "runtime/startup.h"

namespace utpm::firmware::board {

const char* const kName = "qemu-netduinoplus2";
// With `-icount shift=0` QEMU's virtual clock advances exactly 1 ns per guest instruction, and
// SysTick counts that clock at 168 MHz, so ticks * 1000/168 is the instruction count (to
// within ~6 instructions). Without -icount the unit is just scaled host time.
const char* const kCyclesUnit = "insns(icount)";

namespace {

using mmio::reg;

constexpr uint32_t kCpuHz = 168'000'000;  // netduinoplus2 sysclk in QEMU
constexpr uint32_t kTicksPerMs = kCpuHz / 1000;

// USART1, STM32F4 layout (RM0090 §30.6).
constexpr uintptr_t kUsart = 0x40011000;
constexpr uintptr_t kUsartSr = kUsart + 0x00;
constexpr uintptr_t kUsartDr = kUsart + 0x04;
constexpr uintptr_t kUsartBrr = kUsart + 0x08;
constexpr uintptr_t kUsartCr1 = kUsart + 0x0C;
constexpr uint32_t kSrRxne = 1u << 5;
constexpr uint32_t kSrTxe = 1u << 7;
constexpr uint32_t kCr1Ue = 1u << 13;
constexpr uint32_t kCr1Te = 1u << 3;
constexpr uint32_t kCr1Re = 1u << 2;
constexpr uint32_t kCr1Rxneie = 1u << 5;
constexpr unsigned kUsart1Irq = 37;

RingBuffer<512> rx_ring;
volatile uint32_t ms_ticks = 0;

int32_t entropy_fd = -1;
int32_t store_fd = -1;

// Same geometry as the Nucleo's bank-2 areas: 2 KB pages, 8-byte program units.
constexpr uint32_t kPage = 2048;
constexpr storage::FlashGeometry kStoreGeometry{kPage, 64, 8};
constexpr storage::FlashGeometry kAnchorGeometry{kPage, 4, 8};
constexpr storage::FlashGeometry kSecretGeometry{kPage, 1, 8};
constexpr uint32_t kAnchorOffset = kStoreGeometry.size();
constexpr uint32_t kSecretOffset = kAnchorOffset + kAnchorGeometry.size();
constexpr uint32_t kFileSize = kSecretOffset + kSecretGeometry.size();
char store_path[128] = "utpm-nv.bin";
// Constructed in init() once the file is open (placement into static storage: no destructor).
alignas(SemihostedFlash) unsigned char store_dev[sizeof(SemihostedFlash)];
alignas(SemihostedFlash) unsigned char anchor_dev[sizeof(SemihostedFlash)];
alignas(SemihostedFlash) unsigned char secret_dev[sizeof(SemihostedFlash)];
SemihostedFlash& device(unsigned char* storage) { return *std::launder(reinterpret_cast<SemihostedFlash*>(storage)); }

// The state file comes from `-semihosting-config ...,arg=nv=<path>`; the default is
// relative to QEMU's working directory.
void parse_command_line() {
  char line[256];  // on the stack: only needed once, at boot, when the stack is shallow
  if (!semihosting::command_line(line, sizeof line)) return;
  for (char* tok = line; *tok != '\0';) {
    char* end = tok;
    while (*end != '\0' && *end != ' ') ++end;
    const bool last = (*end == '\0');
    *end = '\0';
    if (std::strncmp(tok, "nv=", 3) == 0 && std::strlen(tok + 3) < sizeof store_path) {
      std::strcpy(store_path, tok + 3);
    }
    if (last) break;
    tok = end + 1;
  }
}

void open_store() {
  store_fd = semihosting::open(store_path, semihosting::kReadWriteBinary);
  if (store_fd < 0) store_fd = semihosting::open(store_path, semihosting::kCreateReadWriteBinary);
  if (store_fd < 0) panic("cannot open the semihosted store file");
  // A new (or truncated) file becomes an erased device: all 0xFF.
  int32_t len = semihosting::length(store_fd);
  if (len < 0) panic("cannot size the store file");
  uint8_t ff[64];
  std::memset(ff, 0xFF, sizeof ff);
  if (static_cast<size_t>(len) < kFileSize && !semihosting::seek(store_fd, static_cast<size_t>(len))) {
    panic("store seek");
  }
  for (size_t pos = static_cast<size_t>(len); pos < kFileSize; pos += sizeof ff) {
    if (!semihosting::write(store_fd, ff, sizeof ff)) panic("cannot extend the store file");
  }
  new (store_dev) SemihostedFlash(store_fd, 0, kStoreGeometry);
  new (anchor_dev) SemihostedFlash(store_fd, kAnchorOffset, kAnchorGeometry);
  new (secret_dev) SemihostedFlash(store_fd, kSecretOffset, kSecretGeometry);
}

}  // namespace

void init() {
  mmio::reg(mmio::kSysTickLoad) = kTicksPerMs - 1;
  mmio::reg(mmio::kSysTickVal) = 0;
  mmio::reg(mmio::kSysTickCtrl) = mmio::kSysTickEnable | mmio::kSysTickInt | mmio::kSysTickCpuClock;

  parse_command_line();
  // TEST-ONLY entropy source (see the file comment).
  entropy_fd = semihosting::open("/dev/urandom", semihosting::kReadBinary);
  open_store();

  reg(kUsartBrr) = 0x16D;  // ignored by QEMU; 42 MHz APB2 / 115200 on a real F405
  reg(kUsartCr1) = kCr1Ue | kCr1Te | kCr1Re | kCr1Rxneie;
  mmio::nvic_enable(kUsart1Irq, 0x40);
}

uint32_t millis() { return ms_ticks; }

uint64_t cycles() {
  uint32_t ms, val;
  do {
    ms = ms_ticks;
    val = reg(mmio::kSysTickVal);
  } while (ms != ms_ticks);
  const uint64_t ticks = uint64_t{ms} * kTicksPerMs + (kTicksPerMs - 1 - val);
  return ticks * 125 / 21;  // ns = ticks * 1000 / 168
}

bool uart_pop(uint8_t& byte) { return rx_ring.pop(byte); }
uint32_t uart_overruns() { return rx_ring.overruns(); }

void uart_write(std::span<const uint8_t> data) {
  for (uint8_t b : data) {
    while ((reg(kUsartSr) & kSrTxe) == 0) {
    }
    reg(kUsartDr) = b;
  }
}

bool entropy(std::span<uint8_t> out) {
  if (entropy_fd < 0) return false;
  return semihosting::read(entropy_fd, out.data(), out.size());
}

bool physical_presence() { return false; }
void watchdog_kick() {}
void watchdog_hold(uint32_t) {}
void watchdog_release() {}
void idle() { mmio::wait_for_interrupt(); }

storage::FlashDevice& store_flash() { return device(store_dev); }
storage::FlashDevice& anchor_flash() { return device(anchor_dev); }
bool device_secret(std::span<uint8_t, 32> out) { return load_or_create_device_secret(device(secret_dev), out); }

void log(const char* text) { semihosting::write0(text); }

void panic(const char* why) {
  mmio::irq_disable();
  semihosting::write0("utpm firmware panic: ");
  semihosting::write0(why);
  semihosting::write0("\n");
  semihosting::exit_failure();
}

}  // namespace utpm::firmware::board

extern "C" {

void SysTick_Handler() { utpm::firmware::board::ms_ticks = utpm::firmware::board::ms_ticks + 1; }

void USART1_IRQHandler() {
  using namespace utpm::firmware;
  while (mmio::reg(board::kUsartSr) & board::kSrRxne) {
    board::rx_ring.push(static_cast<uint8_t>(mmio::reg(board::kUsartDr)));
  }
}

}  // extern "C"
