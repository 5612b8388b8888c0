#!/usr/bin/python3
"""The MCU table: what each operation costs the firmware, in Cortex-M4 instructions.

Boots the QEMU firmware image (machine netduinoplus2, -icount shift=0: one virtual ns per
instruction, so the firmware's per-command cost counter counts instructions), runs each
operation through raw commands and reads the cost of the last command from the firmware's
diagnostics (vendor command 0x2000F001). Prints instructions and the time they take at 80 MHz
(the STM32L476RG's clock) assuming one instruction per cycle: a lower bound (flash wait states
and multi-cycle instructions add to it on the board), but the same for every variant, which is
what the A/B comparisons need. Each result is checked (signature verified on the host, ECDH
against python3-cryptography, RSA decryption against the plaintext), so a figure never comes
from a failed command.

  bench/mcu_table.py [--elf build/fw-qemu/src/firmware/utpm-fw-qemu.elf] [--json] [--no-rsa-primary]
"""
import argparse
import hashlib
import json
import os
import shutil
import struct
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "firmware"))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
import qemu_harness as qh  # noqa: E402
from tpm_raw import (RH_NULL, RH_OWNER, SHA256, Auth, Tpm, tpm2b, u16, u32)  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature  # noqa: E402

MHZ = 80
# Goals of issue 13 (ms at 80 MHz), where the issue names one.
GOALS = {"ECDSA P-256 sign": 40.0, "CreatePrimary ECC P-256 (repeat)": 1000.0,
         "CreatePrimary RSA-2048 (repeat)": 1000.0}
ECC, RSA, ECDSA, ECDH_ALG, RSAES, NULL = 0x0023, 0x0001, 0x0018, 0x0019, 0x0015, 0x0010
P256 = 0x0003
FIXED = (1 << 1) | (1 << 4) | (1 << 5) | (1 << 6)  # fixedTPM fixedParent sensitiveDataOrigin userWithAuth
SIGN, DECRYPT, RESTRICTED, NO_DA = 1 << 18, 1 << 17, 1 << 16, 1 << 10


class CostedLink:
    """execute(cmd) -> response over the firmware's UART; remembers the command's cost."""

    def __init__(self, fw):
        self.fw, self.last = fw, None

    def execute(self, cmd):
        rsp, self.last = self.fw.cost_of(cmd, timeout=600)
        return rsp


def ecc_public(attrs, scheme):
    return (u16(ECC) + u16(SHA256) + u32(attrs) + tpm2b(b"") + u16(NULL) + scheme + u16(P256) + u16(NULL)
            + tpm2b(b"") + tpm2b(b""))


def rsa_storage_public():
    attrs = FIXED | RESTRICTED | DECRYPT
    return (u16(RSA) + u16(SHA256) + u32(attrs) + tpm2b(b"") + u16(0x0006) + u16(128) + u16(0x0043)
            + u16(NULL) + u16(2048) + u32(0) + tpm2b(b""))


def create_primary(tpm, public, hierarchy=RH_OWNER):
    params = tpm2b(u16(0) + u16(0)) + tpm2b(public) + tpm2b(b"") + u32(0)
    r = tpm.call(0x131, handles=(hierarchy,), params=params, auths=(Auth(),), rhandle=True)
    assert r.rc == 0, f"CreatePrimary rc {r.rc:#x}"
    rd = r.reader()
    out_public = rd.tpm2b()
    return r.handle, out_public


def ecc_point(public):
    """(x, y) of a P-256 TPMT_PUBLIC: unique (TPM2B x || TPM2B y, 32 octets each) ends it."""
    assert struct.unpack(">H", public[-34:-32])[0] == 32 and struct.unpack(">H", public[-68:-66])[0] == 32
    return public[-66:-34], public[-32:]


def measure(fw, rsa_primary=True):
    link = CostedLink(fw)
    tpm = Tpm(link)
    out = {}

    def cost(name, fn):
        result = fn()
        out[name] = link.last
        return result

    rsp = fw.transact(qh.command(0x144, u16(0)))  # Startup(CLEAR); INITIALIZE if already started
    assert qh.parse_response(rsp)[2] in (0, 0x100), rsp.hex()

    cost("GetRandom(32)", lambda: tpm.call(0x17B, params=u16(32)))
    extend = u32(1) + u16(SHA256) + bytes(32)
    cost("PCR_Extend, password session", lambda: tpm.call(0x182, handles=(16,), params=extend, auths=(Auth(),)))
    session = tpm.start_session()
    cost("PCR_Extend, HMAC session", lambda: tpm.call(0x182, handles=(16,), params=extend,
                                                       auths=(Auth(session=session),)))
    tpm.flush(session.handle)
    out["HMAC session overhead per command"] = out["PCR_Extend, HMAC session"] - out["PCR_Extend, password session"]

    # ECDSA P-256: primary signing key, sign, verify (host check with python3-cryptography).
    sign_pub = ecc_public(FIXED | SIGN, u16(ECDSA) + u16(SHA256))
    key, public = cost("CreatePrimary ECC P-256", lambda: create_primary(tpm, sign_pub))
    tpm.flush(key)
    key, public2 = cost("CreatePrimary ECC P-256 (repeat)", lambda: create_primary(tpm, sign_pub))
    assert public2 == public, "the same template under the same seed is the same key"
    x, y = ecc_point(public)
    digest = hashlib.sha256(b"mcu table").digest()
    ticket = u16(0x8024) + u32(RH_NULL) + tpm2b(b"")
    r = cost("ECDSA P-256 sign", lambda: tpm.call(0x15D, handles=(key,), params=tpm2b(digest) + u16(ECDSA)
                                                  + u16(SHA256) + ticket, auths=(Auth(),)))
    assert r.rc == 0, f"Sign rc {r.rc:#x}"
    rd = r.reader()
    assert (rd.u16(), rd.u16()) == (ECDSA, SHA256)
    sig_r, sig_s = rd.tpm2b(), rd.tpm2b()
    pk = ec.EllipticCurvePublicNumbers(int.from_bytes(x, "big"), int.from_bytes(y, "big"), ec.SECP256R1()).public_key()
    pk.verify(encode_dss_signature(int.from_bytes(sig_r, "big"), int.from_bytes(sig_s, "big")), b"mcu table",
              ec.ECDSA(hashes.SHA256()))
    sig = u16(ECDSA) + u16(SHA256) + tpm2b(sig_r) + tpm2b(sig_s)
    r = cost("ECDSA P-256 verify", lambda: tpm.call(0x177, handles=(key,), params=tpm2b(digest) + sig))
    assert r.rc == 0, f"VerifySignature rc {r.rc:#x}"
    tpm.flush(key)

    # ECDH P-256: ZGen with a decrypt key against a host key; Z compared with the host's.
    dec_pub = ecc_public(FIXED | DECRYPT, u16(NULL))
    key, public = create_primary(tpm, dec_pub)
    tx, ty = ecc_point(public)
    peer = ec.generate_private_key(ec.SECP256R1())
    pn = peer.public_key().public_numbers()
    point = tpm2b(pn.x.to_bytes(32, "big")) + tpm2b(pn.y.to_bytes(32, "big"))
    r = cost("ECDH P-256 (ECDH_ZGen)", lambda: tpm.call(0x154, handles=(key,), params=tpm2b(point), auths=(Auth(),)))
    assert r.rc == 0, f"ECDH_ZGen rc {r.rc:#x}"
    z = r.reader()
    z.u16()
    zx = z.tpm2b()
    tpm_pub = ec.EllipticCurvePublicNumbers(int.from_bytes(tx, "big"), int.from_bytes(ty, "big"),
                                            ec.SECP256R1()).public_key()
    assert zx == peer.exchange(ec.ECDH(), tpm_pub), "Z differs from the host's ECDH"
    tpm.flush(key)

    # RSA-2048: a host key loaded with LoadExternal (no prime search), one private and one public op.
    host = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    nums = host.private_numbers()
    n = nums.public_numbers.n.to_bytes(256, "big")
    rsa_pub = (u16(RSA) + u16(SHA256) + u32((1 << 6) | DECRYPT | NO_DA) + tpm2b(b"") + u16(NULL) + u16(NULL)
               + u16(2048) + u32(0) + tpm2b(n))
    sensitive = u16(RSA) + tpm2b(b"") + tpm2b(b"") + tpm2b(nums.p.to_bytes(128, "big"))
    key, _ = tpm.load_external(rsa_pub, sensitive)
    plain = b"rsa private operation"
    ct = host.public_key().encrypt(plain, padding.PKCS1v15())
    r = cost("RSA-2048 private op (RSA_Decrypt)", lambda: tpm.call(0x159, handles=(key,), params=tpm2b(ct)
                                                                   + u16(RSAES) + tpm2b(b""), auths=(Auth(),)))
    assert r.rc == 0 and r.reader().tpm2b() == plain, f"RSA_Decrypt rc {r.rc:#x}"
    r = cost("RSA-2048 public op (RSA_Encrypt)", lambda: tpm.call(0x174, handles=(key,), params=tpm2b(plain)
                                                                  + u16(RSAES) + tpm2b(b"")))
    assert r.rc == 0, f"RSA_Encrypt rc {r.rc:#x}"
    assert host.decrypt(r.reader().tpm2b(), padding.PKCS1v15()) == plain
    tpm.flush(key)

    if rsa_primary:
        key, public = cost("CreatePrimary RSA-2048", lambda: create_primary(tpm, rsa_storage_public()))
        tpm.flush(key)
        key, public2 = cost("CreatePrimary RSA-2048 (repeat)", lambda: create_primary(tpm, rsa_storage_public()))
        assert public2 == public, "the same template under the same seed is the same key"
        tpm.flush(key)
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--elf", default=os.path.join(ROOT, "build/fw-qemu/src/firmware/utpm-fw-qemu.elf"))
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    p.add_argument("--no-rsa-primary", action="store_true", help="skip the RSA-2048 CreatePrimary (slow)")
    args = p.parse_args()
    if not os.path.exists(args.elf):
        print(f"mcu_table: {args.elf} missing (cmake --preset fw-qemu && cmake --build build/fw-qemu)",
              file=sys.stderr)
        return 2
    scratch = tempfile.mkdtemp(prefix="utpm-mcu-table-")
    fw = qh.QemuFirmware(os.path.abspath(args.elf), scratch, os.path.join(scratch, "nv.bin"))
    try:
        fw.start()
        figures = measure(fw, rsa_primary=not args.no_rsa_primary)
    finally:
        fw.stop()
        shutil.rmtree(scratch, ignore_errors=True)
    if args.json:
        print(json.dumps(figures, indent=1))
        return 0
    print(f"{'operation':40} {'instructions':>14} {'ms @ 80 MHz':>12} {'goal ms':>8}")
    for name, n in figures.items():
        goal = GOALS.get(name)
        print(f"{name:40} {n:>14,} {n / (MHZ * 1000):>12.2f} {goal if goal else '':>8}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
