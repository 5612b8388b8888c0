#!/usr/bin/env python3
"""Converts the RSA Laboratories PKCS #1 test vectors (as shipped in Debian's
python3-cryptography-vectors, asymmetric/RSA/) into the flat "key = value" files under rsa/,
keeping only keys whose size is a whole number of octets (1024 / 2048 bits: the sizes a TPM
uses). The vectors themselves are unchanged; only the layout is.
Usage: python3 convert_pkcs1_vectors.py [path to cryptography_vectors]"""
import os
import re
import sys

SRC = sys.argv[1] if len(sys.argv) > 1 else "/usr/lib/python3/dist-packages/cryptography_vectors"
MAX_CASES_PER_KEY = 4  # keeps the files small; every key is still covered
HERE = os.path.dirname(os.path.abspath(__file__))
FIELDS = {"Modulus": "N", "Public exponent": "E", "Exponent": "E", "Prime 1": "P",
          "Prime 2": "Q", "Prime exponent 1": "DP", "Prime exponent 2": "DQ",
          "Coefficient": "QINV", "Message to be encrypted": "Msg", "Message to be signed": "Msg",
          "Message": "Msg", "Seed": "Seed", "Salt": "Salt", "Encryption": "CT",
          "Signature": "Sig"}


def convert(rel, out_name, title):
    text = open(os.path.join(SRC, "asymmetric/RSA", rel)).read().split("\n")
    out = [f"# {title}", f"# Converted from {rel} (RSA Laboratories PKCS #1 vectors) by",
           "# convert_pkcs1_vectors.py: 1024- and 2048-bit keys only.", ""]
    key, bits, field, buf, keep = {}, 0, None, [], False
    cases = []

    def flush():
        nonlocal field, buf
        if field is not None:
            val = "".join(buf)
            if field in ("N", "E", "P", "Q", "DP", "DQ", "QINV"):
                if field not in key:  # the private-key section repeats N and E
                    key[field] = val
            else:
                # Some files omit the first example's header: a repeated field starts a case.
                if not cases or field in cases[-1]:
                    cases.append({})
                cases[-1][field] = val
        field, buf = None, []

    for line in text + ["# Example 0: end"]:
        m = re.match(r"# Example (\d+): A (\d+)-bit RSA key pair", line)
        if m or line.startswith("# Example 0"):
            flush()
            if keep:
                for c in cases[:MAX_CASES_PER_KEY]:
                    out.append("")
                    for k in ("N", "E", "P", "Q", "DP", "DQ", "QINV"):
                        out.append(f"{k} = {key[k]}")
                    for k, v in c.items():
                        out.append(f"{k} = {v}")
            if not m:
                break
            bits = int(m.group(2))
            keep = bits in (1024, 2048)
            key, cases = {}, []
            continue
        if re.match(r"# (OAEP|PSS|PKCS#1 v1.5 (Signature|Encryption)) Example", line):
            flush()
            cases.append({})
            continue
        m = re.match(r"# ([A-Za-z0-9 ]+):\s*$", line)
        if m and m.group(1).strip() in FIELDS:
            flush()
            field = FIELDS[m.group(1).strip()]
            continue
        if line.startswith("#") or not line.strip():
            flush() if line.startswith("# ---") is False and line.startswith("#") else None
            continue
        if field is not None:
            buf.append(line.replace(" ", "").strip())
    open(os.path.join(HERE, "rsa", out_name), "w").write("\n".join(out) + "\n")


convert("pkcs-1v2-1d2-vec/oaep-vect.txt", "oaep-sha1.txt", "RSAES-OAEP (SHA-1, MGF1-SHA-1, empty label)")
convert("pkcs-1v2-1d2-vec/pss-vect.txt", "pss-sha1.txt", "RSASSA-PSS (SHA-1, MGF1-SHA-1, 20-octet salt)")
convert("pkcs1v15crypt-vectors.txt", "pkcs1v15-crypt.txt", "RSAES-PKCS1-v1_5 (Seed = padding string)")
convert("pkcs1v15sign-vectors.txt", "pkcs1v15-sign.txt", "RSASSA-PKCS1-v1_5 with SHA-1")
