#include "secure_nv_store.h"

#include "board.h"
#include "crypto/crypto.h"

namespace utpm::firmware {

using storage::MountCause;
using storage::StoreResult;

// The store's results are the engine's results, value for value.
static_assert(static_cast<int>(StoreResult::ok) == static_cast<int>(tpm::NvStore::Result::ok));
static_assert(static_cast<int>(StoreResult::not_found) == static_cast<int>(tpm::NvStore::Result::not_found));
static_assert(static_cast<int>(StoreResult::too_large) == static_cast<int>(tpm::NvStore::Result::too_large));
static_assert(static_cast<int>(StoreResult::no_space) == static_cast<int>(tpm::NvStore::Result::no_space));
static_assert(static_cast<int>(StoreResult::io_error) == static_cast<int>(tpm::NvStore::Result::io_error));
static_assert(static_cast<int>(StoreResult::integrity_error) ==
              static_cast<int>(tpm::NvStore::Result::integrity_error));

namespace {
tpm::NvStore::Result map(StoreResult r) { return static_cast<tpm::NvStore::Result>(r); }
}  // namespace

SecureNvStore::SecureNvStore(storage::FlashDevice& flash, storage::FlashDevice& anchor_flash)
    : anchor_(anchor_flash),
      store_(flash, anchor_, kConfig, storage::StoreMemory{index_, staged_, segments_, work_}) {}

MountCause SecureNvStore::open() {
  uint8_t secret[storage::SecureStore::kSecretSize];
  if (!board::device_secret(secret)) {
    cause_ = MountCause::io_error;
    return cause_;
  }
  MountCause c = store_.mount(secret);
  if (c == MountCause::blank) {
    // First boot (or a format cut short by power loss): a new store instance.
    uint8_t instance[storage::kInstanceIdSize];
    c = board::entropy(instance) ? store_.format(secret, instance) : MountCause::io_error;
  }
  crypto::zeroize(secret, sizeof secret);
  cause_ = c;
  return c;
}

tpm::NvStore::Result SecureNvStore::refused() const {
  return storage::is_integrity_failure(cause_) ? Result::integrity_error : Result::io_error;
}

tpm::NvStore::Result SecureNvStore::read(uint32_t id, std::span<uint8_t> out, size_t& len) {
  len = 0;
  return cause_ == MountCause::ok ? map(store_.read(id, out, len)) : refused();
}

tpm::NvStore::Result SecureNvStore::write(uint32_t id, std::span<const uint8_t> data) {
  return cause_ == MountCause::ok ? map(store_.write(id, data)) : refused();
}

tpm::NvStore::Result SecureNvStore::remove(uint32_t id) {
  return cause_ == MountCause::ok ? map(store_.remove(id)) : refused();
}

tpm::NvStore::Result SecureNvStore::commit() {
  return cause_ == MountCause::ok ? map(store_.commit()) : refused();
}

void SecureNvStore::abort() {
  if (cause_ == MountCause::ok) store_.abort();
}

}  // namespace utpm::firmware
