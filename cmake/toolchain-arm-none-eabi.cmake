# Cross toolchain for the Cortex-M4F firmware (Debian gcc-arm-none-eabi + newlib-nano).
#
# Every target of a firmware build (engine, crypto incl. mbedTLS, storage, link, firmware) gets
# these flags, so the portable libraries are compiled exactly as they will run on the MCU.
# Used by the fw-qemu and fw-nucleo presets; the board is chosen with UTPM_BOARD.

set(CMAKE_SYSTEM_NAME Generic)
set(CMAKE_SYSTEM_PROCESSOR arm)

find_program(UTPM_ARM_GCC arm-none-eabi-gcc)
if(NOT UTPM_ARM_GCC)
  message(FATAL_ERROR "arm-none-eabi-gcc not found: install gcc-arm-none-eabi (scripts/setup does)")
endif()
set(CMAKE_C_COMPILER arm-none-eabi-gcc)
set(CMAKE_CXX_COMPILER arm-none-eabi-g++)
set(CMAKE_ASM_COMPILER arm-none-eabi-gcc)
set(CMAKE_OBJCOPY arm-none-eabi-objcopy CACHE FILEPATH "objcopy")
set(CMAKE_SIZE arm-none-eabi-size CACHE FILEPATH "size")

# The compiler cannot link a hosted test program without our startup code and linker script.
set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY)

# STM32L476RG: Cortex-M4 with single-precision FPU. Hard-float ABI matches the
# thumb/v7e-m+fp/hard newlib multilib that Debian ships.
set(UTPM_MCU_FLAGS "-mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16")
# Sections per function/object so --gc-sections drops what is unused (flash budget), and
# -fstack-usage so scripts/memreport can bound the worst-case stack statically.
set(UTPM_FW_COMMON "${UTPM_MCU_FLAGS} -ffunction-sections -fdata-sections -fno-common -g -fstack-usage -fcallgraph-info=su")
# The firmware's I/O buffers are smaller than the host's 4096: the reference sample and the
# tools work with 2048, and every byte counts against the 48 KB RAM budget.
set(UTPM_FW_DEFS "-DUTPM_FIRMWARE=1 -DUTPM_MAX_COMMAND_SIZE=2048")

# No compiler launcher (ccache) for the firmware, even when the environment asks for one: a
# ccache hit restores the object and the .su file but not the -fcallgraph-info .ci file, and
# memreport's stack bound then silently covers less than the image (the gate reads "stack 0").
set(CMAKE_C_COMPILER_LAUNCHER "")
set(CMAKE_CXX_COMPILER_LAUNCHER "")

set(CMAKE_C_FLAGS_INIT "${UTPM_FW_COMMON} ${UTPM_FW_DEFS}")
set(CMAKE_CXX_FLAGS_INIT
    "${UTPM_FW_COMMON} ${UTPM_FW_DEFS} -fno-exceptions -fno-rtti -fno-threadsafe-statics -fno-use-cxa-atexit")
set(CMAKE_ASM_FLAGS_INIT "${UTPM_MCU_FLAGS}")
# newlib-nano; no nosys.specs: the syscalls we need are ours, and a missing _sbrk makes any
# use of malloc a link error (the firmware has no heap by design).
set(CMAKE_EXE_LINKER_FLAGS_INIT "${UTPM_MCU_FLAGS} --specs=nano.specs -nostartfiles -Wl,--gc-sections")

# -Os everywhere for the firmware, whatever the build type says.
foreach(lang C CXX)
  set(CMAKE_${lang}_FLAGS_RELEASE_INIT "-Os")
  set(CMAKE_${lang}_FLAGS_MINSIZEREL_INIT "-Os")
  set(CMAKE_${lang}_FLAGS_RELWITHDEBINFO_INIT "-Os")
  set(CMAKE_${lang}_FLAGS_DEBUG_INIT "-Os")
endforeach()

set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
