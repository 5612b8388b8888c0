#include "boards/qemu/semihosting.h"

namespace utpm::firmware::semihosting {

namespace {
size_t cstrlen(const char* s) {
  size_t n = 0;
  while (s[n] != '\0') ++n;
  return n;
}
}  // namespace

int32_t open(const char* path, Mode mode) {
  const uint32_t args[3] = {reinterpret_cast<uint32_t>(path), mode, cstrlen(path)};
  return call(kOpen, args);
}

// SYS_READ/SYS_WRITE return the number of bytes NOT transferred.
bool read(int32_t fd, void* buf, size_t len) {
  const uint32_t args[3] = {static_cast<uint32_t>(fd), reinterpret_cast<uint32_t>(buf), len};
  return call(kRead, args) == 0;
}

bool write(int32_t fd, const void* buf, size_t len) {
  const uint32_t args[3] = {static_cast<uint32_t>(fd), reinterpret_cast<uint32_t>(buf), len};
  return call(kWrite, args) == 0;
}

bool seek(int32_t fd, size_t pos) {
  const uint32_t args[2] = {static_cast<uint32_t>(fd), pos};
  return call(kSeek, args) == 0;
}

int32_t length(int32_t fd) {
  const uint32_t args[1] = {static_cast<uint32_t>(fd)};
  return call(kFlen, args);
}

void write0(const char* text) { call(kWrite0, text); }

bool command_line(char* buf, size_t len) {
  uint32_t args[2] = {reinterpret_cast<uint32_t>(buf), len};
  if (call(kGetCmdline, args) != 0) return false;
  buf[len - 1] = '\0';
  return true;
}

void exit_failure() {
  // ADP_Stopped_RunTimeErrorUnknown: QEMU exits with a non-zero status, so a test sees it.
  constexpr uint32_t kRunTimeError = 0x20023;
  for (;;) call(kExit, reinterpret_cast<const void*>(kRunTimeError));
}

}  // namespace utpm::firmware::semihosting
