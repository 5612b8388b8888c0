#include "tpm/testing/fake_platform.h"

#include <gtest/gtest.h>

#include <cstring>

namespace utpm::tpm::testing {

bool FakePlatform::get_entropy(std::span<uint8_t> out) {
  if (!entropy_ok) return false;
  // Deterministic but distinct bytes: enough for tests, never for a real TPM.
  for (auto& b : out) b = uint8_t(++entropy_counter * 131u + 7u);
  return true;
}

Response run(Tpm& tpm, const std::vector<uint8_t>& cmd, uint8_t locality) {
  std::vector<uint8_t> rsp(4096);
  size_t n = tpm.execute(locality, cmd, rsp);
  Response r;
  EXPECT_GE(n, 10u);
  if (n < 10) return r;
  r.tag = uint16_t(rsp[0] << 8 | rsp[1]);
  r.size = uint32_t(rsp[2]) << 24 | uint32_t(rsp[3]) << 16 | uint32_t(rsp[4]) << 8 | rsp[5];
  r.rc = uint32_t(rsp[6]) << 24 | uint32_t(rsp[7]) << 16 | uint32_t(rsp[8]) << 8 | rsp[9];
  EXPECT_EQ(r.size, n) << "response size field must match the bytes produced";
  r.body.assign(rsp.begin() + 10, rsp.begin() + long(n));
  return r;
}

void start(Tpm& tpm) {
  tpm.power_on();
  Response r = run(tpm, CommandBuilder(0x8001, 0x144).u16(0).bytes());
  ASSERT_EQ(r.rc, 0u);
}

}  // namespace utpm::tpm::testing
