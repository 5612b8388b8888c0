#!/usr/bin/python3
"""The programs of examples/ run against a TPM, with every output checked independently.

--target utpmd: a utpmd started here (loopback mssim, temporary state), examples over -T mssim:.
--target qemu:  the QEMU firmware image, examples over -T utpm:device=<pty> (our TCTI module).

For each example (esys_sign in C, pytss_sign.py): PCR 16 was extended beforehand with a known
digest through tpm2-tools, so the reported PCR 16 must equal SHA-256(0^32 || d) (computed here);
PCRs 0 and 7 are zero after a locality-0 Startup without H-CRTM; the reported digest must be
SHA-256(message); the ECDSA signature must verify under the reported public key with
python3-cryptography. The README's `utpm send` lines (the old board's two hard-coded commands)
are sent and their responses parsed.

Exit status: 0 pass, 1 fail, 77 skipped (no firmware image/QEMU for --target qemu).
"""
import argparse
import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import unittest

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
sys.path.insert(0, os.path.join(ROOT, "tests", "firmware"))
SKIP = 77
ARGS = None
TCTI = None  # the TCTI string the examples get
ENV = None   # environment for the examples and tools (LD_LIBRARY_PATH for -T utpm:)
PCR16_INPUT = hashlib.sha256(b"measured by the examples test").digest()


def run(argv, check=True, timeout=180):
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=ENV)
    if check and r.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} exited {r.returncode}:\n{r.stdout}\n{r.stderr}")
    return r


class Examples(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # Start the TPM (a started one answers INITIALIZE: tpm2_startup then fails, ignore it)
        # and put a known value into PCR 16.
        run(["tpm2_startup", "-c", "-T", TCTI], check=False)
        run(["tpm2_pcrreset", "-T", TCTI, "16"])
        run(["tpm2_pcrextend", "-T", TCTI, f"16:sha256={PCR16_INPUT.hex()}"])

    def check_output(self, out, message):
        doc = json.loads(out)
        pcrs = doc["pcrs"]["sha256"]
        self.assertEqual(pcrs["16"], hashlib.sha256(bytes(32) + PCR16_INPUT).hexdigest())
        self.assertEqual(pcrs["0"], "00" * 32)
        self.assertEqual(pcrs["7"], "00" * 32)
        self.assertEqual(bytes.fromhex(doc["message"]), message)
        self.assertEqual(doc["digest"], hashlib.sha256(message).hexdigest())
        key = doc["key"]
        public_key = ec.EllipticCurvePublicNumbers(int(key["x"], 16), int(key["y"], 16),
                                                   ec.SECP256R1()).public_key()
        sig = doc["signature"]
        der = encode_dss_signature(int(sig["r"], 16), int(sig["s"], 16))
        public_key.verify(der, message, ec.ECDSA(hashes.SHA256()))  # raises if it does not verify
        # The same signature over another message must not verify (the check can fail).
        with self.assertRaises(Exception):
            public_key.verify(der, message + b"!", ec.ECDSA(hashes.SHA256()))
        return doc

    def test_esys_sign(self):
        message = b"signed by the ESAPI example"
        out = run([ARGS.esys_sign, "-T", TCTI, "-m", message.decode()]).stdout
        doc = self.check_output(out, message)
        self.assertTrue(doc["verified_by_tpm"])

    def test_esys_sign_usage_error(self):
        self.assertEqual(run([ARGS.esys_sign, "--bogus"], check=False).returncode, 2)

    def test_esys_sign_unreachable_tpm(self):
        r = run([ARGS.esys_sign, "-T", "mssim:host=127.0.0.1,port=1"], check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("failed", r.stderr)

    def test_pytss_sign(self):
        message = b"signed by the pytss example"
        out = run(["/usr/bin/python3", os.path.join(ROOT, "examples", "pytss_sign.py"), "-T", TCTI,
                   "-m", message.decode()]).stdout
        doc = self.check_output(out, message)
        self.assertTrue(doc["verified_on_host"])

    def test_utpm_send_replaces_the_two_command_script(self):
        # examples/README.md: Startup(CLEAR), then GetRandom(8), as raw hex.
        if not ARGS.utpm:
            self.skipTest("utpm tool not built")
        startup = run([ARGS.utpm, "send", "-T", TCTI, "80010000000c000001440000"]).stdout.strip()
        tag, size, rc = struct.unpack(">HII", bytes.fromhex(startup))
        self.assertEqual((tag, size), (0x8001, 10))
        self.assertIn(rc, (0, 0x100), "success, or TPM_RC_INITIALIZE when already started")
        rsp = bytes.fromhex(run([ARGS.utpm, "send", "-T", TCTI, "80010000000c0000017b0008"]).stdout.strip())
        tag, size, rc, n = struct.unpack(">HIIH", rsp[:12])
        self.assertEqual((tag, size, rc, n, len(rsp)), (0x8001, 20, 0, 8, 20))


def main():
    global ARGS, TCTI, ENV
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--target", choices=("utpmd", "qemu"), required=True)
    p.add_argument("--esys-sign", required=True, help="the built examples/esys_sign")
    p.add_argument("--utpm", help="the utpm tool (for the `utpm send` lines)")
    p.add_argument("--tcti-dir", help="directory of libtss2-tcti-utpm.so.0 (--target qemu)")
    p.add_argument("--elf", help="utpm-fw-qemu.elf (--target qemu)")
    p.add_argument("unittest_args", nargs="*")
    ARGS = p.parse_args()
    ENV = dict(os.environ)
    if ARGS.tcti_dir:
        ENV["LD_LIBRARY_PATH"] = os.path.abspath(ARGS.tcti_dir) + os.pathsep + ENV.get("LD_LIBRARY_PATH", "")

    stop = None
    if ARGS.target == "utpmd":
        from utpmd_harness import Utpmd
        server = Utpmd().start()
        TCTI = server.mssim_tcti
        stop = server.stop
    else:
        if not ARGS.elf or not os.path.exists(ARGS.elf) or shutil.which("qemu-system-arm") is None:
            print("SKIP: no firmware image or qemu-system-arm (scripts/test builds fw-qemu)")
            return SKIP
        if not ARGS.tcti_dir:
            print("FAIL: --target qemu needs --tcti-dir (the utpm TCTI module)")
            return 1
        import qemu_harness as qh
        scratch = tempfile.mkdtemp(prefix="utpm-examples-")
        fw = qh.QemuFirmware(os.path.abspath(ARGS.elf), scratch, os.path.join(scratch, "nv.bin"))
        fw.start()
        TCTI = f"utpm:device={fw.pty}"

        def stop():
            fw.stop()
            shutil.rmtree(scratch, ignore_errors=True)
    try:
        prog = unittest.main(argv=[sys.argv[0], "-v", *ARGS.unittest_args], exit=False)
        return 0 if prog.result.wasSuccessful() else 1
    finally:
        stop()


if __name__ == "__main__":
    sys.exit(main())
