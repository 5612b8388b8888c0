#include "tools/utpm/tpm_in_process.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <vector>

#include <tss2/tss2_tcti.h>

#include "host/host_platform.h"
#include "host/secure_nv_store.h"
#include "tpm/profile.h"
#include "tpm/state.h"
#include "tpm/tpm.h"

namespace utpm::tool {

namespace {
// What tpm2-tss holds: a TSS2_TCTI_CONTEXT_COMMON_V2 at the start (standard layout).
struct Context {
  TSS2_TCTI_CONTEXT_COMMON_V2 common;
  InProcessTpm::Impl* impl;
};
}  // namespace

struct InProcessTpm::Impl {
  Context context{};
  host::SecureNvStore nv;
  std::unique_ptr<host::HostPlatform> platform;
  std::unique_ptr<tpm::Tpm> tpm;
  int lock_fd = -1;
  std::array<uint8_t, profile::kMaxResponseSize> response{};
  size_t response_size = 0;
  bool pending = false;
};

namespace {

constexpr uint64_t kMagic = 0x7574706d2d696e70ull;  // "utpm-inp"

InProcessTpm::Impl* impl_of(TSS2_TCTI_CONTEXT* c) {
  auto* ctx = reinterpret_cast<Context*>(c);
  if (ctx == nullptr || ctx->common.v1.magic != kMagic) return nullptr;
  return ctx->impl;
}

TSS2_RC transmit(TSS2_TCTI_CONTEXT* c, size_t size, const uint8_t* command) {
  InProcessTpm::Impl* p = impl_of(c);
  if (p == nullptr) return TSS2_TCTI_RC_BAD_CONTEXT;
  if (p->pending) return TSS2_TCTI_RC_BAD_SEQUENCE;
  p->response_size = p->tpm->execute(0, {command, size}, p->response);
  p->pending = true;
  return TSS2_RC_SUCCESS;
}

TSS2_RC receive(TSS2_TCTI_CONTEXT* c, size_t* size, uint8_t* response, int32_t /*timeout*/) {
  InProcessTpm::Impl* p = impl_of(c);
  if (p == nullptr || size == nullptr) return p ? TSS2_TCTI_RC_BAD_REFERENCE : TSS2_TCTI_RC_BAD_CONTEXT;
  if (!p->pending) return TSS2_TCTI_RC_BAD_SEQUENCE;
  if (response == nullptr) {  // size query
    *size = p->response_size;
    return TSS2_RC_SUCCESS;
  }
  if (*size < p->response_size) return TSS2_TCTI_RC_INSUFFICIENT_BUFFER;
  std::memcpy(response, p->response.data(), p->response_size);
  *size = p->response_size;
  p->pending = false;
  return TSS2_RC_SUCCESS;
}

void finalize(TSS2_TCTI_CONTEXT*) {}
TSS2_RC not_implemented_cancel(TSS2_TCTI_CONTEXT*) { return TSS2_TCTI_RC_NOT_IMPLEMENTED; }
TSS2_RC not_implemented_poll(TSS2_TCTI_CONTEXT*, TSS2_TCTI_POLL_HANDLE*, size_t*) {
  return TSS2_TCTI_RC_NOT_IMPLEMENTED;
}
TSS2_RC set_locality(TSS2_TCTI_CONTEXT*, uint8_t locality) {
  return locality == 0 ? TSS2_RC_SUCCESS : TSS2_TCTI_RC_NOT_IMPLEMENTED;
}

}  // namespace

InProcessTpm::InProcessTpm(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

std::unique_ptr<InProcessTpm> InProcessTpm::open(const std::string& dir, std::string& error) {
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    error = "cannot create state directory " + dir + ": " + std::strerror(errno);
    return nullptr;
  }
  auto p = std::make_unique<Impl>();
  p->lock_fd = ::open((dir + "/utpmd.lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (p->lock_fd < 0 || ::flock(p->lock_fd, LOCK_EX | LOCK_NB) != 0) {
    error = "state directory " + dir + " is in use by a utpmd (or cannot be locked): use -T instead";
    if (p->lock_fd >= 0) ::close(p->lock_fd);
    return nullptr;
  }
  if (!p->nv.open({dir, "", std::nullopt}, error)) {
    ::close(p->lock_fd);
    error = "state directory " + dir + ": " + error;
    return nullptr;
  }
  p->platform = std::make_unique<host::HostPlatform>(p->nv);
  p->tpm = std::make_unique<tpm::Tpm>(*p->platform);
  p->tpm->power_on();
  if (p->tpm->in_failure_mode()) {
    error = std::string("the TPM on ") + dir + " is in failure mode: " + tpm::failure_cause_name(p->tpm->failure_cause());
    p->tpm.reset();
    ::close(p->lock_fd);
    return nullptr;
  }
  p->context.common.v1.magic = kMagic;
  p->context.common.v1.version = 2;
  p->context.common.v1.transmit = transmit;
  p->context.common.v1.receive = receive;
  p->context.common.v1.finalize = finalize;
  p->context.common.v1.cancel = not_implemented_cancel;
  p->context.common.v1.getPollHandles = not_implemented_poll;
  p->context.common.v1.setLocality = set_locality;
  p->context.common.makeSticky = nullptr;
  p->context.impl = p.get();
  return std::unique_ptr<InProcessTpm>(new InProcessTpm(std::move(p)));
}

InProcessTpm::~InProcessTpm() {
  if (impl_->tpm) impl_->tpm->power_off();
  impl_->tpm.reset();
  if (impl_->lock_fd >= 0) ::close(impl_->lock_fd);
}

TSS2_TCTI_OPAQUE_CONTEXT_BLOB* InProcessTpm::tcti() {
  return reinterpret_cast<TSS2_TCTI_CONTEXT*>(&impl_->context);
}

void InProcessTpm::power_cycle() { impl_->tpm->reset(); }

}  // namespace utpm::tool
