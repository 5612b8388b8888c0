#!/usr/bin/python3
"""End to end regressions for objects, TestParms, ECDH_KeyGen, protected storage and PCR banks.

Raw commands (password sessions, exact response codes) over the mssim port, plus tpm2-tools
and tpm2-pytss where a real client is the judge. Expected values come from outside the TPM:
Python's hashlib/hmac and the `cryptography` package, and the Part 1/2 formulas.

With UTPM_E2E_MSSIM_SHIM=/work/shared/bench/mssim-swtpm-shim every test runs against swtpm
instead (the reference for the response codes); tests of this build's profile (algorithms
swtpm implements and we do not, daemon restarts) are skipped there.

Run: UTPMD=build/host-debug/src/host/utpmd /usr/bin/python3 tests/e2e/objects_regress_test.py [-k pattern]
"""
import hashlib
import hmac
import os
import re
import struct
import subprocess
import tempfile
import unittest

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from tpm2_pytss import TPM2B_PUBLIC, TPMA_OBJECT, TPMT_PUBLIC

from utpmd_harness import SU_CLEAR, SU_STATE, MssimClient, MssimShim, Utpmd, rc_of, run_tool, startup

SHIM = os.environ.get("UTPM_E2E_MSSIM_SHIM")

# --- Part 2 constants (values as in /usr/include/tss2/tss2_tpm2_types.h) ---
RC_ATTRIBUTES, RC_HASH, RC_VALUE, RC_HIERARCHY, RC_KEY_SIZE = 0x082, 0x083, 0x084, 0x085, 0x087
RC_MODE, RC_TYPE, RC_KDF, RC_SCHEME, RC_SIZE, RC_SYMMETRIC = 0x089, 0x08A, 0x08C, 0x092, 0x095, 0x096
RC_KEY, RC_INTEGRITY, RC_CURVE, RC_ECC_POINT = 0x09C, 0x09F, 0x0A6, 0x0A7


def P(rc, n):
    return rc | 0x040 | (n << 8)


def H(rc, n):
    return rc | (n << 8)


RH_OWNER, RH_NULL, RH_ENDORSEMENT, RH_PLATFORM = 0x40000001, 0x40000007, 0x4000000B, 0x4000000C
RS_PW = 0x40000009
HIERARCHIES = {"owner": RH_OWNER, "endorsement": RH_ENDORSEMENT, "platform": RH_PLATFORM, "null": RH_NULL}

CC = dict(CreatePrimary=0x131, PCR_Event=0x13C, PCR_Reset=0x13D, SequenceComplete=0x13E, Create=0x153,
          Load=0x157, HMAC_Start=0x15B, SequenceUpdate=0x15C, ContextLoad=0x161, ContextSave=0x162,
          ECDH_KeyGen=0x163, FlushContext=0x165, LoadExternal=0x167, ReadPublic=0x173, RSA_Encrypt=0x174,
          GetCapability=0x17A, PCR_Read=0x17E, PCR_Extend=0x182, EventSequenceComplete=0x185,
          HashSequenceStart=0x186, TestParms=0x18A, Unseal=0x15E, ECDH_ZGen=0x154, Shutdown=0x145, Startup=0x144, HMAC=0x155, ObjectChangeAuth=0x150,
          Sign=0x15D, VerifySignature=0x177, StartAuthSession=0x176)

ALG = dict(rsa=0x0001, sha1=0x0004, hmac=0x0005, aes=0x0006, keyedhash=0x0008, xor=0x000A, sha256=0x000B,
           sha384=0x000C, sha512=0x000D, null=0x0010, rsassa=0x0014, rsaes=0x0015, rsapss=0x0016, oaep=0x0017,
           ecdsa=0x0018, ecdh=0x0019, kdf1_56a=0x0020, kdf1_108=0x0022, ecc=0x0023, symcipher=0x0025,
           camellia=0x0026, ctr=0x0040, ofb=0x0041, cbc=0x0042, cfb=0x0043, ecb=0x0044)
HASHES = {0x0004: hashlib.sha1, 0x000B: hashlib.sha256, 0x000C: hashlib.sha384}
DIGEST = {0x0004: 20, 0x000B: 32, 0x000C: 48}

# TPMA_OBJECT bits
FIXED_TPM, ST_CLEAR, FIXED_PARENT, SDO, USER_WITH_AUTH = 1 << 1, 1 << 2, 1 << 4, 1 << 5, 1 << 6
NO_DA, RESTRICTED, DECRYPT, SIGN = 1 << 10, 1 << 16, 1 << 17, 1 << 18
KEY_ATTRS = FIXED_TPM | FIXED_PARENT | SDO | USER_WITH_AUTH


def u16(v):
    return struct.pack(">H", v)


def u32(v):
    return struct.pack(">I", v)


def b2(data):
    return u16(len(data)) + data


class Buf:
    def __init__(self, data):
        self.data, self.off = data, 0

    def take(self, n):
        v = self.data[self.off:self.off + n]
        assert len(v) == n, "short response"
        self.off += n
        return v

    def u16(self):
        return struct.unpack(">H", self.take(2))[0]

    def u32(self):
        return struct.unpack(">I", self.take(4))[0]

    def b2(self):
        return self.take(self.u16())

    def rest(self):
        return self.take(len(self.data) - self.off)


def template(spec, attrs=None, name_alg="sha256"):
    """A marshalled TPM2B_PUBLIC from a tpm2-tools style -G specifier (pytss parses it)."""
    if attrs is None:
        return TPM2B_PUBLIC.parse(spec, nameAlg=name_alg).marshal()
    return TPM2B_PUBLIC.parse(spec, objectAttributes=attrs, nameAlg=name_alg).marshal()


def name_of(public_area, name_alg=0x000B):
    """Name = nameAlg || H_nameAlg(TPMT_PUBLIC) (Part 1 §16)."""
    return u16(name_alg) + HASHES[name_alg](public_area).digest()


def rsa_public_area(n_bytes, attrs=DECRYPT | SIGN | USER_WITH_AUTH, exponent=0, scheme=b"\x00\x10"):
    bits = len(n_bytes) * 8
    return (u16(ALG["rsa"]) + u16(ALG["sha256"]) + u32(attrs) + b2(b"") + u16(ALG["null"]) + scheme +
            u16(bits) + u32(exponent) + b2(n_bytes))


def ecc_public_area(x, y, curve=0x0003, attrs=DECRYPT | SIGN | USER_WITH_AUTH):
    return (u16(ALG["ecc"]) + u16(ALG["sha256"]) + u32(attrs) + b2(b"") + u16(ALG["null"]) + u16(ALG["null"]) +
            u16(curve) + u16(ALG["null"]) + b2(x) + b2(y))


def keyedhash_public_area(unique, attrs=SIGN | USER_WITH_AUTH, scheme=u16(0x0005) + u16(0x000B)):
    return u16(ALG["keyedhash"]) + u16(ALG["sha256"]) + u32(attrs) + b2(b"") + scheme + b2(unique)


def symcipher_public_area(unique, attrs=DECRYPT | SIGN | USER_WITH_AUTH):
    return (u16(ALG["symcipher"]) + u16(ALG["sha256"]) + u32(attrs) + b2(b"") + u16(ALG["aes"]) + u16(128) +
            u16(ALG["cfb"]) + b2(unique))


class RawTpm:
    """TPM commands over the mssim command port, with password sessions (empty auth)."""

    def __init__(self, port):
        self.c = MssimClient(port)

    def close(self):
        self.c.close()

    def run(self, cc, handles=(), params=b"", auth=0, out_handles=0, locality=0):
        """Returns (rc, response handles, parameter bytes)."""
        body = b"".join(u32(h) for h in handles)
        if auth:
            sessions = (u32(RS_PW) + u16(0) + b"\x01" + u16(0)) * auth
            body += u32(len(sessions)) + sessions
        body += params
        tag = 0x8002 if auth else 0x8001
        cmd = struct.pack(">HII", tag, 10 + len(body), CC[cc]) + body
        for _ in range(50):
            rsp = self.c.execute(cmd, locality=locality)
            rc = rc_of(rsp)
            if rc not in (0x922, 0x908):  # TPM_RC_RETRY, TPM_RC_YIELDED (swtpm)
                break
        if rc:
            return rc, [], b""
        b = Buf(rsp[10:])
        hs = [b.u32() for _ in range(out_handles)]
        if auth:
            return rc, hs, b.take(b.u32())
        return rc, hs, b.rest()

    def ok(self, *args, **kw):
        rc, hs, p = self.run(*args, **kw)
        assert rc == 0, f"{args[0]} failed: rc 0x{rc:03x}"
        return hs, p

    # ---- objects ----
    def create_primary(self, hierarchy, tmpl, sensitive=b""):
        rc, hs, p = self.run("CreatePrimary", [hierarchy], b2(b2(b"") + b2(sensitive)) + tmpl + b2(b"") + u32(0),
                             auth=1, out_handles=1)
        if rc:
            return rc, None, None
        return rc, hs[0], Buf(p).b2()

    def create(self, parent, tmpl, sensitive=b"", auth_value=b""):
        rc, _, p = self.run("Create", [parent], b2(b2(auth_value) + b2(sensitive)) + tmpl + b2(b"") + u32(0),
                            auth=1)
        if rc:
            return rc, None, None
        b = Buf(p)
        return rc, b.b2(), b.b2()

    def load(self, parent, private, public):
        rc, hs, _ = self.run("Load", [parent], b2(private) + b2(public), auth=1, out_handles=1)
        return rc, (hs[0] if hs else None)

    def load_external(self, public, hierarchy=RH_NULL):
        rc, hs, _ = self.run("LoadExternal", [], u16(0) + b2(public) + u32(hierarchy), out_handles=1)
        return rc, (hs[0] if hs else None)

    def read_public(self, handle):
        _, p = self.ok("ReadPublic", [handle])
        b = Buf(p)
        return b.b2(), b.b2(), b.b2()  # public area, name, qualified name

    def context_save(self, handle):
        return self.ok("ContextSave", [handle])[1]

    def context_load(self, blob):
        rc, hs, _ = self.run("ContextLoad", [], blob, out_handles=1)
        return rc, (hs[0] if hs else None)

    def flush(self, handle):
        self.ok("FlushContext", [], u32(handle))

    def roundtrip(self, handle):
        """ContextSave, FlushContext, ContextLoad: the new handle."""
        blob = self.context_save(handle)
        self.flush(handle)
        rc, h = self.context_load(blob)
        assert rc == 0, f"ContextLoad failed: rc 0x{rc:03x}"
        return h


class ServerMixin:
    def start(self):
        self.server = MssimShim(SHIM).start() if SHIM else Utpmd().start()
        self.addCleanup(self.stop_server)
        c = MssimClient(self.server.port)
        self.assertEqual(rc_of(c.execute(startup(SU_CLEAR))), 0)
        c.close()
        self.tpm = RawTpm(self.server.port)
        self.addCleanup(self.tpm.close)
        self.tmp = tempfile.TemporaryDirectory(prefix="utpm-e2e-objects-")
        self.addCleanup(self.tmp.cleanup)

    def setUp(self):
        self.start()

    def stop_server(self):
        if self.server.alive():
            rc = self.server.stop()
            if not SHIM:  # the swtpm shim's own exit status is not under test
                self.assertEqual(rc, 0, "utpmd did not exit cleanly:\n" + "".join(self.server.log))

    def p(self, name):
        return os.path.join(self.tmp.name, name)

    def tool(self, *args, check=True):
        # utpmd serves one mssim connection at a time: the raw one steps aside.
        self.tpm.c.close()
        try:
            return run_tool(list(args), self.server.mssim_tcti, check=check)
        finally:
            self.tpm.c = MssimClient(self.server.port)

    def utpm_only(self):
        if SHIM:
            self.skipTest("this build's profile (swtpm implements more algorithms)")


STORAGE_RSA = "rsa2048:aes128cfb"
STORAGE_ECC = "ecc256:aes128cfb"
PARENT_ATTRS = KEY_ATTRS | RESTRICTED | DECRYPT | NO_DA


# ============================================================================================
# Item 1: ContextSave/FlushContext/ContextLoad of every object kind, public-only objects
# ============================================================================================
class ContextRoundTrip(ServerMixin, unittest.TestCase):
    def assert_same_object(self, handle, public, hierarchy_name=None):
        """Round-trips handle through a saved context; the reloaded object has the same public
        area and a Name computed here from it."""
        pub0, name0, qn0 = self.tpm.read_public(handle)
        self.assertEqual(pub0, public)
        self.assertEqual(name0, name_of(public))
        h = self.tpm.roundtrip(handle)
        pub1, name1, qn1 = self.tpm.read_public(h)
        self.assertEqual((pub1, name1, qn1), (pub0, name0, qn0))
        return h

    def external_keys(self):
        """Public areas of outside keys (RSA-2048/1024, ECC P-256/P-384, keyed hash, symmetric)."""
        k2048 = rsa.generate_private_key(65537, 2048)
        k1024 = rsa.generate_private_key(65537, 1024)
        p256 = ec.generate_private_key(ec.SECP256R1())
        p384 = ec.generate_private_key(ec.SECP384R1())

        def ecc(k, curve, n):
            nums = k.public_key().public_numbers()
            return ecc_public_area(nums.x.to_bytes(n, "big"), nums.y.to_bytes(n, "big"), curve)
        return {
            "rsa2048": rsa_public_area(k2048.public_key().public_numbers().n.to_bytes(256, "big")),
            "rsa1024": rsa_public_area(k1024.public_key().public_numbers().n.to_bytes(128, "big")),
            "ecc256": ecc(p256, 0x0003, 32),
            "ecc384": ecc(p384, 0x0004, 48),
            "keyedhash": keyedhash_public_area(os.urandom(32)),
            "symcipher": symcipher_public_area(os.urandom(32)),
        }

    def test_public_only_objects_reload_in_every_hierarchy(self):
        for hname, hierarchy in HIERARCHIES.items():
            for kind, public in self.external_keys().items():
                with self.subTest(hierarchy=hname, kind=kind):
                    rc, h = self.tpm.load_external(public, hierarchy)
                    self.assertEqual(rc, 0)
                    h = self.assert_same_object(h, public)
                    # A second round trip of the reloaded object works as well.
                    h = self.tpm.roundtrip(h)
                    self.assertEqual(self.tpm.read_public(h)[0], public)
                    self.tpm.flush(h)

    def test_full_objects_reload_in_every_hierarchy(self):
        children = {
            "rsa": ("rsa2048:rsassa-sha256", KEY_ATTRS | SIGN),
            "ecc": ("ecc256:ecdsa-sha256", KEY_ATTRS | SIGN),
            "keyedhash": ("hmac", KEY_ATTRS | SIGN),
            "symcipher": ("aes128cfb", KEY_ATTRS | SIGN | DECRYPT),
            "sealed": ("keyedhash", FIXED_TPM | FIXED_PARENT | USER_WITH_AUTH),
        }
        for hname, hierarchy in HIERARCHIES.items():
            for pspec in (STORAGE_RSA, STORAGE_ECC, "aes128cfb"):
                with self.subTest(hierarchy=hname, parent=pspec):
                    rc, parent, ppub = self.tpm.create_primary(hierarchy, template(pspec, PARENT_ATTRS))
                    self.assertEqual(rc, 0)
                    parent = self.assert_same_object(parent, ppub)
                    for kind, (spec, attrs) in children.items():
                        data = b"sealed data" if kind == "sealed" else b""
                        rc, priv, pub = self.tpm.create(parent, template(spec, attrs), sensitive=data)
                        self.assertEqual(rc, 0, kind)
                        rc, h = self.tpm.load(parent, priv, pub)
                        self.assertEqual(rc, 0, kind)
                        h = self.assert_same_object(h, pub)
                        self.tpm.flush(h)
                    self.tpm.flush(parent)

    def test_sealed_data_survives_reload(self):
        rc, parent, _ = self.tpm.create_primary(RH_OWNER, template(STORAGE_RSA, PARENT_ATTRS))
        secret = os.urandom(48)
        rc, priv, pub = self.tpm.create(parent, template("keyedhash", FIXED_TPM | FIXED_PARENT | USER_WITH_AUTH),
                                        sensitive=secret)
        self.assertEqual(rc, 0)
        _, h = self.tpm.load(parent, priv, pub)
        h = self.tpm.roundtrip(h)
        _, p = self.tpm.ok("Unseal", [h], auth=1)
        self.assertEqual(Buf(p).b2(), secret)

    def test_sequences_reload(self):
        data1, data2 = os.urandom(100), os.urandom(77)
        for alg in (ALG["sha1"], ALG["sha256"], ALG["sha384"]):
            with self.subTest(hash=hex(alg)):
                _, hs, _ = self.tpm.run("HashSequenceStart", [], b2(b"") + u16(alg), out_handles=1)
                seq = hs[0]
                self.tpm.ok("SequenceUpdate", [seq], b2(data1), auth=1)
                seq = self.tpm.roundtrip(seq)
                _, p = self.tpm.ok("SequenceComplete", [seq], b2(data2) + u32(RH_NULL), auth=1)
                self.assertEqual(Buf(p).b2(), HASHES[alg](data1 + data2).digest())
        # HMAC sequence with a key we know (caller-supplied HMAC key)
        key = os.urandom(32)
        _, parent, _ = self.tpm.create_primary(RH_OWNER, template(STORAGE_RSA, PARENT_ATTRS))
        rc, priv, pub = self.tpm.create(parent, template("hmac", FIXED_TPM | FIXED_PARENT | USER_WITH_AUTH | SIGN),
                                        sensitive=key)
        self.assertEqual(rc, 0)
        _, hkey = self.tpm.load(parent, priv, pub)
        self.tpm.flush(parent)
        hs, _ = self.tpm.ok("HMAC_Start", [hkey], b2(b"") + u16(ALG["null"]), auth=1, out_handles=1)
        seq = hs[0]
        self.tpm.ok("SequenceUpdate", [seq], b2(data1), auth=1)
        seq = self.tpm.roundtrip(seq)
        _, p = self.tpm.ok("SequenceComplete", [seq], b2(data2) + u32(RH_NULL), auth=1)
        self.assertEqual(Buf(p).b2(), hmac.new(key, data1 + data2, hashlib.sha256).digest())
        self.tpm.flush(hkey)
        # Event sequence: one digest per implemented hash
        _, hs, _ = self.tpm.run("HashSequenceStart", [], b2(b"") + u16(ALG["null"]), out_handles=1)
        seq = hs[0]
        self.tpm.ok("SequenceUpdate", [seq], b2(data1), auth=1)
        seq = self.tpm.roundtrip(seq)
        _, p = self.tpm.ok("EventSequenceComplete", [RH_NULL, seq], b2(data2), auth=2)
        b = Buf(p)
        got = {}
        for _ in range(b.u32()):
            alg = b.u16()
            got[alg] = b.take(DIGEST.get(alg, 0) if alg in DIGEST else 64)
        for alg in (ALG["sha1"], ALG["sha256"], ALG["sha384"]):
            self.assertEqual(got[alg], HASHES[alg](data1 + data2).digest())

    def test_tools_loadexternal_public_keys_then_readpublic(self):
        """The reported flow: tpm2_loadexternal -u pub.pem, flushcontext -t, readpublic -c ctx."""
        keys = {
            "rsa2048": rsa.generate_private_key(65537, 2048),
            "rsa1024": rsa.generate_private_key(65537, 1024),
            "ecc256": ec.generate_private_key(ec.SECP256R1()),
            "ecc384": ec.generate_private_key(ec.SECP384R1()),
        }
        for kind, k in keys.items():
            with self.subTest(kind=kind):
                pem = self.p(f"{kind}.pem")
                with open(pem, "wb") as f:
                    f.write(k.public_key().public_bytes(serialization.Encoding.PEM,
                                                        serialization.PublicFormat.SubjectPublicKeyInfo))
                ctx = self.p(f"{kind}.ctx")
                self.tool("tpm2_loadexternal", "-C", "n", "-G", kind[:3], "-u", pem, "-c", ctx)
                self.tool("tpm2_flushcontext", "-t")
                out = self.tool("tpm2_readpublic", "-c", ctx, "-o", self.p(f"{kind}.pub")).stdout.decode()
                self.assertIn("name:", out)
                self.tool("tpm2_flushcontext", "-t")
        # keyed-hash public key: tpm2_loadexternal -G hmac -u <public area file>
        pubfile = self.p("kh.pub")
        with open(pubfile, "wb") as f:
            f.write(b2(keyedhash_public_area(os.urandom(32))))
        ctx = self.p("kh.ctx")
        self.tool("tpm2_loadexternal", "-C", "n", "-u", pubfile, "-c", ctx)
        self.tool("tpm2_flushcontext", "-t")
        self.tool("tpm2_readpublic", "-c", ctx)

    def test_rsa_encrypt_with_external_public_key(self):
        """RSA_Encrypt uses the loaded public key: the outside private key decrypts."""
        for bits in (1024, 2048):
            for reload in (False, True):
                with self.subTest(bits=bits, reload=reload):
                    k = rsa.generate_private_key(65537, bits)
                    n = k.public_key().public_numbers().n.to_bytes(bits // 8, "big")
                    rc, h = self.tpm.load_external(rsa_public_area(n, DECRYPT | USER_WITH_AUTH))
                    self.assertEqual(rc, 0)
                    if reload:
                        h = self.tpm.roundtrip(h)
                    msg = os.urandom(20)
                    _, p = self.tpm.ok("RSA_Encrypt", [h], b2(msg) + u16(ALG["oaep"]) + u16(ALG["sha256"]) + b2(b""))
                    ct = Buf(p).b2()
                    pt = k.decrypt(ct, padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA256(), None))
                    self.assertEqual(pt, msg)
                    _, p = self.tpm.ok("RSA_Encrypt", [h], b2(msg) + u16(ALG["rsaes"]) + b2(b""))
                    self.assertEqual(k.decrypt(Buf(p).b2(), padding.PKCS1v15()), msg)
                    self.tpm.flush(h)

    def test_tools_rsaencrypt_with_external_public_key(self):
        k = rsa.generate_private_key(65537, 2048)
        pem = self.p("rsa.pem")
        with open(pem, "wb") as f:
            f.write(k.public_key().public_bytes(serialization.Encoding.PEM,
                                                serialization.PublicFormat.SubjectPublicKeyInfo))
        self.tool("tpm2_loadexternal", "-C", "n", "-G", "rsa", "-u", pem, "-c", self.p("k.ctx"))
        self.tool("tpm2_flushcontext", "-t")
        msg = os.urandom(32)
        with open(self.p("msg"), "wb") as f:
            f.write(msg)
        self.tool("tpm2_rsaencrypt", "-c", self.p("k.ctx"), "-s", "oaep", "-o", self.p("ct"), self.p("msg"))
        with open(self.p("ct"), "rb") as f:
            ct = f.read()
        self.assertEqual(k.decrypt(ct, padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA256(), None)), msg)

    def test_loadexternal_rejects_bad_public_keys(self):
        # An RSA modulus shorter than keyBits says: TPM_RC_KEY on inPublic.
        short = rsa_public_area(os.urandom(128))
        short = short[:short.index(u16(1024))] + u16(2048) + short[short.index(u16(1024)) + 2:]
        self.assertEqual(self.tpm.load_external(short)[0], P(RC_KEY, 2))
        # An ECC point off the curve: TPM_RC_ECC_POINT on inPublic.
        off = ecc_public_area(b"\x01" * 32, b"\x02" * 32)
        self.assertEqual(self.tpm.load_external(off)[0], P(RC_ECC_POINT, 2))
        # ECC coordinates of the wrong length for the curve.
        nums = ec.generate_private_key(ec.SECP256R1()).public_key().public_numbers()
        wrong = ecc_public_area(nums.x.to_bytes(32, "big"), nums.y.to_bytes(32, "big"), curve=0x0004)
        self.assertIn(self.tpm.load_external(wrong)[0], (P(RC_KEY, 2), P(RC_ECC_POINT, 2)))


# ============================================================================================
# LoadExternal's own rules (docs/conformance.md D6, C6) and the NULL ticket of VerifySignature
# ============================================================================================
RC_AUTH_UNAVAILABLE = 0x12F
ST_VERIFIED = 0x8022


def null_name_alg(public_area):
    """The same public area with nameAlg TPM_ALG_NULL (octets 2-3 of a TPMT_PUBLIC)."""
    return public_area[:2] + u16(ALG["null"]) + public_area[4:]


def ecc_signing_pair(attrs=SIGN | USER_WITH_AUTH, name_alg=ALG["sha256"], scheme=u16(ALG["null"])):
    """(python key, public area, TPMT_SENSITIVE) of a P-256 key made here."""
    k = ec.generate_private_key(ec.SECP256R1())
    n = k.public_key().public_numbers()
    public = (u16(ALG["ecc"]) + u16(name_alg) + u32(attrs) + b2(b"") + u16(ALG["null"]) + scheme +
              u16(0x0003) + u16(ALG["null"]) + b2(n.x.to_bytes(32, "big")) + b2(n.y.to_bytes(32, "big")))
    sensitive = u16(ALG["ecc"]) + b2(b"") + b2(b"") + b2(k.private_numbers().private_value.to_bytes(32, "big"))
    return k, public, sensitive


def ecdsa_signature(k, digest):
    """TPMT_SIGNATURE (ECDSA, SHA-256) of a digest, made by python."""
    from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, decode_dss_signature
    r, s_ = decode_dss_signature(k.sign(digest, ec.ECDSA(Prehashed(hashes.SHA256()))))
    return u16(ALG["ecdsa"]) + u16(ALG["sha256"]) + b2(r.to_bytes(32, "big")) + b2(s_.to_bytes(32, "big"))


class LoadExternalRules(ServerMixin, unittest.TestCase):
    def load(self, public, sensitive=b"", hierarchy=RH_NULL):
        rc, hs, p = self.tpm.run("LoadExternal", [], b2(sensitive) + b2(public) + u32(hierarchy), out_handles=1)
        return rc, (hs[0] if hs else None), (Buf(p).b2() if rc == 0 else None)

    def verify(self, handle, digest, signature):
        """VerifySignature: (rc, ticket tag, hierarchy, digest)."""
        rc, _, p = self.tpm.run("VerifySignature", [handle], b2(digest) + signature)
        if rc:
            return rc, None, None, None
        b = Buf(p)
        return rc, b.u16(), b.u32(), b.b2()

    def test_null_name_alg_objects_have_no_name(self):
        # Part 3 LoadExternal takes TPM2B_PUBLIC+: nameAlg TPM_ALG_NULL is legal there, and such an
        # object has the Empty Buffer as Name and qualified Name.
        k = rsa.generate_private_key(65537, 2048)
        area = null_name_alg(rsa_public_area(k.public_key().public_numbers().n.to_bytes(256, "big")))
        rc, h, name = self.load(area, hierarchy=RH_OWNER)
        self.assertEqual(hex(rc), "0x0")
        self.assertEqual(name, b"")
        public, rname, qn = self.tpm.read_public(h)
        self.assertEqual((public, rname, qn), (area, b"", b""))
        # A keyed-hash public area without a nameAlg: its unique must be empty (a digest of
        # nameAlg's size, 0), else TPM_RC_KEY.
        self.assertEqual(hex(self.load(null_name_alg(keyedhash_public_area(os.urandom(32))))[0]),
                         hex(P(RC_KEY, 2)))
        rc, h2, name = self.load(null_name_alg(keyedhash_public_area(b"")))
        self.assertEqual((hex(rc), name), ("0x0", b""))

    def test_null_name_alg_key_signs_and_its_tickets_are_null(self):
        k, public, sensitive = ecc_signing_pair()
        rc, h, name = self.load(null_name_alg(public), sensitive)
        self.assertEqual(hex(rc), "0x0")
        self.assertEqual(name, b"")
        digest = hashlib.sha256(b"null nameAlg").digest()
        scheme = u16(ALG["ecdsa"]) + u16(ALG["sha256"])
        _, p = self.tpm.ok("Sign", [h], b2(digest) + scheme + u16(0x8024) + u32(RH_NULL) + b2(b""), auth=1)
        b = Buf(p)
        self.assertEqual((b.u16(), b.u16()), (ALG["ecdsa"], ALG["sha256"]))
        r, s_ = int.from_bytes(b.b2(), "big"), int.from_bytes(b.b2(), "big")
        from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, encode_dss_signature
        k.public_key().verify(encode_dss_signature(r, s_), digest, ec.ECDSA(Prehashed(hashes.SHA256())))
        # No Name to bind: VerifySignature answers the NULL Ticket.
        self.assertEqual(self.verify(h, digest, ecdsa_signature(k, digest)), (0, ST_VERIFIED, RH_NULL, b""))

    def test_verify_ticket_is_null_in_the_null_hierarchy_only(self):
        k, public, _ = ecc_signing_pair()
        digest = hashlib.sha256(b"ticket").digest()
        sig = ecdsa_signature(k, digest)
        _, hn, _ = self.load(public, hierarchy=RH_NULL)
        self.assertEqual(self.verify(hn, digest, sig), (0, ST_VERIFIED, RH_NULL, b""))
        _, ho, _ = self.load(public, hierarchy=RH_OWNER)
        rc, tag, hierarchy, ticket = self.verify(ho, digest, sig)
        self.assertEqual((rc, tag, hierarchy), (0, ST_VERIFIED, RH_OWNER))
        self.assertIn(len(ticket), (32, 48, 64))  # an HMAC; its hash is the TPM's choice (A3)
        # A signature of another digest does not verify.
        self.assertEqual(hex(self.verify(ho, hashlib.sha256(b"other").digest(), sig)[0]), hex(0x2DB))

    def test_outside_private_key_cannot_be_restricted(self):
        # Part 3 LoadExternal: with a sensitive area, fixedTPM, fixedParent and restricted are CLEAR
        # (a restricted key whose secret someone knows could sign attestations or wrap children).
        _, public, sensitive = ecc_signing_pair(attrs=SIGN | USER_WITH_AUTH | RESTRICTED,
                                                scheme=u16(ALG["ecdsa"]) + u16(ALG["sha256"]))
        self.assertEqual(hex(self.load(public, sensitive)[0]), hex(P(RC_ATTRIBUTES, 2)))
        # In another hierarchy the hierarchy is named first.
        self.assertEqual(hex(self.load(public, sensitive, RH_OWNER)[0]), hex(P(RC_HIERARCHY, 3)))
        # The same key without restricted loads.
        _, public, sensitive = ecc_signing_pair()
        self.assertEqual(self.load(public, sensitive)[0], 0)

    def test_public_only_key_is_judged_by_its_schemes_only(self):
        # A public key with neither sign nor decrypt loads (only a created key must have a use).
        n = rsa.generate_private_key(65537, 2048).public_key().public_numbers().n.to_bytes(256, "big")
        self.assertEqual(hex(self.load(rsa_public_area(n, attrs=FIXED_PARENT | USER_WITH_AUTH))[0]), "0x0")
        # A scheme that the attributes exclude is still refused: a signing scheme on a decrypt key.
        bad = rsa_public_area(n, attrs=DECRYPT | USER_WITH_AUTH, scheme=u16(ALG["rsassa"]) + u16(ALG["sha256"]))
        self.assertEqual(hex(self.load(bad)[0]), hex(P(RC_SCHEME, 2)))

    def test_key_without_name_alg_cannot_salt_a_session(self):
        # RSA without an OAEP scheme takes nameAlg as the OAEP hash, and ECC's KDFe uses nameAlg:
        # a key without one cannot decrypt the salt (TPM_RC_VALUE on encryptedSalt, as libtpms).
        # With nameAlg it can.
        k = rsa.generate_private_key(65537, 2048)
        n = k.public_key().public_numbers().n.to_bytes(256, "big")
        prime = k.private_numbers().p.to_bytes(128, "big")
        sensitive = u16(ALG["rsa"]) + b2(b"") + b2(b"") + b2(prime)
        salt = k.public_key().encrypt(os.urandom(32), padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA256(),
                                                                    b"SECRET\0"))
        start = b2(os.urandom(32)) + b2(salt) + b"\x00" + u16(ALG["null"]) + u16(ALG["sha256"])
        for name_alg, want in ((ALG["null"], P(RC_VALUE, 2)), (ALG["sha256"], 0)):
            area = rsa_public_area(n, attrs=DECRYPT | USER_WITH_AUTH)
            area = area[:2] + u16(name_alg) + area[4:]
            rc, h, _ = self.load(area, sensitive)
            self.assertEqual(rc, 0)
            rc, hs, _ = self.tpm.run("StartAuthSession", [h, RH_NULL], start, out_handles=1)
            self.assertEqual(hex(rc), hex(want), f"nameAlg {name_alg:#x}")
            if rc == 0:
                self.tpm.flush(hs[0])

    def test_public_only_objects_cannot_be_authorized(self):
        # Without its sensitive area an object has no authValue to check (nor a usable policy):
        # TPM_RC_AUTH_UNAVAILABLE before the command looks at anything else.
        k, public, sensitive = ecc_signing_pair()
        _, h, _ = self.load(public)
        digest = hashlib.sha256(b"public only").digest()
        rc, _, _ = self.tpm.run("Sign", [h], b2(digest) + u16(ALG["ecdsa"]) + u16(ALG["sha256"]) + u16(0x8024) +
                                u32(RH_NULL) + b2(b""), auth=1)
        self.assertEqual(hex(rc), hex(RC_AUTH_UNAVAILABLE))
        rc, _, _ = self.tpm.run("SequenceUpdate", [h], b2(b"x"), auth=1)
        self.assertEqual(hex(rc), hex(RC_AUTH_UNAVAILABLE))
        # With its private part the same key signs.
        _, full, _ = self.load(public, sensitive)
        rc, _, _ = self.tpm.run("Sign", [full], b2(digest) + u16(ALG["ecdsa"]) + u16(ALG["sha256"]) + u16(0x8024) +
                                u32(RH_NULL) + b2(b""), auth=1)
        self.assertEqual(rc, 0)

    def test_sequence_commands_authorize_and_parse_before_the_mode_check(self):
        # A key used as a sequence handle: authorization and the parameters come first (Part 3 §5),
        # the MODE of the handle is the action's finding.
        rc, key, _ = self.tpm.create_primary(RH_OWNER, template("ecc256:ecdsa", FIXED_TPM | FIXED_PARENT | SDO |
                                                                   USER_WITH_AUTH | SIGN))
        self.assertEqual(rc, 0)
        rc, _, _ = self.tpm.run("SequenceComplete", [key], b2(b"x") + u32(0), auth=1)
        self.assertEqual(hex(rc), hex(P(RC_VALUE, 2)))  # hierarchy 0 is no hierarchy
        rc, _, _ = self.tpm.run("SequenceComplete", [key], b2(b"x") + u32(RH_NULL), auth=1)
        self.assertEqual(hex(rc), hex(0x189))  # TPM_RC_MODE, handle 1
        # A key that needs a policy refuses the password first.
        rc, policy_key, _ = self.tpm.create_primary(RH_OWNER, template("ecc256:ecdsa", FIXED_TPM | FIXED_PARENT |
                                                                          SDO | SIGN))
        self.assertEqual(rc, 0)
        rc, _, _ = self.tpm.run("SequenceUpdate", [policy_key], b2(b"x"), auth=1)
        self.assertEqual(hex(rc), hex(RC_AUTH_UNAVAILABLE))


# ============================================================================================
# Item 2: TestParms
# ============================================================================================
def sym_def(alg="aes", bits=128, mode="cfb"):
    if alg == "null":
        return u16(ALG["null"])
    return u16(ALG[alg] if isinstance(alg, str) else alg) + u16(bits) + u16(ALG[mode] if isinstance(mode, str)
                                                                          else mode)


def rsa_parms(bits=2048, sym=None, scheme=u16(0x0010), exponent=0):
    return u16(ALG["rsa"]) + (sym or sym_def("null")) + scheme + u16(bits) + u32(exponent)


def ecc_parms(curve=0x0003, sym=None, scheme=u16(0x0010), kdf=u16(0x0010)):
    return u16(ALG["ecc"]) + (sym or sym_def("null")) + scheme + u16(curve) + kdf


def keyedhash_parms(scheme=u16(0x0010)):
    return u16(ALG["keyedhash"]) + scheme


def symcipher_parms(sym):
    return u16(ALG["symcipher"]) + sym


class TestParms(ServerMixin, unittest.TestCase):
    def parms_rc(self, parms):
        return self.tpm.run("TestParms", [], parms)[0]

    def test_supported_parameter_sets(self):
        ok = {}
        for bits in (1024, 2048):
            ok[f"rsa{bits}"] = rsa_parms(bits)
            ok[f"rsa{bits} storage"] = rsa_parms(bits, sym_def("aes", 128, "cfb"))
            for s in ("rsassa", "rsapss", "oaep"):
                ok[f"rsa{bits} {s}"] = rsa_parms(bits, scheme=u16(ALG[s]) + u16(ALG["sha256"]))
            ok[f"rsa{bits} rsaes"] = rsa_parms(bits, scheme=u16(ALG["rsaes"]))
        for curve, cname in ((0x0003, "p256"), (0x0004, "p384")):
            ok[f"ecc {cname}"] = ecc_parms(curve)
            ok[f"ecc {cname} storage"] = ecc_parms(curve, sym_def("aes", 256, "cfb"))
            for s in ("ecdsa", "ecdh"):
                for hname in ("sha1", "sha256", "sha384"):
                    ok[f"ecc {cname} {s} {hname}"] = ecc_parms(curve, scheme=u16(ALG[s]) + u16(ALG[hname]))
            for kdf in ("kdf1_56a", "kdf1_108"):
                ok[f"ecc {cname} {kdf}"] = ecc_parms(curve, kdf=u16(ALG[kdf]) + u16(ALG["sha256"]))
        for bits in (128, 256):
            for mode in ("ctr", "ofb", "cbc", "cfb", "ecb", "null"):
                ok[f"aes{bits} {mode}"] = symcipher_parms(sym_def("aes", bits, mode))
        ok["keyedhash"] = keyedhash_parms()
        for hname in ("sha1", "sha256", "sha384"):
            ok[f"hmac {hname}"] = keyedhash_parms(u16(ALG["hmac"]) + u16(ALG[hname]))
            for kdf in ("kdf1_108", "kdf1_56a"):
                ok[f"xor {hname} {kdf}"] = keyedhash_parms(u16(ALG["xor"]) + u16(ALG[hname]) + u16(ALG[kdf]))
        for name, parms in ok.items():
            with self.subTest(parms=name):
                self.assertEqual(self.parms_rc(parms), 0)

    def test_unsupported_parameter_sets(self):
        """Values no TPM implements (both we and swtpm answer the unmarshalling code)."""
        bad = {
            "type": (u16(0x0099) + b"\0\0", P(RC_TYPE, 1)),
            "rsa 4000 bits": (rsa_parms(4000), P(RC_VALUE, 1)),
            "ecc curve 0x99": (ecc_parms(0x0099), P(RC_CURVE, 1)),
            "hmac hash 0x99": (keyedhash_parms(u16(ALG["hmac"]) + u16(0x0099)), P(RC_HASH, 1)),
            "hmac hash null": (keyedhash_parms(u16(ALG["hmac"]) + u16(ALG["null"])), P(RC_HASH, 1)),
            "keyedhash scheme rsassa": (keyedhash_parms(u16(ALG["rsassa"]) + u16(ALG["sha256"])), P(RC_VALUE, 1)),
            "aes 100 bits": (symcipher_parms(sym_def("aes", 100, "cfb")), P(RC_VALUE, 1)),
            "aes mode 0x99": (symcipher_parms(sym_def("aes", 128, 0x0099)), P(RC_MODE, 1)),
            "symcipher null": (symcipher_parms(sym_def("null")), P(RC_SYMMETRIC, 1)),
            "symcipher sym 0x99": (symcipher_parms(sym_def(0x0099, 128, "cfb")), P(RC_SYMMETRIC, 1)),
            "rsa scheme ecdsa": (rsa_parms(scheme=u16(ALG["ecdsa"]) + u16(ALG["sha256"])), P(RC_VALUE, 1)),
            "ecc scheme rsassa": (ecc_parms(scheme=u16(ALG["rsassa"]) + u16(ALG["sha256"])), P(RC_SCHEME, 1)),
            "ecc kdf 0x99": (ecc_parms(kdf=u16(0x0099) + u16(ALG["sha256"])), P(RC_KDF, 1)),
            "ecc ecdsa hash 0x99": (ecc_parms(scheme=u16(ALG["ecdsa"]) + u16(0x0099)), P(RC_HASH, 1)),
            "truncated rsa": (rsa_parms()[:-2], P(0x09A, 1)),  # TPM_RC_INSUFFICIENT
        }
        for name, (parms, rc) in bad.items():
            with self.subTest(parms=name):
                self.assertEqual(hex(self.parms_rc(parms)), hex(rc))

    def test_algorithms_this_profile_does_not_implement(self):
        """Algorithms swtpm implements but this build (the host profile, docs/engine.md "Profiles")
        does not: the same codes as above. RSA-3072/4096, AES-192, Camellia, SM4, SHA-512 and NIST
        P-521 are in the host profile (tests/e2e/algs_test.py); the firmware profile refuses them the
        same way. TDES (0x0003) is swtpm's and not ours."""
        self.utpm_only()
        bad = {
            "rsa1536": (rsa_parms(1536), P(RC_VALUE, 1)),
            "ecc p192": (ecc_parms(0x0001), P(RC_CURVE, 1)),
            "ecc bn256": (ecc_parms(0x0010), P(RC_CURVE, 1)),
            "tdes": (symcipher_parms(sym_def(0x0003, 128, "cfb")), P(RC_SYMMETRIC, 1)),
            "rsa tdes storage": (rsa_parms(2048, sym_def(0x0003, 128, "cfb")), P(RC_SYMMETRIC, 1)),
            "sm4 256": (symcipher_parms(sym_def(0x0013, 256, "cfb")), P(RC_VALUE, 1)),
            "hmac sm3": (keyedhash_parms(u16(ALG["hmac"]) + u16(0x0012)), P(RC_HASH, 1)),
            "rsassa sm3": (rsa_parms(scheme=u16(ALG["rsassa"]) + u16(0x0012)), P(RC_HASH, 1)),
        }
        for name, (parms, rc) in bad.items():
            with self.subTest(parms=name):
                self.assertEqual(hex(self.parms_rc(parms)), hex(rc))

    def test_capabilities_agree_with_testparms(self):
        """Every curve TPM_CAP_ECC_CURVES reports passes TestParms."""
        _, p = self.tpm.ok("GetCapability", [], u32(8) + u32(0) + u32(64))  # TPM_CAP_ECC_CURVES
        b = Buf(p)
        b.take(1 + 4)
        curves = [b.u16() for _ in range(b.u32())]
        self.assertTrue(curves)
        for c in curves:
            self.assertEqual(self.parms_rc(ecc_parms(c)), 0, hex(c))


# ============================================================================================
# Item 4: ECDH_KeyGen takes any loaded ECC key; ECDH_ZGen an unrestricted decrypt key
# ============================================================================================
class Ecdh(ServerMixin, unittest.TestCase):
    def keygen(self, h):
        rc, _, p = self.tpm.run("ECDH_KeyGen", [h])
        if rc:
            return rc, None, None
        b = Buf(p)
        z, pub = Buf(b.b2()), Buf(b.b2())
        return rc, (z.b2(), z.b2()), (pub.b2(), pub.b2())

    def test_keygen_on_storage_primary(self):
        for spec in ("ecc256:aes128cfb", "ecc384:aes256cfb"):
            with self.subTest(spec=spec):
                rc, h, _ = self.tpm.create_primary(RH_OWNER, template(spec, PARENT_ATTRS))
                self.assertEqual(rc, 0)
                rc, z, pub = self.keygen(h)
                self.assertEqual(rc, 0)
                self.assertEqual(len(z[0]), len(pub[0]))
                self.tpm.flush(h)

    def test_keygen_z_matches_outside_computation(self):
        """With an outside key the TPM cannot know d: z = d_key * pubPoint, computed here."""
        for curve, cid, n, attrs in ((ec.SECP256R1(), 0x0003, 32, SIGN | USER_WITH_AUTH),
                                     (ec.SECP384R1(), 0x0004, 48, DECRYPT | USER_WITH_AUTH | RESTRICTED),
                                     (ec.SECP256R1(), 0x0003, 32, DECRYPT | SIGN | USER_WITH_AUTH)):
            with self.subTest(curve=cid, attrs=hex(attrs)):
                k = ec.generate_private_key(curve)
                nums = k.public_key().public_numbers()
                pa = ecc_public_area(nums.x.to_bytes(n, "big"), nums.y.to_bytes(n, "big"), cid, attrs)
                if attrs & RESTRICTED:  # a restricted decrypt key is a storage key: AES-CFB
                    pa = pa.replace(u16(ALG["null"]) + u16(ALG["null"]) + u16(cid),
                                    sym_def("aes", 128, "cfb") + u16(ALG["null"]) + u16(cid), 1)
                rc, h = self.tpm.load_external(pa)
                self.assertEqual(rc, 0)
                rc, z, pub = self.keygen(h)
                self.assertEqual(rc, 0)
                peer = ec.EllipticCurvePublicNumbers(int.from_bytes(pub[0], "big"), int.from_bytes(pub[1], "big"),
                                                     curve).public_key()
                self.assertEqual(z[0], k.exchange(ec.ECDH(), peer))
                self.tpm.flush(h)

    def test_keygen_and_zgen_refusals(self):
        rc, rsa_key, _ = self.tpm.create_primary(RH_OWNER, template(STORAGE_RSA, PARENT_ATTRS))
        self.assertEqual(self.keygen(rsa_key)[0], H(RC_KEY, 1))
        point = b2(b2(b"\1" * 32) + b2(b"\2" * 32))
        self.assertEqual(self.tpm.run("ECDH_ZGen", [rsa_key], point, auth=1)[0], H(RC_KEY, 1))
        self.tpm.flush(rsa_key)
        # ZGen: restricted decrypt and signing ECC keys are refused (Part 3 §14.5).
        _, storage, _ = self.tpm.create_primary(RH_OWNER, template(STORAGE_ECC, PARENT_ATTRS))
        self.assertEqual(self.tpm.run("ECDH_ZGen", [storage], point, auth=1)[0], H(RC_ATTRIBUTES, 1))
        _, signer, _ = self.tpm.create_primary(RH_OWNER, template("ecc256:ecdsa-sha256", KEY_ATTRS | SIGN))
        self.assertEqual(self.keygen(signer)[0], 0)
        self.assertEqual(self.tpm.run("ECDH_ZGen", [signer], point, auth=1)[0], H(RC_ATTRIBUTES, 1))
        self.tpm.flush(signer)
        # ZGen with an unrestricted decrypt key works, and its z agrees with KeyGen's.
        _, dec, _ = self.tpm.create_primary(RH_OWNER, template("ecc256:ecdh-sha256", KEY_ATTRS | DECRYPT))
        rc, z, pub = self.keygen(dec)
        self.assertEqual(rc, 0)
        _, p = self.tpm.ok("ECDH_ZGen", [dec], b2(b2(pub[0]) + b2(pub[1])), auth=1)
        b = Buf(Buf(p).b2())
        self.assertEqual((b.b2(), b.b2()), z)
        # a point off the curve
        self.assertEqual(self.tpm.run("ECDH_ZGen", [dec], point, auth=1)[0], P(RC_ECC_POINT, 1))

    def test_pytss_ecdh_keygen_on_storage_primary(self):
        from tpm2_pytss import ESAPI, ESYS_TR
        self.tpm.c.close()
        esapi = ESAPI(self.server.mssim_tcti)
        try:
            h, _, _, _, _ = esapi.create_primary(None, "ecc256:aes128cfb", primary_handle=ESYS_TR.OWNER)
            z, pub = esapi.ecdh_key_gen(h)
            self.assertEqual(len(bytes(z.point.x)), 32)
            self.assertEqual(len(bytes(pub.point.x)), 32)
            esapi.flush_context(h)
        finally:
            esapi.close()
        self.tpm.c = MssimClient(self.server.port)


# ============================================================================================
# Item 5: public-area consistency rules (Create/CreatePrimary), judged against swtpm
# ============================================================================================
TOOLS_ATTRS = {
    "sign": "sign|fixedtpm|fixedparent|sensitivedataorigin|userwithauth",
    "decrypt": "decrypt|fixedtpm|fixedparent|sensitivedataorigin|userwithauth",
    "storage": "restricted|decrypt|fixedtpm|fixedparent|sensitivedataorigin|userwithauth|noda",
    "restricted-sign": "restricted|sign|fixedtpm|fixedparent|sensitivedataorigin|userwithauth",
    "sign-decrypt": "sign|decrypt|sensitivedataorigin|userwithauth",
}
TOOLS_G = ["rsa", "rsa1024", "rsa2048", "ecc", "ecc256", "ecc384", "aes", "aes128", "aes256", "aes128cfb",
           "aes128ctr", "aes128ofb", "aes128cbc", "aes128ecb", "aes256cfb", "aes256ctr", "aes256ecb", "hmac",
           "keyedhash", "xor", "rsa:rsassa", "rsa:rsapss", "rsa:oaep", "rsa:rsaes", "rsa2048:aes128cfb", "ecc:ecdsa",
           "ecc:ecdh", "ecc256:aes128cfb", "ecc384:ecdsa-sha384", "hmac:sha384", "hmac:sha1", "xor:sha256",
           "rsa:null:aes128cfb"]
TOOLS_VARIED = ["rsa", "ecc384", "aes128cfb", "aes", "hmac", "keyedhash", "xor", "rsa2048:aes128cfb"]
# (tpm2_create, tpm2_createprimary) response codes that are not success, as swtpm answers them
# (each verified against swtpm with UTPM_E2E_MSSIM_SHIM). Primary defaults are storage keys.
TOOLS_REFUSED = {
    ("rsa", "restricted-sign"): (0x2d2, 0x2d2),
    ("ecc384", "restricted-sign"): (0x2d2, 0x2d2),
    ("aes", "storage"): (0x2d6, 0x000),  # a child storage key has its parent's symmetric
    ("hmac", "default"): (0x000, 0x2d2),  # primary default attributes: restricted decrypt
    ("hmac", "decrypt"): (0x2d2, 0x2d2),
    ("hmac", "storage"): (0x2d2, 0x2d2),
    ("hmac", "sign-decrypt"): (0x2d2, 0x2d2),
    ("keyedhash", "default"): (0x000, 0x2d2),  # sign|decrypt, no scheme: the reported bug
    ("keyedhash", "sign"): (0x2d2, 0x2d2),
    ("keyedhash", "decrypt"): (0x2d2, 0x2d2),
    ("keyedhash", "storage"): (0x2d2, 0x2d2),
    ("keyedhash", "restricted-sign"): (0x2d2, 0x2d2),
    ("xor", "default"): (0x2d2, 0x000),
    ("xor", "sign"): (0x2d2, 0x2d2),
    ("xor", "restricted-sign"): (0x2d2, 0x2d2),
    ("xor", "sign-decrypt"): (0x2d2, 0x2d2),
    ("rsa:rsassa", "default"): (0x000, 0x2c2),
    ("rsa:rsapss", "default"): (0x2d6, 0x2c2),
    ("rsa:oaep", "default"): (0x000, 0x2d2),
    ("rsa:oaep", "storage"): (0x2d2, 0x2d2),
    ("rsa:rsaes", "default"): (0x000, 0x2d2),
    ("rsa2048:aes128cfb", "default"): (0x2d6, 0x000),
    ("rsa2048:aes128cfb", "sign"): (0x2d6, 0x2d6),
    ("rsa2048:aes128cfb", "decrypt"): (0x2d6, 0x2d6),
    ("rsa2048:aes128cfb", "restricted-sign"): (0x2d2, 0x2d2),
    ("rsa2048:aes128cfb", "sign-decrypt"): (0x2d6, 0x2d6),
    ("ecc:ecdsa", "default"): (0x000, 0x2c2),
    ("ecc:ecdh", "default"): (0x000, 0x2d2),
    ("ecc256:aes128cfb", "default"): (0x2d6, 0x000),
    ("ecc384:ecdsa-sha384", "default"): (0x000, 0x2c2),
    ("hmac:sha384", "default"): (0x000, 0x2d2),
    ("hmac:sha1", "default"): (0x000, 0x2d2),
    ("xor:sha256", "default"): (0x2d2, 0x000),
    ("rsa:null:aes128cfb", "default"): (0x2d6, 0x000),
}
for _g in ("aes128", "aes256", "aes128ctr", "aes128ofb", "aes128cbc", "aes128ecb", "aes256cfb", "aes256ctr",
           "aes256ecb"):
    TOOLS_REFUSED[(_g, "storage")] = (0x2d6, 0x000)


def kh_template(attrs, scheme=u16(0x0010)):
    return b2(u16(ALG["keyedhash"]) + u16(ALG["sha256"]) + u32(attrs) + b2(b"") + scheme + b2(b""))


def sym_template(attrs, sym):
    return b2(u16(ALG["symcipher"]) + u16(ALG["sha256"]) + u32(attrs) + b2(b"") + sym + b2(b""))


def rsa_template(attrs, sym=u16(0x0010), scheme=u16(0x0010)):
    return b2(u16(ALG["rsa"]) + u16(ALG["sha256"]) + u32(attrs) + b2(b"") + sym + scheme + u16(2048) + u32(0) +
              b2(b""))


def ecc_template(attrs, sym=u16(0x0010), scheme=u16(0x0010)):
    return b2(u16(ALG["ecc"]) + u16(ALG["sha256"]) + u32(attrs) + b2(b"") + sym + scheme + u16(3) +
              u16(ALG["null"]) + b2(b"") + b2(b""))


HMAC256, XOR256 = u16(ALG["hmac"]) + u16(ALG["sha256"]), u16(ALG["xor"]) + u16(ALG["sha256"]) + u16(ALG["kdf1_108"])
RSASSA, OAEP = u16(ALG["rsassa"]) + u16(ALG["sha256"]), u16(ALG["oaep"]) + u16(ALG["sha256"])
FP = FIXED_TPM | FIXED_PARENT | USER_WITH_AUTH
# name: (template, sensitive data, Create rc, CreatePrimary rc) -- each verified against swtpm
PUBLIC_RULES = {
    "keyedhash sign|decrypt no scheme": (kh_template(FP | SDO | SIGN | DECRYPT), b"", 0, 0),
    "keyedhash sign|decrypt own key": (kh_template(FP | SIGN | DECRYPT), b"k" * 32, 0, 0),
    "keyedhash sign|decrypt hmac": (kh_template(FP | SDO | SIGN | DECRYPT, HMAC256), b"", P(RC_SCHEME, 2),
                                    P(RC_SCHEME, 2)),
    "keyedhash sign no scheme": (kh_template(FP | SDO | SIGN), b"", P(RC_SCHEME, 2), P(RC_SCHEME, 2)),
    "keyedhash sign hmac": (kh_template(FP | SDO | SIGN, HMAC256), b"", 0, 0),
    "keyedhash decrypt no scheme": (kh_template(FP | SDO | DECRYPT), b"", P(RC_SCHEME, 2), P(RC_SCHEME, 2)),
    "keyedhash decrypt xor": (kh_template(FP | SDO | DECRYPT, XOR256), b"", 0, 0),
    "keyedhash restricted neither": (kh_template(FP | SDO | RESTRICTED, HMAC256), b"", P(RC_ATTRIBUTES, 2),
                                     P(RC_ATTRIBUTES, 2)),
    "keyedhash restricted sign own key": (kh_template(FP | RESTRICTED | SIGN, HMAC256), b"k", P(RC_ATTRIBUTES, 2),
                                          P(RC_ATTRIBUTES, 2)),
    "derivation parent": (kh_template(FP | SDO | RESTRICTED | DECRYPT, XOR256), b"", 0, 0),
    "sealed data": (kh_template(FP), b"data", 0, 0),
    "sealed nothing": (kh_template(FP), b"", P(RC_ATTRIBUTES, 2), P(RC_ATTRIBUTES, 2)),
    "sealed TPM-generated": (kh_template(FP | SDO), b"", P(RC_ATTRIBUTES, 2), P(RC_ATTRIBUTES, 2)),
    "sealed with scheme": (kh_template(FP, HMAC256), b"data", P(RC_SCHEME, 2), P(RC_SCHEME, 2)),
    "rsa own key material": (rsa_template(FP | SDO | SIGN), b"x", P(RC_ATTRIBUTES, 2), 0),
    "rsa not TPM-generated": (rsa_template(FP | SIGN), b"", P(RC_ATTRIBUTES, 2), P(RC_ATTRIBUTES, 2)),
    "rsa sign|decrypt scheme and symmetric": (rsa_template(FP | SDO | SIGN | DECRYPT, sym_def(), RSASSA), b"",
                                              P(RC_SCHEME, 2), P(RC_SCHEME, 2)),
    "rsa sign with symmetric": (rsa_template(FP | SDO | SIGN, sym_def()), b"", P(RC_SYMMETRIC, 2),
                                P(RC_SYMMETRIC, 2)),
    "rsa restricted sign no scheme": (rsa_template(FP | SDO | RESTRICTED | SIGN, sym_def()), b"", P(RC_SCHEME, 2),
                                      P(RC_SCHEME, 2)),
    "rsa storage with scheme, no symmetric": (rsa_template(FP | SDO | RESTRICTED | DECRYPT, scheme=OAEP), b"",
                                              P(RC_SCHEME, 2), P(RC_SCHEME, 2)),
    "rsa storage ctr": (rsa_template(FP | SDO | RESTRICTED | DECRYPT, sym_def("aes", 128, "ctr")), b"",
                        P(RC_SYMMETRIC, 2), 0),
    "rsa storage aes256": (rsa_template(FP | SDO | RESTRICTED | DECRYPT, sym_def("aes", 256, "cfb")), b"",
                           P(RC_SYMMETRIC, 2), 0),
    "rsa storage as parent's": (rsa_template(FP | SDO | RESTRICTED | DECRYPT, sym_def()), b"", 0, 0),
    "rsa restricted sign|decrypt": (rsa_template(FP | SDO | RESTRICTED | SIGN | DECRYPT, sym_def()), b"",
                                    P(RC_ATTRIBUTES, 2), P(RC_ATTRIBUTES, 2)),
    "ecc restricted sign|decrypt ecdh": (ecc_template(FP | SDO | RESTRICTED | SIGN | DECRYPT, scheme=u16(0x19) +
                                                      u16(0xB)), b"", P(RC_ATTRIBUTES, 2), P(RC_ATTRIBUTES, 2)),
    "ecc decrypt ecdsa": (ecc_template(FP | SDO | DECRYPT, scheme=u16(0x18) + u16(0xB)), b"", P(RC_SCHEME, 2),
                          P(RC_SCHEME, 2)),
    "fixedParent without fixedTPM": (rsa_template((FP & ~FIXED_TPM) | SDO | SIGN), b"", P(RC_ATTRIBUTES, 2),
                                     P(RC_ATTRIBUTES, 2)),
    "fixedTPM without fixedParent": (rsa_template((FP & ~FIXED_PARENT) | SDO | SIGN), b"", P(RC_ATTRIBUTES, 2),
                                     P(RC_ATTRIBUTES, 2)),
    "duplicable": (rsa_template((FP & ~(FIXED_TPM | FIXED_PARENT)) | SDO | SIGN), b"", 0, 0),
    "symcipher restricted sign": (sym_template(FP | SDO | RESTRICTED | SIGN, sym_def()), b"", 0, 0),
    "symcipher storage own key": (sym_template(FP | RESTRICTED | DECRYPT, sym_def()), os.urandom(16),
                                  P(RC_ATTRIBUTES, 2), P(RC_ATTRIBUTES, 2)),
    "symcipher neither": (sym_template(FP | SDO, sym_def()), b"", P(RC_ATTRIBUTES, 2), P(RC_ATTRIBUTES, 2)),
    "symcipher storage ecb primary": (sym_template(FP | SDO | RESTRICTED | DECRYPT, sym_def("aes", 128, "ecb")),
                                      b"", P(RC_SYMMETRIC, 2), 0),
}


class PublicAreaRules(ServerMixin, unittest.TestCase):
    def test_rules(self):
        rc, parent, _ = self.tpm.create_primary(RH_OWNER, template(STORAGE_RSA, PARENT_ATTRS))
        self.assertEqual(rc, 0)
        for name, (tmpl, data, want_create, want_primary) in PUBLIC_RULES.items():
            with self.subTest(case=name):
                rc, _, _ = self.tpm.create(parent, tmpl, sensitive=data)
                self.assertEqual(hex(rc), hex(want_create), "Create")
                rc, h, _ = self.tpm.create_primary(RH_OWNER, tmpl, sensitive=data)
                if rc == 0:
                    self.tpm.flush(h)
                self.assertEqual(hex(rc), hex(want_primary), "CreatePrimary")

    def test_keyedhash_sign_decrypt_key_works(self):
        """The tools' default keyed-hash object (sign|decrypt, no scheme) is created, loaded and
        computes HMACs with a hash the caller names."""
        key = os.urandom(32)
        _, parent, _ = self.tpm.create_primary(RH_OWNER, template(STORAGE_RSA, PARENT_ATTRS))
        rc, priv, pub = self.tpm.create(parent, kh_template(FP | SIGN | DECRYPT), sensitive=key)
        self.assertEqual(rc, 0)
        rc, h = self.tpm.load(parent, priv, pub)
        self.assertEqual(rc, 0)
        for alg in (ALG["sha1"], ALG["sha256"], ALG["sha384"]):
            _, p = self.tpm.ok("HMAC", [h], b2(b"message") + u16(alg), auth=1)
            self.assertEqual(Buf(p).b2(), hmac.new(key, b"message", HASHES[alg]).digest())

    def test_tools_default_templates(self):
        for g in TOOLS_G:
            for aname in ["default"] + (list(TOOLS_ATTRS) if g in TOOLS_VARIED else []):
                with self.subTest(G=g, attrs=aname):
                    extra = ["-a", TOOLS_ATTRS[aname]] if aname != "default" else []
                    want = TOOLS_REFUSED.get((g, aname), (0, 0))
                    got = []
                    for cmd in (["tpm2_create", "-C", self.p("parent.ctx"), "-u", self.p("k.pub"), "-r",
                                 self.p("k.priv")], ["tpm2_createprimary", "-C", "o", "-c", self.p("q.ctx")]):
                        if not os.path.exists(self.p("parent.ctx")):
                            self.tool("tpm2_createprimary", "-C", "o", "-c", self.p("parent.ctx"))
                            self.tool("tpm2_flushcontext", "-t")
                        r = self.tool(*(cmd + ["-G", g] + extra), check=False)
                        self.tool("tpm2_flushcontext", "-t")
                        err = r.stderr.decode()
                        m = re.search(r"ErrorCode \((0x[0-9a-fA-F]+)\)", err)
                        got.append(0 if r.returncode == 0 else int(m.group(1), 16) if m else -1)
                    self.assertEqual(tuple(hex(x) for x in got), tuple(hex(x) for x in want))


# ============================================================================================
# Item 7: TPM2B_PRIVATE carries a seedValue for every object (Part 2 TPMT_SENSITIVE)
# ============================================================================================
class PrivateSizes(ServerMixin, unittest.TestCase):
    """outPrivate = integrity (TPM2B_DIGEST of the parent's nameAlg) || TPM2B_IV (16 octets, fresh)
    || CFB(TPM2B_SENSITIVE) (Part 1 §23.3); TPMT_SENSITIVE = type || authValue || seedValue ||
    sensitive. A nameAlg-sized seedValue is carried by parents (protection seed) and by keyed-hash
    and symmetric objects (the obfuscation value under unique); an asymmetric non-parent has none,
    as in swtpm, whose blobs differ from ours only by the authValue it pads to the nameAlg size."""

    def expected(self, auth_len, seed_len, key_len, name_digest=32):
        if SHIM:
            auth_len = name_digest  # swtpm pads the authValue
        sensitive = 2 + (2 + auth_len) + (2 + seed_len) + (2 + key_len)
        return (2 + 32) + (2 + 16) + 2 + sensitive  # TPM2B_PRIVATE.buffer under a SHA-256 parent

    def test_sizes(self):
        for pspec in (STORAGE_RSA, STORAGE_ECC):
            _, parent, _ = self.tpm.create_primary(RH_OWNER, template(pspec, PARENT_ATTRS))
            cases = {
                "rsa2048 sign": (template("rsa2048:rsassa-sha256", KEY_ATTRS | SIGN), b"", 128),
                "rsa1024 decrypt": (template("rsa1024", KEY_ATTRS | DECRYPT), b"", 64),
                "rsa2048 storage": (template(pspec, PARENT_ATTRS) if pspec == STORAGE_RSA else
                                    template("rsa2048:aes128cfb", PARENT_ATTRS), b"", 128),
                "ecc256 sign": (template("ecc256:ecdsa-sha256", KEY_ATTRS | SIGN), b"", 32),
                "ecc384 sign": (template("ecc384:ecdsa-sha384", KEY_ATTRS | SIGN), b"", 48),
                "ecc256 sha384 name": (template("ecc256:ecdsa-sha256", KEY_ATTRS | SIGN, "sha384"), b"", 32),
                "hmac": (template("hmac", KEY_ATTRS | SIGN), b"", 32),
                "sealed": (template("keyedhash", FIXED_TPM | FIXED_PARENT | USER_WITH_AUTH), b"x" * 10, 10),
                "aes128": (template("aes128cfb", KEY_ATTRS | DECRYPT | SIGN), b"", 16),
                "aes256": (template("aes256cfb", KEY_ATTRS | DECRYPT | SIGN), b"", 32),
            }
            for name, (tmpl, data, key_len) in cases.items():
                with self.subTest(parent=pspec, kind=name):
                    if pspec == STORAGE_ECC and name == "rsa2048 storage":
                        continue  # a child storage key has its parent's symmetric: covered by RSA
                    rc, priv, _ = self.tpm.create(parent, tmpl, sensitive=data, auth_value=b"pw")
                    self.assertEqual(rc, 0)
                    digest = 48 if "sha384" in name else 32
                    asymmetric_leaf = name.startswith(("rsa", "ecc")) and "storage" not in name
                    self.assertEqual(len(priv), self.expected(2, 0 if asymmetric_leaf else digest, key_len, digest))
            self.tpm.flush(parent)

    def test_change_auth_blobs_use_fresh_ivs(self):
        """ObjectChangeAuth re-wraps the same object (same Name, same storage key): each blob
        has its own IV, so equal-length sensitive areas do not share a keystream."""
        _, parent, _ = self.tpm.create_primary(RH_OWNER, template(STORAGE_RSA, PARENT_ATTRS))
        rc, priv, pub = self.tpm.create(parent, template("ecc256:ecdsa-sha256", KEY_ATTRS | SIGN))
        self.assertEqual(rc, 0)
        _, h = self.tpm.load(parent, priv, pub)
        blobs = []
        for new_auth in (b"b" * 8, b"c" * 8):
            _, p = self.tpm.ok("ObjectChangeAuth", [h, parent], b2(new_auth), auth=1)
            blobs.append(Buf(p).b2())
        self.assertEqual(len(blobs[0]), len(blobs[1]))
        # integrity (2+32) || TPM2B_IV (2+16) || encrypted: with the same IV, the first encrypted
        # block would be the same keystream over sensitive areas that differ in 8 octets.
        if not SHIM:
            self.assertEqual(blobs[0][34:36], b"\x00\x10")
            self.assertNotEqual(blobs[0][36:52], blobs[1][36:52])
        self.assertNotEqual(blobs[0], blobs[1])
        self.tpm.flush(h)
        for blob in blobs:  # both blobs load
            rc, h2 = self.tpm.load(parent, blob, pub)
            self.assertEqual(rc, 0)
            self.tpm.flush(h2)


# ============================================================================================
# Item 14: the SHA-384 PCR bank (with SHA-1 and SHA-256), in every PCR path
# ============================================================================================
BANKS = (ALG["sha1"], ALG["sha256"], ALG["sha384"])


def pcr_select(alg, pcrs):
    bits = bytearray(3)
    for p in pcrs:
        bits[p // 8] |= 1 << (p % 8)
    return u16(alg) + b"\x03" + bytes(bits)


class PcrBanks(ServerMixin, unittest.TestCase):
    def read(self, alg, pcr):
        _, p = self.tpm.ok("PCR_Read", [], u32(1) + pcr_select(alg, [pcr]))
        b = Buf(p)
        b.u32()
        n = b.u32()
        sel = [(b.u16(), b.take(b.take(1)[0])) for _ in range(n)]
        values = [b.b2() for _ in range(b.u32())]
        self.assertEqual(sel[0][0], alg)
        self.assertEqual(len(values), 1, f"bank {alg:#x} PCR {pcr}: empty selection")
        return values[0]

    def test_capability_lists_three_full_banks(self):
        _, p = self.tpm.ok("GetCapability", [], u32(5) + u32(0) + u32(8))  # TPM_CAP_PCRS
        b = Buf(p)
        b.take(1 + 4)
        banks = {}
        for _ in range(b.u32()):
            alg = b.u16()
            banks[alg] = b.take(b.take(1)[0])
        for alg in BANKS:
            self.assertEqual(banks.get(alg), b"\xff\xff\xff", f"bank {alg:#x}")

    def test_extend_event_reset_and_sequence_cover_sha384(self):
        pcr = 16  # debug PCR: resettable at locality 0
        data = os.urandom(64)
        self.tpm.ok("PCR_Reset", [pcr], auth=1)
        expect = {alg: b"\0" * DIGEST[alg] for alg in BANKS}
        for alg in BANKS:
            self.assertEqual(self.read(alg, pcr), expect[alg])
        # PCR_Extend with a digest per bank
        digests = {alg: os.urandom(DIGEST[alg]) for alg in BANKS}
        self.tpm.ok("PCR_Extend", [pcr], u32(3) + b"".join(u16(a) + digests[a] for a in BANKS), auth=1)
        for alg in BANKS:
            expect[alg] = HASHES[alg](expect[alg] + digests[alg]).digest()
        # PCR_Event: the TPM hashes the event with every bank's hash
        self.tpm.ok("PCR_Event", [pcr], b2(data), auth=1)
        for alg in BANKS:
            expect[alg] = HASHES[alg](expect[alg] + HASHES[alg](data).digest()).digest()
        # EventSequenceComplete
        _, hs, _ = self.tpm.run("HashSequenceStart", [], b2(b"") + u16(ALG["null"]), out_handles=1)
        self.tpm.ok("EventSequenceComplete", [pcr, hs[0]], b2(data), auth=2)
        for alg in BANKS:
            expect[alg] = HASHES[alg](expect[alg] + HASHES[alg](data).digest()).digest()
            self.assertEqual(self.read(alg, pcr), expect[alg], f"bank {alg:#x}")
        self.tpm.ok("PCR_Reset", [pcr], auth=1)
        self.assertEqual(self.read(ALG["sha384"], pcr), b"\0" * 48)

    def test_tools_read_sha384(self):
        out = self.tool("tpm2_pcrread", "sha1:0+sha256:0+sha384:0,17").stdout.decode()
        self.assertIn("sha384:", out)
        up = out.upper()
        self.assertIn("0X" + "00" * 48, up)  # PCR 0 after Startup
        self.assertIn("0X" + "FF" * 48, up)  # PCR 17 (D-RTM) starts as all ones

    def test_shutdown_state_keeps_sha384(self):
        if SHIM:
            self.skipTest("power cycle through utpmd's platform port")
        d = os.urandom(48)
        self.tpm.ok("PCR_Extend", [0], u32(1) + u16(ALG["sha384"]) + d, auth=1)
        before = self.read(ALG["sha384"], 0)
        self.assertEqual(before, hashlib.sha384(b"\0" * 48 + d).digest())
        self.assertEqual(self.tpm.run("Shutdown", [], u16(SU_STATE))[0], 0)
        self.tpm.c.close()
        self.server.power_cycle()
        self.tpm.c = MssimClient(self.server.port)
        self.assertEqual(self.tpm.run("Startup", [], u16(SU_STATE))[0], 0)
        self.assertEqual(self.read(ALG["sha384"], 0), before)


if __name__ == "__main__":
    unittest.main()
