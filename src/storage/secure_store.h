// The secure persistent store: a log-structured, encrypted and authenticated record store on
// flash, with atomic multi-record commits, rollback protection through an external anchor,
// compaction that never erases the only copy, wear levelling by rotation, and bounded RAM.
//
// Its API maps 1:1 onto utpm::tpm::NvStore (src/tpm/platform.h) without including it (storage
// depends on crypto only); src/host/secure_nv_store.h and the firmware platform are the
// adapters. The on-flash format, the commit protocol, the recovery algorithm and the threat
// model are in docs/storage.md; the comments here say why the code does what it does.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "crypto/crypto.h"
#include "storage/anchor.h"
#include "storage/flash.h"

namespace utpm::storage {

// Same values and meanings as tpm::NvStore::Result (the adapter static_asserts this).
enum class StoreResult : uint8_t {
  ok = 0,
  not_found,
  too_large,
  no_space,
  io_error,
  integrity_error,
};

// Why mount() refused (or what it found). Everything except ok/blank/io_error is an integrity
// failure: the engine enters failure mode and the daemon prints mount_cause_name().
enum class MountCause : uint8_t {
  ok = 0,
  blank,              // no store and no anchor (or a format that never finished): format() it
  io_error,           // flash or anchor could not be read
  bad_config,         // geometry/config/memory unusable (a build error, not an attack)
  exists,             // format() refused: a valid store is already there
  anchor_missing,     // a valid store exists but the anchor is empty (anchor wiped/replaced)
  anchor_corrupt,     // the anchor cannot be parsed
  store_missing,      // the anchor says a store exists, but none authenticates on flash
  rollback,           // newest valid commit older than the anchor: old image, truncated log,
                      // or the newest commit damaged
  anchor_behind,      // log more than one commit ahead of the anchor: anchor restored/rewound
  broken_chain,       // a commit or segment inside the live range is missing or fails its MAC
  digest_mismatch,    // replayed state differs from the state digest of the newest commit
  index_full,         // more live records than the RAM index holds (configuration error)
};
const char* mount_cause_name(MountCause cause);
inline bool is_integrity_failure(MountCause c) {
  return c != MountCause::ok && c != MountCause::blank && c != MountCause::io_error &&
         c != MountCause::bad_config && c != MountCause::exists;
}

// ---- RAM the caller provides (no heap; the firmware puts these in static storage) ----

// One live record: where its newest version is and what it must look like there.
struct IndexEntry {
  uint64_t tag8;      // first 8 bytes of the GCM tag: pins the exact version (TOCTOU check)
  uint64_t gen_len;   // generation (low 48 bits) | plaintext length << 48
  uint32_t id;
  uint32_t addr;      // flash address of the record entry
};
static_assert(sizeof(IndexEntry) == 24);

struct SegmentInfo {
  uint64_t seq;          // sequence number from the header (0: no valid header)
  uint32_t erase_count;  // from the header; wear levelling picks the least worn spare
  uint8_t state;         // SegmentState
  uint8_t pad[3];
};
static_assert(sizeof(SegmentInfo) == 16);

struct StoreConfig {
  uint32_t segment_blocks = 1;       // erase blocks per segment (a segment holds whole commits)
  uint32_t max_record_size = 2048;   // largest record payload in bytes
};

struct StoreMemory {
  std::span<IndexEntry> index;       // capacity = max live records
  std::span<IndexEntry> staged;      // capacity = max records written by one transaction
  std::span<SegmentInfo> segments;   // one per segment
  std::span<uint8_t> work;           // >= work_size(config): one sealed record entry
};

struct StoreStats {
  uint64_t commits = 0;           // all commits including compaction commits
  uint64_t compactions = 0;       // segments reclaimed
  uint64_t bytes_programmed = 0;  // by this store object, all kinds
  uint64_t erases = 0;            // erase-block erases by this store object
  uint64_t payload_bytes = 0;     // record bytes the caller wrote and committed
  uint32_t live_records = 0;
  uint32_t live_bytes = 0;        // flash bytes the live records occupy
  uint32_t capacity_bytes = 0;    // limit on live_bytes (no_space beyond)
  uint32_t spare_segments = 0;
};

class SecureStore {
 public:
  // Sizes of the persisted structures (docs/storage.md has the byte layouts).
  static constexpr uint32_t kSegmentHeaderSize = 64;
  static constexpr uint32_t kEntryHeaderSize = 24;
  static constexpr uint32_t kCommitSize = 64;
  static constexpr uint32_t kRecordOverhead = kEntryHeaderSize + 12 + 16;  // + nonce + tag
  static constexpr uint32_t kSecretSize = 32;
  // Spare segments kept free at the start of every transaction: one for a transaction that
  // spills into a new segment, one for compaction after a reboot. docs/storage.md §Capacity.
  static constexpr uint32_t kReserveSpares = 2;

  static constexpr uint32_t entry_size(uint32_t len) { return (kRecordOverhead + len + 7u) & ~7u; }
  static constexpr size_t work_size(const StoreConfig& c) { return entry_size(c.max_record_size); }

  SecureStore(FlashDevice& flash, Anchor& anchor, const StoreConfig& config,
              const StoreMemory& memory);
  ~SecureStore();
  SecureStore(const SecureStore&) = delete;
  SecureStore& operator=(const SecureStore&) = delete;

  // Loads and authenticates the store. device_secret (32 bytes) never leaves the device; only
  // keys derived from it are kept (and wiped by the destructor / unmount()). On anything but ok
  // the store stays unusable (every operation returns integrity_error or io_error) until a
  // successful mount: it never reinitialises itself.
  MountCause mount(crypto::Bytes device_secret);
  // Creates an empty store for instance_id (16 random bytes from the caller's entropy source).
  // Refused (returns the cause) unless mount() reported blank: an existing store is never
  // overwritten by this call. force=true is the operator's explicit "wipe and start over"; it
  // needs a NEW instance id, because the anchor never moves backwards for an instance.
  MountCause format(crypto::Bytes device_secret, crypto::Bytes instance_id, bool force = false);
  void unmount();
  bool mounted() const { return mounted_; }
  MountCause last_cause() const { return cause_; }

  // tpm::NvStore semantics: write/remove are staged, read sees staged changes, commit makes all
  // staged changes durable atomically, abort drops them.
  StoreResult read(uint32_t id, std::span<uint8_t> out, size_t& len);
  StoreResult write(uint32_t id, crypto::Bytes data);
  StoreResult remove(uint32_t id);
  StoreResult commit();
  void abort();

  StoreStats stats() const;
  uint64_t commit_counter() const { return last_counter_; }
  // Calls fn(id) for every committed live record, in id order (utpmd's state blobs export the
  // whole record set this way; staged changes are not included).
  template <class Fn>
  void for_each_record_id(Fn&& fn) const {
    for (size_t i = 0; i < nindex_; ++i) fn(mem_.index[i].id);
  }
  // For tests and tools: calls fn(addr, len) for every byte range that holds authenticated,
  // committed data (segment headers and commits of the live segments). Every bit there is
  // covered by a MAC; bytes outside are erased space or an unfinished tail.
  template <class Fn>
  void for_each_authenticated_extent(Fn&& fn) const {
    for (uint32_t s = 0; s < nseg_; ++s) {
      const uint32_t end = segs_[s].state == kUsed ? authenticated_end(s) : 0;
      if (end > 0) fn(seg_addr(s), end);
    }
  }

 private:
  enum SegmentState : uint8_t { kFree = 0, kUsed = 1 };
  struct Keys {
    uint8_t enc[32];
    uint8_t siv[32];
    uint8_t mac[32];
    uint8_t hdr[32];
  };
  struct CommitInfo;
  struct SegmentScan;

  uint32_t seg_addr(uint32_t s) const { return s * seg_size_; }
  uint32_t authenticated_end(uint32_t s) const;
  uint32_t payload_capacity() const;

  void derive_keys(crypto::Bytes secret, const uint8_t* instance);
  MountCause mount_once_with(crypto::Bytes secret);
  bool read_header(uint32_t s, uint64_t& seq, uint64_t& prev_last, uint32_t& erase_count);
  bool scan_segment(uint32_t s, SegmentScan& out, bool apply);
  bool verify_commit_mac(uint32_t s, uint32_t body_start, uint32_t footer_addr,
                         const uint8_t* footer);
  void compute_digest(uint8_t out[16], bool with_staged) const;
  void fill_mac(uint32_t seg, uint32_t body_start, uint32_t footer_addr, uint8_t* footer,
                bool& ok);

  StoreResult begin_txn();
  StoreResult open_segment();
  StoreResult compact_tail();
  StoreResult write_commit(uint32_t records, uint64_t new_tail, bool compaction,
                           bool* retryable);
  void relink(uint32_t from, uint32_t count, uint32_t tail_lo, uint32_t tail_hi);
  StoreResult append_entry(crypto::Bytes entry);
  StoreResult copy_entry(uint32_t from, uint32_t size, uint32_t& to);
  StoreResult spill(uint32_t need);
  StoreResult fail(StoreResult r);
  StoreResult read_once(uint32_t id, std::span<uint8_t> out, size_t& len);

  IndexEntry* find(std::span<IndexEntry> v, size_t n, uint32_t id) const;
  bool index_upsert(const IndexEntry& e);
  void index_erase(uint32_t id);
  int64_t staged_delta(uint32_t id, int64_t new_size) const;
  uint32_t spare_count() const;

  FlashDevice& flash_;
  Anchor& anchor_;
  StoreConfig cfg_;
  StoreMemory mem_;
  uint32_t seg_size_ = 0;
  uint32_t nseg_ = 0;
  SegmentInfo* segs_ = nullptr;

  Keys keys_{};
  uint8_t instance_[kInstanceIdSize]{};
  bool mounted_ = false;
  bool poisoned_ = false;  // a write or anchor update failed: state on flash unknown until remount
  MountCause cause_ = MountCause::blank;

  // committed state
  size_t nindex_ = 0;
  uint64_t last_counter_ = 0;
  uint64_t tail_seq_ = 0;
  uint64_t max_seq_ = 0;
  uint32_t live_bytes_ = 0;
  // head segment and write position
  uint32_t head_ = 0;
  bool head_fresh_ = false;  // safe to append (written by this mount, or verified clean)
  uint32_t body_start_ = 0;  // end of the last commit in the head (start of the next body)
  uint32_t pos_ = 0;         // next free byte in the head
  // open transaction
  bool txn_open_ = false;
  uint32_t txn_start_ = 0;
  uint32_t txn_entries_ = 0;
  size_t nstaged_ = 0;       // staged[] holds records (tag8/addr) and removals (addr == 0)
  uint64_t txn_payload_ = 0;

  StoreStats stats_{};
};

}  // namespace utpm::storage
