#include "storage/host/file_anchor.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace utpm::storage {
namespace {

constexpr uint32_t kMagic = 0x46414E55;  // "UNAF"
constexpr uint32_t kVersion = 1;

struct AnchorFile {
  uint32_t magic;
  uint32_t version;
  uint8_t instance[kInstanceIdSize];
  uint64_t counter;
  uint64_t check;  // FNV-1a of the fields above: catches a damaged file, not an attacker
};
static_assert(sizeof(AnchorFile) == 40);

uint64_t fnv1a(const uint8_t* p, size_t n) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < n; ++i) {
    h ^= p[i];
    h *= 0x100000001b3ull;
  }
  return h;
}

}  // namespace

AnchorStatus FileAnchor::load(AnchorValue& out) {
  const int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno == ENOENT ? AnchorStatus::empty : AnchorStatus::io_error;
  AnchorFile f;
  uint8_t extra;
  const ssize_t n = ::read(fd, &f, sizeof f);
  const ssize_t more = ::read(fd, &extra, 1);
  ::close(fd);
  if (n < 0) return AnchorStatus::io_error;
  if (n != sizeof f || more != 0 || f.magic != kMagic || f.version != kVersion ||
      f.check != fnv1a(reinterpret_cast<const uint8_t*>(&f), offsetof(AnchorFile, check))) {
    return AnchorStatus::corrupt;
  }
  std::memcpy(out.instance, f.instance, kInstanceIdSize);
  out.counter = f.counter;
  return AnchorStatus::ok;
}

AnchorStatus FileAnchor::store(const AnchorValue& value) {
  AnchorValue cur;
  const AnchorStatus st = load(cur);
  if (st == AnchorStatus::io_error) return st;
  if (st == AnchorStatus::ok && std::memcmp(cur.instance, value.instance, kInstanceIdSize) == 0 &&
      value.counter < cur.counter) {
    return AnchorStatus::io_error;  // never move backwards
  }
  AnchorFile f{};
  f.magic = kMagic;
  f.version = kVersion;
  std::memcpy(f.instance, value.instance, kInstanceIdSize);
  f.counter = value.counter;
  f.check = fnv1a(reinterpret_cast<const uint8_t*>(&f), offsetof(AnchorFile, check));
  const std::string tmp = path_ + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return AnchorStatus::io_error;
  const bool ok = ::write(fd, &f, sizeof f) == static_cast<ssize_t>(sizeof f) && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path_.c_str()) != 0) return AnchorStatus::io_error;
  // The rename itself must be durable before the store relies on the new value.
  std::string dir = path_;
  const size_t slash = dir.rfind('/');
  dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : dir.substr(0, slash));
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return AnchorStatus::ok;
}

}  // namespace utpm::storage
