#!/usr/bin/python3
"""End to end: `utpmd --trace-file/--pcap` and `utpm trace` (docs/tool.md "Traces").

A short tpm2-tools session runs against a utpmd that records it. Then:
- tshark (Wireshark's TPM 2.0 dissector, an independent decoder) reads the pcap: the requests
  it sees carry the command codes of the session in order, every request has a response, and
  the command names tshark prints include the expected ones;
- `utpm trace --json` decodes every record fully, and its sequence of command codes equals
  tshark's; every record has a time, a channel, the locality and a duration;
- the passwords given to tpm2-tools and the random bytes it printed appear in neither file,
  and the redacted fields are named; with --trace-secrets they do appear;
- usage errors and a file that is not a trace.

Run: UTPMD=... UTPM=build/host-debug/src/tools/utpm /usr/bin/python3 tests/e2e/tool_trace_test.py
"""
import json
import os
import re
import shutil
import subprocess
import tempfile
import unittest

from utpmd_harness import Utpmd, run_tool

UTPM = os.environ.get("UTPM", "utpm")
OWNER_PW = b"ownerSecret42"  # passed as the new object's password
NV_PW = b"nvSecret77"

CC = {"Startup": 0x144, "GetRandom": 0x17B, "PCR_Read": 0x17E, "PCR_Extend": 0x182, "CreatePrimary": 0x131,
      "NV_DefineSpace": 0x12A, "NV_Write": 0x137, "NV_Read": 0x14E, "NV_UndefineSpace": 0x122}


def tshark(*args):
    env = dict(os.environ, HOME=tempfile.gettempdir())  # no profile prompts; root is fine for reading
    return subprocess.run(["tshark"] + list(args), capture_output=True, text=True, timeout=120, env=env)


class Traces(unittest.TestCase):
    def session(self, secrets):
        tmp = tempfile.mkdtemp(prefix="utpm-trace-")
        self.addCleanup(shutil.rmtree, tmp, True)
        trace, pcap = os.path.join(tmp, "t.jsonl"), os.path.join(tmp, "t.pcap")
        extra = ["--trace-file", trace, "--pcap", pcap] + (["--trace-secrets"] if secrets else [])
        server = Utpmd(rm=True, extra_args=extra).start()
        random_hex = None
        try:
            t = server.mssim_tcti
            run_tool(["tpm2_startup", "-c"], t)
            random_hex = run_tool(["tpm2_getrandom", "--hex", "16"], t).stdout.decode().strip()
            run_tool(["tpm2_pcrread", "sha256:0"], t)
            run_tool(["tpm2_pcrextend", "16:sha256=" + "ab" * 32], t)
            run_tool(["tpm2_createprimary", "-C", "o", "-p", OWNER_PW.decode(), "-c", os.path.join(tmp, "p.ctx")], t)
            run_tool(["tpm2_nvdefine", "0x1500016", "-C", "o", "-s", "8", "-p", NV_PW.decode(),
                      "-a", "authread|authwrite"], t)
            run_tool(["tpm2_nvwrite", "0x1500016", "-P", NV_PW.decode(), "-i", "-"], t, stdin=b"12345678")
            run_tool(["tpm2_nvread", "0x1500016", "-P", NV_PW.decode(), "-s", "8"], t)
            run_tool(["tpm2_nvundefine", "0x1500016", "-C", "o"], t)
        finally:
            server.stop()
        with open(trace, "rb") as f:
            trace_bytes = f.read()
        with open(pcap, "rb") as f:
            pcap_bytes = f.read()
        return tmp, trace, pcap, trace_bytes, pcap_bytes, random_hex

    def test_pcap_trace_and_redaction(self):
        tmp, trace, pcap, trace_bytes, pcap_bytes, random_hex = self.session(secrets=False)
        # tshark: requests and their command codes, in order.
        p = tshark("-r", pcap, "-Y", "tpm.req.cc", "-T", "fields", "-e", "tpm.req.cc")
        self.assertEqual(p.returncode, 0, p.stderr)
        shark_ccs = [int(x, 16) for x in p.stdout.split()]
        for name, cc in CC.items():
            self.assertIn(cc, shark_ccs, name)
        p = tshark("-r", pcap, "-Y", "tpm")
        self.assertEqual(p.returncode, 0, p.stderr)
        for name in ("TPM2_CC_Startup", "TPM2_CC_GetRandom", "TPM2_CC_PCR_Read", "TPM2_CC_CreatePrimary",
                     "TPM2_CC_NV_DefineSpace"):
            self.assertIn(name, p.stdout)
        self.assertEqual(p.stdout.count("[TPM Request]"), p.stdout.count("[TPM Response]"))
        # utpm trace --json: every record decodes; same command sequence as tshark.
        p = subprocess.run([UTPM, "trace", "--json", trace], capture_output=True, text=True, timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr)
        records = [json.loads(l) for l in p.stdout.splitlines()]
        cmds = [r for r in records if "command" in r]
        self.assertEqual([r["command"]["commandCode"] for r in cmds], shark_ccs)
        for r in cmds:
            self.assertTrue(r["command"]["ok"] and r["response"]["ok"], r)
            self.assertRegex(r["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
            self.assertEqual(r["channel"], "mssim")
            self.assertEqual(r["locality"], 0)
            self.assertGreaterEqual(r["duration_us"], 0)
        self.assertTrue(any(r.get("signal") == "POWER_ON" for r in records))
        by_cc = {}
        for r in cmds:
            by_cc.setdefault(r["command"]["commandCode"], []).append(r)
        self.assertIn("inSensitive", by_cc[CC["CreatePrimary"]][0]["redacted"])
        self.assertIn("auth", by_cc[CC["NV_DefineSpace"]][0]["redacted"])
        self.assertIn("response.randomBytes", by_cc[CC["GetRandom"]][0]["redacted"])
        self.assertIn("response.data", by_cc[CC["NV_Read"]][0]["redacted"])
        # No secret in either file: passwords (raw and hex), the random bytes, the NV data.
        for secret in (OWNER_PW, NV_PW, b"12345678"):
            for blob, what in ((trace_bytes, "trace"), (pcap_bytes, "pcap")):
                self.assertNotIn(secret, blob, what)
                self.assertNotIn(secret.hex().encode(), blob, what)
        self.assertNotIn(random_hex.encode(), trace_bytes)
        self.assertNotIn(bytes.fromhex(random_hex), pcap_bytes)
        # The text form names the commands and the redactions.
        p = subprocess.run([UTPM, "trace", trace], capture_output=True, text=True, timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("TPM2_CreatePrimary", p.stdout)
        self.assertIn("redacted: ", p.stdout)
        self.assertIn("userAuth: " + "00" * len(OWNER_PW), p.stdout)
        p = subprocess.run([UTPM, "trace", "--brief", trace], capture_output=True, text=True, timeout=60)
        self.assertEqual(len(re.findall(r"^#\d+ ", p.stdout, re.M)), len(cmds))

    def test_secrets_when_asked(self):
        _, _, _, trace_bytes, pcap_bytes, random_hex = self.session(secrets=True)
        self.assertIn(OWNER_PW.hex().encode(), trace_bytes)
        self.assertIn(OWNER_PW, pcap_bytes)
        self.assertIn(random_hex.encode(), trace_bytes)

    def test_errors(self):
        tmp = tempfile.mkdtemp(prefix="utpm-trace-err-")
        self.addCleanup(shutil.rmtree, tmp, True)
        bogus = os.path.join(tmp, "x")
        with open(bogus, "w") as f:
            f.write("hello\n")
        p = subprocess.run([UTPM, "trace", bogus], capture_output=True, text=True)
        self.assertEqual(p.returncode, 3)
        self.assertIn("not a utpm trace", p.stderr)
        self.assertEqual(subprocess.run([UTPM, "trace"], capture_output=True).returncode, 2)
        self.assertEqual(subprocess.run([UTPM, "trace", "--bogus", bogus], capture_output=True).returncode, 2)
        self.assertEqual(subprocess.run([UTPM, "trace", os.path.join(tmp, "none")], capture_output=True).returncode, 3)
        # A record that does not decode: exit 1.
        with open(bogus, "w") as f:
            f.write('{"utpm_trace":1,"secrets":false,"started":"x"}\n')
            f.write('{"time":"t","conn":1,"channel":"mssim","locality":0,"duration_us":1,'
                    '"command":"80010000000c0000017b00","response":"80010000000a00000000","redacted":[]}\n')
        p = subprocess.run([UTPM, "trace", bogus], capture_output=True, text=True)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        # utpmd refuses an unwritable trace file.
        p = subprocess.run([os.environ.get("UTPMD", "utpmd"), "--state", os.path.join(tmp, "s"), "--mssim",
                            "127.0.0.1:1", "--trace-file", "/nonexistent/dir/t"], capture_output=True, text=True,
                           timeout=30)
        self.assertNotEqual(p.returncode, 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
