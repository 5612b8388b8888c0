// Test-only reader for the published known-answer files kept under src/crypto/testdata:
// NIST CAVP .rsp files and the RFC-derived .txt files in the same "key = value" shape.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace utpm::crypto::test {

struct Record {
  std::map<std::string, std::string> section;  // from "[name = value]" / "[NAME]" headers
  std::map<std::string, std::string> fields;   // "Name = value" lines; bare words map to ""
  int line = 0;                                  // where the record starts, for messages

  bool has(const std::string& k) const { return fields.count(k) != 0; }
  const std::string& str(const std::string& k) const;
  std::vector<uint8_t> bytes(const std::string& k) const;  // hex field; missing/empty -> {}
  long num(const std::string& k) const;
  bool in_section(const std::string& k) const { return section.count(k) != 0; }
  long section_num(const std::string& k) const;
  std::string where() const;
  std::string file;
};

// Loads testdata/<relpath>. Fails the calling test (ADD_FAILURE) if the file is missing.
std::vector<Record> load_vectors(const std::string& relpath);

std::vector<uint8_t> from_hex(const std::string& hex);
std::string to_hex(const uint8_t* p, size_t n);
inline std::string to_hex(const std::vector<uint8_t>& v) { return to_hex(v.data(), v.size()); }

}  // namespace utpm::crypto::test
