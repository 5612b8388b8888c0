// Cortex-M4 footprint probe: a bare program that references every crypto entry point the
// engine uses, so that `arm-none-eabi-size` of the linked image (minus the empty baseline,
// m4_footprint_baseline) is the flash our crypto layer + mbedTLS cost in the firmware.
// Inputs are volatile so nothing is constant-folded away. Not meant to run.
#include "crypto/backend.h"
#include "crypto/crypto.h"
#include "crypto/drbg.h"
#include "crypto/ecc.h"
#include "crypto/kdf.h"
#include "crypto/rsa.h"
#include "crypto/sym.h"

using namespace utpm::crypto;

namespace {
alignas(8) uint8_t g_pool[16 * 1024];  // the mbedTLS static buffer pool
volatile uint8_t g_sink;
volatile uint8_t g_in[64];
}  // namespace

int main() {
  backend_init(MutBytes(g_pool, sizeof g_pool));
  uint8_t buf[64];
  for (size_t i = 0; i < sizeof buf; ++i) buf[i] = g_in[i];
  uint8_t out[64];
  HashState hs;
  hash_start(hs, static_cast<HashAlg>(buf[0]));
  hash_update(hs, buf);
  hash_finish(hs, out);
  hmac(static_cast<HashAlg>(buf[1]), buf, buf, out);
  kdfa(HashAlg::sha256, buf, buf, buf, buf, 256, MutBytes(out, 32));
  kdfe(HashAlg::sha256, buf, buf, buf, buf, 256, MutBytes(out, 32));
  mgf1(HashAlg::sha256, buf, out);
  uint8_t iv[16] = {};
  sym_encrypt(static_cast<SymMode>(buf[2]), Bytes(buf, 16), iv, buf, out);
  sym_decrypt(static_cast<SymMode>(buf[3]), Bytes(buf, 32), iv, buf, out);
  uint8_t tag[16];
  aead_seal(Bytes(buf, 32), Bytes(buf, 12), buf, buf, out, tag);
  aead_open(Bytes(buf, 32), Bytes(buf, 12), buf, buf, tag, out);
  DrbgState drbg{};
  drbg_instantiate(drbg, Bytes(buf, 48), {});
  drbg_reseed(drbg, Bytes(buf, 48), {});
  static RsaPrivateKey rsa;
  rsa_generate(2048, 0, drbg_source(drbg), rsa);
  rsa_key_from_prime(rsa.pub, Bytes(rsa.p, 128), rsa);
  static uint8_t big[256], big2[256];
  size_t n = 0;
  rsa_encrypt(static_cast<RsaScheme>(buf[4]), HashAlg::sha256, buf, rsa.pub, buf,
              drbg_source(drbg), big);
  rsa_decrypt(static_cast<RsaScheme>(buf[5]), HashAlg::sha256, buf, rsa, big, drbg_source(drbg),
              big2, &n);
  rsa_sign(static_cast<RsaScheme>(buf[6]), HashAlg::sha256, rsa, Bytes(buf, 32),
           drbg_source(drbg), big);
  rsa_verify(static_cast<RsaScheme>(buf[7]), HashAlg::sha256, rsa.pub, Bytes(buf, 32), big);
  EccScalar d;
  EccPoint q, z;
  const EccCurve c = static_cast<EccCurve>(buf[8]);
  ecc_generate(c, drbg_source(drbg), d, q);
  ecc_validate_point(c, q);
  ecdh_z(c, d, q, z);
  ecc_point_add(c, q, z, z);
  ecdsa_sign(c, d, Bytes(buf, 32), drbg_source(drbg), MutBytes(out, 32), MutBytes(buf, 32));
  ecdsa_verify(c, q, Bytes(buf, 32), Bytes(out, 32), Bytes(buf, 32));
  g_sink = static_cast<uint8_t>(out[0] ^ big2[0] ^ z.x[0] ^ static_cast<uint8_t>(n) ^
                                static_cast<uint8_t>(ct_equal(buf, out)));
  zeroize(rsa);
  return 0;
}
