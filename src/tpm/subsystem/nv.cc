// NV indices on the record store (see nv.h and docs/engine.md "NV indices").
//
// Record layouts (all integers big-endian), each starting with u16 tag + u16 version:
//   index record 'UV' v1, id = the NV handle:
//       u16 L, L octets of data (L = dataSize), TPMS_NV_PUBLIC (Part 2 marshalling, the stored
//       attributes), TPM2B_AUTH authValue, u32 epoch (when the stClear state was last written)
//   kRecNvList 'UL' v1: u32 epoch, u32 global_lock_epoch, u64 max_counter, u32 n,
//       n × {u32 handle, u8 flags (kNvList*)} in ascending handle order; orderly indices are also in
//       RAM (NvOrderlyRam) and reach their record at Shutdown (docs/engine.md "Orderly indices")
// The data comes first so that a change of the public area or authValue rewrites the record
// in place in one buffer.
#include "tpm/subsystem/nv.h"

#include <algorithm>
#include <cstring>

#include "crypto/crypto.h"
#include "tpm/marshal/marshal.h"
#include "tpm/subsystem/subsystems.h"
#include "tpm/tpm.h"

namespace utpm::tpm {
namespace {

constexpr uint16_t kTagIndex = 0x5556;  // "UV"
constexpr uint16_t kTagList = 0x554C;   // "UL"
constexpr uint16_t kVersion = 1;

// A parsed index record; data points into the caller's buffer.
struct NvRecord {
  std::span<uint8_t> data;
  TPMS_NV_PUBLIC pub;
  TPM2B_AUTH auth;
  uint32_t epoch = 0;
  size_t tail_at = 0;  // where the public area starts
};

bool parse_record(std::span<uint8_t> buf, TPM_HANDLE h, NvRecord& rec) {
  Reader r(buf);
  uint16_t tag = 0, version = 0, len = 0;
  std::span<const uint8_t> data;
  if (!r.u16(tag) || !r.u16(version) || tag != kTagIndex || version != kVersion || !r.u16(len) || !r.take(len, data))
    return false;
  rec.data = {buf.data() + 6, len};
  rec.tail_at = 6 + size_t{len};
  return unmarshal(r, rec.pub) == TPM_RC_SUCCESS && unmarshal(r, rec.auth) == TPM_RC_SUCCESS && r.u32(rec.epoch) &&
         r.remaining() == 0 && rec.pub.nvIndex == h && rec.pub.dataSize == len;
}

void write_tail(Writer& w, const TPMS_NV_PUBLIC& pub, const TPM2B_AUTH& auth, uint32_t epoch) {
  marshal(w, pub);
  marshal(w, auth);
  w.u32(epoch);
}

TPM_RC store_error(Tpm& tpm, NvStore::Result res) {
  if (res == NvStore::Result::no_space || res == NvStore::Result::too_large) return TPM_RC_NV_SPACE;
  enter_failure(tpm.state(), res == NvStore::Result::integrity_error ? FailureCause::nv_integrity
                             : res == NvStore::Result::io_error      ? FailureCause::nv_io
                                                                     : FailureCause::nv_format);
  return TPM_RC_FAILURE;
}

// Reads and parses index h into buf. A record that is missing or does not parse while the list
// names it is a corrupt state: failure mode.
TPM_RC read_record(Tpm& tpm, TPM_HANDLE h, std::span<uint8_t> buf, NvRecord& rec) {
  size_t len = 0;
  NvStore::Result res = tpm.platform().nv().read(h, buf, len);
  if (res == NvStore::Result::not_found) res = NvStore::Result::too_large;  // listed but absent
  if (res != NvStore::Result::ok) return store_error(tpm, res);
  if (!parse_record(buf.first(len), h, rec)) {
    enter_failure(tpm.state(), FailureCause::nv_format);
    return TPM_RC_FAILURE;
  }
  return TPM_RC_SUCCESS;
}

// ---- the RAM of orderly indices ----

constexpr size_t kRamHeader = 16;

struct RamEntry {
  size_t at = 0;  // offset of the header in the pool
  uint32_t handle = 0, attrs = 0, epoch = 0;
  uint16_t size = 0;
  uint8_t flags = 0;
};

uint32_t get32(const uint8_t* p) { return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | p[3]; }
void put32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (24 - 8 * i));
}

RamEntry ram_entry_at(const NvOrderlyRam& r, size_t at) {
  const uint8_t* p = r.pool + at;
  RamEntry e;
  e.at = at;
  e.handle = get32(p);
  e.attrs = get32(p + 4);
  e.epoch = get32(p + 8);
  e.size = static_cast<uint16_t>(p[12] << 8 | p[13]);
  e.flags = p[14];
  return e;
}
void ram_put(NvOrderlyRam& r, const RamEntry& e) {
  uint8_t* p = r.pool + e.at;
  put32(p, e.handle);
  put32(p + 4, e.attrs);
  put32(p + 8, e.epoch);
  p[12] = static_cast<uint8_t>(e.size >> 8);
  p[13] = static_cast<uint8_t>(e.size);
  p[14] = e.flags;
  p[15] = 0;
}
uint8_t* ram_data(NvOrderlyRam& r, const RamEntry& e) { return r.pool + e.at + kRamHeader; }

bool ram_find(const NvOrderlyRam& r, TPM_HANDLE h, RamEntry& out) {
  for (size_t at = 0; at + kRamHeader <= r.used;) {
    RamEntry e = ram_entry_at(r, at);
    if (e.handle == h) {
      out = e;
      return true;
    }
    at += kRamHeader + e.size;
  }
  return false;
}

bool ram_fits(const NvOrderlyRam& r, size_t size) { return r.used + kRamHeader + size <= sizeof r.pool; }

bool ram_add(NvOrderlyRam& r, TPM_HANDLE h, uint32_t attrs, uint32_t epoch, std::span<const uint8_t> data) {
  if (!ram_fits(r, data.size())) return false;
  RamEntry e{r.used, h, attrs, epoch, static_cast<uint16_t>(data.size()), 0};
  ram_put(r, e);
  if (!data.empty()) std::memcpy(ram_data(r, e), data.data(), data.size());
  r.used += static_cast<uint32_t>(kRamHeader + data.size());
  return true;
}

void ram_remove(NvOrderlyRam& r, TPM_HANDLE h) {
  RamEntry e;
  if (!ram_find(r, h, e)) return;
  const size_t n = kRamHeader + e.size;
  std::memmove(r.pool + e.at, r.pool + e.at + n, r.used - e.at - n);
  r.used -= static_cast<uint32_t>(n);
  crypto::zeroize(r.pool + r.used, n);  // index data may be secret
}

// Which indices live in RAM: TPMA_NV_ORDERLY ones, except PIN indices, whose pinCount must
// survive a power cut (it limits guessing) and is therefore always written through.
bool orderly_in_ram(const TPMA_NV a) {
  return a.has(TPMA_NV::ORDERLY) && a.type() != TPM_NT_PIN_FAIL && a.type() != TPM_NT_PIN_PASS;
}

// What the store holds of an index whose current state is in RAM.
struct StoreCopy {
  uint32_t attrs = 0;
  uint64_t value = 0;  // first 8 octets (a counter's value)
};

uint64_t be64(std::span<const uint8_t> b);

// read_record, then the RAM state of an orderly index over it (data, attributes, epoch).
TPM_RC load_record(Tpm& tpm, TPM_HANDLE h, std::span<uint8_t> buf, NvRecord& rec, StoreCopy* store = nullptr,
                   RamEntry* entry = nullptr) {
  if (TPM_RC rc = read_record(tpm, h, buf, rec)) return rc;
  if (store) {
    store->attrs = rec.pub.attributes.value;
    store->value = be64(rec.data);
  }
  NvOrderlyRam& ram = tpm.state().nv_ram;
  RamEntry e;
  if (!ram_find(ram, h, e)) return TPM_RC_SUCCESS;
  if (e.size != rec.data.size()) {
    enter_failure(tpm.state(), FailureCause::internal);
    return TPM_RC_FAILURE;
  }
  if (e.size) std::memcpy(rec.data.data(), ram_data(ram, e), e.size);
  rec.pub.attributes.value = e.attrs;
  rec.epoch = e.epoch;
  if (entry) *entry = e;
  return TPM_RC_SUCCESS;
}

// The attributes as they are now: the stClear state of an older epoch is gone (Part 2 TPMA_NV:
// READLOCKED and WRITE_STCLEAR locks end at TPM Reset/Restart, a WRITEDEFINE lock stays once
// the index is written, CLEAR_STCLEAR clears WRITTEN), and GLOBALLOCK indices are locked while
// the global lock of this epoch holds.
uint32_t stclear_attributes(uint32_t a, uint32_t record_epoch, uint32_t epoch) {
  if (record_epoch != epoch) {
    a &= ~TPMA_NV::READLOCKED;
    if (!(a & TPMA_NV::WRITEDEFINE) || !(a & TPMA_NV::WRITTEN)) a &= ~TPMA_NV::WRITELOCKED;
    if (a & TPMA_NV::CLEAR_STCLEAR) a &= ~TPMA_NV::WRITTEN;
  }
  return a;
}
uint32_t effective_attributes(uint32_t a, uint32_t record_epoch, const NvIndexList& l) {
  a = stclear_attributes(a, record_epoch, l.epoch);
  if ((a & TPMA_NV::GLOBALLOCK) && l.global_lock_epoch == l.epoch) a |= TPMA_NV::WRITELOCKED;
  return a;
}

uint8_t list_flags(const TPMS_NV_PUBLIC& pub) {
  return static_cast<uint8_t>((pub.attributes.has(TPMA_NV::PLATFORMCREATE) ? kNvListPlatform : 0) |
                              (pub.attributes.type() == TPM_NT_COUNTER ? kNvListCounter : 0) |
                              (pub.attributes.has(TPMA_NV::GLOBALLOCK) ? kNvListGlobalLock : 0) |
                              (orderly_in_ram(pub.attributes) ? kNvListOrderly : 0));
}

void list_remove(NvIndexList& l, uint32_t i) {
  for (uint32_t j = i; j + 1 < l.count; ++j) {
    l.handle[j] = l.handle[j + 1];
    l.flags[j] = l.flags[j + 1];
  }
  --l.count;
  l.handle[l.count] = 0;
  l.flags[l.count] = 0;
}

uint64_t be64(std::span<const uint8_t> b);
uint64_t be64(std::span<const uint8_t> b) {
  uint64_t v = 0;
  for (size_t i = 0; i < 8 && i < b.size(); ++i) v = v << 8 | b[i];
  return v;
}

// A counter's value is kept when the counter goes, so that no counter ever repeats a value.
void keep_counter_floor(State& st, const NvRecord& rec) {
  if (rec.pub.attributes.type() == TPM_NT_COUNTER && rec.pub.attributes.has(TPMA_NV::WRITTEN))
    st.nv.max_counter = std::max(st.nv.max_counter, be64(rec.data));
}

}  // namespace

bool nv_name(const TPMS_NV_PUBLIC& pub, TPM2B_NAME& out) {
  uint8_t buf[14 + profile::kMaxDigestSize];  // TPMS_NV_PUBLIC at its largest
  Writer w(buf);
  marshal(w, pub);
  if (w.overflow()) return false;
  crypto::HashState hs;
  if (crypto::hash_start(hs, to_crypto(pub.nameAlg)) != crypto::Status::ok) return false;
  crypto::hash_update(hs, w.written());
  out.buffer[0] = static_cast<uint8_t>(pub.nameAlg >> 8);
  out.buffer[1] = static_cast<uint8_t>(pub.nameAlg);
  out.size = static_cast<uint16_t>(2 + crypto::hash_finish(hs, {out.buffer + 2, sizeof out.buffer - 2}));
  return true;
}

int nv_find(const State& st, TPM_HANDLE h) {
  const NvIndexList& l = st.nv;
  const TPM_HANDLE* end = l.handle + l.count;
  const TPM_HANDLE* it = std::lower_bound(l.handle, end, h);
  return it != end && *it == h ? static_cast<int>(it - l.handle) : -1;
}

uint32_t nv_counter_count(const State& st) {
  uint32_t n = 0;
  for (uint32_t i = 0; i < st.nv.count; ++i) n += (st.nv.flags[i] & kNvListCounter) ? 1 : 0;
  return n;
}

void nv_list_write(const NvIndexList& l, Writer& w) {
  w.u16(kTagList);
  w.u16(kVersion);
  w.u32(l.epoch);
  w.u32(l.global_lock_epoch);
  w.u64(l.max_counter);
  w.u32(l.count);
  for (uint32_t i = 0; i < l.count; ++i) {
    w.u32(l.handle[i]);
    w.u8(l.flags[i]);
  }
}

bool nv_list_read(Reader& r, NvIndexList& l) {
  uint16_t tag = 0, version = 0;
  if (!r.u16(tag) || !r.u16(version) || tag != kTagList || version != kVersion) return false;
  if (!r.u32(l.epoch) || !r.u32(l.global_lock_epoch) || !r.u64(l.max_counter) || !r.u32(l.count) ||
      l.count > profile::kMaxNvIndices)
    return false;
  for (uint32_t i = 0; i < l.count; ++i) {
    if (!r.u32(l.handle[i]) || !r.u8(l.flags[i])) return false;
    if (handle_type(l.handle[i]) != TPM_HT_NV_INDEX || (i > 0 && l.handle[i] <= l.handle[i - 1])) return false;
  }
  return r.remaining() == 0;
}

// ---- per command ----

TPM_RC nv_load(Tpm& tpm, TPM_HANDLE h) {
  State& st = tpm.state();
  if (nv_at(st, h)) return TPM_RC_SUCCESS;  // already loaded for this command
  const int i = nv_find(st, h);
  if (i < 0) return TPM_RC_HANDLE;
  // An index of a disabled hierarchy is not accessible (Part 1 §37.2: phEnableNV for platform
  // indices, shEnable for owner indices).
  if ((st.nv.flags[i] & kNvListPlatform) ? !st.ph_enable_nv : !st.sh_enable) return TPM_RC_HANDLE;
  NvSlot* slot = nullptr;
  for (NvSlot& s : st.nv_slots)
    if (s.handle == 0) {
      slot = &s;
      break;
    }
  if (!slot) return TPM_RC_FAILURE;  // a command names at most kNvSlots indices
  uint8_t buf[kNvRecordMax];
  NvRecord rec;
  TPM_RC rc = load_record(tpm, h, buf, rec);
  if (rc == TPM_RC_SUCCESS) {
    slot->pub = rec.pub;
    slot->pub.attributes.value = effective_attributes(rec.pub.attributes.value, rec.epoch, st.nv);
    slot->auth = rec.auth;
    if (!nv_name(slot->pub, slot->name)) rc = TPM_RC_FAILURE;
    else slot->handle = h;
  }
  crypto::zeroize(buf, sizeof buf);
  crypto::zeroize(rec.auth);
  if (rc != TPM_RC_SUCCESS) {
    crypto::zeroize(*slot);
    *slot = NvSlot{};
  }
  return rc;
}

NvSlot* nv_at(State& st, TPM_HANDLE h) {
  if (h == 0) return nullptr;
  for (NvSlot& s : st.nv_slots)
    if (s.handle == h) return &s;
  return nullptr;
}

void nv_unload_all(State& st) {
  for (NvSlot& s : st.nv_slots) {
    if (s.handle == 0) continue;
    crypto::zeroize(s);  // the authValue
    s = NvSlot{};
  }
}

TPM_RC nv_read_data(Tpm& tpm, const NvSlot& slot, uint16_t offset, std::span<uint8_t> out) {
  uint8_t buf[kNvRecordMax];
  NvRecord rec;
  TPM_RC rc = load_record(tpm, slot.handle, buf, rec);
  if (rc == TPM_RC_SUCCESS) {
    if (size_t{offset} + out.size() > rec.data.size()) rc = TPM_RC_NV_RANGE;  // the caller checked
    else if (!out.empty()) std::memcpy(out.data(), rec.data.data() + offset, out.size());
  }
  crypto::zeroize(buf, sizeof buf);
  crypto::zeroize(rec.auth);
  return rc;
}

TPM_RC nv_write_data(Tpm& tpm, NvSlot& slot, uint16_t offset, std::span<const uint8_t> data) {
  State& st = tpm.state();
  uint8_t buf[kNvRecordMax];
  NvRecord rec;
  StoreCopy store;
  RamEntry e;
  e.handle = 0;
  TPM_RC rc = load_record(tpm, slot.handle, buf, rec, &store, &e);
  if (rc == TPM_RC_SUCCESS && size_t{offset} + data.size() > rec.data.size()) rc = TPM_RC_NV_RANGE;
  bool through = true;
  if (rc == TPM_RC_SUCCESS) {
    if (!data.empty()) std::memcpy(rec.data.data() + offset, data.data(), data.size());
    if (e.handle != 0) {
      // An orderly index: the write goes to RAM. It reaches the store now only when it changes
      // the authValue or a lock (no data), when a counter is first written (so that a counter
      // never restarts below a value it returned) or its low bits roll over to 0 (at most
      // MAX_ORDERLY_COUNT increments are in RAM only).
      through = data.empty();
      if (slot.pub.attributes.type() == TPM_NT_COUNTER)
        through = through || !(store.attrs & TPMA_NV::WRITTEN) || (be64(rec.data) & profile::kMaxOrderlyCount) == 0;
      if (!rec.data.empty()) std::memcpy(ram_data(st.nv_ram, e), rec.data.data(), rec.data.size());
      e.attrs = slot.pub.attributes.value;
      e.epoch = st.nv.epoch;
      e.flags |= through ? kNvRamStaged : kNvRamDirty;
      ram_put(st.nv_ram, e);
      if (!through && st.shutdown_seen) {
        // A change after Shutdown that only RAM holds: the shutdown is no longer orderly.
        st.shutdown_seen = false;
        st.clock.orderly = kOrderlyNone;
        st.dirty |= kDirtyClock;
      }
    }
  }
  if (rc == TPM_RC_SUCCESS && through) {
    Writer w(std::span<uint8_t>(buf).subspan(rec.tail_at));
    write_tail(w, slot.pub, slot.auth, st.nv.epoch);
    if (w.overflow()) rc = TPM_RC_FAILURE;
    else if (NvStore::Result res = tpm.platform().nv().write(slot.handle, {buf, rec.tail_at + w.size()});
             res != NvStore::Result::ok)
      rc = store_error(tpm, res);
    else st.dirty |= kDirtyStaged;
  }
  crypto::zeroize(buf, sizeof buf);
  crypto::zeroize(rec.auth);
  if (rc != TPM_RC_SUCCESS) return rc;
  return nv_name(slot.pub, slot.name) ? TPM_RC_SUCCESS : TPM_RC_FAILURE;
}

TPM_RC nv_define(Tpm& tpm, const TPMS_NV_PUBLIC& pub, const TPM2B_AUTH& auth) {
  State& st = tpm.state();
  NvIndexList& l = st.nv;
  if (l.count == profile::kMaxNvIndices || pub.dataSize > profile::kMaxNvIndexSize) return TPM_RC_NV_SPACE;
  // An orderly index lives in RAM: without room there, no space (as the reference TPM answers).
  const bool in_ram = orderly_in_ram(pub.attributes);
  if (in_ram && !ram_fits(st.nv_ram, pub.dataSize)) return TPM_RC_NV_SPACE;
  uint8_t buf[kNvRecordMax];
  Writer w(buf);
  w.u16(kTagIndex);
  w.u16(kVersion);
  w.u16(pub.dataSize);
  // The data of an index that was never written is not readable (TPM_RC_NV_UNINITIALIZED);
  // octets a partial write leaves untouched read as 0xFF, as erased flash would.
  for (uint16_t i = 0; i < pub.dataSize; ++i) w.u8(0xFF);
  write_tail(w, pub, auth, l.epoch);
  TPM_RC rc = TPM_RC_SUCCESS;
  if (w.overflow()) rc = TPM_RC_NV_SPACE;
  else if (NvStore::Result res = tpm.platform().nv().write(pub.nvIndex, w.written()); res != NvStore::Result::ok)
    rc = store_error(tpm, res);
  if (rc == TPM_RC_SUCCESS && in_ram) ram_add(st.nv_ram, pub.nvIndex, pub.attributes.value, l.epoch, {buf + 6, pub.dataSize});
  crypto::zeroize(buf, sizeof buf);
  if (rc != TPM_RC_SUCCESS) return rc;
  const uint32_t at = static_cast<uint32_t>(std::lower_bound(l.handle, l.handle + l.count, pub.nvIndex) - l.handle);
  for (uint32_t j = l.count; j > at; --j) {
    l.handle[j] = l.handle[j - 1];
    l.flags[j] = l.flags[j - 1];
  }
  l.handle[at] = pub.nvIndex;
  l.flags[at] = list_flags(pub);
  ++l.count;
  st.dirty |= kDirtyNvList | kDirtyStaged;
  return TPM_RC_SUCCESS;
}

namespace {

// Removes index i of the list: its record, its entry; keeps a counter's value as the floor.
TPM_RC remove_index(Tpm& tpm, uint32_t i) {
  State& st = tpm.state();
  const TPM_HANDLE h = st.nv.handle[i];
  if (st.nv.flags[i] & kNvListCounter) {
    uint8_t buf[kNvRecordMax];
    NvRecord rec;
    TPM_RC rc = load_record(tpm, h, buf, rec);
    if (rc == TPM_RC_SUCCESS) {
      rec.pub.attributes.value = effective_attributes(rec.pub.attributes.value, rec.epoch, st.nv);
      keep_counter_floor(st, rec);
    }
    crypto::zeroize(buf, sizeof buf);
    crypto::zeroize(rec.auth);
    if (rc != TPM_RC_SUCCESS) return rc;
  }
  if (NvStore::Result res = tpm.platform().nv().remove(h); res != NvStore::Result::ok) return store_error(tpm, res);
  list_remove(st.nv, i);
  ram_remove(st.nv_ram, h);  // a failed command puts it back (nv_list_reload)
  st.dirty |= kDirtyNvList | kDirtyStaged;
  return TPM_RC_SUCCESS;
}

}  // namespace

TPM_RC nv_undefine(Tpm& tpm, NvSlot& slot) {
  const int i = nv_find(tpm.state(), slot.handle);
  if (i < 0) return TPM_RC_HANDLE;
  return remove_index(tpm, static_cast<uint32_t>(i));
}

void nv_list_reload(Tpm& tpm) {
  State& st = tpm.state();
  uint8_t buf[4 + 4 + 4 + 8 + 4 + profile::kMaxNvIndices * 5];
  size_t len = 0;
  st.nv = NvIndexList{};
  NvStore::Result res = tpm.platform().nv().read(kRecNvList, buf, len);
  if (res == NvStore::Result::not_found) {  // a store from before NV indices: none defined
    nv_orderly_sync(tpm);
    return;
  }
  Reader r({buf, len});
  if (res != NvStore::Result::ok || !nv_list_read(r, st.nv)) {
    st.nv = NvIndexList{};
    enter_failure(st, res == NvStore::Result::integrity_error ? FailureCause::nv_integrity
                      : res == NvStore::Result::io_error      ? FailureCause::nv_io
                                                              : FailureCause::nv_format);
    return;
  }
  nv_orderly_sync(tpm);
}

void nv_orderly_sync(Tpm& tpm) {
  State& st = tpm.state();
  NvOrderlyRam& ram = st.nv_ram;
  // Entries of indices no longer listed (undefined, or defined by a command that failed) go.
  for (size_t at = 0; at + kRamHeader <= ram.used;) {
    const RamEntry e = ram_entry_at(ram, at);
    if (nv_find(st, e.handle) < 0) ram_remove(ram, e.handle);
    else at += kRamHeader + e.size;
  }
  // Listed orderly indices that RAM does not hold (at power-on: all) start as their records.
  for (uint32_t i = 0; i < st.nv.count; ++i) {
    if (!(st.nv.flags[i] & kNvListOrderly)) continue;
    RamEntry e;
    if (ram_find(ram, st.nv.handle[i], e)) continue;
    uint8_t buf[kNvRecordMax];
    NvRecord rec;
    if (read_record(tpm, st.nv.handle[i], buf, rec) == TPM_RC_SUCCESS)
      ram_add(ram, rec.pub.nvIndex, rec.pub.attributes.value, rec.epoch, rec.data);  // no room: written through
    crypto::zeroize(buf, sizeof buf);
    crypto::zeroize(rec.auth);
    if (st.failure.active) return;
  }
}

void nv_orderly_committed(State& st, bool committed) {
  NvOrderlyRam& ram = st.nv_ram;
  for (size_t at = 0; at + kRamHeader <= ram.used;) {
    RamEntry e = ram_entry_at(ram, at);
    if (e.flags & kNvRamStaged) {
      e.flags = committed ? 0 : static_cast<uint8_t>(e.flags & ~kNvRamStaged);
      ram_put(ram, e);
    }
    if (committed && nv_find(st, e.handle) < 0) ram_remove(ram, e.handle);
    else at += kRamHeader + e.size;
  }
}

namespace {

// Stages the record of RAM entry e with data, attributes and epoch as given (the store's
// public area and authValue are kept) and marks the entry staged.
TPM_RC stage_ram_entry(Tpm& tpm, RamEntry& e, std::span<const uint8_t> data, uint32_t attrs, uint32_t epoch) {
  State& st = tpm.state();
  uint8_t buf[kNvRecordMax];
  NvRecord rec;
  TPM_RC rc = read_record(tpm, e.handle, buf, rec);
  if (rc == TPM_RC_SUCCESS && data.size() != rec.data.size()) rc = TPM_RC_FAILURE;
  if (rc == TPM_RC_SUCCESS) {
    if (!data.empty()) std::memcpy(rec.data.data(), data.data(), data.size());
    rec.pub.attributes.value = attrs;
    Writer w(std::span<uint8_t>(buf).subspan(rec.tail_at));
    write_tail(w, rec.pub, rec.auth, epoch);
    if (w.overflow()) rc = TPM_RC_FAILURE;
    else if (NvStore::Result res = tpm.platform().nv().write(e.handle, {buf, rec.tail_at + w.size()});
             res != NvStore::Result::ok)
      rc = store_error(tpm, res);
  }
  crypto::zeroize(buf, sizeof buf);
  crypto::zeroize(rec.auth);
  if (rc != TPM_RC_SUCCESS) return rc;
  e.flags |= kNvRamStaged;
  ram_put(st.nv_ram, e);
  st.dirty |= kDirtyStaged;
  return TPM_RC_SUCCESS;
}

}  // namespace

TPM_RC nv_orderly_flush(Tpm& tpm) {
  NvOrderlyRam& ram = tpm.state().nv_ram;
  for (size_t at = 0; at + kRamHeader <= ram.used; at += kRamHeader + ram_entry_at(ram, at).size) {
    RamEntry e = ram_entry_at(ram, at);
    if (!(e.flags & kNvRamDirty)) continue;
    if (TPM_RC rc = stage_ram_entry(tpm, e, {ram_data(ram, e), e.size}, e.attrs, e.epoch)) return rc;
  }
  return TPM_RC_SUCCESS;
}

TPM_RC nv_orderly_recover(Tpm& tpm) {
  NvOrderlyRam& ram = tpm.state().nv_ram;
  for (size_t at = 0; at + kRamHeader <= ram.used; at += kRamHeader + ram_entry_at(ram, at).size) {
    RamEntry e = ram_entry_at(ram, at);
    // RAM holds the store's copy (loaded at power-on). A counter may have gone up to
    // MAX_ORDERLY_COUNT beyond it without a write: it restarts above all of those values.
    if (TPMA_NV{e.attrs}.type() != TPM_NT_COUNTER || !(e.attrs & TPMA_NV::WRITTEN) || e.size != 8) continue;
    uint8_t* d = ram_data(ram, e);
    uint64_t v = be64({d, 8}) + profile::kMaxOrderlyCount + 1;
    for (int i = 0; i < 8; ++i) d[i] = static_cast<uint8_t>(v >> (56 - 8 * i));
    if (TPM_RC rc = stage_ram_entry(tpm, e, {d, 8}, e.attrs, e.epoch)) return rc;
  }
  return TPM_RC_SUCCESS;
}

void nv_startup(State& st, bool resume) {
  if (resume) return;
  ++st.nv.epoch;
  if (st.nv.epoch == 0) st.nv.epoch = 1;  // 0 is "never" for the global lock
  st.dirty |= kDirtyNvList;
}

TPM_RC nv_clear_owner(Tpm& tpm) {
  State& st = tpm.state();
  for (uint32_t i = st.nv.count; i-- > 0;)
    if (!(st.nv.flags[i] & kNvListPlatform))
      if (TPM_RC rc = remove_index(tpm, i)) return rc;
  return TPM_RC_SUCCESS;
}

TPM_RC nv_global_lock(Tpm& tpm) {
  State& st = tpm.state();
  st.nv.global_lock_epoch = st.nv.epoch;
  st.dirty |= kDirtyNvList;
  // An index with GLOBALLOCK and WRITEDEFINE that has been written stays locked for good (Part 3
  // NV_GlobalWriteLock): that lock is written into its record; the others follow from the
  // epoch of the global lock.
  for (uint32_t i = 0; i < st.nv.count; ++i) {
    if (!(st.nv.flags[i] & kNvListGlobalLock)) continue;
    uint8_t buf[kNvRecordMax];
    NvRecord rec;
    RamEntry e;
    e.handle = 0;
    TPM_RC rc = load_record(tpm, st.nv.handle[i], buf, rec, nullptr, &e);
    if (rc == TPM_RC_SUCCESS) {
      const uint32_t a = stclear_attributes(rec.pub.attributes.value, rec.epoch, st.nv.epoch);
      if ((a & TPMA_NV::WRITEDEFINE) && (a & TPMA_NV::WRITTEN) && !(a & TPMA_NV::WRITELOCKED)) {
        rec.pub.attributes.value = a | TPMA_NV::WRITELOCKED;
        Writer w(std::span<uint8_t>(buf).subspan(rec.tail_at));
        write_tail(w, rec.pub, rec.auth, st.nv.epoch);
        if (w.overflow()) rc = TPM_RC_FAILURE;
        else if (NvStore::Result res = tpm.platform().nv().write(st.nv.handle[i], {buf, rec.tail_at + w.size()});
                 res != NvStore::Result::ok)
          rc = store_error(tpm, res);
        else st.dirty |= kDirtyStaged;
        if (rc == TPM_RC_SUCCESS && e.handle != 0) {  // an orderly index: RAM follows
          e.attrs = rec.pub.attributes.value;
          e.epoch = st.nv.epoch;
          e.flags |= kNvRamStaged;
          ram_put(st.nv_ram, e);
        }
      }
    }
    crypto::zeroize(buf, sizeof buf);
    crypto::zeroize(rec.auth);
    if (rc != TPM_RC_SUCCESS) return rc;
  }
  return TPM_RC_SUCCESS;
}

namespace {

bool is_pin(TPM_NT t) { return t == TPM_NT_PIN_FAIL || t == TPM_NT_PIN_PASS; }

}  // namespace

TPM_RC nv_auth_available(Tpm& tpm, const NvSlot& slot, bool policy, bool admin, bool write, bool policy_cc_bound) {
  const TPMA_NV a = slot.pub.attributes;
  // The ADMIN role of an index is always authorized with its policy (Part 1 §19.7.6), and that
  // policy must have bound the command code (TPM2_PolicyCommandCode; policy_check then checks it
  // is this command): POLICY_FAIL without it, as the reference TPM answers. A password or HMAC
  // session for it is the wrong type of authorization (TPM_RC_AUTH_TYPE).
  if (admin) return !policy ? TPM_RC_AUTH_TYPE : policy_cc_bound ? TPM_RC_SUCCESS : TPM_RC_POLICY_FAIL;
  if (policy) return a.has(write ? TPMA_NV::POLICYWRITE : TPMA_NV::POLICYREAD) ? TPM_RC_SUCCESS : TPM_RC_AUTH_UNAVAILABLE;
  if (write || !is_pin(a.type()))
    return a.has(write ? TPMA_NV::AUTHWRITE : TPMA_NV::AUTHREAD) ? TPM_RC_SUCCESS : TPM_RC_AUTH_UNAVAILABLE;
  // A PIN index's authValue is usable for reads while it is written and pinCount < pinLimit,
  // whatever AUTHREAD says (the reference TPM agrees; docs/engine.md).
  if (!a.has(TPMA_NV::WRITTEN)) return TPM_RC_AUTH_UNAVAILABLE;
  uint8_t pin[8];
  if (TPM_RC rc = nv_read_data(tpm, slot, 0, pin)) return rc;
  const uint64_t v = be64(pin);
  return uint32_t(v >> 32) < uint32_t(v) ? TPM_RC_SUCCESS : TPM_RC_AUTH_UNAVAILABLE;
}

TPM_RC nv_pin_result(Tpm& tpm, NvSlot& slot, bool success) {
  const TPM_NT t = slot.pub.attributes.type();
  if (!is_pin(t)) return TPM_RC_SUCCESS;
  uint8_t pin[8];
  if (TPM_RC rc = nv_read_data(tpm, slot, 0, pin)) return rc;
  const uint32_t old_count = static_cast<uint32_t>(be64(pin) >> 32);
  // PIN_PASS counts successes; PIN_FAIL counts failures and a success resets its count.
  uint32_t count = old_count;
  if (t == TPM_NT_PIN_PASS) count += success ? 1 : 0;
  else count = success ? 0 : old_count + 1;
  if (count == old_count) return TPM_RC_SUCCESS;
  for (int i = 0; i < 4; ++i) pin[i] = static_cast<uint8_t>(count >> (24 - 8 * i));
  if (TPM_RC rc = nv_write_data(tpm, slot, 0, pin)) return rc;
  return persist_flush(tpm);  // on record before the answer
}

TPM_RC nv_read_access(const NvSlot& slot, TPM_HANDLE auth) {
  const TPMA_NV a = slot.pub.attributes;
  if (a.has(TPMA_NV::READLOCKED)) return TPM_RC_NV_LOCKED;
  if (auth == TPM_RH_OWNER) {
    if (!a.has(TPMA_NV::OWNERREAD)) return TPM_RC_NV_AUTHORIZATION;
  } else if (auth == TPM_RH_PLATFORM) {
    if (!a.has(TPMA_NV::PPREAD)) return TPM_RC_NV_AUTHORIZATION;
  } else if (auth != slot.handle) {
    return TPM_RC_NV_AUTHORIZATION;
  }
  return a.has(TPMA_NV::WRITTEN) ? TPM_RC_SUCCESS : TPM_RC_NV_UNINITIALIZED;
}

}  // namespace utpm::tpm
