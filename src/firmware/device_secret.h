// The device secret, kept in a dedicated flash area of its own: generated once from the
// board's entropy source and programmed in one go, never rewritten. Shared by both boards
// (the QEMU board's "flash" is a host file and its secret is therefore TEST-ONLY).
#pragma once

#include <cstdint>
#include <span>

#include "storage/flash.h"

namespace utpm::firmware {

// Reads the secret from `area` (block 0), or creates it there when the area is erased.
// false if the area holds something that is not a valid secret (a torn first-boot write, or
// tampering): the store then stays locked and the engine reports failure, rather than
// silently starting a new identity.
bool load_or_create_device_secret(storage::FlashDevice& area, std::span<uint8_t, 32> out);

}  // namespace utpm::firmware
