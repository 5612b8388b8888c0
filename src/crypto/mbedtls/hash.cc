// mbedTLS backend: hashes. mbedTLS hash contexts are plain structs (no pointers), so they are
// stored in HashState and copied/saved as bytes.
#include <mbedtls/sha1.h>
#include <mbedtls/sha256.h>
#include <mbedtls/sha512.h>

#include <type_traits>

#include "crypto/backend.h"
#include "crypto/crypto.h"
#include "shared_groups.h"

#if defined(UTPM_MBEDTLS_STATIC_POOL)
#include <mbedtls/memory_buffer_alloc.h>
#endif

namespace utpm::crypto {
inline namespace UTPM_CRYPTO_NS {
namespace {

static_assert(sizeof(mbedtls_sha1_context) <= sizeof(HashState::opaque));
static_assert(sizeof(mbedtls_sha256_context) <= sizeof(HashState::opaque));
static_assert(sizeof(mbedtls_sha512_context) <= sizeof(HashState::opaque));
static_assert(alignof(mbedtls_sha512_context) <= 8);
static_assert(std::is_trivially_copyable_v<HashState>);

template <class Ctx>
Ctx* ctx_of(HashState& st) {
  return reinterpret_cast<Ctx*>(st.opaque);
}

}  // namespace

Status hash_start(HashState& st, HashAlg alg) {
  st.alg = alg;
  int rc = 0;
  switch (alg) {
    case HashAlg::sha1:
      mbedtls_sha1_init(ctx_of<mbedtls_sha1_context>(st));
      rc = mbedtls_sha1_starts_ret(ctx_of<mbedtls_sha1_context>(st));
      break;
    case HashAlg::sha256:
      mbedtls_sha256_init(ctx_of<mbedtls_sha256_context>(st));
      rc = mbedtls_sha256_starts_ret(ctx_of<mbedtls_sha256_context>(st), 0);
      break;
    case HashAlg::sha384:
    case HashAlg::sha512:
      mbedtls_sha512_init(ctx_of<mbedtls_sha512_context>(st));
      rc = mbedtls_sha512_starts_ret(ctx_of<mbedtls_sha512_context>(st),
                                     alg == HashAlg::sha384 ? 1 : 0);
      break;
    default: return Status::unsupported;
  }
  return rc == 0 ? Status::ok : Status::failure;
}

void hash_update(HashState& st, Bytes data) {
  if (data.empty()) return;
  switch (st.alg) {
    case HashAlg::sha1:
      mbedtls_sha1_update_ret(ctx_of<mbedtls_sha1_context>(st), data.data(), data.size());
      break;
    case HashAlg::sha256:
      mbedtls_sha256_update_ret(ctx_of<mbedtls_sha256_context>(st), data.data(), data.size());
      break;
    case HashAlg::sha384:
    case HashAlg::sha512:
      mbedtls_sha512_update_ret(ctx_of<mbedtls_sha512_context>(st), data.data(), data.size());
      break;
  }
}

size_t hash_finish(HashState& st, MutBytes out) {
  const size_t n = digest_size(st.alg);
  if (n == 0 || out.size() < n) return 0;
  uint8_t full[64];  // SHA-384 is computed in a 64-byte buffer by mbedTLS
  switch (st.alg) {
    case HashAlg::sha1: mbedtls_sha1_finish_ret(ctx_of<mbedtls_sha1_context>(st), full); break;
    case HashAlg::sha256:
      mbedtls_sha256_finish_ret(ctx_of<mbedtls_sha256_context>(st), full);
      break;
    case HashAlg::sha384:
    case HashAlg::sha512:
      mbedtls_sha512_finish_ret(ctx_of<mbedtls_sha512_context>(st), full);
      break;
  }
  for (size_t i = 0; i < n; ++i) out[i] = full[i];
  zeroize(full);
  zeroize(st.opaque, sizeof st.opaque);
  return n;
}

size_t hash(HashAlg alg, Bytes data, MutBytes out) {
  HashState st;
  if (hash_start(st, alg) != Status::ok) return 0;
  hash_update(st, data);
  return hash_finish(st, out);
}

const char* backend_name() { return "mbedtls"; }

Status backend_init(MutBytes pool) {
#if defined(UTPM_MBEDTLS_STATIC_POOL)
  if (pool.size() < 1024) return Status::bad_input;
  mbedtls_memory_buffer_alloc_init(pool.data(), pool.size());
  ecc_forget_shared_groups();
#else
  (void)pool;  // host build: Debian's libmbedtls uses the C heap
#endif
  return Status::ok;
}

}  // namespace UTPM_CRYPTO_NS
}  // namespace utpm::crypto
