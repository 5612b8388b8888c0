// utpm: the command-line tool of the utpm project (docs/tool.md).
//   utpm decode [--command | --response CC] [--frame F] [--json] [--check] HEX|FILE|-
//   utpm send [-T TCTI] [--decode] [--json] HEX|FILE|-
//   utpm setup (-T TCTI | --tpmstate DIR) [--ca DIR] [--create-ek-cert] ... (setup.cc)
// Exit codes: 0 success; 1 the input does not decode (malformed; the position is printed);
// 2 usage error; 3 the input cannot be read; 4 the TPM cannot be reached (TCTI error);
// 5 --check: the decoded value does not marshal back to the same octets; 6 the TPM refused a
// command; 7 setup: already provisioned; 8 setup: CA/certificate error.
//   utpm trace [--brief | --json] FILE   utpm diag [-T TCTI] [--json] [--cost CMD]
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wold-style-cast"
#include <tss2/tss2_tcti.h>
#include <tss2/tss2_tctildr.h>
// The TCTI call macros cast the context C-style.
static TSS2_RC tcti_transmit(TSS2_TCTI_CONTEXT* c, size_t n, const uint8_t* b) { return Tss2_Tcti_Transmit(c, n, b); }
static TSS2_RC tcti_receive(TSS2_TCTI_CONTEXT* c, size_t* n, uint8_t* b) {
  return Tss2_Tcti_Receive(c, n, b, TSS2_TCTI_TIMEOUT_BLOCK);
}
#pragma GCC diagnostic pop

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "tools/utpm/decode.h"
#include "tools/utpm/names.h"
#include "tools/utpm/setup.h"
#include "tpm/schema/command_schema.h"

namespace {

using namespace utpm::tool;

constexpr int kOk = 0, kMalformed = 1, kUsage = 2, kInput = 3, kTransport = 4, kMismatch = 5, kTpmRefused = 6;

const char* const kUsageMain =
    "usage: utpm <command> [options]\n"
    "\n"
    "commands:\n"
    "  decode   decode a TPM 2.0 command or response (raw, mssim or legacy 'Tpm2' frame)\n"
    "  send     send a raw command to a TPM through a TCTI and print the response\n"
    "  trace    print a utpmd --trace-file decoded\n"
    "  diag     read the utpm firmware's diagnostics (stack high water, per-command cost)\n"
    "  setup    manufacture a TPM: EKs, EK/platform certificates in NV signed by a local CA\n"
    "\n"
    "'utpm <command> --help' describes each. Exit codes: 0 success, 1 malformed input,\n"
    "2 usage error, 3 input cannot be read, 4 TPM/TCTI error, 5 re-encoding differs (--check),\n"
    "6 the TPM refused a command, 7 setup: already provisioned, 8 setup: CA/certificate error.\n";

const char* const kUsageDecode =
    "usage: utpm decode [--command | --response CC] [--frame auto|raw|mssim|tpm2] [--json] [--check]\n"
    "                   HEX|FILE|-\n"
    "\n"
    "Decodes a command (default) or the response to command CC (a code such as 0x144, or a name\n"
    "such as TPM2_Startup or Startup) with Part 2/3 names: header, handles, authorization area,\n"
    "every parameter by field name, TPM2B contents as hex, response codes explained.\n"
    "The input is hex on the command line, a file (binary, or hex text), or '-' for stdin.\n"
    "\n"
    "  --frame F   raw: a bare command/response; mssim: a TPM_SEND_COMMAND frame (responses: u32 size\n"
    "              | response | u32 0); tpm2: the legacy Nucleo 'Tpm2' signal frame; auto (default)\n"
    "  --json      print the decoded tree as JSON (offsets, sizes, types, values, meanings)\n"
    "  --check     also marshal the decoded values again and fail (exit 5) unless the octets are equal\n"
    "  --lines     the input holds one hex item per line: each is decoded on its own and printed as\n"
    "              one JSON line; the exit code is the worst of all items\n"
    "\n"
    "Malformed input: the offset and field where decoding stopped and why, exit code 1.\n";

const char* const kUsageSend =
    "usage: utpm send [-T TCTI] [--decode] [--json] HEX|FILE|-\n"
    "\n"
    "Sends one raw command through tpm2-tss's TCTI loader and prints the raw response as hex.\n"
    "  -T, --tcti TCTI  e.g. mssim:host=127.0.0.1,port=2321, swtpm:..., device:/dev/tpmrm0,\n"
    "                   utpm:... (default: $TPM2TOOLS_TCTI, else $TCTI, else the loader's default)\n"
    "  --decode         print the command and the response decoded\n"
    "  --json           with --decode: JSON, one object per line (command, then response)\n";

int usage_error(const std::string& msg, const char* usage) {
  std::fprintf(stderr, "utpm: %s\n%s", msg.c_str(), usage);
  return kUsage;
}

bool parse_hex(const std::string& s, std::vector<uint8_t>& out) {
  out.clear();
  int nib = -1;
  for (size_t i = 0; i < s.size(); ++i) {
    const char ch = s[i];
    if (std::isspace(static_cast<unsigned char>(ch)) || ch == ':' || ch == ',') continue;
    if (ch == '0' && i + 1 < s.size() && (s[i + 1] == 'x' || s[i + 1] == 'X') && nib < 0) {
      ++i;
      continue;
    }
    int v;
    if (ch >= '0' && ch <= '9') v = ch - '0';
    else if (ch >= 'a' && ch <= 'f') v = ch - 'a' + 10;
    else if (ch >= 'A' && ch <= 'F') v = ch - 'A' + 10;
    else return false;
    if (nib < 0) nib = v;
    else {
      out.push_back(static_cast<uint8_t>(nib << 4 | v));
      nib = -1;
    }
  }
  return nib < 0;
}

// HEX|FILE|-: a file or stdin may hold binary or hex text.
int read_input(const std::string& arg, std::vector<uint8_t>& out) {
  std::string data;
  bool from_file = false;
  if (arg == "-") {
    data.assign(std::istreambuf_iterator<char>(std::cin), {});
    from_file = true;
  } else {
    std::ifstream f(arg, std::ios::binary);
    if (f) {
      data.assign(std::istreambuf_iterator<char>(f), {});
      from_file = true;
    }
  }
  if (!from_file) {
    if (parse_hex(arg, out) && !out.empty()) return kOk;
    std::fprintf(stderr, "utpm: '%s' is neither a readable file nor hex\n", arg.c_str());
    return kInput;
  }
  if (parse_hex(data, out) && !out.empty()) return kOk;  // hex text
  out.assign(data.begin(), data.end());
  if (out.empty()) {
    std::fprintf(stderr, "utpm: the input is empty\n");
    return kInput;
  }
  return kOk;
}

std::optional<uint32_t> parse_cc(const std::string& s) {
  char* end = nullptr;
  const unsigned long v = std::strtoul(s.c_str(), &end, 0);
  if (!s.empty() && end && *end == 0) return static_cast<uint32_t>(v);
  for (const auto& c : utpm::tpm::schema::schemas()) {
    const std::string n = c.name;
    if (n == s || n == "TPM2_" + s || n.substr(5) == s) return c.code;
  }
  return std::nullopt;
}

std::string hex(const std::vector<uint8_t>& b) {
  std::string s;
  char t[3];
  for (uint8_t x : b) std::snprintf(t, sizeof t, "%02x", x), s += t;
  return s;
}

int print_decoded(const Decoded& d, bool as_json, bool check) {
  if (as_json) std::fputs(to_json(d).c_str(), stdout);
  else std::fputs(to_text(d).c_str(), stdout);
  if (!d.ok) {
    std::fprintf(stderr, "utpm: %s\n", error_text(d).c_str());
    return kMalformed;
  }
  if (check && d.reencoded != d.payload) {
    std::fprintf(stderr, "utpm: re-encoding differs:\n  input      %s\n  re-encoded %s\n", hex(d.payload).c_str(),
                 hex(d.reencoded).c_str());
    return kMismatch;
  }
  return kOk;
}

int cmd_decode(int argc, char** argv) {
  bool response = false, as_json = false, check = false, lines = false;
  std::optional<uint32_t> cc;
  std::string frame = "auto", input;
  for (int i = 0; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "-h" || a == "--help") return std::fputs(kUsageDecode, stdout), kOk;
    if (a == "--command") response = false;
    else if (a == "--response") {
      if (++i >= argc) return usage_error("--response needs a command code", kUsageDecode);
      response = true;
      cc = parse_cc(argv[i]);
      if (!cc) return usage_error(std::string("unknown command code '") + argv[i] + "'", kUsageDecode);
    } else if (a == "--frame") {
      if (++i >= argc) return usage_error("--frame needs a value", kUsageDecode);
      frame = argv[i];
      if (frame != "auto" && frame != "raw" && frame != "mssim" && frame != "tpm2")
        return usage_error("--frame is auto, raw, mssim or tpm2", kUsageDecode);
    } else if (a == "--json") as_json = true;
    else if (a == "--check") check = true;
    else if (a == "--lines") lines = true;
    else if (a.size() > 1 && a[0] == '-' && a != "-") return usage_error("unknown option " + a, kUsageDecode);
    else input += (input.empty() ? "" : " ") + a;  // hex may come in several words
  }
  if (input.empty()) return usage_error("no input", kUsageDecode);
  if (lines) {
    std::string data;
    if (input == "-") data.assign(std::istreambuf_iterator<char>(std::cin), {});
    else {
      std::ifstream f(input);
      if (!f) return std::fprintf(stderr, "utpm: cannot read '%s'\n", input.c_str()), kInput;
      data.assign(std::istreambuf_iterator<char>(f), {});
    }
    std::istringstream in(data);
    std::string line;
    int worst = kOk;
    while (std::getline(in, line)) {
      std::vector<uint8_t> bytes;
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      int rc = parse_hex(line, bytes) ? kOk : kInput;
      if (rc == kOk) rc = print_decoded(decode_any(bytes, frame, response, cc), true, check);
      else std::printf("{\"ok\":false,\"error\":{\"reason\":\"not hex\"}}\n");
      if (rc > worst) worst = rc;
    }
    return worst;
  }
  std::vector<uint8_t> bytes;
  if (int rc = read_input(input, bytes)) return rc;
  return print_decoded(decode_any(bytes, frame, response, cc), as_json, check);
}

// One command through the TCTI loader; kOk and the response, or kTransport (printed).
int tcti_round_trip(const std::string& tcti, const std::vector<uint8_t>& cmd, std::vector<uint8_t>& resp) {
  TSS2_TCTI_CONTEXT* ctx = nullptr;
  TSS2_RC rc = Tss2_TctiLdr_Initialize(tcti.empty() ? nullptr : tcti.c_str(), &ctx);
  if (rc != TSS2_RC_SUCCESS) {
    std::fprintf(stderr, "utpm: cannot open TCTI '%s': %s\n", tcti.c_str(), rc_explain(rc).c_str());
    return kTransport;
  }
  resp.assign(4096 + 64, 0);
  size_t size = resp.size();
  rc = tcti_transmit(ctx, cmd.size(), cmd.data());
  if (rc == TSS2_RC_SUCCESS) rc = tcti_receive(ctx, &size, resp.data());
  Tss2_TctiLdr_Finalize(&ctx);
  if (rc != TSS2_RC_SUCCESS) {
    std::fprintf(stderr, "utpm: TCTI error: %s\n", rc_explain(rc).c_str());
    return kTransport;
  }
  resp.resize(size);
  return kOk;
}

std::string default_tcti() {
  if (const char* e = std::getenv("TPM2TOOLS_TCTI")) return e;
  if (const char* t = std::getenv("TCTI")) return t;
  return "";
}

int cmd_send(int argc, char** argv) {
  bool decode = false, as_json = false;
  std::string tcti = default_tcti(), input;
  for (int i = 0; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "-h" || a == "--help") return std::fputs(kUsageSend, stdout), kOk;
    if (a == "-T" || a == "--tcti") {
      if (++i >= argc) return usage_error("-T needs a TCTI", kUsageSend);
      tcti = argv[i];
    } else if (a.rfind("--tcti=", 0) == 0) tcti = a.substr(7);
    else if (a == "--decode") decode = true;
    else if (a == "--json") as_json = true;
    else if (a.size() > 1 && a[0] == '-' && a != "-") return usage_error("unknown option " + a, kUsageSend);
    else if (!input.empty()) return usage_error("one input only", kUsageSend);
    else input = a;
  }
  if (input.empty()) return usage_error("no input", kUsageSend);
  std::vector<uint8_t> cmd;
  if (int rc = read_input(input, cmd)) return rc;
  if (cmd.size() < 10) {
    std::fprintf(stderr, "utpm: a command has at least 10 octets (header), got %zu\n", cmd.size());
    return kMalformed;
  }
  std::vector<uint8_t> resp;
  if (int rc = tcti_round_trip(tcti, cmd, resp)) return rc;
  if (!decode) {
    std::printf("%s\n", hex(resp).c_str());
    return kOk;
  }
  const Decoded dc = decode_command(cmd);
  int r1 = print_decoded(dc, as_json, false);
  const Decoded dr = decode_response(resp, dc.command_code);
  int r2 = print_decoded(dr, as_json, false);
  return r1 ? r1 : r2;
}

// ---- utpm diag: the firmware's diagnostics (src/firmware/diagnostics.h) ----
const char* const kUsageDiag =
    "usage: utpm diag [-T TCTI] [--json] [--cost HEX|FILE|-]\n"
    "\n"
    "Reads the utpm firmware's diagnostics: the vendor command 0x2000F001 the firmware's main\n"
    "loop answers itself (src/firmware/diagnostics.h): stack reserve and painted-stack high-water\n"
    "mark, static RAM, the previous command and its cost (instructions on QEMU -icount, CPU\n"
    "cycles on the board), uptime, UART overruns, boot count, store use, build features.\n"
    "Reach the board with -T utpm:device=/dev/ttyACM0 (or a utpmd --bridge over mssim).\n"
    "  -T, --tcti TCTI  as utpm send (default: $TPM2TOOLS_TCTI, else $TCTI)\n"
    "  --cost CMD       send the command CMD first, then report its cost\n"
    "  --json           the fields as one JSON object\n"
    "Exit codes: 0 read, 1 malformed answer (or --cost: the report describes another command),\n"
    "2 usage, 3 CMD cannot be read, 4 the TPM cannot be reached, 6 the TPM has no firmware\n"
    "diagnostics (it answered an error, e.g. TPM_RC_COMMAND_CODE from utpmd's engine).\n";

constexpr uint32_t kCcFirmwareDiagnostics = 0x2000F001;
constexpr const char* kDiagFieldNames[] = {"format", "stack_reserve", "stack_high_water", "static_ram",
                                           "last_command", "last_cost", "uptime_ms", "uart_overruns",
                                           "boot_count", "store_used", "cost_unit", "features",
                                           "last_cost_high"};

uint32_t be32_at(const std::vector<uint8_t>& b, size_t at) {
  return uint32_t{b[at]} << 24 | uint32_t{b[at + 1]} << 16 | uint32_t{b[at + 2]} << 8 | b[at + 3];
}

int cmd_diag(int argc, char** argv) {
  bool as_json = false;
  std::string tcti = default_tcti(), cost_input;
  for (int i = 0; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "-h" || a == "--help") return std::fputs(kUsageDiag, stdout), kOk;
    if (a == "-T" || a == "--tcti") {
      if (++i >= argc) return usage_error("-T needs a TCTI", kUsageDiag);
      tcti = argv[i];
    } else if (a.rfind("--tcti=", 0) == 0) tcti = a.substr(7);
    else if (a == "--json") as_json = true;
    else if (a == "--cost") {
      if (++i >= argc) return usage_error("--cost needs a command", kUsageDiag);
      cost_input = argv[i];
    } else return usage_error("unknown argument " + a, kUsageDiag);
  }
  uint32_t cost_cc = 0;
  uint32_t cost_rc = 0;
  if (!cost_input.empty()) {
    std::vector<uint8_t> cmd, resp;
    if (int rc = read_input(cost_input, cmd)) return rc;
    if (cmd.size() < 10) return std::fprintf(stderr, "utpm: a command has at least 10 octets\n"), kMalformed;
    cost_cc = be32_at(cmd, 6);
    if (int rc = tcti_round_trip(tcti, cmd, resp)) return rc;
    if (resp.size() < 10) return std::fprintf(stderr, "utpm: short response to --cost's command\n"), kMalformed;
    cost_rc = be32_at(resp, 6);
  }
  const std::vector<uint8_t> diag = {0x80, 0x01, 0, 0, 0, 10, 0x20, 0x00, 0xF0, 0x01};
  std::vector<uint8_t> resp;
  if (int rc = tcti_round_trip(tcti, diag, resp)) return rc;
  if (resp.size() < 10 || be32_at(resp, 2) != resp.size()) {
    std::fprintf(stderr, "utpm: malformed diagnostics response %s\n", hex(resp).c_str());
    return kMalformed;
  }
  if (const uint32_t rc = be32_at(resp, 6); rc != 0) {
    std::fprintf(stderr, "utpm: the TPM answered %s to the firmware diagnostics command 0x%08x: %s\n",
                 rc_name(rc).c_str(), kCcFirmwareDiagnostics,
                 (rc & 0xFFF) == 0x143 ? "it is not a utpm firmware (utpmd's engine and other TPMs lack it)"
                                       : rc_explain(rc).c_str());
    return kTpmRefused;
  }
  const size_t fields = (resp.size() - 10) / 4;
  if (fields < 12 || (resp.size() - 10) % 4 != 0) {
    std::fprintf(stderr, "utpm: diagnostics response of %zu octets: not a known format\n", resp.size());
    return kMalformed;
  }
  std::vector<uint64_t> v(13, 0);
  for (size_t i = 0; i < fields && i < 13; ++i) v[i] = be32_at(resp, 10 + 4 * i);
  const uint64_t cost = v[5] | (v[12] << 32);
  const std::string last_name = cc_name(static_cast<uint32_t>(v[4]));
  const char* unit = v[10] == 1 ? "instructions" : v[10] == 2 ? "cycles" : "units";
  std::string features;
  const char* feature_names[] = {"engine", "link-decoder", "secure-store"};
  for (int b = 0; b < 32; ++b) {
    if (!(v[11] >> b & 1)) continue;
    features += (features.empty() ? "" : "|") + (b < 3 ? std::string(feature_names[b]) : "bit" + std::to_string(b));
  }
  if (as_json) {
    std::string out = "{";
    for (size_t i = 0; i < 12; ++i) {
      if (i == 5) continue;
      out += std::string(out.size() > 1 ? "," : "") + "\"" + kDiagFieldNames[i] + "\":" + std::to_string(v[i]);
    }
    out += ",\"last_cost\":" + std::to_string(cost) + ",\"last_command_name\":\"" + last_name +
           "\",\"cost_unit_name\":\"" + unit + "\",\"feature_names\":\"" + features + "\"";
    if (!cost_input.empty())
      out += ",\"cost_command\":" + std::to_string(cost_cc) + ",\"cost_rc\":" + std::to_string(cost_rc);
    std::printf("%s}\n", out.c_str());
  } else {
    std::printf("format             %llu\n", static_cast<unsigned long long>(v[0]));
    std::printf("stack reserve      %llu B\n", static_cast<unsigned long long>(v[1]));
    std::printf("stack high water   %llu B (%.1f%% of the reserve)\n", static_cast<unsigned long long>(v[2]),
                v[1] ? 100.0 * static_cast<double>(v[2]) / static_cast<double>(v[1]) : 0.0);
    std::printf("static RAM         %llu B (.data + .bss); with the stack reserve %llu B\n",
                static_cast<unsigned long long>(v[3]), static_cast<unsigned long long>(v[3] + v[1]));
    std::printf("last command       0x%08llx %s\n", static_cast<unsigned long long>(v[4]),
                last_name.empty() ? "" : last_name.c_str());
    std::printf("last command cost  %llu %s\n", static_cast<unsigned long long>(cost), unit);
    std::printf("uptime             %llu ms\n", static_cast<unsigned long long>(v[6]));
    std::printf("UART overruns      %llu\n", static_cast<unsigned long long>(v[7]));
    std::printf("boot count         %llu\n", static_cast<unsigned long long>(v[8]));
    std::printf("store used         %llu B\n", static_cast<unsigned long long>(v[9]));
    std::printf("features           %s\n", features.empty() ? "(none)" : features.c_str());
    if (!cost_input.empty())
      std::printf("--cost command     0x%08x answered %s\n", cost_cc, rc_name(cost_rc).c_str());
  }
  if (!cost_input.empty() && v[4] != cost_cc) {
    std::fprintf(stderr, "utpm: the report describes command 0x%08llx, not --cost's 0x%08x (another client?)\n",
                 static_cast<unsigned long long>(v[4]), cost_cc);
    return kMalformed;
  }
  return kOk;
}

// ---- utpm trace: a utpmd --trace-file, decoded ----
const char* const kUsageTrace =
    "usage: utpm trace [--brief | --json] FILE|-\n"
    "\n"
    "Prints a trace written by `utpmd --trace-file FILE`: per command its time, connection,\n"
    "channel, locality and duration, then the command and the response decoded (as utpm decode).\n"
    "Platform signals (power, NV, cancel) are listed where they happened. Fields utpmd redacted\n"
    "(zeroed: passwords, HMACs, secret parameters) are named.\n"
    "  --brief   one line per command: time, connection, name, response code, duration\n"
    "  --json    one JSON object per record, with the decoded trees of `utpm decode --json`\n"
    "Exit codes: 0 every record decoded, 1 a record does not decode, 3 the file cannot be read\n"
    "or is not a utpm trace.\n";

// The value of "key" in one line of the trace (the flat JSON utpmd writes: strings without
// escapes, numbers, one array of strings).
std::string json_field(const std::string& line, const std::string& key) {
  const std::string k = "\"" + key + "\":";
  const size_t at = line.find(k);
  if (at == std::string::npos) return "";
  size_t v = at + k.size();
  if (v < line.size() && line[v] == '"') {
    const size_t end = line.find('"', v + 1);
    return end == std::string::npos ? "" : line.substr(v + 1, end - v - 1);
  }
  if (v < line.size() && line[v] == '[') {  // names may hold "[0]": the array ends at "]," or "]}"
    size_t end = v;
    while ((end = line.find(']', end + 1)) != std::string::npos)
      if (end + 1 < line.size() && (line[end + 1] == ',' || line[end + 1] == '}')) break;
    return end == std::string::npos ? "" : line.substr(v, end - v + 1);
  }
  size_t end = v;
  while (end < line.size() && line[end] != ',' && line[end] != '}') ++end;
  return line.substr(v, end - v);
}

std::string indent(const std::string& text, const char* pad) {
  std::string out;
  size_t start = 0;
  while (start < text.size()) {
    const size_t nl = text.find('\n', start);
    const size_t end = nl == std::string::npos ? text.size() : nl;
    out += pad + text.substr(start, end - start) + "\n";
    start = end + 1;
  }
  return out;
}

int cmd_trace(int argc, char** argv) {
  bool brief = false, as_json = false;
  std::string file;
  for (int i = 0; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "-h" || a == "--help") return std::fputs(kUsageTrace, stdout), kOk;
    if (a == "--brief") brief = true;
    else if (a == "--json") as_json = true;
    else if (a.size() > 1 && a[0] == '-') return usage_error("unknown option " + a, kUsageTrace);
    else if (!file.empty()) return usage_error("one trace file only", kUsageTrace);
    else file = a;
  }
  if (file.empty()) return usage_error("no trace file", kUsageTrace);
  if (brief && as_json) return usage_error("--brief and --json exclude each other", kUsageTrace);
  std::string data;
  if (file == "-") data.assign(std::istreambuf_iterator<char>(std::cin), {});
  else {
    std::ifstream f(file, std::ios::binary);
    if (!f) return std::fprintf(stderr, "utpm: cannot read '%s'\n", file.c_str()), kInput;
    data.assign(std::istreambuf_iterator<char>(f), {});
  }
  std::istringstream in(data);
  std::string line;
  if (!std::getline(in, line) || line.find("\"utpm_trace\":1") == std::string::npos) {
    std::fprintf(stderr, "utpm: '%s' is not a utpm trace (utpmd --trace-file)\n", file.c_str());
    return kInput;
  }
  if (!as_json) std::printf("trace started %s, secrets %s\n", json_field(line, "started").c_str(),
                            json_field(line, "secrets") == "true" ? "recorded" : "redacted");
  int worst = kOk;
  size_t n = 0;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    const std::string time = json_field(line, "time"), conn = json_field(line, "conn");
    if (const std::string sig = json_field(line, "signal"); !sig.empty()) {
      if (as_json) std::printf("{\"time\":\"%s\",\"conn\":%s,\"signal\":\"%s\"}\n", time.c_str(), conn.c_str(), sig.c_str());
      else std::printf("   %s  conn %s  platform %s\n", time.c_str(), conn.c_str(), sig.c_str());
      continue;
    }
    std::vector<uint8_t> cmd, rsp;
    if (!parse_hex(json_field(line, "command"), cmd) || !parse_hex(json_field(line, "response"), rsp) || cmd.empty()) {
      std::fprintf(stderr, "utpm: trace line %zu is malformed\n", n + 2);
      worst = std::max(worst, kInput);
      continue;
    }
    ++n;
    const Decoded dc = decode_command(cmd);
    const Decoded dr = decode_response(rsp, dc.command_code);
    if (!dc.ok || !dr.ok) worst = std::max(worst, kMalformed);
    const std::string redacted = json_field(line, "redacted");
    std::string redacted_text;  // a, b, c
    for (char ch : redacted)
      if (ch != '"' && !(ch == '[' && redacted_text.empty()) && ch != ' ') redacted_text += ch == ',' ? ", " : std::string(1, ch);
    if (!redacted_text.empty() && redacted_text.back() == ']') redacted_text.pop_back();
    if (as_json) {
      std::string jc = to_json(dc), jr = to_json(dr);
      while (!jc.empty() && jc.back() == '\n') jc.pop_back();
      while (!jr.empty() && jr.back() == '\n') jr.pop_back();
      std::printf("{\"time\":\"%s\",\"conn\":%s,\"channel\":\"%s\",\"locality\":%s,\"duration_us\":%s,"
                  "\"redacted\":%s,\"command\":%s,\"response\":%s}\n",
                  time.c_str(), conn.c_str(), json_field(line, "channel").c_str(), json_field(line, "locality").c_str(),
                  json_field(line, "duration_us").c_str(), redacted.empty() ? "[]" : redacted.c_str(), jc.c_str(),
                  jr.c_str());
      continue;
    }
    const uint32_t rc = rsp.size() >= 10 ? (uint32_t{rsp[6]} << 24 | uint32_t{rsp[7]} << 16 | uint32_t{rsp[8]} << 8 | rsp[9]) : 0;
    const std::string name = cc_name(dc.command_code);
    std::printf("#%zu %s  conn %s  %s loc %s  %s  %s  %sus%s%s\n", n, time.c_str(), conn.c_str(),
                json_field(line, "channel").c_str(), json_field(line, "locality").c_str(),
                name.empty() ? "(unknown command)" : name.c_str(), rc_name(rc).c_str(),
                json_field(line, "duration_us").c_str(), redacted_text.empty() ? "" : "  redacted: ",
                redacted_text.c_str());
    if (brief) continue;
    std::fputs(indent(to_text(dc), "    ").c_str(), stdout);
    if (!dc.ok) std::printf("    (%s)\n", error_text(dc).c_str());
    std::fputs(indent(to_text(dr), "    ").c_str(), stdout);
    if (!dr.ok) std::printf("    (%s)\n", error_text(dr).c_str());
  }
  return worst;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return usage_error("no command", kUsageMain);
  const std::string cmd = argv[1];
  if (cmd == "-h" || cmd == "--help" || cmd == "help") return std::fputs(kUsageMain, stdout), kOk;
  if (cmd == "decode") return cmd_decode(argc - 2, argv + 2);
  if (cmd == "send") return cmd_send(argc - 2, argv + 2);
  if (cmd == "setup") return utpm::tool::cmd_setup(argc - 2, argv + 2);
  if (cmd == "trace") return cmd_trace(argc - 2, argv + 2);
  if (cmd == "diag") return cmd_diag(argc - 2, argv + 2);
  return usage_error("unknown command '" + cmd + "'", kUsageMain);
}
