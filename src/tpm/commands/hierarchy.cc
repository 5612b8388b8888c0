// Part 3 chapter 24: Hierarchy commands.
#include <cstring>

#include "crypto/crypto.h"
#include "crypto/drbg.h"
#include "crypto/kdf.h"
#include "tpm/commands/commands.h"
#include "tpm/commands/creation.h"
#include "tpm/subsystem/subsystems.h"
#include "tpm/tpm.h"

namespace utpm::tpm {

// Primary objects are derived, not stored: a CTR_DRBG is instantiated from
//   KDFa(SHA-256, seed(hierarchy), "Primary Object Creation", H_nameAlg(template), sensitive.data, 384)
// and every secret of the object (primes, scalar, seed value, key bits) is drawn from it. The
// same template and data therefore give the same object until the hierarchy's seed changes.
TPM_RC TPM2_CreatePrimary(Command& c) {
  TPM2B_SENSITIVE_CREATE in_sensitive;
  TPM2B_PUBLIC in_public;
  TPM2B_DATA outside_info;
  TPML_PCR_SELECTION creation_pcr;
  if (TPM_RC rc = c.parse(in_sensitive, in_public, outside_info, creation_pcr)) return rc;
  const TPMT_PUBLIC& tmpl = in_public.t;
  if (TPM_RC rc = public_check(tmpl, nullptr)) return rc_param(rc, 2);
  if (TPM_RC rc = sensitive_create_check(tmpl, in_sensitive.t)) return rc_param(rc, 1);
  ObjectSlot* slot = object_allocate(c.st);
  if (!slot) return TPM_RC_OBJECT_MEMORY;

  const TPM_HANDLE hierarchy = c.handles[0];
  uint8_t template_bytes[sizeof(TPMT_PUBLIC) + 64];
  Writer tw(template_bytes);
  marshal(tw, tmpl);
  uint8_t template_hash[profile::kMaxDigestSize];
  size_t th = crypto::hash(to_crypto(tmpl.nameAlg), tw.written(), template_hash);
  uint8_t seed_material[crypto::kDrbgSeedSize];
  static constexpr char kLabel[] = "Primary Object Creation";
  crypto::kdfa(crypto::HashAlg::sha256, hierarchy_seed(c.st, hierarchy),
               {reinterpret_cast<const uint8_t*>(kLabel), sizeof kLabel - 1}, {template_hash, th},
               in_sensitive.t.data.view(), crypto::kDrbgSeedSize * 8, seed_material);
  crypto::DrbgState drbg{};
  crypto::drbg_instantiate(drbg, seed_material, {});
  crypto::zeroize(seed_material);

  TPM_RC rc = object_generate(tmpl, in_sensitive.t, crypto::drbg_source(drbg), *slot);
  crypto::zeroize(drbg);
  crypto::zeroize(in_sensitive);
  if (rc != TPM_RC_SUCCESS || !public_name(slot->pub, slot->name)) {
    object_flush(*slot);
    return rc != TPM_RC_SUCCESS ? rc : TPM_RC_FAILURE;
  }
  slot->hierarchy = hierarchy;
  uint8_t parent_name[4];
  entity_name(c.st, hierarchy, parent_name);
  qualified_name(slot->pub.nameAlg, parent_name, slot->name, slot->qualified_name);

  c.response_handle = object_handle(c.st, slot);
  c.put(Sized<TPMT_PUBLIC>{0, slot->pub});
  write_creation(c, *slot, TPM_ALG_NULL, {parent_name, 4}, {parent_name, 4}, outside_info, creation_pcr);
  c.put(slot->name);
  return TPM_RC_SUCCESS;
}

}  // namespace utpm::tpm
