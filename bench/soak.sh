#!/usr/bin/env bash
# Soak (issue 14): tests/e2e/soak_test.py at full size on the release build: four clients at once
# over mssim (2), the pty and the unix socket, 10^5 mixed commands, and a client that drops 10^4
# connections mid-command. Prints utpmd's RSS over time and fails if RSS grows by more than 10 %
# after the warm-up, if any answer is wrong, or if a file descriptor leaks.
#
#   bench/soak.sh [COMMANDS] [DROPS]      (defaults 100000 10000)
# Needs: utpmd built in build/host-release (cmake --preset host-release && cmake --build ...).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
UTPMD=${UTPMD:-$ROOT/build/host-release/src/host/utpmd}
[ -x "$UTPMD" ] || { echo "soak: $UTPMD not built (cmake --preset host-release)" >&2; exit 2; }
cd "$ROOT/tests/e2e"
UTPMD=$UTPMD UTPM_SOAK_COMMANDS=${1:-100000} UTPM_SOAK_DROPS=${2:-10000} UTPM_SOAK_RSS_REPORT=1 \
  UTPM_SOAK_RSS_GROWTH=0.10 PYTHONDONTWRITEBYTECODE=1 exec /usr/bin/python3 soak_test.py -v
