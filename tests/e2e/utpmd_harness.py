"""Shared helpers for the utpmd end-to-end tests: start/stop a private utpmd (free loopback
ports, temporary state directory, stopped by PID), run tpm2-tools against it, and talk the
wire protocols (mssim, raw TPM stream over pty / unix socket) directly.

The utpmd binary comes from the UTPMD environment variable (set by ctest). Setting
UTPM_E2E_MSSIM_SHIM to /work/shared/bench/mssim-swtpm-shim (or any tpm_server-compatible
"PROG -port P" server) runs the mssim tool tests against that server instead: a way to check
the tests' expectations against a reference TPM.
"""
import os
import random
import select
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time

# --- TPM constants (TPM 2.0 Part 2; values as in /usr/include/tss2/tss2_tpm2_types.h) ---
ST_NO_SESSIONS = 0x8001
TPM_RC_SUCCESS = 0x000
TPM_RC_INITIALIZE = 0x100
TPM_RC_COMMAND_SIZE = 0x142
TPM_RC_COMMAND_CODE = 0x143
CC_STARTUP = 0x144
CC_SHUTDOWN = 0x145
CC_GET_RANDOM = 0x17B
SU_CLEAR, SU_STATE = 0, 1

# mssim protocol codes (TCG Part 4 Annex D.3): the same names and values as the C++ constants
# in src/link/mssim.h (kPowerOn -> MS_POWER_ON, ...).
MS_POWER_ON, MS_POWER_OFF = 1, 2
MS_PHYS_PRES_ON, MS_PHYS_PRES_OFF = 3, 4
MS_HASH_START, MS_HASH_DATA, MS_HASH_END = 5, 6, 7
MS_SEND_COMMAND = 8
MS_CANCEL_ON, MS_CANCEL_OFF = 9, 10
MS_NV_ON, MS_NV_OFF = 11, 12
MS_KEY_CACHE_ON, MS_KEY_CACHE_OFF = 13, 14
MS_REMOTE_HANDSHAKE = 15
MS_SET_ALTERNATIVE_RESULT = 16
MS_RESET, MS_RESTART = 17, 18
MS_SESSION_END, MS_STOP = 20, 21
MS_ACK, MS_NACK = 0, 1


def command(cc, params=b"", tag=ST_NO_SESSIONS):
    return struct.pack(">HII", tag, 10 + len(params), cc) + params


def startup(su=SU_CLEAR):
    return command(CC_STARTUP, struct.pack(">H", su))


def get_random(n):
    return command(CC_GET_RANDOM, struct.pack(">H", n))


def rc_of(response):
    assert len(response) >= 10, f"short response {response.hex()}"
    tag, size, rc = struct.unpack(">HII", response[:10])
    assert size == len(response), f"size field {size} != {len(response)} bytes"
    return rc


def free_port_pair():
    """A port P with P and P+1 free on loopback (the mssim command and platform ports)."""
    for _ in range(200):
        p = random.randrange(20000, 60000, 2)
        socks = []
        try:
            for q in (p, p + 1):
                s = socket.socket()
                socks.append(s)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind(("127.0.0.1", q))
            return p
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no free port pair")


def utpmd_binary():
    path = os.environ.get("UTPMD")
    if not path or not os.access(path, os.X_OK):
        raise RuntimeError("set UTPMD to the utpmd binary (ctest does this)")
    return path


def default_rm():
    """Whether a Utpmd() runs with utpmd's resource manager (its default) or as a bare TPM
    (--no-rm). Tests of TPM semantics get the bare TPM unless UTPM_E2E_RM=1 (ctest runs some
    suites both ways: the RM must be invisible to a client that stays connected)."""
    return os.environ.get("UTPM_E2E_RM", "0") == "1"


def capture_args(extra_args):
    """With UTPM_E2E_TRACE_DIR set (ctest sets it for every e2e test), each utpmd records what its
    clients sent and got into a file of its own there, secrets included (test TPMs only), for
    e2e_decode_captures: every pair the e2e runs produced must decode and re-encode
    (tests/e2e/decode_captures_test.py). A test that records a trace itself keeps its own."""
    trace_dir = os.environ.get("UTPM_E2E_TRACE_DIR")
    if not trace_dir or "--trace-file" in extra_args:
        return []
    os.makedirs(trace_dir, exist_ok=True)
    fd, path = tempfile.mkstemp(prefix=f"{os.getpid()}-", suffix=".jsonl", dir=trace_dir)
    os.close(fd)
    return ["--trace-file", path, "--trace-secrets"]


class Utpmd:
    """One private utpmd. Channels: mssim always (platform signals for power cycles), plus a
    pty and/or unix socket when asked. Stops by PID (SIGTERM, then SIGKILL after 10 s).
    rm: True = utpmd's defaults (per-connection resource manager), False = --no-rm (bare TPM),
    None = default_rm()."""

    def __init__(self, pty=False, unix=False, stall_timeout_ms=None, state_dir=None,
                 extra_args=(), rm=None):
        self.owns_state = state_dir is None
        self.state = state_dir or tempfile.mkdtemp(prefix="utpm-e2e-")
        self.pty_link = os.path.join(self.state, "tty") if pty else None
        self.unix_path = os.path.join(self.state, "tpm.sock") if unix else None
        self.stall_timeout_ms = stall_timeout_ms
        self.extra_args = list(extra_args)
        self.rm = default_rm() if rm is None else rm
        self.proc = None
        self.drainer = None
        self.log = []
        self.port = None

    def start(self):
        for attempt in range(5):
            self.port = free_port_pair()
            args = [utpmd_binary(), "--state", self.state, "--mssim", f"127.0.0.1:{self.port}"]
            if self.pty_link:
                args += ["--pty", self.pty_link]
            if self.unix_path:
                args += ["--unix", self.unix_path]
            if self.stall_timeout_ms:
                args += ["--stall-timeout", str(self.stall_timeout_ms)]
            if not self.rm:
                args += ["--no-rm"]
            args += self.extra_args + capture_args(self.extra_args)
            self.proc = subprocess.Popen(args, stderr=subprocess.PIPE, text=True)
            ready = self._wait_ready()
            if ready:
                self.drainer = threading.Thread(target=self._drain, daemon=True)
                self.drainer.start()
                return self
            self.proc.wait(timeout=10)
            self.log.extend(self.proc.stderr.readlines())
            self.proc.stderr.close()
            if "cannot listen" not in "".join(self.log):  # a port race is retried
                break
        raise RuntimeError("utpmd did not start:\n" + "".join(self.log))

    def _wait_ready(self):
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            line = self.proc.stderr.readline()
            if not line:
                return False
            self.log.append(line)
            if line.startswith("utpmd: ready"):
                return True
        return False

    def _drain(self):
        for line in self.proc.stderr:
            self.log.append(line)

    def stop(self, remove_state=True):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        rc = self.proc.returncode if self.proc else None
        if self.proc and self.proc.stderr:
            if self.drainer:
                self.drainer.join(timeout=5)  # it ends at EOF, after the last lines
            try:
                self.proc.stderr.close()
            except (OSError, ValueError):
                pass
        if remove_state and self.owns_state:
            shutil.rmtree(self.state, ignore_errors=True)
        return rc

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    @property
    def mssim_tcti(self):
        return f"mssim:host=127.0.0.1,port={self.port}"

    @property
    def device_tcti(self):
        return f"device:{self.pty_link}"

    def platform(self, *codes):
        """Sends mssim platform signals, each must be acked with 0."""
        with socket.create_connection(("127.0.0.1", self.port + 1), timeout=5) as s:
            for code in codes:
                s.sendall(struct.pack(">I", code))
                assert recv_exact(s, 4) == b"\0\0\0\0", f"platform signal {code} not acked"

    def power_cycle(self):
        self.platform(MS_POWER_OFF, MS_POWER_ON)


class MssimShim(Utpmd):
    """A tpm_server-compatible reference (e.g. swtpm behind the bench shim) in place of utpmd."""

    def __init__(self, shim):
        super().__init__()
        self.shim = shim

    def start(self):
        self.port = free_port_pair()
        self.proc = subprocess.Popen([self.shim, "-port", str(self.port), "-rm"], cwd=self.state,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.drainer = threading.Thread(target=self._drain, daemon=True)
        self.drainer.start()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port + 1), timeout=1).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("shim did not start")


def serve(test, shim=None, check_exit=True):
    """For a unittest.TestCase: utpmd, or the mssim shim at `shim` (UTPM_E2E_MSSIM_SHIM), started
    and given Startup(CLEAR) on a connection of its own; stopped at cleanup, with utpmd's exit
    status checked when check_exit. Returns the server."""
    server = (MssimShim(shim) if shim else Utpmd()).start()

    def stop():
        if server.alive():
            rc = server.stop()
            if check_exit:
                test.assertEqual(rc, 0)

    test.addCleanup(stop)
    c = MssimClient(server.port)
    try:
        test.assertEqual(rc_of(c.execute(startup(SU_CLEAR))), 0)
    finally:
        c.close()
    return server


def esapi_on(test, server):
    """A tpm2-pytss ESAPI context on the server's mssim TCTI, closed at cleanup (before the
    server stops: cleanups run last-registered first)."""
    from tpm2_pytss import ESAPI  # only the pytss tests need the package
    esapi = ESAPI(server.mssim_tcti)
    test.addCleanup(esapi.close)
    return esapi


def recv_exact(sock, n, timeout=5.0):
    sock.settimeout(timeout)
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise EOFError(f"peer closed after {len(data)} of {n} bytes")
        data += chunk
    return data


class MssimClient:
    """The mssim command port, spoken directly (no TSS)."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def send_raw(self, data):
        self.sock.sendall(data)

    def execute(self, cmd, locality=0, announced=None):
        n = len(cmd) if announced is None else announced
        self.sock.sendall(struct.pack(">IBI", MS_SEND_COMMAND, locality, n) + cmd)
        return self.read_response()

    def read_response(self, timeout=5.0):
        size = struct.unpack(">I", recv_exact(self.sock, 4, timeout))[0]
        rsp = recv_exact(self.sock, size, timeout)
        ack = recv_exact(self.sock, 4, timeout)
        assert ack == b"\0\0\0\0", f"bad ack {ack.hex()}"
        return rsp

    def closed_by_peer(self, timeout=2.0):
        self.sock.settimeout(timeout)
        try:
            return self.sock.recv(1) == b""
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False

    def close(self):
        self.sock.close()


class StreamClient:
    """The raw TPM stream over a pty (opened like the device TCTI does) or a unix socket."""

    def __init__(self, pty_link=None, unix_path=None):
        if pty_link:
            self.fd = os.open(pty_link, os.O_RDWR | os.O_NOCTTY)
            self.sock = None
        else:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.connect(unix_path)
            self.fd = self.sock.fileno()

    def write(self, data):
        view = memoryview(data)
        while view:
            n = os.write(self.fd, view)
            view = view[n:]

    def read_some(self, timeout):
        r, _, _ = select.select([self.fd], [], [], timeout)
        if not r:
            return None
        return os.read(self.fd, 65536)

    def read_response(self, timeout=5.0):
        """One TPM response, reassembled by its header size; None on timeout."""
        data = b""
        deadline = time.monotonic() + timeout
        while len(data) < 10 or len(data) < struct.unpack(">I", data[2:6])[0]:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            chunk = self.read_some(left)
            if chunk is None:
                return None
            if chunk == b"":
                raise EOFError("stream closed")
            data += chunk
        size = struct.unpack(">I", data[2:6])[0]
        assert len(data) == size, f"extra bytes after the response: {data[size:].hex()}"
        return data

    def execute(self, cmd, timeout=5.0):
        self.write(cmd)
        return self.read_response(timeout)

    def close(self):
        if self.sock:
            self.sock.close()
        else:
            os.close(self.fd)


def run_tool(args, tcti, stdin=None, check=True, timeout=30):
    """Runs one tpm2-tools command with -T tcti; returns CompletedProcess (text)."""
    p = subprocess.run([args[0], "-T", tcti] + list(args[1:]), input=stdin, capture_output=True,
                       timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError(f"{' '.join(args)} -T {tcti} failed ({p.returncode}):\n"
                             f"{p.stdout.decode(errors='replace')}{p.stderr.decode(errors='replace')}")
    return p
