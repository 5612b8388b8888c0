// Host rollback anchor: a small file next to (but separate from) the store image, replaced
// atomically (write temp, fsync, rename, fsync dir). It catches an old store image restored by
// accident (backup, VM snapshot of one file, copy from another machine); it cannot stop root,
// who can restore both files together. docs/storage.md §Threat model says so.
#pragma once

#include <string>

#include "storage/anchor.h"

namespace utpm::storage {

class FileAnchor final : public Anchor {
 public:
  explicit FileAnchor(std::string path) : path_(std::move(path)) {}
  AnchorStatus load(AnchorValue& out) override;
  AnchorStatus store(const AnchorValue& value) override;

 private:
  std::string path_;
};

}  // namespace utpm::storage
