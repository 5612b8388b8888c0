// Part 3 chapter 11: Session commands.
#include "crypto/crypto.h"
#include "crypto/kdf.h"
#include "tpm/commands/commands.h"
#include "tpm/subsystem/subsystems.h"
#include "tpm/tpm.h"

namespace utpm::tpm {

TPM_RC TPM2_StartAuthSession(Command& c) {
  TPM2B_NONCE nonce_caller;
  TPM2B_ENCRYPTED_SECRET encrypted_salt;
  TPM_SE_CHECKED session_type;
  TPMT_SYM_DEF symmetric;
  TPMI_ALG_HASH auth_hash;
  if (TPM_RC rc = c.parse(nonce_caller, encrypted_salt, session_type, symmetric, auth_hash)) return rc;
  const TPM_HANDLE tpm_key = c.handles[0], bind = c.handles[1];
  // Salting needs a decryption key; no loaded object in this build is one.
  if (tpm_key != TPM_RH_NULL) return rc_handle(TPM_RC_KEY, 1);
  if (encrypted_salt.size != 0) return rc_param(TPM_RC_VALUE, 2);
  const uint16_t digest_len = digest_size(auth_hash);
  if (nonce_caller.size < 16 || nonce_caller.size > digest_len) return rc_param(TPM_RC_SIZE, 1);

  SessionSlot* s = session_allocate(c.st);
  if (!s) return TPM_RC_SESSION_MEMORY;
  SessionSlot fresh;
  fresh.used = true;
  fresh.type = session_type;
  fresh.auth_hash = auth_hash;
  fresh.nonce_caller = nonce_caller;
  fresh.nonce_tpm.size = digest_len;
  if (!tpm_random(c.tpm, {fresh.nonce_tpm.buffer, digest_len})) return TPM_RC_FAILURE;
  if (bind != TPM_RH_NULL) {
    // sessionKey = KDFa(authHash, bind.authValue || salt, "ATH", nonceTPM, nonceCaller, bits)
    EntityAuth ea{};
    if (TPM_RC rc = entity_auth(c.st, bind, ea)) return rc_handle(rc, 2);
    size_t n = ea.auth ? ea.auth->size : 0;
    while (n > 0 && ea.auth->buffer[n - 1] == 0) --n;
    static constexpr uint8_t kAth[] = {'A', 'T', 'H'};
    fresh.bind = bind;
    fresh.bind_name.size = static_cast<uint16_t>(entity_name(c.st, bind, fresh.bind_name.buffer));
    fresh.session_key.size = digest_len;
    crypto::kdfa(to_crypto(auth_hash), {n ? ea.auth->buffer : nullptr, n}, kAth, fresh.nonce_tpm.view(),
                 nonce_caller.view(), digest_len * 8u, {fresh.session_key.buffer, digest_len});
  }
  if (session_type != TPM_SE_HMAC) fresh.policy_digest.size = digest_len;  // starts all zero
  *s = fresh;
  crypto::zeroize(fresh);
  c.response_handle = session_handle(c.st, s);
  c.put(s->nonce_tpm);
  return TPM_RC_SUCCESS;
}

}  // namespace utpm::tpm
