#!/usr/bin/env python3
"""The bridge end to end: the firmware boots in QEMU, `utpmd --bridge <its pty>` serves it over
mssim TCP, and Debian's tpm2-tools drive the board through `-T mssim:` exactly as they would a
simulator. Values are checked independently (hashlib, python3-cryptography).

Exit 77 (ctest SKIP) when QEMU or the firmware image is missing.
"""
import argparse
import hashlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

from qemu_harness import QemuFirmware

ARGS = None


def free_port_pair():
    for p in range(41000, 60000, 2):
        try:
            with socket.socket() as a, socket.socket() as b:
                a.bind(("127.0.0.1", p))
                b.bind(("127.0.0.1", p + 1))
                return p
        except OSError:
            continue
    raise RuntimeError("no free port pair")


class Bridge(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="utpm-bridge-")
        cls.fw = QemuFirmware(ARGS.elf, cls.tmp.name, os.path.join(cls.tmp.name, "nv.bin"))
        try:
            cls.fw.start()
        except Exception:
            cls.fw.stop()  # a QEMU that did not come up is still ours to stop
            raise
        os.close(cls.fw.fd)  # the bridge is the only one on the line from here on
        cls.fw.fd = None
        cls.port = free_port_pair()
        cls.log = open(os.path.join(cls.tmp.name, "utpmd.log"), "wb")
        cls.utpmd = subprocess.Popen([ARGS.utpmd, "--bridge", cls.fw.pty, "--mssim", f"127.0.0.1:{cls.port}",
                                      "--state", os.path.join(cls.tmp.name, "bridge-state"), "--trace"],
                                     stdout=cls.log, stderr=cls.log)
        deadline = time.monotonic() + 15
        while True:
            try:
                socket.create_connection(("127.0.0.1", cls.port + 1), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or cls.utpmd.poll() is not None:
                    cls.tearDownClass()
                    raise RuntimeError("utpmd --bridge did not start")
                time.sleep(0.05)
        cls.tcti = f"mssim:host=127.0.0.1,port={cls.port}"

    @classmethod
    def tearDownClass(cls):
        if cls.utpmd.poll() is None:
            cls.utpmd.send_signal(signal.SIGTERM)
            cls.utpmd.wait(timeout=10)
        cls.fw.stop()
        cls.log.close()
        cls.tmp.cleanup()

    def tool(self, *args, timeout=120):
        p = subprocess.run(list(args) + ["-T", self.tcti], capture_output=True, timeout=timeout)
        self.assertEqual(p.returncode, 0, f"{args} failed: {p.stderr.decode()}")
        return p.stdout

    def test_1_startup_and_random(self):
        subprocess.run(["tpm2_startup", "-c", "-T", self.tcti], capture_output=True, timeout=60)
        out = self.tool("tpm2_getrandom", "--hex", "16").decode().strip()
        self.assertEqual(len(out), 32)
        self.assertIn(b"TPM2_PT_MANUFACTURER", self.tool("tpm2_getcap", "properties-fixed"))

    def test_2_pcr_extend_matches_hashlib(self):
        digest = hashlib.sha256(b"through the bridge").digest()
        self.tool("tpm2_pcrextend", f"23:sha256={digest.hex()}")
        path = os.path.join(self.tmp.name, "pcr.bin")
        self.tool("tpm2_pcrread", "sha256:23", "-o", path)
        with open(path, "rb") as f:
            value = f.read()
        # PCR 23 may have been extended by an earlier run on this state: check the last step.
        self.assertEqual(len(value), 32)
        self.tool("tpm2_pcrreset", "23")
        self.tool("tpm2_pcrextend", f"23:sha256={digest.hex()}")
        self.tool("tpm2_pcrread", "sha256:23", "-o", path)
        with open(path, "rb") as f:
            self.assertEqual(f.read(), hashlib.sha256(b"\0" * 32 + digest).digest())

    def test_3_hash_matches_hashlib(self):
        data = os.urandom(3000)  # more than one buffer: the sequence path through the bridge
        path = os.path.join(self.tmp.name, "data")
        with open(path, "wb") as f:
            f.write(data)
        out = self.tool("tpm2_hash", "-g", "sha256", "--hex", path).decode().strip()
        self.assertEqual(out, hashlib.sha256(data).hexdigest())

    def test_4_ecc_primary_and_signature(self):
        ctx = os.path.join(self.tmp.name, "p.ctx")
        self.tool("tpm2_createprimary", "-C", "o", "-G", "ecc256:ecdsa-sha256", "-a",
                  "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|sign", "-c", ctx)
        self.tool("tpm2_flushcontext", "-t")
        msg = os.path.join(self.tmp.name, "msg")
        with open(msg, "wb") as f:
            f.write(b"signed on the board")
        sig, pem = os.path.join(self.tmp.name, "sig"), os.path.join(self.tmp.name, "p.pem")
        self.tool("tpm2_sign", "-c", ctx, "-g", "sha256", "-f", "plain", "-o", sig, msg)
        self.tool("tpm2_readpublic", "-c", ctx, "-f", "pem", "-o", pem)
        self.tool("tpm2_flushcontext", "-t")
        r = subprocess.run(["openssl", "dgst", "-sha256", "-verify", pem, "-signature", sig, msg],
                           capture_output=True)
        self.assertIn(b"Verified OK", r.stdout)


def main():
    global ARGS
    p = argparse.ArgumentParser()
    p.add_argument("--elf", required=True)
    p.add_argument("--utpmd", required=True)
    p.add_argument("unittest_args", nargs="*")
    ARGS = p.parse_args()
    ARGS.elf, ARGS.utpmd = os.path.abspath(ARGS.elf), os.path.abspath(ARGS.utpmd)
    if not os.path.exists(ARGS.elf) or subprocess.run(["which", "qemu-system-arm"], capture_output=True).returncode:
        print("SKIP: firmware image or qemu-system-arm missing")
        sys.exit(77)
    unittest.main(argv=[sys.argv[0]] + ARGS.unittest_args, verbosity=2)


if __name__ == "__main__":
    main()
