// TPM 2.0 Part 2 object structures (§12): public and sensitive areas of RSA, ECC, keyed-hash
// and symmetric-cipher objects, with the interface types that restrict their algorithms to
// what this build implements. Names are the specification's.
#pragma once

#include <cstdint>
#include <cstring>

#include "crypto/ecc.h"
#include "crypto/rsa.h"
#include "tpm/marshal/marshal.h"
#include "tpm/profile.h"
#include "tpm/types/algorithms.h"
#include "tpm/types/part2.h"

namespace utpm::tpm {

// ---- TPMA_OBJECT ----
inline constexpr uint32_t TPMA_OBJECT_fixedTPM = 1u << 1;
inline constexpr uint32_t TPMA_OBJECT_stClear = 1u << 2;
inline constexpr uint32_t TPMA_OBJECT_fixedParent = 1u << 4;
inline constexpr uint32_t TPMA_OBJECT_sensitiveDataOrigin = 1u << 5;
inline constexpr uint32_t TPMA_OBJECT_userWithAuth = 1u << 6;
inline constexpr uint32_t TPMA_OBJECT_adminWithPolicy = 1u << 7;
inline constexpr uint32_t TPMA_OBJECT_noDA = 1u << 10;
inline constexpr uint32_t TPMA_OBJECT_encryptedDuplication = 1u << 11;
inline constexpr uint32_t TPMA_OBJECT_restricted = 1u << 16;
inline constexpr uint32_t TPMA_OBJECT_decrypt = 1u << 17;
inline constexpr uint32_t TPMA_OBJECT_sign = 1u << 18;
inline constexpr uint32_t TPMA_OBJECT_x509sign = 1u << 19;
inline constexpr uint32_t kTpmaObjectReserved = 0x1u | 0x8u | 0x300u | 0xF000u | 0xFFF00000u;

struct TPMA_OBJECT {
  uint32_t value = 0;
  bool has(uint32_t bit) const { return (value & bit) != 0; }
};
inline TPM_RC unmarshal(Reader& r, TPMA_OBJECT& v) {
  if (!r.u32(v.value)) return TPM_RC_INSUFFICIENT;
  return (v.value & kTpmaObjectReserved) ? TPM_RC_RESERVED_BITS : TPM_RC_SUCCESS;
}
inline void marshal(Writer& w, const TPMA_OBJECT& v) { w.u32(v.value); }

// ---- algorithm interface types ----
template <TPM_RC Rc, TPM_ALG_ID... Ids>
struct AlgSetTraits {
  using type = TPM_ALG_ID;
  static constexpr TPM_RC rc = Rc;
  static constexpr type null_value = TPM_ALG_NULL;
  static constexpr bool valid(type v) { return ((v == Ids) || ...) && alg_implemented(v); }
};
using TPMI_ALG_PUBLIC = Tpmi<AlgSetTraits<TPM_RC_TYPE, TPM_ALG_RSA, TPM_ALG_KEYEDHASH, TPM_ALG_ECC, TPM_ALG_SYMCIPHER>>;
using TPMI_ALG_SYM_OBJECT_NULL = Tpmi<AlgSetTraits<TPM_RC_SYMMETRIC, TPM_ALG_AES, TPM_ALG_SM4, TPM_ALG_CAMELLIA>, true>;
using TPMI_ALG_SYM_MODE_NULL =
    Tpmi<AlgSetTraits<TPM_RC_MODE, TPM_ALG_CTR, TPM_ALG_OFB, TPM_ALG_CBC, TPM_ALG_CFB, TPM_ALG_ECB>, true>;
using TPMI_ALG_KEYEDHASH_SCHEME_NULL = Tpmi<AlgSetTraits<TPM_RC_VALUE, TPM_ALG_HMAC, TPM_ALG_XOR>, true>;
using TPMI_ALG_RSA_SCHEME_NULL =
    Tpmi<AlgSetTraits<TPM_RC_VALUE, TPM_ALG_RSASSA, TPM_ALG_RSAPSS, TPM_ALG_RSAES, TPM_ALG_OAEP>, true>;
using TPMI_ALG_ECC_SCHEME_NULL =
    Tpmi<AlgSetTraits<TPM_RC_SCHEME, TPM_ALG_ECDSA, TPM_ALG_ECDH, TPM_ALG_ECDAA, TPM_ALG_ECSCHNORR>, true>;
using TPMI_ALG_KDF_NULL = Tpmi<AlgSetTraits<TPM_RC_KDF, TPM_ALG_MGF1, TPM_ALG_KDF1_SP800_56A, TPM_ALG_KDF2,
                                            TPM_ALG_KDF1_SP800_108>, true>;
// ZGen_2Phase's inScheme (TPMI_ECC_KEY_EXCHANGE): ECDH only (no ECMQV/SM2 in this build).
using TPMI_ECC_KEY_EXCHANGE = Tpmi<AlgSetTraits<TPM_RC_SCHEME, TPM_ALG_ECDH>, true>;

struct AesKeyBitsTraits {
  using type = uint16_t;
  static constexpr TPM_RC rc = TPM_RC_VALUE;
  static constexpr bool valid(type v) { return v == 128 || v == 256 || (v == 192 && profile::kAes192); }
};
struct RsaKeyBitsTraits {
  using type = uint16_t;
  static constexpr TPM_RC rc = TPM_RC_VALUE;
  static constexpr bool valid(type v) {
    return (v == 1024 || v == 2048 || v == 3072 || v == 4096) && v <= profile::kMaxRsaKeyBits;
  }
};
struct EccCurveTraits {
  using type = TPM_ECC_CURVE;
  static constexpr TPM_RC rc = TPM_RC_CURVE;
  static constexpr bool valid(type v) {
    return v == TPM_ECC_NIST_P256 || v == TPM_ECC_NIST_P384 || (profile::kEccP521 && v == TPM_ECC_NIST_P521);
  }
};
using TPMI_AES_KEY_BITS = Tpmi<AesKeyBitsTraits>;
using TPMI_RSA_KEY_BITS = Tpmi<RsaKeyBitsTraits>;
using TPMI_ECC_CURVE = Tpmi<EccCurveTraits>;

// ---- symmetric definition for objects (TPMT_SYM_DEF_OBJECT+) ----
// keyBits and mode follow the algorithm (Part 2 TPMU_SYM_KEY_BITS / TPMU_SYM_MODE); NULL has
// neither. The arms select members of the structure itself. AES, Camellia and SM4 share one
// keyBits member (TPMI_AES_KEY_BITS sizes); SM4's TPMI_SM4_KEY_BITS is 128 only, checked by
// the unmarshal below (TPM_RC_VALUE, as the interface type's).
struct TPMT_SYM_DEF_OBJECT {
  TPMI_ALG_SYM_OBJECT_NULL algorithm;
  TPMI_AES_KEY_BITS keyBits;
  TPMI_ALG_SYM_MODE_NULL mode;
  UTPM_FIELDS(algorithm, select(*this, algorithm))
  UTPM_ARMS(arm(TPM_ALG_AES, &TPMT_SYM_DEF_OBJECT::keyBits, &TPMT_SYM_DEF_OBJECT::mode),
            arm(TPM_ALG_SM4, &TPMT_SYM_DEF_OBJECT::keyBits, &TPMT_SYM_DEF_OBJECT::mode),
            arm(TPM_ALG_CAMELLIA, &TPMT_SYM_DEF_OBJECT::keyBits, &TPMT_SYM_DEF_OBJECT::mode), no_arm(TPM_ALG_NULL))
};
inline TPM_RC unmarshal(Reader& r, TPMT_SYM_DEF_OBJECT& v) {
  auto f = v.fields();
  if (TPM_RC rc = detail::unmarshal_each(r, f, std::make_index_sequence<std::tuple_size_v<decltype(f)>>{})) return rc;
  return v.algorithm == TPM_ALG_SM4 && v.keyBits != 128 ? TPM_RC_VALUE : TPM_RC_SUCCESS;
}

// ---- schemes: scheme id + (for most) a hash; XOR also a KDF ----
// Part 2 TPMU_ASYM_SCHEME / TPMU_SCHEME_KEYEDHASH / TPMU_SIG_SCHEME / TPMU_KDF_SCHEME: every arm
// this build implements is a hash (TPMS_SCHEME_HASH), XOR a hash and a KDF (TPMS_SCHEME_XOR),
// RSAES and NULL nothing. The scheme id's interface type has already refused any other value.
struct SchemeDetails {
  TPMI_ALG_HASH hashAlg;
  TPMI_ALG_KDF_NULL kdf;  // XOR only
  uint16_t count = 0;     // ECDAA only (TPMS_SCHEME_ECDAA: the commit counter)
  UTPM_ARMS(arm(TPM_ALG_HMAC, &SchemeDetails::hashAlg), arm(TPM_ALG_XOR, &SchemeDetails::hashAlg, &SchemeDetails::kdf),
            arm(TPM_ALG_RSASSA, &SchemeDetails::hashAlg), arm(TPM_ALG_RSAPSS, &SchemeDetails::hashAlg),
            arm(TPM_ALG_OAEP, &SchemeDetails::hashAlg), arm(TPM_ALG_ECDSA, &SchemeDetails::hashAlg),
            arm(TPM_ALG_ECDH, &SchemeDetails::hashAlg), arm(TPM_ALG_MGF1, &SchemeDetails::hashAlg),
            arm(TPM_ALG_ECDAA, &SchemeDetails::hashAlg, &SchemeDetails::count),
            arm(TPM_ALG_ECSCHNORR, &SchemeDetails::hashAlg), arm(TPM_ALG_KDF2, &SchemeDetails::hashAlg),
            arm(TPM_ALG_KDF1_SP800_56A, &SchemeDetails::hashAlg), arm(TPM_ALG_KDF1_SP800_108, &SchemeDetails::hashAlg),
            no_arm(TPM_ALG_RSAES), no_arm(TPM_ALG_NULL))
};
template <class SchemeId>
struct Scheme {
  SchemeId scheme;
  SchemeDetails details;
  UTPM_FIELDS(scheme, select(details, scheme))
};
using TPMT_KEYEDHASH_SCHEME = Scheme<TPMI_ALG_KEYEDHASH_SCHEME_NULL>;
using TPMT_RSA_SCHEME = Scheme<TPMI_ALG_RSA_SCHEME_NULL>;
using TPMT_ECC_SCHEME = Scheme<TPMI_ALG_ECC_SCHEME_NULL>;
using TPMT_KDF_SCHEME = Scheme<TPMI_ALG_KDF_NULL>;

// ---- parameters ----
struct TPMS_KEYEDHASH_PARMS {
  TPMT_KEYEDHASH_SCHEME scheme;
  UTPM_FIELDS(scheme)
};
struct TPMS_SYMCIPHER_PARMS {
  NoNull<TPMT_SYM_DEF_OBJECT> sym;  // Part 2: no '+', TPM_ALG_NULL is TPM_RC_SYMMETRIC
  UTPM_FIELDS(sym)
};
struct TPMS_RSA_PARMS {
  TPMT_SYM_DEF_OBJECT symmetric;
  TPMT_RSA_SCHEME scheme;
  TPMI_RSA_KEY_BITS keyBits;
  uint32_t exponent = 0;
  UTPM_FIELDS(symmetric, scheme, keyBits, exponent)
};
struct TPMS_ECC_PARMS {
  TPMT_SYM_DEF_OBJECT symmetric;
  TPMT_ECC_SCHEME scheme;
  TPMI_ECC_CURVE curveID;
  TPMT_KDF_SCHEME kdf;
  UTPM_FIELDS(symmetric, scheme, curveID, kdf)
};
union TPMU_PUBLIC_PARMS {
  TPMS_KEYEDHASH_PARMS keyedHashDetail;
  TPMS_SYMCIPHER_PARMS symDetail;
  TPMS_RSA_PARMS rsaDetail;
  TPMS_ECC_PARMS eccDetail;
  UTPM_UNION_ZERO_INIT(TPMU_PUBLIC_PARMS)
  UTPM_ARMS(arm(TPM_ALG_KEYEDHASH, &TPMU_PUBLIC_PARMS::keyedHashDetail),
            arm(TPM_ALG_SYMCIPHER, &TPMU_PUBLIC_PARMS::symDetail), arm(TPM_ALG_RSA, &TPMU_PUBLIC_PARMS::rsaDetail),
            arm(TPM_ALG_ECC, &TPMU_PUBLIC_PARMS::eccDetail))
};

// ---- unique identifiers ----
using TPM2B_PUBLIC_KEY_RSA = Tpm2b<profile::kMaxRsaKeyBits / 8>;
using TPM2B_ECC_PARAMETER = Tpm2b<(profile::kMaxEccKeyBits + 7) / 8>;
struct TPMS_ECC_POINT {
  TPM2B_ECC_PARAMETER x;
  TPM2B_ECC_PARAMETER y;
  UTPM_FIELDS(x, y)
};
union TPMU_PUBLIC_ID {
  TPM2B_DIGEST keyedHash;  // also sym (Part 2: TPM2B_DIGEST_SYMCIPHER)
  TPM2B_PUBLIC_KEY_RSA rsa;
  TPMS_ECC_POINT ecc;
  UTPM_UNION_ZERO_INIT(TPMU_PUBLIC_ID)
  UTPM_ARMS(arm(TPM_ALG_KEYEDHASH, &TPMU_PUBLIC_ID::keyedHash), arm(TPM_ALG_SYMCIPHER, &TPMU_PUBLIC_ID::keyedHash),
            arm(TPM_ALG_RSA, &TPMU_PUBLIC_ID::rsa), arm(TPM_ALG_ECC, &TPMU_PUBLIC_ID::ecc))
};

// ---- TPMT_PUBLIC ----
struct TPMT_PUBLIC {
  TPMI_ALG_PUBLIC type;
  TPMI_ALG_HASH_NULL nameAlg;
  TPMA_OBJECT objectAttributes;
  TPM2B_DIGEST authPolicy;
  TPMU_PUBLIC_PARMS parameters;
  TPMU_PUBLIC_ID unique;
  UTPM_FIELDS(type, nameAlg, objectAttributes, authPolicy, select(parameters, type), select(unique, type))
};
using TPM2B_PUBLIC = Sized<TPMT_PUBLIC>;

// Derived objects (Part 2 TPMS_DERIVE, TPM2B_LABEL of LABEL_MAX_BUFFER = 32 octets): the label
// and context of a derivation, carried in the unique field of a TPMT_TEMPLATE (TPMU_TEMPLATE's
// derive form) or in the sensitive data of CreateLoaded under a derivation parent.
using TPM2B_LABEL = Tpm2b<32>;
struct TPMS_DERIVE {
  TPM2B_LABEL label;
  TPM2B_LABEL context;
  UTPM_FIELDS(label, context)
};
// The TPMT_TEMPLATE of CreateLoaded under a derivation parent: a TPMT_PUBLIC whose unique is
// the derive form (TPMS_DERIVE) whatever the type.
struct TPMT_TEMPLATE_DERIVE {
  TPMI_ALG_PUBLIC type;
  TPMI_ALG_HASH_NULL nameAlg;
  TPMA_OBJECT objectAttributes;
  TPM2B_DIGEST authPolicy;
  TPMU_PUBLIC_PARMS parameters;
  TPMS_DERIVE derive;
  UTPM_FIELDS(type, nameAlg, objectAttributes, authPolicy, select(parameters, type), derive)
};

// TPMT_PUBLIC_PARMS (TestParms): the type and its parameters only.
struct TPMT_PUBLIC_PARMS {
  TPMI_ALG_PUBLIC type;
  TPMU_PUBLIC_PARMS parameters;
  UTPM_FIELDS(type, select(parameters, type))
};

// ---- names and data ----
using TPM2B_NAME = Tpm2b<2 + profile::kMaxDigestSize>;
using TPM2B_DATA = Tpm2b<profile::kMaxDigestSize>;  // TPMT_HA-sized outside info / qualifying data

// ---- sensitive ----
struct TPMS_SENSITIVE_CREATE {
  TPM2B_AUTH userAuth;
  TPM2B_SENSITIVE_DATA data;
  UTPM_FIELDS(userAuth, data)
};
using TPM2B_SENSITIVE_CREATE = Sized<TPMS_SENSITIVE_CREATE>;

using TPM2B_PRIVATE_KEY_RSA = Tpm2b<profile::kMaxRsaKeyBits / 16>;  // one prime
using TPM2B_SYM_KEY = Tpm2b<32>;
union TPMU_SENSITIVE_COMPOSITE {
  TPM2B_PRIVATE_KEY_RSA rsa;
  TPM2B_ECC_PARAMETER ecc;
  TPM2B_SENSITIVE_DATA bits;
  TPM2B_SYM_KEY sym;
  UTPM_UNION_ZERO_INIT(TPMU_SENSITIVE_COMPOSITE)
  UTPM_ARMS(arm(TPM_ALG_RSA, &TPMU_SENSITIVE_COMPOSITE::rsa), arm(TPM_ALG_ECC, &TPMU_SENSITIVE_COMPOSITE::ecc),
            arm(TPM_ALG_KEYEDHASH, &TPMU_SENSITIVE_COMPOSITE::bits), arm(TPM_ALG_SYMCIPHER, &TPMU_SENSITIVE_COMPOSITE::sym))
};
struct TPMT_SENSITIVE {
  TPMI_ALG_PUBLIC sensitiveType;
  TPM2B_AUTH authValue;
  TPM2B_DIGEST seedValue;
  TPMU_SENSITIVE_COMPOSITE sensitive;
  UTPM_FIELDS(sensitiveType, authValue, seedValue, select(sensitive, sensitiveType))
};

// ---- signatures and encryption schemes ----
using TPMI_ALG_SIG_SCHEME_NULL =
    Tpmi<AlgSetTraits<TPM_RC_SCHEME, TPM_ALG_RSASSA, TPM_ALG_RSAPSS, TPM_ALG_ECDSA, TPM_ALG_ECDAA,
                      TPM_ALG_ECSCHNORR, TPM_ALG_HMAC>, true>;
using TPMI_ALG_RSA_DECRYPT_NULL = Tpmi<AlgSetTraits<TPM_RC_VALUE, TPM_ALG_RSAES, TPM_ALG_OAEP>, true>;
using TPMT_SIG_SCHEME = Scheme<TPMI_ALG_SIG_SCHEME_NULL>;
using TPMT_RSA_DECRYPT = Scheme<TPMI_ALG_RSA_DECRYPT_NULL>;

struct TPMS_SIGNATURE_RSA {  // RSASSA and RSAPSS
  TPMI_ALG_HASH hash;
  TPM2B_PUBLIC_KEY_RSA sig;
  UTPM_FIELDS(hash, sig)
};
struct TPMS_SIGNATURE_ECC {  // ECDSA, ECDAA (signatureR = nonceK), ECSCHNORR
  TPMI_ALG_HASH hash;
  TPM2B_ECC_PARAMETER signatureR;
  TPM2B_ECC_PARAMETER signatureS;
  UTPM_FIELDS(hash, signatureR, signatureS)
};
union TPMU_SIGNATURE {
  TPMS_SIGNATURE_RSA rsassa;
  TPMS_SIGNATURE_RSA rsapss;
  TPMS_SIGNATURE_ECC ecdsa;
  TPMS_SIGNATURE_ECC ecdaa;
  TPMS_SIGNATURE_ECC ecschnorr;
  TPMT_HA hmac;
  UTPM_UNION_ZERO_INIT(TPMU_SIGNATURE)
  UTPM_ARMS(arm(TPM_ALG_RSASSA, &TPMU_SIGNATURE::rsassa), arm(TPM_ALG_RSAPSS, &TPMU_SIGNATURE::rsapss),
            arm(TPM_ALG_ECDSA, &TPMU_SIGNATURE::ecdsa), arm(TPM_ALG_ECDAA, &TPMU_SIGNATURE::ecdaa),
            arm(TPM_ALG_ECSCHNORR, &TPMU_SIGNATURE::ecschnorr), arm(TPM_ALG_HMAC, &TPMU_SIGNATURE::hmac),
            no_arm(TPM_ALG_NULL))
};
struct TPMT_SIGNATURE {
  TPMI_ALG_SIG_SCHEME_NULL sigAlg;
  TPMU_SIGNATURE signature;
  UTPM_FIELDS(sigAlg, select(signature, sigAlg))
};
struct TPMT_TK_VERIFIED {
  TPM_ST tag = TPM_ST_VERIFIED;
  TPM_HANDLE hierarchy = TPM_RH_NULL;
  TPM2B_DIGEST digest;
  UTPM_FIELDS(tag, hierarchy, digest)
};
using TPM2B_ECC_POINT = Sized<TPMS_ECC_POINT>;
// A TPM2B_ECC_POINT that may be absent (size 0): Commit's P1.
using TPM2B_ECC_POINT_OPT = Sized<TPMS_ECC_POINT, true>;

// ECC_Parameters' answer (Part 2 §11.2.5.5).
struct TPMS_ALGORITHM_DETAIL_ECC {
  TPM_ECC_CURVE curveID = 0;
  uint16_t keySize = 0;
  TPMT_KDF_SCHEME kdf;     // TPM_ALG_NULL: the curve implies none
  TPMT_ECC_SCHEME sign;    // TPM_ALG_NULL: any scheme
  TPM2B_ECC_PARAMETER p, a, b, gX, gY, n, h;
  UTPM_FIELDS(curveID, keySize, kdf, sign, p, a, b, gX, gY, n, h)
};
using TPM2B_IV = Tpm2b<16>;

// ---- protected storage ----
// Ours: integrity (TPM2B_DIGEST) || TPM2B_IV || CFB(TPM2B_SENSITIVE), room for the largest
// sensitive area.
inline constexpr size_t kStorageIvSize = 16;  // the AES block
// The spec's duplication format (Part 1 §23.3.2) has no IV but may carry an inner integrity
// digest as well: outer TPM2B_DIGEST || inner TPM2B_DIGEST || TPM2B_SENSITIVE (Part 2 _PRIVATE).
inline constexpr size_t kMaxSensitiveSize = 2 + 2 + 2 * (2 + profile::kMaxDigestSize) + 2 +
    (profile::kMaxSensitiveData > profile::kMaxRsaKeyBits / 16 ? profile::kMaxSensitiveData : profile::kMaxRsaKeyBits / 16);
inline constexpr size_t kMaxPrivateSize = (2 + profile::kMaxDigestSize) +
    (kStorageIvSize + 2 > 2 + profile::kMaxDigestSize ? kStorageIvSize + 2 : 2 + profile::kMaxDigestSize) +
    kMaxSensitiveSize;
static_assert(kMaxPrivateSize >= 2 + profile::kMaxDigestSize + 2 + kStorageIvSize + 2 + 2 +
                                     2 * (2 + profile::kMaxDigestSize) + 2 + profile::kMaxRsaKeyBits / 16);
using TPM2B_PRIVATE = Tpm2b<kMaxPrivateSize>;

// ---- credentials (Part 2 §12.4.3) ----
// TPMS_ID_OBJECT: integrityHMAC (TPM2B_DIGEST) || encIdentity (the CFB-encrypted TPM2B_DIGEST
// of the credential, its size field included; not itself a TPM2B). TPM2B_ID_OBJECT carries it.
using TPM2B_ID_OBJECT = Tpm2b<2 * (2 + profile::kMaxDigestSize)>;

// ---- creation ----
struct TPMS_CREATION_DATA {
  TPML_PCR_SELECTION pcrSelect;
  TPM2B_DIGEST pcrDigest;
  uint8_t locality = 0;  // TPMA_LOCALITY
  TPM_ALG_ID parentNameAlg = TPM_ALG_NULL;
  TPM2B_NAME parentName;
  TPM2B_NAME parentQualifiedName;
  TPM2B_DATA outsideInfo;
  UTPM_FIELDS(pcrSelect, pcrDigest, locality, parentNameAlg, parentName, parentQualifiedName, outsideInfo)
};
struct TPMT_TK_CREATION {
  TPM_ST tag = TPM_ST_CREATION;
  TPM_HANDLE hierarchy = TPM_RH_NULL;
  TPM2B_DIGEST digest;
  UTPM_FIELDS(tag, hierarchy, digest)
};

}  // namespace utpm::tpm
