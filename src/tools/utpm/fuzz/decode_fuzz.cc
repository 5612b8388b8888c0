// libFuzzer target for `utpm decode`: commands, responses and frames of any bytes. Properties:
// no crash or sanitizer report, and a command or response that decodes marshals back (the
// engine's marshal of the decoded values) to exactly the input.
#include <cstdint>
#include <cstdlib>
#include <span>

#include "tools/utpm/decode.h"
#include "tpm/schema/command_schema.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace utpm;
  if (size < 3) return 0;
  const uint8_t mode = data[0];
  const auto all = tpm::schema::schemas();
  const uint32_t cc = all[(size_t{data[1]} << 8 | data[2]) % all.size()].code;
  std::span<const uint8_t> in(data + 3, size - 3);
  tool::Decoded d;
  switch (mode % 4) {
    case 0: d = tool::decode_command(in); break;
    case 1: d = tool::decode_response(in, cc); break;
    case 2: d = tool::decode_any(in, "auto", false, std::nullopt); break;
    default: d = tool::decode_any(in, "auto", true, cc); break;
  }
  (void)tool::to_text(d);
  (void)tool::to_json(d);
  if (!d.ok) (void)tool::error_text(d);
  if (d.ok && mode % 4 < 2 && d.reencoded != d.payload) std::abort();
  return 0;
}
