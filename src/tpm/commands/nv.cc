// Part 3 chapter 31: Non-volatile storage. The dispatcher has loaded each NV index the command
// names into an NvSlot (public area with the effective attributes, authValue, Name) and
// authorized it; the data stays in the index's store record (subsystem/nv.h) and is read or
// rewritten here. Response codes and their order follow Part 3's detailed actions.
#include <cstring>

#include "crypto/crypto.h"
#include "tpm/commands/commands.h"
#include "tpm/subsystem/nv.h"
#include "tpm/subsystem/subsystems.h"
#include "tpm/tpm.h"

namespace utpm::tpm {
namespace {

NvSlot& index_slot(Command& c, unsigned i) { return *c.entities[i].nv; }

// NvWriteAccessChecks: the index is not write locked, and the authorization came from an entity
// its attributes allow (owner: OWNERWRITE, platform: PPWRITE, else the index itself).
TPM_RC write_access(const Command& c, const NvSlot& s) {
  const TPMA_NV a = s.pub.attributes;
  if (a.has(TPMA_NV::WRITELOCKED)) return TPM_RC_NV_LOCKED;
  const TPM_HANDLE auth = c.handles[0];
  if (auth == TPM_RH_OWNER) return a.has(TPMA_NV::OWNERWRITE) ? TPM_RC_SUCCESS : TPM_RC_NV_AUTHORIZATION;
  if (auth == TPM_RH_PLATFORM) return a.has(TPMA_NV::PPWRITE) ? TPM_RC_SUCCESS : TPM_RC_NV_AUTHORIZATION;
  return auth == s.handle ? TPM_RC_SUCCESS : TPM_RC_NV_AUTHORIZATION;
}

// Read-Only mode (NvReadOnlyModeChecks of the reference TPM): NV_Write, NV_Extend, NV_SetBits,
// NV_WriteLock and NV_ReadLock still act on an index that is both ORDERLY and CLEAR_STCLEAR (its
// data lives in RAM and a TPM Reset or Restart clears it); on any other index they are refused,
// before the access checks.
TPM_RC read_only_check(const Command& c, const NvSlot& s) {
  const TPMA_NV a = s.pub.attributes;
  if (c.st.read_only && !(a.has(TPMA_NV::ORDERLY) && a.has(TPMA_NV::CLEAR_STCLEAR))) return TPM_RC_READ_ONLY;
  return TPM_RC_SUCCESS;
}

void put_be64(uint64_t v, uint8_t (&out)[8]) {
  for (int i = 0; i < 8; ++i) out[i] = static_cast<uint8_t>(v >> (56 - 8 * i));
}
uint64_t get_be64(const uint8_t (&in)[8]) {
  uint64_t v = 0;
  for (uint8_t b : in) v = v << 8 | b;
  return v;
}

// The 8-octet value of a counter or bit field: 0 (bits) or the counter floor if never written.
TPM_RC read_u64(Command& c, const NvSlot& s, uint64_t unwritten, uint64_t& v) {
  if (!s.pub.attributes.has(TPMA_NV::WRITTEN)) {
    v = unwritten;
    return TPM_RC_SUCCESS;
  }
  uint8_t b[8];
  if (TPM_RC rc = nv_read_data(c.tpm, s, 0, b)) return rc;
  v = get_be64(b);
  return TPM_RC_SUCCESS;
}

TPM_RC write_u64(Command& c, NvSlot& s, uint64_t v) {
  uint8_t b[8];
  put_be64(v, b);
  s.pub.attributes.value |= TPMA_NV::WRITTEN;
  return nv_write_data(c.tpm, s, 0, b);
}

// An authValue as stored: without trailing zeros, at most the digest size of nameAlg.
bool trim_auth(TPM2B_AUTH& a, TPM_ALG_ID name_alg) {
  const size_t n = auth_trimmed(&a).size();
  if (n > digest_size(name_alg)) return false;
  a.size = static_cast<uint16_t>(n);
  return true;
}

}  // namespace

namespace {

// NV_DefineSpace's detailed actions after the parameters are parsed (shared with
// NV_DefineSpace2, whose parameters are numbered alike: auth 1, publicInfo 2).
TPM_RC define_space(Command& c, TPM2B_AUTH& auth, const TPMS_NV_PUBLIC& pub) {
  const TPMA_NV a = pub.attributes;
  const TPM_HANDLE creator = c.handles[0];
  const size_t name_size = digest_size(pub.nameAlg);
  constexpr unsigned kAuth = 1, kInfo = 2;

  if (pub.authPolicy.size != 0 && pub.authPolicy.size != name_size) return rc_param(TPM_RC_SIZE, kInfo);
  if (!trim_auth(auth, pub.nameAlg)) return rc_param(TPM_RC_SIZE, kAuth);
  // Platform authorization with phEnableNV CLEAR (ownerAuth with shEnable CLEAR never gets here).
  if (creator == TPM_RH_PLATFORM && !c.st.ph_enable_nv) return rc_handle(TPM_RC_HIERARCHY, 1);

  const TPM_NT type = a.type();
  switch (type) {
    case TPM_NT_ORDINARY:
      if (pub.dataSize > profile::kMaxNvIndexSize) return rc_param(TPM_RC_SIZE, kInfo);
      break;
    case TPM_NT_EXTEND:
      if (pub.dataSize != name_size) return rc_param(TPM_RC_SIZE, kInfo);
      break;
    case TPM_NT_COUNTER:
    case TPM_NT_BITS:
    case TPM_NT_PIN_FAIL:
    case TPM_NT_PIN_PASS:
      if (pub.dataSize != 8) return rc_param(TPM_RC_SIZE, kInfo);
      break;
    default:
      return rc_param(TPM_RC_ATTRIBUTES, kInfo);
  }
  switch (type) {
    case TPM_NT_COUNTER:
      if (a.has(TPMA_NV::CLEAR_STCLEAR)) return rc_param(TPM_RC_ATTRIBUTES, kInfo);
      break;
    case TPM_NT_PIN_FAIL:
      if (!a.has(TPMA_NV::NO_DA)) return rc_param(TPM_RC_ATTRIBUTES, kInfo);
      [[fallthrough]];
    case TPM_NT_PIN_PASS:
      // A PIN index is written by owner, platform or policy, never with its own authValue, and
      // cannot be locked for good.
      if (a.has(TPMA_NV::AUTHWRITE) || a.has(TPMA_NV::GLOBALLOCK) || a.has(TPMA_NV::WRITEDEFINE))
        return rc_param(TPM_RC_ATTRIBUTES, kInfo);
      break;
    default:
      break;
  }
  // State bits are the TPM's to set.
  if (a.has(TPMA_NV::WRITTEN) || a.has(TPMA_NV::WRITELOCKED) || a.has(TPMA_NV::READLOCKED))
    return rc_param(TPM_RC_ATTRIBUTES, kInfo);
  // There must be a way to read and a way to write it.
  if (!(a.value & (TPMA_NV::PPREAD | TPMA_NV::OWNERREAD | TPMA_NV::AUTHREAD | TPMA_NV::POLICYREAD)))
    return rc_param(TPM_RC_ATTRIBUTES, kInfo);
  if (!(a.value & (TPMA_NV::PPWRITE | TPMA_NV::OWNERWRITE | TPMA_NV::AUTHWRITE | TPMA_NV::POLICYWRITE)))
    return rc_param(TPM_RC_ATTRIBUTES, kInfo);
  if (a.has(TPMA_NV::CLEAR_STCLEAR) && a.has(TPMA_NV::WRITEDEFINE)) return rc_param(TPM_RC_ATTRIBUTES, kInfo);
  // The creator must be able to delete it: PLATFORMCREATE exactly when the platform defines it.
  if (a.has(TPMA_NV::PLATFORMCREATE) != (creator == TPM_RH_PLATFORM)) return rc_handle(TPM_RC_ATTRIBUTES, 1);
  if (a.has(TPMA_NV::POLICY_DELETE) && creator != TPM_RH_PLATFORM) return rc_param(TPM_RC_ATTRIBUTES, kInfo);
  // WRITEALL needs the whole index in one NV_Write.
  if (a.has(TPMA_NV::WRITEALL) && pub.dataSize > profile::kMaxNvBuffer) return rc_param(TPM_RC_SIZE, kInfo);
  if (nv_find(c.st, pub.nvIndex) >= 0) return TPM_RC_NV_DEFINED;
  return nv_define(c.tpm, pub, auth);
}

}  // namespace

TPM_RC TPM2_NV_DefineSpace(Command& c) {
  TPM2B_AUTH auth;
  TPM2B_NV_PUBLIC info;
  if (TPM_RC rc = c.parse(auth, info)) return rc;
  TPM_RC rc = define_space(c, auth, info.t);
  crypto::zeroize(auth);
  return rc;
}

TPM_RC TPM2_NV_DefineSpace2(Command& c) {
  TPM2B_AUTH auth;
  TPM2B_NV_PUBLIC_2 info;
  if (TPM_RC rc = c.parse(auth, info)) return rc;
  // Only ordinary NV indices exist here: an external or permanent NV index cannot be defined
  // (the reference TPM's answer for a handle type it does not implement).
  TPM_RC rc = info.t.handleType == TPM_HT_NV_INDEX ? define_space(c, auth, info.t.publicArea.nvIndex) : rc_param(TPM_RC_HANDLE, 2);
  crypto::zeroize(auth);
  return rc;
}

TPM_RC TPM2_NV_UndefineSpace(Command& c) {
  if (TPM_RC rc = c.parse()) return rc;
  NvSlot& s = index_slot(c, 1);
  if (s.pub.attributes.has(TPMA_NV::POLICY_DELETE)) return rc_handle(TPM_RC_ATTRIBUTES, 2);
  // The owner may delete only owner indices; the platform either kind.
  if (c.handles[0] == TPM_RH_OWNER && s.pub.attributes.has(TPMA_NV::PLATFORMCREATE)) return TPM_RC_NV_AUTHORIZATION;
  return nv_undefine(c.tpm, s);
}

TPM_RC TPM2_NV_UndefineSpaceSpecial(Command& c) {
  if (TPM_RC rc = c.parse()) return rc;
  NvSlot& s = index_slot(c, 0);
  if (!s.pub.attributes.has(TPMA_NV::POLICY_DELETE)) return rc_handle(TPM_RC_ATTRIBUTES, 1);
  return nv_undefine(c.tpm, s);
}

TPM_RC TPM2_NV_ReadPublic(Command& c) {
  if (TPM_RC rc = c.parse()) return rc;
  const NvSlot& s = index_slot(c, 0);
  TPM2B_NV_PUBLIC out;
  out.t = s.pub;
  c.put(out);
  c.put(s.name);
  return TPM_RC_SUCCESS;
}

TPM_RC TPM2_NV_ReadPublic2(Command& c) {
  if (TPM_RC rc = c.parse()) return rc;
  const NvSlot& s = index_slot(c, 0);
  TPM2B_NV_PUBLIC_2 out;
  out.t.handleType = TPM_HT_NV_INDEX;
  out.t.publicArea.nvIndex = s.pub;
  c.put(out);
  c.put(s.name);  // the Name of an ordinary index is the same as NV_ReadPublic's
  return TPM_RC_SUCCESS;
}

TPM_RC TPM2_NV_Write(Command& c) {
  TPM2B_MAX_NV_BUFFER_VIEW data;
  uint16_t offset = 0;
  if (TPM_RC rc = c.parse(data, offset)) return rc;
  NvSlot& s = index_slot(c, 1);
  if (TPM_RC rc = read_only_check(c, s)) return rc;
  if (TPM_RC rc = write_access(c, s)) return rc;
  const TPM_NT type = s.pub.attributes.type();
  if (type == TPM_NT_COUNTER || type == TPM_NT_BITS || type == TPM_NT_EXTEND) return TPM_RC_ATTRIBUTES;
  if (offset > s.pub.dataSize) return rc_param(TPM_RC_VALUE, 2);
  if (data.size() > size_t{s.pub.dataSize} - offset) return TPM_RC_NV_RANGE;
  if (s.pub.attributes.has(TPMA_NV::WRITEALL) && data.size() < s.pub.dataSize) return TPM_RC_NV_RANGE;
  s.pub.attributes.value |= TPMA_NV::WRITTEN;
  return nv_write_data(c.tpm, s, offset, data.data);
}

TPM_RC TPM2_NV_Read(Command& c) {
  uint16_t size = 0, offset = 0;
  if (TPM_RC rc = c.parse(size, offset)) return rc;
  const NvSlot& s = index_slot(c, 1);
  if (TPM_RC rc = nv_read_access(s, c.handles[0])) return rc;
  if (size > profile::kMaxNvBuffer) return rc_param(TPM_RC_VALUE, 1);
  if (offset > s.pub.dataSize) return rc_param(TPM_RC_VALUE, 2);
  if (size > s.pub.dataSize - offset) return TPM_RC_NV_RANGE;
  // The data goes straight into the response (no copy on the stack).
  c.put(size);
  const size_t at = c.out.reserve(size);
  if (c.out.overflow()) return TPM_RC_FAILURE;
  return nv_read_data(c.tpm, s, offset, {c.out.data() + at, size});
}

TPM_RC TPM2_NV_Increment(Command& c) {
  if (TPM_RC rc = c.parse()) return rc;
  NvSlot& s = index_slot(c, 1);
  if (TPM_RC rc = write_access(c, s)) return rc;
  if (s.pub.attributes.type() != TPM_NT_COUNTER) return rc_handle(TPM_RC_ATTRIBUTES, 2);
  // A counter that was never written starts above every value any counter has had.
  uint64_t v = 0;
  if (TPM_RC rc = read_u64(c, s, c.st.nv.max_counter, v)) return rc;
  return write_u64(c, s, v + 1);
}

TPM_RC TPM2_NV_Extend(Command& c) {
  TPM2B_MAX_NV_BUFFER_VIEW data;
  if (TPM_RC rc = c.parse(data)) return rc;
  NvSlot& s = index_slot(c, 1);
  if (TPM_RC rc = read_only_check(c, s)) return rc;
  if (TPM_RC rc = write_access(c, s)) return rc;
  if (s.pub.attributes.type() != TPM_NT_EXTEND) return rc_handle(TPM_RC_ATTRIBUTES, 2);
  const size_t n = digest_size(s.pub.nameAlg);
  uint8_t digest[profile::kMaxDigestSize] = {};
  if (s.pub.attributes.has(TPMA_NV::WRITTEN))
    if (TPM_RC rc = nv_read_data(c.tpm, s, 0, {digest, n})) return rc;
  crypto::HashState hs;
  crypto::hash_start(hs, to_crypto(s.pub.nameAlg));
  crypto::hash_update(hs, {digest, n});
  crypto::hash_update(hs, data.data);
  crypto::hash_finish(hs, {digest, n});
  s.pub.attributes.value |= TPMA_NV::WRITTEN;
  return nv_write_data(c.tpm, s, 0, {digest, n});
}

TPM_RC TPM2_NV_SetBits(Command& c) {
  uint64_t bits = 0;
  if (TPM_RC rc = c.parse(bits)) return rc;
  NvSlot& s = index_slot(c, 1);
  if (TPM_RC rc = read_only_check(c, s)) return rc;
  if (TPM_RC rc = write_access(c, s)) return rc;
  if (s.pub.attributes.type() != TPM_NT_BITS) return rc_handle(TPM_RC_ATTRIBUTES, 2);
  uint64_t v = 0;
  if (TPM_RC rc = read_u64(c, s, 0, v)) return rc;
  return write_u64(c, s, v | bits);
}

TPM_RC TPM2_NV_WriteLock(Command& c) {
  if (TPM_RC rc = c.parse()) return rc;
  NvSlot& s = index_slot(c, 1);
  if (TPM_RC rc = read_only_check(c, s)) return rc;
  if (TPM_RC rc = write_access(c, s)) return rc == TPM_RC_NV_AUTHORIZATION ? rc : TPM_RC_SUCCESS;  // already locked
  if (!s.pub.attributes.has(TPMA_NV::WRITEDEFINE) && !s.pub.attributes.has(TPMA_NV::WRITE_STCLEAR))
    return rc_handle(TPM_RC_ATTRIBUTES, 2);
  s.pub.attributes.value |= TPMA_NV::WRITELOCKED;
  return nv_write_data(c.tpm, s, 0, {});
}

TPM_RC TPM2_NV_GlobalWriteLock(Command& c) {
  if (TPM_RC rc = c.parse()) return rc;
  return nv_global_lock(c.tpm);
}

TPM_RC TPM2_NV_ReadLock(Command& c) {
  if (TPM_RC rc = c.parse()) return rc;
  NvSlot& s = index_slot(c, 1);
  if (TPM_RC rc = read_only_check(c, s)) return rc;
  TPM_RC rc = nv_read_access(s, c.handles[0]);
  if (rc == TPM_RC_NV_AUTHORIZATION) return rc;
  if (rc == TPM_RC_NV_LOCKED) return TPM_RC_SUCCESS;  // already read locked
  // An unwritten index may be read locked (NV_UNINITIALIZED is no error here).
  if (!s.pub.attributes.has(TPMA_NV::READ_STCLEAR)) return rc_handle(TPM_RC_ATTRIBUTES, 2);
  s.pub.attributes.value |= TPMA_NV::READLOCKED;
  return nv_write_data(c.tpm, s, 0, {});
}

TPM_RC TPM2_NV_ChangeAuth(Command& c) {
  TPM2B_AUTH new_auth;
  if (TPM_RC rc = c.parse(new_auth)) return rc;
  NvSlot& s = index_slot(c, 0);
  if (!trim_auth(new_auth, s.pub.nameAlg)) {
    crypto::zeroize(new_auth);
    return rc_param(TPM_RC_SIZE, 1);
  }
  s.auth = new_auth;
  crypto::zeroize(new_auth);
  return nv_write_data(c.tpm, s, 0, {});
}

}  // namespace utpm::tpm
