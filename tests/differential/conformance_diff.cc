// Differential conformance harness (issue 14): our engine (src/tpm over a RAM NV store) and
// libtpms (Debian's libtpms0, TPM 2.0 mode) receive the same Startup(CLEAR) and then the same
// command sequences; their answers are compared. libtpms is an ORACLE here and nothing else: it
// is linked into this test tool only, never into a product.
//
// Compared for every command: response tag and response code. For a success: the response
// size (structure), and the response parameters octet for octet where the command is
// deterministic (Hash's digest, PCR_Read/PCR_Event, PolicyGetDigest on trial sessions, NV
// contents and public areas, names of loaded external objects, GetCapability of fixed
// properties). Fields from fresh entropy (nonces, random, keys) are compared by size only.
//
// Handles the TPMs choose (transient objects, sessions) may be numbered differently: the
// sequence uses one side's numbering (the oracle's for generated sequences, ours for replayed
// utpmd traces) and the other side's handles are translated through a map built from the
// response handles both return.
//
// Sequences: generated (a seeded generator of valid commands for a set of commands, then a
// mutator that walks the parameters with the Part 2 schema, src/tpm/schema, and damages one
// field by its type: TPM2B sizes, algorithm identifiers, selectors, handles, integers; or the
// frame: truncation, trailing octets, tag, handle area, session area), or replayed from a file
// (tests/differential/trace_to_seq.py turns a utpmd --trace-file into one).
//
// Every divergence is printed; one listed in the allow-list (docs/conformance-allow.txt, the
// reading is in docs/conformance.md) is counted as documented, any other fails the run.
#include <libtpms/tpm_error.h>
#include <libtpms/tpm_library.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "tpm/marshal/describe.h"
#include "tpm/profile.h"
#include "tpm/schema/command_schema.h"
#include "tpm/testing/fake_platform.h"
#include "tpm/tpm.h"

namespace {

using Bytes = std::vector<uint8_t>;
namespace sch = utpm::tpm::schema;
namespace desc = utpm::tpm::describe;

uint16_t be16(const Bytes& b, size_t at) { return static_cast<uint16_t>(b[at] << 8 | b[at + 1]); }
uint32_t be32(const Bytes& b, size_t at) {
  return uint32_t{b[at]} << 24 | uint32_t{b[at + 1]} << 16 | uint32_t{b[at + 2]} << 8 | b[at + 3];
}
void put32(Bytes& b, size_t at, uint32_t v) {
  b[at] = uint8_t(v >> 24); b[at + 1] = uint8_t(v >> 16); b[at + 2] = uint8_t(v >> 8); b[at + 3] = uint8_t(v);
}
void put16(Bytes& b, size_t at, uint16_t v) { b[at] = uint8_t(v >> 8); b[at + 1] = uint8_t(v); }
void fix_size(Bytes& b) { if (b.size() >= 6) put32(b, 2, uint32_t(b.size())); }
std::string hex(const Bytes& b, size_t from = 0) {
  std::string s;
  char t[3];
  for (size_t i = from; i < b.size(); ++i) { std::snprintf(t, sizeof t, "%02x", b[i]); s += t; }
  return s;
}
Bytes unhex(const std::string& s) {
  Bytes b;
  for (size_t i = 0; i + 1 < s.size(); i += 2) b.push_back(uint8_t(std::stoul(s.substr(i, 2), nullptr, 16)));
  return b;
}

// ---------------------------------------------------------------- the oracle: libtpms
std::map<std::string, Bytes> g_nv, g_nv_manufactured;
bool g_have_snapshot = false;

TPM_RESULT nv_init() { return TPM_SUCCESS; }
TPM_RESULT nv_load(unsigned char** data, uint32_t* length, uint32_t, const char* name) {
  auto it = g_nv.find(name);
  if (it == g_nv.end()) return TPM_RETRY;  // "no such state": libtpms manufactures
  *data = static_cast<unsigned char*>(std::malloc(it->second.size() ? it->second.size() : 1));
  std::memcpy(*data, it->second.data(), it->second.size());
  *length = uint32_t(it->second.size());
  return TPM_SUCCESS;
}
TPM_RESULT nv_store(const unsigned char* data, uint32_t length, uint32_t, const char* name) {
  g_nv[name] = Bytes(data, data + length);
  return TPM_SUCCESS;
}
TPM_RESULT nv_delete(uint32_t, const char* name, TPM_BOOL) {
  g_nv.erase(name);
  return TPM_SUCCESS;
}

class Oracle {
 public:
  ~Oracle() {
    if (running_) TPMLIB_Terminate();
    std::free(rbuf_);
  }
  // A fresh TPM: the state right after the first manufacture (kept so that each sequence does
  // not pay libtpms' seed generation), powered on.
  bool power_on() {
    if (running_) TPMLIB_Terminate();
    running_ = false;
    g_nv = g_have_snapshot ? g_nv_manufactured : std::map<std::string, Bytes>{};
    if (TPMLIB_ChooseTPMVersion(TPMLIB_TPM_VERSION_2) != TPM_SUCCESS) return false;
    static libtpms_callbacks cb{};
    cb.sizeOfStruct = sizeof cb;
    cb.tpm_nvram_init = nv_init;
    cb.tpm_nvram_loaddata = nv_load;
    cb.tpm_nvram_storedata = nv_store;
    cb.tpm_nvram_deletename = nv_delete;
    if (TPMLIB_RegisterCallbacks(&cb) != TPM_SUCCESS) return false;
    if (TPMLIB_MainInit() != TPM_SUCCESS) return false;
    running_ = true;
    if (!g_have_snapshot) {
      g_nv_manufactured = g_nv;
      g_have_snapshot = true;
    }
    return true;
  }
  // TPM_RC_RETRY ("the TPM was not able to start the command") asks the caller to send the
  // command again, as a TSS does.
  Bytes execute(Bytes cmd) {
    Bytes r;
    for (int attempt = 0; attempt < 8; ++attempt) {
      uint32_t rsize = 0;
      if (TPMLIB_Process(&rbuf_, &rsize, &rbufsize_, cmd.data(), uint32_t(cmd.size())) != TPM_SUCCESS) return {};
      r.assign(rbuf_, rbuf_ + rsize);
      if (r.size() < 10 || be32(r, 6) != 0x922) break;
    }
    return r;
  }

 private:
  bool running_ = false;
  unsigned char* rbuf_ = nullptr;
  uint32_t rbufsize_ = 0;
};

// ---------------------------------------------------------------- ours
class Ours {
 public:
  void power_on() {
    tpm_.reset();
    platform_ = std::make_unique<utpm::tpm::testing::FakePlatform>();
    tpm_ = std::make_unique<utpm::tpm::Tpm>(*platform_);
    tpm_->power_on();
  }
  Bytes execute(const Bytes& cmd) {
    platform_->now += 3;
    Bytes r(utpm::profile::kMaxResponseSize);
    size_t n = tpm_->execute(0, cmd, r);
    r.resize(n);
    return r;
  }

 private:
  std::unique_ptr<utpm::tpm::testing::FakePlatform> platform_;
  std::unique_ptr<utpm::tpm::Tpm> tpm_;
};

// ---------------------------------------------------------------- constants
constexpr uint16_t ST_NO = 0x8001, ST_SES = 0x8002;
constexpr uint32_t RS_PW = 0x40000009, RH_OWNER = 0x40000001, RH_NULL = 0x40000007, RH_PLATFORM = 0x4000000C;
enum : uint32_t {
  CC_NV_UndefineSpace = 0x122, CC_NV_DefineSpace = 0x12A, CC_PCR_Reset = 0x13D, CC_NV_Write = 0x137,
  CC_NV_Increment = 0x134, CC_NV_Extend = 0x136, CC_CreatePrimary = 0x131, CC_NV_Read = 0x14E,
  CC_PolicyNV = 0x149, CC_TestParms = 0x18A, CC_PCR_Event = 0x13C, CC_FlushContext = 0x165,
  CC_LoadExternal = 0x167, CC_Hash = 0x17D, CC_PCR_Read = 0x17E, CC_PCR_Extend = 0x182,
  CC_NV_ReadPublic = 0x169, CC_ReadPublic = 0x173, CC_StartAuthSession = 0x176, CC_GetCapability = 0x17A,
  CC_GetRandom = 0x17B, CC_ReadClock = 0x181, CC_PolicyGetDigest = 0x189, CC_PolicyPassword = 0x18C,
  CC_PolicyAuthValue = 0x16B, CC_PolicyCommandCode = 0x16C, CC_PolicyCpHash = 0x16E, CC_PolicyLocality = 0x16F,
  CC_PolicyNameHash = 0x170, CC_PolicyOR = 0x171, CC_PolicyPCR = 0x17F, CC_PolicyRestart = 0x180,
  CC_PolicyPhysicalPresence = 0x187, CC_PolicyNvWritten = 0x18F, CC_PolicyAuthorize = 0x16A,
  CC_HashSequenceStart = 0x186, CC_SequenceUpdate = 0x15C, CC_SequenceComplete = 0x13E, CC_GetTestResult = 0x17C,
  CC_SelfTest = 0x143, CC_Startup = 0x144, CC_ContextSave = 0x162, CC_ContextLoad = 0x161,
};

// ---------------------------------------------------------------- HMAC sessions
// The harness computes each side's command HMAC itself (the two TPMs' nonces differ) with
// OpenSSL, independently of the engine's crypto, and checks each side's response HMAC.
const char* md_name(uint16_t alg) {
  return alg == 0x0004 ? "SHA1" : alg == 0x000B ? "SHA256" : alg == 0x000C ? "SHA384" : alg == 0x000D ? "SHA512" : nullptr;
}
Bytes digest(uint16_t alg, const Bytes& m) {
  Bytes out(EVP_MAX_MD_SIZE);
  unsigned n = 0;
  const EVP_MD* md = EVP_get_digestbyname(md_name(alg));
  if (!md || EVP_Digest(m.data(), m.size(), out.data(), &n, md, nullptr) != 1) return {};
  out.resize(n);
  return out;
}
Bytes hmac(uint16_t alg, const Bytes& key, const Bytes& m) {
  Bytes out(EVP_MAX_MD_SIZE);
  size_t n = 0;
  static const uint8_t empty = 0;
  if (!EVP_Q_mac(nullptr, "HMAC", nullptr, md_name(alg), nullptr, key.empty() ? &empty : key.data(), key.size(),
                 m.data(), m.size(), out.data(), out.size(), &n))
    return {};
  out.resize(n);
  return out;
}
// An unbound, unsalted HMAC session: sessionKey is the Empty Buffer (Part 1 session key
// generation), and the generator only authorizes entities with an empty authValue (PCRs, the
// owner), so the HMAC key is empty. Each TPM's last nonceTPM is kept apart.
struct HmacSession {
  uint16_t auth_hash = 0;
  Bytes nonce_ours, nonce_oracle;
  Bytes key_ours, key_oracle;  // sessionKey of a salted session (each TPM's nonceTPM differs)
};

// KDFa (Part 1, SP 800-108 counter mode with HMAC): bits of
// HMAC(key, i || label || 0 || contextU || contextV || bits), i = 1, 2, ...
Bytes kdfa(uint16_t alg, const Bytes& key, const std::string& label, const Bytes& u, const Bytes& v, uint32_t bits) {
  Bytes out;
  for (uint32_t i = 1; out.size() * 8 < bits; ++i) {
    Bytes m = {uint8_t(i >> 24), uint8_t(i >> 16), uint8_t(i >> 8), uint8_t(i)};
    m.insert(m.end(), label.begin(), label.end());
    m.push_back(0);
    m.insert(m.end(), u.begin(), u.end());
    m.insert(m.end(), v.begin(), v.end());
    for (int k = 3; k >= 0; --k) m.push_back(uint8_t(bits >> (8 * k)));
    Bytes h = hmac(alg, key, m);
    if (h.empty()) return {};
    out.insert(out.end(), h.begin(), h.end());
  }
  out.resize(bits / 8);
  return out;
}

// The salt key: an RSA-2048 key made here with OpenSSL, loaded into both TPMs with
// LoadExternal (public and private part, null hierarchy), so one encrypted salt serves both.
struct SaltKey {
  EVP_PKEY* pkey = nullptr;
  Bytes n, p;
  bool make() {
    pkey = EVP_RSA_gen(2048);
    if (!pkey) return false;
    BIGNUM *bn = nullptr, *bp = nullptr;
    if (!EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_N, &bn) ||
        !EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_FACTOR1, &bp))
      return false;
    n.resize(256);
    p.resize(128);
    bool ok = BN_bn2binpad(bn, n.data(), 256) == 256 && BN_bn2binpad(bp, p.data(), 128) == 128;
    BN_free(bn);
    BN_free(bp);
    return ok;
  }
  // RSA-OAEP with the key's nameAlg (SHA-256) and the label "SECRET" (Part 1 salt encryption).
  Bytes encrypt(const Bytes& salt) const {
    Bytes out;
    EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_pkey(nullptr, pkey, nullptr);
    size_t len = 0;
    static const char label[] = "SECRET";
    void* l = OPENSSL_memdup(label, sizeof label);
    if (ctx && EVP_PKEY_encrypt_init(ctx) == 1 && EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) == 1 &&
        EVP_PKEY_CTX_set_rsa_oaep_md_name(ctx, "SHA256", nullptr) == 1 &&
        EVP_PKEY_CTX_set0_rsa_oaep_label(ctx, l, sizeof label) == 1 &&
        EVP_PKEY_encrypt(ctx, nullptr, &len, salt.data(), salt.size()) == 1) {
      l = nullptr;
      out.resize(len);
      if (EVP_PKEY_encrypt(ctx, out.data(), &len, salt.data(), salt.size()) != 1) out.clear();
      else out.resize(len);
    }
    OPENSSL_free(l);
    EVP_PKEY_CTX_free(ctx);
    return out;
  }
};
SaltKey g_salt_key;
std::map<Bytes, Bytes> g_salts;  // encrypted salt -> salt, for the runner's session keys

// ---------------------------------------------------------------- sequences
struct Sequence {
  std::string origin;
  std::vector<Bytes> commands;
  bool ours_numbering = false;  // handles in the sequence are ours (replayed trace)
};

class Builder {
 public:
  Builder(uint16_t tag, uint32_t cc) { u16(tag).u32(0).u32(cc); }
  Builder& u8(uint8_t v) { b.push_back(v); return *this; }
  Builder& u16(uint16_t v) { return u8(uint8_t(v >> 8)).u8(uint8_t(v)); }
  Builder& u32(uint32_t v) { return u16(uint16_t(v >> 16)).u16(uint16_t(v)); }
  Builder& raw(const Bytes& s) { b.insert(b.end(), s.begin(), s.end()); return *this; }
  Builder& tpm2b(const Bytes& s) { return u16(uint16_t(s.size())).raw(s); }
  Builder& pw() { return u32(9).u32(RS_PW).u16(0).u8(1).u16(0); }
  Bytes done() { fix_size(b); return b; }
  Bytes b;
};

// The generator: valid commands over a pool of live handles (oracle numbering).
class Generator {
 public:
  explicit Generator(uint64_t seed, std::set<uint32_t> only) : rng_(seed), only_(std::move(only)) {}

  // Notes a response: handles to the pools.
  void observe(const Bytes& cmd, const Bytes& rsp) {
    if (rsp.size() < 14 || be32(rsp, 6) != 0 || cmd.size() < 10) return;
    uint32_t cc = be32(cmd, 6);
    uint32_t h = be32(rsp, 10);
    if (cc == CC_StartAuthSession && cmd.size() >= 3 && cmd[cmd.size() - 5] == 0x00) hmac_sessions_.push_back(h);
    else if (cc == CC_StartAuthSession) sessions_.push_back(h);
    if (cc == CC_ContextSave && rsp.size() > 10) saved_.push_back(Bytes(rsp.begin() + 10, rsp.end()));
    if (cc == CC_LoadExternal && cmd.size() > 12 && be16(cmd, 10) != 0) salt_keys_.push_back(h);
    else if (cc == CC_LoadExternal) externals_.push_back(h);
    if (cc == CC_CreatePrimary) objects_.push_back(h);
    if (cc == CC_HashSequenceStart) sequences_.push_back(h);
    if (cc == CC_NV_DefineSpace && cmd.size() > 18) {  // auth handle, session area, auth, nvPublic
      size_t at = 18 + size_t(be32(cmd, 14));
      if (at + 2 <= cmd.size()) at += 2 + be16(cmd, at);
      if (at + 6 <= cmd.size()) nv_.push_back(be32(cmd, at + 2));
    }
    if (cc == CC_FlushContext && cmd.size() >= 14) erase(be32(cmd, 10));
    if (cc == CC_NV_UndefineSpace && cmd.size() >= 18) { auto x = be32(cmd, 14); std::erase(nv_, x); }
    if (cc == CC_SequenceComplete && cmd.size() >= 14) { auto x = be32(cmd, 10); std::erase(sequences_, x); }
  }

  Bytes next() {
    for (;;) {
      Bytes c = make(pick(25));
      if (c.empty()) continue;
      if (!only_.empty() && !only_.count(be32(c, 6))) continue;
      return c;
    }
  }

  uint32_t pick(uint32_t n) { return uint32_t(rng_() % n); }
  std::mt19937_64& rng() { return rng_; }

 private:
  void erase(uint32_t h) {
    for (auto* v : {&sessions_, &externals_, &objects_, &sequences_, &hmac_sessions_, &salt_keys_}) std::erase(*v, h);
  }
  Bytes random(size_t n) { Bytes b(n); for (auto& x : b) x = uint8_t(rng_()); return b; }
  uint16_t hash_alg() { static const uint16_t a[] = {0x0004, 0x000B, 0x000C}; return a[pick(3)]; }
  size_t digest_size(uint16_t alg) { return alg == 0x0004 ? 20 : alg == 0x000B ? 32 : alg == 0x000C ? 48 : 64; }
  uint32_t from(const std::vector<uint32_t>& pool, uint32_t fallback) {
    return pool.empty() ? fallback : pool[pick(uint32_t(pool.size()))];
  }
  Bytes selection(bool nonempty = true) {
    Builder s(0, 0);
    s.b.clear();
    uint32_t banks = nonempty ? 1 + pick(2) : pick(3);
    s.u32(banks);
    for (uint32_t i = 0; i < banks; ++i) {
      s.u16(i == 0 ? 0x000B : 0x0004).u8(3);
      s.u8(uint8_t(rng_())).u8(uint8_t(rng_())).u8(uint8_t(pick(2) ? 0x80 : rng_()));
    }
    return s.b;
  }
  // A public area: keyedhash (no key check) or an RSA 2048 public key with arbitrary modulus.
  Bytes external_public() {
    Builder p(0, 0);
    p.b.clear();
    if (pick(2)) {
      p.u16(0x0008).u16(hash_alg()).u32(0x00040060 & ~0x00000040u).tpm2b({});  // keyedhash, sign|userWithAuth
      p.u16(0x0005).u16(0x000B);  // HMAC scheme, sha256
      p.tpm2b(random(32));
    } else {
      p.u16(0x0001).u16(0x000B).u32(0x00040040).tpm2b({});  // rsa, sign|userWithAuth
      p.u16(0x0010).u16(0x0010).u16(2048).u32(0);           // sym null, scheme null, 2048, exponent default
      Bytes n = random(256);
      n[0] |= 0x80; n[255] |= 1;
      p.tpm2b(n);
    }
    Builder s(0, 0);
    s.b.clear();
    s.tpm2b(p.b);
    return s.b;
  }

  Bytes make(uint32_t kind) {
    switch (kind) {
      case 0: return Builder(ST_NO, CC_GetRandom).u16(uint16_t(pick(70))).done();
      case 1: return Builder(ST_NO, CC_Hash).tpm2b(random(pick(80))).u16(hash_alg()).u32(pick(2) ? RH_NULL : RH_OWNER).done();
      case 2: {
        Builder b(ST_SES, CC_PCR_Extend);
        b.u32(pick(4) == 0 ? 16 + pick(8) : pick(24)).pw();
        uint32_t n = 1 + pick(2);
        b.u32(n);
        for (uint32_t i = 0; i < n; ++i) { uint16_t a = hash_alg(); b.u16(a).raw(random(digest_size(a))); }
        return b.done();
      }
      case 3: return Builder(ST_NO, CC_PCR_Read).raw(selection()).done();
      case 4: return Builder(ST_SES, CC_PCR_Event).u32(pick(24)).pw().tpm2b(random(pick(64))).done();
      case 5: {  // a trial (or policy) session, unbound, unsalted
        Builder b(ST_NO, CC_StartAuthSession);
        b.u32(RH_NULL).u32(RH_NULL).tpm2b(random(16 + pick(17))).tpm2b({}).u8(pick(4) ? 0x03 : 0x01);
        b.u16(0x0010).u16(hash_alg());
        return b.done();
      }
      case 6: {  // a policy assertion on a session
        uint32_t s = from(sessions_, 0x03000000);
        switch (pick(12)) {
          case 0: return Builder(ST_NO, CC_PolicyCommandCode).u32(s).u32(0x11F + pick(0x80)).done();
          case 1: return Builder(ST_NO, CC_PolicyLocality).u32(s).u8(uint8_t(1u << pick(5))).done();
          case 2: return Builder(ST_NO, CC_PolicyAuthValue).u32(s).done();
          case 3: return Builder(ST_NO, CC_PolicyPassword).u32(s).done();
          case 4: return Builder(ST_NO, CC_PolicyPCR).u32(s).tpm2b(pick(2) ? Bytes{} : random(32)).raw(selection()).done();
          case 5: {
            Builder b(ST_NO, CC_PolicyOR);
            b.u32(s);
            uint32_t n = 2 + pick(3);
            b.u32(n);
            for (uint32_t i = 0; i < n; ++i) b.tpm2b(random(32));
            return b.done();
          }
          case 6: return Builder(ST_NO, CC_PolicyNvWritten).u32(s).u8(uint8_t(pick(2))).done();
          case 7: return Builder(ST_NO, CC_PolicyCpHash).u32(s).tpm2b(random(32)).done();
          case 8: return Builder(ST_NO, CC_PolicyNameHash).u32(s).tpm2b(random(32)).done();
          case 9: return Builder(ST_NO, CC_PolicyPhysicalPresence).u32(s).done();
          case 10: return Builder(ST_NO, CC_PolicyRestart).u32(s).done();
          default: return Builder(ST_NO, CC_PolicyGetDigest).u32(s).done();
        }
      }
      case 7: return Builder(ST_NO, CC_PolicyGetDigest).u32(from(sessions_, 0x03000000)).done();
      case 8: {
        uint32_t all[4] = {from(sessions_, 0x03000000), from(externals_, 0x80000000), from(objects_, 0x80000001),
                           from(sequences_, 0x80000002)};
        return Builder(ST_NO, CC_FlushContext).u32(all[pick(4)]).done();
      }
      case 9: {  // NV_DefineSpace: ordinary, counter or extend index, owner-authorized
        Builder b(ST_SES, CC_NV_DefineSpace);
        b.u32(RH_OWNER).pw().tpm2b(random(pick(3) ? 0 : 8));
        uint32_t type = pick(3);  // 0 ordinary, 1 counter, 2 extend
        uint32_t attrs = 0x00060006u | (type == 1 ? 0x10 : type == 2 ? 0x40 : 0);  // owner/auth read+write
        uint16_t alg = hash_alg();
        uint16_t size = type == 1 ? 8 : type == 2 ? uint16_t(digest_size(alg)) : uint16_t(pick(65));
        Builder pub(0, 0);
        pub.b.clear();
        pub.u32(0x01000000 + pick(8)).u16(alg).u32(attrs).tpm2b({}).u16(size);
        b.tpm2b(pub.b);
        return b.done();
      }
      case 10: {
        uint32_t i = from(nv_, 0x01000000);
        return Builder(ST_SES, CC_NV_Write).u32(i).u32(i).pw().tpm2b(random(pick(24))).u16(uint16_t(pick(3) ? 0 : pick(40))).done();
      }
      case 11: {
        uint32_t i = from(nv_, 0x01000000);
        return Builder(ST_SES, CC_NV_Read).u32(i).u32(i).pw().u16(uint16_t(pick(40))).u16(uint16_t(pick(3) ? 0 : pick(40))).done();
      }
      case 12: return Builder(ST_NO, CC_NV_ReadPublic).u32(from(nv_, 0x01000000)).done();
      case 13: {
        uint32_t i = from(nv_, 0x01000000);
        return pick(2) ? Builder(ST_SES, CC_NV_Increment).u32(i).u32(i).pw().done()
                       : Builder(ST_SES, CC_NV_Extend).u32(i).u32(i).pw().tpm2b(random(pick(40))).done();
      }
      case 14: return Builder(ST_SES, CC_NV_UndefineSpace).u32(RH_OWNER).u32(from(nv_, 0x01000000)).pw().done();
      case 15: return Builder(ST_NO, CC_LoadExternal).u16(0).raw(external_public()).u32(pick(2) ? RH_NULL : RH_OWNER).done();
      case 16: return Builder(ST_NO, CC_ReadPublic).u32(from(externals_, 0x80000000)).done();
      case 17: {  // GetCapability of one fixed property, or the PCR allocation
        static const uint32_t props[] = {0x100, 0x10D, 0x10E, 0x112, 0x113, 0x117, 0x118, 0x11A, 0x11D, 0x11E, 0x120, 0x12C};
        if (pick(4) == 0) return Builder(ST_NO, CC_GetCapability).u32(5).u32(0).u32(1 + pick(3)).done();
        return Builder(ST_NO, CC_GetCapability).u32(6).u32(props[pick(12)]).u32(1).done();
      }
      case 18: {  // CreatePrimary of an ECC P-256 signing key (fresh entropy: structure only)
        if (objects_.size() >= 2) return {};
        Builder b(ST_SES, CC_CreatePrimary);
        b.u32(pick(2) ? RH_NULL : RH_OWNER).pw();
        b.u16(4).u16(0).u16(0);  // inSensitive: empty auth and data
        Builder p(0, 0);
        p.b.clear();
        p.u16(0x0023).u16(0x000B).u32(0x00040072).tpm2b({});  // ecc, sha256, fixedTPM|fixedParent|sensitiveDataOrigin|userWithAuth|sign
        p.u16(0x0010).u16(0x0018).u16(0x000B).u16(0x0003).u16(0x0010).u16(0).u16(0);  // ecdsa sha256, P-256, kdf null
        b.tpm2b(p.b).tpm2b({}).u32(0);
        return b.done();
      }
      case 19: {
        static const uint8_t parms[][8] = {{0x00, 0x25, 0x00, 0x80, 0x00, 0x43}, {0x00, 0x06, 0x00, 0x80, 0x00, 0x43}};
        uint32_t k = pick(3);
        Builder b(ST_NO, CC_TestParms);
        if (k < 2) return b.raw(Bytes(parms[k], parms[k] + 6)).done();
        return b.u16(0x0023).u16(0x0010).u16(0x0018).u16(0x000B).u16(uint16_t(1 + pick(4))).u16(0x0010).done();
      }
      case 20: {
        if (sequences_.empty() || pick(3) == 0) return Builder(ST_NO, CC_HashSequenceStart).tpm2b({}).u16(hash_alg()).done();
        uint32_t s = from(sequences_, 0x80000000);
        if (pick(2)) return Builder(ST_SES, CC_SequenceUpdate).u32(s).pw().tpm2b(random(pick(64))).done();
        return Builder(ST_SES, CC_SequenceComplete).u32(s).pw().tpm2b(random(pick(32))).u32(RH_NULL).done();
      }
      case 22: {  // an HMAC session, unbound, unsalted or salted, or a command it authorizes
        if (hmac_sessions_.empty() || pick(4) == 0) {
          if (!g_salt_key.n.empty() && pick(2)) {
            if (salt_keys_.empty()) {  // the salt key: RSA decrypt key, private part given
              Builder sens(0, 0);
              sens.b.clear();
              sens.u16(0x0001).tpm2b({}).tpm2b({}).tpm2b(g_salt_key.p);
              Builder pub(0, 0);
              pub.b.clear();
              pub.u16(0x0001).u16(0x000B).u32(0x00020040).tpm2b({});  // rsa, sha256, decrypt|userWithAuth
              pub.u16(0x0010).u16(0x0010).u16(2048).u32(0).tpm2b(g_salt_key.n);
              return Builder(ST_NO, CC_LoadExternal).tpm2b(sens.b).tpm2b(pub.b).u32(RH_NULL).done();
            }
            Bytes salt = random(32);
            Bytes enc = g_salt_key.encrypt(salt);
            if (enc.empty()) return {};
            g_salts[enc] = salt;
            Builder b(ST_NO, CC_StartAuthSession);
            b.u32(from(salt_keys_, 0x80000000)).u32(RH_NULL).tpm2b(random(16 + pick(17))).tpm2b(enc).u8(0x00);
            b.u16(0x0010).u16(hash_alg());
            return b.done();
          }
          Builder b(ST_NO, CC_StartAuthSession);
          b.u32(RH_NULL).u32(RH_NULL).tpm2b(random(16 + pick(17))).tpm2b({}).u8(0x00);
          b.u16(0x0010).u16(hash_alg());
          return b.done();
        }
        uint32_t s = from(hmac_sessions_, 0x02000000);
        // The HMAC is a placeholder of the largest size; the runner writes each TPM's own.
        auto session = [&](Builder& b) {
          Bytes area;
          Builder a(0, 0);
          a.b.clear();
          a.u32(s).tpm2b(random(16 + pick(17))).u8(0x01).tpm2b(Bytes(48, 0));
          b.u32(uint32_t(a.b.size())).raw(a.b);
        };
        Builder b(ST_SES, 0);
        switch (pick(4)) {
          case 0: {
            b = Builder(ST_SES, CC_PCR_Extend);
            b.u32(pick(2) ? 16 : pick(24));
            session(b);
            uint16_t a = hash_alg();
            b.u32(1).u16(a).raw(random(digest_size(a)));
            break;
          }
          case 1: b = Builder(ST_SES, CC_PCR_Event); b.u32(pick(24)); session(b); b.tpm2b(random(pick(64))); break;
          case 2: b = Builder(ST_SES, CC_PCR_Reset); b.u32(16 + pick(8)); session(b); break;
          default: {  // NV_DefineSpace under the owner (name = handle)
            b = Builder(ST_SES, CC_NV_DefineSpace);
            b.u32(RH_OWNER);
            session(b);
            Builder pub(0, 0);
            pub.b.clear();
            pub.u32(0x01000000 + pick(8)).u16(0x000B).u32(0x00060006u).tpm2b({}).u16(uint16_t(1 + pick(32)));
            b.tpm2b({}).tpm2b(pub.b);
            break;
          }
        }
        return b.done();
      }
      case 23: {  // ContextSave of a live handle
        uint32_t all[4] = {from(sessions_, 0x03000000), from(externals_, 0x80000000), from(objects_, 0x80000001),
                           from(hmac_sessions_, 0x02000000)};
        return Builder(ST_NO, CC_ContextSave).u32(all[pick(4)]).done();
      }
      case 24: {  // ContextLoad of a blob saved before (the runner gives each TPM its own)
        if (saved_.empty()) return {};
        Bytes blob = saved_[pick(uint32_t(saved_.size()))];
        return Builder(ST_NO, CC_ContextLoad).raw(blob).done();
      }
      default: return Builder(ST_SES, CC_PCR_Reset).u32(pick(2) ? 16 : pick(24)).pw().done();
    }
  }

  std::mt19937_64 rng_;
  std::set<uint32_t> only_;
  std::vector<uint32_t> sessions_, externals_, objects_, nv_, sequences_, hmac_sessions_, salt_keys_;
  std::vector<Bytes> saved_;  // the reference TPM's context blobs
};

// ---------------------------------------------------------------- the schema-aware mutator
struct LeafAt {
  desc::Leaf kind;
  size_t offset;
  size_t size;
};
class Collect final : public desc::Visitor {
 public:
  Collect() = default;
  virtual ~Collect() = default;
  std::vector<LeafAt> leaves;
  void begin(desc::Name, desc::Node, size_t, uint32_t) override {}
  void end(size_t) override {}
  void leaf(desc::Name, desc::Leaf kind, size_t offset, std::span<const uint8_t> bytes) override {
    leaves.push_back({kind, offset, bytes.size()});
  }
  void error(desc::Name, size_t, utpm::tpm::TPM_RC) override {}
};

// Where the parameters start (after handles and the session area), or 0.
size_t parameter_start(const Bytes& c, const sch::CommandSchema& s) {
  size_t at = 10 + 4 * s.handle_count();
  if (c.size() < at) return 0;
  if (be16(c, 0) == ST_SES) {
    if (c.size() < at + 4) return 0;
    at += 4 + be32(c, at);
  }
  return at <= c.size() ? at : 0;
}

void mutate(Bytes& c, Generator& g) {
  static const uint16_t bad_algs[] = {0x0000, 0x0001, 0x0010, 0x0099, 0x7FFF, 0x0011, 0x0027, 0x0012};
  static const uint32_t bad_handles[] = {0x00000000, 0x80FFFFFF, 0x02FFFFFF, 0x03000010, 0x01FFFFFF,
                                         0x40000099, 0x81000001, 0x400000FF, 0x0000001F, 0xFFFFFFFF};
  const sch::CommandSchema* s = sch::find_schema(be32(c, 6));
  uint32_t what = g.pick(10);
  if (s && what < 7) {
    size_t at = parameter_start(c, *s);
    if (at) {
      Collect v;
      utpm::tpm::Reader r({c.data() + at, c.size() - at});
      for (size_t i = 0; i < s->in_count(); ++i)
        if (s->in[i].walk(v, c.data() + at, r, desc::name_of(s->in[i].name), nullptr) != 0) break;
      if (!v.leaves.empty()) {
        const LeafAt& l = v.leaves[g.pick(uint32_t(v.leaves.size()))];
        size_t o = at + l.offset;
        if (o + l.size > c.size()) return;
        switch (l.kind) {
          case desc::Leaf::alg:
            if (l.size == 2) put16(c, o, bad_algs[g.pick(8)]);
            break;
          case desc::Leaf::handle:
            if (l.size == 4) put32(c, o, bad_handles[g.pick(10)]);
            break;
          case desc::Leaf::tpm2b: {
            uint16_t n = be16(c, o);
            static const int d[] = {1, -1, 2, 0x100, 0x7FFF};
            uint32_t k = g.pick(6);
            put16(c, o, k == 5 ? 0 : uint16_t(n + d[k]));
            break;
          }
          case desc::Leaf::octets:
            if (l.size) c.erase(c.begin() + long(o), c.begin() + long(o + 1 + g.pick(uint32_t(l.size))));
            fix_size(c);
            break;
          default:  // integers, selectors, attributes, counts: a random or boundary value
            for (size_t i = 0; i < l.size; ++i)
              c[o + i] = g.pick(3) == 0 ? 0xFF : g.pick(2) ? 0 : uint8_t(g.rng()());
            break;
        }
        return;
      }
    }
  }
  switch (what % 5) {
    case 0: c.resize(10 + g.pick(uint32_t(c.size() - 9))); fix_size(c); break;        // truncated
    case 1: for (uint32_t i = 1 + g.pick(4); i; --i) c.push_back(uint8_t(g.rng()())); fix_size(c); break;  // trailing
    case 2: put16(c, 0, be16(c, 0) == ST_SES ? ST_NO : ST_SES); break;                 // tag
    case 3: if (c.size() >= 14) put32(c, 10, bad_handles[g.pick(10)]); break;          // first handle
    default: put32(c, 2, be32(c, 2) + (g.pick(2) ? 1 : -1)); break;                    // commandSize
  }
}

// ---------------------------------------------------------------- comparing
struct Divergence {
  uint32_t cc, ours_rc, oracle_rc;
  std::string kind;  // rc, tag, size, bytes, frame
  std::string detail;
  std::string key() const {
    char b[96];
    std::snprintf(b, sizeof b, "0x%03" PRIx32 " %s 0x%03" PRIx32 " 0x%03" PRIx32, cc, kind.c_str(), ours_rc, oracle_rc);
    return b;
  }
};

struct AllowRule {
  std::string cc, kind, ours, oracle;
};
bool field_match(const std::string& pat, const std::string& v) { return pat == "*" || pat == v; }

class AllowList {
 public:
  bool load(const std::string& path) {
    std::ifstream f(path);
    if (!f) return false;
    std::string line;
    while (std::getline(f, line)) {
      if (auto h = line.find('#'); h != std::string::npos) line.resize(h);
      std::istringstream is(line);
      AllowRule r;
      if (is >> r.cc >> r.kind >> r.ours >> r.oracle) rules_.push_back(r);
    }
    return true;
  }
  bool allowed(const Divergence& d) const {
    std::istringstream is(d.key());
    std::string cc, kind, ours, oracle;
    is >> cc >> kind >> ours >> oracle;
    for (const auto& r : rules_)
      if (field_match(r.cc, cc) && field_match(r.kind, kind) && field_match(r.ours, ours) && field_match(r.oracle, oracle))
        return true;
    return false;
  }

 private:
  std::vector<AllowRule> rules_;
};

// Which part of a successful response must be equal octet for octet: from the parameters'
// start, `len` octets (SIZE_MAX: all parameters); 0: structure (size) only.
size_t deterministic_prefix(uint32_t cc, const Bytes& rsp, size_t params, bool external_object) {
  switch (cc) {
    case CC_Hash:  // outHash (the ticket is an HMAC under a proof value)
    case CC_SequenceComplete:
      return rsp.size() >= params + 2 ? 2 + size_t(be16(rsp, params)) : SIZE_MAX;
    case CC_PCR_Read:  // from pcrSelectionOut on: pcrUpdateCounter's start is the TPM's own
      return SIZE_MAX - 1;
    case CC_PCR_Event: case CC_PolicyGetDigest: case CC_NV_Read: case CC_NV_ReadPublic:
    case CC_LoadExternal: case CC_GetCapability:
      return SIZE_MAX;
    case CC_ReadPublic: {  // outPublic and name; qualifiedName: docs/conformance.md
      if (!external_object || rsp.size() < params + 2) return 0;
      size_t at = params + 2 + be16(rsp, params);
      return at + 2 <= rsp.size() ? at + 2 + be16(rsp, at) - params : SIZE_MAX;
    }
    default:
      return 0;
  }
}

struct Stats {
  uint64_t sequences = 0, commands = 0, divergences = 0, allowed = 0;
  uint64_t not_compared = 0;  // commands on a handle that had already diverged
  uint64_t hmac_ok = 0;       // HMAC-session commands both TPMs accepted, both response HMACs right
  uint64_t salted_ok = 0;     // of which in salted sessions
  uint64_t context_loads = 0; // ContextLoad of a saved context both TPMs accepted
  std::map<std::string, uint64_t> by_key;
};

class Runner {
 public:
  Runner(Oracle& o, Ours& u, const AllowList& a, Stats& s, bool verbose) : oracle_(o), ours_(u), allow_(a), stats_(s), verbose_(verbose) {}

  bool start() {
    map_.clear();
    externals_.clear();
    tainted_.clear();
    pcrs_tainted_ = false;
    hmac_.clear();
    blobs_.clear();
    if (!oracle_.power_on()) return false;
    ours_.power_on();
    Bytes su = Builder(ST_NO, CC_Startup).u16(0).done();
    Bytes a = oracle_.execute(su), b = ours_.execute(su);
    return a.size() == 10 && b.size() == 10 && be32(a, 6) == 0 && be32(b, 6) == 0;
  }

  // Runs one command on both; returns the oracle's response (for the generator's pools).
  Bytes step(const Bytes& cmd, bool ours_numbering, const std::string& origin, size_t index) {
    Bytes mine = cmd, theirs = cmd;
    Bytes& other = ours_numbering ? theirs : mine;
    translate(other, ours_numbering);
    // A context blob is the TPM's own: a ContextLoad of the reference side's blob gets the
    // blob the other side saved at the same point.
    if (cmd.size() > 10 && be32(cmd, 6) == CC_ContextLoad) {
      auto it = blobs_.find(Bytes(cmd.begin() + 10, cmd.end()));
      if (it != blobs_.end()) {
        other.resize(10);
        other.insert(other.end(), it->second.begin(), it->second.end());
        fix_size(other);
      }
    }
    const HmacSession* hs = hmac_session_of(cmd);
    if (hs) {
      sign(mine, *hs, hs->nonce_ours, hs->key_ours);
      sign(theirs, *hs, hs->nonce_oracle, hs->key_oracle);
    }
    Bytes ro = oracle_.execute(theirs);
    Bytes ru = ours_.execute(mine);
    ++stats_.commands;
    if (trace_)
      std::printf("step %s #%zu\n  ours   %s\n      -> %s\n  oracle %s\n      -> %s\n", origin.c_str(), index,
                  hex(mine).c_str(), hex(ru).c_str(), hex(theirs).c_str(), hex(ro).c_str());
    after_sessions(cmd, mine, theirs, ru, ro, ours_numbering, origin, index);
    // After a handle's first divergence the two TPMs hold different things under it (or one
    // holds nothing): its later answers are not compared, so one divergence counts once.
    if (touches_tainted(cmd)) {
      ++stats_.not_compared;
      note_handles(cmd, ru, ro, ours_numbering);
      if (be_rc(ru) != be_rc(ro)) taint(cmd, ru, ro, ours_numbering);
      return ours_numbering ? ru : ro;
    }
    if (!compare(cmd, ru, ro, ours_numbering, origin, index)) taint(cmd, ru, ro, ours_numbering);
    return ours_numbering ? ru : ro;
  }

 private:
  // Seq handle -> the other side's handle, in the handle area, the session area and
  // FlushContext's parameter.
  void translate(Bytes& c, bool ours_numbering) {
    if (c.size() < 10) return;
    auto tr = [&](size_t at) {
      if (at + 4 > c.size()) return;
      auto it = map_.find(be32(c, at));
      if (it != map_.end()) put32(c, at, it->second);
    };
    uint32_t cc = be32(c, 6);
    const sch::CommandSchema* s = sch::find_schema(cc);
    if (cc == CC_FlushContext) { tr(10); return; }
    if (!s) return;
    size_t at = 10;
    for (size_t i = 0; i < s->handle_count(); ++i, at += 4) tr(at);
    if (be16(c, 0) != ST_SES || at + 4 > c.size()) return;
    size_t end = at + 4 + be32(c, at);
    at += 4;
    while (at + 4 <= end && at + 4 <= c.size()) {  // handle, nonce, attributes, hmac
      tr(at);
      at += 4;
      if (at + 2 > c.size()) return;
      at += 2 + be16(c, at) + 1;
      if (at + 2 > c.size()) return;
      at += 2 + be16(c, at);
    }
    (void)ours_numbering;
  }

  // The session entry of the first session of a command: offset of its handle, or 0.
  static size_t first_session(const Bytes& c) {
    if (c.size() < 10 || be16(c, 0) != ST_SES) return 0;
    const sch::CommandSchema* s = sch::find_schema(be32(c, 6));
    if (!s) return 0;
    size_t at = 10 + 4 * s->handle_count();
    return at + 8 <= c.size() ? at + 4 : 0;
  }
  const HmacSession* hmac_session_of(const Bytes& c) const {
    size_t at = first_session(c);
    if (!at) return nullptr;
    auto it = hmac_.find(be32(c, at));
    return it == hmac_.end() ? nullptr : &it->second;
  }
  // Writes this side's command HMAC (Part 1 authorization HMAC with an empty key):
  // HMAC(cpHash || nonceCaller || nonceTPM || sessionAttributes), cpHash = H(cc || names ||
  // parameters); the handles of these commands are PCRs and the owner, whose Names are the
  // handles themselves.
  static void sign(Bytes& c, const HmacSession& hs, const Bytes& nonce_tpm, const Bytes& key) {
    const sch::CommandSchema* s = sch::find_schema(be32(c, 6));
    size_t at = first_session(c);
    if (!s || !at) return;
    const size_t area_end = at + be32(c, at - 4);
    size_t p = at + 4;
    if (p + 2 > c.size()) return;
    Bytes nonce_caller(c.begin() + long(p + 2), c.begin() + long(std::min(c.size(), p + 2 + be16(c, p))));
    p += 2 + be16(c, p);
    if (p + 3 > c.size()) return;
    const uint8_t attrs = c[p];
    const size_t hmac_at = p + 1;
    const size_t hsize = be16(c, hmac_at);
    if (hmac_at + 2 + hsize != area_end || area_end > c.size()) return;  // damaged: left as it is
    Bytes cp;
    for (int i = 0; i < 4; ++i) cp.push_back(c[6 + i]);
    for (size_t i = 0; i < s->handle_count(); ++i)
      for (int k = 0; k < 4; ++k) cp.push_back(c[10 + 4 * i + k]);
    cp.insert(cp.end(), c.begin() + long(area_end), c.end());
    Bytes m = digest(hs.auth_hash, cp);
    m.insert(m.end(), nonce_caller.begin(), nonce_caller.end());
    m.insert(m.end(), nonce_tpm.begin(), nonce_tpm.end());
    m.push_back(attrs);
    Bytes h = hmac(hs.auth_hash, key, m);
    Bytes out(c.begin(), c.begin() + long(hmac_at));
    out.push_back(uint8_t(h.size() >> 8));
    out.push_back(uint8_t(h.size()));
    out.insert(out.end(), h.begin(), h.end());
    out.insert(out.end(), c.begin() + long(area_end), c.end());
    put32(out, at - 4, uint32_t(be32(c, at - 4) - hsize + h.size()));
    c = out;
    fix_size(c);
  }
  // Checks one side's response HMAC and keeps its new nonceTPM; false: the HMAC is wrong.
  static bool take_response(const Bytes& c, const Bytes& r, HmacSession& hs, Bytes& nonce_tpm, const Bytes& key) {
    if (r.size() < 14 || be32(r, 6) != 0 || be16(r, 0) != ST_SES) return true;
    const sch::CommandSchema* s = sch::find_schema(be32(c, 6));
    size_t at = 10 + 4 * (s ? s->response_handle_count() : 0);
    if (at + 4 > r.size()) return false;
    const size_t psize = be32(r, at);
    const size_t params = at + 4;
    size_t p = params + psize;
    if (p + 2 > r.size()) return false;
    Bytes nonce(r.begin() + long(p + 2), r.begin() + long(std::min(r.size(), p + 2 + be16(r, p))));
    p += 2 + be16(r, p);
    if (p + 3 > r.size()) return false;
    const uint8_t attrs = r[p];
    Bytes got(r.begin() + long(std::min(r.size(), p + 3)), r.end());
    size_t ca = first_session(c);
    Bytes nonce_caller(c.begin() + long(ca + 6), c.begin() + long(ca + 6 + be16(c, ca + 4)));
    Bytes rp = {0, 0, 0, 0, c[6], c[7], c[8], c[9]};
    rp.insert(rp.end(), r.begin() + long(params), r.begin() + long(params + psize));
    Bytes m = digest(hs.auth_hash, rp);
    m.insert(m.end(), nonce.begin(), nonce.end());
    m.insert(m.end(), nonce_caller.begin(), nonce_caller.end());
    m.push_back(attrs);
    nonce_tpm = nonce;
    return hmac(hs.auth_hash, key, m) == got;
  }
  void after_sessions(const Bytes& cmd, const Bytes& mine, const Bytes& theirs, const Bytes& ru, const Bytes& ro,
                      bool ours_numbering, const std::string& origin, size_t index) {
    const uint32_t cc = cmd.size() >= 10 ? be32(cmd, 6) : 0;
    // A new unbound, unsalted HMAC session on both sides: its first nonceTPM each.
    if (cc == CC_StartAuthSession && cmd.size() >= 15 && cmd[cmd.size() - 5] == 0x00 && ru.size() >= 16 &&
        ro.size() >= 16 && be32(ru, 6) == 0 && be32(ro, 6) == 0) {
      HmacSession hs;
      hs.auth_hash = be16(cmd, cmd.size() - 2);
      hs.nonce_ours.assign(ru.begin() + 16, ru.begin() + long(std::min(ru.size(), 16 + size_t(be16(ru, 14)))));
      hs.nonce_oracle.assign(ro.begin() + 16, ro.begin() + long(std::min(ro.size(), 16 + size_t(be16(ro, 14)))));
      // Salted: sessionKey = KDFa(authHash, salt, "ATH", nonceTPM, nonceCaller, digest bits).
      if (cmd.size() > 20 && be32(cmd, 10) != RH_NULL) {
        const size_t nc = 18, ns = nc + 2 + be16(cmd, nc);
        Bytes caller(cmd.begin() + long(nc + 2), cmd.begin() + long(ns));
        auto it = g_salts.find(Bytes(cmd.begin() + long(ns + 2), cmd.begin() + long(ns + 2 + be16(cmd, ns))));
        if (it == g_salts.end()) return;  // a damaged salt: not an HMAC session the harness can use
        const uint32_t bits = uint32_t(digest(hs.auth_hash, {}).size() * 8);
        hs.key_ours = kdfa(hs.auth_hash, it->second, "ATH", hs.nonce_ours, caller, bits);
        hs.key_oracle = kdfa(hs.auth_hash, it->second, "ATH", hs.nonce_oracle, caller, bits);
      }
      hmac_[ours_numbering ? be32(ru, 10) : be32(ro, 10)] = hs;
    }
    if (cc == CC_ContextSave && cmd.size() >= 14 && ru.size() > 10 && ro.size() > 10 && be32(ru, 6) == 0 &&
        be32(ro, 6) == 0) {
      Bytes bu(ru.begin() + 10, ru.end()), bo(ro.begin() + 10, ro.end());
      if (ours_numbering) blobs_[bu] = bo; else blobs_[bo] = bu;
    }
    if (cc == CC_ContextLoad && be_rc(ru) == 0 && be_rc(ro) == 0) ++stats_.context_loads;
    if (cc == CC_FlushContext && cmd.size() >= 14) hmac_.erase(be32(cmd, 10));
    auto it = first_session(cmd) ? hmac_.find(be32(cmd, first_session(cmd))) : hmac_.end();
    if (it == hmac_.end()) return;
    bool ok_u = take_response(mine, ru, it->second, it->second.nonce_ours, it->second.key_ours);
    bool ok_o = take_response(theirs, ro, it->second, it->second.nonce_oracle, it->second.key_oracle);
    if (ok_u && ok_o && be_rc(ru) == 0 && be_rc(ro) == 0) {
      ++stats_.hmac_ok;
      if (!it->second.key_ours.empty()) ++stats_.salted_ok;
    }
    if (!ok_u || !ok_o)
      report({cc, be_rc(ru), be_rc(ro), "hmac", !ok_u ? "our response HMAC is wrong" : "libtpms' response HMAC is wrong"},
             cmd, ru, ro, origin, index);
  }

  static uint32_t be_rc(const Bytes& r) { return r.size() >= 10 ? be32(r, 6) : 0xFFFFFFFF; }
  // Handles that outlive a command and can diverge: transient objects, sessions, NV indices,
  // PCRs. Hierarchies and the password session are shared by everything and never tainted.
  static bool taintable(uint32_t h) {
    const uint32_t t = h >> 24;
    return t == 0x80 || t == 0x02 || t == 0x03 || t == 0x01 || h < 32;
  }
  // The handles a command names, in the sequence's numbering: handle area, session handles,
  // FlushContext's parameter and NV_DefineSpace's new index.
  std::vector<uint32_t> handles_of(const Bytes& c) const {
    std::vector<uint32_t> v;
    if (c.size() < 10) return v;
    const uint32_t cc = be32(c, 6);
    if (cc == CC_FlushContext && c.size() >= 14) v.push_back(be32(c, 10));
    if (cc == CC_NV_DefineSpace && c.size() >= 29) {
      size_t at = 10 + 4 + 4 + be32(c, 14);  // auth handle, authorizationSize, sessions
      if (at + 2 <= c.size()) at += 2 + be16(c, at);  // auth
      if (at + 6 <= c.size()) v.push_back(be32(c, at + 2));
    }
    const sch::CommandSchema* s = sch::find_schema(cc);
    if (!s) return v;
    size_t at = 10;
    for (size_t i = 0; i < s->handle_count() && at + 4 <= c.size(); ++i, at += 4) v.push_back(be32(c, at));
    if (be16(c, 0) != ST_SES || at + 4 > c.size()) return v;
    size_t end = at + 4 + be32(c, at);
    at += 4;
    while (at + 4 <= end && at + 4 <= c.size()) {
      v.push_back(be32(c, at));
      at += 4;
      if (at + 2 > c.size()) break;
      at += 2 + be16(c, at) + 1;
      if (at + 2 > c.size()) break;
      at += 2 + be16(c, at);
    }
    return v;
  }
  bool touches_tainted(const Bytes& c) const {
    if (c.size() >= 10 && pcrs_tainted_) {
      const uint32_t cc = be32(c, 6);
      if (cc == CC_PCR_Read || cc == CC_PolicyPCR) return true;
    }
    for (uint32_t h : handles_of(c))
      if (tainted_.count(h)) return true;
    return false;
  }
  void taint(const Bytes& c, const Bytes& ru, const Bytes& ro, bool ours_numbering) {
    for (uint32_t h : handles_of(c)) {
      if (!taintable(h)) continue;
      tainted_.insert(h);
      if (h < 32) pcrs_tainted_ = true;
      // libtpms finds a session by its index whatever the handle's type (HMAC 0x02, policy
      // 0x03): a divergence on one is a divergence on the other.
      if ((h >> 24) == 0x02 || (h >> 24) == 0x03) tainted_.insert(h ^ 0x01000000u);
    }
    // A handle only the reference side created is tainted too (the generator keeps using it).
    const Bytes& ref = ours_numbering ? ru : ro;
    const sch::CommandSchema* s = c.size() >= 10 ? sch::find_schema(be32(c, 6)) : nullptr;
    if (s && s->response_handle_count() && ref.size() >= 14 && be32(ref, 6) == 0) tainted_.insert(be32(ref, 10));
  }
  // Keeps the handle map right for commands that are not compared.
  void note_handles(const Bytes& c, const Bytes& ru, const Bytes& ro, bool ours_numbering) {
    const sch::CommandSchema* s = c.size() >= 10 ? sch::find_schema(be32(c, 6)) : nullptr;
    if (s && s->response_handle_count() && ru.size() >= 14 && ro.size() >= 14 && be32(ru, 6) == 0 && be32(ro, 6) == 0) {
      if (ours_numbering) map_[be32(ru, 10)] = be32(ro, 10); else map_[be32(ro, 10)] = be32(ru, 10);
    }
  }

  void report(Divergence d, const Bytes& cmd, const Bytes& ru, const Bytes& ro, const std::string& origin, size_t index) {
    ++stats_.divergences;
    bool ok = allow_.allowed(d);
    if (ok) ++stats_.allowed;
    ++stats_.by_key[d.key() + (ok ? " (allowed)" : "")];
    if (!ok || verbose_)
      std::printf("%s %s #%zu: %s %s\n  cmd    %s\n  ours   %s\n  oracle %s\n", ok ? "allowed" : "DIVERGENCE",
                  origin.c_str(), index, d.key().c_str(), d.detail.c_str(), hex(cmd).c_str(), hex(ru).c_str(),
                  hex(ro).c_str());
  }

  // false: a divergence was reported.
  bool compare(const Bytes& cmd, const Bytes& ru, const Bytes& ro, bool ours_numbering, const std::string& origin,
               size_t index) {
    uint32_t cc = cmd.size() >= 10 ? be32(cmd, 6) : 0;
    if (ru.size() < 10 || ro.size() < 10) {
      report({cc, 0, 0, "frame", "short response"}, cmd, ru, ro, origin, index);
      return false;
    }
    uint32_t rcu = be32(ru, 6), rco = be32(ro, 6);
    Divergence d{cc, rcu, rco, "", ""};
    if (rcu != rco) { d.kind = "rc"; report(d, cmd, ru, ro, origin, index); return false; }
    if (be16(ru, 0) != be16(ro, 0)) { d.kind = "tag"; report(d, cmd, ru, ro, origin, index); return false; }
    if (rcu != 0) return true;
    const sch::CommandSchema* s = sch::find_schema(cc);
    size_t nh = s ? s->response_handle_count() : 0;
    // Response handles: map the non-reference side's handle.
    if (nh && ru.size() >= 14 && ro.size() >= 14) {
      uint32_t hu = be32(ru, 10), ho = be32(ro, 10);
      if (ours_numbering) map_[hu] = ho; else map_[ho] = hu;
      if (cc == CC_LoadExternal) externals_.insert(ours_numbering ? hu : ho);
    }
    if (cc == CC_FlushContext) { map_.erase(be32(cmd, 10)); externals_.erase(be32(cmd, 10)); }
    if (ru.size() != ro.size()) {
      d.kind = "size";
      d.detail = std::to_string(ru.size()) + " vs " + std::to_string(ro.size());
      report(d, cmd, ru, ro, origin, index);
      return false;
    }
    size_t params = 10 + 4 * nh + (be16(ru, 0) == ST_SES ? 4 : 0);
    if (params > ru.size()) return true;
    size_t plen = be16(ru, 0) == ST_SES && ru.size() >= 10 + 4 * nh + 4 ? be32(ru, 10 + 4 * nh) : ru.size() - params;
    bool ext = cmd.size() >= 14 && externals_.count(be32(cmd, 10));
    size_t n = deterministic_prefix(cc, ru, params, ext);
    size_t skip = 0;
    if (n == SIZE_MAX - 1) { skip = 4; n = SIZE_MAX; }
    params += std::min(skip, plen);
    plen -= std::min(skip, plen);
    if (n == SIZE_MAX || n > plen) n = plen;
    if (params + n > ru.size()) n = ru.size() - params;
    if (n && std::memcmp(ru.data() + params, ro.data() + params, n) != 0) {
      d.kind = "bytes";
      report(d, cmd, ru, ro, origin, index);
      return false;
    }
    return true;
  }

  Oracle& oracle_;
  Ours& ours_;
  const AllowList& allow_;
  Stats& stats_;
  bool verbose_;
  std::map<uint32_t, uint32_t> map_;
  std::set<uint32_t> externals_;
  bool trace_ = std::getenv("CONFORMANCE_DIFF_TRACE") != nullptr;  // every command of both sides
  std::map<uint32_t, HmacSession> hmac_;  // HMAC sessions by handle (sequence numbering)
  std::map<Bytes, Bytes> blobs_;           // reference side's context blob -> the other side's
  std::set<uint32_t> tainted_;  // handles (sequence numbering) after their first divergence
  bool pcrs_tainted_ = false;
};

bool read_sequence(const std::string& path, Sequence& s) {
  std::ifstream f(path);
  if (!f) return false;
  s.origin = path;
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("#numbering ours", 0) == 0) s.ours_numbering = true;
    if (line.empty() || line[0] == '#') continue;
    Bytes c = unhex(line);
    if (c.size() >= 10) s.commands.push_back(c);
  }
  return true;
}

// ---------------------------------------------------------------- the session context gap
// One fixed scenario run on both sides (--context-gap; docs/engine.md "Session context gap"):
// sessions A and E saved, B saved and reloaded until the TPM refuses the save, then the moves
// a full gap allows and refuses. Compared: every step's response code; each side's gap (B's
// last sequence minus A's) must be at most its TPM_PT_CONTEXT_GAP_MAX and within 8 of it (the
// reference skips the low values its contextArray uses for loaded slots; we need not).
struct GapRun {
  uint32_t gap_max = 0;
  uint64_t saves = 0, gap = 0;
  std::vector<std::pair<std::string, uint32_t>> steps;
};
template <typename Exec>
GapRun context_gap_scenario(Exec exec) {
  GapRun g;
  auto rc_of = [](const Bytes& r) { return r.size() >= 10 ? be32(r, 6) : 0xFFFFFFFFu; };
  Bytes cap = exec(Builder(ST_NO, CC_GetCapability).u32(6).u32(0x114).u32(1).done());
  if (rc_of(cap) == 0 && cap.size() >= 27) g.gap_max = be32(cap, 23);
  auto start = [&](const char* name) -> uint32_t {
    Bytes r = exec(Builder(ST_NO, CC_StartAuthSession).u32(RH_NULL).u32(RH_NULL).tpm2b(Bytes(16, 0x5A))
                       .u16(0).u8(0).u16(0x0010).u16(0x000B).done());
    g.steps.push_back({name, rc_of(r)});
    return rc_of(r) == 0 && r.size() >= 14 ? be32(r, 10) : 0;
  };
  auto save = [&](const char* name, uint32_t h, Bytes* ctx, uint64_t* seq) -> uint32_t {
    Bytes r = exec(Builder(ST_NO, CC_ContextSave).u32(h).done());
    if (name) g.steps.push_back({name, rc_of(r)});
    if (rc_of(r) == 0 && r.size() > 18) {
      if (ctx) ctx->assign(r.begin() + 10, r.end());
      if (seq) *seq = uint64_t{be32(r, 10)} << 32 | be32(r, 14);
    }
    return rc_of(r);
  };
  auto load = [&](const char* name, const Bytes& ctx) -> uint32_t {
    Bytes r = exec(Builder(ST_NO, CC_ContextLoad).raw(ctx).done());
    if (name) g.steps.push_back({name, rc_of(r)});
    return rc_of(r);
  };
  const uint32_t a = start("StartAuthSession A"), e = start("StartAuthSession E"), b = start("StartAuthSession B");
  Bytes ca, ce, cb, ca2, ce2;
  uint64_t sa = 0, last = 0;
  save("ContextSave A", a, &ca, &sa);
  save("ContextSave E", e, &ce, nullptr);
  uint32_t rc = 0;
  while ((rc = save(nullptr, b, &cb, &last)) == 0) {
    ++g.saves;
    if (load(nullptr, cb) != 0 || g.saves > 0x20000) break;
  }
  g.steps.push_back({"ContextSave B: first refused", rc});
  g.gap = last - sa;
  save("ContextSave B again", b, nullptr, nullptr);
  const uint32_t c = start("StartAuthSession C (two slots free)");
  start("StartAuthSession D (last slot)");
  load("ContextLoad E (not the oldest, last slot)", ce);
  load("ContextLoad A (the oldest, last slot)", ca);
  save("ContextSave A (re-gap)", a, &ca2, nullptr);
  load("ContextLoad A's old context", ca);
  save("ContextSave B (E now the oldest, gap full)", b, nullptr, nullptr);
  load("ContextLoad E (the oldest)", ce);
  save("ContextSave E (re-gap)", e, &ce2, nullptr);
  save("ContextSave B (room again)", b, &cb, nullptr);
  load("ContextLoad B", cb);
  load("ContextLoad A", ca2);
  exec(Builder(ST_NO, CC_FlushContext).u32(c).done());
  load("ContextLoad E", ce2);
  return g;
}

int run_context_gap(Oracle& oracle, Ours& ours) {
  if (!oracle.power_on()) return 2;
  ours.power_on();
  Bytes su = Builder(ST_NO, CC_Startup).u16(0).done();
  if (oracle.execute(su).size() != 10 || ours.execute(su).size() != 10) return 2;
  GapRun t = context_gap_scenario([&](const Bytes& c) { return oracle.execute(c); });
  GapRun u = context_gap_scenario([&](const Bytes& c) { return ours.execute(c); });
  int bad = 0;
  for (size_t i = 0; i < std::max(t.steps.size(), u.steps.size()); ++i) {
    const auto& x = i < t.steps.size() ? t.steps[i] : std::pair<std::string, uint32_t>{"-", 0xFFFFFFFF};
    const auto& y = i < u.steps.size() ? u.steps[i] : std::pair<std::string, uint32_t>{"-", 0xFFFFFFFF};
    const bool same = x.second == y.second;
    bad += !same;
    std::printf("%-45s libtpms 0x%03x  utpm 0x%03x%s\n", y.first.c_str(), x.second, y.second, same ? "" : "  DIFFERS");
  }
  for (const auto* r : {&t, &u}) {
    const char* who = r == &t ? "libtpms" : "utpm";
    std::printf("%s: TPM_PT_CONTEXT_GAP_MAX 0x%x, B saved %" PRIu64 " times after A and E, gap reached 0x%" PRIx64 "\n",
                who, r->gap_max, r->saves, r->gap);
    if (r->gap_max < 0xFFFF || r->gap > r->gap_max || r->gap + 8 < r->gap_max) {
      std::printf("%s: gap outside [GAP_MAX - 8, GAP_MAX]\n", who);
      ++bad;
    }
  }
  std::printf("context gap: %s\n", bad ? "DIVERGES" : "same answers");
  return bad ? 1 : 0;
}

int usage() {
  std::fprintf(stderr,
               "usage: conformance_diff [--allow FILE] [--sequences N] [--seed S] [--max-len L] [--mutate PCT]\n"
               "                        [--commands CC,CC,...] [--replay FILE]... [--verbose]\n"
               "       conformance_diff --context-gap\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string allow_path;
  uint64_t sequences = 200, seed = 1, max_len = 24, mutate_pct = 25;
  bool verbose = false, context_gap = false;
  std::set<uint32_t> only;
  std::vector<std::string> replays;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto val = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (a == "--allow") allow_path = val();
    else if (a == "--sequences") sequences = std::stoull(val());
    else if (a == "--seed") seed = std::stoull(val());
    else if (a == "--max-len") max_len = std::max<uint64_t>(1, std::stoull(val()));
    else if (a == "--mutate") mutate_pct = std::stoull(val());
    else if (a == "--replay") replays.push_back(val());
    else if (a == "--verbose") verbose = true;
    else if (a == "--context-gap") context_gap = true;
    else if (a == "--commands") {
      std::stringstream ss(val());
      std::string t;
      while (std::getline(ss, t, ',')) only.insert(uint32_t(std::stoul(t, nullptr, 0)));
    } else return usage();
  }
  AllowList allow;
  if (!allow_path.empty() && !allow.load(allow_path)) {
    std::fprintf(stderr, "cannot read %s\n", allow_path.c_str());
    return 2;
  }
  if (!g_salt_key.make()) std::fprintf(stderr, "no salt key: salted sessions not generated\n");
  Oracle oracle;
  Ours ours;
  if (context_gap) return run_context_gap(oracle, ours);
  Stats stats;
  Runner runner(oracle, ours, allow, stats, verbose);

  for (const auto& path : replays) {
    Sequence s;
    if (!read_sequence(path, s)) { std::fprintf(stderr, "cannot read %s\n", path.c_str()); return 2; }
    if (!runner.start()) { std::fprintf(stderr, "start failed\n"); return 2; }
    ++stats.sequences;
    for (size_t i = 0; i < s.commands.size(); ++i) runner.step(s.commands[i], s.ours_numbering, s.origin, i);
  }
  if (replays.empty()) {
    for (uint64_t n = 0; n < sequences; ++n) {
      Generator g(seed * 1000003 + n, only);
      if (!runner.start()) { std::fprintf(stderr, "start failed\n"); return 2; }
      ++stats.sequences;
      uint32_t len = 1 + g.pick(uint32_t(max_len));
      std::string origin = "seed " + std::to_string(seed) + " seq " + std::to_string(n);
      for (uint32_t i = 0; i < len; ++i) {
        Bytes c = g.next();
        if (g.pick(100) < mutate_pct) mutate(c, g);
        Bytes r = runner.step(c, false, origin, i);
        g.observe(c, r);
      }
    }
  }
  std::printf("sequences %" PRIu64 ", commands %" PRIu64 " (not compared after a divergence of their handle: %" PRIu64
              "), divergences %" PRIu64 " (allowed %" PRIu64 ", new %" PRIu64 ")\n",
              stats.sequences, stats.commands, stats.not_compared, stats.divergences, stats.allowed,
              stats.divergences - stats.allowed);
  std::printf("HMAC-session commands accepted by both with right response HMACs %" PRIu64 " (salted %" PRIu64
              "), context loads accepted by both %" PRIu64 "\n", stats.hmac_ok, stats.salted_ok, stats.context_loads);
  for (const auto& [k, v] : stats.by_key) std::printf("  %6" PRIu64 "  %s\n", v, k.c_str());
  return stats.divergences == stats.allowed ? 0 : 1;
}
