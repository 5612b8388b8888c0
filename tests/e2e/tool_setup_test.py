#!/usr/bin/python3
"""End to end: `utpm setup` (docs/tool.md) on a fresh utpmd, and on a state directory.

What is checked, each against an independent source:
- tpm2_getekcertificate (tpm2-tools, reading NV) returns the low-range RSA and ECC certificates,
  and tpm2_nvread of every index returns the same certificate `utpm setup --json` reported;
- `openssl verify -CAfile ca.pem` passes for each certificate;
- the public key in each certificate equals the EK the TPM derives from the TCG EK Credential
  Profile template: tpm2_createek (tpm2-tools' own templates) for the low range; for the high
  range the templates are built here from the profile's tables with tpm2-pytss (Policy A is
  computed with hashlib from its definition; Policy B is the profile's constant);
- the profile's certificate contents, read with Python cryptography: empty subject with a
  critical subjectAltName directoryName holding the TPM manufacturer/model/version OIDs
  (manufacturer equal to TPM_PT_MANUFACTURER read with tpm2_getcap), basic constraints CA:FALSE,
  key usage keyEncipherment (RSA) / keyAgreement (ECC), EKU 2.23.133.8.1, subject directory
  attributes with tcg-at-tpmSpecification; the NV attributes of each index (tpm2_nvreadpublic);
- --not-overwrite / --overwrite / already provisioned (exit 7), --lock-nvram (a platform write
  is refused afterwards), bad options (exit 2), an unreachable TPM (exit 4).

Run: UTPMD=... UTPM=build/host-debug/src/tools/utpm /usr/bin/python3 tests/e2e/tool_setup_test.py
"""
import hashlib
import json
import os
import shutil
import struct
import subprocess
import tempfile
import unittest

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtensionOID

from utpmd_harness import Utpmd, run_tool

UTPM = os.environ.get("UTPM", "utpm")

# TCG EK Credential Profile indices.
LOW_RSA, LOW_ECC = 0x01C00002, 0x01C0000A
HIGH_RSA, HIGH_P256, HIGH_P384 = 0x01C00012, 0x01C00014, 0x01C00016
PLATFORM = 0x01C08000
OID_MANUFACTURER, OID_MODEL, OID_VERSION = "2.23.133.2.1", "2.23.133.2.2", "2.23.133.2.3"
OID_EK_CERT, OID_TPM_SPEC = "2.23.133.8.1", "2.23.133.2.16"
OID_SDA = "2.5.29.9"

# Policy B (high range), the profile's constants.
POLICY_B_SHA256 = bytes.fromhex("ca3d0a99a2b93906f7a3342414efcfb3a385d44cd1fd459089d19b5071c0b7a0")
POLICY_B_SHA384 = bytes.fromhex(
    "b26e7d28d11a50bc53d882bcf5fd3a1a074148bb35d3b4e4cb1c0ad9bde419ca"
    "cb47ba09699646150f9fc000f3f80e12")


def policy_a_sha256():
    """PolicySecret(TPM_RH_ENDORSEMENT) from an empty digest (Part 3, TPM2_PolicySecret):
    d = H(0^32 || TPM_CC_PolicySecret || authObject Name) then H(d || policyRef(empty))."""
    d = hashlib.sha256(b"\0" * 32 + struct.pack(">II", 0x151, 0x4000000B)).digest()
    return hashlib.sha256(d).digest()


def utpm(*args):
    return subprocess.run([UTPM] + list(args), capture_output=True, timeout=180)


def spki(key):
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


class SetupOnUtpmd(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = Utpmd(rm=True).start()
        cls.tcti = cls.server.mssim_tcti
        cls.tmp = tempfile.mkdtemp(prefix="utpm-setup-")
        cls.ca = os.path.join(cls.tmp, "ca")
        p = utpm("setup", "-T", cls.tcti, "--ca", cls.ca, "--create-ek-cert", "--create-platform-cert",
                 "--json")
        if p.returncode != 0:
            cls.server.stop()
            raise AssertionError(f"utpm setup failed ({p.returncode}): {p.stderr.decode()}")
        cls.report = json.loads(p.stdout)
        cls.pems = {int(c["index"], 16): c["pem"].encode() for c in cls.report["certificates"]}

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def tool(self, *args, **kw):
        return run_tool(list(args), self.tcti, **kw)

    def path(self, name):
        return os.path.join(self.tmp, name)

    def nvread(self, index):
        out = self.path(f"nv_{index:08x}.der")
        self.tool("tpm2_nvread", "-C", "o", "-o", out, hex(index))
        with open(out, "rb") as f:
            return f.read()

    def cert(self, index):
        return x509.load_der_x509_certificate(self.nvread(index))

    def test_report_lists_every_index(self):
        self.assertEqual(sorted(self.pems), sorted([LOW_RSA, LOW_ECC, HIGH_RSA, HIGH_P256, HIGH_P384, PLATFORM]))

    def test_getekcertificate_returns_the_low_range_certificates(self):
        rsa_out, ecc_out = self.path("ek_rsa.der"), self.path("ek_ecc.der")
        self.tool("tpm2_getekcertificate", "-o", rsa_out, "-o", ecc_out)
        for out, index in ((rsa_out, LOW_RSA), (ecc_out, LOW_ECC)):
            with open(out, "rb") as f:
                got = x509.load_der_x509_certificate(f.read())
            want = x509.load_pem_x509_certificate(self.pems[index])
            self.assertEqual(got, want, hex(index))

    def test_nv_holds_what_setup_reported(self):
        for index, pem in self.pems.items():
            want = x509.load_pem_x509_certificate(pem).public_bytes(serialization.Encoding.DER)
            self.assertEqual(self.nvread(index), want, hex(index))

    def test_openssl_verify_against_the_ca(self):
        ca_pem = os.path.join(self.ca, "ca.pem")
        for index in self.pems:
            der = self.path(f"v_{index:08x}.der")
            pem = self.path(f"v_{index:08x}.pem")
            with open(der, "wb") as f:
                f.write(self.nvread(index))
            subprocess.run(["openssl", "x509", "-inform", "der", "-in", der, "-out", pem], check=True)
            p = subprocess.run(["openssl", "verify", "-CAfile", ca_pem, pem], capture_output=True, text=True)
            self.assertEqual(p.returncode, 0, f"{index:#x}: {p.stdout}{p.stderr}")
            self.assertIn(": OK", p.stdout)
        # And a certificate of another CA does not verify (the check can fail).
        other = self.path("other-ca")
        p = utpm("setup", "--tpmstate", self.path("other-state"), "--ca", other, "--ek", "ecc256")
        self.assertEqual(p.returncode, 0, p.stderr)
        p = subprocess.run(["openssl", "verify", "-CAfile", os.path.join(other, "ca.pem"),
                            self.path(f"v_{LOW_ECC:08x}.pem")], capture_output=True, text=True)
        self.assertNotEqual(p.returncode, 0)

    def test_low_range_keys_equal_tpm2_createek(self):
        for alg, index in (("rsa", LOW_RSA), ("ecc", LOW_ECC)):
            pub = self.path(f"ek_{alg}.pem")
            ctx = self.path(f"ek_{alg}.ctx")
            self.tool("tpm2_createek", "-G", alg, "-u", pub, "-f", "pem", "-c", ctx)
            with open(pub, "rb") as f:
                want = serialization.load_pem_public_key(f.read())
            self.assertEqual(spki(self.cert(index).public_key()), spki(want), alg)

    def test_high_range_keys_equal_the_profile_templates(self):
        from tpm2_pytss import (ESAPI, ESYS_TR, TPM2_ALG, TPM2_ECC, TPMA_OBJECT, TPM2B_PUBLIC,
                                TPM2B_SENSITIVE_CREATE, TPMT_PUBLIC)
        self.assertEqual(policy_a_sha256().hex(),
                         "837197674484b3f81a90cc8d46a5d724fd52d76e06520b64f2a1da1b331469aa")
        attrs = (TPMA_OBJECT.FIXEDTPM | TPMA_OBJECT.FIXEDPARENT | TPMA_OBJECT.SENSITIVEDATAORIGIN
                 | TPMA_OBJECT.USERWITHAUTH | TPMA_OBJECT.ADMINWITHPOLICY | TPMA_OBJECT.RESTRICTED
                 | TPMA_OBJECT.DECRYPT)
        cases = ((HIGH_RSA, "rsa2048:aes128cfb", TPM2_ALG.SHA256, POLICY_B_SHA256),
                 (HIGH_P256, "ecc256:aes128cfb", TPM2_ALG.SHA256, POLICY_B_SHA256),
                 (HIGH_P384, "ecc384:aes256cfb", TPM2_ALG.SHA384, POLICY_B_SHA384))
        esapi = ESAPI(self.tcti)
        try:
            for index, alg, name_alg, policy in cases:
                area = TPMT_PUBLIC.parse(alg=alg, objectAttributes=attrs, nameAlg=name_alg)
                area.authPolicy = policy
                handle, pub, _, _, _ = esapi.create_primary(TPM2B_SENSITIVE_CREATE(), TPM2B_PUBLIC(area),
                                                            ESYS_TR.ENDORSEMENT)
                esapi.flush_context(handle)
                a = pub.publicArea
                if a.type == TPM2_ALG.RSA:
                    want = rsa.RSAPublicNumbers(65537, int.from_bytes(bytes(a.unique.rsa), "big")).public_key()
                else:
                    curve = ec.SECP384R1() if a.parameters.eccDetail.curveID == TPM2_ECC.NIST_P384 else ec.SECP256R1()
                    want = ec.EllipticCurvePublicNumbers(int.from_bytes(bytes(a.unique.ecc.x), "big"),
                                                         int.from_bytes(bytes(a.unique.ecc.y), "big"),
                                                         curve).public_key()
                self.assertEqual(spki(self.cert(index).public_key()), spki(want), hex(index))
        finally:
            esapi.close()

    def test_profile_contents(self):
        getcap = self.tool("tpm2_getcap", "properties-fixed").stdout.decode()
        # TPM2_PT_MANUFACTURER:\n  raw: 0x5554504D ...
        block = getcap.split("TPM2_PT_MANUFACTURER:")[1]
        manufacturer = int(block.split("raw:")[1].split()[0], 16)
        for index in (LOW_RSA, LOW_ECC, HIGH_RSA, HIGH_P256, HIGH_P384):
            c = self.cert(index)
            self.assertEqual(c.version, x509.Version.v3)
            self.assertEqual(len(c.subject), 0, "empty subject")
            san = c.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME)
            self.assertTrue(san.critical, "SAN critical with an empty subject")
            dn = san.value.get_values_for_type(x509.DirectoryName)[0]
            attrs = {a.oid.dotted_string: a.value for a in dn}
            self.assertEqual(attrs[OID_MANUFACTURER], f"id:{manufacturer:08X}")
            self.assertIn(OID_MODEL, attrs)
            self.assertTrue(attrs[OID_VERSION].startswith("id:"))
            bc = c.extensions.get_extension_for_oid(ExtensionOID.BASIC_CONSTRAINTS)
            self.assertFalse(bc.value.ca)
            ku = c.extensions.get_extension_for_oid(ExtensionOID.KEY_USAGE)
            self.assertTrue(ku.critical)
            if isinstance(c.public_key(), rsa.RSAPublicKey):
                self.assertTrue(ku.value.key_encipherment)
                self.assertFalse(ku.value.key_agreement)
            else:
                self.assertTrue(ku.value.key_agreement)
                self.assertFalse(ku.value.key_encipherment)
            eku = c.extensions.get_extension_for_oid(ExtensionOID.EXTENDED_KEY_USAGE)
            self.assertEqual([o.dotted_string for o in eku.value], [OID_EK_CERT])
            sda = c.extensions.get_extension_for_oid(x509.ObjectIdentifier(OID_SDA)).value.value
            # SEQUENCE { SEQUENCE { OID 2.23.133.2.16, SET { SEQUENCE { UTF8 "2.0", INT 0, INT 184 }}}}
            # DER written out here from X.690: OID 2.23.133.2.16, UTF8String "2.0", INTEGER 0, 184.
            self.assertIn(bytes.fromhex("06056781050210"), sda)
            self.assertIn(bytes.fromhex("0c03322e30" "020100" "020200b8"), sda)
            self.assertTrue(c.extensions.get_extension_for_oid(ExtensionOID.AUTHORITY_KEY_IDENTIFIER))
        plat = self.cert(PLATFORM)
        eku = plat.extensions.get_extension_for_oid(ExtensionOID.EXTENDED_KEY_USAGE)
        self.assertEqual([o.dotted_string for o in eku.value], ["2.23.133.8.2"])

    def test_nv_attributes(self):
        out = self.tool("tpm2_nvreadpublic", hex(LOW_RSA)).stdout.decode()
        for flag in ("ppwrite", "writedefine", "ppread", "ownerread", "authread", "no_da", "platformcreate",
                     "written"):
            self.assertIn(flag, out)
        self.assertNotIn("ownerwrite", out)
        self.assertNotIn("authwrite", out)

    def test_provisioned_again(self):
        p = utpm("setup", "-T", self.tcti, "--ca", self.ca, "--ek", "ecc256")
        self.assertEqual(p.returncode, 7, p.stderr)
        self.assertIn(b"already provisioned", p.stderr)
        p = utpm("setup", "-T", self.tcti, "--ca", self.ca, "--ek", "ecc256", "--not-overwrite")
        self.assertEqual(p.returncode, 0, p.stderr)
        before = self.nvread(LOW_ECC)
        p = utpm("setup", "-T", self.tcti, "--ca", self.ca, "--ek", "ecc256", "--overwrite", "--lock-nvram")
        self.assertEqual(p.returncode, 0, p.stderr)
        after = self.nvread(LOW_ECC)
        self.assertNotEqual(before, after, "a new certificate (new serial)")
        # Write-locked: the platform cannot write it any more.
        data = self.path("one.bin")
        with open(data, "wb") as f:
            f.write(b"\0")
        p = run_tool(["tpm2_nvwrite", "-C", "p", "-i", data, hex(LOW_ECC)], self.tcti, check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn(b"0x148", p.stderr + p.stdout)  # TPM_RC_NV_LOCKED

    def test_errors(self):
        self.assertEqual(utpm("setup").returncode, 2)
        self.assertEqual(utpm("setup", "-T", self.tcti, "--tpmstate", self.tmp).returncode, 2)
        self.assertEqual(utpm("setup", "-T", self.tcti, "--ek", "rsa4096").returncode, 2)
        self.assertEqual(utpm("setup", "-T", self.tcti, "--bogus").returncode, 2)
        p = utpm("setup", "--help")
        self.assertEqual(p.returncode, 0)
        self.assertIn(b"--create-ek-cert", p.stdout)
        p = utpm("setup", "-T", "mssim:host=127.0.0.1,port=1", "--ca", self.ca)
        self.assertEqual(p.returncode, 4, p.stderr)
        # utpm diag: utpmd's engine has no firmware diagnostics (TPM_RC_COMMAND_CODE): exit 6.
        p = utpm("diag", "-T", self.tcti)
        self.assertEqual(p.returncode, 6, p.stderr)
        self.assertIn(b"TPM_RC_COMMAND_CODE", p.stderr)
        # A state directory in use by utpmd is refused (the daemon's lock).
        p = utpm("setup", "--tpmstate", self.server.state, "--ca", self.ca)
        self.assertEqual(p.returncode, 4, p.stderr)
        self.assertIn(b"in use", p.stderr)


class SetupOnStateDirectory(unittest.TestCase):
    """--tpmstate: the engine runs inside utpm; a utpmd started on the directory afterwards
    serves the certificates."""

    def test_state_then_daemon(self):
        tmp = tempfile.mkdtemp(prefix="utpm-setup-state-")
        try:
            state = os.path.join(tmp, "state")
            p = utpm("setup", "--tpmstate", state, "--ek", "rsa2048,ecc256", "--json")
            self.assertEqual(p.returncode, 0, p.stderr)
            report = json.loads(p.stdout)
            self.assertTrue(os.path.exists(os.path.join(state, "ca", "ca.pem")), "default CA: STATE/ca")
            server = Utpmd(state_dir=state).start()
            try:
                run_tool(["tpm2_startup", "-c"], server.mssim_tcti)
                out = os.path.join(tmp, "ek.der")
                run_tool(["tpm2_nvread", "-C", "o", "-o", out, hex(LOW_RSA)], server.mssim_tcti)
                with open(out, "rb") as f:
                    got = x509.load_der_x509_certificate(f.read())
                want = [c for c in report["certificates"] if int(c["index"], 16) == LOW_RSA][0]["pem"]
                self.assertEqual(got, x509.load_pem_x509_certificate(want.encode()))
                pub = os.path.join(tmp, "ek.pem")
                ctx = os.path.join(tmp, "ek.ctx")
                run_tool(["tpm2_createek", "-G", "rsa", "-u", pub, "-f", "pem", "-c", ctx], server.mssim_tcti)
                with open(pub, "rb") as f:
                    self.assertEqual(spki(got.public_key()), spki(serialization.load_pem_public_key(f.read())))
            finally:
                server.stop(remove_state=False)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def test_utpmd_setup_on_first_start(self):
        tmp = tempfile.mkdtemp(prefix="utpm-setup-daemon-")
        try:
            state = os.path.join(tmp, "state")
            for start in range(2):  # the second start leaves the provisioned state alone
                server = Utpmd(state_dir=state, extra_args=["--setup=--ek ecc256 --create-platform-cert "
                                                            "--create-ek-cert"]).start()
                try:
                    run_tool(["tpm2_startup", "-c"], server.mssim_tcti)
                    out = os.path.join(tmp, f"ek{start}.der")
                    run_tool(["tpm2_nvread", "-C", "o", "-o", out, hex(LOW_ECC)], server.mssim_tcti)
                    with open(out, "rb") as f:
                        certs = getattr(self, "_certs", [])
                        certs.append(f.read())
                        self._certs = certs
                    run_tool(["tpm2_nvreadpublic", hex(PLATFORM)], server.mssim_tcti)
                finally:
                    server.stop(remove_state=False)
                log = "".join(server.log)
                self.assertIn("--setup", log)
                if start == 1:
                    self.assertIn("already provisioned", log)
            self.assertEqual(self._certs[0], self._certs[1])
            ca = os.path.join(state, "ca", "ca.pem")
            leaf = os.path.join(tmp, "leaf.der")
            with open(leaf, "wb") as f:
                f.write(self._certs[0])
            v = subprocess.run(f"openssl x509 -inform der -in {leaf} | openssl verify -CAfile {ca}", shell=True,
                               capture_output=True, text=True)
            self.assertEqual(v.returncode, 0, v.stdout + v.stderr)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def test_user_ca(self):
        tmp = tempfile.mkdtemp(prefix="utpm-setup-userca-")
        try:
            key, crt = os.path.join(tmp, "k.pem"), os.path.join(tmp, "c.pem")
            subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", crt,
                            "-subj", "/CN=user CA", "-days", "30", "-addext", "basicConstraints=critical,CA:TRUE",
                            "-addext", "keyUsage=critical,keyCertSign"], check=True, capture_output=True)
            p = utpm("setup", "--tpmstate", os.path.join(tmp, "s"), "--ca-key", key, "--ca-cert", crt,
                     "--ek", "ecc256", "--json")
            self.assertEqual(p.returncode, 0, p.stderr)
            pem = json.loads(p.stdout)["certificates"][0]["pem"]
            leaf = os.path.join(tmp, "leaf.pem")
            with open(leaf, "w") as f:
                f.write(pem)
            v = subprocess.run(["openssl", "verify", "-CAfile", crt, leaf], capture_output=True, text=True)
            self.assertEqual(v.returncode, 0, v.stdout + v.stderr)
            self.assertEqual(x509.load_pem_x509_certificate(pem.encode()).issuer.rfc4514_string(), "CN=user CA")
            # A key that does not match the certificate: CA error (exit 8).
            other = os.path.join(tmp, "k2.pem")
            subprocess.run(["openssl", "genpkey", "-algorithm", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                            "-out", other], check=True, capture_output=True)
            p = utpm("setup", "--tpmstate", os.path.join(tmp, "s2"), "--ca-key", other, "--ca-cert", crt)
            self.assertEqual(p.returncode, 8, p.stderr)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    unittest.main(verbosity=2)
