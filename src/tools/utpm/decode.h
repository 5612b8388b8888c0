// Decoding of TPM 2.0 commands and responses (and the frames that carry them) into a tree of
// named fields, from the engine's command schema (src/tpm/schema) and Part 2 declarations.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace utpm::tool {

struct Field {
  std::string name;
  std::string type;   // Part 2 type where known
  std::string value;  // leaf: printed value ("0x000b", "3", hex octets)
  std::string note;   // leaf: meaning ("TPM_ALG_SHA256", attribute names, ...)
  size_t offset = 0;
  size_t size = 0;
  bool leaf = false;
  std::vector<Field> children;
};

struct Decoded {
  bool ok = false;
  Field root;
  // On failure: where decoding stopped and why.
  size_t error_offset = 0;
  std::string error_path;    // field path ("parameters.inPublic.parameters.rsaDetail.keyBits")
  std::string error_reason;  // "input ends (TPM_RC_INSUFFICIENT)", ...
  uint32_t command_code = 0;       // the command's code (commands) or the one given (responses)
  std::vector<uint8_t> reencoded;  // the structure marshalled again by the engine's code
  std::vector<uint8_t> payload;    // the TPM command/response inside a frame
  bool is_response = false;
};

Decoded decode_command(std::span<const uint8_t> bytes);
Decoded decode_response(std::span<const uint8_t> bytes, uint32_t command_code);
// Frames: "raw" (a bare command or response), "mssim" (TPM_SEND_COMMAND frame or a response
// frame: u32 size | response | u32 0), "tpm2" (the legacy Nucleo 'Tpm2' signal frame, little
// endian), or "auto" (by the first octets).
Decoded decode_any(std::span<const uint8_t> bytes, const std::string& frame, bool response,
                   std::optional<uint32_t> command_code);

std::string to_text(const Decoded& d);
std::string to_json(const Decoded& d);
std::string error_text(const Decoded& d);

}  // namespace utpm::tool
