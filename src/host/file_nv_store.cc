#include "host/file_nv_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>

namespace utpm::host {

namespace {

constexpr char kMagic[8] = {'u', 'T', 'P', 'M', 'n', 'v', '0', '0'};
constexpr size_t kHeaderSize = sizeof kMagic + 4 + 4;
constexpr size_t kRecordHeaderSize = 4 + 4;
constexpr size_t kTrailerSize = 4;
static_assert(kHeaderSize == 16, "file header layout is persisted; changing it needs kVersion++");
static_assert(kRecordHeaderSize == 8, "record header layout is persisted");
static_assert(kTrailerSize == 4, "trailer layout is persisted");

void put_le32(std::vector<uint8_t>& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}
uint32_t get_le32(const uint8_t* p) {
  return uint32_t{p[0]} | (uint32_t{p[1]} << 8) | (uint32_t{p[2]} << 16) | (uint32_t{p[3]} << 24);
}

constexpr std::array<uint32_t, 256> make_crc_table() {
  std::array<uint32_t, 256> t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (0xEDB88320u ^ (c >> 1)) : (c >> 1);
    t[i] = c;
  }
  return t;
}
constexpr std::array<uint32_t, 256> kCrcTable = make_crc_table();

bool write_all(int fd, const uint8_t* p, size_t n) {
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

std::string dir_of(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

}  // namespace

uint32_t crc32_ieee(std::span<const uint8_t> data, uint32_t crc) {
  crc = ~crc;
  for (const uint8_t b : data) crc = kCrcTable[(crc ^ b) & 0xFF] ^ (crc >> 8);
  return ~crc;
}

FileNvStore::FileNvStore(std::string path) : path_(std::move(path)) { load_error_ = load(); }

tpm::NvStore::Result FileNvStore::load() {
  const int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno == ENOENT ? Result::ok : Result::io_error;
  std::vector<uint8_t> file;
  uint8_t chunk[8192];
  for (;;) {
    const ssize_t r = ::read(fd, chunk, sizeof chunk);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      ::close(fd);
      return Result::io_error;
    }
    if (r == 0) break;
    file.insert(file.end(), chunk, chunk + r);
    if (file.size() > kMaxTotalSize + kHeaderSize + kTrailerSize) {
      ::close(fd);
      return Result::integrity_error;
    }
  }
  ::close(fd);

  if (file.size() < kHeaderSize + kTrailerSize) return Result::integrity_error;
  if (std::memcmp(file.data(), kMagic, sizeof kMagic) != 0) return Result::integrity_error;
  const size_t body = file.size() - kTrailerSize;
  if (crc32_ieee({file.data(), body}) != get_le32(&file[body])) return Result::integrity_error;
  if (get_le32(&file[8]) != kVersion) return Result::integrity_error;
  const uint32_t count = get_le32(&file[12]);

  size_t pos = kHeaderSize;
  for (uint32_t i = 0; i < count; ++i) {
    if (body - pos < kRecordHeaderSize) return Result::integrity_error;
    const uint32_t id = get_le32(&file[pos]);
    const uint32_t len = get_le32(&file[pos + 4]);
    pos += kRecordHeaderSize;
    if (len > kMaxRecordSize || body - pos < len) return Result::integrity_error;
    if (!committed_.emplace(id, std::vector<uint8_t>(file.begin() + static_cast<std::ptrdiff_t>(pos),
                                                     file.begin() + static_cast<std::ptrdiff_t>(pos + len)))
             .second) {
      return Result::integrity_error;  // duplicate id
    }
    pos += len;
  }
  if (pos != body) return Result::integrity_error;
  return Result::ok;
}

tpm::NvStore::Result FileNvStore::read(uint32_t id, std::span<uint8_t> out, size_t& len) {
  len = 0;
  if (load_error_ != Result::ok) return load_error_;
  const std::vector<uint8_t>* rec = nullptr;
  if (auto s = staged_.find(id); s != staged_.end()) {
    if (!s->second) return Result::not_found;
    rec = &*s->second;
  } else if (auto c = committed_.find(id); c != committed_.end()) {
    rec = &c->second;
  } else {
    return Result::not_found;
  }
  len = rec->size();
  if (rec->size() > out.size()) return Result::too_large;
  std::memcpy(out.data(), rec->data(), rec->size());
  return Result::ok;
}

size_t FileNvStore::total_size_with_staged() const {
  size_t total = 0;
  for (const auto& [id, data] : committed_) {
    if (!staged_.contains(id)) total += kRecordHeaderSize + data.size();
  }
  for (const auto& [id, data] : staged_) {
    if (data) total += kRecordHeaderSize + data->size();
  }
  return total;
}

tpm::NvStore::Result FileNvStore::write(uint32_t id, std::span<const uint8_t> data) {
  if (load_error_ != Result::ok) return load_error_;
  if (data.size() > kMaxRecordSize) return Result::too_large;
  auto previous = staged_.find(id);
  std::optional<std::optional<std::vector<uint8_t>>> undo;
  if (previous != staged_.end()) undo = previous->second;
  staged_[id] = std::vector<uint8_t>(data.begin(), data.end());
  if (total_size_with_staged() > kMaxTotalSize) {
    if (undo) staged_[id] = *undo; else staged_.erase(id);
    return Result::no_space;
  }
  return Result::ok;
}

tpm::NvStore::Result FileNvStore::remove(uint32_t id) {
  if (load_error_ != Result::ok) return load_error_;
  const bool exists = staged_.contains(id) ? staged_[id].has_value() : committed_.contains(id);
  if (!exists) return Result::not_found;
  staged_[id] = std::nullopt;
  return Result::ok;
}

void FileNvStore::abort() { staged_.clear(); }

tpm::NvStore::Result FileNvStore::commit() {
  if (load_error_ != Result::ok) return load_error_;
  if (staged_.empty()) return Result::ok;
  std::map<uint32_t, std::vector<uint8_t>> next = committed_;
  for (auto& [id, data] : staged_) {
    if (data) next[id] = *data; else next.erase(id);
  }

  std::vector<uint8_t> file(kMagic, kMagic + sizeof kMagic);
  put_le32(file, kVersion);
  put_le32(file, static_cast<uint32_t>(next.size()));
  for (const auto& [id, data] : next) {
    put_le32(file, id);
    put_le32(file, static_cast<uint32_t>(data.size()));
    file.insert(file.end(), data.begin(), data.end());
  }
  put_le32(file, crc32_ieee(file));

  // Old or new survives a crash at any point: the new image is complete and on disk before
  // rename() swaps it in, and the directory is synced so the rename itself is durable.
  const std::string tmp = path_ + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  bool ok = fd >= 0 && write_all(fd, file.data(), file.size()) && ::fsync(fd) == 0;
  if (fd >= 0) ok = (::close(fd) == 0) && ok;
  ok = ok && ::rename(tmp.c_str(), path_.c_str()) == 0;
  if (ok) {
    const int dfd = ::open(dir_of(path_).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
      ::fsync(dfd);
      ::close(dfd);
    }
  } else {
    ::unlink(tmp.c_str());
  }
  staged_.clear();
  if (!ok) return Result::io_error;
  committed_ = std::move(next);
  return Result::ok;
}

}  // namespace utpm::host
