// Test-only: one backend's API as a table of function pointers, so a single test binary can
// hold both backends side by side (each table is built in a translation unit compiled for
// that backend's namespace; see backend_ops.cc and the CMake rules).
#pragma once

#include "crypto/crypto.h"
#include "crypto/drbg.h"
#include "crypto/ecc.h"
#include "crypto/kdf.h"
#include "crypto/rsa.h"
#include "crypto/sym.h"

namespace utpm::crypto::test {

struct BackendOps {
  const char* (*name)();
  size_t (*hash)(HashAlg, Bytes, MutBytes);
  size_t (*hmac)(HashAlg, Bytes, Bytes, MutBytes);
  Status (*kdfa)(HashAlg, Bytes, Bytes, Bytes, Bytes, uint32_t, MutBytes);
  Status (*kdfe)(HashAlg, Bytes, Bytes, Bytes, Bytes, uint32_t, MutBytes);
  Status (*mgf1)(HashAlg, Bytes, MutBytes);
  Status (*sym_encrypt)(SymMode, Bytes, MutBytes, Bytes, MutBytes);
  Status (*sym_decrypt)(SymMode, Bytes, MutBytes, Bytes, MutBytes);
  Status (*aead_seal)(Bytes, Bytes, Bytes, Bytes, MutBytes, MutBytes);
  Status (*aead_open)(Bytes, Bytes, Bytes, Bytes, Bytes, MutBytes);
  Status (*drbg_instantiate)(DrbgState&, Bytes, Bytes);
  Status (*drbg_generate)(DrbgState&, MutBytes, Bytes);
  RandomSource (*drbg_source)(DrbgState&);
  Status (*rsa_generate)(uint16_t, uint32_t, RandomSource, RsaPrivateKey&);
  Status (*rsa_encrypt)(RsaScheme, HashAlg, Bytes, const RsaPublicKey&, Bytes, RandomSource,
                        MutBytes);
  Status (*rsa_decrypt)(RsaScheme, HashAlg, Bytes, const RsaPrivateKey&, Bytes, RandomSource,
                        MutBytes, size_t*);
  Status (*rsa_sign)(RsaScheme, HashAlg, const RsaPrivateKey&, Bytes, RandomSource, MutBytes);
  Status (*rsa_verify)(RsaScheme, HashAlg, const RsaPublicKey&, Bytes, Bytes);
  Status (*ecc_generate)(EccCurve, RandomSource, EccScalar&, EccPoint&);
  Status (*ecc_point_mul)(EccCurve, const EccScalar&, const EccPoint*, EccPoint&);
  Status (*ecc_point_add)(EccCurve, const EccPoint&, const EccPoint&, EccPoint&);
  Status (*ecdh_z)(EccCurve, const EccScalar&, const EccPoint&, EccPoint&);
  Status (*ecdsa_sign)(EccCurve, const EccScalar&, Bytes, RandomSource, MutBytes, MutBytes);
  Status (*ecdsa_verify)(EccCurve, const EccPoint&, Bytes, Bytes, Bytes);
  Status (*ecc_scalar_muladd)(EccCurve, Bytes, Bytes, Bytes, EccScalar&);
  Status (*ecc_field_reduce)(EccCurve, Bytes, MutBytes);
  Status (*kdf2)(HashAlg, Bytes, MutBytes);
};

}  // namespace utpm::crypto::test

// Defined once per backend, in that backend's namespace.
namespace utpm::crypto::openssl_backend {
test::BackendOps test_backend_ops();
}
namespace utpm::crypto::mbedtls_backend {
test::BackendOps test_backend_ops();
}
