// Part 3 chapter 10: Testing. Self tests are known-answer tests of the crypto the engine uses;
// they run at power on (so the TPM is usable at once) and again on request. A failure puts
// the TPM into failure mode.
#include <cstring>

#include "crypto/crypto.h"
#include "tpm/commands/commands.h"
#include "tpm/subsystem/subsystems.h"
#include "tpm/tpm.h"

namespace utpm::tpm {
namespace {

// FIPS 180-4 example: the digest of "abc".
struct HashKat {
  TPM_ALG_ID alg;
  uint8_t digest[48];
};
constexpr HashKat kHashKats[] = {
    {TPM_ALG_SHA1, {0xa9, 0x99, 0x3e, 0x36, 0x47, 0x06, 0x81, 0x6a, 0xba, 0x3e, 0x25, 0x71, 0x78, 0x50, 0xc2,
                    0x6c, 0x9c, 0xd0, 0xd8, 0x9d}},
    {TPM_ALG_SHA256, {0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40, 0xde, 0x5d, 0xae, 0x22, 0x23,
                      0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad}},
    {TPM_ALG_SHA384, {0xcb, 0x00, 0x75, 0x3f, 0x45, 0xa3, 0x5e, 0x8b, 0xb5, 0xa0, 0x3d, 0x69, 0x9a, 0xc6, 0x50, 0x07,
                      0x27, 0x2c, 0x32, 0xab, 0x0e, 0xde, 0xd1, 0x63, 0x1a, 0x8b, 0x60, 0x5a, 0x43, 0xff, 0x5b, 0xed,
                      0x80, 0x86, 0x07, 0x2b, 0xa1, 0xe7, 0xcc, 0x23, 0x58, 0xba, 0xec, 0xa1, 0x34, 0xc8, 0x25, 0xa7}},
};

bool test_alg(TPM_ALG_ID alg) {
  static constexpr uint8_t kAbc[] = {'a', 'b', 'c'};
  for (const auto& k : kHashKats) {
    if (k.alg != alg) continue;
    uint8_t out[crypto::kMaxDigestSize];
    size_t n = crypto::hash(to_crypto(alg), kAbc, out);
    return n == digest_size(alg) && std::memcmp(out, k.digest, n) == 0;
  }
  return true;  // nothing to test for this algorithm
}

}  // namespace

bool run_self_tests(State& st) {
  for (auto alg : kHashAlgs) {
    if (!test_alg(alg)) {
      enter_failure(st, FailureCause::self_test);
      return false;
    }
  }
  st.self_tested = true;
  return true;
}

TPM_RC TPM2_SelfTest(Command& c) {
  TPMI_YES_NO_CHECKED full_test;
  if (TPM_RC rc = c.parse(full_test)) return rc;
  return run_self_tests(c.st) ? TPM_RC_SUCCESS : TPM_RC_FAILURE;
}

TPM_RC TPM2_IncrementalSelfTest(Command& c) {
  TPML_ALG to_test;
  if (TPM_RC rc = c.parse(to_test)) return rc;
  for (uint32_t i = 0; i < to_test.count; ++i) {
    if (!test_alg(to_test.items[i])) {
      enter_failure(c.st, FailureCause::self_test);
      return TPM_RC_FAILURE;
    }
  }
  c.put(TPML_ALG{});  // toDoList: everything requested has been tested
  return TPM_RC_SUCCESS;
}

TPM_RC TPM2_GetTestResult(Command& c) {
  if (TPM_RC rc = c.parse()) return rc;
  // outData: in failure mode, the cause code (vendor-specific diagnostic); else empty.
  TPM2B_MAX_BUFFER out;
  TPM_RC result = TPM_RC_SUCCESS;
  if (c.st.failure.active) {
    out.size = 1;
    out.buffer[0] = static_cast<uint8_t>(c.st.failure.cause);
    result = TPM_RC_FAILURE;
  } else if (!c.st.self_tested) {
    result = TPM_RC_NEEDS_TEST;
  }
  c.put(out);
  c.put(result);
  return TPM_RC_SUCCESS;
}

}  // namespace utpm::tpm
