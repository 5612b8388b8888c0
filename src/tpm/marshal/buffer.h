// Bounds-checked big-endian cursors over byte spans (Pigweed style). Every read says whether
// the bytes were there; a Writer remembers overflow instead of writing past its end.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

namespace utpm::tpm {

class Reader {
 public:
  Reader() = default;
  explicit Reader(std::span<const uint8_t> b) : p_(b.data()), left_(b.size()) {}

  size_t remaining() const { return left_; }
  const uint8_t* position() const { return p_; }

  bool u8(uint8_t& v) {
    if (left_ < 1) return false;
    v = *p_++;
    --left_;
    return true;
  }
  bool u16(uint16_t& v) {
    if (left_ < 2) return false;
    v = static_cast<uint16_t>(p_[0] << 8 | p_[1]);
    advance(2);
    return true;
  }
  bool u32(uint32_t& v) {
    if (left_ < 4) return false;
    v = uint32_t{p_[0]} << 24 | uint32_t{p_[1]} << 16 | uint32_t{p_[2]} << 8 | p_[3];
    advance(4);
    return true;
  }
  bool u64(uint64_t& v) {
    uint32_t hi = 0, lo = 0;  // the compiler cannot see that the length check covers both reads
    if (left_ < 8) return false;
    u32(hi);
    u32(lo);
    v = uint64_t{hi} << 32 | lo;
    return true;
  }
  bool bytes(uint8_t* dst, size_t n) {
    if (left_ < n) return false;
    if (n) std::memcpy(dst, p_, n);
    advance(n);
    return true;
  }
  // Takes n bytes as a view; false if fewer remain.
  bool take(size_t n, std::span<const uint8_t>& out) {
    if (left_ < n) return false;
    out = {p_, n};
    advance(n);
    return true;
  }
  // Splits off the next n bytes as their own reader (for sized structures).
  bool sub(size_t n, Reader& out) {
    if (left_ < n) return false;
    out = Reader({p_, n});
    advance(n);
    return true;
  }

 private:
  void advance(size_t n) {
    p_ += n;
    left_ -= n;
  }
  const uint8_t* p_ = nullptr;
  size_t left_ = 0;
};

class Writer {
 public:
  Writer() = default;
  explicit Writer(std::span<uint8_t> b) : base_(b.data()), cap_(b.size()) {}

  size_t size() const { return len_; }
  bool overflow() const { return overflow_; }
  uint8_t* data() const { return base_; }
  std::span<const uint8_t> written() const { return {base_, len_}; }
  // The room not yet written (scratch space for a handler whose output is small or empty).
  std::span<uint8_t> spare() const { return {base_ + len_, cap_ - len_}; }
  // Counts n octets written in place into spare() as written (no copy).
  void commit(size_t n) {
    if (fits(n)) len_ += n;
  }

  void u8(uint8_t v) { put(&v, 1); }
  void u16(uint16_t v) {
    uint8_t b[2] = {static_cast<uint8_t>(v >> 8), static_cast<uint8_t>(v)};
    put(b, 2);
  }
  void u32(uint32_t v) {
    uint8_t b[4] = {static_cast<uint8_t>(v >> 24), static_cast<uint8_t>(v >> 16),
                    static_cast<uint8_t>(v >> 8), static_cast<uint8_t>(v)};
    put(b, 4);
  }
  void u64(uint64_t v) {
    u32(static_cast<uint32_t>(v >> 32));
    u32(static_cast<uint32_t>(v));
  }
  void bytes(const uint8_t* src, size_t n) { put(src, n); }
  void bytes(std::span<const uint8_t> s) { put(s.data(), s.size()); }

  // Reserves room for a big-endian size field written later by patch16/patch32.
  size_t reserve(size_t n) {
    size_t at = len_;
    if (!fits(n)) return at;
    std::memset(base_ + len_, 0, n);
    len_ += n;
    return at;
  }
  void patch16(size_t at, uint16_t v) {
    if (overflow_ || at + 2 > len_) return;
    base_[at] = static_cast<uint8_t>(v >> 8);
    base_[at + 1] = static_cast<uint8_t>(v);
  }
  void patch32(size_t at, uint32_t v) {
    if (overflow_ || at + 4 > len_) return;
    for (int i = 0; i < 4; ++i) base_[at + i] = static_cast<uint8_t>(v >> (24 - 8 * i));
  }

 private:
  bool fits(size_t n) {
    if (overflow_ || cap_ - len_ < n) {
      overflow_ = true;
      return false;
    }
    return true;
  }
  void put(const uint8_t* src, size_t n) {
    if (!fits(n)) return;
    if (n) std::memcpy(base_ + len_, src, n);
    len_ += n;
  }
  uint8_t* base_ = nullptr;
  size_t cap_ = 0;
  size_t len_ = 0;
  bool overflow_ = false;
};

}  // namespace utpm::tpm
