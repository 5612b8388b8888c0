#include "ring_buffer.h"

#include <gtest/gtest.h>

namespace utpm::firmware {
namespace {

TEST(RingBuffer, FifoAcrossWrapAround) {
  RingBuffer<8> ring;
  uint8_t next_in = 0, next_out = 0;
  // Many more bytes than the capacity, in uneven batches, so the indices wrap many times.
  for (int round = 0; round < 100; ++round) {
    for (int i = 0; i < 1 + round % 7; ++i) ASSERT_TRUE(ring.push(next_in++));
    uint8_t b;
    while (ring.pop(b)) EXPECT_EQ(b, next_out++);
  }
  EXPECT_EQ(next_in, next_out);
  EXPECT_EQ(ring.overruns(), 0u);
}

TEST(RingBuffer, FullRingDropsAndCounts) {
  RingBuffer<4> ring;
  for (uint8_t i = 0; i < 4; ++i) EXPECT_TRUE(ring.push(i));
  EXPECT_FALSE(ring.push(99));
  EXPECT_FALSE(ring.push(98));
  EXPECT_EQ(ring.overruns(), 2u);
  uint8_t b;
  for (uint8_t i = 0; i < 4; ++i) {
    ASSERT_TRUE(ring.pop(b));
    EXPECT_EQ(b, i) << "the bytes already queued survive an overrun unchanged";
  }
  EXPECT_FALSE(ring.pop(b));
  EXPECT_TRUE(ring.push(7));  // room again once drained
}

}  // namespace
}  // namespace utpm::firmware
