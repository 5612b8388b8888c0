#!/usr/bin/python3
"""utpm example: tpm2-pytss (ESAPI from Python) against any TPM.

Starts the TPM (an already started TPM answers TPM_RC_INITIALIZE, which is fine), reads PCRs
0, 7 and 16 of the SHA-256 bank, creates an ECC P-256 storage primary key and an ECDSA signing
key under it, signs the SHA-256 digest of a message and checks the signature on the host with
python3-cryptography. Prints one JSON object (the same fields as esys_sign.c).

  pytss_sign.py [-T TCTI] [-m MESSAGE]

TCTI examples: mssim:host=127.0.0.1,port=2321 (utpmd), utpm:device=/dev/ttyACM0 (a board).
Without -T: $TPM2TOOLS_TCTI, then tpm2-tss's default. Exit status: 0 done, 1 TPM/TSS error or a
signature that does not verify, 2 usage.
"""
import argparse
import hashlib
import json
import os
import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from tpm2_pytss import (ESAPI, ESYS_TR, TPM2_ALG, TPM2_RC, TPM2_RH, TPM2_ST, TPM2_SU, TPM2B_PUBLIC,
                        TPM2B_SENSITIVE_CREATE, TPMA_OBJECT, TPML_PCR_SELECTION, TPMT_SIG_SCHEME,
                        TPMT_TK_HASHCHECK, TSS2_Exception)

PCRS = (0, 7, 16)
KEY_ATTRS = (TPMA_OBJECT.FIXEDTPM | TPMA_OBJECT.FIXEDPARENT | TPMA_OBJECT.SENSITIVEDATAORIGIN
             | TPMA_OBJECT.USERWITHAUTH)


def run(tcti, message):
    with ESAPI(tcti) as esapi:
        # 1. Start the TPM.
        try:
            esapi.startup(TPM2_SU.CLEAR)
        except TSS2_Exception as e:
            if e.rc != TPM2_RC.INITIALIZE:
                raise

        # 2. Read PCRs.
        _, _, digests = esapi.pcr_read(TPML_PCR_SELECTION.parse("sha256:" + ",".join(map(str, PCRS))))
        if len(digests) != len(PCRS):
            raise RuntimeError(f"the TPM returned {len(digests)} PCR values, expected {len(PCRS)}")
        pcrs = {str(i): bytes(d).hex() for i, d in zip(PCRS, digests)}

        # 3. A storage primary (restricted decrypt, AES-128-CFB) and an ECDSA key under it.
        primary_template = TPM2B_PUBLIC.parse(
            "ecc256:aes128cfb", objectAttributes=KEY_ATTRS | TPMA_OBJECT.RESTRICTED | TPMA_OBJECT.DECRYPT)
        primary, _, _, _, _ = esapi.create_primary(TPM2B_SENSITIVE_CREATE(), primary_template,
                                                   primary_handle=ESYS_TR.OWNER)
        key_template = TPM2B_PUBLIC.parse("ecc256:ecdsa-sha256:null",
                                          objectAttributes=KEY_ATTRS | TPMA_OBJECT.SIGN_ENCRYPT)
        priv, pub, _, _, _ = esapi.create(primary, TPM2B_SENSITIVE_CREATE(), key_template)
        key = esapi.load(primary, priv, pub)

        # 4. Sign the message's digest (hashed here: an unrestricted key needs no hash ticket).
        digest = hashlib.sha256(message).digest()
        scheme = TPMT_SIG_SCHEME(scheme=TPM2_ALG.ECDSA)
        scheme.details.any.hashAlg = TPM2_ALG.SHA256
        no_ticket = TPMT_TK_HASHCHECK(tag=TPM2_ST.HASHCHECK, hierarchy=TPM2_RH.NULL)
        sig = esapi.sign(key, digest, scheme, no_ticket)
        esapi.flush_context(key)
        esapi.flush_context(primary)

    x, y = bytes(pub.publicArea.unique.ecc.x), bytes(pub.publicArea.unique.ecc.y)
    r, s = bytes(sig.signature.ecdsa.signatureR), bytes(sig.signature.ecdsa.signatureS)

    # 5. Verify on the host, independently of the TPM.
    public_key = ec.EllipticCurvePublicNumbers(int.from_bytes(x, "big"), int.from_bytes(y, "big"),
                                               ec.SECP256R1()).public_key()
    der = encode_dss_signature(int.from_bytes(r, "big"), int.from_bytes(s, "big"))
    public_key.verify(der, message, ec.ECDSA(hashes.SHA256()))  # raises InvalidSignature
    return {"pcrs": {"sha256": pcrs},
            "key": {"curve": "P-256", "x": x.hex(), "y": y.hex()},
            "message": message.hex(), "digest": digest.hex(),
            "signature": {"scheme": "ecdsa-sha256", "r": r.hex(), "s": s.hex()},
            "verified_on_host": True}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("-T", "--tcti", default=os.environ.get("TPM2TOOLS_TCTI"))
    p.add_argument("-m", "--message", default="hello from utpm")
    args = p.parse_args()
    try:
        print(json.dumps(run(args.tcti, args.message.encode())))
    except TSS2_Exception as e:
        print(f"pytss_sign: TPM/TSS error: {e}", file=sys.stderr)
        return 1
    except InvalidSignature:
        print("pytss_sign: the TPM's signature does not verify", file=sys.stderr)
        return 1
    except RuntimeError as e:
        print(f"pytss_sign: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
