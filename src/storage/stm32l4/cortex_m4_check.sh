#!/usr/bin/env bash
# Compiles the portable store and the STM32L4 flash driver for Cortex-M4 (-Os, Thumb-2, hard
# float) with the project's warning flags, and reports code size (arm-none-eabi-size), static
# RAM of the default firmware configuration, and the deepest stack frames (-fstack-usage).
# Usage: cortex_m4_check.sh <src dir> <out dir>
set -euo pipefail
SRC=$1
OUT=$2
mkdir -p "$OUT"
CXX=${ARM_CXX:-arm-none-eabi-g++}
SIZE=${ARM_SIZE:-arm-none-eabi-size}
NM=${ARM_NM:-arm-none-eabi-nm}
command -v "$CXX" >/dev/null || { echo "SKIP: $CXX not installed"; exit 0; }
FLAGS=(-std=c++20 -Os -mthumb -mcpu=cortex-m4 -mfloat-abi=hard -mfpu=fpv4-sp-d16
       -fno-exceptions -fno-rtti -fno-threadsafe-statics -ffunction-sections -fdata-sections
       -Wall -Wextra -Werror -Wshadow -Wconversion -Wno-sign-conversion -Wnon-virtual-dtor
       -Wold-style-cast -Wno-psabi -fstack-usage -I"$SRC")
objs=()
for f in storage/flash.cc storage/anchor.cc storage/secure_store.cc \
         storage/stm32l4/stm32l4_flash.cc storage/stm32l4/footprint.cc; do
  o="$OUT/$(basename "${f%.cc}").o"
  "$CXX" "${FLAGS[@]}" -c "$SRC/$f" -o "$o"
  objs+=("$o")
done
echo "== code size (Cortex-M4, -Os, Thumb-2) =="
"$SIZE" -t "${objs[@]:0:4}"
echo "== static RAM, default firmware configuration (footprint.cc) =="
total=0
while read -r _addr size type name; do
  case "$type" in [bBdD]) ;; *) continue ;; esac
  n=$((16#$size))
  total=$((total + n))
  printf '%6d  %s\n' "$n" "$name"
done < <("$NM" -S --size-sort -C "$OUT/footprint.o")
echo "total static RAM: $total bytes"
echo "== deepest stack frames =="
sort -t$'\t' -k2 -n -r "$OUT"/*.su > "$OUT/stack.txt"
head -5 "$OUT/stack.txt"
