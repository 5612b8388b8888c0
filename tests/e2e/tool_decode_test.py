#!/usr/bin/python3
"""End to end: `utpm decode` and `utpm send` (docs/tool.md).

A recording mssim proxy sits between tpm2-tools and utpmd and captures every command/response
pair of a tpm2-tools session. Each captured command and response must decode fully with
`utpm decode --check` (the decoded values marshal back to the same octets). Field values are
compared with what this script reads from the Part 2/3 layouts itself, and malformed input
(every truncation, garbage) must fail with the exact position and exit code 1, never a crash.

Run: UTPMD=... UTPM=build/host-debug/src/tools/utpm python3 tests/e2e/tool_decode_test.py
"""
import json
import os
import socket
import struct
import subprocess
import tempfile
import threading
import unittest

from utpmd_harness import (SU_CLEAR, MssimClient, Utpmd, free_port_pair, rc_of, recv_exact,
                           run_tool, startup)

UTPM = os.environ.get("UTPM", "utpm")


def utpm(*args, stdin=None):
    return subprocess.run([UTPM] + list(args), input=stdin, capture_output=True, timeout=60)


class RecordingProxy:
    """mssim proxy: the command port records TPM_SEND_COMMAND pairs, the platform port is relayed."""

    def __init__(self, target_port):
        self.target = target_port
        self.pairs = []  # (locality, command bytes, response bytes)
        self.port = free_port_pair()
        self.listeners = []
        for off, handler in ((0, self._command_conn), (1, self._platform_conn)):
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", self.port + off))
            s.listen(8)
            self.listeners.append(s)
            threading.Thread(target=self._accept, args=(s, handler, off), daemon=True).start()

    def close(self):
        for s in self.listeners:
            s.close()

    def _accept(self, s, handler, off):
        while True:
            try:
                c, _ = s.accept()
            except OSError:
                return
            up = socket.create_connection(("127.0.0.1", self.target + off))
            threading.Thread(target=handler, args=(c, up), daemon=True).start()

    def _platform_conn(self, c, up):
        def relay(a, b):
            try:
                while True:
                    d = a.recv(4096)
                    if not d:
                        break
                    b.sendall(d)
            except OSError:
                pass
            for x in (a, b):
                try:
                    x.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        threading.Thread(target=relay, args=(up, c), daemon=True).start()
        relay(c, up)

    def _command_conn(self, c, up):
        try:
            while True:
                hdr = c.recv(4, socket.MSG_WAITALL)
                if len(hdr) < 4:
                    break
                code = struct.unpack(">I", hdr)[0]
                if code == 8:  # TPM_SEND_COMMAND: u8 locality | u32 size | command
                    rest = recv_exact(c, 5)
                    loc, n = rest[0], struct.unpack(">I", rest[1:])[0]
                    cmd = recv_exact(c, n)
                    up.sendall(hdr + rest + cmd)
                    rn = recv_exact(up, 4)
                    rsp = recv_exact(up, struct.unpack(">I", rn)[0])
                    ack = recv_exact(up, 4)
                    self.pairs.append((loc, cmd, rsp))
                    c.sendall(rn + rsp + ack)
                elif code == 15:  # handshake: u32 version -> u32 flags, u32 ack
                    up.sendall(hdr + recv_exact(c, 4))
                    c.sendall(recv_exact(up, 8))
                elif code in (20, 21):  # session end / stop: no reply
                    up.sendall(hdr)
                    break
                else:  # cancel on/off and the like: u32 ack
                    up.sendall(hdr)
                    c.sendall(recv_exact(up, 4))
        except (OSError, AssertionError):
            pass
        c.close()
        up.close()


def u16(b, o):
    return struct.unpack(">H", b[o:o + 2])[0]


def u32(b, o):
    return struct.unpack(">I", b[o:o + 4])[0]


def decode_lines(items, *args, rc=0):
    """Decodes many items in one `utpm decode --lines` run: one JSON object per item."""
    with tempfile.NamedTemporaryFile("w", suffix=".hex") as f:
        f.write("\n".join(i.hex() for i in items) + "\n")
        f.flush()
        p = utpm("decode", "--lines", "--check", *args, f.name)
    assert p.returncode == rc, (p.returncode, p.stderr.decode()[-2000:])
    out = [json.loads(line) for line in p.stdout.decode().splitlines()]
    assert len(out) == len(items), (len(out), len(items))
    return out


def leaves(tree, path=""):
    """Flattens the JSON tree to {path: value}."""
    out = {}
    p = (path + "." if path else "") + tree["name"]
    if "value" in tree:
        out[p] = tree["value"]
    for f in tree.get("fields", []):
        out.update(leaves(f, p))
    return out


class ToolDecode(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = Utpmd().start()
        c = MssimClient(cls.server.port)
        assert rc_of(c.execute(startup(SU_CLEAR))) == 0
        c.close()
        cls.proxy = RecordingProxy(cls.server.port)
        cls.tcti = f"mssim:host=127.0.0.1,port={cls.proxy.port}"
        cls.tmp = tempfile.TemporaryDirectory(prefix="utpm-e2e-tool-")
        d = cls.tmp.name
        t = cls.tcti
        steps = [
            ["tpm2_getrandom", "8", "--hex"],
            ["tpm2_pcrread", "sha256:0,1,2+sha1:16"],
            ["tpm2_pcrextend", "16:sha256=" + "11" * 32],
            ["tpm2_getcap", "properties-fixed"],
            ["tpm2_getcap", "algorithms"],
            ["tpm2_getcap", "commands"],
            ["tpm2_getcap", "pcrs"],
            ["tpm2_getcap", "handles-persistent"],
            ["tpm2_getcap", "ecc-curves"],
            ["tpm2_createprimary", "-C", "o", "-g", "sha256", "-G", "rsa", "-c", f"{d}/p.ctx"],
            ["tpm2_flushcontext", "-t"],
            ["tpm2_create", "-C", f"{d}/p.ctx", "-G", "ecc", "-u", f"{d}/k.pub", "-r", f"{d}/k.priv"],
            ["tpm2_flushcontext", "-t"],
            ["tpm2_load", "-C", f"{d}/p.ctx", "-u", f"{d}/k.pub", "-r", f"{d}/k.priv", "-c", f"{d}/k.ctx"],
            ["tpm2_flushcontext", "-t"],
            ["tpm2_readpublic", "-c", f"{d}/k.ctx"],
            ["tpm2_flushcontext", "-t"],
            ["tpm2_hash", "-g", "sha256", "-o", f"{d}/h.bin", "-t", f"{d}/t.bin", f"{d}/msg"],
            ["tpm2_sign", "-c", f"{d}/k.ctx", "-g", "sha256", "-o", f"{d}/sig", f"{d}/msg"],
            ["tpm2_flushcontext", "-t"],
            ["tpm2_verifysignature", "-c", f"{d}/k.ctx", "-g", "sha256", "-m", f"{d}/msg", "-s", f"{d}/sig"],
            ["tpm2_flushcontext", "-t"],
            ["tpm2_create", "-C", f"{d}/p.ctx", "-i", f"{d}/msg", "-u", f"{d}/s.pub", "-r", f"{d}/s.priv",
             "-p", "sealpw"],
            ["tpm2_flushcontext", "-t"],
            ["tpm2_flushcontext", "-s"],
            ["tpm2_nvdefine", "0x1500016", "-C", "o", "-s", "32", "-a", "ownerread|ownerwrite|authread|authwrite"],
            ["tpm2_nvwrite", "0x1500016", "-C", "o", "-i", f"{d}/msg"],
            ["tpm2_nvread", "0x1500016", "-C", "o", "-s", "5"],
            ["tpm2_nvreadpublic"],
            ["tpm2_nvundefine", "0x1500016", "-C", "o"],
            ["tpm2_startauthsession", "-S", f"{d}/s.ctx", "--policy-session"],
            ["tpm2_policypcr", "-S", f"{d}/s.ctx", "-l", "sha256:0"],
            ["tpm2_policygetdigest" if False else "tpm2_flushcontext", f"{d}/s.ctx"],
            ["tpm2_readclock"],
            ["tpm2_selftest"],
            ["tpm2_gettestresult"],
            ["tpm2_getrandom", "4", "--hex", "-S", "x"],  # fails in the tool: fine, no command
            ["tpm2_testparms", "rsa2048"],
            ["tpm2_testparms", "rsa3072"],  # refused by the TPM: an error response
        ]
        with open(f"{d}/msg", "wb") as f:
            f.write(b"hello")
        cls.failed_steps = []
        for s in steps:
            if s[0] == "tpm2_flushcontext" and len(s) == 2 and s[1] in ("-t", "-s"):
                run_tool(s, t, check=False)  # housekeeping: no resource manager in between
                continue
            p = run_tool(s, t, check=False)
            if p.returncode != 0:
                cls.failed_steps.append((s, p.stderr.decode(errors="replace")[-300:]))

    @classmethod
    def tearDownClass(cls):
        cls.proxy.close()
        cls.server.stop()
        cls.tmp.cleanup()

    def test_session_ran(self):
        expected_failures = {"rsa3072", "x", "-t", "-s"}  # flushcontext with nothing loaded
        bad = [s for s in self.failed_steps if not expected_failures & set(s[0])]
        self.assertEqual(bad, [])
        self.assertGreater(len(self.proxy.pairs), 40)

    def test_every_pair_decodes_and_reencodes(self):
        seen = set()
        cmds = [cmd for _, cmd, _ in self.proxy.pairs]
        results = decode_lines(cmds)
        for cmd, j in zip(cmds, results):
            seen.add(u32(cmd, 6))
            self.assertTrue(j["ok"], (cmd.hex(), j.get("error")))
            self.assertEqual(bytes.fromhex(j["reencoded"]), cmd)
        by_cc = {}
        for _, cmd, rsp in self.proxy.pairs:
            by_cc.setdefault(u32(cmd, 6), []).append(rsp)
        for cc, rsps in by_cc.items():
            for rsp, j in zip(rsps, decode_lines(rsps, "--response", hex(cc))):
                self.assertTrue(j["ok"], (hex(cc), rsp.hex(), j.get("error")))
                self.assertEqual(bytes.fromhex(j["reencoded"]), rsp)
        # The session covered the commands it was written for.
        for cc in (0x131, 0x153, 0x157, 0x15D, 0x177, 0x17A, 0x17B, 0x17E, 0x12A, 0x137, 0x14E, 0x176, 0x17F):
            self.assertIn(cc, seen, hex(cc))

    def _first(self, cc):
        for loc, cmd, rsp in self.proxy.pairs:
            if u32(cmd, 6) == cc:
                return cmd, rsp
        self.fail(f"no {cc:#x} captured")

    def test_create_primary_fields_match_the_layout(self):
        cmd, rsp = self._first(0x131)
        j = json.loads(utpm("decode", "--json", cmd.hex()).stdout)
        got = leaves(j["tree"])
        # Part 3 §24.1: header, primaryHandle, authorization area, inSensitive, inPublic, ...
        o = 10
        self.assertEqual(got["command.handles.primaryHandle"], f"0x{u32(cmd, o):08x}")
        self.assertEqual(u32(cmd, o), 0x40000001)
        o += 4
        auth_size = u32(cmd, o)
        o += 4
        self.assertEqual(got["command.authorization.[0].sessionHandle"], f"0x{u32(cmd, o):08x}")
        o += 4 + 2 + u16(cmd, o + 4)  # handle, nonce
        self.assertEqual(got["command.authorization.[0].sessionAttributes"], f"0x{cmd[o]:02x}")
        o = 10 + 4 + 4 + auth_size
        sens = u16(cmd, o)
        o += 2 + sens
        pub_size = u16(cmd, o)
        self.assertEqual(got["command.parameters.inPublic.size"], f"0x{pub_size:04x}")
        self.assertEqual(got["command.parameters.inPublic.type"], f"0x{u16(cmd, o + 2):04x}")
        self.assertEqual(u16(cmd, o + 2), 0x0001)  # TPM_ALG_RSA, as asked
        self.assertEqual(got["command.parameters.inPublic.nameAlg"], "0x000b")
        self.assertEqual(got["command.parameters.inPublic.objectAttributes"], f"0x{u32(cmd, o + 6):08x}")
        pol = u16(cmd, o + 10)
        q = o + 12 + pol
        self.assertEqual(got["command.parameters.inPublic.parameters.rsaDetail.symmetric.algorithm"],
                         f"0x{u16(cmd, q):04x}")
        self.assertEqual(got["command.parameters.inPublic.parameters.rsaDetail.keyBits"],
                         f"0x{u16(cmd, q + 8):04x}")
        self.assertEqual(u16(cmd, q + 8), 2048)
        # The response's handle and name: the Name is nameAlg || H(publicArea).
        jr = json.loads(utpm("decode", "--json", "--response", "CreatePrimary", rsp.hex()).stdout)
        gr = leaves(jr["tree"])
        self.assertEqual(gr["response.handles.objectHandle"], f"0x{u32(rsp, 10):08x}")
        self.assertEqual(u32(rsp, 10) >> 24, 0x80)
        import hashlib
        ps = u32(rsp, 14)
        op = u16(rsp, 18)
        name = hashlib.sha256(rsp[20:20 + op]).digest()
        self.assertEqual(gr["response.parameters.name"], "000b" + name.hex())

    def test_text_output_names_things(self):
        cmd, rsp = self._first(0x131)
        out = utpm("decode", cmd.hex()).stdout.decode()
        for s in ("TPM2_CreatePrimary", "TPM_RH_OWNER", "HMAC session", "continueSession", "inPublic (TPM2B_PUBLIC)",
                  "TPM_ALG_RSA", "fixedTPM", "restricted"):
            self.assertIn(s, out)

    def test_error_responses_are_explained(self):
        rsp = bytes.fromhex("80010000000a000001c4")  # TPM_RC_VALUE + P1 (0x084 | 0x040 | 1 << 8)
        p = utpm("decode", "--response", "TestParms", rsp.hex())
        self.assertEqual(p.returncode, 0)
        out = p.stdout.decode()
        self.assertIn("TPM_RC_VALUE+P1", out)
        self.assertIn("parameter(1)", out)  # Tss2_RC_Decode's wording, as tpm2_rc_decode

    def test_truncations_stop_at_the_exact_field(self):
        cmd, _ = self._first(0x131)
        # Without fixing commandSize: always the size check.
        for j in decode_lines([cmd[:n] for n in range(10, len(cmd))], rc=1):
            self.assertEqual((j["error"]["offset"], j["error"]["field"]), (2, "header.commandSize"))
        # With commandSize fixed: an error inside the area, at or before the end; never a crash.
        cuts = []
        for n in range(1, len(cmd)):
            t = bytearray(cmd[:n])
            if n >= 6:
                t[2:6] = struct.pack(">I", n)
            cuts.append(bytes(t))
        for t, j in zip(cuts, decode_lines(cuts, rc=1)):
            self.assertFalse(j["ok"], t.hex())
            self.assertLessEqual(j["error"]["offset"], len(t))
        # One exact case computed from the layout: cut in the middle of inPublic.nameAlg.
        o = 10 + 4
        auth = u32(cmd, o)
        o += 4 + auth
        o += 2 + u16(cmd, o)  # inSensitive
        name_alg_at = o + 2 + 2  # inPublic.size, inPublic.type
        t = bytearray(cmd[:name_alg_at + 1])
        t[2:6] = struct.pack(">I", len(t))
        p = utpm("decode", t.hex())
        self.assertEqual(p.returncode, 1)
        # The size runs past the input: the contents are read from what is there (as the engine
        # does, docs/conformance.md D1), and decoding stops where the input ends, in nameAlg.
        self.assertIn(f"offset {name_alg_at} (parameters.inPublic.nameAlg)".encode(), p.stderr)
        self.assertIn(b"TPM_RC_INSUFFICIENT", p.stderr)
        # ... and with inPublic.size also cut to what is there, decoding stops at nameAlg.
        t[o:o + 2] = struct.pack(">H", len(t) - o - 2)
        p = utpm("decode", t.hex())
        self.assertEqual(p.returncode, 1)
        self.assertIn(f"offset {name_alg_at} (parameters.inPublic.nameAlg)".encode(), p.stderr)

    def test_garbage(self):
        for g in ("ff", "8001", "80010000000c", "80010000000cdeadbeef0000", "8002000000120000017a00000000ffffffff"):
            p = utpm("decode", g)
            self.assertEqual(p.returncode, 1, g)
            self.assertIn(b"decoding stopped at offset", p.stderr)
        self.assertEqual(utpm("decode", "zz").returncode, 3)
        self.assertEqual(utpm("decode").returncode, 2)
        self.assertEqual(utpm("decode", "--frobnicate", "00").returncode, 2)
        self.assertEqual(utpm("decode", "--help").returncode, 0)

    def test_frames(self):
        startup_cmd = bytes.fromhex("80010000000c000001440000")
        # Legacy 'Tpm2' signal frame (docs: /work/shared/reference/transport.md §3, little endian).
        frame = b"Tpm2" + struct.pack("<III", 6, 8 + len(startup_cmd), 3) + struct.pack("<I", len(startup_cmd)) \
            + startup_cmd
        p = utpm("decode", "--json", frame.hex())
        self.assertEqual(p.returncode, 0, p.stderr)
        got = leaves(json.loads(p.stdout)["tree"])
        self.assertEqual(got["tpm2Signal.signal"], "0x00000006")
        self.assertEqual(got["tpm2Signal.locality"], "0x00000003")
        self.assertEqual(got["tpm2Signal.command.parameters.startupType"], "0x0000")
        # mssim TPM_SEND_COMMAND frame.
        frame = struct.pack(">IBI", 8, 2, len(startup_cmd)) + startup_cmd
        got = leaves(json.loads(utpm("decode", "--json", "--frame", "mssim", frame.hex()).stdout)["tree"])
        self.assertEqual(got["mssim.locality"], "0x02")
        self.assertEqual(got["mssim.command.header.commandCode"], "0x00000144")

    def test_send_over_mssim(self):
        get_random = bytes.fromhex("80010000000c0000017b0010")
        p = utpm("send", "-T", self.server.mssim_tcti, get_random.hex())
        self.assertEqual(p.returncode, 0, p.stderr)
        rsp = bytes.fromhex(p.stdout.decode().strip())
        self.assertEqual(u16(rsp, 0), 0x8001)
        self.assertEqual(u32(rsp, 6), 0)
        self.assertEqual(u16(rsp, 10), 16)
        self.assertEqual(len(rsp), 12 + 16)
        p = utpm("send", "--decode", "-T", self.server.mssim_tcti, get_random.hex())
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn(b"bytesRequested", p.stdout)
        self.assertIn(b"randomBytes", p.stdout)
        p = utpm("send", "-T", "mssim:host=127.0.0.1,port=1", get_random.hex())
        self.assertEqual(p.returncode, 4)


class NvPublic2(unittest.TestCase):
    """TPM2B_NV_PUBLIC_2 (NV_DefineSpace2 / NV_ReadPublic2) decodes field by field in each of its
    three arms, chosen by handleType (Part 2 TPMU_NV_PUBLIC_2), with the layout built here."""

    @staticmethod
    def define_space2(public_2):
        body = (struct.pack(">I", 0x40000001) + struct.pack(">IIHBH", 9, 0x40000009, 0, 1, 0)
                + struct.pack(">H", 0) + struct.pack(">H", len(public_2)) + public_2)
        return struct.pack(">HII", 0x8002, 10 + len(body), 0x19D) + body

    def test_each_arm_by_field(self):
        policy = bytes(range(32))
        arms = {
            "nvIndex": bytes([0x01]) + struct.pack(">IHI", 0x01500B00, 0x000B, 0x00060006),
            "externalNV": bytes([0x11]) + struct.pack(">IHQ", 0x11000001, 0x000C, 0x0000000700060006),
            "permanentNV": bytes([0x12]) + struct.pack(">IHI", 0x12000002, 0x000B, 0x00020002),
        }
        for arm, head in arms.items():
            pub = head + struct.pack(">H", len(policy)) + policy + struct.pack(">H", 24)
            cmd = self.define_space2(pub)
            (j,) = decode_lines([cmd])
            self.assertTrue(j["ok"], (arm, j.get("error")))
            self.assertEqual(bytes.fromhex(j["reencoded"]), cmd)
            got = leaves(json.loads(utpm("decode", "--json", cmd.hex()).stdout)["tree"])
            base = f"command.parameters.publicInfo.publicArea.{arm}."
            self.assertEqual(got["command.parameters.publicInfo.handleType"], f"0x{pub[0]:02x}")
            self.assertEqual(got[base + "nvIndex"], f"0x{u32(pub, 1):08x}")
            self.assertEqual(got[base + "nameAlg"], f"0x{u16(pub, 5):04x}")
            width = 8 if arm == "externalNV" else 4
            attrs = int.from_bytes(pub[7:7 + width], "big")
            self.assertEqual(got[base + "attributes"], f"0x{attrs:0{2 * width}x}")
            self.assertEqual(got[base + "authPolicy"], policy.hex())
            self.assertEqual(got[base + "dataSize"], "0x0018")

    def test_a_handle_of_another_type_and_an_unknown_handle_type_are_flagged(self):
        # An external-NV arm whose nvIndex is an ordinary index: the engine refuses it (VALUE).
        pub = bytes([0x11]) + struct.pack(">IHQH", 0x01000001, 0x000B, 0, 0) + struct.pack(">H", 8)
        p = utpm("decode", self.define_space2(pub).hex())
        self.assertIn("TPM_RC_VALUE", p.stdout.decode() + p.stderr.decode())
        # handleType 0x02 selects no arm: decoding stops there (TPM_RC_SELECTOR).
        pub = bytes([0x02]) + struct.pack(">IHIH", 0x01000001, 0x000B, 0, 0) + struct.pack(">H", 8)
        p = utpm("decode", self.define_space2(pub).hex())
        self.assertEqual(p.returncode, 1)
        self.assertIn("TPM_RC_SELECTOR", p.stdout.decode() + p.stderr.decode())


if __name__ == "__main__":
    unittest.main()
