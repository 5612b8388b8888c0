// Part 3 chapter 17: hash and event sequences. A sequence is a transient object holding
// incremental hash state, authorized by the authValue given at its start.
#include "crypto/crypto.h"
#include "tpm/commands/commands.h"
#include "tpm/commands/keys_common.h"
#include "tpm/commands/tickets.h"
#include "tpm/subsystem/subsystems.h"
#include "tpm/tpm.h"

namespace utpm::tpm {
namespace {

void sequence_update(ObjectSlot& s, std::span<const uint8_t> data) {
  if (s.kind == SlotKind::hash_sequence) {
    // Only the start of the whole stream can disqualify it from a ticket.
    if (!s.first_block_seen && !data.empty()) {
      s.ticket_allowed = !starts_with_generated_value(data);
      s.first_block_seen = true;
    }
    crypto::hash_update(s.hash[0], data);
  } else if (s.kind == SlotKind::hmac_sequence) {
    crypto::HmacState h{s.hash[0], s.hash[1]};
    crypto::hmac_update(h, data);
    s.hash[0] = h.inner;
    s.hash[1] = h.outer;
  } else {
    for (size_t i = 0; i < kHashCount; ++i) crypto::hash_update(s.hash[i], data);
  }
}

}  // namespace

TPM_RC TPM2_HashSequenceStart(Command& c) {
  TPM2B_AUTH auth;
  crypto::ZeroizeOnExit wipe_auth{auth};
  TPMI_ALG_HASH_NULL hash_alg;
  if (TPM_RC rc = c.parse(auth, hash_alg)) return rc;
  ObjectSlot* s = object_allocate(c.st);
  if (!s) return TPM_RC_OBJECT_MEMORY;
  s->auth = auth;
  if (hash_alg == TPM_ALG_NULL) {
    s->kind = SlotKind::event_sequence;  // one digest per implemented hash
    for (size_t i = 0; i < kHashCount; ++i) crypto::hash_start(s->hash[i], to_crypto(kHashAlgs[i]));
  } else {
    s->kind = SlotKind::hash_sequence;
    crypto::hash_start(s->hash[0], to_crypto(hash_alg));
  }
  c.response_handle = object_handle(c.st, s);
  crypto::zeroize(auth);
  return TPM_RC_SUCCESS;
}

TPM_RC TPM2_HMAC_Start(Command& c) {
  TPM2B_AUTH auth;
  crypto::ZeroizeOnExit wipe_auth{auth};
  TPMI_ALG_HASH_NULL hash_alg;
  if (TPM_RC rc = c.parse(auth, hash_alg)) return rc;
  ObjectSlot* key;
  TPM_ALG_ID hash;
  if (TPM_RC rc = hmac_key(c, hash_alg, key, hash)) return rc;
  ObjectSlot* s = object_allocate(c.st);
  if (!s) return TPM_RC_OBJECT_MEMORY;
  crypto::HmacState h;
  crypto::hmac_start(h, to_crypto(hash), key->bits.view());
  s->kind = SlotKind::hmac_sequence;
  s->auth = auth;
  s->hash[0] = h.inner;
  s->hash[1] = h.outer;
  crypto::zeroize(h);
  crypto::zeroize(auth);
  c.response_handle = object_handle(c.st, s);
  return TPM_RC_SUCCESS;
}

TPM_RC TPM2_SequenceUpdate(Command& c) {
  ObjectSlot* s = c.entities[0].object;
  TPM2B_MAX_BUFFER buffer;
  // Authorization and the parameters come first: that the object is no sequence is the
  // action's finding (Part 3 §5 order; docs/conformance.md C5).
  if (TPM_RC rc = c.parse(buffer)) return rc;
  if (s->kind != SlotKind::hash_sequence && s->kind != SlotKind::event_sequence && s->kind != SlotKind::hmac_sequence)
    return rc_handle(TPM_RC_MODE, 1);
  sequence_update(*s, buffer.view());
  return TPM_RC_SUCCESS;
}

TPM_RC TPM2_SequenceComplete(Command& c) {
  ObjectSlot* s = c.entities[0].object;
  TPM2B_MAX_BUFFER buffer;
  TPMI_RH_HIERARCHY_NULL hierarchy;
  if (TPM_RC rc = c.parse(buffer, hierarchy)) return rc;
  if (s->kind != SlotKind::hash_sequence && s->kind != SlotKind::hmac_sequence) return rc_handle(TPM_RC_MODE, 1);
  if (!hierarchy_enabled(c.st, hierarchy)) return rc_param(TPM_RC_HIERARCHY, 2);
  sequence_update(*s, buffer.view());
  if (s->kind == SlotKind::hmac_sequence) {
    // An HMAC sequence gives its HMAC and the NULL ticket.
    crypto::HmacState h{s->hash[0], s->hash[1]};
    TPM2B_DIGEST result;
    result.size = static_cast<uint16_t>(crypto::hmac_finish(h, result.buffer));
    crypto::zeroize(h);
    c.put(result);
    c.put(TPMT_TK_HASHCHECK{});
    object_flush(*s);
    return TPM_RC_SUCCESS;
  }
  const TPM_ALG_ID alg = static_cast<TPM_ALG_ID>(s->hash[0].alg);
  TPM2B_DIGEST result;
  result.size = static_cast<uint16_t>(crypto::hash_finish(s->hash[0], result.buffer));
  TPM_HANDLE ticket_hierarchy = s->ticket_allowed ? hierarchy.value : TPM_RH_NULL;
  c.put(result);
  c.put(hashcheck_ticket(c.st, ticket_hierarchy, alg, result.view()));
  object_flush(*s);
  return TPM_RC_SUCCESS;
}

TPM_RC TPM2_EventSequenceComplete(Command& c) {
  const TPM_HANDLE pcr = c.handles[0];
  ObjectSlot* s = c.entities[1].object;
  TPM2B_MAX_BUFFER buffer;
  if (TPM_RC rc = c.parse(buffer)) return rc;
  if (s->kind != SlotKind::event_sequence) return rc_handle(TPM_RC_MODE, 2);
  if (pcr != TPM_RH_NULL)
    if (TPM_RC rc = pcr_check_extend_locality(pcr, c.locality)) return rc;
  sequence_update(*s, buffer.view());
  TPML_DIGEST_VALUES results;
  results.count = kHashCount;
  for (size_t i = 0; i < kHashCount; ++i) {
    results.items[i].hashAlg.value = kHashAlgs[i];
    crypto::hash_finish(s->hash[i], results.items[i].digest.bytes);
    int bank = pcr_bank(c.st, kHashAlgs[i]);
    if (pcr != TPM_RH_NULL && bank >= 0)
      pcr_extend_bank(c.st, bank, pcr, {results.items[i].digest.bytes, digest_size(kHashAlgs[i])});
  }
  if (pcr != TPM_RH_NULL) ++c.st.pcr.update_counter;
  c.put(results);
  object_flush(*s);
  return TPM_RC_SUCCESS;
}

}  // namespace utpm::tpm
