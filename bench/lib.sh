# Sourced by the bench scripts: a scratch directory ($WORK) and the servers a script starts
# ($PIDS), stopped by PID and removed when the script exits, however it exits.
#   . "$HERE/lib.sh"; bench_scratch NAME; ...; PIDS+=($!)
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
