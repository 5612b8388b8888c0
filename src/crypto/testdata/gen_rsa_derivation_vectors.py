#!/usr/bin/env python3
"""Independent oracle for rsa_generate driven by a CTR_DRBG stream (primary key derivation).

Re-implements, with python3-cryptography's AES and Python integers only:
  - SP 800-90A CTR_DRBG, AES-256, no derivation function, instantiated from 48 bytes of seed
    material (one Generate call per candidate, each followed by the Update with zero input);
  - the candidate walk of src/crypto/rsa.h: each prime candidate is bits/2 fresh bits with the
    two top bits and the low bit set; accepted if probably prime and gcd(e, c - 1) == 1;
    q is redrawn while |p - q| <= 2^(bits/2 - 100);
  - the 32 octets the stream gives after the key (Next).
Primality here is Miller-Rabin with the first 40 primes as bases (plus trial division by gcd),
nothing shared with the C++ code. Writes rsa/derived-keys.txt; run from this directory.
"""
import math
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

E = 65537


class CtrDrbg:
    def __init__(self, seed_material):
        assert len(seed_material) == 48
        self.key = bytes(32)
        self.v = 0
        self._update(seed_material)

    def _block(self):
        self.v = (self.v + 1) % (1 << 128)
        enc = Cipher(algorithms.AES(self.key), modes.ECB()).encryptor()
        return enc.update(self.v.to_bytes(16, "big")) + enc.finalize()

    def _update(self, provided):
        temp = b""
        while len(temp) < 48:
            temp += self._block()
        temp = bytes(a ^ b for a, b in zip(temp[:48], provided))
        self.key, self.v = temp[:32], int.from_bytes(temp[32:], "big")

    def generate(self, n):
        out = b""
        while len(out) < n:
            out += self._block()
        self._update(bytes(48))
        return out[:n]


def small_primes(limit):
    sieve = bytearray([1]) * limit
    sieve[0:2] = b"\0\0"
    for i in range(2, int(limit ** 0.5) + 1):
        if sieve[i]:
            sieve[i * i::i] = bytearray(len(sieve[i * i::i]))
    return [i for i in range(limit) if sieve[i]]


PRIMES = small_primes(1000)
PRIMORIAL = math.prod(PRIMES)


def is_probable_prime(n):
    if math.gcd(n, PRIMORIAL) != 1:
        return False
    d, s = n - 1, 0
    while d % 2 == 0:
        d, s = d // 2, s + 1
    for a in PRIMES[:40]:
        x = pow(a, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = x * x % n
            if x == n - 1:
                break
        else:
            return False
    return True


def find_prime(drbg, plen):
    while True:
        c = bytearray(drbg.generate(plen))
        c[0] |= 0xC0
        c[-1] |= 1
        v = int.from_bytes(c, "big")
        if is_probable_prime(v) and math.gcd(E, v - 1) == 1:
            return v


def derive(bits, seed):
    drbg = CtrDrbg(seed)
    plen = bits // 16
    p = find_prime(drbg, plen)
    while True:
        q = find_prime(drbg, plen)
        if abs(p - q).bit_length() > plen * 8 - 100:
            break
    # What the stream gives after the key (the engine draws a storage key's seed value there):
    # a walk that reads ahead must leave the DRBG exactly after the last candidate it used.
    return p * q, max(p, q), min(p, q), drbg.generate(32)


def main():
    lines = ["# rsa_generate(bits, 65537) from CTR_DRBG(seed): computed by gen_rsa_derivation_vectors.py",
             ""]
    for bits, seed_byte in ((1024, 0x11), (2048, 0x5A), (2048, 0xC3), (3072, 0x27)):
        seed = bytes((seed_byte + i) & 0xFF for i in range(48))
        n, p, q, after = derive(bits, seed)
        lines += [f"Bits = {bits}", f"Seed = {seed.hex()}", f"N = {n:0{bits // 4}x}",
                  f"P = {p:0{bits // 8}x}", f"Q = {q:0{bits // 8}x}", f"Next = {after.hex()}", ""]
    with open("rsa/derived-keys.txt", "w") as f:
        f.write("\n".join(lines))


if __name__ == "__main__":
    main()
