"""Boots the utpm firmware in QEMU (netduinoplus2) and talks to it over the emulated UART.

QEMU's USART1 is wired to a host pty (`-serial pty`); the persistent store is a host file
reached through ARM semihosting, so state survives a QEMU restart. Every QEMU this module
starts is stopped by its PID.
"""
import os
import re
import select
import signal
import struct
import subprocess
import termios
import time
import tty

CC_FIRMWARE_DIAGNOSTICS = 0x2000F001
DIAG_FIELDS = ("format", "stack_reserve", "stack_high_water", "static_ram", "last_command",
               "last_cost", "uptime_ms", "uart_overruns", "boot_count", "store_used", "cost_unit", "features", "last_cost_high")
FEATURE_ENGINE = 1 << 0
FEATURE_LINK_DECODER = 1 << 1
FEATURE_SECURE_STORE = 1 << 2


def command(cc, params=b"", tag=0x8001):
    return struct.pack(">HII", tag, 10 + len(params), cc) + params


def parse_response(rsp):
    tag, size, rc = struct.unpack(">HII", rsp[:10])
    return tag, size, rc, rsp[10:]


class QemuFirmware:
    def __init__(self, elf, workdir, nv_path, qemu="qemu-system-arm", icount=True):
        self.elf = elf
        self.workdir = workdir
        self.nv_path = nv_path
        self.qemu = qemu
        self.icount = icount
        self.proc = None
        self.fd = None
        self.pty = None
        self.log_path = os.path.join(workdir, "qemu.log")
        self.starts = 0

    # ---- lifecycle ----
    def start(self, timeout=20.0):
        self.starts += 1
        log = open(self.log_path, "ab")
        log.write(f"==== start {self.starts} ====\n".encode())
        log.flush()
        offset = os.path.getsize(self.log_path)
        cmd = [self.qemu, "-M", "netduinoplus2", "-nographic", "-monitor", "none",
               "-serial", "pty", "-kernel", self.elf,
               "-semihosting-config", f"enable=on,target=native,arg=utpm,arg=nv={self.nv_path}"]
        if self.icount:
            # 1 ns of virtual time per instruction: SysTick then counts instructions.
            cmd += ["-icount", "shift=0"]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                     cwd=self.workdir)
        log.close()
        deadline = time.monotonic() + timeout
        while self.pty is None:
            if self.proc.poll() is not None:
                raise RuntimeError(f"QEMU exited early ({self.proc.returncode}):\n{self.log_tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"QEMU did not report its pty:\n{self.log_tail()}")
            with open(self.log_path, "rb") as f:
                f.seek(offset)
                m = re.search(rb"char device redirected to (/dev/pts/\d+)", f.read())
            if m:
                self.pty = m.group(1).decode()
            else:
                time.sleep(0.05)
        self.fd = os.open(self.pty, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        # Raw 8N1, no echo, no CR/LF translation: the TPM stream is binary. The fd stays open
        # for the life of this QEMU so the setting persists for other openers (socat, TCTIs).
        tty.setraw(self.fd, termios.TCSANOW)
        try:
            self.wait_ready(deadline)
        except BaseException:
            self.stop()  # a QEMU that never answered is still ours: do not leave it running
            raise

    def wait_ready(self, deadline):
        # The firmware answers diagnostics as soon as its main loop runs.
        while True:
            try:
                self.diagnostics(timeout=0.5)
                # Earlier probes may have been answered late: start the tests on a quiet line.
                self.drain(0.3)
                return
            except TimeoutError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"firmware did not come up:\n{self.log_tail()}")
                self.drain()

    def stop(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None
        self.pty = None

    def restart(self):
        self.stop()
        self.start()

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, n=4000):
        try:
            with open(self.log_path, "rb") as f:
                return f.read()[-n:].decode(errors="replace")
        except OSError:
            return ""

    # ---- byte I/O ----
    def write(self, data, chunk=None, delay=0.0):
        step = chunk or len(data)
        for i in range(0, len(data), step):
            piece = data[i:i + step]
            while piece:
                select.select([], [self.fd], [], 1.0)
                try:
                    n = os.write(self.fd, piece)
                except BlockingIOError:
                    continue
                piece = piece[n:]
            if delay:
                time.sleep(delay)

    def read_exact(self, n, timeout):
        buf = b""
        deadline = time.monotonic() + timeout
        while len(buf) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"wanted {n} bytes, got {len(buf)}: {buf.hex()}")
            r, _, _ = select.select([self.fd], [], [], left)
            if r:
                try:
                    buf += os.read(self.fd, n - len(buf))
                except BlockingIOError:
                    pass
        return buf

    def drain(self, quiet=0.1):
        """Discards whatever arrives until the line has been quiet for `quiet` seconds."""
        got = b""
        while True:
            r, _, _ = select.select([self.fd], [], [], quiet)
            if not r:
                return got
            try:
                got += os.read(self.fd, 4096)
            except BlockingIOError:
                pass

    def read_response(self, timeout=10.0):
        hdr = self.read_exact(10, timeout)
        tag, size, _ = struct.unpack(">HII", hdr)
        if tag not in (0x8001, 0x8002) or not 10 <= size <= 4096:
            raise AssertionError(f"malformed response header {hdr.hex()}")
        return hdr + self.read_exact(size - 10, timeout)

    def transact(self, cmd, timeout=10.0, chunk=None, delay=0.0):
        self.write(cmd, chunk, delay)
        return self.read_response(timeout)

    def diagnostics(self, timeout=5.0):
        rsp = self.transact(command(CC_FIRMWARE_DIAGNOSTICS), timeout=timeout)
        tag, size, rc, body = parse_response(rsp)
        if rc != 0 or len(body) != 4 * len(DIAG_FIELDS):
            raise AssertionError(f"bad diagnostics response {rsp.hex()}")
        d = dict(zip(DIAG_FIELDS, struct.unpack(f">{len(DIAG_FIELDS)}I", body)))
        d["last_cost"] |= d.pop("last_cost_high") << 32
        return d

    def cost_of(self, cmd, timeout=30.0):
        """Runs one command and returns (response, its cost as the firmware measured it)."""
        rsp = self.transact(cmd, timeout=timeout)
        d = self.diagnostics()
        want = struct.unpack(">I", cmd[6:10])[0]
        if d["last_command"] != want:
            raise AssertionError(f"diagnostics describe 0x{d['last_command']:x}, not 0x{want:x}")
        return rsp, d["last_cost"]
