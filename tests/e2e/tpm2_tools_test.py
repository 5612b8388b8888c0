#!/usr/bin/python3
"""End to end: Debian's tpm2-tools (5.4, tpm2-tss 3.2.1) against utpmd, over the mssim TCP
channel (-T mssim:...) and over the virtual serial port (-T device:<pty link>).

Every expected value is computed here independently (hashlib) or read back from the TPM's own
capability report; nothing is hard-coded from a previous run.

Run: UTPMD=build/host-release/src/host/utpmd python3 tests/e2e/tpm2_tools_test.py [-k pattern]
"""
import hashlib
import os
import re
import tempfile
import time
import unittest

from utpmd_harness import (SU_CLEAR, MssimClient, MssimShim, Utpmd, rc_of, run_tool, startup)

HASHES = {"sha1": hashlib.sha1, "sha256": hashlib.sha256, "sha384": hashlib.sha384,
          "sha512": hashlib.sha512}
PC_CLIENT_ALL_ONES = range(17, 23)  # PC Client: PCR 17-22 (DRTM) start as all ones


class ToolsMixin:
    CHANNEL = None  # "mssim" or "pty"

    def start_server(self, started=True):
        shim = os.environ.get("UTPM_E2E_MSSIM_SHIM")
        if self.CHANNEL == "mssim" and shim:
            self.server = MssimShim(shim).start()
        else:
            self.server = Utpmd(pty=self.CHANNEL != "mssim").start()
        self.addCleanup(self.stop_server)
        if started:
            # Startup over the raw mssim port: quick, and leaves the channel under test to
            # the tools (tpm2_startup itself has its own test).
            c = MssimClient(self.server.port)
            self.assertEqual(rc_of(c.execute(startup(SU_CLEAR))), 0)
            c.close()
        self.tmp = tempfile.TemporaryDirectory(prefix="utpm-e2e-files-")
        self.addCleanup(self.tmp.cleanup)

    def stop_server(self):
        if self.server.alive():
            self.assertEqual(self.server.stop(), 0, "utpmd did not exit cleanly:\n"
                             + "".join(self.server.log))

    @property
    def tcti(self):
        if self.CHANNEL == "mssim":
            return self.server.mssim_tcti
        if self.CHANNEL == "utpm-tcti":
            return f"utpm:device={self.server.pty_link}"
        return self.server.device_tcti

    def tool(self, *args, **kw):
        return run_tool(list(args), self.tcti, **kw)

    def out(self, *args, **kw):
        return self.tool(*args, **kw).stdout.decode()

    def path(self, name):
        return os.path.join(self.tmp.name, name)

    def write_file(self, name, data):
        with open(self.path(name), "wb") as f:
            f.write(data)
        return self.path(name)

    def read_file(self, name):
        with open(self.path(name), "rb") as f:
            return f.read()

    def banks(self):
        """PCR banks the TPM reports (getcap pcrs), each with its allocated indices."""
        text = self.out("tpm2_getcap", "pcrs")
        banks = {}
        for alg, idx in re.findall(r"-\s*(\w+):\s*\[([^\]]*)\]", text):
            banks[alg] = [int(i) for i in idx.split(",") if i.strip()]
        self.assertIn("sha256", banks, text)
        return banks

    def pcr(self, alg, index):
        self.tool("tpm2_pcrread", f"{alg}:{index}", "-o", self.path("pcr.bin"))
        value = self.read_file("pcr.bin")
        self.assertEqual(len(value), HASHES[alg]().digest_size)
        return value

    def fixed_property(self, name):
        text = self.out("tpm2_getcap", "properties-fixed")
        m = re.search(name + r":\s*\n\s*raw:\s*(0x[0-9a-fA-F]+)", text)
        self.assertIsNotNone(m, f"{name} missing from properties-fixed:\n{text}")
        return int(m.group(1), 16)

    def clock(self):
        text = self.out("tpm2_readclock")
        fields = dict(re.findall(r"(?m)^\s*(\w+):[ \t]*(\w+)[ \t]*$", text))
        return {k: fields[k] for k in ("time", "clock", "reset_count", "restart_count", "safe")}

    # ---------------------------------------------------------------- lifecycle

    def test_startup_clear_is_required_and_works(self):
        self.start_server(started=False)
        before = self.tool("tpm2_getrandom", "8", "--hex", check=False)
        self.assertNotEqual(before.returncode, 0, "GetRandom must fail before TPM2_Startup")
        self.assertIn(b"0x100", before.stderr)  # TPM_RC_INITIALIZE
        self.tool("tpm2_startup", "-c")
        self.assertEqual(len(self.out("tpm2_getrandom", "8", "--hex")), 16)

    def test_selftest_and_gettestresult(self):
        self.start_server()
        self.tool("tpm2_selftest")
        self.tool("tpm2_selftest", "--fulltest")
        text = self.out("tpm2_gettestresult")
        self.assertRegex(text, r"status:\s+success")

    # ---------------------------------------------------------------- random

    def test_getrandom_raw_hex_and_distinct(self):
        self.start_server()
        self.tool("tpm2_getrandom", "8", "-o", self.path("r8"))
        self.assertEqual(len(self.read_file("r8")), 8)
        hex16 = self.out("tpm2_getrandom", "16", "--hex")
        self.assertRegex(hex16, r"^[0-9a-f]{32}$")
        a = self.out("tpm2_getrandom", "32", "--hex")
        b = self.out("tpm2_getrandom", "32", "--hex")
        self.assertNotEqual(a, b)
        self.assertNotEqual(a, "0" * 64)

    def test_getrandom_large_sizes(self):
        self.start_server()
        max_digest = self.fixed_property("TPM2_PT_MAX_DIGEST")
        self.assertIn(max_digest, (32, 48, 64))
        self.tool("tpm2_getrandom", str(max_digest), "-o", self.path("rmax"))
        self.assertEqual(len(self.read_file("rmax")), max_digest)
        # Above the largest digest the tool refuses unless forced; forced, the TPM returns at
        # most one digest's worth (TPM2_GetRandom, Part 3 §16.1).
        self.assertNotEqual(self.tool("tpm2_getrandom", str(max_digest + 1), check=False)
                            .returncode, 0)
        self.tool("tpm2_getrandom", "-f", "1024", "-o", self.path("rbig"))
        self.assertEqual(len(self.read_file("rbig")), max_digest)

    def test_stirrandom(self):
        self.start_server()
        self.tool("tpm2_stirrandom", stdin=os.urandom(64))
        self.tool("tpm2_stirrandom", self.write_file("seed", os.urandom(128)))
        self.assertEqual(len(self.out("tpm2_getrandom", "16", "--hex")), 32)

    # ---------------------------------------------------------------- capabilities

    def test_getcap_every_listed_group(self):
        self.start_server()
        groups = re.findall(r"^- (\S+)$", self.out("tpm2_getcap", "-l"), re.M)
        self.assertGreaterEqual(len(groups), 13, groups)
        outputs = {}
        for g in groups:
            outputs[g] = self.out("tpm2_getcap", g)
        self.assertRegex(outputs["algorithms"], r"(?m)^sha256:")
        self.assertRegex(outputs["algorithms"], r"(?m)^sha1:")
        self.assertIn("TPM2_CC_GetRandom", outputs["commands"])
        self.assertIn("TPM2_CC_PCR_Extend", outputs["commands"])
        self.assertIn("TPM2_PT_FAMILY_INDICATOR", outputs["properties-fixed"])
        self.assertRegex(outputs["properties-fixed"], r'value:\s+"2.0"')
        self.assertIn("TPM2_PT_STARTUP_CLEAR", outputs["properties-variable"])
        self.assertRegex(outputs["pcrs"], r"sha256: \[ 0, 1, 2, .*23 \]")
        # handles-pcr lists one handle per PCR: 0x0 .. 0x17.
        pcr_handles = re.findall(r"0x[0-9A-Fa-f]+", outputs["handles-pcr"])
        self.assertEqual([int(h, 16) for h in pcr_handles], list(range(24)))
        # handles-permanent includes the owner hierarchy (TPM_RH_OWNER).
        self.assertIn("0x40000001", outputs["handles-permanent"])
        # Nothing transient is loaded in a fresh TPM.
        self.assertEqual(outputs["handles-transient"].strip(), "")

    # ---------------------------------------------------------------- PCRs

    def test_pcrread_initial_values(self):
        self.start_server()
        for alg, indices in self.banks().items():
            if alg not in HASHES:
                continue
            size = HASHES[alg]().digest_size
            for i in (0, 7, 16, 17, 22, 23):
                if i in indices:
                    want = b"\xff" * size if i in PC_CLIENT_ALL_ONES else b"\0" * size
                    self.assertEqual(self.pcr(alg, i), want, f"{alg}:{i}")

    def test_pcrextend_matches_independent_computation(self):
        self.start_server()
        banks = [b for b, idx in self.banks().items() if b in HASHES and idx]  # allocated banks only
        expected = {alg: b"\0" * HASHES[alg]().digest_size for alg in banks}
        for round_ in range(3):
            digests = {alg: HASHES[alg](b"event %d" % round_).digest() for alg in banks}
            spec = ",".join(f"{alg}={d.hex()}" for alg, d in digests.items())
            self.tool("tpm2_pcrextend", f"16:{spec}")
            for alg in banks:
                expected[alg] = HASHES[alg](expected[alg] + digests[alg]).digest()
        for alg in banks:
            self.assertEqual(self.pcr(alg, 16), expected[alg], alg)
        # A bank left out of the extend is untouched: extend sha256 only.
        d = hashlib.sha256(b"only sha256").digest()
        self.tool("tpm2_pcrextend", f"15:sha256={d.hex()}")
        self.assertEqual(self.pcr("sha256", 15), hashlib.sha256(b"\0" * 32 + d).digest())
        if "sha1" in banks:
            self.assertEqual(self.pcr("sha1", 15), b"\0" * 20)

    def test_pcrevent_small_and_sequence_sized_data(self):
        self.start_server()
        banks = [b for b, idx in self.banks().items() if b in HASHES and idx]  # allocated banks only
        expected = {alg: b"\0" * HASHES[alg]().digest_size for alg in banks}
        # 100 bytes go in one TPM2_PCR_Event; 5000 bytes make the tool use a hash sequence
        # ending in TPM2_EventSequenceComplete.
        for size in (100, 5000):
            data = os.urandom(size)
            text = self.out("tpm2_pcrevent", self.write_file("ev", data), "16")
            printed = dict(re.findall(r"(?m)^(\w+): ([0-9a-f]+)$", text))
            for alg in banks:
                digest = HASHES[alg](data).digest()
                self.assertEqual(printed.get(alg), digest.hex(), f"{alg} size {size}")
                expected[alg] = HASHES[alg](expected[alg] + digest).digest()
        for alg in banks:
            self.assertEqual(self.pcr(alg, 16), expected[alg], alg)
        # Without a PCR index the tool only hashes: PCR 16 stays as it is.
        self.out("tpm2_pcrevent", self.write_file("ev2", b"no extend"))
        self.assertEqual(self.pcr("sha256", 16), expected["sha256"])

    def test_pcrreset_resettable_and_locality_rules(self):
        self.start_server()
        d = hashlib.sha256(b"x").digest()
        for i in (0, 16, 23):
            self.tool("tpm2_pcrextend", f"{i}:sha256={d.hex()}")
        extended = hashlib.sha256(b"\0" * 32 + d).digest()
        self.tool("tpm2_pcrreset", "16")
        self.tool("tpm2_pcrreset", "23")
        self.assertEqual(self.pcr("sha256", 16), b"\0" * 32)
        self.assertEqual(self.pcr("sha256", 23), b"\0" * 32)
        # PCR 0 is not resettable from locality 0 (PC Client): TPM_RC_LOCALITY.
        p = self.tool("tpm2_pcrreset", "0", check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn(b"0x907", p.stderr)
        self.assertEqual(self.pcr("sha256", 0), extended)

    # ---------------------------------------------------------------- hash

    def test_hash_one_shot_and_sequence(self):
        self.start_server()
        algs = [a for a in ("sha1", "sha256", "sha384") if a in self.banks() or a == "sha384"]
        for size in (100, 3000):  # > 1024 bytes: HashSequenceStart/SequenceUpdate/Complete
            data = os.urandom(size)
            f = self.write_file("msg", data)
            for alg in algs:
                self.tool("tpm2_hash", "-g", alg, "-o", self.path("digest"), "-t",
                          self.path("ticket"), f)
                self.assertEqual(self.read_file("digest"), HASHES[alg](data).digest(),
                                 f"{alg} size {size}")

    # ---------------------------------------------------------------- clock

    def test_readclock_advances(self):
        self.start_server()
        a = self.clock()
        time.sleep(0.2)
        b = self.clock()
        self.assertGreaterEqual(int(b["clock"]) - int(a["clock"]), 150)
        self.assertLess(int(b["clock"]) - int(a["clock"]), 10000)
        self.assertGreater(int(b["time"]), int(a["time"]))
        self.assertEqual(b["safe"], "yes")

    def test_setclock_forward_only(self):
        self.start_server()
        now = int(self.clock()["clock"])
        target = now + 10_000_000
        self.tool("tpm2_setclock", str(target))
        after = int(self.clock()["clock"])
        self.assertGreaterEqual(after, target)
        self.assertLess(after, target + 10_000)
        p = self.tool("tpm2_setclock", str(now), check=False)  # backwards: TPM_RC_VALUE
        self.assertNotEqual(p.returncode, 0)
        self.assertIn(b"0x1C4", p.stderr.upper().replace(b"0X", b"0x"))

    # ---------------------------------------------------------------- shutdown / restart

    def _extend_marks(self):
        """Extends PCR 0 and 10 (saved by Shutdown(STATE): PC Client stateSave, PCRs 0-15) and
        PCR 16 (debug PCR: not saved, back to zero on resume). Returns the expected values."""
        marks = {}
        for i, event in ((0, b"boot"), (10, b"ima"), (16, b"debug")):
            d = hashlib.sha256(event).digest()
            self.tool("tpm2_pcrextend", f"{i}:sha256={d.hex()}")
            marks[i] = hashlib.sha256(b"\0" * 32 + d).digest()
        return marks

    def _assert_resumed(self, marks):
        self.assertEqual(self.pcr("sha256", 0), marks[0])
        self.assertEqual(self.pcr("sha256", 10), marks[10])
        self.assertEqual(self.pcr("sha256", 16), b"\0" * 32)

    def test_shutdown_state_then_resume_keeps_pcrs(self):
        self.start_server()
        marks = self._extend_marks()
        before = self.clock()
        self.tool("tpm2_shutdown")  # TPM_SU_STATE by default
        self.server.power_cycle()
        self.tool("tpm2_startup")   # TPM_SU_STATE: TPM Resume
        self._assert_resumed(marks)
        after = self.clock()
        self.assertEqual(int(after["reset_count"]), int(before["reset_count"]))
        self.assertEqual(int(after["restart_count"]), int(before["restart_count"]) + 1)

    def test_shutdown_clear_then_reset_clears_pcrs(self):
        self.start_server()
        self._extend_marks()
        before = self.clock()
        self.tool("tpm2_shutdown", "-c")
        self.server.power_cycle()
        # Startup(STATE) after Shutdown(CLEAR) is refused (TPM_RC_VALUE), CLEAR works.
        self.assertNotEqual(self.tool("tpm2_startup", check=False).returncode, 0)
        self.tool("tpm2_startup", "-c")
        for i in (0, 10, 16):
            self.assertEqual(self.pcr("sha256", i), b"\0" * 32, f"PCR {i}")
        after = self.clock()
        self.assertEqual(int(after["reset_count"]), int(before["reset_count"]) + 1)
        self.assertEqual(int(after["restart_count"]), 0)

    def test_state_survives_daemon_restart(self):
        if isinstance(getattr(self, "server", None), MssimShim) or os.environ.get(
                "UTPM_E2E_MSSIM_SHIM") and self.CHANNEL == "mssim":
            self.skipTest("utpmd only (restarts the daemon on its state directory)")
        self.start_server()
        marks = self._extend_marks()
        clock_before = int(self.clock()["clock"])
        self.tool("tpm2_shutdown")
        state = self.server.state
        self.assertEqual(self.server.stop(remove_state=False), 0)
        # A new process on the same state directory: only the persisted state connects them.
        self.server = Utpmd(pty=self.CHANNEL != "mssim", state_dir=state).start()
        self.addCleanup(lambda: __import__("shutil").rmtree(state, ignore_errors=True))
        self.tool("tpm2_startup")
        self._assert_resumed(marks)
        # An orderly shutdown saved Clock exactly: it never goes backwards across restarts.
        self.assertGreaterEqual(int(self.clock()["clock"]), clock_before)


class ToolsOverMssim(ToolsMixin, unittest.TestCase):
    CHANNEL = "mssim"


class ToolsOverPty(ToolsMixin, unittest.TestCase):
    CHANNEL = "pty"


@unittest.skipUnless(os.environ.get("UTPM_TCTI_DIR"), "UTPM_TCTI_DIR (our TCTI module) not set")
class ToolsOverUtpmTcti(ToolsMixin, unittest.TestCase):
    """Our TCTI (libtss2-tcti-utpm.so.0, mssim frames on a serial line) against utpmd's pty:
    the same path a board on /dev/ttyACM0 is used through."""
    CHANNEL = "utpm-tcti"

    def setUp(self):
        os.environ["LD_LIBRARY_PATH"] = os.environ["UTPM_TCTI_DIR"]


if __name__ == "__main__":
    unittest.main()
