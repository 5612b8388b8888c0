// Host flash device backed by a file: the store image utpmd keeps on disk. Behaves like NOR
// flash (erase to 0xFF, program only erased units) so the store code is identical on host and
// MCU. The file must have exactly the geometry's size: a truncated or padded file is refused
// at open, never silently extended.
//
// Reads come from a read-only shared mapping of the file, as the MCU reads its memory-mapped
// flash: a store lookup reads a record in several small pieces, and as pread()s they were about
// 8 system calls per NV_Read (~25 us of a ~50 us command on this VM). Writes still go through
// pwrite/fdatasync; Linux keeps a shared mapping coherent with them (one page cache). If the
// mapping cannot be made, reads fall back to pread.
#pragma once

#include <string>

#include "storage/flash.h"

namespace utpm::storage {

class FileFlash final : public FlashDevice {
 public:
  enum class OpenResult { ok, created, not_found, wrong_size, io_error };
  explicit FileFlash(FlashGeometry geometry) : geo_(geometry) {}
  ~FileFlash();
  FileFlash(const FileFlash&) = delete;
  FileFlash& operator=(const FileFlash&) = delete;

  // Opens path; with create, a missing file is created (mode 0600) filled with 0xFF.
  OpenResult open(const std::string& path, bool create);
  void close();

  FlashGeometry geometry() const override { return geo_; }
  FlashStatus read(uint32_t addr, std::span<uint8_t> out) override;
  FlashStatus program(uint32_t addr, std::span<const uint8_t> data) override;
  FlashStatus erase(uint32_t block) override;
  FlashStatus sync() override;

 private:
  FlashGeometry geo_;
  int fd_ = -1;
  const uint8_t* map_ = nullptr;  // the whole file, PROT_READ, MAP_SHARED (or null)
};

}  // namespace utpm::storage
