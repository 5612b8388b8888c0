// Functional tests of the secure store: the NvStore contract, capacity, wear, key separation,
// transient read errors, and the host file devices.
#include "storage/secure_store.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "storage/host/file_anchor.h"
#include "storage/host/file_flash.h"
#include "storage/store_test_util.h"

namespace utpm::storage {
namespace {

using test::Board;
using test::Model;
using test::pattern;

TEST(SecureStore, BlankDeviceNeedsFormatAndFormatRefusesExistingStore) {
  Board b;
  EXPECT_EQ(b.boot(), MountCause::blank);
  EXPECT_EQ(b.store().write(1, pattern(1, 0, 8)), StoreResult::integrity_error);
  ASSERT_EQ(b.format(), MountCause::ok);
  EXPECT_EQ(b.boot(), MountCause::ok);
  EXPECT_EQ(b.format(), MountCause::exists);  // never overwrites a store by accident
  EXPECT_EQ(b.boot(), MountCause::ok);
}

TEST(SecureStore, WriteReadCommitRemoveAbort) {
  Board b;
  ASSERT_EQ(b.format(), MountCause::ok);
  SecureStore& s = b.store();
  std::vector<uint8_t> buf(256);
  size_t len = 0;
  EXPECT_EQ(s.read(7, buf, len), StoreResult::not_found);
  const auto a = pattern(7, 0, 40), c = pattern(9, 0, 3);
  ASSERT_EQ(s.write(7, a), StoreResult::ok);
  ASSERT_EQ(s.write(9, c), StoreResult::ok);
  ASSERT_EQ(s.read(7, buf, len), StoreResult::ok);  // staged data is visible
  EXPECT_EQ(std::vector<uint8_t>(buf.begin(), buf.begin() + static_cast<long>(len)), a);
  ASSERT_EQ(s.commit(), StoreResult::ok);

  // Staged removal and overwrite, then abort: committed state unchanged.
  ASSERT_EQ(s.remove(7), StoreResult::ok);
  EXPECT_EQ(s.read(7, buf, len), StoreResult::not_found);
  ASSERT_EQ(s.write(9, pattern(9, 1, 100)), StoreResult::ok);
  s.abort();
  EXPECT_EQ(test::diff_state(s, {{7, a}, {9, c}}), "");

  // Remove commits; a write in the same transaction wins over an earlier removal.
  ASSERT_EQ(s.remove(7), StoreResult::ok);
  EXPECT_EQ(s.remove(7), StoreResult::not_found);
  ASSERT_EQ(s.write(11, pattern(11, 0, 0)), StoreResult::ok);  // empty records are records
  ASSERT_EQ(s.commit(), StoreResult::ok);
  const Model m{{9, c}, {11, {}}};
  EXPECT_EQ(test::diff_state(s, m), "");
  ASSERT_EQ(b.boot(), MountCause::ok);
  EXPECT_EQ(test::diff_state(b.store(), m), "");
}

TEST(SecureStore, NoPlaintextOnFlash) {
  Board b;
  ASSERT_EQ(b.format(), MountCause::ok);
  const std::string secret = "primary-seed: 0123456789abcdef0123456789abcdef";
  const std::vector<uint8_t> rec(secret.begin(), secret.end());
  ASSERT_EQ(b.store().write(3, rec), StoreResult::ok);
  ASSERT_EQ(b.store().commit(), StoreResult::ok);
  const auto& mem = b.flash.memory();
  // No 8-byte window of the record appears anywhere in the image.
  for (size_t i = 0; i + 8 <= rec.size(); ++i) {
    EXPECT_EQ(std::search(mem.begin(), mem.end(), rec.begin() + static_cast<long>(i),
                          rec.begin() + static_cast<long>(i) + 8),
              mem.end());
  }
  EXPECT_EQ(test::diff_state(b.store(), {{3, rec}}), "");
}

TEST(SecureStore, SizeLimits) {
  Board b;
  ASSERT_EQ(b.format(), MountCause::ok);
  SecureStore& s = b.store();
  EXPECT_EQ(s.write(1, pattern(1, 0, 129)), StoreResult::too_large);
  ASSERT_EQ(s.write(1, pattern(1, 0, 128)), StoreResult::ok);
  ASSERT_EQ(s.commit(), StoreResult::ok);
  std::vector<uint8_t> small(100);
  size_t len = 0;
  EXPECT_EQ(s.read(1, small, len), StoreResult::too_large);
  EXPECT_EQ(len, 128u);  // tells the caller how much it needs
}

TEST(SecureStore, CapacityFullGivesNoSpaceAndLosesNothing) {
  Board b;
  ASSERT_EQ(b.format(), MountCause::ok);
  Model m;
  uint32_t id = 0;
  StoreResult r = StoreResult::ok;
  // Fill with two records per transaction until the store says no.
  for (;;) {
    ASSERT_LT(id, 1000u);
    const auto a = pattern(id, 0, 60), c = pattern(id + 1, 0, 60);
    r = b.store().write(id, a);
    if (r != StoreResult::ok) break;
    r = b.store().write(id + 1, c);
    if (r != StoreResult::ok) break;
    ASSERT_EQ(b.store().commit(), StoreResult::ok);
    m[id] = a;
    m[id + 1] = c;
    id += 2;
  }
  EXPECT_EQ(r, StoreResult::no_space);
  // The half-staged transaction may be committed or dropped; drop it.
  b.store().abort();
  const StoreStats st = b.store().stats();
  EXPECT_GT(m.size(), 10u);
  EXPECT_LE(st.live_bytes, st.capacity_bytes);
  EXPECT_GT(st.live_bytes + 2 * SecureStore::entry_size(60), st.capacity_bytes);
  EXPECT_EQ(test::diff_state(b.store(), m), "");
  // Overwriting in place still works at capacity (same size), and survives reboots.
  for (int round = 0; round < 50; ++round) {
    const uint32_t k = static_cast<uint32_t>(round) % id;
    m[k] = pattern(k, static_cast<uint32_t>(round + 1), 60);
    ASSERT_EQ(b.store().write(k, m[k]), StoreResult::ok) << round;
    ASSERT_EQ(b.store().commit(), StoreResult::ok);
  }
  ASSERT_EQ(b.boot(), MountCause::ok);
  EXPECT_EQ(test::diff_state(b.store(), m), "");
  // Removing makes room again.
  ASSERT_EQ(b.store().remove(0), StoreResult::ok);
  ASSERT_EQ(b.store().remove(1), StoreResult::ok);
  ASSERT_EQ(b.store().commit(), StoreResult::ok);
  m.erase(0);
  m.erase(1);
  ASSERT_EQ(b.store().write(5000, pattern(5000, 0, 60)), StoreResult::ok);
  ASSERT_EQ(b.store().commit(), StoreResult::ok);
  m[5000] = pattern(5000, 0, 60);
  EXPECT_EQ(test::diff_state(b.store(), m), "");
}

TEST(SecureStore, RandomWorkloadMatchesModelAcrossReboots) {
  Board b;
  ASSERT_EQ(b.format(), MountCause::ok);
  Model m, staged;
  uint64_t x = 12345;
  auto rnd = [&] {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return x;
  };
  for (int i = 0; i < 3000; ++i) {
    const uint64_t op = rnd() % 100;
    const uint32_t id = static_cast<uint32_t>(rnd() % 12);
    if (op < 55) {
      const auto d = pattern(id, static_cast<uint32_t>(i), rnd() % 129);
      const StoreResult r = b.store().write(id, d);
      // too_large: this transaction no longer fits in one segment (a commit never spans two).
      ASSERT_TRUE(r == StoreResult::ok || r == StoreResult::no_space || r == StoreResult::too_large)
          << i << " " << static_cast<int>(r);
      if (r == StoreResult::ok) staged[id] = d;
    } else if (op < 65) {
      // Present in the current view = staged (not as removed) or committed and not staged.
      const std::vector<uint8_t> removed{0xEE, 0xEE, 0xEE, 0xEE, 0xEE};
      const bool present = staged.count(id) ? staged[id] != removed : m.count(id) != 0;
      const StoreResult r = b.store().remove(id);
      if (r == StoreResult::too_large) continue;  // transaction already fills a segment
      ASSERT_EQ(r, present ? StoreResult::ok : StoreResult::not_found) << i;
      if (r == StoreResult::ok) staged[id] = {0xEE, 0xEE, 0xEE, 0xEE, 0xEE};  // marker: removed
    } else if (op < 90) {
      ASSERT_EQ(b.store().commit(), StoreResult::ok) << i;
      for (auto& [k, v] : staged) {
        if (v == std::vector<uint8_t>{0xEE, 0xEE, 0xEE, 0xEE, 0xEE}) {
          m.erase(k);
        } else {
          m[k] = v;
        }
      }
      staged.clear();
      ASSERT_EQ(test::diff_state(b.store(), m), "") << i;
    } else if (op < 95) {
      b.store().abort();
      staged.clear();
    } else {
      staged.clear();
      ASSERT_EQ(b.boot(), MountCause::ok) << i;
      ASSERT_EQ(test::diff_state(b.store(), m), "") << i;
    }
  }
  EXPECT_GT(b.store().stats().compactions, 0u);
}

TEST(SecureStore, WearStaysLevelOverALongWorkload) {
  // Clock/DA-style workload: a few small records rewritten all the time, plus static data that
  // must be rotated through the ring too.
  Board b;
  ASSERT_EQ(b.format(), MountCause::ok);
  Model m;
  for (uint32_t id = 100; id < 106; ++id) {
    m[id] = pattern(id, 0, 100);
    ASSERT_EQ(b.store().write(id, m[id]), StoreResult::ok);
    ASSERT_EQ(b.store().commit(), StoreResult::ok);
  }
  constexpr int kCommits = 20000;
  for (int i = 0; i < kCommits; ++i) {
    const uint32_t id = static_cast<uint32_t>(i % 3);
    m[id] = pattern(id, static_cast<uint32_t>(i), 16 + static_cast<size_t>(i % 4) * 16);
    ASSERT_EQ(b.store().write(id, m[id]), StoreResult::ok);
    ASSERT_EQ(b.store().commit(), StoreResult::ok);
  }
  EXPECT_EQ(test::diff_state(b.store(), m), "");
  const auto& ec = b.flash.erase_counts();
  const auto [mn, mx] = std::minmax_element(ec.begin(), ec.end());
  uint64_t total = 0;
  for (uint32_t e : ec) total += e;
  // Bound (docs/storage.md §Wear): round-robin rotation keeps every block within 2 erases of
  // the mean, so no block wears faster than total/blocks + 2.
  EXPECT_LE(*mx - *mn, 2u);
  EXPECT_LE(*mx, total / ec.size() + 2);
  // And the total is what the bytes written explain: at most one erase per segment filled.
  const uint64_t programmed = b.flash.program_units() * test::kSmallGeometry.program_unit;
  EXPECT_LE(total, programmed / (test::kSmallGeometry.erase_block_size - 64 - 64 - 120) + ec.size());
  RecordProperty("erase_max", static_cast<int>(*mx));
  RecordProperty("erase_min", static_cast<int>(*mn));
  std::printf("wear: %d commits, erases per block min %u max %u, total %llu\n", kCommits, *mn, *mx,
              static_cast<unsigned long long>(total));
}

TEST(SecureStore, WrongSecretOrInstanceCannotMount) {
  Board b;
  ASSERT_EQ(b.format(0, 0), MountCause::ok);
  ASSERT_EQ(b.store().write(1, pattern(1, 0, 10)), StoreResult::ok);
  ASSERT_EQ(b.store().commit(), StoreResult::ok);
  EXPECT_EQ(b.boot(1), MountCause::store_missing);  // another device's secret
  EXPECT_EQ(b.boot(0), MountCause::ok);
}

TEST(SecureStore, TransientReadErrorsAreNotReportedAsTampering) {
  Board b;
  ASSERT_EQ(b.format(), MountCause::ok);
  Model m;
  for (uint32_t i = 0; i < 30; ++i) {
    m[i % 7] = pattern(i % 7, i, 50);
    ASSERT_EQ(b.store().write(i % 7, m[i % 7]), StoreResult::ok);
    ASSERT_EQ(b.store().commit(), StoreResult::ok);
  }
  // About one flipped bit per mount: the re-read must absorb it.
  b.flash.set_read_error_rate(400);
  int ok = 0;
  for (int i = 0; i < 40; ++i) {
    const MountCause c = b.boot();
    if (c == MountCause::ok) {
      ++ok;
      b.flash.set_read_error_rate(0);
      EXPECT_EQ(test::diff_state(b.store(), m), "");  // never a wrong state
      b.flash.set_read_error_rate(400);
    }
  }
  EXPECT_GT(b.flash.read_errors_injected(), 20u);
  EXPECT_GE(ok, 30);
}

TEST(SecureStore, TransientReadErrorsDuringOperationNeverGiveWrongDataOrFalseAlarms) {
  // Bit errors on reads while the store works: reads, commit read-back/verification and
  // compaction copies all see them. Allowed outcomes: success, or io_error from a commit (the
  // store then wants a remount and holds the old or the new state). Never wrong data, never
  // an integrity failure at the next mount.
  Board b;
  ASSERT_EQ(b.format(), MountCause::ok);
  Model m;
  std::vector<uint8_t> buf(256);
  b.flash.set_read_error_rate(40);
  int commit_failures = 0, read_ok = 0;
  for (uint32_t i = 0; i < 1500; ++i) {
    const uint32_t id = i % 9;
    const auto d = pattern(id, i, 8 + (i * 13) % 100);
    StoreResult r = b.store().write(id, d);
    if (r == StoreResult::ok) r = b.store().commit();
    if (r == StoreResult::ok) {
      m[id] = d;
    } else {
      ASSERT_EQ(r, StoreResult::io_error) << i;
      ++commit_failures;
      // Remount (with errors off so that the comparison itself is exact).
      b.flash.set_read_error_rate(0);
      ASSERT_EQ(b.boot(), MountCause::ok) << i;
      size_t len = 0;
      if (b.store().read(id, buf, len) == StoreResult::ok &&
          std::equal(d.begin(), d.end(), buf.begin()) && len == d.size()) {
        m[id] = d;  // the commit made it to flash after all
      }
      ASSERT_EQ(test::diff_state(b.store(), m), "") << i;
      b.flash.set_read_error_rate(40);
    }
    size_t len = 0;
    const uint32_t probe = (i * 7) % 9;
    const StoreResult rr = b.store().read(probe, buf, len);
    if (rr == StoreResult::ok) {
      ASSERT_EQ(std::vector<uint8_t>(buf.begin(), buf.begin() + static_cast<long>(len)), m[probe]);
      ++read_ok;
    } else {
      ASSERT_EQ(rr, m.count(probe) ? StoreResult::integrity_error : StoreResult::not_found);
      // An integrity error on read must be a double misread, so rare.
    }
  }
  b.flash.set_read_error_rate(0);
  ASSERT_EQ(b.boot(), MountCause::ok);
  EXPECT_EQ(test::diff_state(b.store(), m), "");
  EXPECT_GT(b.flash.read_errors_injected(), 300u);
  EXPECT_GT(read_ok, 1300);
  EXPECT_LE(commit_failures, 20);  // commits verify and retry; only repeated misreads fail
  std::printf("transient errors: %llu injected, %d commits needed a remount\n",
              static_cast<unsigned long long>(b.flash.read_errors_injected()), commit_failures);
}

// FileFlash reads from a shared read-only mapping: every program, erase and even a write by
// another descriptor is seen by the next read at once, and NOR rules still hold.
TEST(FileFlash, ReadsSeeEveryWriteAtOnce) {
  const std::string dir = ::testing::TempDir() + "utpm_fileflash_" + std::to_string(::getpid());
  std::filesystem::create_directories(dir);
  const std::string img = dir + "/f.img";
  const FlashGeometry g{4096, 4, 8};
  FileFlash f(g);
  ASSERT_EQ(f.open(img, true), FileFlash::OpenResult::created);
  std::vector<uint8_t> buf(16), data(16);
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(0x30 + i);
  ASSERT_EQ(f.read(4096, buf), FlashStatus::ok);
  EXPECT_EQ(buf, std::vector<uint8_t>(16, 0xFF));
  ASSERT_EQ(f.program(4096, data), FlashStatus::ok);
  ASSERT_EQ(f.read(4096, buf), FlashStatus::ok);
  EXPECT_EQ(buf, data);
  EXPECT_EQ(f.program(4096, data), FlashStatus::not_erased);
  ASSERT_EQ(f.erase(1), FlashStatus::ok);
  ASSERT_EQ(f.read(4096, buf), FlashStatus::ok);
  EXPECT_EQ(buf, std::vector<uint8_t>(16, 0xFF));
  {  // another writer of the same file (what a second process or a test harness would do)
    std::fstream other(img, std::ios::in | std::ios::out | std::ios::binary);
    other.seekp(8192);
    other.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
  }
  ASSERT_EQ(f.read(8192, buf), FlashStatus::ok);
  EXPECT_EQ(buf, data);
  EXPECT_EQ(f.read(4 * 4096 - 8, buf), FlashStatus::out_of_range);
  f.close();
  FileFlash again(g);
  ASSERT_EQ(again.open(img, false), FileFlash::OpenResult::ok);
  ASSERT_EQ(again.read(8192, buf), FlashStatus::ok);
  EXPECT_EQ(buf, data);
  std::filesystem::remove_all(dir);
}

TEST(SecureStore, HostFilesPersistAndRefuseTruncationAndRollback) {
  const std::string dir = ::testing::TempDir() + "utpm_store_" + std::to_string(::getpid());
  std::filesystem::create_directories(dir);
  const FlashGeometry g{4096, 8, 8};
  const std::string img = dir + "/nv.img", anc = dir + "/nv.anchor";
  const auto secret = test::test_secret();
  const auto inst = test::test_instance();
  std::vector<IndexEntry> idx(32), stg(8);
  std::vector<SegmentInfo> segs(8);
  const StoreConfig cfg{1, 1024};
  std::vector<uint8_t> work(SecureStore::work_size(cfg));
  const StoreMemory mem{idx, stg, segs, work};
  {
    FileFlash f(g);
    ASSERT_EQ(f.open(img, true), FileFlash::OpenResult::created);
    EXPECT_EQ(std::filesystem::status(img).permissions() & std::filesystem::perms::all,
              std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    FileAnchor a(anc);
    SecureStore s(f, a, cfg, mem);
    ASSERT_EQ(s.format(secret, inst), MountCause::ok);
    ASSERT_EQ(s.write(1, pattern(1, 0, 1000)), StoreResult::ok);
    ASSERT_EQ(s.commit(), StoreResult::ok);
  }
  std::filesystem::copy_file(img, dir + "/old.img");
  {
    FileFlash f(g);
    ASSERT_EQ(f.open(img, false), FileFlash::OpenResult::ok);
    FileAnchor a(anc);
    SecureStore s(f, a, cfg, mem);
    ASSERT_EQ(s.mount(secret), MountCause::ok);
    EXPECT_EQ(test::diff_state(s, {{1, pattern(1, 0, 1000)}}), "");
    ASSERT_EQ(s.write(1, pattern(1, 1, 1000)), StoreResult::ok);
    ASSERT_EQ(s.commit(), StoreResult::ok);
  }
  {
    // An older image with the current anchor: rollback.
    FileFlash f(g);
    ASSERT_EQ(f.open(dir + "/old.img", false), FileFlash::OpenResult::ok);
    FileAnchor a(anc);
    SecureStore s(f, a, cfg, mem);
    EXPECT_EQ(s.mount(secret), MountCause::rollback);
  }
  {
    // A truncated image is refused before the store even looks at it.
    std::filesystem::resize_file(dir + "/old.img", g.size() - 100);
    FileFlash f(g);
    EXPECT_EQ(f.open(dir + "/old.img", false), FileFlash::OpenResult::wrong_size);
  }
  {
    // Anchor deleted: the store is there but cannot be trusted; never re-initialised.
    std::filesystem::remove(anc);
    FileFlash f(g);
    ASSERT_EQ(f.open(img, false), FileFlash::OpenResult::ok);
    FileAnchor a(anc);
    SecureStore s(f, a, cfg, mem);
    EXPECT_EQ(s.mount(secret), MountCause::anchor_missing);
    EXPECT_EQ(s.format(secret, inst), MountCause::anchor_missing);
  }
  std::filesystem::remove_all(dir);
}

// The host anchor file (file_anchor.h): v2 has two slots updated in place, so an update never
// allocates (a full disk cannot fail a commit) and a torn slot falls back to the previous value.
namespace file_anchor_test {
uint64_t fnv(const uint8_t* p, size_t n) {  // FNV-1a, 64-bit (the published offset and prime)
  uint64_t h = 14695981039346656037ull;
  for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}
void put_le(std::vector<uint8_t>& b, uint64_t v, int n) {
  for (int i = 0; i < n; ++i) b.push_back(static_cast<uint8_t>(v >> (8 * i)));
}
std::vector<uint8_t> slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}
}  // namespace file_anchor_test

TEST(FileAnchor, TwoSlotsInPlaceTornSlotFallsBackAndV1Converts) {
  using namespace file_anchor_test;
  const std::string dir = ::testing::TempDir() + "utpm_anchor_" + std::to_string(::getpid());
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const std::string path = dir + "/nv.anchor";
  AnchorValue v{};
  std::memset(v.instance, 0xA5, kInstanceIdSize);
  // A v1 file, laid out by hand: magic "UNAF", version 1, instance, counter, FNV-1a (LE).
  std::vector<uint8_t> v1;
  put_le(v1, 0x46414E55, 4);
  put_le(v1, 1, 4);
  v1.insert(v1.end(), v.instance, v.instance + kInstanceIdSize);
  put_le(v1, 41, 8);
  put_le(v1, fnv(v1.data(), v1.size()), 8);
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(v1.data()), 40);
  FileAnchor a(path);
  AnchorValue got{};
  ASSERT_EQ(a.load(got), AnchorStatus::ok);
  EXPECT_EQ(got.counter, 41u);
  v.counter = 40;
  EXPECT_EQ(a.store(v), AnchorStatus::io_error);  // never backwards
  v.counter = 42;
  ASSERT_EQ(a.store(v), AnchorStatus::ok);  // converts to v2
  EXPECT_EQ(std::filesystem::file_size(path), FileAnchor::kFileSize);
  struct stat before{};
  ASSERT_EQ(::stat(path.c_str(), &before), 0);
  for (uint64_t c = 43; c <= 50; ++c) {
    v.counter = c;
    ASSERT_EQ(a.store(v), AnchorStatus::ok);
    ASSERT_EQ(a.load(got), AnchorStatus::ok);
    EXPECT_EQ(got.counter, c);
  }
  struct stat after{};
  ASSERT_EQ(::stat(path.c_str(), &after), 0);
  EXPECT_EQ(before.st_ino, after.st_ino);  // updated in place, never replaced
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  // The newest value (50) is in one slot, the previous (49) in the other. Tear the newest:
  const auto image = slurp(path);
  ASSERT_EQ(image.size(), FileAnchor::kFileSize);
  size_t newest = 0;
  for (size_t off : {size_t{0}, FileAnchor::kSlotStride}) {
    uint64_t c = 0;
    std::memcpy(&c, image.data() + off + 24, 8);
    if (c == 50) newest = off;
  }
  {
    std::fstream f(path, std::ios::binary | std::ios::in | std::ios::out);
    f.seekp(static_cast<std::streamoff>(newest + 30));
    f.put('\x5A');
  }
  ASSERT_EQ(a.load(got), AnchorStatus::ok);
  EXPECT_EQ(got.counter, 49u);
  // A format after a long life: a new instance at counter 0 wins by sequence, not by counter.
  AnchorValue fresh{};
  std::memset(fresh.instance, 0x3C, kInstanceIdSize);
  ASSERT_EQ(a.store(fresh), AnchorStatus::ok);
  ASSERT_EQ(a.load(got), AnchorStatus::ok);
  EXPECT_EQ(got.counter, 0u);
  EXPECT_EQ(std::memcmp(got.instance, fresh.instance, kInstanceIdSize), 0);
  // Both slots damaged: corrupt, never "empty".
  std::vector<uint8_t> junk(FileAnchor::kFileSize, 0x11);
  std::ofstream(path, std::ios::binary | std::ios::trunc)
      .write(reinterpret_cast<const char*>(junk.data()), static_cast<std::streamsize>(junk.size()));
  EXPECT_EQ(a.load(got), AnchorStatus::corrupt);
  std::filesystem::remove_all(dir);
}

// Updates in a row without load(): the anchor works from what it remembers, and a second
// reader of the file sees every update (slots alternate, sequence grows).
TEST(FileAnchor, UpdatesInARowAreSeenByAFreshReader) {
  const std::string dir = ::testing::TempDir() + "utpm_anchor_row_" + std::to_string(::getpid());
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const std::string path = dir + "/nv.anchor";
  AnchorValue v{};
  std::memset(v.instance, 0x5C, kInstanceIdSize);
  FileAnchor writer(path);
  AnchorValue got{};
  ASSERT_EQ(writer.load(got), AnchorStatus::empty);
  for (uint64_t c = 1; c <= 20; ++c) {
    v.counter = c;
    ASSERT_EQ(writer.store(v), AnchorStatus::ok);
    FileAnchor reader(path);
    ASSERT_EQ(reader.load(got), AnchorStatus::ok);
    EXPECT_EQ(got.counter, c);
  }
  v.counter = 19;
  EXPECT_EQ(writer.store(v), AnchorStatus::io_error);  // never backwards, remembered or not
  v.counter = 21;
  ASSERT_EQ(writer.store(v), AnchorStatus::ok);
  FileAnchor reader(path);
  ASSERT_EQ(reader.load(got), AnchorStatus::ok);
  EXPECT_EQ(got.counter, 21u);
  // The previous value is in the other slot: tearing the newest one falls back to 20.
  {
    std::fstream f(path, std::ios::binary | std::ios::in | std::ios::out);
    for (size_t off : {size_t{0}, FileAnchor::kSlotStride}) {
      uint64_t c = 0;
      f.seekg(static_cast<std::streamoff>(off + 24));
      f.read(reinterpret_cast<char*>(&c), 8);
      if (c == 21) {
        f.seekp(static_cast<std::streamoff>(off + 30));
        f.put('\x5A');
      }
    }
  }
  ASSERT_EQ(reader.load(got), AnchorStatus::ok);
  EXPECT_EQ(got.counter, 20u);
  std::filesystem::remove_all(dir);
}

TEST(FlashCounterAnchor, MonotonicTornSafeAndRotates) {
  PowerRail rail;
  SimFlash f(test::kAnchorGeometry, rail);
  FlashCounterAnchor a(f);
  AnchorValue v{};
  EXPECT_EQ(a.load(v), AnchorStatus::empty);
  const auto inst = test::test_instance();
  std::copy(inst.begin(), inst.end(), v.instance);
  for (uint64_t c = 1; c <= 100; ++c) {
    v.counter = c;
    ASSERT_EQ(a.store(v), AnchorStatus::ok);
    AnchorValue r{};
    ASSERT_EQ(a.load(r), AnchorStatus::ok);
    ASSERT_EQ(r.counter, c);
  }
  EXPECT_GT(a.erases(), 5u);  // 14 slots per 256-byte page: the pages rotated
  v.counter = 50;
  EXPECT_NE(a.store(v), AnchorStatus::ok);  // never backwards
  // A cut at every step of one update leaves either the old or the new value.
  for (uint64_t step = 0; step < 8; ++step) {
    for (bool torn : {false, true}) {
      PowerRail r2;
      SimFlash f2(test::kAnchorGeometry, r2);
      FlashCounterAnchor a2(f2);
      AnchorValue w{};
      std::copy(inst.begin(), inst.end(), w.instance);
      uint64_t c = 0;
      for (; c < 14; ++c) {  // fill page 0 so that the next update switches pages
        w.counter = c + 1;
        ASSERT_EQ(a2.store(w), AnchorStatus::ok);
      }
      r2.reset_steps();
      r2.arm(step, torn);
      w.counter = 100;
      const bool stored = a2.store(w) == AnchorStatus::ok;
      r2.reboot();
      AnchorValue got{};
      ASSERT_EQ(a2.load(got), AnchorStatus::ok);
      EXPECT_TRUE(got.counter == 14 || got.counter == 100) << got.counter;
      if (stored) {
        EXPECT_EQ(got.counter, 100u);
      }
    }
  }
}

}  // namespace
}  // namespace utpm::storage
