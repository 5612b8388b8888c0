// OpenSSL backend: hashes through the low-level SHA*_CTX API. EVP_MD_CTX would be slightly
// more general but is an opaque heap object; the SHA*_CTX structs are plain data, so the
// engine can copy, save and restore a running hash (TPM hash sequence contexts) with memcpy.
// They still run OpenSSL's assembly block functions (SHA-NI/AVX2 where the CPU has them).
#define OPENSSL_SUPPRESS_DEPRECATED 1
#include <openssl/sha.h>

#include <cstring>
#include <type_traits>

#include "crypto/backend.h"
#include "crypto/crypto.h"

namespace utpm::crypto {
inline namespace UTPM_CRYPTO_NS {
namespace {

static_assert(sizeof(SHA_CTX) <= sizeof(HashState::opaque));
static_assert(sizeof(SHA256_CTX) <= sizeof(HashState::opaque));
static_assert(sizeof(SHA512_CTX) <= sizeof(HashState::opaque));
static_assert(alignof(SHA512_CTX) <= 8);
static_assert(std::is_trivially_copyable_v<HashState>);

template <class Ctx>
Ctx* ctx_of(HashState& st) {
  return reinterpret_cast<Ctx*>(st.opaque);
}

}  // namespace

Status hash_start(HashState& st, HashAlg alg) {
  st.alg = alg;
  int ok = 0;
  switch (alg) {
    case HashAlg::sha1: ok = SHA1_Init(ctx_of<SHA_CTX>(st)); break;
    case HashAlg::sha256: ok = SHA256_Init(ctx_of<SHA256_CTX>(st)); break;
    case HashAlg::sha384: ok = SHA384_Init(ctx_of<SHA512_CTX>(st)); break;
    case HashAlg::sha512: ok = SHA512_Init(ctx_of<SHA512_CTX>(st)); break;
    default: return Status::unsupported;
  }
  return ok == 1 ? Status::ok : Status::failure;
}

void hash_update(HashState& st, Bytes data) {
  if (data.empty()) return;
  switch (st.alg) {
    case HashAlg::sha1: SHA1_Update(ctx_of<SHA_CTX>(st), data.data(), data.size()); break;
    case HashAlg::sha256: SHA256_Update(ctx_of<SHA256_CTX>(st), data.data(), data.size()); break;
    case HashAlg::sha384: SHA384_Update(ctx_of<SHA512_CTX>(st), data.data(), data.size()); break;
    case HashAlg::sha512: SHA512_Update(ctx_of<SHA512_CTX>(st), data.data(), data.size()); break;
  }
}

size_t hash_finish(HashState& st, MutBytes out) {
  const size_t n = digest_size(st.alg);
  if (n == 0 || out.size() < n) return 0;
  switch (st.alg) {
    case HashAlg::sha1: SHA1_Final(out.data(), ctx_of<SHA_CTX>(st)); break;
    case HashAlg::sha256: SHA256_Final(out.data(), ctx_of<SHA256_CTX>(st)); break;
    case HashAlg::sha384: SHA384_Final(out.data(), ctx_of<SHA512_CTX>(st)); break;
    case HashAlg::sha512: SHA512_Final(out.data(), ctx_of<SHA512_CTX>(st)); break;
  }
  zeroize(st.opaque, sizeof st.opaque);
  return n;
}

size_t hash(HashAlg alg, Bytes data, MutBytes out) {
  HashState st;
  if (hash_start(st, alg) != Status::ok) return 0;
  hash_update(st, data);
  return hash_finish(st, out);
}

const char* backend_name() { return "openssl"; }

// OpenSSL manages its own memory on the host.
Status backend_init(MutBytes pool) {
  (void)pool;
  return Status::ok;
}

}  // namespace UTPM_CRYPTO_NS
}  // namespace utpm::crypto
