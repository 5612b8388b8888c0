#include "host/trace.h"

#include <sys/time.h>
#include <time.h>

#include <cerrno>
#include <cstring>

#include "host/host_platform.h"
#include "host/tpm_engine_link.h"
#include "tpm/core/command.h"

namespace utpm::host {

namespace {

uint32_t be32(std::span<const uint8_t> b, size_t at) {
  return uint32_t{b[at]} << 24 | uint32_t{b[at + 1]} << 16 | uint32_t{b[at + 2]} << 8 | b[at + 3];
}
uint16_t be16(std::span<const uint8_t> b, size_t at) { return static_cast<uint16_t>(b[at] << 8 | b[at + 1]); }

uint64_t wall_us() {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000u + static_cast<uint64_t>(ts.tv_nsec) / 1000u;
}

// Walks a byte area with bounds checks; every step fails (returns false) past `end`.
struct Cursor {
  std::vector<uint8_t>& b;
  size_t at;
  size_t end;
  bool skip(size_t n) {
    if (n > end - at) return false;
    at += n;
    return true;
  }
  // A TPM2B: skips it, or zeroes its contents (size kept).
  bool tpm2b(bool zero) {
    if (end - at < 2) return false;
    const size_t n = be16(b, at);
    if (n > end - at - 2) return false;
    if (zero) std::memset(&b[at + 2], 0, n);
    at += 2 + n;
    return true;
  }
};

// Command codes (Part 2 TPM_CC) whose parameters hold secrets.
constexpr uint32_t kCcHierarchyChangeAuth = 0x129, kCcNvDefineSpace = 0x12A,
                   kCcCreatePrimary = 0x131, kCcNvChangeAuth = 0x13B, kCcDuplicate = 0x14B, kCcNvRead = 0x14E,
                   kCcObjectChangeAuth = 0x150, kCcCreate = 0x153, kCcEcdhZGen = 0x154, kCcHmacStart = 0x15B,
                   kCcImport = 0x156, kCcRsaDecrypt = 0x159, kCcUnseal = 0x15E, kCcEcdhKeyGen = 0x163,
                   kCcEncryptDecrypt = 0x164, kCcLoadExternal = 0x167, kCcRsaEncrypt = 0x174, kCcGetRandom = 0x17B,
                   kCcPcrSetAuthValue = 0x183, kCcHashSequenceStart = 0x186, kCcCreateLoaded = 0x191,
                   kCcEncryptDecrypt2 = 0x193, kCcNvWrite = 0x137, kCcZGen2Phase = 0x18D,
                   kCcEccEncrypt = 0x199, kCcEccDecrypt = 0x19A;

}  // namespace

// What is redacted (docs/tool.md "Traces"):
//  - every command session's hmac field: a password (TPM_RS_PW) or an HMAC over the secret auth;
//  - command parameters that carry a secret: inSensitive of Create/CreatePrimary/CreateLoaded
//    (userAuth and data: the new object's password and sealed data), the auth/newAuth of
//    NV_DefineSpace, HierarchyChangeAuth, ObjectChangeAuth, NV_ChangeAuth, PCR_SetAuthValue,
//    HMAC_Start, HashSequenceStart; LoadExternal's inPrivate (the private key); Import's and
//    Duplicate's symmetric encryptionKey; RSA_Encrypt's message; EncryptDecrypt(2)'s inData;
//    NV_Write's data;
//  - response parameters that carry a secret: Unseal outData, RSA_Decrypt message, ECDH_ZGen
//    outPoint, ECDH_KeyGen zPoint, EncryptDecrypt(2) outData, Duplicate encryptionKeyOut,
//    NV_Read data, GetRandom randomBytes (callers use them as keys), ECC_Decrypt plainText,
//    ZGen_2Phase outZ1/outZ2 (shared secrets); ECC_Encrypt's plainText in the command.
// Octets are zeroed with their sizes kept, so the trace still decodes field by field.
std::vector<std::string> redact_command(std::vector<uint8_t>& cmd) {
  std::vector<std::string> out;
  if (cmd.size() < 10) return out;
  const uint16_t tag = be16(cmd, 0);
  const uint32_t cc = be32(cmd, 6);
  const tpm::CommandInfo* info = tpm::find_command(cc);
  const size_t handles = info != nullptr ? info->handle_count : 0;
  Cursor c{cmd, 10, cmd.size()};
  if (!c.skip(4 * handles)) return out;
  if (tag == 0x8002) {
    if (c.end - c.at < 4) return out;
    const size_t auth_size = be32(cmd, c.at);
    c.at += 4;
    if (auth_size > c.end - c.at) return out;
    Cursor a{cmd, c.at, c.at + auth_size};
    for (int i = 0; a.at < a.end; ++i) {
      if (!a.skip(4) || !a.tpm2b(false) || !a.skip(1)) break;
      const size_t hmac_at = a.at;
      if (!a.tpm2b(true)) break;
      if (a.at - hmac_at > 2) out.push_back("authorization[" + std::to_string(i) + "].hmac");
    }
    c.at += auth_size;
  }
  // c is at the parameters.
  switch (cc) {
    case kCcCreate:
    case kCcCreatePrimary:
    case kCcCreateLoaded:  // TPM2B_SENSITIVE_CREATE { size, userAuth, data }
      if (c.skip(2) && c.tpm2b(true) && c.tpm2b(true)) out.push_back("inSensitive");
      break;
    case kCcNvDefineSpace:
    case kCcHmacStart:
    case kCcHashSequenceStart:
    case kCcPcrSetAuthValue:
      if (c.tpm2b(true)) out.push_back("auth");
      break;
    case kCcHierarchyChangeAuth:
    case kCcObjectChangeAuth:
    case kCcNvChangeAuth:
      if (c.tpm2b(true)) out.push_back("newAuth");
      break;
    case kCcLoadExternal:  // TPM2B_SENSITIVE { size, sensitiveType, authValue, seedValue, sensitive }
      if (c.end - c.at >= 2 && be16(cmd, c.at) != 0 && c.skip(4) && c.tpm2b(true) && c.tpm2b(true) && c.tpm2b(true))
        out.push_back("inPrivate");
      break;
    case kCcImport:
      if (c.tpm2b(true)) out.push_back("encryptionKey");
      break;
    case kCcDuplicate:
      if (c.tpm2b(true)) out.push_back("encryptionKeyIn");
      break;
    case kCcRsaEncrypt:
      if (c.tpm2b(true)) out.push_back("message");
      break;
    case kCcEncryptDecrypt2:
      if (c.tpm2b(true)) out.push_back("inData");
      break;
    case kCcEccEncrypt:
      if (c.tpm2b(true)) out.push_back("plainText");
      break;
    case kCcEncryptDecrypt:  // decrypt (1), mode (2), ivIn, inData
      if (c.skip(3) && c.tpm2b(false) && c.tpm2b(true)) out.push_back("inData");
      break;
    case kCcNvWrite:
      if (c.tpm2b(true)) out.push_back("data");
      break;
    default:
      break;
  }
  return out;
}

std::vector<std::string> redact_response(uint32_t cc, std::vector<uint8_t>& rsp) {
  std::vector<std::string> out;
  if (rsp.size() < 10 || be32(rsp, 6) != 0) return out;  // errors carry no parameters
  const tpm::CommandInfo* info = tpm::find_command(cc);
  const size_t handles = info != nullptr && (info->flags & tpm::kCmdRHandle) ? 1 : 0;
  Cursor c{rsp, 10, rsp.size()};
  if (!c.skip(4 * handles)) return out;
  if (be16(rsp, 0) == 0x8002) {
    if (c.end - c.at < 4) return out;
    const size_t param_size = be32(rsp, c.at);
    c.at += 4;
    if (param_size > c.end - c.at) return out;
    c.end = c.at + param_size;
  }
  if (cc == kCcEcdhZGen || cc == kCcEcdhKeyGen) {  // TPM2B_ECC_POINT { size, x, y }
    if (c.skip(2) && c.tpm2b(true) && c.tpm2b(true)) out.push_back(cc == kCcEcdhZGen ? "outPoint" : "zPoint");
    return out;
  }
  if (cc == kCcZGen2Phase) {  // outZ1, outZ2: two TPM2B_ECC_POINTs
    if (c.skip(2) && c.tpm2b(true) && c.tpm2b(true)) out.push_back("outZ1");
    if (c.skip(2) && c.tpm2b(true) && c.tpm2b(true)) out.push_back("outZ2");
    return out;
  }
  const char* name = nullptr;
  switch (cc) {
    case kCcUnseal: name = "outData"; break;
    case kCcRsaDecrypt: name = "message"; break;
    case kCcEncryptDecrypt:
    case kCcEncryptDecrypt2: name = "outData"; break;
    case kCcDuplicate: name = "encryptionKeyOut"; break;
    case kCcNvRead: name = "data"; break;
    case kCcGetRandom: name = "randomBytes"; break;
    case kCcEccDecrypt: name = "plainText"; break;
    default: break;
  }
  if (name != nullptr && c.tpm2b(true)) out.push_back(name);
  return out;
}

TraceRecorder::~TraceRecorder() {
  if (trace_) std::fclose(trace_);
  if (pcap_) std::fclose(pcap_);
}

namespace {
void put16le(std::vector<uint8_t>& v, uint32_t x) {
  v.push_back(static_cast<uint8_t>(x));
  v.push_back(static_cast<uint8_t>(x >> 8));
}
void put32le(std::vector<uint8_t>& v, uint32_t x) {
  put16le(v, x & 0xffff);
  put16le(v, x >> 16);
}
void put16(std::vector<uint8_t>& v, uint32_t x) {
  v.push_back(static_cast<uint8_t>(x >> 8));
  v.push_back(static_cast<uint8_t>(x));
}
void put32(std::vector<uint8_t>& v, uint32_t x) {
  put16(v, x >> 16);
  put16(v, x & 0xffff);
}
std::string hex(std::span<const uint8_t> b) {
  static const char* d = "0123456789abcdef";
  std::string s;
  s.reserve(2 * b.size());
  for (uint8_t x : b) s += d[x >> 4], s += d[x & 15];
  return s;
}
std::string iso_time(uint64_t us) {
  const time_t sec = static_cast<time_t>(us / 1000000u);
  tm t{};
  ::gmtime_r(&sec, &t);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06uZ", t.tm_year + 1900, t.tm_mon + 1, t.tm_mday,
                t.tm_hour, t.tm_min, t.tm_sec, static_cast<unsigned>(us % 1000000u));
  return buf;
}
}  // namespace

bool TraceRecorder::open(const Options& o, std::string& error) {
  secrets_ = o.secrets;
  if (!o.trace_file.empty()) {
    trace_ = std::fopen(o.trace_file.c_str(), "we");
    if (!trace_) {
      error = "cannot write trace file " + o.trace_file + ": " + std::strerror(errno);
      return false;
    }
    std::fprintf(trace_, "{\"utpm_trace\":1,\"secrets\":%s,\"started\":\"%s\"}\n", secrets_ ? "true" : "false",
                 iso_time(wall_us()).c_str());
    std::fflush(trace_);
  }
  if (!o.pcap_file.empty()) {
    pcap_ = std::fopen(o.pcap_file.c_str(), "we");
    if (!pcap_) {
      error = "cannot write pcap file " + o.pcap_file + ": " + std::strerror(errno);
      return false;
    }
    // libpcap file header: magic, version 2.4, thiszone 0, sigfigs 0, snaplen, LINKTYPE_ETHERNET.
    std::vector<uint8_t> h;
    put32le(h, 0xa1b2c3d4);
    put16le(h, 2);
    put16le(h, 4);
    put32le(h, 0);
    put32le(h, 0);
    put32le(h, 262144);
    put32le(h, 1);
    std::fwrite(h.data(), 1, h.size(), pcap_);
    std::fflush(pcap_);
  }
  return true;
}

void TraceRecorder::command(uint32_t conn, const char* channel, uint8_t locality, uint64_t start_us,
                            uint64_t duration_us, std::span<const uint8_t> command,
                            std::span<const uint8_t> response) {
  std::vector<uint8_t> cmd(command.begin(), command.end());
  std::vector<uint8_t> rsp(response.begin(), response.end());
  std::vector<std::string> redacted;
  if (!secrets_) {
    redacted = redact_command(cmd);
    const uint32_t cc = cmd.size() >= 10 ? be32(cmd, 6) : 0;
    for (std::string& r : redact_response(cc, rsp)) redacted.push_back("response." + r);
  }
  if (trace_) {
    std::string red;
    for (const std::string& r : redacted) red += (red.empty() ? "\"" : ",\"") + r + "\"";
    std::fprintf(trace_,
                 "{\"time\":\"%s\",\"conn\":%u,\"channel\":\"%s\",\"locality\":%u,\"duration_us\":%llu,"
                 "\"command\":\"%s\",\"response\":\"%s\",\"redacted\":[%s]}\n",
                 iso_time(start_us).c_str(), conn, channel, unsigned{locality},
                 static_cast<unsigned long long>(duration_us), hex(cmd).c_str(), hex(rsp).c_str(), red.c_str());
    std::fflush(trace_);
  }
  if (pcap_) {
    pcap_segment(conn, true, start_us, cmd);
    pcap_segment(conn, false, start_us + duration_us, rsp);
    std::fflush(pcap_);
  }
}

void TraceRecorder::signal(uint32_t conn, const char* name) {
  if (!trace_) return;
  std::fprintf(trace_, "{\"time\":\"%s\",\"conn\":%u,\"signal\":\"%s\"}\n", iso_time(wall_us()).c_str(), conn, name);
  std::fflush(trace_);
}

// One TCP segment between 10.0.0.1:(40000 + conn) (the client) and 10.0.0.2:2321 (the TPM, the
// port Wireshark's TPM 2.0 dissector listens on), carrying raw TPM octets.
void TraceRecorder::pcap_segment(uint32_t conn, bool to_server, uint64_t time_us, std::span<const uint8_t> payload) {
  Seq& s = seq_[conn];
  const uint16_t client_port = static_cast<uint16_t>(40000 + conn % 20000);
  std::vector<uint8_t> f;
  // Ethernet: locally administered MACs, IPv4.
  const uint8_t client_mac[6] = {0x02, 0, 0, 0, 0, 0x01}, server_mac[6] = {0x02, 0, 0, 0, 0, 0x02};
  f.insert(f.end(), to_server ? server_mac : client_mac, (to_server ? server_mac : client_mac) + 6);
  f.insert(f.end(), to_server ? client_mac : server_mac, (to_server ? client_mac : server_mac) + 6);
  put16(f, 0x0800);
  // IPv4 header (20 octets) with its checksum.
  const size_t ip_at = f.size();
  const uint32_t client_ip = 0x0a000001, server_ip = 0x0a000002;
  f.push_back(0x45);
  f.push_back(0);
  put16(f, static_cast<uint32_t>(20 + 20 + payload.size()));
  put16(f, ip_id_++);
  put16(f, 0x4000);  // don't fragment
  f.push_back(64);
  f.push_back(6);  // TCP
  put16(f, 0);
  put32(f, to_server ? client_ip : server_ip);
  put32(f, to_server ? server_ip : client_ip);
  uint32_t sum = 0;
  for (size_t i = 0; i < 20; i += 2) sum += uint32_t{f[ip_at + i]} << 8 | f[ip_at + i + 1];
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  f[ip_at + 10] = static_cast<uint8_t>(~sum >> 8);
  f[ip_at + 11] = static_cast<uint8_t>(~sum);
  // TCP header (20 octets): PSH|ACK, checksum left 0 (Wireshark does not check it by default).
  put16(f, to_server ? client_port : 2321);
  put16(f, to_server ? 2321 : client_port);
  put32(f, to_server ? s.client : s.server);
  put32(f, to_server ? s.server : s.client);
  f.push_back(5 << 4);
  f.push_back(0x18);
  put16(f, 65535);
  put16(f, 0);
  put16(f, 0);
  f.insert(f.end(), payload.begin(), payload.end());
  (to_server ? s.client : s.server) += static_cast<uint32_t>(payload.size());
  std::vector<uint8_t> rec;
  put32le(rec, static_cast<uint32_t>(time_us / 1000000u));
  put32le(rec, static_cast<uint32_t>(time_us % 1000000u));
  put32le(rec, static_cast<uint32_t>(f.size()));
  put32le(rec, static_cast<uint32_t>(f.size()));
  std::fwrite(rec.data(), 1, rec.size(), pcap_);
  std::fwrite(f.data(), 1, f.size(), pcap_);
}

size_t TracingLink::execute(const char* channel, uint8_t locality, std::span<const uint8_t> command,
                            std::span<uint8_t> response) {
  const uint64_t start = wall_us();
  const uint64_t t0 = monotonic_us();
  const size_t n = inner_.execute(channel, locality, command, response);
  recorder_.command(conn_, channel, locality, start, monotonic_us() - t0, command, response.first(n));
  return n;
}

void TracingLink::signal(PlatformSignal s) {
  inner_.signal(s);
  recorder_.signal(conn_, platform_signal_name(s));
}

}  // namespace utpm::host
