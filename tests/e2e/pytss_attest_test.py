#!/usr/bin/python3
"""End to end: credential activation and a Quote through tpm2-pytss (ESAPI) against utpmd.

The EK comes from tpm2_pytss.utils.create_ek_template (TCG EK Credential Profile), the
credential from tpm2_pytss.utils.make_credential (computed by pytss, not by the TPM), and the
Quote is checked with pytss's own TPMS_ATTEST decoding and TPMT_SIGNATURE.verify_signature, its
PCR digest recomputed from ESAPI's PCR_Read. ESAPI also checks every Name and response HMAC.

Run: UTPMD=build/host-debug/src/host/utpmd /usr/bin/python3 tests/e2e/pytss_attest_test.py
"""
import hashlib
import os
import unittest

from tpm2_pytss import (ESYS_TR, TPM2_ALG, TPM2_RH, TPM2_SE, TPM2_ST, TPM2B_PUBLIC, TPMA_OBJECT, TPMS_ATTEST,
                        TPMT_SYM_DEF, TPM2_GENERATED)
from tpm2_pytss.TSS2_Exception import TSS2_Exception
from tpm2_pytss.utils import NoSuchIndex, create_ek_template, make_credential

from utpmd_harness import esapi_on, serve

AK_ATTRS = (TPMA_OBJECT.FIXEDTPM | TPMA_OBJECT.FIXEDPARENT | TPMA_OBJECT.SENSITIVEDATAORIGIN |
            TPMA_OBJECT.USERWITHAUTH | TPMA_OBJECT.RESTRICTED | TPMA_OBJECT.SIGN_ENCRYPT)


class PytssAttest(unittest.TestCase):
    def setUp(self):
        self.server = serve(self, os.environ.get("UTPM_E2E_MSSIM_SHIM"))
        self.esapi = esapi_on(self, self.server)

    def nv_read(self, index):
        raise NoSuchIndex(index)  # no EK certificate or template provisioned

    def endorsement_policy_session(self):
        sym = TPMT_SYM_DEF(algorithm=TPM2_ALG.NULL)
        s = self.esapi.start_auth_session(ESYS_TR.NONE, ESYS_TR.NONE, TPM2_SE.POLICY, sym, TPM2_ALG.SHA256)
        self.esapi.policy_secret(ESYS_TR.ENDORSEMENT, s, b"", b"", b"", 0)
        return s

    def credential_activation(self, ek_type, ak_template):
        _, template = create_ek_template(ek_type, self.nv_read)
        ek, ek_public, _, _, _ = self.esapi.create_primary(None, template, primary_handle=ESYS_TR.ENDORSEMENT)
        ak, ak_public, _, _, _ = self.esapi.create_primary(
            None, TPM2B_PUBLIC.parse(ak_template, objectAttributes=AK_ATTRS), primary_handle=ESYS_TR.ENDORSEMENT)
        ak_name = self.esapi.tr_get_name(ak)
        self.assertEqual(bytes(ak_name), bytes(ak_public.get_name()), "the Name of the AK, computed by pytss")
        secret = os.urandom(32)
        blob, seed = make_credential(ek_public, secret, ak_name)
        s = self.endorsement_policy_session()
        got = self.esapi.activate_credential(ak, ek, blob, seed, session1=ESYS_TR.PASSWORD, session2=s)
        self.assertEqual(bytes(got), secret)
        # Bound to the AK: the same blob for another Name does not activate.
        other, _, _, _, _ = self.esapi.create_primary(
            None, TPM2B_PUBLIC.parse("ecc256:ecdsa-sha256:null", objectAttributes=AK_ATTRS),
            primary_handle=ESYS_TR.OWNER)
        s = self.endorsement_policy_session()
        with self.assertRaises(TSS2_Exception) as e:
            self.esapi.activate_credential(other, ek, blob, seed, session1=ESYS_TR.PASSWORD, session2=s)
        self.assertEqual(e.exception.rc & 0xBF, 0x9F, "TPM_RC_INTEGRITY")
        self.esapi.flush_context(s)
        self.esapi.flush_context(other)
        self.esapi.flush_context(ek)
        return ak, ak_public

    def test_rsa_ek_activation_and_quote(self):
        ak, ak_public = self.credential_activation("EK-RSA2048", "rsa2048:rsassa-sha256:null")
        self.quote(ak, ak_public)

    def test_ecc_ek_activation_and_quote(self):
        ak, ak_public = self.credential_activation("EK-ECC256", "ecc256:ecdsa-sha256:null")
        self.quote(ak, ak_public)

    def quote(self, ak, ak_public):
        nonce = os.urandom(20)
        self.esapi.pcr_extend(ESYS_TR.PCR16, self.digests(b"pytss"))
        quoted, signature = self.esapi.quote(ak, "sha256:0,16+sha1:16", nonce)
        signature.verify_signature(ak_public, bytes(quoted))  # raises if it does not verify
        attest, _ = TPMS_ATTEST.unmarshal(bytes(quoted))
        self.assertEqual(attest.magic, TPM2_GENERATED.VALUE)
        self.assertEqual(attest.type, TPM2_ST.ATTEST_QUOTE)
        self.assertEqual(bytes(attest.extraData), nonce)
        _, _, values = self.esapi.pcr_read("sha256:0,16+sha1:16")
        composite = b"".join(bytes(d) for d in values)
        self.assertEqual(bytes(attest.attested.quote.pcrDigest), hashlib.sha256(composite).digest())
        self.assertEqual(bytes(values[1]), hashlib.sha256(bytes(32) + hashlib.sha256(b"pytss").digest()).digest())

    @staticmethod
    def digests(data):
        from tpm2_pytss import TPML_DIGEST_VALUES, TPMT_HA
        sha1, sha256 = TPMT_HA(hashAlg=TPM2_ALG.SHA1), TPMT_HA(hashAlg=TPM2_ALG.SHA256)
        sha1.digest.sha1 = hashlib.sha1(data).digest()
        sha256.digest.sha256 = hashlib.sha256(data).digest()
        return TPML_DIGEST_VALUES([sha1, sha256])


if __name__ == "__main__":
    unittest.main()
