// Explicit, versioned, tagged serialisation of the engine's NV records (never a struct dump),
// and the commit discipline: a command's records are staged in the store and committed
// atomically after the command succeeded.
//
// Record layouts (all integers big-endian), each starting with u16 tag + u16 version:
//   kRecPersistent 'UP' v1: eps sps pps ph_proof sh_proof eh_proof (32 B each),
//       owner_auth endorsement_auth lockout_auth (TPM2B), u8 disable_clear,
//       u32 max_tries recovery_time lockout_recovery failed_tries, u64 total_reset_count,
//       owner/endorsement/lockout policy (TPMT_HA), u32 n + n × {u32 handle, u32 hierarchy} of
//       persistent objects; v2 adds u8 lockout_auth_blocked (v1 records still load, as 0);
//       v3 adds the PCR policy group's TPMT_HA (older records load with none);
//       v4 adds the PCR allocation (PCR_Allocate): the banks in use, then the banks the next
//       Startup(CLEAR) uses, each as u8 n + n × u16 hash algorithm (older records: every bank
//       of the profile; an algorithm the profile no longer has is dropped), then u32
//       algorithmSet (SetAlgorithmSet; older records: 0);
//       v5 adds 32 octets: bit n of the command codes TPM_CC_FIRST + n that PP_Commands made
//       need physical presence (older records: none)
//   kRecClock 'UC' v1: u64 clock, u32 reset_count, u32 restart_count, u16 orderly, i8 adjust;
//       v2 adds u64 commit_counter (ECC commitCounter; v1 records load with 0);
//       v3 adds u8 da_used (a DA-protected authorization since the last orderly state; older: 0)
//   kRecAudit 'UA' v1: u16 audit hash, u64 audit counter, 32 octets: bit n of the audited
//       command codes TPM_CC_FIRST + n (core/audit.cc); absent in older stores: the defaults
//   kRecSavedState 'US' v1: u8 banks, per bank {u16 alg, state-saved PCR values in index
//       order}, u32 pcr update counter, u8 ph/sh/eh/phNV enables, TPM2B platform_auth;
//       v2 adds TPM2B pcr_auth (the PCR auth group's authValue);
//       v3 adds u8 read_only (Read-Only mode, ReadOnlyControl; older records: not read-only)
#include <cstring>

#include "crypto/crypto.h"
#include "tpm/core/audit.h"
#include "tpm/marshal/marshal.h"
#include "tpm/subsystem/nv.h"
#include "tpm/subsystem/subsystems.h"
#include "tpm/tpm.h"

namespace utpm::tpm {
namespace {

constexpr uint16_t kTagPersistent = 0x5550;  // "UP"
constexpr uint16_t kTagClock = 0x5543;       // "UC"
constexpr uint16_t kTagSavedState = 0x5553;  // "US"
constexpr uint16_t kVersion1 = 1;
constexpr uint16_t kPersistentVersion = 5;

constexpr size_t kStateSavedPcrs = 16;
constexpr size_t kMaxRecordSize = 2 + 2 + 1 + profile::kMaxPcrBanks * (2 + kStateSavedPcrs * profile::kMaxDigestSize) +
                                  4 + 4 + 2 + profile::kMaxDigestSize;
static_assert(kMaxRecordSize >= 512, "room for the persistent record");
constexpr size_t kNvListRecordSize = 4 + 4 + 4 + 8 + 4 + profile::kMaxNvIndices * 5;
constexpr size_t kFlushBufferSize = kMaxRecordSize > kNvListRecordSize ? kMaxRecordSize : kNvListRecordSize;

void put_header(Writer& w, uint16_t tag, uint16_t version = kVersion1) {
  w.u16(tag);
  w.u16(version);
}
bool get_header(Reader& r, uint16_t tag, uint16_t max_version = kVersion1, uint16_t* version = nullptr) {
  uint16_t t, v;
  if (!r.u16(t) || !r.u16(v) || t != tag || v < kVersion1 || v > max_version) return false;
  if (version) *version = v;
  return true;
}

// A PCR allocation bitmap (bit i = profile::kPcrBankAlgs[i]) as its list of hash algorithms.
void write_banks(Writer& w, uint8_t banks) {
  uint8_t n = 0;
  for (size_t i = 0; i < profile::kMaxPcrBanks; ++i) n = static_cast<uint8_t>(n + (banks >> i & 1));
  w.u8(n);
  for (size_t i = 0; i < profile::kMaxPcrBanks; ++i)
    if (banks >> i & 1) w.u16(profile::kPcrBankAlgs[i]);
}
bool read_banks(Reader& r, uint8_t& banks) {
  uint8_t n = 0;
  if (!r.u8(n)) return false;
  banks = 0;
  for (uint8_t k = 0; k < n; ++k) {
    uint16_t alg = 0;
    if (!r.u16(alg)) return false;
    for (size_t i = 0; i < profile::kMaxPcrBanks; ++i)
      if (profile::kPcrBankAlgs[i] == alg) banks = static_cast<uint8_t>(banks | 1u << i);
  }
  if (banks == 0) banks = kAllPcrBanks;  // none left in this profile: its default
  return true;
}

void write_persistent(const PersistentData& p, Writer& w) {
  put_header(w, kTagPersistent, kPersistentVersion);
  for (const auto* a : {p.eps, p.sps, p.pps}) w.bytes(a, profile::kPrimarySeedSize);
  for (const auto* a : {p.ph_proof, p.sh_proof, p.eh_proof}) w.bytes(a, profile::kProofSize);
  marshal(w, p.owner_auth);
  marshal(w, p.endorsement_auth);
  marshal(w, p.lockout_auth);
  w.u8(p.disable_clear);
  w.u32(p.max_tries);
  w.u32(p.recovery_time);
  w.u32(p.lockout_recovery);
  w.u32(p.failed_tries);
  w.u64(p.total_reset_count);
  for (const TPMT_HA* h : {&p.owner_policy, &p.endorsement_policy, &p.lockout_policy}) marshal(w, *h);
  w.u32(p.persistent_count);
  for (uint32_t i = 0; i < p.persistent_count; ++i) {
    w.u32(p.persistent[i]);
    w.u32(p.persistent_hierarchy[i]);
  }
  w.u8(p.lockout_auth_blocked);
  marshal(w, p.pcr_policy);
  write_banks(w, p.pcr_active);
  write_banks(w, p.pcr_pending);
  w.u32(p.algorithm_set);
  w.bytes(p.pp_commands, sizeof p.pp_commands);
}
bool read_handles(Reader& r, PersistentData& p) {
  for (uint32_t i = 0; i < p.persistent_count; ++i)
    if (!r.u32(p.persistent[i]) || !r.u32(p.persistent_hierarchy[i])) return false;
  return true;
}
bool read_persistent(Reader& r, PersistentData& p) {
  uint16_t version = 0;
  if (!get_header(r, kTagPersistent, kPersistentVersion, &version)) return false;
  for (auto* a : {p.eps, p.sps, p.pps})
    if (!r.bytes(a, profile::kPrimarySeedSize)) return false;
  for (auto* a : {p.ph_proof, p.sh_proof, p.eh_proof})
    if (!r.bytes(a, profile::kProofSize)) return false;
  return unmarshal(r, p.owner_auth) == TPM_RC_SUCCESS && unmarshal(r, p.endorsement_auth) == TPM_RC_SUCCESS &&
         unmarshal(r, p.lockout_auth) == TPM_RC_SUCCESS && r.u8(p.disable_clear) && r.u32(p.max_tries) &&
         r.u32(p.recovery_time) && r.u32(p.lockout_recovery) && r.u32(p.failed_tries) &&
         r.u64(p.total_reset_count) && unmarshal(r, p.owner_policy) == TPM_RC_SUCCESS &&
         unmarshal(r, p.endorsement_policy) == TPM_RC_SUCCESS && unmarshal(r, p.lockout_policy) == TPM_RC_SUCCESS &&
         r.u32(p.persistent_count) && p.persistent_count <= profile::kMaxPersistentObjects &&
         read_handles(r, p) && (version < 2 || r.u8(p.lockout_auth_blocked)) && p.lockout_auth_blocked <= 1 &&
         (version < 3 || unmarshal(r, p.pcr_policy) == TPM_RC_SUCCESS) &&
         (version < 4 || (read_banks(r, p.pcr_active) && read_banks(r, p.pcr_pending) && r.u32(p.algorithm_set))) &&
         (version < 5 || r.bytes(p.pp_commands, sizeof p.pp_commands)) &&
         r.remaining() == 0;
}

void write_clock(const ClockData& c, Writer& w) {
  put_header(w, kTagClock, 3);
  w.u64(c.clock);
  w.u32(c.reset_count);
  w.u32(c.restart_count);
  w.u16(c.orderly);
  w.u8(static_cast<uint8_t>(c.clock_adjust));
  w.u64(c.commit_counter);
  w.u8(c.da_used);
}
bool read_clock(Reader& r, ClockData& c) {
  uint8_t adjust = 0;
  uint16_t version = 0;
  if (!get_header(r, kTagClock, 3, &version)) return false;
  c.commit_counter = 0;  // v1: none recorded
  c.da_used = 0;         // v1/v2: none recorded
  bool ok = r.u64(c.clock) && r.u32(c.reset_count) && r.u32(c.restart_count) && r.u16(c.orderly) &&
            r.u8(adjust) && (version < 2 || r.u64(c.commit_counter)) && (version < 3 || r.u8(c.da_used)) &&
            c.da_used <= 1 && r.remaining() == 0;
  c.clock_adjust = static_cast<int8_t>(adjust);
  return ok;
}

LoadResult failed(Tpm& tpm, NvStore::Result res) {
  enter_failure(tpm.state(), res == NvStore::Result::integrity_error ? FailureCause::nv_integrity
                             : res == NvStore::Result::io_error      ? FailureCause::nv_io
                                                                     : FailureCause::nv_format);
  return LoadResult::failed;
}

}  // namespace

TPM_RC persist_stage(Tpm& tpm, uint32_t id, const Writer& w) {
  NvStore::Result res = tpm.platform().nv().write(id, w.written());
  if (res == NvStore::Result::ok) return TPM_RC_SUCCESS;
  if (res == NvStore::Result::no_space) return TPM_RC_NV_SPACE;
  enter_failure(tpm.state(), res == NvStore::Result::integrity_error ? FailureCause::nv_integrity : FailureCause::nv_io);
  return TPM_RC_FAILURE;
}

namespace {
TPM_RC stage(Tpm& tpm, uint32_t id, const Writer& w) { return persist_stage(tpm, id, w); }
}  // namespace

LoadResult persist_load_all(Tpm& tpm) {
  State& st = tpm.state();
  NvStore& nv = tpm.platform().nv();
  uint8_t buf[kMaxRecordSize];
  size_t len = 0;
  NvStore::Result res = nv.read(kRecPersistent, buf, len);
  if (res == NvStore::Result::not_found) return LoadResult::absent;
  if (res != NvStore::Result::ok) return failed(tpm, res);
  Reader r({buf, len});
  bool ok = read_persistent(r, st.pers);
  crypto::zeroize(buf, sizeof buf);
  if (!ok) return failed(tpm, NvStore::Result::too_large);

  res = nv.read(kRecClock, buf, len);
  if (res != NvStore::Result::ok) return failed(tpm, res == NvStore::Result::not_found ? NvStore::Result::too_large : res);
  Reader rc({buf, len});
  if (!read_clock(rc, st.clock)) return failed(tpm, NvStore::Result::too_large);
  nv_list_reload(tpm);  // NV indices (none in a store made before them)
  res = nv.read(kRecAudit, buf, len);
  audit_defaults(st.audit);
  if (res == NvStore::Result::ok) {
    Reader ra({buf, len});
    if (!audit_record_read(ra, st.audit)) return failed(tpm, NvStore::Result::too_large);
  } else if (res != NvStore::Result::not_found) {
    return failed(tpm, res);
  }
  pcr_apply_allocation(st);
  return st.failure.active ? LoadResult::failed : LoadResult::loaded;
}

void persist_manufacture(Tpm& tpm) {
  State& st = tpm.state();
  st.pers = PersistentData{};
  for (auto* a : {st.pers.eps, st.pers.sps, st.pers.pps})
    if (!tpm_random(tpm, {a, profile::kPrimarySeedSize})) return;
  for (auto* a : {st.pers.ph_proof, st.pers.sh_proof, st.pers.eh_proof})
    if (!tpm_random(tpm, {a, profile::kProofSize})) return;
  pcr_apply_allocation(st);
  st.clock = ClockData{};
  st.clock.orderly = TPM_SU_CLEAR;  // a new TPM starts as if cleanly shut down
  st.nv = NvIndexList{};
  audit_defaults(st.audit);
  st.dirty = kDirtyPersistent | kDirtyClock | kDirtyNvList | kDirtyAudit;
  if (persist_flush(tpm) != TPM_RC_SUCCESS) enter_failure(st, FailureCause::nv_io);
}

TPM_RC persist_flush(Tpm& tpm) {
  State& st = tpm.state();
  if (st.dirty == 0) return TPM_RC_SUCCESS;
  const uint8_t dirty = st.dirty;
  uint8_t buf[kFlushBufferSize];
  TPM_RC rc = TPM_RC_SUCCESS;
  if (st.dirty & kDirtyPersistent) {
    Writer w(buf);
    write_persistent(st.pers, w);
    rc = stage(tpm, kRecPersistent, w);
  }
  if (rc == TPM_RC_SUCCESS && (st.dirty & kDirtyClock)) {
    Writer w(buf);
    write_clock(st.clock, w);
    rc = stage(tpm, kRecClock, w);
  }
  if (rc == TPM_RC_SUCCESS && (st.dirty & kDirtyAudit)) {
    Writer w(buf);
    audit_record_write(st.audit, w);
    rc = stage(tpm, kRecAudit, w);
  }
  if (rc == TPM_RC_SUCCESS && (st.dirty & kDirtyNvList)) {
    Writer w(buf);
    nv_list_write(st.nv, w);
    rc = w.overflow() ? TPM_RC_FAILURE : stage(tpm, kRecNvList, w);
  }
  crypto::zeroize(buf, sizeof buf);
  st.dirty = 0;
  NvStore& nv = tpm.platform().nv();
  if (rc != TPM_RC_SUCCESS) {
    nv.abort();
    nv_orderly_committed(st, false);
    if (dirty & kDirtyNvList) nv_list_reload(tpm);  // back to the list as committed
    return rc;
  }
  NvStore::Result res = nv.commit();
  if (res == NvStore::Result::ok) {
    nv_orderly_committed(st, true);
    return TPM_RC_SUCCESS;
  }
  nv.abort();
  nv_orderly_committed(st, false);
  if (dirty & kDirtyNvList) nv_list_reload(tpm);
  if (res == NvStore::Result::no_space) return TPM_RC_NV_SPACE;
  enter_failure(st, res == NvStore::Result::integrity_error ? FailureCause::nv_integrity : FailureCause::nv_io);
  return TPM_RC_FAILURE;
}

void persist_discard(Tpm& tpm) {
  const uint8_t dirty = tpm.state().dirty;
  tpm.state().dirty = 0;
  tpm.platform().nv().abort();
  nv_orderly_committed(tpm.state(), false);
  if (dirty & kDirtyNvList) nv_list_reload(tpm);  // a failed command changes no NV index
}

TPM_RC persist_save_state(Tpm& tpm) {
  State& st = tpm.state();
  uint8_t buf[kMaxRecordSize];
  Writer w(buf);
  put_header(w, kTagSavedState, 3);
  w.u8(st.pcr.count);
  for (int b = 0; b < st.pcr.count; ++b) {
    w.u16(st.pcr.alg[b]);
    for (uint32_t p = 0; p < profile::kNumPcrs; ++p)
      if (pcr_attributes(p).state_save) w.bytes(pcr_value(st, b, p));
  }
  w.u32(st.pcr.update_counter);
  for (uint8_t e : {st.ph_enable, st.sh_enable, st.eh_enable, st.ph_enable_nv}) w.u8(e);
  marshal(w, st.platform_auth);
  marshal(w, st.pcr_auth);
  w.u8(st.read_only);
  TPM_RC rc = w.overflow() ? TPM_RC_FAILURE : stage(tpm, kRecSavedState, w);
  crypto::zeroize(buf, sizeof buf);
  if (rc == TPM_RC_SUCCESS) st.dirty |= kDirtySavedState;  // staged: commit after the command
  return rc;
}

bool persist_restore_state(Tpm& tpm) {
  State& st = tpm.state();
  uint8_t buf[kMaxRecordSize];
  size_t len = 0;
  if (tpm.platform().nv().read(kRecSavedState, buf, len) != NvStore::Result::ok) return false;
  Reader r({buf, len});
  uint8_t banks = 0;
  uint16_t version = 0;
  bool ok = get_header(r, kTagSavedState, 3, &version) && r.u8(banks) && banks == st.pcr.count;
  for (int b = 0; ok && b < banks; ++b) {
    uint16_t alg = 0;
    ok = r.u16(alg) && alg == st.pcr.alg[b];
    for (uint32_t p = 0; ok && p < profile::kNumPcrs; ++p)
      if (pcr_attributes(p).state_save) {
        std::span<uint8_t> v = pcr_value(st, b, p);
        ok = r.bytes(v.data(), v.size());
      }
  }
  ok = ok && r.u32(st.pcr.update_counter) && r.u8(st.ph_enable) && r.u8(st.sh_enable) && r.u8(st.eh_enable) &&
       r.u8(st.ph_enable_nv) && unmarshal(r, st.platform_auth) == TPM_RC_SUCCESS &&
       (version < 2 || unmarshal(r, st.pcr_auth) == TPM_RC_SUCCESS) &&
       (version < 3 || (r.u8(st.read_only) && st.read_only <= 1)) && r.remaining() == 0;
  crypto::zeroize(buf, sizeof buf);
  return ok;
}

void persist_drop_saved_state(Tpm& tpm) {
  // not_found is fine: there may be no saved state to drop.
  for (uint32_t id : {uint32_t{kRecSavedState}, uint32_t{kRecAct}}) {
    NvStore::Result res = tpm.platform().nv().remove(id);
    if (res == NvStore::Result::ok) tpm.state().dirty |= kDirtySavedState;
  }
}

}  // namespace utpm::tpm
