// Host rollback anchor: a small file next to (but separate from) the store image. It catches an
// old store image restored by accident (backup, VM snapshot of one file, copy from another
// machine); it cannot stop root, who can restore both files together. docs/storage.md §3.
//
// Layout (v2): two 40-byte slots, at offsets 0 and 4096, in a file allocated once when the
// anchor is first written. An update rewrites the older slot in place (pwrite + fdatasync), so a
// commit never allocates disk space (a full disk cannot fail it) and a torn update damages only
// the slot being written: load() then reads the other, previous value, which is the "power cut
// between commit and anchor update" case the store tolerates. The slot with the higher write
// sequence wins (not the higher counter: a format starts a new instance at counter 0).
// A v1 file (one 40-byte record) still loads; the first update replaces it by a v2 file
// (temp file, fsync, rename, fsync of the directory).
//
// What the file holds after a successful load() or store() is remembered, so an update (every
// store commit) writes its slot without reading the file first; any I/O error forgets it and
// the next update reads the file again. The state directory's lock keeps other writers out.
#pragma once

#include <string>

#include "storage/anchor.h"

namespace utpm::storage {

class FileAnchor final : public Anchor {
 public:
  static constexpr size_t kSlotStride = 4096;  // one slot per file-system block
  static constexpr size_t kFileSize = 2 * kSlotStride;

  explicit FileAnchor(std::string path) : path_(std::move(path)) {}
  AnchorStatus load(AnchorValue& out) override;
  AnchorStatus store(const AnchorValue& value) override;

 private:
  struct Found {
    bool v2 = false;        // the file is a v2 file (the right size)
    int newest = -1;        // v2: the slot with the highest sequence; v1: 0
    uint64_t sequence = 0;  // v2: its sequence
    AnchorValue value{};
  };
  AnchorStatus scan(Found& found);
  AnchorStatus create(const AnchorValue& value);

  std::string path_;
  Found known_{};      // what the file holds, when known_valid_
  bool known_valid_ = false;
};

}  // namespace utpm::storage
