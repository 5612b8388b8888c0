// The parameter schema of every implemented command (Part 3): the names of its handles, its
// parameters (name and Part 2 type) and its response handles and parameters. One row a
// command in command_schema.cc; the types are the engine's own declarations (types/*.h), walked
// by marshal/describe.h, so the decoder and the engine read a parameter with the same code.
//
// A tools library (utpm_tpm_schema): compiled for the host and for Cortex-M4, linked into the
// firmware image only if something there uses it (nothing does today).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "tpm/marshal/buffer.h"
#include "tpm/marshal/describe.h"
#include "tpm/types/constants.h"

namespace utpm::tpm::schema {

// Walks one parameter from `r` (offsets from `base`), describing it to `v`; when `reencode`
// is given, the decoded value is marshalled again into it (the engine's marshal, for
// round-trip checks).
using WalkFn = TPM_RC (*)(describe::Visitor& v, const uint8_t* base, Reader& r, describe::Name name,
                          Writer* reencode);

struct Param {
  const char* name = nullptr;  // Part 3 field name (nullptr: no parameter)
  const char* type = nullptr;  // Part 2 type name
  WalkFn walk = nullptr;
};

inline constexpr size_t kMaxParams = 6;

struct CommandSchema {
  TPM_CC code;
  const char* name;              // "TPM2_Create"
  const char* handles;           // the handle area's names, comma-separated ("" if none)
  Param in[kMaxParams];          // command parameters in order
  const char* response_handles;  // "objectHandle" or ""
  Param out[kMaxParams];         // response parameters in order

  size_t in_count() const { return count(in); }
  size_t out_count() const { return count(out); }
  size_t handle_count() const { return names(handles); }
  size_t response_handle_count() const { return names(response_handles); }

 private:
  static size_t count(const Param (&p)[kMaxParams]) {
    size_t n = 0;
    while (n < kMaxParams && p[n].name) ++n;
    return n;
  }
  static size_t names(const char* s) {
    if (!*s) return 0;
    size_t n = 1;
    for (; *s; ++s) n += *s == ',';
    return n;
  }
};

// nullptr if the command has no schema.
const CommandSchema* find_schema(TPM_CC code);
std::span<const CommandSchema> schemas();

// The index-th name of a comma-separated handle list.
inline describe::Name handle_name(const char* list, size_t index) {
  return describe::list_item(describe::name_of(list), index);
}

}  // namespace utpm::tpm::schema
