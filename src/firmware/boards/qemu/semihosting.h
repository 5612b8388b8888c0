// ARM semihosting (Arm "Semihosting for AArch32 and AArch64", operation numbers are from that
// specification). QEMU implements it when started with
// `-semihosting-config enable=on,target=native`; on real hardware without a debugger the
// BKPT would fault, which is why only the QEMU board uses it.
#pragma once

#include <cstddef>
#include <cstdint>

namespace utpm::firmware::semihosting {

enum Op : uint32_t {
  kOpen = 0x01,
  kClose = 0x02,
  kWrite0 = 0x04,
  kWrite = 0x05,
  kRead = 0x06,
  kSeek = 0x0A,
  kFlen = 0x0C,
  kGetCmdline = 0x15,
  kExit = 0x18,
};

// fopen-style modes as numbered by the specification.
enum Mode : uint32_t { kReadBinary = 1, kReadWriteBinary = 3, kCreateReadWriteBinary = 7 };

inline int32_t call(uint32_t op, const void* arg) {
  register uint32_t r0 __asm("r0") = op;
  register const void* r1 __asm("r1") = arg;
  __asm volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
  return static_cast<int32_t>(r0);
}

// Returns a handle, or -1.
int32_t open(const char* path, Mode mode);
// Reads/writes exactly len bytes at the current position; false on a short transfer.
bool read(int32_t fd, void* buf, size_t len);
bool write(int32_t fd, const void* buf, size_t len);
bool seek(int32_t fd, size_t pos);
int32_t length(int32_t fd);
void write0(const char* text);
// Fills buf (NUL-terminated) with the command line QEMU was given (-semihosting-config arg=).
bool command_line(char* buf, size_t len);
[[noreturn]] void exit_failure();

}  // namespace utpm::firmware::semihosting
