#!/usr/bin/env python3
"""QEMU end-to-end test of the utpm firmware (board `qemu`, machine netduinoplus2).

Boots the real firmware image, talks to it over the emulated UART (a host pty), checks the
framing behaviour, the firmware's own diagnostics (painted-stack high-water mark, per-command
instruction count), drives it with Debian's tpm2-tools once the engine is linked in, and
restarts QEMU to show that the semihosted store persisted.

Exit status: 0 pass, 1 fail, 77 skipped (only when the cross toolchain or QEMU is missing).
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
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qemu_harness as qh  # noqa: E402

SKIP = 77
TPM_RC_INITIALIZE = 0x100
TPM_RC_FAILURE = 0x101
CC_GET_RANDOM = 0x17B
CC_STARTUP = 0x144
ARGS = None
FW = None  # the QemuFirmware shared by the tests (tests run in name order)
REPORT = {}


def get_random(n):
    return qh.command(CC_GET_RANDOM, struct.pack(">H", n))


def create_primary(alg):
    """TPM2_CreatePrimary under the owner hierarchy, empty password: a restricted decryption
    key (AES-128-CFB parent), the storage-key template tpm2-tools uses by default."""
    pw = struct.pack(">IHBH", 0x40000009, 0, 0, 0)
    attrs = 0x00030072  # fixedTPM fixedParent sensitiveDataOrigin userWithAuth restricted decrypt
    sym = struct.pack(">HHH", 0x0006, 128, 0x0043)
    if alg == 0x0023:  # ECC: scheme NULL, curve P-256, kdf NULL, empty unique point
        params = sym + struct.pack(">HHH", 0x0010, 0x0003, 0x0010) + struct.pack(">HH", 0, 0)
    else:              # RSA: scheme NULL, 2048 bits, default exponent, empty unique
        params = sym + struct.pack(">HHI", 0x0010, 2048, 0) + struct.pack(">H", 0)
    public = struct.pack(">HHIH", alg, 0x000B, attrs, 0) + params
    body = (struct.pack(">H", 4) + struct.pack(">HH", 0, 0)        # inSensitive
            + struct.pack(">H", len(public)) + public               # inPublic
            + struct.pack(">H", 0) + struct.pack(">I", 0))          # outsideInfo, creationPCR
    return qh.command(0x131, struct.pack(">II", 0x40000001, len(pw)) + pw + body, tag=0x8002)


class Tools:
    """tpm2-tools against the firmware under test."""

    def tool(self, *argv, tcti=None, check=True, input_data=None):
        """Runs one tpm2-tools command against the firmware; returns stdout."""
        # tcti-cmd + socat: socat moves bytes both ways and the TSS frames by the TPM header,
        # so split UART deliveries are harmless (transport.md T5). The harness keeps the pty
        # open in raw mode, so socat finds it configured.
        tcti = tcti or f"cmd:exec socat -b 65536 STDIO {FW.pty}"
        env = dict(os.environ)
        if ARGS.tcti_dir:  # where libtss2-tcti-utpm.so.0 was built, for "-T utpm:..."
            env["LD_LIBRARY_PATH"] = os.path.abspath(ARGS.tcti_dir) + os.pathsep + env.get("LD_LIBRARY_PATH", "")
        r = subprocess.run([argv[0], "-T", tcti, *argv[1:]], capture_output=True,
                           timeout=120, cwd=ARGS.scratch, env=env, input=input_data)
        r.stdout = r.stdout.decode(errors="replace")
        r.stderr = r.stderr.decode(errors="replace")
        if check and r.returncode != 0:
            self.fail(f"{' '.join(argv)} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
        return r.stdout

    def pcr_value(self, index, bank="sha256", tcti=None):
        out = self.tool("tpm2_pcrread", f"{bank}:{index}", tcti=tcti)
        for line in out.splitlines():
            line = line.strip()
            if line.startswith(f"{index} :") or line.startswith(f"{index}:"):
                return bytes.fromhex(line.split(":", 1)[1].strip().removeprefix("0x"))
        self.fail(f"PCR {index} not in tpm2_pcrread output:\n{out}")

    def read_clock(self):
        out = self.tool("tpm2_readclock")
        vals = {}
        for line in out.splitlines():
            if ":" in line:
                k, v = line.split(":", 1)
                vals[k.strip()] = v.strip()
        return {"clock": int(vals["clock"]), "reset_count": int(vals["reset_count"]),
                "safe": vals["safe"] == "yes"}


class FirmwareE2E(Tools, unittest.TestCase):
    nv_index_data = None  # written by test_28, read back by test_91 after restarts
    # ---- framing, before any Startup (valid with or without the engine) ----
    def test_01_answers_before_startup(self):
        # A TPM that has not seen Startup answers every command with TPM_RC_INITIALIZE in a
        # bare 10-byte response: this is what tcti-device's init probe relies on.
        rsp = FW.transact(get_random(8))
        self.assertEqual(qh.parse_response(rsp)[:3], (0x8001, 10, TPM_RC_INITIALIZE), rsp.hex())

    def test_02_skips_garbage_and_tolerates_byte_splits(self):
        # ModemManager-style probing and line noise before a command split into single bytes.
        FW.write(b"AT\r\nAT+GCAP\r\n\x00\xff\x80\x07")
        rsp = FW.transact(get_random(8), chunk=1, delay=0.002)
        self.assertEqual(qh.parse_response(rsp)[:3], (0x8001, 10, TPM_RC_INITIALIZE), rsp.hex())
        self.assertEqual(FW.drain(0.3), b"", "exactly one response per command")

    def test_03_drops_stalled_partial_frame(self):
        FW.write(get_random(8)[:7])
        time.sleep(ARGS.stall_seconds)
        rsp = FW.transact(get_random(8))
        self.assertEqual(qh.parse_response(rsp)[:3], (0x8001, 10, TPM_RC_INITIALIZE), rsp.hex())
        self.assertEqual(FW.drain(0.3), b"")

    def test_04_back_to_back_commands(self):
        # Several commands in one write: each gets its own response, in order.
        FW.write(get_random(8) * 3)
        for _ in range(3):
            self.assertEqual(qh.parse_response(FW.read_response())[2], TPM_RC_INITIALIZE)

    def test_05_mssim_framing(self):
        # u32 8 | locality | u32 size | command  ->  u32 size | response | u32 0 (ack)
        cmd = get_random(8)
        FW.write(struct.pack(">IBI", 8, 0, len(cmd)) + cmd)
        size = struct.unpack(">I", FW.read_exact(4, 10))[0]
        rsp = FW.read_exact(size, 10)
        self.assertEqual(qh.parse_response(rsp)[:3], (0x8001, 10, TPM_RC_INITIALIZE))
        self.assertEqual(FW.read_exact(4, 10), b"\0\0\0\0")

    def test_06_legacy_signal_framing(self):
        # The Nucleo-TPM sample's 'Tpm2' frames (little endian): Command, then Response re-send.
        cmd = get_random(8)
        magic = 0x326D7054
        FW.write(struct.pack("<IIIII", magic, 6, 8 + len(cmd), 0, len(cmd)) + cmd)
        size = struct.unpack("<I", FW.read_exact(4, 10))[0]
        first = FW.read_exact(size, 10)
        self.assertEqual(qh.parse_response(first)[:3], (0x8001, 10, TPM_RC_INITIALIZE))
        FW.write(struct.pack("<III", magic, 7, 0))  # SignalResponse: send it again
        size = struct.unpack("<I", FW.read_exact(4, 10))[0]
        self.assertEqual(FW.read_exact(size, 10), first)

    def test_07_oversize_command_rejected(self):
        # A header announcing more than the firmware's 2048-byte buffer is refused at once
        # with TPM_RC_COMMAND_SIZE; the unsent body is then dropped by the stall timeout.
        rsp = FW.transact(struct.pack(">HII", 0x8001, 4000, CC_GET_RANDOM))
        self.assertEqual(qh.parse_response(rsp)[:3], (0x8001, 10, 0x142))
        time.sleep(ARGS.stall_seconds)
        rsp = FW.transact(get_random(8))
        self.assertEqual(qh.parse_response(rsp)[2], TPM_RC_INITIALIZE)

    # ---- firmware diagnostics ----
    def test_10_diagnostics(self):
        d = FW.diagnostics()
        self.assertEqual(d["format"], 2)
        self.assertGreater(d["stack_reserve"], 0)
        # The painted stack shows real use, and it stayed inside its reserve.
        self.assertGreater(d["stack_high_water"], 64)
        self.assertLess(d["stack_high_water"], d["stack_reserve"])
        self.assertGreater(d["static_ram"], 0)
        self.assertLessEqual(d["static_ram"] + d["stack_reserve"], ARGS.ram_budget)
        self.assertGreaterEqual(d["boot_count"], 1)
        self.assertEqual(d["uart_overruns"], 0)
        self.assertEqual(d["cost_unit"], 1, "QEMU reports instructions")
        self.assertGreater(d["store_used"], 0)
        REPORT["diag"] = d

    def test_11_instruction_count_is_measured(self):
        # Same command twice: the count is non-zero and reproducible (icount is deterministic
        # up to SysTick granularity and the interrupt that delivered the last byte).
        _, a = FW.cost_of(get_random(8))
        _, b = FW.cost_of(get_random(8))
        self.assertGreater(a, 0)
        self.assertLess(abs(a - b), max(200, a // 10), (a, b))

    def test_12_utpm_diag(self):
        # `utpm diag` (docs/tool.md) through a TCTI reads what the harness reads itself.
        if not ARGS.utpm:
            self.skipTest("utpm tool not built in this tree")
        tcti = f"cmd:exec socat -b 65536 STDIO {FW.pty}"
        FW.transact(get_random(8))
        r = subprocess.run([ARGS.utpm, "diag", "-T", tcti, "--json"], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        got = json.loads(r.stdout)
        d = FW.diagnostics()
        for k in ("format", "stack_reserve", "static_ram", "boot_count", "features", "cost_unit", "last_command",
                  "last_cost", "uart_overruns", "store_used"):
            self.assertEqual(got[k], d[k], k)
        self.assertEqual(got["last_command"], CC_GET_RANDOM)
        self.assertEqual(got["last_command_name"], "TPM2_GetRandom")
        self.assertLessEqual(got["stack_high_water"], d["stack_high_water"])
        self.assertGreater(got["stack_high_water"], 64)
        self.assertLessEqual(got["uptime_ms"], d["uptime_ms"])
        # --cost: the command's cost as the firmware measured it, close to the harness's own.
        _, want = FW.cost_of(get_random(8))
        r = subprocess.run([ARGS.utpm, "diag", "-T", tcti, "--json", "--cost", get_random(8).hex()],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        got = json.loads(r.stdout)
        self.assertEqual((got["cost_command"], got["last_command"]), (CC_GET_RANDOM, CC_GET_RANDOM))
        self.assertIn(got["cost_rc"], (0, TPM_RC_INITIALIZE))  # this test may run before Startup
        self.assertLess(abs(got["last_cost"] - want), max(200, want // 10), (got["last_cost"], want))
        r = subprocess.run([ARGS.utpm, "diag", "-T", tcti], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("stack high water", r.stdout)
        self.assertIn("instructions", r.stdout)
        REPORT["utpm_diag_getrandom_cost"] = got["last_cost"]
        # `utpm decode` names the vendor command and each field of the firmware's real answer.
        cmd = qh.command(qh.CC_FIRMWARE_DIAGNOSTICS)
        rsp = FW.transact(cmd)
        body = struct.unpack(f">{len(qh.DIAG_FIELDS)}I", rsp[10:])
        r = subprocess.run([ARGS.utpm, "decode", "--json", "--check", "--response", hex(qh.CC_FIRMWARE_DIAGNOSTICS),
                            rsp.hex()], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        report = json.loads(r.stdout)["tree"]["fields"][-1]["fields"][-1]
        self.assertEqual(report["name"], "report")
        self.assertEqual({f["name"]: int(f["value"], 16) for f in report["fields"]}, dict(zip(qh.DIAG_FIELDS, body)))
        r = subprocess.run([ARGS.utpm, "decode", cmd.hex()], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("utpm_FirmwareDiagnostics", r.stdout)

    # ---- the engine, driven by the stock tools ----
    def engine(self):
        if not FW.diagnostics()["features"] & qh.FEATURE_ENGINE:
            self.skipTest("firmware image built without the engine (src/tpm not linked yet)")
        # Each test may run alone: make sure the TPM is started (INITIALIZE = it already was).
        rc = qh.parse_response(FW.transact(qh.command(CC_STARTUP, b"\x00\x00")))[2]
        self.assertIn(rc, (0, TPM_RC_INITIALIZE), f"Startup(CLEAR) rc 0x{rc:x}")

    def test_20_tools_startup_getrandom_getcap(self):
        self.engine()
        self.tool("tpm2_startup", "-c")
        a = self.tool("tpm2_getrandom", "--hex", "16").strip()
        b = self.tool("tpm2_getrandom", "--hex", "16").strip()
        self.assertEqual(len(bytes.fromhex(a)), 16)
        self.assertNotEqual(a, b, "two GetRandom answers must differ")
        fixed = self.tool("tpm2_getcap", "properties-fixed")
        self.assertIn("TPM2_PT_FAMILY_INDICATOR", fixed)
        self.assertIn("TPM2_PT_MANUFACTURER", fixed)
        algs = self.tool("tpm2_getcap", "algorithms")
        self.assertIn("sha256:", algs)

    def test_21_tools_pcr_extend_and_read(self):
        self.engine()
        import hashlib
        before = self.pcr_value(16)
        digest = hashlib.sha256(b"utpm firmware e2e").digest()
        self.tool("tpm2_pcrextend", f"16:sha256={digest.hex()}")
        # Expected value computed here, independently of the TPM: H(old || digest).
        self.assertEqual(self.pcr_value(16), hashlib.sha256(before + digest).digest())

    def test_22_tools_hash(self):
        self.engine()
        import hashlib
        data = os.urandom(300)
        path = os.path.join(ARGS.scratch, "hash.in")
        with open(path, "wb") as f:
            f.write(data)
        out = os.path.join(ARGS.scratch, "hash.out")
        self.tool("tpm2_hash", "-C", "e", "-g", "sha256", "-o", out, path)
        with open(out, "rb") as f:
            self.assertEqual(f.read(), hashlib.sha256(data).digest())

    def test_23_tools_via_utpm_tcti(self):
        # Our TCTI (src/host/tcti): raw termios, mssim framing, reads until the whole response.
        self.engine()
        if not ARGS.tcti_dir:
            self.skipTest("libtss2-tcti-utpm.so.0 not built in this tree")
        import hashlib
        tcti = f"utpm:device={FW.pty}"
        a = self.tool("tpm2_getrandom", "--hex", "32", tcti=tcti).strip()
        self.assertEqual(len(bytes.fromhex(a)), 32)
        self.assertIn("TPM2_PT_MANUFACTURER", self.tool("tpm2_getcap", "properties-fixed", tcti=tcti))
        before = self.pcr_value(16, tcti=tcti)
        digest = hashlib.sha256(b"through the utpm TCTI").digest()
        self.tool("tpm2_pcrextend", f"16:sha256={digest.hex()}", tcti=tcti)
        self.assertEqual(self.pcr_value(16, tcti=tcti), hashlib.sha256(before + digest).digest())
        path = os.path.join(ARGS.scratch, "hash2.in")
        with open(path, "wb") as f:
            f.write(b"x" * 1000)
        out = os.path.join(ARGS.scratch, "hash2.out")
        self.tool("tpm2_hash", "-C", "o", "-g", "sha256", "-o", out, path, tcti=tcti)
        with open(out, "rb") as f:
            self.assertEqual(f.read(), hashlib.sha256(b"x" * 1000).digest())

    def test_24_tools_more_engine_commands(self):
        # The rest of what the engine implements today, as the tools use it.
        self.engine()
        import hashlib
        # > TPM2B_MAX_BUFFER: tpm2_hash switches to HashSequenceStart/SequenceUpdate/Complete.
        data = os.urandom(5000)
        path = os.path.join(ARGS.scratch, "seq.in")
        with open(path, "wb") as f:
            f.write(data)
        out = os.path.join(ARGS.scratch, "seq.out")
        self.tool("tpm2_hash", "-C", "o", "-g", "sha384", "-o", out, path)
        with open(out, "rb") as f:
            self.assertEqual(f.read(), hashlib.sha384(data).digest())
        self.tool("tpm2_stirrandom", input_data=os.urandom(32))
        self.tool("tpm2_selftest", "--fulltest")
        self.assertIn("success", self.tool("tpm2_gettestresult"))
        # PCR 16 is the debug PCR: resettable from locality 0.
        self.tool("tpm2_pcrreset", "16")
        self.assertEqual(self.pcr_value(16), bytes(32))
        clock = self.read_clock()
        self.assertGreater(clock["clock"], 0)

    def test_25_tools_create_primary(self):
        # Key derivation from the primary seed: ECC P-256 and RSA-2048 (prime search in mbedTLS
        # on the static pool), the heaviest stack and pool users so far.
        self.engine()
        for alg in ("ecc256", "rsa2048"):
            ctx = os.path.join(ARGS.scratch, f"{alg}.ctx")
            self.tool("tpm2_createprimary", "-C", "o", "-G", alg, "-c", ctx)
            pub = self.tool("tpm2_readpublic", "-c", ctx)
            self.assertIn("rsa" if alg.startswith("rsa") else "ecc", pub.lower())
            self.tool("tpm2_flushcontext", "-t")
        d = FW.diagnostics()
        self.assertLess(d["stack_high_water"], d["stack_reserve"])

    def test_27_tools_key_use_checked_on_the_host(self):
        # Signatures made by the firmware verify with an independent implementation
        # (python3-cryptography), and the firmware decrypts what the host encrypted. RSA
        # private operations are the largest users of mbedTLS's static pool.
        self.engine()
        try:
            from cryptography.hazmat.primitives import hashes, serialization
            from cryptography.hazmat.primitives.asymmetric import ec, padding
        except ImportError:
            self.skipTest("python3-cryptography missing")
        data = b"signed inside the firmware"
        msg = self.scratch_file("msg", data)

        def use(*argv):
            # Without a resource manager every tool leaves the context it loaded in one of the
            # TPM's 3 object slots: free it after each use, as tpm2-abrmd would.
            out = self.tool(*argv)
            self.tool("tpm2_flushcontext", "-t")
            return out

        def public_key(ctx):
            pem = os.path.join(ARGS.scratch, "pub.pem")
            use("tpm2_readpublic", "-c", ctx, "-f", "pem", "-o", pem)
            with open(pem, "rb") as f:
                return serialization.load_pem_public_key(f.read())

        sig = os.path.join(ARGS.scratch, "sig")
        for curve, hash_name, halg in (("ecc256", "sha256", hashes.SHA256()),
                                       ("ecc384", "sha384", hashes.SHA384())):
            ctx = os.path.join(ARGS.scratch, f"{curve}.ctx")
            use("tpm2_createprimary", "-C", "o", "-G", f"{curve}:ecdsa-{hash_name}", "-a",
                "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|sign", "-c", ctx)
            use("tpm2_sign", "-c", ctx, "-g", hash_name, "-f", "plain", "-o", sig, msg)
            with open(sig, "rb") as f:  # "plain" ECDSA from tpm2_sign is DER
                public_key(ctx).verify(f.read(), data, ec.ECDSA(halg))  # raises if invalid

        ctx = os.path.join(ARGS.scratch, "rsa.ctx")
        use("tpm2_createprimary", "-C", "o", "-G", "rsa2048", "-a",
            "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|decrypt|sign", "-c", ctx)
        pub = public_key(ctx)
        for scheme, pad in (("rsassa", padding.PKCS1v15()),
                            ("rsapss", padding.PSS(padding.MGF1(hashes.SHA256()), padding.PSS.AUTO))):
            use("tpm2_sign", "-c", ctx, "-g", "sha256", "-s", scheme, "-f", "plain", "-o", sig, msg)
            with open(sig, "rb") as f:
                pub.verify(f.read(), data, pad, hashes.SHA256())
        ct = self.scratch_file("ct", pub.encrypt(data, padding.PKCS1v15()))
        pt = os.path.join(ARGS.scratch, "pt")
        use("tpm2_rsadecrypt", "-c", ctx, "-s", "rsaes", "-o", pt, ct)
        with open(pt, "rb") as f:
            self.assertEqual(f.read(), data)

        ctx = os.path.join(ARGS.scratch, "aes.ctx")
        use("tpm2_createprimary", "-C", "o", "-G", "aes128cfb", "-a",
            "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|decrypt|sign", "-c", ctx)
        enc, dec = os.path.join(ARGS.scratch, "aes.ct"), os.path.join(ARGS.scratch, "aes.pt")
        use("tpm2_encryptdecrypt", "-c", ctx, "-o", enc, msg)
        use("tpm2_encryptdecrypt", "-d", "-c", ctx, "-o", dec, enc)
        with open(enc, "rb") as f:
            self.assertNotEqual(f.read(), data)
        with open(dec, "rb") as f:
            self.assertEqual(f.read(), data)

    def scratch_file(self, name, content):
        path = os.path.join(ARGS.scratch, name)
        with open(path, "wb") as f:
            f.write(content)
        return path

    def test_29_tools_quote_and_credential_checked_on_the_host(self):
        # A Quote made by the firmware: TPMS_ATTEST decoded and its signature verified here with
        # python3-cryptography, the PCR digest recomputed from tpm2_pcrread; then an ECC EK +
        # AK credential made offline by tpm2-tools and activated by the firmware.
        self.engine()
        try:
            import hashlib
            from cryptography.hazmat.primitives import hashes, serialization
            from cryptography.hazmat.primitives.asymmetric import ec
            from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
        except ImportError:
            self.skipTest("python3-cryptography missing")

        def use(*argv):
            out = self.tool(*argv)
            self.tool("tpm2_flushcontext", "-t")
            return out

        p = lambda name: os.path.join(ARGS.scratch, name)  # noqa: E731
        use("tpm2_createek", "-c", p("ek.ctx"), "-G", "ecc", "-u", p("ek.pub"))
        use("tpm2_createak", "-C", p("ek.ctx"), "-c", p("ak.ctx"), "-G", "ecc", "-s", "ecdsa", "-g", "sha256",
            "-u", p("ak.pem"), "-f", "pem", "-n", p("ak.name"))
        use("tpm2_pcrextend", "16:sha256=" + hashlib.sha256(b"fw").hexdigest())
        nonce = os.urandom(16).hex()
        use("tpm2_quote", "-c", p("ak.ctx"), "-l", "sha1:0,16+sha256:0,16", "-q", nonce, "-m", p("q.msg"),
            "-s", p("q.sig"), "-o", p("q.pcrs"), "-g", "sha256")
        with open(p("q.msg"), "rb") as f:
            attest = f.read()
        with open(p("q.sig"), "rb") as f:
            sig = f.read()
        with open(p("ak.pem"), "rb") as f:
            key = serialization.load_pem_public_key(f.read())
        # TPMT_SIGNATURE: ECDSA, SHA-256, r, s
        alg, halg = struct.unpack(">HH", sig[:4])
        self.assertEqual((alg, halg), (0x0018, 0x000B))
        rlen = struct.unpack(">H", sig[4:6])[0]
        r = int.from_bytes(sig[6:6 + rlen], "big")
        s = int.from_bytes(sig[8 + rlen:], "big")
        key.verify(encode_dss_signature(r, s), attest, ec.ECDSA(hashes.SHA256()))  # raises if invalid
        # TPMS_ATTEST: magic, TPM_ST_ATTEST_QUOTE, qualifiedSigner, extraData = nonce, ..., pcrDigest last
        self.assertEqual(struct.unpack(">IH", attest[:6]), (0xFF544347, 0x8018))
        at = 6
        at += 2 + struct.unpack(">H", attest[at:at + 2])[0]  # qualifiedSigner
        n = struct.unpack(">H", attest[at:at + 2])[0]
        self.assertEqual(attest[at + 2:at + 2 + n].hex(), nonce)
        values = [self.pcr_value(0, "sha1"), self.pcr_value(16, "sha1"), self.pcr_value(0, "sha256"),
                  self.pcr_value(16, "sha256")]
        self.assertEqual(attest[-34:], struct.pack(">H", 32) + hashlib.sha256(b"".join(values)).digest())
        subprocess.run(["tpm2_checkquote", "-u", p("ak.pem"), "-m", p("q.msg"), "-s", p("q.sig"), "-f",
                        p("q.pcrs"), "-g", "sha256", "-q", nonce], check=True, capture_output=True, timeout=60)
        # Credential activation with the ECC EK.
        with open(p("ak.name"), "rb") as f:
            name = f.read().hex()
        secret = self.scratch_file("cred.secret", os.urandom(32))
        subprocess.run(["tpm2_makecredential", "-T", "none", "-u", p("ek.pub"), "-s", secret, "-n", name, "-o",
                        p("cred")], check=True, capture_output=True, timeout=60)
        self.tool("tpm2_startauthsession", "--policy-session", "-S", p("s.ctx"))
        self.tool("tpm2_policysecret", "-S", p("s.ctx"), "-c", "e")
        use("tpm2_activatecredential", "-c", p("ak.ctx"), "-C", p("ek.ctx"), "-i", p("cred"), "-o",
            p("cred.out"), "-P", "session:" + p("s.ctx"))
        self.tool("tpm2_flushcontext", p("s.ctx"))
        with open(secret, "rb") as f, open(p("cred.out"), "rb") as g:
            self.assertEqual(g.read(), f.read())

    def test_31_pcr_policy_seal_unseal_via_utpm_tcti(self):
        # Enhanced Authorization in the firmware: a secret sealed to PCR 16 under a PolicyPCR
        # digest (tpm2_createpolicy's trial session, checked against hashlib), unsealed with a
        # policy session through our TCTI, refused after the PCR changes.
        self.engine()
        if not ARGS.tcti_dir:
            self.skipTest("libtss2-tcti-utpm.so.0 not built in this tree")
        tcti = f"utpm:device={FW.pty}"

        def use(*argv, check=True):
            return self.tool(*argv, tcti=tcti, check=check)
        use("tpm2_pcrreset", "16")
        pcr = self.pcr_value(16, tcti=tcti)
        sel = struct.pack(">IHB3s", 1, 0x000B, 3, bytes([0, 0, 1]))  # sha256:16
        expect = hashlib.sha256(bytes(32) + struct.pack(">I", 0x17F) + sel + hashlib.sha256(pcr).digest()).digest()
        pol = os.path.join(ARGS.scratch, "pcr16.policy")
        use("tpm2_createpolicy", "--policy-pcr", "-l", "sha256:16", "-L", pol)
        with open(pol, "rb") as f:
            self.assertEqual(f.read(), expect)
        prim, sealed = (os.path.join(ARGS.scratch, n) for n in ("pol-prim.ctx", "pol-seal.ctx"))
        use("tpm2_createprimary", "-C", "o", "-G", "ecc256", "-c", prim)
        use("tpm2_flushcontext", "-t")
        use("tpm2_create", "-C", prim, "-L", pol, "-i", self.scratch_file("secret", b"fw sealed"),
            "-u", os.path.join(ARGS.scratch, "s.pub"), "-r", os.path.join(ARGS.scratch, "s.priv"))
        use("tpm2_flushcontext", "-t")
        use("tpm2_load", "-C", prim, "-u", os.path.join(ARGS.scratch, "s.pub"), "-r",
            os.path.join(ARGS.scratch, "s.priv"), "-c", sealed)
        use("tpm2_flushcontext", "-t")
        sess = os.path.join(ARGS.scratch, "pol-session.ctx")

        def unseal(check=True):
            use("tpm2_startauthsession", "--policy-session", "-S", sess)
            use("tpm2_policypcr", "-S", sess, "-l", "sha256:16")
            out = use("tpm2_unseal", "-p", "session:" + sess, "-c", sealed, check=check)
            use("tpm2_flushcontext", sess, check=False)
            use("tpm2_flushcontext", "-t")
            return out
        self.assertEqual(unseal(), "fw sealed")
        use("tpm2_pcrextend", "16:sha256=" + "11" * 32)
        self.assertEqual(unseal(check=False), "", "unseal must fail after PCR 16 changed")
        use("tpm2_pcrreset", "16")

    def test_28_tools_nv_indices(self):
        # NV indices on the firmware store, through the utpm TCTI when it is built: an ordinary
        # index written beyond NV_BUFFER_MAX (the tools chunk), a counter, an extend index.
        # test_91 reads them back after a firmware restart.
        self.engine()
        import hashlib
        tcti = f"utpm:device={FW.pty}" if ARGS.tcti_dir else None
        fixed = self.tool("tpm2_getcap", "properties-fixed", tcti=tcti)
        size = int(fixed.split("TPM2_PT_NV_INDEX_MAX:")[1].split("raw:")[1].split()[0], 16)
        self.assertGreater(size, 1024, "room for an EK certificate")
        data = bytes((i * 11 + 1) & 0xFF for i in range(size))
        self.tool("tpm2_nvdefine", "-C", "o", "-s", str(size), "-a", "ownerread|ownerwrite", "0x1500F00", tcti=tcti)
        self.tool("tpm2_nvwrite", "-C", "o", "-i", self.scratch_file("nv.in", data), "0x1500F00", tcti=tcti)
        out = os.path.join(ARGS.scratch, "nv.out")
        self.tool("tpm2_nvread", "-C", "o", "-s", str(size), "-o", out, "0x1500F00", tcti=tcti)
        with open(out, "rb") as f:
            self.assertEqual(f.read(), data)
        self.tool("tpm2_nvdefine", "-C", "o", "-s", "8", "-a", "ownerread|ownerwrite|nt=counter", "0x1500F01",
                  tcti=tcti)
        for _ in range(3):
            self.tool("tpm2_nvincrement", "-C", "o", "0x1500F01", tcti=tcti)
        self.tool("tpm2_nvread", "-C", "o", "-s", "8", "-o", out, "0x1500F01", tcti=tcti)
        with open(out, "rb") as f:
            self.assertEqual(struct.unpack(">Q", f.read())[0], 3)
        self.tool("tpm2_nvdefine", "-C", "o", "-s", "32", "-a", "ownerread|ownerwrite|nt=extend", "0x1500F02",
                  tcti=tcti)
        self.tool("tpm2_nvextend", "-C", "o", "-i", self.scratch_file("ext", b"measured"), "0x1500F02", tcti=tcti)
        self.tool("tpm2_nvread", "-C", "o", "-s", "32", "-o", out, "0x1500F02", tcti=tcti)
        with open(out, "rb") as f:
            self.assertEqual(f.read(), hashlib.sha256(bytes(32) + b"measured").digest())
        FirmwareE2E.nv_index_data = data

    def test_26_legacy_reset_signal_resets_the_engine(self):
        # The Nucleo sample's SignalReset is a power cycle (_TPM_Init): a started TPM answers
        # TPM_RC_INITIALIZE again until the next Startup. No reply to the signal itself.
        self.engine()
        self.assertEqual(qh.parse_response(FW.transact(get_random(8)))[2], 0, "started before")
        FW.write(struct.pack("<III", 0x326D7054, 2, 0))
        self.assertEqual(FW.drain(0.3), b"", "signals other than Command/Response get no reply")
        self.assertEqual(qh.parse_response(FW.transact(get_random(8)))[2], TPM_RC_INITIALIZE)
        self.tool("tpm2_startup", "-c")
        self.assertEqual(qh.parse_response(FW.transact(get_random(8)))[2], 0)

    def test_30_instruction_counts(self):
        # Per-command cost as the firmware measured it (QEMU -icount shift=0: instructions).
        self.engine()
        costs = {}
        rsp, costs["GetRandom(32)"] = FW.cost_of(get_random(32))
        self.assertEqual(qh.parse_response(rsp)[2], 0, rsp.hex())
        pw_session = struct.pack(">IHBH", 0x40000009, 0, 0, 0)  # TPM_RS_PW, empty auth
        extend = qh.command(0x182, struct.pack(">II", 16, len(pw_session)) + pw_session +
                            struct.pack(">IH", 1, 0x000B) + bytes(range(32)), tag=0x8002)
        rsp, costs["PCR_Extend(sha256)"] = FW.cost_of(extend)
        self.assertEqual(qh.parse_response(rsp)[2], 0, rsp.hex())
        for n in (32, 1024):
            data = bytes(range(256)) * 4
            data = data[:n]
            hash_cmd = qh.command(0x17D, struct.pack(">H", n) + data + struct.pack(">HI", 0x000B, 0x40000007))
            rsp, costs[f"Hash(sha256, {n} B)"] = FW.cost_of(hash_cmd)
            self.assertEqual(qh.parse_response(rsp)[2], 0, rsp.hex())
            import hashlib
            self.assertIn(hashlib.sha256(data).digest(), rsp, "the digest is in the response")
        for alg, name in ((0x0023, "CreatePrimary(ECC P-256)"), (0x0001, "CreatePrimary(RSA-2048)")):
            rsp, costs[name] = FW.cost_of(create_primary(alg), timeout=120)
            self.assertEqual(qh.parse_response(rsp)[2], 0, rsp.hex())
            handle = struct.unpack(">I", rsp[10:14])[0]
            FW.transact(qh.command(0x165, struct.pack(">I", handle)))  # FlushContext
        for name, n in costs.items():
            self.assertGreater(n, 0, name)
        REPORT["instructions"] = costs

    # ---- persistence ----
    def test_90_state_persists_across_restart(self):
        d = FW.diagnostics()
        REPORT["diag_after_tests"] = d
        before = d["boot_count"]
        engine = bool(d["features"] & qh.FEATURE_ENGINE)
        if engine:
            # An orderly shutdown, then power loss: the engine's persistent state (reset
            # count, clock) must come back from the semihosted store.
            clock_before = self.read_clock()
            self.tool("tpm2_shutdown", "-c")
        FW.restart()
        self.assertEqual(os.path.getsize(ARGS.nv), (128 + 8 + 2) * 1024, "semihosted flash file")
        after = FW.diagnostics()
        self.assertEqual(after["boot_count"], before + 1)
        self.assertGreaterEqual(after["store_used"], 16)
        if not engine:
            return
        self.tool("tpm2_startup", "-c")
        first = self.read_clock()
        self.assertTrue(first["safe"], "orderly shutdown before the restart")
        self.assertGreaterEqual(first["clock"], clock_before["clock"], "Clock saved by Shutdown")
        self.assertEqual(first["reset_count"], clock_before["reset_count"] + 1)
        # Power loss without Shutdown: reset count advances again and the clock is not 'safe'.
        FW.restart()
        self.tool("tpm2_startup", "-c")
        second = self.read_clock()
        self.assertEqual(second["reset_count"], first["reset_count"] + 1)
        self.assertFalse(second["safe"], "no orderly shutdown before this restart")


    def test_91_nv_indices_survive_restart(self):
        # test_28's indices after two firmware restarts (test_90).
        d = FW.diagnostics()
        data = FirmwareE2E.nv_index_data
        if not (d["features"] & qh.FEATURE_ENGINE) or data is None:
            self.skipTest("no engine, or test_28 did not run")
        out = os.path.join(ARGS.scratch, "nv.out")
        self.tool("tpm2_nvread", "-C", "o", "-s", str(len(data)), "-o", out, "0x1500F00")
        with open(out, "rb") as f:
            self.assertEqual(f.read(), data)
        self.tool("tpm2_nvincrement", "-C", "o", "0x1500F01")
        self.tool("tpm2_nvread", "-C", "o", "-s", "8", "-o", out, "0x1500F01")
        with open(out, "rb") as f:
            self.assertEqual(struct.unpack(">Q", f.read())[0], 4)
        self.assertIn("0x1500F00", self.tool("tpm2_getcap", "handles-nv-index").upper().replace("0X", "0x"))


class StoreSecurity(Tools, unittest.TestCase):
    """The secure store on the firmware: tampering and rollback of the host file that stands in
    for flash must put the engine into failure mode (TPM_RC_FAILURE), never into fresh state."""

    STORE_SIZE = 128 * 1024  # the log region at the start of the file; anchor and secret follow

    def rc_before_startup(self):
        return qh.parse_response(FW.transact(get_random(8)))[2]

    def edit_store(self, fn):
        FW.stop()
        with open(ARGS.nv, "r+b") as f:
            image = bytearray(f.read())
            fn(image)
            f.seek(0)
            f.write(image)
        FW.start()

    def test_tampered_store_is_refused(self):
        if not FW.diagnostics()["features"] & qh.FEATURE_ENGINE:
            self.skipTest("firmware image built without the engine")
        FW.restart()
        self.assertEqual(self.rc_before_startup(), TPM_RC_INITIALIZE, "healthy store to start with")
        with open(ARGS.nv, "rb") as f:
            original = f.read()
        # Flip one bit of the first segment header, which the store authenticates.
        self.edit_store(lambda img: img.__setitem__(8, img[8] ^ 0x01))
        self.assertEqual(self.rc_before_startup(), TPM_RC_FAILURE, "tampered store must not load")
        self.edit_store(lambda img: img.__setitem__(slice(0, len(original)), original))
        self.assertEqual(self.rc_before_startup(), TPM_RC_INITIALIZE, "restored image loads again")

    def test_rolled_back_store_is_refused(self):
        if not FW.diagnostics()["features"] & qh.FEATURE_ENGINE:
            self.skipTest("firmware image built without the engine")
        with open(ARGS.nv, "rb") as f:
            old_log = f.read()[:self.STORE_SIZE]
        # New commits (Startup/Shutdown persist state) move the anchor forward...
        FW.restart()
        self.tool("tpm2_startup", "-c")
        self.tool("tpm2_shutdown", "-c")
        with open(ARGS.nv, "rb") as f:
            new_log = f.read()[:self.STORE_SIZE]
        self.assertNotEqual(old_log, new_log)
        # ...so putting the old log back (an attacker's saved flash image) is a rollback.
        self.edit_store(lambda img: img.__setitem__(slice(0, self.STORE_SIZE), old_log))
        self.assertEqual(self.rc_before_startup(), TPM_RC_FAILURE, "rolled-back store must not load")
        self.edit_store(lambda img: img.__setitem__(slice(0, self.STORE_SIZE), new_log))
        self.assertEqual(self.rc_before_startup(), TPM_RC_INITIALIZE)


def record_measurements():
    """Leaves the measured numbers beside the image, where scripts/memreport picks them up."""
    d = REPORT.get("diag_after_tests") or REPORT.get("diag", {})
    out = {"stack_high_water": d.get("stack_high_water"), "stack_reserve": d.get("stack_reserve"),
           "static_ram": d.get("static_ram"), "instructions": REPORT.get("instructions", {}),
           "engine": bool(d.get("features", 0) & qh.FEATURE_ENGINE)}
    path = os.path.splitext(os.path.abspath(ARGS.elf))[0] + ".measured.json"
    try:
        with open(path, "w") as f:
            json.dump(out, f, indent=1, sort_keys=True)
    except OSError as e:
        print(f"note: could not record measurements in {path}: {e}")


def main():
    global ARGS, FW
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--elf", required=True, help="utpm-fw-qemu.elf")
    p.add_argument("--qemu", default="qemu-system-arm")
    p.add_argument("--ram-budget", type=int, default=48 * 1024)
    p.add_argument("--stall-seconds", type=float, default=1.2,
                   help="longer than the decoder's stalled-frame timeout")
    p.add_argument("--tcti-dir", help="directory holding libtss2-tcti-utpm.so.0 (for -T utpm:)")
    p.add_argument("--utpm", help="the utpm tool (for `utpm diag`)")
    p.add_argument("--keep", action="store_true", help="keep the scratch directory")
    p.add_argument("unittest_args", nargs="*")
    ARGS = p.parse_args()

    if shutil.which(ARGS.qemu) is None:
        print(f"SKIP: {ARGS.qemu} not installed (scripts/setup installs qemu-system-arm)")
        return SKIP
    if not os.path.exists(ARGS.elf):
        if shutil.which("arm-none-eabi-g++") is None:
            print("SKIP: no cross toolchain (arm-none-eabi-g++), so no firmware image to test")
            return SKIP
        print(f"FAIL: {ARGS.elf} missing; build it first: cmake --preset fw-qemu && "
              "cmake --build build/fw-qemu (scripts/test does this)")
        return 1

    scratch = tempfile.mkdtemp(prefix="utpm-fw-e2e-")
    ARGS.nv = os.path.join(scratch, "nv.bin")
    ARGS.scratch = scratch
    FW = qh.QemuFirmware(os.path.abspath(ARGS.elf), scratch, ARGS.nv, qemu=ARGS.qemu)
    ok = False
    try:
        FW.start()
        suite = unittest.TestSuite([unittest.defaultTestLoader.loadTestsFromTestCase(FirmwareE2E),
                                    unittest.defaultTestLoader.loadTestsFromTestCase(StoreSecurity)])
        if ARGS.unittest_args:
            suite = unittest.TestSuite(t for group in suite for t in group
                                       if any(a in t.id() for a in ARGS.unittest_args))
        result = unittest.TextTestRunner(verbosity=2, failfast=False).run(suite)
        ok = result.wasSuccessful()
    finally:
        FW.stop()
        if REPORT:
            print("firmware report:", json.dumps(REPORT, indent=1))
            if ok:
                record_measurements()
        if not ok:
            print("---- QEMU log (tail) ----")
            print(FW.log_tail())
        if ARGS.keep or not ok:
            print(f"scratch kept in {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
