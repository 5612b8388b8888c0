// The command schema covers the command table, and the describe walk reads Part 2 values from
// the engine's declarations: field paths, offsets and error positions checked against byte
// layouts written out by hand from Part 2 (not produced by our marshal code).
#include "tpm/schema/command_schema.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "firmware/diagnostics.h"
#include "tpm/core/command.h"

namespace utpm::tpm {
namespace {

using describe::Leaf;
using describe::Name;
using describe::Node;

std::string str(Name n) {
  if (n.index >= 0) return "[" + std::to_string(n.index) + "]";
  return std::string(n.p, n.n);
}

// Records "path@offset=hex" per leaf, and the error.
struct Recorder final : describe::Visitor {
  std::vector<std::string> path;
  std::vector<std::string> leaves;
  std::string err;
  std::string join(Name n) {
    std::string s;
    for (auto& p : path) s += p + ".";
    return s + str(n);
  }
  void begin(Name name, Node, size_t, uint32_t) override { path.push_back(str(name)); }
  void end(size_t) override { path.pop_back(); }
  void leaf(Name name, Leaf, size_t offset, std::span<const uint8_t> bytes) override {
    std::string hex;
    for (uint8_t b : bytes) hex += "0123456789abcdef"[b >> 4], hex += "0123456789abcdef"[b & 15];
    leaves.push_back(join(name) + "@" + std::to_string(offset) + "=" + hex);
  }
  std::string refusal;
  void refused_hook(Name name, size_t offset, TPM_RC rc) {
    refusal = join(name) + "@" + std::to_string(offset) + ":" + std::to_string(rc);
  }
  void refused(Name name, size_t offset, TPM_RC rc) override { refused_hook(name, offset, rc); }
  void error(Name name, size_t offset, TPM_RC rc) override {
    err = join(name) + "@" + std::to_string(offset) + ":" + std::to_string(rc);
  }
};

TEST(Schema, EveryCommandOfTheTableHasARow) {
  const CommandTable t = command_table();
  size_t n = 0;
  for (const CommandInfo* c = t.begin; c != t.end; ++c, ++n) {
    const schema::CommandSchema* s = schema::find_schema(c->code);
    ASSERT_NE(s, nullptr) << c->name << " has no row in src/tpm/schema/command_schema.cc";
    EXPECT_STREQ(s->name, c->name);
    EXPECT_EQ(s->handle_count(), c->handle_count) << c->name;
    EXPECT_EQ(s->response_handle_count(), (c->flags & kCmdRHandle) ? 1u : 0u) << c->name;
    // The first parameter may be encrypted only if it is a TPM2B (Part 1 §21): check the flags
    // against the schema's types.
    if (c->flags & kCmdDecrypt) {
      ASSERT_GT(s->in_count(), 0u) << c->name;
      EXPECT_EQ(std::string(s->in[0].type).substr(0, 5), "TPM2B") << c->name;
    }
    if (c->flags & kCmdEncrypt) {
      ASSERT_GT(s->out_count(), 0u) << c->name;
      EXPECT_EQ(std::string(s->out[0].type).substr(0, 5), "TPM2B") << c->name;
    }
  }
  // And no row for a command the engine does not implement, but for the firmware's own vendor
  // command, which its main loop answers before the engine.
  EXPECT_EQ(schema::schemas().size(), n + 1);
  for (const schema::CommandSchema& s : schema::schemas())
    if (s.code != firmware::kCcFirmwareDiagnostics) {
      EXPECT_NE(find_command(s.code), nullptr) << s.name;
    }
}

TEST(Describe, NamesFromDeclarationText) {
  Name list = describe::name_of("type, nameAlg, select(parameters, type), counted(sizeofSelect, pcrSelect, 3)");
  EXPECT_EQ(str(describe::list_item(list, 1)), "nameAlg");
  EXPECT_EQ(str(describe::call_arg(describe::list_item(list, 2), 0)), "parameters");
  EXPECT_EQ(str(describe::call_arg(describe::list_item(list, 3), 1)), "pcrSelect");
  EXPECT_EQ(str(describe::list_item(list, 4)), "");
  EXPECT_EQ(str(describe::member_name(describe::name_of("&SchemeDetails::kdf"))), "kdf");
}

// TPM2B_PUBLIC of an RSA 2048 restricted decryption key (tpm2_createprimary's default
// template), written out from Part 2 §12.2.4 / §12.2.3.5 by hand.
const std::vector<uint8_t> kRsaTemplate = {
    0x00, 0x1a,              // size 26
    0x00, 0x01,              // type TPM_ALG_RSA
    0x00, 0x0b,              // nameAlg SHA256
    0x00, 0x03, 0x00, 0x72,  // objectAttributes
    0x00, 0x00,              // authPolicy (empty)
    0x00, 0x06, 0x00, 0x80, 0x00, 0x43,  // symmetric AES 128 CFB
    0x00, 0x10,              // scheme NULL
    0x08, 0x00,              // keyBits 2048
    0x00, 0x00, 0x00, 0x00,  // exponent 0
    0x00, 0x00,              // unique.rsa (empty)
};

TEST(Describe, Tpm2bPublicFieldByField) {
  Recorder rec;
  Reader r(kRsaTemplate);
  TPM2B_PUBLIC v;
  ASSERT_EQ(describe::describe(rec, kRsaTemplate.data(), r, v, describe::name_of("inPublic")), TPM_RC_SUCCESS);
  const std::vector<std::string> want = {
      "inPublic.size@0=001a",
      "inPublic.type@2=0001",
      "inPublic.nameAlg@4=000b",
      "inPublic.objectAttributes@6=00030072",
      "inPublic.authPolicy@10=0000",
      "inPublic.parameters.rsaDetail.symmetric.algorithm@12=0006",
      "inPublic.parameters.rsaDetail.symmetric.keyBits@14=0080",
      "inPublic.parameters.rsaDetail.symmetric.mode@16=0043",
      "inPublic.parameters.rsaDetail.scheme.scheme@18=0010",
      "inPublic.parameters.rsaDetail.keyBits@20=0800",
      "inPublic.parameters.rsaDetail.exponent@22=00000000",
      "inPublic.unique.rsa@26=0000",
  };
  EXPECT_EQ(rec.leaves, want);
  EXPECT_EQ(r.remaining(), 0u);
  EXPECT_EQ(rec.err, "");
}

TEST(Describe, ErrorsNameTheFieldAndOffset) {
  // Truncated inside the mode of the symmetric definition.
  std::vector<uint8_t> cut(kRsaTemplate.begin(), kRsaTemplate.begin() + 17);
  cut[1] = 15;  // size says 15: the structure ends inside mode
  Recorder rec;
  Reader r(cut);
  TPM2B_PUBLIC v;
  // The walk names where the contents ran out; the answer is the engine's: the size is wrong.
  EXPECT_EQ(describe::describe(rec, cut.data(), r, v, describe::name_of("inPublic")), TPM_RC_SIZE);
  EXPECT_EQ(rec.err, "inPublic.parameters.rsaDetail.symmetric.mode@16:" + std::to_string(TPM_RC_INSUFFICIENT));
  // An RSA key size the engine refuses: described and flagged with the engine's code, and the
  // walk goes on (the command is well-formed; the TPM would answer TPM_RC_VALUE).
  std::vector<uint8_t> bad = kRsaTemplate;
  bad[20] = 0x06;  // 1536: no profile offers it
  Recorder rec2;
  Reader r2(bad);
  EXPECT_EQ(describe::describe(rec2, bad.data(), r2, v, describe::name_of("inPublic")), TPM_RC_SUCCESS);
  EXPECT_EQ(rec2.refusal, "inPublic.parameters.rsaDetail.keyBits@20:" + std::to_string(TPM_RC_VALUE));
  EXPECT_EQ(rec2.err, "");
  // A union selector without an arm stops the walk: TPM_RC_SELECTOR at the union.
  std::vector<uint8_t> sel = kRsaTemplate;
  sel[3] = 0x02;  // type 0x0002: not a public type
  Recorder rec3;
  Reader r3(sel);
  EXPECT_EQ(describe::describe(rec3, sel.data(), r3, v, describe::name_of("inPublic")), TPM_RC_SELECTOR);
  EXPECT_EQ(rec3.err, "inPublic.parameters@12:" + std::to_string(TPM_RC_SELECTOR));
  // Every truncation fails without reading past the end, and names a field.
  for (size_t n = 0; n < kRsaTemplate.size(); ++n) {
    std::vector<uint8_t> t(kRsaTemplate.begin(), kRsaTemplate.begin() + n);
    Recorder rc;
    Reader rt(t);
    EXPECT_NE(describe::describe(rc, t.data(), rt, v, describe::name_of("p")), TPM_RC_SUCCESS);
    EXPECT_FALSE(rc.err.empty());
  }
}

TEST(Describe, SchemeXorHasHashAndKdfAndSessionSymDefArms) {
  // TPMT_KEYEDHASH_SCHEME XOR: scheme, hashAlg, kdf (Part 2 §11.1.21 TPMS_SCHEME_XOR).
  const std::vector<uint8_t> xor_scheme = {0x00, 0x0a, 0x00, 0x0b, 0x00, 0x22};
  Recorder rec;
  Reader r(xor_scheme);
  TPMT_KEYEDHASH_SCHEME s;
  ASSERT_EQ(describe::describe(rec, xor_scheme.data(), r, s, describe::name_of("scheme")), TPM_RC_SUCCESS);
  EXPECT_EQ(rec.leaves, (std::vector<std::string>{"scheme.scheme@0=000a", "scheme.details.hashAlg@2=000b",
                                                   "scheme.details.kdf@4=0022"}));
  // Session TPMT_SYM_DEF: XOR's keyBits is a hash and it has no mode.
  const std::vector<uint8_t> sym_xor = {0x00, 0x0a, 0x00, 0x0b};
  Recorder rec2;
  Reader r2(sym_xor);
  TPMT_SYM_DEF d;
  ASSERT_EQ(describe::describe(rec2, sym_xor.data(), r2, d, describe::name_of("symmetric")), TPM_RC_SUCCESS);
  EXPECT_EQ(rec2.leaves, (std::vector<std::string>{"symmetric.algorithm@0=000a",
                                                    "symmetric.keyBits.exclusiveOr@2=000b"}));
  // The engine's unmarshal reads the same bytes to the same values.
  Reader r3(sym_xor);
  TPMT_SYM_DEF e;
  ASSERT_EQ(unmarshal(r3, e), TPM_RC_SUCCESS);
  EXPECT_EQ(e.keyBits.exclusiveOr, TPM_ALG_SHA256);
}

TEST(Describe, PcrSelectionListAndReencode) {
  // TPML_PCR_SELECTION: count 2; SHA-1 {0,1,2}, SHA-256 {16..23}.
  const std::vector<uint8_t> sel = {0, 0, 0, 2, 0x00, 0x04, 3, 0x07, 0, 0, 0x00, 0x0b, 3, 0, 0, 0xff};
  const schema::CommandSchema* s = schema::find_schema(TPM_CC_PCR_Read);
  ASSERT_NE(s, nullptr);
  Recorder rec;
  Reader r(sel);
  std::vector<uint8_t> out(64);
  Writer w(out);
  ASSERT_EQ(s->in[0].walk(rec, sel.data(), r, describe::name_of(s->in[0].name), &w), TPM_RC_SUCCESS);
  EXPECT_EQ(rec.leaves, (std::vector<std::string>{
                            "pcrSelectionIn.count@0=00000002", "pcrSelectionIn.[0].hash@4=0004",
                            "pcrSelectionIn.[0].sizeofSelect@6=03", "pcrSelectionIn.[0].pcrSelect@7=070000",
                            "pcrSelectionIn.[1].hash@10=000b", "pcrSelectionIn.[1].sizeofSelect@12=03",
                            "pcrSelectionIn.[1].pcrSelect@13=0000ff"}));
  out.resize(w.size());
  EXPECT_EQ(out, sel);
  // sizeofSelect beyond PCR_SELECT_MAX: TPM_RC_VALUE at sizeofSelect.
  std::vector<uint8_t> bad = sel;
  bad[6] = 9;
  Recorder rec2;
  Reader r2(bad);
  EXPECT_EQ(s->in[0].walk(rec2, bad.data(), r2, describe::name_of("p"), nullptr), TPM_RC_VALUE);
  EXPECT_EQ(rec2.err, "p.[0].sizeofSelect@6:" + std::to_string(TPM_RC_VALUE));
}

}  // namespace
}  // namespace utpm::tpm
