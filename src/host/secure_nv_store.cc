#include "host/secure_nv_store.h"

#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "crypto/crypto.h"

namespace utpm::host {

using storage::MountCause;
using storage::StoreResult;

// The store's results are the engine's results, value for value.
static_assert(static_cast<int>(StoreResult::ok) == static_cast<int>(tpm::NvStore::Result::ok));
static_assert(static_cast<int>(StoreResult::not_found) ==
              static_cast<int>(tpm::NvStore::Result::not_found));
static_assert(static_cast<int>(StoreResult::too_large) ==
              static_cast<int>(tpm::NvStore::Result::too_large));
static_assert(static_cast<int>(StoreResult::no_space) ==
              static_cast<int>(tpm::NvStore::Result::no_space));
static_assert(static_cast<int>(StoreResult::io_error) ==
              static_cast<int>(tpm::NvStore::Result::io_error));
static_assert(static_cast<int>(StoreResult::integrity_error) ==
              static_cast<int>(tpm::NvStore::Result::integrity_error));

namespace {

bool random_bytes(uint8_t* p, size_t n) {
  while (n > 0) {
    const ssize_t r = ::getrandom(p, n, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    p += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

}  // namespace

SecureNvStore::SecureNvStore()
    : index_(kMaxRecords),
      staged_(kMaxStaged),
      segments_(kGeometry.block_count / kConfig.segment_blocks),
      work_(storage::SecureStore::work_size(kConfig)) {}

SecureNvStore::~SecureNvStore() {
  store_.reset();
  crypto::zeroize(work_.data(), work_.size());
}

tpm::NvStore::Result SecureNvStore::map(StoreResult r) { return static_cast<Result>(r); }

bool SecureNvStore::has_store(const std::string& dir) {
  struct stat st{};
  return ::stat((dir + "/nv.store").c_str(), &st) == 0 && st.st_size > 0;
}

bool SecureNvStore::load_or_create_key(const std::string& path, std::array<uint8_t, 32>& out,
                                       std::string& error, bool may_create) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0 && errno == ENOENT && !may_create) {
    error = "key file " + path + " is missing but a store exists beside it; refusing to create "
            "a new key (restore the key file, or pass the secret with --key)";
    return false;
  }
  if (fd < 0 && errno == ENOENT) {
    // First start: a fresh secret, never readable by anyone but the owner.
    fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
      error = "cannot create key file " + path + ": " + std::strerror(errno);
      return false;
    }
    errno = 0;
    bool ok = random_bytes(out.data(), out.size()) &&
              ::write(fd, out.data(), out.size()) == static_cast<ssize_t>(out.size()) &&
              ::fsync(fd) == 0;
    const int saved = errno;
    ::close(fd);
    if (!ok) {
      crypto::zeroize(out.data(), out.size());
      ::unlink(path.c_str());
      error = "cannot write key file " + path + (saved ? std::string(": ") + std::strerror(saved) : "");
      return false;
    }
    return true;
  }
  if (fd < 0) {
    error = "cannot open key file " + path + ": " + std::strerror(errno);
    return false;
  }
  struct stat st{};
  if (::fstat(fd, &st) != 0 || (st.st_mode & 077) != 0 || st.st_size != 32) {
    ::close(fd);
    error = "key file " + path + " must be exactly 32 bytes with mode 0600 (or stricter)";
    return false;
  }
  const bool ok = ::read(fd, out.data(), out.size()) == static_cast<ssize_t>(out.size());
  ::close(fd);
  if (!ok) {
    crypto::zeroize(out.data(), out.size());
    error = "cannot read key file " + path;
    return false;
  }
  return true;
}

bool SecureNvStore::open(const Options& options, std::string& error) {
  store_.reset();
  load_error_ = Result::io_error;
  cause_ = MountCause::io_error;
  std::array<uint8_t, 32> secret{};
  if (options.secret) {
    secret = *options.secret;
  } else if (!load_or_create_key(options.key_file.empty() ? options.dir + "/nv.key"
                                                          : options.key_file,
                                 secret, error, !has_store(options.dir))) {
    return false;
  }
  const std::string image = options.dir + "/nv.store";
  switch (flash_.open(image, true)) {
    case storage::FileFlash::OpenResult::ok:
    case storage::FileFlash::OpenResult::created:
      break;
    case storage::FileFlash::OpenResult::wrong_size:
      crypto::zeroize(secret.data(), secret.size());
      load_error_ = Result::integrity_error;
      cause_ = MountCause::broken_chain;
      error = image + " has the wrong size (truncated or not a utpm store); refusing to load";
      return false;
    default:
      crypto::zeroize(secret.data(), secret.size());
      error = "cannot open " + image + ": " + std::strerror(errno);
      return false;
  }
  anchor_ = std::make_unique<storage::FileAnchor>(options.dir + "/nv.anchor");
  store_ = std::make_unique<storage::SecureStore>(
      flash_, *anchor_, kConfig, storage::StoreMemory{index_, staged_, segments_, work_});
  MountCause c = store_->mount(secret);
  if (c == MountCause::blank) {
    // First start (or a format that never finished): a new store instance.
    std::array<uint8_t, storage::kInstanceIdSize> instance{};
    c = random_bytes(instance.data(), instance.size()) ? store_->format(secret, instance)
                                                       : MountCause::io_error;
  }
  crypto::zeroize(secret.data(), secret.size());
  cause_ = c;
  if (c != MountCause::ok) {
    load_error_ = storage::is_integrity_failure(c) ? Result::integrity_error : Result::io_error;
    error = std::string("secure store ") + image + ": " + storage::mount_cause_name(c);
    store_.reset();
    return false;
  }
  load_error_ = Result::ok;
  return true;
}

tpm::NvStore::Result SecureNvStore::read(uint32_t id, std::span<uint8_t> out, size_t& len) {
  len = 0;
  return store_ ? map(store_->read(id, out, len)) : load_error_;
}

tpm::NvStore::Result SecureNvStore::write(uint32_t id, std::span<const uint8_t> data) {
  return store_ ? map(store_->write(id, data)) : load_error_;
}

tpm::NvStore::Result SecureNvStore::remove(uint32_t id) {
  return store_ ? map(store_->remove(id)) : load_error_;
}

tpm::NvStore::Result SecureNvStore::commit() {
  return store_ ? map(store_->commit()) : load_error_;
}

void SecureNvStore::abort() {
  if (store_) store_->abort();
}

std::vector<uint32_t> SecureNvStore::record_ids() const {
  std::vector<uint32_t> ids;
  if (store_ && store_->mounted()) store_->for_each_record_id([&ids](uint32_t id) { ids.push_back(id); });
  return ids;
}

}  // namespace utpm::host
