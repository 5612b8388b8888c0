#!/usr/bin/python3
"""Power cuts on the host: utpmd is killed with SIGKILL at random moments of a workload that
changes persistent state with every command (an NV counter, an NV index, the owner
authorization). After each restart the TPM must hold exactly the last acknowledged state, or
the state of the one command that was in flight when the kill came (its commit may or may not
have finished): never an older state, never a corrupt store, never failure mode.

The workload's expected values are plain Python bookkeeping of what the TPM acknowledged.
UTPM_KILL_CUTS sets the number of cuts (CI: a bounded 30; a campaign: a few hundred).

Run: UTPMD=build/host-debug/src/host/utpmd python3 tests/e2e/kill9_test.py
"""
import os
import random
import shutil
import signal
import struct
import threading
import time
import unittest

from tpm_raw import RH_OWNER, Auth, Tpm, tpm2b, u16, u32
from utpmd_harness import MssimClient, Utpmd, rc_of, startup

CC_NV_DEFINE, CC_NV_INCREMENT, CC_NV_WRITE, CC_NV_READ = 0x12A, 0x134, 0x137, 0x14E
CC_CHANGE_AUTH = 0x129
SHA256 = 0x000B
NV_OWNERWRITE, NV_OWNERREAD, NT_COUNTER = 0x2, 0x20000, 1 << 4
COUNTER, DATA = 0x01500010, 0x01500011
RC_BAD_AUTH_S1 = 0x9A2  # TPM_RC_BAD_AUTH, session 1

CUTS = int(os.environ.get("UTPM_KILL_CUTS", "30"))


def nv_public(index, attrs, size):
    return tpm2b(u32(index) + u16(SHA256) + u32(attrs) + tpm2b(b"") + u16(size))


class Cut(Exception):
    """The connection died: the daemon was killed."""


class Workload:
    """What the TPM acknowledged, and what was in flight when the connection died."""

    def __init__(self):
        self.counter = 1        # acknowledged counter value
        self.data = b"\0" * 8   # acknowledged NV contents
        self.owner = b""        # acknowledged ownerAuth
        self.in_flight = None   # (kind, value) of the command sent last, unanswered
        self.seq = 0

    def call(self, tpm, *args, **kw):
        try:
            return tpm.call(*args, **kw)
        except (OSError, EOFError, AssertionError, struct.error) as e:
            raise Cut() from e

    def step(self, tpm):
        self.seq += 1
        kind = random.choice(("counter", "data", "owner"))
        pw = (Auth(password=self.owner),)
        if kind == "counter":
            self.in_flight = ("counter", self.counter + 1)
            r = self.call(tpm, CC_NV_INCREMENT, handles=(RH_OWNER, COUNTER), auths=pw)
            assert r.rc == 0, f"NV_Increment rc {r.rc:#x}"
            self.counter += 1
        elif kind == "data":
            value = struct.pack(">Q", self.seq)
            self.in_flight = ("data", value)
            r = self.call(tpm, CC_NV_WRITE, handles=(RH_OWNER, DATA), params=tpm2b(value) + u16(0),
                          auths=pw)
            assert r.rc == 0, f"NV_Write rc {r.rc:#x}"
            self.data = value
        else:
            value = b"owner-%d" % self.seq
            self.in_flight = ("owner", value)
            r = self.call(tpm, CC_CHANGE_AUTH, handles=(RH_OWNER,), params=tpm2b(value), auths=pw)
            assert r.rc == 0, f"HierarchyChangeAuth rc {r.rc:#x}"
            self.owner = value
        self.in_flight = None


def read_nv(tpm, index, size, owner):
    r = tpm.call(CC_NV_READ, handles=(RH_OWNER, index), params=u16(size) + u16(0),
                 auths=(Auth(password=owner),))
    return r.rc, (r.reader().tpm2b() if r.rc == 0 else None)


class KillNine(unittest.TestCase):
    def test_acknowledged_state_survives_sigkill(self):
        w = Workload()
        rng = random.Random()
        cuts = in_flight_seen = 0
        d = Utpmd().start()
        state = d.state
        self.addCleanup(shutil.rmtree, state, True)
        try:
            c = MssimClient(d.port)
            tpm = Tpm(c)
            self.assertEqual(rc_of(c.execute(startup())), 0)
            for index, attrs in ((COUNTER, NV_OWNERWRITE | NV_OWNERREAD | NT_COUNTER),
                                 (DATA, NV_OWNERWRITE | NV_OWNERREAD)):
                r = tpm.call(CC_NV_DEFINE, handles=(RH_OWNER,),
                             params=tpm2b(b"") + nv_public(index, attrs, 8), auths=(Auth(),))
                self.assertEqual(r.rc, 0, f"NV_DefineSpace {index:#x}")
            self.assertEqual(tpm.call(CC_NV_INCREMENT, handles=(RH_OWNER, COUNTER),
                                      auths=(Auth(),)).rc, 0)
            self.assertEqual(tpm.call(CC_NV_WRITE, handles=(RH_OWNER, DATA),
                                      params=tpm2b(w.data) + u16(0), auths=(Auth(),)).rc, 0)
            while cuts < CUTS:
                # The kill lands anywhere in the next 5-150 ms of commands.
                timer = threading.Timer(rng.uniform(0.005, 0.15),
                                        lambda p=d.proc: p.send_signal(signal.SIGKILL))
                timer.start()
                try:
                    while True:
                        w.step(tpm)
                except Cut:
                    pass
                timer.join()
                d.proc.wait(timeout=10)
                self.assertEqual(d.proc.returncode, -signal.SIGKILL)
                d.stop(remove_state=False)
                c.close()
                cuts += 1

                d = Utpmd(state_dir=state).start()
                c = MssimClient(d.port)
                tpm = Tpm(c)
                self.assertEqual(rc_of(c.execute(startup())), 0, f"cut {cuts}: Startup")
                if self.check_state(tpm, w, cuts):
                    in_flight_seen += 1
                w.in_flight = None
        finally:
            c.close()
            d.stop(remove_state=False)
        print(f"{cuts} cuts, {w.seq} commands; the command in flight had taken effect after "
              f"{in_flight_seen} of them")

    def check_state(self, tpm, w, cut):
        flight = w.in_flight or (None, None)
        # The owner authorization: the acknowledged one, or the one in flight.
        owners = [w.owner] + ([flight[1]] if flight[0] == "owner" else [])
        for owner in owners:
            rc, value = read_nv(tpm, COUNTER, 8, owner)
            if rc != RC_BAD_AUTH_S1:
                break
        self.assertEqual(rc, 0, f"cut {cut}: NV_Read of the counter rc {rc:#x}")
        w.owner = owner
        counter = struct.unpack(">Q", value)[0]
        allowed = {w.counter} | ({flight[1]} if flight[0] == "counter" else set())
        self.assertIn(counter, allowed, f"cut {cut}: counter {counter}, acknowledged {w.counter}")
        w.counter = counter
        rc, value = read_nv(tpm, DATA, 8, w.owner)
        self.assertEqual(rc, 0, f"cut {cut}: NV_Read of the data index rc {rc:#x}")
        allowed = {w.data} | ({flight[1]} if flight[0] == "data" else set())
        self.assertIn(value, allowed, f"cut {cut}: data {value.hex()}, acknowledged {w.data.hex()}")
        landed = (flight[0] == "owner" and w.owner == flight[1]) or \
            (flight[0] == "counter" and counter == flight[1]) or (flight[0] == "data" and value == flight[1])
        w.data = value
        return landed


if __name__ == "__main__":
    unittest.main()
