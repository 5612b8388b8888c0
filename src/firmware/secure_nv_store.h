// The engine's persistent store on the firmware: the secure store (src/storage) on the board's
// flash, behind tpm::NvStore. All of its RAM is static and sized here; the store's sizes for
// the default profile (128 KB of flash in 16 segments of 8 KB, up to 64 live records, records
// up to 2 KB) are those docs/storage.md proposes for the firmware.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "storage/anchor.h"
#include "storage/secure_store.h"
#include "tpm/platform.h"

namespace utpm::firmware {

class SecureNvStore final : public tpm::NvStore {
 public:
  static constexpr storage::StoreConfig kConfig{4, 2048};  // 8 KB segments, 2 KB records
  static constexpr size_t kMaxRecords = 64;
  static constexpr size_t kMaxStaged = 32;  // TPM2_Clear removes up to 16 NV indices + 7 objects at once
  static constexpr size_t kMaxSegments = 16;

  SecureNvStore(storage::FlashDevice& flash, storage::FlashDevice& anchor_flash);
  SecureNvStore(const SecureNvStore&) = delete;
  SecureNvStore& operator=(const SecureNvStore&) = delete;

  // Mounts the store with the board's device secret; on a blank device formats a new store
  // instance. Anything else (tampering, rollback, a wiped anchor) leaves the store refusing
  // every operation, so the engine enters failure mode: nothing is reinitialised silently.
  storage::MountCause open();

  Result read(uint32_t id, std::span<uint8_t> out, size_t& len) override;
  Result write(uint32_t id, std::span<const uint8_t> data) override;
  Result remove(uint32_t id) override;
  Result commit() override;
  void abort() override;

  storage::MountCause cause() const { return cause_; }
  // Flash bytes held by live records (for the diagnostics command).
  uint32_t used_bytes() const { return cause_ == storage::MountCause::ok ? store_.stats().live_bytes : 0; }

 private:
  Result refused() const;

  storage::IndexEntry index_[kMaxRecords] = {};
  storage::IndexEntry staged_[kMaxStaged] = {};
  storage::SegmentInfo segments_[kMaxSegments] = {};
  uint8_t work_[storage::SecureStore::work_size(kConfig)] = {};
  storage::FlashCounterAnchor anchor_;
  storage::SecureStore store_;
  storage::MountCause cause_ = storage::MountCause::io_error;
};

}  // namespace utpm::firmware
