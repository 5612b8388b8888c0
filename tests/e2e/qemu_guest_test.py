"""A Linux guest in QEMU with utpmd as its TPM (`-tpmdev emulator` on utpmd's swtpm control
socket): the guest kernel's tpm_tis and tpm_crb drivers bind (/sys/class/tpm/tpm0) and commands
sent through /dev/tpm0 and /dev/tpmrm0 get the right answers (TPM2_Hash("abc") checked against
hashlib, TPM2_GetRandom sizes).

Guest: Debian's kernel (the package linux-image-amd64 depends on), fetched with
`apt-get download` and unpacked with `dpkg -x` into the build tree (UTPM_QEMU_CACHE; kept there,
never installed on the host), and an initramfs built here from busybox-static. TCG, no KVM.
SKIP only if qemu-system-x86_64 cannot run. Prints the guest boot wall time.
"""
import glob
import gzip
import hashlib
import io
import os
import re
import shutil
import socket
import stat
import struct
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from utpmd_harness import utpmd_binary  # noqa: E402

QEMU = shutil.which("qemu-system-x86_64")
BUSYBOX = "/bin/busybox"
BOOT_TIMEOUT = 240  # seconds for one guest run (TCG on a loaded 2-core machine)

# TPM2_Hash(data="abc", hashAlg=SHA256, hierarchy=TPM_RH_NULL) and TPM2_GetRandom(16)
HASH_ABC = struct.pack(">HII", 0x8001, 21, 0x17D) + b"\x00\x03abc" + struct.pack(">HI", 0x000B, 0x40000007)
GET_RANDOM_16 = struct.pack(">HIIH", 0x8001, 12, 0x17B, 16)


def qemu_runs():
    if not QEMU:
        return False
    try:
        return subprocess.run([QEMU, "--version"], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def cache_dir():
    d = os.environ.get("UTPM_QEMU_CACHE") or os.path.join(
        os.path.dirname(os.path.dirname(os.path.dirname(utpmd_binary()))), "qemu-guest")
    os.makedirs(d, exist_ok=True)
    return d


def guest_kernel():
    """vmlinuz of the kernel Debian's linux-image-amd64 depends on, cached in the build tree."""
    d = cache_dir()
    have = sorted(glob.glob(os.path.join(d, "vmlinuz-*")))
    if have:
        return have[-1]
    deps = subprocess.run(["apt-cache", "depends", "linux-image-amd64"], capture_output=True,
                          text=True, timeout=60).stdout
    m = re.search(r"Depends:\s*(linux-image-[0-9][^\s]*-amd64)", deps)
    if not m:
        raise AssertionError("cannot find the kernel package linux-image-amd64 depends on "
                             "(apt-get update?):\n" + deps)
    pkg = m.group(1)
    p = subprocess.run(["apt-get", "download", pkg], cwd=d, capture_output=True, text=True,
                       timeout=600)
    debs = glob.glob(os.path.join(d, pkg + "_*.deb"))
    if not debs:
        raise AssertionError(f"apt-get download {pkg} failed:\n{p.stdout}{p.stderr}")
    root = tempfile.mkdtemp(prefix="kernel-", dir=d)
    try:
        subprocess.run(["dpkg", "-x", debs[0], root], check=True, timeout=600)
        k = glob.glob(os.path.join(root, "boot", "vmlinuz-*"))
        if not k:
            raise AssertionError(f"no vmlinuz in {debs[0]}")
        target = os.path.join(d, os.path.basename(k[0]))
        shutil.copyfile(k[0], target + ".tmp")
        os.rename(target + ".tmp", target)
    finally:
        shutil.rmtree(root, ignore_errors=True)
        for deb in debs:
            os.unlink(deb)
    return target


def octal(b):
    return "".join("\\%03o" % x for x in b)


INIT = """#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
echo UTPM-GUEST-UP
i=0
while [ ! -e /dev/tpm0 ] && [ $i -lt 10 ]; do sleep 1; i=$((i+1)); done
if [ -e /sys/class/tpm/tpm0 ]; then echo UTPM-TPM0 present; else echo UTPM-TPM0 absent; fi
echo UTPM-DRIVER $(basename $(readlink /sys/class/tpm/tpm0/device/driver))
echo UTPM-VERSION $(cat /sys/class/tpm/tpm0/tpm_version_major 2>/dev/null)
dmesg | grep -i tpm | sed 's/^/UTPM-DMESG /'
for dev in /dev/tpm0 /dev/tpmrm0; do
  exec 3<>$dev
  printf '@HASH@' >&3
  echo UTPM-HASH $dev $(dd bs=4096 count=1 <&3 2>/dev/null | od -An -tx1 | tr -d ' \\n')
  printf '@RAND@' >&3
  echo UTPM-RAND $dev $(dd bs=4096 count=1 <&3 2>/dev/null | od -An -tx1 | tr -d ' \\n')
  exec 3>&-
done
echo UTPM-GUEST-DONE
reboot -f
""".replace("@HASH@", octal(HASH_ABC)).replace("@RAND@", octal(GET_RANDOM_16))


def cpio_newc(entries):
    """entries: (name, mode, data or None, rdev_major, rdev_minor). Returns the archive."""
    out = io.BytesIO()
    ino = 1

    def pad4():
        out.write(b"\0" * ((4 - out.tell() % 4) % 4))

    for name, mode, data, rmaj, rmin in entries + [("TRAILER!!!", 0, b"", 0, 0)]:
        data = data or b""
        nb = name.encode() + b"\0"
        fields = [ino, mode, 0, 0, 1, 0, len(data), 0, 0, rmaj, rmin, len(nb), 0]
        out.write(b"070701" + b"".join(b"%08X" % f for f in fields))
        out.write(nb)
        pad4()
        out.write(data)
        pad4()
        ino += 1
    return out.getvalue()


def build_initramfs(path):
    with open(BUSYBOX, "rb") as f:
        bb = f.read()
    entries = [
        ("bin", stat.S_IFDIR | 0o755, None, 0, 0),
        ("dev", stat.S_IFDIR | 0o755, None, 0, 0),
        ("dev/console", stat.S_IFCHR | 0o600, None, 5, 1),
        ("proc", stat.S_IFDIR | 0o755, None, 0, 0),
        ("sys", stat.S_IFDIR | 0o755, None, 0, 0),
        ("bin/busybox", stat.S_IFREG | 0o755, bb, 0, 0),
        ("init", stat.S_IFREG | 0o755, INIT.encode(), 0, 0),
    ]
    with open(path, "wb") as f:
        f.write(gzip.compress(cpio_newc(entries), compresslevel=1))


def check_response(test, line, expect_len):
    rsp = bytes.fromhex(line)
    test.assertGreaterEqual(len(rsp), 10, line)
    tag, size, rc = struct.unpack(">HII", rsp[:10])
    test.assertEqual((tag, size, rc), (0x8001, len(rsp), 0), line)
    if expect_len is not None:
        test.assertEqual(len(rsp), expect_len, line)
    return rsp


@unittest.skipUnless(qemu_runs(), "qemu-system-x86_64 cannot run here")
@unittest.skipUnless(os.path.exists(BUSYBOX), "busybox-static is not installed (scripts/setup)")
class GuestBoot(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.kernel = guest_kernel()
        cls.tmp = tempfile.mkdtemp(prefix="utpm-qemu-")
        cls.initrd = os.path.join(cls.tmp, "initrd.gz")
        build_initramfs(cls.initrd)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def boot(self, device, swtpm_cli):
        state = tempfile.mkdtemp(prefix="state-", dir=self.tmp)
        ctrl = os.path.join(state, "ctrl.sock")
        if swtpm_cli:
            # as libvirt starts swtpm
            args = [utpmd_binary(), "swtpm", "socket", "--tpm2", "--ctrl",
                    f"type=unixio,path={ctrl},mode=0600", "--tpmstate", f"dir={state},mode=0600",
                    "--log", f"file={state}/log", "--terminate"]
        else:
            args = [utpmd_binary(), "--state", state, "--ctrl", f"unix:{ctrl}"]
        daemon = subprocess.Popen(args, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 15
            while not os.path.exists(ctrl):
                self.assertIsNone(daemon.poll(), "utpmd exited")
                self.assertLess(time.monotonic(), deadline, "no control socket")
                time.sleep(0.05)
            cmd = [QEMU, "-machine", "q35,accel=tcg", "-m", "256", "-smp", "1", "-nodefaults",
                   "-display", "none", "-monitor", "none", "-serial", "stdio", "-no-reboot",
                   "-kernel", self.kernel, "-initrd", self.initrd,
                   "-append", "console=ttyS0 quiet panic=-1",
                   "-chardev", f"socket,id=chrtpm,path={ctrl}",
                   "-tpmdev", "emulator,id=tpm0,chardev=chrtpm",
                   "-device", f"{device},tpmdev=tpm0"]
            t0 = time.monotonic()
            p = subprocess.run(cmd, capture_output=True, timeout=BOOT_TIMEOUT)
            wall = time.monotonic() - t0
            out = p.stdout.decode(errors="replace")
            self.assertIn("UTPM-GUEST-DONE", out, f"guest did not finish:\n{out}\n{p.stderr.decode(errors='replace')}")
            print(f"\n{device}: guest boot to shutdown {wall:.1f} s (TCG)", file=sys.stderr)
            lines = {}
            for line in out.splitlines():
                line = line.strip()
                if line.startswith("UTPM-"):
                    key, _, rest = line.partition(" ")
                    lines.setdefault(key, []).append(rest)
            return lines, out, daemon
        except BaseException:
            daemon.kill()
            daemon.wait()
            raise

    def check_guest(self, device, driver, swtpm_cli):
        lines, out, daemon = self.boot(device, swtpm_cli)
        try:
            self.assertEqual(lines.get("UTPM-TPM0"), ["present"], out)
            self.assertEqual(lines.get("UTPM-DRIVER"), [driver], out)
            self.assertEqual(lines.get("UTPM-VERSION"), ["2"], out)
            want = hashlib.sha256(b"abc").digest()
            for entry in lines.get("UTPM-HASH", []):
                dev, _, hexrsp = entry.partition(" ")
                rsp = check_response(self, hexrsp, None)
                self.assertEqual(rsp[10:12], b"\x00\x20", entry)
                self.assertEqual(rsp[12:44], want, f"{dev}: TPM2_Hash(abc)")
            self.assertEqual(len(lines.get("UTPM-HASH", [])), 2, out)
            for entry in lines.get("UTPM-RAND", []):
                dev, _, hexrsp = entry.partition(" ")
                rsp = check_response(self, hexrsp, 28)
                self.assertEqual(rsp[10:12], b"\x00\x10", entry)
            self.assertEqual(len(lines.get("UTPM-RAND", [])), 2, out)
        finally:
            if swtpm_cli:
                # --terminate (libvirt): QEMU's exit closed the data channel, utpmd exits 0
                try:
                    self.assertEqual(daemon.wait(timeout=15), 0)
                finally:
                    if daemon.poll() is None:
                        daemon.kill()
                        daemon.wait()
            else:
                # QEMU sent CMD_SHUTDOWN at exit: utpmd stopped by itself, cleanly
                try:
                    self.assertEqual(daemon.wait(timeout=15), 0)
                finally:
                    if daemon.poll() is None:
                        daemon.kill()
                        daemon.wait()

    def test_tpm_tis(self):
        self.check_guest("tpm-tis", "tpm_tis", swtpm_cli=True)

    def test_tpm_crb(self):
        self.check_guest("tpm-crb", "tpm_crb", swtpm_cli=False)


if __name__ == "__main__":
    unittest.main(verbosity=2)
