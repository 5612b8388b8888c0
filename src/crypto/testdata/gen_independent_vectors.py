#!/usr/bin/env python3
"""Regenerates the KDFa / KDFe / MGF1 known-answer files from independent implementations:
python3-cryptography's KBKDFHMAC (SP 800-108 counter mode, which with label||0x00||context||[L]
is exactly TPM KDFa) and ConcatKDFHash (SP 800-56A, KDFe's construction), and hashlib for MGF1.
No TPM or utpm code is involved, so these check our composition against someone else's.
The output is committed; rerun only to extend it:  python3 gen_independent_vectors.py"""
import hashlib
import os
import random

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.concatkdf import ConcatKDFHash
from cryptography.hazmat.primitives.kdf.kbkdf import KBKDFHMAC, CounterLocation, Mode

HERE = os.path.dirname(os.path.abspath(__file__))
HASHES = {"SHA1": hashes.SHA1, "SHA256": hashes.SHA256, "SHA384": hashes.SHA384,
          "SHA512": hashes.SHA512}
LABELS = [b"STORAGE", b"INTEGRITY", b"CFB", b"ATH", b"SECRET", b"IDENTITY", b"DUPLICATE", b"XOR"]
rng = random.Random(20260101)


def rbytes(n):
    return bytes(rng.getrandbits(8) for _ in range(n))


def kdfa(h, key, label, u, v, bits):
    # KBKDFHMAC wants a whole number of bytes; the TPM derives ceil(bits/8) bytes with [bits]
    # in the fixed data and then masks the top octet. So compute with fixed data built by hand.
    nbytes = (bits + 7) // 8
    fixed = label + b"\x00" + u + v + bits.to_bytes(4, "big")
    k = KBKDFHMAC(algorithm=HASHES[h](), mode=Mode.CounterMode, length=nbytes, rlen=4, llen=None,
                  location=CounterLocation.BeforeFixed, label=None, context=None, fixed=fixed)
    out = bytearray(k.derive(key))
    if bits % 8:
        out[0] &= (1 << (bits % 8)) - 1
    return bytes(out)


def kdfe(h, z, label, u, v, bits):
    nbytes = (bits + 7) // 8
    k = ConcatKDFHash(algorithm=HASHES[h](), length=nbytes, otherinfo=label + b"\x00" + u + v)
    out = bytearray(k.derive(z))
    if bits % 8:
        out[0] &= (1 << (bits % 8)) - 1
    return bytes(out)


def mgf1(h, seed, n):
    out = b""
    c = 0
    while len(out) < n:
        out += hashlib.new(h.lower(), seed + c.to_bytes(4, "big")).digest()
        c += 1
    return out[:n]


def write(name, header, records):
    with open(os.path.join(HERE, name), "w") as f:
        f.write(header)
        for r in records:
            f.write("\n")
            for k, val in r:
                f.write(f"{k} = {val}\n")


bits_choices = [8, 13, 128, 256, 257, 384, 521, 1000, 2048]
recs = []
for h in HASHES:
    for i in range(8):
        key = rbytes(rng.choice([16, 20, 32, 48, 64, 100]))
        label = rng.choice(LABELS)
        u, v = rbytes(rng.choice([0, 16, 32])), rbytes(rng.choice([0, 20, 32]))
        bits = bits_choices[(i + len(h)) % len(bits_choices)]
        recs.append([("Hash", h), ("Key", key.hex()), ("Label", label.decode()),
                     ("ContextU", u.hex()), ("ContextV", v.hex()), ("Bits", bits),
                     ("Out", kdfa(h, key, label, u, v, bits).hex())])
write("kdf/kdfa.txt", "# TPM KDFa vectors computed with python3-cryptography KBKDFHMAC "
      "(see gen_independent_vectors.py). Label is ASCII, used with its terminating zero.\n", recs)

recs = []
for h in HASHES:
    for i in range(6):
        z = rbytes(rng.choice([32, 48, 66]))
        label = rng.choice(LABELS)
        u, v = rbytes(rng.choice([0, 32, 64])), rbytes(rng.choice([32, 64, 96]))
        bits = bits_choices[(i * 2 + len(h)) % len(bits_choices)]
        recs.append([("Hash", h), ("Z", z.hex()), ("Label", label.decode()),
                     ("PartyU", u.hex()), ("PartyV", v.hex()), ("Bits", bits),
                     ("Out", kdfe(h, z, label, u, v, bits).hex())])
write("kdf/kdfe.txt", "# TPM KDFe vectors computed with python3-cryptography ConcatKDFHash "
      "(see gen_independent_vectors.py). Label is ASCII, used with its terminating zero.\n", recs)

recs = []
for h in HASHES:
    for n in (1, 20, 64, 107, 300):
        seed = rbytes(rng.choice([20, 32, 64]))
        recs.append([("Hash", h), ("Seed", seed.hex()), ("Out", mgf1(h, seed, n).hex())])
write("kdf/mgf1.txt", "# MGF1 vectors computed with hashlib (see gen_independent_vectors.py).\n", recs)
