#!/usr/bin/python3
"""Expected duplication blobs for src/tpm/subsystem/duplication_test.cc, computed independently
of the TPM from the formulas of TPM 2.0 Part 1 §23.3.2 (duplication) and §11.4.10.2 (KDFa), with
Python's hashlib/hmac and the `cryptography` package (AES-CFB).

    inner = AES-CFB(innerKey, iv 0, TPM2B(H_nameAlg(TPM2B_SENSITIVE || Name)) || TPM2B_SENSITIVE)
    dup   = AES-CFB(KDFa(pHash, seed, "STORAGE", Name, "", pBits), iv 0, inner)
    blob  = TPM2B(HMAC_pHash(KDFa(pHash, seed, "INTEGRITY", "", "", digest bits), dup || Name)) || dup

Run: python3 src/tpm/subsystem/testdata/duplication_vectors.py  (prints the C++ constants)
"""
import hashlib
import hmac
import struct

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes


def kdfa(hash_name, key, label, context_u, context_v, bits):
    out = b""
    i = 1
    fixed = label + b"\0" + context_u + context_v + struct.pack(">I", bits)
    while len(out) * 8 < bits:
        out += hmac.new(key, struct.pack(">I", i) + fixed, hash_name).digest()
        i += 1
    return out[: (bits + 7) // 8]


def cfb(key, data):
    e = Cipher(algorithms.AES(key), modes.CFB(b"\0" * 16)).encryptor()
    return e.update(data) + e.finalize()


def tpm2b(b):
    return struct.pack(">H", len(b)) + b


# A keyed-hash object's TPMT_SENSITIVE: sensitiveType, authValue, seedValue, bits.
SENSITIVE = struct.pack(">H", 0x0008) + tpm2b(b"abc") + tpm2b(bytes([0x11]) * 32) + tpm2b(b"secret data")
NAME = struct.pack(">H", 0x000B) + hashlib.sha256(b"duplicated object").digest()
INNER_KEY = bytes(range(0x20, 0x30))  # AES-128
SEED = bytes(range(0x40, 0x60))  # 32 octets (SHA-256 new parent)
SENS2B = tpm2b(SENSITIVE)


def inner(name_hash):
    integrity = hashlib.new(name_hash, SENS2B + NAME).digest()
    return cfb(INNER_KEY, tpm2b(integrity) + SENS2B)


def outer(data, p_hash, p_bits):
    sym = kdfa(p_hash, SEED, b"STORAGE", NAME, b"", p_bits)
    enc = cfb(sym, data)
    dlen = hashlib.new(p_hash).digest_size
    hkey = kdfa(p_hash, SEED, b"INTEGRITY", b"", b"", dlen * 8)
    return tpm2b(hmac.new(hkey, enc + NAME, p_hash).digest()) + enc


def c_array(name, b):
    body = ", ".join(f"0x{x:02x}" for x in b)
    return f"constexpr uint8_t {name}[] = {{{body}}};"


vectors = {
    "kSensitive": SENSITIVE,
    "kName": NAME,
    "kInnerOnly": inner("sha256"),
    "kOuterOnly": outer(SENS2B, "sha256", 128),
    "kInnerOuter": outer(inner("sha256"), "sha256", 128),
    "kInnerOuter384x256": outer(inner("sha256"), "sha384", 256),
}
for k, v in vectors.items():
    print(c_array(k, v))
