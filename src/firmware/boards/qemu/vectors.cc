// Vector table of the STM32F405 as modelled by QEMU (82 peripheral interrupts).
#include "runtime/vector_table.h"

extern "C" void USART1_IRQHandler();

namespace {
constexpr utpm::firmware::runtime::IrqBinding kIrqs[] = {{37, USART1_IRQHandler}};
}

__attribute__((section(".isr_vector"), used)) constexpr auto kVectorTable =
    utpm::firmware::runtime::make_vector_table<82>(kIrqs);
