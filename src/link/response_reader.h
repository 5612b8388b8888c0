// The host side of the link: reassembles one response from a byte stream that arrives in
// arbitrary pieces (a tty delivers whatever has arrived when the reader wakes). Framing is known
// in advance: it is the framing the command was sent in. Used by the TCTI and utpmd's bridge.
//
// wanted() says how many more bytes belong to this response, so the caller never reads past it
// and never eats the start of whatever comes next.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "link/framing.h"

namespace utpm::link {

class ResponseReader {
 public:
  enum class Status : uint8_t { kMore, kDone, kMalformed };

  // `buffer` receives the TPM response; its size is the largest response accepted.
  explicit ResponseReader(std::span<uint8_t> buffer) : buf_(buffer) {}

  void start(Framing framing);
  // Feeds bytes; returns the status after them and sets `used`. Never uses a byte past the end
  // of this response's frame (wanted() is what the current part of the frame still needs).
  Status push(std::span<const uint8_t> bytes, size_t& used);
  size_t wanted() const;
  Status status() const { return status_; }
  // The TPM size field once the header has arrived, else 0.
  uint32_t announced_size() const { return size_; }
  std::span<const uint8_t> response() const { return buf_.first(status_ == Status::kDone ? size_ : 0); }

 private:
  enum class Stage : uint8_t { kPrefix, kHeader, kBody, kSuffix, kDone };
  void advance();

  std::span<uint8_t> buf_;
  Framing framing_ = Framing::kRaw;
  Stage stage_ = Stage::kHeader;
  Status status_ = Status::kMore;
  uint8_t small_[4] = {};  // prefix or suffix bytes
  uint32_t got_ = 0;       // bytes of the current stage
  uint32_t prefix_size_ = 0;
  uint32_t size_ = 0;
};

}  // namespace utpm::link
