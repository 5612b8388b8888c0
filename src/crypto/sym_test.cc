// AES modes against NIST CAVP (ECB/CBC/CFB128/OFB MMT + GFSbox, GCM) and RFC 3686 (CTR),
// the TPM's chaining-value conventions, streaming in pieces, in-place use, and bad sizes.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "crypto/sym.h"
#include "test/vectors.h"

namespace utpm::crypto {
namespace {

using test::to_hex;

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

void run_cavp_file(SymMode mode, const std::string& file, size_t* checked) {
  const auto recs = test::load_vectors(file);
  ASSERT_GE(recs.size(), 3u) << file;
  for (const auto& r : recs) {
    const bool enc = r.in_section("ENCRYPT");
    ASSERT_TRUE(enc || r.in_section("DECRYPT")) << r.where();
    const auto key = r.bytes("KEY");
    auto iv = r.bytes("IV");
    const auto pt = r.bytes("PLAINTEXT");
    const auto ct = r.bytes("CIPHERTEXT");
    std::vector<uint8_t> out(pt.size());
    if (enc) {
      ASSERT_EQ(sym_encrypt(mode, key, iv, pt, out), Status::ok) << r.where();
      EXPECT_EQ(to_hex(out), lower(r.str("CIPHERTEXT"))) << r.where();
    } else {
      ASSERT_EQ(sym_decrypt(mode, key, iv, ct, out), Status::ok) << r.where();
      EXPECT_EQ(to_hex(out), lower(r.str("PLAINTEXT"))) << r.where();
    }
    ++*checked;
  }
}

TEST(Aes, CavpBlockModes) {
  const struct {
    SymMode mode;
    const char* prefix;
  } modes[] = {{SymMode::ecb, "ECB"}, {SymMode::cbc, "CBC"}, {SymMode::cfb, "CFB128"},
               {SymMode::ofb, "OFB"}};
  size_t checked = 0;
  for (const auto& m : modes) {
    for (const char* bits : {"128", "192", "256"}) {
      for (const char* kind : {"MMT", "GFSbox"}) {
        run_cavp_file(m.mode, std::string("aes/") + m.prefix + kind + bits + ".rsp", &checked);
      }
    }
  }
  EXPECT_GT(checked, 350u);
}

TEST(Aes, Rfc3686Ctr) {
  size_t checked = 0;
  for (const char* bits : {"128", "192", "256"}) {
    run_cavp_file(SymMode::ctr, std::string("aes/aes-") + bits + "-ctr.txt", &checked);
  }
  EXPECT_GE(checked, 9u);
}

TEST(Aes, CavpGcm) {
  size_t enc_checked = 0, dec_checked = 0, rejected = 0;
  for (const char* bits : {"128", "256"}) {
    for (const auto& r : test::load_vectors(std::string("aes/gcmEncryptExtIV") + bits + ".rsp")) {
      const auto pt = r.bytes("PT");
      std::vector<uint8_t> ct(pt.size()), tag(static_cast<size_t>(r.section_num("Taglen") / 8));
      ASSERT_EQ(aes_gcm_seal(r.bytes("Key"), r.bytes("IV"), r.bytes("AAD"), pt, ct, tag),
                Status::ok)
          << r.where();
      EXPECT_EQ(to_hex(ct), r.str("CT")) << r.where();
      EXPECT_EQ(to_hex(tag), r.str("Tag")) << r.where();
      ++enc_checked;
    }
    for (const auto& r : test::load_vectors(std::string("aes/gcmDecrypt") + bits + ".rsp")) {
      const auto ct = r.bytes("CT");
      std::vector<uint8_t> pt(ct.size(), 0xEE);
      const Status s = aes_gcm_open(r.bytes("Key"), r.bytes("IV"), r.bytes("AAD"), ct,
                                    r.bytes("Tag"), pt);
      if (r.has("FAIL")) {
        EXPECT_EQ(s, Status::verify_failed) << r.where();
        for (uint8_t b : pt) ASSERT_EQ(b, 0) << "plaintext not wiped " << r.where();
        ++rejected;
      } else {
        EXPECT_EQ(s, Status::ok) << r.where();
        EXPECT_EQ(to_hex(pt), r.str("PT")) << r.where();
      }
      ++dec_checked;
    }
  }
  EXPECT_GT(enc_checked, 200u);
  EXPECT_GT(dec_checked, 200u);
  EXPECT_GT(rejected, 30u);
}

std::vector<uint8_t> pattern(size_t n, uint8_t mul) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(i * mul + 3);
  return v;
}

// Encrypting in pieces, handing ivOut back in, equals one call: this is how the TPM chains
// TPM2_EncryptDecrypt calls. Pieces are whole blocks (partial blocks end a chain in the TPM).
TEST(Aes, ChainingValueContinuesTheStream) {
  const auto key = pattern(32, 5);
  const auto msg = pattern(16 * 7, 11);
  for (SymMode mode : {SymMode::cbc, SymMode::cfb, SymMode::ctr, SymMode::ofb, SymMode::ecb}) {
    auto iv1 = pattern(16, 3);
    std::vector<uint8_t> whole(msg.size());
    ASSERT_EQ(sym_encrypt(mode, key, iv1, msg, whole), Status::ok);
    auto iv2 = pattern(16, 3);
    std::vector<uint8_t> parts(msg.size());
    ASSERT_EQ(sym_encrypt(mode, key, iv2, Bytes(msg).first(48), MutBytes(parts).first(48)),
              Status::ok);
    ASSERT_EQ(sym_encrypt(mode, key, iv2, Bytes(msg).subspan(48), MutBytes(parts).subspan(48)),
              Status::ok);
    EXPECT_EQ(parts, whole) << static_cast<int>(mode);
    EXPECT_EQ(iv2, iv1) << static_cast<int>(mode);
    if (mode == SymMode::cbc || mode == SymMode::cfb) {
      // ivOut is the last ciphertext block.
      EXPECT_TRUE(std::equal(iv1.begin(), iv1.end(), whole.end() - 16));
    }
    if (mode == SymMode::ctr) {
      auto expect = pattern(16, 3);
      expect[15] = static_cast<uint8_t>(expect[15] + 7);  // 7 counter blocks used, no carry
      EXPECT_EQ(iv1, expect);
    }
    // Decryption in pieces restores the message and ends on the same chaining value.
    auto iv3 = pattern(16, 3);
    std::vector<uint8_t> back(msg.size());
    ASSERT_EQ(sym_decrypt(mode, key, iv3, Bytes(whole).first(32), MutBytes(back).first(32)),
              Status::ok);
    ASSERT_EQ(sym_decrypt(mode, key, iv3, Bytes(whole).subspan(32), MutBytes(back).subspan(32)),
              Status::ok);
    EXPECT_EQ(back, msg) << static_cast<int>(mode);
    EXPECT_EQ(iv3, iv1) << static_cast<int>(mode);
  }
}

TEST(Aes, PartialBlocksAndInPlace) {
  const auto key = pattern(16, 9);
  for (SymMode mode : {SymMode::cfb, SymMode::ctr, SymMode::ofb}) {
    for (size_t n : {1u, 15u, 17u, 33u, 100u, 1000u}) {
      const auto msg = pattern(n, 13);
      auto iv = pattern(16, 1);
      std::vector<uint8_t> buf = msg;
      ASSERT_EQ(sym_encrypt(mode, key, iv, buf, buf), Status::ok);  // in place
      EXPECT_NE(buf, msg);
      // Same as the prefix of a longer encryption (stream modes).
      auto iv_long = pattern(16, 1);
      auto longer = pattern(n + 16, 13);
      std::vector<uint8_t> long_out(n + 16);
      ASSERT_EQ(sym_encrypt(mode, key, iv_long, longer, long_out), Status::ok);
      EXPECT_TRUE(std::equal(buf.begin(), buf.end(), long_out.begin())) << n;
      auto iv_d = pattern(16, 1);
      ASSERT_EQ(sym_decrypt(mode, key, iv_d, buf, buf), Status::ok);
      EXPECT_EQ(buf, msg) << static_cast<int>(mode) << " " << n;
      EXPECT_EQ(iv_d, iv) << static_cast<int>(mode) << " " << n;
    }
  }
  for (SymMode mode : {SymMode::cbc, SymMode::ecb}) {
    const auto msg = pattern(16 * 40, 7);  // more than one internal chunk
    auto iv = pattern(16, 2);
    std::vector<uint8_t> buf = msg;
    ASSERT_EQ(sym_encrypt(mode, key, iv, buf, buf), Status::ok);
    auto iv_d = pattern(16, 2);
    ASSERT_EQ(sym_decrypt(mode, key, iv_d, buf, buf), Status::ok);
    EXPECT_EQ(buf, msg);
  }
}

TEST(Aes, CfbPartialChainingValue) {
  // After a partial final block the register is E(previous) with its head replaced by the
  // produced ciphertext octets.
  const auto key = pattern(32, 1);
  const auto msg = pattern(21, 5);  // one block + 5 octets
  auto iv = pattern(16, 4);
  std::vector<uint8_t> ct(msg.size());
  ASSERT_EQ(sym_encrypt(SymMode::cfb, key, iv, msg, ct), Status::ok);
  std::vector<uint8_t> reg(ct.begin(), ct.begin() + 16), ereg(16);
  AesContext aes;
  ASSERT_EQ(aes_init(aes, key, true), Status::ok);
  aes_blocks(aes, reg.data(), ereg.data(), 1);
  aes_release(aes);
  for (size_t i = 0; i < 5; ++i) ereg[i] = ct[16 + i];
  EXPECT_EQ(iv, ereg);
}

TEST(Aes, RejectsBadSizes) {
  const auto key = pattern(16, 1);
  auto iv = pattern(16, 1);
  std::vector<uint8_t> in(20), out(20);
  EXPECT_EQ(sym_encrypt(SymMode::cbc, key, iv, in, out), Status::bad_input);
  EXPECT_EQ(sym_decrypt(SymMode::ecb, key, iv, in, out), Status::bad_input);
  EXPECT_EQ(sym_encrypt(SymMode::cfb, Bytes(key).first(15), iv, in, out), Status::bad_input);
  EXPECT_EQ(sym_encrypt(SymMode::cfb, key, MutBytes(iv).first(8), in, out), Status::bad_input);
  EXPECT_EQ(sym_encrypt(SymMode::cfb, key, iv, in, MutBytes(out).first(19)), Status::bad_input);
  EXPECT_EQ(sym_encrypt(static_cast<SymMode>(0x0045), key, iv, in, out), Status::unsupported);
  AesContext ctx;
  EXPECT_EQ(aes_init(ctx, Bytes(key).first(10), true), Status::bad_input);
  std::vector<uint8_t> tag(16);
  EXPECT_EQ(aes_gcm_seal(Bytes(key).first(10), Bytes(iv).first(12), {}, in, out, tag),
            Status::bad_input);
  EXPECT_EQ(aes_gcm_seal(key, Bytes(), {}, in, out, tag), Status::bad_input);
  EXPECT_EQ(aes_gcm_seal(key, Bytes(iv).first(12), {}, in, out, MutBytes(tag).first(3)),
            Status::bad_input);
}

// ---- Camellia and SM4 (host profile; the firmware's mbedTLS backend has AES only) ----
std::vector<uint8_t> hex(const char* h) { return test::from_hex(h); }

// One block: RFC 3713 Appendix A (Camellia-128/192/256) and GB/T 32907-2016 Appendix A (SM4).
TEST(BlockCiphers, KnownAnswers) {
  const struct {
    BlockCipher c;
    const char *key, *ct;
  } kat[] = {
      {BlockCipher::camellia, "0123456789abcdeffedcba9876543210", "67673138549669730857065648eabe43"},
      {BlockCipher::camellia, "0123456789abcdeffedcba98765432100011223344556677", "b4993401b3e996f84ee5cee7d79b09b9"},
      {BlockCipher::camellia, "0123456789abcdeffedcba987654321000112233445566778899aabbccddeeff",
       "9acc237dff16d76c20ef7c919e3a7509"},
      {BlockCipher::sm4, "0123456789abcdeffedcba9876543210", "681edf34d206965e86b3e94f536e4246"},
  };
  const auto pt = hex("0123456789abcdeffedcba9876543210");
  size_t ran = 0;
  for (const auto& k : kat) {
    const auto key = hex(k.key);
    std::vector<uint8_t> out(16), back(16);
    if (!block_cipher_supported(k.c, key.size())) {
      EXPECT_EQ(sym_encrypt(k.c, SymMode::ecb, key, {}, pt, out), Status::unsupported);
      continue;
    }
    ASSERT_EQ(sym_encrypt(k.c, SymMode::ecb, key, {}, pt, out), Status::ok) << k.ct;
    EXPECT_EQ(to_hex(out), k.ct);
    ASSERT_EQ(sym_decrypt(k.c, SymMode::ecb, key, {}, out, back), Status::ok);
    EXPECT_EQ(back, pt);
    ++ran;
  }
  EXPECT_TRUE(ran == 0 || ran == 4) << "a backend has all of them or none";
  EXPECT_FALSE(block_cipher_supported(BlockCipher::sm4, 32)) << "SM4 keys are 128 bits";
  EXPECT_TRUE(block_cipher_supported(BlockCipher::aes, 24));
}

// Every mode over Camellia-256 and SM4, 48 octets, against python3-cryptography:
//   key = 0123456789abcdeffedcba98765432100011223344556677 8899aabbccddeeff (SM4: the first 16),
//   iv = a0a1...af, data[i] = 7i + 3 (mod 256); Cipher(algorithms.Camellia/SM4(key), modes.X(iv)).
// The chaining values follow sym.h: CBC/CFB the last ciphertext block, CTR the next counter,
// OFB the last keystream block (its block is ciphertext ^ data).
TEST(BlockCiphers, ModesMatchPythonCryptography) {
  const auto key32 = hex("0123456789abcdeffedcba987654321000112233445566778899aabbccddeeff");
  const auto iv0 = hex("a0a1a2a3a4a5a6a7a8a9aaabacadaeaf");
  std::vector<uint8_t> data(48);
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(7 * i + 3);
  const struct {
    BlockCipher c;
    SymMode mode;
    const char* ct;
  } cases[] = {
      {BlockCipher::camellia, SymMode::ecb,
       "e5dec714083322f441c0a875929428edd3712e2ea32aa290ef54c4430c93c518528fc6674bd3437ba8cf58dec9713c06"},
      {BlockCipher::camellia, SymMode::cbc,
       "17898019ccfef6e9b48a9dcc9c1a250836873c95056500a4ab4abcca019305a6a5874c8016edceaa68ef9ad523c11814"},
      {BlockCipher::camellia, SymMode::cfb,
       "0e2de8fa56db8cd3a8930e50e406aa181d04873fc8a1122acf894e812e0032d3266aaf48c1b0ea9035c6941d28fe43a2"},
      {BlockCipher::camellia, SymMode::ofb,
       "0e2de8fa56db8cd3a8930e50e406aa180c0d71fed820f57a803d859cbc781e5338a2255b27126e0891b462dcc50633ef"},
      {BlockCipher::camellia, SymMode::ctr,
       "0e2de8fa56db8cd3a8930e50e406aa18787110cb461ece10636cdab9b95eece79c81913062afab31d926cd2797190846"},
      {BlockCipher::sm4, SymMode::ecb,
       "7f83eb6c5a416a93ec81bbbba19482ce1459a84011c85cb49be3f604574286ed774357640163213daff2ad1caf671c12"},
      {BlockCipher::sm4, SymMode::cbc,
       "e4ae6a23101c022c8e1de0fff37e07a045e6e915e82c6de68fc753f1e3686120d774363cf546f081026aecfcc238cfe5"},
      {BlockCipher::sm4, SymMode::cfb,
       "78335b2a6632aea28770579e00f37911f71e06e83b32b5744e90ec7c9e77fb467aaee96e4ffc0c05c90b8650d3c5657d"},
      {BlockCipher::sm4, SymMode::ofb,
       "78335b2a6632aea28770579e00f37911706a0a4961ea40ec9b62c208328f26bf700c726c00bb4984d49ae32f20f15ea9"},
      {BlockCipher::sm4, SymMode::ctr,
       "78335b2a6632aea28770579e00f3791144d54624f05af00c36edece2570a548e2b822cc1299df3180621823594e311c9"},
  };
  for (const auto& t : cases) {
    const std::vector<uint8_t> key(key32.begin(), key32.begin() + (t.c == BlockCipher::sm4 ? 16 : 32));
    if (!block_cipher_supported(t.c, key.size())) continue;
    const auto want = hex(t.ct);
    std::vector<uint8_t> iv = iv0, out(data.size()), back(data.size());
    ASSERT_EQ(sym_encrypt(t.c, t.mode, key, iv, data, out), Status::ok) << t.ct;
    EXPECT_EQ(to_hex(out), t.ct);
    std::vector<uint8_t> chain(16);
    switch (t.mode) {
      case SymMode::cbc:
      case SymMode::cfb: chain.assign(want.end() - 16, want.end()); break;
      case SymMode::ofb:
        for (size_t i = 0; i < 16; ++i) chain[i] = static_cast<uint8_t>(want[32 + i] ^ data[32 + i]);
        break;
      case SymMode::ctr:
        chain = iv0;
        chain[15] = static_cast<uint8_t>(chain[15] + 3);  // three blocks used, no carry here
        break;
      case SymMode::ecb: chain = iv0; break;
    }
    EXPECT_EQ(iv, chain) << t.ct;
    iv = iv0;
    ASSERT_EQ(sym_decrypt(t.c, t.mode, key, iv, out, back), Status::ok);
    EXPECT_EQ(back, data) << t.ct;
  }
}

TEST(Aead, SealOpenAndTamper) {
  const auto key = pattern(32, 3), nonce = pattern(12, 5), aad = pattern(9, 7);
  const auto msg = pattern(100, 9);
  std::vector<uint8_t> ct(msg.size()), tag(16), back(msg.size());
  ASSERT_EQ(aead_seal(key, nonce, aad, msg, ct, tag), Status::ok);
  ASSERT_EQ(aead_open(key, nonce, aad, ct, tag, back), Status::ok);
  EXPECT_EQ(back, msg);
  // In place.
  std::vector<uint8_t> buf = msg;
  ASSERT_EQ(aead_seal(key, nonce, aad, buf, buf, tag), Status::ok);
  EXPECT_EQ(buf, ct);
  ASSERT_EQ(aead_open(key, nonce, aad, buf, tag, buf), Status::ok);
  EXPECT_EQ(buf, msg);
  // Any change to ciphertext, tag, aad or nonce is rejected and the output wiped.
  auto bad = ct;
  bad[50] ^= 1;
  EXPECT_EQ(aead_open(key, nonce, aad, bad, tag, back), Status::verify_failed);
  EXPECT_EQ(back, std::vector<uint8_t>(msg.size(), 0));
  auto bad_tag = tag;
  bad_tag[0] ^= 0x80;
  EXPECT_EQ(aead_open(key, nonce, aad, ct, bad_tag, back), Status::verify_failed);
  auto bad_aad = aad;
  bad_aad[8] ^= 2;
  EXPECT_EQ(aead_open(key, nonce, bad_aad, ct, tag, back), Status::verify_failed);
  auto bad_nonce = nonce;
  bad_nonce[0] ^= 4;
  EXPECT_EQ(aead_open(key, bad_nonce, aad, ct, tag, back), Status::verify_failed);
  // Fixed sizes are enforced.
  EXPECT_EQ(aead_seal(Bytes(key).first(16), nonce, aad, msg, ct, tag), Status::bad_input);
  EXPECT_EQ(aead_seal(key, Bytes(nonce).first(8), aad, msg, ct, tag), Status::bad_input);
  EXPECT_EQ(aead_open(key, nonce, aad, ct, Bytes(tag).first(12), back), Status::bad_input);
  // Empty message: only the tag authenticates the aad.
  ASSERT_EQ(aead_seal(key, nonce, aad, {}, {}, tag), Status::ok);
  EXPECT_EQ(aead_open(key, nonce, aad, {}, tag, {}), Status::ok);
  EXPECT_EQ(aead_open(key, nonce, bad_aad, {}, tag, {}), Status::verify_failed);
}

}  // namespace
}  // namespace utpm::crypto
