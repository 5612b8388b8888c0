// Key derivation functions exactly as TPM 2.0 Part 1 defines them (§11.4.10), plus MGF1.
// Backend-independent (src/crypto/common), built on hash/HMAC.
#pragma once

#include "crypto/crypto.h"

namespace utpm::crypto {

inline namespace UTPM_CRYPTO_NS {

// NIST SP 800-108 KDF in counter mode with HMAC as the PRF and a 32-bit big-endian counter
// placed before the fixed input data: K(i) = HMAC(key, [i]_32 || fixed), i = 1, 2, ...
// Fills out completely. This is the core of KDFa; exposed so it can be checked against the
// CAVP SP 800-108 vectors directly.
Status kdf_sp800_108_ctr_hmac(HashAlg alg, Bytes key, Bytes fixed, MutBytes out);

// KDFa (Part 1 §11.4.10.2): SP 800-108 counter-mode HMAC with
//   fixed = Label || 0x00 || ContextU || ContextV || [bits]_32.
// label is given without its terminating zero octet (a trailing zero, if present, is not
// doubled); the zero is always included in the derivation, as the TPM specifies.
// bits: requested size; out.size() must equal (bits + 7) / 8. When bits is not a multiple
// of 8, the unused high-order bits of the first (most significant) octet are cleared.
Status kdfa(HashAlg alg, Bytes key, Bytes label, Bytes context_u, Bytes context_v,
            uint32_t bits, MutBytes out);

// XORs KDFa(alg, key, label, context_u, context_v, 8 * data.size()) into data in place, for
// data of any size without a buffer of that size: the XOR parameter obfuscation of Part 1
// §21.2 (mask = KDFa(hash, sessionValue, "XOR", nonceNewer, nonceOlder, bits)). Empty data
// is left as it is.
Status kdfa_xor(HashAlg alg, Bytes key, Bytes label, Bytes context_u, Bytes context_v, MutBytes data);

// KDFa's output read in pieces of any size, in order, without a buffer for all of it: the
// derivation stream of Part 1 "Derived objects", where the number of octets a key takes is
// known only as they are drawn. key, label and the contexts are referenced, not copied: they
// must outlive the stream. bits must be a multiple of 8; reading past bits / 8 octets (whole
// blocks) is Status::bad_input. The stream holds key material: zeroize it when done.
struct KdfaStream {
  HmacState hmac;
  HashAlg alg{};
  Bytes key, label, context_u, context_v;
  uint32_t bits = 0;
  uint32_t counter = 0;  // blocks made
  uint8_t block[kMaxDigestSize]{};
  uint8_t block_size = 0, used = 0;
};
Status kdfa_stream_start(KdfaStream& s, HashAlg alg, Bytes key, Bytes label, Bytes context_u, Bytes context_v,
                         uint32_t bits);
Status kdfa_stream_read(KdfaStream& s, MutBytes out);

// KDFe (Part 1 §11.4.10.3): SP 800-56A concatenation KDF,
//   K(i) = H([i]_32 || Z || Label || 0x00 || PartyUInfo || PartyVInfo), i = 1, 2, ...
// Same label and bit conventions as kdfa(). z is the x coordinate of the shared point.
Status kdfe(HashAlg alg, Bytes z, Bytes label, Bytes party_u, Bytes party_v, uint32_t bits,
            MutBytes out);

// MGF1 (PKCS#1 v2.2 B.2.1): out = first out.size() bytes of H(seed || [0]_32) || H(seed || [1]_32)...
Status mgf1(HashAlg alg, Bytes seed, MutBytes out);

// KDF2 (ISO/IEC 18033-2 / ANSI X9.63 without shared info): as MGF1 but the counter starts at 1,
// out = first out.size() bytes of H(z || [1]_32) || H(z || [2]_32) ... (TPM2_ECC_Encrypt's mask).
Status kdf2(HashAlg alg, Bytes z, MutBytes out);
// data ^= KDF2(alg, z, data.size()), without a buffer of that size.
Status kdf2_xor(HashAlg alg, Bytes z, MutBytes data);

}  // namespace UTPM_CRYPTO_NS
}  // namespace utpm::crypto
