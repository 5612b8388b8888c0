#!/usr/bin/python3
"""utpmd as a program: --help/--version, usage errors (exit 2), one daemon per state
directory, a clean SIGTERM/SIGINT (exit 0, pty symlink and unix socket removed), and the
--trace line format.

Run: UTPMD=build/host-release/src/host/utpmd python3 tests/e2e/daemon_cli_test.py
"""
import os
import re
import shutil
import signal
import subprocess
import tempfile
import unittest

from utpmd_harness import (SU_CLEAR, MssimClient, StreamClient, Utpmd, get_random, rc_of,
                           startup, utpmd_binary)


class DaemonCli(unittest.TestCase):
    def run_utpmd(self, *args):
        return subprocess.run([utpmd_binary(), *args], capture_output=True, text=True, timeout=10)

    def test_help_and_version(self):
        p = self.run_utpmd("--help")
        self.assertEqual(p.returncode, 0)
        for flag in ("--state", "--mssim", "--pty", "--unix", "--trace", "--help", "--version"):
            self.assertIn(flag, p.stdout)
        p = self.run_utpmd("--version")
        self.assertEqual(p.returncode, 0)
        self.assertRegex(p.stdout, r"^utpmd \d+\.\d+\.\d+")

    def test_usage_errors_exit_2(self):
        for args in (["--bogus"], ["--mssim"], ["--mssim", "nohost"], ["--mssim", "h:0"],
                     ["--mssim", "h:65535"], ["--stall-timeout", "x"]):
            p = self.run_utpmd(*args)
            self.assertEqual(p.returncode, 2, args)
            self.assertIn("utpmd:", p.stderr)

    def test_one_daemon_per_state_directory(self):
        a = Utpmd().start()
        try:
            b = Utpmd(state_dir=a.state)
            with self.assertRaises(RuntimeError):
                b.start()
            self.assertTrue(any("in use" in line for line in b.log), b.log)
        finally:
            self.assertEqual(a.stop(), 0)

    def test_state_directory_writable_by_others_is_refused(self):
        with tempfile.TemporaryDirectory() as d:
            os.chmod(d, 0o777)
            p = self.run_utpmd("--state", d, "--mssim", "127.0.0.1:1")
            self.assertEqual(p.returncode, 1, p.stderr)
            self.assertIn("not be writable by group or others", p.stderr)
            self.assertEqual(os.listdir(d), [])  # nothing created there
        a = Utpmd().start()
        self.assertEqual(a.stop(remove_state=False), 0)
        self.addCleanup(shutil.rmtree, a.state, True)
        for name in ("nv.store", "nv.anchor"):
            path = os.path.join(a.state, name)
            mode = os.stat(path).st_mode & 0o777
            os.chmod(path, 0o666)
            p = self.run_utpmd("--state", a.state, "--mssim", "127.0.0.1:1")
            self.assertEqual(p.returncode, 1, p.stderr)
            self.assertIn(name + " must be a regular file not writable", p.stderr)
            os.chmod(path, mode)

    def test_lost_key_beside_a_store_is_reported_never_replaced(self):
        a = Utpmd().start()
        try:
            c = MssimClient(a.port)
            self.assertEqual(rc_of(c.execute(startup())), 0)
            c.close()
        finally:
            self.assertEqual(a.stop(remove_state=False), 0)
        self.addCleanup(shutil.rmtree, a.state, True)
        key = os.path.join(a.state, "nv.key")
        os.rename(key, key + ".saved")
        b = Utpmd(state_dir=a.state).start()
        try:
            self.assertTrue(any("missing" in line for line in b.log), b.log)
            self.assertFalse(os.path.exists(key))
            c = MssimClient(b.port)
            self.assertEqual(rc_of(c.execute(get_random(8))), 0x101)  # TPM_RC_FAILURE
            c.close()
        finally:
            self.assertEqual(b.stop(), 0)
        self.assertFalse(os.path.exists(key))

    def test_sigterm_and_sigint_stop_cleanly_and_remove_the_links(self):
        for sig in (signal.SIGTERM, signal.SIGINT):
            d = Utpmd(pty=True, unix=True).start()
            self.assertTrue(os.path.islink(d.pty_link))
            self.assertTrue(os.readlink(d.pty_link).startswith("/dev/pts/"))
            self.assertTrue(os.path.exists(d.unix_path))
            d.proc.send_signal(sig)
            self.assertEqual(d.proc.wait(timeout=10), 0)
            self.assertFalse(os.path.lexists(d.pty_link))
            self.assertFalse(os.path.exists(d.unix_path))
            d.stop()

    def test_stale_links_from_a_killed_daemon_are_replaced(self):
        state = tempfile.mkdtemp(prefix="utpm-e2e-")
        os.symlink("/dev/pts/nonexistent", os.path.join(state, "tty"))
        d = Utpmd(pty=True, state_dir=state).start()
        try:
            self.assertNotEqual(os.readlink(d.pty_link), "/dev/pts/nonexistent")
            c = StreamClient(pty_link=d.pty_link)
            self.assertIsNotNone(c.execute(get_random(8)))
            c.close()
        finally:
            d.stop()
            import shutil
            shutil.rmtree(state, ignore_errors=True)

    def test_pty_slave_is_raw(self):
        import termios
        d = Utpmd(pty=True).start()
        try:
            fd = os.open(d.pty_link, os.O_RDWR | os.O_NOCTTY)
            iflag, oflag, cflag, lflag, ispeed, ospeed, cc = termios.tcgetattr(fd)
            os.close(fd)
            self.assertEqual(lflag & (termios.ICANON | termios.ECHO | termios.ISIG | termios.IEXTEN), 0)
            self.assertEqual(oflag & termios.OPOST, 0)
            self.assertEqual(iflag & (termios.ICRNL | termios.IXON | termios.INLCR), 0)
        finally:
            d.stop()

    def test_unix_socket_serves_tpm2_tools_through_tcti_cmd(self):
        import shutil
        if not shutil.which("socat"):
            self.skipTest("socat not installed")
        from utpmd_harness import run_tool
        d = Utpmd(unix=True).start()
        try:
            c = MssimClient(d.port)
            self.assertEqual(rc_of(c.execute(startup(SU_CLEAR))), 0)
            c.close()
            tcti = f"cmd:exec socat -b 65536 STDIO UNIX-CONNECT:{d.unix_path}"
            out = run_tool(["tpm2_getrandom", "--hex", "16"], tcti).stdout.decode()
            self.assertRegex(out, r"^[0-9a-f]{32}$")
        finally:
            self.assertEqual(d.stop(), 0)

    def test_trace_line_per_command(self):
        d = Utpmd(extra_args=["--trace"]).start()
        try:
            c = MssimClient(d.port)
            c.execute(startup(SU_CLEAR))
            self.assertEqual(rc_of(c.execute(get_random(8), locality=0)), 0)
            c.close()
        finally:
            d.stop()
        lines = [l for l in d.log if "GetRandom" in l]
        self.assertEqual(len(lines), 1, d.log)
        self.assertRegex(lines[0], r"mssim\s+loc=0 TPM2_GetRandom cmd=12 rsp=20 TPM_RC_SUCCESS \d+us")


if __name__ == "__main__":
    unittest.main()
