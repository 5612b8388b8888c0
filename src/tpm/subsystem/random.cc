// The TPM's RNG: the crypto layer's CTR_DRBG, seeded from platform entropy at power on and
// reseeded whenever the DRBG asks for it.
#include <cstring>

#include "crypto/drbg.h"
#include "tpm/subsystem/subsystems.h"
#include "tpm/tpm.h"

namespace utpm::tpm {
namespace {
// Personalization string: separates this DRBG instance's outputs from any other use of the
// same entropy (SP 800-90A §8.7.1).
constexpr uint8_t kPersonalization[] = {'u', 't', 'p', 'm', ' ', 'r', 'n', 'g'};

bool platform_entropy(Tpm& tpm, uint8_t (&seed)[crypto::kDrbgSeedSize]) {
  if (tpm.platform().get_entropy(seed)) return true;
  enter_failure(tpm.state(), FailureCause::entropy);
  return false;
}
}  // namespace

bool drbg_seed_from_platform(Tpm& tpm) {
  uint8_t seed[crypto::kDrbgSeedSize];
  if (!platform_entropy(tpm, seed)) return false;
  bool ok = crypto::drbg_instantiate(tpm.state().drbg, seed, kPersonalization) == crypto::Status::ok;
  crypto::zeroize(seed);
  if (!ok) enter_failure(tpm.state(), FailureCause::internal);
  return ok;
}

crypto::RandomSource tpm_random_source(Tpm& tpm) {
  return {[](void* ctx, crypto::MutBytes out) {
            return tpm_random(*static_cast<Tpm*>(ctx), out) ? crypto::Status::ok : crypto::Status::failure;
          },
          &tpm};
}

bool tpm_random(Tpm& tpm, std::span<uint8_t> out) {
  State& st = tpm.state();
  while (!out.empty()) {
    std::span<uint8_t> chunk = out.first(std::min(out.size(), crypto::kDrbgMaxRequest));
    crypto::Status s = crypto::drbg_generate(st.drbg, chunk);
    if (s == crypto::Status::failure) {  // reseed required
      uint8_t seed[crypto::kDrbgSeedSize];
      if (!platform_entropy(tpm, seed)) return false;
      s = crypto::drbg_reseed(st.drbg, seed, {});
      crypto::zeroize(seed);
      if (s == crypto::Status::ok) s = crypto::drbg_generate(st.drbg, chunk);
    }
    if (s != crypto::Status::ok) {
      enter_failure(st, FailureCause::internal);
      return false;
    }
    out = out.subspan(chunk.size());
  }
  return true;
}

}  // namespace utpm::tpm
