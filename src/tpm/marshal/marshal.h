// One generic marshalling mechanism for every Part 2 type.
//
// - Primitives (u8/u16/u32/u64, i8) and the templates below are the only marshalling code.
// - A structure lists its fields once, in wire order, with UTPM_FIELDS(...); the generic
//   unmarshal/marshal walk that list. A union field is listed as select(u, selector).
// - A union (TPMU_*) is a real union that lists its arms once with UTPM_ARMS(arm(selector,
//   &U::member), ..., no_arm(selector)); the generic unmarshal/marshal pick the arm by the
//   selector (TPM_RC_SELECTOR for none). Only a union whose arm is not a type of its own
//   (TPMU_HA: digest bytes sized by the hash) writes its own overloads.
// - TPMI_* interface types are Tpmi<Traits, AllowNull>: the traits say which values are legal
//   and which TPM_RC a bad value gets; AllowNull is the spec's "+" (e.g. TPMI_ALG_HASH+).
// - Errors are bare codes (TPM_RC_INSUFFICIENT, TPM_RC_SIZE, TPM_RC_VALUE, ...); the command
//   layer adds the parameter/handle number (Command::parse).
//
// Every template is instantiated only for the types actually used, so the firmware pays only
// for what its command set marshals.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <tuple>
#include <utility>

#include "tpm/marshal/buffer.h"
#include "tpm/types/constants.h"

namespace utpm::tpm {

// ---- primitives ----
inline TPM_RC unmarshal(Reader& r, uint8_t& v) { return r.u8(v) ? TPM_RC_SUCCESS : TPM_RC_INSUFFICIENT; }
inline TPM_RC unmarshal(Reader& r, int8_t& v) {
  uint8_t u;
  if (!r.u8(u)) return TPM_RC_INSUFFICIENT;
  v = static_cast<int8_t>(u);
  return TPM_RC_SUCCESS;
}
inline TPM_RC unmarshal(Reader& r, uint16_t& v) { return r.u16(v) ? TPM_RC_SUCCESS : TPM_RC_INSUFFICIENT; }
inline TPM_RC unmarshal(Reader& r, uint32_t& v) { return r.u32(v) ? TPM_RC_SUCCESS : TPM_RC_INSUFFICIENT; }
inline TPM_RC unmarshal(Reader& r, uint64_t& v) { return r.u64(v) ? TPM_RC_SUCCESS : TPM_RC_INSUFFICIENT; }
inline void marshal(Writer& w, uint8_t v) { w.u8(v); }
inline void marshal(Writer& w, int8_t v) { w.u8(static_cast<uint8_t>(v)); }
inline void marshal(Writer& w, uint16_t v) { w.u16(v); }
inline void marshal(Writer& w, uint32_t v) { w.u32(v); }
inline void marshal(Writer& w, uint64_t v) { w.u64(v); }

// ---- interface types (TPMI_*) ----
template <class Traits, bool AllowNull = false>
struct Tpmi {
  using type = typename Traits::type;
  type value{};
  constexpr operator type() const { return value; }
};
template <class Traits, bool AllowNull>
TPM_RC unmarshal(Reader& r, Tpmi<Traits, AllowNull>& v) {
  TPM_RC rc = unmarshal(r, v.value);
  if (rc != TPM_RC_SUCCESS) return rc;
  if constexpr (AllowNull) {
    if (v.value == Traits::null_value) return TPM_RC_SUCCESS;
  }
  return Traits::valid(v.value) ? TPM_RC_SUCCESS : Traits::rc;
}
template <class Traits, bool AllowNull>
void marshal(Writer& w, const Tpmi<Traits, AllowNull>& v) {
  marshal(w, v.value);
}

// ---- TPM2B: u16 size + up to N bytes ----
template <size_t N>
struct Tpm2b {
  static constexpr size_t kCapacity = N;
  uint16_t size = 0;
  uint8_t buffer[N]{};

  std::span<const uint8_t> view() const { return {buffer, size}; }
  bool assign(std::span<const uint8_t> src) {
    if (src.size() > N) return false;
    size = static_cast<uint16_t>(src.size());
    if (size) std::memcpy(buffer, src.data(), size);
    return true;
  }
};
// Safe by construction: a failed unmarshal leaves an empty buffer (never size > N, never a
// size whose bytes were not read), and marshal never reads past the buffer.
template <size_t N>
TPM_RC unmarshal(Reader& r, Tpm2b<N>& v) {
  uint16_t size = 0;
  v.size = 0;
  if (!r.u16(size)) return TPM_RC_INSUFFICIENT;
  if (size > N) return TPM_RC_SIZE;
  if (!r.bytes(v.buffer, size)) return TPM_RC_INSUFFICIENT;
  v.size = size;
  return TPM_RC_SUCCESS;
}
template <size_t N>
void marshal(Writer& w, const Tpm2b<N>& v) {
  const uint16_t size = v.size <= N ? v.size : static_cast<uint16_t>(N);
  w.u16(size);
  w.bytes(v.buffer, size);
}

// ---- TPML: u32 count + up to N elements ----
template <class T, size_t N>
struct Tpml {
  static constexpr size_t kCapacity = N;
  uint32_t count = 0;
  T items[N]{};
};
// As for Tpm2b: count is only ever the number of elements actually unmarshalled (0 on error).
template <class T, size_t N>
TPM_RC unmarshal(Reader& r, Tpml<T, N>& v) {
  uint32_t count = 0;
  v.count = 0;
  if (!r.u32(count)) return TPM_RC_INSUFFICIENT;
  if (count > N) return TPM_RC_SIZE;
  for (uint32_t i = 0; i < count; ++i) {
    TPM_RC rc = unmarshal(r, v.items[i]);
    if (rc != TPM_RC_SUCCESS) return rc;
  }
  v.count = count;
  return TPM_RC_SUCCESS;
}
template <class T, size_t N>
void marshal(Writer& w, const Tpml<T, N>& v) {
  const uint32_t count = v.count <= N ? v.count : static_cast<uint32_t>(N);
  w.u32(count);
  for (uint32_t i = 0; i < count; ++i) marshal(w, v.items[i]);
}

// ---- unions selected by an earlier field ----
// An arm: the selector value and the member(s) it selects, in wire order (a structure whose
// fields depend on a selector, e.g. a scheme's details, lists several); no_arm: a selector that
// selects nothing (TPM_ALG_NULL where the spec allows it).
template <class U, class... M>
struct Arm {
  uint32_t selector;
  std::tuple<M U::*...> members;
};
struct NoArm {
  uint32_t selector;
};
template <class U, class M, class... More>
constexpr Arm<U, M, More...> arm(uint32_t selector, M U::*member, More U::*... more) {
  return {selector, {member, more...}};
}
constexpr NoArm no_arm(uint32_t selector) { return {selector}; }
// Inside a union body: its arms, once, in any order. utpm_arm_names() is the same list as text,
// for tools that describe a value (marshal/describe.h); it costs nothing unless used.
#define UTPM_ARMS(...)                                                   \
  static constexpr auto arms() { return std::make_tuple(__VA_ARGS__); }  \
  static constexpr const char* utpm_arm_names() { return #__VA_ARGS__; }
template <class U>
concept HasArms = requires { U::arms(); };

// Unions are real unions: one arm's storage at a time. Their arm types are aggregates
// (implicit-lifetime), so zero-filling the storage at construction gives every arm a
// well-defined all-zero value to start from, whichever the code then uses.
#define UTPM_UNION_ZERO_INIT(U) \
  U() { std::memset(static_cast<void*>(this), 0, sizeof *this); }

namespace detail {
template <class U, class... M>
void unmarshal_arm(Reader& r, U& u, uint32_t sel, const Arm<U, M...>& a, bool& found, TPM_RC& rc) {
  if (found || a.selector != sel) return;
  found = true;
  rc = TPM_RC_SUCCESS;
  std::apply([&](const auto&... m) { ((rc == TPM_RC_SUCCESS ? (rc = unmarshal(r, u.*m), 0) : 0), ...); },
             a.members);
}
template <class U>
void unmarshal_arm(Reader&, U&, uint32_t sel, const NoArm& a, bool& found, TPM_RC& rc) {
  if (found || a.selector != sel) return;
  found = true;
  rc = TPM_RC_SUCCESS;
}
template <class U, class... M>
void marshal_arm(Writer& w, const U& u, uint32_t sel, const Arm<U, M...>& a, bool& found) {
  if (found || a.selector != sel) return;
  found = true;
  std::apply([&](const auto&... m) { (marshal(w, u.*m), ...); }, a.members);
}
template <class U>
void marshal_arm(Writer&, const U&, uint32_t sel, const NoArm& a, bool& found) {
  if (a.selector == sel) found = true;
}
}  // namespace detail

template <HasArms U>
TPM_RC unmarshal(Reader& r, U& u, uint32_t selector) {
  bool found = false;
  TPM_RC rc = TPM_RC_SELECTOR;
  std::apply([&](const auto&... a) { (detail::unmarshal_arm(r, u, selector, a, found, rc), ...); }, U::arms());
  return rc;
}
// A selector without an arm writes nothing (a well-formed value never has one).
template <HasArms U>
void marshal(Writer& w, const U& u, uint32_t selector) {
  bool found = false;
  std::apply([&](const auto&... a) { (detail::marshal_arm(w, u, selector, a, found), ...); }, U::arms());
}

template <class U, class S>
struct Selected {
  U& u;
  const S& selector;
};
template <class U, class S>
Selected<U, S> select(U& u, const S& s) {
  return {u, s};
}
template <class U, class S>
TPM_RC unmarshal(Reader& r, Selected<U, S>& f) {
  return unmarshal(r, f.u, static_cast<uint32_t>(f.selector));
}
template <class U, class S>
void marshal(Writer& w, const Selected<U, S>& f) {
  marshal(w, f.u, static_cast<uint32_t>(f.selector));
}

// ---- arrays counted by an earlier member (TPMS_PCR_SELECTION's sizeofSelect/pcrSelect) ----
// Listed as counted(count, items, min): the count is read, must be in [min, capacity of items]
// (TPM_RC_VALUE otherwise), then that many items. As for Tpm2b, the count member is only ever
// set to the number of items actually read (0 on error).
template <class C, class E, size_t N>
struct Counted {
  C& count;
  E (&items)[N];
  size_t min;
};
template <class C, class E, size_t N>
Counted<C, E, N> counted(C& count, E (&items)[N], size_t min) {
  return {count, items, min};
}
template <class C, class E, size_t N>
TPM_RC unmarshal(Reader& r, Counted<C, E, N>& f) {
  C n{};
  f.count = 0;
  if (TPM_RC rc = unmarshal(r, n)) return rc;
  if (static_cast<size_t>(n) < f.min || static_cast<size_t>(n) > N) return TPM_RC_VALUE;
  for (size_t i = 0; i < static_cast<size_t>(n); ++i)
    if (TPM_RC rc = unmarshal(r, f.items[i])) return rc;
  f.count = n;
  return TPM_RC_SUCCESS;
}
template <class C, class E, size_t N>
void marshal(Writer& w, const Counted<C, E, N>& f) {
  const C n = f.count <= N ? f.count : static_cast<C>(N);
  marshal(w, n);
  for (size_t i = 0; i < static_cast<size_t>(n); ++i) marshal(w, f.items[i]);
}

// ---- structures ----
// The fields of a structure as a tuple: references to members, and select() values for unions.
template <class... A>
auto field_list(A&&... a) {
  return std::tuple<A...>(std::forward<A>(a)...);
}
// Lists the fields of a structure, in wire order, once. Use inside the struct body; a union
// field is written select(member, selector_field).
// utpm_field_names() is the same list as text, for tools that describe a value
// (marshal/describe.h); it costs nothing unless used.
#define UTPM_FIELDS(...)                                                  \
  auto fields() { return ::utpm::tpm::field_list(__VA_ARGS__); }         \
  auto fields() const { return ::utpm::tpm::field_list(__VA_ARGS__); }   \
  static constexpr const char* utpm_field_names() { return #__VA_ARGS__; }

template <class T>
concept HasFields = requires(T& t) { t.fields(); };

namespace detail {
template <class Tuple, size_t... I>
TPM_RC unmarshal_each(Reader& r, Tuple&& t, std::index_sequence<I...>) {
  TPM_RC rc = TPM_RC_SUCCESS;
  ((rc == TPM_RC_SUCCESS ? (rc = unmarshal(r, std::get<I>(t)), 0) : 0), ...);
  return rc;
}
}  // namespace detail

template <HasFields T>
TPM_RC unmarshal(Reader& r, T& v) {
  auto f = v.fields();
  return detail::unmarshal_each(r, f, std::make_index_sequence<std::tuple_size_v<decltype(f)>>{});
}
template <HasFields T>
void marshal(Writer& w, const T& v) {
  std::apply([&w](const auto&... f) { (marshal(w, f), ...); }, v.fields());
}

// ---- a use of a structure without the '+' its selector needs for TPM_ALG_NULL ----
// Part 2 passes '+' down: TPMT_HA's hashAlg is "+TPMI_ALG_HASH", so TPM_ALG_NULL is legal in
// a TPMT_HA only where that use is written with '+' (TPMT_HA+ in TPMT_TK_*, not in
// TPML_DIGEST_VALUES); the same for TPMT_SYM_DEF_OBJECT (+ in TPMS_RSA_PARMS, not in
// TPMS_SYMCIPHER_PARMS). A structure is declared once with its selector as Tpmi<..., true>;
// a use without '+' is NoNull<T>: the selector (T's first field) may not be the null value,
// which gets the selector's own TPM_RC (TPM_RC_HASH, TPM_RC_SYMMETRIC, ...). A NULL selector
// has no arm, so checking after T is read reports what checking the selector first would.
template <class T>
struct NoNull : T {};
namespace detail {
template <class Traits>
constexpr bool is_null(const Tpmi<Traits, true>& v) {
  return v.value == Traits::null_value;
}
template <class Traits>
constexpr TPM_RC null_rc(const Tpmi<Traits, true>&) {
  return Traits::rc;
}
}  // namespace detail
template <HasFields T>
TPM_RC unmarshal(Reader& r, NoNull<T>& v) {
  T& t = v;
  if (TPM_RC rc = unmarshal(r, t)) return rc;
  const auto& selector = std::get<0>(t.fields());
  return detail::is_null(selector) ? detail::null_rc(selector) : TPM_RC_SUCCESS;
}

// ---- sized structures (TPM2B_PUBLIC, ...): u16 size + exactly that many bytes of T ----
// A size that does not match its contents (they need more octets than it gives, leave some,
// or end before a size that runs past the input) is TPM_RC_SIZE: Part 2 marks these size
// fields #TPM_RC_SIZE. Only contents cut by the end of the input are TPM_RC_INSUFFICIENT.
// AllowEmpty: size 0 is an absent structure (LoadExternal's TPM2B_SENSITIVE), marshalled as
// size 0 again when size is 0; otherwise size 0 is TPM_RC_SIZE.
template <class T, bool AllowEmpty = false>
struct Sized {
  uint16_t size = 0;
  T t{};
};
template <class T, bool AllowEmpty>
TPM_RC unmarshal(Reader& r, Sized<T, AllowEmpty>& v) {
  Reader sub;
  if (!r.u16(v.size)) return TPM_RC_INSUFFICIENT;
  if (v.size == 0) return AllowEmpty ? TPM_RC_SUCCESS : TPM_RC_SIZE;
  if (!r.sub(v.size, sub)) {
    // The size promises more than the input holds: read the contents from what there is. If
    // they are complete the size is what is wrong; if not, the input ended inside them.
    Reader rest = r;
    TPM_RC rc = unmarshal(rest, v.t);
    return rc != TPM_RC_SUCCESS ? rc : TPM_RC_SIZE;
  }
  TPM_RC rc = unmarshal(sub, v.t);
  // The input holds all `size` octets, so running out inside them means the size is too
  // small for the contents: the size field is what is wrong (Part 2 marks it #TPM_RC_SIZE).
  if (rc == TPM_RC_INSUFFICIENT) return TPM_RC_SIZE;
  if (rc != TPM_RC_SUCCESS) return rc;
  return sub.remaining() == 0 ? TPM_RC_SUCCESS : TPM_RC_SIZE;
}
template <class T, bool AllowEmpty>
void marshal(Writer& w, const Sized<T, AllowEmpty>& v) {
  if constexpr (AllowEmpty) {
    if (v.size == 0) {
      w.u16(0);
      return;
    }
  }
  size_t at = w.reserve(2);
  size_t start = w.size();
  marshal(w, v.t);
  w.patch16(at, static_cast<uint16_t>(w.size() - start));
}

}  // namespace utpm::tpm
