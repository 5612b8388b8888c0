// Vector table of the STM32L476 (82 peripheral interrupts, RM0351 table 58).
#include "runtime/vector_table.h"

extern "C" void USART2_IRQHandler();
extern "C" void NMI_Handler();

namespace {
constexpr utpm::firmware::runtime::IrqBinding kIrqs[] = {{-14, NMI_Handler}, {38, USART2_IRQHandler}};
}

__attribute__((section(".isr_vector"), used)) constexpr auto kVectorTable =
    utpm::firmware::runtime::make_vector_table<82>(kIrqs);
