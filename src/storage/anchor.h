// The rollback anchor: a monotonic commit counter kept OUTSIDE the store's flash, where the
// attacker who can rewrite the store cannot rewind it (firmware: a page of MCU internal flash
// or OTP; host: a separate file, which only protects against accidental restore of an old
// store file, not against root). The store writes the counter of every commit here after the
// commit is durable in the log; at mount the log's newest commit must equal the anchor or be
// exactly one ahead of it (power cut between the two writes). See docs/storage.md.
#pragma once

#include <cstddef>
#include <cstdint>

#include "storage/flash.h"

namespace utpm::storage {

inline constexpr size_t kInstanceIdSize = 16;

struct AnchorValue {
  uint8_t instance[kInstanceIdSize];  // which store instance the counter belongs to
  uint64_t counter;                   // newest durable commit (0: store being formatted)
};

enum class AnchorStatus : uint8_t {
  ok = 0,
  empty,     // never written (fresh device)
  io_error,  // could not be read/written
  corrupt,   // present but unreadable (not a torn update: those fall back to the older value)
};

class Anchor {
 public:
  virtual AnchorStatus load(AnchorValue& out) = 0;
  // Durable before returning. Counters only move forward; a smaller counter is refused.
  virtual AnchorStatus store(const AnchorValue& value) = 0;

 protected:
  Anchor() = default;
  ~Anchor() = default;
  Anchor(const Anchor&) = default;
  Anchor& operator=(const Anchor&) = default;
};

// Anchor kept in dedicated flash (firmware: two or more pages of internal flash that the
// external store never touches). Each update programs one 16-byte slot (counter, ~counter), so a
// page of 2 KB absorbs 124 updates per erase; pages are used round-robin. A torn slot fails its
// complement check and is ignored, i.e. the anchor keeps the previous value, which is exactly
// the "power cut between commit and anchor update" case the store tolerates.
class FlashCounterAnchor final : public Anchor {
 public:
  explicit FlashCounterAnchor(FlashDevice& flash) : flash_(flash) {}
  AnchorStatus load(AnchorValue& out) override;
  AnchorStatus store(const AnchorValue& value) override;
  // Erases held by the anchor (for wear reports).
  uint32_t erases() const { return erases_; }

 private:
  struct Scan {
    bool any = false;
    AnchorValue best{};
    uint32_t page = 0;       // page holding the newest slot
    uint32_t page_seq = 0;   // its sequence number
    uint32_t max_seq = 0;    // highest page sequence seen on any valid header
    uint32_t next_slot = 0;  // first never-programmed slot after the newest one in that page
  };
  AnchorStatus scan(Scan& s);

  FlashDevice& flash_;
  uint32_t erases_ = 0;
};

}  // namespace utpm::storage
