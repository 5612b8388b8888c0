#!/usr/bin/python3
"""Derived objects (TPM 2.0 Library 1.84 Part 1 "Derived objects", Part 3 §12.9 TPM2_CreateLoaded
under a derivation parent), with raw commands.

A derivation parent is a keyedHash object with restricted and decrypt SET and an XOR scheme
(KDF1_SP800_108 and a hash). Its secret is chosen here (CreatePrimary with sensitive.data), so
every derived secret is recomputed in Python from it, never read from the TPM:
  stream = KDFa(hashAlg, secret, label, context, 8192) (HMAC-SHA256 with hashlib/hmac),
  keyedHash: key = stream[0:32], seedValue = stream[32:64], unique = SHA256(seedValue || key);
  ECC P-256: d by testing candidates (FIPS 186-4 B.4.2: c = next 32 octets while c > n-2,
  d = c + 1), Q = d*G (python3-cryptography). libtpms draws the scalar from 40 octets with
  extra random bits (B.4.1, d = c mod (n-1) + 1): run against swtpm, the ECC test expects that
  point instead (docs/engine.md "Derived objects", docs/conformance.md A11).
Also: determinism (same label/context, same object; another context, another one; a label or
context given in inSensitive.data stands in for an empty one of the template), an HMAC computed
by the derived key checked with Python's hmac, an ECDSA signature by the derived ECC key
verified with python3-cryptography, and the response codes of every refused case.

With UTPM_E2E_MSSIM_SHIM=/work/shared/bench/mssim-swtpm-shim the same tests run against swtpm.
Run: UTPMD=build/host-debug/src/host/utpmd /usr/bin/python3 tests/e2e/derive_test.py
"""
import hashlib
import hmac
import os
import struct
import unittest

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, utils

from tpm_raw import RH_NULL, RH_OWNER, SHA256, Auth, RawTpmCase, tpm2b, u16, u32

SHIM = os.environ.get("UTPM_E2E_MSSIM_SHIM")
CreatePrimary, Create, Load, CreateLoaded, HMAC, Sign, ContextSave, ContextLoad, FlushContext = (
    0x131, 0x153, 0x157, 0x191, 0x155, 0x15D, 0x162, 0x161, 0x165)
KEYEDHASH, ECC, RSA, SYMCIPHER, NULL, XOR, HMAC_ALG, ECDSA, AES, CFB = (
    0x0008, 0x0023, 0x0001, 0x0025, 0x0010, 0x000A, 0x0005, 0x0018, 0x0006, 0x0043)
KDF1_SP800_108, KDF1_SP800_56A, P256 = 0x0022, 0x0020, 0x0003
FIXED_TPM, FIXED_PARENT, SDO, USER_WITH_AUTH, NO_DA, RESTRICTED, DECRYPT, SIGN = (
    1 << 1, 1 << 4, 1 << 5, 1 << 6, 1 << 10, 1 << 16, 1 << 17, 1 << 18)
RC_TYPE, RC_ATTRIBUTES, RC_SCHEME, RC_SIZE = 0x08A, 0x082, 0x092, 0x095
N_P256 = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def rc_param(rc, n):
    return rc | 0x40 | (n << 8)


def rc_handle(rc, n):
    return rc | (n << 8)


def stream(secret, label, context, n):
    """The first n octets of KDFa(SHA-256, secret, label, context, 8192) (Part 1 §11.4.10.2)."""
    out, i = b"", 1
    while len(out) < n:
        zero = b"" if label.endswith(b"\0") else b"\0"
        out += hmac.new(secret, u32(i) + label + zero + context + u32(8192), "sha256").digest()
        i += 1
    return out[:n]


def ecc_scalar(secret, label, context, libtpms):
    if libtpms:  # FIPS 186-4 B.4.1: orderBytes + 8 octets, mod (n - 1), + 1
        return int.from_bytes(stream(secret, label, context, 40), "big") % (N_P256 - 1) + 1
    s = stream(secret, label, context, 32 * 8)
    for k in range(8):  # B.4.2: candidates of 32 octets until one is <= n - 2
        c = int.from_bytes(s[32 * k:32 * k + 32], "big")
        if c <= N_P256 - 2:
            return c + 1
    raise AssertionError("no candidate")


def parent_template(attrs=RESTRICTED | DECRYPT | USER_WITH_AUTH | NO_DA, kdf=KDF1_SP800_108):
    return u16(KEYEDHASH) + u16(SHA256) + u32(attrs) + tpm2b(b"") + u16(XOR) + u16(SHA256) + u16(kdf) + tpm2b(b"")


def derive(label, context):
    return tpm2b(label) + tpm2b(context)


def ecc_template(label, context, attrs=FIXED_PARENT | SIGN | USER_WITH_AUTH | NO_DA, type_=ECC):
    if type_ == RSA:
        parms = u16(NULL) + u16(NULL) + u16(2048) + u32(0)
    else:
        parms = u16(NULL) + u16(ECDSA) + u16(SHA256) + u16(P256) + u16(NULL)
    return u16(type_) + u16(SHA256) + u32(attrs) + tpm2b(b"") + parms + derive(label, context)


def hmac_template(label, context, attrs=FIXED_PARENT | SIGN | USER_WITH_AUTH | NO_DA):
    return u16(KEYEDHASH) + u16(SHA256) + u32(attrs) + tpm2b(b"") + u16(HMAC_ALG) + u16(SHA256) + derive(label, context)


class Derived(RawTpmCase, unittest.TestCase):
    shim = SHIM
    SECRET = bytes(range(0x40, 0x60))  # the derivation secret, chosen here

    def create_primary(self, template, data=b"", hierarchy=RH_NULL):
        return self.tpm.call(CreatePrimary, handles=(hierarchy,), params=tpm2b(tpm2b(b"") + tpm2b(data)) +
                             tpm2b(template) + tpm2b(b"") + u32(0), auths=(Auth(),), rhandle=True)

    def parent(self):
        r = self.create_primary(parent_template(), self.SECRET)
        self.assertEqual(r.rc, 0, f"derivation parent rc {r.rc:#x}")
        self.addCleanup(lambda: self.tpm.call(FlushContext, params=u32(r.handle)))
        return r.handle

    def create_loaded(self, parent, template, data=b"", auth=b"dk", keep=True):
        """CreateLoaded; returns (rc, handle, outPrivate, outPublic), checking the Name. Without
        keep the object is flushed at once (swtpm has 3 object slots)."""
        r = self.tpm.call(CreateLoaded, handles=(parent,), params=tpm2b(tpm2b(auth) + tpm2b(data)) + tpm2b(template),
                          auths=(Auth(),), rhandle=True)
        if r.rc != 0:
            return r.rc, None, None, None
        rd = r.reader()
        private, public, name = rd.tpm2b(), rd.tpm2b(), rd.tpm2b()
        self.assertEqual(name, u16(SHA256) + hashlib.sha256(public).digest())
        if keep:
            self.addCleanup(lambda: self.tpm.call(FlushContext, params=u32(r.handle)))
        else:
            self.tpm.flush(r.handle)
        return 0, r.handle, private, public

    def ecc_point(self, public):
        # type, nameAlg, attributes, authPolicy, 10 octets of parameters, then x and y
        p = 2 + 2 + 4 + 2 + struct.unpack(">H", public[8:10])[0] + 10
        xs = struct.unpack(">H", public[p:p + 2])[0]
        x = public[p + 2:p + 2 + xs]
        y = public[p + 4 + xs:]
        self.assertEqual(len(y), struct.unpack(">H", public[p + 2 + xs:p + 4 + xs])[0])
        return x, y

    def test_ecc_key_is_the_kdfa_derivation(self):
        parent = self.parent()
        label, context = b"utpm derive", b"context one"
        rc, h, private, public = self.create_loaded(parent, ecc_template(label, context))
        self.assertEqual(rc, 0, f"{rc:#x}")
        self.assertEqual(private, b"", "a derived object has no private blob")
        x, y = self.ecc_point(public)
        d = ecc_scalar(self.SECRET, label, context, libtpms=bool(SHIM))
        q = ec.derive_private_key(d, ec.SECP256R1()).public_key().public_numbers()
        self.assertEqual((x, y), (q.x.to_bytes(32, "big"), q.y.to_bytes(32, "big")))
        # The TPM holds d: its ECDSA signature verifies under Q (python3-cryptography).
        dig = hashlib.sha256(b"signed by a derived key").digest()
        r = self.tpm.call(Sign, handles=(h,), params=tpm2b(dig) + u16(NULL) + u16(0x8024) + u32(RH_NULL) + tpm2b(b""),
                          auths=(Auth(password=b"dk"),))
        self.assertEqual(r.rc, 0, f"Sign rc {r.rc:#x}")
        rd = r.reader()
        self.assertEqual((rd.u16(), rd.u16()), (ECDSA, SHA256))
        sig_r, sig_s = int.from_bytes(rd.tpm2b(), "big"), int.from_bytes(rd.tpm2b(), "big")
        pub = ec.EllipticCurvePublicNumbers(q.x, q.y, ec.SECP256R1()).public_key()
        pub.verify(utils.encode_dss_signature(sig_r, sig_s), dig, ec.ECDSA(utils.Prehashed(hashes.SHA256())))
        # Deterministic: the same label and context give the same key again; another context
        # another key; a context given in inSensitive.data stands in for an empty one.
        self.assertEqual(self.create_loaded(parent, ecc_template(label, context), keep=False)[3], public)
        other = self.create_loaded(parent, ecc_template(label, b"context two"), keep=False)[3]
        self.assertNotEqual(self.ecc_point(other), (x, y))
        self.assertEqual(self.create_loaded(parent, ecc_template(label, b""), data=derive(b"", context), keep=False)[3], public)
        self.assertEqual(self.create_loaded(parent, ecc_template(b"", b""), data=derive(label, context), keep=False)[3], public)

    def test_hmac_key_is_the_kdfa_derivation(self):
        parent = self.parent()
        label, context = b"hmac label", os.urandom(16)
        rc, h, private, public = self.create_loaded(parent, hmac_template(label, context))
        self.assertEqual(rc, 0, f"{rc:#x}")
        self.assertEqual(private, b"")
        s = stream(self.SECRET, label, context, 64)
        key, seed = s[:32], s[32:]
        self.assertEqual(public[-34:], tpm2b(hashlib.sha256(seed + key).digest()), "unique = H(seedValue || key)")
        data = b"message for the derived HMAC key"
        r = self.tpm.call(HMAC, handles=(h,), params=tpm2b(data) + u16(SHA256), auths=(Auth(password=b"dk"),))
        self.assertEqual(r.rc, 0, f"HMAC rc {r.rc:#x}")
        self.assertEqual(r.reader().tpm2b(), hmac.new(key, data, "sha256").digest())
        self.assertEqual(self.create_loaded(parent, hmac_template(label, context), keep=False)[3], public)
        self.assertNotEqual(self.create_loaded(parent, hmac_template(label, context + b"x"), keep=False)[3], public)

    def test_derived_object_context_save_and_load(self):
        parent = self.parent()
        rc, h, _, public = self.create_loaded(parent, hmac_template(b"l", b"c"))
        r = self.tpm.call(ContextSave, params=u32(h))
        self.assertEqual(r.rc, 0)
        self.tpm.call(FlushContext, params=u32(h))
        r = self.tpm.call(ContextLoad, params=r.params, rhandle=True)
        self.assertEqual(r.rc, 0, f"ContextLoad rc {r.rc:#x}")
        self.addCleanup(lambda: self.tpm.call(FlushContext, params=u32(r.handle)))
        data = b"after a context load"
        key = stream(self.SECRET, b"l", b"c", 32)
        m = self.tpm.call(HMAC, handles=(r.handle,), params=tpm2b(data) + u16(SHA256), auths=(Auth(password=b"dk"),))
        self.assertEqual(m.rc, 0)
        self.assertEqual(m.reader().tpm2b(), hmac.new(key, data, "sha256").digest())

    def test_refused_derivations(self):
        parent = self.parent()
        # RSA keys are not derived; a derived object's secret is not the caller's nor the TPM's
        # own random; it never leaves its parent and is as fixedTPM as the parent (CLEAR here).
        self.assertEqual(self.create_loaded(parent, ecc_template(b"l", b"c", type_=RSA))[0], rc_param(RC_TYPE, 2))
        attrs = FIXED_PARENT | SIGN | USER_WITH_AUTH | NO_DA
        expect_sdo = 0x082 if SHIM else rc_param(RC_ATTRIBUTES, 2)  # libtpms: no parameter number
        self.assertEqual(self.create_loaded(parent, ecc_template(b"l", b"c", attrs | SDO))[0], expect_sdo)
        self.assertEqual(self.create_loaded(parent, ecc_template(b"l", b"c", attrs & ~FIXED_PARENT))[0],
                         rc_param(RC_ATTRIBUTES, 2))
        self.assertEqual(self.create_loaded(parent, ecc_template(b"l", b"c", attrs | FIXED_TPM))[0],
                         rc_param(RC_ATTRIBUTES, 2))
        # TPM2B_LABEL holds at most 32 octets.
        self.assertEqual(self.create_loaded(parent, ecc_template(b"L" * 33, b"c"))[0], rc_param(RC_SIZE, 2))
        # A derivation parent wraps nothing: Create and Load under it are refused on its handle.
        r = self.tpm.call(Create, handles=(parent,), params=tpm2b(tpm2b(b"") + tpm2b(b"")) +
                          tpm2b(hmac_template(b"", b"")[:-4] + tpm2b(b"")) + tpm2b(b"") + u32(0), auths=(Auth(),))
        self.assertEqual(r.rc, rc_handle(RC_TYPE, 1))

    def test_derivation_parent_rules(self):
        # The KDF must be SP 800-108.
        self.assertEqual(self.create_primary(parent_template(kdf=KDF1_SP800_56A), self.SECRET).rc,
                         rc_param(RC_SCHEME, 2))
        # A restricted keyedHash whose secret the caller gives must be duplicable.
        for fixed in (FIXED_PARENT | FIXED_TPM, ):
            rc = self.create_primary(parent_template(RESTRICTED | DECRYPT | USER_WITH_AUTH | fixed), self.SECRET).rc
            self.assertEqual(rc, rc_param(RC_ATTRIBUTES, 2))
        # Generated by the TPM (sensitiveDataOrigin SET, no data), it may be fixedTPM: derived
        # objects under it are then fixedTPM too.
        r = self.create_primary(parent_template(RESTRICTED | DECRYPT | USER_WITH_AUTH | NO_DA | FIXED_TPM |
                                                FIXED_PARENT | SDO), hierarchy=RH_OWNER)
        self.assertEqual(r.rc, 0, f"{r.rc:#x}")
        self.addCleanup(lambda: self.tpm.call(FlushContext, params=u32(r.handle)))
        attrs = FIXED_PARENT | SIGN | USER_WITH_AUTH | NO_DA
        self.assertEqual(self.create_loaded(r.handle, ecc_template(b"l", b"c", attrs))[0], rc_param(RC_ATTRIBUTES, 2))
        self.assertEqual(self.create_loaded(r.handle, ecc_template(b"l", b"c", attrs | FIXED_TPM), keep=False)[0], 0)


if __name__ == "__main__":
    unittest.main()
