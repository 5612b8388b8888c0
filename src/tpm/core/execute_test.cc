// Command frame: header, size, tag, unknown command, handle and authorization area errors.
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cstring>

#include "crypto/kdf.h"

#include "tpm/testing/fake_platform.h"
#include "tpm/tpm.h"
#include "tpm/types/constants.h"

namespace utpm::tpm {
namespace {

using testing::CommandBuilder;
using testing::FakePlatform;
using testing::run;
using testing::Response;

class Execute : public ::testing::Test {
 protected:
  void SetUp() override { testing::start(tpm); }
  FakePlatform platform;
  Tpm tpm{platform};
};

TEST_F(Execute, ShortBufferIsCommandSize) {
  EXPECT_EQ(run(tpm, {0x80, 0x01, 0, 0, 0}).rc, TPM_RC_COMMAND_SIZE);
  EXPECT_EQ(run(tpm, {}).rc, TPM_RC_COMMAND_SIZE);
}

TEST_F(Execute, BadTag) {
  auto cmd = CommandBuilder(0x8003, TPM_CC_GetRandom).u16(8).bytes();
  EXPECT_EQ(run(tpm, cmd).rc, TPM_RC_BAD_TAG);
  cmd = CommandBuilder(0x00C1, TPM_CC_GetRandom).u16(8).bytes();  // a TPM 1.2 tag
  EXPECT_EQ(run(tpm, cmd).rc, TPM_RC_BAD_TAG);
}

TEST_F(Execute, SizeFieldMustMatchBytesReceived) {
  auto cmd = CommandBuilder(0x8001, TPM_CC_GetRandom).u16(8).bytes();
  auto longer = cmd;
  longer.push_back(0);  // one byte more than the header says
  EXPECT_EQ(run(tpm, longer).rc, TPM_RC_COMMAND_SIZE);
  auto shorter = cmd;
  shorter.pop_back();
  EXPECT_EQ(run(tpm, shorter).rc, TPM_RC_COMMAND_SIZE);
}

TEST_F(Execute, SizeAboveMaximumIsCommandSize) {
  std::vector<uint8_t> big(profile::kMaxCommandSize + 1, 0);
  auto head = CommandBuilder(0x8001, TPM_CC_GetRandom).bytes();
  std::copy(head.begin(), head.end(), big.begin());
  uint32_t n = uint32_t(big.size());
  big[2] = uint8_t(n >> 24); big[3] = uint8_t(n >> 16); big[4] = uint8_t(n >> 8); big[5] = uint8_t(n);
  EXPECT_EQ(run(tpm, big).rc, TPM_RC_COMMAND_SIZE);
}

TEST_F(Execute, UnknownCommandCode) {
  EXPECT_EQ(run(tpm, CommandBuilder(0x8001, 0x1FF).bytes()).rc, TPM_RC_COMMAND_CODE);
  EXPECT_EQ(run(tpm, CommandBuilder(0x8001, 0x20000001).bytes()).rc, TPM_RC_COMMAND_CODE);
}

TEST_F(Execute, TrailingBytesAfterParametersAreSize) {
  auto cmd = CommandBuilder(0x8001, TPM_CC_GetRandom).u16(8).u8(0).bytes();
  EXPECT_EQ(run(tpm, cmd).rc, TPM_RC_SIZE);
}

TEST_F(Execute, TruncatedParameterIsInsufficientWithNumber) {
  auto cmd = CommandBuilder(0x8001, TPM_CC_GetRandom).u8(8).bytes();
  EXPECT_EQ(run(tpm, cmd).rc, rc_param(TPM_RC_INSUFFICIENT, 1));
  // Hash: data ok, hashAlg bad -> parameter 2
  cmd = CommandBuilder(0x8001, TPM_CC_Hash).tpm2b(std::vector<uint8_t>{1}).u16(0x0006).u32(TPM_RH_NULL).bytes();
  EXPECT_EQ(run(tpm, cmd).rc, rc_param(TPM_RC_HASH, 2));
  // Hash: hierarchy bad -> parameter 3
  cmd = CommandBuilder(0x8001, TPM_CC_Hash).tpm2b(std::vector<uint8_t>{1}).u16(TPM_ALG_SHA256).u32(0x40000009).bytes();
  EXPECT_EQ(run(tpm, cmd).rc, rc_param(TPM_RC_VALUE, 3));
}

TEST_F(Execute, AuthorizationIsRequiredWhereTheCommandSaysSo) {
  std::vector<uint8_t> digest(32, 0);
  auto no_sessions = CommandBuilder(0x8001, TPM_CC_PCR_Extend).u32(0).u32(1).u16(TPM_ALG_SHA256).raw(digest).bytes();
  EXPECT_EQ(run(tpm, no_sessions).rc, TPM_RC_AUTH_MISSING);
  auto ok = CommandBuilder(0x8002, TPM_CC_PCR_Extend).u32(0).pw_session().u32(1).u16(TPM_ALG_SHA256).raw(digest).bytes();
  auto r = run(tpm, ok);
  EXPECT_EQ(r.rc, TPM_RC_SUCCESS);
  EXPECT_EQ(r.tag, TPM_ST_SESSIONS);
  // parameterSize 0, then the password session's response: nonce(0) attrs hmac(0)
  EXPECT_EQ(r.body, (std::vector<uint8_t>{0, 0, 0, 0, 0, 0, 1, 0, 0}));
}

TEST_F(Execute, AuthorizationAreaErrors) {
  std::vector<uint8_t> digest(32, 0);
  auto base = [&] { return CommandBuilder(0x8002, TPM_CC_PCR_Extend).u32(0); };
  // authorizationSize larger than what follows
  EXPECT_EQ(run(tpm, base().u32(200).bytes()).rc, TPM_RC_AUTHSIZE);
  // authorizationSize below the smallest session
  EXPECT_EQ(run(tpm, base().u32(4).u32(TPM_RS_PW).u32(1).bytes()).rc, TPM_RC_AUTHSIZE);
  // password session with a nonce
  auto with_nonce = base().u32(10).u32(TPM_RS_PW).u16(1).u8(0xAA).u8(0).u16(0).u32(0).bytes();
  EXPECT_EQ(run(tpm, with_nonce).rc, rc_session(TPM_RC_NONCE, 1));
  // password session asking for encryption
  auto encrypt = base().u32(9).u32(TPM_RS_PW).u16(0).u8(0x40).u16(0).u32(0).bytes();
  EXPECT_EQ(run(tpm, encrypt).rc, rc_session(TPM_RC_ATTRIBUTES, 1));
  // reserved attribute bit
  auto reserved = base().u32(9).u32(TPM_RS_PW).u16(0).u8(0x08).u16(0).u32(0).bytes();
  EXPECT_EQ(run(tpm, reserved).rc, rc_session(TPM_RC_RESERVED_BITS, 1));
  // an HMAC session that does not exist
  auto hmac = base().u32(9).u32(0x02000000).u16(0).u8(1).u16(0).u32(0).bytes();
  EXPECT_EQ(run(tpm, hmac).rc, TPM_RC_REFERENCE_S0);
  // not a session handle at all
  auto bogus = base().u32(9).u32(0x81000000).u16(0).u8(1).u16(0).u32(0).bytes();
  EXPECT_EQ(run(tpm, bogus).rc, rc_session(TPM_RC_HANDLE, 1));
  (void)digest;
}

TEST_F(Execute, WrongPasswordIsBadAuthForEntitiesOutsideDa) {
  std::vector<uint8_t> pw = {'x'};
  auto cmd = CommandBuilder(0x8002, TPM_CC_ClockSet).u32(TPM_RH_OWNER).pw_session(pw).u64(1u << 30).bytes();
  EXPECT_EQ(run(tpm, cmd).rc, rc_session(TPM_RC_BAD_AUTH, 1));
  // Trailing zeros do not count: an all-zero password equals the empty authValue.
  std::vector<uint8_t> zeros = {0, 0};
  cmd = CommandBuilder(0x8002, TPM_CC_ClockSet).u32(TPM_RH_OWNER).pw_session(zeros).u64(1u << 30).bytes();
  EXPECT_EQ(run(tpm, cmd).rc, TPM_RC_SUCCESS);
}

TEST_F(Execute, HandleValuesAreChecked) {
  std::vector<uint8_t> digest(32, 0);
  auto cmd = CommandBuilder(0x8002, TPM_CC_PCR_Extend).u32(24).pw_session().u32(1).u16(TPM_ALG_SHA256).raw(digest).bytes();
  EXPECT_EQ(run(tpm, cmd).rc, rc_handle(TPM_RC_VALUE, 1));
  cmd = CommandBuilder(0x8002, TPM_CC_ClockSet).u32(TPM_RH_ENDORSEMENT).pw_session().u64(1).bytes();
  EXPECT_EQ(run(tpm, cmd).rc, rc_handle(TPM_RC_VALUE, 1));
  cmd = CommandBuilder(0x8002, TPM_CC_SequenceUpdate).u32(0x80000001).pw_session().u16(0).bytes();
  EXPECT_EQ(run(tpm, cmd).rc, TPM_RC_REFERENCE_H0);
  // missing handle
  cmd = CommandBuilder(0x8001, TPM_CC_PCR_Reset).u16(0).bytes();
  EXPECT_EQ(run(tpm, cmd).rc, rc_handle(TPM_RC_INSUFFICIENT, 1));
}

// Part 3 §5.2 / Part 1 command processing: the handle area is unmarshalled whole before any
// handle is validated. NV_Increment has two handles (authHandle, nvIndex): a command cut after
// an undefined first handle is TPM_RC_INSUFFICIENT at handle 2, not the first handle's error
// (docs/conformance.md D2).
TEST_F(Execute, HandleAreaIsReadWholeBeforeHandlesAreChecked) {
  auto cmd = CommandBuilder(0x8001, TPM_CC_NV_Increment).u32(0x01000123).u16(0x0100).bytes();
  EXPECT_EQ(run(tpm, cmd).rc, rc_handle(TPM_RC_INSUFFICIENT, 2));
  // With both handles present the first one's error comes first.
  cmd = CommandBuilder(0x8001, TPM_CC_NV_Increment).u32(0x01000123).u32(0x01000123).bytes();
  EXPECT_EQ(run(tpm, cmd).rc, rc_handle(TPM_RC_HANDLE, 1));
}

TEST_F(Execute, NvUnavailableRefusesNvCommandsOnly) {
  tpm.set_nv_available(false);
  auto cmd = CommandBuilder(0x8002, TPM_CC_ClockSet).u32(TPM_RH_OWNER).pw_session().u64(1u << 30).bytes();
  EXPECT_EQ(run(tpm, cmd).rc, TPM_RC_NV_UNAVAILABLE);
  EXPECT_EQ(run(tpm, CommandBuilder(0x8001, TPM_CC_GetRandom).u16(4).bytes()).rc, TPM_RC_SUCCESS);
  tpm.set_nv_available(true);
  EXPECT_EQ(run(tpm, cmd).rc, TPM_RC_SUCCESS);
}

TEST(ExecuteUnpowered, AnswersFailureWithoutPower) {
  FakePlatform platform;
  Tpm tpm{platform};
  EXPECT_EQ(testing::run(tpm, CommandBuilder(0x8001, TPM_CC_GetRandom).u16(8).bytes()).rc, TPM_RC_FAILURE);
}

TEST(ExecuteFailureMode, OnlyTestResultAndCapabilityAnswer) {
  FakePlatform platform;
  platform.store.fail_read = NvStore::Result::integrity_error;
  Tpm tpm{platform};
  tpm.power_on();
  ASSERT_TRUE(tpm.in_failure_mode());
  EXPECT_EQ(tpm.failure_cause(), FailureCause::nv_integrity);
  EXPECT_EQ(run(tpm, CommandBuilder(0x8001, TPM_CC_Startup).u16(0).bytes()).rc, TPM_RC_FAILURE);
  auto r = run(tpm, CommandBuilder(0x8001, TPM_CC_GetTestResult).bytes());
  ASSERT_EQ(r.rc, TPM_RC_SUCCESS);
  auto out = r.tpm2b();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0], uint8_t(FailureCause::nv_integrity));
  EXPECT_EQ(r.u32(), TPM_RC_FAILURE);
}

// Failure mode's GetCapability: TPM_CAP_TPM_PROPERTIES for TPM_PT_MANUFACTURER (0x105) ..
// TPM_PT_FIRMWARE_VERSION_2 (0x10C) only; any other capability, or a session, TPM_RC_FAILURE.
TEST(ExecuteFailureMode, GetCapabilityAnswersOnlyTheIdentification) {
  FakePlatform platform;
  platform.store.fail_read = NvStore::Result::integrity_error;
  Tpm tpm{platform};
  tpm.power_on();
  ASSERT_TRUE(tpm.in_failure_mode());
  auto cap = [&](uint32_t c, uint32_t p, uint32_t n) {
    return run(tpm, CommandBuilder(0x8001, TPM_CC_GetCapability).u32(c).u32(p).u32(n).bytes());
  };
  auto r = cap(TPM_CAP_TPM_PROPERTIES, 0x100, 64);  // from TPM_PT_FAMILY_INDICATOR: starts at 0x105
  ASSERT_EQ(r.rc, TPM_RC_SUCCESS);
  EXPECT_EQ(r.u8(), 0);  // moreData NO
  EXPECT_EQ(r.u32(), TPM_CAP_TPM_PROPERTIES);
  ASSERT_EQ(r.u32(), 8u);
  const uint32_t want[8][2] = {{0x105, 0x5554504D}, {0x106, 0x7574706D}, {0x107, 0x206F7065}, {0x108, 0x6E205450},
                               {0x109, 0x4D202020}, {0x10A, 1},          {0x10B, 1},          {0x10C, 0}};
  for (const auto& w : want) {
    EXPECT_EQ(r.u32(), w[0]);
    EXPECT_EQ(r.u32(), w[1]);
  }
  r = cap(TPM_CAP_TPM_PROPERTIES, 0x10B, 1);
  ASSERT_EQ(r.rc, TPM_RC_SUCCESS);
  EXPECT_EQ(r.u8(), 1);  // moreData YES: 0x10C follows
  r.u32();
  ASSERT_EQ(r.u32(), 1u);
  EXPECT_EQ(r.u32(), 0x10Bu);
  r = cap(TPM_CAP_TPM_PROPERTIES, 0x10D, 8);  // beyond the identification: empty
  ASSERT_EQ(r.rc, TPM_RC_SUCCESS);
  EXPECT_EQ(r.u8(), 0);
  r.u32();
  EXPECT_EQ(r.u32(), 0u);
  EXPECT_EQ(cap(TPM_CAP_COMMANDS, 0x11F, 8).rc, TPM_RC_FAILURE);
  EXPECT_EQ(cap(TPM_CAP_ALGS, 0, 8).rc, TPM_RC_FAILURE);
  EXPECT_EQ(run(tpm, CommandBuilder(0x8002, TPM_CC_GetCapability).pw_session().u32(6).u32(0x105).u32(1).bytes()).rc,
            TPM_RC_FAILURE);
}

// One I/O buffer for both directions (as the MCU wants): a command that starts the response
// buffer gets the same answer as with separate buffers, including a decrypted first parameter
// moved over its own command bytes.
class SharedBuffer : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::start(separate);
    testing::start(shared);
  }
  // The same command to both TPMs (identical platforms, so identical state and nonces).
  std::pair<std::vector<uint8_t>, std::vector<uint8_t>> both(const std::vector<uint8_t>& cmd) {
    std::vector<uint8_t> rsp(4096);
    rsp.resize(separate.execute(0, cmd, rsp));
    std::vector<uint8_t> io(4096);
    std::memcpy(io.data(), cmd.data(), cmd.size());
    const size_t n = shared.execute(0, std::span<const uint8_t>(io.data(), cmd.size()), io);
    io.resize(n);
    return {rsp, io};
  }
  FakePlatform p1, p2;
  Tpm separate{p1}, shared{p2};
};

TEST_F(SharedBuffer, CommandsAnswerTheSameWhenTheCommandLiesInTheResponseBuffer) {
  std::vector<uint8_t> data(1024);
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(i * 13);
  const std::vector<std::vector<uint8_t>> cmds = {
      CommandBuilder(0x8001, TPM_CC_Hash).tpm2b(data).u16(TPM_ALG_SHA256).u32(TPM_RH_OWNER).bytes(),
      CommandBuilder(0x8002, TPM_CC_PCR_Extend).u32(16).pw_session().u32(1).u16(TPM_ALG_SHA256)
          .raw(std::vector<uint8_t>(32, 7)).bytes(),
      CommandBuilder(0x8001, TPM_CC_PCR_Read).u32(1).u16(TPM_ALG_SHA256).u8(3).u8(0).u8(0).u8(1).bytes(),
      CommandBuilder(0x8001, TPM_CC_GetCapability).u32(TPM_CAP_COMMANDS).u32(0).u32(100).bytes(),
      CommandBuilder(0x8001, TPM_CC_GetRandom).u16(32).bytes(),
  };
  for (const auto& cmd : cmds) {
    auto [a, b] = both(cmd);
    ASSERT_GE(a.size(), 10u);
    EXPECT_EQ(a, b);
  }
}

TEST_F(SharedBuffer, ADecryptedParameterIsMovedSafelyOverItsOwnCommand) {
  // An unbound, unsalted HMAC session with XOR parameter encryption (sessionKey empty).
  auto start = CommandBuilder(0x8001, TPM_CC_StartAuthSession).u32(TPM_RH_NULL).u32(TPM_RH_NULL)
                   .tpm2b(std::vector<uint8_t>(32, 0x11)).u16(0).u8(0).u16(TPM_ALG_XOR).u16(TPM_ALG_SHA256)
                   .u16(TPM_ALG_SHA256).bytes();
  auto [ra, rb] = both(start);
  ASSERT_EQ(ra, rb);
  Response r;
  r.body.assign(ra.begin() + 10, ra.end());
  const uint32_t handle = r.u32();
  const std::vector<uint8_t> nonce_tpm = r.tpm2b();
  ASSERT_EQ(nonce_tpm.size(), 32u);
  // Hash(data) with the data XOR-encrypted: mask = KDFa(SHA-256, "", "XOR", nonceCaller, nonceTPM).
  std::vector<uint8_t> data(1000), nonce(32, 0x22);
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(i);
  std::vector<uint8_t> enc = data;
  static constexpr uint8_t kXor[] = {'X', 'O', 'R'};
  ASSERT_EQ(crypto::kdfa_xor(crypto::HashAlg::sha256, {}, kXor, nonce, nonce_tpm, enc), crypto::Status::ok);
  std::vector<uint8_t> params = CommandBuilder(0, 0).tpm2b(enc).u16(TPM_ALG_SHA256).u32(TPM_RH_NULL).bytes();
  params.erase(params.begin(), params.begin() + 10);
  // cpHash = SHA-256(commandCode || parameters as sent); HMAC keyed by the empty session value.
  std::vector<uint8_t> cp_in = {0, 0, 0x01, 0x7D};
  cp_in.insert(cp_in.end(), params.begin(), params.end());
  uint8_t cp[32], mac[32];
  unsigned n = 0;
  EVP_Digest(cp_in.data(), cp_in.size(), cp, &n, EVP_sha256(), nullptr);
  const uint8_t attrs = 0x21;  // continueSession | decrypt
  std::vector<uint8_t> hmac_in(cp, cp + 32);
  hmac_in.insert(hmac_in.end(), nonce.begin(), nonce.end());
  hmac_in.insert(hmac_in.end(), nonce_tpm.begin(), nonce_tpm.end());
  hmac_in.push_back(attrs);
  HMAC(EVP_sha256(), "", 0, hmac_in.data(), hmac_in.size(), mac, &n);
  auto cmd = CommandBuilder(0x8002, TPM_CC_Hash)
                 .u32(9 + 32 + 32)
                 .u32(handle).tpm2b(nonce).u8(attrs).tpm2b(std::vector<uint8_t>(mac, mac + 32))
                 .raw(params)
                 .bytes();
  auto [a, b] = both(cmd);
  EXPECT_EQ(a, b);
  Response rsp;
  rsp.body.assign(a.begin() + 6, a.end());
  ASSERT_EQ(rsp.u32(), 0u) << "the TPM decrypted the parameter and checked the HMAC";
  rsp.u32();  // parameterSize
  uint8_t expect[32];
  EVP_Digest(data.data(), data.size(), expect, &n, EVP_sha256(), nullptr);
  EXPECT_EQ(rsp.tpm2b(), std::vector<uint8_t>(expect, expect + 32));
}


// Part 1 "Session nonces" / Part 3 TPM2_StartAuthSession: nonceCaller sets the size of every
// nonceTPM the session returns, whatever authHash is (libtpms agrees: tests/differential).
TEST(SessionNonces, NonceTpmHasTheSizeOfNonceCaller) {
  FakePlatform platform;
  Tpm tpm(platform);
  testing::start(tpm);
  for (const size_t size : {size_t{16}, size_t{20}, size_t{32}}) {
    const std::vector<uint8_t> nonce_caller(size, 0x33);
    Response r = run(tpm, CommandBuilder(0x8001, TPM_CC_StartAuthSession).u32(TPM_RH_NULL).u32(TPM_RH_NULL)
                              .tpm2b(nonce_caller).u16(0).u8(0).u16(TPM_ALG_NULL).u16(TPM_ALG_SHA256).bytes());
    ASSERT_EQ(r.rc, 0u);
    const uint32_t handle = r.u32();
    const std::vector<uint8_t> nonce_tpm = r.tpm2b();
    EXPECT_EQ(nonce_tpm.size(), size);
    // The session as an audit session on GetRandom: the response's new nonceTPM keeps the size.
    // Unbound, unsalted, no authorized entity: the HMAC key is empty.
    const std::vector<uint8_t> params = {0x00, 0x08};
    std::vector<uint8_t> cp_in = {0, 0, 0x01, 0x7B};
    cp_in.insert(cp_in.end(), params.begin(), params.end());
    uint8_t cp[32], mac[32];
    unsigned n = 0;
    EVP_Digest(cp_in.data(), cp_in.size(), cp, &n, EVP_sha256(), nullptr);
    const std::vector<uint8_t> nonce2(size, 0x44);
    const uint8_t attrs = 0x81;  // continueSession | audit
    std::vector<uint8_t> hmac_in(cp, cp + 32);
    hmac_in.insert(hmac_in.end(), nonce2.begin(), nonce2.end());
    hmac_in.insert(hmac_in.end(), nonce_tpm.begin(), nonce_tpm.end());
    hmac_in.push_back(attrs);
    HMAC(EVP_sha256(), "", 0, hmac_in.data(), hmac_in.size(), mac, &n);
    r = run(tpm, CommandBuilder(0x8002, TPM_CC_GetRandom)
                     .u32(uint32_t(9 + size + 32)).u32(handle).tpm2b(nonce2).u8(attrs)
                     .tpm2b(std::vector<uint8_t>(mac, mac + 32)).raw(params).bytes());
    ASSERT_EQ(r.rc, 0u);
    r.u32();                               // parameterSize
    EXPECT_EQ(r.tpm2b().size(), 8u);       // randomBytes
    EXPECT_EQ(r.tpm2b().size(), size);     // the new nonceTPM
    ASSERT_EQ(run(tpm, CommandBuilder(0x8001, TPM_CC_FlushContext).u32(handle).bytes()).rc, 0u);
  }
}

}  // namespace
}  // namespace utpm::tpm
