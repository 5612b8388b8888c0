// utpm setup: manufacture a TPM like swtpm_setup (docs/tool.md "utpm setup"): EKs from the TCG
// EK Credential Profile templates, X.509 EK certificates (and optionally a platform certificate)
// signed by a local CA, written into NV at the profile's indices.
#pragma once

namespace utpm::tool {

// argv after "setup". Returns the exit code (docs/tool.md).
int cmd_setup(int argc, char** argv);

}  // namespace utpm::tool
