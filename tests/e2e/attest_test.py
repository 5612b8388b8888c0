#!/usr/bin/python3
"""End to end: attestation and credential activation with Debian's tpm2-tools (5.4) over mssim.

Nothing the TPM says is trusted: every TPMS_ATTEST is decoded here and its signature verified
with python3-cryptography against the key's public PEM; PCR digests are recomputed from
tpm2_pcrread; names are recomputed from public areas; MakeCredential's blob is opened here with
the private key the test generated (OAEP / ECDH + KDFe, KDFa, AES-CFB, HMAC in Python).
With UTPM_E2E_MSSIM_SHIM=/work/shared/bench/mssim-swtpm-shim the same tests run against swtpm.

Run: UTPMD=build/host-debug/src/host/utpmd python3 tests/e2e/attest_test.py [-k pattern]
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
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from tpm_raw import RH_ENDORSEMENT, RH_NULL, RH_OWNER, RH_PLATFORM, Auth, Tpm, kdfa, rc_session, tpm2b, u16, u32
from utpmd_harness import SU_CLEAR, MssimClient, MssimShim, Utpmd, rc_of, run_tool, startup

SHA1, SHA256, SHA384 = 0x0004, 0x000B, 0x000C
HASHES = {SHA1: hashlib.sha1, SHA256: hashlib.sha256, SHA384: hashlib.sha384}
CRYPTO_HASH = {SHA1: hashes.SHA1, SHA256: hashes.SHA256, SHA384: hashes.SHA384}
BANK = {"sha1": SHA1, "sha256": SHA256, "sha384": SHA384}
RSASSA, RSAPSS, ECDSA, NULL = 0x0014, 0x0016, 0x0018, 0x0010
GENERATED = 0xFF544347
ST_NV, ST_CERTIFY, ST_QUOTE, ST_TIME, ST_CREATION, ST_NV_DIGEST = 0x8014, 0x8017, 0x8018, 0x8019, 0x801A, 0x801C
CC_QUOTE, CC_MAKE_CREDENTIAL, CC_NV_CERTIFY, CC_READ_CLOCK = 0x158, 0x168, 0x184, 0x181

CC_SET_AUDIT, CC_GET_COMMAND_AUDIT, CC_GET_SESSION_AUDIT, CC_GET_RANDOM, CC_GET_CAP = 0x140, 0x133, 0x14D, 0x17B, 0x17A
ST_COMMAND_AUDIT, ST_SESSION_AUDIT = 0x8015, 0x8016
SE_CONTINUE, SE_AUDIT_EXCLUSIVE, SE_AUDIT_RESET, SE_AUDIT = 0x01, 0x02, 0x04, 0x80
RC_EXCLUSIVE, RC_VALUE_P1, RC_TYPE_H3 = 0x121, 0x1C4, 0x38A
RC_SCHEME_P2 = 0x2D2
RC_TICKET_P3 = 0x3E0
RC_INTEGRITY_P1 = 0x1DF
RC_VALUE_H1 = 0x184


class R:
    """Big-endian reader."""

    def __init__(self, b):
        self.b, self.p = b, 0

    def take(self, n):
        assert self.p + n <= len(self.b), "truncated"
        v = self.b[self.p:self.p + n]
        self.p += n
        return v

    def u8(self):
        return self.take(1)[0]

    def u16(self):
        return struct.unpack(">H", self.take(2))[0]

    def u32(self):
        return struct.unpack(">I", self.take(4))[0]

    def u64(self):
        return struct.unpack(">Q", self.take(8))[0]

    def tpm2b(self):
        return self.take(self.u16())

    def done(self):
        return self.p == len(self.b)


def parse_pcr_selection(r):
    sel = []
    for _ in range(r.u32()):
        alg = r.u16()
        bits = r.take(r.u8())
        sel.append((alg, [i for i in range(8 * len(bits)) if bits[i // 8] >> (i % 8) & 1]))
    return sel


def parse_attest(b):
    """TPMS_ATTEST (TPM 2.0 Part 2 §10.12.12), decoded field by field; asserts no byte is left."""
    r = R(b)
    a = dict(magic=r.u32(), type=r.u16(), signer=r.tpm2b(), extra=r.tpm2b(), clock=r.u64(), reset=r.u32(),
             restart=r.u32(), safe=r.u8(), firmware=r.u64())
    t = a["type"]
    if t == ST_QUOTE:
        a["pcr_select"] = parse_pcr_selection(r)
        a["pcr_digest"] = r.tpm2b()
    elif t == ST_CERTIFY:
        a["name"], a["qualified_name"] = r.tpm2b(), r.tpm2b()
    elif t == ST_CREATION:
        a["name"], a["creation_hash"] = r.tpm2b(), r.tpm2b()
    elif t == ST_TIME:
        a["time"], a["t_clock"], a["t_reset"], a["t_restart"], a["t_safe"] = r.u64(), r.u64(), r.u32(), r.u32(), r.u8()
        a["t_firmware"] = r.u64()
    elif t == ST_NV:
        a["name"], a["offset"], a["contents"] = r.tpm2b(), r.u16(), r.tpm2b()
    elif t == ST_COMMAND_AUDIT:
        a["counter"], a["digest_alg"], a["audit_digest"], a["command_digest"] = r.u64(), r.u16(), r.tpm2b(), r.tpm2b()
    elif t == ST_SESSION_AUDIT:
        a["exclusive"], a["session_digest"] = r.u8(), r.tpm2b()
    elif t == ST_NV_DIGEST:
        a["name"], a["nv_digest"] = r.tpm2b(), r.tpm2b()
    else:
        raise AssertionError(f"unknown attestation type {t:#x}")
    assert r.done(), "bytes after TPMS_ATTEST"
    assert a["magic"] == GENERATED
    return a


def parse_signature(b):
    """TPMT_SIGNATURE -> (sigAlg, hash, signature as cryptography wants it)."""
    r = R(b)
    alg = r.u16()
    if alg == NULL:
        return alg, None, None
    h = r.u16()
    if alg in (RSASSA, RSAPSS):
        sig = r.tpm2b()
    elif alg == ECDSA:
        sig = encode_dss_signature(int.from_bytes(r.tpm2b(), "big"), int.from_bytes(r.tpm2b(), "big"))
    else:
        raise AssertionError(f"signature algorithm {alg:#x}")
    assert r.done()
    return alg, h, sig


def verify(pem, attest, signature):
    """Verifies a TPMT_SIGNATURE over the attestation bytes with the public key (raises if bad)."""
    key = serialization.load_pem_public_key(pem)
    alg, h, sig = parse_signature(signature)
    if alg == RSASSA:
        key.verify(sig, attest, padding.PKCS1v15(), CRYPTO_HASH[h]())
    elif alg == RSAPSS:
        key.verify(sig, attest, padding.PSS(padding.MGF1(CRYPTO_HASH[h]()), padding.PSS.AUTO), CRYPTO_HASH[h]())
    elif alg == ECDSA:
        key.verify(sig, attest, ec.ECDSA(CRYPTO_HASH[h]()))
    else:
        raise AssertionError("unsigned")
    return alg, h


def kdfe(alg, z, label, u, v, bits):
    """KDFe (TPM 2.0 Part 1 §11.4.10.3): H(counter || Z || label || 0 || PartyU || PartyV) blocks."""
    out, i = b"", 1
    while len(out) * 8 < bits:
        out += HASHES[alg](u32(i) + z + label + b"\0" + u + v).digest()
        i += 1
    return out[:bits // 8]


def hsh(alg, *parts):
    return HASHES[alg](b"".join(parts)).digest()


def audit_extend(alg, digest, cc, names, params, rparams):
    """digest' = H(digest || cpHash || rpHash), a cleared digest starting as zeros (Part 1)."""
    if not digest:
        digest = bytes(HASHES[alg]().digest_size)
    cp = hsh(alg, u32(cc), *names, params)
    rp = hsh(alg, u32(0), u32(cc), rparams)
    return hsh(alg, digest, cp, rp)


def offline(*args):
    """A tpm2-tools command that takes no TCTI (tpm2_checkquote)."""
    p = subprocess.run(list(args), capture_output=True, timeout=30)
    assert p.returncode == 0, f"{args}: {p.stderr.decode(errors='replace')}"
    return p


class Attest(unittest.TestCase):
    """Attestation, credentials, command audit and audit sessions."""

    def setUp(self):
        self.shim = os.environ.get("UTPM_E2E_MSSIM_SHIM")
        self.server = None
        self.start_server()
        self.tmp = tempfile.TemporaryDirectory(prefix="utpm-e2e-attest-")
        self.addCleanup(self.tmp.cleanup)

    def start_server(self):
        self.server = MssimShim(self.shim).start() if self.shim else Utpmd().start()
        self.addCleanup(self.stop_server, self.server)
        self.startup()

    def startup(self):
        c = MssimClient(self.server.port)
        self.assertEqual(rc_of(c.execute(startup(SU_CLEAR))), 0)
        c.close()

    def stop_server(self, server):
        if server.alive():
            self.assertEqual(server.stop(), 0, "utpmd did not exit cleanly:\n" + "".join(server.log))

    def tool(self, *args, **kw):
        p = run_tool(list(args), self.server.mssim_tcti, **kw)
        if args[0] not in ("tpm2_flushcontext",):
            run_tool(["tpm2_flushcontext", "-t"], self.server.mssim_tcti)  # no resource manager
        return p

    def fails(self, expected_rc, *args):
        p = run_tool(list(args), self.server.mssim_tcti, check=False)
        run_tool(["tpm2_flushcontext", "-t"], self.server.mssim_tcti)
        self.assertNotEqual(p.returncode, 0, f"{args} succeeded")
        codes = re.findall(r"ErrorCode \((0x[0-9a-fA-F]+)\)", p.stderr.decode())
        self.assertTrue(codes, p.stderr.decode())
        self.assertEqual(int(codes[0], 16), expected_rc, f"{args}: {p.stderr.decode()}")

    def path(self, name):
        return os.path.join(self.tmp.name, name)

    def read(self, name):
        with open(self.path(name), "rb") as f:
            return f.read()

    def write(self, name, data):
        with open(self.path(name), "wb") as f:
            f.write(data)
        return self.path(name)

    def raw(self):
        c = MssimClient(self.server.port)
        self.addCleanup(c.close)
        return Tpm(c)

    # ---- keys ----
    def ek_ak(self, alg):
        """createek + createak (AK signing with RSASSA-SHA256 or ECDSA-SHA256); returns the
        AK's PEM and Name (the Name checked against H(TPMT_PUBLIC) here)."""
        p = self.path
        self.tool("tpm2_createek", "-c", p("ek.ctx"), "-G", alg, "-u", p("ek.pub"))
        scheme = "rsassa" if alg == "rsa" else "ecdsa"
        self.tool("tpm2_createak", "-C", p("ek.ctx"), "-c", p("ak.ctx"), "-G", alg, "-s", scheme, "-g", "sha256",
                  "-u", p("ak.pem"), "-f", "pem", "-n", p("ak.name"))
        self.tool("tpm2_readpublic", "-c", p("ak.ctx"), "-o", p("ak.tpub"))
        public = self.read("ak.tpub")[2:]  # TPM2B_PUBLIC -> TPMT_PUBLIC
        name = u16(SHA256) + hashlib.sha256(public).digest()
        self.assertEqual(self.read("ak.name"), name)
        return self.read("ak.pem"), name

    def readclock(self):
        text = self.tool("tpm2_readclock").stdout.decode()
        return (int(re.search(r"reset_count:\s*(\d+)", text).group(1)),
                int(re.search(r"restart_count:\s*(\d+)", text).group(1)))

    def firmware_version(self):
        text = self.tool("tpm2_getcap", "properties-fixed").stdout.decode()
        v1 = int(re.search(r"TPM2_PT_FIRMWARE_VERSION_1:\s*\n\s*raw:\s*(0x[0-9a-fA-F]+)", text).group(1), 16)
        v2 = int(re.search(r"TPM2_PT_FIRMWARE_VERSION_2:\s*\n\s*raw:\s*(0x[0-9a-fA-F]+)", text).group(1), 16)
        return v1 << 32 | v2

    def pcr_values(self, spec):
        """{(alg, pcr): value} from tpm2_pcrread's text output."""
        text = self.tool("tpm2_pcrread", spec).stdout.decode()
        values, bank = {}, None
        for line in text.splitlines():
            m = re.match(r"\s*(sha1|sha256|sha384):\s*$", line)
            if m:
                bank = BANK[m.group(1)]
                continue
            m = re.match(r"\s*(\d+)\s*:\s*0x([0-9A-Fa-f]+)", line)
            if m:
                values[(bank, int(m.group(1)))] = bytes.fromhex(m.group(2))
        return values

    def activate(self, cred, out):
        p = self.path
        self.tool("tpm2_startauthsession", "--policy-session", "-S", p("session.ctx"))
        self.tool("tpm2_policysecret", "-S", p("session.ctx"), "-c", "e")
        self.tool("tpm2_activatecredential", "-c", p("ak.ctx"), "-C", p("ek.ctx"), "-i", p(cred), "-o", p(out),
                  "-P", "session:" + p("session.ctx"))
        self.tool("tpm2_flushcontext", p("session.ctx"))
        return self.read(out)

    def credential_round_trip(self, alg, name):
        secret = os.urandom(32)
        self.write("secret", secret)
        p = self.path
        # Offline (tpm2-tools computes the blob itself) and on the TPM (TPM2_MakeCredential).
        run_tool(["tpm2_makecredential", "-u", p("ek.pub"), "-s", p("secret"), "-n", name.hex(), "-o",
                  p("cred.off")], "none")
        self.assertEqual(self.activate("cred.off", "act.off"), secret)
        run_tool(["tpm2_makecredential", "-u", p("ek.pub"), "-s", p("secret"), "-n", name.hex(), "-o",
                  p("cred.tpm")], self.server.mssim_tcti)
        self.assertEqual(self.activate("cred.tpm", "act.tpm"), secret)
        self.assertNotEqual(self.read("cred.off"), self.read("cred.tpm"), "a fresh seed per credential")
        # A credential for another object, or a tampered blob, does not activate.
        run_tool(["tpm2_makecredential", "-u", p("ek.pub"), "-s", p("secret"), "-n",
                  (u16(SHA256) + bytes(32)).hex(), "-o", p("cred.other")], "none")
        self.tool("tpm2_startauthsession", "--policy-session", "-S", p("session.ctx"))
        self.tool("tpm2_policysecret", "-S", p("session.ctx"), "-c", "e")
        self.fails(RC_INTEGRITY_P1, "tpm2_activatecredential", "-c", p("ak.ctx"), "-C", p("ek.ctx"), "-i",
                   p("cred.other"), "-o", p("act.other"), "-P", "session:" + p("session.ctx"))

    def quote_and_check(self, pem, alg_name, selection, pcr_spec):
        p = self.path
        nonce = os.urandom(16)
        self.tool("tpm2_quote", "-c", p("ak.ctx"), "-l", pcr_spec, "-q", nonce.hex(), "-m", p("q.msg"), "-s",
                  p("q.sig"), "-o", p("q.pcrs"), "-g", "sha256")
        offline("tpm2_checkquote", "-u", p("ak.pem"), "-m", p("q.msg"), "-s", p("q.sig"), "-f", p("q.pcrs"),
                  "-g", "sha256", "-q", nonce.hex())
        attest = self.read("q.msg")
        verify(pem, attest, self.read("q.sig"))
        a = parse_attest(attest)
        self.assertEqual(a["type"], ST_QUOTE)
        self.assertEqual(a["extra"], nonce)
        self.assertEqual(a["pcr_select"], selection)
        values = self.pcr_values(pcr_spec)
        composite = b"".join(values[(bank, i)] for bank, pcrs in selection for i in pcrs)
        self.assertEqual(a["pcr_digest"], hashlib.sha256(composite).digest())
        # An AK lives in the endorsement hierarchy: the true counts and firmware version.
        self.assertEqual((a["reset"], a["restart"]), self.readclock())
        self.assertEqual(a["firmware"], self.firmware_version())
        return a

    # ---- tests ----
    def test_rsa_ek_ak_credential_and_multibank_quote(self):
        pem, name = self.ek_ak("rsa")
        self.credential_round_trip("rsa", name)
        self.tool("tpm2_pcrextend", "16:sha256=" + hashlib.sha256(b"utpm").hexdigest() + ",sha1=" +
                  hashlib.sha1(b"utpm").hexdigest())
        a = self.quote_and_check(pem, "rsa", [(SHA1, [0, 1, 16]), (SHA256, [0, 16]), (SHA384, [3])],
                                 "sha1:0,1,16+sha256:0,16+sha384:3")
        self.assertEqual(a["signer"][:2], u16(SHA256), "qualifiedSigner is the AK's QN")
        values = self.pcr_values("sha256:16")
        self.assertEqual(values[(SHA256, 16)], hashlib.sha256(bytes(32) + hashlib.sha256(b"utpm").digest()).digest())

    def test_ecc_ek_ak_credential_and_quote(self):
        pem, name = self.ek_ak("ecc")
        self.credential_round_trip("ecc", name)
        self.quote_and_check(pem, "ecc", [(SHA256, [0, 1, 2, 7])], "sha256:0,1,2,7")

    def test_certify_and_certifycreation(self):
        pem, _ = self.ek_ak("ecc")
        p = self.path
        self.tool("tpm2_createprimary", "-C", "o", "-c", p("prim.ctx"), "--creation-data", p("cd"), "-t", p("tk"),
                  "-d", p("ch"))
        self.tool("tpm2_readpublic", "-c", p("prim.ctx"), "-o", p("prim.tpub"))
        prim_name = u16(SHA256) + hashlib.sha256(self.read("prim.tpub")[2:]).digest()
        self.tool("tpm2_certify", "-c", p("prim.ctx"), "-C", p("ak.ctx"), "-g", "sha256", "-o", p("c.att"), "-s",
                  p("c.sig"))
        verify(pem, self.read("c.att"), self.read("c.sig"))
        a = parse_attest(self.read("c.att"))
        self.assertEqual(a["type"], ST_CERTIFY)
        self.assertEqual(a["name"], prim_name)
        # A primary's QN: nameAlg || H(handle of the hierarchy || Name)
        self.assertEqual(a["qualified_name"], u16(SHA256) + hashlib.sha256(u32(RH_OWNER) + prim_name).digest())

        # CertifyCreation: the creation hash is H_nameAlg(TPMS_CREATION_DATA), recomputed here.
        creation_data = self.read("cd")
        size = struct.unpack(">H", creation_data[:2])[0]
        self.assertEqual(size, len(creation_data) - 2)
        self.assertEqual(self.read("ch")[-32:], hashlib.sha256(creation_data[2:]).digest())
        qualifying = os.urandom(8)
        self.tool("tpm2_certifycreation", "-C", p("ak.ctx"), "-c", p("prim.ctx"), "-d", p("ch"), "-t", p("tk"),
                  "-g", "sha256", "-o", p("cc.sig"), "--attestation", p("cc.att"), "-q", qualifying.hex())
        verify(pem, self.read("cc.att"), self.read("cc.sig"))
        a = parse_attest(self.read("cc.att"))
        self.assertEqual((a["type"], a["name"], a["extra"]), (ST_CREATION, prim_name, qualifying))
        self.assertEqual(a["creation_hash"], hashlib.sha256(creation_data[2:]).digest())
        # A ticket for another hash is refused.
        self.write("ch.bad", self.read("ch")[:-1] + bytes([self.read("ch")[-1] ^ 1]))
        self.fails(0x4E0, "tpm2_certifycreation", "-C", p("ak.ctx"), "-c", p("prim.ctx"), "-d", p("ch.bad"), "-t",
                   p("tk"), "-g", "sha256", "-o", p("cc2.sig"), "--attestation", p("cc2.att"))

    def test_gettime(self):
        pem, _ = self.ek_ak("rsa")
        p = self.path
        self.tool("tpm2_gettime", "-c", p("ak.ctx"), "-q", "c0ffee", "-o", p("t.sig"), "--attestation", p("t.att"))
        verify(pem, self.read("t.att"), self.read("t.sig"))
        a = parse_attest(self.read("t.att"))
        self.assertEqual((a["type"], a["extra"]), (ST_TIME, bytes.fromhex("c0ffee")))
        self.assertEqual((a["t_reset"], a["t_restart"]), self.readclock())
        self.assertEqual(a["t_firmware"], self.firmware_version())
        self.assertEqual(a["t_clock"], a["clock"])

    def test_nvcertify(self):
        pem, _ = self.ek_ak("rsa")
        p = self.path
        index, size = 0x1500010, 32
        attrs = (1 << 1) | (1 << 2) | (1 << 17) | (1 << 18)  # ownerwrite|authwrite|ownerread|authread
        self.tool("tpm2_nvdefine", "-C", "o", "-s", str(size), "-a", "ownerread|ownerwrite|authread|authwrite",
                  hex(index))
        data = os.urandom(size)
        self.tool("tpm2_nvwrite", "-C", "o", "-i", self.write("nv", data), hex(index))
        public = struct.pack(">IHIHH", index, SHA256, attrs | (1 << 29), 0, size)  # WRITTEN now set
        nv_name = u16(SHA256) + hashlib.sha256(public).digest()
        self.tool("tpm2_nvcertify", "-C", p("ak.ctx"), "-g", "sha256", "-o", p("n.sig"), "--attestation",
                  p("n.att"), "--size", "8", "--offset", "4", "-c", "o", "-q", "77", hex(index))
        verify(pem, self.read("n.att"), self.read("n.sig"))
        a = parse_attest(self.read("n.att"))
        self.assertEqual((a["type"], a["name"], a["offset"], a["contents"]), (ST_NV, nv_name, 4, data[4:12]))
        # size 0 and offset 0: TPM_ST_ATTEST_NV_DIGEST over the whole index (raw command: the
        # tools always ask for data).
        ak = self.persist_ak()  # before the raw client: the mssim port serves one client at a time
        t = self.raw()
        r = t.call(CC_NV_CERTIFY, handles=(ak, index, index), params=tpm2b(b"x") + u16(NULL) + u16(0) + u16(0),
                   auths=(Auth(), Auth()))
        self.assertEqual(r.rc, 0, hex(r.rc))
        rr = R(r.params)
        attest = rr.tpm2b()
        verify(pem, attest, rr.take(len(r.params) - rr.p))
        a = parse_attest(attest)
        self.assertEqual((a["type"], a["name"], a["nv_digest"]), (ST_NV_DIGEST, nv_name, hashlib.sha256(data).digest()))

    def persist_ak(self):
        """Makes the AK saved by the tools persistent; returns its handle."""
        self.tool("tpm2_evictcontrol", "-C", "o", "-c", self.path("ak.ctx"), "0x81000010")
        return 0x81000010

    def test_owner_key_counts_are_obfuscated(self):
        """Part 3 §18.1: an owner-hierarchy signer sees resetCount/restartCount/firmwareVersion
        offset by a per-key constant; endorsement and platform signers see the true values."""
        p = self.path

        def quote_with(ctx, pem):
            self.tool("tpm2_quote", "-c", ctx, "-l", "sha256:0", "-m", p("o.msg"), "-s", p("o.sig"), "-g", "sha256")
            verify(pem, self.read("o.msg"), self.read("o.sig"))
            return parse_attest(self.read("o.msg"))

        def owner_key(hierarchy):
            ctx = p(f"{hierarchy}.ctx")
            self.tool("tpm2_createprimary", "-C", hierarchy, "-G", "ecc256:ecdsa-sha256:null", "-c", ctx, "-a",
                      "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|restricted|sign")
            self.tool("tpm2_readpublic", "-c", ctx, "-o", p(f"{hierarchy}.pem"), "-f", "pem")
            return ctx, self.read(f"{hierarchy}.pem")

        true_reset, true_restart = self.readclock()
        firmware = self.firmware_version()
        ctx, pem = owner_key("o")
        a1 = quote_with(ctx, pem)
        a2 = quote_with(ctx, pem)
        self.assertEqual((a1["reset"], a1["restart"], a1["firmware"]), (a2["reset"], a2["restart"], a2["firmware"]),
                         "the offset is constant for one key")
        self.assertNotEqual((a1["reset"], a1["restart"], a1["firmware"]), (true_reset, true_restart, firmware))
        # A platform key sees the true values.
        pctx, ppem = owner_key("p")
        a = quote_with(pctx, ppem)
        self.assertEqual((a["reset"], a["restart"], a["firmware"]), (true_reset, true_restart, firmware))
        # After a TPM Reset the same owner key (re-derived: same QN) reports resetCount + 1.
        self.server.power_cycle()
        self.startup()
        self.assertEqual(self.readclock()[0], (true_reset + 1) & 0xFFFFFFFF)
        ctx, pem2 = owner_key("o")
        self.assertEqual(pem2, pem)
        a3 = quote_with(ctx, pem)
        self.assertEqual(a3["reset"], (a1["reset"] + 1) & 0xFFFFFFFF)
        self.assertEqual((a3["restart"], a3["firmware"]), (a1["restart"], a1["firmware"]))

    def test_restricted_key_refuses_generated_value(self):
        self.ek_ak("rsa")
        p = self.path
        data = self.write("forged", struct.pack(">I", GENERATED) + struct.pack(">H", ST_QUOTE) + os.urandom(40))
        self.fails(RC_TICKET_P3, "tpm2_sign", "-c", p("ak.ctx"), "-g", "sha256", "-o", p("s.sig"), data)

    def test_signing_scheme_selection(self):
        """The key's scheme wins; a different inScheme is TPM_RC_SCHEME+P2; a NULL-scheme key
        takes the caller's scheme and needs one."""
        self.ek_ak("rsa")
        ak = self.persist_ak()
        p = self.path
        self.tool("tpm2_createprimary", "-C", "o", "-G", "rsa2048:null:null", "-c", p("k.ctx"), "-a",
                  "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|sign")
        self.tool("tpm2_readpublic", "-c", p("k.ctx"), "-o", p("k.pem"), "-f", "pem")
        self.tool("tpm2_evictcontrol", "-C", "o", "-c", p("k.ctx"), "0x81000011")
        pem = self.read("k.pem")
        t = self.raw()
        sel = u32(1) + u16(SHA256) + bytes([3, 1, 0, 0])

        def quote(handle, scheme):
            for _ in range(10):  # swtpm may answer TPM_RC_RETRY after the persistent writes
                r = t.call(CC_QUOTE, handles=(handle,), params=tpm2b(b"q") + scheme + sel, auths=(Auth(),))
                if r.rc != 0x922:
                    return r
            return r

        self.assertEqual(quote(ak, u16(RSASSA) + u16(SHA1)).rc, RC_SCHEME_P2)
        self.assertEqual(quote(ak, u16(RSAPSS) + u16(SHA256)).rc, RC_SCHEME_P2)
        self.assertEqual(quote(ak, u16(RSASSA) + u16(SHA256)).rc, 0)
        self.assertEqual(quote(0x81000011, u16(NULL)).rc, RC_SCHEME_P2)
        self.assertEqual(quote(0x81000011, u16(ECDSA) + u16(SHA256)).rc, RC_SCHEME_P2)
        r = quote(0x81000011, u16(RSAPSS) + u16(SHA384))
        self.assertEqual(r.rc, 0, hex(r.rc))
        rr = R(r.params)
        attest = rr.tpm2b()
        self.assertEqual(verify(pem, attest, rr.take(len(r.params) - rr.p)), (RSAPSS, SHA384))
        a = parse_attest(attest)
        self.assertEqual(a["pcr_digest"], hashlib.sha384(self.pcr_values_raw(t, SHA256, 0)).digest())

    def pcr_values_raw(self, t, alg, pcr):
        r = t.call(0x17E, params=u32(1) + u16(alg) + bytes([3]) + bytes(1 << pcr % 8 if i == pcr // 8 else 0
                                                                       for i in range(3)))
        self.assertEqual(r.rc, 0)
        rr = R(r.params)
        rr.u32()
        parse_pcr_selection(rr)
        self.assertEqual(rr.u32(), 1)
        return rr.tpm2b()

    def test_null_sign_handle(self):
        """TPM_RH_NULL as signHandle: GetTime answers an unsigned structure (TPM_ALG_NULL signature,
        qualifiedSigner the Name of TPM_RH_NULL); a Quote has no hash for its PCR digest and is
        TPM_RC_SCHEME+P2 whatever inScheme says (swtpm: the same)."""
        true_counts = self.readclock()
        firmware = self.firmware_version()
        t = self.raw()
        r = t.call(0x14C, handles=(RH_ENDORSEMENT, RH_NULL), params=tpm2b(b"n0nce") + u16(NULL),
                   auths=(Auth(), Auth()))
        self.assertEqual(r.rc, 0, hex(r.rc))
        rr = R(r.params)
        a = parse_attest(rr.tpm2b())
        self.assertEqual(rr.u16(), NULL, "no signature")
        self.assertTrue(rr.done())
        self.assertEqual((a["type"], a["extra"], a["signer"]), (ST_TIME, b"n0nce", u32(RH_NULL)))
        self.assertEqual(((a["t_reset"], a["t_restart"]), a["t_firmware"]), (true_counts, firmware))
        self.assertNotEqual(((a["reset"], a["restart"]), a["firmware"]), (true_counts, firmware),
                            "no signing key: not in the endorsement or platform hierarchy, obfuscated")
        self.assertEqual(t.call(0x14C, handles=(RH_OWNER, RH_NULL), params=tpm2b(b"") + u16(NULL),
                                auths=(Auth(), Auth())).rc, RC_VALUE_H1, "privacyAdminHandle: endorsement only")
        sel = u32(1) + u16(SHA256) + bytes([3, 1, 0, 0])
        for scheme in (u16(NULL), u16(RSASSA) + u16(SHA256)):
            r = t.call(CC_QUOTE, handles=(RH_NULL,), params=tpm2b(b"n0nce") + scheme + sel, auths=(Auth(),))
            self.assertEqual(r.rc, RC_SCHEME_P2)

    def make_credential_raw(self, public, name, credential):
        t = self.raw()
        handle, key_name = t.load_external(public, hierarchy=RH_OWNER)
        r = t.call(CC_MAKE_CREDENTIAL, handles=(handle,), params=tpm2b(credential) + tpm2b(name))
        self.assertEqual(r.rc, 0, hex(r.rc))
        rr = R(r.params)
        blob, secret = rr.tpm2b(), rr.tpm2b()
        self.assertTrue(rr.done())
        t.flush(handle)
        return blob, secret

    def open_credential(self, seed, name, blob):
        """Part 1 §24: outer HMAC (INTEGRITY) over encIdentity || Name, then AES-128-CFB (STORAGE, iv 0)."""
        r = R(blob)
        integrity = r.tpm2b()
        enc = blob[r.p:]
        hmac_key = kdfa(SHA256, seed, b"INTEGRITY", b"", b"", 256)
        self.assertTrue(hmac.compare_digest(integrity, hmac.new(hmac_key, enc + name, "sha256").digest()))
        sym = kdfa(SHA256, seed, b"STORAGE", name, b"", 128)
        d = Cipher(algorithms.AES(sym), modes.CFB(bytes(16))).decryptor()
        plain = d.update(enc) + d.finalize()
        return R(plain).tpm2b()

    # restricted | decrypt | userwithauth | sensitivedataorigin-free public key, AES-128-CFB, no scheme
    ATTRS = (1 << 16) | (1 << 17) | (1 << 6)

    def test_make_credential_rsa_opened_independently(self):
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        n = key.public_key().public_numbers().n.to_bytes(256, "big")
        public = (u16(0x0001) + u16(SHA256) + u32(self.ATTRS) + tpm2b(b"") + u16(0x0006) + u16(128) + u16(0x0043) +
                  u16(NULL) + u16(2048) + u32(0) + tpm2b(n))
        name = u16(SHA256) + os.urandom(32)
        credential = os.urandom(20)
        blob, secret = self.make_credential_raw(public, name, credential)
        seed = key.decrypt(secret, padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA256(), b"IDENTITY\0"))
        self.assertEqual(len(seed), 32)
        self.assertEqual(self.open_credential(seed, name, blob), credential)

    def test_make_credential_ecc_opened_independently(self):
        key = ec.generate_private_key(ec.SECP256R1())
        nums = key.public_key().public_numbers()
        x, y = nums.x.to_bytes(32, "big"), nums.y.to_bytes(32, "big")
        public = (u16(0x0023) + u16(SHA256) + u32(self.ATTRS) + tpm2b(b"") + u16(0x0006) + u16(128) + u16(0x0043) +
                  u16(NULL) + u16(0x0003) + u16(NULL) + tpm2b(x) + tpm2b(y))
        name = u16(SHA256) + os.urandom(32)
        credential = os.urandom(32)
        blob, secret = self.make_credential_raw(public, name, credential)
        r = R(secret)
        qx, qy = r.tpm2b(), r.tpm2b()
        self.assertTrue(r.done())
        peer = ec.EllipticCurvePublicNumbers(int.from_bytes(qx, "big"), int.from_bytes(qy, "big"),
                                             ec.SECP256R1()).public_key()
        z = key.exchange(ec.ECDH(), peer)
        seed = kdfe(SHA256, z, b"IDENTITY", qx, x, 256)
        self.assertEqual(self.open_credential(seed, name, blob), credential)

    def raw_call(self, t, cc, handles=(), params=b"", auths=None, names=None):
        for _ in range(10):  # swtpm may answer TPM_RC_RETRY after NV writes
            r = t.call(cc, handles=handles, params=params, auths=auths if auths is not None else
                       tuple(Auth() for _ in handles), names=names)
            if r.rc != 0x922:
                return r
        return r

    def audit_counter(self, t):
        r = t.call(CC_GET_CAP, params=u32(6) + u32(0x213) + u32(2))
        self.assertEqual(r.rc, 0)
        rr = R(r.params)
        rr.u8(), rr.u32()
        self.assertEqual(rr.u32(), 2)
        props = {rr.u32(): rr.u32() for _ in range(2)}
        return props[0x213] << 32 | props[0x214]

    def audited_commands(self, t):
        r = t.call(CC_GET_CAP, params=u32(4) + u32(0) + u32(100))
        self.assertEqual(r.rc, 0)
        rr = R(r.params)
        rr.u8(), rr.u32()
        return [rr.u32() for _ in range(rr.u32())]

    def set_audit(self, t, alg, set_list=(), clear_list=()):
        params = u16(alg) + u32(len(set_list)) + b"".join(u32(c) for c in set_list) + u32(len(clear_list)) + \
            b"".join(u32(c) for c in clear_list)
        return self.raw_call(t, CC_SET_AUDIT, handles=(RH_OWNER,), params=params), params

    def test_command_audit(self):
        pem, _ = self.ek_ak("rsa")
        ak = self.persist_ak()
        t = self.raw()
        self.assertEqual(self.audited_commands(t), [CC_SET_AUDIT], "SetCommandCodeAuditStatus is always audited")
        # A new hash clears the digest and is not itself extended into either (two changes: the
        # default hash differs between TPMs).
        self.assertEqual(self.set_audit(t, SHA384)[0].rc, 0)
        self.assertEqual(self.set_audit(t, SHA256)[0].rc, 0)
        self.assertEqual(self.set_audit(t, SHA384, set_list=[CC_GET_RANDOM])[0].rc, RC_VALUE_P1)
        counter = self.audit_counter(t)
        r, params = self.set_audit(t, NULL, set_list=[CC_GET_RANDOM, 0x1FF])  # 0x1FF: not a command
        self.assertEqual(r.rc, 0)
        digest = audit_extend(SHA256, b"", CC_SET_AUDIT, [u32(RH_OWNER)], params, r.params)
        self.assertEqual(self.audit_counter(t), counter + 1, "a restarted digest counts")
        self.assertEqual(self.audited_commands(t), [CC_SET_AUDIT, CC_GET_RANDOM])
        r = self.raw_call(t, CC_GET_RANDOM, params=u16(16))
        self.assertEqual(r.rc, 0)
        digest = audit_extend(SHA256, digest, CC_GET_RANDOM, [], u16(16), r.params)
        # An unsigned digest (signHandle TPM_RH_NULL) leaves the digest running.
        r = self.raw_call(t, CC_GET_COMMAND_AUDIT, handles=(RH_ENDORSEMENT, RH_NULL), params=tpm2b(b"") + u16(NULL))
        self.assertEqual(r.rc, 0, hex(r.rc))
        a = parse_attest(R(r.params).tpm2b())
        self.assertEqual(a["audit_digest"], digest)
        self.assertEqual(a["command_digest"], hsh(SHA256, u32(CC_SET_AUDIT), u32(CC_GET_RANDOM)))
        t.client.close()
        # tpm2-tools: the AK signs it; the digest then starts over.
        p = self.path
        self.tool("tpm2_getcommandauditdigest", "-c", p("ak.ctx"), "-g", "sha256", "-q", "0102", "-m", p("ca.att"),
                  "-s", p("ca.sig"))
        verify(pem, self.read("ca.att"), self.read("ca.sig"))
        a = parse_attest(self.read("ca.att"))
        self.assertEqual((a["type"], a["extra"], a["counter"], a["digest_alg"]),
                         (ST_COMMAND_AUDIT, bytes([1, 2]), counter + 1, SHA256))
        self.assertEqual(a["audit_digest"], digest)
        self.assertEqual(a["command_digest"], hsh(SHA256, u32(CC_SET_AUDIT), u32(CC_GET_RANDOM)))
        self.tool("tpm2_getcommandauditdigest", "-c", p("ak.ctx"), "-g", "sha256", "-m", p("ca2.att"), "-s",
                  p("ca2.sig"))
        a = parse_attest(self.read("ca2.att"))
        self.assertEqual((a["audit_digest"], a["counter"]), (b"", counter + 1), "cleared by the signed digest")
        # tpm2_setcommandauditstatus: clear GetRandom (SetCommandCodeAuditStatus stays).
        self.tool("tpm2_setcommandauditstatus", "-c", "TPM2_CC_GetRandom")
        self.tool("tpm2_setcommandauditstatus", "-c", "TPM2_CC_SetCommandCodeAuditStatus")
        t = self.raw()
        self.assertEqual(self.audited_commands(t), [CC_SET_AUDIT])
        self.assertEqual(self.audit_counter(t), counter + 2, "the restarted digest counted once more")
        self.assertEqual(ak, 0x81000010)

    def session_audit_digest(self, t, session_handle, signer=RH_NULL):
        r = self.raw_call(t, CC_GET_SESSION_AUDIT, handles=(RH_ENDORSEMENT, signer, session_handle),
                          params=tpm2b(b"") + u16(NULL), auths=(Auth(), Auth()))
        self.assertEqual(r.rc, 0, hex(r.rc))
        rr = R(r.params)
        a = parse_attest(rr.tpm2b())
        return a, rr

    def test_session_audit(self):
        t = self.raw()
        s = t.start_session(auth_hash=SHA256)
        self.assertEqual(self.raw_call(t, CC_GET_SESSION_AUDIT, handles=(RH_ENDORSEMENT, RH_NULL, s.handle),
                                       params=tpm2b(b"") + u16(NULL), auths=(Auth(), Auth())).rc, RC_TYPE_H3,
                         "not an audit session yet")

        def random_with(attrs, exclusive=None):
            """GetRandom with the session; the response says whether it is (now) exclusive."""
            response = None if exclusive is None else (attrs & ~SE_AUDIT_EXCLUSIVE) | (
                SE_AUDIT_EXCLUSIVE if exclusive else 0)
            return t.call(CC_GET_RANDOM, params=u16(8), auths=(Auth(session=s, attrs=attrs, response_attrs=response),))

        self.assertEqual(random_with(SE_CONTINUE | SE_AUDIT_RESET).rc, rc_session(0x002 | 0x080, 1),
                         "auditReset without audit: TPM_RC_ATTRIBUTES")
        r = random_with(SE_CONTINUE | SE_AUDIT, exclusive=True)
        self.assertEqual(r.rc, 0)
        digest = audit_extend(SHA256, b"", CC_GET_RANDOM, [], u16(8), r.params)
        a, _ = self.session_audit_digest(t, s.handle)
        self.assertEqual((a["type"], a["session_digest"], a["exclusive"]), (ST_SESSION_AUDIT, digest, 1))
        # GetSessionAuditDigest ran without the session: no longer exclusive.
        self.assertEqual(random_with(SE_CONTINUE | SE_AUDIT | SE_AUDIT_EXCLUSIVE).rc, RC_EXCLUSIVE)
        r = random_with(SE_CONTINUE | SE_AUDIT, exclusive=False)
        self.assertEqual(r.rc, 0)
        digest = audit_extend(SHA256, digest, CC_GET_RANDOM, [], u16(8), r.params)
        a, _ = self.session_audit_digest(t, s.handle)
        self.assertEqual((a["session_digest"], a["exclusive"]), (digest, 0))
        # auditReset restarts the digest and makes the session exclusive again.
        r = random_with(SE_CONTINUE | SE_AUDIT | SE_AUDIT_RESET, exclusive=True)
        self.assertEqual(r.rc, 0)
        digest = audit_extend(SHA256, b"", CC_GET_RANDOM, [], u16(8), r.params)
        r = random_with(SE_CONTINUE | SE_AUDIT | SE_AUDIT_EXCLUSIVE, exclusive=True)
        self.assertEqual(r.rc, 0, "exclusive since the reset")
        digest = audit_extend(SHA256, digest, CC_GET_RANDOM, [], u16(8), r.params)
        a, _ = self.session_audit_digest(t, s.handle)
        self.assertEqual((a["session_digest"], a["exclusive"]), (digest, 1))
        t.flush(s.handle)

    def test_session_audit_with_tools(self):
        pem, _ = self.ek_ak("ecc")
        p = self.path
        self.tool("tpm2_startauthsession", "-S", p("audit.ctx"), "--audit-session")
        out = self.tool("tpm2_getrandom", "8", "-S", p("audit.ctx"), "-o", p("rnd")).stdout
        self.tool("tpm2_getsessionauditdigest", "-c", p("ak.ctx"), "-g", "sha256", "-m", p("sa.att"), "-s",
                  p("sa.sig"), "-S", p("audit.ctx"))
        verify(pem, self.read("sa.att"), self.read("sa.sig"))
        a = parse_attest(self.read("sa.att"))
        self.assertEqual(a["type"], ST_SESSION_AUDIT)
        expect = audit_extend(SHA256, b"", CC_GET_RANDOM, [], u16(8), tpm2b(self.read("rnd")))
        self.assertEqual(a["session_digest"], expect)
        self.assertEqual(out, b"")

    def test_error_codes(self):
        """Response codes of the error paths, each also what swtpm answers (except two readings,
        docs/engine.md): key kinds, credential secrets and blobs, tickets, NV ranges."""
        t = self.raw()

        def call(cc, handles=(), params=b"", nauth=None):
            n = len(handles) if nauth is None else nauth
            for _ in range(10):
                r = t.call(cc, handles=handles, params=params, auths=tuple(Auth() for _ in range(n)))
                if r.rc != 0x922:  # swtpm: TPM_RC_RETRY after NV writes
                    return r
            return r

        def primary(tpl):
            r = t.call(0x131, handles=(RH_OWNER,), params=tpm2b(u16(0) + u16(0)) + tpm2b(tpl) + u16(0) + u32(0),
                       auths=(Auth(),), rhandle=True)
            self.assertEqual(r.rc, 0, hex(r.rc))
            return r.handle, u16(SHA256) + hashlib.sha256(r.reader().tpm2b()).digest()

        aes = u16(0x0006) + u16(128) + u16(0x0043)
        es, _ = primary(u16(0x23) + u16(SHA256) + u32(0x30072) + u16(0) + aes + u16(NULL) + u16(3) + u16(NULL) +
                        u16(0) + u16(0))
        rs, _ = primary(u16(1) + u16(SHA256) + u32(0x30072) + u16(0) + aes + u16(NULL) + u16(2048) + u32(0) + u16(0))
        sg, sg_name = primary(u16(0x23) + u16(SHA256) + u32(0x50072) + u16(0) + u16(NULL) + u16(ECDSA) + u16(SHA256) +
                              u16(3) + u16(NULL) + u16(0) + u16(0))
        sel = u32(1) + u16(SHA256) + bytes([3, 1, 0, 0])
        expect = {}
        expect["Quote, decryption key"] = (call(CC_QUOTE, (es,), tpm2b(b"") + u16(NULL) + sel).rc, 0x19C)
        expect["Certify, decryption key signs"] = (call(0x148, (sg, es), tpm2b(b"") + u16(NULL)).rc, 0x29C)
        expect["MakeCredential, signing key"] = (
            call(CC_MAKE_CREDENTIAL, (sg,), tpm2b(bytes(16)) + tpm2b(sg_name), nauth=0).rc, 0x18A)
        expect["MakeCredential, credential > digest"] = (
            call(CC_MAKE_CREDENTIAL, (es,), tpm2b(bytes(33)) + tpm2b(sg_name), nauth=0).rc, 0x1D5)
        blobs = {}
        for key in (rs, es):
            r = call(CC_MAKE_CREDENTIAL, (key,), tpm2b(bytes(16)) + tpm2b(sg_name), nauth=0)
            self.assertEqual(r.rc, 0)
            rr = r.reader()
            blobs[key] = (rr.tpm2b(), rr.tpm2b())
        (blob_r, sec_r), (blob_e, sec_e) = blobs[rs], blobs[es]

        def act(key, blob, secret):
            return call(0x147, (sg, key), tpm2b(blob) + tpm2b(secret)).rc

        expect["Activate RSA"] = (act(rs, blob_r, sec_r), 0)
        expect["Activate ECC"] = (act(es, blob_e, sec_e), 0)
        expect["Activate RSA secret short"] = (act(rs, blob_r, sec_r[:-1]), 0x2D5)
        expect["Activate ECC point off the curve"] = (act(es, blob_e, sec_e[:-1] + bytes([sec_e[-1] ^ 1])), 0x2E7)
        expect["Activate ECC secret truncated"] = (act(es, blob_e, sec_e[:10]), 0x2DA)
        expect["Activate blob truncated"] = (act(es, blob_e[:20], sec_e), 0x1DA)
        expect["Activate blob changed"] = (act(es, blob_e[:-1] + bytes([blob_e[-1] ^ 1]), sec_e), 0x1DF)
        expect["Activate blob empty"] = (act(es, b"", sec_e), 0x1DA)
        expect["Activate, signing key as keyHandle"] = (call(0x147, (es, sg), tpm2b(blob_e) + tpm2b(sec_e)).rc, 0x28A)
        if not self.shim:  # readings of our own: swtpm answers TPM_RC_FAILURE and success
            expect["Activate RSA secret not OAEP"] = (act(rs, blob_r, bytes(256)), 0x2C4)
            expect["Activate ECC secret trailing octet"] = (act(es, blob_e, sec_e + b"\0"), 0x2D5)
        ticket = u16(0x8021) + u32(RH_OWNER) + tpm2b(bytes(32))
        expect["CertifyCreation ticket tag"] = (
            call(0x14A, (sg, es), tpm2b(b"") + tpm2b(bytes(32)) + u16(NULL) + u16(0x8022) + ticket[2:], nauth=1).rc, 0x4D7)
        expect["CertifyCreation ticket hierarchy"] = (
            call(0x14A, (sg, es), tpm2b(b"") + tpm2b(bytes(32)) + u16(NULL) + u16(0x8021) + u32(0x40000009) +
                 tpm2b(bytes(32)), nauth=1).rc, 0x4C4)
        expect["CertifyCreation ticket HMAC"] = (
            call(0x14A, (sg, es), tpm2b(b"") + tpm2b(bytes(32)) + u16(NULL) + ticket, nauth=1).rc, 0x4E0)
        expect["SetCommandCodeAuditStatus, endorsement"] = (
            call(CC_SET_AUDIT, (RH_ENDORSEMENT,), u16(NULL) + u32(0) + u32(0)).rc, 0x184)
        expect["GetTime, decryption key"] = (call(0x14C, (RH_ENDORSEMENT, es), tpm2b(b"") + u16(NULL)).rc, 0x29C)
        ps, hs = t.start_session(se=1), t.start_session()
        expect["GetSessionAuditDigest, policy session"] = (
            call(CC_GET_SESSION_AUDIT, (RH_ENDORSEMENT, RH_NULL, ps.handle), tpm2b(b"") + u16(NULL), nauth=2).rc, 0x384)
        expect["GetSessionAuditDigest, not audited"] = (
            call(CC_GET_SESSION_AUDIT, (RH_ENDORSEMENT, RH_NULL, hs.handle), tpm2b(b"") + u16(NULL), nauth=2).rc, 0x38A)
        expect["GetCommandAuditDigest, decryption key"] = (
            call(CC_GET_COMMAND_AUDIT, (RH_ENDORSEMENT, es), tpm2b(b"") + u16(NULL)).rc, 0x29C)
        index, big = 0x1500020, 0x1500021
        for i, size in ((index, 16), (big, 2048)):
            public = u32(i) + u16(SHA256) + u32((1 << 1) | (1 << 2) | (1 << 17) | (1 << 18)) + u16(0) + u16(size)
            self.assertEqual(call(0x12A, (RH_OWNER,), tpm2b(b"") + tpm2b(public)).rc, 0)

        def nvc(signer, auth, i, size, offset):
            return call(CC_NV_CERTIFY, (signer, auth, i), tpm2b(b"") + u16(NULL) + u16(size) + u16(offset), nauth=2).rc

        expect["NV_Certify unwritten"] = (nvc(sg, RH_OWNER, index, 4, 0), 0x14A)
        self.assertEqual(call(0x137, (RH_OWNER, index), tpm2b(b"a" * 16) + u16(0), nauth=1).rc, 0)
        for off in (0, 1024):
            self.assertEqual(call(0x137, (RH_OWNER, big), tpm2b(b"b" * 1024) + u16(off), nauth=1).rc, 0)
        expect["NV_Certify past the end"] = (nvc(sg, RH_OWNER, index, 8, 12), 0x146)
        expect["NV_Certify offset past the end"] = (nvc(sg, RH_OWNER, index, 1, 17), 0x146)
        expect["NV_Certify size past the end"] = (nvc(sg, RH_OWNER, index, 2000, 0), 0x146)
        expect["NV_Certify platform without PPREAD"] = (nvc(sg, RH_PLATFORM, index, 4, 0), 0x149)
        expect["NV_Certify decryption key"] = (nvc(es, RH_OWNER, index, 4, 0), 0x19C)
        expect["NV_Certify more than MAX_NV_BUFFER"] = (nvc(sg, RH_OWNER, big, 1500, 0), 0x3C4)
        expect["NV_Certify MAX_NV_BUFFER"] = (nvc(sg, RH_OWNER, big, 1024, 1024), 0)
        got = {k: hex(v[0]) for k, v in expect.items()}
        self.assertEqual(got, {k: hex(v[1]) for k, v in expect.items()})

    def certify_x509(self, t, obj, signer, partial, scheme=None):
        scheme = scheme if scheme is not None else u16(NULL)
        for _ in range(10):
            r = t.call(0x197, handles=(obj, signer), params=tpm2b(b"") + scheme + tpm2b(partial), auths=(Auth(), Auth()))
            if r.rc != 0x922:
                return r
        return r

    def test_certify_x509(self):
        """CertifyX509 on a partial certificate from tpm2_certifyX509certutil: the certificate is
        assembled here (TBSCertificate = the TPM's version, serial and signature fields, the
        partial's issuer, validity and subject, the TPM's subjectPublicKeyInfo, the partial's
        extensions), parsed by python3-cryptography, its signature verified with the signer's
        key, tbsDigest and the subject key checked."""
        from cryptography import x509
        p = self.path
        offline("tpm2_certifyX509certutil", "-o", p("partial.der"))
        partial = self.read("partial.der")
        keys = {}
        for label, alg, attrs in (("ca", "ecc256:ecdsa-sha256:null", "sign"),
                                  ("rsa_ca", "rsa2048:null:null", "sign"),  # the scheme comes from the command
                                  ("leaf", "ecc256:ecdsa-sha256:null", "sign"),
                                  ("rsa_leaf", "rsa2048:rsassa-sha256:null", "sign")):
            self.tool("tpm2_createprimary", "-C", "o", "-G", alg, "-c", p(label + ".ctx"), "-a",
                      "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|" + attrs)
            self.tool("tpm2_readpublic", "-c", p(label + ".ctx"), "-o", p(label + ".pem"), "-f", "pem")
            handle = 0x81000020 + len(keys)
            self.tool("tpm2_evictcontrol", "-C", "o", "-c", p(label + ".ctx"), hex(handle))
            keys[label] = (handle, serialization.load_pem_public_key(self.read(label + ".pem")))
        t = self.raw()

        def der(tag, body):
            n = len(body)
            size = bytes([n]) if n < 128 else bytes([0x81, n]) if n < 256 else bytes([0x82, n >> 8, n & 255])
            return bytes([tag]) + size + body

        def items(b):
            out, i = [], 0
            while i < len(b):
                n, h = b[i + 1], 2
                if n & 0x80:
                    k = n & 0x7F
                    n, h = int.from_bytes(b[i + 2:i + 2 + k], "big"), 2 + k
                out.append(b[i:i + h + n])
                i += h + n
            return out

        def body(tlv):  # the contents of one TLV
            return tlv[2 + (tlv[1] & 0x7F if tlv[1] & 0x80 else 0):]

        # RSASSA-PSS: the AlgorithmIdentifier OpenSSL writes for PSS with MGF1 of the same hash and
        # a salt of the hash's size (an independent encoder), compared with the TPM's bytes.
        openssl_pss = {}
        offline("openssl", "genrsa", "-out", p("pss.pem"), "2048")
        for h, name in ((SHA256, "sha256"), (SHA384, "sha384")):
            offline("openssl", "req", "-x509", "-new", "-key", p("pss.pem"), "-" + name, "-sigopt",
                    "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:digest", "-sigopt", "rsa_mgf1_md:" + name,
                    "-subj", "/CN=x", "-days", "1", "-outform", "DER", "-out", p("pss.der"))
            openssl_pss[h] = items(body(items(body(self.read("pss.der")))[0]))[2]
        rsassa = u16(RSASSA) + u16(SHA256)
        for leaf, ca, scheme in (("leaf", "ca", None), ("rsa_leaf", "rsa_ca", rsassa), ("leaf", "rsa_ca", rsassa),
                                 ("rsa_leaf", "rsa_ca", u16(RSAPSS) + u16(SHA256)),
                                 ("leaf", "rsa_ca", u16(RSAPSS) + u16(SHA384))):
            r = self.certify_x509(t, keys[leaf][0], keys[ca][0], partial, scheme)
            self.assertEqual(r.rc, 0, hex(r.rc))
            rr = r.reader()
            added, tbs_digest = rr.tpm2b(), rr.tpm2b()
            alg, h, sig = parse_signature(rr.rest())
            version, serial, sig_alg, spki = items(body(added))
            issuer, validity, subject, extensions = items(body(partial))
            tbs = der(0x30, version + serial + sig_alg + issuer + validity + subject + spki + extensions)
            pss_hash = SHA384 if scheme and scheme[2:] == u16(SHA384) else SHA256
            self.assertEqual(tbs_digest, HASHES[pss_hash](tbs).digest())
            if scheme and scheme[:2] == u16(RSAPSS):
                self.assertEqual(sig_alg, openssl_pss[pss_hash])
            # signatureValue: the RSASSA signature, or the DER ECDSA-Sig-Value (parse_signature)
            cert_der = der(0x30, tbs + sig_alg + der(0x03, b"\0" + sig))
            cert = x509.load_der_x509_certificate(cert_der)
            self.assertEqual(cert.version, x509.Version.v3)
            self.assertEqual(cert.subject, x509.Name.from_rfc4514_string("CN=example,OU=CA unit,O=CA org,C=US"))
            ca_key = keys[ca][1]
            if scheme and scheme[:2] == u16(RSAPSS):  # python3-cryptography 38 cannot name PSS's hash
                hh = CRYPTO_HASH[pss_hash]()
                ca_key.verify(cert.signature, cert.tbs_certificate_bytes,
                              padding.PSS(mgf=padding.MGF1(hh), salt_length=hh.digest_size), hh)
            elif isinstance(ca_key, rsa.RSAPublicKey):
                ca_key.verify(cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(), cert.signature_hash_algorithm)
            else:
                ca_key.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(cert.signature_hash_algorithm))
            self.assertEqual(cert.public_key().public_numbers(), keys[leaf][1].public_numbers())
            self.assertEqual(cert.extensions.get_extension_for_class(x509.KeyUsage).value.digital_signature, True)
            self.assertEqual(serial[0], 0x02)
            if not self.shim:  # ours: 20 octets, positive, minimal (swtpm may use 21)
                self.assertEqual((len(serial), serial[1]), (22, 20))
                self.assertTrue(0 < serial[2] < 0x80)

        # A key that cannot sign is refused a KeyUsage that says it signs; a malformed partial
        # certificate is TPM_RC_VALUE (the same on swtpm).
        t.client.close()  # the mssim port serves one client at a time
        self.tool("tpm2_createprimary", "-C", "o", "-G", "ecc256:null:null", "-c", p("dec.ctx"), "-a",
                  "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|decrypt")
        self.tool("tpm2_evictcontrol", "-C", "o", "-c", p("dec.ctx"), "0x81000030")
        t = self.raw()
        rc = self.certify_x509(t, 0x81000030, keys["ca"][0], partial).rc
        self.assertIn(rc, (0x182, 0x3C4) if self.shim else (0x182,), hex(rc))
        self.assertEqual(self.certify_x509(t, keys["leaf"][0], keys["ca"][0], partial[:-1]).rc, 0x3D5)
        self.assertEqual(self.certify_x509(t, keys["leaf"][0], keys["ca"][0], b"\x31" + partial[1:]).rc, 0x3D5)
        # KeyUsage and the TCG TPMA_OBJECT extension (2.23.133.10.1.1.1) against the object.
        names = b"".join(items(body(partial))[:3])

        def with_extensions(*exts):
            return der(0x30, names + der(0xA3, der(0x30, b"".join(exts))))

        def key_usage(bits):
            return der(0x30, der(6, bytes.fromhex("551d0f")) + der(1, b"\xff") + der(4, der(3, bytes([7, bits]))))

        def tpma(value):
            return der(0x30, der(6, bytes.fromhex("6781050a010101")) + der(4, der(3, b"\0" + u32(value))))

        leaf_attrs = 0x2 | 0x10 | 0x20 | 0x40 | 0x40000
        self.assertEqual(self.certify_x509(t, 0x81000030, keys["ca"][0], with_extensions(key_usage(0x20))).rc, 0,
                         "keyEncipherment for a decryption key")
        self.assertEqual(self.certify_x509(t, keys["leaf"][0], keys["ca"][0],
                                           with_extensions(key_usage(0x80), tpma(leaf_attrs))).rc, 0)
        rc = self.certify_x509(t, keys["leaf"][0], keys["ca"][0], with_extensions(key_usage(0x80), tpma(leaf_attrs | 1))).rc
        self.assertEqual(rc, 0x282 if self.shim else 0x182, "TPMA_OBJECT differs (swtpm numbers it as handle 2)")
        if not self.shim:  # swtpm does not check the decryption bits
            self.assertEqual(self.certify_x509(t, keys["leaf"][0], keys["ca"][0], with_extensions(key_usage(0x20))).rc,
                             0x182)
        no_extensions = der(0x30, names)
        self.assertEqual(self.certify_x509(t, keys["leaf"][0], keys["ca"][0], no_extensions).rc, 0x3C4)
        self.assertEqual(self.certify_x509(t, keys["leaf"][0], keys["ca"][0], partial + b"\0").rc, 0x3D5)


if __name__ == "__main__":
    unittest.main()
