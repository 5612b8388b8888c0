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
#include <memory>

#include "crypto/crypto.h"
#include "crypto/kdf.h"
#include "crypto/sym.h"
#include "tpm/commands/commands.h"
#include "tpm/subsystem/subsystems.h"
#include "tpm/tpm.h"

namespace utpm::tpm {
namespace {

constexpr TPM_HANDLE kSavedObject = 0x80000000, kSavedSequence = 0x80000001, kSavedStClear = 0x80000002;

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

}  // namespace

TPM_RC TPM2_ContextSave(Command& c) {
  if (TPM_RC rc = c.parse()) return rc;
  ObjectSlot* o = c.entities[0].object;
  SessionSlot* session = o ? nullptr : c.entities[0].session;
  // Sessions count on their own (Part 1 contextCounter; objects on context_counter): a session
  // save that would give the oldest saved session's low bits again is refused until that one
  // is loaded (and saved again, or flushed). Nothing has changed yet when it is.
  if (session && session_gap_full(c.st)) return TPM_RC_CONTEXT_GAP;
  if (session && c.st.session_counter == UINT64_MAX) return TPM_RC_TOO_MANY_CONTEXTS;
  const uint64_t sequence = session ? c.st.session_counter++ : ++c.st.context_counter;
  TPM_HANDLE hierarchy = TPM_RH_NULL, saved_handle = 0;
  if (session) {
    hierarchy = TPM_RH_NULL;  // sessions die with the null proof, at the next Startup
    saved_handle = c.handles[0];
  } else {
    hierarchy = o->kind == SlotKind::object ? o->hierarchy : TPM_RH_NULL;
    saved_handle = o->kind != SlotKind::object ? kSavedSequence
                   : o->pub.objectAttributes.has(TPMA_OBJECT_stClear) ? kSavedStClear
                                                                       : kSavedObject;
  }
  // The TPMS_CONTEXT is built where it is sent, in the response buffer (no kilobyte copies on
  // the MCU stack): sequence, savedHandle, hierarchy, then the contextBlob = integrity
  // (TPM2B_DIGEST) || payload, the payload (sequence || object or session) sealed in place.
  Writer& w = c.out;
  w.u64(sequence);
  w.u32(saved_handle);
  w.u32(hierarchy);
  const size_t blob_size_at = w.reserve(2);
  const size_t integrity_at = w.reserve(2 + 32);
  const size_t payload_at = w.size();
  w.u64(sequence);
  if (session) session_serialize(*session, w);
  else object_serialize(*o, w);
  const size_t payload_len = w.size() - payload_at;
  const size_t blob_len = 2 + 32 + payload_len;
  if (w.overflow() || blob_len > profile::kMaxContextSize) {
    crypto::zeroize(w.data(), w.size());  // no plaintext left behind in the response buffer
    return TPM_RC_FAILURE;
  }
  const std::span<uint8_t> payload{w.data() + payload_at, payload_len};
  uint8_t key_iv[48];
  protection_key(c.st, hierarchy, sequence, saved_handle, key_iv);
  crypto::sym_encrypt(crypto::SymMode::cfb, {key_iv, 32}, {key_iv + 32, 16}, payload, payload);
  crypto::zeroize(key_iv);
  uint8_t mac[profile::kMaxDigestSize];
  const size_t n = integrity(c.st, hierarchy, sequence, saved_handle, payload, mac);
  w.patch16(integrity_at, static_cast<uint16_t>(n));
  std::memcpy(w.data() + integrity_at + 2, mac, n);
  w.patch16(blob_size_at, static_cast<uint16_t>(blob_len));
  // A saved session leaves TPM RAM; only its newest context can bring it back.
  if (session) session_saved(c.st, *session, sequence);
  return TPM_RC_SUCCESS;
}

TPM_RC TPM2_ContextLoad(Command& c) {
  TPMS_CONTEXT ctx;
  if (TPM_RC rc = c.parse(ctx)) return rc;
  const bool is_session = handle_type(ctx.savedHandle) == TPM_HT_HMAC_SESSION ||
                          handle_type(ctx.savedHandle) == TPM_HT_POLICY_SESSION;
  if (!is_session && ctx.savedHandle != kSavedObject && ctx.savedHandle != kSavedSequence &&
      ctx.savedHandle != kSavedStClear)
    return rc_param(TPM_RC_HANDLE, 1);
  if (is_session && (ctx.hierarchy != TPM_RH_NULL || session_loadable(c.st, ctx.savedHandle, ctx.sequence) < 0))
    return rc_param(TPM_RC_HANDLE, 1);  // not a saved session, or not its newest context
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

  ObjectSlot* o = nullptr;
  SessionSlot* session = nullptr;
  if (is_session) {
    for (auto& s : c.st.sessions)
      if (!s.used) session = &s;
    if (!session) return TPM_RC_SESSION_MEMORY;
    // The gap is full and one slot is left: only the oldest saved session may take it.
    if (session_gap_blocks_last_slot(c.st, static_cast<int>(ctx.savedHandle & 0x00FFFFFF))) return TPM_RC_CONTEXT_GAP;
  } else {
    o = object_allocate(c.st);
    if (!o) return TPM_RC_OBJECT_MEMORY;
  }
  // Decrypted in place, in the command's own copy of the blob (no second buffer on the stack).
  const std::span<uint8_t> plain{ctx.contextBlob.buffer + (ctx.contextBlob.size - enc.size()), enc.size()};
  uint8_t key_iv[48];
  protection_key(c.st, ctx.hierarchy, ctx.sequence, ctx.savedHandle, key_iv);
  crypto::sym_decrypt(crypto::SymMode::cfb, {key_iv, 32}, {key_iv + 32, 16}, plain, plain);
  crypto::zeroize(key_iv);
  Reader r(plain);
  uint64_t seq = 0;
  TPM_RC rc = TPM_RC_INTEGRITY;
  if (r.u64(seq) && seq == ctx.sequence) {
    if (is_session) rc = session_deserialize(r, *session) ? TPM_RC_SUCCESS : TPM_RC_INTEGRITY;
    else rc = object_deserialize(r, *o);
  }
  const TPM_HANDLE saved_handle = ctx.savedHandle;
  crypto::zeroize(plain.data(), plain.size());
  if (rc != TPM_RC_SUCCESS) {
    if (o) object_flush(*o);
    if (session) {
      crypto::zeroize(*session);
      std::construct_at(session);
    }
    return rc_param(rc, 1);
  }
  if (is_session) {
    const uint32_t index = saved_handle & 0x00FFFFFF;
    session->used = true;
    session->index = static_cast<uint8_t>(index);
    c.st.active_sessions[index].state = 1;  // loaded again
    c.response_handle = saved_handle;
  } else {
    c.response_handle = object_handle(c.st, o);
  }
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
    session_flush(c.st, *s);
    return TPM_RC_SUCCESS;
  }
  if (session_forget_saved(c.st, flush_handle)) return TPM_RC_SUCCESS;
  return rc_param(TPM_RC_HANDLE, 1);  // nothing loaded under that handle
}

}  // namespace utpm::tpm

namespace utpm::tpm {

TPM_RC TPM2_EvictControl(Command& c) {
  TPM_HANDLE persistent_handle = 0;
  if (TPM_RC rc = c.parse(persistent_handle)) return rc;
  if (handle_type(persistent_handle) != TPM_HT_PERSISTENT) return rc_param(TPM_RC_VALUE, 1);
  const TPM_HANDLE auth = c.handles[0], object = c.handles[1];
  // The owner's persistent range is 0x81000000-0x817FFFFF, the platform's the rest.
  const bool platform_range = persistent_handle >= 0x81800000;
  if (platform_range != (auth == TPM_RH_PLATFORM)) return rc_param(TPM_RC_RANGE, 1);
  State& st = c.st;
  PersistentData& p = st.pers;
  NvStore& nv = c.platform.nv();

  if (handle_type(object) == TPM_HT_PERSISTENT) {  // evict: remove it
    if (object != persistent_handle) return rc_param(TPM_RC_HANDLE, 1);
    int i = persistent_index(st, object);
    if (nv.remove(object) != NvStore::Result::ok) return TPM_RC_FAILURE;
    for (uint32_t j = static_cast<uint32_t>(i); j + 1 < p.persistent_count; ++j) {
      p.persistent[j] = p.persistent[j + 1];
      p.persistent_hierarchy[j] = p.persistent_hierarchy[j + 1];
    }
    --p.persistent_count;
    st.dirty |= kDirtyPersistent;
    return TPM_RC_SUCCESS;
  }

  ObjectSlot* o = c.entities[1].object;
  if (o->kind != SlotKind::object || o->public_only || o->pub.objectAttributes.has(TPMA_OBJECT_stClear))
    return rc_handle(TPM_RC_ATTRIBUTES, 2);
  const bool owner_side = o->hierarchy == TPM_RH_OWNER || o->hierarchy == TPM_RH_ENDORSEMENT;
  if (auth == TPM_RH_OWNER ? !owner_side : o->hierarchy != TPM_RH_PLATFORM) return rc_handle(TPM_RC_HIERARCHY, 2);
  if (persistent_index(st, persistent_handle) >= 0) return TPM_RC_NV_DEFINED;
  if (p.persistent_count == profile::kMaxPersistentObjects) return TPM_RC_NV_SPACE;
  // Serialised in the response buffer, which EvictControl leaves empty (no kilobyte copy on the
  // MCU stack); the store seals the record, and the plaintext is wiped at once.
  Writer w(c.out.spare());
  object_serialize(*o, w);
  NvStore::Result res = w.overflow() ? NvStore::Result::too_large : nv.write(persistent_handle, w.written());
  crypto::zeroize(w.data(), w.size());
  if (res == NvStore::Result::no_space || res == NvStore::Result::too_large) return TPM_RC_NV_SPACE;
  if (res != NvStore::Result::ok) return TPM_RC_FAILURE;
  p.persistent[p.persistent_count] = persistent_handle;
  p.persistent_hierarchy[p.persistent_count++] = o->hierarchy;
  st.dirty |= kDirtyPersistent;
  return TPM_RC_SUCCESS;
}

}  // namespace utpm::tpm
