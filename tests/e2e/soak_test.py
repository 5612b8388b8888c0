#!/usr/bin/python3
"""Soak: four clients at once over mssim (2), the pty and the unix socket run a mixed workload
(random, PCR extends, hashes, HMAC sessions, ECC primary keys, NV write/read, trial policies),
every answer checked (values computed here with hashlib), while a fifth client opens
connections and drops them in the middle of a command. Afterwards utpmd still answers, holds no
more file descriptors than before, and the resource manager holds no object or session.

Bounded in CI (UTPM_SOAK_COMMANDS=2000 commands, UTPM_SOAK_DROPS=300 drops by default);
bench/soak.sh runs it with 10^5 / 10^4 on the release build and reports RSS over time
(UTPM_SOAK_RSS_REPORT=1 prints the samples; the RSS bound is only asserted there, since the
ASan build's quarantine grows by design).

Run: UTPMD=build/host-debug/src/host/utpmd python3 tests/e2e/soak_test.py
"""
import hashlib
import os
import socket
import struct
import threading
import time
import unittest

from tpm_raw import RH_NULL, RH_OWNER, Auth, Tpm, tpm2b, u16, u32
from utpmd_harness import MssimClient, StreamClient, Utpmd, rc_of, startup

COMMANDS = int(os.environ.get("UTPM_SOAK_COMMANDS", "2000"))
DROPS = int(os.environ.get("UTPM_SOAK_DROPS", "300"))
RSS_REPORT = os.environ.get("UTPM_SOAK_RSS_REPORT") == "1"
RSS_LIMIT_GROWTH = float(os.environ.get("UTPM_SOAK_RSS_GROWTH", "0"))  # 0: not asserted

SHA256 = 0x000B
CC_GET_RANDOM, CC_PCR_EXTEND, CC_HASH, CC_START_AUTH, CC_FLUSH = 0x17B, 0x182, 0x17D, 0x176, 0x165
CC_CREATE_PRIMARY, CC_READ_PUBLIC, CC_NV_DEFINE, CC_NV_WRITE, CC_NV_READ = 0x131, 0x173, 0x12A, 0x137, 0x14E
CC_POLICY_PCR, CC_POLICY_GET_DIGEST = 0x17F, 0x189
NV_OWNERWRITE, NV_OWNERREAD = 0x2, 0x20000

ECC_TEMPLATE = (u16(0x23) + u16(SHA256) + u32(0x00040072) + tpm2b(b"")
                + u16(0x0010) + u16(0x0018) + u16(SHA256) + u16(0x0003) + u16(0x0010)
                + tpm2b(b"") + tpm2b(b""))  # ECC P-256 ECDSA signing key, no symmetric


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


class Worker(threading.Thread):
    def __init__(self, name, client, n, index):
        super().__init__(name=name, daemon=True)
        self.client, self.n, self.index = client, n, index
        self.errors, self.done = [], 0

    def fail(self, what):
        self.errors.append(f"{self.name} #{self.done}: {what}")

    def run(self):
        tpm = Tpm(self.client)
        try:
            self.setup(tpm)
            for i in range(self.n):
                self.step(tpm, i)
                self.done += 1
                if len(self.errors) > 5:
                    return
        except Exception as e:  # noqa: BLE001 - reported as the test's failure
            self.fail(f"{type(e).__name__}: {e}")

    def setup(self, tpm):
        r = tpm.call(CC_NV_DEFINE, handles=(RH_OWNER,),
                     params=tpm2b(b"") + tpm2b(u32(self.index) + u16(SHA256) + u32(NV_OWNERWRITE | NV_OWNERREAD)
                                               + tpm2b(b"") + u16(32)), auths=(Auth(),))
        if r.rc != 0:
            self.fail(f"NV_DefineSpace rc {r.rc:#x}")

    def step(self, tpm, i):
        op = i % 7
        if op == 0:
            r = tpm.call(CC_GET_RANDOM, params=u16(16))
            if r.rc != 0 or len(r.reader().tpm2b()) != 16:
                self.fail(f"GetRandom rc {r.rc:#x}")
        elif op == 1:
            r = tpm.call(CC_PCR_EXTEND, handles=(16,), params=u32(1) + u16(SHA256) + bytes(32),
                         auths=(Auth(),))
            if r.rc != 0:
                self.fail(f"PCR_Extend rc {r.rc:#x}")
        elif op == 2:
            data = f"{self.name} {i}".encode()
            r = tpm.call(CC_HASH, params=tpm2b(data) + u16(SHA256) + u32(RH_NULL))
            if r.rc != 0 or r.reader().tpm2b() != hashlib.sha256(data).digest():
                self.fail(f"Hash rc {r.rc:#x}")
        elif op == 3:
            r = tpm.call(CC_START_AUTH, handles=(RH_NULL, RH_NULL),
                         params=tpm2b(os.urandom(32)) + tpm2b(b"") + b"\0" + u16(0x0010) + u16(SHA256),
                         rhandle=True)
            if r.rc != 0:
                self.fail(f"StartAuthSession rc {r.rc:#x}")
            elif tpm.call(CC_FLUSH, params=u32(r.handle)).rc != 0:
                self.fail("FlushContext of a session")
        elif op == 4:
            r = tpm.call(CC_CREATE_PRIMARY, handles=(RH_OWNER,),
                         params=tpm2b(tpm2b(b"") + tpm2b(b"")) + tpm2b(ECC_TEMPLATE) + tpm2b(b"") + u32(0),
                         auths=(Auth(),), rhandle=True)
            if r.rc != 0:
                self.fail(f"CreatePrimary rc {r.rc:#x}")
                return
            rp = tpm.call(CC_READ_PUBLIC, handles=(r.handle,))
            if rp.rc != 0:
                self.fail(f"ReadPublic rc {rp.rc:#x}")
            if tpm.call(CC_FLUSH, params=u32(r.handle)).rc != 0:
                self.fail("FlushContext of a key")
        elif op == 5:
            value = hashlib.sha256(f"{self.name}/{i}".encode()).digest()
            r = tpm.call(CC_NV_WRITE, handles=(RH_OWNER, self.index), params=tpm2b(value) + u16(0),
                         auths=(Auth(),))
            if r.rc != 0:
                self.fail(f"NV_Write rc {r.rc:#x}")
                return
            r = tpm.call(CC_NV_READ, handles=(RH_OWNER, self.index), params=u16(32) + u16(0),
                         auths=(Auth(),))
            if r.rc != 0 or r.reader().tpm2b() != value:
                self.fail(f"NV_Read rc {r.rc:#x}")
        else:
            # A trial policy session: PolicyPCR over PCR 0 with a given digest, then the digest
            # the spec's formula gives: H(0^32 || TPM_CC_PolicyPCR || pcrs || pcrDigest).
            r = tpm.call(CC_START_AUTH, handles=(RH_NULL, RH_NULL),
                         params=tpm2b(os.urandom(32)) + tpm2b(b"") + b"\3" + u16(0x0010) + u16(SHA256),
                         rhandle=True)
            if r.rc != 0:
                self.fail(f"StartAuthSession(trial) rc {r.rc:#x}")
                return
            pcrs = u32(1) + u16(SHA256) + b"\3" + b"\1\0\0"
            pcr_digest = hashlib.sha256(f"{i}".encode()).digest()
            if tpm.call(CC_POLICY_PCR, handles=(r.handle,), params=tpm2b(pcr_digest) + pcrs).rc != 0:
                self.fail("PolicyPCR")
            g = tpm.call(CC_POLICY_GET_DIGEST, handles=(r.handle,))
            want = hashlib.sha256(bytes(32) + u32(CC_POLICY_PCR) + pcrs + pcr_digest).digest()
            if g.rc != 0 or g.reader().tpm2b() != want:
                self.fail("PolicyGetDigest differs from the spec's formula")
            if tpm.call(CC_FLUSH, params=u32(r.handle)).rc != 0:
                self.fail("FlushContext of a trial session")


class Dropper(threading.Thread):
    """Opens a connection, sends part of (or a whole) command, closes without reading."""

    def __init__(self, port, unix_path, n):
        super().__init__(name="dropper", daemon=True)
        self.port, self.unix_path, self.n = port, unix_path, n
        self.errors, self.done = [], 0

    def run(self):
        cmd = struct.pack(">HII", 0x8001, 12, CC_GET_RANDOM) + u16(32)
        try:
            for i in range(self.n):
                if i % 2:
                    s = socket.create_connection(("127.0.0.1", self.port), timeout=5)
                    frame = struct.pack(">IBI", 8, 0, len(cmd)) + cmd  # mssim SEND_COMMAND
                else:
                    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                    s.connect(self.unix_path)
                    frame = cmd
                s.sendall(frame[:(i * 7) % len(frame) + 1])  # 1 byte .. the whole frame
                s.close()
                self.done += 1
        except Exception as e:  # noqa: BLE001
            self.errors.append(f"dropper #{self.done}: {type(e).__name__}: {e}")


class Soak(unittest.TestCase):
    def test_mixed_clients_and_dropped_connections(self):
        d = Utpmd(pty=True, unix=True, rm=True).start()  # utpmd as users run it
        try:
            pid = d.proc.pid
            c = MssimClient(d.port)
            self.assertEqual(rc_of(c.execute(startup())), 0)
            c.close()
            time.sleep(0.2)
            fds_before = fd_count(pid)
            clients = [MssimClient(d.port), MssimClient(d.port), StreamClient(pty_link=d.pty_link),
                       StreamClient(unix_path=d.unix_path)]
            names = ["mssim-a", "mssim-b", "pty", "unix"]
            workers = [Worker(n, cl, COMMANDS // 4, 0x01500100 + k)
                       for k, (n, cl) in enumerate(zip(names, clients))]
            dropper = Dropper(d.port, d.unix_path, DROPS)
            samples = [(0, rss_kb(pid))]
            t0 = time.monotonic()
            for t in workers + [dropper]:
                t.start()
            while any(t.is_alive() for t in workers + [dropper]):
                time.sleep(0.5)
                samples.append((round(time.monotonic() - t0, 1), rss_kb(pid)))
            for cl in clients:
                cl.close()
            errors = [e for t in workers + [dropper] for e in t.errors]
            self.assertEqual(errors, [])
            self.assertEqual(sum(w.done for w in workers), 4 * (COMMANDS // 4))
            self.assertEqual(dropper.done, DROPS)
            # Everything closed: utpmd is back to its descriptors and still answers.
            deadline = time.monotonic() + 10
            while fd_count(pid) > fds_before and time.monotonic() < deadline:
                time.sleep(0.1)
            self.assertLessEqual(fd_count(pid), fds_before, "file descriptors leaked")
            c = MssimClient(d.port)
            r = Tpm(c).call(0x17A, params=u32(1) + u32(0x80000000) + u32(16))  # TPM_CAP_HANDLES
            c.close()
            self.assertEqual(r.rc, 0)
            self.assertEqual(r.params[5:9], u32(0), "transient objects left behind")
            elapsed = time.monotonic() - t0
            if RSS_REPORT:
                print(f"{COMMANDS} commands + {DROPS} drops in {elapsed:.1f} s; RSS kB over time: "
                      + " ".join(f"{t}s:{kb}" for t, kb in samples[:: max(1, len(samples) // 20)]))
            if RSS_LIMIT_GROWTH:
                # After the first fifth (warm-up: allocator pools, first keys), RSS stays flat.
                warm = samples[max(1, len(samples) // 5)][1]
                self.assertLessEqual(samples[-1][1], warm * (1 + RSS_LIMIT_GROWTH),
                                     f"RSS grew from {warm} to {samples[-1][1]} kB")
        finally:
            self.assertEqual(d.stop(), 0)


if __name__ == "__main__":
    unittest.main()
