// The engine persists through the secure store on the host: manufacture, restart, and refusal
// (failure mode with the integrity cause) when an older store image is put back.
#include "host/secure_nv_store.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "host/host_platform.h"
#include "tpm/tpm.h"

namespace utpm::host {
namespace {

namespace fs = std::filesystem;

std::string fresh_dir(const char* name) {
  const std::string d = ::testing::TempDir() + "utpm_" + name + "_" + std::to_string(::getpid());
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

// TPM2_Startup(CLEAR) then TPM2_Shutdown(CLEAR): both persist state.
void startup_shutdown(tpm::Tpm& t) {
  const uint8_t startup[] = {0x80, 0x01, 0, 0, 0, 0x0C, 0, 0, 0x01, 0x44, 0, 0};
  const uint8_t shutdown[] = {0x80, 0x01, 0, 0, 0, 0x0C, 0, 0, 0x01, 0x45, 0, 0};
  uint8_t rsp[64];
  for (const auto* cmd : {startup, shutdown}) {
    const size_t n = t.execute(0, {cmd, 12}, rsp);
    ASSERT_GE(n, 10u);
    EXPECT_EQ(rsp[6] | rsp[7] | rsp[8] | rsp[9], 0) << "command failed";
  }
}

TEST(SecureNvStore, KeyFileIsCreatedPrivateAndReused) {
  const std::string d = fresh_dir("key");
  std::array<uint8_t, 32> a{}, b{};
  std::string err;
  ASSERT_TRUE(SecureNvStore::load_or_create_key(d + "/k", a, err)) << err;
  struct stat st{};
  ASSERT_EQ(::stat((d + "/k").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_TRUE(SecureNvStore::load_or_create_key(d + "/k", b, err)) << err;
  EXPECT_EQ(a, b);
  EXPECT_NE(a, (std::array<uint8_t, 32>{}));
  ::chmod((d + "/k").c_str(), 0644);
  EXPECT_FALSE(SecureNvStore::load_or_create_key(d + "/k", b, err));  // readable by others
  fs::remove_all(d);
}

// A lost nv.key must not be replaced silently: a new key beside the old store would leave the
// TPM in failure mode with a misleading cause (and a later restore of the real key would find a
// second key file in the way).
TEST(SecureNvStore, MissingKeyBesideAStoreIsRefusedNotRecreated) {
  const std::string d = fresh_dir("lostkey");
  std::string err;
  {
    SecureNvStore nv;
    ASSERT_TRUE(nv.open({d, "", std::nullopt}, err)) << err;
  }
  ASSERT_TRUE(fs::exists(d + "/nv.store"));
  fs::rename(d + "/nv.key", d + "/nv.key.saved");
  {
    SecureNvStore nv;
    EXPECT_FALSE(nv.open({d, "", std::nullopt}, err));
    EXPECT_NE(err.find("missing"), std::string::npos) << err;
    EXPECT_FALSE(fs::exists(d + "/nv.key"));
    std::array<uint8_t, 32> k{};
    EXPECT_FALSE(SecureNvStore::load_or_create_key(d + "/nv.key", k, err,
                                                   !SecureNvStore::has_store(d)));
    EXPECT_FALSE(fs::exists(d + "/nv.key"));
  }
  fs::rename(d + "/nv.key.saved", d + "/nv.key");
  {
    SecureNvStore nv;
    EXPECT_TRUE(nv.open({d, "", std::nullopt}, err)) << err;  // the real key: the store mounts
  }
  fs::remove_all(d);
}

TEST(SecureNvStore, EnginePersistsAndRefusesAnOlderImage) {
  const std::string d = fresh_dir("engine");
  std::string err;
  {
    SecureNvStore nv;
    ASSERT_TRUE(nv.open({d, "", std::nullopt}, err)) << err;
    HostPlatform p(nv);
    tpm::Tpm t(p);
    t.power_on();
    ASSERT_FALSE(t.in_failure_mode());
    startup_shutdown(t);
    t.power_off();
    EXPECT_GT(nv.store()->commit_counter(), 1u);
  }
  fs::copy_file(d + "/nv.store", d + "/old.store");
  uint64_t counter = 0;
  {
    SecureNvStore nv;
    ASSERT_TRUE(nv.open({d, "", std::nullopt}, err)) << err;
    HostPlatform p(nv);
    tpm::Tpm t(p);
    t.power_on();
    ASSERT_FALSE(t.in_failure_mode());
    startup_shutdown(t);
    t.power_off();
    counter = nv.store()->commit_counter();
  }
  // Restoring the older image alone (a backup, a copied file) is refused: the anchor knows.
  fs::copy_file(d + "/old.store", d + "/nv.store", fs::copy_options::overwrite_existing);
  {
    SecureNvStore nv;
    EXPECT_FALSE(nv.open({d, "", std::nullopt}, err));
    EXPECT_EQ(nv.cause(), storage::MountCause::rollback) << err;
    EXPECT_NE(err.find("older than its anchor"), std::string::npos) << err;
    HostPlatform p(nv);
    tpm::Tpm t(p);
    t.power_on();
    EXPECT_TRUE(t.in_failure_mode());
    EXPECT_EQ(t.failure_cause(), tpm::FailureCause::nv_integrity);
  }
  EXPECT_GT(counter, 2u);
  fs::remove_all(d);
}

TEST(SecureNvStore, WrongKeyIsRefusedNotReinitialised) {
  const std::string d = fresh_dir("wrongkey");
  std::string err;
  std::array<uint8_t, 32> k1{}, k2{};
  k1.fill(1);
  k2.fill(2);
  {
    SecureNvStore nv;
    ASSERT_TRUE(nv.open({d, "", k1}, err)) << err;
    const uint8_t rec[] = {1, 2, 3};
    ASSERT_EQ(nv.write(5, rec), tpm::NvStore::Result::ok);
    ASSERT_EQ(nv.commit(), tpm::NvStore::Result::ok);
  }
  {
    SecureNvStore nv;
    EXPECT_FALSE(nv.open({d, "", k2}, err));
    uint8_t buf[8];
    size_t len;
    EXPECT_EQ(nv.read(5, buf, len), tpm::NvStore::Result::integrity_error);
    EXPECT_EQ(nv.write(5, buf), tpm::NvStore::Result::integrity_error);
  }
  {
    SecureNvStore nv;  // the right key still works: nothing was overwritten
    ASSERT_TRUE(nv.open({d, "", k1}, err)) << err;
    uint8_t buf[8];
    size_t len;
    ASSERT_EQ(nv.read(5, buf, len), tpm::NvStore::Result::ok);
    EXPECT_EQ(len, 3u);
  }
  fs::remove_all(d);
}

}  // namespace
}  // namespace utpm::host
