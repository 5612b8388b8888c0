// libtss2-tcti-utpm: a tpm2-tss TCTI (ABI version 2) for a utpm device behind a serial line.
//
// Why our own TCTI: tpm2-tss's device TCTI makes no termios calls and reads the header and the
// body with one read() each, so on a tty it breaks on cooked line discipline and on responses
// that arrive in pieces (reference/transport.md §1.3). This one opens the tty with O_NOCTTY,
// makes it raw 8N1, frames commands (mssim by default, so locality and cancel travel with
// them) and reassembles responses by their size fields, honouring the caller's timeout.
//
// The shared library exports only Tss2_Tcti_Info (tctildr finds it by the name "utpm").
// info() is the same table for code that links the TCTI statically (tests).
#pragma once

#include <tss2/tss2_tcti.h>

namespace utpm::tcti {

// 64-bit context magic, unique among TCTIs ("utpmTCTI").
inline constexpr uint64_t kMagic = 0x75746d7054435449ULL;
inline constexpr uint32_t kAbiVersion = 2;
// The largest command/response the TCTI passes: what tpm2-tss itself assumes (SAPI maxCmdSize).
inline constexpr size_t kMaxMessage = 4096;

const TSS2_TCTI_INFO* info();

}  // namespace utpm::tcti
