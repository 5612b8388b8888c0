// libFuzzer target for the engine's command parser: every input is a sequence of commands
// (u16 length + bytes, the first byte of each also choosing a locality) run against one TPM
// that lives for the whole fuzzing session, so objects, sessions and sequences created by one
// input are there to be abused by the next. Checks: no crash or sanitizer report, and every
// response is well formed (size field = bytes produced, at least a header).
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <optional>
#include <vector>

#include "tpm/platform.h"
#include "tpm/profile.h"
#include "tpm/tpm.h"

namespace {

using utpm::tpm::NvStore;

class RamStore : public NvStore {
 public:
  Result read(uint32_t id, std::span<uint8_t> out, size_t& len) override {
    const std::vector<uint8_t>* rec = nullptr;
    if (auto s = staged_.find(id); s != staged_.end()) {
      if (!s->second) return Result::not_found;
      rec = &*s->second;
    } else if (auto c = committed_.find(id); c != committed_.end()) {
      rec = &c->second;
    } else {
      return Result::not_found;
    }
    if (rec->size() > out.size()) return Result::too_large;
    std::memcpy(out.data(), rec->data(), rec->size());
    len = rec->size();
    return Result::ok;
  }
  Result write(uint32_t id, std::span<const uint8_t> d) override {
    staged_[id] = std::vector<uint8_t>(d.begin(), d.end());
    return Result::ok;
  }
  Result remove(uint32_t id) override {
    if (!committed_.count(id) && !(staged_.count(id) && staged_[id])) return Result::not_found;
    staged_[id] = std::nullopt;
    return Result::ok;
  }
  Result commit() override {
    for (auto& [id, v] : staged_) {
      if (v) committed_[id] = *v;
      else committed_.erase(id);
    }
    staged_.clear();
    return Result::ok;
  }
  void abort() override { staged_.clear(); }

 private:
  std::map<uint32_t, std::vector<uint8_t>> committed_;
  std::map<uint32_t, std::optional<std::vector<uint8_t>>> staged_;
};

class FuzzPlatform : public utpm::tpm::Platform {
 public:
  bool get_entropy(std::span<uint8_t> out) override {
    for (auto& b : out) b = static_cast<uint8_t>(++counter_ * 167u);
    return true;
  }
  uint64_t now_ms() override { return now_ += 7; }
  NvStore& nv() override { return store_; }

 private:
  uint64_t now_ = 0;
  uint32_t counter_ = 0;
  RamStore store_;
};

FuzzPlatform platform;
utpm::tpm::Tpm* tpm = nullptr;
uint8_t response[utpm::profile::kMaxResponseSize];

void run(uint8_t locality, std::span<const uint8_t> cmd) {
  size_t n = tpm->execute(locality, cmd, response);
  if (n < 10 || n > sizeof response) std::abort();
  uint32_t size = uint32_t{response[2]} << 24 | uint32_t{response[3]} << 16 | uint32_t{response[4]} << 8 | response[5];
  if (size != n) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (!tpm) {
    static utpm::tpm::Tpm instance(platform);
    tpm = &instance;
    tpm->power_on();
    static const uint8_t startup[] = {0x80, 0x01, 0, 0, 0, 12, 0, 0, 0x01, 0x44, 0, 0};
    run(0, startup);
  }
  // Occasionally a power cycle, so Startup, resume and NV paths get exercised too.
  if (size > 0 && data[0] == 0xA5) {
    tpm->power_off();
    tpm->power_on();
  }
  while (size >= 2) {
    size_t len = size_t{data[0]} << 8 | data[1];
    data += 2;
    size -= 2;
    if (len > size) len = size;
    if (len == 0) continue;
    run(static_cast<uint8_t>(data[0] % 5), {data, len});
    data += len;
    size -= len;
  }
  return 0;
}
