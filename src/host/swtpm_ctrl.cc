#include "host/swtpm_ctrl.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>

namespace utpm::host::swtpm {

namespace {

uint32_t be32(const uint8_t* p) {
  return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | p[3];
}
uint64_t be64(const uint8_t* p) { return uint64_t{be32(p)} << 32 | be32(p + 4); }
void put32(std::vector<uint8_t>& out, uint32_t v) {
  out.push_back(static_cast<uint8_t>(v >> 24));
  out.push_back(static_cast<uint8_t>(v >> 16));
  out.push_back(static_cast<uint8_t>(v >> 8));
  out.push_back(static_cast<uint8_t>(v));
}
void put_zeros(std::vector<uint8_t>& out, size_t n) { out.insert(out.end(), n, 0); }

// Reply sizes including the result (what QEMU reads for each command).
size_t reply_size(uint32_t cmd) {
  switch (cmd) {
    case kGetCapability:
    case kGetTpmEstablished:
    case kGetConfig: return 8;
    case kGetStateBlob:
    case kSetBufferSize: return 16;
    case kGetInfo: return 12;
    default: return 4;
  }
}

}  // namespace

const char* cmd_name(uint32_t cmd) {
  switch (cmd) {
    case kGetCapability: return "GET_CAPABILITY";
    case kInit: return "INIT";
    case kShutdown: return "SHUTDOWN";
    case kGetTpmEstablished: return "GET_TPMESTABLISHED";
    case kSetLocality: return "SET_LOCALITY";
    case kHashStart: return "HASH_START";
    case kHashData: return "HASH_DATA";
    case kHashEnd: return "HASH_END";
    case kCancelTpmCmd: return "CANCEL_TPM_CMD";
    case kStoreVolatile: return "STORE_VOLATILE";
    case kResetTpmEstablished: return "RESET_TPMESTABLISHED";
    case kGetStateBlob: return "GET_STATEBLOB";
    case kSetStateBlob: return "SET_STATEBLOB";
    case kStop: return "STOP";
    case kGetConfig: return "GET_CONFIG";
    case kSetDataFd: return "SET_DATAFD";
    case kSetBufferSize: return "SET_BUFFERSIZE";
    case kGetInfo: return "GET_INFO";
    case kLockStorage: return "LOCK_STORAGE";
    default: return nullptr;
  }
}

size_t request_length(uint32_t cmd, std::span<const uint8_t> so_far) {
  switch (cmd) {
    case kGetCapability:
    case kShutdown:
    case kGetTpmEstablished:
    case kHashStart:
    case kHashEnd:
    case kCancelTpmCmd:
    case kStoreVolatile:
    case kStop:
    case kGetConfig:
    case kSetDataFd: return 4;
    case kSetLocality:
    case kResetTpmEstablished: return 5;
    case kInit:
    case kSetBufferSize:
    case kLockStorage: return 8;
    case kGetStateBlob: return 16;
    case kGetInfo: return 20;
    case kHashData: {
      if (so_far.size() < 8) return 8;
      const uint32_t len = be32(&so_far[4]);
      return len > kMaxHashData ? 8 : 8 + size_t{len};  // oversize: rejected on the header
    }
    case kSetStateBlob: {
      if (so_far.size() < 16) return 16;
      const uint32_t len = be32(&so_far[12]);
      return len > kMaxStateBlob ? 16 : 16 + size_t{len};
    }
    default: return 0;
  }
}

CtrlSession::CtrlSession(SwtpmBackend& backend, uint32_t stall_ms, std::FILE* trace)
    : backend_(backend), stall_ms_(stall_ms), trace_(trace) {}

CtrlSession::~CtrlSession() {
  if (fd_ >= 0) ::close(fd_);
  if (hand_over_ >= 0) ::close(hand_over_);
}

bool CtrlSession::on_descriptor(int fd) {
  if (fd_ >= 0) ::close(fd_);  // only the latest one can become the data channel
  fd_ = fd;
  return true;
}

int CtrlSession::take_hand_over() {
  const int fd = hand_over_;
  hand_over_ = -1;
  return fd;
}

Session::Verdict CtrlSession::on_bytes(std::span<const uint8_t> in, std::vector<uint8_t>& out,
                                       uint64_t now_ms) {
  if (timed_out_) {
    discarded_ += in.size();
    return Verdict::close;
  }
  in_.insert(in_.end(), in.begin(), in.end());
  last_byte_ms_ = now_ms;
  if (in_.size() < 4) return Verdict::keep;
  const uint32_t cmd = be32(in_.data());
  const size_t need = request_length(cmd, in_);
  if (need != 0 && in_.size() < need) return Verdict::keep;
  const size_t used = need == 0 ? in_.size() : need;
  std::vector<uint8_t> msg;
  msg.swap(in_);
  discarded_ += msg.size() - used;  // one message per request: what follows it is ignored
  return handle({msg.data(), used}, out);
}

int64_t CtrlSession::timer_due_in(uint64_t now_ms) const {
  if (in_.empty() || timed_out_) return -1;
  const uint64_t due = last_byte_ms_ + stall_ms_;
  return due <= now_ms ? 0 : static_cast<int64_t>(due - now_ms);
}

bool CtrlSession::on_timer(uint64_t now_ms) {
  if (in_.empty() || timed_out_ || now_ms < last_byte_ms_ + stall_ms_) return false;
  discarded_ += in_.size();
  in_.clear();
  // The reply cannot be sent from here; the connection is closed at its next input, and a
  // client that waits for its reply sees nothing: swtpm closes it too.
  timed_out_ = true;
  return true;
}

size_t CtrlSession::on_bytes_busy(std::span<const uint8_t> in, std::vector<uint8_t>& out) {
  // Only a CANCEL_TPM_CMD standing alone at the head of the input acts now.
  if (!in_.empty() || in.size() < 4 || be32(in.data()) != kCancelTpmCmd) return 0;
  put32(out, backend_.cancel());
  return 4;
}

Session::Verdict CtrlSession::handle(std::span<const uint8_t> msg, std::vector<uint8_t>& out) {
  if (msg.size() < 4) {
    put32(out, kBadParameter);
    return Verdict::close;
  }
  const uint32_t cmd = be32(msg.data());
  const uint8_t* p = msg.data() + 4;
  const size_t start = out.size();
  Verdict verdict = Verdict::keep;
  uint32_t res = kSuccess;
  const size_t need = request_length(cmd, msg);
  if (need == 0) {
    res = kBadOrdinal;  // an unknown command: its length is unknown, so what follows is too
    put32(out, res);
    verdict = Verdict::close;
  } else if (msg.size() < need) {
    res = kBadParameter;
    put32(out, res);
    put_zeros(out, reply_size(cmd) - 4);
    verdict = Verdict::close;
  } else {
    switch (cmd) {
      case kGetCapability:
        put32(out, kSuccess);
        put32(out, backend_.capabilities());
        break;
      case kInit:
        put32(out, res = backend_.init(be32(p)));
        break;
      case kShutdown:
        backend_.shutdown();
        put32(out, kSuccess);
        verdict = Verdict::stop_daemon;
        break;
      case kGetTpmEstablished: {
        uint8_t bit = 0;
        put32(out, res = backend_.get_established(bit));
        out.push_back(bit);
        put_zeros(out, 3);
        break;
      }
      case kSetLocality:
        put32(out, res = backend_.set_locality(p[0]));
        break;
      case kResetTpmEstablished:
        put32(out, res = backend_.reset_established(p[0]));
        break;
      case kHashStart:
        put32(out, res = backend_.hash_start());
        break;
      case kHashData: {
        const uint32_t len = be32(p);
        if (len > kMaxHashData) {
          put32(out, res = kSize);
          verdict = Verdict::close;  // the body that follows cannot be skipped reliably
        } else {
          put32(out, res = backend_.hash_data({p + 4, len}));
        }
        break;
      }
      case kHashEnd:
        put32(out, res = backend_.hash_end());
        break;
      case kCancelTpmCmd:
        put32(out, res = backend_.cancel());
        break;
      case kStoreVolatile:
        put32(out, res = backend_.store_volatile());
        break;
      case kGetStateBlob: {
        const uint32_t flags = be32(p);
        const uint32_t type = be32(p + 4);
        const uint32_t offset = be32(p + 8);
        uint32_t flags_out = 0;
        std::vector<uint8_t> blob;
        res = backend_.get_state_blob(type, flags, flags_out, blob);
        if (res == kSuccess && offset > blob.size()) res = kBadParameter;
        if (res != kSuccess) {
          put32(out, res);
          put_zeros(out, 12);
          break;
        }
        const size_t len = blob.size() - offset;
        put32(out, kSuccess);
        put32(out, flags_out);
        put32(out, static_cast<uint32_t>(blob.size()));
        put32(out, static_cast<uint32_t>(len));
        out.insert(out.end(), blob.begin() + static_cast<std::ptrdiff_t>(offset), blob.end());
        break;
      }
      case kSetStateBlob: {
        const uint32_t flags = be32(p);
        const uint32_t type = be32(p + 4);
        const uint32_t len = be32(p + 8);
        if (len > kMaxStateBlob) {
          put32(out, res = kSize);
          verdict = Verdict::close;
        } else {
          put32(out, res = backend_.set_state_blob(type, flags, {p + 12, len}));
        }
        break;
      }
      case kStop:
        put32(out, res = backend_.stop());
        break;
      case kGetConfig:
        put32(out, kSuccess);
        put32(out, backend_.config_flags());
        break;
      case kSetDataFd:
        if (fd_ < 0) {
          put32(out, res = kBadParameter);  // no descriptor came with the request
        } else {
          if (hand_over_ >= 0) ::close(hand_over_);
          hand_over_ = fd_;
          fd_ = -1;
          put32(out, kSuccess);
        }
        break;
      case kSetBufferSize: {
        uint32_t in_use = 0, min = 0, max = 0;
        res = backend_.set_buffer_size(be32(p), in_use, min, max);
        put32(out, res);
        put32(out, in_use);
        put32(out, min);
        put32(out, max);
        break;
      }
      case kGetInfo: {
        const uint64_t flags = be64(p);
        const uint32_t offset = be32(p + 8);
        std::string json;
        res = backend_.get_info(flags, json);
        if (res == kSuccess && offset > json.size()) res = kBadParameter;
        if (res != kSuccess) {
          put32(out, res);
          put_zeros(out, 8);
          break;
        }
        put32(out, kSuccess);
        put32(out, static_cast<uint32_t>(json.size()));
        put32(out, static_cast<uint32_t>(json.size() - offset));
        out.insert(out.end(), json.begin() + static_cast<std::ptrdiff_t>(offset), json.end());
        break;
      }
      case kLockStorage:
        put32(out, res = backend_.lock_storage(be32(p)));
        break;
      default:
        put32(out, res = kBadOrdinal);
        break;
    }
  }
  // Replies have a fixed size whatever the result (GET_STATEBLOB/GET_INFO: plus their data),
  // so a client that reads the full structure never blocks on an error.
  if (out.size() - start < reply_size(cmd)) put_zeros(out, reply_size(cmd) - (out.size() - start));
  if (trace_) {
    const char* name = cmd_name(cmd);
    if (name) {
      std::fprintf(trace_, "utpmd: ctrl %s res=0x%x\n", name, res);
    } else {
      std::fprintf(trace_, "utpmd: ctrl unknown command 0x%08x res=0x%x\n", cmd, res);
    }
    std::fflush(trace_);
  }
  return verdict;
}

}  // namespace utpm::host::swtpm
