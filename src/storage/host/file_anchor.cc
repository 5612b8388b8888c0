#include "storage/host/file_anchor.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <vector>

namespace utpm::storage {
namespace {

constexpr uint32_t kMagic = 0x46414E55;  // "UNAF"
constexpr uint32_t kVersionSingle = 1;   // one record, replaced by rename
constexpr uint32_t kVersionSlots = 2;    // two slots updated in place

struct AnchorSlot {
  uint32_t magic;
  uint32_t version;
  uint8_t instance[kInstanceIdSize];
  uint64_t counter;
  uint64_t check;  // FNV-1a of the fields above: catches a damaged slot, not an attacker
};
static_assert(sizeof(AnchorSlot) == 40);
static_assert(offsetof(AnchorSlot, check) == 32);

// A v2 slot: the v1 record (so both versions parse alike) followed by the slot's write sequence.
struct SlotV2 {
  AnchorSlot slot;
  uint64_t sequence;
  uint64_t check;  // FNV-1a of slot and sequence
};
static_assert(sizeof(SlotV2) == 56);

uint64_t fnv1a(const void* data, size_t n) {
  const auto* p = static_cast<const uint8_t*>(data);
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < n; ++i) {
    h ^= p[i];
    h *= 0x100000001b3ull;
  }
  return h;
}

bool slot_valid(const AnchorSlot& s, uint32_t version) {
  return s.magic == kMagic && s.version == version &&
         s.check == fnv1a(&s, offsetof(AnchorSlot, check));
}

bool v2_valid(const SlotV2& s) {
  return slot_valid(s.slot, kVersionSlots) && s.check == fnv1a(&s, offsetof(SlotV2, check));
}

SlotV2 make_slot(const AnchorValue& value, uint64_t sequence) {
  SlotV2 s{};
  s.slot.magic = kMagic;
  s.slot.version = kVersionSlots;
  std::memcpy(s.slot.instance, value.instance, kInstanceIdSize);
  s.slot.counter = value.counter;
  s.slot.check = fnv1a(&s.slot, offsetof(AnchorSlot, check));
  s.sequence = sequence;
  s.check = fnv1a(&s, offsetof(SlotV2, check));
  return s;
}

void fsync_dir(const std::string& path) {
  std::string dir = path;
  const size_t slash = dir.rfind('/');
  dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : dir.substr(0, slash));
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

}  // namespace

AnchorStatus FileAnchor::scan(Found& found) {
  const int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno == ENOENT ? AnchorStatus::empty : AnchorStatus::io_error;
  std::vector<uint8_t> buf(kFileSize + 1);
  size_t got = 0;
  while (got < buf.size()) {
    const ssize_t n = ::read(fd, buf.data() + got, buf.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ::close(fd);
      return AnchorStatus::io_error;
    }
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  ::close(fd);
  if (got == sizeof(AnchorSlot)) {  // v1
    AnchorSlot s;
    std::memcpy(&s, buf.data(), sizeof s);
    if (!slot_valid(s, kVersionSingle)) return AnchorStatus::corrupt;
    std::memcpy(found.value.instance, s.instance, kInstanceIdSize);
    found.value.counter = s.counter;
    found.newest = 0;
    return AnchorStatus::ok;
  }
  if (got != kFileSize) return AnchorStatus::corrupt;
  found.v2 = true;
  for (int i = 0; i < 2; ++i) {
    SlotV2 s;
    std::memcpy(&s, buf.data() + i * kSlotStride, sizeof s);
    if (!v2_valid(s) || (found.newest >= 0 && s.sequence <= found.sequence)) continue;
    found.newest = i;
    found.sequence = s.sequence;
    std::memcpy(found.value.instance, s.slot.instance, kInstanceIdSize);
    found.value.counter = s.slot.counter;
  }
  return found.newest >= 0 ? AnchorStatus::ok : AnchorStatus::corrupt;
}

AnchorStatus FileAnchor::load(AnchorValue& out) {
  Found f;
  const AnchorStatus st = scan(f);
  known_valid_ = st == AnchorStatus::ok;
  if (known_valid_) {
    known_ = f;
    out = f.value;
  }
  return st;
}

// A new v2 file holding value in slot 0 (slot 1 invalid), replacing whatever was there
// atomically. The only anchor write that allocates disk space.
AnchorStatus FileAnchor::create(const AnchorValue& value) {
  std::vector<uint8_t> image(kFileSize, 0);
  const SlotV2 s = make_slot(value, 1);
  std::memcpy(image.data(), &s, sizeof s);
  const std::string tmp = path_ + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return AnchorStatus::io_error;
  const bool ok = ::write(fd, image.data(), image.size()) == static_cast<ssize_t>(image.size()) &&
                  ::fsync(fd) == 0;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path_.c_str()) != 0) {
    ::unlink(tmp.c_str());
    return AnchorStatus::io_error;
  }
  fsync_dir(path_);  // the rename itself must be durable before the store relies on it
  known_ = Found{true, 0, 1, value};
  known_valid_ = true;
  return AnchorStatus::ok;
}

AnchorStatus FileAnchor::store(const AnchorValue& value) {
  Found cur = known_;
  const AnchorStatus st = known_valid_ ? AnchorStatus::ok : scan(cur);
  known_valid_ = false;  // until this update is known to have landed
  if (st == AnchorStatus::io_error) return st;
  if (st == AnchorStatus::ok &&
      std::memcmp(cur.value.instance, value.instance, kInstanceIdSize) == 0 &&
      value.counter < cur.value.counter) {
    return AnchorStatus::io_error;  // never move backwards
  }
  if (st != AnchorStatus::ok || !cur.v2) return create(value);
  // Overwrite the older slot in place: no allocation, and a tear leaves the newer slot intact.
  const int target = 1 - cur.newest;
  const SlotV2 s = make_slot(value, cur.sequence + 1);
  const int fd = ::open(path_.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return AnchorStatus::io_error;
  const bool ok = ::pwrite(fd, &s, sizeof s, static_cast<off_t>(target) * kSlotStride) ==
                      static_cast<ssize_t>(sizeof s) &&
                  ::fdatasync(fd) == 0;
  ::close(fd);
  if (!ok) return AnchorStatus::io_error;
  known_ = Found{true, target, s.sequence, value};
  known_valid_ = true;
  return AnchorStatus::ok;
}

}  // namespace utpm::storage
