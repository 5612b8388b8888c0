// Describe: walks a Part 2 value in wire order over the same declarations the engine marshals
// with (UTPM_FIELDS, UTPM_ARMS, Tpm2b, Tpml, Sized, counted arrays) and tells a Visitor what
// it finds: each structure, union arm, list and leaf with its field name, wire offset and
// bytes. Leaves are read with the engine's own unmarshal(), so a value the engine refuses is
// refused here with the same response code, at the field that holds it.
//
// Field and arm names come from the text of the UTPM_FIELDS/UTPM_ARMS lists (the same
// declaration), so a new Part 2 type needs nothing here. For tools (utpm decode) and tests:
// nothing of this is referenced by the engine, so it costs the firmware nothing; it compiles
// for Cortex-M4 (no heap, no exceptions, no RTTI: the Visitor is a plain abstract class).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <tuple>
#include <utility>

#include "tpm/marshal/marshal.h"
#include "tpm/types/capability.h"
#include "tpm/types/nv.h"
#include "tpm/types/object.h"
#include "tpm/types/part2.h"

namespace utpm::tpm::describe {

// A name: a view of declaration text (not NUL-terminated), or an element index of a list.
struct Name {
  const char* p = "";
  size_t n = 0;
  int index = -1;  // >= 0: the index-th element of a list (p/n empty)
};
constexpr Name name_of(const char* s) {
  size_t n = 0;
  while (s[n]) ++n;
  return {s, n, -1};
}

// What a node is.
enum class Node : uint8_t {
  structure,  // UTPM_FIELDS structure
  arm,        // the arm of a union selected by an earlier field (selector given)
  list,       // TPML: count then elements
  sized,      // TPM2B of a structure: size then the structure's fields
};
// How a leaf's bytes read (for printing; the bytes are always given).
enum class Leaf : uint8_t {
  integer,      // plain integer (UINT8..UINT64, INT8)
  alg,          // TPM_ALG_ID
  curve,        // TPM_ECC_CURVE
  handle,       // TPM_HANDLE
  yes_no,       // TPMI_YES_NO
  st,           // TPM_ST
  su,           // TPM_SU
  se,           // TPM_SE
  attr_object,  // TPMA_OBJECT
  attr_nv,      // TPMA_NV
  tpm2b,        // u16 size + octets
  octets,       // octets whose length another field gives (TPMU_HA digest, pcrSelect)
  cc,           // TPM_CC
  locality,     // TPMA_LOCALITY
  cap,          // TPM_CAP
  rc,           // TPM_RC
  pt,           // TPM_PT
};

class Visitor {
 public:
  // A composite value starts at `offset`; for Node::arm, `selector` is the value that chose it.
  virtual void begin(Name name, Node kind, size_t offset, uint32_t selector) = 0;
  virtual void end(size_t offset) = 0;
  virtual void leaf(Name name, Leaf kind, size_t offset, std::span<const uint8_t> bytes) = 0;
  // Decoding stopped: the field `name` starting at `offset` (inside the nodes begun and not
  // ended) is refused with `rc` (TPM_RC_INSUFFICIENT: the input ends there).
  virtual void error(Name name, size_t offset, TPM_RC rc) = 0;
  // The leaf just described holds a value this TPM's interface type refuses (the engine would
  // answer `rc` for it); the walk goes on, the value is well-formed on the wire.
  virtual void refused(Name, size_t, TPM_RC) {}

 protected:
  ~Visitor() = default;
};

// ---- names from declaration text ----
// The index-th top-level item of a comma-separated list ("a, select(b, a), c"), trimmed.
constexpr Name list_item(Name list, size_t index) {
  size_t i = 0, depth = 0, item = 0, start = 0;
  for (; i <= list.n; ++i) {
    const char ch = i < list.n ? list.p[i] : ',';
    if (ch == '(') ++depth;
    if (ch == ')') --depth;
    if (ch == ',' && depth == 0) {
      if (item == index) {
        size_t a = start, b = i;
        while (a < b && (list.p[a] == ' ' || list.p[a] == '\n')) ++a;
        while (b > a && (list.p[b - 1] == ' ' || list.p[b - 1] == '\n')) --b;
        return {list.p + a, b - a, -1};
      }
      ++item;
      start = i + 1;
    }
  }
  return {};
}
// The k-th argument of a call "f(a, b)" (an item without parentheses is its own argument 0).
constexpr Name call_arg(Name item, size_t k) {
  size_t open = 0;
  while (open < item.n && item.p[open] != '(') ++open;
  if (open == item.n) return k == 0 ? item : Name{};
  return list_item({item.p + open + 1, item.n - open - 2, -1}, k);
}
// A member pointer's name: "&U::member" -> "member".
constexpr Name member_name(Name s) {
  size_t cut = 0;
  for (size_t i = 0; i + 1 < s.n; ++i)
    if (s.p[i] == ':' && s.p[i + 1] == ':') cut = i + 2;
  return {s.p + cut, s.n - cut, -1};
}
constexpr bool is_this(Name s) { return s.n == 5 && s.p[0] == '*' && s.p[1] == 't'; }

// ---- leaf kinds ----
template <class T>
struct LeafKindOf {
  static constexpr Leaf value = Leaf::integer;
};
template <class Tr> struct TraitsKind { static constexpr Leaf value = Leaf::integer; };
template <> struct TraitsKind<HashTraits> { static constexpr Leaf value = Leaf::alg; };
template <> struct TraitsKind<SymAlgTraits> { static constexpr Leaf value = Leaf::alg; };
template <> struct TraitsKind<SessionSymModeTraits> { static constexpr Leaf value = Leaf::alg; };
template <> struct TraitsKind<EccCurveTraits> { static constexpr Leaf value = Leaf::curve; };
template <> struct TraitsKind<HierarchyTraits> { static constexpr Leaf value = Leaf::handle; };
template <> struct TraitsKind<ContextHandleTraits> { static constexpr Leaf value = Leaf::handle; };
template <> struct TraitsKind<NvIndexTraits> { static constexpr Leaf value = Leaf::handle; };
template <> struct TraitsKind<NvAuthTraits> { static constexpr Leaf value = Leaf::handle; };
template <uint8_t H> struct TraitsKind<NvHandleOfTypeTraits<H>> { static constexpr Leaf value = Leaf::handle; };
template <> struct TraitsKind<YesNoTraits> { static constexpr Leaf value = Leaf::yes_no; };
template <> struct TraitsKind<StartupTypeTraits> { static constexpr Leaf value = Leaf::su; };
template <> struct TraitsKind<SessionTypeTraits> { static constexpr Leaf value = Leaf::se; };
template <> struct TraitsKind<HashcheckTagTraits> { static constexpr Leaf value = Leaf::st; };
template <> struct TraitsKind<AuthTicketTagTraits> { static constexpr Leaf value = Leaf::st; };
template <> struct TraitsKind<PersistentHandleTraits> { static constexpr Leaf value = Leaf::handle; };
template <> struct TraitsKind<EnablesTraits> { static constexpr Leaf value = Leaf::handle; };
template <> struct TraitsKind<HandleAnyTraits> { static constexpr Leaf value = Leaf::handle; };
template <> struct TraitsKind<AlgAnyTraits> { static constexpr Leaf value = Leaf::alg; };
template <> struct TraitsKind<CurveAnyTraits> { static constexpr Leaf value = Leaf::curve; };
template <> struct TraitsKind<CcTraits> { static constexpr Leaf value = Leaf::cc; };
template <> struct TraitsKind<LocalityTraits> { static constexpr Leaf value = Leaf::locality; };
template <> struct TraitsKind<CapTraits> { static constexpr Leaf value = Leaf::cap; };
template <> struct TraitsKind<RcTraits> { static constexpr Leaf value = Leaf::rc; };
template <> struct TraitsKind<PtTraits> { static constexpr Leaf value = Leaf::pt; };
template <class Tr, bool N>
struct LeafKindOf<Tpmi<Tr, N>> {
  static constexpr Leaf value = TraitsKind<Tr>::value;
};
template <TPM_RC Rc, TPM_ALG_ID... Ids>
struct LeafKindOf<Tpmi<AlgSetTraits<Rc, Ids...>, true>> {
  static constexpr Leaf value = Leaf::alg;
};
template <TPM_RC Rc, TPM_ALG_ID... Ids>
struct LeafKindOf<Tpmi<AlgSetTraits<Rc, Ids...>, false>> {
  static constexpr Leaf value = Leaf::alg;
};
template <> struct LeafKindOf<TPMA_OBJECT> { static constexpr Leaf value = Leaf::attr_object; };
template <> struct LeafKindOf<TPMA_NV> { static constexpr Leaf value = Leaf::attr_nv; };
template <size_t N> struct LeafKindOf<Tpm2b<N>> { static constexpr Leaf value = Leaf::tpm2b; };
template <size_t N> struct LeafKindOf<Tpm2bView<N>> { static constexpr Leaf value = Leaf::tpm2b; };

// ---- the walk ----
struct Walk {
  Visitor& v;
  const uint8_t* base;  // offsets are from here
  bool failed = false;
  size_t at(const Reader& r) const { return static_cast<size_t>(r.position() - base); }
  TPM_RC fail(Name name, size_t offset, TPM_RC rc) {
    if (!failed) v.error(name, offset, rc);
    failed = true;
    return rc;
  }
};

template <class T> struct IsTpml : std::false_type {};
template <class T, size_t N> struct IsTpml<Tpml<T, N>> : std::true_type {};
template <class T> struct IsSized : std::false_type {};
template <class T, bool E> struct IsSized<Sized<T, E>> : std::true_type {};
template <class T> struct IsSelected : std::false_type {};
template <class U, class S> struct IsSelected<Selected<U, S>> : std::true_type {};
template <class T> struct IsCounted : std::false_type {};
template <class C, class E, size_t N> struct IsCounted<Counted<C, E, N>> : std::true_type {};

template <class T>
TPM_RC walk(Walk& w, Reader& r, T& v, Name name);

template <class T>
TPM_RC walk_leaf(Walk& w, Reader& r, T& v, Name name, Leaf kind) {
  const size_t at = w.at(r);
  const uint8_t* p = r.position();
  const TPM_RC rc = unmarshal(r, v);
  const size_t n = static_cast<size_t>(r.position() - p);
  // A value read whole but refused (TPM_RC_VALUE, _HASH, _RESERVED_BITS, ...) is described and
  // flagged; missing octets or a size beyond capacity stop the walk.
  if (rc != TPM_RC_SUCCESS && (rc == TPM_RC_INSUFFICIENT || rc == TPM_RC_SIZE || n == 0)) return w.fail(name, at, rc);
  w.v.leaf(name, kind, at, {p, n});
  if (rc != TPM_RC_SUCCESS) w.v.refused(name, at, rc);
  return TPM_RC_SUCCESS;
}

template <HasFields T>
TPM_RC walk_fields(Walk& w, Reader& r, T& v) {
  auto f = v.fields();
  const Name names = name_of(T::utpm_field_names());
  TPM_RC rc = TPM_RC_SUCCESS;
  size_t i = 0;
  std::apply([&](auto&... field) {
    ((rc == TPM_RC_SUCCESS ? (rc = walk(w, r, field, list_item(names, i)), ++i, 0) : 0), ...);
  }, f);
  return rc;
}

namespace detail {
template <class U, class... M, size_t... J>
TPM_RC walk_members(Walk& w, Reader& r, U& u, const Arm<U, M...>& a, Name item, std::index_sequence<J...>) {
  TPM_RC rc = TPM_RC_SUCCESS;
  ((rc == TPM_RC_SUCCESS ? (rc = walk(w, r, u.*std::get<J>(a.members), member_name(call_arg(item, J + 1))), 0) : 0),
   ...);
  return rc;
}
template <class U, class... M>
void walk_arm(Walk& w, Reader& r, U& u, uint32_t sel, const Arm<U, M...>& a, Name item, Name name, bool& found,
              TPM_RC& rc) {
  if (found || a.selector != sel) return;
  found = true;
  const bool inline_arm = is_this(name);  // the arms select members of the structure itself
  if (!inline_arm) w.v.begin(name, Node::arm, w.at(r), sel);
  rc = walk_members(w, r, u, a, item, std::index_sequence_for<M...>{});
  if (!inline_arm && rc == TPM_RC_SUCCESS) w.v.end(w.at(r));
}
template <class U>
void walk_arm(Walk&, Reader&, U&, uint32_t sel, const NoArm& a, Name, Name, bool& found, TPM_RC& rc) {
  if (found || a.selector != sel) return;
  found = true;
  rc = TPM_RC_SUCCESS;
}
template <class U, size_t... I>
TPM_RC walk_union(Walk& w, Reader& r, U& u, uint32_t sel, Name name, std::index_sequence<I...>) {
  constexpr auto arms = U::arms();
  const Name items = name_of(U::utpm_arm_names());
  bool found = false;
  TPM_RC rc = TPM_RC_SELECTOR;
  (walk_arm(w, r, u, sel, std::get<I>(arms), list_item(items, I), name, found, rc), ...);
  if (!found) return w.fail(name, w.at(r), TPM_RC_SELECTOR);
  return rc;
}
}  // namespace detail

template <class T>
TPM_RC walk(Walk& w, Reader& r, T& v, Name name) {
  if constexpr (IsSelected<T>::value) {
    using U = std::remove_cvref_t<decltype(v.u)>;
    const uint32_t sel = static_cast<uint32_t>(v.selector);
    if constexpr (HasArms<U>) {
      return detail::walk_union(w, r, v.u, sel, call_arg(name, 0),
                                std::make_index_sequence<std::tuple_size_v<decltype(U::arms())>>{});
    } else {  // a union that reads itself by the selector (TPMU_HA: digest octets)
      const size_t at = w.at(r);
      const uint8_t* p = r.position();
      if (TPM_RC rc = unmarshal(r, v.u, sel)) return w.fail(call_arg(name, 0), at, rc);
      w.v.leaf(call_arg(name, 0), Leaf::octets, at, {p, static_cast<size_t>(r.position() - p)});
      return TPM_RC_SUCCESS;
    }
  } else if constexpr (IsCounted<T>::value) {  // the same rule as unmarshal(Counted)
    using C = std::remove_cvref_t<decltype(v.count)>;
    const Name count_name = call_arg(name, 0), items_name = call_arg(name, 1);
    const size_t at = w.at(r);
    C n{};
    v.count = 0;
    if (TPM_RC rc = walk_leaf(w, r, n, count_name, Leaf::integer)) return rc;
    if (static_cast<size_t>(n) < v.min || static_cast<size_t>(n) > std::size(v.items))
      return w.fail(count_name, at, TPM_RC_VALUE);
    const size_t items_at = w.at(r);
    const uint8_t* p = r.position();
    for (size_t i = 0; i < static_cast<size_t>(n); ++i)
      if (TPM_RC rc = unmarshal(r, v.items[i])) return w.fail(items_name, items_at, rc);
    v.count = n;
    w.v.leaf(items_name, Leaf::octets, items_at, {p, static_cast<size_t>(r.position() - p)});
    return TPM_RC_SUCCESS;
  } else if constexpr (IsTpml<T>::value) {
    const size_t at = w.at(r);
    uint32_t count = 0;
    v.count = 0;
    w.v.begin(name, Node::list, at, 0);
    if (TPM_RC rc = walk_leaf(w, r, count, name_of("count"), Leaf::integer)) return rc;
    if (count > T::kCapacity) return w.fail(name_of("count"), at, TPM_RC_SIZE);
    for (uint32_t i = 0; i < count; ++i) {
      if (TPM_RC rc = walk(w, r, v.items[i], Name{"", 0, static_cast<int>(i)})) return rc;
    }
    v.count = count;
    w.v.end(w.at(r));
    return TPM_RC_SUCCESS;
  } else if constexpr (IsSized<T>::value) {
    const size_t at = w.at(r);
    w.v.begin(name, Node::sized, at, 0);
    if (TPM_RC rc = walk_leaf(w, r, v.size, name_of("size"), Leaf::integer)) return rc;
    if (v.size == 0) {
      if (!std::is_same_v<T, Sized<decltype(v.t), true>>) return w.fail(name_of("size"), at, TPM_RC_SIZE);
      w.v.end(w.at(r));
      return TPM_RC_SUCCESS;
    }
    Reader sub;
    if (!r.sub(v.size, sub)) {  // as unmarshal: complete contents under a size past the input
      Reader rest = r;
      if (TPM_RC rc = walk_fields(w, rest, v.t)) return rc;
      return w.fail(name_of("size"), at, TPM_RC_SIZE);
    }
    // As unmarshal: running out inside the sized area is the size's fault (TPM_RC_SIZE); the
    // visitor has been told where the contents ran out.
    if (TPM_RC rc = walk_fields(w, sub, v.t)) return rc == TPM_RC_INSUFFICIENT ? TPM_RC_SIZE : rc;
    if (sub.remaining() != 0) return w.fail(name_of("size"), at, TPM_RC_SIZE);
    w.v.end(w.at(r));
    return TPM_RC_SUCCESS;
  } else if constexpr (HasFields<T>) {
    w.v.begin(name, Node::structure, w.at(r), 0);
    if (TPM_RC rc = walk_fields(w, r, v)) return rc;
    w.v.end(w.at(r));
    return TPM_RC_SUCCESS;
  } else {
    return walk_leaf(w, r, v, name, LeafKindOf<T>::value);
  }
}

// Walks one value of type T from `r` (offsets relative to `base`), describing it to `v`.
template <class T>
TPM_RC describe(Visitor& v, const uint8_t* base, Reader& r, T& value, Name name) {
  Walk w{v, base};
  return walk(w, r, value, name);
}

}  // namespace utpm::tpm::describe
