#include "host/tcti/tcti_utpm.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/file.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>

#include "host/tcti/tcti_config.h"
#include "link/framing.h"
#include "link/response_reader.h"

namespace utpm::tcti {
namespace {

// How long a write may wait for the tty to drain before the TCTI calls it an I/O error. Far
// above what 4 KB needs even at 9600 baud (~4.3 s).
constexpr int kWriteTimeoutMs = 15000;

enum class State : uint8_t { kTransmit, kReceive, kFinal };

// The context tctildr allocates (calloc of the size init reports). tpm2-tss reads the common
// V2 part; it must come first.
struct Context {
  TSS2_TCTI_CONTEXT_COMMON_V2 common = {};
  int fd = -1;
  link::Framing framing = link::Framing::kMssim;
  uint8_t locality = 0;
  State state = State::kTransmit;
  bool cancel_sent = false;
  bool debug = false;
  uint8_t response[kMaxMessage] = {};
  link::ResponseReader reader{response};
  uint8_t frame[kMaxMessage + link::mssim::kSendCommandPrefix] = {};
};

void log_error(const Context* c, const char* what) {
  // Silent unless asked: tools print their own error for the returned code.
  if (c != nullptr && c->debug) std::fprintf(stderr, "tcti-utpm: %s\n", what);
}

Context* context_of(TSS2_TCTI_CONTEXT* ctx, TSS2_RC& rc) {
  if (ctx == nullptr) {
    rc = TSS2_TCTI_RC_BAD_REFERENCE;
    return nullptr;
  }
  auto* common = reinterpret_cast<TSS2_TCTI_CONTEXT_COMMON_V2*>(ctx);
  if (common->v1.magic != kMagic || common->v1.version != kAbiVersion) {
    rc = TSS2_TCTI_RC_BAD_CONTEXT;
    return nullptr;
  }
  rc = TSS2_RC_SUCCESS;
  return reinterpret_cast<Context*>(ctx);
}

int64_t now_ms() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1000 + ts.tv_nsec / 1000000;
}

bool write_all(int fd, const uint8_t* p, size_t n) {
  const int64_t deadline = now_ms() + kWriteTimeoutMs;
  while (n > 0) {
    const ssize_t w = write(fd, p, n);
    if (w > 0) {
      p += w;
      n -= static_cast<size_t>(w);
      continue;
    }
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK) return false;
    const int64_t left = deadline - now_ms();
    if (left <= 0) return false;
    pollfd pfd{fd, POLLOUT, 0};
    if (poll(&pfd, 1, static_cast<int>(left)) < 0 && errno != EINTR) return false;
  }
  return true;
}

// Raw 8N1 without flow control: no byte of a TPM message may be interpreted, echoed, translated
// or swallowed by the line discipline (reference/transport.md §1.3 B lists what cooked mode does).
bool configure_tty(int fd, uint32_t baud) {
  termios t{};
  if (tcgetattr(fd, &t) != 0) return false;
  cfmakeraw(&t);
  t.c_cflag &= ~static_cast<tcflag_t>(CSTOPB | PARENB | CRTSCTS | HUPCL);
  // No HUPCL: closing must not drop DTR, so one tool run after another does not look like a
  // reconnect to the board.
  t.c_cflag |= CS8 | CLOCAL | CREAD;
  t.c_cc[VMIN] = 1;
  t.c_cc[VTIME] = 0;
  const speed_t speed = baud_to_speed(baud);
  if (cfsetispeed(&t, speed) != 0 || cfsetospeed(&t, speed) != 0) return false;
  if (tcsetattr(fd, TCSANOW, &t) != 0) return false;
  // Whatever is queued is from before us (another process, an echo, a board's boot noise).
  return tcflush(fd, TCIOFLUSH) == 0;
}

// After a malformed response the device may still be sending the rest of it. Discard input
// until the line has been quiet for a moment (bounded), so those bytes cannot become the start
// of the next response.
void drain_until_quiet(int fd) {
  constexpr int kQuietMs = 50;
  constexpr int64_t kMaxMs = 2000;
  const int64_t deadline = now_ms() + kMaxMs;
  uint8_t sink[256];
  while (now_ms() < deadline) {
    pollfd pfd{fd, POLLIN, 0};
    const int ready = poll(&pfd, 1, kQuietMs);
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0 || (pfd.revents & POLLIN) == 0) break;
    if (read(fd, sink, sizeof(sink)) <= 0 && errno != EAGAIN && errno != EINTR) break;
  }
  tcflush(fd, TCIFLUSH);
}

TSS2_RC send_code(Context* c, uint32_t code) {
  uint8_t bytes[4];
  link::encode_mssim_code(code, bytes);
  return write_all(c->fd, bytes, sizeof(bytes)) ? TSS2_RC_SUCCESS : TSS2_TCTI_RC_IO_ERROR;
}

TSS2_RC transmit(TSS2_TCTI_CONTEXT* ctx, size_t size, const uint8_t* command) {
  TSS2_RC rc;
  Context* c = context_of(ctx, rc);
  if (c == nullptr) return rc;
  if (command == nullptr) return TSS2_TCTI_RC_BAD_REFERENCE;
  if (c->state != State::kTransmit) return TSS2_TCTI_RC_BAD_SEQUENCE;
  if (size < link::kTpmHeaderSize || size > kMaxMessage ||
      link::load_be32(command + 2) != size) {
    log_error(c, "command size disagrees with its header");
    return TSS2_TCTI_RC_BAD_VALUE;
  }
  const size_t n = link::encode_command(c->framing, c->locality,
                                        std::span<const uint8_t>(command, size), c->frame);
  // Bytes queued now cannot be the answer to a command not yet sent: stale bytes of an
  // abandoned response would otherwise desynchronise this one.
  tcflush(c->fd, TCIFLUSH);
  if (!write_all(c->fd, c->frame, n)) {
    log_error(c, "write to the device failed");
    return TSS2_TCTI_RC_IO_ERROR;
  }
  c->reader.start(c->framing);
  c->cancel_sent = false;
  c->state = State::kReceive;
  return TSS2_RC_SUCCESS;
}

// Reads until the whole response is in, or the timeout passes (-1: forever, 0: don't wait).
TSS2_RC read_response(Context* c, int32_t timeout) {
  const int64_t deadline = timeout < 0 ? 0 : now_ms() + timeout;
  uint8_t chunk[512];
  while (c->reader.status() == link::ResponseReader::Status::kMore) {
    int wait = -1;
    if (timeout >= 0) {
      const int64_t left = deadline - now_ms();
      wait = left > 0 ? static_cast<int>(left) : 0;
    }
    pollfd pfd{c->fd, POLLIN, 0};
    const int ready = poll(&pfd, 1, wait);
    if (ready < 0) {
      if (errno == EINTR) continue;
      return TSS2_TCTI_RC_IO_ERROR;
    }
    if (ready == 0) return TSS2_TCTI_RC_TRY_AGAIN;
    if ((pfd.revents & POLLIN) == 0) {
      log_error(c, "device hung up");
      return TSS2_TCTI_RC_NO_CONNECTION;
    }
    // Never more than the response still owes: whatever follows is not ours to eat.
    size_t want = c->reader.wanted();
    if (want > sizeof(chunk)) want = sizeof(chunk);
    const ssize_t got = read(c->fd, chunk, want);
    if (got < 0) {
      if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) continue;
      return TSS2_TCTI_RC_IO_ERROR;
    }
    if (got == 0) {
      log_error(c, "end of file on the device");
      return TSS2_TCTI_RC_NO_CONNECTION;
    }
    size_t used = 0;
    c->reader.push(std::span<const uint8_t>(chunk, static_cast<size_t>(got)), used);
  }
  if (c->reader.status() == link::ResponseReader::Status::kMalformed) {
    log_error(c, "malformed response");
    return TSS2_TCTI_RC_MALFORMED_RESPONSE;
  }
  return TSS2_RC_SUCCESS;
}

TSS2_RC receive(TSS2_TCTI_CONTEXT* ctx, size_t* size, uint8_t* response, int32_t timeout) {
  TSS2_RC rc;
  Context* c = context_of(ctx, rc);
  if (c == nullptr) return rc;
  if (size == nullptr) return TSS2_TCTI_RC_BAD_REFERENCE;
  if (c->state != State::kReceive) return TSS2_TCTI_RC_BAD_SEQUENCE;
  if (timeout < TSS2_TCTI_TIMEOUT_BLOCK) return TSS2_TCTI_RC_BAD_VALUE;

  rc = read_response(c, timeout);
  if (rc == TSS2_TCTI_RC_TRY_AGAIN) return rc;  // stay in RECEIVE; bytes so far are kept
  if (rc != TSS2_RC_SUCCESS) {
    // The stream position is unknown now: forget it and let the next command start clean.
    if (rc == TSS2_TCTI_RC_MALFORMED_RESPONSE) drain_until_quiet(c->fd);
    tcflush(c->fd, TCIFLUSH);
    c->state = State::kTransmit;
    return rc;
  }
  const auto rsp = c->reader.response();
  if (response == nullptr) {
    *size = rsp.size();  // the size query; the response stays for the next call
    return TSS2_RC_SUCCESS;
  }
  if (*size < rsp.size()) {
    *size = rsp.size();
    return TSS2_TCTI_RC_INSUFFICIENT_BUFFER;
  }
  std::memcpy(response, rsp.data(), rsp.size());
  *size = rsp.size();
  if (c->cancel_sent) {
    c->cancel_sent = false;
    rc = send_code(c, link::mssim::kCancelOff);
  }
  c->state = State::kTransmit;
  return rc;
}

void finalize(TSS2_TCTI_CONTEXT* ctx) {
  TSS2_RC rc;
  Context* c = context_of(ctx, rc);
  if (c == nullptr) return;
  if (c->fd >= 0) {
    // Tell the device this client is done (it resets per-session state such as a stuck cancel).
    if (c->framing == link::Framing::kMssim) {
      if (c->cancel_sent) send_code(c, link::mssim::kCancelOff);
      send_code(c, link::mssim::kSessionEnd);
      tcdrain(c->fd);
    }
    close(c->fd);
    c->fd = -1;
  }
  c->state = State::kFinal;
  c->~Context();
  // tctildr frees the memory; a stale pointer must not pass context_of afterwards.
  std::memset(static_cast<void*>(ctx), 0, sizeof(TSS2_TCTI_CONTEXT_COMMON_V2));
}

TSS2_RC cancel(TSS2_TCTI_CONTEXT* ctx) {
  TSS2_RC rc;
  Context* c = context_of(ctx, rc);
  if (c == nullptr) return rc;
  if (c->state != State::kReceive) return TSS2_TCTI_RC_BAD_SEQUENCE;
  if (c->framing == link::Framing::kRaw) return TSS2_TCTI_RC_NOT_IMPLEMENTED;
  if (c->cancel_sent) return TSS2_RC_SUCCESS;
  rc = send_code(c, link::mssim::kCancelOn);
  if (rc == TSS2_RC_SUCCESS) c->cancel_sent = true;
  return rc;
}

TSS2_RC get_poll_handles(TSS2_TCTI_CONTEXT* ctx, TSS2_TCTI_POLL_HANDLE* handles, size_t* count) {
  TSS2_RC rc;
  Context* c = context_of(ctx, rc);
  if (c == nullptr) return rc;
  if (count == nullptr) return TSS2_TCTI_RC_BAD_REFERENCE;
  if (handles == nullptr) {
    *count = 1;
    return TSS2_RC_SUCCESS;
  }
  if (*count < 1) {
    *count = 1;
    return TSS2_TCTI_RC_INSUFFICIENT_BUFFER;
  }
  handles[0].fd = c->fd;
  handles[0].events = POLLIN;
  handles[0].revents = 0;
  *count = 1;
  return TSS2_RC_SUCCESS;
}

TSS2_RC set_locality(TSS2_TCTI_CONTEXT* ctx, uint8_t locality) {
  TSS2_RC rc;
  Context* c = context_of(ctx, rc);
  if (c == nullptr) return rc;
  if (c->state != State::kTransmit) return TSS2_TCTI_RC_BAD_SEQUENCE;
  // The raw TPM stream has no field for it; the device runs raw commands at locality 0.
  if (c->framing == link::Framing::kRaw && locality != 0) return TSS2_TCTI_RC_NOT_IMPLEMENTED;
  c->locality = locality;
  return TSS2_RC_SUCCESS;
}

TSS2_RC init(TSS2_TCTI_CONTEXT* ctx, size_t* size, const char* conf) {
  if (size == nullptr) return TSS2_TCTI_RC_BAD_REFERENCE;
  Config cfg;
  const char* error = nullptr;
  const bool debug = std::getenv("UTPM_TCTI_DEBUG") != nullptr;
  if (!parse_config(conf, cfg, &error)) {
    if (debug) std::fprintf(stderr, "tcti-utpm: config \"%s\": %s\n", conf, error);
    return TSS2_TCTI_RC_BAD_VALUE;
  }
  if (ctx == nullptr) {
    *size = sizeof(Context);
    return TSS2_RC_SUCCESS;
  }
  if (*size < sizeof(Context)) return TSS2_TCTI_RC_INSUFFICIENT_BUFFER;

  // O_NOCTTY: a daemon must never get the board as its controlling terminal (and SIGHUP on
  // unplug). O_NONBLOCK: every wait is a poll() with the caller's timeout.
  const int fd = open(cfg.device, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    if (debug) std::fprintf(stderr, "tcti-utpm: open %s: %s\n", cfg.device, strerror(errno));
    return TSS2_TCTI_RC_IO_ERROR;
  }
  // One client at a time: two processes interleaving frames on one line corrupt both.
  if (!isatty(fd) || flock(fd, LOCK_EX | LOCK_NB) != 0 || !configure_tty(fd, cfg.baud)) {
    if (debug) std::fprintf(stderr, "tcti-utpm: %s: not a usable tty or busy\n", cfg.device);
    close(fd);
    return TSS2_TCTI_RC_IO_ERROR;
  }

  auto* c = new (ctx) Context;
  c->common.v1.magic = kMagic;
  c->common.v1.version = kAbiVersion;
  c->common.v1.transmit = transmit;
  c->common.v1.receive = receive;
  c->common.v1.finalize = finalize;
  c->common.v1.cancel = cancel;
  c->common.v1.getPollHandles = get_poll_handles;
  c->common.v1.setLocality = set_locality;
  c->common.makeSticky = nullptr;  // NOT_IMPLEMENTED through the dispatch macro
  c->fd = fd;
  c->framing = cfg.framing;
  c->debug = debug;
  return TSS2_RC_SUCCESS;
}

constexpr TSS2_TCTI_INFO kInfo = {
    kAbiVersion,
    "utpm",
    "TCTI for a utpm device on a serial line (raw 8N1, mssim or raw TPM framing)",
    "[device=]/dev/ttyACM0 | device=PATH,baud=115200,framing=mssim|raw "
    "(default /dev/ttyACM0, 115200, mssim)",
    init,
};

}  // namespace

const TSS2_TCTI_INFO* info() { return &kInfo; }

}  // namespace utpm::tcti
