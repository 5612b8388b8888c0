// Part 3 chapter 28: Context management.
//
// A saved context (TPMS_CONTEXT.contextBlob) is
//   integrity (TPM2B_DIGEST) || AES-256-CFB(key, iv, sequence(8) || payload)
// with {key, iv} = KDFa(SHA-256, proof, "CONTEXT", sequence, savedHandle, 384) and
//   integrity = HMAC-SHA-256(proof, totalResetCount || [restartCount for stClear objects] ||
//                            sequence || savedHandle || encrypted part),
// proof being the hierarchy's proof value (the null proof for sessions and null-hierarchy
// objects, which is renewed at every Startup). The payload is our own versioned encoding of
// the object (public area, sensitive area, hierarchy) or sequence. Only this TPM reads it.
#include <cstring>

#include "crypto/crypto.h"
#include "crypto/kdf.h"
#include "crypto/sym.h"
#include "tpm/commands/commands.h"
#include "tpm/subsystem/subsystems.h"
#include "tpm/tpm.h"

namespace utpm::tpm {
namespace {

constexpr uint8_t kPayloadVersion = 1;
constexpr uint8_t kPayloadObject = 1, kPayloadHashSeq = 2, kPayloadEventSeq = 3;
constexpr TPM_HANDLE kSavedObject = 0x80000000, kSavedSequence = 0x80000001, kSavedStClear = 0x80000002;

using TPM2B_CONTEXT_DATA = Tpm2b<profile::kMaxContextSize>;
struct TPMS_CONTEXT {
  uint64_t sequence = 0;
  TPM_HANDLE savedHandle = 0;
  TPM_HANDLE hierarchy = TPM_RH_NULL;
  TPM2B_CONTEXT_DATA contextBlob;
  UTPM_FIELDS(sequence, savedHandle, hierarchy, contextBlob)
};

void be(uint64_t v, uint8_t* out, int n) {
  for (int i = 0; i < n; ++i) out[i] = static_cast<uint8_t>(v >> (8 * (n - 1 - i)));
}

void protection_key(const State& st, TPM_HANDLE hierarchy, uint64_t sequence, TPM_HANDLE handle, uint8_t* key_iv) {
  static constexpr uint8_t kLabel[] = {'C', 'O', 'N', 'T', 'E', 'X', 'T'};
  uint8_t seq[8], h[4];
  be(sequence, seq, 8);
  be(handle, h, 4);
  crypto::kdfa(crypto::HashAlg::sha256, hierarchy_proof(st, hierarchy), kLabel, seq, h, (32 + 16) * 8, {key_iv, 48});
}

size_t integrity(const State& st, TPM_HANDLE hierarchy, uint64_t sequence, TPM_HANDLE handle,
                 std::span<const uint8_t> encrypted, uint8_t* out) {
  uint8_t b[8];
  crypto::HmacState hm;
  crypto::hmac_start(hm, crypto::HashAlg::sha256, hierarchy_proof(st, hierarchy));
  be(st.pers.total_reset_count, b, 8);  // no context survives a TPM Reset
  crypto::hmac_update(hm, b);
  if (handle == kSavedStClear) {        // nor an stClear object a TPM Restart
    be(st.clock.restart_count, b, 4);
    crypto::hmac_update(hm, {b, 4});
  }
  be(sequence, b, 8);
  crypto::hmac_update(hm, b);
  be(handle, b, 4);
  crypto::hmac_update(hm, {b, 4});
  crypto::hmac_update(hm, encrypted);
  size_t n = crypto::hmac_finish(hm, {out, profile::kMaxDigestSize});
  crypto::zeroize(hm);
  return n;
}

// Explicit encoding of a transient object or sequence (never a struct dump of the object,
// though hash states are the backend's own fixed-size state).
void write_payload(const ObjectSlot& o, Writer& w) {
  w.u8(kPayloadVersion);
  if (o.kind == SlotKind::object) {
    w.u8(kPayloadObject);
    w.u32(o.hierarchy);
    marshal(w, Sized<TPMT_PUBLIC>{0, o.pub});
    TPMT_SENSITIVE sens;
    object_sensitive(o, sens);
    marshal(w, sens);
    crypto::zeroize(sens);
    marshal(w, o.qualified_name);
    return;
  }
  const size_t states = o.kind == SlotKind::event_sequence ? kHashCount : 1;
  w.u8(o.kind == SlotKind::event_sequence ? kPayloadEventSeq : kPayloadHashSeq);
  marshal(w, o.auth);
  w.u8(o.ticket_allowed);
  w.u8(o.first_block_seen);
  for (size_t i = 0; i < states; ++i) w.bytes(reinterpret_cast<const uint8_t*>(&o.hash[i]), sizeof o.hash[i]);
}

TPM_RC read_payload(State& st, Reader& r, ObjectSlot& o) {
  uint8_t version = 0, kind = 0;
  if (!r.u8(version) || version != kPayloadVersion || !r.u8(kind)) return TPM_RC_INTEGRITY;
  if (kind == kPayloadObject) {
    uint32_t hierarchy = 0;
    Sized<TPMT_PUBLIC> pub;
    TPMT_SENSITIVE sens;
    TPM2B_NAME qn;
    if (!r.u32(hierarchy) || unmarshal(r, pub) || unmarshal(r, sens) || unmarshal(r, qn)) return TPM_RC_INTEGRITY;
    TPM_RC rc = object_from_parts(pub.t, sens, o);
    crypto::zeroize(sens);
    if (rc != TPM_RC_SUCCESS) return TPM_RC_INTEGRITY;
    o.hierarchy = hierarchy;
    o.qualified_name = qn;
    (void)st;
    return r.remaining() == 0 ? TPM_RC_SUCCESS : TPM_RC_INTEGRITY;
  }
  if (kind != kPayloadHashSeq && kind != kPayloadEventSeq) return TPM_RC_INTEGRITY;
  o.kind = kind == kPayloadEventSeq ? SlotKind::event_sequence : SlotKind::hash_sequence;
  uint8_t ticket = 0, first = 0;
  if (unmarshal(r, o.auth) || !r.u8(ticket) || !r.u8(first)) return TPM_RC_INTEGRITY;
  o.ticket_allowed = ticket;
  o.first_block_seen = first;
  const size_t states = o.kind == SlotKind::event_sequence ? kHashCount : 1;
  for (size_t i = 0; i < states; ++i)
    if (!r.bytes(reinterpret_cast<uint8_t*>(&o.hash[i]), sizeof o.hash[i])) return TPM_RC_INTEGRITY;
  return r.remaining() == 0 ? TPM_RC_SUCCESS : TPM_RC_INTEGRITY;
}

}  // namespace

TPM_RC TPM2_ContextSave(Command& c) {
  if (TPM_RC rc = c.parse()) return rc;
  ObjectSlot* o = object_at(c.st, c.handles[0]);
  if (!o) return rc_handle(TPM_RC_HANDLE, 1);  // session contexts: not yet
  TPMS_CONTEXT ctx;
  ctx.sequence = ++c.st.context_counter;
  ctx.hierarchy = o->kind == SlotKind::object ? o->hierarchy : TPM_RH_NULL;
  ctx.savedHandle = o->kind != SlotKind::object ? kSavedSequence
                    : o->pub.objectAttributes.has(TPMA_OBJECT_stClear) ? kSavedStClear
                                                                        : kSavedObject;
  // payload: sequence || object, encrypted in place after the integrity field
  uint8_t plain[profile::kMaxContextSize];
  Writer pw(plain);
  uint8_t seq[8];
  be(ctx.sequence, seq, 8);
  pw.bytes(seq, 8);
  write_payload(*o, pw);
  const size_t integrity_len = 2 + 32;
  if (pw.overflow() || integrity_len + pw.size() > profile::kMaxContextSize) {
    crypto::zeroize(plain);
    return TPM_RC_FAILURE;
  }
  uint8_t key_iv[48];
  protection_key(c.st, ctx.hierarchy, ctx.sequence, ctx.savedHandle, key_iv);
  uint8_t* enc = ctx.contextBlob.buffer + integrity_len;
  crypto::sym_encrypt(crypto::SymMode::cfb, {key_iv, 32}, {key_iv + 32, 16}, pw.written(), {enc, pw.size()});
  crypto::zeroize(key_iv);
  crypto::zeroize(plain);
  uint8_t mac[profile::kMaxDigestSize];
  size_t n = integrity(c.st, ctx.hierarchy, ctx.sequence, ctx.savedHandle, {enc, pw.size()}, mac);
  ctx.contextBlob.buffer[0] = 0;
  ctx.contextBlob.buffer[1] = static_cast<uint8_t>(n);
  std::memcpy(ctx.contextBlob.buffer + 2, mac, n);
  ctx.contextBlob.size = static_cast<uint16_t>(integrity_len + pw.size());
  c.put(ctx);
  return TPM_RC_SUCCESS;
}

TPM_RC TPM2_ContextLoad(Command& c) {
  TPMS_CONTEXT ctx;
  if (TPM_RC rc = c.parse(ctx)) return rc;
  if (ctx.savedHandle != kSavedObject && ctx.savedHandle != kSavedSequence && ctx.savedHandle != kSavedStClear)
    return rc_param(TPM_RC_HANDLE, 1);  // session contexts: not yet
  if (ctx.hierarchy != TPM_RH_NULL && ctx.hierarchy != TPM_RH_OWNER && ctx.hierarchy != TPM_RH_ENDORSEMENT &&
      ctx.hierarchy != TPM_RH_PLATFORM)
    return rc_param(TPM_RC_VALUE, 1);
  if (!hierarchy_enabled(c.st, ctx.hierarchy)) return rc_param(TPM_RC_HIERARCHY, 1);
  // integrity first: nothing of an unauthenticated blob is decrypted or parsed
  Reader blob(ctx.contextBlob.view());
  TPM2B_DIGEST mac;
  if (unmarshal(blob, mac) != TPM_RC_SUCCESS || mac.size != 32 || blob.remaining() < 8)
    return rc_param(TPM_RC_SIZE, 1);
  std::span<const uint8_t> enc{blob.position(), blob.remaining()};
  uint8_t expect[profile::kMaxDigestSize];
  size_t n = integrity(c.st, ctx.hierarchy, ctx.sequence, ctx.savedHandle, enc, expect);
  if (n != mac.size || !crypto::ct_equal(mac.view(), {expect, n})) return rc_param(TPM_RC_INTEGRITY, 1);

  ObjectSlot* o = object_allocate(c.st);
  if (!o) return TPM_RC_OBJECT_MEMORY;
  uint8_t plain[profile::kMaxContextSize];
  uint8_t key_iv[48];
  protection_key(c.st, ctx.hierarchy, ctx.sequence, ctx.savedHandle, key_iv);
  crypto::sym_decrypt(crypto::SymMode::cfb, {key_iv, 32}, {key_iv + 32, 16}, enc, {plain, enc.size()});
  crypto::zeroize(key_iv);
  Reader r({plain, enc.size()});
  uint64_t seq = 0;
  TPM_RC rc = r.u64(seq) && seq == ctx.sequence ? read_payload(c.st, r, *o) : TPM_RC_INTEGRITY;
  crypto::zeroize(plain);
  if (rc != TPM_RC_SUCCESS) {
    object_flush(*o);
    return rc_param(rc, 1);
  }
  c.response_handle = object_handle(c.st, o);
  return TPM_RC_SUCCESS;
}

TPM_RC TPM2_FlushContext(Command& c) {
  TPMI_DH_CONTEXT flush_handle;
  if (TPM_RC rc = c.parse(flush_handle)) return rc;
  if (ObjectSlot* o = object_at(c.st, flush_handle)) {
    object_flush(*o);
    return TPM_RC_SUCCESS;
  }
  if (SessionSlot* s = session_at(c.st, flush_handle)) {
    session_flush(*s);
    return TPM_RC_SUCCESS;
  }
  return rc_param(TPM_RC_HANDLE, 1);  // nothing loaded under that handle
}

}  // namespace utpm::tpm
