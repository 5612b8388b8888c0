#!/usr/bin/env bash
# esysbench side by side: utpmd beside swtpm, started by this script on loopback with temporary
# state, measured in ONE interleaved run (round by round), printed as one table with the ratio
# utpm/swtpm per group (server CPU per op is the fair figure on a shared machine).
#
#   bench/esysbench_compare.sh [-r ROUNDS] [-o OUTDIR] [-a "esysbench args"]
#     e.g. bench/esysbench_compare.sh -r 1 -a "--only getrandom,pcr*,hash*"
#          bench/esysbench_compare.sh -a "--fixed-unique"   (repeat-template CreatePrimary)
#
# Needs: libtss2-dev, swtpm, the shared bench (BENCH_SRC, default /work/shared/bench: esysbench.c,
# run_compare.sh, compare.py) and utpmd in build/host-release (UTPMD overrides).
# Servers are stopped by PID on exit; nothing is left behind unless -o names a directory.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
BENCH_SRC=${BENCH_SRC:-/work/shared/bench}
UTPMD=${UTPMD:-$ROOT/build/host-release/src/host/utpmd}
ROUNDS=2 OUT="" ARGS=""
while getopts "r:o:a:h" o; do
  case $o in r) ROUNDS=$OPTARG;; o) OUT=$OPTARG;; a) ARGS=$OPTARG;; *) sed -n '2,12p' "$0"; exit 2;; esac
done
[ -x "$UTPMD" ] || { echo "build utpmd first: cmake --preset host-release && cmake --build build/host-release -j2" >&2; exit 1; }
[ -f "$BENCH_SRC/esysbench.c" ] || { echo "no esysbench.c in $BENCH_SRC (set BENCH_SRC)" >&2; exit 1; }
command -v swtpm >/dev/null || { echo "swtpm not installed" >&2; exit 1; }

# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"
bench_scratch esysbench
[ -n "$OUT" ] || OUT="$WORK/out"

# esysbench is built here (the shared directory may be read-only).
PKGS="tss2-esys tss2-tctildr tss2-sys tss2-rc"
# shellcheck disable=SC2046
cc -O2 -g -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers \
  -o "$WORK/esysbench" "$BENCH_SRC/esysbench.c" $(pkg-config --cflags --libs $PKGS) -lm
cp "$BENCH_SRC/run_compare.sh" "$BENCH_SRC/compare.py" "$WORK/"


P=$(free_pair)
"$UTPMD" --state "$WORK/utpmd" --mssim "127.0.0.1:$P" 2>"$WORK/utpmd.log" & PIDS+=($!)
wait_port "$P"; UTPM="utpm=mssim:host=127.0.0.1,port=$P@${PIDS[-1]}"

P=$(free_pair); mkdir -p "$WORK/swtpm"
swtpm socket --tpm2 --server "type=tcp,port=$P,bindaddr=127.0.0.1" \
  --ctrl "type=tcp,port=$((P + 1)),bindaddr=127.0.0.1" --tpmstate "dir=$WORK/swtpm" \
  --flags not-need-init,startup-clear & PIDS+=($!)
wait_port "$P"; SWTPM="swtpm=swtpm:host=127.0.0.1,port=$P@${PIDS[-1]}"

echo "utpmd: $UTPMD ($(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')); swtpm: $(swtpm --version 2>&1 | head -1)" >&2
# swtpm first: compare.py takes the first target as the baseline, so ratio = utpm / swtpm.
"$WORK/run_compare.sh" -r "$ROUNDS" -o "$OUT" ${ARGS:+-a "$ARGS"} "$SWTPM" "$UTPM"
python3 "$HERE/esysbench_ratio.py" "$OUT"
