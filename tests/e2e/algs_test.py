#!/usr/bin/python3
"""End to end: the host profile's algorithms (docs/engine.md "Profiles"): RSA-3072/4096, AES-192,
Camellia-128/192/256, SM4, SHA-512 (also a PCR bank), ECC NIST P-521, and TestParms for every
algorithm GetCapability(TPM_CAP_ALGS) lists.

Expected values are computed here: signatures verified with python3-cryptography, AES results
recomputed with python3-cryptography from a key the test chose (LoadExternal), PCR values with
hashlib. With UTPM_E2E_MSSIM_SHIM=/work/shared/bench/mssim-swtpm-shim the TestParms loop and the
PCR test run against swtpm too (a check of the test itself).

Run: UTPMD=build/host-debug/src/host/utpmd python3 tests/e2e/algs_test.py [-k pattern]
"""
import hashlib
import os
import tempfile
import unittest

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from tpm_raw import Auth, Tpm, digest, tpm2b, u16, u32
from utpmd_harness import SU_CLEAR, MssimClient, MssimShim, Utpmd, rc_of, run_tool, startup

# TPM_ALG_ID values (Part 2 table 9; /usr/include/tss2/tss2_tpm2_types.h).
ALG = dict(RSA=0x0001, SHA1=0x0004, HMAC=0x0005, AES=0x0006, MGF1=0x0007, KEYEDHASH=0x0008,
           XOR=0x000A, SHA256=0x000B, SHA384=0x000C, SHA512=0x000D, NULL=0x0010, SM3_256=0x0012,
           SM4=0x0013, RSASSA=0x0014, RSAES=0x0015, RSAPSS=0x0016, OAEP=0x0017, ECDSA=0x0018,
           ECDH=0x0019, ECDAA=0x001A, SM2=0x001B, ECSCHNORR=0x001C, ECMQV=0x001D,
           KDF1_SP800_56A=0x0020, KDF2=0x0021, KDF1_SP800_108=0x0022, ECC=0x0023, SYMCIPHER=0x0025,
           CAMELLIA=0x0026, CTR=0x0040, OFB=0x0041, CBC=0x0042, CFB=0x0043, ECB=0x0044)
NAME = {v: k for k, v in ALG.items()}
HASHES = {ALG["SHA1"]: "sha1", ALG["SHA256"]: "sha256", ALG["SHA384"]: "sha384", ALG["SHA512"]: "sha512"}
CC_TEST_PARMS, CC_GET_CAPABILITY, CC_ENCRYPT_DECRYPT2 = 0x18A, 0x17A, 0x193
CAP_ALGS, CAP_ECC_CURVES, CAP_PCRS = 0, 8, 5
TPMA_ALG_OBJECT = 1 << 3
NIST_P256, NIST_P521 = 0x0003, 0x0005
CC_ECC_PARAMETERS, CC_ECDH_ZGEN = 0x178, 0x154
OBJ_USER_WITH_AUTH, OBJ_NO_DA, OBJ_DECRYPT, OBJ_SIGN = 1 << 6, 1 << 10, 1 << 17, 1 << 18


def null_sym():
    return u16(ALG["NULL"])


def keyedhash_parms(scheme, *details):
    return u16(ALG["KEYEDHASH"]) + u16(scheme) + b"".join(u16(d) for d in details)


def symcipher_parms(alg, bits, mode):
    return u16(ALG["SYMCIPHER"]) + u16(alg) + u16(bits) + u16(mode)


def rsa_parms(bits, scheme=None, hash_alg=None, sym=None):
    s = u16(ALG["NULL"]) if scheme is None else u16(scheme) + (u16(hash_alg) if hash_alg else b"")
    return u16(ALG["RSA"]) + (sym or null_sym()) + s + u16(bits) + u32(0)


def ecc_parms(curve, scheme=None, scheme_details=(), kdf=None, kdf_hash=None):
    s = u16(ALG["NULL"]) if scheme is None else u16(scheme) + b"".join(u16(d) for d in scheme_details)
    k = u16(ALG["NULL"]) if kdf is None else u16(kdf) + u16(kdf_hash)
    return u16(ALG["ECC"]) + null_sym() + s + u16(curve) + k


def parms_using(alg):
    """A valid TPMT_PUBLIC_PARMS exercising alg (a listed algorithm), or None if the test knows no
    way to name it in TPMT_PUBLIC_PARMS (then the test fails: every listed algorithm is covered)."""
    sha256 = ALG["SHA256"]
    if alg in HASHES:
        return keyedhash_parms(ALG["HMAC"], alg)
    table = {
        ALG["RSA"]: rsa_parms(2048),
        ALG["HMAC"]: keyedhash_parms(ALG["HMAC"], sha256),
        ALG["AES"]: symcipher_parms(ALG["AES"], 128, ALG["CFB"]),
        ALG["KEYEDHASH"]: keyedhash_parms(ALG["NULL"]),
        ALG["XOR"]: keyedhash_parms(ALG["XOR"], sha256, ALG["KDF1_SP800_108"]),
        ALG["RSASSA"]: rsa_parms(2048, ALG["RSASSA"], sha256),
        ALG["RSAES"]: rsa_parms(2048, ALG["RSAES"]),
        ALG["RSAPSS"]: rsa_parms(2048, ALG["RSAPSS"], sha256),
        ALG["OAEP"]: rsa_parms(2048, ALG["OAEP"], sha256),
        ALG["ECDSA"]: ecc_parms(NIST_P256, ALG["ECDSA"], (sha256,)),
        ALG["ECDH"]: ecc_parms(NIST_P256, ALG["ECDH"], (sha256,)),
        ALG["ECDAA"]: ecc_parms(NIST_P256, ALG["ECDAA"], (sha256, 0)),
        ALG["ECSCHNORR"]: ecc_parms(NIST_P256, ALG["ECSCHNORR"], (sha256,)),
        ALG["MGF1"]: ecc_parms(NIST_P256, kdf=ALG["MGF1"], kdf_hash=sha256),
        ALG["KDF1_SP800_56A"]: ecc_parms(NIST_P256, kdf=ALG["KDF1_SP800_56A"], kdf_hash=sha256),
        ALG["KDF2"]: ecc_parms(NIST_P256, kdf=ALG["KDF2"], kdf_hash=sha256),
        ALG["KDF1_SP800_108"]: ecc_parms(NIST_P256, kdf=ALG["KDF1_SP800_108"], kdf_hash=sha256),
        ALG["ECC"]: ecc_parms(NIST_P256),
        ALG["SYMCIPHER"]: symcipher_parms(ALG["AES"], 128, ALG["CFB"]),
        ALG["CAMELLIA"]: symcipher_parms(ALG["CAMELLIA"], 128, ALG["CFB"]),
        ALG["SM4"]: symcipher_parms(ALG["SM4"], 128, ALG["CFB"]),
        # Not in utpm's lists; here so that the test runs against swtpm too.
        0x0003: symcipher_parms(0x0003, 128, ALG["CFB"]),  # TDES
        ALG["ECMQV"]: ecc_parms(NIST_P256, ALG["ECMQV"], (sha256,)),
        ALG["SM2"]: ecc_parms(0x0020, ALG["SM2"], (sha256,)),
    }
    if alg in (ALG["CTR"], ALG["OFB"], ALG["CBC"], ALG["CFB"], ALG["ECB"]):
        return symcipher_parms(ALG["AES"], 128, alg)
    return table.get(alg)


class Algorithms(unittest.TestCase):
    def setUp(self):
        shim = os.environ.get("UTPM_E2E_MSSIM_SHIM")
        self.shim = bool(shim)
        self.server = (MssimShim(shim) if shim else Utpmd(rm=True)).start()
        self.addCleanup(self.server.stop)
        self.client = MssimClient(self.server.port)
        self.addCleanup(self.client.close)
        self.tpm = Tpm(self.client)
        self.assertEqual(rc_of(self.client.execute(startup(SU_CLEAR))), 0)
        self.tcti = self.server.mssim_tcti
        self.dir = tempfile.TemporaryDirectory()
        self.addCleanup(self.dir.cleanup)

    def path(self, name):
        return os.path.join(self.dir.name, name)

    def tool(self, *args, **kw):
        return run_tool(list(args), self.tcti, **kw)

    def cap(self, capability, prop, count=256):
        r = self.tpm.call(CC_GET_CAPABILITY, params=u32(capability) + u32(prop) + u32(count))
        self.assertEqual(r.rc, 0)
        rd = r.reader()
        rd.u8()  # moreData
        self.assertEqual(rd.u32(), capability)
        return rd

    def algs(self):
        rd = self.cap(CAP_ALGS, 0)
        return {rd.u16(): rd.u32() for _ in range(rd.u32())}

    def parms_rc(self, parms):
        return self.tpm.call(CC_TEST_PARMS, params=parms).rc

    # ---- TestParms for every listed algorithm ----
    def test_testparms_accepts_every_algorithm_cap_algs_lists(self):
        algs = self.algs()
        self.assertGreater(len(algs), 20)
        for alg, attrs in sorted(algs.items()):
            with self.subTest(alg=NAME.get(alg, hex(alg))):
                if alg == 0x003F:  # CMAC: a MAC scheme no TPMT_PUBLIC_PARMS names (swtpm lists it)
                    continue
                parms = parms_using(alg)
                self.assertIsNotNone(parms, f"the test knows no TestParms parameter set for {alg:#x}")
                self.assertEqual(self.parms_rc(parms), 0)
        # Object types: exactly the four with TPMA_ALGORITHM object.
        objs = {a for a, at in algs.items() if at & TPMA_ALG_OBJECT}
        self.assertEqual(objs, {ALG["RSA"], ALG["KEYEDHASH"], ALG["ECC"], ALG["SYMCIPHER"]})
        # Every listed curve, every listed hash as an RSA scheme hash and as the ECDSA hash.
        rd = self.cap(CAP_ECC_CURVES, 0)
        curves = [rd.u16() for _ in range(rd.u32())]
        self.assertIn(NIST_P256, curves)
        for curve in curves:
            with self.subTest(curve=curve):
                self.assertEqual(self.parms_rc(ecc_parms(curve, ALG["ECDSA"], (ALG["SHA256"],))), 0)
        for h in (a for a in algs if a in HASHES):
            with self.subTest(hash=HASHES[h]):
                self.assertEqual(self.parms_rc(rsa_parms(2048, ALG["RSAPSS"], h)), 0)
                self.assertEqual(self.parms_rc(ecc_parms(NIST_P256, ALG["ECDSA"], (h,))), 0)

    def test_testparms_host_key_sizes_and_unimplemented_ones(self):
        if self.shim:
            self.skipTest("utpm's host profile sizes")
        algs = self.algs()
        self.assertIn(ALG["SHA512"], algs, "the host profile lists SHA-512")
        for bits in (1024, 2048, 3072, 4096):
            self.assertEqual(self.parms_rc(rsa_parms(bits)), 0, bits)
        self.assertIn(ALG["CAMELLIA"], algs, "the host profile lists Camellia")
        self.assertIn(ALG["SM4"], algs, "the host profile lists SM4")
        for alg, sizes in (("AES", (128, 192, 256)), ("CAMELLIA", (128, 192, 256)), ("SM4", (128,))):
            for bits in sizes:
                for mode in ("CTR", "OFB", "CBC", "CFB", "ECB"):
                    self.assertEqual(self.parms_rc(symcipher_parms(ALG[alg], bits, ALG[mode])), 0, (alg, bits, mode))
        # TPMI_SM4_KEY_BITS is 128 only, TPMI_CAMELLIA_KEY_BITS has no 64: TPM_RC_VALUE + P1.
        self.assertEqual(self.parms_rc(symcipher_parms(ALG["SM4"], 256, ALG["CFB"])), 0x1C4)
        self.assertEqual(self.parms_rc(symcipher_parms(ALG["CAMELLIA"], 64, ALG["CFB"])), 0x1C4)
        # Not offered: the interface types refuse them (Part 2: TPMI_RSA_KEY_BITS, TPMI_AES_KEY_BITS
        # -> TPM_RC_VALUE, TPMI_ALG_SYM_OBJECT -> TPM_RC_SYMMETRIC, TPMI_ECC_CURVE -> TPM_RC_CURVE),
        # parameter 1.
        self.assertEqual(self.parms_rc(rsa_parms(1536)), 0x1C4)      # VALUE + P + 1
        self.assertEqual(self.parms_rc(symcipher_parms(ALG["AES"], 64, ALG["CFB"])), 0x1C4)
        for unlisted in (ALG["CAMELLIA"], ALG["SM4"]):
            if unlisted not in algs:
                self.assertEqual(self.parms_rc(symcipher_parms(unlisted, 128, ALG["CFB"])), 0x1D6)  # SYMMETRIC + P + 1
        rd = self.cap(CAP_ECC_CURVES, 0)
        curves = [rd.u16() for _ in range(rd.u32())]
        for curve in (0x0001, 0x0002, 0x0005, 0x0010, 0x0020):
            if curve not in curves:
                self.assertEqual(self.parms_rc(ecc_parms(curve)), 0x1E6, curve)  # CURVE + P + 1

    # ---- SHA-512 PCR bank ----
    def test_sha512_pcr_bank_extends_as_hashlib_computes(self):
        if not self.shim:
            rd = self.cap(CAP_PCRS, 0)
            banks = []
            for _ in range(rd.u32()):
                banks.append(rd.u16())
                rd.take(rd.u8())
            self.assertEqual(banks, [ALG["SHA1"], ALG["SHA256"], ALG["SHA384"], ALG["SHA512"]])
        else:
            self.tool("tpm2_pcrallocate", "sha1:all+sha256:all+sha384:all+sha512:all")
            self.client.close()
            self.server.platform(2, 1)  # power off, on: the allocation applies at TPM Reset
            self.client = MssimClient(self.server.port)
            self.tpm = Tpm(self.client)
            self.assertEqual(rc_of(self.client.execute(startup(SU_CLEAR))), 0)
        d1, d2 = hashlib.sha512(b"one").digest(), hashlib.sha512(b"two").digest()
        self.tool("tpm2_pcrextend", f"16:sha512={d1.hex()}")
        self.tool("tpm2_pcrextend", f"16:sha512={d2.hex()},sha256={hashlib.sha256(b'x').hexdigest()}")
        expect = hashlib.sha512(hashlib.sha512(bytes(64) + d1).digest() + d2).digest()
        out = self.tool("tpm2_pcrread", "sha512:16", "-o", self.path("pcr.bin"))
        with open(self.path("pcr.bin"), "rb") as f:
            self.assertEqual(f.read(), expect, out.stdout)
        # PCR_Event hashes the event with every bank's hash, SHA-512 included.
        self.tool("tpm2_pcrevent", "23", stdin=b"event data")
        self.tool("tpm2_pcrread", "sha512:23", "-o", self.path("pcr17.bin"))
        with open(self.path("pcr17.bin"), "rb") as f:
            self.assertEqual(f.read(), hashlib.sha512(bytes(64) + hashlib.sha512(b"event data").digest()).digest())

    # ---- RSA-3072/4096 keys signing, verified with python3-cryptography ----
    def test_rsa_3072_and_4096_sign_verified_with_cryptography(self):
        if self.shim:
            self.skipTest("swtpm's RSA sizes differ")
        self.tool("tpm2_createprimary", "-C", "o", "-G", "rsa4096", "-c", self.path("primary.ctx"))
        msg = b"message signed by a large RSA key"
        for bits, scheme, pad in ((3072, "rsassa", padding.PKCS1v15()),
                                  (4096, "rsapss", padding.PSS(padding.MGF1(hashes.SHA384()),
                                                               padding.PSS.AUTO))):
            with self.subTest(bits=bits):
                h = "sha384"
                self.tool("tpm2_create", "-C", self.path("primary.ctx"), "-G", f"rsa{bits}:{scheme}-{h}:null",
                          "-u", self.path("k.pub"), "-r", self.path("k.priv"))
                self.tool("tpm2_load", "-C", self.path("primary.ctx"), "-u", self.path("k.pub"),
                          "-r", self.path("k.priv"), "-c", self.path("k.ctx"))
                self.tool("tpm2_readpublic", "-c", self.path("k.ctx"), "-f", "pem", "-o", self.path("k.pem"))
                with open(self.path("msg"), "wb") as f:
                    f.write(msg)
                self.tool("tpm2_sign", "-c", self.path("k.ctx"), "-g", h, "-s", scheme, "-f", "plain",
                          "-o", self.path("sig"), self.path("msg"))
                with open(self.path("k.pem"), "rb") as f:
                    pub = serialization.load_pem_public_key(f.read())
                self.assertEqual(pub.key_size, bits)
                with open(self.path("sig"), "rb") as f:
                    sig = f.read()
                self.assertEqual(len(sig), bits // 8)
                pub.verify(sig, msg, pad, hashes.SHA384())  # raises if the signature is wrong

    # ---- AES-128/192/256 in every mode, recomputed with python3-cryptography ----
    def test_aes_every_size_and_mode_matches_cryptography(self):
        self.every_size_and_mode_matches_cryptography("AES", algorithms.AES, (128, 192, 256))

    def test_camellia_every_size_and_mode_matches_cryptography(self):
        self.every_size_and_mode_matches_cryptography("CAMELLIA", algorithms.Camellia, (128, 192, 256))

    def test_sm4_every_mode_matches_cryptography(self):
        self.every_size_and_mode_matches_cryptography("SM4", algorithms.SM4, (128,))

    def every_size_and_mode_matches_cryptography(self, alg, py_alg, sizes):
        if self.shim:
            self.skipTest("swtpm's EncryptDecrypt2 modes differ")
        data = os.urandom(64)
        iv = os.urandom(16)
        py_modes = {"CTR": modes.CTR, "OFB": modes.OFB, "CBC": modes.CBC, "CFB": modes.CFB, "ECB": None}
        for bits in sizes:
            key = os.urandom(bits // 8)
            seed = os.urandom(32)
            # mode NULL: EncryptDecrypt2 chooses the mode (Part 3 §15.2).
            public = (u16(ALG["SYMCIPHER"]) + u16(ALG["SHA256"]) + u32(OBJ_USER_WITH_AUTH | OBJ_DECRYPT | OBJ_SIGN | OBJ_NO_DA) +
                      tpm2b(b"") + u16(ALG[alg]) + u16(bits) + u16(ALG["NULL"]) +
                      tpm2b(digest(ALG["SHA256"], seed, key)))
            sensitive = u16(ALG["SYMCIPHER"]) + tpm2b(b"") + tpm2b(seed) + tpm2b(key)
            handle, name = self.tpm.load_external(public, sensitive)
            for mode, pm in py_modes.items():
                with self.subTest(alg=alg, bits=bits, mode=mode):
                    cipher = Cipher(py_alg(key), pm(iv) if pm else modes.ECB())
                    expect = cipher.encryptor().update(data)
                    r = self.tpm.call(CC_ENCRYPT_DECRYPT2, handles=(handle,), names=[name],
                                      params=tpm2b(data) + bytes([0]) + u16(ALG[mode]) + tpm2b(iv),
                                      auths=[Auth()])
                    self.assertEqual(r.rc, 0)
                    self.assertEqual(r.reader().tpm2b(), expect)
                    r = self.tpm.call(CC_ENCRYPT_DECRYPT2, handles=(handle,), names=[name],
                                      params=tpm2b(expect) + bytes([1]) + u16(ALG[mode]) + tpm2b(iv),
                                      auths=[Auth()])
                    self.assertEqual(r.rc, 0)
                    self.assertEqual(r.reader().tpm2b(), data)
            self.tpm.flush(handle)

    def test_parameter_encryption_with_camellia_and_sm4_sessions(self):
        """A session whose symmetric is Camellia or SM4 (CFB) encrypts Hash's data and decrypts its
        digest; tpm_raw.py does the client's side with python3-cryptography, so a TPM that used
        another cipher would hash other data and the digest would not be hashlib's."""
        if self.shim:
            self.skipTest("swtpm has no SM4")
        for alg, bits in (("CAMELLIA", 128), ("CAMELLIA", 192), ("CAMELLIA", 256), ("SM4", 128)):
            with self.subTest(alg=alg, bits=bits):
                s = self.tpm.start_session(sym=(ALG[alg], bits))
                data = os.urandom(100)
                r = self.tpm.call(0x17D, params=tpm2b(data) + u16(ALG["SHA256"]) + u32(0x40000007),
                                  auths=[Auth(session=s, attrs=0x01 | 0x20 | 0x40)])
                self.assertEqual(r.rc, 0)
                self.assertEqual(r.reader().tpm2b(), hashlib.sha256(data).digest())
                self.tpm.flush(s.handle)
        # SM4 takes 128-bit keys only: TPM_RC_VALUE on StartAuthSession's symmetric (P4).
        r = self.tpm.call(0x176, handles=(0x40000007, 0x40000007),
                          params=tpm2b(os.urandom(32)) + tpm2b(b"") + bytes([0]) + u16(ALG["SM4"]) + u16(256) +
                          u16(ALG["CFB"]) + u16(ALG["SHA256"]), rhandle=True, check=False)
        self.assertEqual(r.rc, 0x084 + 0x040 + 0x400)

    def test_camellia_storage_parent_wraps_children_tpm2_tools(self):
        """tpm2-tools: an ECC storage primary whose symmetric is Camellia-256-CFB protects a child
        (the child's private area is Camellia-encrypted), which loads and signs; a Camellia-128
        child key made under it round-trips data through tpm2_encryptdecrypt."""
        if self.shim:
            self.skipTest("utpm host profile")
        self.tool("tpm2_createprimary", "-C", "o", "-G", "ecc256:null:camellia256cfb", "-c", self.path("primary.ctx"))
        out = self.tool("tpm2_readpublic", "-c", self.path("primary.ctx")).stdout.decode()
        self.assertIn("camellia", out)
        self.tool("tpm2_create", "-C", self.path("primary.ctx"), "-G", "ecc256:ecdsa-sha256",
                  "-u", self.path("s.pub"), "-r", self.path("s.priv"))
        self.tool("tpm2_load", "-C", self.path("primary.ctx"), "-u", self.path("s.pub"),
                  "-r", self.path("s.priv"), "-c", self.path("s.ctx"))
        with open(self.path("msg"), "wb") as f:
            f.write(b"signed under a camellia parent")
        self.tool("tpm2_sign", "-c", self.path("s.ctx"), "-g", "sha256", "-o", self.path("sig"), self.path("msg"))
        self.tool("tpm2_verifysignature", "-c", self.path("s.ctx"), "-g", "sha256", "-m", self.path("msg"),
                  "-s", self.path("sig"))
        self.symmetric_child_round_trips("camellia128cfb")

    def symmetric_child_round_trips(self, alg):
        """tpm2_create of a symmetric key of alg under primary.ctx, loaded; data through
        tpm2_encryptdecrypt and back (the ciphertext differs from the data, same length)."""
        self.tool("tpm2_create", "-C", self.path("primary.ctx"), "-G", alg,
                  "-u", self.path("k.pub"), "-r", self.path("k.priv"))
        self.tool("tpm2_load", "-C", self.path("primary.ctx"), "-u", self.path("k.pub"),
                  "-r", self.path("k.priv"), "-c", self.path("k.ctx"))
        data = os.urandom(48)
        with open(self.path("in"), "wb") as f:
            f.write(data)
        with open(self.path("iv"), "wb") as f:
            f.write(bytes(16))
        self.tool("tpm2_encryptdecrypt", "-c", self.path("k.ctx"), "-t", self.path("iv"), "-e",
                  "-o", self.path("ct"), self.path("in"))
        self.tool("tpm2_encryptdecrypt", "-c", self.path("k.ctx"), "-t", self.path("iv"), "-d",
                  "-o", self.path("pt"), self.path("ct"))
        with open(self.path("ct"), "rb") as f:
            ct = f.read()
        with open(self.path("pt"), "rb") as f:
            self.assertEqual(f.read(), data)
        self.assertNotEqual(ct, data)
        self.assertEqual(len(ct), len(data))

    def test_aes192_key_created_by_tpm2_tools_round_trips(self):
        if self.shim:
            self.skipTest("utpm host profile")
        self.tool("tpm2_createprimary", "-C", "o", "-G", "ecc256", "-c", self.path("primary.ctx"))
        self.symmetric_child_round_trips("aes192cfb")

    # ---- NIST P-521 ----
    def test_p521_parameters_match_the_curve_python_computes_with(self):
        if self.shim:
            self.skipTest("swtpm's curve list differs")
        rd = self.cap(CAP_ECC_CURVES, 0)
        self.assertIn(NIST_P521, [rd.u16() for _ in range(rd.u32())])
        r = self.tpm.call(CC_ECC_PARAMETERS, params=u16(NIST_P521))
        self.assertEqual(r.rc, 0)
        rd = r.reader()
        self.assertEqual((rd.u16(), rd.u16()), (NIST_P521, 521))
        rd.take(4)  # kdf, sign: NULL
        p, a, b, gx, gy, n, h = (int.from_bytes(rd.tpm2b(), "big") for _ in range(7))
        self.assertEqual((p, a, h), (2**521 - 1, 2**521 - 4, 1))
        self.assertEqual((gy * gy - (gx ** 3 + a * gx + b)) % p, 0, "G is on the curve")
        # G and the order against python3-cryptography's P-521: [1]G and [n-1]G = -G.
        from cryptography.hazmat.primitives.asymmetric import ec
        g = ec.derive_private_key(1, ec.SECP521R1()).public_key().public_numbers()
        self.assertEqual((g.x, g.y), (gx, gy))
        neg = ec.derive_private_key(n - 1, ec.SECP521R1()).public_key().public_numbers()
        self.assertEqual((neg.x, neg.y), (gx, p - gy))

    def test_p521_keys_sign_and_agree_as_cryptography_computes(self):
        if self.shim:
            self.skipTest("swtpm's curve list differs")
        from cryptography.hazmat.primitives.asymmetric import ec
        self.tool("tpm2_createprimary", "-C", "o", "-G", "ecc521", "-g", "sha512", "-c", self.path("p.ctx"))
        self.tool("tpm2_create", "-C", self.path("p.ctx"), "-G", "ecc521:ecdsa-sha512", "-u", self.path("k.pub"),
                  "-r", self.path("k.priv"))
        self.tool("tpm2_load", "-C", self.path("p.ctx"), "-u", self.path("k.pub"), "-r", self.path("k.priv"),
                  "-c", self.path("k.ctx"))
        self.tool("tpm2_readpublic", "-c", self.path("k.ctx"), "-f", "pem", "-o", self.path("k.pem"))
        msg = b"signed with NIST P-521"
        with open(self.path("msg"), "wb") as f:
            f.write(msg)
        self.tool("tpm2_sign", "-c", self.path("k.ctx"), "-g", "sha512", "-f", "plain", "-o", self.path("sig"),
                  self.path("msg"))
        with open(self.path("k.pem"), "rb") as f:
            pub = serialization.load_pem_public_key(f.read())
        self.assertEqual(pub.curve.name, "secp521r1")
        with open(self.path("sig"), "rb") as f:
            pub.verify(f.read(), msg, ec.ECDSA(hashes.SHA512()))  # raises if wrong
        # ECDH_ZGen with a key the test made (LoadExternal): Z equals cryptography's ECDH.
        mine, peer = ec.generate_private_key(ec.SECP521R1()), ec.generate_private_key(ec.SECP521R1())
        q = mine.public_key().public_numbers()
        pt = lambda x, y: tpm2b(x.to_bytes(66, "big")) + tpm2b(y.to_bytes(66, "big"))
        public = (u16(ALG["ECC"]) + u16(ALG["SHA512"]) + u32(OBJ_USER_WITH_AUTH | OBJ_DECRYPT | OBJ_NO_DA)
                  + tpm2b(b"") + ecc_parms(NIST_P521)[2:] + pt(q.x, q.y))
        sensitive = u16(ALG["ECC"]) + tpm2b(b"") + tpm2b(b"") + tpm2b(
            mine.private_numbers().private_value.to_bytes(66, "big"))
        handle, _ = self.tpm.load_external(public, sensitive)
        pn = peer.public_key().public_numbers()
        r = self.tpm.call(CC_ECDH_ZGEN, handles=(handle,), params=tpm2b(pt(pn.x, pn.y)), auths=(Auth(),))
        self.assertEqual(r.rc, 0)
        rd = r.reader()
        rd.u16()
        self.assertEqual(rd.tpm2b(), peer.exchange(ec.ECDH(), mine.public_key()))
        self.tpm.flush(handle)


if __name__ == "__main__":
    unittest.main()
