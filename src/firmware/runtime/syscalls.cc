// The few C/C++ runtime hooks newlib-nano and libsupc++ may reference. There is deliberately
// no _sbrk: the firmware has no heap, so any code that pulls in malloc fails to link.
#include <cstddef>

#include "board.h"

extern "C" {

[[noreturn]] void abort() { utpm::firmware::board::panic("abort"); }
[[noreturn]] void _exit(int) { utpm::firmware::board::panic("exit"); }
// mbedTLS's buffer allocator calls exit() when it finds its pool corrupted. newlib's exit
// would run atexit handlers and drag in its reentrancy structure; there is nothing to run.
[[noreturn]] void exit(int) { utpm::firmware::board::panic("exit"); }
[[noreturn]] void __cxa_pure_virtual() { utpm::firmware::board::panic("pure virtual call"); }

// Without exceptions the library's terminate would drag in the verbose handler and the
// demangler (tens of KB of flash) for a path that must never run.
[[noreturn]] void __cxa_deleted_virtual() { utpm::firmware::board::panic("deleted virtual call"); }

}  // extern "C"

namespace std {
[[noreturn]] void terminate() noexcept { utpm::firmware::board::panic("terminate"); }
}  // namespace std

// Classes with virtual destructors get a "deleting destructor" that names operator delete
// even though nothing is ever heap-allocated. Replacing it keeps free()/malloc out of the
// link; reaching it is a bug.
void operator delete(void*) noexcept { utpm::firmware::board::panic("operator delete"); }
void operator delete(void*, std::size_t) noexcept { utpm::firmware::board::panic("operator delete"); }
