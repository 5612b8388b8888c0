#!/usr/bin/python3
"""Enhanced Authorization through tpm2-pytss ESAPI (issue 10): PolicyPCR seal/unseal with an
encrypted, salted policy session, PolicySecret, PolicyOR and PolicyAuthorize. ESAPI checks the
response HMACs and decrypts the encrypted response itself; every expected policy digest is
computed here with hashlib over the Part 3 §23 formulas.

Run: UTPMD=build/host-debug/src/host/utpmd /usr/bin/python3 tests/e2e/pytss_policy_test.py
"""
import hashlib
import os
import struct
import unittest

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, utils
from tpm2_pytss import (ESYS_TR, TPM2_ALG, TPM2_ECC, TPM2_RH, TPM2_SE, TPM2B_PUBLIC, TPM2B_SENSITIVE_CREATE,
                        TPMA_OBJECT, TPMA_SESSION, TPMS_SENSITIVE_CREATE, TPMT_SIGNATURE, TPMT_SYM_DEF,
                        TSS2_Exception)

from utpmd_harness import esapi_on, serve

CC_PolicyPCR, CC_PolicySecret, CC_PolicyOR, CC_PolicyAuthorize = 0x17F, 0x151, 0x171, 0x16A
RC_POLICY_FAIL_S1 = 0x99D


def u32(v):
    return struct.pack(">I", v)


def h(*parts):
    return hashlib.sha256(b"".join(parts)).digest()


def ext(old, cc, *parts):
    return h(old, u32(cc), *parts)


def pcr_policy(values, pcrs):
    bits = bytearray(3)
    for p in pcrs:
        bits[p // 8] |= 1 << (p % 8)
    sel = u32(1) + struct.pack(">H", 0x000B) + b"\x03" + bytes(bits)
    return ext(bytes(32), CC_PolicyPCR, sel, h(*values))


def aes128cfb():
    sym = TPMT_SYM_DEF(algorithm=TPM2_ALG.AES)
    sym.keyBits.aes = 128
    sym.mode.aes = TPM2_ALG.CFB
    return sym


class PytssPolicy(unittest.TestCase):
    def setUp(self):
        self.server = serve(self, os.environ.get("UTPM_E2E_MSSIM_SHIM"), check_exit=False)
        self.esapi = esapi_on(self, self.server)
        self.parent = self.esapi.create_primary(None, "rsa2048", primary_handle=ESYS_TR.OWNER)[0]

    def pcrs(self, *indices):
        _, _, digests = self.esapi.pcr_read("sha256:" + ",".join(str(i) for i in indices))
        return [bytes(d) for d in digests]

    def trial(self):
        return self.esapi.start_auth_session(ESYS_TR.NONE, ESYS_TR.NONE, TPM2_SE.TRIAL,
                                             TPMT_SYM_DEF(algorithm=TPM2_ALG.NULL), TPM2_ALG.SHA256)

    def policy_session(self):
        """A salted policy session (salt encrypted to the RSA parent) with response encryption."""
        s = self.esapi.start_auth_session(self.parent, ESYS_TR.NONE, TPM2_SE.POLICY, aes128cfb(), TPM2_ALG.SHA256)
        self.esapi.trsess_set_attributes(s, TPMA_SESSION.CONTINUESESSION | TPMA_SESSION.ENCRYPT)
        return s

    def digest(self, s):
        return bytes(self.esapi.policy_get_digest(s))

    def seal(self, policy, secret):
        pub = TPM2B_PUBLIC.parse("keyedhash", objectAttributes=TPMA_OBJECT.FIXEDTPM | TPMA_OBJECT.FIXEDPARENT)
        pub.publicArea.authPolicy = policy
        sens = TPM2B_SENSITIVE_CREATE(TPMS_SENSITIVE_CREATE(data=secret))
        priv, pub, _, _, _ = self.esapi.create(self.parent, sens, pub)
        return self.esapi.load(self.parent, priv, pub)

    def test_pcr_policy_seal_unseal_salted_encrypted(self):
        expect = pcr_policy(self.pcrs(0, 1), [0, 1])
        t = self.trial()
        self.esapi.policy_pcr(t, b"", "sha256:0,1")
        self.assertEqual(self.digest(t), expect)
        self.esapi.flush_context(t)
        secret = os.urandom(32)
        obj = self.seal(expect, secret)
        s = self.policy_session()
        self.esapi.policy_pcr(s, b"", "sha256:0,1")
        self.assertEqual(bytes(self.esapi.unseal(obj, session1=s)), secret)
        self.esapi.flush_context(s)
        self.esapi.pcr_event(ESYS_TR.PCR0, b"change")
        s = self.policy_session()
        self.esapi.policy_pcr(s, b"", "sha256:0,1")
        with self.assertRaises(TSS2_Exception) as e:
            self.esapi.unseal(obj, session1=s)
        self.assertEqual(e.exception.rc, RC_POLICY_FAIL_S1)
        self.esapi.flush_context(s)

    def test_policy_secret_owner(self):
        # PolicyUpdate: H(H(0 || CC || Name(owner)) || policyRef)
        expect = h(ext(bytes(32), CC_PolicySecret, u32(TPM2_RH.OWNER)), b"")
        t = self.trial()
        self.esapi.policy_secret(ESYS_TR.OWNER, t, b"", b"", b"", 0)
        self.assertEqual(self.digest(t), expect)
        self.esapi.flush_context(t)
        secret = os.urandom(16)
        obj = self.seal(expect, secret)
        s = self.policy_session()
        self.esapi.policy_secret(ESYS_TR.OWNER, s, b"", b"", b"", 0)
        self.assertEqual(bytes(self.esapi.unseal(obj, session1=s)), secret)
        self.esapi.flush_context(s)

    def test_policy_or_of_two_pcr_states(self):
        now = self.pcrs(23)
        later = [h(now[0], hashlib.sha256(b"next").digest())]  # after PCR_Event(23, "next")
        a, b = pcr_policy(now, [23]), pcr_policy(later, [23])
        expect = ext(bytes(32), CC_PolicyOR, a, b)
        t = self.trial()
        self.esapi.policy_pcr(t, b"", "sha256:23")
        self.esapi.policy_or(t, [a, b])
        self.assertEqual(self.digest(t), expect)
        self.esapi.flush_context(t)
        secret = os.urandom(16)
        obj = self.seal(expect, secret)
        for step in range(2):
            s = self.policy_session()
            self.esapi.policy_pcr(s, b"", "sha256:23")
            self.esapi.policy_or(s, [a, b])
            self.assertEqual(bytes(self.esapi.unseal(obj, session1=s)), secret, f"state {step}")
            self.esapi.flush_context(s)
            self.esapi.pcr_event(ESYS_TR.PCR23, b"next")
        self.assertEqual(self.pcrs(23), [h(later[0], hashlib.sha256(b"next").digest())])

    def test_policy_authorize(self):
        priv = ec.generate_private_key(ec.SECP256R1())
        nums = priv.public_key().public_numbers()
        pub = TPM2B_PUBLIC.parse("ecc256:ecdsa-sha256", objectAttributes=TPMA_OBJECT.SIGN_ENCRYPT |
                                 TPMA_OBJECT.USERWITHAUTH)
        pub.publicArea.unique.ecc.x = nums.x.to_bytes(32, "big")
        pub.publicArea.unique.ecc.y = nums.y.to_bytes(32, "big")
        key = self.esapi.load_external(pub, None, ESYS_TR.OWNER)
        name = bytes(self.esapi.tr_get_name(key))
        self.assertEqual(name[:2], b"\x00\x0b")
        self.assertEqual(name[2:], hashlib.sha256(pub.publicArea.marshal()).digest())
        # the authorized policy: H(H(0 || CC_PolicyAuthorize || keyName) || policyRef)
        ref = b"ref"
        expect = h(ext(bytes(32), CC_PolicyAuthorize, name), ref)
        secret = os.urandom(16)
        obj = self.seal(expect, secret)
        approved = pcr_policy(self.pcrs(0), [0])
        a_hash = h(approved, ref)
        r, s_ = utils.decode_dss_signature(priv.sign(a_hash, ec.ECDSA(utils.Prehashed(hashes.SHA256()))))
        sig = TPMT_SIGNATURE(sigAlg=TPM2_ALG.ECDSA)
        sig.signature.ecdsa.hash = TPM2_ALG.SHA256
        sig.signature.ecdsa.signatureR = r.to_bytes(32, "big")
        sig.signature.ecdsa.signatureS = s_.to_bytes(32, "big")
        ticket = self.esapi.verify_signature(key, a_hash, sig)
        s = self.policy_session()
        self.esapi.policy_pcr(s, b"", "sha256:0")
        self.esapi.policy_authorize(s, approved, ref, name, ticket)
        self.assertEqual(self.digest(s), expect)
        self.assertEqual(bytes(self.esapi.unseal(obj, session1=s)), secret)
        self.esapi.flush_context(s)


if __name__ == "__main__":
    unittest.main()
