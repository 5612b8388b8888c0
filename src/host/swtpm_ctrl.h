// swtpm's control protocol (the CMD_* messages QEMU's `-tpmdev emulator`, libvirt and tpm2-tss's
// swtpm TCTI send on swtpm's --ctrl socket), for utpmd. Wire facts (numbers, big-endian layouts,
// result codes) are from swtpm's public include/swtpm/tpm_ioctl.h and docs; see
// /work/shared/reference/transport.md §2.2-2.3 and docs/swtpm.md. No code of swtpm is used.
//
// A request is a big-endian u32 command code followed by its payload; the reply starts with a
// u32 result (0 = success, otherwise a TPM 1.2-style code). Like swtpm, a request is one
// message: the bytes one read() brought, extended by further reads only until the command's
// minimum length is there (so QEMU's 4-byte SET_LOCALITY and tcti-swtpm's 1-byte one both
// work); bytes past what the command uses are ignored. Clients send one request and wait for
// its reply, so nothing is lost by that.
//
// CtrlSession does the framing and encoding; SwtpmBackend (utpmd: swtpm_tpm.h) does the work.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "host/session.h"

namespace utpm::host::swtpm {

enum Cmd : uint32_t {
  kGetCapability = 0x01,
  kInit = 0x02,
  kShutdown = 0x03,
  kGetTpmEstablished = 0x04,
  kSetLocality = 0x05,
  kHashStart = 0x06,
  kHashData = 0x07,
  kHashEnd = 0x08,
  kCancelTpmCmd = 0x09,
  kStoreVolatile = 0x0a,
  kResetTpmEstablished = 0x0b,
  kGetStateBlob = 0x0c,
  kSetStateBlob = 0x0d,
  kStop = 0x0e,
  kGetConfig = 0x0f,
  kSetDataFd = 0x10,
  kSetBufferSize = 0x11,
  kGetInfo = 0x12,
  kLockStorage = 0x13,
};

// Result codes (TPM 1.2 numbering, as swtpm answers them).
enum Res : uint32_t {
  kSuccess = 0,
  kBadParameter = 0x03,
  kFail = 0x09,
  kBadOrdinal = 0x0a,    // unknown command, or one the TPM's run state does not allow
  kSize = 0x17,
  kIoError = 0x1f,
  kBadLocality = 0x3d,
  kDecryptError = 0x21,  // a state blob that does not authenticate
  kBadVersion = 0x2e,    // a state blob of another format/build
};

// Capability bits (GET_CAPABILITY).
enum Cap : uint32_t {
  kCapInit = 1u << 0,
  kCapShutdown = 1u << 1,
  kCapGetTpmEstablished = 1u << 2,
  kCapSetLocality = 1u << 3,
  kCapHashing = 1u << 4,
  kCapCancelTpmCmd = 1u << 5,
  kCapStoreVolatile = 1u << 6,
  kCapResetTpmEstablished = 1u << 7,
  kCapGetStateBlob = 1u << 8,
  kCapSetStateBlob = 1u << 9,
  kCapStop = 1u << 10,
  kCapGetConfig = 1u << 11,
  kCapSetDataFd = 1u << 12,
  kCapSetBufferSize = 1u << 13,
  kCapGetInfo = 1u << 14,
  kCapSendCommandHeader = 1u << 15,
  kCapLockStorage = 1u << 16,
};

enum BlobType : uint32_t { kBlobPermanent = 1, kBlobVolatile = 2, kBlobSaveState = 3 };
inline constexpr uint32_t kStateFlagDecrypted = 1;  // GET_STATEBLOB request
inline constexpr uint32_t kStateFlagEncrypted = 2;  // GET_STATEBLOB reply / SET_STATEBLOB request
inline constexpr uint32_t kInitFlagDeleteVolatile = 1;
inline constexpr uint32_t kConfigFlagFileKey = 1;
inline constexpr uint32_t kConfigFlagMigrationKey = 2;
inline constexpr uint64_t kInfoTpmSpecification = 1;
inline constexpr uint64_t kInfoTpmAttributes = 2;

// Largest SET_STATEBLOB body accepted (utpmd's blobs are far smaller: docs/swtpm.md).
inline constexpr uint32_t kMaxStateBlob = 4u << 20;
// Largest HASH_DATA chunk (swtpm's request buffer).
inline constexpr uint32_t kMaxHashData = 4096;

// What the control channel operates. Every call returns a result code (Res).
class SwtpmBackend {
 public:
  virtual ~SwtpmBackend() = default;
  virtual uint32_t capabilities() const = 0;
  // Whether the TPM runs (after INIT, or from the start with not-need-init; not after STOP).
  virtual bool running() const = 0;
  virtual uint32_t init(uint32_t flags) = 0;
  virtual uint32_t stop() = 0;
  virtual void shutdown() = 0;  // the TPM stops; the session then stops the daemon
  virtual uint32_t get_established(uint8_t& bit) = 0;
  virtual uint32_t set_locality(uint8_t locality) = 0;
  virtual uint32_t reset_established(uint8_t locality) = 0;
  virtual uint32_t hash_start() = 0;
  virtual uint32_t hash_data(std::span<const uint8_t> data) = 0;
  virtual uint32_t hash_end() = 0;
  virtual uint32_t cancel() = 0;
  virtual uint32_t store_volatile() = 0;
  // Fills `blob` with the whole blob of `type`; `flags_out` gets the reply's state flags.
  virtual uint32_t get_state_blob(uint32_t type, uint32_t flags, uint32_t& flags_out,
                                  std::vector<uint8_t>& blob) = 0;
  virtual uint32_t set_state_blob(uint32_t type, uint32_t flags,
                                  std::span<const uint8_t> blob) = 0;
  virtual uint32_t config_flags() const = 0;
  // size 0 queries; otherwise sets (clamped to min..max) while stopped.
  virtual uint32_t set_buffer_size(uint32_t size, uint32_t& in_use, uint32_t& min,
                                   uint32_t& max) = 0;
  virtual uint32_t get_info(uint64_t flags, std::string& json) = 0;
  virtual uint32_t lock_storage(uint32_t retries) = 0;
};

// Minimum request length (command code included) for `cmd`, given the bytes so far (the length
// fields of HASH_DATA and SET_STATEBLOB); 0 if `cmd` is unknown (answered at once).
size_t request_length(uint32_t cmd, std::span<const uint8_t> so_far);

// One control connection.
class CtrlSession final : public Session {
 public:
  // `stall_ms`: a request still incomplete this long after its last byte is answered
  // TPM_BAD_PARAMETER and the connection closed (swtpm waits 500 ms).
  CtrlSession(SwtpmBackend& backend, uint32_t stall_ms = 500, std::FILE* trace = nullptr);
  ~CtrlSession() override;
  Verdict on_bytes(std::span<const uint8_t> in, std::vector<uint8_t>& out,
                   uint64_t now_ms) override;
  int64_t timer_due_in(uint64_t now_ms) const override;
  bool on_timer(uint64_t now_ms) override;
  bool close_after_stall() const override { return timed_out_; }
  uint64_t discarded_bytes() const override { return discarded_; }
  // CANCEL_TPM_CMD reaches the engine while a command runs (the daemon's cancel pump).
  bool reads_while_busy() const override { return true; }
  size_t on_bytes_busy(std::span<const uint8_t> in, std::vector<uint8_t>& out) override;
  bool on_descriptor(int fd) override;
  int take_hand_over() override;

  // Handles one complete request (the bytes of one message); appends the reply. Public for the
  // unit tests and the fuzz target.
  Verdict handle(std::span<const uint8_t> msg, std::vector<uint8_t>& out);

 private:
  SwtpmBackend& backend_;
  uint32_t stall_ms_;
  std::FILE* trace_;
  std::vector<uint8_t> in_;
  uint64_t last_byte_ms_ = 0;
  bool timed_out_ = false;
  int fd_ = -1;          // a descriptor that came with the input (SET_DATAFD)
  int hand_over_ = -1;   // the data channel to hand to the daemon
  uint64_t discarded_ = 0;
};

const char* cmd_name(uint32_t cmd);

}  // namespace utpm::host::swtpm
