#!/usr/bin/python3
"""Store writes that fail mid-commit (EIO, ENOSPC) under a running utpmd (issue 14).

A test-only LD_PRELOAD shim (tests/e2e/fault/io_fault_shim.c, UTPM_IO_FAULT_SHIM) lets the first
N pwrite/fsync/fdatasync calls on regular files after it is armed through, then fails every
later one with the chosen errno. For N = 0, 1, 2, ... the fault is armed just before the
(k+1)th NV_Increment of a counter that k acknowledged increments brought to k, until N is large
enough for the whole commit to pass. Each time:

* the command that met the failure answers TPM_RC_FAILURE: the engine cannot know what part of
  its commit reached the file, so it enters failure mode (Part 2 TPM_RC_FAILURE "commands not
  being accepted because of a TPM failure"; TPM_RC_NV_UNAVAILABLE and TPM_RC_NV_RATE say that NV
  cannot be written *now* and the command had no effect, which an I/O error in the middle of a
  commit cannot promise). Our reading is in docs/conformance.md ("Store write failures");
* with the fault lifted, the same utpmd keeps answering cleanly: GetTestResult reports the
  failure, every other command TPM_RC_FAILURE, and nothing crashes;
* after a restart without the fault the TPM is at the last acknowledged state or one step after
  it (the failed increment may have become durable before the failing call): the counter reads
  k or k+1, never anything else, the store mounts, and a new increment is kept.

Run: UTPMD=build/host-debug/src/host/utpmd UTPM_IO_FAULT_SHIM=.../libutpm_io_fault_shim.so \\
     python3 tests/e2e/io_fault_test.py
"""
import errno
import os
import struct
import sys
import tempfile
import shutil
import unittest

from tpm_raw import RH_OWNER, Auth, Tpm, nv_define, u16
from utpmd_harness import MssimClient, Utpmd, command, rc_of, startup

CC_NV_INCREMENT, CC_NV_READ, CC_GET_TEST_RESULT = 0x134, 0x14E, 0x17C
NV_OWNERWRITE, NV_OWNERREAD, NT_COUNTER = 0x2, 0x20000, 1 << 4
COUNTER = 0x01500030
RC_SUCCESS, RC_FAILURE = 0x000, 0x101
K = 5
PW = (Auth(password=b""),)


def shim_path():
    p = os.environ.get("UTPM_IO_FAULT_SHIM")
    if not p or not os.path.exists(p):
        raise unittest.SkipTest("UTPM_IO_FAULT_SHIM not built")
    return p


class Session:
    """utpmd on `state`, optionally under the shim controlled by `ctl`."""

    def __init__(self, test, state, ctl=None):
        saved = {k: os.environ.get(k) for k in ("LD_PRELOAD", "UTPM_FAULT_FILE", "ASAN_OPTIONS")}
        try:
            if ctl:
                os.environ["LD_PRELOAD"] = shim_path()
                os.environ["UTPM_FAULT_FILE"] = ctl
                # The ASan runtime is linked into utpmd; a preloaded library comes before it.
                asan = os.environ.get("ASAN_OPTIONS", "")
                os.environ["ASAN_OPTIONS"] = (asan + ":" if asan else "") + "verify_asan_link_order=0"
            self.d = Utpmd(state_dir=state).start()
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        self.c = MssimClient(self.d.port)
        self.tpm = Tpm(self.c)
        self.test = test

    def counter(self):
        r = self.tpm.call(CC_NV_READ, handles=(RH_OWNER, COUNTER), params=u16(8) + u16(0), auths=PW,
                          check=False)
        self.test.assertEqual(r.rc, RC_SUCCESS, f"NV_Read: rc {r.rc:#x}")
        return struct.unpack(">Q", r.reader().tpm2b())[0]

    def increment(self):
        return self.tpm.call(CC_NV_INCREMENT, handles=(RH_OWNER, COUNTER), auths=PW, check=False).rc

    def stop(self):
        self.c.close()
        rc = self.d.stop(remove_state=False)
        self.test.assertEqual(rc, 0, "".join(self.d.log))
        return self.d.log


class IoFault(unittest.TestCase):
    def setUp(self):
        shim_path()
        self.dir = tempfile.mkdtemp(prefix="utpm-iofault-")
        self.addCleanup(shutil.rmtree, self.dir, True)

    def run_case(self, err, n):
        """Returns the rc of the faulted increment for the fault after n passing calls."""
        state = os.path.join(self.dir, f"state-{err}-{n}")
        os.mkdir(state, 0o700)
        ctl = os.path.join(self.dir, f"ctl-{err}-{n}")
        s = Session(self, state, ctl)
        try:
            self.assertEqual(rc_of(s.c.execute(startup())), 0)
            self.assertEqual(nv_define(s.tpm, COUNTER, NV_OWNERWRITE | NV_OWNERREAD | NT_COUNTER, 8), 0)
            for _ in range(K):
                self.assertEqual(s.increment(), RC_SUCCESS)
            self.assertEqual(s.counter(), K)
            with open(ctl, "w") as f:
                f.write(f"{n} {err}\n")
            rc = s.increment()
            os.unlink(ctl)  # the fault is lifted; the process goes on
            self.assertIn(rc, (RC_SUCCESS, RC_FAILURE), f"errno {err}, fault after {n} calls: rc {rc:#x}")
            if rc == RC_SUCCESS:
                self.assertEqual(s.counter(), K + 1)
            else:
                # Failure mode: GetTestResult answers (testResult TPM_RC_FAILURE), the rest refuse.
                r = s.c.execute(command(CC_GET_TEST_RESULT))
                self.assertEqual(rc_of(r), RC_SUCCESS)
                self.assertEqual(struct.unpack(">I", r[-4:])[0], RC_FAILURE)
                self.assertEqual(s.increment(), RC_FAILURE)
                r = s.tpm.call(CC_NV_READ, handles=(RH_OWNER, COUNTER), params=u16(8) + u16(0), auths=PW,
                               check=False)
                self.assertEqual(r.rc, RC_FAILURE)
        finally:
            s.stop()

        s = Session(self, state)  # restart, no fault
        try:
            self.assertEqual(rc_of(s.c.execute(startup())), 0, "".join(s.d.log))
            value = s.counter()
            if rc == RC_SUCCESS:
                self.assertEqual(value, K + 1, "an acknowledged increment was lost")
            else:
                self.assertIn(value, (K, K + 1), f"errno {err}, fault after {n} calls: counter {value}")
            self.assertEqual(s.increment(), RC_SUCCESS)
            self.assertEqual(s.counter(), value + 1)
        finally:
            s.stop()
        s = Session(self, state)  # and the increment after the restart was kept
        try:
            self.assertEqual(rc_of(s.c.execute(startup())), 0)
            self.assertEqual(s.counter(), value + 1)
        finally:
            s.stop()
        return rc, value

    def sweep(self, err):
        outcomes = []
        for n in range(0, 40):
            rc, value = self.run_case(err, n)
            outcomes.append((n, rc, value))
            if rc == RC_SUCCESS:
                break
        else:
            self.fail(f"errno {err}: the commit never passed: {outcomes}")
        failed = [o for o in outcomes if o[1] == RC_FAILURE]
        self.assertTrue(failed, "the fault never hit the commit")
        print(f"errno {err}: {len(failed)} failing cut points, counter after restart:",
              [v for _, _, v in failed], file=sys.stderr)

    def test_eio_mid_commit(self):
        self.sweep(errno.EIO)

    def test_enospc_mid_commit(self):
        self.sweep(errno.ENOSPC)


if __name__ == "__main__":
    unittest.main()
