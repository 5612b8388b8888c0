#!/usr/bin/python3
"""End to end: TPM2_Rewrap through tpm2-pytss (ESAPI) against utpmd.

A P-256 key made by python-cryptography is wrapped for a TPM storage key A by pytss's own
duplication code (tpm2_pytss.utils.wrap: outer wrapper, seed under A's RSA-OAEP). Rewrap moves the
blob from A to another parent:
- to a public-only RSA parent B whose private key this test knows: pytss's utils.unwrap, not the
  TPM, recovers the sensitive area and it must be the key made here;
- to a TPM storage key C: Import and Load under C, and the key's ECDSA signature verifies with the
  public key made here.
Wrong inputs get the RCs of Part 3 §13.2 (a Name that does not match: TPM_RC_INTEGRITY on
inDuplicate; oldParent not a storage key: TPM_RC_TYPE).

Run: UTPMD=build/host-debug/src/host/utpmd /usr/bin/python3 tests/e2e/pytss_rewrap_test.py
"""
import hashlib
import os
import unittest

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, encode_dss_signature
from tpm2_pytss import (ESYS_TR, TPM2_ALG, TPM2B_DATA, TPM2B_PUBLIC, TPM2B_SENSITIVE, TPMA_OBJECT, TPMT_SIG_SCHEME,
                        TPMT_SYM_DEF_OBJECT, TPMT_TK_HASHCHECK, TPM2_ST, TPM2_RH)
from tpm2_pytss.TSS2_Exception import TSS2_Exception
from tpm2_pytss.utils import unwrap, wrap

from utpmd_harness import esapi_on, serve

PARENT_ATTRS = (TPMA_OBJECT.FIXEDTPM | TPMA_OBJECT.FIXEDPARENT | TPMA_OBJECT.SENSITIVEDATAORIGIN |
                TPMA_OBJECT.USERWITHAUTH | TPMA_OBJECT.RESTRICTED | TPMA_OBJECT.DECRYPT | TPMA_OBJECT.NODA)
RC_TYPE_H1, RC_INTEGRITY_P1 = 0x18A, 0x19F | 0x040


def aes128cfb():
    sym = TPMT_SYM_DEF_OBJECT(algorithm=TPM2_ALG.AES)
    sym.keyBits.aes = 128
    sym.mode.aes = TPM2_ALG.CFB
    return sym


def pem_private(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


class PytssRewrap(unittest.TestCase):
    def setUp(self):
        self.server = serve(self, os.environ.get("UTPM_E2E_MSSIM_SHIM"))
        self.esapi = esapi_on(self, self.server)
        # A: the TPM storage key the blob is first made for.
        self.a, self.a_public, _, _, _ = self.esapi.create_primary(
            None, TPM2B_PUBLIC.parse("rsa2048:aes128cfb", objectAttributes=PARENT_ATTRS))
        # K: a duplicable signing key made here, wrapped for A by pytss (outer wrapper only).
        # Octet strings of full length (pytss' from_pem drops leading zero octets, which a
        # coordinate of the wrong length would make TPM_RC_KEY, 1 key in ~85).
        while True:
            self.k = ec.generate_private_key(ec.SECP256R1())
            n = self.k.public_key().public_numbers()
            if min(n.x, n.y, self.k.private_numbers().private_value) >= 1 << 248:
                break
        attrs = TPMA_OBJECT.USERWITHAUTH | TPMA_OBJECT.SIGN_ENCRYPT | TPMA_OBJECT.NODA
        self.k_public = TPM2B_PUBLIC.from_pem(pem_private(self.k), objectAttributes=attrs)
        self.k_sensitive = TPM2B_SENSITIVE.from_pem(pem_private(self.k))
        _, self.dup, self.seed = wrap(self.a_public.publicArea, self.k_public, self.k_sensitive)
        self.k_name = self.k_public.get_name()

    def test_rewrap_to_an_outside_parent_unwrapped_by_pytss(self):
        b = rsa.generate_private_key(65537, 2048)
        b_public = TPM2B_PUBLIC.from_pem(
            pem_private(b), objectAttributes=TPMA_OBJECT.RESTRICTED | TPMA_OBJECT.DECRYPT | TPMA_OBJECT.USERWITHAUTH,
            symmetric=aes128cfb())
        b_handle = self.esapi.load_external(b_public, hierarchy=ESYS_TR.OWNER)
        out_dup, out_seed = self.esapi.rewrap(self.a, b_handle, self.dup, self.k_name, self.seed)
        self.assertNotEqual(bytes(out_seed.marshal()), bytes(self.seed.marshal()), "a new seed for the new parent")
        b_sensitive = TPM2B_SENSITIVE.from_pem(pem_private(b)).sensitiveArea
        got = unwrap(b_public.publicArea, b_sensitive, self.k_public, out_dup, out_seed)
        want = self.k.private_numbers().private_value.to_bytes(32, "big")
        self.assertEqual(bytes(got.sensitiveArea.sensitive.ecc), want)

    def test_rewrap_to_a_tpm_parent_then_import_and_sign(self):
        c, _, _, _, _ = self.esapi.create_primary(
            None, TPM2B_PUBLIC.parse("rsa2048:aes128cfb", objectAttributes=PARENT_ATTRS),
            primary_handle=ESYS_TR.ENDORSEMENT)
        out_dup, out_seed = self.esapi.rewrap(self.a, c, self.dup, self.k_name, self.seed)
        private = self.esapi.import_(c, TPM2B_DATA(), self.k_public, out_dup, out_seed, TPMT_SYM_DEF_OBJECT(
            algorithm=TPM2_ALG.NULL))
        key = self.esapi.load(c, private, self.k_public)
        digest = hashlib.sha256(b"rewrapped").digest()
        scheme = TPMT_SIG_SCHEME(scheme=TPM2_ALG.ECDSA)
        scheme.details.any.hashAlg = TPM2_ALG.SHA256
        ticket = TPMT_TK_HASHCHECK(tag=TPM2_ST.HASHCHECK, hierarchy=TPM2_RH.NULL)
        sig = self.esapi.sign(key, digest, scheme, ticket)
        r = int.from_bytes(bytes(sig.signature.ecdsa.signatureR), "big")
        s = int.from_bytes(bytes(sig.signature.ecdsa.signatureS), "big")
        self.k.public_key().verify(encode_dss_signature(r, s), digest, ec.ECDSA(Prehashed(hashes.SHA256())))

    def test_rewrap_refuses_a_wrong_name_and_a_parent_that_is_no_storage_key(self):
        c, _, _, _, _ = self.esapi.create_primary(
            None, TPM2B_PUBLIC.parse("rsa2048:aes128cfb", objectAttributes=PARENT_ATTRS))
        wrong = bytes(self.k_name)[:-1] + bytes([bytes(self.k_name)[-1] ^ 1])
        with self.assertRaises(TSS2_Exception) as e:
            self.esapi.rewrap(self.a, c, self.dup, wrong, self.seed)
        self.assertEqual(e.exception.rc & 0xFFF, RC_INTEGRITY_P1)
        signer, _, _, _, _ = self.esapi.create_primary(None, TPM2B_PUBLIC.parse(
            "ecc256:ecdsa", objectAttributes=TPMA_OBJECT.FIXEDTPM | TPMA_OBJECT.FIXEDPARENT |
            TPMA_OBJECT.SENSITIVEDATAORIGIN | TPMA_OBJECT.USERWITHAUTH | TPMA_OBJECT.SIGN_ENCRYPT))
        with self.assertRaises(TSS2_Exception) as e:
            self.esapi.rewrap(signer, c, self.dup, self.k_name, self.seed)
        self.assertEqual(e.exception.rc & 0xFFF, RC_TYPE_H1)


if __name__ == "__main__":
    unittest.main()
