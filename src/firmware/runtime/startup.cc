// Reset handler and the pieces of the C/C++ runtime that crt0 would normally provide. We use
// -nostartfiles so that nothing runs before us and nothing we did not ask for is linked in.
#include "runtime/startup.h"

#include "board.h"
#include "runtime/mmio.h"

// Linker script symbols (boards/common-sections.ld).
extern "C" {
extern uint32_t __data_load[];
extern uint32_t __data_start[];
extern uint32_t __data_end[];
extern uint32_t __bss_start[];
extern uint32_t __bss_end[];
extern uint32_t __stack_bottom[];
extern uint32_t __stack_top[];
using InitFn = void (*)();
extern InitFn __preinit_array_start[];
extern InitFn __preinit_array_end[];
extern InitFn __init_array_start[];
extern InitFn __init_array_end[];
int main();
}

namespace utpm::firmware::runtime {

size_t stack_reserve() {
  return static_cast<size_t>(reinterpret_cast<uintptr_t>(__stack_top) -
                             reinterpret_cast<uintptr_t>(__stack_bottom));
}

size_t stack_high_water() {
  const uint32_t* p = __stack_bottom;
  while (p < __stack_top && *p == kStackPaint) ++p;
  return static_cast<size_t>(reinterpret_cast<uintptr_t>(__stack_top) - reinterpret_cast<uintptr_t>(p));
}

}  // namespace utpm::firmware::runtime

extern "C" {

// Plain loops on purpose: before .data/.bss exist nothing from the C library may run.
[[noreturn]] __attribute__((used)) void Reset_Handler() {
  // Enable the FPU (CP10/CP11 full access) before any code that may use float registers.
  utpm::firmware::mmio::reg(utpm::firmware::mmio::kScbCpacr) |= 0xFu << 20;
  __asm volatile("dsb\n isb" ::: "memory");

  for (uint32_t *src = __data_load, *dst = __data_start; dst < __data_end;) *dst++ = *src++;
  for (uint32_t* dst = __bss_start; dst < __bss_end;) *dst++ = 0;

  // Paint the stack below our own frame so stack_high_water() can measure real use. The
  // margin keeps this function's live frame intact.
  uint32_t* sp;
  __asm volatile("mov %0, sp" : "=r"(sp));
  for (volatile uint32_t* p = __stack_bottom; p < sp - 16;) *p++ = utpm::firmware::runtime::kStackPaint;

  for (InitFn* f = __preinit_array_start; f < __preinit_array_end; ++f) (*f)();
  for (InitFn* f = __init_array_start; f < __init_array_end; ++f) (*f)();

  main();
  utpm::firmware::board::panic("main returned");
}

void Default_Handler() { utpm::firmware::board::panic("unexpected interrupt"); }

void HardFault_Handler() {
  // A stack overflow lands here too: the stack sits at the bottom of its RAM block, so running
  // off it faults on unmapped memory instead of silently corrupting .bss.
  utpm::firmware::board::panic("hard fault");
}

}  // extern "C"
