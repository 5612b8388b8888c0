// What the engine needs from the world it runs in. The host (utpmd) and each firmware board
// implement this; the engine never touches an OS or a peripheral directly.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace utpm::tpm {

// Persistent records addressed by a 32-bit id. write()/remove() are staged; commit() makes all
// staged changes durable atomically (all or none survive a power cut); abort() drops them.
// read() sees staged changes. The secure store (src/storage) is the real implementation.
class NvStore {
 public:
  enum class Result : uint8_t {
    ok = 0,
    not_found,       // no record with that id
    too_large,       // record larger than the caller's buffer / the store's record limit
    no_space,        // store full (the engine answers TPM_RC_NV_SPACE)
    io_error,        // device failure (TPM_RC_NV_UNAVAILABLE)
    integrity_error, // tampering or rollback detected: the engine enters failure mode
  };
  virtual ~NvStore() = default;
  virtual Result read(uint32_t id, std::span<uint8_t> out, size_t& len) = 0;
  virtual Result write(uint32_t id, std::span<const uint8_t> data) = 0;
  virtual Result remove(uint32_t id) = 0;
  virtual Result commit() = 0;
  virtual void abort() = 0;
};

class Platform {
 public:
  virtual ~Platform() = default;
  // Fills out with full-entropy bytes from a health-tested source; false on source failure.
  virtual bool get_entropy(std::span<uint8_t> out) = 0;
  // Milliseconds of a monotonic timer; only differences are used. Must not go backwards
  // while power is on.
  virtual uint64_t now_ms() = 0;
  // True while the platform signals that the current command should be cancelled.
  virtual bool cancel_requested() { return false; }
  // True while physical presence is asserted (button / platform signal).
  virtual bool physical_presence() { return false; }
  virtual NvStore& nv() = 0;
};

}  // namespace utpm::tpm
