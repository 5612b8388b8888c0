#!/usr/bin/env bash
# Syscalls utpmd makes per command (the per-command floor of issue 13), counted with
# `strace -c -f` attached to the server while a client runs N commands:
#   esapi-mssim  TPM2_GetRandom through ESAPI and the stock mssim TCTI (tpm2-tss sends the
#                9-byte mssim prefix and the command in two writes)
#   raw-1write   a raw mssim client that sends prefix+command in one write (the floor a
#                client can reach: one read and one write per command)
# The division by N is per command; strace's own overhead does not change the counts.
#
#   bench/syscalls_per_command.sh [-n CALLS] [UTPMD ...]   (default: build/host-release utpmd)
# e.g. before/after:  bench/syscalls_per_command.sh /work/main/build/host-release/src/host/utpmd \
#                       build/host-release/src/host/utpmd
# Needs strace, cc, libtss2-dev. Servers are started on loopback and stopped by PID.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
CALLS=2000
while getopts "n:h" o; do
  case $o in n) CALLS=$OPTARG;; *) sed -n '2,14p' "$0"; exit 2;; esac
done
shift $((OPTIND - 1))
[ $# -gt 0 ] || set -- "$ROOT/build/host-release/src/host/utpmd"
command -v strace >/dev/null || { echo "strace not installed" >&2; exit 1; }

# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"
bench_scratch syscalls
# shellcheck disable=SC2046
cc -O2 -Wall -o "$WORK/getrandom_rtt" "$HERE/getrandom_rtt.c" $(pkg-config --cflags --libs tss2-esys tss2-tctildr tss2-rc)
cat > "$WORK/raw.py" <<'PY'
import socket, struct, sys
port, n = int(sys.argv[1]), int(sys.argv[2])
s = socket.create_connection(("127.0.0.1", port))
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
def rt(cmd):
    s.sendall(struct.pack(">IBI", 8, 0, len(cmd)) + cmd)
    d = b""
    while len(d) < 4: d += s.recv(4096)
    size = struct.unpack(">I", d[:4])[0]
    while len(d) < 8 + size: d += s.recv(4096)
rt(struct.pack(">HIIH", 0x8001, 12, 0x144, 0))  # Startup (may be INITIALIZE already: fine)
for _ in range(n): rt(struct.pack(">HIIH", 0x8001, 12, 0x17B, 16))
PY
free_pair() {
  python3 -c '
import random, socket
while True:
    p = random.randrange(20000, 60000, 2)
    try:
        for q in (p, p + 1):
            s = socket.socket(); s.bind(("127.0.0.1", q)); s.close()
        print(p); break
    except OSError: pass'
}
wait_port() { for _ in $(seq 200); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.05; done; return 1; }

printf '%-60s %-12s %8s %8s %8s %8s %8s %8s\n' server client poll read setsockopt sendto write total
i=0
for UTPMD in "$@"; do
  i=$((i + 1))
  for client in esapi-mssim raw-1write; do
    P=$(free_pair)
    mkdir -p "$WORK/s$i$client"
    "$UTPMD" --state "$WORK/s$i$client" --mssim "127.0.0.1:$P" 2>/dev/null & SP=$!; PIDS+=($SP)
    wait_port "$P"
    # Warm up (connection set-up, Startup) outside the count.
    if [ $client = esapi-mssim ]; then "$WORK/getrandom_rtt" -T "mssim:host=127.0.0.1,port=$P" -n 10 >/dev/null
    else python3 "$WORK/raw.py" "$P" 10; fi
    strace -c -f -q -p "$SP" -o "$WORK/strace.$i.$client" & ST=$!
    sleep 0.5
    if [ $client = esapi-mssim ]; then "$WORK/getrandom_rtt" -T "mssim:host=127.0.0.1,port=$P" -n "$CALLS" >/dev/null
    else python3 "$WORK/raw.py" "$P" "$CALLS"; fi
    kill -INT "$ST"; wait "$ST" 2>/dev/null || true
    kill "$SP"; wait "$SP" 2>/dev/null || true
    python3 - "$WORK/strace.$i.$client" "$CALLS" "$UTPMD" "$client" <<'PY'
import sys
path, n, server, client = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
counts = {}
for line in open(path):
    f = line.split()
    if len(f) >= 5 and f[0][0].isdigit() and f[-1] != "total":
        counts[f[-1]] = int(f[3])
per = lambda k: counts.get(k, 0) / n
total = sum(counts.values()) / n
print(f"{server[-60:]:<60} {client:<12} " + " ".join(f"{per(k):8.2f}" for k in ("poll", "read", "setsockopt", "sendto", "write")) + f" {total:8.2f}")
PY
  done
done
