#include "link/framing.h"

#include <cstring>

namespace utpm::link {

Wrap wrap_response(Framing framing, uint32_t response_len) {
  Wrap w{};
  switch (framing) {
    case Framing::kRaw:
      break;
    case Framing::kMssim:
      store_be32(w.prefix, response_len);
      w.prefix_len = 4;
      store_be32(w.suffix, 0);  // the simulator's trailing ack
      w.suffix_len = 4;
      break;
    case Framing::kLegacy:
      store_le32(w.prefix, response_len);
      w.prefix_len = 4;
      break;
  }
  return w;
}

size_t encode_response(Framing framing, std::span<const uint8_t> response, std::span<uint8_t> out) {
  const Wrap w = wrap_response(framing, static_cast<uint32_t>(response.size()));
  const size_t total = w.prefix_len + response.size() + w.suffix_len;
  if (total > out.size()) return 0;
  uint8_t* p = out.data();
  std::memcpy(p, w.prefix, w.prefix_len);
  p += w.prefix_len;
  if (!response.empty()) std::memcpy(p, response.data(), response.size());
  p += response.size();
  std::memcpy(p, w.suffix, w.suffix_len);
  return total;
}

size_t encode_reply(const Event& event, std::span<uint8_t> out) {
  if (event.kind == EventKind::kReject) {
    // A bare error response: no sessions, 10 bytes, the rc.
    uint8_t rsp[kTpmHeaderSize] = {0x80, 0x01, 0, 0, 0, kTpmHeaderSize, 0, 0, 0, 0};
    store_be32(rsp + 6, event.value);
    return encode_response(event.framing, rsp, out);
  }
  if (event.kind != EventKind::kSignal) return 0;
  if (event.signal == Signal::kHandshake) {
    if (out.size() < 12) return 0;
    store_be32(out.data(), mssim::kServerVersion);
    store_be32(out.data() + 4, mssim::kEndpointFlags);
    store_be32(out.data() + 8, 0);
    return 12;
  }
  // Legacy signals other than Command/Response have no reply in the sample firmware. mssim
  // SESSION_END has none either. mssim cancel on/off are acked on the simulator's platform
  // socket, but on one serial stream that ack would race the response of the very command being
  // cancelled, so the link defines them as unacknowledged.
  return 0;
}

size_t encode_command(Framing framing, uint8_t locality, std::span<const uint8_t> command,
                      std::span<uint8_t> out) {
  const uint32_t n = static_cast<uint32_t>(command.size());
  size_t prefix = 0;
  uint8_t head[legacy::kHeaderSize + legacy::kCommandPrefix];
  switch (framing) {
    case Framing::kRaw:
      break;
    case Framing::kMssim:
      store_be32(head, mssim::kSendCommand);
      head[4] = locality;
      store_be32(head + 5, n);
      prefix = mssim::kSendCommandPrefix;
      break;
    case Framing::kLegacy:
      store_le32(head, legacy::kMagic);
      store_le32(head + 4, legacy::kCommand);
      store_le32(head + 8, n + static_cast<uint32_t>(legacy::kCommandPrefix));
      store_le32(head + 12, locality);
      store_le32(head + 16, n);
      prefix = legacy::kHeaderSize + legacy::kCommandPrefix;
      break;
  }
  if (prefix + command.size() > out.size()) return 0;
  std::memcpy(out.data(), head, prefix);
  if (n != 0) std::memcpy(out.data() + prefix, command.data(), n);
  return prefix + n;
}

void encode_mssim_code(uint32_t code, std::span<uint8_t, 4> out) { store_be32(out.data(), code); }

}  // namespace utpm::link
