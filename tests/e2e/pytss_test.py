#!/usr/bin/python3
"""End to end: tpm2-pytss (Debian python3-tpm2-pytss, ESAPI) against utpmd through the mssim
TCTI. ESAPI checks every Name the TPM returns against the public area, every response HMAC
and decrypts encrypted response parameters itself, so these flows fail if our derivations
(names, session keys, HMACs, parameter encryption) differ from the TSS's.

Run: UTPMD=build/host-release/src/host/utpmd /usr/bin/python3 tests/e2e/pytss_test.py
"""
import os
import unittest

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from tpm2_pytss import (ESYS_TR, TPM2_ALG, TPM2_ECC, TPM2_RC, TPM2_RH, TPM2_SE, TPM2_ST, TPM2B_DIGEST,
                        TPM2B_PUBLIC, TPM2B_SENSITIVE_CREATE, TPMA_OBJECT, TPMA_SESSION, TPMS_SENSITIVE_CREATE,
                        TPMT_SIG_SCHEME, TPMT_SYM_DEF, TPMT_TK_HASHCHECK, TSS2_Exception)

from utpmd_harness import esapi_on, serve


def aes128cfb():
    sym = TPMT_SYM_DEF(algorithm=TPM2_ALG.AES)
    sym.keyBits.aes = 128
    sym.mode.aes = TPM2_ALG.CFB
    return sym


def null_ticket():
    return TPMT_TK_HASHCHECK(tag=TPM2_ST.HASHCHECK, hierarchy=TPM2_RH.NULL)  # a TPM handle, not an ESYS_TR


def sealed(data, auth=b""):
    return TPM2B_SENSITIVE_CREATE(TPMS_SENSITIVE_CREATE(userAuth=auth, data=data))


# A sealed-data object: neither sign nor decrypt, data supplied by the caller.
SEAL_ATTRS = TPMA_OBJECT.USERWITHAUTH | TPMA_OBJECT.FIXEDTPM | TPMA_OBJECT.FIXEDPARENT


def seal_template():
    return TPM2B_PUBLIC.parse("keyedhash", objectAttributes=SEAL_ATTRS)


class Pytss(unittest.TestCase):
    def setUp(self):
        self.server = serve(self)
        self.esapi = esapi_on(self, self.server)

    def primary(self, template="rsa2048"):
        handle, public, _, _, _ = self.esapi.create_primary(None, template, primary_handle=ESYS_TR.OWNER)
        return handle, public

    def test_encrypted_salted_session_seals_and_unseals(self):
        parent, _ = self.primary("rsa2048")
        session = self.esapi.start_auth_session(parent, ESYS_TR.NONE, TPM2_SE.HMAC, aes128cfb(), TPM2_ALG.SHA256)
        self.esapi.trsess_set_attributes(
            session, TPMA_SESSION.CONTINUESESSION | TPMA_SESSION.DECRYPT | TPMA_SESSION.ENCRYPT)
        secret = os.urandom(40)
        # Create: inSensitive travels encrypted; ESAPI also verifies the response HMAC.
        priv, pub, _, _, _ = self.esapi.create(parent, sealed(secret, b"pw"), seal_template(), session1=session)
        obj = self.esapi.load(parent, priv, pub, session1=session)
        self.esapi.tr_set_auth(obj, b"pw")
        # Unseal: the data comes back encrypted and ESAPI decrypts it.
        self.assertEqual(bytes(self.esapi.unseal(obj, session1=session)), secret)
        self.esapi.flush_context(session)

    def test_ecc_salted_bound_session(self):
        parent, _ = self.primary("ecc256")
        self.esapi.tr_set_auth(ESYS_TR.OWNER, b"")
        session = self.esapi.start_auth_session(parent, ESYS_TR.OWNER, TPM2_SE.HMAC, aes128cfb(), TPM2_ALG.SHA256)
        self.esapi.trsess_set_attributes(session, TPMA_SESSION.CONTINUESESSION | TPMA_SESSION.ENCRYPT)
        random = self.esapi.get_random(16, session1=session)
        self.assertEqual(len(random), 16)
        # The bound session authorizes its bind entity.
        handle, _, _, _, _ = self.esapi.create_primary(None, "ecc256", primary_handle=ESYS_TR.OWNER,
                                                       session1=session)
        self.esapi.flush_context(handle)
        self.esapi.flush_context(session)

    def test_ecdsa_signature_verifies_outside(self):
        parent, _ = self.primary("rsa2048")
        priv, pub, _, _, _ = self.esapi.create(parent, None, TPM2B_PUBLIC.parse(
            "ecc256:ecdsa-sha256", objectAttributes=TPMA_OBJECT.SIGN_ENCRYPT | TPMA_OBJECT.USERWITHAUTH
            | TPMA_OBJECT.FIXEDTPM | TPMA_OBJECT.FIXEDPARENT | TPMA_OBJECT.SENSITIVEDATAORIGIN))
        key = self.esapi.load(parent, priv, pub)
        message = b"signed by utpm through ESAPI"
        digest_obj = hashes.Hash(hashes.SHA256())
        digest_obj.update(message)
        digest = digest_obj.finalize()
        scheme = TPMT_SIG_SCHEME(scheme=TPM2_ALG.NULL)
        sig = self.esapi.sign(key, TPM2B_DIGEST(digest), scheme, null_ticket())
        r = int.from_bytes(bytes(sig.signature.ecdsa.signatureR), "big")
        s = int.from_bytes(bytes(sig.signature.ecdsa.signatureS), "big")
        from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
        pem = load_pem_public_key(pub.to_pem())
        pem.verify(encode_dss_signature(r, s), message, ec.ECDSA(hashes.SHA256()))

    def test_rsa_oaep_with_pytss(self):
        parent, _ = self.primary("rsa2048")
        priv, pub, _, _, _ = self.esapi.create(parent, None, TPM2B_PUBLIC.parse(
            "rsa2048:oaep-sha256:null", objectAttributes=TPMA_OBJECT.DECRYPT | TPMA_OBJECT.USERWITHAUTH
            | TPMA_OBJECT.FIXEDTPM | TPMA_OBJECT.FIXEDPARENT | TPMA_OBJECT.SENSITIVEDATAORIGIN))
        key = self.esapi.load(parent, priv, pub)
        pem = load_pem_public_key(pub.to_pem())
        msg = os.urandom(32)
        ct = pem.encrypt(msg, padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None))
        from tpm2_pytss import TPM2B_PUBLIC_KEY_RSA, TPMT_RSA_DECRYPT
        out = self.esapi.rsa_decrypt(key, TPM2B_PUBLIC_KEY_RSA(ct), TPMT_RSA_DECRYPT(scheme=TPM2_ALG.NULL), b"")
        self.assertEqual(bytes(out), msg)

    def test_create_loaded_under_a_hierarchy_and_a_parent(self):
        # Under the owner hierarchy CreateLoaded makes the same primary as CreatePrimary.
        from tpm2_pytss import TPM2B_TEMPLATE
        tmpl = TPM2B_PUBLIC.parse("ecc256", objectAttributes=TPMA_OBJECT.RESTRICTED | TPMA_OBJECT.DECRYPT
                                  | TPMA_OBJECT.USERWITHAUTH | TPMA_OBJECT.FIXEDTPM | TPMA_OBJECT.FIXEDPARENT
                                  | TPMA_OBJECT.SENSITIVEDATAORIGIN)
        primary, public = self.primary(tmpl)
        loaded, _, pub2 = self.esapi.create_loaded(ESYS_TR.OWNER, None, TPM2B_TEMPLATE(tmpl.marshal()[2:]))
        self.assertEqual(bytes(pub2.publicArea.unique.ecc.x), bytes(public.publicArea.unique.ecc.x))
        self.esapi.flush_context(loaded)
        child_tmpl = TPM2B_PUBLIC.parse("ecc256:ecdsa-sha256", objectAttributes=TPMA_OBJECT.SIGN_ENCRYPT
                                        | TPMA_OBJECT.USERWITHAUTH | TPMA_OBJECT.FIXEDTPM | TPMA_OBJECT.FIXEDPARENT
                                        | TPMA_OBJECT.SENSITIVEDATAORIGIN)
        child, priv, pub = self.esapi.create_loaded(primary, None, TPM2B_TEMPLATE(child_tmpl.marshal()[2:]))
        self.assertGreater(len(bytes(priv)), 0)
        self.assertEqual(bytes(self.esapi.tr_get_name(child)), bytes(pub.get_name()))

    def test_context_save_load_round_trip(self):
        parent, public = self.primary("ecc256")
        name = bytes(self.esapi.tr_get_name(parent))
        saved = self.esapi.context_save(parent)
        self.esapi.flush_context(parent)
        again = self.esapi.context_load(saved)
        self.assertEqual(bytes(self.esapi.tr_get_name(again)), name)

    def test_wrong_auth_is_reported(self):
        parent, _ = self.primary("rsa2048")
        priv, pub, _, _, _ = self.esapi.create(parent, sealed(b"x", b"right"), seal_template())
        obj = self.esapi.load(parent, priv, pub)
        self.esapi.tr_set_auth(obj, b"wrong")
        session = self.esapi.start_auth_session(ESYS_TR.NONE, ESYS_TR.NONE, TPM2_SE.HMAC, TPMT_SYM_DEF(
            algorithm=TPM2_ALG.NULL), TPM2_ALG.SHA256)
        with self.assertRaises(TSS2_Exception) as cm:
            self.esapi.unseal(obj, session1=session)
        self.assertEqual(cm.exception.rc & 0xBF, TPM2_RC.AUTH_FAIL & 0xBF)


    def test_every_response_hmac_of_an_hmac_session_verifies_in_esapi(self):
        """ESAPI recomputes rpHash and the response HMAC of every command run under an HMAC session
        (and decrypts what the TPM encrypted): a mismatch anywhere raises RSP_AUTH_FAILED."""
        from tpm2_pytss import (TPM2B_AUTH, TPM2B_ECC_POINT, TPM2B_IV, TPM2B_MAX_BUFFER, TPM2B_PUBLIC_KEY_RSA,
                                TPMT_RSA_DECRYPT, TPM2B_TEMPLATE)
        parent, _ = self.primary("ecc256")
        s = self.esapi.start_auth_session(ESYS_TR.NONE, ESYS_TR.NONE, TPM2_SE.HMAC, aes128cfb(), TPM2_ALG.SHA256)
        self.esapi.trsess_set_attributes(s, TPMA_SESSION.CONTINUESESSION | TPMA_SESSION.ENCRYPT)
        attrs = (TPMA_OBJECT.USERWITHAUTH | TPMA_OBJECT.FIXEDTPM | TPMA_OBJECT.FIXEDPARENT
                 | TPMA_OBJECT.SENSITIVEDATAORIGIN)

        def load(template, auth=b"pw"):
            priv, pub, _, _, _ = self.esapi.create(parent, TPM2B_SENSITIVE_CREATE(TPMS_SENSITIVE_CREATE(
                userAuth=auth)), TPM2B_PUBLIC.parse(template, objectAttributes=attrs | extra[template]), session1=s)
            h = self.esapi.load(parent, priv, pub, session1=s)
            self.esapi.tr_set_auth(h, auth)
            return h, pub

        extra = {"hmac": TPMA_OBJECT.SIGN_ENCRYPT, "aes128cfb": TPMA_OBJECT.DECRYPT | TPMA_OBJECT.SIGN_ENCRYPT,
                 "ecc256:ecdsa-sha256": TPMA_OBJECT.SIGN_ENCRYPT, "ecc256:ecdh-sha256": TPMA_OBJECT.DECRYPT}
        # keyed hash: HMAC, and an HMAC sequence completed (the sequence is flushed by it)
        k, _ = load("hmac")
        self.assertEqual(len(self.esapi.hmac(k, b"data", TPM2_ALG.SHA256, session1=s)), 32)
        seq = self.esapi.hmac_start(k, b"seq-auth", TPM2_ALG.SHA256, session1=s)
        self.esapi.tr_set_auth(seq, b"seq-auth")
        self.esapi.sequence_update(seq, b"part 1", session1=s)
        mac, _ = self.esapi.sequence_complete(seq, b"part 2", session1=s)
        self.assertEqual(len(mac), 32)
        self.esapi.flush_context(k)
        # hash and event sequences with an authValue
        seq = self.esapi.hash_sequence_start(b"h-auth", TPM2_ALG.SHA256)
        self.esapi.tr_set_auth(seq, b"h-auth")
        self.esapi.sequence_update(seq, b"abc", session1=s)
        d, _ = self.esapi.sequence_complete(seq, b"def", session1=s)
        import hashlib
        self.assertEqual(bytes(d), hashlib.sha256(b"abcdef").digest())
        ev = self.esapi.hash_sequence_start(b"e-auth", TPM2_ALG.NULL)
        self.esapi.tr_set_auth(ev, b"e-auth")
        self.esapi.event_sequence_complete(ESYS_TR.PCR16, ev, b"event", session2=s)
        # symmetric: EncryptDecrypt2 both ways
        k, _ = load("aes128cfb")
        iv = TPM2B_IV(bytes(16))
        ct, _ = self.esapi.encrypt_decrypt_2(k, False, TPM2_ALG.CFB, iv, TPM2B_MAX_BUFFER(b"x" * 100), session1=s)
        pt, _ = self.esapi.encrypt_decrypt_2(k, True, TPM2_ALG.CFB, iv, ct, session1=s)
        self.assertEqual(bytes(pt), b"x" * 100)
        self.esapi.flush_context(k)
        # ECC: sign, ECDH keygen/zgen, readpublic, objectchangeauth
        k, _ = load("ecc256:ecdsa-sha256")
        self.esapi.sign(k, TPM2B_DIGEST(bytes(32)), TPMT_SIG_SCHEME(scheme=TPM2_ALG.NULL), null_ticket(), session1=s)
        self.esapi.read_public(k, session1=s)
        self.esapi.object_change_auth(k, parent, TPM2B_AUTH(b"new"), session1=s)
        self.esapi.flush_context(k)
        k, _ = load("ecc256:ecdh-sha256")
        z, q = self.esapi.ecdh_key_gen(k, session1=s)
        z2 = self.esapi.ecdh_zgen(k, q, session1=s)
        self.assertEqual(bytes(z.point.x), bytes(z2.point.x))
        self.esapi.flush_context(k)
        # sealed data, random, hash, create-loaded
        priv, pub, _, _, _ = self.esapi.create(parent, sealed(b"sealed!", b"pw"), seal_template(), session1=s)
        obj = self.esapi.load(parent, priv, pub, session1=s)
        self.esapi.tr_set_auth(obj, b"pw")
        self.assertEqual(bytes(self.esapi.unseal(obj, session1=s)), b"sealed!")
        self.esapi.flush_context(obj)
        self.assertEqual(len(self.esapi.get_random(32, session1=s)), 32)
        self.esapi.hash(b"hash me", TPM2_ALG.SHA256, ESYS_TR.OWNER, session1=s)
        # hierarchy authValue changed under the session: the response HMAC uses the new value
        self.esapi.hierarchy_change_auth(ESYS_TR.OWNER, TPM2B_AUTH(b"owner-new"), session1=s)
        self.esapi.tr_set_auth(ESYS_TR.OWNER, b"owner-new")
        self.esapi.hierarchy_change_auth(ESYS_TR.OWNER, TPM2B_AUTH(b""), session1=s)
        self.esapi.flush_context(s)


if __name__ == "__main__":
    unittest.main()
