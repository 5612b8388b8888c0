#include "host/serial_bridge.h"

#include <fcntl.h>
#include <poll.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "link/framing.h"
#include "link/response_reader.h"
#include "tpm/profile.h"
#include "tpm/tpm.h"

namespace utpm::host {
namespace {

speed_t baud_constant(unsigned baud) {
  switch (baud) {
    case 9600: return B9600;
    case 19200: return B19200;
    case 38400: return B38400;
    case 57600: return B57600;
    case 115200: return B115200;
    case 230400: return B230400;
    case 460800: return B460800;
    case 921600: return B921600;
    default: return B0;
  }
}

// A well-formed answer for a command the board never answered: TPM_RC_FAILURE.
size_t failure_response(std::span<uint8_t> response) {
  static constexpr uint8_t kFailure[10] = {0x80, 0x01, 0, 0, 0, 10, 0, 0, 0x01, 0x01};
  std::memcpy(response.data(), kFailure, sizeof kFailure);
  return sizeof kFailure;
}

}  // namespace

SerialBridge::~SerialBridge() {
  if (fd_ >= 0) ::close(fd_);
}

bool SerialBridge::open(const std::string& device, unsigned baud, std::string& error) {
  const speed_t speed = baud_constant(baud);
  if (speed == B0) {
    error = "unsupported baud rate " + std::to_string(baud);
    return false;
  }
  fd_ = ::open(device.c_str(), O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (fd_ < 0) {
    error = "cannot open " + device + ": " + std::strerror(errno);
    return false;
  }
  termios t{};
  if (::tcgetattr(fd_, &t) != 0) {
    error = device + " is not a tty: " + std::strerror(errno);
    return false;
  }
  // Raw 8N1, no flow control, no echo, no line discipline: a TPM byte is just a byte.
  ::cfmakeraw(&t);
  t.c_cflag |= CLOCAL | CREAD;
  t.c_cflag &= ~(CRTSCTS | HUPCL | CSTOPB | PARENB);
  t.c_cc[VMIN] = 1;
  t.c_cc[VTIME] = 0;
  ::cfsetispeed(&t, speed);
  ::cfsetospeed(&t, speed);
  if (::tcsetattr(fd_, TCSANOW, &t) != 0) {
    error = "cannot configure " + device + ": " + std::strerror(errno);
    return false;
  }
  ::tcflush(fd_, TCIOFLUSH);
  return true;
}

bool SerialBridge::write_all(std::span<const uint8_t> bytes) {
  while (!bytes.empty()) {
    ssize_t n = ::write(fd_, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    bytes = bytes.subspan(static_cast<size_t>(n));
  }
  return true;
}

void SerialBridge::drain() {
  uint8_t junk[256];
  pollfd p{fd_, POLLIN, 0};
  while (::poll(&p, 1, 50) > 0 && ::read(fd_, junk, sizeof junk) > 0) {
  }
}

size_t SerialBridge::execute(const char* channel, uint8_t locality, std::span<const uint8_t> command,
                             std::span<uint8_t> response) {
  const auto start = std::chrono::steady_clock::now();
  uint8_t frame[profile::kMaxCommandSize + 16];
  size_t len = link::encode_command(link::Framing::kMssim, locality, command, frame);
  size_t out = 0;
  if (len == 0 || !write_all({frame, len})) {
    out = failure_response(response);
  } else {
    link::ResponseReader reader(response);
    reader.start(link::Framing::kMssim);
    const auto deadline = start + std::chrono::milliseconds(timeout_ms_);
    while (reader.status() == link::ResponseReader::Status::kMore) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      pollfd p{fd_, POLLIN, 0};
      if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
      uint8_t buf[512];
      const size_t want = reader.wanted() < sizeof buf ? reader.wanted() : sizeof buf;
      ssize_t n = ::read(fd_, buf, want);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      size_t used = 0;
      reader.push({buf, static_cast<size_t>(n)}, used);
    }
    if (reader.status() == link::ResponseReader::Status::kDone) {
      out = reader.response().size();
    } else {
      drain();  // a late or broken answer must not become the start of the next one
      out = failure_response(response);
    }
  }
  if (trace_) {
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - start);
    uint32_t cc = command.size() >= 10 ? link::load_be32(command.data() + 6) : 0;
    uint32_t rc = link::load_be32(response.data() + 6);
    char rc_name[48];
    const char* name = tpm::command_name(cc);
    std::fprintf(trace_, "utpmd: %s loc=%u %s cmd=%zu rsp=%zu %s %lldus (board)\n", channel, unsigned{locality},
                 name ? name : "?", command.size(), out, tpm::rc_to_string(rc, rc_name),
                 static_cast<long long>(us.count()));
  }
  return out;
}

void SerialBridge::signal(PlatformSignal s) {
  switch (s) {
    case PlatformSignal::cancel_on:
    case PlatformSignal::cancel_off: {
      uint8_t code[4];
      link::encode_mssim_code(s == PlatformSignal::cancel_on ? link::mssim::kCancelOn : link::mssim::kCancelOff, std::span<uint8_t, 4>(code));
      write_all(code);
      break;
    }
    case PlatformSignal::reset:
    case PlatformSignal::restart: {
      // Legacy 'Tpm2' signal frame, little endian: magic, signal 2 (Reset), dataSize 0.
      static constexpr uint8_t kReset[12] = {0x54, 0x70, 0x6d, 0x32, 2, 0, 0, 0, 0, 0, 0, 0};
      write_all(kReset);
      break;
    }
    default:
      break;  // a powered board: power, NV and physical-presence signals are acknowledged only
  }
}

}  // namespace utpm::host
