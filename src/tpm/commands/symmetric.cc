// Part 3 chapter 15 (symmetric primitives): TPM2_Hash, and the hashcheck ticket that lets a
// restricted signing key sign a digest the TPM computed itself.
#include <cstring>

#include "crypto/crypto.h"
#include "tpm/commands/commands.h"
#include "tpm/commands/tickets.h"
#include "tpm/subsystem/subsystems.h"
#include "tpm/tpm.h"

namespace utpm::tpm {

bool starts_with_generated_value(std::span<const uint8_t> data) {
  return data.size() >= 4 && (uint32_t{data[0]} << 24 | uint32_t{data[1]} << 16 | uint32_t{data[2]} << 8 |
                              data[3]) == TPM_GENERATED_VALUE;
}

TPMT_TK_HASHCHECK hashcheck_ticket(const State& st, TPM_HANDLE hierarchy, TPM_ALG_ID hash_alg,
                                   std::span<const uint8_t> digest) {
  TPMT_TK_HASHCHECK t;
  if (hierarchy == TPM_RH_NULL) return t;  // the NULL ticket: hierarchy NULL, empty digest
  t.hierarchy.value = hierarchy;
  // ticket = HMAC(proof(hierarchy), TPM_ST_HASHCHECK || digest)  (Part 2 TPMT_TK_HASHCHECK)
  crypto::HmacState h;
  crypto::hmac_start(h, to_crypto(hash_alg), hierarchy_proof(st, hierarchy));
  const uint8_t tag[2] = {static_cast<uint8_t>(TPM_ST_HASHCHECK >> 8), static_cast<uint8_t>(TPM_ST_HASHCHECK)};
  crypto::hmac_update(h, tag);
  crypto::hmac_update(h, digest);
  t.digest.size = static_cast<uint16_t>(crypto::hmac_finish(h, t.digest.buffer));
  crypto::zeroize(h);
  return t;
}

TPM_RC TPM2_Hash(Command& c) {
  TPM2B_MAX_BUFFER data;
  TPMI_ALG_HASH hash_alg;
  TPMI_RH_HIERARCHY_NULL hierarchy;
  if (TPM_RC rc = c.parse(data, hash_alg, hierarchy)) return rc;
  if (!hierarchy_enabled(c.st, hierarchy)) return rc_param(TPM_RC_HIERARCHY, 3);
  TPM2B_DIGEST out;
  out.size = static_cast<uint16_t>(crypto::hash(to_crypto(hash_alg), data.view(), out.buffer));
  // Data that could pass for a TPM-generated structure gets no ticket (Part 3 §15.4).
  TPM_HANDLE ticket_hierarchy = starts_with_generated_value(data.view()) ? TPM_RH_NULL : hierarchy.value;
  c.put(out);
  c.put(hashcheck_ticket(c.st, ticket_hierarchy, hash_alg, out.view()));
  return TPM_RC_SUCCESS;
}

}  // namespace utpm::tpm

#include "crypto/sym.h"
#include "tpm/commands/keys_common.h"

namespace utpm::tpm {
namespace {

TPM_RC encrypt_decrypt(Command& c, bool decrypt, TPM_ALG_ID mode_in, TPM2B_IV& iv, const TPM2B_MAX_BUFFER& in,
                       unsigned p_decrypt, unsigned p_mode, unsigned p_iv, unsigned p_data) {
  ObjectSlot* key = loaded_private_key(c, 0);
  if (!key || key->pub.type != TPM_ALG_SYMCIPHER) return rc_handle(TPM_RC_KEY, 1);
  const TPMA_OBJECT& a = key->pub.objectAttributes;
  // decrypt permits decryption, sign permits encryption; restricted keys only wrap children.
  if (a.has(TPMA_OBJECT_restricted)) return rc_handle(TPM_RC_ATTRIBUTES, 1);
  if (decrypt ? !a.has(TPMA_OBJECT_decrypt) : !a.has(TPMA_OBJECT_sign)) return rc_handle(TPM_RC_ATTRIBUTES, 1);
  (void)p_decrypt;
  TPM_ALG_ID mode = key->pub.parameters.symDetail.sym.mode;
  if (mode == TPM_ALG_NULL) {
    if (mode_in == TPM_ALG_NULL) return rc_param(TPM_RC_MODE, p_mode);
    mode = mode_in;
  } else if (mode_in != TPM_ALG_NULL && mode_in != mode) {
    return rc_param(TPM_RC_MODE, p_mode);
  }
  if (mode != TPM_ALG_ECB && iv.size != 16) return rc_param(TPM_RC_SIZE, p_iv);
  if ((mode == TPM_ALG_ECB || mode == TPM_ALG_CBC) && in.size % 16 != 0) return rc_param(TPM_RC_SIZE, p_data);
  TPM2B_MAX_BUFFER out;
  out.size = in.size;
  uint8_t iv_buf[16] = {};
  std::memcpy(iv_buf, iv.buffer, iv.size);
  const auto m = static_cast<crypto::SymMode>(mode);
  const crypto::BlockCipher cipher = block_cipher(key->pub.parameters.symDetail.sym.algorithm);
  crypto::Status s = decrypt ? crypto::sym_decrypt(cipher, m, key->bits.view(), iv_buf, in.view(), {out.buffer, out.size})
                             : crypto::sym_encrypt(cipher, m, key->bits.view(), iv_buf, in.view(), {out.buffer, out.size});
  if (s != crypto::Status::ok) return TPM_RC_FAILURE;
  TPM2B_IV iv_out;
  if (mode != TPM_ALG_ECB) iv_out.assign(iv_buf);
  c.put(out);
  c.put(iv_out);
  crypto::zeroize(out);
  return TPM_RC_SUCCESS;
}

}  // namespace

TPM_RC TPM2_EncryptDecrypt(Command& c) {
  TPMI_YES_NO_CHECKED decrypt;
  TPMI_ALG_SYM_MODE_NULL mode;
  TPM2B_IV iv;
  TPM2B_MAX_BUFFER in;
  if (TPM_RC rc = c.parse(decrypt, mode, iv, in)) return rc;
  return encrypt_decrypt(c, decrypt.value != 0, mode, iv, in, 1, 2, 3, 4);
}

TPM_RC TPM2_EncryptDecrypt2(Command& c) {
  TPM2B_MAX_BUFFER in;
  TPMI_YES_NO_CHECKED decrypt;
  TPMI_ALG_SYM_MODE_NULL mode;
  TPM2B_IV iv;
  if (TPM_RC rc = c.parse(in, decrypt, mode, iv)) return rc;
  return encrypt_decrypt(c, decrypt.value != 0, mode, iv, in, 2, 3, 4, 1);
}

TPM_RC TPM2_HMAC(Command& c) {
  TPM2B_MAX_BUFFER buffer;
  TPMI_ALG_HASH_NULL hash_alg;
  if (TPM_RC rc = c.parse(buffer, hash_alg)) return rc;
  ObjectSlot* key;
  TPM_ALG_ID hash;
  if (TPM_RC rc = hmac_key(c, hash_alg, key, hash)) return rc;
  TPM2B_DIGEST out;
  out.size = static_cast<uint16_t>(crypto::hmac(to_crypto(hash), key->bits.view(), buffer.view(), out.buffer));
  c.put(out);
  return TPM_RC_SUCCESS;
}

}  // namespace utpm::tpm
