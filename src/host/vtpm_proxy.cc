#include "host/vtpm_proxy.h"

#include <fcntl.h>
#include <linux/vtpm_proxy.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace utpm::host {

namespace {

uint32_t be32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

void append_header_response(std::vector<uint8_t>& out, uint32_t rc) {
  const uint8_t rsp[10] = {0x80, 0x01, 0, 0, 0, 10,
                           static_cast<uint8_t>(rc >> 24), static_cast<uint8_t>(rc >> 16),
                           static_cast<uint8_t>(rc >> 8), static_cast<uint8_t>(rc)};
  out.insert(out.end(), std::begin(rsp), std::end(rsp));
}

constexpr uint32_t kRcSuccess = 0;
constexpr uint32_t kRcLocality = 0x907;  // TPM_RC_LOCALITY (a warning: RC_WARN + 7)

}  // namespace

std::unique_ptr<VtpmChannel> VtpmChannel::create(const char* name, const std::string& vtpmx,
                                                 VtpmDevice& device, std::string& error) {
  const int ctl = ::open(vtpmx.c_str(), O_RDWR | O_CLOEXEC);
  if (ctl < 0) {
    const int e = errno;
    if (e == ENOENT) {
      error = vtpmx + " does not exist: the kernel's vtpm proxy is not loaded (modprobe "
              "tpm_vtpm_proxy, kernel option CONFIG_TCG_VTPM_PROXY; in a container, the host must "
              "load it and pass /dev/vtpmx in)";
    } else if (e == EACCES || e == EPERM) {
      error = "cannot open " + vtpmx + ": " + std::strerror(e) + " (--vtpm-proxy needs root)";
    } else {
      error = "cannot open " + vtpmx + ": " + std::strerror(e);
    }
    return nullptr;
  }
  vtpm_proxy_new_dev nd{};
  nd.flags = VTPM_PROXY_FLAG_TPM2;
  if (::ioctl(ctl, VTPM_PROXY_IOC_NEW_DEV, &nd) != 0) {
    error = std::string("VTPM_PROXY_IOC_NEW_DEV on ") + vtpmx + ": " + std::strerror(errno);
    ::close(ctl);
    return nullptr;
  }
  ::close(ctl);  // the device pair lives as long as the returned descriptor
  const int fd = static_cast<int>(nd.fd);
  ::fcntl(fd, F_SETFD, FD_CLOEXEC);
  device.tpm_num = nd.tpm_num;
  device.major = nd.major;
  device.minor = nd.minor;
  return from_fd(name, fd);
}

std::unique_ptr<VtpmChannel> VtpmChannel::from_fd(const char* name, int fd) {
  std::unique_ptr<VtpmChannel> ch(new VtpmChannel(name, nullptr));
  ch->peer_fd_ = fd;
  return ch;
}

// read_some() is the base's ::read(); the driver's read blocks until a command is pending, so
// the daemon only reads after poll() reported POLLIN (it never reads this channel while a
// command runs: the session does not read while busy). Writes are plain write()s, not send().
ssize_t VtpmChannel::write_some(std::span<const uint8_t> bytes) {
  return ::write(peer_fd_, bytes.data(), bytes.size());
}

VtpmProxySession::VtpmProxySession(EngineLink& engine, const char* channel,
                                   size_t max_command_size, ConnectionState& state)
    : engine_(engine),
      channel_(channel),
      max_command_size_(max_command_size),
      state_(state),
      response_(max_command_size) {}

Session::Verdict VtpmProxySession::on_bytes(std::span<const uint8_t> in, std::vector<uint8_t>& out,
                                            uint64_t /*now_ms*/) {
  pending_.insert(pending_.end(), in.begin(), in.end());
  while (pending_.size() >= 10) {
    const uint32_t size = be32(&pending_[2]);
    if (size < 10 || size > max_command_size_) {
      // Never from the driver (it checks sizes); answer so that its caller is not left waiting.
      discarded_ += pending_.size();
      pending_.clear();
      out.insert(out.end(), std::begin(kCommandSizeResponse), std::end(kCommandSizeResponse));
      break;
    }
    if (pending_.size() < size) break;
    const std::span<const uint8_t> cmd(pending_.data(), size);
    if (be32(&cmd[6]) == kVtpmSetLocality) {
      // The driver's locality change: header + the locality byte.
      if (size >= 11 && cmd[10] <= 4) {
        state_.locality = cmd[10];
        append_header_response(out, kRcSuccess);
      } else {
        append_header_response(out, kRcLocality);
      }
    } else {
      const size_t n = engine_.execute(channel_, state_.locality, cmd, response_);
      out.insert(out.end(), response_.begin(), response_.begin() + static_cast<std::ptrdiff_t>(n));
    }
    pending_.erase(pending_.begin(), pending_.begin() + size);
  }
  return Verdict::keep;
}

}  // namespace utpm::host
