#include "host/tcti/tcti_config.h"

#include <termios.h>

#include <cstring>

namespace utpm::tcti {
namespace {

bool set_device(Config& out, const char* value, size_t len, const char** error) {
  if (len == 0) {
    *error = "empty device path";
    return false;
  }
  if (len >= sizeof(out.device)) {
    *error = "device path too long";
    return false;
  }
  std::memcpy(out.device, value, len);
  out.device[len] = '\0';
  return true;
}

bool equals(const char* s, size_t len, const char* word) {
  return std::strlen(word) == len && std::memcmp(s, word, len) == 0;
}

}  // namespace

unsigned baud_to_speed(uint32_t baud) {
  struct Rate {
    uint32_t baud;
    speed_t speed;
  };
  static constexpr Rate kRates[] = {
      {9600, B9600},       {19200, B19200},     {38400, B38400},     {57600, B57600},
      {115200, B115200},   {230400, B230400},   {460800, B460800},   {500000, B500000},
      {921600, B921600},   {1000000, B1000000}, {2000000, B2000000}, {3000000, B3000000},
      {4000000, B4000000},
  };
  for (const auto& r : kRates) {
    if (r.baud == baud) return r.speed;
  }
  return 0;
}

bool parse_config(const char* conf, Config& out, const char** error) {
  out = Config{};
  *error = nullptr;
  if (conf == nullptr || conf[0] == '\0') {
    std::memcpy(out.device, kDefaultDevice, sizeof(kDefaultDevice));
    return true;
  }
  if (std::strchr(conf, '=') == nullptr) {
    return set_device(out, conf, std::strlen(conf), error);
  }
  std::memcpy(out.device, kDefaultDevice, sizeof(kDefaultDevice));
  const char* p = conf;
  while (*p != '\0') {
    const char* end = std::strchr(p, ',');
    const size_t len = end ? static_cast<size_t>(end - p) : std::strlen(p);
    const char* eq = static_cast<const char*>(std::memchr(p, '=', len));
    if (eq == nullptr) {
      *error = "expected key=value";
      return false;
    }
    const size_t key_len = static_cast<size_t>(eq - p);
    const char* value = eq + 1;
    const size_t value_len = len - key_len - 1;
    if (equals(p, key_len, "device")) {
      if (!set_device(out, value, value_len, error)) return false;
    } else if (equals(p, key_len, "baud")) {
      uint32_t baud = 0;
      if (value_len == 0 || value_len > 8) {
        *error = "bad baud rate";
        return false;
      }
      for (size_t i = 0; i < value_len; ++i) {
        if (value[i] < '0' || value[i] > '9') {
          *error = "bad baud rate";
          return false;
        }
        baud = baud * 10 + static_cast<uint32_t>(value[i] - '0');
      }
      if (baud_to_speed(baud) == 0) {
        *error = "unsupported baud rate";
        return false;
      }
      out.baud = baud;
    } else if (equals(p, key_len, "framing")) {
      if (equals(value, value_len, "mssim")) {
        out.framing = link::Framing::kMssim;
      } else if (equals(value, value_len, "raw")) {
        out.framing = link::Framing::kRaw;
      } else {
        *error = "framing must be mssim or raw";
        return false;
      }
    } else {
      *error = "unknown key (device, baud, framing)";
      return false;
    }
    if (end != nullptr && end[1] == '\0') {
      *error = "empty option after ','";
      return false;
    }
    p = end ? end + 1 : p + len;
  }
  return true;
}

}  // namespace utpm::tcti
