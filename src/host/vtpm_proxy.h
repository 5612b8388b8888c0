// The kernel's vtpm proxy (drivers/char/tpm/tpm_vtpm_proxy.c): utpmd asks /dev/vtpmx for a new
// TPM 2.0 device (ioctl VTPM_PROXY_IOC_NEW_DEV), the kernel creates /dev/tpmN and /dev/tpmrmN
// and hands back a descriptor on which it sends every command its TPM stack issues (the
// kernel's own at registration, /dev/tpmN clients, the /dev/tpmrmN resource manager, IMA...).
// Closing that descriptor removes the devices.
//
// Wire: one read() returns exactly one whole raw TPM command, and the response must go back
// with one write() of the whole response (the driver copies whole buffers, at most 4096 bytes).
// Besides TPM commands the driver sends its own vendor command TPM2_CC_SET_LOCALITY
// (0x20001000, <linux/vtpm_proxy.h>) whenever it changes locality: header + one byte, the new
// locality. It is answered here (TPM_RC_SUCCESS, the locality applies to the commands that
// follow) and never reaches the engine. Userspace cannot forge it: the driver refuses that
// command code from /dev/tpmN clients.
//
// The kernel is the resource manager of /dev/tpmrmN, so this channel gets the bare TPM (no
// per-connection link of our own resource manager): like a hardware TPM behind the kernel.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "host/channel.h"
#include "host/engine_link.h"
#include "host/session.h"

namespace utpm::host {

inline constexpr uint32_t kVtpmSetLocality = 0x20001000;  // TPM2_CC_SET_LOCALITY

// The device pair the kernel created.
struct VtpmDevice {
  uint32_t tpm_num = 0;  // /dev/tpm<N>, /dev/tpmrm<N>
  uint32_t major = 0;
  uint32_t minor = 0;
};

// The descriptor the kernel returned, served as a channel that is connected from the start.
class VtpmChannel final : public Channel {
 public:
  // Opens `vtpmx` (normally /dev/vtpmx), creates a TPM 2.0 device pair and returns the channel
  // serving it; nullptr with a message saying what to do in `error` (module not loaded, not
  // root, ...).
  static std::unique_ptr<VtpmChannel> create(const char* name, const std::string& vtpmx,
                                             VtpmDevice& device, std::string& error);
  // Serves an already open descriptor with the driver's semantics (tests: a SOCK_SEQPACKET
  // socket). Takes ownership.
  static std::unique_ptr<VtpmChannel> from_fd(const char* name, int fd);
  bool adopt(int) override { return false; }

 private:
  using Channel::Channel;
  ssize_t write_some(std::span<const uint8_t> bytes) override;
};

// The protocol of that descriptor: whole raw commands in, whole responses out, SET_LOCALITY
// answered here. A read that does not hold a whole command (never from the driver) waits for
// the rest; a size outside 10..max is answered TPM_RC_COMMAND_SIZE and the input dropped.
class VtpmProxySession final : public Session {
 public:
  VtpmProxySession(EngineLink& engine, const char* channel, size_t max_command_size,
                   ConnectionState& state);
  Verdict on_bytes(std::span<const uint8_t> in, std::vector<uint8_t>& out,
                   uint64_t now_ms) override;
  void on_new_peer() override { pending_.clear(); }
  uint64_t discarded_bytes() const override { return discarded_; }

 private:
  EngineLink& engine_;
  const char* channel_;
  size_t max_command_size_;
  ConnectionState& state_;
  std::vector<uint8_t> pending_;
  std::vector<uint8_t> response_;
  uint64_t discarded_ = 0;
};

}  // namespace utpm::host
