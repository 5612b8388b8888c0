// libFuzzer target for swtpm's control-channel decoder (swtpm_ctrl.cc) over a scripted backend.
// Input: byte 0 = split seed (how the rest is cut into reads), then the bytes a client sends.
// Checks: no crash/UB/leak (ASan+UBSan), every reply starts with a 4-byte result and has at
// least the size its command's reply structure has, a GET_STATEBLOB/GET_INFO reply's length
// fields match the bytes that follow, the session never holds more than one request's bytes.
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "host/swtpm_ctrl.h"

namespace {

using namespace utpm::host::swtpm;

class FakeBackend final : public SwtpmBackend {
 public:
  uint32_t capabilities() const override { return 0xffff; }
  bool running() const override { return running_; }
  uint32_t init(uint32_t) override { running_ = true; return kSuccess; }
  uint32_t stop() override { running_ = false; return kSuccess; }
  void shutdown() override { running_ = false; }
  uint32_t get_established(uint8_t& bit) override { bit = 0; return kSuccess; }
  uint32_t set_locality(uint8_t l) override { return l > 4 ? kBadLocality : kSuccess; }
  uint32_t reset_established(uint8_t l) override { return l < 3 ? kBadLocality : kSuccess; }
  uint32_t hash_start() override { return kBadOrdinal; }
  uint32_t hash_data(std::span<const uint8_t> d) override {
    if (d.size() > kMaxHashData) std::abort();
    return kBadOrdinal;
  }
  uint32_t hash_end() override { return kBadOrdinal; }
  uint32_t cancel() override { return kSuccess; }
  uint32_t store_volatile() override { return kSuccess; }
  uint32_t get_state_blob(uint32_t type, uint32_t, uint32_t& flags_out,
                          std::vector<uint8_t>& blob) override {
    flags_out = kStateFlagEncrypted;
    if (type < 1 || type > 3) return kBadParameter;
    blob.assign(100 * type, static_cast<uint8_t>(type));
    return kSuccess;
  }
  uint32_t set_state_blob(uint32_t, uint32_t, std::span<const uint8_t> b) override {
    if (b.size() > kMaxStateBlob) std::abort();
    return running_ ? kBadOrdinal : kSuccess;
  }
  uint32_t config_flags() const override { return kConfigFlagFileKey; }
  uint32_t set_buffer_size(uint32_t, uint32_t& a, uint32_t& b, uint32_t& c) override {
    a = b = c = 4096;
    return kSuccess;
  }
  uint32_t get_info(uint64_t, std::string& json) override {
    json = "{\"x\":1}";
    return kSuccess;
  }
  uint32_t lock_storage(uint32_t) override { return kSuccess; }

 private:
  bool running_ = true;
};

uint32_t be32(const uint8_t* p) {
  return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | p[3];
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  uint32_t seed = data[0] | 1u;
  ++data;
  --size;
  FakeBackend backend;
  CtrlSession session(backend, 500);
  std::vector<uint8_t> out;
  uint64_t now = 0;
  size_t pos = 0;
  while (pos < size) {
    seed = seed * 1103515245u + 12345u;
    const size_t n = std::min<size_t>(size - pos, 1 + (seed >> 16) % 64);
    out.clear();
    const auto v = session.on_bytes({data + pos, n}, out, now);
    pos += n;
    now += 100;
    if (!out.empty()) {
      if (out.size() < 4) std::abort();
    }
    if (v != utpm::host::Session::Verdict::keep) break;
    if (session.timer_due_in(now) == 0) session.on_timer(now);
  }
  // A whole request handled directly: the reply's own lengths describe what follows.
  if (size >= 4) {
    out.clear();
    session.handle({data, size}, out);
    if (out.size() < 4) std::abort();
    const uint32_t cmd = be32(data);
    if (cmd == kGetStateBlob && be32(out.data()) == kSuccess) {
      if (out.size() < 16 || be32(&out[12]) != out.size() - 16) std::abort();
    }
    if (cmd == kGetInfo && be32(out.data()) == kSuccess) {
      if (out.size() < 12 || be32(&out[8]) != out.size() - 12) std::abort();
    }
  }
  return 0;
}
