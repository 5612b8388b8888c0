#include "storage/store_test_util.h"

namespace utpm::storage::test {

std::array<uint8_t, 32> test_secret(uint8_t variant) {
  std::array<uint8_t, 32> s{};
  for (size_t i = 0; i < s.size(); ++i) s[i] = static_cast<uint8_t>(0xA0 + i + variant * 37);
  return s;
}

std::array<uint8_t, kInstanceIdSize> test_instance(uint8_t variant) {
  std::array<uint8_t, kInstanceIdSize> s{};
  for (size_t i = 0; i < s.size(); ++i) s[i] = static_cast<uint8_t>(0x10 + i * 3 + variant * 11);
  return s;
}

Board::Board(FlashGeometry g, StoreConfig c, size_t index_capacity, size_t staged_capacity)
    : flash(g, rail),
      anchor_flash(kAnchorGeometry, rail),
      anchor(anchor_flash),
      cfg(c),
      index_(index_capacity),
      staged_(staged_capacity),
      segs_(g.block_count / c.segment_blocks),
      work_(SecureStore::work_size(c)) {
  make_store();
}

void Board::make_store() {
  store_.reset();
  store_ = std::make_unique<SecureStore>(flash, anchor, cfg,
                                         StoreMemory{index_, staged_, segs_, work_});
}

MountCause Board::boot(uint8_t secret_variant) {
  make_store();
  const auto s = test_secret(secret_variant);
  return store_->mount(s);
}

MountCause Board::format(uint8_t secret_variant, uint8_t instance_variant) {
  make_store();
  const auto s = test_secret(secret_variant);
  const auto i = test_instance(instance_variant);
  return store_->format(s, i);
}

std::string diff_state(SecureStore& s, const Model& m) {
  std::vector<uint8_t> buf(4096);
  for (const auto& [id, want] : m) {
    size_t len = 0;
    const StoreResult r = s.read(id, buf, len);
    if (r != StoreResult::ok) {
      return "id " + std::to_string(id) + ": read result " + std::to_string(static_cast<int>(r));
    }
    if (len != want.size() || !std::equal(want.begin(), want.end(), buf.begin())) {
      return "id " + std::to_string(id) + ": content differs";
    }
  }
  if (s.stats().live_records != m.size()) {
    return "store holds " + std::to_string(s.stats().live_records) + " records, model " +
           std::to_string(m.size());
  }
  return {};
}

std::vector<uint8_t> pattern(uint32_t id, uint32_t version, size_t len) {
  std::vector<uint8_t> v(len);
  uint32_t x = id * 2654435761u ^ (version + 1) * 40503u;
  for (auto& b : v) {
    x = x * 1103515245u + 12345u;
    b = static_cast<uint8_t>(x >> 16);
  }
  return v;
}

}  // namespace utpm::storage::test
