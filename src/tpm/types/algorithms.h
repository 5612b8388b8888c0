// The algorithms this build implements. One table drives TPMI_* validity checks and
// GetCapability(TPM_CAP_ALGS), so what we report is exactly what we accept.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "crypto/crypto.h"
#include "crypto/sym.h"
#include "tpm/profile.h"
#include "tpm/types/constants.h"

namespace utpm::tpm {

struct AlgInfo {
  TPM_ALG_ID id;
  uint32_t attributes;  // TPMA_ALGORITHM
};

// Every algorithm this code knows, sorted by id (GetCapability walks it in order); `on` is the
// profile's choice (profile.h): kAlgorithms keeps the rows that are on.
inline constexpr uint32_t kAsym = TPMA_ALGORITHM_asymmetric, kSym = TPMA_ALGORITHM_symmetric,
                          kHash = TPMA_ALGORITHM_hash, kObj = TPMA_ALGORITHM_object,
                          kSign = TPMA_ALGORITHM_signing, kEnc = TPMA_ALGORITHM_encrypting,
                          kMethod = TPMA_ALGORITHM_method;
struct AlgRow {
  TPM_ALG_ID id;
  uint32_t attributes;
  bool on = true;
};
inline constexpr AlgRow kAlgorithmRows[] = {
    {TPM_ALG_RSA, kAsym | kObj},
    {TPM_ALG_SHA1, kHash},
    {TPM_ALG_HMAC, kHash | kSign},
    {TPM_ALG_AES, kSym},
    {TPM_ALG_MGF1, kHash | kMethod},
    {TPM_ALG_KEYEDHASH, kHash | kObj},
    {TPM_ALG_XOR, kSym | kHash},
    {TPM_ALG_SHA256, kHash},
    {TPM_ALG_SHA384, kHash},
    {TPM_ALG_SHA512, kHash, profile::kSha512},
    {TPM_ALG_SM4, kSym, profile::kSm4},
    {TPM_ALG_RSASSA, kAsym | kSign},
    {TPM_ALG_RSAES, kAsym | kEnc},
    {TPM_ALG_RSAPSS, kAsym | kSign},
    {TPM_ALG_OAEP, kAsym | kEnc},
    {TPM_ALG_ECDSA, kAsym | kSign},
    {TPM_ALG_ECDH, kAsym | kMethod},
    {TPM_ALG_ECDAA, kAsym | kSign},
    {TPM_ALG_ECSCHNORR, kAsym | kSign},
    {TPM_ALG_KDF1_SP800_56A, kHash | kMethod},
    {TPM_ALG_KDF2, kHash | kMethod},
    {TPM_ALG_KDF1_SP800_108, kHash | kMethod},
    {TPM_ALG_ECC, kAsym | kObj},
    {TPM_ALG_SYMCIPHER, kObj},
    {TPM_ALG_CAMELLIA, kSym, profile::kCamellia},
    {TPM_ALG_CTR, kSym | kEnc},
    {TPM_ALG_OFB, kSym | kEnc},
    {TPM_ALG_CBC, kSym | kEnc},
    {TPM_ALG_CFB, kSym | kEnc},
    {TPM_ALG_ECB, kSym | kEnc},
};
constexpr size_t algorithms_on() {
  size_t n = 0;
  for (const auto& r : kAlgorithmRows) n += r.on ? 1 : 0;
  return n;
}
inline constexpr std::array<AlgInfo, algorithms_on()> kAlgorithms = [] {
  std::array<AlgInfo, algorithms_on()> out{};
  size_t i = 0;
  for (const auto& r : kAlgorithmRows)
    if (r.on) out[i++] = AlgInfo{r.id, r.attributes};
  return out;
}();

constexpr bool alg_implemented(TPM_ALG_ID id) {
  for (const auto& a : kAlgorithms)
    if (a.id == id) return true;
  return false;
}

// Hashes, in the order PCR banks and event digests are reported.
inline constexpr size_t kHashCount = 3 + (profile::kSha512 ? 1 : 0);
inline constexpr std::array<TPM_ALG_ID, kHashCount> kHashAlgs = [] {
  std::array<TPM_ALG_ID, kHashCount> out{TPM_ALG_SHA1, TPM_ALG_SHA256, TPM_ALG_SHA384};
  if constexpr (profile::kSha512) out[3] = TPM_ALG_SHA512;
  return out;
}();

constexpr bool hash_implemented(TPM_ALG_ID id) {
  for (auto h : kHashAlgs)
    if (h == id) return true;
  return false;
}
// Digest size for a TPM_ALG_ID; 0 for TPM_ALG_NULL and anything that is not a hash.
constexpr uint16_t digest_size(TPM_ALG_ID id) {
  return hash_implemented(id) ? static_cast<uint16_t>(crypto::digest_size(static_cast<crypto::HashAlg>(id))) : 0;
}
constexpr crypto::HashAlg to_crypto(TPM_ALG_ID id) { return static_cast<crypto::HashAlg>(id); }
// The block cipher a symmetric definition names (AES, SM4, CAMELLIA: the TPM_ALG_ID values).
constexpr crypto::BlockCipher block_cipher(TPM_ALG_ID id) { return static_cast<crypto::BlockCipher>(id); }

static_assert(profile::kMaxDigestSize >= (profile::kSha512 ? 64 : 48), "TPMU_HA must hold the largest implemented hash");

}  // namespace utpm::tpm
