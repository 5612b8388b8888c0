#include "host/swtpm_tpm.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "host/host_platform.h"
#include "host/link_stream_session.h"
#include "tpm/profile.h"

namespace utpm::host {

namespace {

using namespace swtpm;

uint64_t now_ms() { return monotonic_us() / 1000u; }

// The response to every data command while the TPM does not run (before INIT, after STOP):
// TPM_ST_NO_SESSIONS, size 10, TPM_RC_FAILURE -- what swtpm answers.
constexpr uint8_t kNotRunning[10] = {0x80, 0x01, 0, 0, 0, 10, 0, 0, 0x01, 0x01};
// swtpm's vendor command to set the locality in-band (vtpm-proxy): answered here, never by the
// engine. Its response: success.
constexpr uint32_t kCcSetLocality = 0x20001000;
constexpr uint8_t kSuccessResponse[10] = {0x80, 0x01, 0, 0, 0, 10, 0, 0, 0, 0};

uint32_t be32(const uint8_t* p) {
  return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | p[3];
}

bool write_file_atomic(const std::string& path, std::span<const uint8_t> bytes) {
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return false;
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  const bool ok = done == bytes.size() && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    return false;
  }
  return true;
}

bool read_file(const std::string& path, std::vector<uint8_t>& out) {
  out.clear();
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return false;
  uint8_t buf[65536];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ::close(fd);
      return false;
    }
    if (n == 0) break;
    out.insert(out.end(), buf, buf + n);
    if (out.size() > kMaxStateBlob) break;
  }
  ::close(fd);
  return true;
}

}  // namespace

SwtpmTpm::SwtpmTpm(tpm::Tpm& tpm, SecureNvStore& nv, EngineLink& engine,
                   std::function<void(PlatformSignal)> signal, Config config)
    : tpm_(tpm), nv_(nv), engine_(engine), signal_(std::move(signal)), cfg_(std::move(config)) {}

void SwtpmTpm::log(const char* fmt, const std::string& what) const {
  if (cfg_.log == nullptr) return;
  std::fprintf(cfg_.log, fmt, what.c_str());
  std::fputc('\n', cfg_.log);
  std::fflush(cfg_.log);
}

size_t SwtpmTpm::DataLink::execute(const char* channel, uint8_t locality,
                                   std::span<const uint8_t> command, std::span<uint8_t> response) {
  if (!owner_.running()) {
    std::memcpy(response.data(), kNotRunning, sizeof kNotRunning);
    return sizeof kNotRunning;
  }
  if (command.size() == 11 && be32(&command[6]) == kCcSetLocality) {
    if (command[10] <= 4) owner_.state_->locality = command[10];
    std::memcpy(response.data(), kSuccessResponse, sizeof kSuccessResponse);
    return sizeof kSuccessResponse;
  }
  owner_.executing_ = true;
  const size_t n = owner_.engine_.execute(channel, locality, command, response);
  owner_.executing_ = false;
  if (owner_.cancel_sent_) {  // a cancel applies to the command it arrived during, no other
    owner_.cancel_sent_ = false;
    owner_.signal_(PlatformSignal::cancel_off);
  }
  return n;
}

void SwtpmTpm::send_startup() {
  if (cfg_.startup == Startup::none || !tpm_.powered()) return;
  const uint8_t su = cfg_.startup == Startup::state ? 1 : 0;
  const uint8_t cmd[12] = {0x80, 0x01, 0, 0, 0, 12, 0, 0, 0x01, 0x44, 0, su};
  uint8_t rsp[profile::kMaxResponseSize];
  const size_t n = engine_.execute("swtpm", 0, cmd, rsp);
  const uint32_t rc = n >= 10 ? be32(&rsp[6]) : 0xffffffffu;
  if (rc != 0 && cfg_.log) {
    std::fprintf(cfg_.log, "utpmd: swtpm: TPM2_Startup(%s) after init: rc 0x%x\n",
                 su ? "STATE" : "CLEAR", rc);
  }
}

bool SwtpmTpm::start_now() {
  signal_(PlatformSignal::power_on);
  send_startup();
  return !tpm_.in_failure_mode();
}

uint32_t SwtpmTpm::capabilities() const {
  return kCapInit | kCapShutdown | kCapGetTpmEstablished | kCapSetLocality | kCapHashing |
         kCapCancelTpmCmd |
         kCapStoreVolatile | kCapResetTpmEstablished | kCapGetStateBlob | kCapSetStateBlob |
         kCapStop | kCapGetConfig | kCapSetDataFd | kCapSetBufferSize | kCapGetInfo |
         kCapSendCommandHeader | kCapLockStorage;
}

uint32_t SwtpmTpm::init(uint32_t flags) {
  // A _TPM_Init: power cycle when running (QEMU sends INIT at every machine reset), power on
  // when stopped; then the volatile state set by SET_STATEBLOB or stored by STORE_VOLATILE, if
  // any, becomes the TPM's RAM state (a resumed or migrated TPM).
  signal_(tpm_.powered() ? PlatformSignal::reset : PlatformSignal::power_on);
  state_->locality = 0;
  if (tpm_.in_failure_mode()) return kFail;
  std::vector<uint8_t> payload;
  bool have = false;
  if (have_pending_volatile_) {
    payload.swap(pending_volatile_);
    have_pending_volatile_ = false;
    have = true;
  } else {
    std::vector<uint8_t> blob;
    if (read_file(volatile_path(), blob)) {
      const stateblob::OpenResult r = stateblob::open(cfg_.file_key, kBlobVolatile, blob, payload);
      if (r != stateblob::OpenResult::ok) {
        log("utpmd: swtpm: stored volatile state ignored: %s", stateblob::open_result_name(r));
      } else {
        have = true;
      }
    }
  }
  uint32_t res = kSuccess;
  bool resumed = false;
  if (have && !payload.empty()) {
    resumed = stateblob::restore_volatile(tpm_, now_ms(), payload);
    if (!resumed) {
      log("utpmd: swtpm: %s", "volatile state of another build, not loaded");
      res = kBadVersion;
    }
  }
  crypto::zeroize(payload.data(), payload.size());
  if (flags & kInitFlagDeleteVolatile) ::unlink(volatile_path().c_str());
  if (res == kSuccess && !resumed) send_startup();  // a resumed TPM is started already
  return res;
}

uint32_t SwtpmTpm::stop() {
  if (tpm_.powered()) signal_(PlatformSignal::power_off);
  return kSuccess;
}

void SwtpmTpm::shutdown() {
  if (tpm_.powered()) signal_(PlatformSignal::power_off);
}

uint32_t SwtpmTpm::get_established(uint8_t& bit) {
  bit = tpm_.tpm_established() ? 1 : 0;  // set by an H-CRTM/D-RTM sequence
  return kSuccess;
}

uint32_t SwtpmTpm::set_locality(uint8_t locality) {
  if (locality > 4) return kBadLocality;
  state_->locality = locality;
  return kSuccess;
}

uint32_t SwtpmTpm::reset_established(uint8_t locality) {
  if (!tpm_.powered()) return kBadOrdinal;
  if (locality != 3 && locality != 4) return kBadLocality;
  tpm_.reset_tpm_established();
  return kSuccess;
}

// The H-CRTM / D-RTM sequence (the TPM interface's _TPM_Hash_* indications at locality 4):
// the engine sets PCR 0 before Startup, or resets PCR 17-22 and extends PCR 17 after it.
uint32_t SwtpmTpm::hash_start() {
  if (!tpm_.powered()) return kBadOrdinal;
  tpm_.hash_start();
  return kSuccess;
}
uint32_t SwtpmTpm::hash_data(std::span<const uint8_t> data) {
  if (!tpm_.powered()) return kBadOrdinal;
  tpm_.hash_data(data);
  return kSuccess;
}
uint32_t SwtpmTpm::hash_end() {
  if (!tpm_.powered()) return kBadOrdinal;
  tpm_.hash_end();
  return kSuccess;
}

uint32_t SwtpmTpm::cancel() {
  if (executing_ && !cancel_sent_) {
    cancel_sent_ = true;
    signal_(PlatformSignal::cancel_on);
  }
  return kSuccess;
}

uint32_t SwtpmTpm::store_volatile() {
  if (!tpm_.powered()) return kBadOrdinal;
  std::vector<uint8_t> payload, blob;
  stateblob::capture_volatile(tpm_, now_ms(), payload);
  const bool sealed = stateblob::seal(cfg_.file_key, kBlobVolatile, payload, blob);
  crypto::zeroize(payload.data(), payload.size());
  if (!sealed || !write_file_atomic(volatile_path(), blob)) return kIoError;
  return kSuccess;
}

uint32_t SwtpmTpm::get_state_blob(uint32_t type, uint32_t /*flags*/, uint32_t& flags_out,
                                  std::vector<uint8_t>& blob) {
  // Blobs are always sealed (there is no plaintext form to ask for with DECRYPTED).
  flags_out = kStateFlagEncrypted;
  std::vector<uint8_t> payload;
  switch (type) {
    case kBlobPermanent:
    case kBlobSaveState:
      if (!stateblob::capture_records(nv_, type == kBlobSaveState, payload)) return kFail;
      break;
    case kBlobVolatile:
      if (tpm_.powered()) {
        stateblob::capture_volatile(tpm_, now_ms(), payload);
      } else if (have_pending_volatile_) {
        payload = pending_volatile_;
      } else {
        std::vector<uint8_t> stored;
        if (read_file(volatile_path(), stored) &&
            stateblob::open(cfg_.file_key, kBlobVolatile, stored, payload) !=
                stateblob::OpenResult::ok) {
          payload.clear();
        }
      }
      break;
    default: return kBadParameter;
  }
  const bool ok = stateblob::seal(blob_key(), type, payload, blob);
  crypto::zeroize(payload.data(), payload.size());
  return ok ? kSuccess : kFail;
}

uint32_t SwtpmTpm::set_state_blob(uint32_t type, uint32_t /*flags*/,
                                  std::span<const uint8_t> blob) {
  if (tpm_.powered()) return kBadOrdinal;  // STOP first
  if (type != kBlobPermanent && type != kBlobVolatile && type != kBlobSaveState) {
    return kBadParameter;
  }
  std::vector<uint8_t> payload;
  const stateblob::OpenResult r = stateblob::open(blob_key(), type, blob, payload);
  if (r != stateblob::OpenResult::ok) {
    log("utpmd: swtpm: state blob refused: %s", stateblob::open_result_name(r));
    return r == stateblob::OpenResult::bad_auth || r == stateblob::OpenResult::wrong_key
               ? kDecryptError
               : kBadParameter;
  }
  uint32_t res = kSuccess;
  if (type == kBlobVolatile) {
    if (!stateblob::volatile_matches_build(payload)) {
      log("utpmd: swtpm: %s", "volatile state blob of another build refused");
      res = kBadVersion;
    } else {
      crypto::zeroize(pending_volatile_.data(), pending_volatile_.size());
      pending_volatile_ = payload;
      have_pending_volatile_ = true;
    }
  } else {
    std::string error;
    if (!stateblob::restore_records(nv_, type == kBlobSaveState, payload, error)) {
      log("utpmd: swtpm: state blob not restored: %s", error);
      res = kFail;
    }
  }
  crypto::zeroize(payload.data(), payload.size());
  return res;
}

uint32_t SwtpmTpm::config_flags() const {
  return kConfigFlagFileKey | (cfg_.migration_key ? kConfigFlagMigrationKey : 0);
}

uint32_t SwtpmTpm::set_buffer_size(uint32_t size, uint32_t& in_use, uint32_t& min,
                                   uint32_t& max) {
  in_use = min = max = static_cast<uint32_t>(profile::kMaxCommandSize);
  if (size != 0 && tpm_.powered()) return kBadOrdinal;  // only while stopped
  return kSuccess;  // any request is clamped to the one size the engine has
}

uint32_t SwtpmTpm::get_info(uint64_t flags, std::string& json) {
  std::string body;
  if (flags & kInfoTpmSpecification) {
    body += "\"TPMSpecification\":{\"family\":\"2.0\",\"level\":0,\"revision\":184}";
  }
  if (flags & kInfoTpmAttributes) {
    char attrs[160];
    std::snprintf(attrs, sizeof attrs,
                  "\"TPMAttributes\":{\"manufacturer\":\"id:%08X\",\"version\":\"id:%08X\","
                  "\"model\":\"utpm\"}",
                  profile::kManufacturer, profile::kFirmwareVersion1);
    if (!body.empty()) body += ",";
    body += attrs;
  }
  json = "{" + body + "}";
  return kSuccess;
}

uint32_t SwtpmTpm::lock_storage(uint32_t) {
  return kSuccess;  // utpmd holds its state directory's lock from start to exit
}

bool parse_swtpm_endpoint(const std::string& spec, bool allow_unix, std::string& type,
                          std::string& host, uint16_t& port, std::string& path) {
  if (allow_unix && spec.rfind("unix:", 0) == 0) {
    type = "unix";
    path = spec.substr(5);
    return !path.empty();
  }
  if (spec.rfind("tcp:", 0) != 0) return false;
  const std::string rest = spec.substr(4);
  const size_t colon = rest.rfind(':');
  if (colon == std::string::npos || colon == 0) return false;
  host = rest.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  const std::string p = rest.substr(colon + 1);
  char* end = nullptr;
  errno = 0;
  const unsigned long v = std::strtoul(p.c_str(), &end, 10);
  if (p.empty() || *end != '\0' || errno != 0 || v == 0 || v > 65535) return false;
  type = "tcp";
  port = static_cast<uint16_t>(v);
  return true;
}

bool serve_swtpm(Daemon& daemon, SwtpmTpm& tpm, const SwtpmChannels& where, std::string& error) {
  std::FILE* trace = daemon.trace_stream();
  auto make_ctrl = [&tpm, trace](Channel&, EngineLink&) -> std::unique_ptr<Session> {
    return std::make_unique<swtpm::CtrlSession>(tpm, 500, trace);
  };
  const uint32_t stall = where.stall_timeout_ms;
  auto make_data = [&tpm, stall](Channel& ch, EngineLink&) -> std::unique_ptr<Session> {
    // The per-connection link the daemon offers is not used: the data channel is a bare TPM.
    return std::make_unique<LinkStreamSession>(tpm.data_link(), ch.name(), stall,
                                               tpm.data_state().get());
  };
  if (where.data_tcp) {
    auto data = TcpChannel::listen(daemon.instance_name("swtpm"), where.data_host, where.data_port, nullptr, error);
    if (!data) return false;
    data->set_spawns_peers();  // tcti-swtpm connects once per command
    daemon.add_channel(std::move(data), make_data);
  }
  if (!where.data_path.empty()) {
    auto data = UnixChannel::listen(daemon.instance_name("swtpm"), where.data_path, nullptr, error);
    if (!data) return false;
    data->set_spawns_peers();
    daemon.add_channel(std::move(data), make_data);
  }
  if (where.ctrl_type.empty()) return true;
  std::unique_ptr<Channel> ctrl;
  if (where.ctrl_type == "tcp") {
    ctrl = TcpChannel::listen(daemon.instance_name("swtpm-ctrl"), where.ctrl_host, where.ctrl_port, nullptr, error);
  } else {
    ctrl = UnixChannel::listen(daemon.instance_name("swtpm-ctrl"), where.ctrl_path, nullptr, error);
  }
  if (!ctrl) return false;
  ctrl->set_spawns_peers();  // tcti-swtpm: one connection per request; QEMU keeps one open
  Channel& ctrl_ch = daemon.add_channel(std::move(ctrl), make_ctrl);
  if (where.ctrl_type == "unix") {
    // The descriptor QEMU passes with SET_DATAFD becomes this channel's peer.
    Channel& fd_ch = daemon.add_channel(UnixChannel::unbound(daemon.instance_name("swtpm-datafd"), nullptr), make_data);
    daemon.hand_over_to(ctrl_ch, fd_ch);
    if (where.terminate) daemon.stop_when_lost(fd_ch);
  }
  return true;
}

}  // namespace utpm::host
