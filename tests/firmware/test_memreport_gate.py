#!/usr/bin/env python3
"""scripts/memreport accepts the firmware image within budget and fails it over budget."""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

p = argparse.ArgumentParser()
p.add_argument("--memreport", required=True)
p.add_argument("--elf", required=True)
a = p.parse_args()
if not os.path.exists(a.elf):
    if shutil.which("arm-none-eabi-g++") is None:
        print("SKIP: no cross toolchain, no firmware image")
        sys.exit(77)
    print(f"FAIL: {a.elf} missing (cmake --preset fw-qemu && cmake --build build/fw-qemu)")
    sys.exit(1)

mapfile = os.path.splitext(a.elf)[0] + ".map"
build_dir = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(a.elf))))
tmp = tempfile.mkdtemp()
try:
    js = os.path.join(tmp, "r.json")
    base = [sys.executable, a.memreport, "--elf", a.elf, "--map", mapfile, "--build-dir", build_dir]
    ok = subprocess.run(base + ["--json", js], capture_output=True, text=True)
    print(ok.stdout)
    assert ok.returncode == 0, "image within the 48 KB / 256 KB budgets must pass"
    r = json.load(open(js))
    assert r["ram_total"] == r["data"] + r["bss"] + r["heap"] + max(r["stack_reserve"], r["stack_static_worst"])
    assert 0 < r["flash_total"] <= 256 * 1024 and 0 < r["ram_total"] <= 48 * 1024
    assert r["stack_static_worst"] > 0 and r["flash_per_module"], "stack and per-module data present"
    over_ram = subprocess.run(base + ["--ram-budget", str(r["ram_total"] - 1)], capture_output=True, text=True)
    assert over_ram.returncode == 1 and "RAM" in over_ram.stdout, over_ram.stdout
    over_flash = subprocess.run(base + ["--flash-budget", str(r["flash_total"] - 1)], capture_output=True, text=True)
    assert over_flash.returncode == 1 and "flash" in over_flash.stdout, over_flash.stdout
    print("memreport gate: pass within budget, fail over budget: OK")
finally:
    shutil.rmtree(tmp)
