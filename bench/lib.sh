# Sourced by the bench scripts: a scratch directory ($WORK) and the servers a script starts
# ($PIDS), stopped by PID and removed when the script exits, however it exits; free_pair and
# wait_port for the loopback ports those servers listen on.
#   . "$HERE/lib.sh"; bench_scratch NAME; ...; P=$(free_pair); ...; PIDS+=($!); wait_port "$P"
bench_scratch() {
  WORK=$(mktemp -d "/tmp/utpm-$1-XXXXXX")
  PIDS=()
  trap bench_cleanup EXIT
}

bench_cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}

free_pair() {  # a port P with P and P+1 free on loopback
  python3 - <<'PY'
import random, socket
while True:
    p = random.randrange(20000, 60000, 2)
    try:
        for q in (p, p + 1):
            s = socket.socket(); s.bind(("127.0.0.1", q)); s.close()
        print(p); break
    except OSError:
        pass
PY
}
wait_port() { for _ in $(seq 200); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.05; done; return 1; }
