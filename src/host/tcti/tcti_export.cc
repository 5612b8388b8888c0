// The one symbol the shared library exports; tctildr dlopens libtss2-tcti-utpm.so.0 and asks
// it for the init function (reference/transport.md §1.5).
#include "host/tcti/tcti_utpm.h"

extern "C" __attribute__((visibility("default"))) const TSS2_TCTI_INFO* Tss2_Tcti_Info(void) {
  return utpm::tcti::info();
}
