#include "interim_log_store.h"

#include <cstring>

#include "board.h"

namespace utpm::firmware {

namespace {

constexpr uint32_t kFnvOffset = 2166136261u;
constexpr uint32_t kFnvPrime = 16777619u;

uint32_t fnv(uint32_t h, std::span<const uint8_t> bytes) {
  for (uint8_t b : bytes) h = (h ^ b) * kFnvPrime;
  return h;
}

uint32_t header_sum(uint32_t id, uint16_t len, uint8_t type) {
  const uint8_t fields[7] = {static_cast<uint8_t>(id), static_cast<uint8_t>(id >> 8),
                             static_cast<uint8_t>(id >> 16), static_cast<uint8_t>(id >> 24),
                             static_cast<uint8_t>(len), static_cast<uint8_t>(len >> 8), type};
  return fnv(kFnvOffset, fields);
}

// Checksums record data in small pieces straight from the device (no RAM copy of a record).
bool data_sum(size_t offset, size_t len, uint32_t& h) {
  uint8_t chunk[64];
  for (size_t done = 0; done < len;) {
    const size_t n = len - done < sizeof chunk ? len - done : sizeof chunk;
    if (!board::store_read(offset + done, std::span<uint8_t>(chunk, n))) return false;
    h = fnv(h, std::span<const uint8_t>(chunk, n));
    done += n;
  }
  return true;
}

}  // namespace

bool InterimLogStore::header_at(size_t offset, Header& h) const {
  const size_t size = board::store_area().size;
  if (offset + sizeof(Header) > size) return false;
  if (!board::store_read(offset, std::span<uint8_t>(reinterpret_cast<uint8_t*>(&h), sizeof h))) return false;
  if (h.magic != kMagic || h.reserved != 0) return false;
  if (h.type != kWrite && h.type != kRemove && h.type != kCommit && h.type != kAbort) return false;
  if (offset + record_size(h.len) > size) return false;
  uint32_t sum = header_sum(h.id, h.len, h.type);
  if (!data_sum(offset + sizeof(Header), h.len, sum)) return false;
  return sum == h.checksum;
}

bool InterimLogStore::mount() {
  end_ = 0;
  open_run_ = false;
  Header h;
  while (header_at(end_, h)) {
    open_run_ = (h.type == kWrite || h.type == kRemove);
    end_ += record_size(h.len);
  }
  // A torn record at the end would make the next append unreadable: the bytes after the log
  // must be erased. Erase from the next unit boundary (the partially used unit keeps the
  // valid records; a torn record there is left behind, covered by an abort marker below when
  // there is room, and otherwise we start over).
  uint8_t probe[sizeof(Header)];
  if (end_ + sizeof probe <= board::store_area().size) {
    if (!board::store_read(end_, probe)) return false;
    bool erased = true;
    for (uint8_t b : probe) erased = erased && b == 0xFF;
    if (!erased) {
      // Garbage after the valid prefix (torn write or a foreign image): start afresh.
      // Interim simplification: this loses the log; the secure store recovers properly.
      for (size_t off = 0; off < board::store_area().size; off += board::store_area().erase_size) {
        if (!board::store_erase(off)) return false;
      }
      end_ = 0;
      open_run_ = false;
      return false;
    }
  }
  if (open_run_) {
    // Power was lost before commit: that run never happened.
    abort();
  }
  return true;
}

tpm::NvStore::Result InterimLogStore::append(Type type, uint32_t id, std::span<const uint8_t> data) {
  if (data.size() > 0xFFFF) return Result::too_large;
  const size_t rec = record_size(data.size());
  if (end_ + rec > board::store_area().size) return Result::no_space;
  Header h{id, static_cast<uint16_t>(data.size()), type, 0, 0, kMagic};
  h.checksum = fnv(header_sum(id, h.len, type), data);
  // Data first, header last: a record becomes visible only once it is complete.
  uint8_t chunk[kAlign * 4];
  for (size_t done = 0; done < data.size();) {
    const size_t n = data.size() - done < sizeof chunk ? data.size() - done : sizeof chunk;
    std::memset(chunk, 0xFF, sizeof chunk);
    std::memcpy(chunk, data.data() + done, n);
    const size_t padded = (n + kAlign - 1) / kAlign * kAlign;
    if (!board::store_program(end_ + sizeof(Header) + done, std::span<const uint8_t>(chunk, padded))) {
      return Result::io_error;
    }
    done += n;
  }
  if (!board::store_program(end_, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(&h), sizeof h))) {
    return Result::io_error;
  }
  end_ += rec;
  return Result::ok;
}

tpm::NvStore::Result InterimLogStore::read(uint32_t id, std::span<uint8_t> out, size_t& len) {
  // Newest visible version wins: committed runs, plus the currently open run.
  bool found = false, removed = false;          // from committed runs
  bool run_found = false, run_removed = false;  // from the run being scanned
  size_t at = 0, run_at = 0;
  uint16_t at_len = 0, run_len = 0;
  Header h;
  for (size_t off = 0; off < end_ && header_at(off, h); off += record_size(h.len)) {
    switch (h.type) {
      case kWrite:
      case kRemove:
        if (h.id == id) {
          run_found = true;
          run_removed = (h.type == kRemove);
          run_at = off + sizeof(Header);
          run_len = h.len;
        }
        break;
      case kCommit:
        if (run_found) {
          found = true;
          removed = run_removed;
          at = run_at;
          at_len = run_len;
        }
        run_found = false;
        break;
      case kAbort:
        run_found = false;
        break;
      default:
        break;
    }
  }
  if (run_found) {  // the open run is this session's staged changes
    found = true;
    removed = run_removed;
    at = run_at;
    at_len = run_len;
  }
  if (!found || removed) return Result::not_found;
  len = at_len;
  if (at_len > out.size()) return Result::too_large;
  return board::store_read(at, out.first(at_len)) ? Result::ok : Result::io_error;
}

tpm::NvStore::Result InterimLogStore::write(uint32_t id, std::span<const uint8_t> data) {
  const Result r = append(kWrite, id, data);
  if (r == Result::ok) open_run_ = true;
  return r;
}

tpm::NvStore::Result InterimLogStore::remove(uint32_t id) {
  const Result r = append(kRemove, id, {});
  if (r == Result::ok) open_run_ = true;
  return r;
}

tpm::NvStore::Result InterimLogStore::commit() {
  if (!open_run_) return Result::ok;
  const Result r = append(kCommit, 0, {});
  if (r == Result::ok) open_run_ = false;
  return r;
}

void InterimLogStore::abort() {
  if (!open_run_) return;
  if (append(kAbort, 0, {}) == Result::ok) open_run_ = false;
}

}  // namespace utpm::firmware
