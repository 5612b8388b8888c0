#!/usr/bin/python3
"""Server CPU per policy unseal: StartAuthSession(policy) + PolicyPCR + Unseal (issue 10).

The operation a disk-unlock tool (clevis, systemd-cryptenroll) performs at every boot. Both TPMs
are started here on loopback and driven through the same client path (tpm2-pytss ESAPI);
each one's CPU is read from /proc/PID/task/*/schedstat (on-CPU ns of every thread, the figure
esysbench reports), so the client's own cost does not count. Rounds alternate between the TPMs
so that machine noise hits both alike; the table gives the median per round and the ratio.

    bench/policy_unseal.py --utpmd build/host-release/src/host/utpmd [-n 300] [-r 5]
"""
import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

from tpm2_pytss import ESAPI, TCTILdr
from tpm2_pytss.constants import ESYS_TR, TPM2_ALG, TPM2_SE
from tpm2_pytss.types import (TPM2B_PUBLIC, TPM2B_SENSITIVE_CREATE, TPML_PCR_SELECTION, TPMT_SYM_DEF,
                              TPMS_SENSITIVE_CREATE, TPM2B_SENSITIVE_DATA, TPM2B_DIGEST)


def free_port_pair():
    """An even port P with P and P + 1 free (bind(0) gives odd ports on Linux: pick at random)."""
    import random
    while True:
        p = random.randrange(20000, 60000) & ~1
        with socket.socket() as a, socket.socket() as b:
            try:
                a.bind(("127.0.0.1", p))
                b.bind(("127.0.0.1", p + 1))
                return p
            except OSError:
                continue


def wait_port(port):
    for _ in range(300):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.02)
    sys.exit(f"nothing listens on {port}")


def server_cpu_ns(pid):
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
            total += int(f.read().split()[0])
    return total


class Server:
    def __init__(self, label, argv, tcti, conf, port, state):
        self.label, self.tcti, self.conf, self.port, self.state = label, tcti, conf, port, state
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(port)

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def start_utpmd(path, tmp):
    port = free_port_pair()
    state = os.path.join(tmp, "utpmd")
    os.makedirs(state)
    return Server("utpm", [path, "--state", state, "--mssim", f"127.0.0.1:{port}"], "mssim",
                  f"host=127.0.0.1,port={port}", port, state)


def start_swtpm(tmp):
    port = free_port_pair()
    state = os.path.join(tmp, "swtpm")
    os.makedirs(state)
    return Server("swtpm", ["swtpm", "socket", "--tpm2", "--server", f"type=tcp,port={port},bindaddr=127.0.0.1",
                            "--ctrl", f"type=tcp,port={port + 1},bindaddr=127.0.0.1", "--tpmstate", f"dir={state}",
                            "--flags", "not-need-init,startup-clear"], "swtpm",
                  f"host=127.0.0.1,port={port}", port, state)


class Bench:
    """One ESAPI connection with a sealed object whose authPolicy is PolicyPCR(sha256:0)."""

    def __init__(self, server):
        self.server = server
        self.esys = ESAPI(TCTILdr(server.tcti, server.conf))
        if server.tcti == "mssim":
            self.esys.startup(0)  # TPM2_SU_CLEAR (swtpm starts itself: startup-clear)
        self.pcrs = TPML_PCR_SELECTION.parse("sha256:0")
        parent_tpl = TPM2B_PUBLIC.parse("ecc256:aes128cfb", objectAttributes="userwithauth|restricted|decrypt|"
                                        "fixedtpm|fixedparent|sensitivedataorigin")
        self.parent = self.esys.create_primary(TPM2B_SENSITIVE_CREATE(), parent_tpl)[0]
        trial = self.esys.start_auth_session(ESYS_TR.NONE, ESYS_TR.NONE, TPM2_SE.TRIAL,
                                             TPMT_SYM_DEF(algorithm=TPM2_ALG.NULL), TPM2_ALG.SHA256)
        self.esys.policy_pcr(trial, TPM2B_DIGEST(), self.pcrs)
        policy = self.esys.policy_get_digest(trial)
        self.esys.flush_context(trial)
        seal_tpl = TPM2B_PUBLIC.parse("keyedhash", objectAttributes="fixedtpm|fixedparent", authPolicy=policy)
        self.secret = b"disk key " + os.urandom(16)
        sens = TPM2B_SENSITIVE_CREATE(TPMS_SENSITIVE_CREATE(data=TPM2B_SENSITIVE_DATA(self.secret)))
        priv, pub = self.esys.create(self.parent, sens, seal_tpl)[:2]
        self.sealed = self.esys.load(self.parent, priv, pub)

    def once(self):
        s = self.esys.start_auth_session(ESYS_TR.NONE, ESYS_TR.NONE, TPM2_SE.POLICY,
                                         TPMT_SYM_DEF(algorithm=TPM2_ALG.NULL), TPM2_ALG.SHA256)
        self.esys.policy_pcr(s, TPM2B_DIGEST(), self.pcrs)
        self.esys.trsess_set_attributes(s, 0, 0xFF)  # continueSession clear: Unseal ends the session
        out = self.esys.unseal(self.sealed, session1=s)
        if bytes(out) != self.secret:
            sys.exit(f"{self.server.label}: unsealed the wrong secret")

    def round(self, n):
        c0 = server_cpu_ns(self.server.proc.pid)
        for _ in range(n):
            self.once()
        return (server_cpu_ns(self.server.proc.pid) - c0) / n / 1000.0

    def close(self):
        self.esys.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--utpmd", required=True, help="the utpmd binary (a release build)")
    ap.add_argument("-n", type=int, default=300, help="operations per round")
    ap.add_argument("-r", type=int, default=5, help="rounds per TPM")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="utpm-policy-bench-")
    servers = []
    try:
        servers = [start_swtpm(tmp), start_utpmd(args.utpmd, tmp)]
        benches = [Bench(s) for s in servers]
        for b in benches:  # warm-up
            b.round(10)
        per = {b.server.label: [] for b in benches}
        for _ in range(args.r):
            for b in benches:
                per[b.server.label].append(b.round(args.n))
        for b in benches:
            b.close()
        base = statistics.median(per["swtpm"])
        print("StartAuthSession(policy) + PolicyPCR(sha256:0) + Unseal, server CPU per op "
              f"(median of {args.r} rounds x {args.n})")
        for label, v in per.items():
            m = statistics.median(v)
            print(f"  {label:6s} {m:9.1f} us   ratio {m / base:5.2f}   rounds {', '.join(f'{x:.1f}' for x in v)}")
    finally:
        for s in servers:
            s.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
