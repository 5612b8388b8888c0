#include "tpm/commands/creation.h"

#include <cstring>

#include "crypto/crypto.h"
#include "tpm/subsystem/subsystems.h"

namespace utpm::tpm {

TPM_RC creation_checks(const TPMT_PUBLIC& tmpl, const TPMS_SENSITIVE_CREATE& sens, const ObjectSlot* parent) {
  // The sensitive-data rules come first (a template that is wrong in both ways is blamed for
  // its sensitiveDataOrigin, as the reference TPM does).
  if (TPM_RC rc = sensitive_create_check(tmpl, sens, parent == nullptr))
    return rc_param(rc, rc == TPM_RC_KEY_SIZE ? 1 : 2);
  if (TPM_RC rc = public_check(tmpl, parent)) return rc_param(rc, 2);
  return TPM_RC_SUCCESS;
}

void write_creation(Command& c, const ObjectSlot& obj, TPM_ALG_ID parent_name_alg,
                    std::span<const uint8_t> parent_name, std::span<const uint8_t> parent_qn,
                    const TPM2B_DATA& outside_info, const TPML_PCR_SELECTION& creation_pcr) {
  const TPM_ALG_ID alg = obj.pub.nameAlg;
  TPMS_CREATION_DATA cd;
  cd.pcrSelect = creation_pcr;
  // pcrDigest: H_nameAlg of the selected PCR values, selections in order, PCRs ascending;
  // empty when nothing is selected.
  if (creation_pcr.count != 0) {
    crypto::HashState h;
    crypto::hash_start(h, to_crypto(alg));
    for (uint32_t s = 0; s < creation_pcr.count; ++s) {
      int bank = pcr_bank(c.st, creation_pcr.items[s].hash);
      if (bank < 0) continue;
      for (uint32_t p = 0; p < profile::kNumPcrs; ++p)
        if (creation_pcr.items[s].selected(p)) crypto::hash_update(h, pcr_value(c.st, bank, p));
    }
    cd.pcrDigest.size = static_cast<uint16_t>(crypto::hash_finish(h, cd.pcrDigest.buffer));
  }
  cd.locality = c.locality <= 4 ? static_cast<uint8_t>(1u << c.locality) : c.locality;
  cd.parentNameAlg = parent_name_alg;
  cd.parentName.assign(parent_name);
  cd.parentQualifiedName.assign(parent_qn);
  cd.outsideInfo = outside_info;

  uint8_t buf[sizeof(TPMS_CREATION_DATA) + 64];
  Writer w(buf);
  marshal(w, cd);
  TPM2B_DIGEST creation_hash;
  creation_hash.size = static_cast<uint16_t>(crypto::hash(to_crypto(alg), w.written(), creation_hash.buffer));

  // creationTicket = HMAC_nameAlg(proof(hierarchy), TPM_ST_CREATION || Name || creationHash)
  TPMT_TK_CREATION ticket;
  ticket.hierarchy = obj.hierarchy;
  crypto::HmacState hm;
  crypto::hmac_start(hm, to_crypto(alg), hierarchy_proof(c.st, obj.hierarchy));
  const uint8_t tag[2] = {uint8_t(TPM_ST_CREATION >> 8), uint8_t(TPM_ST_CREATION)};
  crypto::hmac_update(hm, tag);
  crypto::hmac_update(hm, obj.name.view());
  crypto::hmac_update(hm, creation_hash.view());
  ticket.digest.size = static_cast<uint16_t>(crypto::hmac_finish(hm, ticket.digest.buffer));
  crypto::zeroize(hm);

  c.put(Sized<TPMS_CREATION_DATA>{0, cd});
  c.put(creation_hash);
  c.put(ticket);
}

}  // namespace utpm::tpm
