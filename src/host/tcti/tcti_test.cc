// Tests for the utpm TCTI against a pty served by utpm_tcti_pty_responder (our link decoder on
// the master side, canned responses in small delayed chunks). The module is driven both as
// tpm2-tss loads it (tctildr + SAPI) and directly through its function table.
#include "host/tcti/tcti_utpm.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <termios.h>
#include <tss2/tss2_sys.h>
#include <tss2/tss2_tctildr.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "host/tcti/tcti_config.h"

// tpm2-tss dispatch macros (Tss2_Tcti_Transmit, ...) are C casts.
#pragma GCC diagnostic ignored "-Wold-style-cast"

namespace utpm::tcti {
namespace {

using Bytes = std::vector<uint8_t>;

// ---- config parsing ----

TEST(TctiConfig, DefaultsAndForms) {
  Config c;
  const char* err = nullptr;
  ASSERT_TRUE(parse_config(nullptr, c, &err));
  EXPECT_STREQ(c.device, "/dev/ttyACM0");
  EXPECT_EQ(c.baud, 115200u);
  EXPECT_EQ(c.framing, link::Framing::kMssim);
  ASSERT_TRUE(parse_config("", c, &err));
  EXPECT_STREQ(c.device, "/dev/ttyACM0");
  ASSERT_TRUE(parse_config("/dev/ttyUSB3", c, &err));
  EXPECT_STREQ(c.device, "/dev/ttyUSB3");
  ASSERT_TRUE(parse_config("device=/dev/utpm0,baud=921600,framing=raw", c, &err));
  EXPECT_STREQ(c.device, "/dev/utpm0");
  EXPECT_EQ(c.baud, 921600u);
  EXPECT_EQ(c.framing, link::Framing::kRaw);
  ASSERT_TRUE(parse_config("baud=9600", c, &err));
  EXPECT_STREQ(c.device, "/dev/ttyACM0");
  EXPECT_EQ(c.baud, 9600u);
}

TEST(TctiConfig, RejectsBadInput) {
  Config c;
  const char* err = nullptr;
  for (const char* bad : {"baud=12345", "baud=fast", "baud=", "framing=legacy", "speed=9600",
                          "device=", "device=/dev/x,", "device=/dev/x,,baud=9600", "=x"}) {
    EXPECT_FALSE(parse_config(bad, c, &err)) << bad;
    EXPECT_NE(err, nullptr) << bad;
  }
  const std::string too_long = "device=/" + std::string(300, 'a');
  EXPECT_FALSE(parse_config(too_long.c_str(), c, &err));
}

// ---- a responder process on a pty ----

class Responder {
 public:
  Responder(int chunk, int delay_ms, const std::string& forward_unix = "") {
    char tmpl[] = "/tmp/utpm-tcti-test-XXXXXX";
    dir_ = mkdtemp(tmpl);
    log_ = dir_ + "/responder.log";
    int out[2];
    if (pipe(out) != 0) return;
    pid_ = fork();
    if (pid_ == 0) {
      dup2(out[1], STDOUT_FILENO);
      close(out[0]);
      close(out[1]);
      const std::string c = std::to_string(chunk), d = std::to_string(delay_ms);
      if (forward_unix.empty()) {
        execl(UTPM_TCTI_RESPONDER, UTPM_TCTI_RESPONDER, "--chunk", c.c_str(), "--delay-ms",
              d.c_str(), "--log", log_.c_str(), static_cast<char*>(nullptr));
      } else {
        execl(UTPM_TCTI_RESPONDER, UTPM_TCTI_RESPONDER, "--chunk", c.c_str(), "--delay-ms",
              d.c_str(), "--log", log_.c_str(), "--forward-unix", forward_unix.c_str(),
              static_cast<char*>(nullptr));
      }
      _exit(127);
    }
    close(out[1]);
    char line[256] = {};
    size_t n = 0;
    pollfd pfd{out[0], POLLIN, 0};
    while (n + 1 < sizeof(line) && poll(&pfd, 1, 5000) > 0) {
      if (read(out[0], line + n, 1) != 1) break;
      if (line[n] == '\n') break;
      ++n;
    }
    line[n] = '\0';
    close(out[0]);
    path_ = line;
  }
  ~Responder() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      waitpid(pid_, nullptr, 0);
    }
    std::remove(log_.c_str());
    rmdir(dir_.c_str());
  }
  const std::string& path() const { return path_; }
  std::string conf(const std::string& extra = "") const {
    return "device=" + path_ + ",baud=115200" + extra;
  }
  // The responder's log lines, waiting briefly for `expect` lines to appear.
  std::vector<std::string> log(size_t expect = 0) const {
    std::vector<std::string> lines;
    for (int tries = 0; tries < 100; ++tries) {
      lines.clear();
      std::ifstream in(log_);
      for (std::string l; std::getline(in, l);) lines.push_back(l);
      if (lines.size() >= expect) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return lines;
  }

 private:
  pid_t pid_ = -1;
  std::string dir_, log_, path_;
};

Bytes get_random(uint16_t n) {
  return {0x80, 0x01, 0, 0, 0, 0x0c, 0, 0, 0x01, 0x7b, static_cast<uint8_t>(n >> 8),
          static_cast<uint8_t>(n)};
}
Bytes expected_random_response(uint16_t n, uint8_t locality) {
  const uint32_t size = 12u + n;
  Bytes r = {0x80, 0x01, 0, 0, static_cast<uint8_t>(size >> 8), static_cast<uint8_t>(size),
             0, 0, 0, 0, static_cast<uint8_t>(n >> 8), static_cast<uint8_t>(n)};
  for (uint16_t i = 0; i < n; ++i) r.push_back(static_cast<uint8_t>(i + locality));
  return r;
}

// The TCTI linked into this test, allocated the way tctildr does it.
class Tcti {
 public:
  explicit Tcti(const std::string& conf) {
    size_t size = 0;
    rc_ = info()->init(nullptr, &size, conf.c_str());
    if (rc_ != TSS2_RC_SUCCESS) return;
    ctx_ = static_cast<TSS2_TCTI_CONTEXT*>(calloc(1, size));
    rc_ = info()->init(ctx_, &size, conf.c_str());
    if (rc_ != TSS2_RC_SUCCESS) {
      free(ctx_);
      ctx_ = nullptr;
    }
  }
  ~Tcti() {
    if (ctx_ != nullptr) {
      Tss2_Tcti_Finalize(ctx_);
      free(ctx_);
    }
  }
  TSS2_RC rc() const { return rc_; }
  TSS2_TCTI_CONTEXT* get() const { return ctx_; }
  void finalize() {
    Tss2_Tcti_Finalize(ctx_);
    free(ctx_);
    ctx_ = nullptr;
  }

 private:
  TSS2_RC rc_ = TSS2_TCTI_RC_GENERAL_FAILURE;
  TSS2_TCTI_CONTEXT* ctx_ = nullptr;
};

TSS2_RC transmit(TSS2_TCTI_CONTEXT* t, const Bytes& cmd) {
  return Tss2_Tcti_Transmit(t, cmd.size(), cmd.data());
}
TSS2_RC receive(TSS2_TCTI_CONTEXT* t, Bytes& out, int32_t timeout) {
  size_t size = 0;
  TSS2_RC rc = Tss2_Tcti_Receive(t, &size, nullptr, timeout);
  if (rc != TSS2_RC_SUCCESS) return rc;
  out.assign(size, 0);
  rc = Tss2_Tcti_Receive(t, &size, out.data(), timeout);
  out.resize(size);
  return rc;
}

// SAPI GetRandom over a TCTI context; returns the random bytes (empty on failure).
Bytes sapi_get_random(TSS2_TCTI_CONTEXT* tcti, uint16_t n) {
  TSS2_ABI_VERSION abi = TSS2_ABI_VERSION_CURRENT;
  const size_t size = Tss2_Sys_GetContextSize(0);
  auto* sys = static_cast<TSS2_SYS_CONTEXT*>(calloc(1, size));
  Bytes out;
  if (Tss2_Sys_Initialize(sys, size, tcti, &abi) == TSS2_RC_SUCCESS) {
    TPM2B_DIGEST random = {};
    const TSS2_RC rc = Tss2_Sys_GetRandom(sys, nullptr, n, &random, nullptr);
    EXPECT_EQ(rc, TSS2_RC_SUCCESS) << std::hex << rc;
    if (rc == TSS2_RC_SUCCESS) out.assign(random.buffer, random.buffer + random.size);
    Tss2_Sys_Finalize(sys);
  }
  free(sys);
  return out;
}

Bytes pattern(uint16_t n, uint8_t locality) {
  Bytes b;
  for (uint16_t i = 0; i < n; ++i) b.push_back(static_cast<uint8_t>(i + locality));
  return b;
}

// ---- init ----

TEST(TctiInit, SizeQueryAndErrors) {
  ASSERT_NE(info(), nullptr);
  EXPECT_EQ(info()->version, 2u);
  EXPECT_STREQ(info()->name, "utpm");
  size_t size = 0;
  EXPECT_EQ(info()->init(nullptr, &size, nullptr), TSS2_RC_SUCCESS);
  EXPECT_GE(size, sizeof(TSS2_TCTI_CONTEXT_COMMON_V2));
  EXPECT_EQ(info()->init(nullptr, nullptr, nullptr), TSS2_TCTI_RC_BAD_REFERENCE);
  EXPECT_EQ(info()->init(nullptr, &size, "framing=morse"), TSS2_TCTI_RC_BAD_VALUE);
  EXPECT_EQ(Tcti("device=/nonexistent/tty").rc(), TSS2_TCTI_RC_IO_ERROR);
  EXPECT_EQ(Tcti("/dev/null").rc(), TSS2_TCTI_RC_IO_ERROR);  // not a tty
}

TEST(TctiInit, MakesTheTtyRawAndHoldsItExclusively) {
  Responder r(64, 0);
  ASSERT_FALSE(r.path().empty());
  Tcti t(r.conf());
  ASSERT_EQ(t.rc(), TSS2_RC_SUCCESS);
  const int fd = open(r.path().c_str(), O_RDWR | O_NOCTTY);
  ASSERT_GE(fd, 0);
  termios tio{};
  ASSERT_EQ(tcgetattr(fd, &tio), 0);
  close(fd);
  EXPECT_EQ(tio.c_lflag & (ICANON | ECHO | ISIG | IEXTEN), 0u);
  EXPECT_EQ(tio.c_iflag & (ICRNL | IXON | IXOFF | ISTRIP), 0u);
  EXPECT_EQ(tio.c_oflag & OPOST, 0u);
  EXPECT_EQ(tio.c_cflag & CSIZE, tcflag_t{CS8});
  EXPECT_NE(tio.c_cflag & CLOCAL, 0u);
  EXPECT_NE(tio.c_cflag & CREAD, 0u);
  EXPECT_EQ(tio.c_cc[VMIN], 1);
  EXPECT_EQ(tio.c_cc[VTIME], 0);
  // A second client on the same line would interleave frames: refused while the first lives.
  EXPECT_EQ(Tcti(r.conf()).rc(), TSS2_TCTI_RC_IO_ERROR);
}

// ---- through tpm2-tss, as the tools use it ----

TEST(TctiPty, SapiGetRandomReassemblesByteByByteResponses) {
  Responder r(1, 1);  // one byte at a time, 1 ms apart: a slow UART
  ASSERT_FALSE(r.path().empty());
  TSS2_TCTI_CONTEXT* tcti = nullptr;
  // tctildr's first lookup is the name as given, so the module's path works without installing.
  ASSERT_EQ(Tss2_TctiLdr_Initialize_Ex(UTPM_TCTI_MODULE, r.conf().c_str(), &tcti),
            TSS2_RC_SUCCESS);
  for (uint16_t n : std::initializer_list<uint16_t>{8, 32, 64}) EXPECT_EQ(sapi_get_random(tcti, n), pattern(n, 0)) << n;
  Tss2_TctiLdr_Finalize(&tcti);
  const auto log = r.log(4);
  ASSERT_EQ(log.size(), 4u);
  EXPECT_EQ(log[0], "command mssim loc=0 cc=0x17b size=12");
  EXPECT_EQ(log[3], "signal session_end");
}

TEST(TctiByName, ToolsFindTheModuleAsUtpm) {
  if (getenv("UTPM_TCTI_BY_NAME") == nullptr) {
    GTEST_SKIP() << "runs as ctest utpm_tcti_by_name, with LD_LIBRARY_PATH=" UTPM_TCTI_MODULE_DIR;
  }
  Responder r(7, 1);
  ASSERT_FALSE(r.path().empty());
  TSS2_TCTI_CONTEXT* tcti = nullptr;
  const std::string name_conf = "utpm:" + r.path();
  ASSERT_EQ(Tss2_TctiLdr_Initialize(name_conf.c_str(), &tcti), TSS2_RC_SUCCESS);
  EXPECT_EQ(sapi_get_random(tcti, 16), pattern(16, 0));
  Tss2_TctiLdr_Finalize(&tcti);
}

// ---- the TCTI contract, driven directly ----

TEST(TctiPty, LocalityTravelsInTheMssimFrame) {
  Responder r(5, 0);
  Tcti t(r.conf(",framing=mssim"));
  ASSERT_EQ(t.rc(), TSS2_RC_SUCCESS);
  for (uint8_t loc : std::initializer_list<uint8_t>{3, 0, 4}) {
    ASSERT_EQ(Tss2_Tcti_SetLocality(t.get(), loc), TSS2_RC_SUCCESS);
    ASSERT_EQ(transmit(t.get(), get_random(20)), TSS2_RC_SUCCESS);
    Bytes rsp;
    ASSERT_EQ(receive(t.get(), rsp, -1), TSS2_RC_SUCCESS);
    EXPECT_EQ(rsp, expected_random_response(20, loc));
  }
  const auto log = r.log(3);
  ASSERT_GE(log.size(), 3u);
  EXPECT_EQ(log[0], "command mssim loc=3 cc=0x17b size=12");
  EXPECT_EQ(log[1], "command mssim loc=0 cc=0x17b size=12");
  EXPECT_EQ(log[2], "command mssim loc=4 cc=0x17b size=12");
}

TEST(TctiPty, TimeoutGivesTryAgainAndKeepsWhatArrived) {
  Responder r(4, 40);  // 52 bytes in 13 pieces, ~0.5 s in all
  Tcti t(r.conf());
  ASSERT_EQ(t.rc(), TSS2_RC_SUCCESS);
  ASSERT_EQ(transmit(t.get(), get_random(32)), TSS2_RC_SUCCESS);
  size_t size = 0;
  EXPECT_EQ(Tss2_Tcti_Receive(t.get(), &size, nullptr, 0), TSS2_TCTI_RC_TRY_AGAIN);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(Tss2_Tcti_Receive(t.get(), &size, nullptr, 100), TSS2_TCTI_RC_TRY_AGAIN);
  const auto waited = std::chrono::steady_clock::now() - start;
  EXPECT_GE(waited, std::chrono::milliseconds(95));
  EXPECT_LT(waited, std::chrono::milliseconds(400));
  // Still in RECEIVE: transmitting now is out of sequence.
  EXPECT_EQ(transmit(t.get(), get_random(8)), TSS2_TCTI_RC_BAD_SEQUENCE);
  Bytes rsp;
  ASSERT_EQ(receive(t.get(), rsp, -1), TSS2_RC_SUCCESS);
  EXPECT_EQ(rsp, expected_random_response(32, 0));
  // And the stream is in step for the next command.
  ASSERT_EQ(transmit(t.get(), get_random(8)), TSS2_RC_SUCCESS);
  ASSERT_EQ(receive(t.get(), rsp, 5000), TSS2_RC_SUCCESS);
  EXPECT_EQ(rsp, expected_random_response(8, 0));
}

TEST(TctiPty, CancelSendsCancelOnThenOffAfterTheResponse) {
  Responder r(4, 20);
  Tcti t(r.conf());
  ASSERT_EQ(t.rc(), TSS2_RC_SUCCESS);
  EXPECT_EQ(Tss2_Tcti_Cancel(t.get()), TSS2_TCTI_RC_BAD_SEQUENCE);  // nothing to cancel
  ASSERT_EQ(transmit(t.get(), get_random(16)), TSS2_RC_SUCCESS);
  ASSERT_EQ(Tss2_Tcti_Cancel(t.get()), TSS2_RC_SUCCESS);
  Bytes rsp;
  ASSERT_EQ(receive(t.get(), rsp, -1), TSS2_RC_SUCCESS);
  EXPECT_EQ(rsp, expected_random_response(16, 0));
  const auto log = r.log(3);
  ASSERT_EQ(log.size(), 3u);
  EXPECT_EQ(log[0], "command mssim loc=0 cc=0x17b size=12");
  EXPECT_EQ(log[1], "signal cancel_on");
  EXPECT_EQ(log[2], "signal cancel_off");
}

TEST(TctiPty, RawFramingHasNoLocalityOrCancel) {
  Responder r(3, 1);
  Tcti t(r.conf(",framing=raw"));
  ASSERT_EQ(t.rc(), TSS2_RC_SUCCESS);
  EXPECT_EQ(Tss2_Tcti_SetLocality(t.get(), 2), TSS2_TCTI_RC_NOT_IMPLEMENTED);
  EXPECT_EQ(Tss2_Tcti_SetLocality(t.get(), 0), TSS2_RC_SUCCESS);
  ASSERT_EQ(transmit(t.get(), get_random(24)), TSS2_RC_SUCCESS);
  EXPECT_EQ(Tss2_Tcti_Cancel(t.get()), TSS2_TCTI_RC_NOT_IMPLEMENTED);
  Bytes rsp;
  ASSERT_EQ(receive(t.get(), rsp, -1), TSS2_RC_SUCCESS);
  EXPECT_EQ(rsp, expected_random_response(24, 0));
  t.finalize();
  const auto log = r.log(1);
  ASSERT_EQ(log.size(), 1u);  // no session_end in raw framing
  EXPECT_EQ(log[0], "command raw loc=0 cc=0x17b size=12");
}

TEST(TctiPty, StateMachineAndBufferContract) {
  Responder r(16, 0);
  Tcti t(r.conf());
  ASSERT_EQ(t.rc(), TSS2_RC_SUCCESS);
  size_t size = 0;
  EXPECT_EQ(Tss2_Tcti_Receive(t.get(), &size, nullptr, 0), TSS2_TCTI_RC_BAD_SEQUENCE);
  Bytes wrong = get_random(8);
  wrong[5] = 0x0d;  // header says 13, 12 given
  EXPECT_EQ(transmit(t.get(), wrong), TSS2_TCTI_RC_BAD_VALUE);
  // An unknown command: a bare 10-byte error response.
  const Bytes unknown = {0x80, 0x01, 0, 0, 0, 0x0a, 0x20, 0, 0, 0};
  ASSERT_EQ(transmit(t.get(), unknown), TSS2_RC_SUCCESS);
  EXPECT_EQ(Tss2_Tcti_SetLocality(t.get(), 1), TSS2_TCTI_RC_BAD_SEQUENCE);
  ASSERT_EQ(Tss2_Tcti_Receive(t.get(), &size, nullptr, -1), TSS2_RC_SUCCESS);
  EXPECT_EQ(size, 10u);
  uint8_t small[4];
  size = sizeof(small);
  EXPECT_EQ(Tss2_Tcti_Receive(t.get(), &size, small, -1), TSS2_TCTI_RC_INSUFFICIENT_BUFFER);
  EXPECT_EQ(size, 10u);
  Bytes rsp(10);
  ASSERT_EQ(Tss2_Tcti_Receive(t.get(), &size, rsp.data(), -1), TSS2_RC_SUCCESS);
  EXPECT_EQ(rsp, (Bytes{0x80, 0x01, 0, 0, 0, 0x0a, 0, 0, 0x01, 0x43}));
  EXPECT_EQ(Tss2_Tcti_Receive(t.get(), &size, rsp.data(), -1), TSS2_TCTI_RC_BAD_SEQUENCE);
}

TEST(TctiPty, MalformedResponseIsReportedAndTheNextCommandWorks) {
  Responder r(5, 1);
  Tcti t(r.conf());
  ASSERT_EQ(t.rc(), TSS2_RC_SUCCESS);
  ASSERT_EQ(transmit(t.get(), get_random(0x0BAD)), TSS2_RC_SUCCESS);
  Bytes rsp;
  EXPECT_EQ(receive(t.get(), rsp, 5000), TSS2_TCTI_RC_MALFORMED_RESPONSE);
  ASSERT_EQ(transmit(t.get(), get_random(16)), TSS2_RC_SUCCESS);
  ASSERT_EQ(receive(t.get(), rsp, 5000), TSS2_RC_SUCCESS);
  EXPECT_EQ(rsp, expected_random_response(16, 0));
}

TEST(TctiPty, StrayBytesAfterAResponseDoNotDesynchroniseTheNext) {
  // tcti-device's failure mode (transport.md §1.3 C): leftovers become the next "response".
  Responder r(64, 0);
  Tcti t(r.conf());
  ASSERT_EQ(t.rc(), TSS2_RC_SUCCESS);
  Bytes rsp;
  ASSERT_EQ(transmit(t.get(), get_random(0x7A7A)), TSS2_RC_SUCCESS);
  ASSERT_EQ(receive(t.get(), rsp, 5000), TSS2_RC_SUCCESS);
  EXPECT_EQ(rsp, expected_random_response(8, 0));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // the junk is queued by now
  for (uint16_t n : std::initializer_list<uint16_t>{16, 32}) {
    ASSERT_EQ(transmit(t.get(), get_random(n)), TSS2_RC_SUCCESS);
    ASSERT_EQ(receive(t.get(), rsp, 5000), TSS2_RC_SUCCESS);
    EXPECT_EQ(rsp, expected_random_response(n, 0));
  }
}

TEST(TctiPty, DeviceGoneIsAnErrorNotAHang) {
  auto r = std::make_unique<Responder>(64, 0);
  Tcti t(r->conf());
  ASSERT_EQ(t.rc(), TSS2_RC_SUCCESS);
  r.reset();  // the device disappears (master side closed)
  const auto start = std::chrono::steady_clock::now();
  TSS2_RC rc = transmit(t.get(), get_random(8));
  if (rc == TSS2_RC_SUCCESS) {
    Bytes rsp;
    rc = receive(t.get(), rsp, 2000);
  }
  EXPECT_NE(rc, TSS2_RC_SUCCESS);
  EXPECT_NE(rc, TSS2_TCTI_RC_TRY_AGAIN) << "a hang-up must be reported, not waited out";
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(1500));
}

TEST(TctiPty, PollHandleIsTheTty) {
  Responder r(64, 0);
  Tcti t(r.conf());
  ASSERT_EQ(t.rc(), TSS2_RC_SUCCESS);
  size_t n = 0;
  ASSERT_EQ(Tss2_Tcti_GetPollHandles(t.get(), nullptr, &n), TSS2_RC_SUCCESS);
  ASSERT_EQ(n, 1u);
  TSS2_TCTI_POLL_HANDLE h{};
  ASSERT_EQ(Tss2_Tcti_GetPollHandles(t.get(), &h, &n), TSS2_RC_SUCCESS);
  EXPECT_GE(h.fd, 0);
  EXPECT_EQ(h.events, POLLIN);
  // The handle becomes readable when the response arrives, so async callers can wait on it.
  ASSERT_EQ(transmit(t.get(), get_random(4)), TSS2_RC_SUCCESS);
  pollfd pfd{h.fd, POLLIN, 0};
  EXPECT_EQ(poll(&pfd, 1, 5000), 1);
  Bytes rsp;
  ASSERT_EQ(receive(t.get(), rsp, 1000), TSS2_RC_SUCCESS);
  EXPECT_EQ(rsp, expected_random_response(4, 0));
}

// ---- real tpm2-tools through the module, a real TPM (swtpm) behind the pty ----

bool on_path(const char* tool) {
  const std::string cmd = std::string("command -v ") + tool + " >/dev/null 2>&1";
  return std::system(cmd.c_str()) == 0;
}

class Swtpm {
 public:
  Swtpm() {
    char tmpl[] = "/tmp/utpm-swtpm-XXXXXX";
    dir_ = mkdtemp(tmpl);
    data_ = dir_ + "/data.sock";
    pid_ = fork();
    if (pid_ == 0) {
      const std::string state = "dir=" + dir_;
      const std::string server = "type=unixio,path=" + data_;
      const std::string ctrl = "type=unixio,path=" + dir_ + "/ctrl.sock";
      execlp("swtpm", "swtpm", "socket", "--tpm2", "--tpmstate", state.c_str(), "--server",
             server.c_str(), "--ctrl", ctrl.c_str(), "--flags", "not-need-init",
             static_cast<char*>(nullptr));
      _exit(127);
    }
    for (int i = 0; i < 250 && access(data_.c_str(), F_OK) != 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  ~Swtpm() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      waitpid(pid_, nullptr, 0);
    }
    std::system(("rm -rf '" + dir_ + "'").c_str());
  }
  bool ready() const { return access(data_.c_str(), F_OK) == 0; }
  const std::string& data_socket() const { return data_; }
  const std::string& dir() const { return dir_; }

 private:
  pid_t pid_ = -1;
  std::string dir_, data_;
};

struct ToolRun {
  int status;
  std::string output;
};

ToolRun run_tool(const std::string& pty, const std::string& args, const std::string& extra = "") {
  // By name, as a user would: -T utpm:... with the module on the library path.
  const std::string cmd = "LD_LIBRARY_PATH=" UTPM_TCTI_MODULE_DIR " " + args + " -T 'utpm:device=" +
                          pty + ",baud=115200" + extra + "' 2>&1";
  ToolRun r{-1, {}};
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return r;
  char buf[512];
  for (size_t n; (n = fread(buf, 1, sizeof(buf), p)) > 0;) r.output.append(buf, n);
  r.status = pclose(p);
  return r;
}

TEST(TctiTools, Tpm2ToolsWorkThroughTheModuleOverAChunkedPty) {
  if (!on_path("swtpm") || !on_path("tpm2_getrandom")) GTEST_SKIP() << "swtpm/tpm2-tools missing";
  Swtpm tpm;
  ASSERT_TRUE(tpm.ready());
  Responder r(16, 1, tpm.data_socket());  // 16-byte pieces, 1 ms apart: a USB-CDC-like trickle
  ASSERT_FALSE(r.path().empty());

  ToolRun run = run_tool(r.path(), "tpm2_startup -c");
  ASSERT_EQ(run.status, 0) << run.output;
  run = run_tool(r.path(), "tpm2_getrandom --hex 32");
  ASSERT_EQ(run.status, 0) << run.output;
  EXPECT_EQ(run.output.size(), 64u) << run.output;
  run = run_tool(r.path(), "tpm2_pcrextend 16:sha256=" + std::string(64, 'a'));
  ASSERT_EQ(run.status, 0) << run.output;
  run = run_tool(r.path(), "tpm2_pcrread sha256:16");
  ASSERT_EQ(run.status, 0) << run.output;
  // PCR 16 starts at zero: expect SHA-256(32 zero bytes || 32 bytes 0xaa) (python hashlib).
  EXPECT_NE(run.output.find("0x9EF814B42FA0BE12D197C44D3E8E03441A4B1118237658368BA1351090E556ED"),
            std::string::npos)
      << run.output;
  run = run_tool(r.path(), "tpm2_getcap properties-fixed");
  ASSERT_EQ(run.status, 0) << run.output;
  EXPECT_NE(run.output.find("TPM2_PT_MAX_COMMAND_SIZE"), std::string::npos);
  run = run_tool(r.path(), "tpm2_createprimary -C o -c " + tpm.dir() + "/primary.ctx");
  ASSERT_EQ(run.status, 0) << run.output;
  // Every tool run ended its session cleanly and the decoder never saw garbage or a reject.
  run = run_tool(r.path(), "tpm2_getrandom --hex 8", ",framing=raw");
  ASSERT_EQ(run.status, 0) << run.output;
  EXPECT_EQ(run.output.size(), 16u) << run.output;

  // tpm2-pytss (Debian's python3) takes the same "name:conf" string.
  const bool pytss = std::system("/usr/bin/python3 -c 'import tpm2_pytss' >/dev/null 2>&1") == 0;
  if (pytss) {
    const std::string py = "LD_LIBRARY_PATH=" UTPM_TCTI_MODULE_DIR
                           " /usr/bin/python3 -c 'from tpm2_pytss import ESAPI; "
                           "e = ESAPI(\"utpm:" + r.path() + "\"); "
                           "print(bytes(e.get_random(12)).hex()); e.close()' 2>&1";
    FILE* p = popen(py.c_str(), "r");
    ASSERT_NE(p, nullptr);
    char out[256] = {};
    const size_t n = fread(out, 1, sizeof(out) - 1, p);
    EXPECT_EQ(pclose(p), 0) << out;
    EXPECT_EQ(n, 25u) << out;  // 24 hex digits + newline
  }

  size_t commands = 0, sessions = 0, raw = 0;
  for (const auto& line : r.log()) {
    commands += line.rfind("command mssim loc=0 ", 0) == 0;
    sessions += line == "signal session_end";
    raw += line.rfind("command raw loc=0 ", 0) == 0;
    EXPECT_TRUE(line.rfind("command ", 0) == 0 || line == "signal session_end") << line;
  }
  EXPECT_GE(raw, 1u);
  EXPECT_EQ(sessions, pytss ? 7u : 6u);  // one per mssim tool run
  EXPECT_GE(commands, 12u);
}

// ---- the real engine: utpmd's pty ----

TEST(TctiUtpmd, Tpm2ToolsThroughTheModuleAgainstUtpmdsPty) {
#ifndef UTPM_UTPMD
  GTEST_SKIP() << "utpmd is not built";
#else
  if (!on_path("tpm2_getrandom")) GTEST_SKIP() << "tpm2-tools missing";
  char tmpl[] = "/tmp/utpm-tcti-utpmd-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  const std::string tty = dir + "/tty";
  const pid_t pid = fork();
  if (pid == 0) {
    const int devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, STDOUT_FILENO);
    dup2(devnull, STDERR_FILENO);
    execl(UTPM_UTPMD, UTPM_UTPMD, "--state", (dir + "/state").c_str(), "--pty", tty.c_str(),
          static_cast<char*>(nullptr));
    _exit(127);
  }
  ASSERT_GT(pid, 0);
  for (int i = 0; i < 250 && access(tty.c_str(), F_OK) != 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  // utpmd's pty runs the link decoder, so every framing works there; this test takes the raw
  // path through the module (tests/e2e ToolsOverUtpmTcti runs the default mssim framing).
  const std::string raw = ",framing=raw";
  ToolRun run = run_tool(tty, "tpm2_startup -c", raw);
  EXPECT_EQ(run.status, 0) << run.output;
  run = run_tool(tty, "tpm2_getrandom --hex 16", raw);
  EXPECT_EQ(run.status, 0) << run.output;
  EXPECT_EQ(run.output.size(), 32u) << run.output;
  run = run_tool(tty, "tpm2_pcrextend 16:sha256=" + std::string(64, 'a'), raw);
  EXPECT_EQ(run.status, 0) << run.output;
  run = run_tool(tty, "tpm2_pcrread sha256:16", raw);
  EXPECT_EQ(run.status, 0) << run.output;
  EXPECT_NE(run.output.find("0x9EF814B42FA0BE12D197C44D3E8E03441A4B1118237658368BA1351090E556ED"),
            std::string::npos)
      << run.output;
  kill(pid, SIGTERM);
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  std::system(("rm -rf '" + dir + "'").c_str());
#endif
}

}  // namespace
}  // namespace utpm::tcti
