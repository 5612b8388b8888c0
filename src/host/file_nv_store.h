// INTERIM persistence for utpmd: every record in one versioned file, replaced atomically
// (temp file + fsync + rename + fsync of the directory) on each commit().
//
// This is a stop-gap so the host TPM keeps its state across restarts while the secure store
// (src/storage + src/host/secure_nv_store.*) is written. It gives atomicity and detects
// corruption (CRC-32), but NO confidentiality, NO authentication and NO rollback protection:
// anyone who can write the file can change the TPM's secrets. Do not use it for real keys.
//
// File layout (all integers little-endian; pinned by static_asserts in the .cc):
//   header  : magic "uTPMnv00" (8) | version u32 = 1 | record_count u32
//   records : id u32 | length u32 | length bytes       (sorted by id, ids unique)
//   trailer : crc32 u32 over everything before it (IEEE 802.3 polynomial)
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "tpm/platform.h"

namespace utpm::host {

class FileNvStore final : public tpm::NvStore {
 public:
  static constexpr uint32_t kVersion = 1;
  static constexpr size_t kMaxRecordSize = 64 * 1024;
  static constexpr size_t kMaxTotalSize = 4 * 1024 * 1024;

  // Loads `path` if it exists. A missing file is an empty (unmanufactured) store; a damaged or
  // unknown-version file makes every read() fail with load_error() so the engine enters
  // failure mode instead of silently re-manufacturing over it.
  explicit FileNvStore(std::string path);

  Result read(uint32_t id, std::span<uint8_t> out, size_t& len) override;
  Result write(uint32_t id, std::span<const uint8_t> data) override;
  Result remove(uint32_t id) override;
  Result commit() override;
  void abort() override;

  // ok, io_error (unreadable) or integrity_error (bad magic/version/CRC/layout).
  Result load_error() const { return load_error_; }
  const std::string& path() const { return path_; }

 private:
  Result load();
  size_t total_size_with_staged() const;

  std::string path_;
  Result load_error_ = Result::ok;
  std::map<uint32_t, std::vector<uint8_t>> committed_;
  // Staged changes; nullopt = staged removal.
  std::map<uint32_t, std::optional<std::vector<uint8_t>>> staged_;
};

// CRC-32 (IEEE 802.3, reflected, as zlib's crc32): corruption detection only, not security.
uint32_t crc32_ieee(std::span<const uint8_t> data, uint32_t crc = 0);

}  // namespace utpm::host
