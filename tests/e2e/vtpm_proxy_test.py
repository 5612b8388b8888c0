"""utpmd --vtpm-proxy: the kernel's TPM stack on utpmd (/dev/tpmN, /dev/tpmrmN).

Always: utpmd --vtpm-proxy with a control device that does not exist fails at once (exit 1)
with a message that says what to do. Then, where the kernel has the vtpm proxy (root; /dev/vtpmx
exists or `modprobe tpm_vtpm_proxy` creates it): utpmd creates a device pair, the kernel binds it
as a TPM 2.0 (sysfs), tpm2-tools get random bytes through /dev/tpmrmN and /dev/tpmN, a PCR
extended through /dev/tpmrmN reads back as hashlib computes it, and SIGTERM removes the devices.
Otherwise the test exits 77 (ctest SKIP) saying why. utpmd is stopped by PID.
"""
import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

SKIP = 77
UTPMD = os.environ.get("UTPMD", "utpmd")


def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)


def check_missing_vtpmx_message(tmp):
    r = subprocess.run([UTPMD, "--state", os.path.join(tmp, "s0"), "--vtpm-proxy", "--vtpmx",
                        os.path.join(tmp, "no-vtpmx")], capture_output=True, text=True, timeout=30)
    if r.returncode != 1:
        fail(f"utpmd with a missing vtpmx exited {r.returncode}, expected 1: {r.stderr}")
    for needle in ("does not exist", "modprobe tpm_vtpm_proxy", "--vtpm-proxy"):
        if needle not in r.stderr:
            fail(f"missing {needle!r} in utpmd's message: {r.stderr!r}")
    print("ok: a missing /dev/vtpmx is reported:", r.stderr.strip().splitlines()[-1])


def vtpmx_available():
    if os.geteuid() != 0:
        return "not root: the vtpm proxy needs root"
    if not os.path.exists("/dev/vtpmx") and shutil.which("modprobe"):
        subprocess.run(["modprobe", "tpm_vtpm_proxy"], capture_output=True, timeout=30)
    if not os.path.exists("/dev/vtpmx"):
        how = "modprobe failed" if shutil.which("modprobe") else "no modprobe on this machine"
        return (f"/dev/vtpmx does not exist ({how}; kernel {os.uname().release}); "
                "the kernel's vtpm proxy cannot be tested here")
    return None


def device_node(kind, num, tmp):
    """The /dev node of tpm<num> or tpmrm<num>; made from sysfs where no devtmpfs/udev does it."""
    path = f"/dev/{kind}{num}"
    sysdev = f"/sys/class/{kind}/{kind}{num}/dev"
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if os.path.exists(path):
            return path
        time.sleep(0.1)
    if os.path.exists(sysdev):
        major, minor = map(int, open(sysdev).read().split(":"))
        path = os.path.join(tmp, f"{kind}{num}")
        os.mknod(path, 0o600 | 0o020000, os.makedev(major, minor))
        return path
    fail(f"neither {path} nor {sysdev} appeared")


def tools(args, tcti, timeout=60):
    env = {k: v for k, v in os.environ.items() if not k.startswith("TPM2TOOLS_")}
    r = subprocess.run(args + ["-T", tcti], capture_output=True, text=True, timeout=timeout, env=env)
    if r.returncode != 0:
        fail(f"{' '.join(args)} -T {tcti}: exit {r.returncode}: {r.stderr}")
    return r.stdout


def main():
    tmp = tempfile.mkdtemp(prefix="utpm-vtpm-")
    proc = None
    try:
        check_missing_vtpmx_message(tmp)
        why = vtpmx_available()
        if why:
            print("SKIP:", why)
            return SKIP
        log = open(os.path.join(tmp, "utpmd.log"), "w+")
        proc = subprocess.Popen([UTPMD, "--state", os.path.join(tmp, "state"), "--vtpm-proxy"],
                                stdout=log, stderr=subprocess.STDOUT)
        num = None
        deadline = time.monotonic() + 30
        while num is None and time.monotonic() < deadline:
            log.seek(0)
            m = re.search(r"vtpm-proxy /dev/tpm(\d+) ", log.read())
            if m:
                num = int(m.group(1))
            elif proc.poll() is not None:
                log.seek(0)
                fail(f"utpmd exited {proc.returncode}: {log.read()}")
            else:
                time.sleep(0.05)
        if num is None:
            fail("utpmd did not report its device")
        rm = device_node("tpmrm", num, tmp)
        raw = device_node("tpm", num, tmp)
        major = f"/sys/class/tpm/tpm{num}/tpm_version_major"
        if os.path.exists(major) and open(major).read().strip() != "2":
            fail(f"{major} is not 2")
        out = tools(["tpm2_getrandom", "--hex", "16"], f"device:{rm}").strip()
        if not re.fullmatch(r"[0-9a-f]{32}", out):
            fail(f"getrandom through {rm}: {out!r}")
        out2 = tools(["tpm2_getrandom", "--hex", "16"], f"device:{raw}").strip()
        if not re.fullmatch(r"[0-9a-f]{32}", out2) or out2 == out:
            fail(f"getrandom through {raw}: {out2!r}")
        data = bytes(range(32))
        tools(["tpm2_pcrextend", "16:sha256=" + data.hex()], f"device:{rm}")
        want = hashlib.sha256(bytes(32) + data).hexdigest()
        got = tools(["tpm2_pcrread", "sha256:16"], f"device:{rm}").lower()
        if want not in got.replace("0x", ""):
            fail(f"PCR 16 after extend: want {want}, tpm2_pcrread says {got}")
        print(f"ok: /dev/tpmrm{num} and /dev/tpm{num} answer (random, PCR extend = hashlib)")
        proc.send_signal(signal.SIGTERM)
        if proc.wait(timeout=30) != 0:
            fail(f"utpmd exited {proc.returncode} on SIGTERM")
        proc = None
        deadline = time.monotonic() + 10
        while os.path.exists(f"/sys/class/tpm/tpm{num}") and time.monotonic() < deadline:
            time.sleep(0.1)
        if os.path.exists(f"/sys/class/tpm/tpm{num}"):
            fail(f"tpm{num} still registered after utpmd exited")
        print("ok: the devices went away with utpmd")
        return 0
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
