#!/usr/bin/python3
"""A full disk under a running utpmd (a small tmpfs, filled to the last byte while the TPM runs):
every state-changing command still succeeds, because the store image and the rollback anchor are
allocated when they are created and later commits only rewrite them in place; a restart on the
still-full disk finds the last acknowledged state. A new TPM on the full disk cannot create its
key and says so. Needs root (mount); exit 77 = SKIP otherwise.

Run: UTPMD=build/host-debug/src/host/utpmd python3 tests/e2e/disk_full_test.py
"""
import errno
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import unittest

from tpm_raw import RH_OWNER, Auth, Tpm, tpm2b, u16, u32
from utpmd_harness import MssimClient, Utpmd, rc_of, startup

CC_NV_DEFINE, CC_NV_INCREMENT, CC_NV_WRITE, CC_NV_READ = 0x12A, 0x134, 0x137, 0x14E
CC_CHANGE_AUTH, CC_SHUTDOWN, CC_GET_RANDOM = 0x129, 0x145, 0x17B
SHA256 = 0x000B
NV_OWNERWRITE, NV_OWNERREAD, NT_COUNTER = 0x2, 0x20000, 1 << 4
COUNTER, DATA = 0x01500020, 0x01500021
RC_FAILURE = 0x101


def nv_public(index, attrs, size):
    return tpm2b(u32(index) + u16(SHA256) + u32(attrs) + tpm2b(b"") + u16(size))


def fill(directory):
    """Writes until the file system has no byte left; asserts that it really is full."""
    fd = os.open(os.path.join(directory, "fill"), os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for chunk in (1 << 16, 4096, 512, 1):
            try:
                while True:
                    os.write(fd, b"\0" * chunk)
            except OSError as e:
                if e.errno != errno.ENOSPC:
                    raise
    finally:
        os.close(fd)
    try:
        fd = os.open(os.path.join(directory, "probe"), os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            os.write(fd, b"x" * 4096)
        finally:
            os.close(fd)
        raise AssertionError("the file system is not full")
    except OSError as e:
        assert e.errno == errno.ENOSPC, e


class DiskFull(unittest.TestCase):
    def setUp(self):
        self.mnt = tempfile.mkdtemp(prefix="utpm-full-")
        self.addCleanup(shutil.rmtree, self.mnt, True)
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", self.mnt],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise unittest.SkipTest("cannot mount a tmpfs: " + r.stderr.strip())
        self.addCleanup(subprocess.run, ["umount", "-l", self.mnt], check=False)
        self.state = os.path.join(self.mnt, "state")
        os.mkdir(self.state, 0o700)

    def test_commits_and_restart_on_a_full_disk(self):
        d = Utpmd(state_dir=self.state).start()
        try:
            c = MssimClient(d.port)
            self.addCleanup(c.close)
            tpm = Tpm(c)
            self.assertEqual(rc_of(c.execute(startup())), 0)
            for index, attrs in ((COUNTER, NV_OWNERWRITE | NV_OWNERREAD | NT_COUNTER),
                                 (DATA, NV_OWNERWRITE | NV_OWNERREAD)):
                r = tpm.call(CC_NV_DEFINE, handles=(RH_OWNER,),
                             params=tpm2b(b"") + nv_public(index, attrs, 8), auths=(Auth(),))
                self.assertEqual(r.rc, 0)
            fill(self.mnt)
            owner, counter, data = b"", 0, None
            for i in range(1, 61):
                pw = (Auth(password=owner),)
                value = struct.pack(">Q", i)
                r = tpm.call(CC_NV_WRITE, handles=(RH_OWNER, DATA), params=tpm2b(value) + u16(0), auths=pw)
                self.assertEqual(r.rc, 0, f"NV_Write {i} on a full disk: rc {r.rc:#x}")
                data = value
                r = tpm.call(CC_NV_INCREMENT, handles=(RH_OWNER, COUNTER), auths=pw)
                self.assertEqual(r.rc, 0, f"NV_Increment {i}: rc {r.rc:#x}")
                counter += 1
                new_owner = b"owner-%d" % i
                r = tpm.call(CC_CHANGE_AUTH, handles=(RH_OWNER,), params=tpm2b(new_owner), auths=pw)
                self.assertEqual(r.rc, 0, f"HierarchyChangeAuth {i}: rc {r.rc:#x}")
                owner = new_owner
            r = tpm.call(CC_SHUTDOWN, params=u16(0))
            self.assertEqual(r.rc, 0, "Shutdown(CLEAR) on a full disk")
        finally:
            self.assertEqual(d.stop(), 0)
        self.assertFalse(any("failure" in line for line in d.log), d.log)

        d = Utpmd(state_dir=self.state).start()  # the disk is still full
        try:
            c = MssimClient(d.port)
            self.addCleanup(c.close)
            tpm = Tpm(c)
            self.assertEqual(rc_of(c.execute(startup())), 0)
            pw = (Auth(password=owner),)
            r = tpm.call(CC_NV_READ, handles=(RH_OWNER, DATA), params=u16(8) + u16(0), auths=pw)
            self.assertEqual(r.rc, 0)
            self.assertEqual(r.reader().tpm2b(), data)
            r = tpm.call(CC_NV_READ, handles=(RH_OWNER, COUNTER), params=u16(8) + u16(0), auths=pw)
            self.assertEqual(r.rc, 0)
            self.assertEqual(struct.unpack(">Q", r.reader().tpm2b())[0], counter)
        finally:
            self.assertEqual(d.stop(), 0)

    def test_a_new_tpm_on_a_full_disk_says_why(self):
        fill(self.mnt)
        state = os.path.join(self.mnt, "new")
        os.mkdir(state, 0o700)
        d = Utpmd(state_dir=state).start()
        try:
            self.assertTrue(any("No space left" in line for line in d.log), d.log)
            c = MssimClient(d.port)
            self.addCleanup(c.close)
            self.assertEqual(rc_of(c.execute(startup())), RC_FAILURE)
        finally:
            self.assertEqual(d.stop(), 0)


if __name__ == "__main__":
    if os.geteuid() != 0:
        print("SKIP: needs root to mount a tmpfs")
        sys.exit(77)
    result = unittest.main(exit=False).result
    if result.skipped and not result.failures and not result.errors:
        sys.exit(77)
    sys.exit(0 if result.wasSuccessful() else 1)
