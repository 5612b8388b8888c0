// Our mbedTLS 2.28 configuration for the Cortex-M4 firmware: only what src/crypto uses, with
// the options that trade speed for flash and RAM. (The host build uses Debian's full
// libmbedtls instead; both run the same test suite on the host.)
//
// Deliberately absent: entropy/CTR_DRBG/HMAC_DRBG (our own CTR_DRBG feeds every f_rng), PK,
// X.509, TLS, PKCS#1 padding (ours, in common/), file system, time, error strings.
#ifndef UTPM_MBEDTLS_CONFIG_H
#define UTPM_MBEDTLS_CONFIG_H

// ---- system ----
#define MBEDTLS_HAVE_ASM            // UMAAL-based bignum multiply on Thumb-2
#define MBEDTLS_NO_UDBL_DIVISION    // no 64/32 hardware division on the M4
#define MBEDTLS_PLATFORM_C
#define MBEDTLS_PLATFORM_MEMORY
#define MBEDTLS_MEMORY_BUFFER_ALLOC_C  // static buffer allocator: no malloc in the firmware
#define MBEDTLS_PLATFORM_NO_STD_FUNCTIONS
#define MBEDTLS_NO_PLATFORM_ENTROPY

// ---- hashes ----
#define MBEDTLS_SHA1_C
#define MBEDTLS_SHA256_C
#define MBEDTLS_SHA256_SMALLER      // rolled loop: ~2 KB less flash, ~30% slower
#define MBEDTLS_SHA512_C            // SHA-384 (and SHA-512)
#define MBEDTLS_SHA512_SMALLER

// ---- symmetric ----
#define MBEDTLS_AES_C
#define MBEDTLS_AES_ROM_TABLES      // tables in flash, not generated into RAM
#define MBEDTLS_AES_FEWER_TABLES    // 2 KB of tables instead of 8 KB
#define MBEDTLS_CIPHER_C            // required by GCM
#define MBEDTLS_GCM_C

// ---- big numbers / RSA ----
#define MBEDTLS_BIGNUM_C
#ifndef MBEDTLS_MPI_WINDOW_SIZE    // bench/mcu_options.sh builds variants with -D overrides
#define MBEDTLS_MPI_WINDOW_SIZE 2   // small exponentiation window: less RAM, a bit slower
#endif
#define MBEDTLS_MPI_MAX_SIZE 256    // RSA-2048
#define MBEDTLS_OID_C               // required by RSA_C
#define MBEDTLS_RSA_C
#define MBEDTLS_PKCS1_V15           // required with RSA_C; its padding code is unused (GC'd)
#define MBEDTLS_GENPRIME            // mbedtls_mpi_is_prime_ext

// ---- elliptic curves ----
#define MBEDTLS_ECP_C
#define MBEDTLS_ECP_DP_SECP256R1_ENABLED
#define MBEDTLS_ECP_DP_SECP384R1_ENABLED
#define MBEDTLS_ECP_NIST_OPTIM
#define MBEDTLS_ECP_MAX_BITS 384
// Window 4 with a comb table for P-256's generator kept in the pool (ecc.cc keeps that group
// loaded): ECDSA P-256 signing 188 -> 57 ms at 80 MHz together with -O2 for bignum/ecp
// (mbedtls.cmake), for ~1.5 KB of the 12 KB pool and +5.4 KB flash. Window 5 needs a 14 KB pool
// (RSA-2048 private operations run out at 12 KB) and buys 7 ms more. bench/mcu_options.sh.
#ifndef MBEDTLS_ECP_WINDOW_SIZE
#define MBEDTLS_ECP_WINDOW_SIZE 4
#endif
#ifndef MBEDTLS_ECP_FIXED_POINT_OPTIM
#define MBEDTLS_ECP_FIXED_POINT_OPTIM 1
#endif
#define MBEDTLS_ECP_NO_INTERNAL_RNG      // blinding randomness always comes from our DRBG
#define MBEDTLS_ECDSA_C
#define MBEDTLS_ASN1_PARSE_C             // required by ECDSA_C (unused functions are GC'd)
#define MBEDTLS_ASN1_WRITE_C

#include "mbedtls/check_config.h"

#endif  // UTPM_MBEDTLS_CONFIG_H
