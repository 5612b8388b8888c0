#include "link/response_reader.h"

#include <cstring>

namespace utpm::link {
namespace {
constexpr uint32_t kTagAndSize = 6;
}

void ResponseReader::start(Framing framing) {
  framing_ = framing;
  stage_ = framing == Framing::kRaw ? Stage::kHeader : Stage::kPrefix;
  status_ = Status::kMore;
  got_ = 0;
  prefix_size_ = 0;
  size_ = 0;
}

size_t ResponseReader::wanted() const {
  switch (stage_) {
    case Stage::kPrefix:
    case Stage::kSuffix:
      return 4 - got_;
    case Stage::kHeader:
      return kTagAndSize - got_;
    case Stage::kBody:
      return size_ - got_;
    case Stage::kDone:
      break;
  }
  return 0;
}

ResponseReader::Status ResponseReader::push(std::span<const uint8_t> bytes, size_t& used) {
  used = 0;
  while (status_ == Status::kMore && used < bytes.size()) {
    const size_t want = wanted();
    const size_t take = want < bytes.size() - used ? want : bytes.size() - used;
    const uint8_t* p = bytes.data() + used;
    switch (stage_) {
      case Stage::kPrefix:
      case Stage::kSuffix:
        std::memcpy(small_ + got_, p, take);
        break;
      case Stage::kHeader:
      case Stage::kBody:
        // The header goes to the buffer too; buffers below 6 bytes fail the size check first.
        if (stage_ == Stage::kHeader && buf_.size() < kTagAndSize) {
          status_ = Status::kMalformed;
          return status_;
        }
        std::memcpy(buf_.data() + got_, p, take);
        break;
      case Stage::kDone:
        break;
    }
    got_ += static_cast<uint32_t>(take);
    used += take;
    if (wanted() == 0) advance();
  }
  return status_;
}

void ResponseReader::advance() {
  switch (stage_) {
    case Stage::kPrefix:
      prefix_size_ = framing_ == Framing::kMssim ? load_be32(small_) : load_le32(small_);
      stage_ = Stage::kHeader;
      got_ = 0;
      return;
    case Stage::kHeader: {
      const uint32_t size = load_be32(buf_.data() + 2);
      if (!is_tpm_tag(load_be16(buf_.data())) || size < kTpmHeaderSize || size > buf_.size() ||
          (framing_ != Framing::kRaw && size != prefix_size_)) {
        status_ = Status::kMalformed;
        return;
      }
      size_ = size;
      stage_ = Stage::kBody;  // got_ stays: the body continues after the 6 header bytes
      return;
    }
    case Stage::kBody:
      got_ = 0;
      if (framing_ == Framing::kMssim) {
        stage_ = Stage::kSuffix;  // the trailing ack; its value carries no information
        return;
      }
      stage_ = Stage::kDone;
      status_ = Status::kDone;
      return;
    case Stage::kSuffix:
      stage_ = Stage::kDone;
      status_ = Status::kDone;
      return;
    case Stage::kDone:
      return;
  }
}

}  // namespace utpm::link
