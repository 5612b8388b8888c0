#include "host/file_nv_store.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

namespace utpm::host {
namespace {

using Result = tpm::NvStore::Result;
using Bytes = std::vector<uint8_t>;

class FileNvStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/utpm-nvstore-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/nv.bin";
  }
  void TearDown() override {
    ::unlink(path_.c_str());
    ::unlink((path_ + ".tmp").c_str());
    ::rmdir(dir_.c_str());
  }
  Bytes file_bytes() {
    std::ifstream f(path_, std::ios::binary);
    return Bytes(std::istreambuf_iterator<char>(f), {});
  }
  void write_file(const Bytes& b) {
    std::ofstream f(path_, std::ios::binary | std::ios::trunc);
    f.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
  }
  static Bytes read_rec(FileNvStore& s, uint32_t id, Result expect = Result::ok) {
    uint8_t buf[256];
    size_t len = 0;
    EXPECT_EQ(s.read(id, buf, len), expect);
    return Bytes(buf, buf + (expect == Result::ok ? len : 0));
  }
  std::string dir_, path_;
};

TEST_F(FileNvStoreTest, MissingFileIsAnEmptyStore) {
  FileNvStore s(path_);
  EXPECT_EQ(s.load_error(), Result::ok);
  read_rec(s, 1, Result::not_found);
}

TEST_F(FileNvStoreTest, StagedChangesAreVisibleButDurableOnlyAfterCommit) {
  {
    FileNvStore s(path_);
    ASSERT_EQ(s.write(7, Bytes{1, 2, 3}), Result::ok);
    EXPECT_EQ(read_rec(s, 7), (Bytes{1, 2, 3}));
    // Not committed: a new instance (a power cycle) does not see it.
    FileNvStore other(path_);
    read_rec(other, 7, Result::not_found);
    ASSERT_EQ(s.commit(), Result::ok);
  }
  FileNvStore s(path_);
  EXPECT_EQ(read_rec(s, 7), (Bytes{1, 2, 3}));
}

TEST_F(FileNvStoreTest, AbortDropsStagedWritesAndRemovals) {
  FileNvStore s(path_);
  ASSERT_EQ(s.write(1, Bytes{9}), Result::ok);
  ASSERT_EQ(s.commit(), Result::ok);
  ASSERT_EQ(s.write(1, Bytes{8}), Result::ok);
  ASSERT_EQ(s.write(2, Bytes{7}), Result::ok);
  s.abort();
  EXPECT_EQ(read_rec(s, 1), Bytes{9});
  read_rec(s, 2, Result::not_found);
  ASSERT_EQ(s.remove(1), Result::ok);
  read_rec(s, 1, Result::not_found);
  s.abort();
  EXPECT_EQ(read_rec(s, 1), Bytes{9});
}

TEST_F(FileNvStoreTest, RemoveIsPersistedAndMissingIdsAreReported) {
  {
    FileNvStore s(path_);
    s.write(1, Bytes{1});
    s.write(2, Bytes{2});
    ASSERT_EQ(s.commit(), Result::ok);
    ASSERT_EQ(s.remove(1), Result::ok);
    EXPECT_EQ(s.remove(3), Result::not_found);
    ASSERT_EQ(s.commit(), Result::ok);
  }
  FileNvStore s(path_);
  read_rec(s, 1, Result::not_found);
  EXPECT_EQ(read_rec(s, 2), Bytes{2});
}

TEST_F(FileNvStoreTest, ReadIntoASmallBufferReportsTooLargeAndTheSize) {
  FileNvStore s(path_);
  s.write(5, Bytes(10, 0xAB));
  uint8_t buf[4];
  size_t len = 0;
  EXPECT_EQ(s.read(5, buf, len), Result::too_large);
  EXPECT_EQ(len, 10u);
}

TEST_F(FileNvStoreTest, OversizeRecordIsRefused) {
  FileNvStore s(path_);
  EXPECT_EQ(s.write(1, Bytes(FileNvStore::kMaxRecordSize + 1)), Result::too_large);
}

TEST_F(FileNvStoreTest, AnyFlippedBitMakesTheStoreReportIntegrityError) {
  {
    FileNvStore s(path_);
    s.write(1, Bytes{1, 2, 3, 4});
    s.write(0x01000002, Bytes(40, 0x11));
    ASSERT_EQ(s.commit(), Result::ok);
  }
  const Bytes good = file_bytes();
  ASSERT_GT(good.size(), 16u);
  for (size_t i = 0; i < good.size(); i += 3) {
    Bytes bad = good;
    bad[i] ^= 0x04;
    write_file(bad);
    FileNvStore s(path_);
    EXPECT_EQ(s.load_error(), Result::integrity_error) << "byte " << i;
    read_rec(s, 1, Result::integrity_error);
    EXPECT_EQ(s.write(1, Bytes{1}), Result::integrity_error);
  }
}

TEST_F(FileNvStoreTest, TruncatedFileIsDetected) {
  {
    FileNvStore s(path_);
    s.write(1, Bytes{1, 2, 3, 4});
    ASSERT_EQ(s.commit(), Result::ok);
  }
  const Bytes good = file_bytes();
  for (size_t n = 0; n < good.size(); ++n) {
    write_file(Bytes(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(n)));
    FileNvStore s(path_);
    EXPECT_EQ(s.load_error(), Result::integrity_error) << "length " << n;
  }
}

TEST_F(FileNvStoreTest, FailedCommitKeepsTheOldState) {
  {
    FileNvStore s(path_);
    s.write(1, Bytes{1});
    ASSERT_EQ(s.commit(), Result::ok);
    // Make the temp file impossible to create: a directory in its place.
    ASSERT_EQ(::mkdir((path_ + ".tmp").c_str(), 0700), 0);
    s.write(1, Bytes{2});
    EXPECT_EQ(s.commit(), Result::io_error);
    EXPECT_EQ(read_rec(s, 1), Bytes{1});
    ::rmdir((path_ + ".tmp").c_str());
  }
  FileNvStore s(path_);
  EXPECT_EQ(read_rec(s, 1), Bytes{1});
}

TEST(Crc32, MatchesTheStandardCheckValue) {
  const char* check = "123456789";
  EXPECT_EQ(crc32_ieee({reinterpret_cast<const uint8_t*>(check), 9}), 0xCBF43926u);
}

}  // namespace
}  // namespace utpm::host
