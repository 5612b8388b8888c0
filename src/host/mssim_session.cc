#include "host/mssim_session.h"

#include <algorithm>

namespace utpm::host {

namespace {
uint32_t load_be32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}
void append_be32(std::vector<uint8_t>& out, uint32_t v) {
  out.push_back(static_cast<uint8_t>(v >> 24));
  out.push_back(static_cast<uint8_t>(v >> 16));
  out.push_back(static_cast<uint8_t>(v >> 8));
  out.push_back(static_cast<uint8_t>(v));
}
}  // namespace

MssimCommandSession::MssimCommandSession(EngineLink& engine, size_t max_command_size,
                                         const char* name)
    : engine_(engine), name_(name), response_(max_command_size), max_(max_command_size) {
  field_.reserve(max_command_size);
}

void MssimCommandSession::expect(Want w, size_t n) {
  want_ = w;
  need_ = n;
  field_.clear();
}

Session::Verdict MssimCommandSession::on_bytes(std::span<const uint8_t> in,
                                               std::vector<uint8_t>& out, uint64_t /*now_ms*/) {
  size_t pos = 0;
  while (pos < in.size()) {
    if (want_ == Want::discard || want_ == Want::hash_data) {
      const size_t n = std::min(skip_, in.size() - pos);
      // HASH_DATA streams into the engine's event sequence as it arrives.
      if (want_ == Want::hash_data && n != 0) engine_.hash_data(in.subspan(pos, n));
      skip_ -= n;
      pos += n;
      if (skip_ == 0) {
        const Verdict v = on_field(out);
        if (v != Verdict::keep) return v;
      }
      continue;
    }
    const size_t n = std::min(need_ - field_.size(), in.size() - pos);
    field_.insert(field_.end(), in.begin() + static_cast<std::ptrdiff_t>(pos),
                  in.begin() + static_cast<std::ptrdiff_t>(pos + n));
    pos += n;
    if (field_.size() == need_) {
      const Verdict v = on_field(out);
      if (v != Verdict::keep) return v;
    }
  }
  return Verdict::keep;
}

Session::Verdict MssimCommandSession::on_field(std::vector<uint8_t>& out) {
  switch (want_) {
    case Want::code: {
      const uint32_t code = load_be32(field_.data());
      switch (code) {
        case mssim::kSendCommand: expect(Want::locality, 1); return Verdict::keep;
        case mssim::kRemoteHandshake: expect(Want::handshake, 4); return Verdict::keep;
        case mssim::kHashData: expect(Want::hash_size, 4); return Verdict::keep;
        case mssim::kSetAlternativeResult: expect(Want::alt_result, 4); return Verdict::keep;
        case mssim::kHashStart:
        case mssim::kHashEnd:
          // _TPM_Hash_Start / _TPM_Hash_End (the H-CRTM / D-RTM sequence, locality 4).
          if (code == mssim::kHashStart) {
            engine_.hash_start();
          } else {
            engine_.hash_end();
          }
          append_be32(out, mssim::kAck);
          expect(Want::code, 4);
          return Verdict::keep;
        case mssim::kSessionEnd: return Verdict::close;
        case mssim::kStop: return Verdict::stop_daemon;
        default:
          append_be32(out, mssim::kNack);
          return Verdict::close;
      }
    }
    case Want::locality:
      locality_ = field_[0];
      expect(Want::command_size, 4);
      return Verdict::keep;
    case Want::command_size: {
      const uint32_t size = load_be32(field_.data());
      if (size > max_) {
        if (size > kMssimMaxDiscard) return Verdict::close;
        expect(Want::discard, 0);
        skip_ = size;
        return Verdict::keep;
      }
      if (size == 0) {  // nothing to wait for: hand the empty command to the engine now
        expect(Want::command, 0);
        return on_field(out);
      }
      expect(Want::command, size);
      return Verdict::keep;
    }
    case Want::command: {
      const size_t n = engine_.execute(name_, locality_, field_, response_);
      // Length, response and ack go out together: the stock client polls and reads them as
      // one burst (a separate ack write costs a delayed-ACK round trip).
      append_be32(out, static_cast<uint32_t>(n));
      out.insert(out.end(), response_.begin(), response_.begin() + static_cast<std::ptrdiff_t>(n));
      append_be32(out, mssim::kAck);
      expect(Want::code, 4);
      return Verdict::keep;
    }
    case Want::discard:
      append_be32(out, sizeof kCommandSizeResponse);
      out.insert(out.end(), std::begin(kCommandSizeResponse), std::end(kCommandSizeResponse));
      append_be32(out, mssim::kAck);
      expect(Want::code, 4);
      return Verdict::keep;
    case Want::handshake: {
      const uint32_t client_version = load_be32(field_.data());
      if (client_version == 0) return Verdict::close;  // the protocol's "incompatible client"
      append_be32(out, mssim::kServerVersion);
      append_be32(out, mssim::kEndpointFlags);
      append_be32(out, mssim::kAck);
      expect(Want::code, 4);
      return Verdict::keep;
    }
    case Want::hash_size: {
      const uint32_t size = load_be32(field_.data());
      if (size > kMssimMaxDiscard) return Verdict::close;
      expect(Want::hash_data, 0);
      skip_ = size;
      if (size == 0) return on_field(out);
      return Verdict::keep;
    }
    case Want::hash_data:
    case Want::alt_result:
      append_be32(out, mssim::kAck);
      expect(Want::code, 4);
      return Verdict::keep;
  }
  return Verdict::close;
}

Session::Verdict MssimPlatformSession::on_bytes(std::span<const uint8_t> in,
                                                std::vector<uint8_t>& out, uint64_t /*now_ms*/) {
  for (const uint8_t b : in) {
    code_[have_++] = b;
    if (have_ < 4) continue;
    have_ = 0;
    const uint32_t code = load_be32(code_);
    PlatformSignal s{};
    switch (code) {
      case mssim::kPowerOn: s = PlatformSignal::power_on; break;
      case mssim::kPowerOff: s = PlatformSignal::power_off; break;
      case mssim::kReset: s = PlatformSignal::reset; break;
      case mssim::kRestart: s = PlatformSignal::restart; break;
      case mssim::kNvOn: s = PlatformSignal::nv_on; break;
      case mssim::kNvOff: s = PlatformSignal::nv_off; break;
      case mssim::kCancelOn: s = PlatformSignal::cancel_on; break;
      case mssim::kCancelOff: s = PlatformSignal::cancel_off; break;
      case mssim::kPhysPresOn: s = PlatformSignal::phys_pres_on; break;
      case mssim::kPhysPresOff: s = PlatformSignal::phys_pres_off; break;
      case mssim::kKeyCacheOn:
      case mssim::kKeyCacheOff:
        // The engine keeps no key cache; acknowledge so simulator test suites proceed.
        append_be32(out, mssim::kAck);
        continue;
      case mssim::kSessionEnd: return Verdict::close;
      case mssim::kStop: return Verdict::stop_daemon;
      default:
        append_be32(out, mssim::kNack);
        return Verdict::close;
    }
    engine_.signal(s);
    append_be32(out, mssim::kAck);
  }
  return Verdict::keep;
}

size_t MssimPlatformSession::on_bytes_busy(std::span<const uint8_t> in,
                                           std::vector<uint8_t>& out) {
  if (have_ != 0) return 0;  // a code is half read: these bytes are not the start of one
  size_t used = 0;
  while (in.size() - used >= 4) {
    const uint32_t code = load_be32(in.data() + used);
    if (code != mssim::kCancelOn && code != mssim::kCancelOff) break;
    engine_.signal(code == mssim::kCancelOn ? PlatformSignal::cancel_on
                                            : PlatformSignal::cancel_off);
    append_be32(out, mssim::kAck);
    used += 4;
  }
  return used;
}

}  // namespace utpm::host
