"""utpmd --vtpm-proxy against a real kernel, in a QEMU guest (TCG, no KVM, no root needed).

The host kernel may lack the vtpm proxy (e2e_vtpm_proxy then SKIPs); Debian's kernel has it as
a module. This test fetches Debian's kernel package (`apt-get download`, unpacked with
`dpkg -x` into a cache directory; nothing is installed on the host), builds an initramfs with
busybox-static, our utpmd (with the shared libraries ldd names) and tpm2-tools, and boots it.
In the guest: insmod tpm_vtpm_proxy, utpmd --vtpm-proxy, then the kernel's TPM stack must bind
the device as a TPM 2.0 (sysfs), tpm2_getrandom must answer through /dev/tpmrm0 and /dev/tpm0,
a PCR extended through /dev/tpmrm0 must read back as hashlib computes it, and after SIGTERM
utpmd exits 0 and the kernel's tpm0 is gone. Exit 77 (SKIP) only when qemu-system-x86_64 or
busybox-static is missing or no kernel package can be fetched. QEMU is stopped by PID.
"""
import glob
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

SKIP = 77
UTPMD = os.environ["UTPMD"]
CACHE = os.environ.get("UTPM_GUEST_CACHE") or os.path.join(tempfile.gettempdir(), "utpm-guest-kernel")
BOOT_TIMEOUT = 300
EXTEND = bytes(range(32))

INIT = r"""#!/bin/sh
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
export PATH=/bin
insmod /tpm_vtpm_proxy.ko && echo "GUEST insmod ok"
mkdir -p /tmp/s
utpmd --state /tmp/s --vtpm-proxy --trace > /tmp/utpmd.log 2>&1 &
pid=$!
i=0; while [ ! -e /dev/tpmrm0 ] && [ $i -lt 300 ]; do sleep 0.2; i=$((i+1)); done
echo "GUEST version $(cat /sys/class/tpm/tpm0/tpm_version_major)"
echo "GUEST random-rm $(tpm2_getrandom --hex 16 -T device:/dev/tpmrm0)"
echo "GUEST random-raw $(tpm2_getrandom --hex 16 -T device:/dev/tpm0)"
tpm2_pcrextend 16:sha256=@EXTEND@ -T device:/dev/tpmrm0 && echo "GUEST extend ok"
echo "GUEST pcr16 $(tpm2_pcrread sha256:16 -T device:/dev/tpmrm0 | grep 16:)"
kill -TERM $pid; wait $pid; echo "GUEST utpmd-exit $?"
i=0; while [ -e /sys/class/tpm/tpm0 ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
[ -e /sys/class/tpm/tpm0 ] && echo "GUEST tpm0 still there" || echo "GUEST tpm0 gone"
echo "GUEST utpmd log:"; cat /tmp/utpmd.log
echo "GUEST dmesg:"; dmesg | grep -i tpm
echo "GUEST done"
poweroff -f
"""


def skip(msg):
    print("SKIP:", msg)
    sys.exit(SKIP)


def fail(msg, log=""):
    print("FAIL:", msg)
    if log:
        print("---- guest console ----\n" + log[-6000:])
    sys.exit(1)


def kernel():
    """(vmlinuz, tpm_vtpm_proxy.ko) from Debian's kernel package, fetched once into CACHE."""
    def found():
        vm = glob.glob(os.path.join(CACHE, "x", "boot", "vmlinuz-*"))
        ko = glob.glob(os.path.join(CACHE, "x", "lib", "modules", "*", "kernel", "drivers", "char",
                                    "tpm", "tpm_vtpm_proxy.ko*"))
        return (vm[0], ko[0]) if vm and ko else None
    if found():
        return found()
    if not shutil.which("apt-get") or not shutil.which("dpkg-deb"):
        skip("no apt-get/dpkg-deb to fetch Debian's kernel package")
    deps = subprocess.run(["apt-cache", "depends", "linux-image-amd64"], capture_output=True, text=True)
    m = re.search(r"Depends: (linux-image-\S+-amd64)", deps.stdout)
    if not m:
        skip("apt-cache knows no linux-image-amd64 (no Debian package lists?)")
    os.makedirs(CACHE, exist_ok=True)
    os.chmod(CACHE, 0o755)
    r = subprocess.run(["apt-get", "download", m.group(1)], cwd=CACHE, capture_output=True, text=True,
                       timeout=600)
    debs = glob.glob(os.path.join(CACHE, "linux-image-*.deb"))
    if r.returncode != 0 or not debs:
        skip(f"apt-get download {m.group(1)} failed (offline?): {r.stderr.strip()[-300:]}")
    subprocess.run(["dpkg-deb", "-x", debs[0], os.path.join(CACHE, "x")], check=True, timeout=600)
    os.unlink(debs[0])
    if not found():
        fail(f"{m.group(1)} has no vmlinuz or tpm_vtpm_proxy module")
    return found()


def copy_with_libs(path, root, dest=None):
    dest = dest or os.path.join(root, "bin", os.path.basename(path))
    shutil.copy(path, dest)
    out = subprocess.run(["ldd", path], capture_output=True, text=True).stdout
    for lib in re.findall(r"(/\S+)", out):
        d = root + os.path.dirname(lib)
        os.makedirs(d, exist_ok=True)
        if not os.path.exists(os.path.join(d, os.path.basename(lib))):
            shutil.copy(lib, d)


def initramfs(tmp, ko):
    root = os.path.join(tmp, "root")
    for d in ("bin", "proc", "sys", "dev", "tmp", "usr/lib/x86_64-linux-gnu"):
        os.makedirs(os.path.join(root, d))
    shutil.copy(shutil.which("busybox"), os.path.join(root, "bin", "busybox"))
    for a in ("sh", "mount", "insmod", "sleep", "cat", "echo", "poweroff", "grep", "mkdir",
              "dmesg", "kill"):
        os.symlink("busybox", os.path.join(root, "bin", a))
    copy_with_libs(UTPMD, root, os.path.join(root, "bin", "utpmd"))
    tpm2 = os.path.realpath(shutil.which("tpm2_getrandom"))  # Debian: links to the tpm2 multi-call
    copy_with_libs(tpm2, root, os.path.join(root, "bin", "tpm2"))
    for t in ("getrandom", "pcrextend", "pcrread"):
        os.symlink("tpm2", os.path.join(root, "bin", "tpm2_" + t))
    for lib in ("libtss2-tcti-device.so.0", "libtss2-tctildr.so.0"):
        p = os.path.join("/usr/lib/x86_64-linux-gnu", lib)
        copy_with_libs(p, root, os.path.join(root, "usr/lib/x86_64-linux-gnu", lib))
    shutil.copy(ko, os.path.join(root, "tpm_vtpm_proxy.ko"))
    with open(os.path.join(root, "init"), "w") as f:
        f.write(INIT.replace("@EXTEND@", EXTEND.hex()))
    os.chmod(os.path.join(root, "init"), 0o755)
    img = os.path.join(tmp, "initrd.gz")
    subprocess.run(f"find . | busybox cpio -o -H newc 2>/dev/null | gzip -1 > {img}", shell=True,
                   cwd=root, check=True)
    return img


def main():
    if not shutil.which("qemu-system-x86_64"):
        skip("qemu-system-x86_64 is missing (package qemu-system-x86)")
    bb = shutil.which("busybox")
    if not bb or "statically linked" not in subprocess.run(["file", "-L", bb], capture_output=True,
                                                            text=True).stdout:
        skip("busybox-static is missing")
    vmlinuz, ko = kernel()
    tmp = tempfile.mkdtemp(prefix="utpm-guest-")
    proc = None
    try:
        img = initramfs(tmp, ko)
        t0 = time.monotonic()
        console = open(os.path.join(tmp, "console.log"), "w+", errors="replace")
        proc = subprocess.Popen(["qemu-system-x86_64", "-m", "1024", "-nographic", "-no-reboot",
                                 "-kernel", vmlinuz, "-initrd", img,
                                 "-append", "console=ttyS0 panic=-1 quiet"],
                                stdout=console, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            proc.wait(timeout=BOOT_TIMEOUT)
        except subprocess.TimeoutExpired:
            pass
        console.seek(0)
        log = console.read()
        print(f"guest ran {time.monotonic() - t0:.1f}s")
        if "GUEST done" not in log:
            fail(f"the guest did not finish within {BOOT_TIMEOUT}s", log)
        val = dict(re.findall(r"GUEST (\S+) ?(.*?)\r?$", log, re.M))  # the first line may start with terminal escapes
        if "insmod" not in val:
            fail("insmod tpm_vtpm_proxy failed in the guest", log)
        if val.get("version") != "2":
            fail(f"the kernel did not bind a TPM 2.0: version {val.get('version')!r}", log)
        rm_, raw = val.get("random-rm", ""), val.get("random-raw", "")
        if not re.fullmatch(r"[0-9a-f]{32}", rm_) or not re.fullmatch(r"[0-9a-f]{32}", raw) or rm_ == raw:
            fail(f"getrandom through /dev/tpmrm0 {rm_!r} and /dev/tpm0 {raw!r}", log)
        want = hashlib.sha256(bytes(32) + EXTEND).hexdigest()
        if "extend" not in val or want not in val.get("pcr16", "").lower():
            fail(f"PCR 16 after extend: want {want}, got {val.get('pcr16')!r}", log)
        if val.get("utpmd-exit") != "0":
            fail(f"utpmd exited {val.get('utpmd-exit')!r} on SIGTERM", log)
        if val.get("tpm0") != "gone":
            fail("the kernel's tpm0 outlived utpmd", log)
        print(f"ok: kernel bound utpmd as tpm0 (TPM 2.0); /dev/tpmrm0 random {rm_}, /dev/tpm0 random "
              f"{raw}, PCR 16 = sha256(0^32 || 00..1f); SIGTERM removed the devices")
        print("\n".join(l for l in log.splitlines() if l.startswith("utpmd: vtpm") or "tpm tpm0" in l))
        return 0
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
