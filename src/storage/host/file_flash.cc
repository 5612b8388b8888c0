#include "storage/host/file_flash.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

namespace utpm::storage {
namespace {

bool pread_all(int fd, uint8_t* p, size_t n, off_t off) {
  while (n > 0) {
    const ssize_t r = ::pread(fd, p, n, off);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    p += r;
    n -= static_cast<size_t>(r);
    off += r;
  }
  return true;
}

bool pwrite_all(int fd, const uint8_t* p, size_t n, off_t off) {
  while (n > 0) {
    const ssize_t r = ::pwrite(fd, p, n, off);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    p += r;
    n -= static_cast<size_t>(r);
    off += r;
  }
  return true;
}

}  // namespace

FileFlash::~FileFlash() { close(); }

void FileFlash::close() {
  if (map_ != nullptr) ::munmap(const_cast<uint8_t*>(map_), geo_.size());
  map_ = nullptr;
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

namespace {
const uint8_t* map_read_only(int fd, size_t size) {
  void* m = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
  return m == MAP_FAILED ? nullptr : static_cast<const uint8_t*>(m);
}
}  // namespace

FileFlash::OpenResult FileFlash::open(const std::string& path, bool create) {
  close();
  fd_ = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd_ < 0 && errno == ENOENT && create) {
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd_ < 0) return OpenResult::io_error;
    std::vector<uint8_t> ff(geo_.erase_block_size, kErasedByte);
    for (uint32_t b = 0; b < geo_.block_count; ++b) {
      if (!pwrite_all(fd_, ff.data(), ff.size(), off_t{b} * geo_.erase_block_size)) {
        close();
        return OpenResult::io_error;
      }
    }
    if (::fsync(fd_) != 0) {
      close();
      return OpenResult::io_error;
    }
    map_ = map_read_only(fd_, geo_.size());
    return OpenResult::created;
  }
  if (fd_ < 0) return errno == ENOENT ? OpenResult::not_found : OpenResult::io_error;
  struct stat st;
  if (::fstat(fd_, &st) != 0) {
    close();
    return OpenResult::io_error;
  }
  if (static_cast<uint64_t>(st.st_size) != geo_.size()) {
    close();
    return OpenResult::wrong_size;
  }
  map_ = map_read_only(fd_, geo_.size());
  return OpenResult::ok;
}

FlashStatus FileFlash::read(uint32_t addr, std::span<uint8_t> out) {
  if (fd_ < 0) return FlashStatus::io_error;
  const FlashStatus st = check_read(addr, out.size());
  if (st != FlashStatus::ok) return st;
  if (map_ != nullptr) {
    std::memcpy(out.data(), map_ + addr, out.size());
    return FlashStatus::ok;
  }
  return pread_all(fd_, out.data(), out.size(), addr) ? FlashStatus::ok : FlashStatus::io_error;
}

FlashStatus FileFlash::program(uint32_t addr, std::span<const uint8_t> data) {
  if (fd_ < 0) return FlashStatus::io_error;
  const FlashStatus st = check_program(addr, data.size());
  if (st != FlashStatus::ok) return st;
  std::vector<uint8_t> cur(data.size());
  if (read(addr, cur) != FlashStatus::ok) return FlashStatus::io_error;  // the mapping, or pread
  for (uint8_t b : cur) {
    if (b != kErasedByte) return FlashStatus::not_erased;
  }
  return pwrite_all(fd_, data.data(), data.size(), addr) ? FlashStatus::ok : FlashStatus::io_error;
}

FlashStatus FileFlash::erase(uint32_t block) {
  if (fd_ < 0) return FlashStatus::io_error;
  if (block >= geo_.block_count) return FlashStatus::out_of_range;
  std::vector<uint8_t> ff(geo_.erase_block_size, kErasedByte);
  return pwrite_all(fd_, ff.data(), ff.size(), off_t{block} * geo_.erase_block_size)
             ? FlashStatus::ok
             : FlashStatus::io_error;
}

FlashStatus FileFlash::sync() {
  if (fd_ < 0) return FlashStatus::io_error;
  return ::fdatasync(fd_) == 0 ? FlashStatus::ok : FlashStatus::io_error;
}

}  // namespace utpm::storage
