// Board: ST Nucleo-L476RG (STM32L476RG, Cortex-M4F). Register-level drivers, no vendor HAL.
// Register addresses and bit positions are from ST RM0351 (STM32L4x5/L4x6 reference manual).
//
//   clock     MSI 48 MHz (trimmed by the 32.768 kHz LSE when it starts) -> PLL -> 80 MHz SYSCLK;
//             MSI also clocks the RNG (CLK48).
//   link      USART2 on PA2 (TX) / PA3 (RX), AF7, 115200 8N1: the ST-LINK virtual COM port.
//   entropy   the RNG peripheral, with its seed/clock error checks and a repetition test.
//   time      SysTick at 1 kHz; DWT cycle counter for per-command cost.
//   presence  the blue user button B1 on PC13 (pressed = low).
//   watchdog  IWDG on the LSI, ~32 s: long enough for RSA key generation at 80 MHz.
//   store     internal flash, bank 2 (the secure store's STM32L4 driver): 128 KB log, 8 KB
//             rollback anchor, 2 KB device secret; the image can never grow into them
//             (memory.ld). Deploy with RDP level 1 so the secret cannot be read over SWD.
#include <cstring>

#include "board.h"
#include "device_secret.h"
#include "ring_buffer.h"
#include "storage/stm32l4/stm32l4_flash.h"
#include "runtime/mmio.h"

namespace utpm::firmware::board {

const char* const kName = "nucleo-l476rg";
const char* const kCyclesUnit = "cycles";

namespace {

using mmio::reg;

constexpr uint32_t kSysClkHz = 80'000'000;

// RCC
constexpr uintptr_t kRcc = 0x40021000;
constexpr uintptr_t kRccCr = kRcc + 0x00;
constexpr uintptr_t kRccCfgr = kRcc + 0x08;
constexpr uintptr_t kRccPllcfgr = kRcc + 0x0C;
constexpr uintptr_t kRccAhb2enr = kRcc + 0x4C;
constexpr uintptr_t kRccApb1enr1 = kRcc + 0x58;
constexpr uintptr_t kRccCcipr = kRcc + 0x88;
constexpr uintptr_t kRccBdcr = kRcc + 0x90;
constexpr uintptr_t kRccCsr = kRcc + 0x94;
constexpr uint32_t kCrMsiRdy = 1u << 1;
constexpr uint32_t kCrMsiPllEn = 1u << 2;
constexpr uint32_t kCrMsiRgSel = 1u << 3;
constexpr uint32_t kCrPllOn = 1u << 24;
constexpr uint32_t kCrPllRdy = 1u << 25;
// FLASH / PWR
constexpr uintptr_t kFlashAcr = 0x40022000;
constexpr uintptr_t kPwrCr1 = 0x40007000;
// GPIO
constexpr uintptr_t kGpioA = 0x48000000;
constexpr uintptr_t kGpioC = 0x48000800;
constexpr uintptr_t kModer = 0x00, kPupdr = 0x0C, kIdr = 0x10, kAfrl = 0x20;
// USART2 (L4 layout)
constexpr uintptr_t kUsart = 0x40004400;
constexpr uintptr_t kUsartCr1 = kUsart + 0x00;
constexpr uintptr_t kUsartBrr = kUsart + 0x0C;
constexpr uintptr_t kUsartIsr = kUsart + 0x1C;
constexpr uintptr_t kUsartIcr = kUsart + 0x20;
constexpr uintptr_t kUsartRdr = kUsart + 0x24;
constexpr uintptr_t kUsartTdr = kUsart + 0x28;
constexpr uint32_t kIsrErrors = (1u << 0) | (1u << 1) | (1u << 2) | (1u << 3);  // PE FE NE ORE
constexpr uint32_t kIsrRxne = 1u << 5;
constexpr uint32_t kIsrTxe = 1u << 7;
constexpr unsigned kUsart2Irq = 38;
// RNG
constexpr uintptr_t kRng = 0x50060800;
constexpr uintptr_t kRngCr = kRng + 0x00;
constexpr uintptr_t kRngSr = kRng + 0x04;
constexpr uintptr_t kRngDr = kRng + 0x08;
constexpr uint32_t kRngEn = 1u << 2;
constexpr uint32_t kSrDrdy = 1u << 0, kSrCecs = 1u << 1, kSrSecs = 1u << 2, kSrSeis = 1u << 6;
// IWDG
constexpr uintptr_t kIwdg = 0x40003000;

RingBuffer<512> rx_ring;
volatile uint32_t ms_ticks = 0;
// Upper half of the 64-bit cycle count: the SysTick interrupt (1 kHz, far more often than the
// 53 s wrap of the 32-bit DWT counter at 80 MHz) notices each wrap.
volatile uint32_t cycles_high = 0;
volatile uint32_t cycles_last = 0;
// Nonzero while a command runs: SysTick feeds the watchdog until this millisecond.
volatile uint32_t hold_until_ms = 0;
uint32_t rng_last = 0;
bool rng_primed = false;

template <typename Cond>
bool wait_until(Cond cond, uint32_t spins = 2'000'000) {
  while (!cond()) {
    if (--spins == 0) return false;
  }
  return true;
}

void clock_init() {
  reg(kRccApb1enr1) |= 1u << 28;  // PWREN
  // Range 1 (1.2 V core) is the reset default and allows 80 MHz. Flash: 4 wait states at
  // 80 MHz in range 1, with prefetch and both caches, set *before* speeding up.
  reg(kFlashAcr) = 4u | (1u << 8) | (1u << 9) | (1u << 10);
  wait_until([] { return (reg(kFlashAcr) & 7u) == 4u; });

  // LSE lets the MSI lock to the 32.768 kHz crystal (±0.25% instead of ±1% or worse),
  // which the UART baud rate and the RNG clock benefit from. Best effort: without it we run
  // on the factory trim.
  reg(kPwrCr1) |= 1u << 8;  // DBP: backup domain write access for BDCR
  reg(kRccBdcr) |= 1u << 0;  // LSEON
  const bool lse = wait_until([] { return (reg(kRccBdcr) & (1u << 1)) != 0; });

  // MSI range 11 = 48 MHz (selected by CR because MSIRGSEL is set).
  reg(kRccCr) = (reg(kRccCr) & ~(0xFu << 4)) | (11u << 4) | kCrMsiRgSel;
  wait_until([] { return (reg(kRccCr) & kCrMsiRdy) != 0; });
  if (lse) reg(kRccCr) |= kCrMsiPllEn;

  // PLL: MSI 48 MHz / M 6 = 8 MHz, x N 20 = 160 MHz VCO, / R 2 = 80 MHz.
  reg(kRccPllcfgr) = 1u /*PLLSRC=MSI*/ | (5u << 4) /*M-1*/ | (20u << 8) /*N*/ | (1u << 24) /*PLLREN, R=2*/;
  reg(kRccCr) |= kCrPllOn;
  wait_until([] { return (reg(kRccCr) & kCrPllRdy) != 0; });
  reg(kRccCfgr) = (reg(kRccCfgr) & ~0x3FF3u) | 3u;  // AHB/APB1/APB2 /1, SW = PLL
  wait_until([] { return ((reg(kRccCfgr) >> 2) & 3u) == 3u; });

  // CLK48 (RNG) = MSI; USART2 kernel clock = PCLK1 (reset value 00).
  reg(kRccCcipr) = (reg(kRccCcipr) & ~((3u << 26) | (3u << 2))) | (3u << 26);
}

void uart_init() {
  reg(kRccAhb2enr) |= (1u << 0) | (1u << 2);  // GPIOA, GPIOC
  reg(kRccApb1enr1) |= 1u << 17;              // USART2
  const uint32_t settle = reg(kRccApb1enr1);  // read back: the clock is on before first use
  static_cast<void>(settle);
  // PA2, PA3: alternate function 7; pull-up on RX so an unplugged line reads idle.
  reg(kGpioA + kModer) = (reg(kGpioA + kModer) & ~(0xFu << 4)) | (0xAu << 4);
  reg(kGpioA + kAfrl) = (reg(kGpioA + kAfrl) & ~(0xFFu << 8)) | (0x77u << 8);
  reg(kGpioA + kPupdr) = (reg(kGpioA + kPupdr) & ~(3u << 6)) | (1u << 6);
  // PC13 (B1) input; the board has an external pull-up.
  reg(kGpioC + kModer) &= ~(3u << 26);

  reg(kUsartCr1) = 0;
  reg(kUsartBrr) = (kSysClkHz + 115200 / 2) / 115200;  // oversampling by 16: 694
  reg(kUsartCr1) = (1u << 5) /*RXNEIE*/ | (1u << 3) /*TE*/ | (1u << 2) /*RE*/ | (1u << 0) /*UE*/;
  mmio::nvic_enable(kUsart2Irq, 0x40);
}

void rng_restart() {
  reg(kRngCr) = 0;
  reg(kRngSr) = 0;  // clears SEIS/CEIS
  reg(kRngCr) = kRngEn;
  rng_primed = false;
}

// One 32-bit word that passed the peripheral's checks (seed error = entropy source failure,
// clock error = CLK48 too slow) and a repetition test (two equal consecutive words, as a
// stuck source would give, are a failure: FIPS 140-2 continuous test).
bool rng_word(uint32_t& out) {
  for (int attempt = 0; attempt < 3; ++attempt) {
    uint32_t sr = 0;
    const bool ready = wait_until([&] {
      sr = reg(kRngSr);
      return (sr & (kSrDrdy | kSrSecs | kSrCecs)) != 0;
    }, 100'000);
    if (!ready || (sr & kSrCecs) != 0) return false;
    if ((sr & kSrSecs) != 0 || (sr & kSrSeis) != 0) {
      rng_restart();  // RM0351: clear SEIS, restart the RNG, discard what was pending
      continue;
    }
    const uint32_t w = reg(kRngDr);
    if (!rng_primed) {  // the first word after (re)start only seeds the repetition test
      rng_last = w;
      rng_primed = true;
      continue;
    }
    if (w == rng_last) return false;
    rng_last = w;
    out = w;
    return true;
  }
  return false;
}

void watchdog_init() {
  // Freeze the watchdog while a debugger halts the core, or every breakpoint resets the board.
  reg(0xE0042008) |= 1u << 12;  // DBGMCU_APB1FZR1.DBG_IWDG_STOP
  reg(kIwdg + 0x00) = 0xCCCC;  // start (the LSI starts with it)
  reg(kIwdg + 0x00) = 0x5555;  // unlock PR/RLR
  reg(kIwdg + 0x04) = 6;       // prescaler /256: 125 Hz on the 32 kHz LSI
  reg(kIwdg + 0x08) = 0xFFF;   // 4095 ticks: ~32 s
  wait_until([] { return reg(kIwdg + 0x0C) == 0; });
  reg(kIwdg + 0x00) = 0xAAAA;
}

// ---- persistent areas in bank 2 (addresses repeated in memory.ld, which reserves them) ----
storage::Stm32l4Flash store_dev(0x080DC000, 64);  // 128 KB: the secure store's log
storage::Stm32l4Flash anchor_dev(0x080FC000, 4);  // 8 KB: rollback anchor, never touched by the store
storage::Stm32l4Flash secret_dev(0x080FE000, 1);  // 2 KB: the device secret

}  // namespace

void init() {
  clock_init();
  reg(mmio::kSysTickLoad) = kSysClkHz / 1000 - 1;
  reg(mmio::kSysTickVal) = 0;
  reg(mmio::kSysTickCtrl) = mmio::kSysTickEnable | mmio::kSysTickInt | mmio::kSysTickCpuClock;
  reg(mmio::kDemcr) |= 1u << 24;  // TRCENA: enables the DWT
  reg(mmio::kDwtCyccnt) = 0;
  reg(mmio::kDwtCtrl) |= 1u;      // CYCCNTENA
  uart_init();
  reg(kRccAhb2enr) |= 1u << 18;  // RNG
  rng_restart();
  watchdog_init();
  // A reset by the watchdog is remembered in RCC_CSR (IWDGRSTF); clear the flags so the
  // next reset cause is unambiguous.
  reg(kRccCsr) |= 1u << 23;  // RMVF
}

uint32_t millis() { return ms_ticks; }
uint64_t cycles() {
  for (;;) {
    const uint32_t high = cycles_high;
    const uint32_t last = cycles_last;
    const uint32_t low = reg(mmio::kDwtCyccnt);
    // Retry if SysTick ran in between; count a wrap it has not seen yet (it runs every 1 ms).
    if (high == cycles_high) return (uint64_t{high + (low < last ? 1u : 0u)} << 32) | low;
  }
}

bool uart_pop(uint8_t& byte) { return rx_ring.pop(byte); }
uint32_t uart_overruns() { return rx_ring.overruns(); }

void uart_write(std::span<const uint8_t> data) {
  for (uint8_t b : data) {
    while ((reg(kUsartIsr) & kIsrTxe) == 0) {
    }
    reg(kUsartTdr) = b;
  }
}

bool entropy(std::span<uint8_t> out) {
  for (size_t i = 0; i < out.size(); i += 4) {
    uint32_t w;
    if (!rng_word(w)) return false;
    const size_t n = out.size() - i < 4 ? out.size() - i : 4;
    std::memcpy(out.data() + i, &w, n);
  }
  return true;
}

bool physical_presence() { return (reg(kGpioC + kIdr) & (1u << 13)) == 0; }

void watchdog_kick() { reg(kIwdg + 0x00) = 0xAAAA; }
void watchdog_hold(uint32_t max_ms) { hold_until_ms = ms_ticks + (max_ms == 0 ? 1 : max_ms); }
void watchdog_release() { hold_until_ms = 0; }
void idle() { mmio::wait_for_interrupt(); }

storage::FlashDevice& store_flash() { return store_dev; }
storage::FlashDevice& anchor_flash() { return anchor_dev; }
bool device_secret(std::span<uint8_t, 32> out) { return load_or_create_device_secret(secret_dev, out); }

// The only UART is the TPM link, so there is nowhere to print.
void log(const char*) {}

void panic(const char*) {
  mmio::irq_disable();
  mmio::system_reset();
}

}  // namespace utpm::firmware::board

extern "C" {

// A double ECC error in flash raises NMI. The store reads possibly torn double-words on
// purpose (to find the end of its log), so the driver turns that NMI into an error result.
void NMI_Handler() {
  if (!utpm::storage::Stm32l4Flash::on_nmi()) utpm::firmware::board::panic("NMI");
}

void SysTick_Handler() {
  using namespace utpm::firmware::board;
  ms_ticks = ms_ticks + 1;
  const uint32_t now = utpm::firmware::mmio::reg(utpm::firmware::mmio::kDwtCyccnt);
  if (now < cycles_last) cycles_high = cycles_high + 1;
  cycles_last = now;
  const uint32_t until = hold_until_ms;
  if (until != 0 && static_cast<int32_t>(until - ms_ticks) > 0) watchdog_kick();
}

void USART2_IRQHandler() {
  using namespace utpm::firmware;
  const uint32_t isr = mmio::reg(board::kUsartIsr);
  if (isr & board::kIsrErrors) {
    // Overrun/framing/noise: clear so the interrupt does not fire forever. The lost byte
    // breaks the current frame; the link decoder resyncs or times it out.
    mmio::reg(board::kUsartIcr) = board::kIsrErrors;
  }
  if (isr & board::kIsrRxne) board::rx_ring.push(static_cast<uint8_t>(mmio::reg(board::kUsartRdr)));
}

}  // extern "C"
