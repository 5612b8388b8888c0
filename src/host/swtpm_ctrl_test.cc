#include "host/swtpm_ctrl.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

namespace utpm::host::swtpm {
namespace {

using Bytes = std::vector<uint8_t>;

void put32(Bytes& b, uint32_t v) {
  for (int i = 0; i < 4; ++i) b.push_back(static_cast<uint8_t>(v >> (24 - 8 * i)));
}
uint32_t at32(const Bytes& b, size_t off) {
  return (uint32_t{b[off]} << 24) | (uint32_t{b[off + 1]} << 16) | (uint32_t{b[off + 2]} << 8) |
         b[off + 3];
}
Bytes req(uint32_t cmd, Bytes payload = {}) {
  Bytes b;
  put32(b, cmd);
  b.insert(b.end(), payload.begin(), payload.end());
  return b;
}

// Records what the session asked for.
class Recorder final : public SwtpmBackend {
 public:
  uint32_t capabilities() const override { return 0x1ffef; }
  bool running() const override { return is_running; }
  uint32_t init(uint32_t f) override { init_flags = f; is_running = true; ++inits; return kSuccess; }
  uint32_t stop() override { is_running = false; return kSuccess; }
  void shutdown() override { shut = true; }
  uint32_t get_established(uint8_t& bit) override { bit = 1; return kSuccess; }
  uint32_t set_locality(uint8_t l) override {
    if (l > 4) return kBadLocality;
    locality = l;
    return kSuccess;
  }
  uint32_t reset_established(uint8_t) override { return kSuccess; }
  uint32_t hash_start() override { return kBadOrdinal; }
  uint32_t hash_data(std::span<const uint8_t>) override { return kBadOrdinal; }
  uint32_t hash_end() override { return kBadOrdinal; }
  uint32_t cancel() override { ++cancels; return kSuccess; }
  uint32_t store_volatile() override { return kSuccess; }
  uint32_t get_state_blob(uint32_t type, uint32_t, uint32_t& flags_out, Bytes& blob) override {
    flags_out = kStateFlagEncrypted;
    blob.assign(10 * type, static_cast<uint8_t>(type));
    return kSuccess;
  }
  uint32_t set_state_blob(uint32_t type, uint32_t, std::span<const uint8_t> blob) override {
    set_type = type;
    set_blob.assign(blob.begin(), blob.end());
    return kSuccess;
  }
  uint32_t config_flags() const override { return kConfigFlagFileKey; }
  uint32_t set_buffer_size(uint32_t, uint32_t& a, uint32_t& b, uint32_t& c) override {
    a = b = c = 4096;
    return kSuccess;
  }
  uint32_t get_info(uint64_t, std::string& json) override {
    json = "{\"a\":1}";
    return kSuccess;
  }
  uint32_t lock_storage(uint32_t) override { return kSuccess; }

  bool is_running = true;
  bool shut = false;
  uint32_t init_flags = 0xffffffff;
  int inits = 0;
  int cancels = 0;
  uint8_t locality = 0xff;
  uint32_t set_type = 0;
  Bytes set_blob;
};

TEST(SwtpmCtrl, CapabilityReplyIsResultThenCaps) {
  Recorder r;
  CtrlSession s(r);
  Bytes out;
  EXPECT_EQ(s.on_bytes(req(kGetCapability), out, 0), Session::Verdict::keep);
  ASSERT_EQ(out.size(), 8u);
  EXPECT_EQ(at32(out, 0), 0u);
  EXPECT_EQ(at32(out, 4), 0x1ffefu);
}

TEST(SwtpmCtrl, RequestSplitAnywhereIsAssembled) {
  Recorder r;
  CtrlSession s(r);
  Bytes blob(300);
  for (size_t i = 0; i < blob.size(); ++i) blob[i] = static_cast<uint8_t>(i * 7);
  Bytes in = req(kSetStateBlob);
  put32(in, 0);
  put32(in, kBlobPermanent);
  put32(in, static_cast<uint32_t>(blob.size()));
  in.insert(in.end(), blob.begin(), blob.end());
  Bytes out;
  for (size_t i = 0; i < in.size(); ++i) {
    EXPECT_EQ(s.on_bytes({&in[i], 1}, out, i), Session::Verdict::keep);
    EXPECT_EQ(out.empty(), i + 1 < in.size()) << i;
  }
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(at32(out, 0), 0u);
  EXPECT_EQ(r.set_type, kBlobPermanent);
  EXPECT_EQ(r.set_blob, blob);
}

TEST(SwtpmCtrl, LocalityInOneOrFourBytes) {
  Recorder r;
  CtrlSession s(r);
  Bytes out;
  s.on_bytes(req(kSetLocality, {3}), out, 0);  // tcti-swtpm
  EXPECT_EQ(r.locality, 3);
  s.on_bytes(req(kSetLocality, {2, 0, 0, 0}), out, 0);  // QEMU pads to 4: the pad is ignored
  EXPECT_EQ(r.locality, 2);
  out.clear();
  s.on_bytes(req(kGetConfig), out, 0);  // the pad did not become the start of this request
  ASSERT_EQ(out.size(), 8u);
  EXPECT_EQ(at32(out, 4), kConfigFlagFileKey);
  out.clear();
  s.on_bytes(req(kSetLocality, {5}), out, 0);
  EXPECT_EQ(at32(out, 0), kBadLocality);
}

TEST(SwtpmCtrl, InitFlagsAndShutdownStops) {
  Recorder r;
  CtrlSession s(r);
  Bytes out;
  Bytes in = req(kInit);
  put32(in, kInitFlagDeleteVolatile);
  s.on_bytes({in.data(), 6}, out, 0);
  EXPECT_EQ(r.inits, 0);  // INIT waits for its 4-byte flags
  s.on_bytes({in.data() + 6, 2}, out, 1);
  EXPECT_EQ(r.inits, 1);
  EXPECT_EQ(r.init_flags, kInitFlagDeleteVolatile);
  out.clear();
  EXPECT_EQ(s.on_bytes(req(kShutdown), out, 2), Session::Verdict::stop_daemon);
  EXPECT_TRUE(r.shut);
  EXPECT_EQ(out, Bytes(4, 0));
}

TEST(SwtpmCtrl, StateBlobReplyCarriesLengthsAndOffset) {
  Recorder r;
  CtrlSession s(r);
  Bytes in = req(kGetStateBlob);
  put32(in, kStateFlagDecrypted);
  put32(in, kBlobSaveState);  // the recorder's blob: 30 bytes of 3
  put32(in, 10);              // offset
  Bytes out;
  s.on_bytes(in, out, 0);
  ASSERT_EQ(out.size(), 16u + 20u);
  EXPECT_EQ(at32(out, 0), 0u);
  EXPECT_EQ(at32(out, 4), kStateFlagEncrypted);
  EXPECT_EQ(at32(out, 8), 30u);   // totlength
  EXPECT_EQ(at32(out, 12), 20u);  // length from the offset
  Bytes past = req(kGetStateBlob);
  put32(past, 0);
  put32(past, kBlobSaveState);
  put32(past, 31);
  out.clear();
  s.on_bytes(past, out, 0);
  ASSERT_EQ(out.size(), 16u);
  EXPECT_EQ(at32(out, 0), kBadParameter);
}

TEST(SwtpmCtrl, ErrorsKeepTheReplySizeAndUnknownClosesTheConnection) {
  Recorder r;
  CtrlSession s(r);
  Bytes out;
  EXPECT_EQ(s.on_bytes(req(0x77, {1, 2, 3}), out, 0), Session::Verdict::close);
  EXPECT_EQ(out, (Bytes{0, 0, 0, kBadOrdinal}));
  Recorder r2;
  CtrlSession s2(r2);
  out.clear();
  Bytes big = req(kHashData);
  put32(big, kMaxHashData + 1);
  EXPECT_EQ(s2.on_bytes(big, out, 0), Session::Verdict::close);
  EXPECT_EQ(at32(out, 0), kSize);
  Recorder r3;
  CtrlSession s3(r3);
  out.clear();
  Bytes huge = req(kSetStateBlob);
  put32(huge, 0);
  put32(huge, 1);
  put32(huge, kMaxStateBlob + 1);
  EXPECT_EQ(s3.on_bytes(huge, out, 0), Session::Verdict::close);
  EXPECT_EQ(at32(out, 0), kSize);
}

TEST(SwtpmCtrl, StalledRequestClosesTheConnection) {
  Recorder r;
  CtrlSession s(r, 500);
  Bytes out;
  s.on_bytes(req(kInit, {0}), out, 1000);
  EXPECT_EQ(s.timer_due_in(1200), 300);
  EXPECT_FALSE(s.on_timer(1400));
  EXPECT_TRUE(s.on_timer(1500));
  EXPECT_TRUE(s.close_after_stall());
  EXPECT_EQ(r.inits, 0);
  EXPECT_EQ(s.on_bytes(req(kGetCapability), out, 1600), Session::Verdict::close);
  EXPECT_TRUE(out.empty());
}

TEST(SwtpmCtrl, CancelActsWhileBusyOnlyAtTheHead) {
  Recorder r;
  CtrlSession s(r);
  Bytes out;
  const Bytes cancel = req(kCancelTpmCmd);
  EXPECT_EQ(s.on_bytes_busy(cancel, out), 4u);
  EXPECT_EQ(r.cancels, 1);
  EXPECT_EQ(out, Bytes(4, 0));
  out.clear();
  EXPECT_EQ(s.on_bytes_busy(req(kGetCapability), out), 0u);  // anything else waits
  EXPECT_EQ(s.on_bytes_busy({cancel.data(), 3}, out), 0u);   // incomplete
  EXPECT_TRUE(out.empty());
}

TEST(SwtpmCtrl, SetDataFdHandsOverTheDescriptor) {
  Recorder r;
  CtrlSession s(r);
  Bytes out;
  s.on_bytes(req(kSetDataFd), out, 0);
  EXPECT_EQ(at32(out, 0), kBadParameter);  // none came with it
  EXPECT_EQ(s.take_hand_over(), -1);
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  EXPECT_TRUE(s.on_descriptor(sv[1]));
  out.clear();
  s.on_bytes(req(kSetDataFd), out, 0);
  EXPECT_EQ(out, Bytes(4, 0));
  const int fd = s.take_hand_over();
  EXPECT_EQ(fd, sv[1]);
  EXPECT_EQ(s.take_hand_over(), -1);
  ::close(fd);
  ::close(sv[0]);
}

TEST(SwtpmCtrl, RequestLengths) {
  EXPECT_EQ(request_length(kGetCapability, {}), 4u);
  EXPECT_EQ(request_length(kSetLocality, {}), 5u);
  EXPECT_EQ(request_length(kInit, {}), 8u);
  EXPECT_EQ(request_length(kGetStateBlob, {}), 16u);
  EXPECT_EQ(request_length(kGetInfo, {}), 20u);
  Bytes h = req(kHashData);
  put32(h, 100);
  EXPECT_EQ(request_length(kHashData, h), 108u);
  EXPECT_EQ(request_length(0x99, {}), 0u);
}

}  // namespace
}  // namespace utpm::host::swtpm
