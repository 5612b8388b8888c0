// Names for traces and tools: command names come from the command table, response-code names
// from the one RC list in constants.h. No printf: this also runs on the MCU.
#include <cstring>

#include "tpm/tpm.h"
#include "tpm/types/constants.h"

namespace utpm::tpm {
namespace {

struct RcName {
  TPM_RC rc;
  const char* name;
};
#define UTPM_RC_NAME(name, value) {value, #name},
constexpr RcName kRcNames[] = {UTPM_RC_LIST(UTPM_RC_NAME)};
#undef UTPM_RC_NAME

const char* find_rc(TPM_RC rc) {
  for (const auto& n : kRcNames)
    if (n.rc == rc) return n.name;
  return nullptr;
}

struct Out {
  std::span<char> buf;
  size_t len = 0;
  void str(const char* s) {
    while (*s && len + 1 < buf.size()) buf[len++] = *s++;
    buf[len] = 0;
  }
  void hex(uint32_t v, int digits) {
    char tmp[2] = {0, 0};
    str("0x");
    for (int i = digits - 1; i >= 0; --i) {
      tmp[0] = "0123456789abcdef"[(v >> (4 * i)) & 0xF];
      str(tmp);
    }
  }
  void num(uint32_t v) {
    char tmp[2] = {static_cast<char>('0' + v % 10), 0};
    if (v >= 10) num(v / 10);
    str(tmp);
  }
};

}  // namespace

const char* rc_to_string(uint32_t rc, std::span<char> out) {
  if (out.empty()) return out.data();
  Out o{out};
  o.buf[0] = 0;
  if (rc_is_fmt1(rc)) {
    const char* base = find_rc(rc & 0xBF);
    if (!base) {
      o.hex(rc, 3);
      return out.data();
    }
    o.str(base);
    uint32_t n = (rc >> TPM_RC_N_SHIFT) & 0xF;
    if (rc & TPM_RC_P) {
      o.str("+P");
      o.num(n);
    } else if (n & 8) {
      o.str("+S");
      o.num(n & 7);
    } else if (n) {
      o.str("+H");
      o.num(n);
    }
    return out.data();
  }
  if (const char* name = find_rc(rc)) {
    o.str(name);
  } else if (rc >= TPM_RC_REFERENCE_H0 && rc < TPM_RC_REFERENCE_H0 + 7) {
    o.str("TPM_RC_REFERENCE_H");
    o.num(rc - TPM_RC_REFERENCE_H0);
  } else if (rc >= TPM_RC_REFERENCE_S0 && rc < TPM_RC_REFERENCE_S0 + 7) {
    o.str("TPM_RC_REFERENCE_S");
    o.num(rc - TPM_RC_REFERENCE_S0);
  } else {
    o.hex(rc, 8);
  }
  return out.data();
}

}  // namespace utpm::tpm
