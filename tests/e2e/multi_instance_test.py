"""One utpmd serving several TPM instances (--instance NAME,state=DIR,...): each instance
answers on its own sockets with its own engine, its state is its own (NV, PCRs) and survives a
restart, malformed input / dropped connections / STOP on one instance leave the others alone,
each instance's swtpm control channel drives its own TPM (CMD_INIT, SET_DATAFD, CMD_SHUTDOWN),
and a state directory is never served twice (two instances, or a second utpmd).

Also the TCP delayed-ACK regression check of the per-command floor: a client with Nagle on
that sends the mssim prefix and the command in two writes (what tcti-mssim does) must not wait
for the server's delayed ACK (~40 ms) on every command.

Expected PCR values come from hashlib; wire constants from TPM 2.0 Part 2 and swtpm's public
tpm_ioctl.h (as in swtpm_test.py).
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
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from utpmd_harness import (MS_SEND_COMMAND, MS_STOP, MssimClient, free_port_pair,  # noqa: E402
                           get_random, rc_of, recv_exact, run_tool, startup, utpmd_binary)

CMD_GET_CAPABILITY, CMD_INIT, CMD_SHUTDOWN, CMD_SET_DATAFD = 1, 2, 3, 16
TPM_RC_INITIALIZE = 0x100
TPM_RC_FAILURE = 0x101
CC_PCR_EXTEND, CC_PCR_READ = 0x182, 0x17E
TPM_ALG_SHA256 = 0x000B
NV_INDEX = 0x01500016


def pcr_extend_cmd(pcr, digest):
    auth = struct.pack(">IHBH", 0x40000009, 0, 0, 0)  # TPM_RS_PW, empty password
    params = struct.pack(">IH", 1, TPM_ALG_SHA256) + digest
    body = struct.pack(">I", pcr) + struct.pack(">I", len(auth)) + auth + params
    return struct.pack(">HII", 0x8002, 10 + len(body), CC_PCR_EXTEND) + body


def pcr_read_cmd(pcr):
    bitmap = bytearray(3)
    bitmap[pcr // 8] |= 1 << (pcr % 8)
    params = struct.pack(">IHB", 1, TPM_ALG_SHA256, 3) + bytes(bitmap)
    return struct.pack(">HII", 0x8001, 10 + len(params), CC_PCR_READ) + params


def pcr_read_value(rsp):
    assert rc_of(rsp) == 0, rsp.hex()
    # updateCounter, TPML_PCR_SELECTION (count, hash, sizeofSelect, 3 bytes), TPML_DIGEST
    off = 10 + 4 + 4 + 2 + 1 + 3
    count = struct.unpack(">I", rsp[off:off + 4])[0]
    assert count == 1, rsp.hex()
    size = struct.unpack(">H", rsp[off + 4:off + 6])[0]
    return rsp[off + 6:off + 6 + size]


class Multi:
    """One utpmd with instances {name: {"state": dir, "port": p, ...}}, stopped by PID."""

    def __init__(self, tmp, specs, extra_args=()):
        self.tmp = tmp
        self.specs = specs
        self.extra_args = list(extra_args)
        self.proc = None
        self.log = []
        self.drainer = None

    def args(self):
        a = [utpmd_binary()]
        for name, s in self.specs.items():
            text = f"{name},state={s['state']}"
            for key in ("port", "unix", "ctrl", "server"):
                if key in s:
                    text += f",{key}={s[key]}"
            a += ["--instance", text]
        return a + self.extra_args

    def start(self, expect_ready=True):
        self.proc = subprocess.Popen(self.args(), stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = self.proc.stderr.readline()
            if not line:
                break
            self.log.append(line)
            if line.startswith("utpmd: ready"):
                self.drainer = threading.Thread(target=self._drain, daemon=True)
                self.drainer.start()
                return self
        if expect_ready:
            self.stop()
            raise RuntimeError("utpmd did not start:\n" + "".join(self.log))
        return self

    def port_race(self):
        return any("cannot listen" in line for line in self.log)

    def _drain(self):
        for line in self.proc.stderr:
            self.log.append(line)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.drainer:
            self.drainer.join(timeout=5)
        elif self.proc and self.proc.stderr and not self.proc.stderr.closed:
            self.log.extend(self.proc.stderr.readlines())
        if self.proc and self.proc.stderr:
            try:
                self.proc.stderr.close()
            except (OSError, ValueError):
                pass
        return self.proc.returncode if self.proc else None

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def tcti(self, name):
        return f"mssim:host=127.0.0.1,port={self.specs[name]['port']}"

    def client(self, name):
        return MssimClient(self.specs[name]["port"])


def distinct_port_pairs(n):
    ports = []
    while len(ports) < n:
        p = free_port_pair()
        if all(abs(p - q) > 1 for q in ports):
            ports.append(p)
    return ports


class Base(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="utpm-multi-")
        self.daemons = []

    def tearDown(self):
        for d in self.daemons:
            d.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def specs(self, names, **extra):
        ports = distinct_port_pairs(len(names))
        specs = {}
        for name, port in zip(names, ports):
            specs[name] = {"state": os.path.join(self.tmp, name), "port": port}
            specs[name].update(extra.get(name, {}))
        return specs

    def daemon(self, specs, **kw):
        for attempt in range(5):
            d = Multi(self.tmp, specs, **kw)
            self.daemons.append(d)
            try:
                return d.start()
            except RuntimeError:
                if not d.port_race() or attempt == 4 or any("port" not in s for s in specs.values()):
                    raise
            # Another test took a port between the pick and the bind: new ports, same states.
            for s, port in zip(specs.values(), distinct_port_pairs(len(specs))):
                s["port"] = port

    def started(self, d, names):
        for name in names:
            c = d.client(name)
            self.assertEqual(rc_of(c.execute(startup())), 0, name)
            c.close()


class Instances(Base):
    def test_each_answers_with_its_own_pcrs(self):
        names = ["a", "b", "c"]
        d = self.daemon(self.specs(names))
        self.started(d, names)
        digest = hashlib.sha256(b"instance a only").digest()
        ca = d.client("a")
        self.assertEqual(rc_of(ca.execute(pcr_extend_cmd(16, digest))), 0)
        expected_a = hashlib.sha256(bytes(32) + digest).digest()
        self.assertEqual(pcr_read_value(ca.execute(pcr_read_cmd(16))), expected_a)
        for name in ("b", "c"):
            c = d.client(name)
            self.assertEqual(pcr_read_value(c.execute(pcr_read_cmd(16))), bytes(32), name)
            rsp = c.execute(get_random(16))
            self.assertEqual(rc_of(rsp), 0)
            self.assertEqual(len(rsp), 12 + 16)
            c.close()
        ca.close()
        # The channels are named per instance in the log.
        text = "".join(d.log)
        for name in names:
            self.assertIn(f"utpmd: instance {name}: state ", text)

    def test_threads_spread_instances(self):
        """--threads 2: instances on two poll loops; each answers with its own PCRs, a command
        on one loop runs while the other loop serves, SIGTERM stops both (exit 0)."""
        names = ["a", "b", "c", "d"]
        d = self.daemon(self.specs(names), extra_args=["--threads", "2"])
        self.assertIn("4 instances on 2 thread(s)", "".join(d.log))
        self.started(d, names)
        clients = {n: d.client(n) for n in names}
        for i, n in enumerate(names):
            digest = hashlib.sha256(n.encode()).digest()
            for _ in range(i + 1):
                self.assertEqual(rc_of(clients[n].execute(pcr_extend_cmd(16, digest))), 0)
        for i, n in enumerate(names):
            digest = hashlib.sha256(n.encode()).digest()
            expected = bytes(32)
            for _ in range(i + 1):
                expected = hashlib.sha256(expected + digest).digest()
            self.assertEqual(pcr_read_value(clients[n].execute(pcr_read_cmd(16))), expected, n)
            clients[n].close()
        self.assertEqual(d.stop(), 0)
        self.assertIn("utpmd: stopped", "".join(d.log))

    def test_nv_isolated_and_kept_across_restart(self):
        names = ["a", "b"]
        specs = self.specs(names)
        d = self.daemon(specs)
        for name in names:
            run_tool(["tpm2_startup", "-c"], d.tcti(name))
        run_tool(["tpm2_nvdefine", "-C", "o", "-s", "8", "-a", "ownerread|ownerwrite",
                  hex(NV_INDEX)], d.tcti("a"))
        run_tool(["tpm2_nvwrite", "-C", "o", "-i", "-", hex(NV_INDEX)], d.tcti("a"),
                 stdin=b"abcdefgh")
        self.assertNotEqual(run_tool(["tpm2_nvreadpublic", hex(NV_INDEX)], d.tcti("b"),
                                     check=False).returncode, 0)
        self.assertEqual(d.stop(), 0)
        d2 = self.daemon(specs)
        for name in names:
            run_tool(["tpm2_startup", "-c"], d2.tcti(name))
        out = run_tool(["tpm2_nvread", "-C", "o", "-s", "8", hex(NV_INDEX)], d2.tcti("a")).stdout
        self.assertEqual(out, b"abcdefgh")
        self.assertNotEqual(run_tool(["tpm2_nvreadpublic", hex(NV_INDEX)], d2.tcti("b"),
                                     check=False).returncode, 0)

    def test_bad_input_on_one_leaves_the_others_alone(self):
        names = ["a", "b"]
        unix_a = os.path.join(self.tmp, "a.sock")
        d = self.daemon(self.specs(names, a={"unix": unix_a}))
        self.started(d, names)
        cb = d.client("b")
        self.assertEqual(rc_of(cb.execute(get_random(8))), 0)
        # a: garbage on the command port, a half command then a reset, garbage on the unix
        # stream, a command too large, and a STOP: none of it may reach b.
        for payload in (b"\xff" * 64, struct.pack(">IBI", MS_SEND_COMMAND, 0, 100) + b"\x80\x01"):
            s = socket.create_connection(("127.0.0.1", d.specs["a"]["port"]), timeout=5)
            s.sendall(payload)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()  # RST
        u = socket.socket(socket.AF_UNIX)
        u.connect(unix_a)
        u.sendall(b"\x00garbage\x80\x01\x00\x00\x00\x01")
        u.close()
        ca = d.client("a")
        rsp = ca.execute(get_random(8) + bytes(5000), announced=None)
        self.assertEqual(rc_of(rsp), 0x142)  # TPM_RC_COMMAND_SIZE
        ca.close()
        stop = d.client("a")
        stop.send_raw(struct.pack(">I", MS_STOP))
        self.assertTrue(stop.closed_by_peer(), "STOP closes that connection")
        stop.close()
        time.sleep(0.2)
        self.assertTrue(d.alive(), "a STOP of one instance must not stop the daemon")
        self.assertEqual(rc_of(cb.execute(get_random(8))), 0, "b's open connection still served")
        cb.close()
        for name in names:
            c = d.client(name)
            self.assertEqual(rc_of(c.execute(get_random(8))), 0, name)
            c.close()

    def test_connection_bound_is_per_instance(self):
        names = ["a", "b"]
        d = self.daemon(self.specs(names), extra_args=["--max-connections", "2"])
        self.started(d, names)
        held = [d.client("a"), d.client("a")]
        for c in held:
            self.assertEqual(rc_of(c.execute(get_random(4))), 0)
        extra = d.client("a")
        self.assertTrue(extra.closed_by_peer(), "a's third connection is refused")
        extra.close()
        for _ in range(2):  # b has its own bound
            c = d.client("b")
            self.assertEqual(rc_of(c.execute(get_random(4))), 0)
            c.close()
        for c in held:
            c.close()


class SwtpmPerInstance(Base):
    def ctrl(self, path, cmd, payload=b"", reply=4, fds=None):
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(5)
            s.connect(path)
            msg = struct.pack(">I", cmd) + payload
            if fds:
                socket.send_fds(s, [msg], fds)
            else:
                s.sendall(msg)
            return recv_exact(s, reply)

    def test_control_channel_and_datafd_per_instance(self):
        names = ["vm1", "vm2"]
        ctrl = {n: os.path.join(self.tmp, f"{n}.ctrl") for n in names}
        d = self.daemon(self.specs(names, vm1={"ctrl": "unix:" + ctrl["vm1"]},
                                   vm2={"ctrl": "unix:" + ctrl["vm2"]}))
        data = {}
        for n in names:
            res, caps = struct.unpack(">II", self.ctrl(ctrl[n], CMD_GET_CAPABILITY, reply=8))
            self.assertEqual(res, 0)
            self.assertEqual(caps & 0x348F, 0x348F, f"{n} caps {caps:#x}")  # what QEMU requires
            self.assertEqual(struct.unpack(">I", self.ctrl(ctrl[n], CMD_INIT, b"\0\0\0\0"))[0], 0)
            ours, theirs = socket.socketpair()
            res = self.ctrl(ctrl[n], CMD_SET_DATAFD, fds=[theirs.fileno()])
            theirs.close()
            self.assertEqual(struct.unpack(">I", res)[0], 0)
            data[n] = ours

        def execute(n, cmd):
            s = data[n]
            s.settimeout(5)
            s.sendall(cmd)
            head = recv_exact(s, 10)
            return head + recv_exact(s, struct.unpack(">I", head[2:6])[0] - 10)

        for n in names:
            self.assertEqual(rc_of(execute(n, get_random(8))), TPM_RC_INITIALIZE, n)
            self.assertEqual(rc_of(execute(n, startup())), 0, n)
        digest = hashlib.sha256(b"vm1").digest()
        self.assertEqual(rc_of(execute("vm1", pcr_extend_cmd(10, digest))), 0)
        self.assertEqual(pcr_read_value(execute("vm1", pcr_read_cmd(10))),
                         hashlib.sha256(bytes(32) + digest).digest())
        self.assertEqual(pcr_read_value(execute("vm2", pcr_read_cmd(10))), bytes(32))
        # vm1's CMD_SHUTDOWN: vm1's TPM stops, the daemon and vm2 go on.
        self.assertEqual(struct.unpack(">I", self.ctrl(ctrl["vm1"], CMD_SHUTDOWN))[0], 0)
        time.sleep(0.2)
        self.assertTrue(d.alive())
        self.assertEqual(rc_of(execute("vm2", get_random(8))), 0)
        c = d.client("vm1")  # vm1's mssim port answers, its TPM is off until CMD_INIT
        c.close()
        for s in data.values():
            s.close()


class StateDirectories(Base):
    def test_same_state_twice_in_one_daemon(self):
        specs = self.specs(["a", "b"])
        specs["b"]["state"] = specs["a"]["state"] + "/."  # the same directory, spelled otherwise
        d = Multi(self.tmp, specs)
        d.start(expect_ready=False)
        self.assertEqual(d.proc.wait(timeout=15), 2)
        d.stop()
        self.assertIn("instances a and b have the same state directory", "".join(d.log))

    def test_state_in_use_by_another_utpmd(self):
        specs = self.specs(["a", "b"])
        self.daemon(specs)
        other = self.specs(["c", "b"])
        other["b"]["state"] = specs["b"]["state"]
        d = Multi(self.tmp, other)
        d.start(expect_ready=False)
        self.assertEqual(d.proc.wait(timeout=15), 1)
        d.stop()
        text = "".join(d.log)
        self.assertIn(f"state directory {specs['b']['state']} is in use by another utpmd", text)
        self.assertIn("instance b not started", text)
        # A single-instance utpmd on an instance's directory is refused too.
        port = free_port_pair()
        p = subprocess.run([utpmd_binary(), "--state", specs["a"]["state"], "--mssim",
                            f"127.0.0.1:{port}"], stderr=subprocess.PIPE, text=True, timeout=15)
        self.assertEqual(p.returncode, 1)
        self.assertIn("in use by another utpmd", p.stderr)

    def test_usage_errors(self):
        for args in (["--instance", "a"],                                  # no state
                     ["--instance", "a,state=" + self.tmp + "/a"],         # no channel
                     ["--instance", "a,state=" + self.tmp + "/a,port=1", "--state", "x"],
                     ["--instance", "a,state=" + self.tmp + "/a,bogus=1"],
                     ["--instance", "a b,state=" + self.tmp + "/a,port=2000"],
                     ["--threads", "2"]):                                  # threads need instances
            p = subprocess.run([utpmd_binary()] + args, stderr=subprocess.PIPE, text=True,
                               timeout=15)
            self.assertEqual(p.returncode, 2, (args, p.stderr))
            self.assertIn("--instance", p.stderr)
        a = f"a,state={self.tmp}/a,port=2000"
        p = subprocess.run([utpmd_binary(), "--instance", a, "--instance", a],
                           stderr=subprocess.PIPE, text=True, timeout=15)
        self.assertEqual(p.returncode, 2)
        self.assertIn("two instances named a", p.stderr)

    def test_instances_file(self):
        specs = self.specs(["x", "y"])
        path = os.path.join(self.tmp, "instances")
        with open(path, "w") as f:
            f.write("# one line per TPM\n\n")
            for n, s in specs.items():
                f.write(f"  {n},state={s['state']},port={s['port']}   # VM {n}\n")
        d = self.daemon({}, extra_args=["--instances", path])
        d.specs = specs
        self.started(d, ["x", "y"])


class DelayedAck(Base):
    def test_nagle_client_two_writes_no_40ms_stall(self):
        """200 round trips of a client that has Nagle on and writes the mssim prefix and the
        command separately: with the server's delayed ACK (no QUICKACK after the partial read)
        each would wait ~40 ms (>= 8 s in all). A functional bound, not a speed goal."""
        d = self.daemon(self.specs(["a"]))
        self.started(d, ["a"])
        s = socket.create_connection(("127.0.0.1", d.specs["a"]["port"]), timeout=5)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 0)
        cmd = get_random(8)
        n = 200
        t0 = time.monotonic()
        for _ in range(n):
            s.sendall(struct.pack(">IBI", MS_SEND_COMMAND, 0, len(cmd)))
            s.sendall(cmd)
            size = struct.unpack(">I", recv_exact(s, 4))[0]
            self.assertEqual(rc_of(recv_exact(s, size)), 0)
            recv_exact(s, 4)
        elapsed = time.monotonic() - t0
        s.close()
        self.assertLess(elapsed, n * 0.040 / 2,
                        f"{n} round trips took {elapsed:.2f} s: delayed-ACK stalls are back")


if __name__ == "__main__":
    unittest.main()
