#!/usr/bin/env python3
"""Host scale of utpmd (issue 13): N TPM instances in ONE utpmd process (--instance) beside
swtpm's one process per TPM, measured in the same run on this machine.

    bench/scale.py [-n 64] [-d SECONDS] [--utpmd PATH] [--swtpm PATH]

Prints one table:
  - memory per idle instance (PSS, and anonymous PSS without file-backed pages: see mem()):
    utpm = (PSS of the N-instance utpmd - PSS of a 1-instance utpmd)
    / (N-1) (the marginal cost; RSS alike), swtpm = the N processes' PSS (and RSS) / N; every
    instance has run TPM2_Startup and a few commands first ("idle" = initialised, no client);
    instances per GiB follow from it;
  - start-up: wall time from exec to listening, per instance, for a fresh state directory and
    for a restart on existing state (utpmd: one process for all N, divided by N; swtpm: N
    processes started one after the other, each waited for);
  - throughput with N instances busy at once (utpmd with one poll loop, and --threads 2): bench/scale_client.c keeps one command in flight
    per instance (closed loop) for SECONDS; total ops/s, the slowest and fastest instance, and
    the servers' CPU per op (utime+stime from /proc). utpmd serves N instances from one thread
    (one core); swtpm's N processes can use both cores.
Servers listen on loopback with temporary state and are stopped by PID. No assertions: a
measurement, run it by hand (2-core shared VM: compare within one run).
"""
import argparse
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CLK = os.sysconf("SC_CLK_TCK")


def free_pairs(n, taken):
    out = []
    while len(out) < n:
        p = random.randrange(20000, 60000, 2)
        if p in taken or p + 1 in taken:
            continue
        try:
            for q in (p, p + 1):
                s = socket.socket()
                s.bind(("127.0.0.1", q))
                s.close()
        except OSError:
            continue
        taken.update((p, p + 1))
        out.append(p)
    return out


def wait_port(port, deadline=30.0):
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.002)
    raise RuntimeError(f"nothing listens on {port}")


def mem(pid):
    """(rss_kib, pss_kib, pss_anon_kib) from /proc/PID/smaps_rollup. Pss_Anon leaves out
    file-backed pages: utpmd maps each instance's store file read-only (FileFlash), whose clean
    page-cache pages count in its PSS but are reclaimable, as swtpm's state files in the page
    cache are (not counted in its PSS: it reads them with read())."""
    rss = pss = anon = 0
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Rss:"):
                rss = int(line.split()[1])
            elif line.startswith("Pss:"):
                pss = int(line.split()[1])
            elif line.startswith("Pss_Anon:"):
                anon = int(line.split()[1])
    return rss, pss, anon


def cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK


def stop(procs):
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


class Utpm:
    def __init__(self, exe, work, n, ports, threads=1):
        self.exe, self.work, self.n, self.ports, self.threads = exe, work, n, ports, threads
        self.proc = None

    def start(self):
        args = [self.exe, "--threads", str(self.threads)]
        for i, p in enumerate(self.ports[:self.n]):
            args += ["--instance", f"i{i},state={self.work}/u{i},port={p}"]
        t0 = time.monotonic()
        self.proc = subprocess.Popen(args, stderr=subprocess.PIPE, text=True)
        for line in self.proc.stderr:
            if line.startswith("utpmd: ready"):
                break
        else:
            raise RuntimeError("utpmd did not start")
        took = time.monotonic() - t0
        self.proc.stderr.close()
        return took

    def pids(self):
        return [self.proc.pid]

    def stop(self):
        stop([self.proc])


class Swtpm:
    def __init__(self, exe, work, n, ports):
        self.exe, self.work, self.n, self.ports = exe, work, n, ports
        self.procs = []

    def start(self):
        t0 = time.monotonic()
        for i, p in enumerate(self.ports[:self.n]):
            d = f"{self.work}/s{i}"
            os.makedirs(d, exist_ok=True)
            self.procs.append(subprocess.Popen(
                [self.exe, "socket", "--tpm2", "--server", f"type=tcp,port={p},bindaddr=127.0.0.1",
                 "--ctrl", f"type=tcp,port={p + 1},bindaddr=127.0.0.1", "--tpmstate", f"dir={d}",
                 "--flags", "not-need-init,startup-clear"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            wait_port(p)
        return time.monotonic() - t0

    def pids(self):
        return [p.pid for p in self.procs]

    def stop(self):
        stop(self.procs)
        self.procs = []


def load(client, mode, what, seconds, ports, pids):
    c0 = sum(cpu_s(p) for p in pids)
    out = subprocess.run([client, mode, what, str(seconds)] + [str(p) for p in ports],
                         capture_output=True, text=True, check=True).stdout.split()
    c1 = sum(cpu_s(p) for p in pids)
    total, mn, mx, took = int(out[0]), int(out[1]), int(out[2]), float(out[3])
    return total / took, mn / took, mx / took, (c1 - c0) / max(total, 1) * 1e6


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=64)
    ap.add_argument("-d", type=float, default=5.0)
    ap.add_argument("--utpmd", default=os.environ.get("UTPMD", f"{ROOT}/build/host-release/src/host/utpmd"))
    ap.add_argument("--swtpm", default=shutil.which("swtpm") or "/usr/bin/swtpm")
    a = ap.parse_args()
    n = a.n
    work = tempfile.mkdtemp(prefix="utpm-scale-")
    os.chmod(work, 0o700)
    client = f"{work}/scale_client"
    subprocess.run(["cc", "-O2", "-o", client, f"{HERE}/scale_client.c"], check=True)
    taken = set()
    uports, sports = free_pairs(n, taken), free_pairs(n, taken)
    rows = []
    try:
        # --- utpmd: 1 instance (baseline), then N; fresh start, then restart ---
        one = Utpm(a.utpmd, f"{work}/one", 1, uports)
        os.makedirs(one.work)
        one.start()
        load(client, "mssim", "getrandom", 0.2, uports[:1], one.pids())
        rss1, pss1, anon1 = mem(one.proc.pid)
        one.stop()
        u = Utpm(a.utpmd, work, n, uports)
        u_fresh = u.start()
        load(client, "mssim", "getrandom", 0.2, uports[:n], u.pids())
        rssn, pssn, anonn = mem(u.proc.pid)
        u.stop()
        u_restart = u.start()
        u_thr = {w: load(client, "mssim", w, a.d, uports[:n], u.pids())
                 for w in ("getrandom", "pcrextend")}
        u.stop()
        u2 = Utpm(a.utpmd, work, n, uports, threads=2)
        u2.start()
        u2_thr = {w: load(client, "mssim", w, a.d, uports[:n], u2.pids())
                  for w in ("getrandom", "pcrextend")}
        u2.stop()
        # --- swtpm: N processes ---
        s = Swtpm(a.swtpm, work, n, sports)
        s_fresh = s.start()
        load(client, "raw", "getrandom", 0.2, sports[:n], s.pids())
        ms = [mem(p) for p in s.pids()]
        s_rss, s_pss, s_anon = (sum(m[i] for m in ms) for i in range(3))
        s.stop()
        s_restart = s.start()
        s_thr = {w: load(client, "raw", w, a.d, sports[:n], s.pids())
                 for w in ("getrandom", "pcrextend")}
        s.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)

    u_pss_inst = (pssn - pss1) / (n - 1)
    u_rss_inst = (rssn - rss1) / (n - 1)
    u_anon_inst = (anonn - anon1) / (n - 1)
    print(f"scale: {n} TPM instances, utpmd {a.utpmd} (one process) vs swtpm {a.swtpm} "
          f"({n} processes); {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
    print()
    print(f"| figure | utpm | swtpm | utpm/swtpm |")
    print(f"|---|---|---|---|")

    def row(name, uv, sv, fmt="{:.1f}"):
        ratio = uv / sv if sv else float("nan")
        print(f"| {name} | {fmt.format(uv)} | {fmt.format(sv)} | {ratio:.2f} |")

    row("PSS per idle instance, KiB", u_pss_inst, s_pss / n, "{:.0f}")
    row("RSS per idle instance, KiB", u_rss_inst, s_rss / n, "{:.0f}")
    row(f"total PSS of {n} instances, MiB", pssn / 1024, s_pss / 1024)
    row("instances per GiB (PSS)", (1 << 20) / max(u_pss_inst, 1), (1 << 20) / (s_pss / n), "{:.0f}")
    row("anonymous PSS per idle instance, KiB", u_anon_inst, s_anon / n, "{:.0f}")
    row("instances per GiB (anonymous PSS)", (1 << 20) / max(u_anon_inst, 1), (1 << 20) / max(s_anon / n, 1), "{:.0f}")
    row("start-up per instance, fresh state, ms", u_fresh * 1000 / n, s_fresh * 1000 / n, "{:.2f}")
    row("start-up per instance, restart, ms", u_restart * 1000 / n, s_restart * 1000 / n, "{:.2f}")
    for w in ("getrandom", "pcrextend"):
        ut, st = u_thr[w], s_thr[w]
        row(f"{w}: ops/s, {n} instances busy", ut[0], st[0], "{:.0f}")
        row(f"{w}: slowest / fastest instance ops/s", ut[1], st[1], "{:.0f}")
        print(f"|   (fastest) | {ut[2]:.0f} | {st[2]:.0f} | |")
        row(f"{w}: server CPU per op, us", ut[3], st[3])
        u2t = u2_thr[w]
        row(f"{w}: ops/s, utpmd --threads 2", u2t[0], st[0], "{:.0f}")
        row(f"{w}: slowest instance ops/s, --threads 2", u2t[1], st[1], "{:.0f}")
        row(f"{w}: server CPU per op, us, --threads 2", u2t[3], st[3])
    print()
    print(f"utpmd 1-instance process: RSS {rss1} KiB, PSS {pss1} KiB; {n}-instance: RSS {rssn} KiB, "
          f"PSS {pssn} KiB (whole process, start-up {u_fresh * 1000:.0f} ms fresh, "
          f"{u_restart * 1000:.0f} ms restart)")


if __name__ == "__main__":
    sys.exit(main())
