// Part 3 chapter 12: Object commands.
#include "crypto/crypto.h"
#include "tpm/commands/commands.h"
#include "tpm/commands/creation.h"
#include "tpm/subsystem/subsystems.h"
#include "tpm/tpm.h"

namespace utpm::tpm {

TPM_RC TPM2_ReadPublic(Command& c) {
  if (TPM_RC rc = c.parse()) return rc;
  ObjectSlot* o = c.entities[0].object;
  if (o->kind != SlotKind::object) return rc_handle(TPM_RC_SEQUENCE, 1);  // sequences have no public area
  c.put(Sized<TPMT_PUBLIC>{0, o->pub});
  c.put(o->name);
  c.put(o->qualified_name);
  return TPM_RC_SUCCESS;
}

}  // namespace utpm::tpm

namespace utpm::tpm {
namespace {

// A loaded storage parent by handle, or the response code for handle 1.
TPM_RC storage_parent(Command& c, ObjectSlot*& parent) {
  parent = c.entities[0].object;
  if (!parent || !is_storage_parent(*parent)) return rc_handle(TPM_RC_TYPE, 1);
  return TPM_RC_SUCCESS;
}

}  // namespace

// Generates a child of a storage parent in a free slot (as if loaded: hierarchy and qualified
// name set) and wraps its sensitive area for the parent. On failure nothing stays loaded.
TPM_RC create_child(Command& c, const ObjectSlot& parent, const TPMT_PUBLIC& tmpl, const TPMS_SENSITIVE_CREATE& sens,
                    ObjectSlot*& obj, TPM2B_PRIVATE& out_private) {
  obj = object_allocate(c.st);
  if (!obj) return TPM_RC_OBJECT_MEMORY;
  TPM_RC rc = object_generate(tmpl, sens, tpm_random_source(c.tpm), *obj);
  if (rc == TPM_RC_SUCCESS && !public_name(obj->pub, obj->name)) rc = TPM_RC_FAILURE;
  if (rc == TPM_RC_SUCCESS) {
    TPMT_SENSITIVE s;
    object_sensitive(*obj, s);
    rc = sensitive_wrap(parent, obj->name, s, tpm_random_source(c.tpm), out_private);
    crypto::zeroize(s);
  }
  if (rc != TPM_RC_SUCCESS) {
    object_flush(*obj);
    obj = nullptr;
    return rc;
  }
  obj->hierarchy = parent.hierarchy;
  qualified_name(obj->pub.nameAlg, parent.qualified_name.view(), obj->name, obj->qualified_name);
  return TPM_RC_SUCCESS;
}

TPM_RC TPM2_Create(Command& c) {
  TPM2B_SENSITIVE_CREATE in_sensitive;
  crypto::ZeroizeOnExit wipe_sensitive{in_sensitive};  // also on early error returns
  TPM2B_PUBLIC in_public;
  TPM2B_DATA outside_info;
  TPML_PCR_SELECTION creation_pcr;
  if (TPM_RC rc = c.parse(in_sensitive, in_public, outside_info, creation_pcr)) return rc;
  ObjectSlot* parent;
  if (TPM_RC rc = storage_parent(c, parent)) return rc;
  if (TPM_RC rc = creation_checks(in_public.t, in_sensitive.t, parent)) return rc;
  // The new object is built in a free slot, as if loaded, and flushed before returning.
  ObjectSlot* obj = nullptr;
  TPM2B_PRIVATE out_private;
  TPM_RC rc = create_child(c, *parent, in_public.t, in_sensitive.t, obj, out_private);
  crypto::zeroize(in_sensitive);
  if (rc != TPM_RC_SUCCESS) return rc;
  c.put(out_private);
  c.put(Sized<TPMT_PUBLIC>{0, obj->pub});
  write_creation(c, *obj, parent->pub.nameAlg, parent->name.view(), parent->qualified_name.view(), outside_info,
                 creation_pcr);
  object_flush(*obj);
  return TPM_RC_SUCCESS;
}

TPM_RC TPM2_Load(Command& c) {
  TPM2B_PRIVATE in_private;
  TPM2B_PUBLIC in_public;
  if (TPM_RC rc = c.parse(in_private, in_public)) return rc;
  ObjectSlot* parent;
  if (TPM_RC rc = storage_parent(c, parent)) return rc;
  if (TPM_RC rc = public_check(in_public.t, parent)) return rc_param(rc, 2);
  TPM2B_NAME name;
  if (!public_name(in_public.t, name)) return rc_param(TPM_RC_HASH, 2);
  TPMT_SENSITIVE sens;
  if (TPM_RC rc = sensitive_unwrap(*parent, name, in_private, sens)) return rc_param(rc, 1);
  ObjectSlot* obj = object_allocate(c.st);
  if (!obj) {
    crypto::zeroize(sens);
    return TPM_RC_OBJECT_MEMORY;
  }
  TPM_RC rc = object_from_parts(in_public.t, sens, *obj);
  crypto::zeroize(sens);
  if (rc != TPM_RC_SUCCESS) {
    object_flush(*obj);
    return rc_param(rc, 1);
  }
  obj->hierarchy = parent->hierarchy;
  qualified_name(obj->pub.nameAlg, parent->qualified_name.view(), obj->name, obj->qualified_name);
  c.response_handle = object_handle(c.st, obj);
  c.put(obj->name);
  return TPM_RC_SUCCESS;
}

TPM_RC TPM2_Unseal(Command& c) {
  if (TPM_RC rc = c.parse()) return rc;
  ObjectSlot* o = c.entities[0].object;
  if (o->kind != SlotKind::object || o->pub.type != TPM_ALG_KEYEDHASH) return rc_handle(TPM_RC_TYPE, 1);
  const TPMA_OBJECT& a = o->pub.objectAttributes;
  // Only a sealed data object (neither a signing nor a decryption key) gives up its data.
  if (a.has(TPMA_OBJECT_sign) || a.has(TPMA_OBJECT_decrypt) || a.has(TPMA_OBJECT_restricted))
    return rc_handle(TPM_RC_ATTRIBUTES, 1);
  c.put(o->bits);
  return TPM_RC_SUCCESS;
}

TPM_RC TPM2_ObjectChangeAuth(Command& c) {
  TPM2B_AUTH new_auth;
  crypto::ZeroizeOnExit wipe_auth{new_auth};
  if (TPM_RC rc = c.parse(new_auth)) return rc;
  ObjectSlot* o = c.entities[0].object;
  ObjectSlot* parent = c.entities[1].object;
  if (o->kind != SlotKind::object) return rc_handle(TPM_RC_TYPE, 1);
  if (!parent || !is_storage_parent(*parent)) return rc_handle(TPM_RC_TYPE, 2);
  // The parent must be the object's parent: its qualified name derives from the parent's.
  TPM2B_NAME qn;
  qualified_name(o->pub.nameAlg, parent->qualified_name.view(), o->name, qn);
  if (qn.size != o->qualified_name.size || !crypto::ct_equal(qn.view(), o->qualified_name.view()))
    return rc_handle(TPM_RC_TYPE, 2);
  // The new authValue is no longer than the object's digest (trailing zeros not counted).
  if (auth_trimmed(&new_auth).size() > digest_size(o->pub.nameAlg)) return rc_param(TPM_RC_SIZE, 1);
  TPMT_SENSITIVE sens;
  object_sensitive(*o, sens);
  sens.authValue = new_auth;
  TPM2B_PRIVATE out_private;
  TPM_RC rc = sensitive_wrap(*parent, o->name, sens, tpm_random_source(c.tpm), out_private);
  crypto::zeroize(sens);
  crypto::zeroize(new_auth);
  if (rc != TPM_RC_SUCCESS) return rc;
  c.put(out_private);  // the loaded object keeps its old authValue (Part 3 §12.7)
  return TPM_RC_SUCCESS;
}

}  // namespace utpm::tpm

namespace utpm::tpm {

// TPM2B_SENSITIVE: optional here (size 0 = load the public area alone).
TPM_RC TPM2_LoadExternal(Command& c) {
  uint16_t private_size = 0;
  Sized<TPMT_SENSITIVE> in_private;
  crypto::ZeroizeOnExit wipe_private{in_private};
  TPM2B_PUBLIC in_public;
  TPMI_RH_HIERARCHY_NULL hierarchy;
  // The private area is optional, which the generic sized parser does not allow: peek.
  Reader peek = c.params;
  if (!peek.u16(private_size)) return rc_param(TPM_RC_INSUFFICIENT, 1);
  TPM_RC rc;
  if (private_size == 0) {
    c.params.u16(private_size);
    rc = c.parse_numbered(2, in_public, hierarchy);
  } else {
    rc = c.parse(in_private, in_public, hierarchy);
  }
  if (rc != TPM_RC_SUCCESS) return rc;
  const TPMA_OBJECT& a = in_public.t.objectAttributes;
  if (!hierarchy_enabled(c.st, hierarchy)) return rc_param(TPM_RC_HIERARCHY, 3);
  if (private_size != 0) {
    // An outside private key lives only in the null hierarchy and cannot claim TPM residency
    // nor be a restricted key (a parent or an attestation key whose secret someone knows).
    if (hierarchy != TPM_RH_NULL) return rc_param(TPM_RC_HIERARCHY, 3);
    if (a.has(TPMA_OBJECT_fixedTPM) || a.has(TPMA_OBJECT_fixedParent) || a.has(TPMA_OBJECT_restricted))
      return rc_param(TPM_RC_ATTRIBUTES, 2);
  }
  // nameAlg may be TPM_ALG_NULL here (inPublic is TPM2B_PUBLIC+): the object then has no Name.
  // A full object with a nameAlg meets the rules of a created one; a public-only object or one
  // without a nameAlg only needs schemes that fit its attributes (docs/conformance.md D6).
  const bool full = private_size != 0 && in_public.t.nameAlg != TPM_ALG_NULL;
  if (full && !auth_policy_fits(in_public.t)) return rc_param(TPM_RC_SIZE, 2);
  if (TPM_RC type_rc = public_type_check(in_public.t, full)) return rc_param(type_rc, 2);
  ObjectSlot* obj = object_allocate(c.st);
  if (!obj) return TPM_RC_OBJECT_MEMORY;
  if (private_size != 0) {
    rc = object_from_parts(in_public.t, in_private.t, *obj);
    crypto::zeroize(in_private);
    if (rc != TPM_RC_SUCCESS) {
      object_flush(*obj);
      return rc_param(rc, 1);
    }
  } else {
    rc = object_public_only(in_public.t, *obj);
    if (rc != TPM_RC_SUCCESS) {
      object_flush(*obj);
      return rc_param(rc, 2);
    }
  }
  obj->hierarchy = hierarchy;
  uint8_t h[4];
  handle_name(hierarchy, h);
  qualified_name(obj->pub.nameAlg, {h, 4}, obj->name, obj->qualified_name);
  c.response_handle = object_handle(c.st, obj);
  c.put(obj->name);
  return TPM_RC_SUCCESS;
}

}  // namespace utpm::tpm

namespace utpm::tpm {

namespace {

// CreateLoaded under a hierarchy (a primary object: derived from the seed, no private blob) or
// a storage parent (Create and Load in one).
[[gnu::noinline]] TPM_RC create_loaded(Command& c) {
  TPM2B_SENSITIVE_CREATE in_sensitive;
  crypto::ZeroizeOnExit wipe_sensitive{in_sensitive};  // also on early error returns
  TPM2B_PUBLIC in_public;  // TPM2B_TEMPLATE holding a TPMT_PUBLIC
  if (TPM_RC rc = c.parse(in_sensitive, in_public)) return rc;
  const TPM_HANDLE parent_handle = c.handles[0];
  ObjectSlot* parent = c.entities[0].object;  // nullptr for a hierarchy
  if (parent && !is_storage_parent(*parent)) return rc_handle(TPM_RC_TYPE, 1);
  if (TPM_RC rc = creation_checks(in_public.t, in_sensitive.t, parent)) return rc;
  ObjectSlot* obj = nullptr;
  TPM2B_PRIVATE out_private;
  TPM_RC rc;
  if (!parent) {
    rc = derive_primary(c, parent_handle, in_sensitive.t, in_public.t, obj);
  } else {
    rc = create_child(c, *parent, in_public.t, in_sensitive.t, obj, out_private);
  }
  crypto::zeroize(in_sensitive);
  if (rc != TPM_RC_SUCCESS) return rc;
  c.response_handle = object_handle(c.st, obj);
  c.put(out_private);
  c.put(Sized<TPMT_PUBLIC>{0, obj->pub});
  c.put(obj->name);
  return TPM_RC_SUCCESS;
}

// CreateLoaded under a derivation parent (Part 1 "Derived objects", Part 3 §12.9): inPublic is a
// TPMT_TEMPLATE whose unique is a TPMS_DERIVE; inSensitive.data, when given, is a TPMS_DERIVE
// too, whose label/context stand in for empty ones of the template. The object's secrets come
// from the parent's KDFa stream, so the same parent, template, label and context always give the
// same object; nothing is wrapped (outPrivate is empty: the object is derived again, not loaded).
// Codes (docs/engine.md "Derived objects", conformance A11): RSA TPM_RC_TYPE, sensitiveDataOrigin SET
// TPM_RC_ATTRIBUTES (both inPublic), a bad TPMS_DERIVE in inSensitive its unmarshal code there.
[[gnu::noinline]] TPM_RC create_loaded_derived(Command& c, const ObjectSlot& parent) {
  TPM2B_SENSITIVE_CREATE in_sensitive;
  crypto::ZeroizeOnExit wipe_sensitive{in_sensitive};
  Sized<TPMT_TEMPLATE_DERIVE> in_template;
  if (TPM_RC rc = c.parse(in_sensitive, in_template)) return rc;
  const TPMT_TEMPLATE_DERIVE& t = in_template.t;
  TPMT_PUBLIC tmpl;  // unique stays empty: object_derive fills it
  tmpl.type = t.type;
  tmpl.nameAlg = t.nameAlg;
  tmpl.objectAttributes = t.objectAttributes;
  tmpl.authPolicy = t.authPolicy;
  tmpl.parameters = t.parameters;
  if (auth_trimmed(&in_sensitive.t.userAuth).size() > digest_size(tmpl.nameAlg)) return rc_param(TPM_RC_SIZE, 1);
  if (tmpl.type == TPM_ALG_RSA) return rc_param(TPM_RC_TYPE, 2);  // RSA keys are not derived
  if (tmpl.objectAttributes.has(TPMA_OBJECT_sensitiveDataOrigin)) return rc_param(TPM_RC_ATTRIBUTES, 2);
  if (TPM_RC rc = public_check(tmpl, &parent)) return rc_param(rc, 2);
  TPMS_DERIVE lc = t.derive;
  if (in_sensitive.t.data.size != 0) {
    Reader r(in_sensitive.t.data.view());
    TPMS_DERIVE given;
    if (TPM_RC rc = unmarshal(r, given)) return rc_param(rc, 1);
    if (lc.label.size == 0) lc.label = given.label;
    if (lc.context.size == 0) lc.context = given.context;
  }
  ObjectSlot* obj = object_allocate(c.st);
  if (!obj) return TPM_RC_OBJECT_MEMORY;
  TPM_RC rc = object_derive(parent, tmpl, lc, in_sensitive.t, *obj);
  if (rc == TPM_RC_SUCCESS && !public_name(obj->pub, obj->name)) rc = TPM_RC_FAILURE;
  crypto::zeroize(in_sensitive);
  if (rc != TPM_RC_SUCCESS) {
    object_flush(*obj);
    return rc;
  }
  obj->hierarchy = parent.hierarchy;
  qualified_name(obj->pub.nameAlg, parent.qualified_name.view(), obj->name, obj->qualified_name);
  c.response_handle = object_handle(c.st, obj);
  c.put(TPM2B_PRIVATE{});  // empty
  c.put(Sized<TPMT_PUBLIC>{0, obj->pub});
  c.put(obj->name);
  return TPM_RC_SUCCESS;
}

}  // namespace

// The parent decides the form of inPublic, so it is looked at before the parameters.
TPM_RC TPM2_CreateLoaded(Command& c) {
  const ObjectSlot* parent = c.entities[0].object;
  if (parent && is_derivation_parent(*parent)) return create_loaded_derived(c, *parent);
  return create_loaded(c);
}

namespace {

// The key that protects a credential (Part 3 §12.5/§12.6): an asymmetric restricted decryption
// key, TPM_RC_TYPE on its handle otherwise.
bool credential_key(const ObjectSlot* key) {
  if (!key || key->kind != SlotKind::object) return false;
  const TPMA_OBJECT& a = key->pub.objectAttributes;
  return (key->pub.type == TPM_ALG_RSA || key->pub.type == TPM_ALG_ECC) && a.has(TPMA_OBJECT_decrypt) &&
         a.has(TPMA_OBJECT_restricted);
}

}  // namespace

TPM_RC TPM2_MakeCredential(Command& c) {
  TPM2B_DIGEST credential;
  TPM2B_NAME object_name;
  if (TPM_RC rc = c.parse(credential, object_name)) return rc;
  const ObjectSlot* key = c.entities[0].object;
  if (!credential_key(key)) return rc_handle(TPM_RC_TYPE, 1);
  if (credential.size > digest_size(key->pub.nameAlg)) return rc_param(TPM_RC_SIZE, 1);
  TPM2B_DIGEST seed;
  TPM2B_ENCRYPTED_SECRET secret;
  TPM2B_ID_OBJECT blob;
  TPM_RC rc = secret_seed_make(*key, kLabelIdentity, tpm_random_source(c.tpm), seed, secret);
  if (rc == TPM_RC_SUCCESS) rc = credential_wrap(*key, seed, object_name, credential, blob);
  crypto::zeroize(seed);
  if (rc != TPM_RC_SUCCESS) return rc;
  c.put(blob);
  c.put(secret);
  return TPM_RC_SUCCESS;
}

TPM_RC TPM2_ActivateCredential(Command& c) {
  TPM2B_ID_OBJECT credential_blob;
  TPM2B_ENCRYPTED_SECRET secret;
  if (TPM_RC rc = c.parse(credential_blob, secret)) return rc;
  const ObjectSlot* key = c.entities[1].object;
  if (!credential_key(key)) return rc_handle(TPM_RC_TYPE, 2);
  if (key->public_only) return rc_handle(TPM_RC_KEY, 2);
  TPM2B_DIGEST seed;
  if (TPM_RC rc = secret_seed_recover(*key, kLabelIdentity, tpm_random_source(c.tpm), secret, seed)) return rc_param(rc, 2);
  TPM2B_DIGEST cert_info;
  TPM_RC rc = credential_unwrap(*key, seed, c.entities[0].name, credential_blob, cert_info);
  crypto::zeroize(seed);
  if (rc != TPM_RC_SUCCESS) return rc_param(rc, 1);
  c.put(cert_info);
  crypto::zeroize(cert_info);
  return TPM_RC_SUCCESS;
}

}  // namespace utpm::tpm
