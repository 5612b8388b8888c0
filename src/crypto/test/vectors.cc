#include "vectors.h"

#include <gtest/gtest.h>

#include <cctype>
#include <fstream>

namespace utpm::crypto::test {
namespace {

std::string trim(const std::string& s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return s.substr(b, e - b);
}

}  // namespace

const std::string& Record::str(const std::string& k) const {
  static const std::string empty;
  auto it = fields.find(k);
  return it == fields.end() ? empty : it->second;
}

std::vector<uint8_t> Record::bytes(const std::string& k) const { return from_hex(str(k)); }

long Record::num(const std::string& k) const { return std::stol(str(k)); }

long Record::section_num(const std::string& k) const {
  auto it = section.find(k);
  return it == section.end() ? -1 : std::stol(it->second);
}

std::string Record::where() const { return file + ":" + std::to_string(line); }

std::vector<uint8_t> from_hex(const std::string& hex) {
  std::vector<uint8_t> out;
  auto nib = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    const int hi = nib(hex[i]), lo = nib(hex[i + 1]);
    if (hi < 0 || lo < 0) break;
    out.push_back(static_cast<uint8_t>(hi << 4 | lo));
  }
  return out;
}

std::string to_hex(const uint8_t* p, size_t n) {
  static const char* d = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < n; ++i) {
    s += d[p[i] >> 4];
    s += d[p[i] & 15];
  }
  return s;
}

std::vector<Record> load_vectors(const std::string& relpath) {
  std::vector<Record> out;
  const std::string path = std::string(UTPM_CRYPTO_TESTDATA) + "/" + relpath;
  std::ifstream in(path);
  if (!in) {
    ADD_FAILURE() << "missing vector file " << path;
    return out;
  }
  std::map<std::string, std::string> section;
  bool record_since_header = false;
  Record cur;
  bool open = false;
  std::string line;
  int lineno = 0;
  auto flush = [&] {
    if (open) out.push_back(cur);
    open = false;
  };
  while (std::getline(in, line)) {
    ++lineno;
    const std::string t = trim(line);
    if (t.empty()) {
      flush();
      continue;
    }
    if (t[0] == '#') continue;
    if (t[0] == '[') {
      flush();
      if (record_since_header) section.clear();
      record_since_header = false;
      const std::string body = t.substr(1, t.find(']') - 1);
      const auto eq = body.find('=');
      if (eq == std::string::npos) {
        section[trim(body)] = "";
      } else {
        section[trim(body.substr(0, eq))] = trim(body.substr(eq + 1));
      }
      continue;
    }
    if (!open) {
      cur = Record{};
      cur.section = section;
      cur.line = lineno;
      cur.file = relpath;
      open = true;
      record_since_header = true;
    }
    const auto eq = t.find('=');
    if (eq == std::string::npos) {
      cur.fields[t] = "";
    } else {
      cur.fields[trim(t.substr(0, eq))] = trim(t.substr(eq + 1));
    }
  }
  flush();
  return out;
}

}  // namespace utpm::crypto::test
