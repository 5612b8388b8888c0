// utpmd's persistent store: the secure store (src/storage) on a file, behind the engine's
// tpm::NvStore interface. Replaces the interim FileNvStore (file_nv_store.h).
//
// Files in the state directory:
//   nv.store   the store image (flash semantics, records AES-256-GCM sealed; docs/storage.md)
//   nv.anchor  the rollback anchor (commit counter); catches an old nv.store restored alone
//   nv.key     the 32-byte device secret, created mode 0600 from getrandom() on first start,
//              unless the operator supplies the secret (Options::secret / key_file)
// Tampering, rollback or a missing anchor make every operation return integrity_error, so the
// engine enters failure mode; cause() says why for the daemon to print. Nothing is ever
// reinitialised automatically.
#pragma once

#include <array>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "storage/host/file_anchor.h"
#include "storage/host/file_flash.h"
#include "storage/secure_store.h"
#include "tpm/platform.h"

namespace utpm::host {

class SecureNvStore final : public tpm::NvStore {
 public:
  // Host geometry: 4 KB "erase blocks", 16 KB segments, 512 KB image, records up to 4 KB.
  static constexpr storage::FlashGeometry kGeometry{4096, 128, 8};
  static constexpr storage::StoreConfig kConfig{4, 4096};
  static constexpr size_t kMaxRecords = 512;
  static constexpr size_t kMaxStaged = 320;  // TPM2_Clear removes up to 256 NV indices at once

  struct Options {
    std::string dir;        // state directory (must exist)
    std::string key_file;   // default: dir + "/nv.key"
    // Operator-supplied device secret (32 bytes); when set, no key file is read or created.
    std::optional<std::array<uint8_t, 32>> secret;
  };

  SecureNvStore();
  ~SecureNvStore() override;

  // Opens (creating on first use) and mounts. Returns true when the store is usable; false
  // with `error` set otherwise, in which case every NvStore call returns load_error().
  bool open(const Options& options, std::string& error);

  Result read(uint32_t id, std::span<uint8_t> out, size_t& len) override;
  Result write(uint32_t id, std::span<const uint8_t> data) override;
  Result remove(uint32_t id) override;
  Result commit() override;
  void abort() override;

  Result load_error() const { return load_error_; }
  storage::MountCause cause() const { return cause_; }
  const storage::SecureStore* store() const { return store_.get(); }
  // Ids of the committed records (empty if the store is not usable).
  std::vector<uint32_t> record_ids() const;
  // Records per commit() that fit the staging area (a bulk restore commits in chunks).
  static constexpr size_t kMaxStagedPerCommit = kMaxStaged;

  // Reads a 32-byte secret from path (binary, exactly 32 bytes, not readable by group/other),
  // or creates it with fresh randomness if it does not exist and may_create. false + error on
  // any problem.
  static bool load_or_create_key(const std::string& path, std::array<uint8_t, 32>& out,
                                 std::string& error, bool may_create = true);
  // True if dir holds a store image: its key may then never be created anew (a new key next
  // to an existing store would only make the store unreadable and hide why).
  static bool has_store(const std::string& dir);

 private:
  static Result map(storage::StoreResult r);

  storage::FileFlash flash_{kGeometry};
  std::unique_ptr<storage::FileAnchor> anchor_;
  std::vector<storage::IndexEntry> index_;
  std::vector<storage::IndexEntry> staged_;
  std::vector<storage::SegmentInfo> segments_;
  std::vector<uint8_t> work_;
  std::unique_ptr<storage::SecureStore> store_;
  Result load_error_ = Result::io_error;
  storage::MountCause cause_ = storage::MountCause::io_error;
};

}  // namespace utpm::host
