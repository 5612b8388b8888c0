#!/usr/bin/env python3
"""Copies the subsets of NIST CAVP files (from Debian's python3-cryptography-vectors) that the
crypto tests read: only the curves, hashes and key sizes a TPM uses, and a few cases per
section, to keep the repository small. Records are copied verbatim.
Usage: python3 extract_cavp_subsets.py [path to cryptography_vectors]"""
import os
import sys

SRC = sys.argv[1] if len(sys.argv) > 1 else "/usr/lib/python3/dist-packages/cryptography_vectors"
HERE = os.path.dirname(os.path.abspath(__file__))


def records(path):
    """Yields (section header line or None, record lines) in file order."""
    header, rec = None, []
    for line in open(path).read().split("\n") + [""]:
        s = line.strip()
        if s.startswith("["):
            if not s.startswith("[B."):  # KeyPair.rsp's method line is not a section
                header = s
            continue
        if s.startswith("#"):
            continue
        if not s:
            if rec:
                yield header, rec
            rec = []
            continue
        rec.append(s)


def subset(src, dst, title, want_section, per_section, keep_record=lambda r: True):
    out = [f"# {title}", f"# Subset of NIST CAVP {src} (Debian python3-cryptography-vectors),",
           "# copied verbatim by extract_cavp_subsets.py.", ""]
    counts, last = {}, None
    for header, rec in records(os.path.join(SRC, src)):
        if header is None or not want_section(header):
            continue
        # Records that are key material headers (e.g. "n = ..." in RSA files) always pass.
        is_case = keep_record(rec)
        if is_case is None:  # a case of an unwanted kind
            continue
        limit = per_section(header) if callable(per_section) else per_section
        if is_case and counts.get(header, 0) >= limit:
            continue
        if header != last:
            out += [header, ""]
            last = header
        out += rec + [""]
        if is_case:
            counts[header] = counts.get(header, 0) + 1
    open(os.path.join(HERE, dst), "w").write("\n".join(out))


CURVES = ("P-256", "P-384")
HASHES = ("SHA-1", "SHA-256", "SHA-384", "SHA-512")
ec_sec = lambda h: h.strip("[]").split(",")[0] in CURVES and (
    "," not in h or h.strip("[]").split(",")[1] in HASHES)
subset("asymmetric/ECDSA/FIPS_186-3/KeyPair.rsp", "ecdsa/KeyPair.rsp", "ECDSA key pairs", ec_sec, 10,
       lambda rec: rec[0].startswith("d ="))
subset("asymmetric/ECDSA/FIPS_186-3/PKV.rsp", "ecdsa/PKV.rsp", "ECDSA public key validation",
       ec_sec, 15)
subset("asymmetric/ECDSA/FIPS_186-3/SigGen.txt", "ecdsa/SigGen.txt",
       "ECDSA signature generation, with the per-message secret k", ec_sec, 4)
subset("asymmetric/ECDSA/FIPS_186-3/SigVer.rsp", "ecdsa/SigVer.rsp", "ECDSA signature verification",
       ec_sec, 8)

rsa_sec = lambda h: h in ("[mod = 2048]", "[mod = 3072]", "[mod = 4096]")
rsa_case = lambda rec: any(l.startswith("SHAAlg") for l in rec)
# All 2048-bit cases kept (the TPM's size); a sample of 3072/4096 for the host backends.
rsa_per = lambda h: 30 if h == "[mod = 2048]" else 8
for name, per in (("SigVer15_186-3.rsp", rsa_per), ("SigVerPSS_186-3.rsp", rsa_per)):
    subset("asymmetric/RSA/FIPS_186-2/" + name, "rsa/" + name, "RSA signature verification",
           rsa_sec, per,
           lambda rec: (None if rsa_case(rec) and "SHAAlg = SHA224" in rec else rsa_case(rec)))
