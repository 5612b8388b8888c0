#!/usr/bin/env python3
"""Server CPU per op, utpm beside swtpm, with the ratio utpm/swtpm (median across rounds).

usage: esysbench_ratio.py OUTDIR   (the run_compare.sh output: LABEL.rN.json files)
The goal column is issue 13's target for that group (<= 0.5x, ECC <= 0.1x, floor <= 12 us)."""
import glob, json, os, statistics, sys

out = sys.argv[1]
srv = {}
for path in sorted(glob.glob(os.path.join(out, '*.r*.json'))):
    label = os.path.basename(path).split('.r')[0]
    with open(path) as f:
        d = json.load(f)
    for g in d.get('groups', []):
        v = g.get('server_cpu_us_per_iter')
        if g.get('ok') and v is not None:
            srv.setdefault(g['group'], {}).setdefault(label, []).append(v)

FLOOR = ('getrandom_32', 'pcr_extend_sha256', 'hash_1k_sha256')
def goal(name):
    if name in FLOOR:
        return '<=12us'
    if 'ecdsa' in name or 'ecc' in name or 'ecdh' in name:
        return '<=0.10x'
    return '<=0.50x'

print('\n# server CPU per op (us, median of rounds), ratio = utpm / swtpm')
print('%-28s %12s %12s %8s %9s' % ('group', 'swtpm', 'utpm', 'ratio', 'goal'))
for name, per in srv.items():
    s = statistics.median(per['swtpm']) if 'swtpm' in per else None
    u = statistics.median(per['utpm']) if 'utpm' in per else None
    r = '%.2f' % (u / s) if s and u else '-'
    fmt = lambda v: ('%.1f' % v) if v is not None else '-'
    print('%-28s %12s %12s %8s %9s' % (name, fmt(s), fmt(u), r, goal(name)))
