// libFuzzer target for the serial-link decoder (link/decoder.*): arbitrary byte streams, split at
// arbitrary points, with arbitrary time steps, into decoders of several buffer sizes.
//
// Input: byte 0 picks the command buffer size, byte 1 seeds the split points and time steps,
// the rest is the stream. Checks, beyond "no crash, no ASan/UBSan report":
//   - push() never uses more than it is given, and a push that completes nothing consumed all;
//   - a command never exceeds the buffer, lies inside it, is at least a TPM header, has a TPM
//     tag and a size field equal to its length; raw commands have locality 0;
//   - a reject carries TPM_RC_COMMAND_SIZE; signals belong to the framing they came in; every
//     reply fits kMaxReplySize;
//   - with no time passing, the events do not depend on how the stream was split (one push of
//     the whole stream = many pushes of pieces);
//   - every command re-encoded in its framing decodes to the same command;
//   - after a quiet period the decoder is idle, and a valid frame then decodes.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "link/decoder.h"
#include "link/framing.h"

namespace {

using namespace utpm::link;

#define CHECK(cond)                                                     \
  do {                                                                  \
    if (!(cond)) {                                                      \
      std::fprintf(stderr, "decoder_fuzz: check failed: %s (line %d)\n", #cond, __LINE__); \
      std::abort();                                                     \
    }                                                                   \
  } while (0)

struct Seen {
  EventKind kind;
  Framing framing;
  Signal signal;
  uint8_t locality;
  uint32_t value;
  std::vector<uint8_t> data;
  bool operator==(const Seen&) const = default;
};

constexpr size_t kSizes[] = {10, 11, 64, 1024, 4096};

struct Splitter {
  uint32_t state;
  uint32_t next() {  // xorshift32; never zero
    state ^= state << 13;
    state ^= state >> 17;
    state ^= state << 5;
    return state;
  }
};

void check_event(const Decoder& d, const uint8_t* buf, size_t buf_size, const Event& ev) {
  switch (ev.kind) {
    case EventKind::kNone:
      return;
    case EventKind::kCommand: {
      CHECK(ev.data.size() <= d.max_command_size());
      CHECK(ev.data.size() >= kTpmHeaderSize);
      CHECK(ev.data.data() >= buf && ev.data.data() + ev.data.size() <= buf + buf_size);
      CHECK(is_tpm_tag(load_be16(ev.data.data())));
      CHECK(load_be32(ev.data.data() + 2) == ev.data.size());
      if (ev.framing == Framing::kRaw) CHECK(ev.locality == 0);
      return;
    }
    case EventKind::kReject: {
      CHECK(ev.value == kRcCommandSize);
      uint8_t reply[kMaxReplySize];
      const size_t n = encode_reply(ev, reply);
      CHECK(n > 0 && n <= kMaxReplySize);
      return;
    }
    case EventKind::kSignal: {
      const bool mssim_signal = ev.signal == Signal::kHandshake || ev.signal == Signal::kSessionEnd ||
                                ev.signal == Signal::kCancelOn || ev.signal == Signal::kCancelOff;
      if (ev.framing == Framing::kMssim) CHECK(mssim_signal);
      if (ev.framing == Framing::kLegacy) {
        CHECK(ev.signal != Signal::kHandshake && ev.signal != Signal::kSessionEnd);
      }
      CHECK(ev.framing != Framing::kRaw);
      uint8_t reply[kMaxReplySize];
      CHECK(encode_reply(ev, reply) <= kMaxReplySize);
      return;
    }
  }
  CHECK(false);
}

// Feeds `stream` in pieces (piece lengths from `split`; 0 = all at once), advancing the clock by
// `step(split)` ms per piece. Returns the events.
template <typename Step>
std::vector<Seen> run(Decoder& d, const uint8_t* buf, size_t buf_size, const uint8_t* stream,
                      size_t size, Splitter* split, Step step, uint32_t& now) {
  std::vector<Seen> seen;
  size_t pos = 0;
  do {
    size_t piece = size - pos;
    if (split != nullptr && piece > 0) piece = 1 + split->next() % (piece < 64 ? piece : 64);
    std::span<const uint8_t> in(stream + pos, piece);
    pos += piece;
    now += step();
    for (int guard = 0;; ++guard) {
      CHECK(guard < 100000);
      Event ev;
      const size_t used = d.push(in, now, ev);
      CHECK(used <= in.size());
      in = in.subspan(used);
      if (ev.kind == EventKind::kNone) {
        CHECK(in.empty());
        break;
      }
      check_event(d, buf, buf_size, ev);
      seen.push_back({ev.kind, ev.framing, ev.signal, ev.locality, ev.value,
                      std::vector<uint8_t>(ev.data.begin(), ev.data.end())});
    }
  } while (pos < size);
  return seen;
}

uint8_t storage[3][4096];

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const size_t buf_size = kSizes[data[0] % (sizeof kSizes / sizeof kSizes[0])];
  const uint32_t seed = 0x9E3779B9u ^ (uint32_t{data[1]} * 0x01000193u) ^ static_cast<uint32_t>(size);
  const uint8_t* stream = data + 2;
  size -= 2;
  constexpr uint32_t kTimeout = 100;

  // 1. The whole stream at once, no time passing.
  Decoder whole({storage[0], buf_size}, kTimeout);
  uint32_t now = 1000;
  const auto a = run(whole, storage[0], buf_size, stream, size, nullptr, [] { return 0u; }, now);
  const DecoderStats sw = whole.stats();
  CHECK(sw.garbage_bytes <= size);
  CHECK(sw.timeouts == 0);

  // 2. The same stream in arbitrary pieces, no time passing: the same events.
  Splitter split{seed | 1u};
  Decoder pieces({storage[1], buf_size}, kTimeout);
  now = 1000;
  const auto b = run(pieces, storage[1], buf_size, stream, size, &split, [] { return 0u; }, now);
  CHECK(a == b);
  CHECK(pieces.stats().garbage_bytes == sw.garbage_bytes);
  CHECK(pieces.stats().frames == sw.frames && pieces.stats().rejected == sw.rejected);

  // 3. Arbitrary pieces and time steps, some longer than the stall timeout: invariants only.
  Splitter timing{(seed * 2654435761u) | 1u};
  Decoder timed({storage[2], buf_size}, kTimeout);
  now = 0xFFFFFF00u;  // across the 32-bit wrap
  run(timed, storage[2], buf_size, stream, size, &timing,
      [&timing] { return timing.next() % 8 == 0 ? kTimeout + timing.next() % 50 : timing.next() % 20; },
      now);
  // A quiet line frees the state, and a valid frame decodes afterwards.
  now += kTimeout;
  timed.expire(now);
  CHECK(timed.idle());
  static const uint8_t probe[12] = {0x80, 0x01, 0, 0, 0, 12, 0, 0, 0x01, 0x7B, 0, 8};
  const auto after = run(timed, storage[2], buf_size, probe, sizeof probe, nullptr, [] { return 0u; }, now);
  CHECK(after.size() == 1);
  if (buf_size >= sizeof probe) {
    CHECK(after[0].kind == EventKind::kCommand &&
          after[0].data == std::vector<uint8_t>(probe, probe + sizeof probe));
  } else {
    CHECK(after[0].kind == EventKind::kReject);  // a buffer too small for it
  }

  // 4. Every command, re-encoded in its framing, decodes to itself.
  for (const Seen& s : a) {
    if (s.kind != EventKind::kCommand) continue;
    uint8_t frame[4096 + 32];
    const size_t n = encode_command(s.framing, s.locality, s.data, frame);
    CHECK(n > 0);
    Decoder again({storage[1], buf_size}, kTimeout);
    now = 0;
    const auto r = run(again, storage[1], buf_size, frame, n, nullptr, [] { return 0u; }, now);
    CHECK(r.size() == 1 && r[0] == s);
  }
  return 0;
}
