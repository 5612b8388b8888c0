// libFuzzer target for utpmd's channel sessions: the mssim command port, the mssim platform
// port and the byte-stream channels (pty, unix socket: LinkStreamSession on the link decoder),
// over a recording fake engine. These parse whatever any local client sends.
//
// Input: byte 0 picks the session (% 3) and byte 1 seeds the split points, the rest is what the
// client sends. Checks, beyond "no crash, no ASan/UBSan/leak report":
//   - every command handed to the engine is at most the TPM buffer (profile::kMaxCommandSize);
//   - the engine calls, the signals and the bytes sent back do not depend on how the input was
//     split into reads (one read of everything = many small reads), up to the first verdict
//     that ends the connection;
//   - nothing is sent back without a request: the reply bytes are at most a bounded multiple
//     of the input.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <vector>

#include "host/link_stream_session.h"
#include "host/mssim_session.h"
#include "tpm/profile.h"

namespace {

using namespace utpm;
using namespace utpm::host;

#define CHECK(cond)                                                                              \
  do {                                                                                           \
    if (!(cond)) {                                                                               \
      std::fprintf(stderr, "channel_fuzz: check failed: %s (line %d)\n", #cond, __LINE__);     \
      std::abort();                                                                              \
    }                                                                                            \
  } while (0)

class RecordingEngine final : public EngineLink {
 public:
  size_t execute(const char*, uint8_t locality, std::span<const uint8_t> command,
                 std::span<uint8_t> response) override {
    CHECK(command.size() <= profile::kMaxCommandSize);
    log.push_back(0xC0 | (locality & 0x0F));
    log.insert(log.end(), command.begin(), command.end());
    // A well-formed response whose length depends on the command.
    const size_t n = 10 + (command.empty() ? 0 : command[0] % 32);
    CHECK(n <= response.size());
    for (size_t i = 0; i < n; ++i) response[i] = static_cast<uint8_t>(i * 31);
    response[0] = 0x80;
    response[1] = 0x01;
    response[2] = response[3] = response[4] = 0;
    response[5] = static_cast<uint8_t>(n);
    return n;
  }
  void signal(PlatformSignal s) override { log.push_back(static_cast<uint8_t>(s)); }
  std::vector<uint8_t> log;
};

struct Run {
  std::vector<uint8_t> engine_log, sent;
  Session::Verdict verdict = Session::Verdict::keep;
  bool operator==(const Run&) const = default;
};

std::unique_ptr<Session> make(int kind, EngineLink& engine) {
  switch (kind) {
    case 0: return std::make_unique<MssimCommandSession>(engine, profile::kMaxCommandSize);
    case 1: return std::make_unique<MssimPlatformSession>(engine);
    default: return std::make_unique<LinkStreamSession>(engine, "fuzz", 1000);
  }
}

Run run(int kind, const uint8_t* data, size_t n, uint32_t seed, size_t max_piece) {
  RecordingEngine engine;
  auto session = make(kind, engine);
  Run r;
  size_t pos = 0;
  uint32_t state = seed | 1u;
  while (pos < n && r.verdict == Session::Verdict::keep) {
    state ^= state << 13;
    state ^= state >> 17;
    state ^= state << 5;
    size_t piece = 1 + state % max_piece;
    if (piece > n - pos) piece = n - pos;
    r.verdict = session->on_bytes({data + pos, piece}, r.sent, 0);
    pos += piece;
  }
  r.engine_log = std::move(engine.log);
  return r;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const int kind = data[0] % 3;
  const uint32_t seed = data[1];
  const Run whole = run(kind, data + 2, size - 2, seed, size);
  const Run pieces = run(kind, data + 2, size - 2, seed, 5);
  if (whole.verdict == Session::Verdict::keep && pieces.verdict == Session::Verdict::keep) {
    CHECK(whole == pieces);
  } else {
    // A closing verdict may come in the middle of a read: what came before it must agree.
    CHECK(whole.verdict == pieces.verdict);
    CHECK(whole.engine_log == pieces.engine_log);
  }
  // Replies answer requests: mssim replies are at most (4 + 41 + 4) per 4-byte code or
  // 9-byte command header; the stream channel's at most one response per 10-byte frame.
  CHECK(whole.sent.size() <= 16 * (size + 16));
  return 0;
}
