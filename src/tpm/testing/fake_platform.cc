#include "tpm/testing/fake_platform.h"

#include <gtest/gtest.h>

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
  for (auto& [id, v] : staged_) {
    if (v) committed[id] = *v;
    else committed.erase(id);
  }
  staged_.clear();
  ++commits;
  return Result::ok;
}

bool FakePlatform::get_entropy(std::span<uint8_t> out) {
  if (!entropy_ok) return false;
  // Deterministic but distinct bytes: enough for tests, never for a real TPM.
  for (auto& b : out) b = uint8_t(++entropy_counter * 131u + 7u);
  return true;
}

Response run(Tpm& tpm, const std::vector<uint8_t>& cmd, uint8_t locality) {
  std::vector<uint8_t> rsp(4096);
  size_t n = tpm.execute(locality, cmd, rsp);
  Response r;
  EXPECT_GE(n, 10u);
  if (n < 10) return r;
  r.tag = uint16_t(rsp[0] << 8 | rsp[1]);
  r.size = uint32_t(rsp[2]) << 24 | uint32_t(rsp[3]) << 16 | uint32_t(rsp[4]) << 8 | rsp[5];
  r.rc = uint32_t(rsp[6]) << 24 | uint32_t(rsp[7]) << 16 | uint32_t(rsp[8]) << 8 | rsp[9];
  EXPECT_EQ(r.size, n) << "response size field must match the bytes produced";
  r.body.assign(rsp.begin() + 10, rsp.begin() + long(n));
  return r;
}

void start(Tpm& tpm) {
  tpm.power_on();
  Response r = run(tpm, CommandBuilder(0x8001, 0x144).u16(0).bytes());
  ASSERT_EQ(r.rc, 0u);
}

}  // namespace utpm::tpm::testing
