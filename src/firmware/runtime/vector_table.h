// Builds a Cortex-M vector table at compile time: the 16 architectural entries plus the
// board's peripheral interrupts, every slot defaulting to Default_Handler. Each board's
// vectors.cc instantiates one in section .isr_vector (placed at 0x08000000 by the linker).
#pragma once

#include <array>
#include <cstddef>

#include "runtime/startup.h"

extern "C" uint32_t __stack_top[];

namespace utpm::firmware::runtime {

using Handler = void (*)();

struct IrqBinding {
  int irq;  // IRQ number as CMSIS numbers them: vector index = 16 + irq (NMI = -14)
  Handler handler;
};

template <size_t kIrqs>
struct VectorTable {
  const void* initial_sp;
  std::array<Handler, 15 + kIrqs> entries;  // vector 1 (reset) onwards
};

template <size_t kIrqs, size_t kBound>
constexpr VectorTable<kIrqs> make_vector_table(const IrqBinding (&bound)[kBound]) {
  VectorTable<kIrqs> t{__stack_top, {}};
  for (auto& e : t.entries) e = Default_Handler;
  t.entries[0] = Reset_Handler;
  t.entries[2] = HardFault_Handler;  // vector 3
  // MemManage/BusFault/UsageFault stay disabled in SHCSR, so they escalate to HardFault.
  t.entries[14] = SysTick_Handler;   // vector 15
  for (const auto& b : bound) t.entries[15 + b.irq] = b.handler;
  return t;
}

}  // namespace utpm::firmware::runtime
