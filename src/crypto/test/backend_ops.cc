// Compiled once per backend (UTPM_CRYPTO_NS decides which); see backend_ops.h.
#include "backend_ops.h"

namespace utpm::crypto {
inline namespace UTPM_CRYPTO_NS {

test::BackendOps test_backend_ops() {
  return test::BackendOps{
      &backend_name, &hash,         &hmac,          &kdfa,          &kdfe,
      &mgf1,         &sym_encrypt,  &sym_decrypt,   &aead_seal,     &aead_open,
      &drbg_instantiate, &drbg_generate, &drbg_source, &rsa_generate, &rsa_encrypt,
      &rsa_decrypt,  &rsa_sign,     &rsa_verify,    &ecc_generate,  &ecc_point_mul,
      &ecc_point_add, &ecdh_z,      &ecdsa_sign,    &ecdsa_verify,
      &ecc_scalar_muladd, &ecc_field_reduce, &kdf2,
  };
}

}  // namespace UTPM_CRYPTO_NS
}  // namespace utpm::crypto
