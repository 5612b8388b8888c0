#!/usr/bin/python3
"""End to end: the ECC extras (Commit, EC_Ephemeral, ZGen_2Phase, ECDAA and EC-Schnorr signing,
ECC_Encrypt/ECC_Decrypt) with Debian's tpm2-tools (5.4) and raw commands over mssim.

Nothing the TPM computes is taken on trust: the signatures are verified here with the equations
of Part 1 (ECDAA: [s]B = R + [T]([d]B) for each commit point; EC-Schnorr: e = H(([s]G - [e]Q).x
|| digest)), ZGen_2Phase's Z values and ECC_Encrypt's C1/C2/C3 are recomputed with Python
integers and python3-cryptography. With UTPM_E2E_MSSIM_SHIM=/work/shared/bench/mssim-swtpm-shim
the same tests run against swtpm (the check of the tests themselves).

Run: UTPMD=build/host-debug/src/host/utpmd python3 tests/e2e/ecc_test.py [-k pattern]
"""
import hashlib
import os
import re
import struct
import tempfile
import unittest

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tpm_raw import RH_NULL, Auth, Tpm, tpm2b, u16, u32
from utpmd_harness import SU_CLEAR, MssimClient, MssimShim, Utpmd, rc_of, run_tool, startup

# ---- P-256 in pure Python (affine coordinates; test code, a handful of operations) ----
P = 0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF
A = P - 3
B = 0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B
N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
G = (0x6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296,
     0x4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5)


def add(p1, p2):
    if p1 is None:
        return p2
    if p2 is None:
        return p1
    (x1, y1), (x2, y2) = p1, p2
    if x1 == x2 and (y1 + y2) % P == 0:
        return None
    if p1 == p2:
        lam = (3 * x1 * x1 + A) * pow(2 * y1, -1, P) % P
    else:
        lam = (y2 - y1) * pow(x2 - x1, -1, P) % P
    x3 = (lam * lam - x1 - x2) % P
    return x3, (lam * (x1 - x3) - y1) % P


def mul(k, pt):
    out = None
    for bit in bin(k % N)[2:]:
        out = add(out, out)
        if bit == "1":
            out = add(out, pt)
    return out


def on_curve(pt):
    x, y = pt
    return (y * y - (x * x * x + A * x + B)) % P == 0


def be(v, n=32):
    return v.to_bytes(n, "big")


def ib(b):
    return int.from_bytes(b, "big")


def ecc_point(pt):
    """TPM2B_ECC_POINT of an affine point (what tpm2-tools reads and writes)."""
    body = tpm2b(be(pt[0])) + tpm2b(be(pt[1]))
    return tpm2b(body)


def read_ecc_point(b):
    size = struct.unpack(">H", b[:2])[0]
    body = b[2:2 + size]
    xs = struct.unpack(">H", body[:2])[0]
    x = body[2:2 + xs]
    ys = struct.unpack(">H", body[2 + xs:4 + xs])[0]
    y = body[4 + xs:4 + xs + ys]
    return (ib(x), ib(y)) if xs else None, 2 + size


def read_signature(b):
    """TPMT_SIGNATURE of an ECC scheme: (sigAlg, hash, R, S)."""
    alg, h = struct.unpack(">HH", b[:4])
    rs = struct.unpack(">H", b[4:6])[0]
    r = b[6:6 + rs]
    ss = struct.unpack(">H", b[6 + rs:8 + rs])[0]
    s = b[8 + rs:8 + rs + ss]
    return alg, h, r, s


def kdf2(z, n):
    out = b""
    i = 1
    while len(out) < n:
        out += hashlib.sha256(z + struct.pack(">I", i)).digest()
        i += 1
    return out[:n]


ECDAA, ECSCHNORR, ECDH, KDF2, SHA256, NULL_ALG, ECC, CURVE_P256 = 0x1A, 0x1C, 0x19, 0x21, 0x0B, 0x10, 0x23, 0x03
CC_ECC_ENCRYPT, CC_ECC_DECRYPT, CC_COMMIT, CC_EC_EPHEMERAL, CC_ZGEN_2PHASE, CC_GET_CAP = 0x199, 0x19A, 0x18B, 0x18E, 0x18D, 0x17A
CC_SIGN = 0x15D
RC_VALUE, RC_SCHEME_H1, RC_SIZE_P3, RC_ECC_POINT_P1, RC_VALUE_P4 = 0x084, 0x192, 0x3D5, 0x1E7, 0x4C4
OBJ_DECRYPT, OBJ_SIGN, OBJ_USERWITHAUTH = 0x20000, 0x40000, 0x40


def ecc_public(q, attrs, scheme=NULL_ALG, scheme_hash=None):
    sch = u16(scheme) + (u16(scheme_hash) if scheme_hash else b"") + (u16(0) if scheme == ECDAA else b"")
    return (u16(ECC) + u16(SHA256) + u32(attrs) + tpm2b(b"") + u16(NULL_ALG) + sch + u16(CURVE_P256) +
            u16(NULL_ALG) + tpm2b(be(q[0])) + tpm2b(be(q[1])))


def ecc_sensitive(d):
    return u16(ECC) + tpm2b(b"") + tpm2b(b"") + tpm2b(be(d))


class RetryingTpm(Tpm):
    """The reference TPM (swtpm) answers TPM_RC_RETRY while it self-tests an algorithm first used."""

    def call(self, *args, **kw):
        for _ in range(10):
            r = super().call(*args, **kw)
            if r.rc != 0x922:
                return r
        return r


def public_point(pem_path):
    with open(pem_path, "rb") as f:
        key = serialization.load_pem_public_key(f.read())
    nums = key.public_numbers()
    return nums.x, nums.y


class EccExtras(unittest.TestCase):
    def setUp(self):
        self.shim = os.environ.get("UTPM_E2E_MSSIM_SHIM")
        self.server = MssimShim(self.shim).start() if self.shim else Utpmd().start()
        self.addCleanup(self.stop_server, self.server)
        c = MssimClient(self.server.port)
        self.assertEqual(rc_of(c.execute(startup(SU_CLEAR))), 0)
        c.close()
        self.tmp = tempfile.TemporaryDirectory(prefix="utpm-e2e-ecc-")
        self.addCleanup(self.tmp.cleanup)

    def stop_server(self, server):
        if server.alive():
            self.assertEqual(server.stop(), 0, "utpmd did not exit cleanly:\n" + "".join(server.log))

    def p(self, name):
        return os.path.join(self.tmp.name, name)

    def tool(self, *args, **kw):
        p = run_tool(list(args), self.server.mssim_tcti, **kw)
        run_tool(["tpm2_flushcontext", "-t"], self.server.mssim_tcti)  # no resource manager
        return p

    def tool_fails(self, *args):
        p = run_tool(list(args), self.server.mssim_tcti, check=False)
        run_tool(["tpm2_flushcontext", "-t"], self.server.mssim_tcti)
        self.assertNotEqual(p.returncode, 0, f"{args} succeeded")
        codes = re.findall(r"ErrorCode \((0x[0-9a-fA-F]+)\)", p.stderr.decode())
        self.assertTrue(codes, p.stderr.decode())
        return int(codes[-1], 16)

    def read(self, name):
        with open(self.p(name), "rb") as f:
            return f.read()

    def write(self, name, data):
        with open(self.p(name), "wb") as f:
            f.write(data)

    def key(self, alg, name):
        """A child of an owner ECC primary, loaded (context file name.ctx); returns its public point."""
        if not os.path.exists(self.p("prim.ctx")):
            self.tool("tpm2_createprimary", "-C", "o", "-G", "ecc256", "-c", self.p("prim.ctx"))
        self.tool("tpm2_create", "-C", self.p("prim.ctx"), "-G", alg, "-u", self.p(name + ".pub"),
                  "-r", self.p(name + ".priv"))
        self.tool("tpm2_load", "-C", self.p("prim.ctx"), "-u", self.p(name + ".pub"), "-r", self.p(name + ".priv"),
                  "-c", self.p(name + ".ctx"))
        self.tool("tpm2_readpublic", "-c", self.p(name + ".ctx"), "-f", "pem", "-o", self.p(name + ".pem"))
        return public_point(self.p(name + ".pem"))

    def sign(self, ctx, scheme, message, extra=()):
        self.write("msg", message)
        self.tool("tpm2_sign", "-c", self.p(ctx), "-g", "sha256", "-s", scheme, *extra, "-o", self.p("sig"),
                  self.p("msg"))
        return read_signature(self.read("sig"))

    # ---- ECDAA: Commit then Sign, verified with the DAA equations ----
    def test_commit_and_ecdaa_signature(self):
        q = self.key("ecc256:ecdaa-sha256", "daa")
        # Plain commit (no P1, no s2): E = [r]G.
        self.tool("tpm2_commit", "-c", self.p("daa.ctx"), "-t", self.p("cnt"), "--eccpoint-K", self.p("K"),
                  "--eccpoint-L", self.p("L"), "-u", self.p("E"))
        e_pt, _ = read_ecc_point(self.read("E"))
        self.assertTrue(on_curve(e_pt))
        self.assertIsNone(read_ecc_point(self.read("K"))[0])  # K and L empty without s2
        counter = struct.unpack(">H", self.read("cnt"))[0]
        message = b"ECDAA over utpm"
        digest = hashlib.sha256(message).digest()
        alg, h, nonce_k, s = self.sign("daa.ctx", "ecdaa", message, ("--commit-index", str(counter)))
        self.assertEqual((alg, h), (ECDAA, SHA256))
        t = ib(hashlib.sha256(nonce_k + digest).digest())
        self.assertEqual(mul(ib(s), G), add(e_pt, mul(t, q)), "[s]G != E + [T]Q")
        # The commit is used up: signing again with its counter fails (TPM_RC_VALUE).
        self.write("msg", message)
        rc = self.tool_fails("tpm2_sign", "-c", self.p("daa.ctx"), "-g", "sha256", "-s", "ecdaa",
                             "--commit-index", str(counter), "-o", self.p("sig"), self.p("msg"))
        self.assertEqual(rc & 0xFFF, RC_VALUE)


    # ---- EC-Schnorr: Sign verified here and by VerifySignature ----
    def test_ecschnorr_signature(self):
        q = self.key("ecc256:ecschnorr-sha256", "sch")
        message = b"EC-Schnorr over utpm"
        digest = hashlib.sha256(message).digest()
        alg, h, r, s = self.sign("sch.ctx", "ecschnorr", message)
        self.assertEqual((alg, h), (ECSCHNORR, SHA256))
        rr = mul(ib(s), G)
        rr = add(rr, mul(N - ib(r) % N, q))  # [s]G - [e]Q
        e = hashlib.sha256(be(rr[0]) + digest).digest()
        self.assertEqual(ib(e), ib(r), "e != H(([s]G - [e]Q).x || digest)")
        # The TPM verifies its own signature, and refuses a changed one.
        self.tool("tpm2_verifysignature", "-c", self.p("sch.ctx"), "-g", "sha256", "-m", self.p("msg"),
                  "-s", self.p("sig"))
        sig = bytearray(self.read("sig"))
        sig[-1] ^= 1
        self.write("bad", bytes(sig))
        rc = self.tool_fails("tpm2_verifysignature", "-c", self.p("sch.ctx"), "-g", "sha256", "-m", self.p("msg"),
                             "-s", self.p("bad"))
        self.assertEqual(rc, 0x2DB)  # TPM_RC_SIGNATURE+P2

    # ---- EC_Ephemeral + ZGen_2Phase (ECDH), Z1/Z2 recomputed here ----
    def test_ecephemeral_zgen2phase(self):
        qs_a = self.key("ecc256:ecdh-sha256", "kx")
        self.tool("tpm2_ecephemeral", "-u", self.p("QeA"), "-t", self.p("ctr"), "ecc256")
        qe_a, _ = read_ecc_point(self.read("QeA"))
        counter = str(struct.unpack(">H", self.read("ctr"))[0])
        self.assertTrue(on_curve(qe_a))
        ds_b, de_b = ib(os.urandom(32)) % N, ib(os.urandom(32)) % N
        self.write("QsB", ecc_point(mul(ds_b, G)))
        self.write("QeB", ecc_point(mul(de_b, G)))
        self.tool("tpm2_zgen2phase", "-c", self.p("kx.ctx"), "-t", counter,
                  "--static-public", self.p("QsB"), "--ephemeral-public", self.p("QeB"),
                  "--output-Z1", self.p("Z1"), "--output-Z2", self.p("Z2"))
        z1, _ = read_ecc_point(self.read("Z1"))
        z2, _ = read_ecc_point(self.read("Z2"))
        self.assertEqual(z1, mul(ds_b, qs_a), "outZ1 != [dsB]QsA")
        self.assertEqual(z2, mul(de_b, qe_a), "outZ2 != [deB]QeA")
        # The ephemeral key is used once.
        rc = self.tool_fails("tpm2_zgen2phase", "-c", self.p("kx.ctx"), "-t", counter,
                             "--static-public", self.p("QsB"), "--ephemeral-public", self.p("QeB"),
                             "--output-Z1", self.p("Z1"), "--output-Z2", self.p("Z2"))
        self.assertEqual(rc, RC_VALUE_P4)

    # ---- ECC_Encrypt / ECC_Decrypt (raw: tpm2-tools 5.4 has no commands for them) ----
    def test_ecc_encrypt_decrypt(self):
        if self.shim:
            self.skipTest("swtpm (libtpms 0.9) does not implement ECC_Encrypt/ECC_Decrypt")
        tpm = RetryingTpm(MssimClient(self.server.port))
        d = ib(os.urandom(32)) % N
        q = mul(d, G)
        handle, _ = tpm.load_external(ecc_public(q, OBJ_DECRYPT | OBJ_USERWITHAUTH), ecc_sensitive(d), RH_NULL)
        kdf = u16(KDF2) + u16(SHA256)
        for plain in (b"x", b"ECC encryption as Part 1 defines it" * 5):
            r = tpm.call(CC_ECC_ENCRYPT, handles=(handle,), params=tpm2b(plain) + kdf)
            self.assertEqual(r.rc, 0, hex(r.rc))
            c1, used = read_ecc_point(r.params)
            rd = r.params[used:]
            c2 = rd[2:2 + struct.unpack(">H", rd[:2])[0]]
            rd = rd[2 + len(c2):]
            c3 = rd[2:2 + struct.unpack(">H", rd[:2])[0]]
            self.assertTrue(on_curve(c1))
            x2, y2 = mul(d, c1)
            mask = kdf2(be(x2) + be(y2), len(c2))
            self.assertEqual(bytes(a ^ b for a, b in zip(c2, mask)), plain)
            self.assertEqual(c3, hashlib.sha256(be(x2) + plain + be(y2)).digest())
        # Decrypt what Python encrypted.
        k = ib(os.urandom(32)) % N
        plain = b"from python to the TPM"
        x2, y2 = mul(k, q)
        c2 = bytes(a ^ b for a, b in zip(plain, kdf2(be(x2) + be(y2), len(plain))))
        c3 = hashlib.sha256(be(x2) + plain + be(y2)).digest()
        c1 = ecc_point(mul(k, G))
        r = tpm.call(CC_ECC_DECRYPT, handles=(handle,), params=c1 + tpm2b(c2) + tpm2b(c3) + kdf, auths=(Auth(),))
        self.assertEqual(r.rc, 0, hex(r.rc))
        self.assertEqual(r.reader().tpm2b(), plain)
        bad = bytes([c3[0] ^ 1]) + c3[1:]
        r = tpm.call(CC_ECC_DECRYPT, handles=(handle,), params=c1 + tpm2b(c2) + tpm2b(bad) + kdf, auths=(Auth(),))
        self.assertEqual(r.rc, RC_VALUE)
        off = ecc_point((G[0], (G[1] + 1) % P))
        r = tpm.call(CC_ECC_DECRYPT, handles=(handle,), params=off + tpm2b(c2) + tpm2b(c3) + kdf, auths=(Auth(),))
        self.assertEqual(r.rc, RC_ECC_POINT_P1)
        r = tpm.call(CC_ECC_ENCRYPT, handles=(handle,), params=tpm2b(plain) + u16(NULL_ALG))
        self.assertEqual(r.rc, 0x2D2)  # TPM_RC_SCHEME+P2: no scheme on either side

    # ---- error codes of Commit (raw) ----
    def test_commit_errors(self):
        tpm = RetryingTpm(MssimClient(self.server.port))
        d = ib(os.urandom(32)) % N
        q = mul(d, G)
        ecdsa, _ = tpm.load_external(ecc_public(q, OBJ_SIGN | OBJ_USERWITHAUTH, 0x18, SHA256), ecc_sensitive(d))
        empty = u16(0)
        no_point = u16(4) + u16(0) + u16(0)  # an empty TPM2B_ECC_POINT as the reference reads it
        r = tpm.call(CC_COMMIT, handles=(ecdsa,), params=no_point + empty + empty, auths=(Auth(),))
        self.assertEqual(r.rc, RC_SCHEME_H1)  # not an anonymous scheme
        daa, _ = tpm.load_external(ecc_public(q, OBJ_SIGN | OBJ_USERWITHAUTH, ECDAA, SHA256), ecc_sensitive(d))
        r = tpm.call(CC_COMMIT, handles=(daa,), params=no_point + tpm2b(b"s2") + empty, auths=(Auth(),))
        self.assertEqual(r.rc, RC_SIZE_P3)  # s2 without y2
        off = ecc_point((G[0], (G[1] + 1) % P))
        r = tpm.call(CC_COMMIT, handles=(daa,), params=off + empty + empty, auths=(Auth(),))
        self.assertEqual(r.rc, RC_ECC_POINT_P1)
        # A good commit: E = [r]G on the curve, K and L empty points; the counter goes up by one.
        counters = []
        for _ in range(2):
            r = tpm.call(CC_COMMIT, handles=(daa,), params=no_point + empty + empty, auths=(Auth(),))
            self.assertEqual(r.rc, 0, hex(r.rc))
            k, n1 = read_ecc_point(r.params)
            l, n2 = read_ecc_point(r.params[n1:])
            e, n3 = read_ecc_point(r.params[n1 + n2:])
            self.assertIsNone(k)
            self.assertIsNone(l)
            self.assertTrue(on_curve(e))
            counters.append(struct.unpack(">H", r.params[n1 + n2 + n3:])[0])
        self.assertEqual(counters[1], (counters[0] + 1) & 0xFFFF)

        # Commit with P1 = [a]G and P2 = (H(s2) mod p, y2) (raw: tpm2_commit 5.4 does not pass s2
        # on): K = [d]P2 checked directly; L = [r]P2 and E = [r]P1 through the ECDAA signature.
        a = ib(os.urandom(32)) % N
        p1 = mul(a, G)
        while True:
            s2 = os.urandom(16)
            x2 = ib(hashlib.sha256(s2).digest()) % P
            rhs = (x2 ** 3 + A * x2 + B) % P
            y2 = pow(rhs, (P + 1) // 4, P)
            if y2 * y2 % P == rhs:
                break
        p2 = (x2, y2)
        r = tpm.call(CC_COMMIT, handles=(daa,), params=ecc_point(p1) + tpm2b(s2) + tpm2b(be(y2)), auths=(Auth(),))
        self.assertEqual(r.rc, 0, hex(r.rc))
        k_pt, n1 = read_ecc_point(r.params)
        l_pt, n2 = read_ecc_point(r.params[n1:])
        e_pt, n3 = read_ecc_point(r.params[n1 + n2:])
        counter = struct.unpack(">H", r.params[n1 + n2 + n3:])[0]
        self.assertEqual(counter, (counters[1] + 1) & 0xFFFF)
        self.assertEqual(k_pt, mul(d, p2), "K != [d]P2")
        digest = hashlib.sha256(b"raw ECDAA").digest()
        ticket = u16(0x8024) + u32(RH_NULL) + u16(0)
        r = tpm.call(CC_SIGN, handles=(daa,), params=tpm2b(digest) + u16(ECDAA) + u16(SHA256) + u16(counter) + ticket,
                     auths=(Auth(),))
        self.assertEqual(r.rc, 0, hex(r.rc))
        alg, h, nonce_k, s = read_signature(r.params)
        self.assertEqual((alg, h), (ECDAA, SHA256))
        t = ib(hashlib.sha256(nonce_k + digest).digest())
        self.assertEqual(mul(ib(s), p2), add(l_pt, mul(t, k_pt)), "[s]P2 != L + [T]K")
        self.assertEqual(mul(ib(s), p1), add(e_pt, mul(t, mul(d, p1))), "[s]P1 != E + [T][d]P1")
        # An unknown counter is TPM_RC_VALUE (bare, as the reference answers).
        r = tpm.call(CC_SIGN, handles=(daa,), params=tpm2b(digest) + u16(ECDAA) + u16(SHA256) + u16(counter) + ticket,
                     auths=(Auth(),))
        self.assertEqual(r.rc, RC_VALUE)
        # y2 off the curve for H(s2): TPM_RC_ECC_POINT+P2.
        r = tpm.call(CC_COMMIT, handles=(daa,), params=no_point + tpm2b(s2) + tpm2b(be((y2 + 1) % P)), auths=(Auth(),))
        self.assertEqual(r.rc, 0x2E7)

    # ---- the commands are listed ----
    def test_commands_listed(self):
        if self.shim:
            self.skipTest("utpm's list")
        tpm = RetryingTpm(MssimClient(self.server.port))
        r = tpm.call(CC_GET_CAP, params=u32(2) + u32(CC_COMMIT) + u32(32))  # TPM_CAP_COMMANDS
        self.assertEqual(r.rc, 0)
        body = r.params[1 + 4:]
        count = struct.unpack(">I", body[:4])[0]
        codes = {struct.unpack(">I", body[4 + 4 * i:8 + 4 * i])[0] & 0xFFFF for i in range(count)}
        for cc in (CC_COMMIT, CC_ZGEN_2PHASE, CC_EC_EPHEMERAL, CC_ECC_ENCRYPT, CC_ECC_DECRYPT):
            self.assertIn(cc, codes)


if __name__ == "__main__":
    unittest.main()
