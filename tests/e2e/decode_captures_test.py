#!/usr/bin/python3
"""End to end: every command/response pair the e2e tests produced decodes with `utpm decode`.

Each utpmd that tests/e2e/utpmd_harness.py starts under ctest records its clients' commands and
responses (`--trace-file`, secrets kept: test TPMs) into UTPM_E2E_TRACE_DIR. ctest runs this test
after all the others. Every distinct command and response found there must decode fully with
`utpm decode --check` and re-encode to the same octets (docs/tool.md), and the captures must
cover the commands the e2e tests are known to send, so that a capture that silently stopped
recording fails here instead of passing on nothing.

Run alone it finds no captures and exits 77 (SKIP). By hand:
  UTPM_E2E_TRACE_DIR=/tmp/t UTPMD=... python3 tests/e2e/nv_test.py
  UTPM_E2E_TRACE_DIR=/tmp/t UTPM=build/host-debug/src/tools/utpm python3 tests/e2e/decode_captures_test.py
"""
import glob
import json
import os
import struct
import subprocess
import sys
import tempfile
import unittest

UTPM = os.environ.get("UTPM", "utpm")
TRACE_DIR = os.environ.get("UTPM_E2E_TRACE_DIR", "")


def load_pairs(trace_dir):
    """(command, response) octets of every record, once each; the number of files read."""
    pairs, files = {}, 0
    for path in sorted(glob.glob(os.path.join(trace_dir, "*.jsonl"))):
        with open(path) as f:
            lines = f.read().split("\n")
        if not lines or not lines[0].startswith('{"utpm_trace"'):
            continue  # a utpmd that never started writes nothing
        files += 1
        for i, line in enumerate(lines[1:], start=1):
            if not line:
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                # Only the last line of a utpmd killed mid-write (e2e_kill9) may be cut.
                assert i >= len(lines) - 2, (path, i, line[:200])
                continue
            if "command" in rec and "response" in rec:
                pairs[(rec["command"], rec["response"])] = True
    return [(bytes.fromhex(c), bytes.fromhex(r)) for c, r in pairs], files


def decode_lines(items, *args):
    with tempfile.NamedTemporaryFile("w", suffix=".hex") as f:
        f.write("\n".join(i.hex() for i in items) + "\n")
        f.flush()
        p = subprocess.run([UTPM, "decode", "--lines", "--check", *args, f.name], capture_output=True,
                           timeout=600)
    out = [json.loads(line) for line in p.stdout.decode().splitlines()]
    assert len(out) == len(items), (len(out), len(items), p.stderr.decode()[-2000:])
    return out


def cc_of(cmd):
    return struct.unpack(">I", cmd[6:10])[0]


# Commands the e2e tests send through a harness utpmd (tpm2-tools, tpm2-pytss, raw); if one of
# these is missing the capture lost something. Not every command: some are only sent to the
# firmware or to a TPM started without the harness.
EXPECTED = {
    0x144: "Startup", 0x17B: "GetRandom", 0x131: "CreatePrimary", 0x153: "Create", 0x157: "Load",
    0x15D: "Sign", 0x177: "VerifySignature", 0x17A: "GetCapability", 0x182: "PCR_Extend",
    0x17E: "PCR_Read", 0x12A: "NV_DefineSpace", 0x137: "NV_Write", 0x14E: "NV_Read",
    0x176: "StartAuthSession", 0x165: "FlushContext", 0x162: "ContextSave", 0x161: "ContextLoad",
    0x19D: "NV_DefineSpace2", 0x19E: "NV_ReadPublic2", 0x150: "Duplicate", 0x156: "Import",
    0x16A: "PolicySecret", 0x17F: "PolicyPCR", 0x189: "PolicyGetDigest", 0x158: "Quote",
    0x16E: "Unseal", 0x191: "CreateLoaded", 0x18A: "TestParms",
}


@unittest.skipUnless(TRACE_DIR, "UTPM_E2E_TRACE_DIR not set")
class DecodeCaptures(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pairs, cls.files = load_pairs(TRACE_DIR)

    def test_captures_cover_the_e2e_commands(self):
        seen = {cc_of(c) for c, _ in self.pairs}
        print(f"{self.files} traces, {len(self.pairs)} distinct pairs, {len(seen)} command codes",
              file=sys.stderr)
        missing = {hex(cc): n for cc, n in EXPECTED.items() if cc not in seen}
        self.assertEqual(missing, {})
        # 121 of the engine's 127 commands at the time of writing: a guard against a capture
        # that lost whole test files.
        self.assertGreaterEqual(len(seen), 110)

    def test_every_command_decodes_and_reencodes(self):
        # A command the TPM executed must decode. One it refused may be malformed on purpose
        # (e2e_bad_input, TestParms of unknown algorithms): then decoding must stop with a
        # position and a reason, as for any malformed input, never crash or pass silently.
        accepted = {c for c, r in self.pairs if r[6:10] == bytes(4)}
        cmds = sorted({c for c, _ in self.pairs})
        bad, refused_malformed, encrypted = [], 0, 0
        for c, j in zip(cmds, decode_lines(cmds)):
            encrypted += ', encrypted"' in json.dumps(j.get("tree", {}))
            if j["ok"]:
                if bytes.fromhex(j["reencoded"]) != c:
                    bad.append((c.hex()[:200], "re-encodes differently"))
            elif c in accepted:
                bad.append((c.hex()[:200], j.get("error")))
            else:
                refused_malformed += 1
                self.assertIn("offset", j.get("error", {}), c.hex()[:200])
                self.assertTrue(j["error"].get("reason"), c.hex()[:200])
        print(f"{len(cmds)} distinct commands, {len(accepted)} executed; {refused_malformed} refused ones "
              "do not decode", file=sys.stderr)
        self.assertEqual(bad, [], f"{len(bad)} of {len(cmds)} commands")
        # Parameter encryption was exercised (a first parameter shown as ciphertext octets).
        self.assertGreater(encrypted, 0)
    def test_every_response_decodes_and_reencodes(self):
        by_cc = {}
        for c, r in self.pairs:
            by_cc.setdefault(cc_of(c), set()).add(r)
        bad, total, encrypted = [], 0, 0
        for cc, rsps in sorted(by_cc.items()):
            rsps = sorted(rsps)
            total += len(rsps)
            for r, j in zip(rsps, decode_lines(rsps, "--response", hex(cc))):
                encrypted += ', encrypted"' in json.dumps(j.get("tree", {}))
                if not j["ok"] or bytes.fromhex(j["reencoded"]) != r:
                    bad.append((hex(cc), r.hex()[:200], j.get("error")))
        self.assertEqual(bad, [], f"{len(bad)} of {total} responses")
        self.assertGreater(encrypted, 0)


if __name__ == "__main__":
    if not TRACE_DIR or not load_pairs(TRACE_DIR)[1]:
        print("no captures: run the e2e tests first (ctest runs this one after them)", file=sys.stderr)
        sys.exit(77)
    unittest.main(verbosity=2)
