#!/usr/bin/python3
"""End to end: NV indices with Debian's tpm2-tools (5.4) over mssim and over utpmd's pty
(NvToolsOverPty: -T device:<pty>) against utpmd; NV_DefineSpace2/NV_ReadPublic2 as raw commands.

Every expected value is computed here (hashlib, struct) from what the test defined: Names are
nameAlg || H(TPMS_NV_PUBLIC) marshalled in Python, extend values are hash chains, counters and
bit fields are counted here. With UTPM_E2E_MSSIM_SHIM=/work/shared/bench/mssim-swtpm-shim the
same tests run against swtpm (the reference), except the utpmd restart test.

Run: UTPMD=build/host-debug/src/host/utpmd python3 tests/e2e/nv_test.py [-k pattern]
"""
import hashlib
import os
import re
import struct
import tempfile
import unittest

from utpmd_harness import SU_CLEAR, MssimClient, MssimShim, Utpmd, command, esapi_on, rc_of, run_tool, serve, startup

# TPMA_NV bits (TPM 2.0 Part 2 §13.4), as tpm2-tools names them.
TPMA_NV = {
    "ppwrite": 1 << 0, "ownerwrite": 1 << 1, "authwrite": 1 << 2, "policywrite": 1 << 3,
    "policydelete": 1 << 10, "writelocked": 1 << 11, "writeall": 1 << 12, "writedefine": 1 << 13,
    "write_stclear": 1 << 14, "globallock": 1 << 15, "ppread": 1 << 16, "ownerread": 1 << 17,
    "authread": 1 << 18, "policyread": 1 << 19, "no_da": 1 << 25, "orderly": 1 << 26,
    "clear_stclear": 1 << 27, "readlocked": 1 << 28, "written": 1 << 29,
    "platformcreate": 1 << 30, "read_stclear": 1 << 31,
}
NT = {"ordinary": 0, "counter": 1, "bits": 2, "extend": 4, "pinfail": 8, "pinpass": 9}
ALGS = {"sha1": (0x0004, hashlib.sha1), "sha256": (0x000B, hashlib.sha256),
        "sha384": (0x000C, hashlib.sha384)}

RC_NV_LOCKED = 0x148
RC_NV_AUTHORIZATION = 0x149
RC_NV_UNINITIALIZED = 0x14A
RC_NV_DEFINED = 0x14C
RC_AUTH_UNAVAILABLE = 0x12F
RC_AUTH_TYPE = 0x124
RC_HANDLE_P2 = 0x18B          # TPM_RC_HANDLE, handle 1 ... (as tpm2-tools reports it)
RC_POLICY_FAIL_S1 = 0x99D
RC_ATTRIBUTES_P2 = 0x2C2
RC_SIZE_P2 = 0x2D5


def attr_value(spec):
    """TPMA_NV from a tpm2-tools attribute string such as 'ownerread|ownerwrite|nt=counter'."""
    v = 0
    for part in spec.split("|"):
        if part.startswith("nt="):
            v |= NT[part[3:]] << 4
        else:
            v |= TPMA_NV[part]
    return v


def nv_name(index, alg, attrs, size, policy=b""):
    alg_id, h = ALGS[alg]
    public = struct.pack(">IHIH", index, alg_id, attrs, len(policy)) + policy + struct.pack(">H", size)
    return struct.pack(">H", alg_id) + h(public).digest()


class NvTools(unittest.TestCase):
    def setUp(self):
        self.shim = os.environ.get("UTPM_E2E_MSSIM_SHIM") if self.CHANNEL == "mssim" else None
        self.server = None
        self.start_server()
        self.tmp = tempfile.TemporaryDirectory(prefix="utpm-e2e-nv-")
        self.addCleanup(self.tmp.cleanup)

    CHANNEL = "mssim"  # NvToolsOverPty: the same tests with -T device:<utpmd's pty>

    def start_server(self, state_dir=None, started=True):
        if self.shim and self.CHANNEL == "mssim":
            self.server = MssimShim(self.shim).start()
        else:
            self.server = Utpmd(state_dir=state_dir, pty=self.CHANNEL == "pty").start()
        self.addCleanup(self.stop_server, self.server)
        if started:
            c = MssimClient(self.server.port)
            self.assertEqual(rc_of(c.execute(startup(SU_CLEAR))), 0)
            c.close()

    def stop_server(self, server, remove_state=True):
        if server.alive():
            self.assertEqual(server.stop(remove_state=remove_state), 0,
                             "utpmd did not exit cleanly:\n" + "".join(server.log))

    def restart_tpm(self):
        """Power cycle (no orderly shutdown: a TPM Reset) and Startup(CLEAR)."""
        self.tool("tpm2_shutdown", "-c")
        self.server.power_cycle()
        c = MssimClient(self.server.port)
        self.assertEqual(rc_of(c.execute(startup(SU_CLEAR))), 0)
        c.close()

    def tool(self, *args, **kw):
        tcti = self.server.device_tcti if self.CHANNEL == "pty" else self.server.mssim_tcti
        return run_tool(list(args), tcti, **kw)

    def fails(self, expected_rc, *args):
        p = self.tool(*args, check=False)
        self.assertNotEqual(p.returncode, 0, f"{args} succeeded")
        codes = re.findall(r"ErrorCode \((0x[0-9a-fA-F]+)\)", p.stderr.decode())
        self.assertTrue(codes, p.stderr.decode())
        self.assertEqual(int(codes[0], 16), expected_rc, f"{args}: {p.stderr.decode()}")

    def path(self, name):
        return os.path.join(self.tmp.name, name)

    def file(self, name, data):
        with open(self.path(name), "wb") as f:
            f.write(data)
        return self.path(name)

    def define(self, index, size, attrs, hierarchy="o", auth=None, alg=None, policy=None):
        args = ["tpm2_nvdefine", "-C", hierarchy, "-s", str(size), "-a", attrs]
        if auth is not None:
            args += ["-p", auth]
        if alg:
            args += ["-g", alg]
        if policy is not None:
            args += ["-L", self.file(f"pol{index:x}", policy)]
        self.tool(*args, hex(index))

    def write(self, index, data, offset=0, auth=("o", None)):
        args = ["tpm2_nvwrite", "-C", auth[0], "-i", self.file("in", data), "--offset", str(offset)]
        if auth[1] is not None:
            args += ["-P", auth[1]]
        self.tool(*args, hex(index))

    def read(self, index, size, offset=0, auth=("o", None)):
        args = ["tpm2_nvread", "-C", auth[0], "-s", str(size), "--offset", str(offset)]
        if auth[1] is not None:
            args += ["-P", auth[1]]
        return self.tool(*args, hex(index)).stdout

    def read_public(self, index):
        text = self.tool("tpm2_nvreadpublic", hex(index)).stdout.decode()
        name = re.search(r"name:\s*([0-9a-fA-F]+)", text).group(1)
        attrs = int(re.search(r"attributes:\s*\n\s*friendly:.*\n\s*value:\s*(0x[0-9a-fA-F]+)", text).group(1), 16)
        return bytes.fromhex(name), attrs

    def nv_handles(self):
        text = self.tool("tpm2_getcap", "handles-nv-index").stdout.decode()
        return [int(h, 16) for h in re.findall(r"0x[0-9a-fA-F]+", text)]

    # ---- tests ----

    def test_define_every_type_and_names(self):
        cases = [
            (0x1500100, 32, "ownerread|ownerwrite", "sha256", b""),
            (0x1500101, 8, "ownerread|ownerwrite|authread|authwrite|nt=counter", "sha256", b""),
            (0x1500102, 8, "ownerread|ownerwrite|nt=bits|no_da", "sha1", b""),
            (0x1500103, 32, "ownerread|ownerwrite|nt=extend", "sha256", b""),
            (0x1500104, 48, "authread|authwrite|nt=extend|policyread", "sha384", bytes(range(48))),
            (0x1500105, 8, "ownerread|ownerwrite|nt=pinpass", "sha256", b""),
            (0x1500106, 8, "ownerread|ownerwrite|nt=pinfail|no_da", "sha256", b""),
            (0x1500107, 64, "ownerread|ownerwrite|write_stclear|read_stclear|writedefine", "sha256", b""),
            (0x1500108, 16, "authread|authwrite|writeall|clear_stclear|orderly", "sha256", bytes(32)),
        ]
        for index, size, attrs, alg, policy in cases:
            self.define(index, size, attrs, auth="pw", alg=alg, policy=policy)
            name, value = self.read_public(index)
            self.assertEqual(value, attr_value(attrs), attrs)
            self.assertEqual(name, nv_name(index, alg, attr_value(attrs), size, policy), attrs)
        self.assertEqual(self.nv_handles(), [c[0] for c in cases])
        # Consistency checks, as the reference answers them.
        self.fails(RC_NV_DEFINED, "tpm2_nvdefine", "-C", "o", "-s", "32", "-a", "ownerread|ownerwrite", "0x1500100")
        self.fails(RC_SIZE_P2, "tpm2_nvdefine", "-C", "o", "-s", "60000", "-a", "ownerread|ownerwrite", "0x1500110")
        self.fails(RC_ATTRIBUTES_P2, "tpm2_nvdefine", "-C", "o", "-s", "8", "-a",
                   "ownerread|ownerwrite|clear_stclear|writedefine", "0x1500110")
        self.fails(0x182, "tpm2_nvdefine", "-C", "o", "-s", "8", "-a",
                   "ownerread|ownerwrite|platformcreate", "0x1500110")  # ATTRIBUTES, handle 1

    def test_write_read_beyond_nv_buffer_max_with_offsets(self):
        props = self.tool("tpm2_getcap", "properties-fixed").stdout.decode()
        buffer_max = int(re.search(r"TPM2_PT_NV_BUFFER_MAX:\s*\n\s*raw:\s*(0x[0-9a-fA-F]+)", props).group(1), 16)
        index_max = int(re.search(r"TPM2_PT_NV_INDEX_MAX:\s*\n\s*raw:\s*(0x[0-9a-fA-F]+)", props).group(1), 16)
        size = min(index_max, 2048)
        self.assertGreater(size, buffer_max, "the tools must chunk")
        self.define(0x1500200, size, "ownerread|ownerwrite")
        self.fails(RC_NV_UNINITIALIZED, "tpm2_nvread", "-C", "o", "-s", "4", "0x1500200")
        data = bytes((i * 13 + 5) & 0xFF for i in range(size))
        self.write(0x1500200, data)
        self.assertEqual(self.read(0x1500200, size), data)
        patch = b"P" * (buffer_max + 100)
        self.write(0x1500200, patch, offset=50)
        expect = data[:50] + patch + data[50 + len(patch):]
        self.assertEqual(self.read(0x1500200, size), expect)
        self.assertEqual(self.read(0x1500200, buffer_max + 7, offset=size - buffer_max - 7),
                         expect[size - buffer_max - 7:])
        # Octets of a written index that no write touched read as 0xFF.
        self.define(0x1500201, 16, "ownerread|ownerwrite")
        self.write(0x1500201, b"AB", offset=4)
        self.assertEqual(self.read(0x1500201, 16), b"\xff" * 4 + b"AB" + b"\xff" * 10)

    def test_counter_bits_extend(self):
        self.define(0x1500300, 8, "ownerread|ownerwrite|nt=counter")
        for _ in range(3):
            self.tool("tpm2_nvincrement", "-C", "o", "0x1500300")
        self.assertEqual(struct.unpack(">Q", self.read(0x1500300, 8))[0], 3)

        self.define(0x1500301, 8, "ownerread|ownerwrite|nt=bits")
        for bits in (0x5, 0x8000000000000010):
            self.tool("tpm2_nvsetbits", "-C", "o", "-i", hex(bits), "0x1500301")
        self.assertEqual(struct.unpack(">Q", self.read(0x1500301, 8))[0], 0x8000000000000015)

        for index, alg in ((0x1500302, "sha256"), (0x1500303, "sha1"), (0x1500304, "sha384")):
            h = ALGS[alg][1]
            n = h().digest_size
            self.define(index, n, "ownerread|ownerwrite|nt=extend", alg=alg)
            value = bytes(n)
            for chunk in (b"first event", os.urandom(700)):
                self.tool("tpm2_nvextend", "-C", "o", "-i", self.file("ext", chunk), hex(index))
                value = h(value + chunk).digest()
            self.assertEqual(self.read(index, n), value, alg)

    def test_pin_pass_counts_uses(self):
        self.define(0x1500400, 8, "ownerread|ownerwrite|nt=pinpass", auth="1234")
        self.write(0x1500400, struct.pack(">II", 0, 2))
        for used in (1, 2):
            self.assertEqual(self.read(0x1500400, 8, auth=("0x1500400", "1234")), struct.pack(">II", used, 2))
        self.fails(RC_AUTH_UNAVAILABLE, "tpm2_nvread", "-C", "0x1500400", "-P", "1234", "-s", "8", "0x1500400")

    def test_authorization_choices(self):
        self.define(0x1500500, 8, "ownerread|authwrite", auth="pw")
        self.fails(RC_NV_AUTHORIZATION, "tpm2_nvwrite", "-C", "o", "-i", self.file("x", b"12345678"), "0x1500500")
        self.write(0x1500500, b"12345678", auth=("0x1500500", "pw"))
        self.fails(RC_AUTH_UNAVAILABLE, "tpm2_nvread", "-C", "0x1500500", "-P", "pw", "-s", "8", "0x1500500")
        self.fails(RC_NV_AUTHORIZATION, "tpm2_nvread", "-C", "p", "-s", "8", "0x1500500")
        self.assertEqual(self.read(0x1500500, 8), b"12345678")
        # USER role through the index's authPolicy: a policy session that ran nothing has the
        # all-zero digest, which satisfies an all-zero authPolicy (POLICYWRITE), not POLICYREAD.
        self.define(0x1500501, 8, "ownerread|policywrite", policy=bytes(32))
        self.tool("tpm2_startauthsession", "--policy-session", "-S", self.path("p.ctx"))
        self.tool("tpm2_nvwrite", "-C", "0x1500501", "-P", "session:" + self.path("p.ctx"),
                  "-i", self.file("y", b"policy!!"), "0x1500501")
        self.fails(RC_AUTH_UNAVAILABLE, "tpm2_nvread", "-C", "0x1500501", "-P", "session:" + self.path("p.ctx"),
                   "-s", "8", "0x1500501")
        self.tool("tpm2_flushcontext", self.path("p.ctx"))
        self.assertEqual(self.read(0x1500501, 8), b"policy!!")

    def test_write_lock_read_lock_global_lock(self):
        self.define(0x1500600, 8, "ownerread|ownerwrite|write_stclear")
        self.define(0x1500601, 8, "ownerread|ownerwrite|writedefine")
        self.define(0x1500602, 8, "ownerread|ownerwrite|read_stclear")
        self.define(0x1500603, 8, "ownerread|ownerwrite|globallock")
        for index in (0x1500600, 0x1500601, 0x1500602, 0x1500603):
            self.write(index, b"original")
        self.tool("tpm2_nvwritelock", "-C", "o", "0x1500600")
        self.tool("tpm2_nvwritelock", "-C", "o", "0x1500601")
        self.tool("tpm2_nvreadlock", "-C", "o", "0x1500602")
        self.tool("tpm2_nvwritelock", "--global", "-C", "o")
        for index in (0x1500600, 0x1500601, 0x1500603):
            self.fails(RC_NV_LOCKED, "tpm2_nvwrite", "-C", "o", "-i", self.file("n", b"newvalue"), hex(index))
            self.assertTrue(self.read_public(index)[1] & TPMA_NV["writelocked"])
        self.fails(RC_NV_LOCKED, "tpm2_nvread", "-C", "o", "-s", "8", "0x1500602")
        self.assertTrue(self.read_public(0x1500602)[1] & TPMA_NV["readlocked"])
        self.restart_tpm()
        # stClear locks end at TPM Reset; a written WRITEDEFINE index stays locked.
        self.write(0x1500600, b"newvalue")
        self.write(0x1500603, b"newvalue")
        self.fails(RC_NV_LOCKED, "tpm2_nvwrite", "-C", "o", "-i", self.file("n", b"newvalue"), "0x1500601")
        self.assertEqual(self.read(0x1500602, 8), b"original")
        self.assertEqual(self.read(0x1500600, 8), b"newvalue")

    def test_changeauth_and_undefine_special_need_policy_command_code(self):
        # The ADMIN role of an index needs a policy that bound the command code
        # (TPM2_PolicyCommandCode). A policy session that ran nothing is refused, as the
        # reference TPM refuses it; a password is the wrong type of authorization.
        self.define(0x1500700, 8, "ownerread|ownerwrite|authread|authwrite", auth="old", policy=bytes(32))
        self.tool("tpm2_startauthsession", "--policy-session", "-S", self.path("s.ctx"))
        self.fails(RC_POLICY_FAIL_S1, "tpm2_changeauth", "-c", "0x1500700", "-p", "session:" + self.path("s.ctx"), "new")
        self.tool("tpm2_flushcontext", self.path("s.ctx"))
        self.fails(RC_AUTH_TYPE, "tpm2_changeauth", "-c", "0x1500700", "-p", "old", "new")
        self.write(0x1500700, b"12345678", auth=("0x1500700", "old"))  # the old auth still holds
        self.define(0x1500701, 8, "ppread|ppwrite|platformcreate|policydelete", hierarchy="p", policy=bytes(32))
        self.tool("tpm2_startauthsession", "--policy-session", "-S", self.path("s2.ctx"))
        self.fails(RC_POLICY_FAIL_S1, "tpm2_nvundefine", "-S", self.path("s2.ctx"), "0x1500701")
        self.assertIn(0x1500701, self.nv_handles())

    def test_undefine_and_clear_keeps_platform_indices(self):
        self.define(0x1500800, 8, "ownerread|ownerwrite")
        self.define(0x1500801, 8, "ownerread|ownerwrite|nt=counter")
        self.define(0x1C00002, 16, "ppread|ppwrite|ownerread|platformcreate|no_da", hierarchy="p")  # RSA EK cert
        self.define(0x1500802, 8, "ownerread|ownerwrite")
        self.tool("tpm2_nvincrement", "-C", "o", "0x1500801")
        self.write(0x1C00002, b"certificate-der!", auth=("p", None))
        self.fails(RC_NV_AUTHORIZATION, "tpm2_nvundefine", "-C", "o", "0x1C00002")
        self.tool("tpm2_nvundefine", "-C", "o", "0x1500802")
        self.assertEqual(self.nv_handles(), [0x1500800, 0x1500801, 0x1C00002])
        self.tool("tpm2_clear", "-c", "p")
        self.assertEqual(self.nv_handles(), [0x1C00002])
        self.assertEqual(self.read(0x1C00002, 16), b"certificate-der!")
        self.fails(RC_HANDLE_P2, "tpm2_nvread", "-C", "o", "-s", "8", "0x1500800")
        text = self.tool("tpm2_getcap", "properties-variable").stdout.decode()
        self.assertRegex(text, r"TPM2_PT_HR_NV_INDEX:\s*0x1\b")
        self.assertRegex(text, r"TPM2_PT_NV_COUNTERS:\s*0x0\b")

    def test_index_survives_utpmd_restart(self):
        if self.shim:
            self.skipTest("restarts utpmd on its state directory")
        self.define(0x1500900, 100, "ownerread|ownerwrite|authread|authwrite", auth="pw")
        self.define(0x1500901, 8, "ownerread|ownerwrite|nt=counter")
        self.write(0x1500900, b"kept across a restart", offset=10, auth=("0x1500900", "pw"))
        self.tool("tpm2_nvincrement", "-C", "o", "0x1500901")
        name_before = self.read_public(0x1500900)[0]
        state = tempfile.mkdtemp(prefix="utpm-e2e-nvstate-")
        self.addCleanup(lambda: __import__("shutil").rmtree(state, ignore_errors=True))
        # The first server has its own state directory: move the TPM there by restarting on it.
        old = self.server
        self.stop_server(old, remove_state=False)
        os.rename(old.state, os.path.join(state, "s"))
        self.start_server(state_dir=os.path.join(state, "s"))
        self.assertEqual(self.read_public(0x1500900)[0], name_before)
        self.assertEqual(self.read(0x1500900, 21, offset=10, auth=("0x1500900", "pw")), b"kept across a restart")
        self.tool("tpm2_nvincrement", "-C", "o", "0x1500901")
        self.assertEqual(struct.unpack(">Q", self.read(0x1500901, 8))[0], 2)

    def restart_utpmd(self, kill):
        """Stops utpmd (SIGKILL: no Shutdown, no clean exit; else SIGTERM after the caller's
        tpm2_shutdown) and starts it again on the same state directory, then Startup(CLEAR)."""
        old = self.server
        if kill:
            old.proc.kill()
            old.stop(remove_state=False)
        else:
            self.stop_server(old, remove_state=False)
        self.start_server(state_dir=old.state)
        self.addCleanup(lambda: __import__("shutil").rmtree(old.state, ignore_errors=True))

    def test_orderly_counter_and_data_across_kill_and_orderly_shutdown(self):
        if self.shim:
            self.skipTest("restarts utpmd on its state directory")
        max_orderly_count = 255  # TPM_PT_ORDERLY_COUNT, checked below
        text = self.tool("tpm2_getcap", "properties-fixed").stdout.decode()
        self.assertRegex(text, r"TPM2_PT_ORDERLY_COUNT:\s*raw: 0xFF\b")
        counter, data = 0x1500A00, 0x1500A01
        self.define(counter, 8, "ownerread|ownerwrite|orderly|nt=counter")
        self.define(data, 16, "ownerread|ownerwrite|orderly")
        values = []
        for _ in range(5):
            self.tool("tpm2_nvincrement", "-C", "o", hex(counter))
            values.append(struct.unpack(">Q", self.read(counter, 8))[0])
        self.assertEqual(values, list(range(values[0], values[0] + 5)))
        self.write(data, b"A" * 16)
        self.assertEqual(self.read(data, 16), b"A" * 16)
        # Killed: the store holds the counter's first value (written through) and the data index
        # as defined. The counter restarts above anything it can have shown.
        self.restart_utpmd(kill=True)
        after = struct.unpack(">Q", self.read(counter, 8))[0]
        self.assertEqual(after, values[0] + max_orderly_count + 1)
        self.assertGreater(after, max(values))
        self.fails(RC_NV_UNINITIALIZED, "tpm2_nvread", "-C", "o", "-s", "16", hex(data))
        _, attrs = self.read_public(data)
        self.assertFalse(attrs & TPMA_NV["written"])
        # An orderly shutdown keeps both exactly.
        self.write(data, b"B" * 16)
        self.tool("tpm2_nvincrement", "-C", "o", hex(counter))
        self.tool("tpm2_shutdown", "-c")
        self.restart_utpmd(kill=False)
        self.assertEqual(struct.unpack(">Q", self.read(counter, 8))[0], after + 1)
        self.assertEqual(self.read(data, 16), b"B" * 16)
        # Killed again: the data is the copy the Shutdown stored; the counter jumps from there.
        self.write(data, b"C" * 16)
        self.tool("tpm2_nvincrement", "-C", "o", hex(counter))
        self.restart_utpmd(kill=True)
        self.assertEqual(self.read(data, 16), b"B" * 16)
        self.assertEqual(struct.unpack(">Q", self.read(counter, 8))[0], after + 1 + max_orderly_count + 1)


class NvToolsOverPty(NvTools):
    CHANNEL = "pty"


class NvEsapi(unittest.TestCase):
    """tpm2-pytss ESAPI: it computes the index Names itself (and tracks WRITTEN), so cpHash,
    response HMACs and parameter encryption all fail if our Names or derivations differ."""

    def setUp(self):
        self.server = serve(self)
        self.esapi = esapi_on(self, self.server)

    def define(self, index, size, attrs, auth=b"nvpw", session=None):
        from tpm2_pytss import ESYS_TR, TPM2_ALG, TPM2B_NV_PUBLIC, TPMS_NV_PUBLIC
        pub = TPM2B_NV_PUBLIC(nvPublic=TPMS_NV_PUBLIC(nvIndex=index, nameAlg=TPM2_ALG.SHA256, attributes=attrs,
                                                      dataSize=size))
        kw = {"session1": session} if session else {}
        handle = self.esapi.nv_define_space(auth, pub, auth_handle=ESYS_TR.OWNER, **kw)
        self.esapi.tr_set_auth(handle, auth)
        return handle

    def session(self, bind=None, salt=None):
        from tpm2_pytss import ESYS_TR, TPM2_ALG, TPM2_SE, TPMA_SESSION, TPMT_SYM_DEF
        sym = TPMT_SYM_DEF(algorithm=TPM2_ALG.AES)
        sym.keyBits.aes = 128
        sym.mode.aes = TPM2_ALG.CFB
        s = self.esapi.start_auth_session(salt or ESYS_TR.NONE, bind or ESYS_TR.NONE, TPM2_SE.HMAC, sym,
                                          TPM2_ALG.SHA256)
        self.esapi.trsess_set_attributes(
            s, TPMA_SESSION.CONTINUESESSION | TPMA_SESSION.DECRYPT | TPMA_SESSION.ENCRYPT)
        return s

    # ---- the index's ADMIN role and PolicyNvWritten, through the policy commands ----
    def policy_digest(self, *steps):
        """The policy digest computed in Python (Part 3 §23: H(old || TPM_CC_Policy... || args))."""
        import hashlib
        import struct
        d = bytes(32)
        for cc, arg in steps:
            d = hashlib.sha256(d + struct.pack(">I", cc) + arg).digest()
        return d

    def policy_session(self):
        from tpm2_pytss import ESYS_TR, TPM2_ALG, TPM2_SE, TPMT_SYM_DEF
        return self.esapi.start_auth_session(ESYS_TR.NONE, ESYS_TR.NONE, TPM2_SE.POLICY,
                                             TPMT_SYM_DEF(algorithm=TPM2_ALG.NULL), TPM2_ALG.SHA256)

    def define_with_policy(self, index, attrs, policy, auth=b"nvpw", hierarchy=None):
        from tpm2_pytss import ESYS_TR, TPM2_ALG, TPM2B_NV_PUBLIC, TPMS_NV_PUBLIC
        pub = TPM2B_NV_PUBLIC(nvPublic=TPMS_NV_PUBLIC(nvIndex=index, nameAlg=TPM2_ALG.SHA256, attributes=attrs,
                                                      authPolicy=policy, dataSize=8))
        handle = self.esapi.nv_define_space(auth, pub, auth_handle=hierarchy or ESYS_TR.OWNER)
        self.esapi.tr_set_auth(handle, auth)
        return handle

    def test_change_auth_with_a_policy_that_bound_the_command_code(self):
        import struct
        from tpm2_pytss import TPM2_CC, TPMA_NV, TSS2_Exception
        cc_policy_cc, cc_change = 0x16C, 0x13B  # TPM_CC_PolicyCommandCode, TPM_CC_NV_ChangeAuth
        digest = self.policy_digest((cc_policy_cc, struct.pack(">I", cc_change)))
        nv = self.define_with_policy(0x01500020, TPMA_NV.AUTHREAD | TPMA_NV.AUTHWRITE, digest)
        self.esapi.nv_write(nv, b"12345678", auth_handle=nv)
        # Without PolicyCommandCode the ADMIN role is refused (POLICY_FAIL), as in the reference TPM.
        s = self.policy_session()
        with self.assertRaises(TSS2_Exception):
            self.esapi.nv_change_auth(nv, b"newpw", session1=s)
        self.esapi.flush_context(s)
        s = self.policy_session()
        self.esapi.policy_command_code(s, TPM2_CC.NV_ChangeAuth)
        self.assertEqual(bytes(self.esapi.policy_get_digest(s)), digest, "the TPM's digest is the Part 3 formula")
        self.esapi.nv_change_auth(nv, b"newpw", session1=s)
        self.esapi.tr_set_auth(nv, b"newpw")
        self.assertEqual(bytes(self.esapi.nv_read(nv, 8, auth_handle=nv)), b"12345678")
        self.esapi.tr_set_auth(nv, b"nvpw")
        with self.assertRaises(TSS2_Exception):
            self.esapi.nv_read(nv, 8, auth_handle=nv)

    def test_undefine_space_special_with_its_policy(self):
        import struct
        from tpm2_pytss import ESYS_TR, TPM2_CC, TPMA_NV, TSS2_Exception
        cc_policy_cc, cc_special = 0x16C, 0x11F  # TPM_CC_PolicyCommandCode, TPM_CC_NV_UndefineSpaceSpecial
        digest = self.policy_digest((cc_policy_cc, struct.pack(">I", cc_special)))
        attrs = TPMA_NV.PPREAD | TPMA_NV.PPWRITE | TPMA_NV.PLATFORMCREATE | TPMA_NV.POLICY_DELETE
        nv = self.define_with_policy(0x01400021, attrs, digest, hierarchy=ESYS_TR.PLATFORM)
        s = self.policy_session()
        self.esapi.policy_command_code(s, TPM2_CC.NV_UndefineSpaceSpecial)
        try:
            self.esapi.nv_undefine_space_special(nv, s)
        except TSS2_Exception as e:
            # Debian's ESAPI (3.2) rejects the response HMAC of this command from swtpm exactly as
            # from utpm (TSS2_ESYS_RC_RSP_AUTH_FAILED): it keys it with the deleted index's
            # authValue. The TPM's own answer is success, which the handle list below proves.
            self.assertEqual(int(e.rc), 0x7001B, "only ESAPI's response-HMAC quirk is tolerated")
        # The index list, read on a connection of its own (ESAPI's context is spent after an error).
        self.esapi.close()
        from tpm_raw import CC, Tpm, u32
        client = MssimClient(self.server.port)
        self.addCleanup(client.close)
        r = Tpm(client).call(CC["GetCapability"], params=u32(1) + u32(0x01000000) + u32(64))  # TPM_CAP_HANDLES
        self.assertEqual(r.rc, 0)
        rd = r.reader()
        rd.u8(), rd.u32()
        handles = [rd.u32() for _ in range(rd.u32())]
        self.assertNotIn(0x01400021, handles, "the index is gone")
        self.esapi = type(self.esapi)(self.server.mssim_tcti)  # for the cleanup's close

    def test_policy_nv_written_follows_the_index(self):
        import struct
        from tpm2_pytss import TPMA_NV, TSS2_Exception
        cc_nv_written = 0x18F  # TPM_CC_PolicyNvWritten
        digest = self.policy_digest((cc_nv_written, b"\x01"))
        attrs = TPMA_NV.POLICYREAD | TPMA_NV.AUTHWRITE | TPMA_NV.AUTHREAD
        nv = self.define_with_policy(0x01500022, attrs, digest)
        s = self.policy_session()
        self.esapi.policy_nv_written(s, True)
        self.assertEqual(bytes(self.esapi.policy_get_digest(s)), digest)
        with self.assertRaises(TSS2_Exception):  # not written yet: the policy's assertion is false
            self.esapi.nv_read(nv, 8, auth_handle=nv, session1=s)
        self.esapi.flush_context(s)
        self.esapi.nv_write(nv, b"abcdefgh", auth_handle=nv)
        s = self.policy_session()
        self.esapi.policy_nv_written(s, True)
        self.assertEqual(bytes(self.esapi.nv_read(nv, 8, auth_handle=nv, session1=s)), b"abcdefgh")

    def test_encrypted_salted_hmac_session(self):
        from tpm2_pytss import ESYS_TR, TPMA_NV
        primary = self.esapi.create_primary(None, "rsa2048", primary_handle=ESYS_TR.OWNER)[0]
        s = self.session(salt=primary)
        attrs = TPMA_NV.AUTHREAD | TPMA_NV.AUTHWRITE | TPMA_NV.OWNERREAD | TPMA_NV.OWNERWRITE
        # DefineSpace: the index authValue travels encrypted.
        nv = self.define(0x1500A00, 600, attrs, session=s)
        data = os.urandom(600)
        self.esapi.nv_write(nv, data, 0, auth_handle=nv, session1=s)  # data encrypted, Name now WRITTEN
        self.assertEqual(bytes(self.esapi.nv_read(nv, 600, 0, auth_handle=nv, session1=s)), data)
        self.assertEqual(bytes(self.esapi.nv_read(nv, 100, 450, auth_handle=ESYS_TR.OWNER, session1=s)),
                         data[450:550])
        counter = self.define(0x1500A01, 8, attrs | (NT["counter"] << 4), session=s)
        self.esapi.nv_increment(counter, auth_handle=counter, session1=s)
        self.assertEqual(bytes(self.esapi.nv_read(counter, 8, 0, auth_handle=counter, session1=s)),
                         struct.pack(">Q", 1))
        self.esapi.flush_context(s)

    def test_session_bound_to_the_index(self):
        from tpm2_pytss import TPMA_NV
        attrs = TPMA_NV.AUTHREAD | TPMA_NV.AUTHWRITE | TPMA_NV.NO_DA
        nv = self.define(0x1500A10, 32, attrs)
        s = self.session(bind=nv)
        # The data travels encrypted under sessionKey || authValue although the session is bound
        # (only the HMAC leaves the bind entity's authValue out): read back without a session.
        self.esapi.nv_write(nv, b"bound session, index authValue", 0, auth_handle=nv, session1=s)
        self.assertEqual(bytes(self.esapi.nv_read(nv, 30, 0, auth_handle=nv)), b"bound session, index authValue")
        self.assertEqual(bytes(self.esapi.nv_read(nv, 30, 0, auth_handle=nv, session1=s)),
                         b"bound session, index authValue")
        self.esapi.flush_context(s)

    def test_wrong_index_auth_fails_with_hmac_session(self):
        from tpm2_pytss import TPMA_NV, TSS2_Exception
        nv = self.define(0x1500A20, 8, TPMA_NV.AUTHREAD | TPMA_NV.AUTHWRITE | TPMA_NV.NO_DA)
        self.esapi.tr_set_auth(nv, b"wrong")
        s = self.session()
        with self.assertRaises(TSS2_Exception) as e:
            self.esapi.nv_write(nv, b"12345678", 0, auth_handle=nv, session1=s)
        self.assertEqual(e.exception.rc & 0xFFF, 0x9A2)  # TPM_RC_BAD_AUTH + session 1 (NO_DA: not AUTH_FAIL)


class NvRaw(unittest.TestCase):
    """NV_DefineSpace2 / NV_ReadPublic2 (TPM 2.0 Library 1.83+; Debian's TSS does not know them):
    raw command bytes built here. An index defined with NV_DefineSpace2 (handleType
    TPM_HT_NV_INDEX) is an ordinary index for NV_ReadPublic, NV_Write and NV_Read; ReadPublic2
    answers TPM2B_NV_PUBLIC_2 and the Name computed here; external/permanent NV: TPM_RC_HANDLE."""
    CC_NV_DEFINE_SPACE2, CC_NV_READ_PUBLIC2 = 0x19D, 0x19E
    CC_NV_READ_PUBLIC, CC_NV_WRITE, CC_NV_READ, CC_NV_DEFINE_SPACE = 0x169, 0x137, 0x14E, 0x12A
    OWNER = 0x40000001
    PW = struct.pack(">IIHBH", 9, 0x40000009, 0, 1, 0)  # authorizationSize + password session

    def setUp(self):
        self.server = Utpmd().start()
        self.addCleanup(self.stop)
        self.c = MssimClient(self.server.port)
        self.addCleanup(self.c.close)
        self.assertEqual(rc_of(self.c.execute(startup(SU_CLEAR))), 0)

    def stop(self):
        if self.server.alive():
            self.assertEqual(self.server.stop(), 0)

    def run_cmd(self, cc, handles, params=b"", auth=True):
        body = b"".join(struct.pack(">I", h) for h in handles) + (self.PW if auth else b"") + params
        rsp = self.c.execute(command(cc, body, tag=0x8002 if auth else 0x8001))
        return rc_of(rsp), rsp[10:]

    @staticmethod
    def tpm2b(b):
        return struct.pack(">H", len(b)) + b

    def test_define_space2_of_an_nv_index_interoperates(self):
        index, attrs = 0x1500B00, attr_value("ownerread|ownerwrite|authread|authwrite")
        pub = struct.pack(">IHIH", index, 0x000B, attrs, 0) + struct.pack(">H", 16)
        rc, _ = self.run_cmd(self.CC_NV_DEFINE_SPACE2, [self.OWNER],
                             self.tpm2b(b"") + self.tpm2b(bytes([0x01]) + pub))
        self.assertEqual(rc, 0)
        name = nv_name(index, "sha256", attrs, 16)
        # NV_ReadPublic: the classic public area and the same Name.
        rc, rsp = self.run_cmd(self.CC_NV_READ_PUBLIC, [index], auth=False)
        self.assertEqual(rc, 0)
        self.assertEqual(rsp, self.tpm2b(pub) + self.tpm2b(name))
        # NV_Write / NV_Read work on it; WRITTEN appears in ReadPublic2's TPMT_NV_PUBLIC_2.
        rc, _ = self.run_cmd(self.CC_NV_WRITE, [self.OWNER, index], self.tpm2b(b"0123456789abcdef") + b"\0\0")
        self.assertEqual(rc, 0)
        rc, rsp = self.run_cmd(self.CC_NV_READ, [self.OWNER, index], struct.pack(">HH", 6, 10))
        self.assertEqual((rc, rsp[4:12]), (0, self.tpm2b(b"abcdef")))  # parameterSize, data, then the session
        written = attrs | TPMA_NV["written"]
        pub_w = struct.pack(">IHIH", index, 0x000B, written, 0) + struct.pack(">H", 16)
        rc, rsp = self.run_cmd(self.CC_NV_READ_PUBLIC2, [index], auth=False)
        self.assertEqual(rc, 0)
        self.assertEqual(rsp, self.tpm2b(bytes([0x01]) + pub_w) + self.tpm2b(nv_name(index, "sha256", written, 16)))
        # Defined again through either command: NV_DEFINED.
        rc, _ = self.run_cmd(self.CC_NV_DEFINE_SPACE2, [self.OWNER], self.tpm2b(b"") + self.tpm2b(bytes([0x01]) + pub))
        self.assertEqual(rc, RC_NV_DEFINED)
        # ReadPublic2 of a classic index defined with NV_DefineSpace.
        classic = struct.pack(">IHIH", index + 1, 0x0004, attrs, 0) + struct.pack(">H", 4)
        rc, _ = self.run_cmd(self.CC_NV_DEFINE_SPACE, [self.OWNER], self.tpm2b(b"") + self.tpm2b(classic))
        self.assertEqual(rc, 0)
        rc, rsp = self.run_cmd(self.CC_NV_READ_PUBLIC2, [index + 1], auth=False)
        self.assertEqual(rc, 0)
        self.assertEqual(rsp, self.tpm2b(bytes([0x01]) + classic) + self.tpm2b(nv_name(index + 1, "sha1", attrs, 4)))

    def test_external_and_permanent_nv_are_not_definable(self):
        attrs = attr_value("ownerread|ownerwrite")
        external = bytes([0x11]) + struct.pack(">IHQH", 0x11000001, 0x000B, attrs, 0) + struct.pack(">H", 8)
        permanent = bytes([0x12]) + struct.pack(">IHIH", 0x12000001, 0x000B, attrs, 0) + struct.pack(">H", 8)
        for pub in (external, permanent):
            rc, _ = self.run_cmd(self.CC_NV_DEFINE_SPACE2, [self.OWNER], self.tpm2b(b"") + self.tpm2b(pub))
            self.assertEqual(rc, 0x08B + 0x040 + 0x200, pub.hex())  # TPM_RC_HANDLE + parameter 2
        bad_selector = bytes([0x02]) + struct.pack(">IHIH", 0x01000001, 0x000B, attrs, 0) + struct.pack(">H", 8)
        rc, _ = self.run_cmd(self.CC_NV_DEFINE_SPACE2, [self.OWNER], self.tpm2b(b"") + self.tpm2b(bad_selector))
        self.assertEqual(rc, 0x098 + 0x040 + 0x200)  # TPM_RC_SELECTOR + parameter 2
        for handle in (0x11000001, 0x12000001):
            rc, _ = self.run_cmd(self.CC_NV_READ_PUBLIC2, [handle], auth=False)
            self.assertEqual(rc, 0x18B)  # TPM_RC_HANDLE + handle 1
        rc, _ = self.run_cmd(self.CC_NV_READ_PUBLIC2, [0x81000001], auth=False)
        self.assertEqual(rc, 0x184)  # TPM_RC_VALUE + handle 1


if __name__ == "__main__":
    unittest.main(verbosity=2)
