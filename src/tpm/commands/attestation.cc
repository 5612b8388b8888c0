// Part 3 chapter 18: Attestation commands (Quote, Certify, CertifyCreation, GetTime, NV_Certify,
// GetSessionAuditDigest, GetCommandAuditDigest, CertifyX509).
//
// Every command writes a TPM2B_ATTEST straight into the response buffer (attest_begin: size,
// TPMS_ATTEST header; the handler: its TPMU_ATTEST arm; attest_finish: the size, then the
// signature over those bytes), so that no TPMS_ATTEST (over 1 KB with NV contents) sits on the
// stack. docs/engine.md "Attestation and audit" lists the readings taken.
#include <algorithm>
#include <cstring>

#include "crypto/crypto.h"
#include "crypto/kdf.h"
#include "tpm/commands/commands.h"
#include "tpm/commands/keys_common.h"
#include "tpm/core/audit.h"
#include "tpm/subsystem/nv.h"
#include "tpm/subsystem/subsystems.h"
#include "tpm/tpm.h"
#include "tpm/types/attest.h"

namespace utpm::tpm {

uint64_t attest_firmware_version() {
  return uint64_t{profile::kFirmwareVersion1} << 32 | profile::kFirmwareVersion2;
}

void attest_obfuscate(const State& st, const ObjectSlot* key, TPMS_CLOCK_INFO& clock, uint64_t& firmware) {
  // Part 3 §18.1: keys of the endorsement and platform hierarchies see the true values; for any
  // other signer (owner or null hierarchy, or no key) they are offset by a value that is fixed
  // per signing key and unknown without shProof:
  //   obfuscation = KDFa(signer.nameAlg, shProof, "OBFUSCATE", signer.QN, -, 128)
  //   firmwareVersion += octets 0-7, resetCount += octets 8-11, restartCount += octets 12-15
  //   (big-endian, modular). Without a key (TPM_RH_NULL): SHA-256, and the QN is TPM_RH_NULL's
  //   Name (its handle), the qualifiedSigner swtpm reports too.
  if (key && (key->hierarchy == TPM_RH_ENDORSEMENT || key->hierarchy == TPM_RH_PLATFORM)) return;
  static constexpr uint8_t kObfuscate[] = {'O', 'B', 'F', 'U', 'S', 'C', 'A', 'T', 'E'};
  // A signer without a nameAlg (LoadExternal allows one) is treated like no key's SHA-256.
  const TPM_ALG_ID alg = key && key->pub.nameAlg != TPM_ALG_NULL ? TPM_ALG_ID(key->pub.nameAlg) : TPM_ALG_SHA256;
  uint8_t null_name[4];
  handle_name(TPM_RH_NULL, null_name);
  const std::span<const uint8_t> qn = key ? key->qualified_name.view() : std::span<const uint8_t>{null_name};
  uint8_t o[16];
  crypto::kdfa(to_crypto(alg), {st.pers.sh_proof, sizeof st.pers.sh_proof}, kObfuscate, qn, {}, 128, o);
  Reader r(o);
  uint64_t fw = 0;
  uint32_t reset = 0, restart = 0;
  r.u64(fw);
  r.u32(reset);
  r.u32(restart);
  firmware += fw;
  clock.resetCount += reset;
  clock.restartCount += restart;
  crypto::zeroize(o);
}

namespace {

// The signing key of an attestation command (handle i, nullptr for TPM_RH_NULL) and the scheme
// it signs with (CryptSelectSignScheme; TPM_ALG_NULL without a key). TPM_RC_KEY on the handle
// for a key that cannot sign, TPM_RC_SCHEME on parameter scheme_param.
TPM_RC attest_key(Command& c, unsigned i, const TPMT_SIG_SCHEME& in_scheme, unsigned scheme_param,
                  ObjectSlot*& key, TPMT_SIG_SCHEME& scheme) {
  key = nullptr;
  scheme = TPMT_SIG_SCHEME{};
  scheme.scheme.value = TPM_ALG_NULL;
  if (c.handles[i] == TPM_RH_NULL) return TPM_RC_SUCCESS;
  key = loaded_private_key(c, i);
  if (!key || !key->pub.objectAttributes.has(TPMA_OBJECT_sign)) return rc_handle(TPM_RC_KEY, i + 1);
  if (!select_sign_scheme(*key, in_scheme, scheme)) return rc_param(TPM_RC_SCHEME, scheme_param);
  return TPM_RC_SUCCESS;
}

// Writes the TPM2B_ATTEST size (patched by attest_finish) and the TPMS_ATTEST header; returns
// where the size is. sampled: the clock a command already read for its own structure
// (GetTime), so that the header and the body report one instant.
size_t attest_begin(Command& c, TPM_ST type, const ObjectSlot* key, const TPM2B_DATA& extra_data,
                    const TPMS_CLOCK_INFO* sampled = nullptr) {
  const size_t at = c.out.reserve(2);
  TPMS_CLOCK_INFO clock = sampled ? *sampled : clock_info(c.tpm);
  uint64_t firmware = attest_firmware_version();
  attest_obfuscate(c.st, key, clock, firmware);
  c.put(TPM_GENERATED_VALUE);
  c.put(type);
  if (key) {
    c.put(key->qualified_name);
  } else {
    uint8_t null_name[4];  // no signer: TPM_RH_NULL's Name (swtpm: the same)
    handle_name(TPM_RH_NULL, null_name);
    c.put(uint16_t{sizeof null_name});
    c.out.bytes(null_name, sizeof null_name);
  }
  c.put(extra_data);
  c.put(clock);
  c.put(firmware);
  return at;
}

// Patches the size of the TPM2B_ATTEST begun at `at` and writes its TPMT_SIGNATURE: the scheme's
// signature over H_scheme(TPMS_ATTEST), or TPM_ALG_NULL without a key.
TPM_RC attest_finish(Command& c, size_t at, const ObjectSlot* key, const TPMT_SIG_SCHEME& scheme) {
  if (c.out.overflow()) return TPM_RC_FAILURE;
  const std::span<const uint8_t> attest = c.out.written().subspan(at + 2);
  c.out.patch16(at, static_cast<uint16_t>(attest.size()));
  TPMT_SIGNATURE sig;
  sig.sigAlg.value = TPM_ALG_NULL;
  if (key) {
    uint8_t digest[profile::kMaxDigestSize];
    const size_t n = crypto::hash(to_crypto(scheme.details.hashAlg), attest, digest);
    if (TPM_RC rc = sign_digest(c, *key, scheme, {digest, n}, sig)) return rc;
  }
  c.put(sig);
  return TPM_RC_SUCCESS;
}

// H_alg of the selected PCRs, selections in order, each in ascending PCR order (Part 1 §17.6.1
// "PCR composite"); empty for TPM_ALG_NULL.
void pcr_composite(const State& st, const TPML_PCR_SELECTION& sel, TPM_ALG_ID alg, TPM2B_DIGEST& out) {
  out.size = 0;
  if (alg == TPM_ALG_NULL) return;
  crypto::HashState h;
  crypto::hash_start(h, to_crypto(alg));
  for (uint32_t s = 0; s < sel.count; ++s) {
    const int bank = pcr_bank(st, sel.items[s].hash);
    if (bank < 0) continue;
    for (uint32_t p = 0; p < profile::kNumPcrs; ++p)
      if (sel.items[s].selected(p)) crypto::hash_update(h, pcr_value(st, bank, p));
  }
  out.size = static_cast<uint16_t>(crypto::hash_finish(h, out.buffer));
}

}  // namespace

TPM_RC TPM2_Quote(Command& c) {
  TPM2B_DATA qualifying_data;
  TPMT_SIG_SCHEME in_scheme;
  TPML_PCR_SELECTION pcr_select;
  if (TPM_RC rc = c.parse(qualifying_data, in_scheme, pcr_select)) return rc;
  ObjectSlot* key;
  TPMT_SIG_SCHEME scheme;
  if (TPM_RC rc = attest_key(c, 0, in_scheme, 2, key, scheme)) return rc;
  // The PCR digest needs the signing scheme's hash: without a key there is none (swtpm: the same
  // answer for every inScheme).
  if (!key) return rc_param(TPM_RC_SCHEME, 2);
  // Selections of a bank that is not allocated select nothing: they are left out (Part 3 §18.4).
  TPML_PCR_SELECTION quoted;
  for (uint32_t s = 0; s < pcr_select.count; ++s)
    if (pcr_bank(c.st, pcr_select.items[s].hash) >= 0) quoted.items[quoted.count++] = pcr_select.items[s];
  TPM2B_DIGEST pcr_digest;
  pcr_composite(c.st, quoted, scheme.details.hashAlg, pcr_digest);
  const size_t at = attest_begin(c, TPM_ST_ATTEST_QUOTE, key, qualifying_data);
  c.put(quoted);
  c.put(pcr_digest);
  return attest_finish(c, at, key, scheme);
}

TPM_RC TPM2_Certify(Command& c) {
  TPM2B_DATA qualifying_data;
  TPMT_SIG_SCHEME in_scheme;
  if (TPM_RC rc = c.parse(qualifying_data, in_scheme)) return rc;
  ObjectSlot* key;
  TPMT_SIG_SCHEME scheme;
  if (TPM_RC rc = attest_key(c, 1, in_scheme, 2, key, scheme)) return rc;
  const ObjectSlot& object = *c.entities[0].object;
  const size_t at = attest_begin(c, TPM_ST_ATTEST_CERTIFY, key, qualifying_data);
  c.put(c.entities[0].name);
  c.put(object.qualified_name);
  return attest_finish(c, at, key, scheme);
}

TPM_RC TPM2_CertifyCreation(Command& c) {
  TPM2B_DATA qualifying_data;
  TPM2B_DIGEST creation_hash;
  TPMT_SIG_SCHEME in_scheme;
  TPMT_TK_CREATION ticket;
  if (TPM_RC rc = c.parse(qualifying_data, creation_hash, in_scheme, ticket)) return rc;
  // TPMT_TK_CREATION: tag TPM_ST_CREATION, hierarchy a TPMI_RH_HIERARCHY+.
  if (ticket.tag != TPM_ST_CREATION) return rc_param(TPM_RC_TAG, 4);
  if (!HierarchyTraits::valid(ticket.hierarchy) && ticket.hierarchy != TPM_RH_NULL) return rc_param(TPM_RC_VALUE, 4);
  ObjectSlot* key;
  TPMT_SIG_SCHEME scheme;
  if (TPM_RC rc = attest_key(c, 0, in_scheme, 3, key, scheme)) return rc;
  // The ticket must be the one CreatePrimary/Create/CreateLoaded gave for this object and hash:
  // HMAC_nameAlg(proof(hierarchy), TPM_ST_CREATION || Name || creationHash) (creation.cc).
  const ObjectSlot* object = c.entities[1].object;
  if (object->kind != SlotKind::object) return rc_param(TPM_RC_TICKET, 4);
  const TPM_ALG_ID alg = object->pub.nameAlg;
  uint8_t expect[profile::kMaxDigestSize];
  crypto::HmacState hm;
  crypto::hmac_start(hm, to_crypto(alg), hierarchy_proof(c.st, ticket.hierarchy));
  const uint8_t tag[2] = {uint8_t(TPM_ST_CREATION >> 8), uint8_t(TPM_ST_CREATION)};
  crypto::hmac_update(hm, tag);
  crypto::hmac_update(hm, object->name.view());
  crypto::hmac_update(hm, creation_hash.view());
  const size_t n = crypto::hmac_finish(hm, expect);
  crypto::zeroize(hm);
  if (n != ticket.digest.size || !crypto::ct_equal({expect, n}, ticket.digest.view()))
    return rc_param(TPM_RC_TICKET, 4);
  const size_t at = attest_begin(c, TPM_ST_ATTEST_CREATION, key, qualifying_data);
  c.put(object->name);
  c.put(creation_hash);
  return attest_finish(c, at, key, scheme);
}

TPM_RC TPM2_GetTime(Command& c) {
  TPM2B_DATA qualifying_data;
  TPMT_SIG_SCHEME in_scheme;
  if (TPM_RC rc = c.parse(qualifying_data, in_scheme)) return rc;
  ObjectSlot* key;
  TPMT_SIG_SCHEME scheme;
  if (TPM_RC rc = attest_key(c, 1, in_scheme, 2, key, scheme)) return rc;
  // The privacy administrator (endorsement) authorized it: TPMS_TIME_ATTEST_INFO carries the
  // true clock and firmware version; only the header's copy follows the signer's obfuscation.
  TPMS_TIME_ATTEST_INFO info;
  info.time.time = time_now(c.tpm);
  info.time.clockInfo = clock_info(c.tpm);
  info.firmwareVersion = attest_firmware_version();
  const size_t at = attest_begin(c, TPM_ST_ATTEST_TIME, key, qualifying_data, &info.time.clockInfo);
  c.put(info);
  return attest_finish(c, at, key, scheme);
}

TPM_RC TPM2_NV_Certify(Command& c) {
  TPM2B_DATA qualifying_data;
  TPMT_SIG_SCHEME in_scheme;
  uint16_t size = 0, offset = 0;
  if (TPM_RC rc = c.parse(qualifying_data, in_scheme, size, offset)) return rc;
  const NvSlot& s = *c.entities[2].nv;
  // NvReadAccessChecks as NV_Read, with authHandle the second handle
  if (TPM_RC rc = nv_read_access(s, c.handles[1])) return rc;
  ObjectSlot* key;
  TPMT_SIG_SCHEME scheme;
  if (TPM_RC rc = attest_key(c, 0, in_scheme, 2, key, scheme)) return rc;
  const TPM2B_NAME& index_name = c.entities[2].name;
  if (size == 0 && offset == 0) {
    // TPM_ST_ATTEST_NV_DIGEST: the digest of the whole index under the scheme's hash (empty
    // without a key), read in small pieces.
    TPM2B_DIGEST nv_digest;
    if (key) {
      crypto::HashState h;
      crypto::hash_start(h, to_crypto(scheme.details.hashAlg));
      uint8_t chunk[64];
      for (uint16_t o = 0; o < s.pub.dataSize; o = static_cast<uint16_t>(o + sizeof chunk)) {
        const size_t n = std::min<size_t>(sizeof chunk, s.pub.dataSize - o);
        if (TPM_RC rc = nv_read_data(c.tpm, s, o, {chunk, n})) return rc;
        crypto::hash_update(h, {chunk, n});
      }
      nv_digest.size = static_cast<uint16_t>(crypto::hash_finish(h, nv_digest.buffer));
    }
    const size_t at = attest_begin(c, TPM_ST_ATTEST_NV_DIGEST, key, qualifying_data);
    c.put(index_name);
    c.put(nv_digest);
    return attest_finish(c, at, key, scheme);
  }
  // Out of the index first (swtpm answers TPM_RC_NV_RANGE for an offset beyond it too), then
  // more than a response can carry.
  if (offset > s.pub.dataSize || size > s.pub.dataSize - offset) return TPM_RC_NV_RANGE;
  if (size > profile::kMaxNvBuffer) return rc_param(TPM_RC_VALUE, 3);
  const size_t at = attest_begin(c, TPM_ST_ATTEST_NV, key, qualifying_data);
  c.put(index_name);
  c.put(offset);
  c.put(size);
  // nvContents go straight into the response (no TPM2B_MAX_NV_BUFFER on the stack).
  const size_t data_at = c.out.reserve(size);
  if (c.out.overflow()) return TPM_RC_FAILURE;
  if (TPM_RC rc = nv_read_data(c.tpm, s, offset, {c.out.data() + data_at, size})) return rc;
  return attest_finish(c, at, key, scheme);
}

TPM_RC TPM2_GetSessionAuditDigest(Command& c) {
  TPM2B_DATA qualifying_data;
  TPMT_SIG_SCHEME in_scheme;
  if (TPM_RC rc = c.parse(qualifying_data, in_scheme)) return rc;
  const SessionSlot& session = *c.entities[2].session;
  if (!session.audit) return rc_handle(TPM_RC_TYPE, 3);  // never used for audit
  ObjectSlot* key;
  TPMT_SIG_SCHEME scheme;
  if (TPM_RC rc = attest_key(c, 1, in_scheme, 2, key, scheme)) return rc;
  TPMS_SESSION_AUDIT_INFO info;
  info.exclusiveSession = c.st.audit.exclusive_session == c.handles[2] ? 1 : 0;
  info.sessionDigest = session.audit_digest;
  const size_t at = attest_begin(c, TPM_ST_ATTEST_SESSION_AUDIT, key, qualifying_data);
  c.put(info);
  return attest_finish(c, at, key, scheme);
}

TPM_RC TPM2_GetCommandAuditDigest(Command& c) {
  TPM2B_DATA qualifying_data;
  TPMT_SIG_SCHEME in_scheme;
  if (TPM_RC rc = c.parse(qualifying_data, in_scheme)) return rc;
  ObjectSlot* key;
  TPMT_SIG_SCHEME scheme;
  if (TPM_RC rc = attest_key(c, 1, in_scheme, 2, key, scheme)) return rc;
  const AuditState& a = c.st.audit;
  TPMS_COMMAND_AUDIT_INFO info;
  info.auditCounter = a.counter;
  info.digestAlg = a.alg;
  info.auditDigest = a.digest;
  audit_commands_digest(c.st, info.commandDigest);
  const size_t at = attest_begin(c, TPM_ST_ATTEST_COMMAND_AUDIT, key, qualifying_data);
  c.put(info);
  // A signed digest starts over (after this command's own audit); an unsigned one does not
  // (swtpm: the same).
  c.audit_clear = key != nullptr;
  return attest_finish(c, at, key, scheme);
}


// ---- CertifyX509 (Part 3 §18.8) ----
// The caller sends a partial certificate, DER SEQUENCE { issuer, validity, subject, [3]
// extensions }; the TPM adds version (v3), a serial number, the signature AlgorithmIdentifier and
// the object's SubjectPublicKeyInfo, answers them as addedToCertificate (DER SEQUENCE { version,
// serialNumber, signature, subjectPublicKeyInfo }), and signs H(TBSCertificate) where
//   TBSCertificate = SEQUENCE { version, serialNumber, signature, issuer, validity, subject,
//                               subjectPublicKeyInfo, extensions }.
// Everything is emitted twice through the same functions, once into the hash and once into the
// response, so no certificate buffer is kept: the partial certificate is hashed from the
// command buffer before any output is written.
namespace {

struct DerItem {
  uint8_t tag = 0;
  std::span<const uint8_t> value;  // contents
  std::span<const uint8_t> whole;  // tag, length and contents
};

// One DER TLV (definite, minimal lengths up to 65535); false if malformed.
bool der_next(std::span<const uint8_t>& in, DerItem& out) {
  if (in.size() < 2) return false;
  size_t len = in[1], header = 2;
  if (len & 0x80) {
    const size_t n = len & 0x7F;
    if (n == 0 || n > 2 || in.size() < 2 + n) return false;
    len = n == 1 ? in[2] : size_t{in[2]} << 8 | in[3];
    if (len < (n == 1 ? 0x80u : 0x100u)) return false;  // not the shortest form
    header += n;
  }
  if (in.size() - header < len) return false;
  out = {in[0], in.subspan(header, len), in.first(header + len)};
  in = in.subspan(header + len);
  return true;
}

// Where DER goes: a hash, the response, or nowhere (only counted).
struct DerOut {
  crypto::HashState* hash = nullptr;
  Writer* out = nullptr;
  size_t n = 0;
  void bytes(std::span<const uint8_t> b) {
    n += b.size();
    if (hash) crypto::hash_update(*hash, b);
    if (out) out->bytes(b);
  }
  void header(uint8_t tag, size_t len) {
    uint8_t h[4] = {tag, 0, 0, 0};
    size_t k = 2;
    if (len < 0x80) {
      h[1] = uint8_t(len);
    } else if (len < 0x100) {
      h[1] = 0x81, h[2] = uint8_t(len), k = 3;
    } else {
      h[1] = 0x82, h[2] = uint8_t(len >> 8), h[3] = uint8_t(len), k = 4;
    }
    bytes({h, k});
  }
};
constexpr size_t der_size(size_t len) { return (len < 0x80 ? 2 : len < 0x100 ? 3 : 4) + len; }

// AlgorithmIdentifiers (RFC 5758 for ECDSA: no parameters; RFC 4055 for RSA: NULL parameters).
constexpr uint8_t kEcdsaSha1[] = {0x30, 0x09, 0x06, 0x07, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x04, 0x01};
constexpr uint8_t kEcdsaSha256[] = {0x30, 0x0A, 0x06, 0x08, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x04, 0x03, 0x02};
constexpr uint8_t kEcdsaSha384[] = {0x30, 0x0A, 0x06, 0x08, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x04, 0x03, 0x03};
constexpr uint8_t kEcdsaSha512[] = {0x30, 0x0A, 0x06, 0x08, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x04, 0x03, 0x04};
constexpr uint8_t kRsaSha1[] = {0x30, 0x0D, 0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x05, 0x05, 0x00};
constexpr uint8_t kRsaSha256[] = {0x30, 0x0D, 0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x0B, 0x05, 0x00};
constexpr uint8_t kRsaSha384[] = {0x30, 0x0D, 0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x0C, 0x05, 0x00};
constexpr uint8_t kRsaSha512[] = {0x30, 0x0D, 0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x0D, 0x05, 0x00};
// RSASSA-PSS (RFC 4055 §3.1): MGF1 with the signing hash, saltLength = the hash's size (what
// our RSAPSS signatures use); SHA-1's parameters are all defaults, so empty.
constexpr uint8_t kRsaPssSha1[] = {0x30, 0x0D, 0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x0A, 0x30, 0x00};
constexpr uint8_t kRsaPssSha256[] = {0x30, 0x41, 0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x0A, 0x30,
                                     0x34, 0xA0, 0x0F, 0x30, 0x0D, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04,
                                     0x02, 0x01, 0x05, 0x00, 0xA1, 0x1C, 0x30, 0x1A, 0x06, 0x09, 0x2A, 0x86, 0x48, 0x86,
                                     0xF7, 0x0D, 0x01, 0x01, 0x08, 0x30, 0x0D, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65,
                                     0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0xA2, 0x03, 0x02, 0x01, 0x20};
constexpr uint8_t kRsaPssSha384[] = {0x30, 0x41, 0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x0A, 0x30,
                                     0x34, 0xA0, 0x0F, 0x30, 0x0D, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04,
                                     0x02, 0x02, 0x05, 0x00, 0xA1, 0x1C, 0x30, 0x1A, 0x06, 0x09, 0x2A, 0x86, 0x48, 0x86,
                                     0xF7, 0x0D, 0x01, 0x01, 0x08, 0x30, 0x0D, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65,
                                     0x03, 0x04, 0x02, 0x02, 0x05, 0x00, 0xA2, 0x03, 0x02, 0x01, 0x30};
constexpr uint8_t kRsaPssSha512[] = {0x30, 0x41, 0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x0A, 0x30,
                                     0x34, 0xA0, 0x0F, 0x30, 0x0D, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04,
                                     0x02, 0x03, 0x05, 0x00, 0xA1, 0x1C, 0x30, 0x1A, 0x06, 0x09, 0x2A, 0x86, 0x48, 0x86,
                                     0xF7, 0x0D, 0x01, 0x01, 0x08, 0x30, 0x0D, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65,
                                     0x03, 0x04, 0x02, 0x03, 0x05, 0x00, 0xA2, 0x03, 0x02, 0x01, 0x40};
constexpr uint8_t kRsaEncryption[] = {0x30, 0x0D, 0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x01, 0x05, 0x00};
constexpr uint8_t kEcP256[] = {0x30, 0x13, 0x06, 0x07, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x02, 0x01,
                               0x06, 0x08, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07};
constexpr uint8_t kEcP384[] = {0x30, 0x10, 0x06, 0x07, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x02, 0x01,
                               0x06, 0x05, 0x2B, 0x81, 0x04, 0x00, 0x22};
constexpr uint8_t kEcP521[] = {0x30, 0x10, 0x06, 0x07, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x02, 0x01,
                               0x06, 0x05, 0x2B, 0x81, 0x04, 0x00, 0x23};
constexpr uint8_t kOidKeyUsage[] = {0x55, 0x1D, 0x0F};                                // 2.5.29.15
constexpr uint8_t kOidTpmaObject[] = {0x67, 0x81, 0x05, 0x0A, 0x01, 0x01, 0x01};     // 2.23.133.10.1.1.1
constexpr uint8_t kVersion3[] = {0xA0, 0x03, 0x02, 0x01, 0x02};

// The signature AlgorithmIdentifier of a scheme; empty for one X.509 cannot name (HMAC is no
// certificate signature).
using Bytes = std::span<const uint8_t>;
Bytes x509_signature_alg(const TPMT_SIG_SCHEME& s) {
  const TPM_ALG_ID h = s.details.hashAlg;
  if (s.scheme == TPM_ALG_ECDSA)
    return h == TPM_ALG_SHA1     ? Bytes{kEcdsaSha1}
           : h == TPM_ALG_SHA256 ? Bytes{kEcdsaSha256}
           : h == TPM_ALG_SHA384 ? Bytes{kEcdsaSha384}
                                 : Bytes{kEcdsaSha512};
  if (s.scheme == TPM_ALG_RSASSA)
    return h == TPM_ALG_SHA1     ? Bytes{kRsaSha1}
           : h == TPM_ALG_SHA256 ? Bytes{kRsaSha256}
           : h == TPM_ALG_SHA384 ? Bytes{kRsaSha384}
                                 : Bytes{kRsaSha512};
  if (s.scheme == TPM_ALG_RSAPSS)
    return h == TPM_ALG_SHA1     ? Bytes{kRsaPssSha1}
           : h == TPM_ALG_SHA256 ? Bytes{kRsaPssSha256}
           : h == TPM_ALG_SHA384 ? Bytes{kRsaPssSha384}
                                 : Bytes{kRsaPssSha512};
  return {};
}

// SubjectPublicKeyInfo of an RSA or ECC public area (RFC 3279, RFC 5480).
void emit_spki(DerOut& d, const TPMT_PUBLIC& pub) {
  static constexpr uint8_t kExponent[] = {0x02, 0x03, 0x01, 0x00, 0x01};  // 65537, the only one
  if (pub.type == TPM_ALG_RSA) {
    const auto n = pub.unique.rsa.view();
    const bool pad = !n.empty() && (n[0] & 0x80);
    const size_t int_n = der_size(n.size() + pad);
    const size_t key = der_size(int_n + sizeof kExponent);
    const size_t bits = der_size(1 + key);
    d.header(0x30, sizeof kRsaEncryption + bits);
    d.bytes(kRsaEncryption);
    d.header(0x03, 1 + key);
    static constexpr uint8_t kZero[] = {0};
    d.bytes(kZero);  // no unused bits
    d.header(0x30, int_n + sizeof kExponent);
    d.header(0x02, n.size() + pad);
    if (pad) d.bytes(kZero);
    d.bytes(n);
    d.bytes(kExponent);
    return;
  }
  const TPMS_ECC_POINT& q = pub.unique.ecc;
  const TPM_ECC_CURVE curve = pub.parameters.eccDetail.curveID;
  const Bytes alg = curve == TPM_ECC_NIST_P256   ? Bytes{kEcP256}
                    : curve == TPM_ECC_NIST_P384 ? Bytes{kEcP384}
                                                 : Bytes{kEcP521};
  const size_t bits = der_size(2 + q.x.size + q.y.size);
  d.header(0x30, alg.size() + bits);
  d.bytes(alg);
  d.header(0x03, 2 + q.x.size + q.y.size);
  static constexpr uint8_t kUncompressed[] = {0x00, 0x04};  // no unused bits, uncompressed point
  d.bytes(kUncompressed);
  d.bytes(q.x.view());
  d.bytes(q.y.view());
}

// version, serialNumber, signature (the first three fields the TPM adds).
void emit_head(DerOut& d, const uint8_t (&serial)[20], std::span<const uint8_t> sig_alg) {
  d.bytes(kVersion3);
  d.header(0x02, sizeof serial);
  d.bytes(serial);
  d.bytes(sig_alg);
}

// The extensions of a partial certificate against the object's attributes (Part 3 §18.8):
// KeyUsage bits need sign (digitalSignature, nonRepudiation, keyCertSign, cRLSign) or decrypt
// (keyEncipherment, dataEncipherment, keyAgreement, encipherOnly, decipherOnly); a TCG
// TPMA_OBJECT extension must equal the object's attributes. TPM_RC_VALUE for a malformed
// structure, TPM_RC_ATTRIBUTES for a mismatch.
TPM_RC check_extensions(std::span<const uint8_t> extensions, const TPMA_OBJECT& a) {
  DerItem seq;
  if (!der_next(extensions, seq) || seq.tag != 0x30 || !extensions.empty() || seq.value.empty()) return TPM_RC_VALUE;
  std::span<const uint8_t> list = seq.value;
  bool key_usage = false;
  while (!list.empty()) {
    DerItem ext, oid, v;
    if (!der_next(list, ext) || ext.tag != 0x30) return TPM_RC_VALUE;
    std::span<const uint8_t> e = ext.value;
    if (!der_next(e, oid) || oid.tag != 0x06 || !der_next(e, v)) return TPM_RC_VALUE;
    if (v.tag == 0x01 && !der_next(e, v)) return TPM_RC_VALUE;  // critical
    if (v.tag != 0x04 || !e.empty()) return TPM_RC_VALUE;
    std::span<const uint8_t> inner = v.value;
    DerItem bits;
    const bool is_ku = std::ranges::equal(oid.value, Bytes{kOidKeyUsage});
    const bool is_tpma = std::ranges::equal(oid.value, Bytes{kOidTpmaObject});
    if (!is_ku && !is_tpma) continue;
    if (!der_next(inner, bits) || bits.tag != 0x03 || !inner.empty() || bits.value.empty() || bits.value[0] > 7)
      return TPM_RC_VALUE;
    if (is_ku) {
      if (key_usage) return TPM_RC_VALUE;  // twice
      key_usage = true;
      uint32_t ku = 0;  // bit 0 (digitalSignature) first
      for (size_t i = 1; i < bits.value.size() && i <= 2; ++i) ku |= uint32_t{bits.value[i]} << (32 - 8 * i);
      const uint32_t sign_bits = 0xF0000000u & ~0x30000000u;  // digitalSignature, nonRepudiation
      const uint32_t cert_bits = 0x06000000u;                  // keyCertSign, cRLSign
      const uint32_t decrypt_bits = 0x38000000u | 0x01800000u;  // key/dataEncipherment, keyAgreement, en/decipherOnly
      if ((ku & (sign_bits | cert_bits)) && !a.has(TPMA_OBJECT_sign)) return TPM_RC_ATTRIBUTES;
      if ((ku & decrypt_bits) && !a.has(TPMA_OBJECT_decrypt)) return TPM_RC_ATTRIBUTES;
    } else {
      // TPMA_OBJECT as a BIT STRING of its 32 bits (no unused bits), the value as Part 2 lays it out.
      if (bits.value.size() != 5 || bits.value[0] != 0) return TPM_RC_VALUE;
      const uint32_t v32 = uint32_t{bits.value[1]} << 24 | uint32_t{bits.value[2]} << 16 |
                           uint32_t{bits.value[3]} << 8 | bits.value[4];
      if (v32 != a.value) return TPM_RC_ATTRIBUTES;
    }
  }
  return key_usage ? TPM_RC_SUCCESS : TPM_RC_VALUE;  // a certificate of a TPM key says its use
}

}  // namespace

TPM_RC TPM2_CertifyX509(Command& c) {
  TPM2B_DATA reserved;
  TPMT_SIG_SCHEME in_scheme;
  Tpm2bView<profile::kMaxDigestBuffer> partial;  // TPM2B_MAX_BUFFER, read in place
  if (TPM_RC rc = c.parse(reserved, in_scheme, partial)) return rc;
  if (reserved.size != 0) return rc_param(TPM_RC_SIZE, 1);  // "shall be the Empty Buffer"
  const ObjectSlot* object = loaded_key(c, 0);
  if (!object || (object->pub.type != TPM_ALG_RSA && object->pub.type != TPM_ALG_ECC))
    return rc_handle(TPM_RC_ASYMMETRIC, 1);
  ObjectSlot* key;
  TPMT_SIG_SCHEME scheme;
  if (TPM_RC rc = attest_key(c, 1, in_scheme, 2, key, scheme)) return rc;
  const std::span<const uint8_t> sig_alg = x509_signature_alg(scheme);
  if (!key || sig_alg.empty()) return rc_param(TPM_RC_SCHEME, 2);  // no hash / no X.509 name for it

  // The partial certificate: SEQUENCE { issuer, validity, subject, [3] extensions }.
  std::span<const uint8_t> in = partial.data;
  DerItem outer, issuer, validity, subject, extensions;
  // Not one SEQUENCE filling the buffer: TPM_RC_SIZE; malformed inside: TPM_RC_VALUE (swtpm:
  // the same).
  if (!der_next(in, outer) || outer.tag != 0x30 || !in.empty()) return rc_param(TPM_RC_SIZE, 3);
  std::span<const uint8_t> fields = outer.value;
  if (!der_next(fields, issuer) || issuer.tag != 0x30 || !der_next(fields, validity) || validity.tag != 0x30 ||
      !der_next(fields, subject) || subject.tag != 0x30 || !der_next(fields, extensions) || extensions.tag != 0xA3 ||
      !fields.empty())
    return rc_param(TPM_RC_VALUE, 3);
  if (TPM_RC rc = check_extensions(extensions.value, object->pub.objectAttributes))
    return rc == TPM_RC_ATTRIBUTES ? rc_handle(rc, 1) : rc_param(rc, 3);

  // A fresh serial number: 20 random octets, positive and minimally encoded (RFC 5280 4.1.2.2).
  uint8_t serial[20];
  if (!tpm_random(c.tpm, serial)) return TPM_RC_FAILURE;
  serial[0] = static_cast<uint8_t>((serial[0] & 0x7F) | 0x01);

  DerOut count;
  emit_head(count, serial, sig_alg);
  const size_t head = count.n;
  count = {};
  emit_spki(count, object->pub);
  const size_t spki = count.n;
  crypto::HashState h;
  crypto::hash_start(h, to_crypto(scheme.details.hashAlg));
  DerOut tbs{&h};
  tbs.header(0x30, head + issuer.whole.size() + validity.whole.size() + subject.whole.size() + spki +
                       extensions.whole.size());
  emit_head(tbs, serial, sig_alg);
  tbs.bytes(issuer.whole);
  tbs.bytes(validity.whole);
  tbs.bytes(subject.whole);
  emit_spki(tbs, object->pub);
  tbs.bytes(extensions.whole);
  TPM2B_DIGEST tbs_digest;
  tbs_digest.size = static_cast<uint16_t>(crypto::hash_finish(h, tbs_digest.buffer));
  TPMT_SIGNATURE sig;
  if (TPM_RC rc = sign_digest(c, *key, scheme, tbs_digest.view(), sig)) return rc;

  // Only now the output (the partial certificate may share the response buffer).
  const size_t added = der_size(head + spki);
  c.put(static_cast<uint16_t>(added));
  DerOut out{nullptr, &c.out};
  out.header(0x30, head + spki);
  emit_head(out, serial, sig_alg);
  emit_spki(out, object->pub);
  c.put(tbs_digest);
  c.put(sig);
  return c.out.overflow() ? TPM_RC_FAILURE : TPM_RC_SUCCESS;
}

}  // namespace utpm::tpm
