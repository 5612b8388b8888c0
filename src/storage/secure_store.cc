#include "storage/secure_store.h"

#include <bit>
#include <cstring>

namespace utpm::storage {

static_assert(std::endian::native == std::endian::little,
              "persisted structs are defined little-endian; add byte swapping for BE targets");

namespace {

using crypto::Bytes;

constexpr uint32_t kSegmentMagic = 0x53505455;  // "UTPS"
constexpr uint16_t kFormatVersion = 1;
constexpr uint16_t kTypeRecord = 0x5243;     // "CR"
constexpr uint16_t kTypeTombstone = 0x5254;  // "TR"
constexpr uint16_t kTypeCommit = 0x4D43;     // "CM"
constexpr uint32_t kCommitFlagCompaction = 1;
constexpr uint32_t kNonceSize = 12;
constexpr uint32_t kTagSize = 16;
constexpr uint64_t kGenMask = (uint64_t{1} << 48) - 1;

// ---- persisted layouts (little-endian; docs/storage.md §Format) ----
struct SegmentHeader {
  uint32_t magic;
  uint16_t version;
  uint16_t header_size;
  uint32_t segment_size;
  uint32_t erase_count;       // how often this segment has been erased (wear report/levelling)
  uint64_t seq;               // segments are opened with strictly increasing sequence numbers
  uint64_t prev_last;         // counter of the newest commit when this segment was opened
  uint8_t instance[kInstanceIdSize];
  uint8_t mac[16];            // HMAC(K_hdr, bytes 0..47) truncated
};
static_assert(sizeof(SegmentHeader) == SecureStore::kSegmentHeaderSize);
static_assert(offsetof(SegmentHeader, seq) == 16 && offsetof(SegmentHeader, mac) == 48);

struct EntryHeader {
  uint16_t type;
  uint16_t reserved;  // 0
  uint32_t id;
  uint64_t gen;       // counter of the commit that sealed this version
  uint32_t len;       // plaintext length (0 for a tombstone)
  uint32_t reserved2; // 0
};
static_assert(sizeof(EntryHeader) == SecureStore::kEntryHeaderSize);
static_assert(offsetof(EntryHeader, gen) == 8 && offsetof(EntryHeader, len) == 16);

struct CommitRecord {
  uint16_t type;
  uint16_t records;    // entries this commit applies
  uint32_t body_len;   // bytes between the previous commit (or segment header) and this one
  uint32_t live_off;   // entries before this offset in the body were aborted and are ignored
  uint32_t flags;
  uint64_t counter;    // commit counter: consecutive along the log, anchored externally
  uint64_t tail_seq;   // oldest segment still holding live data after this commit
  uint8_t digest[16];  // SHA-256 over the live state after this commit, truncated
  uint8_t mac[16];     // HMAC(K_mac, seg seq | body offset | body | bytes 0..47) truncated
};
static_assert(sizeof(CommitRecord) == SecureStore::kCommitSize);
static_assert(offsetof(CommitRecord, counter) == 16 && offsetof(CommitRecord, digest) == 32);

template <class T>
std::span<uint8_t> as_bytes_mut(T& v) { return {reinterpret_cast<uint8_t*>(&v), sizeof v}; }
template <class T>
Bytes as_bytes(const T& v) { return {reinterpret_cast<const uint8_t*>(&v), sizeof v}; }

uint64_t gen_of(const IndexEntry& e) { return e.gen_len & kGenMask; }
uint32_t len_of(const IndexEntry& e) { return static_cast<uint32_t>(e.gen_len >> 48); }
uint64_t pack_gen_len(uint64_t gen, uint32_t len) { return (gen & kGenMask) | (uint64_t{len} << 48); }

uint64_t load64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

void hmac_trunc(const uint8_t key[32], Bytes a, Bytes b, uint8_t* out, size_t n) {
  crypto::HmacState st;
  crypto::hmac_start(st, crypto::HashAlg::sha256, {key, 32});
  crypto::hmac_update(st, a);
  crypto::hmac_update(st, b);
  uint8_t full[32];
  crypto::hmac_finish(st, full);
  std::memcpy(out, full, n);
  crypto::zeroize(full, sizeof full);
  crypto::zeroize(st);
}

}  // namespace

struct SecureStore::SegmentScan {
  bool header_ok = false;
  bool bad = false;            // an authenticated commit out of sequence: splice, never a cut
  uint64_t seq = 0;
  uint64_t prev_last = 0;
  uint32_t ncommits = 0;
  uint64_t last_counter = 0;
  uint64_t last_tail_seq = 0;
  uint8_t last_digest[16]{};
  uint32_t end = 0;            // offset just past the newest valid commit
  bool index_overflow = false;
};

const char* mount_cause_name(MountCause c) {
  switch (c) {
    case MountCause::ok: return "ok";
    case MountCause::blank: return "blank (no store yet)";
    case MountCause::io_error: return "flash or anchor I/O error";
    case MountCause::bad_config: return "store configuration unusable";
    case MountCause::exists: return "a store already exists (format refused)";
    case MountCause::anchor_missing: return "store present but rollback anchor missing";
    case MountCause::anchor_corrupt: return "rollback anchor unreadable";
    case MountCause::store_missing: return "anchor present but store missing or unauthentic";
    case MountCause::rollback: return "store older than its anchor (rollback or damage)";
    case MountCause::anchor_behind: return "anchor older than store (anchor rewound)";
    case MountCause::broken_chain: return "commit chain broken (tampering or damage)";
    case MountCause::digest_mismatch: return "state digest mismatch (tampering or damage)";
    case MountCause::index_full: return "more records than the RAM index holds";
  }
  return "unknown";
}

SecureStore::SecureStore(FlashDevice& flash, Anchor& anchor, const StoreConfig& config,
                         const StoreMemory& memory)
    : flash_(flash), anchor_(anchor), cfg_(config), mem_(memory) {
  const FlashGeometry g = flash_.geometry();
  seg_size_ = g.erase_block_size * cfg_.segment_blocks;
  nseg_ = cfg_.segment_blocks == 0 ? 0 : g.block_count / cfg_.segment_blocks;
  segs_ = mem_.segments.data();
}

SecureStore::~SecureStore() { unmount(); }

void SecureStore::unmount() {
  crypto::zeroize(keys_);
  mounted_ = false;
  poisoned_ = false;
  txn_open_ = false;
  nstaged_ = 0;
  nindex_ = 0;
}

uint32_t SecureStore::payload_capacity() const {
  // docs/storage.md §Capacity: with live data bounded like this, compacting the ring once
  // always gets back kReserveSpares spare segments, whatever the fragmentation.
  const uint32_t per_seg = seg_size_ - kSegmentHeaderSize - kCommitSize;
  const uint32_t emax = entry_size(cfg_.max_record_size);
  if (nseg_ < kReserveSpares + 4 || per_seg <= emax) return 0;
  return (nseg_ - kReserveSpares - 3) * (per_seg - emax);
}

uint32_t SecureStore::authenticated_end(uint32_t s) const {
  // Authenticated extent of a used segment: header..end of its newest commit. Recomputed by a
  // read-only scan because the store does not keep per-segment ends in RAM.
  SegmentScan sc;
  if (!const_cast<SecureStore*>(this)->scan_segment(s, sc, false) || sc.ncommits == 0) return 0;
  return sc.end;
}

void SecureStore::derive_keys(Bytes secret, const uint8_t* instance) {
  // Separate keys per purpose and per store instance: a record sealed for one instance (or one
  // device) does not open in another, and no key is used for two constructions.
  static constexpr const char* kLabels[4] = {"utpm-store-v1 enc", "utpm-store-v1 siv",
                                             "utpm-store-v1 mac", "utpm-store-v1 hdr"};
  uint8_t* outs[4] = {keys_.enc, keys_.siv, keys_.mac, keys_.hdr};
  for (int i = 0; i < 4; ++i) {
    crypto::HmacState st;
    crypto::hmac_start(st, crypto::HashAlg::sha256, secret);
    crypto::hmac_update(st, {reinterpret_cast<const uint8_t*>(kLabels[i]),
                             std::strlen(kLabels[i]) + 1});
    crypto::hmac_update(st, {instance, kInstanceIdSize});
    crypto::hmac_finish(st, {outs[i], 32});
    crypto::zeroize(st);
  }
  std::memcpy(instance_, instance, kInstanceIdSize);
}

bool SecureStore::read_header(uint32_t s, uint64_t& seq, uint64_t& prev_last,
                              uint32_t& erase_count) {
  SegmentHeader h;
  if (flash_.read(seg_addr(s), as_bytes_mut(h)) != FlashStatus::ok) return false;
  if (h.magic != kSegmentMagic || h.version != kFormatVersion ||
      h.header_size != kSegmentHeaderSize || h.segment_size != seg_size_ ||
      std::memcmp(h.instance, instance_, kInstanceIdSize) != 0 || h.seq == 0) {
    return false;
  }
  uint8_t mac[16];
  hmac_trunc(keys_.hdr, {reinterpret_cast<const uint8_t*>(&h), 48}, {}, mac, 16);
  if (!crypto::ct_equal({mac, 16}, {h.mac, 16})) return false;
  seq = h.seq;
  prev_last = h.prev_last;
  erase_count = h.erase_count;
  return true;
}

void SecureStore::fill_mac(uint32_t seg, uint32_t body_start, uint32_t footer_addr,
                           uint8_t* footer, bool& ok) {
  // The MAC covers the body as it is ON FLASH (read back), so a program that silently failed
  // shows up now instead of at the next boot.
  crypto::HmacState st;
  crypto::hmac_start(st, crypto::HashAlg::sha256, {keys_.mac, 32});
  uint8_t pre[12];
  const uint64_t seq = segs_[seg].seq;
  const uint32_t off = body_start - seg_addr(seg);
  std::memcpy(pre, &seq, 8);
  std::memcpy(pre + 8, &off, 4);
  crypto::hmac_update(st, {pre, sizeof pre});
  uint8_t chunk[64];
  ok = true;
  for (uint32_t a = body_start; a < footer_addr;) {
    const uint32_t n = footer_addr - a < sizeof chunk ? footer_addr - a : uint32_t{sizeof chunk};
    if (flash_.read(a, {chunk, n}) != FlashStatus::ok) {
      ok = false;
      break;
    }
    crypto::hmac_update(st, {chunk, n});
    a += n;
  }
  crypto::hmac_update(st, {footer, 48});
  uint8_t full[32];
  crypto::hmac_finish(st, full);
  std::memcpy(footer + 48, full, 16);
  crypto::zeroize(st);
}

bool SecureStore::verify_commit_mac(uint32_t s, uint32_t body_start, uint32_t footer_addr,
                                    const uint8_t* footer) {
  uint8_t copy[kCommitSize];
  std::memcpy(copy, footer, kCommitSize);
  bool ok;
  fill_mac(s, body_start, footer_addr, copy, ok);
  return ok && crypto::ct_equal({copy + 48, 16}, {footer + 48, 16});
}

// Parses one segment: walks entries from the header, checks every commit's MAC and that
// counters continue from the header's prev_last. Stops at the first thing that does not parse
// or authenticate (the unfinished tail a power cut leaves). With apply, replays the committed
// entries into the index. Returns false only on a flash read error.
bool SecureStore::scan_segment(uint32_t s, SegmentScan& out, bool apply) {
  out = SegmentScan{};
  uint32_t erase_count;
  if (!read_header(s, out.seq, out.prev_last, erase_count)) return true;
  out.header_ok = true;
  const uint32_t base = seg_addr(s);
  uint32_t off = kSegmentHeaderSize;
  uint32_t body = off;
  uint64_t expect = out.prev_last + 1;
  while (off + kEntryHeaderSize <= seg_size_) {
    EntryHeader h;
    if (flash_.read(base + off, as_bytes_mut(h)) != FlashStatus::ok) return false;
    if (h.type == kTypeRecord) {
      if (h.len > cfg_.max_record_size || off + entry_size(h.len) > seg_size_) break;
      off += entry_size(h.len);
    } else if (h.type == kTypeTombstone) {
      off += kEntryHeaderSize;
    } else if (h.type == kTypeCommit) {
      if (off + kCommitSize > seg_size_) break;
      CommitRecord c;
      if (flash_.read(base + off, as_bytes_mut(c)) != FlashStatus::ok) return false;
      if (c.body_len != off - body || c.live_off > c.body_len ||
          !verify_commit_mac(s, base + body, base + off, reinterpret_cast<const uint8_t*>(&c))) {
        break;
      }
      if (c.counter != expect) {
        // Authentic but out of sequence: only a splice of another part of the log does this.
        out.bad = true;
        return true;
      }
      if (apply) {
        // Replay this commit's live entries in order (later entries win).
        uint32_t e = body + c.live_off;
        while (e < off) {
          EntryHeader eh;
          if (flash_.read(base + e, as_bytes_mut(eh)) != FlashStatus::ok) return false;
          if (eh.type == kTypeRecord) {
            IndexEntry ie{};
            uint8_t tag[8];
            if (flash_.read(base + e + kEntryHeaderSize + kNonceSize + eh.len, {tag, 8}) !=
                FlashStatus::ok) {
              return false;
            }
            ie.tag8 = load64(tag);
            ie.gen_len = pack_gen_len(eh.gen, eh.len);
            ie.id = eh.id;
            ie.addr = base + e;
            if (!index_upsert(ie)) out.index_overflow = true;
            e += entry_size(eh.len);
          } else {  // tombstone (the MAC guarantees nothing else sits in a body)
            index_erase(eh.id);
            e += kEntryHeaderSize;
          }
        }
      }
      ++out.ncommits;
      out.last_counter = c.counter;
      out.last_tail_seq = c.tail_seq;
      std::memcpy(out.last_digest, c.digest, 16);
      expect = c.counter + 1;
      off += kCommitSize;
      body = off;
      out.end = off;
    } else {
      break;
    }
  }
  return true;
}

void SecureStore::compute_digest(uint8_t out[16], bool with_staged) const {
  // Digest over the live set in id order: (id, generation, first 8 tag bytes) per record. The
  // tag pins the exact sealed version, the generation its place in history.
  crypto::HashState st;
  crypto::hash_start(st, crypto::HashAlg::sha256);
  static constexpr char kLabel[] = "utpm-store-v1 state";
  crypto::hash_update(st, {reinterpret_cast<const uint8_t*>(kLabel), sizeof kLabel});
  crypto::hash_update(st, {instance_, kInstanceIdSize});
  auto emit = [&](const IndexEntry& e) {
    uint8_t rec[20];
    const uint64_t gen = gen_of(e);
    std::memcpy(rec, &e.id, 4);
    std::memcpy(rec + 4, &gen, 8);
    std::memcpy(rec + 12, &e.tag8, 8);
    crypto::hash_update(st, {rec, sizeof rec});
  };
  size_t i = 0, j = 0;
  const size_t ns = with_staged ? nstaged_ : 0;
  while (i < nindex_ || j < ns) {
    if (j >= ns || (i < nindex_ && mem_.index[i].id < mem_.staged[j].id)) {
      emit(mem_.index[i++]);
    } else {
      const IndexEntry& s = mem_.staged[j++];
      if (i < nindex_ && mem_.index[i].id == s.id) ++i;  // staged version replaces committed
      if (s.addr != 0) emit(s);
    }
  }
  uint8_t full[32];
  crypto::hash_finish(st, full);
  std::memcpy(out, full, 16);
}

IndexEntry* SecureStore::find(std::span<IndexEntry> v, size_t n, uint32_t id) const {
  size_t lo = 0, hi = n;
  while (lo < hi) {
    const size_t mid = (lo + hi) / 2;
    if (v[mid].id < id) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return lo < n && v[lo].id == id ? &v[lo] : nullptr;
}

bool SecureStore::index_upsert(const IndexEntry& e) {
  size_t i = 0;
  while (i < nindex_ && mem_.index[i].id < e.id) ++i;
  if (i < nindex_ && mem_.index[i].id == e.id) {
    mem_.index[i] = e;
    return true;
  }
  if (nindex_ >= mem_.index.size()) return false;
  for (size_t k = nindex_; k > i; --k) mem_.index[k] = mem_.index[k - 1];
  mem_.index[i] = e;
  ++nindex_;
  return true;
}

void SecureStore::index_erase(uint32_t id) {
  IndexEntry* e = find(mem_.index, nindex_, id);
  if (e == nullptr) return;
  for (size_t k = static_cast<size_t>(e - mem_.index.data()); k + 1 < nindex_; ++k) {
    mem_.index[k] = mem_.index[k + 1];
  }
  --nindex_;
}

// ---------------------------------------------------------------------------------------------
// mount / format

MountCause SecureStore::mount(Bytes device_secret) {
  unmount();
  if (device_secret.size() != kSecretSize) return cause_ = MountCause::bad_config;
  MountCause c = mount_once_with(device_secret);
  // A read disturb or a marginal bit reads differently twice; tampering does not. One full
  // re-read separates the two before anything is reported as an attack.
  if (is_integrity_failure(c)) c = mount_once_with(device_secret);
  if (c != MountCause::ok) {
    crypto::zeroize(keys_);
    mounted_ = false;
    nindex_ = 0;
  }
  cause_ = c;
  return c;
}

MountCause SecureStore::mount_once_with(Bytes secret) {
  mounted_ = false;
  nindex_ = 0;
  const FlashGeometry g = flash_.geometry();
  if (nseg_ < kReserveSpares + 4 || mem_.segments.size() < nseg_ || g.program_unit > 8 ||
      8 % g.program_unit != 0 || mem_.work.size() < work_size(cfg_) || mem_.staged.empty() ||
      payload_capacity() == 0) {
    return MountCause::bad_config;
  }
  AnchorValue av{};
  switch (anchor_.load(av)) {
    case AnchorStatus::ok: break;
    case AnchorStatus::io_error: return MountCause::io_error;
    case AnchorStatus::corrupt: return MountCause::anchor_corrupt;
    case AnchorStatus::empty: {
      // No anchor: a fresh device, unless some segment authenticates under its own instance.
      for (uint32_t s = 0; s < nseg_; ++s) {
        SegmentHeader h;
        if (flash_.read(seg_addr(s), as_bytes_mut(h)) != FlashStatus::ok) {
          return MountCause::io_error;
        }
        if (h.magic != kSegmentMagic) continue;
        derive_keys(secret, h.instance);
        uint64_t a, b;
        uint32_t c;
        if (read_header(s, a, b, c)) return MountCause::anchor_missing;
      }
      crypto::zeroize(keys_);
      return MountCause::blank;
    }
  }
  derive_keys(secret, av.instance);

  // Pass 0: headers.
  max_seq_ = 0;
  for (uint32_t s = 0; s < nseg_; ++s) {
    SegmentInfo& si = segs_[s];
    si = SegmentInfo{};
    uint64_t prev;
    if (read_header(s, si.seq, prev, si.erase_count)) {
      if (si.seq > max_seq_) max_seq_ = si.seq;
      // Sequence numbers are handed out once; two authentic headers with the same one can only
      // be a copy of an older version of a segment put back next to the current one.
      for (uint32_t o = 0; o < s; ++o) {
        if (segs_[o].seq == si.seq) return MountCause::broken_chain;
      }
    } else {
      si.seq = 0;
    }
  }
  // Pass 1: the newest segment holding a valid commit gives the newest commit L.
  SegmentScan sc;
  uint64_t bound = ~uint64_t{0};
  int32_t newest = -1;
  for (;;) {
    int32_t pick = -1;
    for (uint32_t s = 0; s < nseg_; ++s) {
      if (segs_[s].seq != 0 && segs_[s].seq < bound &&
          (pick < 0 || segs_[s].seq > segs_[pick].seq)) {
        pick = static_cast<int32_t>(s);
      }
    }
    if (pick < 0) break;
    if (!scan_segment(static_cast<uint32_t>(pick), sc, false)) return MountCause::io_error;
    if (sc.bad) return MountCause::broken_chain;
    if (sc.ncommits > 0) {
      newest = pick;
      break;
    }
    bound = segs_[pick].seq;
  }
  if (newest < 0) return av.counter == 0 ? MountCause::blank : MountCause::store_missing;
  const uint64_t last = sc.last_counter;
  const uint64_t tail = sc.last_tail_seq;
  const uint32_t head_end = sc.end;
  uint8_t digest[16];
  std::memcpy(digest, sc.last_digest, 16);
  if (last < av.counter) return MountCause::rollback;
  if (last > av.counter + 1) return MountCause::anchor_behind;

  // Pass 2: replay every segment from the tail to the newest, in sequence order, checking
  // that the commits form one unbroken chain.
  const uint64_t newest_seq = segs_[newest].seq;
  bool first = true;
  uint64_t running = 0;
  uint64_t cur = tail == 0 ? 0 : tail - 1;
  for (;;) {
    int32_t pick = -1;
    for (uint32_t s = 0; s < nseg_; ++s) {
      if (segs_[s].seq > cur && segs_[s].seq <= newest_seq &&
          (pick < 0 || segs_[s].seq < segs_[pick].seq)) {
        pick = static_cast<int32_t>(s);
      }
    }
    if (pick < 0) break;
    cur = segs_[pick].seq;
    if (!scan_segment(static_cast<uint32_t>(pick), sc, true)) return MountCause::io_error;
    if (sc.bad) return MountCause::broken_chain;
    if (sc.index_overflow) return MountCause::index_full;
    if (sc.ncommits == 0) continue;  // opened but never committed to: free
    if (first) {
      if (sc.seq != tail) return MountCause::broken_chain;  // the tail segment is gone
      first = false;
    } else if (sc.prev_last != running) {
      return MountCause::broken_chain;  // commits missing between two segments
    }
    running = sc.last_counter;
    segs_[pick].state = kUsed;
    segs_[pick].pad[0] = 1;  // holds a commit
  }
  if (first || running != last) return MountCause::broken_chain;
  uint8_t check[16];
  compute_digest(check, false);
  if (!crypto::ct_equal({check, 16}, {digest, 16})) return MountCause::digest_mismatch;

  live_bytes_ = 0;
  for (size_t i = 0; i < nindex_; ++i) live_bytes_ += entry_size(len_of(mem_.index[i]));
  last_counter_ = last;
  tail_seq_ = tail;
  head_ = static_cast<uint32_t>(newest);
  body_start_ = pos_ = txn_start_ = seg_addr(head_) + head_end;
  // Append to the old head only if nothing at all was written after its newest commit;
  // otherwise a half-programmed unit could be there, and the next write opens a new segment.
  bool clean = false;
  if (flash_.check_erased(pos_, seg_size_ - head_end, clean) != FlashStatus::ok) {
    return MountCause::io_error;
  }
  head_fresh_ = clean;
  if (last == av.counter + 1) {
    // The cut fell between the log commit and the anchor update: the commit is authentic and
    // complete, so it counts; bring the anchor up to it.
    av.counter = last;
    if (anchor_.store(av) != AnchorStatus::ok) return MountCause::io_error;
  }
  txn_open_ = false;
  nstaged_ = 0;
  poisoned_ = false;
  mounted_ = true;
  return MountCause::ok;
}

MountCause SecureStore::format(Bytes device_secret, Bytes instance_id, bool force) {
  if (device_secret.size() != kSecretSize || instance_id.size() != kInstanceIdSize) {
    return cause_ = MountCause::bad_config;
  }
  if (!force) {
    const MountCause c = mount(device_secret);
    if (c != MountCause::blank) {
      unmount();
      return cause_ = (c == MountCause::ok ? MountCause::exists : c);
    }
  }
  unmount();
  const FlashGeometry g = flash_.geometry();
  if (nseg_ < kReserveSpares + 4 || mem_.segments.size() < nseg_ || g.program_unit > 8 ||
      mem_.work.size() < work_size(cfg_) || payload_capacity() == 0) {
    return cause_ = MountCause::bad_config;
  }
  derive_keys(device_secret, instance_id.data());
  // Anchor first (counter 0 = "formatting"), so a cut anywhere below is recognisable as an
  // unfinished format (blank) and never as a store whose anchor went missing.
  AnchorValue av{};
  std::memcpy(av.instance, instance_id.data(), kInstanceIdSize);
  av.counter = 0;
  if (anchor_.store(av) != AnchorStatus::ok) return cause_ = MountCause::io_error;
  for (uint32_t b = 0; b < g.block_count; ++b) {
    if (flash_.erase(b) != FlashStatus::ok) return cause_ = MountCause::io_error;
    ++stats_.erases;
  }
  for (uint32_t s = 0; s < nseg_; ++s) segs_[s] = SegmentInfo{};
  max_seq_ = 0;
  last_counter_ = 0;
  tail_seq_ = 1;
  nindex_ = 0;
  live_bytes_ = 0;
  mounted_ = true;
  if (open_segment() != StoreResult::ok || write_commit(0, 1, false, nullptr) != StoreResult::ok) {
    unmount();
    return cause_ = MountCause::io_error;
  }
  return cause_ = MountCause::ok;
}

// ---------------------------------------------------------------------------------------------
// writing

StoreResult SecureStore::fail(StoreResult r) {
  poisoned_ = true;
  txn_open_ = false;
  nstaged_ = 0;
  return r;
}

StoreResult SecureStore::open_segment() {
  // Wear levelling: the least-erased spare; ties go to the oldest contents.
  int32_t pick = -1;
  for (uint32_t s = 0; s < nseg_; ++s) {
    if (segs_[s].state != kFree) continue;
    if (pick < 0 || segs_[s].erase_count < segs_[pick].erase_count ||
        (segs_[s].erase_count == segs_[pick].erase_count && segs_[s].seq < segs_[pick].seq)) {
      pick = static_cast<int32_t>(s);
    }
  }
  if (pick < 0) return StoreResult::no_space;
  const uint32_t s = static_cast<uint32_t>(pick);
  // A head that never got a commit holds only dead entries (a spilled or aborted
  // transaction): recovery treats it as free, and so do we.
  if (mounted_ && segs_[head_].state == kUsed && segs_[head_].pad[0] == 0 && head_ != s) {
    segs_[head_].state = kFree;
  }
  for (uint32_t b = 0; b < cfg_.segment_blocks; ++b) {
    if (flash_.erase(s * cfg_.segment_blocks + b) != FlashStatus::ok) {
      head_fresh_ = false;
      return StoreResult::io_error;
    }
    ++stats_.erases;
  }
  SegmentHeader h{};
  h.magic = kSegmentMagic;
  h.version = kFormatVersion;
  h.header_size = kSegmentHeaderSize;
  h.segment_size = seg_size_;
  h.erase_count = segs_[s].erase_count + 1;
  h.seq = max_seq_ + 1;
  h.prev_last = last_counter_;
  std::memcpy(h.instance, instance_, kInstanceIdSize);
  hmac_trunc(keys_.hdr, {reinterpret_cast<const uint8_t*>(&h), 48}, {}, h.mac, 16);
  if (flash_.program(seg_addr(s), as_bytes(h)) != FlashStatus::ok) {
    head_fresh_ = false;
    return StoreResult::io_error;
  }
  stats_.bytes_programmed += sizeof h;
  max_seq_ = h.seq;
  segs_[s] = SegmentInfo{h.seq, h.erase_count, kUsed, {0, 0, 0}};
  head_ = s;
  pos_ = body_start_ = txn_start_ = seg_addr(s) + kSegmentHeaderSize;
  head_fresh_ = true;
  return StoreResult::ok;
}

StoreResult SecureStore::append_entry(Bytes entry) {
  const uint32_t at = pos_;
  if (pos_ + entry.size() > seg_addr(head_) + seg_size_ ||
      flash_.program(pos_, entry) != FlashStatus::ok) {
    head_fresh_ = false;
    return StoreResult::io_error;
  }
  stats_.bytes_programmed += entry.size();
  pos_ += static_cast<uint32_t>(entry.size());
  // Read back: a unit that did not program right must not be authenticated by the commit MAC
  // (which is computed over what is on flash). A misread is absorbed by reading again.
  uint8_t chunk[64];
  for (uint32_t done = 0; done < entry.size();) {
    const uint32_t n = static_cast<uint32_t>(
        entry.size() - done < sizeof chunk ? entry.size() - done : sizeof chunk);
    bool same = false;
    for (int attempt = 0; attempt < 3 && !same; ++attempt) {
      same = flash_.read(at + done, {chunk, n}) == FlashStatus::ok &&
             std::memcmp(chunk, entry.data() + done, n) == 0;
    }
    if (!same) {
      head_fresh_ = false;
      return StoreResult::io_error;
    }
    done += n;
  }
  return StoreResult::ok;
}

StoreResult SecureStore::copy_entry(uint32_t from, uint32_t size, uint32_t& to) {
  to = pos_;
  uint8_t chunk[64];
  for (uint32_t done = 0; done < size;) {
    const uint32_t n = size - done < sizeof chunk ? size - done : uint32_t{sizeof chunk};
    if (flash_.read(from + done, {chunk, n}) != FlashStatus::ok) return StoreResult::io_error;
    const StoreResult r = append_entry({chunk, n});
    if (r != StoreResult::ok) return r;
    done += n;
  }
  // The copy equals what was read, but the read may have been a misread: compare source and
  // copy afresh, so a transient error never becomes a permanently corrupted record.
  uint8_t a[32], b[32];
  for (uint32_t done = 0; done < size;) {
    const uint32_t n = size - done < sizeof a ? size - done : uint32_t{sizeof a};
    bool same = false;
    for (int attempt = 0; attempt < 3 && !same; ++attempt) {
      same = flash_.read(from + done, {a, n}) == FlashStatus::ok &&
             flash_.read(to + done, {b, n}) == FlashStatus::ok && std::memcmp(a, b, n) == 0;
    }
    if (!same) {
      head_fresh_ = false;
      return StoreResult::io_error;
    }
    done += n;
  }
  return StoreResult::ok;
}

StoreResult SecureStore::write_commit(uint32_t records, uint64_t new_tail, bool compaction,
                                      bool* retryable) {
  if (retryable) *retryable = false;
  CommitRecord c{};
  c.type = kTypeCommit;
  c.records = static_cast<uint16_t>(records);
  c.body_len = pos_ - body_start_;
  c.live_off = txn_start_ - body_start_;
  c.flags = compaction ? kCommitFlagCompaction : 0;
  c.counter = last_counter_ + 1;
  c.tail_seq = new_tail;
  compute_digest(c.digest, !compaction);
  bool ok;
  fill_mac(head_, body_start_, pos_, reinterpret_cast<uint8_t*>(&c), ok);
  const uint32_t footer_addr = pos_;
  if (ok && pos_ + kCommitSize <= seg_addr(head_) + seg_size_ &&
      flash_.program(pos_, as_bytes(c)) == FlashStatus::ok) {
    stats_.bytes_programmed += kCommitSize;
  }
  pos_ += kCommitSize;
  // Verify what is on flash before the anchor vouches for it. An anchored commit that does not
  // authenticate would read as a rollback at the next mount, so a program that went wrong (or
  // a MAC computed over a misread body) must stop here. A transient misread of a good commit
  // is absorbed by reading again.
  bool verified = false;
  for (int attempt = 0; attempt < 3 && !verified; ++attempt) {
    CommitRecord back;
    verified = flash_.read(footer_addr, as_bytes_mut(back)) == FlashStatus::ok &&
               std::memcmp(&back, &c, sizeof c) == 0 &&
               verify_commit_mac(head_, body_start_, footer_addr,
                                 reinterpret_cast<const uint8_t*>(&back));
  }
  if (!verified) {
    // Nothing durable happened (the commit does not authenticate on flash, so recovery
    // ignores it and the anchor was not touched): the caller may retry in a fresh segment.
    head_fresh_ = false;
    if (retryable) *retryable = true;
    return StoreResult::io_error;
  }
  // Order matters: log durable, then anchor. The reverse would let a cut leave an anchor
  // ahead of the log, which recovery must (and does) call a rollback.
  if (flash_.sync() != FlashStatus::ok) return fail(StoreResult::io_error);
  AnchorValue av{};
  std::memcpy(av.instance, instance_, kInstanceIdSize);
  av.counter = c.counter;
  if (anchor_.store(av) != AnchorStatus::ok) return fail(StoreResult::io_error);
  last_counter_ = c.counter;
  tail_seq_ = new_tail;
  body_start_ = txn_start_ = pos_;
  segs_[head_].pad[0] = 1;
  ++stats_.commits;
  return StoreResult::ok;
}

void SecureStore::relink(uint32_t from, uint32_t count, uint32_t tail_lo, uint32_t tail_hi) {
  // Point the index at the copies a compaction commit just made durable. Until then the index
  // keeps pointing into the tail, so a compaction that fails half way changes nothing. The
  // copies were made in index order, back to back, from the first entries that still point
  // into the tail, so their addresses follow without reading flash (a misread here would
  // leave the index pointing into a segment about to be reused).
  uint32_t at = from;
  for (size_t i = 0; i < nindex_ && count > 0; ++i) {
    IndexEntry& e = mem_.index[i];
    if (e.addr < tail_lo || e.addr >= tail_hi) continue;
    e.addr = at;
    at += entry_size(len_of(e));
    --count;
  }
}

StoreResult SecureStore::compact_tail() {
  // The tail is the oldest segment holding a commit; everything live in it moves to the head,
  // a commit that names the next segment as the new tail makes the move durable, and only then
  // does the old tail count as spare (it is erased when next opened).
  int32_t tail = -1;
  for (uint32_t s = 0; s < nseg_; ++s) {
    if (segs_[s].state == kUsed && segs_[s].pad[0] == 1 &&
        (tail < 0 || segs_[s].seq < segs_[tail].seq)) {
      tail = static_cast<int32_t>(s);
    }
  }
  if (tail < 0 || static_cast<uint32_t>(tail) == head_) return StoreResult::no_space;
  const uint32_t t = static_cast<uint32_t>(tail);
  const uint32_t lo = seg_addr(t), hi = lo + seg_size_;
  txn_start_ = pos_;  // aborted leftovers before this point stay out of the replay
  uint32_t copies = 0;
  auto commit_copies = [&](uint64_t new_tail) {
    const uint32_t from = txn_start_;
    const StoreResult r = write_commit(copies, new_tail, true, nullptr);
    if (r == StoreResult::ok) relink(from, copies, lo, hi);
    copies = 0;
    return r;
  };
  for (size_t i = 0; i < nindex_; ++i) {
    const IndexEntry& e = mem_.index[i];
    if (e.addr < lo || e.addr >= hi) continue;
    const uint32_t size = entry_size(len_of(e));
    if (pos_ + size + kCommitSize > seg_addr(head_) + seg_size_) {
      if (copies > 0) {
        const StoreResult r = commit_copies(tail_seq_);
        if (r != StoreResult::ok) return r;
      }
      const StoreResult r = open_segment();
      if (r != StoreResult::ok) return r;
    }
    // Copy only what RAM says is there: header identity and tag must match the index, so a
    // record swapped on flash after mount is not laundered into a fresh commit.
    bool matches = false;
    for (int attempt = 0; attempt < 2 && !matches; ++attempt) {  // re-read: transient errors
      EntryHeader h;
      uint8_t tag[8];
      if (flash_.read(e.addr, as_bytes_mut(h)) != FlashStatus::ok ||
          flash_.read(e.addr + kEntryHeaderSize + kNonceSize + len_of(e), {tag, 8}) !=
              FlashStatus::ok) {
        return StoreResult::io_error;
      }
      matches = h.type == kTypeRecord && h.id == e.id && h.gen == gen_of(e) &&
                h.len == len_of(e) && load64(tag) == e.tag8;
    }
    if (!matches) return fail(StoreResult::integrity_error);
    uint32_t to;
    const StoreResult r = copy_entry(e.addr, size, to);
    if (r != StoreResult::ok) return r;  // nothing committed: the next transaction retries
    ++copies;
  }
  if (pos_ + kCommitSize > seg_addr(head_) + seg_size_) {
    // Nothing was copied (copies always leave room for their commit) and the head is full.
    const StoreResult r = open_segment();
    if (r != StoreResult::ok) return r;
  }
  uint64_t next_tail = segs_[head_].seq;
  for (uint32_t s = 0; s < nseg_; ++s) {
    if (s != t && segs_[s].state == kUsed && segs_[s].pad[0] == 1 && segs_[s].seq < next_tail) {
      next_tail = segs_[s].seq;
    }
  }
  const StoreResult r = commit_copies(next_tail);
  if (r != StoreResult::ok) return r;
  segs_[t].state = kFree;
  ++stats_.compactions;
  return StoreResult::ok;
}

StoreResult SecureStore::begin_txn() {
  if (!head_fresh_) {
    const StoreResult r = open_segment();
    if (r != StoreResult::ok) return r;
  }
  for (uint32_t i = 0; spare_count() < kReserveSpares && i < 2 * nseg_; ++i) {
    const StoreResult r = compact_tail();
    if (r == StoreResult::no_space) break;
    if (r != StoreResult::ok) return r;
  }
  txn_open_ = true;
  txn_start_ = pos_;
  txn_entries_ = 0;
  nstaged_ = 0;
  txn_payload_ = 0;
  return StoreResult::ok;
}

int64_t SecureStore::staged_delta(uint32_t id, int64_t new_size) const {
  int64_t old = 0;
  if (const IndexEntry* s = find(mem_.staged, nstaged_, id)) {
    old = s->addr == 0 ? 0 : int64_t{entry_size(len_of(*s))};
  } else if (const IndexEntry* c = find(mem_.index, nindex_, id)) {
    old = entry_size(len_of(*c));
  }
  return new_size - old;
}

StoreResult SecureStore::spill(uint32_t need) {
  // The transaction no longer fits in the head: restart it in a fresh segment by copying its
  // entries so far (a commit never spans segments).
  uint32_t total = need + kCommitSize;
  for (size_t i = 0; i < nstaged_; ++i) {
    const IndexEntry& s = mem_.staged[i];
    total += s.addr == 0 ? kEntryHeaderSize : entry_size(len_of(s));
  }
  if (total > seg_size_ - kSegmentHeaderSize) return StoreResult::too_large;
  const StoreResult r = open_segment();
  if (r != StoreResult::ok) return r;
  txn_entries_ = 0;
  for (size_t i = 0; i < nstaged_; ++i) {
    IndexEntry& s = mem_.staged[i];
    StoreResult w;
    if (s.addr == 0) {
      EntryHeader h{kTypeTombstone, 0, s.id, last_counter_ + 1, 0, 0};
      w = append_entry(as_bytes(h));
    } else {
      uint32_t to;
      w = copy_entry(s.addr, entry_size(len_of(s)), to);
      s.addr = to;
    }
    if (w != StoreResult::ok) return w;
    ++txn_entries_;
  }
  return StoreResult::ok;
}

StoreResult SecureStore::write(uint32_t id, Bytes data) {
  if (!mounted_) return StoreResult::integrity_error;
  if (poisoned_) return StoreResult::io_error;
  if (data.size() > cfg_.max_record_size) return StoreResult::too_large;
  const uint32_t len = static_cast<uint32_t>(data.size());
  const uint32_t size = entry_size(len);
  IndexEntry* staged = find(mem_.staged, nstaged_, id);
  if (staged == nullptr && nstaged_ >= mem_.staged.size()) return StoreResult::no_space;
  if (staged == nullptr && find(mem_.index, nindex_, id) == nullptr) {
    // A new id: the index must be able to hold it once committed.
    size_t new_ids = 1;
    for (size_t i = 0; i < nstaged_; ++i) {
      if (mem_.staged[i].addr != 0 && find(mem_.index, nindex_, mem_.staged[i].id) == nullptr) {
        ++new_ids;
      }
    }
    if (nindex_ + new_ids > mem_.index.size()) return StoreResult::no_space;
  }
  // Live bytes after this write = committed + every staged change + this one.
  int64_t live = live_bytes_;
  for (size_t i = 0; i < nstaged_; ++i) {
    const IndexEntry& s = mem_.staged[i];
    const IndexEntry* c = find(mem_.index, nindex_, s.id);
    live += int64_t{s.addr == 0 ? 0u : entry_size(len_of(s))} -
            int64_t{c ? entry_size(len_of(*c)) : 0u};
  }
  live += staged_delta(id, size);
  if (live > payload_capacity()) return StoreResult::no_space;

  if (!txn_open_) {
    const StoreResult r = begin_txn();
    if (r != StoreResult::ok) return r;
    staged = nullptr;
  }
  if (pos_ + size + kCommitSize > seg_addr(head_) + seg_size_) {
    const StoreResult r = spill(size);
    if (r != StoreResult::ok) {
      if (r == StoreResult::io_error) abort();
      return r;
    }
  }
  // Seal: nonce = HMAC(K_siv, header | plaintext) (a synthetic IV), so a version written,
  // cut off by power loss and rewritten differently after reboot can never reuse a GCM nonce.
  uint8_t* w = mem_.work.data();
  EntryHeader h{kTypeRecord, 0, id, last_counter_ + 1, len, 0};
  std::memcpy(w, &h, sizeof h);
  uint8_t* nonce = w + kEntryHeaderSize;
  uint8_t* ct = nonce + kNonceSize;
  uint8_t* tag = ct + len;
  hmac_trunc(keys_.siv, as_bytes(h), data, nonce, kNonceSize);
  uint8_t aad[kInstanceIdSize + kEntryHeaderSize];
  std::memcpy(aad, instance_, kInstanceIdSize);
  std::memcpy(aad + kInstanceIdSize, &h, sizeof h);
  if (crypto::aead_seal({keys_.enc, 32}, {nonce, kNonceSize}, {aad, sizeof aad}, data,
                        {ct, len}, {tag, kTagSize}) != crypto::Status::ok) {
    return StoreResult::io_error;
  }
  std::memset(tag + kTagSize, 0, size - (kRecordOverhead + len));
  uint32_t addr = pos_;
  StoreResult r = append_entry({w, size});
  if (r == StoreResult::io_error) {
    // The entry did not program or read back right: carry the transaction to a fresh segment
    // and try once more before giving up on it.
    r = spill(size);
    addr = pos_;
    if (r == StoreResult::ok) r = append_entry({w, size});
  }
  if (r != StoreResult::ok) {
    crypto::zeroize(w, size);
    abort();
    return r;
  }
  IndexEntry e{load64(tag), pack_gen_len(h.gen, len), id, addr};
  crypto::zeroize(w, size);  // ciphertext only, but the buffer is shared with reads
  if (staged == nullptr) staged = find(mem_.staged, nstaged_, id);
  if (staged != nullptr) {
    *staged = e;
  } else {
    size_t i = nstaged_;
    while (i > 0 && mem_.staged[i - 1].id > id) {
      mem_.staged[i] = mem_.staged[i - 1];
      --i;
    }
    mem_.staged[i] = e;
    ++nstaged_;
  }
  ++txn_entries_;
  txn_payload_ += len;
  return StoreResult::ok;
}

StoreResult SecureStore::remove(uint32_t id) {
  if (!mounted_) return StoreResult::integrity_error;
  if (poisoned_) return StoreResult::io_error;
  IndexEntry* staged = txn_open_ ? find(mem_.staged, nstaged_, id) : nullptr;
  if (staged != nullptr ? staged->addr == 0 : find(mem_.index, nindex_, id) == nullptr) {
    return StoreResult::not_found;
  }
  if (staged == nullptr && nstaged_ >= mem_.staged.size()) return StoreResult::no_space;
  if (!txn_open_) {
    const StoreResult r = begin_txn();
    if (r != StoreResult::ok) return r;
  }
  if (pos_ + kEntryHeaderSize + kCommitSize > seg_addr(head_) + seg_size_) {
    const StoreResult r = spill(kEntryHeaderSize);
    if (r != StoreResult::ok) {
      if (r == StoreResult::io_error) abort();
      return r;
    }
  }
  EntryHeader h{kTypeTombstone, 0, id, last_counter_ + 1, 0, 0};
  const StoreResult r = append_entry(as_bytes(h));
  if (r != StoreResult::ok) {
    abort();
    return r;
  }
  IndexEntry e{0, pack_gen_len(h.gen, 0), id, 0};
  staged = find(mem_.staged, nstaged_, id);
  if (staged != nullptr) {
    *staged = e;
  } else {
    size_t i = nstaged_;
    while (i > 0 && mem_.staged[i - 1].id > id) {
      mem_.staged[i] = mem_.staged[i - 1];
      --i;
    }
    mem_.staged[i] = e;
    ++nstaged_;
  }
  ++txn_entries_;
  return StoreResult::ok;
}

StoreResult SecureStore::commit() {
  if (!mounted_) return StoreResult::integrity_error;
  if (poisoned_) return StoreResult::io_error;
  if (!txn_open_ || nstaged_ == 0) {
    txn_open_ = false;
    return StoreResult::ok;
  }
  for (int attempt = 0;; ++attempt) {
    bool retryable = false;
    StoreResult r = write_commit(txn_entries_, tail_seq_, false, &retryable);
    if (r == StoreResult::ok) break;
    if (!retryable || attempt == 2) {
      abort();
      return r;
    }
    // The commit did not verify on flash, so it does not exist: move the transaction to a
    // fresh segment (its entries are copied and verified) and commit there.
    r = spill(0);
    if (r != StoreResult::ok) {
      abort();
      return StoreResult::io_error;
    }
  }
  for (size_t i = 0; i < nstaged_; ++i) {
    const IndexEntry& s = mem_.staged[i];
    if (const IndexEntry* c = find(mem_.index, nindex_, s.id)) live_bytes_ -= entry_size(len_of(*c));
    if (s.addr == 0) {
      index_erase(s.id);
    } else {
      index_upsert(s);  // capacity was checked in write()
      live_bytes_ += entry_size(len_of(s));
    }
  }
  stats_.payload_bytes += txn_payload_;
  txn_open_ = false;
  nstaged_ = 0;
  return StoreResult::ok;
}

void SecureStore::abort() {
  // Entries already programmed stay on flash as dead bytes: the next commit's live_off
  // excludes them from replay.
  txn_open_ = false;
  nstaged_ = 0;
  txn_payload_ = 0;
}

StoreResult SecureStore::read(uint32_t id, std::span<uint8_t> out, size_t& len) {
  // A failed check is re-read once: a transient read error must not put the TPM into failure
  // mode, while tampering fails the same way twice.
  StoreResult r = read_once(id, out, len);
  if (r == StoreResult::integrity_error) r = read_once(id, out, len);
  return r;
}

StoreResult SecureStore::read_once(uint32_t id, std::span<uint8_t> out, size_t& len) {
  len = 0;
  if (!mounted_) return StoreResult::integrity_error;
  const IndexEntry* e = txn_open_ ? find(mem_.staged, nstaged_, id) : nullptr;
  if (e != nullptr && e->addr == 0) return StoreResult::not_found;
  if (e == nullptr) e = find(mem_.index, nindex_, id);
  if (e == nullptr) return StoreResult::not_found;
  const uint32_t n = len_of(*e);
  len = n;
  if (out.size() < n) return StoreResult::too_large;
  // Flash is outside the trust boundary even after mount: re-check identity, version and tag.
  EntryHeader h;
  uint8_t nonce[kNonceSize], tag[kTagSize];
  if (flash_.read(e->addr, as_bytes_mut(h)) != FlashStatus::ok ||
      flash_.read(e->addr + kEntryHeaderSize, {nonce, kNonceSize}) != FlashStatus::ok ||
      flash_.read(e->addr + kEntryHeaderSize + kNonceSize, out.first(n)) != FlashStatus::ok ||
      flash_.read(e->addr + kEntryHeaderSize + kNonceSize + n, {tag, kTagSize}) !=
          FlashStatus::ok) {
    crypto::zeroize(out.data(), n);
    return StoreResult::io_error;
  }
  if (h.type != kTypeRecord || h.id != id || h.gen != gen_of(*e) || h.len != n ||
      load64(tag) != e->tag8) {
    crypto::zeroize(out.data(), n);
    return StoreResult::integrity_error;
  }
  uint8_t aad[kInstanceIdSize + kEntryHeaderSize];
  std::memcpy(aad, instance_, kInstanceIdSize);
  std::memcpy(aad + kInstanceIdSize, &h, sizeof h);
  if (crypto::aead_open({keys_.enc, 32}, {nonce, kNonceSize}, {aad, sizeof aad}, out.first(n),
                        {tag, kTagSize}, out.first(n)) != crypto::Status::ok) {
    return StoreResult::integrity_error;
  }
  return StoreResult::ok;
}

uint32_t SecureStore::spare_count() const {
  uint32_t n = 0;
  for (uint32_t s = 0; s < nseg_; ++s) n += segs_[s].state == kFree ? 1 : 0;
  return n;
}

StoreStats SecureStore::stats() const {
  StoreStats s = stats_;
  s.live_records = static_cast<uint32_t>(nindex_);
  s.live_bytes = live_bytes_;
  s.capacity_bytes = payload_capacity();
  s.spare_segments = spare_count();
  return s;
}

}  // namespace utpm::storage
