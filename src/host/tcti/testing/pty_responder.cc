// A stand-in utpm device for TCTI tests: a pty whose master side runs the real link decoder and
// answers with canned TPM responses, written back in small chunks with delays to imitate a
// UART/CDC line. It plays the role the firmware (or utpmd's pty) plays in end-to-end tests; a
// test that can run the real thing should swap this out for it, nothing else changes.
//
// Usage: utpm_tcti_pty_responder [--chunk N] [--delay-ms D] [--log FILE] [--forward-unix PATH]
// Prints the slave path on stdout, then serves until killed.
//
// --forward-unix PATH: instead of canned responses, pass every command to a TPM behind a unix
// stream socket speaking the raw TPM stream (swtpm's data channel) and relay its response. That
// turns the pty into a complete TPM for tpm2-tools while the link code stays ours.
//
// Canned behaviour:
//   TPM2_GetRandom(n)   success; n bytes, byte i = (i + locality) & 0xff, so the locality the
//                       command arrived with is visible in the response. n <= 64. Because the
//                       bytes run through 0x00..0x40 they include every tty control character
//                       (0x03 ^C, 0x04 EOF, 0x0a LF, 0x0d CR, 0x11/0x13 XON/XOFF) that a cooked
//                       tty would eat.
//   TPM2_GetRandom(0x0BAD)  a response with a bad tag (0x8003), framed normally.
//   TPM2_GetRandom(0x7A7A)  8 bytes as above, then stray bytes ("AT\r\n", half a header) that
//                       belong to no response: what a desynchronised line looks like.
//   anything else       TPM_RC_COMMAND_CODE (0x143), 10 bytes.
// Every event is logged as one line: "command <framing> loc=<n> cc=<hex> size=<n>",
// "signal <name>", "reject <framing>".
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <poll.h>
#include <stdlib.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <thread>

#include "link/decoder.h"
#include "link/framing.h"

namespace {

using utpm::link::Event;
using utpm::link::EventKind;
using utpm::link::Framing;
using utpm::link::Signal;

size_t g_chunk = 1 << 20;
int g_delay_ms = 0;
FILE* g_log = nullptr;

const char* framing_name(Framing f) {
  switch (f) {
    case Framing::kRaw:
      return "raw";
    case Framing::kMssim:
      return "mssim";
    case Framing::kLegacy:
      return "legacy";
  }
  return "?";
}

const char* signal_name(Signal s) {
  switch (s) {
    case Signal::kNothing: return "nothing";
    case Signal::kShutdown: return "shutdown";
    case Signal::kReset: return "reset";
    case Signal::kSetClock: return "set_clock";
    case Signal::kCancelOn: return "cancel_on";
    case Signal::kCancelOff: return "cancel_off";
    case Signal::kResendResponse: return "resend_response";
    case Signal::kHandshake: return "handshake";
    case Signal::kSessionEnd: return "session_end";
  }
  return "?";
}

uint32_t now_ms() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint32_t>(ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

void log_line(const char* fmt, auto... args) {
  if (g_log == nullptr) return;
  std::fprintf(g_log, fmt, args...);
  std::fputc('\n', g_log);
  std::fflush(g_log);
}

void send_slowly(int fd, const uint8_t* p, size_t n) {
  while (n > 0) {
    const size_t piece = n < g_chunk ? n : g_chunk;
    size_t done = 0;
    while (done < piece) {
      const ssize_t w = write(fd, p + done, piece - done);
      if (w < 0) {
        if (errno == EINTR || errno == EAGAIN) continue;
        return;
      }
      done += static_cast<size_t>(w);
    }
    p += piece;
    n -= piece;
    if (n > 0 && g_delay_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(g_delay_ms));
  }
}

int g_backend = -1;

bool read_exact(int fd, uint8_t* p, size_t n) {
  while (n > 0) {
    const ssize_t r = read(fd, p, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    p += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

// One command to the backend in one write (swtpm frames by write), response read by its size.
size_t forward(const Event& ev, uint8_t* rsp, size_t cap) {
  if (write(g_backend, ev.data.data(), ev.data.size()) != static_cast<ssize_t>(ev.data.size()) ||
      !read_exact(g_backend, rsp, 10)) {
    return 0;
  }
  const uint32_t size = utpm::link::load_be32(rsp + 2);
  if (size < 10 || size > cap || !read_exact(g_backend, rsp + 10, size - 10)) return 0;
  return size;
}

size_t canned_response(const Event& ev, uint8_t* rsp) {
  const auto cmd = ev.data;
  const uint32_t cc = utpm::link::load_be32(cmd.data() + 6);
  if (cc == 0x17B && cmd.size() == 12) {
    uint16_t n = utpm::link::load_be16(cmd.data() + 10);
    if (n == 0x0BAD) {
      const uint8_t bad[12] = {0x80, 0x03, 0, 0, 0, 0x0c, 0, 0, 0, 0, 0, 0};
      std::memcpy(rsp, bad, sizeof(bad));
      return sizeof(bad);
    }
    if (n == 0x7A7A) n = 8;
    if (n > 64) n = 64;
    const uint32_t size = 12u + n;
    rsp[0] = 0x80;
    rsp[1] = 0x01;
    utpm::link::store_be32(rsp + 2, size);
    utpm::link::store_be32(rsp + 6, 0);
    rsp[10] = static_cast<uint8_t>(n >> 8);
    rsp[11] = static_cast<uint8_t>(n);
    for (uint16_t i = 0; i < n; ++i) rsp[12 + i] = static_cast<uint8_t>(i + ev.locality);
    return size;
  }
  const uint8_t error[10] = {0x80, 0x01, 0, 0, 0, 0x0a, 0, 0, 0x01, 0x43};
  std::memcpy(rsp, error, sizeof(error));
  return sizeof(error);
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--chunk") == 0) {
      g_chunk = std::strtoul(argv[i + 1], nullptr, 10);
      if (g_chunk == 0) g_chunk = 1;
    } else if (std::strcmp(argv[i], "--delay-ms") == 0) {
      g_delay_ms = std::atoi(argv[i + 1]);
    } else if (std::strcmp(argv[i], "--log") == 0) {
      g_log = std::fopen(argv[i + 1], "w");
    } else if (std::strcmp(argv[i], "--forward-unix") == 0) {
      sockaddr_un addr{};
      addr.sun_family = AF_UNIX;
      std::snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", argv[i + 1]);
      g_backend = socket(AF_UNIX, SOCK_STREAM, 0);
      if (connect(g_backend, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
        std::perror("connect backend");
        return 1;
      }
    } else {
      std::fprintf(stderr,
                   "usage: %s [--chunk N] [--delay-ms D] [--log FILE] [--forward-unix PATH]\n",
                   argv[0]);
      return 2;
    }
  }
  const int master = posix_openpt(O_RDWR | O_NOCTTY);
  if (master < 0 || grantpt(master) != 0 || unlockpt(master) != 0) {
    std::perror("pty");
    return 1;
  }
  const char* slave_path = ptsname(master);
  // Hold the slave open so the master never sees EIO between TCTI sessions. Its termios stay at
  // the kernel's cooked defaults on purpose: the TCTI must make the line raw itself.
  const int slave = open(slave_path, O_RDWR | O_NOCTTY);
  if (slave < 0) {
    std::perror("open slave");
    return 1;
  }
  std::printf("%s\n", slave_path);
  std::fflush(stdout);

  utpm::link::BufferedDecoder<4096> decoder;
  uint8_t in[1024];
  uint8_t rsp[4096];
  uint8_t out[4096 + 8];
  for (;;) {
    pollfd pfd{master, POLLIN, 0};
    if (poll(&pfd, 1, 100) <= 0) {
      decoder.expire(now_ms());
      continue;
    }
    const ssize_t got = read(master, in, sizeof(in));
    if (got <= 0) {
      if (got < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      continue;
    }
    std::span<const uint8_t> bytes(in, static_cast<size_t>(got));
    for (;;) {
      Event ev;
      bytes = bytes.subspan(decoder.push(bytes, now_ms(), ev));
      if (ev.kind == EventKind::kNone) break;
      size_t n = 0;
      if (ev.kind == EventKind::kCommand) {
        log_line("command %s loc=%u cc=0x%x size=%zu", framing_name(ev.framing),
                 unsigned{ev.locality}, utpm::link::load_be32(ev.data.data() + 6),
                 ev.data.size());
        const size_t len =
            g_backend >= 0 ? forward(ev, rsp, sizeof(rsp)) : canned_response(ev, rsp);
        if (len == 0) {
          log_line("backend failed");
          return 1;
        }
        n = utpm::link::encode_response(ev.framing, std::span<const uint8_t>(rsp, len), out);
      } else if (ev.kind == EventKind::kSignal) {
        log_line("signal %s", signal_name(ev.signal));
        n = utpm::link::encode_reply(ev, out);
      } else {
        log_line("reject %s", framing_name(ev.framing));
        n = utpm::link::encode_reply(ev, out);
      }
      send_slowly(master, out, n);
      if (ev.kind == EventKind::kCommand && ev.data.size() == 12 &&
          utpm::link::load_be16(ev.data.data() + 10) == 0x7A7A) {
        const uint8_t junk[] = {'A', 'T', '\r', '\n', 0x80, 0x01, 0x00};
        send_slowly(master, junk, sizeof(junk));
      }
    }
  }
}
