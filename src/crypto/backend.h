// Backend lifecycle. Only the firmware's mbedTLS build needs it: mbedTLS there allocates
// from a static pool (MBEDTLS_MEMORY_BUFFER_ALLOC_C) that the firmware owns and hands over
// once at boot. Elsewhere the call is accepted and ignored, so the engine can always make it.
#pragma once

#include "crypto/crypto.h"

namespace utpm::crypto {
inline namespace UTPM_CRYPTO_NS {

// pool must stay valid for the life of the program. Peak use in the default profile
// (RSA-2048 private operation / keygen, P-384 ECDSA) is listed in docs next to the footprint.
Status backend_init(MutBytes pool);

}  // namespace UTPM_CRYPTO_NS
}  // namespace utpm::crypto
