// libFuzzer target for the host side of the link (link/response_reader.*): what the TCTI
// (libtss2-tcti-utpm) and utpmd's board bridge do with the bytes a device sends back. A device
// that is broken, or hostile, controls every byte.
//
// Input: byte 0 picks the framing (raw, mssim, legacy) and the response buffer size, byte 1
// seeds the split points, the rest is the stream; responses are read one after another, as a
// TCTI reads them, until the stream ends or one is malformed. Checks, beyond "no crash, no
// ASan/UBSan report":
//   - push() never uses more bytes than it is given, and a response consumes exactly its frame
//     (prefix + response + the mssim ack), never a byte of what follows;
//   - a done response lies in the buffer, is at least a TPM header, has a TPM tag and a size
//     field equal to its length and to announced_size(); then wanted() is 0;
//   - malformed is final (more bytes change nothing);
//   - the outcome does not depend on how the stream was split (one push of everything = many
//     pushes of pieces).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "link/framing.h"
#include "link/response_reader.h"

namespace {

using namespace utpm::link;

#define CHECK(cond)                                                                     \
  do {                                                                                  \
    if (!(cond)) {                                                                      \
      std::fprintf(stderr, "response_reader_fuzz: check failed: %s (line %d)\n", #cond, \
                   __LINE__);                                                           \
      std::abort();                                                                     \
    }                                                                                   \
  } while (0)

constexpr size_t kSizes[] = {4, 10, 11, 64, 4096};

struct Outcome {
  std::vector<std::vector<uint8_t>> responses;
  bool malformed = false;
  bool operator==(const Outcome&) const = default;
};

// Reads responses from `stream`, cutting it into pieces of 1..max_piece bytes (seeded).
Outcome read_all(Framing framing, size_t buffer_size, const uint8_t* stream, size_t n,
                 uint32_t seed, size_t max_piece) {
  std::vector<uint8_t> buffer(buffer_size);
  ResponseReader reader{{buffer.data(), buffer.size()}};
  Outcome out;
  size_t pos = 0, start = 0;
  uint32_t state = seed | 1u;
  reader.start(framing);
  while (pos < n) {
    state ^= state << 13;
    state ^= state >> 17;
    state ^= state << 5;
    size_t piece = 1 + state % max_piece;
    if (piece > n - pos) piece = n - pos;
    size_t used = 0;
    const auto st = reader.push({stream + pos, piece}, used);
    CHECK(used <= piece);
    pos += used;
    if (st == ResponseReader::Status::kMalformed) {
      size_t again = 0;
      CHECK(reader.push({stream, n}, again) == ResponseReader::Status::kMalformed);
      CHECK(again == 0);
      out.malformed = true;
      return out;
    }
    if (st == ResponseReader::Status::kDone) {
      const auto r = reader.response();
      CHECK(r.size() >= 10 && r.size() <= buffer.size());
      CHECK(r.data() == buffer.data());
      CHECK(is_tpm_tag(load_be16(r.data())));
      CHECK(load_be32(r.data() + 2) == r.size());
      CHECK(reader.announced_size() == r.size());
      CHECK(reader.wanted() == 0);
      const size_t frame = r.size() + (framing == Framing::kRaw      ? 0
                                       : framing == Framing::kMssim ? 8
                                                                    : 4);
      CHECK(pos - start == frame);
      out.responses.emplace_back(r.begin(), r.end());
      reader.start(framing);
      start = pos;
      continue;
    }
    CHECK(used == piece);  // more wanted: everything given was taken
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const Framing framing = static_cast<Framing>(data[0] % 3);
  const size_t buffer_size = kSizes[(data[0] / 3) % (sizeof kSizes / sizeof kSizes[0])];
  const uint32_t seed = data[1];
  const Outcome whole = read_all(framing, buffer_size, data + 2, size - 2, seed, size);
  const Outcome pieces = read_all(framing, buffer_size, data + 2, size - 2, seed, 7);
  CHECK(whole == pieces);
  return 0;
}
