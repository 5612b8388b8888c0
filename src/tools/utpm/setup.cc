// utpm setup (docs/tool.md "utpm setup"). The TPM is reached through ESAPI (tpm2-tss), over
// any TCTI (-T) or, with --tpmstate DIR, over an in-process TCTI that runs the utpm engine on
// the state directory itself (tpm_in_process.h). Certificates are built with OpenSSL's X.509 API.
#include "tools/utpm/setup.h"

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wold-style-cast"
#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/conf.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <tss2/tss2_esys.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>
#pragma GCC diagnostic pop

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tools/utpm/tpm_in_process.h"

namespace utpm::tool {

namespace {

// Exit codes (docs/tool.md).
constexpr int kOk = 0, kUsage = 2, kInput = 3, kTransport = 4, kTpmRefused = 6, kProvisioned = 7,
              kCaError = 8;

const char* const kUsageSetup =
    "usage: utpm setup (-T TCTI | --tpmstate DIR) [--ca DIR | --ca-key FILE --ca-cert FILE]\n"
    "                  [--create-ek-cert] [--create-platform-cert] [--ek TYPES] [--lock-nvram]\n"
    "                  [--overwrite | --not-overwrite] [--pcr-banks BANKS] [--display] [--json]\n"
    "\n"
    "Manufactures a TPM like swtpm_setup: creates the endorsement keys from the TCG EK Credential\n"
    "Profile templates and writes X.509 EK certificates, signed by a local CA, into NV at the\n"
    "profile's indices (RSA 2048 0x01c00002, ECC P-256 0x01c0000a; high range RSA 2048 0x01c00012,\n"
    "ECC P-256 0x01c00014, ECC P-384 0x01c00016); optionally a platform certificate (0x01c08000).\n"
    "\n"
    "  -T, --tcti TCTI        a running TPM (mssim:..., device:..., utpm:..., swtpm:...)\n"
    "  --tpmstate DIR         a utpmd state directory (created if missing; not in use by a utpmd):\n"
    "                         the engine runs inside utpm on it (also --tpm-state)\n"
    "  --ca DIR               the local CA: DIR/ca.key and DIR/ca.pem, created if DIR has neither\n"
    "                         (default: DIR of --tpmstate + /ca, or ./utpm-ca)\n"
    "  --ca-key FILE --ca-cert FILE   sign with this CA key (PEM) and certificate instead\n"
    "  --create-ek-cert       write the EK certificates (default when no other action is given)\n"
    "  --create-platform-cert write a platform certificate (over the first EK) at 0x01c08000\n"
    "  --ek TYPES             comma list of rsa2048, ecc256 (low range), h-rsa2048, h-ecc256,\n"
    "                         h-ecc384 (high range), or all (default: all)\n"
    "  --lock-nvram           write-lock the certificate indices (TPM2_NV_WriteLock; with\n"
    "                         TPMA_NV_WRITEDEFINE the lock is permanent)\n"
    "  --overwrite            replace certificates already in NV\n"
    "  --not-overwrite        leave a provisioned TPM alone and exit 0\n"
    "                         (with neither: a provisioned TPM is an error, exit 7)\n"
    "  --pcr-banks BANKS      comma list (sha1,sha256,sha384): the active PCR banks wanted; the\n"
    "                         allocation is changed with TPM2_PCR_Allocate when it differs\n"
    "  --display              print the certificates written (text) and the TPM's identity\n"
    "  --tpm-spec F,L,R       TPM specification family/level/revision (default 2.0,0,184)\n"
    "  --platform-manufacturer S / --platform-model S / --platform-version S\n"
    "  --json                 one JSON object on stdout: the certificates written (index, PEM)\n"
    "\n"
    "Exit codes: 0 done, 2 usage, 3 a file cannot be read or written, 4 the TPM cannot be\n"
    "reached, 6 the TPM refused a command, 7 already provisioned, 8 CA or certificate error.\n";

// ---- small RAII over OpenSSL and ESAPI ----
template <typename T, void (*F)(T*)>
struct Deleter {
  void operator()(T* p) const { F(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using X509Ptr = std::unique_ptr<X509, Deleter<X509, X509_free>>;
using ConfPtr = std::unique_ptr<CONF, Deleter<CONF, NCONF_free>>;
void esys_free(void* p) { Esys_Free(p); }

struct Failure {
  int code;
  std::string message;
};

std::string openssl_error() {
  std::string s;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    s += s.empty() ? "" : "; ";
    s += buf;
  }
  return s.empty() ? "(no OpenSSL error)" : s;
}

std::string tss_error(TSS2_RC rc) { return Tss2_RC_Decode(rc); }

// ---- the EK Credential Profile templates (TCG EK Credential Profile 2.5, B.3 and B.4) ----
// Policy A: PolicySecret(TPM_RH_ENDORSEMENT), SHA-256 (low range).
constexpr uint8_t kPolicyA256[32] = {0x83, 0x71, 0x97, 0x67, 0x44, 0x84, 0xB3, 0xF8, 0x1A, 0x90, 0xCC,
                                     0x8D, 0x46, 0xA5, 0xD7, 0x24, 0xFD, 0x52, 0xD7, 0x6E, 0x06, 0x52,
                                     0x0B, 0x64, 0xF2, 0xA1, 0xDA, 0x1B, 0x33, 0x14, 0x69, 0xAA};
// Policy B (PolicyOR of Policy A and Policy C), SHA-256 and SHA-384 (high range).
constexpr uint8_t kPolicyB256[32] = {0xCA, 0x3D, 0x0A, 0x99, 0xA2, 0xB9, 0x39, 0x06, 0xF7, 0xA3, 0x34,
                                     0x24, 0x14, 0xEF, 0xCF, 0xB3, 0xA3, 0x85, 0xD4, 0x4C, 0xD1, 0xFD,
                                     0x45, 0x90, 0x89, 0xD1, 0x9B, 0x50, 0x71, 0xC0, 0xB7, 0xA0};
constexpr uint8_t kPolicyB384[48] = {
    0xB2, 0x6E, 0x7D, 0x28, 0xD1, 0x1A, 0x50, 0xBC, 0x53, 0xD8, 0x82, 0xBC, 0xF5, 0xFD, 0x3A, 0x1A,
    0x07, 0x41, 0x48, 0xBB, 0x35, 0xD3, 0xB4, 0xE4, 0xCB, 0x1C, 0x0A, 0xD9, 0xBD, 0xE4, 0x19, 0xCA,
    0xCB, 0x47, 0xBA, 0x09, 0x69, 0x96, 0x46, 0x15, 0x0F, 0x9F, 0xC0, 0x00, 0xF3, 0xF8, 0x0E, 0x12};

struct EkType {
  const char* id;        // --ek name
  const char* label;     // for messages
  uint32_t cert_index;   // NV index of the certificate
  bool rsa;
  TPM2_ECC_CURVE curve;  // ECC only
  TPM2_ALG_ID name_alg;
  uint16_t aes_bits;
  bool high;             // high range: userWithAuth, Policy B, empty unique
};

constexpr EkType kEkTypes[] = {
    {"rsa2048", "RSA 2048 (low range)", 0x01C00002, true, 0, TPM2_ALG_SHA256, 128, false},
    {"ecc256", "ECC NIST P-256 (low range)", 0x01C0000A, false, TPM2_ECC_NIST_P256, TPM2_ALG_SHA256, 128, false},
    {"h-rsa2048", "RSA 2048 (high range)", 0x01C00012, true, 0, TPM2_ALG_SHA256, 128, true},
    {"h-ecc256", "ECC NIST P-256 (high range)", 0x01C00014, false, TPM2_ECC_NIST_P256, TPM2_ALG_SHA256, 128, true},
    {"h-ecc384", "ECC NIST P-384 (high range)", 0x01C00016, false, TPM2_ECC_NIST_P384, TPM2_ALG_SHA384, 256, true},
};
constexpr uint32_t kPlatformCertIndex = 0x01C08000;

TPM2B_PUBLIC ek_template(const EkType& t) {
  TPM2B_PUBLIC p{};
  TPMT_PUBLIC& a = p.publicArea;
  a.type = t.rsa ? TPM2_ALG_RSA : TPM2_ALG_ECC;
  a.nameAlg = t.name_alg;
  a.objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_SENSITIVEDATAORIGIN |
                       TPMA_OBJECT_ADMINWITHPOLICY | TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT;
  if (t.high) a.objectAttributes |= TPMA_OBJECT_USERWITHAUTH;
  const uint8_t* policy = !t.high ? kPolicyA256 : t.name_alg == TPM2_ALG_SHA384 ? kPolicyB384 : kPolicyB256;
  const size_t policy_len = t.name_alg == TPM2_ALG_SHA384 ? 48 : 32;
  a.authPolicy.size = static_cast<uint16_t>(policy_len);
  std::memcpy(a.authPolicy.buffer, policy, policy_len);
  TPMT_SYM_DEF_OBJECT sym{};
  sym.algorithm = TPM2_ALG_AES;
  sym.keyBits.aes = t.aes_bits;
  sym.mode.aes = TPM2_ALG_CFB;
  if (t.rsa) {
    a.parameters.rsaDetail.symmetric = sym;
    a.parameters.rsaDetail.scheme.scheme = TPM2_ALG_NULL;
    a.parameters.rsaDetail.keyBits = 2048;
    a.parameters.rsaDetail.exponent = 0;
    a.unique.rsa.size = t.high ? 0 : 256;  // low range: 256 zero octets
  } else {
    a.parameters.eccDetail.symmetric = sym;
    a.parameters.eccDetail.scheme.scheme = TPM2_ALG_NULL;
    a.parameters.eccDetail.curveID = t.curve;
    a.parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
    a.unique.ecc.x.size = t.high ? 0 : 32;  // low range: 32 zero octets each
    a.unique.ecc.y.size = t.high ? 0 : 32;
  }
  return p;
}

// ---- the public key of an EK as an EVP_PKEY ----
PkeyPtr pkey_from_public(const TPMT_PUBLIC& pub) {
  OSSL_PARAM_BLD* bld = OSSL_PARAM_BLD_new();
  const char* type = nullptr;
  BIGNUM* n = nullptr;
  BIGNUM* e = nullptr;
  std::vector<uint8_t> point;
  bool ok = bld != nullptr;
  if (pub.type == TPM2_ALG_RSA) {
    type = "RSA";
    n = BN_bin2bn(pub.unique.rsa.buffer, pub.unique.rsa.size, nullptr);
    e = BN_new();
    ok = ok && n && e && BN_set_word(e, pub.parameters.rsaDetail.exponent ? pub.parameters.rsaDetail.exponent : 65537);
    ok = ok && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e);
  } else {
    type = "EC";
    const char* group = pub.parameters.eccDetail.curveID == TPM2_ECC_NIST_P384 ? "P-384" : "P-256";
    const size_t len = pub.parameters.eccDetail.curveID == TPM2_ECC_NIST_P384 ? 48 : 32;
    // The point as X9.62 uncompressed: 04 | x | y, coordinates left-padded to the curve size.
    point.assign(1 + 2 * len, 0);
    point[0] = 0x04;
    const auto& x = pub.unique.ecc.x;
    const auto& y = pub.unique.ecc.y;
    ok = ok && x.size <= len && y.size <= len;
    if (ok) {
      std::memcpy(&point[1 + len - x.size], x.buffer, x.size);
      std::memcpy(&point[1 + 2 * len - y.size], y.buffer, y.size);
    }
    ok = ok && OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, group, 0) &&
         OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size());
  }
  OSSL_PARAM* params = ok ? OSSL_PARAM_BLD_to_param(bld) : nullptr;
  EVP_PKEY* key = nullptr;
  if (params) {
    EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr);
    if (ctx && EVP_PKEY_fromdata_init(ctx) > 0) EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, params);
    EVP_PKEY_CTX_free(ctx);
  }
  OSSL_PARAM_free(params);
  OSSL_PARAM_BLD_free(bld);
  BN_free(n);
  BN_free(e);
  return PkeyPtr(key);
}

// ---- files ----
bool write_file(const std::string& path, const std::string& data, mode_t mode, bool exclusive) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | (exclusive ? O_EXCL : O_TRUNC), mode);
  if (fd < 0) return false;
  size_t off = 0;
  while (off < data.size()) {
    const ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n <= 0) {
      ::close(fd);
      return false;
    }
    off += static_cast<size_t>(n);
  }
  return ::close(fd) == 0;
}

bool file_exists(const std::string& p) {
  struct stat st{};
  return ::stat(p.c_str(), &st) == 0;
}

std::string bio_string(BIO* b) {
  char* data = nullptr;
  const long n = BIO_get_mem_data(b, &data);
  return n > 0 ? std::string(data, static_cast<size_t>(n)) : std::string();
}

std::string pem_of(X509* x) {
  BIO* b = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(b, x);
  std::string s = bio_string(b);
  BIO_free(b);
  return s;
}

// ---- certificates ----
bool set_random_serial(X509* x) {
  uint8_t s[16];
  if (RAND_bytes(s, sizeof s) != 1) return false;
  s[0] &= 0x7f;  // positive
  s[0] |= 0x01;  // and 16 octets long
  BIGNUM* bn = BN_bin2bn(s, sizeof s, nullptr);
  ASN1_INTEGER* ai = bn ? BN_to_ASN1_INTEGER(bn, nullptr) : nullptr;
  const bool ok = ai && X509_set_serialNumber(x, ai);
  ASN1_INTEGER_free(ai);
  BN_free(bn);
  return ok;
}

// One extension from OpenSSL's v3 configuration syntax (sections from `conf`, may be null).
bool add_ext(X509* x, X509V3_CTX* ctx, CONF* conf, const char* name, const char* value) {
  X509_EXTENSION* ext = X509V3_EXT_nconf(conf, ctx, name, value);
  if (!ext) return false;
  const bool ok = X509_add_ext(x, ext, -1) == 1;
  X509_EXTENSION_free(ext);
  return ok;
}

ConfPtr conf_from_text(const std::string& text) {
  ConfPtr conf(NCONF_new(nullptr));
  BIO* b = BIO_new_mem_buf(text.data(), static_cast<int>(text.size()));
  long line = 0;
  if (!conf || !b || NCONF_load_bio(conf.get(), b, &line) <= 0) conf.reset();
  BIO_free(b);
  return conf;
}

// subjectAltName (critical: the subject is empty) with one directoryName of (OID, UTF8String)
// attributes, each its own RDN.
bool add_san_dirname(X509* x, const std::vector<std::pair<std::string, std::string>>& attrs) {
  X509_NAME* dn = X509_NAME_new();
  bool ok = dn != nullptr;
  for (const auto& [oid, value] : attrs) {
    ASN1_OBJECT* obj = OBJ_txt2obj(oid.c_str(), 1);
    ok = ok && obj && X509_NAME_add_entry_by_OBJ(dn, obj, MBSTRING_UTF8,
                                                 reinterpret_cast<const unsigned char*>(value.c_str()),
                                                 static_cast<int>(value.size()), -1, 0);
    ASN1_OBJECT_free(obj);
  }
  GENERAL_NAMES* names = sk_GENERAL_NAME_new_null();
  GENERAL_NAME* gn = GENERAL_NAME_new();
  ok = ok && names && gn;
  if (ok) {
    GENERAL_NAME_set0_value(gn, GEN_DIRNAME, dn);
    dn = nullptr;
    ok = sk_GENERAL_NAME_push(names, gn) > 0;
    if (ok) gn = nullptr;
  }
  ok = ok && X509_add1_ext_i2d(x, NID_subject_alt_name, names, 1, X509V3_ADD_DEFAULT) == 1;
  GENERAL_NAME_free(gn);
  GENERAL_NAMES_free(names);
  X509_NAME_free(dn);
  return ok;
}

bool add_eku(X509* x, const char* oid) {
  EXTENDED_KEY_USAGE* eku = sk_ASN1_OBJECT_new_null();
  ASN1_OBJECT* obj = OBJ_txt2obj(oid, 1);
  bool ok = eku && obj && sk_ASN1_OBJECT_push(eku, obj) > 0;
  if (ok) obj = nullptr;
  ok = ok && X509_add1_ext_i2d(x, NID_ext_key_usage, eku, 0, X509V3_ADD_DEFAULT) == 1;
  ASN1_OBJECT_free(obj);
  sk_ASN1_OBJECT_pop_free(eku, ASN1_OBJECT_free);
  return ok;
}

struct Ca {
  PkeyPtr key;
  X509Ptr cert;
};

std::optional<Failure> create_ca(const std::string& dir, Ca& ca) {
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
    return Failure{kInput, "cannot create CA directory " + dir + ": " + std::strerror(errno)};
  ca.key.reset(EVP_EC_gen("P-256"));
  ca.cert.reset(X509_new());
  X509* x = ca.cert.get();
  bool ok = ca.key && x && X509_set_version(x, 2) && set_random_serial(x);
  X509_NAME* name = X509_NAME_new();
  ok = ok && name &&
       X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>("utpm"), -1, -1, 0) &&
       X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                  reinterpret_cast<const unsigned char*>("utpm local EK CA"), -1, -1, 0) &&
       X509_set_subject_name(x, name) && X509_set_issuer_name(x, name);
  X509_NAME_free(name);
  ok = ok && X509_gmtime_adj(X509_getm_notBefore(x), 0) && X509_time_adj_ex(X509_getm_notAfter(x), 365 * 25, 0, nullptr) &&
       X509_set_pubkey(x, ca.key.get());
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, x, x, nullptr, nullptr, 0);
  ok = ok && add_ext(x, &ctx, nullptr, "basicConstraints", "critical,CA:TRUE") &&
       add_ext(x, &ctx, nullptr, "keyUsage", "critical,keyCertSign,cRLSign") &&
       add_ext(x, &ctx, nullptr, "subjectKeyIdentifier", "hash") &&
       add_ext(x, &ctx, nullptr, "authorityKeyIdentifier", "keyid:always") && X509_sign(x, ca.key.get(), EVP_sha256()) > 0;
  if (!ok) return Failure{kCaError, "cannot create the CA: " + openssl_error()};
  BIO* b = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(b, ca.key.get(), nullptr, nullptr, 0, nullptr, nullptr);
  const std::string key_pem = bio_string(b);
  BIO_free(b);
  if (!write_file(dir + "/ca.key", key_pem, 0600, true) || !write_file(dir + "/ca.pem", pem_of(x), 0644, true))
    return Failure{kInput, "cannot write the CA into " + dir + ": " + std::strerror(errno)};
  return std::nullopt;
}

std::optional<Failure> load_ca(const std::string& key_path, const std::string& cert_path, Ca& ca) {
  FILE* f = std::fopen(key_path.c_str(), "r");
  if (!f) return Failure{kInput, "cannot read CA key " + key_path + ": " + std::strerror(errno)};
  ca.key.reset(PEM_read_PrivateKey(f, nullptr, nullptr, nullptr));
  std::fclose(f);
  f = std::fopen(cert_path.c_str(), "r");
  if (!f) return Failure{kInput, "cannot read CA certificate " + cert_path + ": " + std::strerror(errno)};
  ca.cert.reset(PEM_read_X509(f, nullptr, nullptr, nullptr));
  std::fclose(f);
  if (!ca.key || !ca.cert) return Failure{kCaError, "cannot parse the CA key/certificate: " + openssl_error()};
  if (X509_check_private_key(ca.cert.get(), ca.key.get()) != 1)
    return Failure{kCaError, "the CA key does not match the CA certificate"};
  return std::nullopt;
}

struct TpmIdentity {
  uint32_t manufacturer = 0;
  std::string model;
  uint32_t fw1 = 0, fw2 = 0;
  uint32_t nv_buffer_max = 512;
};

std::string id_hex(uint32_t v) {
  char b[16];
  std::snprintf(b, sizeof b, "id:%08X", v);
  return b;
}

struct CertSpec {
  bool platform = false;
  std::string family = "2.0";
  unsigned level = 0, revision = 184;
  std::string plat_manufacturer = "utpm", plat_model = "utpmd", plat_version = "1";
};

// An EK (or platform) certificate per the TCG EK Credential Profile 2.5 §3.2: v3, empty subject
// with a critical subjectAltName directoryName (TPM manufacturer/model/version), basic
// constraints CA:FALSE, key usage keyEncipherment (RSA) / keyAgreement (ECC), EKU tcg-kp-
// EKCertificate, subjectDirectoryAttributes with the TPM specification, authority key id.
std::optional<Failure> make_cert(const Ca& ca, EVP_PKEY* subject_key, bool rsa, const TpmIdentity& id,
                                 const CertSpec& spec, X509Ptr& out) {
  out.reset(X509_new());
  X509* x = out.get();
  X509_NAME* empty = X509_NAME_new();
  bool ok = x && empty && X509_set_version(x, 2) && set_random_serial(x) &&
            X509_set_issuer_name(x, X509_get_subject_name(ca.cert.get())) && X509_set_subject_name(x, empty) &&
            X509_gmtime_adj(X509_getm_notBefore(x), 0) &&
            ASN1_TIME_set_string_X509(X509_getm_notAfter(x), "99991231235959Z") &&  // no expiry
            X509_set_pubkey(x, subject_key);
  X509_NAME_free(empty);
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, ca.cert.get(), x, nullptr, nullptr, 0);
  // subjectDirectoryAttributes (2.5.29.9): SEQUENCE OF Attribute { tcg-at-tpmSpecification
  // (2.23.133.2.16), SET { TPMSpecification { family UTF8String, level INTEGER, revision INTEGER } } }
  // written with OpenSSL's ASN1 generator.
  std::string sda =
      "[sda]\nattr = SEQUENCE:tpm_spec_attr\n"
      "[tpm_spec_attr]\ntype = OID:2.23.133.2.16\nvalues = SET:tpm_spec_set\n"
      "[tpm_spec_set]\nspec = SEQUENCE:tpm_spec\n"
      "[tpm_spec]\nfamily = UTF8:" + spec.family + "\nlevel = INTEGER:" + std::to_string(spec.level) +
      "\nrevision = INTEGER:" + std::to_string(spec.revision) + "\n";
  ConfPtr conf = conf_from_text(sda);
  if (conf) X509V3_set_nconf(&ctx, conf.get());  // the ASN1 generator reads its sections there
  const char* step = "certificate fields";
  auto check = [&](const char* what, bool good) {
    if (ok && !good) step = what;
    ok = ok && good;
  };
  check("CA:FALSE", ok && add_ext(x, &ctx, nullptr, "basicConstraints", "critical,CA:FALSE"));
  check("keyUsage", ok && add_ext(x, &ctx, nullptr, "keyUsage", rsa ? "critical,keyEncipherment" : "critical,keyAgreement"));
  check("authorityKeyIdentifier", ok && add_ext(x, &ctx, nullptr, "authorityKeyIdentifier", "keyid:always"));
  if (!spec.platform) {
    check("subjectAltName", ok && add_san_dirname(x, {{"2.23.133.2.1", id_hex(id.manufacturer)},
                                                     {"2.23.133.2.2", id.model.empty() ? std::string("utpm") : id.model},
                                                     {"2.23.133.2.3", id_hex(id.fw1)}}));
    check("extendedKeyUsage", ok && add_eku(x, "2.23.133.8.1"));
    check("subjectDirectoryAttributes", ok && conf && add_ext(x, &ctx, conf.get(), "2.5.29.9", "ASN1:SEQUENCE:sda"));
  } else {
    // Platform certificate (as swtpm_setup's): bound to the EK, the platform's identity in the
    // subjectAltName (platformManufacturerStr, platformModel, platformVersion), EKU
    // tcg-kp-PlatformAttributeCertificate.
    check("subjectAltName", ok && add_san_dirname(x, {{"2.23.133.5.1.1", spec.plat_manufacturer},
                                                     {"2.23.133.5.1.4", spec.plat_model},
                                                     {"2.23.133.5.1.5", spec.plat_version}}));
    check("extendedKeyUsage", ok && add_eku(x, "2.23.133.8.2"));
  }
  check("signature", ok && X509_sign(x, ca.key.get(), EVP_sha256()) > 0);
  if (!ok) return Failure{kCaError, std::string("cannot build the certificate (") + step + "): " + openssl_error()};
  return std::nullopt;
}

// ---- the TPM through ESAPI ----
struct Tpm {
  TSS2_TCTI_CONTEXT* tcti = nullptr;
  bool loader = false;  // tcti from Tss2_TctiLdr (else in-process)
  ESYS_CONTEXT* esys = nullptr;
  std::unique_ptr<InProcessTpm> in_process;
  ~Tpm() {
    if (esys) Esys_Finalize(&esys);
    if (tcti && loader) Tss2_TctiLdr_Finalize(&tcti);
  }
};

Failure refused(const char* what, TSS2_RC rc) { return Failure{kTpmRefused, std::string(what) + ": " + tss_error(rc)}; }

std::optional<Failure> read_identity(Tpm& t, TpmIdentity& id) {
  TPMI_YES_NO more = 0;
  TPMS_CAPABILITY_DATA* cap = nullptr;
  const TSS2_RC rc = Esys_GetCapability(t.esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, TPM2_CAP_TPM_PROPERTIES,
                                        TPM2_PT_FIXED, TPM2_MAX_TPM_PROPERTIES, &more, &cap);
  if (rc != TSS2_RC_SUCCESS) return refused("TPM2_GetCapability(TPM_PROPERTIES)", rc);
  char vendor[17] = {};
  for (uint32_t i = 0; i < cap->data.tpmProperties.count; ++i) {
    const auto& p = cap->data.tpmProperties.tpmProperty[i];
    if (p.property == TPM2_PT_MANUFACTURER) id.manufacturer = p.value;
    if (p.property >= TPM2_PT_VENDOR_STRING_1 && p.property <= TPM2_PT_VENDOR_STRING_4) {
      const size_t at = 4 * (p.property - TPM2_PT_VENDOR_STRING_1);
      for (int k = 0; k < 4; ++k) vendor[at + static_cast<size_t>(k)] = static_cast<char>(p.value >> (24 - 8 * k));
    }
    if (p.property == TPM2_PT_FIRMWARE_VERSION_1) id.fw1 = p.value;
    if (p.property == TPM2_PT_FIRMWARE_VERSION_2) id.fw2 = p.value;
    if (p.property == TPM2_PT_NV_BUFFER_MAX) id.nv_buffer_max = p.value;
  }
  esys_free(cap);
  for (char c : vendor)
    if (c >= 0x20 && c < 0x7f) id.model += c;
  while (!id.model.empty() && id.model.back() == ' ') id.model.pop_back();
  if (id.nv_buffer_max == 0 || id.nv_buffer_max > TPM2_MAX_NV_BUFFER_SIZE) id.nv_buffer_max = TPM2_MAX_NV_BUFFER_SIZE;
  return std::nullopt;
}

std::optional<Failure> create_ek(Tpm& t, const EkType& type, TPM2B_PUBLIC& out) {
  TPM2B_SENSITIVE_CREATE sens{};
  TPM2B_PUBLIC in = ek_template(type);
  TPM2B_DATA outside{};
  TPML_PCR_SELECTION pcrs{};
  ESYS_TR handle = ESYS_TR_NONE;
  TPM2B_PUBLIC* pub = nullptr;
  TPM2B_CREATION_DATA* cdata = nullptr;
  TPM2B_DIGEST* chash = nullptr;
  TPMT_TK_CREATION* ticket = nullptr;
  const TSS2_RC rc = Esys_CreatePrimary(t.esys, ESYS_TR_RH_ENDORSEMENT, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
                                        &sens, &in, &outside, &pcrs, &handle, &pub, &cdata, &chash, &ticket);
  if (rc != TSS2_RC_SUCCESS) return refused((std::string("TPM2_CreatePrimary(") + type.label + " EK)").c_str(), rc);
  out = *pub;
  esys_free(pub);
  esys_free(cdata);
  esys_free(chash);
  esys_free(ticket);
  Esys_FlushContext(t.esys, handle);
  return std::nullopt;
}

// NV attributes of a certificate index, as swtpm_setup defines them: created by the platform,
// written with platform authorization, readable by anyone through the index's (empty) auth, the
// owner or the platform, no dictionary-attack lockout, lockable for good (WRITEDEFINE).
constexpr TPMA_NV kCertNvAttributes = TPMA_NV_PLATFORMCREATE | TPMA_NV_AUTHREAD | TPMA_NV_OWNERREAD | TPMA_NV_PPREAD |
                                      TPMA_NV_PPWRITE | TPMA_NV_NO_DA | TPMA_NV_WRITEDEFINE;

// Whether an NV index is defined (asked with GetCapability(HANDLES), which has no error case for
// a missing index); if so, its ESYS_TR in `tr`.
bool nv_exists(Tpm& t, uint32_t index, ESYS_TR& tr) {
  tr = ESYS_TR_NONE;
  TPMI_YES_NO more = 0;
  TPMS_CAPABILITY_DATA* cap = nullptr;
  if (Esys_GetCapability(t.esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, TPM2_CAP_HANDLES, index, 1, &more, &cap) !=
      TSS2_RC_SUCCESS)
    return false;
  const bool found = cap->data.handles.count >= 1 && cap->data.handles.handle[0] == index;
  esys_free(cap);
  return found && Esys_TR_FromTPMPublic(t.esys, index, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &tr) == TSS2_RC_SUCCESS;
}

std::optional<Failure> nv_write_cert(Tpm& t, uint32_t index, const std::vector<uint8_t>& der, const TpmIdentity& id,
                                     bool overwrite, bool lock) {
  ESYS_TR tr = ESYS_TR_NONE;
  if (nv_exists(t, index, tr)) {
    if (!overwrite) return Failure{kProvisioned, "NV index already defined"};
    TPM2B_NV_PUBLIC* pub = nullptr;
    TSS2_RC rc = Esys_NV_ReadPublic(t.esys, tr, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &pub, nullptr);
    if (rc != TSS2_RC_SUCCESS) return refused("TPM2_NV_ReadPublic", rc);
    const bool by_platform = (pub->nvPublic.attributes & TPMA_NV_PLATFORMCREATE) != 0;
    esys_free(pub);
    rc = Esys_NV_UndefineSpace(t.esys, by_platform ? ESYS_TR_RH_PLATFORM : ESYS_TR_RH_OWNER, tr, ESYS_TR_PASSWORD,
                               ESYS_TR_NONE, ESYS_TR_NONE);
    if (rc != TSS2_RC_SUCCESS) return refused("TPM2_NV_UndefineSpace (--overwrite)", rc);
  }
  TPM2B_AUTH auth{};
  TPM2B_NV_PUBLIC pub{};
  pub.nvPublic.nvIndex = index;
  pub.nvPublic.nameAlg = TPM2_ALG_SHA256;
  pub.nvPublic.attributes = kCertNvAttributes;
  pub.nvPublic.dataSize = static_cast<uint16_t>(der.size());
  TSS2_RC rc = Esys_NV_DefineSpace(t.esys, ESYS_TR_RH_PLATFORM, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &auth,
                                   &pub, &tr);
  if (rc != TSS2_RC_SUCCESS) return refused("TPM2_NV_DefineSpace (platform)", rc);
  for (size_t off = 0; off < der.size();) {
    const size_t n = std::min<size_t>(der.size() - off, id.nv_buffer_max);
    TPM2B_MAX_NV_BUFFER chunk{};
    chunk.size = static_cast<uint16_t>(n);
    std::memcpy(chunk.buffer, der.data() + off, n);
    rc = Esys_NV_Write(t.esys, ESYS_TR_RH_PLATFORM, tr, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &chunk,
                       static_cast<uint16_t>(off));
    if (rc != TSS2_RC_SUCCESS) return refused("TPM2_NV_Write", rc);
    off += n;
  }
  if (lock) {
    rc = Esys_NV_WriteLock(t.esys, ESYS_TR_RH_PLATFORM, tr, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE);
    if (rc != TSS2_RC_SUCCESS) return refused("TPM2_NV_WriteLock (--lock-nvram)", rc);
  }
  return std::nullopt;
}

std::optional<TPMI_ALG_HASH> bank_alg(const std::string& s) {
  if (s == "sha1") return TPM2_ALG_SHA1;
  if (s == "sha256") return TPM2_ALG_SHA256;
  if (s == "sha384") return TPM2_ALG_SHA384;
  if (s == "sha512") return TPM2_ALG_SHA512;
  return std::nullopt;
}

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    const size_t comma = s.find(',', start);
    const std::string part = s.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (!part.empty()) out.push_back(part);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

// --pcr-banks: the wanted banks active (all PCRs), every other bank inactive.
std::optional<Failure> set_pcr_banks(Tpm& t, const std::vector<TPMI_ALG_HASH>& want, bool& changed) {
  changed = false;
  TPMI_YES_NO more = 0;
  TPMS_CAPABILITY_DATA* cap = nullptr;
  TSS2_RC rc = Esys_GetCapability(t.esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, TPM2_CAP_PCRS, 0, 1, &more, &cap);
  if (rc != TSS2_RC_SUCCESS) return refused("TPM2_GetCapability(PCRS)", rc);
  TPML_PCR_SELECTION alloc = cap->data.assignedPCR;
  esys_free(cap);
  bool same = true;
  for (uint32_t i = 0; i < alloc.count; ++i) {
    auto& s = alloc.pcrSelections[i];
    bool any = false;
    for (uint8_t k = 0; k < s.sizeofSelect; ++k) any = any || s.pcrSelect[k] != 0;
    const bool wanted = std::find(want.begin(), want.end(), s.hash) != want.end();
    if (any != wanted) same = false;
    for (uint8_t k = 0; k < s.sizeofSelect; ++k) s.pcrSelect[k] = wanted ? 0xff : 0;
  }
  for (TPMI_ALG_HASH h : want) {
    bool known = false;
    for (uint32_t i = 0; i < alloc.count; ++i) known = known || alloc.pcrSelections[i].hash == h;
    if (!known) return Failure{kTpmRefused, "the TPM has no PCR bank for a hash of --pcr-banks"};
  }
  if (same) return std::nullopt;
  TPMI_YES_NO ok = 0;
  uint32_t max_pcr = 0, needed = 0, available = 0;
  rc = Esys_PCR_Allocate(t.esys, ESYS_TR_RH_PLATFORM, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &alloc, &ok,
                         &max_pcr, &needed, &available);
  if (rc != TSS2_RC_SUCCESS) return refused("TPM2_PCR_Allocate (--pcr-banks)", rc);
  if (!ok) return Failure{kTpmRefused, "TPM2_PCR_Allocate did not succeed (allocationSuccess NO)"};
  changed = true;
  return std::nullopt;
}

std::string json_escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '"' || c == '\\') o += '\\', o += c;
    else if (c == '\n') o += "\\n";
    else o += c;
  }
  return o;
}

struct Written {
  std::string what;
  uint32_t index;
  std::string pem;
  size_t size;
};

}  // namespace

int cmd_setup(int argc, char** argv) {
  std::string tcti, state, ca_dir, ca_key, ca_cert;
  bool have_tcti = false, ek_cert = false, platform_cert = false, lock = false, overwrite = false,
       not_overwrite = false, display = false, as_json = false;
  std::vector<const EkType*> types;
  std::vector<TPMI_ALG_HASH> banks;
  CertSpec spec;
  auto usage = [](const std::string& m) {
    std::fprintf(stderr, "utpm setup: %s\n(see utpm setup --help)\n", m.c_str());
    return kUsage;
  };
  for (int i = 0; i < argc; ++i) {
    std::string a = argv[i], v;
    bool has_v = false;
    if (const size_t eq = a.find('='); a.rfind("--", 0) == 0 && eq != std::string::npos) {
      v = a.substr(eq + 1), a = a.substr(0, eq), has_v = true;
    }
    auto value = [&](std::string& out) {
      if (has_v) return out = v, true;
      if (i + 1 >= argc) return false;
      out = argv[++i];
      return true;
    };
    std::string tmp;
    if (a == "-h" || a == "--help") return std::fputs(kUsageSetup, stdout), kOk;
    if (a == "-T" || a == "--tcti") {
      if (!value(tcti)) return usage("-T needs a TCTI");
      have_tcti = true;
    } else if (a == "--tpmstate" || a == "--tpm-state") {
      if (!value(state) || state.empty()) return usage("--tpmstate needs a directory");
      if (state.rfind("dir://", 0) == 0) state = state.substr(6);  // swtpm's URI form
    } else if (a == "--ca") {
      if (!value(ca_dir) || ca_dir.empty()) return usage("--ca needs a directory");
    } else if (a == "--ca-key") {
      if (!value(ca_key)) return usage("--ca-key needs a file");
    } else if (a == "--ca-cert") {
      if (!value(ca_cert)) return usage("--ca-cert needs a file");
    } else if (a == "--create-ek-cert") ek_cert = true;
    else if (a == "--create-platform-cert") platform_cert = true;
    else if (a == "--lock-nvram") lock = true;
    else if (a == "--overwrite") overwrite = true;
    else if (a == "--not-overwrite") not_overwrite = true;
    else if (a == "--display") display = true;
    else if (a == "--json") as_json = true;
    else if (a == "--tpm2") {  // swtpm_setup's: utpm is TPM 2.0 only
    } else if (a == "--ek") {
      if (!value(tmp)) return usage("--ek needs a list");
      for (const std::string& s : split(tmp)) {
        bool found = false;
        for (const EkType& t : kEkTypes) {
          if (s == "all" || s == t.id) {
            if (std::find(types.begin(), types.end(), &t) == types.end()) types.push_back(&t);
            found = true;
          }
        }
        if (!found) return usage("unknown EK type '" + s + "' (rsa2048, ecc256, h-rsa2048, h-ecc256, h-ecc384, all)");
      }
    } else if (a == "--pcr-banks") {
      if (!value(tmp)) return usage("--pcr-banks needs a list");
      for (const std::string& s : split(tmp)) {
        const auto h = bank_alg(s);
        if (!h) return usage("unknown PCR bank '" + s + "' (sha1, sha256, sha384, sha512)");
        banks.push_back(*h);
      }
      if (banks.empty()) return usage("--pcr-banks needs at least one bank");
    } else if (a == "--tpm-spec") {
      if (!value(tmp)) return usage("--tpm-spec needs FAMILY,LEVEL,REVISION");
      const auto parts = split(tmp);
      if (parts.size() != 3) return usage("--tpm-spec needs FAMILY,LEVEL,REVISION");
      spec.family = parts[0];
      spec.level = static_cast<unsigned>(std::strtoul(parts[1].c_str(), nullptr, 10));
      spec.revision = static_cast<unsigned>(std::strtoul(parts[2].c_str(), nullptr, 10));
    } else if (a == "--platform-manufacturer") {
      if (!value(spec.plat_manufacturer)) return usage("--platform-manufacturer needs a value");
    } else if (a == "--platform-model") {
      if (!value(spec.plat_model)) return usage("--platform-model needs a value");
    } else if (a == "--platform-version") {
      if (!value(spec.plat_version)) return usage("--platform-version needs a value");
    } else return usage("unknown option " + a);
  }
  if (have_tcti == !state.empty()) return usage("give exactly one of -T TCTI and --tpmstate DIR");
  if (overwrite && not_overwrite) return usage("--overwrite and --not-overwrite exclude each other");
  if (ca_key.empty() != ca_cert.empty()) return usage("--ca-key and --ca-cert go together");
  if (!ca_key.empty() && !ca_dir.empty()) return usage("--ca and --ca-key/--ca-cert exclude each other");
  if (types.empty())
    for (const EkType& t : kEkTypes) types.push_back(&t);
  if (!ek_cert && !platform_cert && banks.empty()) ek_cert = true;
  if (ca_dir.empty() && ca_key.empty()) ca_dir = state.empty() ? "utpm-ca" : state + "/ca";

  auto fail = [](const Failure& f) {
    std::fprintf(stderr, "utpm setup: %s\n", f.message.c_str());
    return f.code;
  };

  // The CA first: no TPM state changes if it cannot be had.
  if (!state.empty() && ::mkdir(state.c_str(), 0700) != 0 && errno != EEXIST)
    return fail({kInput, "cannot create state directory " + state + ": " + std::strerror(errno)});
  Ca ca;
  if (ek_cert || platform_cert) {
    if (!ca_key.empty()) {
      if (auto f = load_ca(ca_key, ca_cert, ca)) return fail(*f);
    } else if (file_exists(ca_dir + "/ca.key") || file_exists(ca_dir + "/ca.pem")) {
      if (auto f = load_ca(ca_dir + "/ca.key", ca_dir + "/ca.pem", ca)) return fail(*f);
    } else {
      if (auto f = create_ca(ca_dir, ca)) return fail(*f);
      std::fprintf(stderr, "utpm setup: created the local CA in %s (ca.key, ca.pem)\n", ca_dir.c_str());
    }
  }

  // tpm2-tss logs every TPM error on stderr; utpm reports what failed itself.
  ::setenv("TSS2_LOG", "all+none", 0);
  Tpm t;
  if (have_tcti) {
    const TSS2_RC rc = Tss2_TctiLdr_Initialize(tcti.empty() ? nullptr : tcti.c_str(), &t.tcti);
    if (rc != TSS2_RC_SUCCESS) return fail({kTransport, "cannot open TCTI '" + tcti + "': " + tss_error(rc)});
    t.loader = true;
  } else {
    std::string error;
    t.in_process = InProcessTpm::open(state, error);
    if (!t.in_process) return fail({kTransport, error});
    t.tcti = t.in_process->tcti();
  }
  if (TSS2_RC rc = Esys_Initialize(&t.esys, t.tcti, nullptr); rc != TSS2_RC_SUCCESS)
    return fail({kTransport, "ESAPI initialisation failed: " + tss_error(rc)});
  if (TSS2_RC rc = Esys_Startup(t.esys, TPM2_SU_CLEAR); rc != TSS2_RC_SUCCESS && rc != TPM2_RC_INITIALIZE) {
    if ((rc & 0xFFFF0000u) != 0) return fail({kTransport, "the TPM cannot be reached: " + tss_error(rc)});
    return fail(refused("TPM2_Startup", rc));
  }
  TpmIdentity id;
  if (auto f = read_identity(t, id)) return fail(*f);

  bool banks_changed = false;
  if (!banks.empty()) {
    if (auto f = set_pcr_banks(t, banks, banks_changed)) return fail(*f);
  }

  // Provisioned already? (any certificate index this run would write)
  std::vector<uint32_t> targets;
  if (ek_cert)
    for (const EkType* ty : types) targets.push_back(ty->cert_index);
  if (platform_cert) targets.push_back(kPlatformCertIndex);
  std::vector<uint32_t> present;
  for (uint32_t idx : targets) {
    ESYS_TR tr;
    if (nv_exists(t, idx, tr)) present.push_back(idx);
  }
  if (!present.empty() && !overwrite) {
    if (not_overwrite) {
      std::fprintf(stderr, "utpm setup: already provisioned (NV index 0x%08x exists); left as it is\n", present[0]);
      return kOk;
    }
    return fail({kProvisioned, "already provisioned: NV index 0x" + [&] {
                   char b[16];
                   std::snprintf(b, sizeof b, "%08x", present[0]);
                   return std::string(b);
                 }() + " exists (--overwrite replaces, --not-overwrite leaves it)"});
  }

  std::vector<Written> written;
  PkeyPtr first_key;
  bool first_rsa = false;
  for (const EkType* ty : types) {
    if (!ek_cert && !(platform_cert && !first_key)) break;
    TPM2B_PUBLIC pub{};
    if (auto f = create_ek(t, *ty, pub)) return fail(*f);
    PkeyPtr key = pkey_from_public(pub.publicArea);
    if (!key) return fail({kCaError, std::string("cannot convert the ") + ty->label + " EK: " + openssl_error()});
    if (ek_cert) {
      X509Ptr cert;
      if (auto f = make_cert(ca, key.get(), ty->rsa, id, spec, cert)) return fail(*f);
      unsigned char* der = nullptr;
      const int len = i2d_X509(cert.get(), &der);
      if (len <= 0) return fail({kCaError, "cannot encode the certificate: " + openssl_error()});
      std::vector<uint8_t> bytes(der, der + len);
      OPENSSL_free(der);
      if (auto f = nv_write_cert(t, ty->cert_index, bytes, id, overwrite, lock)) {
        f->message = std::string(ty->label) + " EK certificate: " + f->message;
        return fail(*f);
      }
      written.push_back({std::string(ty->label) + " EK certificate", ty->cert_index, pem_of(cert.get()), bytes.size()});
    }
    if (!first_key) first_key = std::move(key), first_rsa = ty->rsa;
  }
  if (platform_cert) {
    CertSpec ps = spec;
    ps.platform = true;
    X509Ptr cert;
    if (auto f = make_cert(ca, first_key.get(), first_rsa, id, ps, cert)) return fail(*f);
    unsigned char* der = nullptr;
    const int len = i2d_X509(cert.get(), &der);
    if (len <= 0) return fail({kCaError, "cannot encode the platform certificate: " + openssl_error()});
    std::vector<uint8_t> bytes(der, der + len);
    OPENSSL_free(der);
    if (auto f = nv_write_cert(t, kPlatformCertIndex, bytes, id, overwrite, lock)) {
      f->message = "platform certificate: " + f->message;
      return fail(*f);
    }
    written.push_back({"platform certificate", kPlatformCertIndex, pem_of(cert.get()), bytes.size()});
  }
  // An orderly end for the state directory's engine (InProcessTpm powers it off); a running TPM
  // (-T) serves others and is left running.
  if (t.in_process) Esys_Shutdown(t.esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, TPM2_SU_CLEAR);
  if (t.in_process && banks_changed) t.in_process->power_cycle();

  if (as_json) {
    std::printf("{\"manufacturer\":\"%s\",\"model\":\"%s\",\"firmware\":\"%08x%08x\",\"pcr_banks_changed\":%s,"
                "\"certificates\":[",
                id_hex(id.manufacturer).c_str(), json_escape(id.model).c_str(), id.fw1, id.fw2,
                banks_changed ? "true" : "false");
    for (size_t i = 0; i < written.size(); ++i)
      std::printf("%s{\"what\":\"%s\",\"index\":\"0x%08x\",\"size\":%zu,\"pem\":\"%s\"}", i ? "," : "",
                  written[i].what.c_str(), written[i].index, written[i].size, json_escape(written[i].pem).c_str());
    std::printf("]}\n");
  } else {
    for (const Written& w : written)
      std::printf("0x%08x  %-40s %zu octets%s\n", w.index, w.what.c_str(), w.size, lock ? ", write-locked" : "");
    if (banks_changed)
      std::printf("PCR banks reallocated%s\n", t.in_process ? "" : " (effective at the next TPM reset)");
  }
  if (display) {
    std::printf("TPM manufacturer %s, model '%s', firmware %08x.%08x\n", id_hex(id.manufacturer).c_str(),
                id.model.c_str(), id.fw1, id.fw2);
    for (const Written& w : written) {
      BIO* b = BIO_new_mem_buf(w.pem.data(), static_cast<int>(w.pem.size()));
      X509* x = PEM_read_bio_X509(b, nullptr, nullptr, nullptr);
      BIO* outb = BIO_new_fp(stdout, BIO_NOCLOSE);
      std::printf("---- 0x%08x %s ----\n", w.index, w.what.c_str());
      std::fflush(stdout);
      if (x && outb) X509_print_ex(outb, x, XN_FLAG_ONELINE, 0);
      BIO_free(outb);
      X509_free(x);
      BIO_free(b);
    }
  }
  return kOk;
}

}  // namespace utpm::tool
