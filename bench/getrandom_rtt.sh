#!/usr/bin/env bash
# GetRandom round trip through the stock tpm2-tss client path, utpmd next to swtpm, measured
# in the same run and interleaved (wall times on a shared machine drift between runs; compare
# within a run). Starts every server itself on loopback with temporary state, stops them by PID.
#
#   bench/getrandom_rtt.sh [-n CALLS] [-r ROUNDS]
#
# Targets:
#   utpmd        utpmd (build/host-release) through the mssim TCTI
#   swtpm-shim   swtpm behind the bench mssim shim (SWTPM_SHIM, default
#                /work/shared/bench/mssim-swtpm-shim): same TCTI as utpmd, plus a Python hop
#   swtpm        swtpm through its own TCTI (swtpm:), its native path
#   utpmd-pty    utpmd's virtual serial port through tpm2-tss's device TCTI (-T device:)
#   utpmd-tcti   the same pty through our TCTI (-T utpm:, mssim frames), if it is built
# Needs: cc, libtss2-dev, swtpm (scripts/setup installs them); utpmd built in host-release.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
CALLS=2000 ROUNDS=3
while getopts "n:r:h" o; do
  case $o in n) CALLS=$OPTARG;; r) ROUNDS=$OPTARG;; *) sed -n '2,16p' "$0"; exit 2;; esac
done
UTPMD=${UTPMD:-$ROOT/build/host-release/src/host/utpmd}
SHIM=${SWTPM_SHIM:-/work/shared/bench/mssim-swtpm-shim}
[ -x "$UTPMD" ] || { echo "build utpmd first: cmake --preset host-release && cmake --build --preset host-release" >&2; exit 1; }

# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"
bench_scratch bench

PKGS="tss2-esys tss2-tctildr tss2-rc"
# shellcheck disable=SC2046
cc -O2 -Wall -Wextra -o "$WORK/getrandom_rtt" "$HERE/getrandom_rtt.c" $(pkg-config --cflags --libs $PKGS)


declare -A TCTI SPID
P=$(free_pair)
"$UTPMD" --state "$WORK/utpmd" --mssim "127.0.0.1:$P" --pty "$WORK/utpmd-tty" \
  2>"$WORK/utpmd.log" & PIDS+=($!)
wait_port "$P"; TCTI[utpmd]="mssim:host=127.0.0.1,port=$P"; SPID[utpmd]=${PIDS[-1]}
TCTI[utpmd-pty]="device:$WORK/utpmd-tty"; SPID[utpmd-pty]=${PIDS[-1]}
TCTI_DIR=$(dirname "$UTPMD")/../../lib  # build/<preset>/lib: libtss2-tcti-utpm.so.0
if [ -e "$TCTI_DIR/libtss2-tcti-utpm.so.0" ]; then
  TCTI[utpmd-tcti]="utpm:device=$WORK/utpmd-tty"; SPID[utpmd-tcti]=${PIDS[-1]}
  export LD_LIBRARY_PATH="$(cd "$TCTI_DIR" && pwd)${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi

if [ -x "$SHIM" ]; then
  P=$(free_pair); mkdir -p "$WORK/shim"
  (cd "$WORK/shim" && exec "$SHIM" -port "$P" -rm >/dev/null 2>&1) & PIDS+=($!)
  wait_port "$((P + 1))"; TCTI[swtpm-shim]="mssim:host=127.0.0.1,port=$P"; SPID[swtpm-shim]=""
fi

P=$(free_pair); mkdir -p "$WORK/swtpm"
swtpm socket --tpm2 --server "type=tcp,port=$P,bindaddr=127.0.0.1" \
  --ctrl "type=tcp,port=$((P + 1)),bindaddr=127.0.0.1" --tpmstate "dir=$WORK/swtpm" \
  --flags not-need-init,startup-clear & PIDS+=($!)
wait_port "$P"; TCTI[swtpm]="swtpm:host=127.0.0.1,port=$P"; SPID[swtpm]=${PIDS[-1]}

TARGETS=(utpmd)
[ -n "${TCTI[swtpm-shim]:-}" ] && TARGETS+=(swtpm-shim)
TARGETS+=(swtpm utpmd-pty)
[ -n "${TCTI[utpmd-tcti]:-}" ] && TARGETS+=(utpmd-tcti)
for r in $(seq "$ROUNDS"); do
  for t in "${TARGETS[@]}"; do
    printf 'round %s %-10s ' "$r" "$t"
    "$WORK/getrandom_rtt" -T "${TCTI[$t]}" -n "$CALLS" ${SPID[$t]:+-p ${SPID[$t]}}
  done
done
