#include "tpm/testing/ram_nv_store.h"

#include <cstring>

namespace utpm::tpm::testing {

NvStore::Result RamNvStore::read(uint32_t id, std::span<uint8_t> out, size_t& len) {
  if (fail_read != Result::ok) return fail_read;
  const std::vector<uint8_t>* rec = nullptr;
  if (auto s = staged_.find(id); s != staged_.end()) {
    if (!s->second) return Result::not_found;
    rec = &*s->second;
  } else if (auto c = committed.find(id); c != committed.end()) {
    rec = &c->second;
  } else {
    return Result::not_found;
  }
  if (rec->size() > out.size()) return Result::too_large;
  std::memcpy(out.data(), rec->data(), rec->size());
  len = rec->size();
  return Result::ok;
}

NvStore::Result RamNvStore::write(uint32_t id, std::span<const uint8_t> data) {
  staged_[id] = std::vector<uint8_t>(data.begin(), data.end());
  return Result::ok;
}

NvStore::Result RamNvStore::remove(uint32_t id) {
  bool exists = committed.count(id) || (staged_.count(id) && staged_[id]);
  if (!exists) return Result::not_found;
  staged_[id] = std::nullopt;
  return Result::ok;
}

NvStore::Result RamNvStore::commit() {
  if (fail_commit) return Result::io_error;
  if (commit_no_space) return Result::no_space;
  for (auto& [id, v] : staged_) {
    if (v) committed[id] = *v;
    else committed.erase(id);
  }
  staged_.clear();
  ++commits;
  return Result::ok;
}

}  // namespace utpm::tpm::testing
