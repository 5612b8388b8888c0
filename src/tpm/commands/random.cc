// Part 3 chapter 16: Random number generator.
#include <algorithm>

#include "crypto/crypto.h"
#include "crypto/drbg.h"
#include "tpm/commands/commands.h"
#include "tpm/subsystem/subsystems.h"
#include "tpm/tpm.h"

namespace utpm::tpm {

TPM_RC TPM2_GetRandom(Command& c) {
  uint16_t bytes_requested = 0;
  if (TPM_RC rc = c.parse(bytes_requested)) return rc;
  // The TPM returns at most the size of its largest digest (Part 3 §16.1).
  TPM2B_DIGEST out;
  out.size = std::min<uint16_t>(bytes_requested, static_cast<uint16_t>(profile::kMaxDigestSize));
  if (!tpm_random(c.tpm, {out.buffer, out.size})) return TPM_RC_FAILURE;
  c.put(out);
  return TPM_RC_SUCCESS;
}

TPM_RC TPM2_StirRandom(Command& c) {
  TPM2B_SENSITIVE_DATA in_data;
  if (TPM_RC rc = c.parse(in_data)) return rc;
  // CTR_DRBG additional input is at most seedlen (48 B); condense longer input with SHA-384
  // so every byte of it influences the state.
  uint8_t additional[crypto::kDrbgSeedSize];
  size_t n = in_data.size;
  if (n <= sizeof additional) {
    std::copy_n(in_data.buffer, n, additional);
  } else {
    n = crypto::hash(crypto::HashAlg::sha384, in_data.view(), additional);
  }
  uint8_t seed[crypto::kDrbgSeedSize];
  bool ok = c.platform.get_entropy(seed) &&
            crypto::drbg_reseed(c.st.drbg, seed, {additional, n}) == crypto::Status::ok;
  crypto::zeroize(seed);
  crypto::zeroize(additional);
  crypto::zeroize(in_data);
  if (!ok) {
    enter_failure(c.st, FailureCause::entropy);
    return TPM_RC_FAILURE;
  }
  return TPM_RC_SUCCESS;
}

}  // namespace utpm::tpm
