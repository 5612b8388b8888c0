// Part 3 chapter 30: Capability commands. Every answer is derived from the same tables the
// engine runs on (command table, algorithm table, profile, PCR attributes, live state), so
// GetCapability cannot claim something the TPM does not do.
#include <algorithm>
#include <cstring>

#include "tpm/commands/commands.h"
#include "tpm/core/audit.h"
#include "tpm/subsystem/nv.h"
#include "tpm/subsystem/subsystems.h"
#include "tpm/tpm.h"

namespace utpm::tpm {
namespace {

// TPMS_CAPABILITY_DATA payload budget: MAX_CAP_BUFFER less the capability and count fields.
constexpr size_t kCapData = profile::kMaxCapBuffer - 4 - 4;
constexpr uint32_t kMaxCapAlgs = kCapData / 6;
constexpr uint32_t kMaxCapHandles = kCapData / 4;
constexpr uint32_t kMaxCapCc = kCapData / 4;
constexpr uint32_t kMaxTpmProperties = kCapData / 8;
constexpr uint32_t kMaxEccCurves = kCapData / 2;
constexpr uint32_t kMaxAuthPolicies = kCapData / (4 + 2 + profile::kMaxDigestSize);
// The largest single list entry: TPMS_TAGGED_POLICY (handle, TPMT_HA).
constexpr size_t kMaxCapEntry = 4 + 2 + profile::kMaxDigestSize;
static_assert(kMaxCapEntry >= 4 + 1 + profile::kPcrSelectMax, "TPMS_TAGGED_PCR_SELECT fits");
constexpr uint32_t kMaxActData = kCapData / 12;
constexpr uint32_t kMaxPcrProperties = kCapData / (4 + 1 + profile::kPcrSelectMax);

constexpr uint32_t be32(const char (&s)[5]) {
  return uint32_t(uint8_t(s[0])) << 24 | uint32_t(uint8_t(s[1])) << 16 | uint32_t(uint8_t(s[2])) << 8 |
         uint8_t(s[3]);
}
uint32_t vendor_word(int i) {
  const char* v = profile::kVendorString + 4 * i;
  return uint32_t(uint8_t(v[0])) << 24 | uint32_t(uint8_t(v[1])) << 16 | uint32_t(uint8_t(v[2])) << 8 |
         uint8_t(v[3]);
}

// Commands of the table with TPMA_CC.V (vendor commands: Vendor_TCG_Test).
uint32_t vendor_commands() {
  const CommandTable t = command_table();
  uint32_t n = 0;
  for (const CommandInfo* c = t.begin; c != t.end; ++c) n += (c->code & 0x20000000u) ? 1 : 0;
  return n;
}

// One TPM property, if the TPM has it.
bool tpm_property(Tpm& tpm, TPM_PT pt, uint32_t& v) {
  State& st = tpm.state();
  const CommandTable cmds = command_table();
  const uint32_t ncmds = static_cast<uint32_t>(cmds.end - cmds.begin);
  switch (pt) {
    // ---- fixed ----
    case PT_FIXED + 0: v = be32("2.0\0"); return true;  // TPM_PT_FAMILY_INDICATOR
    case PT_FIXED + 1: v = profile::kSpecLevel; return true;
    case PT_FIXED + 2: v = profile::kSpecRevision; return true;
    case PT_FIXED + 3: v = profile::kSpecDayOfYear; return true;
    case PT_FIXED + 4: v = profile::kSpecYear; return true;
    case PT_FIXED + 5: v = profile::kManufacturer; return true;
    case PT_FIXED + 6: v = vendor_word(0); return true;
    case PT_FIXED + 7: v = vendor_word(1); return true;
    case PT_FIXED + 8: v = vendor_word(2); return true;
    case PT_FIXED + 9: v = vendor_word(3); return true;
    case PT_FIXED + 10: v = 1; return true;  // TPM_PT_VENDOR_TPM_TYPE
    case PT_FIXED + 11: v = profile::kFirmwareVersion1; return true;
    case PT_FIXED + 12: v = profile::kFirmwareVersion2; return true;
    case PT_FIXED + 13: v = profile::kMaxDigestBuffer; return true;  // TPM_PT_INPUT_BUFFER
    case PT_FIXED + 14: v = profile::kMaxLoadedObjects; return true;  // HR_TRANSIENT_MIN
    case PT_FIXED + 15: v = profile::kMinEvictObjects; return true;   // HR_PERSISTENT_MIN
    case PT_FIXED + 16: v = profile::kMaxLoadedSessions; return true; // HR_LOADED_MIN
    case PT_FIXED + 17: v = profile::kMaxActiveSessions; return true; // ACTIVE_SESSIONS_MAX
    case PT_FIXED + 18: v = profile::kNumPcrs; return true;
    case PT_FIXED + 19: v = profile::kPcrSelectMin; return true;
    case PT_FIXED + 20: v = profile::kContextGapMax; return true;  // CONTEXT_GAP_MAX
    case PT_FIXED + 22: v = profile::kMaxNvIndices; return true;  // NV_COUNTERS_MAX: any index may be one
    case PT_FIXED + 23: v = profile::kMaxNvIndexSize; return true;
    case PT_FIXED + 24: v = 0x6; return true;  // TPMA_MEMORY: sharedNV | objectCopiedToRam
    case PT_FIXED + 25: v = static_cast<uint32_t>(profile::kClockUpdateIntervalMs); return true;
    case PT_FIXED + 26: v = TPM_ALG_SHA256; return true;  // CONTEXT_HASH
    case PT_FIXED + 27: v = TPM_ALG_AES; return true;     // CONTEXT_SYM
    case PT_FIXED + 28: v = 256; return true;             // CONTEXT_SYM_SIZE
    case PT_FIXED + 29: v = static_cast<uint32_t>(profile::kMaxOrderlyCount); return true;  // ORDERLY_COUNT
    case PT_FIXED + 30: v = profile::kMaxCommandSize; return true;
    case PT_FIXED + 31: v = profile::kMaxResponseSize; return true;
    case PT_FIXED + 32: v = profile::kMaxDigestSize; return true;
    case PT_FIXED + 33: v = profile::kMaxContextSize; return true;  // MAX_OBJECT_CONTEXT
    case PT_FIXED + 34: v = 256; return true;                       // MAX_SESSION_CONTEXT
    case PT_FIXED + 35: v = 1; return true;    // PS_FAMILY_INDICATOR: PC Client
    case PT_FIXED + 36: v = 0; return true;    // PS_LEVEL
    case PT_FIXED + 37: v = 105; return true;  // PS_REVISION (PTP 1.05)
    case PT_FIXED + 38: v = 0; return true;
    case PT_FIXED + 39: v = 0; return true;
    case PT_FIXED + 40: v = 0; return true;  // SPLIT_MAX
    case PT_FIXED + 41: v = ncmds; return true;                   // TOTAL_COMMANDS
    case PT_FIXED + 42: v = ncmds - vendor_commands(); return true;  // LIBRARY_COMMANDS
    case PT_FIXED + 43: v = vendor_commands(); return true;          // VENDOR_COMMANDS
    case PT_FIXED + 44: v = profile::kMaxNvBuffer; return true;
    case PT_FIXED + 45: v = 0; return true;  // TPMA_MODES
    case PT_FIXED + 46: v = profile::kMaxCapBuffer; return true;
    // ---- variable ----
    case PT_VAR + 0:  // TPMA_PERMANENT
      v = (st.pers.owner_auth.size ? 1u : 0) | (st.pers.endorsement_auth.size ? 2u : 0) |
          (st.pers.lockout_auth.size ? 4u : 0) | (st.pers.disable_clear ? 1u << 8 : 0) |
          (da_in_lockout(st) ? 1u << 9 : 0) |
          1u << 10;  // tpmGeneratedEPS
      return true;
    case PT_VAR + 1:  // TPMA_STARTUP_CLEAR
      v = (st.ph_enable ? 1u : 0) | (st.sh_enable ? 2u : 0) | (st.eh_enable ? 4u : 0) |
          (st.ph_enable_nv ? 8u : 0) | (st.read_only ? 1u << 4 : 0) | (st.startup_orderly ? 1u << 31 : 0);
      return true;
    case PT_VAR + 2: v = st.nv.count; return true;  // HR_NV_INDEX
    case PT_VAR + 3: v = static_cast<uint32_t>(sessions_loaded(st)); return true;  // HR_LOADED
    case PT_VAR + 4: v = static_cast<uint32_t>(profile::kMaxLoadedSessions - sessions_loaded(st)); return true;
    case PT_VAR + 5: v = static_cast<uint32_t>(sessions_active(st)); return true;  // HR_ACTIVE
    case PT_VAR + 6: v = static_cast<uint32_t>(profile::kMaxActiveSessions - sessions_active(st)); return true;
    case PT_VAR + 7: v = static_cast<uint32_t>(profile::kMaxLoadedObjects - objects_loaded(st)); return true;
    case PT_VAR + 8: v = st.pers.persistent_count; return true;  // HR_PERSISTENT
    case PT_VAR + 9: v = static_cast<uint32_t>(profile::kMaxPersistentObjects - st.pers.persistent_count); return true;
    case PT_VAR + 10: v = nv_counter_count(st); return true;  // NV_COUNTERS
    case PT_VAR + 11: v = static_cast<uint32_t>(profile::kMaxNvIndices - st.nv.count); return true;  // NV_COUNTERS_AVAIL
    case PT_VAR + 12: v = st.pers.algorithm_set; return true;  // ALGORITHM_SET (SetAlgorithmSet)
    case PT_VAR + 13: v = 2; return true;  // LOADED_CURVES: P-256, P-384
    case PT_VAR + 14: v = st.pers.failed_tries; return true;
    case PT_VAR + 15: v = st.pers.max_tries; return true;
    case PT_VAR + 16: v = st.pers.recovery_time; return true;
    case PT_VAR + 17: v = st.pers.lockout_recovery; return true;
    case PT_VAR + 18: v = 0; return true;  // NV_WRITE_RECOVERY: NV writes are never throttled (engine.md)
    case PT_VAR + 19: v = static_cast<uint32_t>(st.audit.counter >> 32); return true;  // AUDIT_COUNTER_0
    case PT_VAR + 20: v = static_cast<uint32_t>(st.audit.counter); return true;        // AUDIT_COUNTER_1
    default: return false;
  }
}

// A list answer: count placeholder, then up to max items starting at `from`; moreData is YES
// when items remain beyond what was returned.
struct ListWriter {
  Writer& w;
  size_t count_at;
  uint32_t count = 0;
  uint32_t max;
  bool more = false;
  ListWriter(Writer& w_, uint32_t max_) : w(w_), count_at(w_.reserve(4)), max(max_) {}
  bool room() {
    if (count < max) return true;
    more = true;
    return false;
  }
  void finish() { w.patch32(count_at, count); }
};

void cap_algs(Writer& w, uint32_t from, uint32_t n, bool& more) {
  ListWriter l(w, std::min(n, kMaxCapAlgs));
  for (const AlgInfo& a : kAlgorithms) {
    if (a.id < from) continue;
    if (!l.room()) break;
    w.u16(a.id);
    w.u32(a.attributes);
    ++l.count;
  }
  l.finish();
  more = l.more;
}

void cap_commands(Writer& w, uint32_t from, uint32_t n, bool& more) {
  ListWriter l(w, std::min(n, kMaxCapCc));
  CommandTable t = command_table();
  for (const CommandInfo* c = t.begin; c != t.end; ++c) {
    if (c->code < from) continue;
    if (!l.room()) break;
    w.u32(c->tpma_cc());
    ++l.count;
  }
  l.finish();
  more = l.more;
}

// TPM_CAP_AUDIT_COMMANDS / TPM_CAP_PP_COMMANDS: the audited command codes / those needing
// physical presence (TPML_CC), ascending from `from`.
void cap_audit_commands(const State& st, Writer& w, uint32_t from, uint32_t n, bool& more, bool pp = false) {
  ListWriter l(w, std::min(n, kMaxCapCc));
  CommandTable t = command_table();
  for (const CommandInfo* c = t.begin; c != t.end; ++c) {
    if (c->code < from || !(pp ? pp_required(st, c->code) : audit_listed(st, c->code))) continue;
    if (!l.room()) break;
    w.u32(c->code);
    ++l.count;
  }
  l.finish();
  more = l.more;
}

void cap_handles(Tpm& tpm, Writer& w, uint32_t from, uint32_t n, bool& more) {
  State& st = tpm.state();
  ListWriter l(w, std::min(n, kMaxCapHandles));
  auto emit = [&](TPM_HANDLE h) {
    if (h < from) return true;
    if (!l.room()) return false;
    w.u32(h);
    ++l.count;
    return true;
  };
  switch (handle_type(from)) {
    case TPM_HT_PCR:
      for (uint32_t p = 0; p < profile::kNumPcrs; ++p)
        if (!emit(p)) break;
      break;
    case TPM_HT_PERMANENT:
    {
      bool room = true;
      for (TPM_HANDLE h : {TPM_RH_OWNER, TPM_RH_NULL, TPM_RS_PW, TPM_RH_LOCKOUT, TPM_RH_ENDORSEMENT,
                           TPM_RH_PLATFORM, TPM_RH_PLATFORM_NV})
        if (room) room = emit(h);
      for (uint32_t i = 0; room && i < profile::kNumActs; ++i) room = emit(TPM_RH_ACT_0 + i);  // the ACTs
      break;
    }
    case TPM_HT_TRANSIENT:
      for (const ObjectSlot& s : st.objects)
        if (s.kind != SlotKind::empty && !emit(object_handle(st, &s))) break;
      break;
    case TPM_HT_LOADED_SESSION:
    case TPM_HT_SAVED_SESSION: {
      // 0x02: loaded sessions, 0x03: saved ones, each by its handle (HMAC or policy type).
      // The property's type picks the list and its low 24 bits the first index (as the
      // reference implementation iterates): a saved HMAC session 0x02xxxxxx is listed under
      // 0x03000000 although its handle is below it.
      const uint8_t want = handle_type(from) == TPM_HT_LOADED_SESSION ? 1 : 2;
      for (uint32_t i = from & 0x00FFFFFF; i < profile::kMaxActiveSessions; ++i) {
        const auto& a = st.active_sessions[i];
        if (a.state != want) continue;
        if (!l.room()) break;
        w.u32((a.policy ? POLICY_SESSION_FIRST : HMAC_SESSION_FIRST) + i);
        ++l.count;
      }
      break;
    }
    case TPM_HT_PERSISTENT: {
      // Ascending order, as every capability list: repeatedly the next larger handle (a
      // handful of entries; no sort needed).
      TPM_HANDLE last = 0;
      bool first = true;
      for (uint32_t k = 0; k < st.pers.persistent_count; ++k) {
        TPM_HANDLE next = 0;
        bool found = false;
        for (uint32_t i = 0; i < st.pers.persistent_count; ++i) {
          TPM_HANDLE h = st.pers.persistent[i];
          if ((first || h > last) && (!found || h < next)) {
            next = h;
            found = true;
          }
        }
        if (!found || !emit(next)) break;
        last = next;
        first = false;
      }
      break;
    }
    case TPM_HT_NV_INDEX:  // the list is kept in ascending order
      for (uint32_t i = 0; i < st.nv.count; ++i)
        if (!emit(st.nv.handle[i])) break;
      break;
    default:
      break;
  }
  l.finish();
  more = l.more;
}

void cap_pcrs(State& st, Writer& w) {
  w.u32(kHashCount);
  for (TPM_ALG_ID alg : kHashAlgs) {
    w.u16(alg);
    w.u8(profile::kPcrSelectMax);
    const bool allocated = pcr_bank(st, alg) >= 0;
    for (uint8_t i = 0; i < profile::kPcrSelectMax; ++i) {
      uint8_t bits = 0;
      for (uint32_t b = 0; b < 8; ++b)
        if (allocated && i * 8u + b < profile::kNumPcrs) bits = static_cast<uint8_t>(bits | 1u << b);
      w.u8(bits);
    }
  }
}

// The PCR set a TPM_PT_PCR property names, as a bitmap over PCR indices.
bool pcr_property(TPM_PT_PCR tag, uint32_t& bitmap) {
  bitmap = 0;
  for (uint32_t p = 0; p < profile::kNumPcrs; ++p) {
    PcrAttributes a = pcr_attributes(p);
    bool in = false;
    if (tag == TPM_PT_PCR_SAVE) in = a.state_save;
    else if (tag >= TPM_PT_PCR_EXTEND_L0 && tag <= TPM_PT_PCR_RESET_L4) {
      uint32_t locality = (tag - 1) / 2;
      uint8_t mask = (tag - 1) % 2 == 0 ? a.extend_locality : a.reset_locality;
      in = mask >> locality & 1;
    } else if (tag == TPM_PT_PCR_NO_INCREMENT) {
      in = false;  // every PCR change counts
    } else if (tag == TPM_PT_PCR_POLICY || tag == TPM_PT_PCR_AUTH) {
      in = pcr_in_group(p);  // one policy group and one auth group: PCRs 20-22
    } else if (tag == TPM_PT_PCR_DRTM_RESET) {
      in = a.drtm_reset;
    } else {
      return false;
    }
    if (in) bitmap |= 1u << p;
  }
  return true;
}

void cap_pcr_properties(Writer& w, uint32_t from, uint32_t n, bool& more) {
  ListWriter l(w, std::min(n, kMaxPcrProperties));
  for (TPM_PT_PCR tag = from; tag <= TPM_PT_PCR_AUTH; ++tag) {
    uint32_t bitmap;
    if (!pcr_property(tag, bitmap)) continue;
    if (!l.room()) break;
    w.u32(tag);
    w.u8(profile::kPcrSelectMax);
    for (uint8_t i = 0; i < profile::kPcrSelectMax; ++i) w.u8(static_cast<uint8_t>(bitmap >> (8 * i)));
    ++l.count;
  }
  l.finish();
  more = l.more;
}

// In failure mode only the identification properties TPM_PT_MANUFACTURER (PT_FIXED + 5) ..
// TPM_PT_FIRMWARE_VERSION_2 (PT_FIXED + 12) are answered (Part 3 "Failure mode"; as the reference).
constexpr TPM_PT kFailureFirst = PT_FIXED + 5, kFailureLast = PT_FIXED + 12;

void cap_tpm_properties(Tpm& tpm, Writer& w, uint32_t from, uint32_t n, bool& more) {
  ListWriter l(w, std::min(n, kMaxTpmProperties));
  const bool failure = tpm.state().failure.active;
  const TPM_PT first = failure ? kFailureFirst : PT_FIXED, last = failure ? kFailureLast : TPM_PT_AUDIT_COUNTER_1;
  for (TPM_PT pt = std::max<TPM_PT>(from, first); pt <= last; ++pt) {
    uint32_t v;
    if (!tpm_property(tpm, pt, v)) continue;
    if (!l.room()) break;
    w.u32(pt);
    w.u32(v);
    ++l.count;
  }
  l.finish();
  more = l.more;
}

// TPM_CAP_AUTH_POLICIES: the permanent handles with an authPolicy (the four hierarchies, in
// handle order), each as TPMS_TAGGED_POLICY with TPM_ALG_NULL and no digest when none is set.
void cap_auth_policies(const State& st, Writer& w, uint32_t from, uint32_t n, bool& more) {
  ListWriter l(w, std::min(n, kMaxAuthPolicies));
  auto emit = [&](TPM_HANDLE h) {
    if (h < from) return true;
    if (!l.room()) return false;
    w.u32(h);
    marshal(w, *hierarchy_policy(st, h));
    ++l.count;
    return true;
  };
  bool room = true;
  for (TPM_HANDLE h : {TPM_RH_OWNER, TPM_RH_LOCKOUT, TPM_RH_ENDORSEMENT, TPM_RH_PLATFORM})
    if (room) room = emit(h);
  for (uint32_t i = 0; room && i < profile::kNumActs; ++i) room = emit(TPM_RH_ACT_0 + i);  // the ACTs' policies
  l.finish();
  more = l.more;
}

void cap_empty(Writer& w) { w.u32(0); }

// Writes the list of `capability` from `property` (at most n entries); TPM_RC_VALUE for a
// capability this TPM has no list for. TPM_CAP_HANDLES' property type is checked by the caller.
TPM_RC cap_list(Tpm& tpm, Writer& w, TPM_CAP capability, uint32_t property, uint32_t n, bool& more) {
  State& st = tpm.state();
  more = false;
  switch (capability) {
    case TPM_CAP_ALGS: cap_algs(w, property, n, more); break;
    case TPM_CAP_HANDLES: cap_handles(tpm, w, property, n, more); break;
    case TPM_CAP_COMMANDS: cap_commands(w, property, n, more); break;
    case TPM_CAP_PCRS: cap_pcrs(st, w); break;
    case TPM_CAP_AUDIT_COMMANDS: cap_audit_commands(st, w, property, n, more); break;
    case TPM_CAP_TPM_PROPERTIES: cap_tpm_properties(tpm, w, property, n, more); break;
    case TPM_CAP_PCR_PROPERTIES: cap_pcr_properties(w, property, n, more); break;
    case TPM_CAP_ECC_CURVES: {
      ListWriter l(w, std::min(n, kMaxEccCurves));
      for (TPM_ECC_CURVE cv : {TPM_ECC_NIST_P256, TPM_ECC_NIST_P384, TPM_ECC_NIST_P521}) {
        if (cv < property || !EccCurveTraits::valid(cv)) continue;
        if (!l.room()) break;
        w.u16(cv);
        ++l.count;
      }
      l.finish();
      more = l.more;
      break;
    }
    case TPM_CAP_AUTH_POLICIES: cap_auth_policies(st, w, property, n, more); break;
    case TPM_CAP_PP_COMMANDS: cap_audit_commands(st, w, property, n, more, true); break;
    case TPM_CAP_ACT: {
      if (!act_handle(property)) return TPM_RC_VALUE;
      ListWriter l(w, std::min(n, kMaxActData));
      for (uint32_t i = property - TPM_RH_ACT_0; i < profile::kNumActs; ++i) {
        if (!l.room()) break;
        marshal(w, act_data(tpm, i));
        ++l.count;
      }
      l.finish();
      more = l.more;
      break;
    }
    // No vendor properties.
    default: return TPM_RC_VALUE;
  }
  return TPM_RC_SUCCESS;
}

bool handle_type_listed(TPM_HANDLE h) {
  switch (handle_type(h)) {
    case TPM_HT_PCR: case TPM_HT_NV_INDEX: case TPM_HT_LOADED_SESSION: case TPM_HT_SAVED_SESSION:
    case TPM_HT_PERMANENT: case TPM_HT_TRANSIENT: case TPM_HT_PERSISTENT:
      return true;
  }
  return false;
}

// The key of a list entry (the field GetCapability's property selects by).
uint32_t entry_key(TPM_CAP capability, std::span<const uint8_t> e) {
  const auto be16 = [&](size_t i) { return uint32_t(e[i]) << 8 | e[i + 1]; };
  const auto be32 = [&](size_t i) { return be16(i) << 16 | be16(i + 2); };
  switch (capability) {
    case TPM_CAP_ALGS: case TPM_CAP_ECC_CURVES: return be16(0);
    case TPM_CAP_COMMANDS: return be32(0) & 0x2000FFFF;  // TPMA_CC.commandIndex and V (CC_VEND)
    default: return be32(0);  // handle, TPM_CC, TPM_PT, TPM_PT_PCR
  }
}

}  // namespace

TPM_RC capability_entry(Tpm& tpm, TPM_CAP capability, uint32_t property, std::span<uint8_t> out, size_t& size) {
  size = 0;
  if (capability == TPM_CAP_HANDLES && !handle_type_listed(property)) return TPM_RC_HANDLE;
  if (capability == TPM_CAP_AUTH_POLICIES && handle_type(property) != TPM_HT_PERMANENT) return TPM_RC_VALUE;
  // TPM_CAP_PCRS answers every bank whatever the property: it has no one entry to compare.
  if (capability == TPM_CAP_PCRS) return TPM_RC_VALUE;
  uint8_t list[4 + kMaxCapEntry];
  Writer w(list);
  bool more;
  if (cap_list(tpm, w, capability, property, 1, more) != TPM_RC_SUCCESS) return TPM_RC_VALUE;
  if (w.overflow() || w.size() <= 4 || w.size() - 4 > out.size()) return TPM_RC_SUCCESS;
  const std::span<const uint8_t> e{list + 4, w.size() - 4};
  const bool wide = capability == TPM_CAP_ALGS || capability == TPM_CAP_ECC_CURVES;
  if (entry_key(capability, e) != property || (wide && property > 0xFFFF)) return TPM_RC_SUCCESS;
  std::memcpy(out.data(), e.data(), e.size());
  size = e.size();
  return TPM_RC_SUCCESS;
}

TPM_RC TPM2_GetCapability(Command& c) {
  TPM_CAP capability = 0;
  uint32_t property = 0, property_count = 0;
  if (TPM_RC rc = c.parse(capability, property, property_count)) return rc;
  if (capability > TPM_CAP_LAST) return rc_param(TPM_RC_VALUE, 1);
  // Failure mode: TPM_CAP_TPM_PROPERTIES (a few properties, cap_tpm_properties) and nothing else.
  if (c.st.failure.active && capability != TPM_CAP_TPM_PROPERTIES) return TPM_RC_FAILURE;
  if (capability == TPM_CAP_HANDLES) {
    switch (handle_type(property)) {
      case TPM_HT_PCR: case TPM_HT_NV_INDEX: case TPM_HT_LOADED_SESSION: case TPM_HT_SAVED_SESSION:
      case TPM_HT_PERMANENT: case TPM_HT_TRANSIENT: case TPM_HT_PERSISTENT:
        break;
      default:
        return rc_param(TPM_RC_HANDLE, 2);
    }
  }
  if (capability == TPM_CAP_AUTH_POLICIES && handle_type(property) != TPM_HT_PERMANENT) return rc_param(TPM_RC_VALUE, 2);
  // Part 3 TPM2_GetCapability, TPM_CAP_PCRS: "The property parameter shall be zero."
  if (capability == TPM_CAP_PCRS && property != 0) return rc_param(TPM_RC_VALUE, 2);
  // moreData precedes the data: write the data after a placeholder byte, then patch it.
  size_t more_at = c.out.reserve(1);
  c.out.u32(capability);
  bool more = false;
  if (cap_list(c.tpm, c.out, capability, property, property_count, more) != TPM_RC_SUCCESS) {
    if (capability == TPM_CAP_ACT || capability == TPM_CAP_AUTH_POLICIES) return rc_param(TPM_RC_VALUE, 2);  // ACT: property not an ACT handle
    cap_empty(c.out);  // TPM_CAP_VENDOR_PROPERTY
  }
  c.out.data()[more_at] = more ? 1 : 0;
  return TPM_RC_SUCCESS;
}

// Part 3 §30.3 (1.83+): TPMS_SET_CAPABILITY_DATA selects a TPMU_SET_CAPABILITIES member by
// setCapability. The union's members are defined by platform specifications and the TCG
// registry; this TPM implements none, so every selector fails unmarshalling: TPM_RC_SELECTOR
// (parameter 1), after authorization. An empty or short TPM2B is TPM_RC_SIZE / INSUFFICIENT.
TPM_RC TPM2_SetCapability(Command& c) {
  uint16_t size = 0;
  uint32_t set_capability = 0;
  if (!c.params.u16(size) || size > c.params.remaining()) return rc_param(TPM_RC_INSUFFICIENT, 1);
  if (size == 0) return rc_param(TPM_RC_SIZE, 1);
  if (size < 4 || !c.params.u32(set_capability)) return rc_param(TPM_RC_INSUFFICIENT, 1);
  return rc_param(TPM_RC_SELECTOR, 1);
}

// TestParms checks nothing beyond the unmarshalling of TPMT_PUBLIC_PARMS: the interface types
// refuse what this build does not implement (type TPM_RC_TYPE, RSA keyBits and AES keyBits
// TPM_RC_VALUE, curve TPM_RC_CURVE, hash TPM_RC_HASH, schemes, modes, KDFs), as in the
// reference TPM.
TPM_RC TPM2_TestParms(Command& c) {
  TPMT_PUBLIC_PARMS parms;
  // TPMS_SYMCIPHER_PARMS.sym refuses TPM_ALG_NULL as it is read (NoNull, Part 2 without '+').
  return c.parse(parms);
}

}  // namespace utpm::tpm
