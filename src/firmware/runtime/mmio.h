// Register access for the Cortex-M4 core and the STM32 peripherals, without a vendor HAL.
// Addresses come from the Arm v7-M Architecture Reference Manual and ST's reference manuals
// (RM0351 for the L476, RM0090 for the F405 that QEMU models).
#pragma once

#include <cstdint>

namespace utpm::firmware::mmio {

inline volatile uint32_t& reg(uintptr_t addr) { return *reinterpret_cast<volatile uint32_t*>(addr); }

// ---- System Control Space (ARMv7-M) ----
inline constexpr uintptr_t kSysTickCtrl = 0xE000E010;
inline constexpr uintptr_t kSysTickLoad = 0xE000E014;
inline constexpr uintptr_t kSysTickVal = 0xE000E018;
inline constexpr uint32_t kSysTickEnable = 1u << 0;
inline constexpr uint32_t kSysTickInt = 1u << 1;
inline constexpr uint32_t kSysTickCpuClock = 1u << 2;

inline constexpr uintptr_t kNvicIser = 0xE000E100;
inline constexpr uintptr_t kNvicIpr = 0xE000E400;
inline constexpr uintptr_t kScbVtor = 0xE000ED08;
inline constexpr uintptr_t kScbAircr = 0xE000ED0C;
inline constexpr uintptr_t kScbShcsr = 0xE000ED24;
inline constexpr uintptr_t kScbCfsr = 0xE000ED28;
inline constexpr uintptr_t kScbCpacr = 0xE000ED88;
inline constexpr uintptr_t kDemcr = 0xE000EDFC;
inline constexpr uintptr_t kDwtCtrl = 0xE0001000;
inline constexpr uintptr_t kDwtCyccnt = 0xE0001004;

inline void nvic_enable(unsigned irq, uint8_t priority) {
  *reinterpret_cast<volatile uint8_t*>(kNvicIpr + irq) = priority;
  reg(kNvicIser + 4 * (irq / 32)) = 1u << (irq % 32);
}

inline void irq_disable() { __asm volatile("cpsid i" ::: "memory"); }
inline void irq_enable() { __asm volatile("cpsie i" ::: "memory"); }
inline void wait_for_interrupt() { __asm volatile("wfi" ::: "memory"); }
inline void dsb() { __asm volatile("dsb" ::: "memory"); }

[[noreturn]] inline void system_reset() {
  dsb();
  reg(kScbAircr) = (0x05FAu << 16) | (1u << 2);  // VECTKEY | SYSRESETREQ
  dsb();
  for (;;) {
  }
}

}  // namespace utpm::firmware::mmio
