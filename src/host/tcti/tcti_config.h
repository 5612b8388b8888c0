// Parsing of the utpm TCTI configuration string (the part after "utpm:" in -T utpm:...).
//
//   NULL or ""                               /dev/ttyACM0, 115200 baud, mssim framing
//   /dev/ttyACM0                             a bare device path
//   device=/dev/ttyACM0,baud=115200,framing=mssim|raw
#pragma once

#include <cstddef>
#include <cstdint>

#include "link/framing.h"

namespace utpm::tcti {

inline constexpr char kDefaultDevice[] = "/dev/ttyACM0";
inline constexpr uint32_t kDefaultBaud = 115200;

struct Config {
  char device[256] = {};
  uint32_t baud = kDefaultBaud;
  // mssim by default: it is the framing that carries locality and cancel. raw is for devices
  // that only understand the bare TPM stream.
  link::Framing framing = link::Framing::kMssim;
};

// Returns false (and leaves a reason in `error`) for unknown keys, bad values, a path too long.
bool parse_config(const char* conf, Config& out, const char** error);

// The termios speed constant for a baud rate, or 0 if the rate is not supported.
unsigned baud_to_speed(uint32_t baud);

}  // namespace utpm::tcti
