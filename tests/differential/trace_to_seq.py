#!/usr/bin/env python3
"""Turns a utpmd --trace-file (JSON lines, src/host/trace.h) into a sequence file that
conformance_diff --replay runs against our engine and libtpms.

The sequence file: '#' comment lines, then one command in hex a line. '#numbering ours' says the
handles in it are utpmd's (the recorded session's), so the harness translates them for libtpms.
Commands whose secrets the recorder redacted (passwords, HMACs) replay as recorded: both TPMs
then see the same zeroed values. Use --conn to keep one connection of a multi-client trace.
"""
import argparse
import json
import sys


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("trace")
    ap.add_argument("-o", "--output", default="-")
    ap.add_argument("--conn", type=int, help="only this connection's commands")
    ap.add_argument("--skip-startup", action="store_true",
                    help="drop TPM2_Startup (the harness sends its own Startup(CLEAR))")
    args = ap.parse_args()
    lines = ["# sequence from " + args.trace, "#numbering ours"]
    with open(args.trace, encoding="utf-8") as f:
        for raw in f:
            raw = raw.strip()
            if not raw:
                continue
            rec = json.loads(raw)
            cmd = rec.get("command")
            if not cmd:
                continue
            if args.conn is not None and rec.get("conn") != args.conn:
                continue
            if args.skip_startup and len(cmd) >= 20 and cmd[12:20] == "00000144":
                continue
            if rec.get("redacted"):
                lines.append("# redacted: " + ",".join(rec["redacted"]))
            lines.append(cmd.lower())
    out = sys.stdout if args.output == "-" else open(args.output, "w", encoding="utf-8")
    out.write("\n".join(lines) + "\n")
    if out is not sys.stdout:
        out.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
