// Footprint probe for the Cortex-M4 check: the RAM a firmware store needs with the default
// firmware configuration (docs/storage.md §Resources). Never linked into firmware.
#include "storage/secure_store.h"
#include "storage/stm32l4/stm32l4_flash.h"

namespace utpm::storage::footprint {

// Store: 128 KB in bank 2 = 16 segments of 4 pages (8 KB); records up to 2048 bytes.
inline constexpr StoreConfig kConfig{4, 2048};
inline constexpr size_t kRecords = 64, kStaged = 16, kSegments = 16;

alignas(SecureStore) unsigned char store_object[sizeof(SecureStore)];
IndexEntry index_ram[kRecords];
IndexEntry staged_ram[kStaged];
SegmentInfo segments_ram[kSegments];
uint8_t work_ram[SecureStore::work_size(kConfig)];
alignas(Stm32l4Flash) unsigned char flash_object[sizeof(Stm32l4Flash)];
alignas(FlashCounterAnchor) unsigned char anchor_object[sizeof(FlashCounterAnchor)];

}  // namespace utpm::storage::footprint
