#include "storage/stm32l4/stm32l4_flash.h"

namespace utpm::storage {
namespace {

// FLASH controller registers (RM0351 §3.7).
constexpr uintptr_t kFlashRegs = 0x40022000u;
constexpr uint32_t kAcr = 0x00, kKeyr = 0x08, kSr = 0x10, kCr = 0x14, kEccr = 0x18;

constexpr uint32_t kKey1 = 0x45670123u, kKey2 = 0xCDEF89ABu;

// SR
constexpr uint32_t kSrEop = 1u << 0;
constexpr uint32_t kSrErrors = (1u << 1) | (1u << 3) | (1u << 4) | (1u << 5) | (1u << 6) |
                               (1u << 7) | (1u << 8) | (1u << 9) | (1u << 14) | (1u << 15);
constexpr uint32_t kSrBsy = 1u << 16;
// CR
constexpr uint32_t kCrPg = 1u << 0, kCrPer = 1u << 1, kCrBker = 1u << 11, kCrStrt = 1u << 16;
constexpr uint32_t kCrPnbShift = 3, kCrPnbMask = 0xFFu << kCrPnbShift;
constexpr uint32_t kCrLock = 1u << 31;
// ACR
constexpr uint32_t kAcrDcen = 1u << 10, kAcrDcrst = 1u << 12;
// ECCR
constexpr uint32_t kEccrEccd = 1u << 31, kEccrEccc = 1u << 30;

volatile uint32_t& reg(uint32_t off) {
  return *reinterpret_cast<volatile uint32_t*>(kFlashRegs + off);
}

// Counts double ECC errors seen by the NMI handler; the driver compares before/after reads.
volatile uint32_t g_ecc_errors = 0;

void wait_idle() {
  while (reg(kSr) & kSrBsy) {
  }
}

bool unlock() {
  if (reg(kCr) & kCrLock) {
    reg(kKeyr) = kKey1;
    reg(kKeyr) = kKey2;
  }
  return (reg(kCr) & kCrLock) == 0;
}

void lock() { reg(kCr) = reg(kCr) | kCrLock; }

// Clears stale status so that the result of the next operation is its own.
void clear_status() { reg(kSr) = kSrErrors | kSrEop; }

}  // namespace

bool Stm32l4Flash::on_nmi() {
  const uint32_t eccr = reg(kEccr);
  if ((eccr & kEccrEccd) == 0) return false;
  reg(kEccr) = eccr | kEccrEccd;  // write 1 to clear
  g_ecc_errors = g_ecc_errors + 1;
  return true;
}

bool Stm32l4Flash::ecc_error_since(uint32_t mark) const {
  // Single-bit errors are corrected by hardware (ECCC) and harmless; clear the flag.
  if (reg(kEccr) & kEccrEccc) reg(kEccr) = reg(kEccr) | kEccrEccc;
  return g_ecc_errors != mark;
}

FlashStatus Stm32l4Flash::read(uint32_t addr, std::span<uint8_t> out) {
  const FlashStatus st = check_read(addr, out.size());
  if (st != FlashStatus::ok) return st;
  const uint32_t mark = g_ecc_errors;
  const volatile uint8_t* src = reinterpret_cast<const volatile uint8_t*>(region_ + addr);
  for (size_t i = 0; i < out.size(); ++i) out[i] = src[i];
  return ecc_error_since(mark) ? FlashStatus::io_error : FlashStatus::ok;
}

FlashStatus Stm32l4Flash::check_erased(uint32_t addr, uint32_t len, bool& erased) {
  erased = false;
  const FlashStatus st = check_read(addr, len);
  if (st != FlashStatus::ok) return st;
  const uint32_t mark = g_ecc_errors;
  const volatile uint32_t* p = reinterpret_cast<const volatile uint32_t*>(region_ + (addr & ~3u));
  bool all_ff = true;
  for (uint32_t i = 0; i < (len + 3) / 4; ++i) all_ff &= p[i] == 0xFFFFFFFFu;
  // A half-programmed double-word can read 0xFF with inconsistent ECC: not erased.
  erased = all_ff && !ecc_error_since(mark);
  return FlashStatus::ok;
}

FlashStatus Stm32l4Flash::program(uint32_t addr, std::span<const uint8_t> data) {
  const FlashStatus st = check_program(addr, data.size());
  if (st != FlashStatus::ok) return st;
  if (!unlock()) return FlashStatus::io_error;
  FlashStatus result = FlashStatus::ok;
  for (size_t off = 0; off < data.size() && result == FlashStatus::ok; off += 8) {
    volatile uint32_t* dst = reinterpret_cast<volatile uint32_t*>(region_ + addr + off);
    if (dst[0] != 0xFFFFFFFFu || dst[1] != 0xFFFFFFFFu) {
      result = FlashStatus::not_erased;
      break;
    }
    uint32_t w0 = 0, w1 = 0;
    for (int i = 0; i < 4; ++i) {
      w0 |= uint32_t{data[off + static_cast<size_t>(i)]} << (8 * i);
      w1 |= uint32_t{data[off + 4 + static_cast<size_t>(i)]} << (8 * i);
    }
    wait_idle();
    clear_status();
    reg(kCr) = reg(kCr) | kCrPg;
    // The two words of one double-word, in this order, start the programming.
    dst[0] = w0;
    dst[1] = w1;
    wait_idle();
    const uint32_t sr = reg(kSr);
    reg(kCr) = reg(kCr) & ~kCrPg;
    if (sr & kSrErrors) {
      result = FlashStatus::io_error;
    } else if (dst[0] != w0 || dst[1] != w1) {
      result = FlashStatus::io_error;  // read-back verify
    }
  }
  lock();
  return result;
}

FlashStatus Stm32l4Flash::erase(uint32_t block) {
  if (block >= pages_) return FlashStatus::out_of_range;
  const uint32_t page = (region_ - kFlashBase) / kPageSize + block;
  if (!unlock()) return FlashStatus::io_error;
  wait_idle();
  clear_status();
  uint32_t cr = reg(kCr) & ~(kCrPnbMask | kCrBker | kCrPg);
  cr |= kCrPer | ((page % kPagesPerBank) << kCrPnbShift);
  if (page >= kPagesPerBank) cr |= kCrBker;
  reg(kCr) = cr;
  reg(kCr) = cr | kCrStrt;
  wait_idle();
  const uint32_t sr = reg(kSr);
  reg(kCr) = reg(kCr) & ~(kCrPer | kCrBker | kCrPnbMask);
  lock();
  // The data cache may still hold the page's old contents (RM0351: reset it after an erase).
  const uint32_t acr = reg(kAcr);
  if (acr & kAcrDcen) {
    reg(kAcr) = acr & ~kAcrDcen;
    reg(kAcr) = (acr & ~kAcrDcen) | kAcrDcrst;
    reg(kAcr) = acr & ~kAcrDcrst;
  }
  return (sr & kSrErrors) ? FlashStatus::io_error : FlashStatus::ok;
}

}  // namespace utpm::storage
