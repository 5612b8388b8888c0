// Objects: the public-area consistency rules, Names, and key generation. Generation draws every
// secret from a caller-supplied random source: the TPM's DRBG for ordinary objects, a DRBG
// derived from the hierarchy seed and the template for primary objects (so the same template
// gives the same key until the seed changes).
#include <cstring>
#include <memory>

#include "crypto/crypto.h"
#include "crypto/ecc.h"
#include "crypto/kdf.h"
#include "crypto/rsa.h"
#include "tpm/subsystem/subsystems.h"

namespace utpm::tpm {
namespace {

bool is_signing_scheme(TPM_ALG_ID s) {
  return s == TPM_ALG_RSASSA || s == TPM_ALG_RSAPSS || s == TPM_ALG_ECDSA || s == TPM_ALG_ECDAA ||
         s == TPM_ALG_ECSCHNORR || s == TPM_ALG_HMAC;
}
bool is_decrypt_scheme(TPM_ALG_ID s) { return s == TPM_ALG_RSAES || s == TPM_ALG_OAEP || s == TPM_ALG_ECDH; }

// Rules shared by RSA and ECC keys: first the scheme against the key's use, then the
// symmetric definition (only a storage key has one: the cipher and key size that wrap its
// children, always in CFB mode, Part 1 §23, so the mode is not checked here). The
// order decides the code when both are wrong; it is the reference TPM's (swtpm answers so).
TPM_RC asymmetric_check(const TPMA_OBJECT& a, const TPMT_SYM_DEF_OBJECT& sym, TPM_ALG_ID scheme,
                        bool uses_checked) {
  const bool restricted = a.has(TPMA_OBJECT_restricted), decrypt = a.has(TPMA_OBJECT_decrypt),
             sign = a.has(TPMA_OBJECT_sign);
  const bool storage = restricted && decrypt;
  if (uses_checked && !sign && !decrypt) return TPM_RC_ATTRIBUTES;
  if (storage || (sign && decrypt)) {
    if (scheme != TPM_ALG_NULL) return TPM_RC_SCHEME;  // a parent, or a key of both uses: no scheme
  } else if (sign) {
    // A restricted signing key names its scheme (attestation structures are signed with it).
    if (restricted ? !is_signing_scheme(scheme) : scheme != TPM_ALG_NULL && !is_signing_scheme(scheme))
      return TPM_RC_SCHEME;
  } else if (scheme != TPM_ALG_NULL && !is_decrypt_scheme(scheme)) {
    return TPM_RC_SCHEME;
  }
  if (storage) return sym.algorithm == TPM_ALG_NULL ? TPM_RC_SYMMETRIC : TPM_RC_SUCCESS;
  return sym.algorithm == TPM_ALG_NULL ? TPM_RC_SUCCESS : TPM_RC_SYMMETRIC;
}

}  // namespace
// H_alg(a || b)
static void digest_of(TPM_ALG_ID alg, std::span<const uint8_t> a, std::span<const uint8_t> b, TPM2B_DIGEST& out) {
  crypto::HashState h;
  crypto::hash_start(h, to_crypto(alg));
  crypto::hash_update(h, a);
  crypto::hash_update(h, b);
  out.size = static_cast<uint16_t>(crypto::hash_finish(h, out.buffer));
}

std::span<const uint8_t> hierarchy_seed(const State& st, TPM_HANDLE hierarchy) {
  switch (hierarchy) {
    case TPM_RH_OWNER: return st.pers.sps;
    case TPM_RH_ENDORSEMENT: return st.pers.eps;
    case TPM_RH_PLATFORM: return st.pers.pps;
    default: return st.null_seed;
  }
}

bool public_name(const TPMT_PUBLIC& pub, TPM2B_NAME& name) {
  if (pub.nameAlg == TPM_ALG_NULL) {  // an object without a nameAlg has no Name (Part 1 §16)
    name.size = 0;
    return true;
  }
  uint8_t buf[sizeof(TPMT_PUBLIC) + 64];
  Writer w(buf);
  marshal(w, pub);
  if (w.overflow() || !hash_implemented(pub.nameAlg)) return false;
  name.buffer[0] = static_cast<uint8_t>(pub.nameAlg >> 8);
  name.buffer[1] = static_cast<uint8_t>(pub.nameAlg);
  size_t n = crypto::hash(to_crypto(pub.nameAlg), w.written(), {name.buffer + 2, profile::kMaxDigestSize});
  name.size = static_cast<uint16_t>(2 + n);
  return true;
}

void qualified_name(TPM_ALG_ID name_alg, std::span<const uint8_t> parent_qn, const TPM2B_NAME& name,
                    TPM2B_NAME& out) {
  if (name_alg == TPM_ALG_NULL) {  // no Name, no qualified Name
    out.size = 0;
    return;
  }
  crypto::HashState h;
  crypto::hash_start(h, to_crypto(name_alg));
  crypto::hash_update(h, parent_qn);
  crypto::hash_update(h, name.view());
  out.buffer[0] = static_cast<uint8_t>(name_alg >> 8);
  out.buffer[1] = static_cast<uint8_t>(name_alg);
  out.size = static_cast<uint16_t>(2 + crypto::hash_finish(h, {out.buffer + 2, profile::kMaxDigestSize}));
}

bool is_storage_parent(const ObjectSlot& o) {
  const TPMA_OBJECT& a = o.pub.objectAttributes;
  // Derivation parents (restricted decrypt keyed hash) derive rather than wrap: not storage.
  return o.kind == SlotKind::object && o.pub.type != TPM_ALG_KEYEDHASH && a.has(TPMA_OBJECT_restricted) &&
         a.has(TPMA_OBJECT_decrypt) && !a.has(TPMA_OBJECT_sign);
}

bool is_derivation_parent(const ObjectSlot& o) {
  const TPMA_OBJECT& a = o.pub.objectAttributes;
  return o.kind == SlotKind::object && !o.public_only && o.pub.type == TPM_ALG_KEYEDHASH &&
         o.pub.nameAlg != TPM_ALG_NULL && a.has(TPMA_OBJECT_restricted) && a.has(TPMA_OBJECT_decrypt) &&
         !a.has(TPMA_OBJECT_sign);
}

const TPMT_SYM_DEF_OBJECT& object_symmetric(const TPMT_PUBLIC& p) {
  switch (p.type) {
    case TPM_ALG_RSA: return p.parameters.rsaDetail.symmetric;
    case TPM_ALG_ECC: return p.parameters.eccDetail.symmetric;
    default: return p.parameters.symDetail.sym;
  }
}

TPM_RC public_type_check(const TPMT_PUBLIC& p, bool uses_checked) {
  const TPMA_OBJECT& a = p.objectAttributes;
  const bool restricted = a.has(TPMA_OBJECT_restricted), decrypt = a.has(TPMA_OBJECT_decrypt),
             sign = a.has(TPMA_OBJECT_sign);
  // A restricted key has exactly one use: a parent (decrypt) or an attestation key (sign).
  if (uses_checked && restricted && sign == decrypt) return TPM_RC_ATTRIBUTES;
  switch (p.type) {
    case TPM_ALG_RSA: {
      const TPMS_RSA_PARMS& r = p.parameters.rsaDetail;
      if (r.exponent != 0 && r.exponent != crypto::kRsaDefaultExponent) return TPM_RC_VALUE;
      return asymmetric_check(a, r.symmetric, r.scheme.scheme, uses_checked);
    }
    case TPM_ALG_ECC: {
      const TPMS_ECC_PARMS& e = p.parameters.eccDetail;
      if (TPM_RC rc = asymmetric_check(a, e.symmetric, e.scheme.scheme, uses_checked)) return rc;
      return e.kdf.scheme == TPM_ALG_NULL ? TPM_RC_SUCCESS : TPM_RC_KDF;
    }
    case TPM_ALG_KEYEDHASH: {
      // The scheme follows the use: an HMAC key signs with HMAC, a derivation/XOR key decrypts
      // with XOR; sealed data (neither) and a key of both uses have none. (An HMAC key without
      // its scheme is refused too, as the reference TPM does.)
      const TPMT_KEYEDHASH_SCHEME& scheme = p.parameters.keyedHashDetail.scheme;
      const TPM_ALG_ID want = sign == decrypt ? TPM_ALG_NULL : sign ? TPM_ALG_HMAC : TPM_ALG_XOR;
      if (scheme.scheme != want) return TPM_RC_SCHEME;
      // A derivation parent (restricted XOR key) derives with KDFa: SP 800-108 and a hash we
      // have (Part 2 TPMS_SCHEME_XOR; there is no default).
      if (want == TPM_ALG_XOR && restricted) {
        if (scheme.details.kdf != TPM_ALG_KDF1_SP800_108) return TPM_RC_SCHEME;
        if (!hash_implemented(scheme.details.hashAlg)) return TPM_RC_HASH;
      }
      return TPM_RC_SUCCESS;
    }
    case TPM_ALG_SYMCIPHER: {
      const TPMT_SYM_DEF_OBJECT& s = p.parameters.symDetail.sym;
      if (s.algorithm == TPM_ALG_NULL) return TPM_RC_SYMMETRIC;
      // decrypt permits decryption, sign permits encryption (EncryptDecrypt).
      if (uses_checked && !sign && !decrypt) return TPM_RC_ATTRIBUTES;
      return TPM_RC_SUCCESS;
    }
  }
  return TPM_RC_TYPE;
}

bool auth_policy_fits(const TPMT_PUBLIC& p) {
  return p.authPolicy.size == 0 || p.authPolicy.size == digest_size(p.nameAlg);
}

TPM_RC public_check(const TPMT_PUBLIC& p, const ObjectSlot* parent) {
  const TPMA_OBJECT& a = p.objectAttributes;
  if (p.nameAlg == TPM_ALG_NULL) return TPM_RC_HASH;
  if (!auth_policy_fits(p)) return TPM_RC_SIZE;
  // fixedTPM/fixedParent (Part 1 §27.2): under a fixedTPM parent (a hierarchy for a primary
  // object) an object that cannot leave its parent cannot leave the TPM either, so the two
  // attributes must agree; under a duplicable parent the object cannot be fixedTPM.
  const bool fixed_tpm = a.has(TPMA_OBJECT_fixedTPM), fixed_parent = a.has(TPMA_OBJECT_fixedParent);
  if (!parent || parent->pub.objectAttributes.has(TPMA_OBJECT_fixedTPM)) {
    if (fixed_tpm != fixed_parent) return TPM_RC_ATTRIBUTES;
  } else if (fixed_tpm) {
    return TPM_RC_ATTRIBUTES;
  }
  if (a.has(TPMA_OBJECT_encryptedDuplication) && fixed_tpm) return TPM_RC_ATTRIBUTES;
  // A derived object (Part 1 "Derived objects") cannot leave its derivation parent and is as
  // bound to the TPM as the parent is.
  const bool derived = parent && is_derivation_parent(*parent);
  if (derived && (!fixed_parent || fixed_tpm != parent->pub.objectAttributes.has(TPMA_OBJECT_fixedTPM)))
    return TPM_RC_ATTRIBUTES;
  if (TPM_RC rc = public_type_check(p)) return rc;
  // A child storage key protects its own children as its parent protects it: the same
  // symmetric definition (the reference TPM's rule; swtpm refuses a different one too).
  // (A derivation parent has no symmetric definition to compare with.)
  if (parent && !derived && a.has(TPMA_OBJECT_restricted) && a.has(TPMA_OBJECT_decrypt) &&
      p.type != TPM_ALG_KEYEDHASH) {
    const TPMT_SYM_DEF_OBJECT& mine = object_symmetric(p);
    const TPMT_SYM_DEF_OBJECT& theirs = object_symmetric(parent->pub);
    if (mine.algorithm != theirs.algorithm || mine.keyBits != theirs.keyBits || mine.mode != theirs.mode)
      return TPM_RC_SYMMETRIC;
  }
  return TPM_RC_SUCCESS;
}

TPM_RC sensitive_create_check(const TPMT_PUBLIC& p, const TPMS_SENSITIVE_CREATE& s, bool primary) {
  const TPMA_OBJECT& a = p.objectAttributes;
  const bool origin = a.has(TPMA_OBJECT_sensitiveDataOrigin), data = s.data.size != 0;
  switch (p.type) {
    case TPM_ALG_RSA:
    case TPM_ALG_ECC:
      // Asymmetric keys are always generated inside the TPM. A primary key's sensitive.data is
      // not key material but an input of its derivation, so it may be given.
      if (!origin || (data && !primary)) return TPM_RC_ATTRIBUTES;
      return TPM_RC_SUCCESS;
    case TPM_ALG_KEYEDHASH:
    case TPM_ALG_SYMCIPHER:
      // A restricted symmetric key (derivation parent or HMAC attestation key) with a secret
      // the caller supplies must be duplicable: fixedTPM and fixedParent CLEAR (Part 3 §12.1).
      if (a.has(TPMA_OBJECT_restricted) && !origin &&
          (a.has(TPMA_OBJECT_fixedTPM) || a.has(TPMA_OBJECT_fixedParent)))
        return TPM_RC_ATTRIBUTES;
      // Sealed data (neither sign nor decrypt) always comes from the caller.
      if (p.type == TPM_ALG_KEYEDHASH && !a.has(TPMA_OBJECT_sign) && !a.has(TPMA_OBJECT_decrypt) && origin)
        return TPM_RC_ATTRIBUTES;
      // Either the TPM makes the secret (origin SET, no data) or the caller supplies it.
      if (origin == data) return TPM_RC_ATTRIBUTES;
      if (p.type == TPM_ALG_SYMCIPHER && !origin && s.data.size != p.parameters.symDetail.sym.keyBits / 8)
        return TPM_RC_KEY_SIZE;
      return TPM_RC_SUCCESS;
  }
  return TPM_RC_TYPE;
}

TPM_RC object_generate(const TPMT_PUBLIC& tmpl, const TPMS_SENSITIVE_CREATE& s, crypto::RandomSource rng,
                       ObjectSlot& out, const uint8_t* cached_primes) {
  out.kind = SlotKind::object;
  out.pub = tmpl;
  out.auth = s.userAuth;
  TPMT_PUBLIC& pub = out.pub;
  const uint16_t dlen = digest_size(pub.nameAlg);
  const TPMA_OBJECT& a = pub.objectAttributes;
  // Storage parents, keyed-hash and symmetric objects carry a seed (protection seed or the
  // obfuscation value that keeps unique from revealing low-entropy secrets).
  if (is_storage_parent(out) || pub.type == TPM_ALG_KEYEDHASH || pub.type == TPM_ALG_SYMCIPHER) {
    out.seed_value.size = dlen;
    if (rng({out.seed_value.buffer, dlen}) != crypto::Status::ok) return TPM_RC_FAILURE;
  }
  switch (pub.type) {
    case TPM_ALG_RSA: {
      const TPMS_RSA_PARMS& r = pub.parameters.rsaDetail;
      const size_t h = r.keyBits / 16u;
      const crypto::Status cs =
          cached_primes != nullptr
              ? crypto::rsa_key_from_primes({cached_primes, h}, {cached_primes + h, h}, crypto::kRsaDefaultExponent,
                                            r.keyBits, out.rsa)
              : crypto::rsa_generate(r.keyBits, crypto::kRsaDefaultExponent, rng, out.rsa);
      if (cs != crypto::Status::ok) return TPM_RC_FAILURE;
      pub.unique.rsa.assign({out.rsa.pub.n, crypto::rsa_bytes(out.rsa.pub)});
      return TPM_RC_SUCCESS;
    }
    case TPM_ALG_ECC: {
      const auto curve = static_cast<crypto::EccCurve>(pub.parameters.eccDetail.curveID.value);
      crypto::EccPoint q;
      if (crypto::ecc_generate(curve, rng, out.ecc, q) != crypto::Status::ok) return TPM_RC_FAILURE;
      const size_t n = crypto::ecc_bytes(curve);
      pub.unique.ecc.x.assign({q.x, n});
      pub.unique.ecc.y.assign({q.y, n});
      return TPM_RC_SUCCESS;
    }
    case TPM_ALG_KEYEDHASH:
    case TPM_ALG_SYMCIPHER: {
      TPM2B_SENSITIVE_DATA& key = out.bits;
      if (a.has(TPMA_OBJECT_sensitiveDataOrigin)) {
        // A generated HMAC key is digest-sized; a symmetric key is keyBits long.
        uint16_t n = pub.type == TPM_ALG_SYMCIPHER ? uint16_t(pub.parameters.symDetail.sym.keyBits / 8) : dlen;
        key.size = n;
        if (rng({key.buffer, n}) != crypto::Status::ok) return TPM_RC_FAILURE;
      } else {
        key = s.data;
      }
      digest_of(pub.nameAlg, out.seed_value.view(), key.view(), pub.unique.keyedHash);
      return TPM_RC_SUCCESS;
    }
  }
  return TPM_RC_TYPE;
}

}  // namespace utpm::tpm

namespace utpm::tpm {

void object_sensitive(const ObjectSlot& o, TPMT_SENSITIVE& out) {
  out = TPMT_SENSITIVE{};
  out.sensitiveType.value = o.pub.type;
  out.authValue = o.auth;
  out.seedValue = o.seed_value;
  switch (o.pub.type) {
    case TPM_ALG_RSA:  // the TPM keeps one prime; the rest is recomputed at load
      out.sensitive.rsa.assign({o.rsa.p, crypto::rsa_bytes(o.rsa.pub) / 2});
      break;
    case TPM_ALG_ECC: {
      size_t n = crypto::ecc_bytes(static_cast<crypto::EccCurve>(o.pub.parameters.eccDetail.curveID.value));
      out.sensitive.ecc.assign({o.ecc.d, n});
      break;
    }
    case TPM_ALG_KEYEDHASH: out.sensitive.bits = o.bits; break;
    case TPM_ALG_SYMCIPHER: out.sensitive.sym.assign(o.bits.view()); break;  // the key lives in bits
  }
}

TPM_RC object_from_parts(const TPMT_PUBLIC& pub, const TPMT_SENSITIVE& sens, ObjectSlot& out, bool check_binding,
                         Reader* rsa_crt) {
  if (sens.sensitiveType != pub.type) return TPM_RC_TYPE;
  std::construct_at(&out);  // in place: an ObjectSlot temporary is kilobytes of stack
  out.kind = SlotKind::object;
  out.pub = pub;
  out.auth = sens.authValue;
  out.seed_value = sens.seedValue;
  // Without a nameAlg the authValue is bounded by its buffer only (Part 3 §12.3: the object has
  // no Name, so nothing binds or sizes it by a digest).
  const bool named = pub.nameAlg != TPM_ALG_NULL;
  if (named && out.auth.size > digest_size(pub.nameAlg)) return TPM_RC_SIZE;
  switch (pub.type) {
    case TPM_ALG_RSA: {
      crypto::RsaPublicKey key{};
      key.bits = pub.parameters.rsaDetail.keyBits;
      key.exponent = pub.parameters.rsaDetail.exponent;
      if (pub.unique.rsa.size != key.bits / 8) return TPM_RC_KEY;
      std::memcpy(key.n, pub.unique.rsa.buffer, pub.unique.rsa.size);
      if (sens.sensitive.rsa.size != key.bits / 16) return TPM_RC_KEY_SIZE;
      if (rsa_crt) {  // saved by this TPM with its CRT values (object_serialize)
        const size_t h = key.bits / 16;
        out.rsa.pub = key;
        std::memcpy(out.rsa.p, sens.sensitive.rsa.buffer, h);
        if (!rsa_crt->bytes(out.rsa.q, h) || !rsa_crt->bytes(out.rsa.dp, h) || !rsa_crt->bytes(out.rsa.dq, h) ||
            !rsa_crt->bytes(out.rsa.qinv, h))
          return TPM_RC_INTEGRITY;
        break;
      }
      if (crypto::rsa_key_from_prime(key, sens.sensitive.rsa.view(), out.rsa) != crypto::Status::ok)
        return TPM_RC_BINDING;  // the prime does not divide the public modulus
      break;
    }
    case TPM_ALG_ECC: {
      const auto curve = static_cast<crypto::EccCurve>(pub.parameters.eccDetail.curveID.value);
      const size_t n = crypto::ecc_bytes(curve);
      // The private scalar may come without its leading zero octets (a key made outside and
      // imported, as the reference TPM reads it: a number); the public point has its full size.
      if (sens.sensitive.ecc.size > n || sens.sensitive.ecc.size == 0 || pub.unique.ecc.x.size != n ||
          pub.unique.ecc.y.size != n)
        return TPM_RC_KEY;
      std::memset(out.ecc.d, 0, n - sens.sensitive.ecc.size);
      std::memcpy(out.ecc.d + (n - sens.sensitive.ecc.size), sens.sensitive.ecc.buffer, sens.sensitive.ecc.size);
      if (!check_binding) break;
      crypto::EccPoint q;
      if (!crypto::ecc_scalar_valid(curve, out.ecc) ||
          crypto::ecc_point_mul(curve, out.ecc, nullptr, q) != crypto::Status::ok ||
          std::memcmp(q.x, pub.unique.ecc.x.buffer, n) != 0 || std::memcmp(q.y, pub.unique.ecc.y.buffer, n) != 0)
        return TPM_RC_BINDING;  // d·G is not the public point
      break;
    }
    case TPM_ALG_KEYEDHASH:
    case TPM_ALG_SYMCIPHER: {
      // The slot keeps either key in bits (a symmetric key is at most 32 octets).
      if (pub.type == TPM_ALG_SYMCIPHER) {
        if (sens.sensitive.sym.size != pub.parameters.symDetail.sym.keyBits / 8) return TPM_RC_KEY_SIZE;
        out.bits.assign(sens.sensitive.sym.view());
      } else {
        out.bits = sens.sensitive.bits;
      }
      // unique = H_nameAlg(seedValue || key) binds the secret to the public area; an object
      // without a nameAlg has no such binding (the reference TPM checks none either).
      if (!named) break;
      TPM2B_DIGEST expect;
      digest_of(pub.nameAlg, out.seed_value.view(), out.bits.view(), expect);
      if (expect.size != pub.unique.keyedHash.size ||
          !crypto::ct_equal(expect.view(), pub.unique.keyedHash.view()))
        return TPM_RC_BINDING;
      break;
    }
    default:
      return TPM_RC_TYPE;
  }
  return public_name(out.pub, out.name) ? TPM_RC_SUCCESS : TPM_RC_HASH;
}

TPM_RC object_public_only(const TPMT_PUBLIC& pub, ObjectSlot& out) {
  std::construct_at(&out);  // in place: an ObjectSlot temporary is kilobytes of stack
  out.kind = SlotKind::object;
  out.public_only = true;
  out.pub = pub;
  switch (pub.type) {
    case TPM_ALG_RSA: {
      // The modulus must be exactly keyBits long (Part 2 TPM2B_PUBLIC_KEY_RSA, Part 3 §12.3).
      crypto::RsaPublicKey& key = out.rsa.pub;
      key.bits = pub.parameters.rsaDetail.keyBits;
      key.exponent = pub.parameters.rsaDetail.exponent;
      if (pub.unique.rsa.size != key.bits / 8) return TPM_RC_KEY;
      std::memcpy(key.n, pub.unique.rsa.buffer, pub.unique.rsa.size);
      break;
    }
    case TPM_ALG_ECC: {
      const auto curve = static_cast<crypto::EccCurve>(pub.parameters.eccDetail.curveID.value);
      const size_t n = crypto::ecc_bytes(curve);
      if (pub.unique.ecc.x.size != n || pub.unique.ecc.y.size != n) return TPM_RC_KEY;
      crypto::EccPoint q{};
      std::memcpy(q.x, pub.unique.ecc.x.buffer, n);
      std::memcpy(q.y, pub.unique.ecc.y.buffer, n);
      if (crypto::ecc_validate_point(curve, q) != crypto::Status::ok) return TPM_RC_ECC_POINT;
      break;
    }
    case TPM_ALG_KEYEDHASH:
    case TPM_ALG_SYMCIPHER:
      // unique = H_nameAlg(seedValue || key): a digest of the nameAlg.
      if (pub.unique.keyedHash.size != digest_size(pub.nameAlg)) return TPM_RC_KEY;
      break;
    default:
      return TPM_RC_TYPE;
  }
  return public_name(out.pub, out.name) ? TPM_RC_SUCCESS : TPM_RC_HASH;
}

namespace {
// v2 added the public-only flag (v1: always a full object); v3 the CRT values of an RSA key
// after its sensitive area (q, dp, dq, qinv; keyBits/16 octets each), so that loading it again
// (ContextLoad: the resource manager does one per command and key; a persistent key at each
// use) copies them instead of computing two constant-time inverses (callgrind: 1.27 M of the
// 1.8 M instructions of a VerifySignature with an RSA-2048 key through the RM).
constexpr uint8_t kPayloadVersion = 3;
constexpr uint8_t kPayloadObject = 1, kPayloadHashSeq = 2, kPayloadEventSeq = 3, kPayloadHmacSeq = 4;
}  // namespace

// Explicit encoding of a transient object or sequence (never a struct dump of the object,
// though hash states are the backend's own fixed-size state).
void object_serialize(const ObjectSlot& o, Writer& w) {
  w.u8(kPayloadVersion);
  if (o.kind == SlotKind::object) {
    w.u8(kPayloadObject);
    w.u32(o.hierarchy);
    w.u8(o.public_only ? 1 : 0);
    marshal(w, Sized<TPMT_PUBLIC>{0, o.pub});
    if (!o.public_only) {  // a public-only object has no sensitive area
      TPMT_SENSITIVE sens;
      object_sensitive(o, sens);
      marshal(w, sens);
      crypto::zeroize(sens);
      if (o.pub.type == TPM_ALG_RSA) {
        const size_t h = crypto::rsa_bytes(o.rsa.pub) / 2;
        w.bytes(o.rsa.q, h);
        w.bytes(o.rsa.dp, h);
        w.bytes(o.rsa.dq, h);
        w.bytes(o.rsa.qinv, h);
      }
    }
    marshal(w, o.qualified_name);
    return;
  }
  const size_t states = o.kind == SlotKind::event_sequence ? kHashCount : o.kind == SlotKind::hmac_sequence ? 2 : 1;
  w.u8(o.kind == SlotKind::event_sequence  ? kPayloadEventSeq
       : o.kind == SlotKind::hmac_sequence ? kPayloadHmacSeq
                                           : kPayloadHashSeq);
  marshal(w, o.auth);
  w.u8(o.ticket_allowed);
  w.u8(o.first_block_seen);
  for (size_t i = 0; i < states; ++i) w.bytes(reinterpret_cast<const uint8_t*>(&o.hash[i]), sizeof o.hash[i]);
}

TPM_RC object_deserialize(Reader& r, ObjectSlot& o) {
  uint8_t version = 0, kind = 0;
  if (!r.u8(version) || version < 1 || version > kPayloadVersion || !r.u8(kind)) return TPM_RC_INTEGRITY;
  if (kind == kPayloadObject) {
    uint32_t hierarchy = 0;
    uint8_t public_only = 0;
    Sized<TPMT_PUBLIC> pub;
    TPMT_SENSITIVE sens;
    TPM2B_NAME qn;
    if (!r.u32(hierarchy) || (version >= 2 && !r.u8(public_only)) || public_only > 1 || unmarshal(r, pub) ||
        (!public_only && unmarshal(r, sens))) {
      crypto::zeroize(sens);
      return TPM_RC_INTEGRITY;
    }
    const bool crt = version >= 3 && pub.t.type == TPM_ALG_RSA;
    TPM_RC rc = public_only ? object_public_only(pub.t, o)
                            : object_from_parts(pub.t, sens, o, /*check_binding=*/false,  // sealed by us
                                                crt ? &r : nullptr);
    crypto::zeroize(sens);
    if (rc != TPM_RC_SUCCESS || unmarshal(r, qn)) return TPM_RC_INTEGRITY;
    o.hierarchy = hierarchy;
    o.qualified_name = qn;
    return r.remaining() == 0 ? TPM_RC_SUCCESS : TPM_RC_INTEGRITY;
  }
  if (kind != kPayloadHashSeq && kind != kPayloadEventSeq && kind != kPayloadHmacSeq) return TPM_RC_INTEGRITY;
  o.kind = kind == kPayloadEventSeq  ? SlotKind::event_sequence
           : kind == kPayloadHmacSeq ? SlotKind::hmac_sequence
                                     : SlotKind::hash_sequence;
  uint8_t ticket = 0, first = 0;
  if (unmarshal(r, o.auth) || !r.u8(ticket) || !r.u8(first)) return TPM_RC_INTEGRITY;
  o.ticket_allowed = ticket;
  o.first_block_seen = first;
  const size_t states = o.kind == SlotKind::event_sequence ? kHashCount : o.kind == SlotKind::hmac_sequence ? 2 : 1;
  for (size_t i = 0; i < states; ++i)
    if (!r.bytes(reinterpret_cast<uint8_t*>(&o.hash[i]), sizeof o.hash[i])) return TPM_RC_INTEGRITY;
  return r.remaining() == 0 ? TPM_RC_SUCCESS : TPM_RC_INTEGRITY;
}

}  // namespace utpm::tpm

namespace utpm::tpm {
namespace {

// The derivation stream (Part 1 "Derived objects"): the octets of
//   KDFa(hashAlg, parent seed, label, context, TPM_MAX_DERIVATION_BITS)
// taken in order. Its HMAC state lives in object_derive's frame, so the fill callback (called
// deep inside key generation) stays shallow.
constexpr uint32_t kMaxDerivationBits = 8192;  // TPM_MAX_DERIVATION_BITS

crypto::Status derive_fill(void* ctx, crypto::MutBytes out) {
  // Past its 1,024 octets the stream has nothing more to give: a failure, not a weaker key.
  return crypto::kdfa_stream_read(*static_cast<crypto::KdfaStream*>(ctx), out) == crypto::Status::ok
             ? crypto::Status::ok
             : crypto::Status::failure;
}

}  // namespace

TPM_RC object_derive(const ObjectSlot& parent, const TPMT_PUBLIC& tmpl, const TPMS_DERIVE& lc,
                     TPMS_SENSITIVE_CREATE& sens, ObjectSlot& out) {
  const TPMT_KEYEDHASH_SCHEME& ps = parent.pub.parameters.keyedHashDetail.scheme;
  crypto::KdfaStream stream;
  if (crypto::kdfa_stream_start(stream, to_crypto(ps.details.hashAlg), parent.bits.view(), lc.label.view(),
                                lc.context.view(), {}, kMaxDerivationBits) != crypto::Status::ok)
    return TPM_RC_FAILURE;
  const crypto::RandomSource rng{derive_fill, &stream};
  TPM_RC rc = TPM_RC_SUCCESS;
  sens.data.size = 0;
  if (tmpl.type == TPM_ALG_KEYEDHASH || tmpl.type == TPM_ALG_SYMCIPHER) {
    // The key comes first in the stream, then the obfuscation value (seedValue): the key is
    // handed to object_generate as if the caller had given it (sensitiveDataOrigin is CLEAR).
    // An HMAC or XOR key is the size of its scheme's digest (the nameAlg's without a scheme),
    // a symmetric key keyBits long.
    const TPMT_KEYEDHASH_SCHEME& ks = tmpl.parameters.keyedHashDetail.scheme;
    const uint16_t n = tmpl.type == TPM_ALG_SYMCIPHER ? uint16_t(tmpl.parameters.symDetail.sym.keyBits / 8)
                       : ks.scheme == TPM_ALG_NULL    ? digest_size(tmpl.nameAlg)
                                                      : digest_size(ks.details.hashAlg);
    sens.data.size = n;
    if (rng({sens.data.buffer, n}) != crypto::Status::ok) rc = TPM_RC_FAILURE;
  }
  if (rc == TPM_RC_SUCCESS) rc = object_generate(tmpl, sens, rng, out);
  crypto::zeroize(stream);
  crypto::zeroize(sens.data);
  return rc;
}

}  // namespace utpm::tpm
