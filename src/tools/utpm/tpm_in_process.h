// The utpm engine on a utpmd state directory, inside the utpm tool, behind a TCTI (tpm2-tss's
// TSS2_TCTI_CONTEXT_COMMON_V2), so `utpm setup --tpmstate DIR` needs no daemon, no port and no
// second process. The directory is locked like utpmd locks it (DIR/utpmd.lock), so a running
// utpmd and utpm never share one state.
#pragma once

#include <memory>
#include <string>

struct TSS2_TCTI_OPAQUE_CONTEXT_BLOB;

namespace utpm::tool {

class InProcessTpm {
 public:
  // Creates DIR if missing, locks it, opens the secure store and powers the engine on.
  // nullptr + error on failure (the directory in use by a utpmd, a store that fails its checks).
  static std::unique_ptr<InProcessTpm> open(const std::string& dir, std::string& error);
  ~InProcessTpm();  // powers the engine off (the state stays), unlocks
  InProcessTpm(const InProcessTpm&) = delete;
  InProcessTpm& operator=(const InProcessTpm&) = delete;

  TSS2_TCTI_OPAQUE_CONTEXT_BLOB* tcti();
  void power_cycle();  // _TPM_Init after a power cycle (a PCR reallocation takes effect)

  struct Impl;

 private:
  explicit InProcessTpm(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace utpm::tool
