#!/bin/sh
# Callgrind instruction counts of TPM2_CreatePrimary (RSA-2048, tpm2-tools' default template
# under the owner hierarchy): the first derivation, a repeat with the same template, and a
# repeat after restarting utpmd on the same state (the derivation cache, issue 13).
#   bench/createprimary_callgrind.sh [UTPMD]   (default build/host-release/src/host/utpmd)
# The first derivation's cost depends on the seed (the prime search): for an A/B, give both
# binaries the same seeds with STATE=DIR (a utpmd state directory, copied, never modified).
# Needs valgrind and tpm2-tools. Prints one line per CreatePrimary: instructions (Ir).
set -eu
UTPMD=${1:-build/host-release/src/host/utpmd}
PORT=${PORT:-23521}
WORK=$(mktemp -d)
trap 'kill $PID 2>/dev/null || true; rm -rf "$WORK"' EXIT
TCTI="mssim:host=127.0.0.1,port=$PORT"
if [ -n "${STATE:-}" ]; then cp -r "$STATE" "$WORK/state"; fi
start() {
  valgrind --tool=callgrind --callgrind-out-file="$WORK/cg.$1.%p" \
    --toggle-collect='utpm::tpm::TPM2_CreatePrimary*' \
    "$UTPMD" --state "$WORK/state" --mssim "127.0.0.1:$PORT" 2>"$WORK/vg.$1.log" &
  PID=$!
  for _ in $(seq 100); do
    tpm2_startup -T "$TCTI" -c 2>/dev/null && return 0
    sleep 0.3
  done
  echo "utpmd did not start" >&2; exit 1
}
one() {
  tpm2_createprimary -T "$TCTI" -C o -c "$WORK/p.ctx" >/dev/null
  tpm2_flushcontext -T "$TCTI" -t >/dev/null
  callgrind_control -d "$1" "$PID" >/dev/null
}
total() { callgrind_annotate "$1" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",","",$1); print $1}'; }
start a
one first
one repeat
kill -INT $PID; wait $PID || true
start b
one after_restart
kill -INT $PID; wait $PID || true
for f in "$WORK"/cg.*; do
  case "$f" in *.[0-9]*.[0-9]*) ;; *) continue ;; esac
  printf '%s %s\n' "$(grep -m1 '^desc: Trigger' "$f" | sed 's/.*: //')" "$(total "$f")"
done | sort
