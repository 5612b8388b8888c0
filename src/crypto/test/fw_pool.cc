// Test-only, for the firmware-config mbedTLS build on the host: hands the backend its static
// pool before any test runs (as the firmware does at boot) and reports the pool's peak use,
// which sizes the firmware's pool.
#include <gtest/gtest.h>
#include <mbedtls/memory_buffer_alloc.h>

#include <cstdio>

#include "crypto/backend.h"
#include "crypto/mbedtls/shared_groups.h"

namespace {

alignas(16) uint8_t g_pool[64 * 1024];

class PoolEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    ASSERT_EQ(utpm::crypto::backend_init(utpm::crypto::MutBytes(g_pool, sizeof g_pool)),
              utpm::crypto::Status::ok);
  }
  void TearDown() override {
    // P-256's group and generator table stay loaded between calls by design (ecc.cc): release
    // them so that what remains allocated is a leak.
    utpm::crypto::ecc_free_shared_groups();
    size_t max_used = 0, max_blocks = 0, cur_used = 0, cur_blocks = 0;
    mbedtls_memory_buffer_alloc_max_get(&max_used, &max_blocks);
    mbedtls_memory_buffer_alloc_cur_get(&cur_used, &cur_blocks);
    std::printf("mbedTLS static pool: peak %zu bytes in %zu blocks; %zu bytes still allocated\n",
                max_used, max_blocks, cur_used);
    EXPECT_EQ(cur_used, 0u) << "leak in the crypto layer";
  }
};

const auto* const g_env = ::testing::AddGlobalTestEnvironment(new PoolEnvironment);

}  // namespace
