#!/usr/bin/env bash
# The mbedTLS options of the firmware, A/B: builds one fw-qemu image per variant (build/fw-qemu-opt-*)
# and prints each one's RAM, flash and bench/mcu_table.py figures (Cortex-M4 instructions under
# QEMU -icount, ms at 80 MHz) side by side. The first variant is the committed configuration.
# Usage: bench/mcu_options.sh [--rsa-primary]   (needs scripts/setup and scripts/fetch-mbedtls)
set -euo pipefail
cd "$(dirname "$0")/.."
TABLE_ARGS=(--json --no-rsa-primary)
[[ "${1:-}" == "--rsa-primary" ]] && TABLE_ARGS=(--json)
# name | mbedTLS -D overrides | modules at -O2 | crypto pool bytes
VARIANTS=(
  "committed|||12288"
  "before (window 2, no comb table, all -Os)|MBEDTLS_ECP_WINDOW_SIZE=2;MBEDTLS_ECP_FIXED_POINT_OPTIM=0|none|12288"
  "window 4, no comb table, all -Os|MBEDTLS_ECP_FIXED_POINT_OPTIM=0|none|12288"
  "comb table, all -Os||none|12288"
  "window 5 + comb table, 14 KB pool|MBEDTLS_ECP_WINDOW_SIZE=5||14336"
  "MPI window 4|MBEDTLS_MPI_WINDOW_SIZE=4||12288"
)
results=()
i=0
for v in "${VARIANTS[@]}"; do
  IFS='|' read -r name defs modules pool <<<"$v"
  dir=build/fw-qemu-opt-$i
  args=(-DUTPM_FW_MBEDTLS_DEFINES="$defs" -DUTPM_FW_CRYPTO_POOL="$pool")
  if [[ "$modules" == none ]]; then args+=(-DUTPM_FW_MBEDTLS_FAST_MODULES=); elif [[ -n "$modules" ]]; then
    args+=(-DUTPM_FW_MBEDTLS_FAST_MODULES="$modules"); fi
  cmake --preset fw-qemu -B "$dir" "${args[@]}" >/dev/null
  mem=$(cmake --build "$dir" -j2 --target firmware 2>&1 | grep -E '^  (RAM|flash) ' | awk '{print $2}' | paste -sd' ')
  json=$(/usr/bin/python3 bench/mcu_table.py --elf "$dir/src/firmware/utpm-fw-qemu.elf" "${TABLE_ARGS[@]}")
  results+=("$name|$mem|$json")
  i=$((i + 1))
done
printf '%s\n' "${results[@]}" | /usr/bin/python3 -c '
import json, sys
rows = [line.rstrip("\n").split("|", 2) for line in sys.stdin if line.strip()]
ops = list(json.loads(rows[0][2]).keys())
print("| operation (ms at 80 MHz) | " + " | ".join(r[0] for r in rows) + " |")
print("|---|" + "---:|" * len(rows))
print("| RAM / flash (B) | " + " | ".join(r[1].replace(" ", " / ") for r in rows) + " |")
for op in ops:
    print(f"| {op} | " + " | ".join(f"{json.loads(r[2]).get(op, 0) / 80000:.2f}" for r in rows) + " |")
'
