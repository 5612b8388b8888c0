#include "storage/anchor.h"

#include <cstring>

namespace utpm::storage {
namespace {

constexpr uint32_t kAnchorMagic = 0x434E4155;  // "UANC"
constexpr uint32_t kHeaderSize = 32;
constexpr uint32_t kSlotSize = 16;

struct PageHeader {
  uint32_t magic;
  uint32_t page_seq;
  uint8_t instance[kInstanceIdSize];
  uint64_t check;  // FNV-1a over the fields above: detects a torn header, not an attacker
};
static_assert(sizeof(PageHeader) == kHeaderSize);

struct Slot {
  uint64_t counter;
  uint64_t complement;  // ~counter: a torn or erased slot never satisfies it
};
static_assert(sizeof(Slot) == kSlotSize);

uint64_t fnv1a(const uint8_t* p, size_t n) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < n; ++i) {
    h ^= p[i];
    h *= 0x100000001b3ull;
  }
  return h;
}

bool slot_valid(const Slot& s) { return (s.counter ^ s.complement) == ~uint64_t{0}; }
bool slot_erased(const Slot& s) { return s.counter == ~uint64_t{0} && s.complement == ~uint64_t{0}; }

}  // namespace

AnchorStatus FlashCounterAnchor::scan(Scan& s) {
  const FlashGeometry g = flash_.geometry();
  const uint32_t slots = (g.erase_block_size - kHeaderSize) / kSlotSize;
  s = Scan{};
  for (uint32_t page = 0; page < g.block_count; ++page) {
    const uint32_t base = page * g.erase_block_size;
    PageHeader h;
    if (flash_.read(base, {reinterpret_cast<uint8_t*>(&h), sizeof h}) != FlashStatus::ok) {
      return AnchorStatus::io_error;
    }
    if (h.magic != kAnchorMagic || h.check != fnv1a(reinterpret_cast<const uint8_t*>(&h), 24)) {
      continue;
    }
    bool page_any = false;
    uint64_t page_max = 0;
    uint32_t next = 0;
    for (uint32_t i = 0; i < slots; ++i) {
      Slot sl;
      if (flash_.read(base + kHeaderSize + i * kSlotSize,
                      {reinterpret_cast<uint8_t*>(&sl), sizeof sl}) != FlashStatus::ok) {
        return AnchorStatus::io_error;
      }
      if (!slot_erased(sl)) next = i + 1;  // never program over a torn slot
      if (slot_valid(sl) && (!page_any || sl.counter > page_max)) {
        page_any = true;
        page_max = sl.counter;
      }
    }
    // The newest page (highest sequence) with at least one valid slot is authoritative: an
    // instance change starts a new page, and a page switch cut before its first slot leaves
    // the previous page in charge.
    if (page_any && (!s.any || h.page_seq > s.page_seq)) {
      s.any = true;
      s.page = page;
      s.page_seq = h.page_seq;
      s.next_slot = next;
      std::memcpy(s.best.instance, h.instance, kInstanceIdSize);
      s.best.counter = page_max;
    }
    if (h.page_seq > s.max_seq) s.max_seq = h.page_seq;  // keep sequences rising
  }
  return AnchorStatus::ok;
}

AnchorStatus FlashCounterAnchor::load(AnchorValue& out) {
  Scan s;
  const AnchorStatus st = scan(s);
  if (st != AnchorStatus::ok) return st;
  if (!s.any) return AnchorStatus::empty;
  out = s.best;
  return AnchorStatus::ok;
}

AnchorStatus FlashCounterAnchor::store(const AnchorValue& value) {
  const FlashGeometry g = flash_.geometry();
  const uint32_t slots = (g.erase_block_size - kHeaderSize) / kSlotSize;
  if (g.block_count < 2 || slots == 0 || g.program_unit > 16) return AnchorStatus::io_error;
  Scan s;
  AnchorStatus st = scan(s);
  if (st != AnchorStatus::ok) return st;
  const bool same_instance =
      s.any && std::memcmp(s.best.instance, value.instance, kInstanceIdSize) == 0;
  if (same_instance && value.counter < s.best.counter) return AnchorStatus::io_error;
  if (same_instance && value.counter == s.best.counter) return AnchorStatus::ok;

  const Slot slot{value.counter, ~value.counter};
  if (same_instance && s.next_slot < slots) {
    const uint32_t addr = s.page * g.erase_block_size + kHeaderSize + s.next_slot * kSlotSize;
    return flash_.program(addr, {reinterpret_cast<const uint8_t*>(&slot), sizeof slot}) ==
                   FlashStatus::ok && flash_.sync() == FlashStatus::ok
               ? AnchorStatus::ok
               : AnchorStatus::io_error;
  }
  // Start the next page: erase it, header, first slot. The current page stays intact until the
  // new one holds a valid slot, so a cut anywhere here leaves the old value readable.
  const uint32_t page = s.any ? (s.page + 1) % g.block_count : 0;
  if (flash_.erase(page) != FlashStatus::ok) return AnchorStatus::io_error;
  ++erases_;
  PageHeader h{};
  h.magic = kAnchorMagic;
  h.page_seq = s.max_seq + 1;
  std::memcpy(h.instance, value.instance, kInstanceIdSize);
  h.check = fnv1a(reinterpret_cast<const uint8_t*>(&h), 24);
  const uint32_t base = page * g.erase_block_size;
  if (flash_.program(base, {reinterpret_cast<const uint8_t*>(&h), sizeof h}) != FlashStatus::ok ||
      flash_.program(base + kHeaderSize, {reinterpret_cast<const uint8_t*>(&slot), sizeof slot}) !=
          FlashStatus::ok ||
      flash_.sync() != FlashStatus::ok) {
    return AnchorStatus::io_error;
  }
  return AnchorStatus::ok;
}

}  // namespace utpm::storage
