"""The Debian package, built and installed into this machine, then used (CI runs as root on a
throwaway machine; anywhere else the test exits 77 = ctest SKIP, saying why).

1. builds the package from a release build: `cmake --preset host-package`, build, `cpack -G DEB`;
2. checks its control data (dependencies from dpkg-shlibdeps: libssl3, libtss2-*) and contents;
3. `dpkg -i`: the postinst creates the utpm user and /var/lib/utpm (0700, owned by utpm);
4. `systemd-analyze verify` of the unit (where systemd-analyze exists);
5. the installed utpmd on a pty, used by tpm2-tools with `-T utpm:device=PTY` and no
   LD_LIBRARY_PATH: the loader (LD_DEBUG=libs) must find libtss2-tcti-utpm.so.0 in the
   package's libdir, by name;
6. the unit's own ExecStart= (with its User=/Group=/UMask=) serving `tpm2_getrandom -T mssim:`:
   through `systemctl start` where systemd runs the machine, otherwise (a container without
   systemd as PID 1) the ExecStart line is started directly, as the unit's user, in a private
   network namespace so that its fixed port 2321 cannot clash with anything on the machine;
7. `dpkg --purge`: files, state directory and processes are gone; the machine is as before
   (except the utpm system user, which Debian packages leave behind);
8. `cmake --install --prefix /usr/local` of the same build: ldconfig runs and `-T utpm:` finds
   the module in /usr/local/lib/<multiarch> by name; every installed file is removed again.
Everything started is stopped by PID (or by systemctl for the unit).
"""
import glob
import os
import pwd
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time

SKIP = 77
SRC = os.environ.get("UTPM_SOURCE_DIR") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
MSSIM = "mssim:host=127.0.0.1,port=2321"
T0 = time.monotonic()


def log(msg):
    print(f"[{time.monotonic() - T0:7.1f}s] {msg}", flush=True)


def fail(msg):
    raise AssertionError(msg)


def run(args, check=True, timeout=600, **kw):
    r = subprocess.run(args, capture_output=True, text=True, timeout=timeout, **kw)
    if check and r.returncode != 0:
        fail(f"{' '.join(args)}: exit {r.returncode}\n{r.stdout}\n{r.stderr}")
    return r


def clean_env():
    """The environment a user's shell would have: no LD_LIBRARY_PATH, no preselected TCTI."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("LD_LIBRARY_PATH", "LD_PRELOAD", "TPM2TOOLS_TCTI", "TCTI")
           and not k.startswith(("ASAN_", "UBSAN_"))}
    env["PATH"] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    return env


def installed(pkg):
    r = subprocess.run(["dpkg-query", "-W", "-f", "${Status}", pkg], capture_output=True, text=True)
    return r.returncode == 0 and "installed" in r.stdout and "not-installed" not in r.stdout


def build_deb(out):
    env = clean_env()
    if shutil.which("ccache"):
        env["CMAKE_CXX_COMPILER_LAUNCHER"] = env["CMAKE_C_COMPILER_LAUNCHER"] = "ccache"
    env["CMAKE_BUILD_PARALLEL_LEVEL"] = "2"
    bdir = os.path.join(SRC, "build", "host-package")
    if not os.path.exists(os.path.join(bdir, "build.ninja")):
        run(["cmake", "--preset", "host-package"], cwd=SRC, env=env, timeout=600)
    run(["cmake", "--build", bdir, "-j2", "--target", "utpm_dist"], env=env, timeout=3000)
    run(["cpack", "-G", "DEB", "--config", os.path.join(bdir, "CPackConfig.cmake"), "-B", out],
        cwd=bdir, env=env, timeout=600)
    debs = glob.glob(os.path.join(out, "utpm_*.deb"))
    if len(debs) != 1:
        fail(f"expected one utpm_*.deb in {out}, found {debs}")
    return debs[0]


def check_control(deb):
    info = run(["dpkg-deb", "-f", deb]).stdout
    depends = re.search(r"^Depends: (.*)$", info, re.M)
    if not depends:
        fail(f"no Depends in {info}")
    for pkg in ("libssl3", "libtss2-tctildr0", "libtss2-rc0", "libc6", "libstdc++6"):
        if not re.search(rf"(^|, ){re.escape(pkg)}\b", depends.group(1)):
            fail(f"Depends lacks {pkg}: {depends.group(1)}")
    files = run(["dpkg-deb", "-c", deb]).stdout
    for scripts in ("postinst", "prerm", "postrm", "triggers"):
        if scripts not in run(["dpkg-deb", "-I", deb]).stdout:
            fail(f"control member {scripts} missing")
    log(f"control: Depends: {depends.group(1)}")
    return files


def libdir():
    return "/usr/lib/" + run(["dpkg-architecture", "-qDEB_HOST_MULTIARCH"]).stdout.strip()


def expected_files():
    lib = libdir()
    return ["/usr/bin/utpmd", "/usr/bin/utpm", f"{lib}/libtss2-tcti-utpm.so.0",
            f"{lib}/libtss2-tcti-utpm.so", "/usr/lib/systemd/system/utpmd.service",
            "/usr/lib/sysusers.d/utpm.conf", "/usr/lib/udev/rules.d/70-utpm.rules",
            "/usr/share/man/man8/utpmd.8.gz", "/usr/share/man/man1/utpm.1.gz"]


def check_installed():
    for f in expected_files():
        if not os.path.exists(f):
            fail(f"{f} not installed")
    # The unit file is parsed later; the user and state directory come from the postinst.
    pw = pwd.getpwnam("utpm")
    st = os.stat("/var/lib/utpm")
    if st.st_uid != pw.pw_uid or stat.S_IMODE(st.st_mode) != 0o700:
        fail(f"/var/lib/utpm: uid {st.st_uid} mode {oct(st.st_mode)}; want utpm, 0700")
    if "libtss2-tcti-utpm.so.0" not in run(["ldconfig", "-p"]).stdout:
        fail("libtss2-tcti-utpm.so.0 not in the loader cache (ldconfig trigger)")
    if shutil.which("man"):
        r = run(["man", "-w", "utpmd"], check=False)
        if r.returncode != 0 or "utpmd.8" not in r.stdout:
            log(f"note: man -w utpmd: {r.stdout.strip()} {r.stderr.strip()}")
    log("installed: binaries, TCTI module in " + libdir() + ", unit, sysusers, udev rule, man pages")


def verify_unit():
    if not shutil.which("systemd-analyze"):
        log("systemd-analyze not available: unit not verified")
        return
    r = run(["systemd-analyze", "verify", "/usr/lib/systemd/system/utpmd.service"], check=False,
            env=dict(clean_env(), SYSTEMD_LOG_LEVEL="notice"))
    out = (r.stdout + r.stderr).strip()
    if r.returncode != 0:
        fail(f"systemd-analyze verify: exit {r.returncode}: {out}")
    log("systemd-analyze verify utpmd.service: ok" + (f" ({out})" if out else ""))


def wait_for(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.05)
    fail(f"timed out waiting for {what}")


def hex16(out, what):
    out = out.strip()
    if not re.fullmatch(r"[0-9a-f]{32}", out):
        fail(f"{what}: not 16 random bytes in hex: {out!r}")
    return out


def tcti_by_name(tmp, utpmd="/usr/bin/utpmd", lib=None):
    """The installed utpmd on a pty, reached with -T utpm: without LD_LIBRARY_PATH; the loader
    must take the module from `lib` (default: the package's)."""
    env = clean_env()
    tag = os.path.basename(os.path.dirname(os.path.dirname(utpmd)))
    tty = os.path.join(tmp, f"tty-{tag}")
    logf = open(os.path.join(tmp, f"utpmd-pty-{tag}.log"), "w+")
    proc = subprocess.Popen([utpmd, "--state", os.path.join(tmp, f"state-{tag}"), "--pty", tty],
                            stdout=logf, stderr=subprocess.STDOUT, env=env)
    try:
        wait_for(lambda: os.path.exists(tty) or proc.poll() is not None, 30, "utpmd's pty")
        if proc.poll() is not None:
            logf.seek(0)
            fail(f"installed utpmd exited {proc.returncode}: {logf.read()}")
        tcti = f"utpm:device={tty}"
        run(["tpm2_startup", "-c", "-T", tcti], env=env, timeout=60)
        r = run(["tpm2_getrandom", "--hex", "16", "-T", tcti], env=dict(env, LD_DEBUG="libs"),
                timeout=60)
        hex16(r.stdout, "tpm2_getrandom -T utpm:")
        lib = lib or f"{libdir()}/libtss2-tcti-utpm.so.0"
        m = re.search(r"calling init: (\S*libtss2-tcti-utpm\.so\.0)\s", r.stderr)
        if not m or os.path.realpath(m.group(1)) != os.path.realpath(lib):
            fail(f"the TSS did not load {lib} (LD_DEBUG=libs):\n"
                 + "\n".join(l for l in r.stderr.splitlines() if "tcti" in l))
        log(f"tpm2_getrandom -T {tcti}: ok, {lib} loaded by name, no LD_LIBRARY_PATH")
    finally:
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=30)
    if rc != 0:
        fail(f"installed utpmd exited {rc} on SIGTERM")


def cmake_install_local(tmp):
    """`cmake --install --prefix /usr/local` (no package): the loader finds the module by name
    there too (the install runs ldconfig). Everything installed is removed again."""
    bdir = os.path.join(SRC, "build", "host-package")
    prefix = "/usr/local"
    multiarch = os.path.basename(libdir())
    lib = f"{prefix}/lib/{multiarch}/libtss2-tcti-utpm.so.0"
    mine = [f"{prefix}/bin/utpmd", f"{prefix}/bin/utpm", lib]
    if any(os.path.lexists(f) for f in mine):
        log(f"note: {prefix} already holds utpm files: cmake --install phase left out")
        return
    dirs_before = {d for d in glob.glob(f"{prefix}/**/", recursive=True)}
    manifest = os.path.join(bdir, "install_manifest.txt")
    try:
        r = run(["cmake", "--install", bdir, "--prefix", prefix], env=clean_env())
        if "Running ldconfig" not in r.stdout:
            fail(f"cmake --install did not refresh the loader cache:\n{r.stdout}")
        tcti_by_name(tmp, f"{prefix}/bin/utpmd", lib)
    finally:
        if os.path.exists(manifest):
            for f in open(manifest).read().split("\n"):
                if f and os.path.lexists(f):
                    os.unlink(f)
            os.unlink(manifest)
        for d in sorted(set(glob.glob(f"{prefix}/**/", recursive=True)) - dirs_before, key=len,
                        reverse=True):
            try:
                os.rmdir(d)
            except OSError:
                pass
        subprocess.run(["ldconfig"], check=False)
    if any(os.path.lexists(f) for f in mine):
        fail("cmake --install's files are still there after the cleanup")
    log(f"cmake --install --prefix {prefix}: {lib} found by name (ldconfig ran); removed again")


def unit_fields():
    fields = {}
    for line in open("/usr/lib/systemd/system/utpmd.service"):
        m = re.match(r"^(ExecStart|User|Group|UMask)=(.*)$", line.strip())
        if m:
            fields[m.group(1)] = m.group(2)
    for k in ("ExecStart", "User", "Group"):
        if k not in fields:
            fail(f"unit has no {k}=")
    return fields


def port_free(port):
    s = socket.socket()
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def unit_with_systemctl():
    if not port_free(2321) or not port_free(2322):
        fail("127.0.0.1:2321/2322 are in use: the unit cannot listen")
    run(["systemctl", "start", "utpmd.service"], timeout=60)
    try:
        env = clean_env()
        wait_for(lambda: not port_free(2321), 30, "utpmd.service listening")
        run(["tpm2_startup", "-c", "-T", MSSIM], env=env, timeout=60)
        hex16(run(["tpm2_getrandom", "--hex", "16", "-T", MSSIM], env=env, timeout=60).stdout,
              "tpm2_getrandom -T mssim: (utpmd.service)")
        pid = run(["systemctl", "show", "-p", "MainPID", "--value", "utpmd.service"]).stdout.strip()
        user = run(["ps", "-o", "user=", "-p", pid]).stdout.strip()
        if user != "utpm":
            fail(f"utpmd.service runs as {user!r}, not utpm")
        log(f"systemctl start utpmd: pid {pid} as utpm answers tpm2_getrandom -T {MSSIM}")
    finally:
        run(["systemctl", "stop", "utpmd.service"], check=False, timeout=60)


def unit_direct(tmp):
    """systemd does not run this machine: the unit's ExecStart as its User/Group/UMask, by hand."""
    f = unit_fields()
    if not shutil.which("unshare") or not shutil.which("setpriv") or not shutil.which("ip"):
        fail("need unshare, setpriv and ip to start the unit's command without systemd")
    script = os.path.join(tmp, "unit.sh")
    with open(script, "w") as s:
        s.write(f"""set -e
ip link set lo up
umask {f.get('UMask', '0022')}
setpriv --reuid={f['User']} --regid={f['Group']} --init-groups --no-new-privs -- \\
    {f['ExecStart']} >{tmp}/unit.log 2>&1 &
pid=$!
i=0
until grep -q 'utpmd: ready' {tmp}/unit.log; do
  i=$((i+1)); [ $i -lt 300 ] || {{ cat {tmp}/unit.log; kill $pid; exit 3; }}
  kill -0 $pid 2>/dev/null || {{ cat {tmp}/unit.log; exit 4; }}
  sleep 0.1
done
echo "owner: $(ps -o user= -p $pid)"
tpm2_startup -c -T {MSSIM}
echo "random: $(tpm2_getrandom --hex 16 -T {MSSIM})"
kill -TERM $pid
rc=0; wait $pid || rc=$?
echo "utpmd exit: $rc"
""")
    r = run(["unshare", "--net", "--", "/bin/sh", script], env=clean_env(), check=False, timeout=120,
            start_new_session=True)
    out = r.stdout + r.stderr
    if r.returncode != 0:
        fail(f"the unit's command in a private network namespace: exit {r.returncode}\n{out}")
    m = re.search(r"^random: (.*)$", out, re.M)
    hex16(m.group(1) if m else "", "tpm2_getrandom -T mssim: (the unit's ExecStart)")
    if not re.search(rf"^owner: {re.escape(f['User'])}$", out, re.M):
        fail(f"the unit's command did not run as {f['User']}: {out}")
    if "utpmd exit: 0" not in out:
        fail(f"the unit's utpmd did not stop cleanly: {out}")
    key = "/var/lib/utpm/nv.key"
    st = os.stat(key)
    if st.st_uid != pwd.getpwnam("utpm").pw_uid or stat.S_IMODE(st.st_mode) != 0o600:
        fail(f"{key}: uid {st.st_uid} mode {oct(st.st_mode)}; want utpm, 0600")
    log("systemd is not PID 1 here: started the unit's ExecStart directly "
        f"({f['ExecStart']}) as {f['User']} in a private network namespace; "
        f"tpm2_getrandom -T {MSSIM} answered, state in /var/lib/utpm owned by utpm")


def main():
    if os.geteuid() != 0:
        print("SKIP: the package test installs into the machine and needs root (CI runs it)")
        return SKIP
    for tool in ("dpkg", "cpack", "dpkg-shlibdeps", "tpm2_getrandom"):
        if not shutil.which(tool):
            print(f"SKIP: {tool} is missing")
            return SKIP
    if installed("utpm"):
        print("SKIP: a utpm package is already installed on this machine; not touching it")
        return SKIP
    tmp = tempfile.mkdtemp(prefix="utpm-pkg-")
    os.chmod(tmp, 0o755)
    we_installed = False
    try:
        deb = build_deb(os.path.join(tmp, "out"))
        log(f"built {os.path.basename(deb)}: {os.path.getsize(deb)} bytes")
        check_control(deb)
        t_install = time.monotonic()
        run(["dpkg", "-i", deb], timeout=300)
        we_installed = True
        check_installed()
        verify_unit()
        tcti_by_name(tmp)
        if os.path.isdir("/run/systemd/system") and shutil.which("systemctl"):
            unit_with_systemctl()
        else:
            unit_direct(tmp)
        run(["dpkg", "--purge", "utpm"], timeout=300)
        we_installed = False
        for f in expected_files() + ["/var/lib/utpm"]:
            if os.path.exists(f):
                fail(f"{f} left after dpkg --purge")
        if run(["pgrep", "-x", "utpmd", "-U", "utpm"], check=False).returncode == 0:
            fail("a utpmd of the utpm user still runs after the purge")
        log(f"dpkg --purge utpm: everything removed; install-to-purge {time.monotonic() - t_install:.1f}s")
        cmake_install_local(tmp)
        return 0
    except AssertionError as e:
        print("FAIL:", e, flush=True)
        return 1
    finally:
        if we_installed:
            subprocess.run(["dpkg", "--purge", "utpm"], capture_output=True, timeout=300)
        shutil.rmtree(tmp, ignore_errors=True)
        log("done")


if __name__ == "__main__":
    sys.exit(main())
