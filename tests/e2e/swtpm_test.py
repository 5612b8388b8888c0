"""utpmd as swtpm: the control protocol, the TCP / fd-passed data channels, state blobs for
migration and the swtpm-compatible command line (docs/swtpm.md).

Every server here is started the way tools start swtpm: `swtpm socket --tpm2 ...` through a
symlink named `swtpm` to utpmd (what a packager installs), on free loopback ports, with a
temporary state directory, and stopped by PID. SWTPM_UNDER_TEST=/usr/bin/swtpm runs the
protocol classes against Debian's swtpm instead, to check the expectations themselves
(ControlProtocol, ToolsOverSwtpm and PytssHelper pass there; the state-blob class is utpm's,
its blob format being its own).

Expected values come from hashlib and `cryptography`, and the wire constants from swtpm's
public include/swtpm/tpm_ioctl.h (transport.md §2.2).
"""
import hashlib
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from utpmd_harness import free_port_pair, recv_exact, run_tool, utpmd_binary  # noqa: E402

CMD_GET_CAPABILITY, CMD_INIT, CMD_SHUTDOWN, CMD_GET_TPMESTABLISHED = 1, 2, 3, 4
CMD_SET_LOCALITY, CMD_HASH_START, CMD_HASH_DATA, CMD_HASH_END = 5, 6, 7, 8
CMD_CANCEL_TPM_CMD, CMD_STORE_VOLATILE, CMD_RESET_TPMESTABLISHED = 9, 10, 11
CMD_GET_STATEBLOB, CMD_SET_STATEBLOB, CMD_STOP, CMD_GET_CONFIG = 12, 13, 14, 15
CMD_SET_DATAFD, CMD_SET_BUFFERSIZE, CMD_GET_INFO = 16, 17, 18
TPM_SUCCESS, TPM_BAD_PARAMETER, TPM_BAD_ORDINAL, TPM_BAD_LOCALITY = 0, 3, 10, 0x3D
# What QEMU requires (tpm_emulator_check_caps) and what migration needs.
QEMU_CAPS_TPM2 = 0x348F
MIGRATION_CAPS = 0x700

TPM_RC_FAILURE = 0x101
TPM_RC_LOCALITY = 0x907
CC_PCR_EXTEND = 0x182


def swtpm_program(tmp):
    """A program named swtpm: Debian's (SWTPM_UNDER_TEST) or a symlink to utpmd."""
    other = os.environ.get("SWTPM_UNDER_TEST")
    if other:
        return other
    link = os.path.join(tmp, "bin", "swtpm")
    os.makedirs(os.path.dirname(link), exist_ok=True)
    if not os.path.islink(link):
        os.symlink(utpmd_binary(), link)
    return link


def is_utpm():
    return not os.environ.get("SWTPM_UNDER_TEST")


class Swtpm:
    """`swtpm socket --tpm2 ...` with TCP data + ctrl (or a unix ctrl), stopped by PID."""

    def __init__(self, tmp, state=None, flags="not-need-init,startup-clear", unix_ctrl=False,
                 extra=()):
        self.tmp = tmp
        self.state = state or tempfile.mkdtemp(prefix="state-", dir=tmp)
        self.flags = flags
        self.unix_ctrl = unix_ctrl
        self.extra = list(extra)
        self.proc = None
        self.port = None
        self.ctrl_path = os.path.join(self.state, "ctrl.sock") if unix_ctrl else None
        self.log = os.path.join(self.state, "log")

    def start(self):
        for _ in range(5):
            self.port = free_port_pair()
            args = [swtpm_program(self.tmp), "socket", "--tpm2",
                    "--tpmstate", f"dir={self.state}",
                    "--log", f"file={self.log},level=20"]
            if self.unix_ctrl:
                args += ["--ctrl", f"type=unixio,path={self.ctrl_path}"]
            else:
                args += ["--server", f"type=tcp,port={self.port}",
                         "--ctrl", f"type=tcp,port={self.port + 1}"]
            if self.flags:
                args += ["--flags", self.flags]
            args += self.extra
            self.proc = subprocess.Popen(args)
            if self._wait_listening():
                return self
            self.stop()
        raise RuntimeError("swtpm did not start: " + self.log_text())

    def _wait_listening(self):
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                if self.unix_ctrl:
                    s = socket.socket(socket.AF_UNIX)
                    s.connect(self.ctrl_path)
                else:
                    s = socket.create_connection(("127.0.0.1", self.port + 1), timeout=1)
                s.close()
                return True
            except OSError:
                time.sleep(0.05)
        return False

    def log_text(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode if self.proc else None

    @property
    def tcti(self):
        return f"swtpm:host=127.0.0.1,port={self.port}"

    # --- control channel: one connection per request, as tcti-swtpm does ---
    def ctrl_connect(self):
        if self.unix_ctrl:
            s = socket.socket(socket.AF_UNIX)
            s.settimeout(5)
            s.connect(self.ctrl_path)
            return s
        return socket.create_connection(("127.0.0.1", self.port + 1), timeout=5)

    def ctrl(self, cmd, payload=b"", reply=4, fds=None):
        with self.ctrl_connect() as s:
            msg = struct.pack(">I", cmd) + payload
            if fds:
                socket.send_fds(s, [msg], fds)
            else:
                s.sendall(msg)
            return recv_exact(s, reply)

    def ctrl_res(self, cmd, payload=b"", reply=4):
        return struct.unpack(">I", self.ctrl(cmd, payload, reply)[:4])[0]

    # --- data channel: one connection per command, as tcti-swtpm does ---
    def execute(self, cmd):
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            s.sendall(cmd)
            head = recv_exact(s, 10)
            size = struct.unpack(">I", head[2:6])[0]
            return head + recv_exact(s, size - 10)

    def get_blob(self, btype):
        with self.ctrl_connect() as s:
            s.sendall(struct.pack(">IIII", CMD_GET_STATEBLOB, 1, btype, 0))
            res, flags, total, length = struct.unpack(">IIII", recv_exact(s, 16))
            assert res == 0, f"GET_STATEBLOB({btype}) res {res:#x}"
            assert total == length, "the whole blob in one reply (QEMU requires it)"
            return flags, recv_exact(s, length, timeout=10)

    def set_blob(self, btype, blob, flags=0):
        with self.ctrl_connect() as s:
            s.sendall(struct.pack(">IIII", CMD_SET_STATEBLOB, flags, btype, len(blob)) + blob)
            return struct.unpack(">I", recv_exact(s, 4, timeout=10))[0]


def rc(rsp):
    return struct.unpack(">I", rsp[6:10])[0]


def pcr_extend_cmd(pcr, digest):
    auth = struct.pack(">IHBH", 0x40000009, 0, 0, 0)  # TPM_RS_PW, empty password
    params = struct.pack(">IH", 1, 0x000B) + digest
    body = struct.pack(">I", pcr) + struct.pack(">I", len(auth)) + auth + params
    return struct.pack(">HII", 0x8002, 10 + len(body), CC_PCR_EXTEND) + body


def get_random_cmd(n):
    return struct.pack(">HIIH", 0x8001, 12, 0x17B, n)


def pcr_value(tcti, pcr):
    out = run_tool(["tpm2_pcrread", f"sha256:{pcr}"], tcti).stdout.decode()
    for line in out.splitlines():
        line = line.strip()
        if line.startswith(f"{pcr}:"):
            return bytes.fromhex(line.split("0x", 1)[1])
    raise AssertionError("pcrread: " + out)


class Base(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="utpm-swtpm-")
        self.servers = []

    def tearDown(self):
        for s in self.servers:
            s.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def server(self, **kw):
        s = Swtpm(self.tmp, **kw)
        self.servers.append(s)
        return s.start()


class ControlProtocol(Base):
    def test_capabilities_init_and_not_running_answers(self):
        t = self.server(flags=None)  # as QEMU/libvirt start it: the TPM waits for CMD_INIT
        reply = t.ctrl(CMD_GET_CAPABILITY, reply=8)
        res, caps = struct.unpack(">II", reply)
        self.assertEqual(res, 0)
        self.assertEqual(caps & QEMU_CAPS_TPM2, QEMU_CAPS_TPM2, f"caps {caps:#x}")
        self.assertEqual(caps & MIGRATION_CAPS, MIGRATION_CAPS, f"caps {caps:#x}")
        # Before INIT every data command gets TPM_RC_FAILURE in one 10-byte 0x8001 response
        # (what QEMU's version probe needs).
        rsp = t.execute(bytes.fromhex("80010000000a00000181"))  # TPM2_ReadClock
        self.assertEqual(rsp, bytes.fromhex("80010000000a00000101"))
        self.assertEqual(t.ctrl_res(CMD_INIT, struct.pack(">I", 0)), 0)
        self.assertEqual(rc(t.execute(get_random_cmd(8))), 0x100)  # TPM_RC_INITIALIZE
        run_tool(["tpm2_startup", "-c"], t.tcti)
        rsp = t.execute(get_random_cmd(16))
        self.assertEqual(rc(rsp), 0)
        self.assertEqual(len(rsp), 10 + 2 + 16)
        # STOP: not running again; SET_BUFFERSIZE while stopped; INIT = power cycle.
        self.assertEqual(t.ctrl_res(CMD_STOP), 0)
        self.assertEqual(rc(t.execute(get_random_cmd(8))), TPM_RC_FAILURE)
        res, size, mn, mx = struct.unpack(">IIII", t.ctrl(CMD_SET_BUFFERSIZE, struct.pack(">I", 4096), 16))
        self.assertEqual(res, 0)
        self.assertTrue(mn <= size <= mx and size >= 1024, (size, mn, mx))
        self.assertEqual(t.ctrl_res(CMD_INIT, struct.pack(">I", 0)), 0)
        self.assertEqual(rc(t.execute(get_random_cmd(8))), 0x100)  # a fresh _TPM_Init

    def test_established_locality_config_info(self):
        t = self.server()
        res, bit = struct.unpack(">IB", t.ctrl(CMD_GET_TPMESTABLISHED, reply=8)[:5])
        self.assertEqual((res, bit), (0, 0))
        # RESET_TPMESTABLISHED: only from locality 3 or 4 (QEMU pads the byte to 4).
        self.assertEqual(t.ctrl_res(CMD_RESET_TPMESTABLISHED, b"\0\0\0\0"), TPM_BAD_LOCALITY)
        self.assertEqual(t.ctrl_res(CMD_RESET_TPMESTABLISHED, b"\3\0\0\0"), 0)
        self.assertEqual(t.ctrl_res(CMD_SET_LOCALITY, b"\x05"), TPM_BAD_LOCALITY)
        res, flags = struct.unpack(">II", t.ctrl(CMD_GET_CONFIG, reply=8))
        self.assertEqual(res, 0)
        with t.ctrl_connect() as s:
            s.sendall(struct.pack(">IQII", CMD_GET_INFO, 1, 0, 0))
            res, total, length = struct.unpack(">III", recv_exact(s, 12))
            self.assertEqual(res, 0)
            self.assertEqual(total, length)
            info = recv_exact(s, length).decode()
        self.assertIn('"TPMSpecification"', info)
        self.assertIn('"family":"2.0"', info)

    def test_pcr_extend_with_locality_from_ctrl(self):
        t = self.server()
        d = hashlib.sha256(b"locality two").digest()
        initial = pcr_value(t.tcti, 21)
        self.assertIn(initial, (bytes(32), b"\xff" * 32))  # PC Client D-RTM PCRs: 0 or -1
        # PCR 21 (PC Client: dynamic OS) may be extended only from locality 2.
        self.assertEqual(t.ctrl_res(CMD_SET_LOCALITY, b"\x00\x00\x00\x00"), 0)
        self.assertEqual(rc(t.execute(pcr_extend_cmd(21, d))), TPM_RC_LOCALITY)
        self.assertEqual(t.ctrl_res(CMD_SET_LOCALITY, b"\x02"), 0)  # tcti-swtpm's 1-byte form
        self.assertEqual(rc(t.execute(pcr_extend_cmd(21, d))), 0)
        # tpm2_pcrread (its TCTI sets locality 0 again, which reading allows)
        self.assertEqual(pcr_value(t.tcti, 21), hashlib.sha256(initial + d).digest())

    def test_cancel(self):
        t = self.server()
        self.assertEqual(t.ctrl_res(CMD_CANCEL_TPM_CMD), 0)
        # A cancel with no command running affects no later command.
        rsp = t.execute(get_random_cmd(8))
        self.assertEqual(rc(rsp), 0)

    def test_bad_input_gets_clear_results(self):
        t = self.server()
        # unknown command
        self.assertEqual(t.ctrl_res(0x99), TPM_BAD_ORDINAL)
        # GET_STATEBLOB of an unknown type
        with t.ctrl_connect() as s:
            s.sendall(struct.pack(">IIII", CMD_GET_STATEBLOB, 0, 9, 0))
            self.assertNotEqual(struct.unpack(">I", recv_exact(s, 4))[0], 0)
        # SET_STATEBLOB while the TPM runs, and of garbage while stopped
        self.assertNotEqual(t.set_blob(1, b"x" * 64), 0)
        self.assertEqual(t.ctrl_res(CMD_STOP), 0)
        self.assertNotEqual(t.set_blob(1, b"garbage" * 10), 0)
        # SET_DATAFD without a descriptor (a TCP control channel cannot carry one)
        self.assertNotEqual(t.ctrl_res(CMD_SET_DATAFD), 0)
        # a request that never completes: the connection is closed (no reply, no hang)
        with t.ctrl_connect() as s:
            s.sendall(struct.pack(">I", CMD_INIT) + b"\0")
            s.settimeout(5)
            got = s.recv(16)
            if is_utpm():
                self.assertEqual(got, b"")
        # the server is unharmed
        self.assertEqual(t.ctrl_res(CMD_INIT, struct.pack(">I", 0)), 0)
        res, caps = struct.unpack(">II", t.ctrl(CMD_GET_CAPABILITY, reply=8))
        self.assertEqual(res, 0)
        self.assertIsNone(t.proc.poll())

    @unittest.skipUnless(is_utpm(), "utpm's reply sizes")
    def test_oversize_hash_data_refused(self):
        t = self.server()
        self.assertNotEqual(t.ctrl_res(CMD_HASH_DATA, struct.pack(">I", 5000) + b"x" * 16), 0)
        self.assertIsNone(t.proc.poll())

    def test_data_fd_over_unix_ctrl_and_terminate(self):
        t = self.server(unix_ctrl=True, extra=["--terminate"])
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self.assertEqual(struct.unpack(">I", t.ctrl(CMD_SET_DATAFD, fds=[theirs.fileno()]))[0], 0)
        theirs.close()
        with t.ctrl_connect() as c:  # QEMU keeps its control connection
            c.sendall(struct.pack(">II", CMD_SET_LOCALITY, 0))
            self.assertEqual(recv_exact(c, 4), b"\0\0\0\0")
            mine.sendall(get_random_cmd(8))
            head = recv_exact(mine, 10)
            self.assertEqual(rc(head), 0)
            self.assertEqual(len(recv_exact(mine, struct.unpack(">I", head[2:6])[0] - 10)), 10)
            # --terminate: losing the data channel ends the process, cleanly
            mine.close()
            t.proc.wait(timeout=10)
        self.assertEqual(t.proc.returncode, 0)

    def test_shutdown_terminates(self):
        t = self.server()
        self.assertEqual(t.ctrl_res(CMD_SHUTDOWN), 0)
        t.proc.wait(timeout=10)
        self.assertEqual(t.proc.returncode, 0)


class ToolsOverSwtpm(Base):
    def test_tools(self):
        t = self.server(flags="not-need-init")
        run_tool(["tpm2_startup", "-c"], t.tcti)
        out = run_tool(["tpm2_getrandom", "--hex", "16"], t.tcti).stdout.decode().strip()
        self.assertEqual(len(bytes.fromhex(out)), 16)
        d = hashlib.sha256(b"tools").hexdigest()
        run_tool(["tpm2_pcrextend", f"16:sha256={d}"], t.tcti)
        self.assertEqual(pcr_value(t.tcti, 16), hashlib.sha256(bytes(32) + bytes.fromhex(d)).digest())


class PytssHelper(Base):
    """tpm2-pytss's test helper (test/TSS2_BaseTest.py, SwtpmSimulator): `swtpm` found on
    PATH, started as below, reached through TCTILdr("swtpm", "port=P")."""

    def test_pytss_swtpm_tcti(self):
        port = free_port_pair()
        state = tempfile.mkdtemp(dir=self.tmp)
        env = dict(os.environ)
        env["PATH"] = os.path.dirname(swtpm_program(self.tmp)) + ":" + env.get("PATH", "")
        if not is_utpm():
            env["PATH"] = env["PATH"].split(":", 1)[1]
        proc = subprocess.Popen(["swtpm", "socket", "--tpm2", "--server", f"port={port}",
                                 "--ctrl", f"type=tcp,port={port + 1}", "--flags", "not-need-init",
                                 "--tpmstate", f"dir={state}"], env=env,
                                stderr=subprocess.DEVNULL)
        try:
            time.sleep(1)  # the helper sleeps 2 s
            self.assertIsNone(proc.poll())
            script = (
                "from tpm2_pytss import ESAPI, TCTILdr, TPM2_SU\n"
                f"tcti = TCTILdr('swtpm', 'port={port}')\n"
                "with ESAPI(tcti) as e:\n"
                "    e.startup(TPM2_SU.CLEAR)\n"
                "    r = bytes(e.get_random(24))\n"
                "    assert len(r) == 24, r\n"
                "    print(r.hex())\n")
            p = subprocess.run(["/usr/bin/python3", "-c", script], capture_output=True, timeout=60)
            self.assertEqual(p.returncode, 0, p.stderr.decode(errors="replace"))
            self.assertEqual(len(bytes.fromhex(p.stdout.decode().strip())), 24)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=10)


@unittest.skipUnless(is_utpm(), "utpm's state blobs")
class StateBlobs(Base):
    """GET_STATEBLOB from one utpmd, SET_STATEBLOB into a second (QEMU's migration sequence:
    STOP, SET x3, INIT(DELETE_VOLATILE)): keys, NV and PCRs survive."""

    def run_t(self, args, tcti, **kw):
        return run_tool(args, tcti, **kw)

    def test_migrate(self):
        key = os.path.join(self.tmp, "mig.key")
        with open(key, "w") as f:
            f.write(os.urandom(32).hex() + "\n")
        src = self.server(extra=["--migration-key", f"file={key},format=hex"])
        w = os.path.join(self.tmp, "w")
        os.makedirs(w)
        T = src.tcti
        self.run_t(["tpm2_createprimary", "-C", "o", "-c", f"{w}/prim.ctx"], T)
        self.run_t(["tpm2_create", "-C", f"{w}/prim.ctx", "-G", "ecc256", "-u", f"{w}/k.pub",
                    "-r", f"{w}/k.priv"], T)
        self.run_t(["tpm2_evictcontrol", "-C", "o", "-c", f"{w}/prim.ctx", "0x81000005"], T)
        self.run_t(["tpm2_flushcontext", "-t"], T)
        self.run_t(["tpm2_load", "-C", "0x81000005", "-u", f"{w}/k.pub", "-r", f"{w}/k.priv",
                    "-c", f"{w}/k.ctx"], T)
        self.run_t(["tpm2_nvdefine", "0x1500016", "-C", "o", "-s", "32", "-a",
                    "ownerread|ownerwrite|authread|authwrite"], T)
        nvdata = os.urandom(32)
        with open(f"{w}/nv.bin", "wb") as f:
            f.write(nvdata)
        self.run_t(["tpm2_nvwrite", "0x1500016", "-C", "o", "-i", f"{w}/nv.bin"], T)
        d = hashlib.sha256(b"before migration").digest()
        self.run_t(["tpm2_pcrextend", f"16:sha256={d.hex()}"], T)
        pcr16 = hashlib.sha256(bytes(32) + d).digest()
        self.assertEqual(pcr_value(T, 16), pcr16)
        loaded = self.run_t(["tpm2_getcap", "handles-transient"], T).stdout.decode()
        self.assertIn("0x80", loaded)  # the loaded ECC key stays loaded in the TPM

        blobs = {}
        for btype in (1, 2, 3):
            flags, blob = src.get_blob(btype)
            self.assertEqual(flags & 2, 2, "utpm's blobs are always sealed")
            blobs[btype] = blob
        self.assertNotIn(nvdata, blobs[1])  # sealed: the NV contents do not show
        src.stop()

        dst = self.server(flags=None, extra=["--migration-key", f"file={key},format=hex"])
        self.assertEqual(dst.ctrl_res(CMD_STOP), 0)
        # a blob altered by one bit, or of another type, is refused
        bad = bytearray(blobs[1])
        bad[-20] ^= 1
        self.assertEqual(dst.set_blob(1, bytes(bad)), 0x21)  # TPM_DECRYPT_ERROR
        self.assertNotEqual(dst.set_blob(2, blobs[1]), 0)
        for btype in (1, 2, 3):
            self.assertEqual(dst.set_blob(btype, blobs[btype]), 0, f"SET_STATEBLOB({btype})")
        self.assertEqual(dst.ctrl_res(CMD_INIT, struct.pack(">I", 1)), 0)
        T = dst.tcti
        # PCRs (volatile), NV, the persistent key and the still-loaded transient key
        self.assertEqual(pcr_value(T, 16), pcr16)
        out = self.run_t(["tpm2_nvread", "0x1500016", "-C", "o", "-s", "32"], T).stdout
        self.assertEqual(out, nvdata)
        self.assertIn("0x81000005",
                      self.run_t(["tpm2_getcap", "handles-persistent"], T).stdout.decode())
        self.assertEqual(self.run_t(["tpm2_getcap", "handles-transient"], T).stdout.decode(), loaded)
        msg = f"{w}/msg"
        with open(msg, "wb") as f:
            f.write(b"signed after migration")
        self.run_t(["tpm2_sign", "-c", f"{w}/k.ctx", "-g", "sha256", "-f", "plain", "-o", f"{w}/sig",
                    msg], T)
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        self.run_t(["tpm2_readpublic", "-c", f"{w}/k.ctx", "-f", "pem", "-o", f"{w}/k.pem"], T)
        with open(f"{w}/k.pem", "rb") as f:
            pub = serialization.load_pem_public_key(f.read())
        with open(f"{w}/sig", "rb") as f:
            sig = f.read()
        pub.verify(sig, b"signed after migration", ec.ECDSA(hashes.SHA256()))  # raises if bad
        # A blob sealed with another migration key is refused
        other = os.path.join(self.tmp, "other.key")
        with open(other, "wb") as f:
            f.write(os.urandom(32))
        dst2 = self.server(flags=None, extra=["--migration-key", f"file={other},format=binary"])
        self.assertEqual(dst2.set_blob(1, blobs[1]), 0x21)


@unittest.skipUnless(is_utpm(), "utpmd's command line")
class CommandLine(Base):
    def run_swtpm(self, *args, timeout=20):
        return subprocess.run([swtpm_program(self.tmp), "socket"] + list(args), capture_output=True,
                              text=True, timeout=timeout)

    def test_refused_options_exit_2_naming_them(self):
        state = tempfile.mkdtemp(dir=self.tmp)
        base = ["--tpmstate", f"dir={state}", "--ctrl", "type=tcp,port=1"]
        cases = [
            ([] + base, "--tpm2"),  # no TPM 1.2
            (["--tpm2", "--key", "pwdfile=/x"] + base, "pwdfile"),
            (["--tpm2", "--server", "type=tcp,fd=3"] + base, "fd"),
            (["--tpm2", "--flags", "startup-deactivated"] + base, "startup-deactivated"),
            (["--tpm2", "--runas", "nobody"] + base, "--runas"),
            (["--tpm2", "--tpmstate", "backend-uri=file:///x", "--ctrl", "type=tcp,port=1"], "backend-uri"),
        ]
        for args, word in cases:
            p = self.run_swtpm(*args)
            self.assertEqual(p.returncode, 2, (args, p.stderr))
            self.assertIn(word, p.stderr, args)
        p = subprocess.run([swtpm_program(self.tmp), "chardev", "--tpm2", "--vtpm-proxy"],
                           capture_output=True, text=True, timeout=20)
        self.assertEqual(p.returncode, 2)
        self.assertIn("socket", p.stderr)

    def test_print_capabilities_and_version(self):
        import json
        p = self.run_swtpm("--print-capabilities")
        self.assertEqual(p.returncode, 0, p.stderr)
        caps = json.loads(p.stdout)
        self.assertEqual(caps["type"], "swtpm")
        self.assertIn("tpm-2.0", caps["features"])
        self.assertNotIn("tpm-1.2", caps["features"])
        p = subprocess.run([swtpm_program(self.tmp), "--version"], capture_output=True, text=True)
        self.assertEqual(p.returncode, 0)
        self.assertIn("TPM emulator version", p.stdout)

    def test_daemon_and_pid_file(self):
        state = tempfile.mkdtemp(dir=self.tmp)
        pidfile = os.path.join(self.tmp, "swtpm.pid")
        port = free_port_pair()
        p = self.run_swtpm("--tpm2", "--daemon", "--pid", f"file={pidfile}", "--tpmstate",
                           f"dir={state}", "--server", f"type=tcp,port={port}", "--ctrl",
                           f"type=tcp,port={port + 1}", "--flags", "not-need-init,startup-clear",
                           "--log", f"file={state}/log")
        self.assertEqual(p.returncode, 0, p.stderr)
        for _ in range(100):
            if os.path.exists(pidfile) and open(pidfile).read().strip():
                break
            time.sleep(0.05)
        pid = int(open(pidfile).read())
        try:
            # --daemon returns once the channels listen: usable at once, TPM started
            out = run_tool(["tpm2_getrandom", "--hex", "8"], f"swtpm:host=127.0.0.1,port={port}")
            self.assertEqual(len(bytes.fromhex(out.stdout.decode().strip())), 8)
        finally:
            os.kill(pid, signal.SIGTERM)
        for _ in range(200):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        else:
            self.fail("the daemonized utpmd did not stop on SIGTERM")

    def test_native_ctrl_beside_mssim_is_one_tpm(self):
        state = tempfile.mkdtemp(dir=self.tmp)
        m, q = free_port_pair(), free_port_pair()
        proc = subprocess.Popen([utpmd_binary(), "--state", state, "--mssim", f"127.0.0.1:{m}",
                                 "--server", f"tcp:127.0.0.1:{q}", "--ctrl", f"tcp:127.0.0.1:{q + 1}"],
                                stderr=subprocess.PIPE, text=True)
        try:
            for line in proc.stderr:
                if line.startswith("utpmd: ready"):
                    break
            mssim = f"mssim:host=127.0.0.1,port={m}"
            swtpm = f"swtpm:host=127.0.0.1,port={q}"
            run_tool(["tpm2_startup", "-c"], mssim)
            d = hashlib.sha256(b"one tpm").digest()
            run_tool(["tpm2_pcrextend", f"23:sha256={d.hex()}"], swtpm)
            self.assertEqual(pcr_value(mssim, 23), hashlib.sha256(bytes(32) + d).digest())
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=10)
        self.assertEqual(proc.returncode, 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
