// utpmd as swtpm: the control protocol's operations on the engine (SwtpmBackend), the gate every
// data-channel command passes (TPM not running -> TPM_RC_FAILURE, as swtpm answers; the
// locality the control channel set; CANCEL_TPM_CMD), and the wiring of the control and data
// channels into the daemon. docs/swtpm.md describes the behaviour and its readings.
//
// The data channels (TCP --server, the descriptor QEMU passes with SET_DATAFD) are a bare TPM,
// as swtpm is: tcti-swtpm opens a new data connection per command, and a guest kernel does its
// own resource management, so a per-connection resource manager would flush their objects
// between commands. They share the engine with utpmd's other clients, one command at a time.
#pragma once

#include <cstdio>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "host/channel.h"
#include "host/daemon.h"
#include "host/engine_link.h"
#include "host/secure_nv_store.h"
#include "host/state_blob.h"
#include "host/swtpm_ctrl.h"
#include "tpm/tpm.h"

namespace utpm::host {

class SwtpmTpm final : public swtpm::SwtpmBackend {
 public:
  enum class Startup : uint8_t { none, clear, state };
  struct Config {
    std::string state_dir;                       // volatile state file (STORE_VOLATILE) lives here
    stateblob::Key file_key;                     // the device secret: STORE_VOLATILE's file
    std::optional<stateblob::Key> migration_key;  // state blobs, when set (else file_key)
    Startup startup = Startup::none;             // TPM2_Startup sent after every init
    std::FILE* log = nullptr;                    // messages (errors) and, with trace, each request
    bool trace = false;
  };

  // `engine`: the bare engine link (data commands, Startup); `signal`: platform signals, through
  // the resource manager when there is one (it forgets its contexts on a reset).
  SwtpmTpm(tpm::Tpm& tpm, SecureNvStore& nv, EngineLink& engine,
           std::function<void(PlatformSignal)> signal, Config config);

  // The link data channels execute through.
  EngineLink& data_link() { return data_link_; }
  const std::shared_ptr<ConnectionState>& data_state() const { return state_; }
  // Applies power now (swtpm's --flags not-need-init) and sends the configured Startup.
  bool start_now();

  // SwtpmBackend
  uint32_t capabilities() const override;
  bool running() const override { return tpm_.powered(); }
  uint32_t init(uint32_t flags) override;
  uint32_t stop() override;
  void shutdown() override;
  uint32_t get_established(uint8_t& bit) override;
  uint32_t set_locality(uint8_t locality) override;
  uint32_t reset_established(uint8_t locality) override;
  uint32_t hash_start() override;
  uint32_t hash_data(std::span<const uint8_t> data) override;
  uint32_t hash_end() override;
  uint32_t cancel() override;
  uint32_t store_volatile() override;
  uint32_t get_state_blob(uint32_t type, uint32_t flags, uint32_t& flags_out,
                          std::vector<uint8_t>& blob) override;
  uint32_t set_state_blob(uint32_t type, uint32_t flags, std::span<const uint8_t> blob) override;
  uint32_t config_flags() const override;
  uint32_t set_buffer_size(uint32_t size, uint32_t& in_use, uint32_t& min,
                           uint32_t& max) override;
  uint32_t get_info(uint64_t flags, std::string& json) override;
  uint32_t lock_storage(uint32_t retries) override;

 private:
  class DataLink final : public EngineLink {
   public:
    explicit DataLink(SwtpmTpm& owner) : owner_(owner) {}
    size_t execute(const char* channel, uint8_t locality, std::span<const uint8_t> command,
                   std::span<uint8_t> response) override;
    void signal(PlatformSignal s) override { owner_.signal_(s); }

   private:
    SwtpmTpm& owner_;
  };

  void send_startup();
  const stateblob::Key& blob_key() const { return cfg_.migration_key ? *cfg_.migration_key : cfg_.file_key; }
  std::string volatile_path() const { return cfg_.state_dir + "/volatile.blob"; }
  void log(const char* fmt, const std::string& what) const;

  tpm::Tpm& tpm_;
  SecureNvStore& nv_;
  EngineLink& engine_;
  std::function<void(PlatformSignal)> signal_;
  Config cfg_;
  DataLink data_link_{*this};
  std::shared_ptr<ConnectionState> state_ = std::make_shared<ConnectionState>();
  std::vector<uint8_t> pending_volatile_;  // SET_STATEBLOB(volatile) payload, loaded at INIT
  bool have_pending_volatile_ = false;
  bool executing_ = false;
  bool cancel_sent_ = false;
};

// Where the swtpm channels listen. ctrl: "tcp" (host, port) or "unix" (path); data: optional
// TCP listener; a unix ctrl also takes data descriptors (SET_DATAFD).
struct SwtpmChannels {
  std::string ctrl_type;  // "tcp", "unix", or empty: no control channel
  std::string ctrl_host = "127.0.0.1";
  uint16_t ctrl_port = 0;
  std::string ctrl_path;
  bool data_tcp = false;
  std::string data_host = "127.0.0.1";
  uint16_t data_port = 0;
  std::string data_path;  // a unix socket data channel (swtpm --server type=unixio)
  bool terminate = false;  // stop the daemon when the passed data channel or its ctrl peer goes
  uint32_t stall_timeout_ms = 2000;
};
bool serve_swtpm(Daemon& daemon, SwtpmTpm& tpm, const SwtpmChannels& where, std::string& error);

// "tcp:HOST:PORT" / "unix:PATH" (utpmd's --ctrl and --server values). False if malformed.
bool parse_swtpm_endpoint(const std::string& spec, bool allow_unix, std::string& type,
                          std::string& host, uint16_t& port, std::string& path);

}  // namespace utpm::host
