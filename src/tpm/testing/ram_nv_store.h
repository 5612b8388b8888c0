// A RAM NvStore with the real staging/commit semantics, for tests and fuzzing (host only: it
// uses the heap freely). No test framework here, so the fuzz target can link it too.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <vector>

#include "tpm/platform.h"

namespace utpm::tpm::testing {

class RamNvStore : public NvStore {
 public:
  Result read(uint32_t id, std::span<uint8_t> out, size_t& len) override;
  Result write(uint32_t id, std::span<const uint8_t> data) override;
  Result remove(uint32_t id) override;
  Result commit() override;
  void abort() override { staged_.clear(); }

  std::map<uint32_t, std::vector<uint8_t>> committed;
  int commits = 0;
  bool fail_commit = false;
  bool commit_no_space = false;  // commit() answers no_space (a full store), nothing changes
  NvStore::Result fail_read = NvStore::Result::ok;

 private:
  std::map<uint32_t, std::optional<std::vector<uint8_t>>> staged_;
};

}  // namespace utpm::tpm::testing
