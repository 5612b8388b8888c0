// libFuzzer target for the store loader (mount) and what follows a successful load.
//
// Input byte 0 selects how the rest becomes a store image:
//   even: the bytes ARE the image (rest erased), with the anchor of a real store, so parsing
//         of arbitrary headers/entries and the anchor comparisons are exercised;
//   odd:  the bytes are (u16 offset, u8 xor) triples applied to a real multi-segment image, so
//         the fuzzer reaches the deep paths (chain, replay, digest) behind valid MACs.
// Properties checked (trap on violation, which libFuzzer reports as a crash):
//   - mount never crashes, hangs or reads out of bounds (ASan/UBSan);
//   - a store that mounts can be read completely, accepts a commit, and mounts again with the
//     committed record present.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "storage/store_test_util.h"

using namespace utpm::storage;

namespace {

struct Base {
  std::vector<uint8_t> flash, anchor;
};

const Base& base() {
  static const Base b = [] {
    test::Board board;
    if (board.format() != MountCause::ok) __builtin_trap();
    for (uint32_t v = 0; v < 70; ++v) {
      const uint32_t id = v % 6;
      if (board.store().write(id, test::pattern(id, v, 8 + id * 20)) != StoreResult::ok ||
          (v % 9 == 0 && board.store().remove((id + 1) % 6) == StoreResult::io_error) ||
          board.store().commit() != StoreResult::ok) {
        __builtin_trap();
      }
    }
    return Base{board.flash.memory(), board.anchor_flash.memory()};
  }();
  return b;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const Base& b = base();
  test::Board board;
  std::vector<uint8_t> img = b.flash;
  if ((data[0] & 1) == 0) {
    std::fill(img.begin(), img.end(), 0xFF);
    std::memcpy(img.data(), data + 1, std::min(size - 1, img.size()));
  } else {
    for (size_t i = 1; i + 3 <= size; i += 3) {
      const size_t off = (size_t{data[i]} | size_t{data[i + 1]} << 8) % img.size();
      img[off] ^= data[i + 2];
    }
  }
  board.flash.load_image(img);
  board.anchor_flash.load_image(b.anchor);
  const MountCause c = board.boot();
  if (c != MountCause::ok) return 0;
  std::vector<uint8_t> buf(256);
  for (uint32_t id = 0; id < 8; ++id) {
    size_t len = 0;
    const StoreResult r = board.store().read(id, buf, len);
    if (r != StoreResult::ok && r != StoreResult::not_found && r != StoreResult::integrity_error) {
      __builtin_trap();
    }
  }
  const std::vector<uint8_t> rec = test::pattern(99, 1, 20);
  if (board.store().write(99, rec) != StoreResult::ok) return 0;  // e.g. full: fine
  if (board.store().commit() != StoreResult::ok) __builtin_trap();
  if (board.boot() != MountCause::ok) __builtin_trap();
  size_t len = 0;
  if (board.store().read(99, buf, len) != StoreResult::ok || len != rec.size() ||
      std::memcmp(buf.data(), rec.data(), len) != 0) {
    __builtin_trap();
  }
  return 0;
}
