// The C/C++ runtime start: what the reset handler does before main, and the painted stack
// that lets the firmware report its real stack high-water mark.
#pragma once

#include <cstddef>
#include <cstdint>

namespace utpm::firmware::runtime {

// Pattern written over the unused stack at boot; a word that still holds it was never used.
inline constexpr uint32_t kStackPaint = 0xC0DEFACE;

// Bytes reserved for the main stack (linker script: __stack_bottom..__stack_top).
size_t stack_reserve();
// Deepest stack use since boot, in bytes, found by scanning for the first overwritten word.
size_t stack_high_water();

}  // namespace utpm::firmware::runtime

extern "C" {
[[noreturn]] void Reset_Handler();
void Default_Handler();
void HardFault_Handler();
void SysTick_Handler();
}
