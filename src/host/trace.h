// utpmd's command recorder (docs/tool.md "Traces"): --trace-file FILE writes every command and
// response (JSON lines: time, connection, channel, locality, duration, octets in hex), --pcap
// FILE a capture Wireshark's TPM 2.0 dissector decodes (Ethernet/IPv4/TCP around the raw TPM
// octets, server port 2321, one client port per connection). Secrets are redacted unless
// --trace-secrets (redact_command/redact_response: what is redacted and why is listed there).
//
// It hooks in as an EngineLink decorator (TracingLink) around each connection's link, so it
// sees exactly what the client sent and received, and nothing else of utpmd changes.
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "host/engine_link.h"

namespace utpm::host {

// Zeroes the secret octets of a command / response in place (sizes kept, so the result still
// decodes) and returns the names of the fields it zeroed. Unknown or malformed input is left as
// it is beyond what could be parsed.
std::vector<std::string> redact_command(std::vector<uint8_t>& command);
std::vector<std::string> redact_response(uint32_t command_code, std::vector<uint8_t>& response);

class TraceRecorder {
 public:
  struct Options {
    std::string trace_file;  // JSON lines, empty for none
    std::string pcap_file;   // pcap (LINKTYPE_ETHERNET), empty for none
    bool secrets = false;    // record secrets as they are (--trace-secrets)
  };
  TraceRecorder() = default;
  ~TraceRecorder();
  TraceRecorder(const TraceRecorder&) = delete;
  TraceRecorder& operator=(const TraceRecorder&) = delete;

  bool open(const Options& options, std::string& error);
  bool active() const { return trace_ != nullptr || pcap_ != nullptr; }
  uint32_t new_connection() { return ++connections_; }

  // One command and its response; `start_us` is wall-clock time (µs since the epoch).
  void command(uint32_t conn, const char* channel, uint8_t locality, uint64_t start_us,
               uint64_t duration_us, std::span<const uint8_t> command,
               std::span<const uint8_t> response);
  void signal(uint32_t conn, const char* name);

 private:
  void pcap_segment(uint32_t conn, bool to_server, uint64_t time_us, std::span<const uint8_t> payload);

  std::FILE* trace_ = nullptr;
  std::FILE* pcap_ = nullptr;
  bool secrets_ = false;
  uint32_t connections_ = 0;
  struct Seq {
    uint32_t client = 1, server = 1;  // next sequence numbers per direction
  };
  std::unordered_map<uint32_t, Seq> seq_;
  uint16_t ip_id_ = 0;
};

// An EngineLink that records what passes through it, then forwards to `inner`.
class TracingLink final : public EngineLink {
 public:
  TracingLink(EngineLink& inner, TraceRecorder& recorder, std::unique_ptr<EngineLink> owned = nullptr)
      : owned_(std::move(owned)), inner_(inner), recorder_(recorder), conn_(recorder.new_connection()) {}
  size_t execute(const char* channel, uint8_t locality, std::span<const uint8_t> command,
                 std::span<uint8_t> response) override;
  void signal(PlatformSignal s) override;
  void on_client_change() override { inner_.on_client_change(); }

 private:
  std::unique_ptr<EngineLink> owned_;  // the connection's own link, when this wraps one
  EngineLink& inner_;
  TraceRecorder& recorder_;
  uint32_t conn_;
};

}  // namespace utpm::host
