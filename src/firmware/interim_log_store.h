// INTERIM persistent store, used until the secure store (src/storage, its own issue) lands.
//
// NOT SECURE: records are stored in the clear, with a checksum against torn writes only,
// no rollback protection and no compaction (when the area is full, writes fail with
// no_space). It exists so the firmware and the engine can be brought up and their state can
// be shown to persist across restarts; replace it with the secure store, which implements the
// same tpm::NvStore interface over the same board::store_* device functions.
//
// Format: an append-only log of 16-byte-aligned records on NOR-like storage (erased = 0xFF).
// A run of write/remove records becomes durable when a commit record follows it; a run
// closed by an abort record (written at mount for a run cut off by power loss, or by abort())
// is ignored. read() also sees the open run of the current session (staged changes).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "tpm/platform.h"

namespace utpm::firmware {

class InterimLogStore final : public tpm::NvStore {
 public:
  // Scans the log, closes a run cut off by a power loss, finds the end. false = the area
  // could not be read or is full of garbage (it is then erased and started afresh).
  bool mount();

  Result read(uint32_t id, std::span<uint8_t> out, size_t& len) override;
  Result write(uint32_t id, std::span<const uint8_t> data) override;
  Result remove(uint32_t id) override;
  Result commit() override;
  void abort() override;

  size_t used_bytes() const { return end_; }

 private:
  enum Type : uint8_t { kWrite = 0x01, kRemove = 0x02, kCommit = 0x03, kAbort = 0x04, kErased = 0xFF };
  struct Header {
    uint32_t id;
    uint16_t len;
    uint8_t type;
    uint8_t reserved;  // 0
    uint32_t checksum;  // FNV-1a over id, len, type and the data
    uint32_t magic;     // kMagic: tells a record from erased or foreign bytes
  };
  static_assert(sizeof(Header) == 16, "record header is persisted: its layout is fixed");
  static constexpr uint32_t kMagic = 0x4C545055;  // "UPTL"
  static constexpr size_t kAlign = 16;

  // Reads the header at offset; false at the end of the log (erased or invalid).
  bool header_at(size_t offset, Header& h) const;
  Result append(Type type, uint32_t id, std::span<const uint8_t> data);
  static size_t record_size(size_t len) { return sizeof(Header) + (len + kAlign - 1) / kAlign * kAlign; }

  size_t end_ = 0;        // first free byte
  bool open_run_ = false; // records appended since the last commit/abort
};

}  // namespace utpm::firmware
