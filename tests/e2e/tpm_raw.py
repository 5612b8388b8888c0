"""Raw TPM 2.0 commands with authorization sessions, computed independently in Python: KDFa,
session keys, cpHash/rpHash, command and response HMACs, XOR and AES-CFB parameter encryption
(TPM 2.0 Part 1 §19 and §21; hashlib/hmac and python3-cryptography only). Tests use it to check,
byte by byte, what a strict TSS checks, without trusting the engine's own computations.
"""
import hashlib
import hmac
import os
import struct

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from utpmd_harness import SU_CLEAR, MssimClient, MssimShim, Utpmd, rc_of, startup

# Constants (TPM 2.0 Part 2; values as in /usr/include/tss2/tss2_tpm2_types.h).
SHA1, SHA256, SHA384, SHA512 = 0x0004, 0x000B, 0x000C, 0x000D
AES, XOR, CFB, NULL_ALG, KEYEDHASH, SYMCIPHER, HMAC_ALG = 0x0006, 0x000A, 0x0043, 0x0010, 0x0008, 0x0025, 0x0005
SM4, CAMELLIA = 0x0013, 0x0026
# The block ciphers parameter encryption may use, as python3-cryptography names them.
BLOCK_CIPHERS = {AES: algorithms.AES, SM4: algorithms.SM4, CAMELLIA: algorithms.Camellia}
HASH_NAME = {SHA1: "sha1", SHA256: "sha256", SHA384: "sha384", SHA512: "sha512"}
ST_NO_SESSIONS, ST_SESSIONS, ST_HASHCHECK = 0x8001, 0x8002, 0x8024
RS_PW = 0x40000009
RH_OWNER, RH_NULL, RH_LOCKOUT, RH_ENDORSEMENT, RH_PLATFORM = 0x40000001, 0x40000007, 0x4000000A, 0x4000000B, 0x4000000C
SE_HMAC, SE_POLICY = 0, 1
CONTINUE, DECRYPT, ENCRYPT = 0x01, 0x20, 0x40

CC = dict(StartAuthSession=0x176, HashSequenceStart=0x186, SequenceUpdate=0x15C, SequenceComplete=0x13E,
          EventSequenceComplete=0x185, HMAC_Start=0x15B, HMAC=0x155, LoadExternal=0x167, FlushContext=0x165,
          EncryptDecrypt2=0x193, Hash=0x17D, PCR_Extend=0x182, GetCapability=0x17A,
          DictionaryAttackParameters=0x13A, DictionaryAttackLockReset=0x139, Startup=0x144, ReadPublic=0x173,
          HierarchyChangeAuth=0x129)

# Response codes (format-one codes carry the session/parameter/handle number).
RC_BAD_AUTH, RC_AUTH_FAIL, RC_LOCKOUT, RC_POLICY_FAIL = 0x0A2, 0x08E, 0x921, 0x09D
RC_NV_UNAVAILABLE = 0x923


def rc_session(rc, n):
    return rc | 0x800 | (n << 8)


def u16(v):
    return struct.pack(">H", v)


def u32(v):
    return struct.pack(">I", v)


def tpm2b(b):
    return u16(len(b)) + b


def digest(alg, *parts):
    h = hashlib.new(HASH_NAME[alg])
    for p in parts:
        h.update(p)
    return h.digest()


def kdfa(alg, key, label, u, v, bits):
    """KDFa (Part 1 §11.4.10.2): SP 800-108 counter-mode HMAC; label without its NUL."""
    out, i = b"", 1
    while len(out) * 8 < bits:
        out += hmac.new(key, u32(i) + label + b"\0" + u + v + u32(bits), HASH_NAME[alg]).digest()
        i += 1
    return out[:(bits + 7) // 8]


def trimmed(auth):
    """An authValue as the TPM uses it: without trailing zero octets (Part 1 §19.6.5)."""
    return auth.rstrip(b"\0")


class Reader:
    def __init__(self, b):
        self.b, self.p = b, 0

    def take(self, n):
        assert self.p + n <= len(self.b), f"short: want {n} at {self.p} of {len(self.b)}"
        v = self.b[self.p:self.p + n]
        self.p += n
        return v

    def u8(self):
        return self.take(1)[0]

    def u16(self):
        return struct.unpack(">H", self.take(2))[0]

    def u32(self):
        return struct.unpack(">I", self.take(4))[0]

    def tpm2b(self):
        return self.take(self.u16())

    def rest(self):
        return self.take(len(self.b) - self.p)


class Session:
    """An HMAC or policy session as the caller keeps it."""

    def __init__(self, handle, auth_hash, nonce_caller, nonce_tpm, session_key, sym, bind_name=None,
                 bind_auth=b""):
        self.handle, self.auth_hash = handle, auth_hash
        self.nonce_caller, self.nonce_tpm, self.session_key = nonce_caller, nonce_tpm, session_key
        self.sym = sym  # (alg, bits_or_hash, mode) or None
        self.bind_name, self.bind_auth = bind_name, bind_auth

    def value(self, auth, include_auth):
        return self.session_key + (trimmed(auth) if include_auth else b"")

    def crypt(self, data, newer, older, auth, include_auth, encrypt):
        """Encrypts (caller -> TPM) or decrypts (TPM -> caller) one TPM2B's data."""
        alg, arg = self.sym[:2]
        key = self.value(auth, include_auth)
        if alg == XOR:  # keyed by the session's authHash, whatever hash the XOR definition names
            mask = kdfa(self.auth_hash, key, b"XOR", newer, older, 8 * len(data)) if data else b""
            return bytes(a ^ b for a, b in zip(data, mask))
        kb = arg // 8
        kiv = kdfa(self.auth_hash, key, b"CFB", newer, older, 8 * (kb + 16))
        c = Cipher(BLOCK_CIPHERS[alg](kiv[:kb]), modes.CFB(kiv[kb:]))
        op = c.encryptor() if encrypt else c.decryptor()
        return op.update(data) + op.finalize()


class Auth:
    """One entry of a command's authorization area."""

    def __init__(self, session=None, password=b"", attrs=CONTINUE, auth=b"", include_auth=True, hmac_override=None,
                 response_attrs=None):
        self.session, self.password, self.attrs = session, password, attrs
        # What the response's sessionAttributes must be (default: the command's; audit sessions
        # answer auditExclusive as the session's exclusivity).
        self.response_attrs = attrs if response_attrs is None else response_attrs
        self.auth, self.include_auth, self.hmac_override = auth, include_auth, hmac_override


class Response:
    def __init__(self, rc, handle=None, params=b"", sessions=()):
        self.rc, self.handle, self.params, self.sessions = rc, handle, params, list(sessions)

    def reader(self):
        return Reader(self.params)


class Tpm:
    """Raw commands over an object with execute(bytes) -> bytes (MssimClient, StreamClient)."""

    def __init__(self, client):
        self.client = client

    def execute_raw(self, cmd):
        return self.client.execute(cmd)

    def call(self, cc, handles=(), names=None, params=b"", auths=(), rhandle=False, check=True):
        """Sends a command; returns a Response. With check, asserts every response HMAC equals the
        one computed here (the TSS's check) and decrypts an encrypted first response parameter."""
        names = list(names) if names is not None else [u32(h) for h in handles]
        for a in auths:  # a fresh caller nonce per session, before anything uses it
            if a.session:
                a.session.nonce_caller = os.urandom(digest_size(a.session.auth_hash))
        enc_first = params
        dec_auth = next((a for a in auths if a.session and a.attrs & DECRYPT), None)
        if dec_auth:
            s = dec_auth.session
            size = struct.unpack(">H", params[:2])[0]
            ct = s.crypt(params[2:2 + size], s.nonce_caller, s.nonce_tpm, dec_auth.auth,
                         dec_auth.include_auth, True)
            enc_first = params[:2] + ct + params[2 + size:]
        body = b"".join(u32(h) for h in handles)
        if auths:
            cp = {}
            area = b""
            for i, a in enumerate(auths):
                if a.session is None:
                    area += u32(RS_PW) + tpm2b(b"") + bytes([a.attrs]) + tpm2b(a.password)
                    continue
                s = a.session
                alg = s.auth_hash
                if alg not in cp:
                    cp[alg] = digest(alg, u32(cc), *names, enc_first)
                extra = b""
                if i == 0:  # the first session's HMAC covers other decrypt/encrypt sessions' nonceTPM
                    for j, o in enumerate(auths):
                        if j and o.session and o.attrs & (DECRYPT | ENCRYPT):
                            extra += o.session.nonce_tpm
                mac = hmac.new(s.value(a.auth, a.include_auth),
                               cp[alg] + s.nonce_caller + s.nonce_tpm + extra + bytes([a.attrs]),
                               HASH_NAME[alg]).digest()
                if a.hmac_override is not None:
                    mac = a.hmac_override
                area += u32(s.handle) + tpm2b(s.nonce_caller) + bytes([a.attrs]) + tpm2b(mac)
            body += u32(len(area)) + area
        body += enc_first
        tag = ST_SESSIONS if auths else ST_NO_SESSIONS
        rsp = self.execute_raw(struct.pack(">HII", tag, 10 + len(body), cc) + body)
        r = Reader(rsp)
        rtag, size, rc = r.u16(), r.u32(), r.u32()
        assert size == len(rsp), "response size field"
        if rc != 0:
            assert rtag == ST_NO_SESSIONS and size == 10, "an error response is a bare header"
            return Response(rc)
        handle = r.u32() if rhandle else None
        if not auths:
            return Response(rc, handle, r.rest())
        psize = r.u32()
        rparams = r.take(psize)
        out_sessions = []
        for a in auths:
            nonce, attrs, mac = r.tpm2b(), r.u8(), r.tpm2b()
            out_sessions.append((nonce, attrs, mac))
        assert r.p == len(rsp), "bytes after the response session area"
        for a, (nonce, attrs, mac) in zip(auths, out_sessions):
            if a.session is None:
                continue
            s = a.session
            rp = digest(s.auth_hash, u32(0), u32(cc), rparams)
            expect = hmac.new(s.value(a.auth, a.include_auth), rp + nonce + s.nonce_caller + bytes([attrs]),
                              HASH_NAME[s.auth_hash]).digest()
            if check:
                assert attrs == a.response_attrs, f"response sessionAttributes {attrs:#x} != {a.response_attrs:#x}"
                assert hmac.compare_digest(mac, expect), f"response HMAC mismatch for command {cc:#x}"
            s.nonce_tpm = nonce
        enc_auth = next((a for a in auths if a.session and a.attrs & ENCRYPT), None)
        if enc_auth:
            s = enc_auth.session
            size = struct.unpack(">H", rparams[:2])[0]
            pt = s.crypt(rparams[2:2 + size], s.nonce_tpm, s.nonce_caller, enc_auth.auth, enc_auth.include_auth, False)
            rparams = rparams[:2] + pt + rparams[2 + size:]
        return Response(rc, handle, rparams, out_sessions)

    # ---- commands used by the tests ----
    def start_session(self, auth_hash=SHA256, bind=RH_NULL, bind_name=None, bind_auth=b"", sym=None, se=SE_HMAC):
        nonce = os.urandom(digest_size(auth_hash))
        symdef = u16(NULL_ALG) if sym is None else (
            u16(XOR) + u16(sym[1]) if sym[0] == XOR else u16(sym[0]) + u16(sym[1]) + u16(CFB))
        r = self.call(CC["StartAuthSession"], handles=(RH_NULL, bind),
                      params=tpm2b(nonce) + tpm2b(b"") + bytes([se]) + symdef + u16(auth_hash), rhandle=True)
        assert r.rc == 0, f"StartAuthSession rc {r.rc:#x}"
        nonce_tpm = r.reader().tpm2b()
        key = b""
        if bind != RH_NULL:
            key = kdfa(auth_hash, trimmed(bind_auth), b"ATH", nonce_tpm, nonce, 8 * digest_size(auth_hash))
        return Session(r.handle, auth_hash, nonce, nonce_tpm, key, sym, bind_name, bind_auth)

    def hash_sequence(self, auth, alg=SHA256):
        r = self.call(CC["HashSequenceStart"], params=tpm2b(auth) + u16(alg), rhandle=True)
        assert r.rc == 0, f"HashSequenceStart rc {r.rc:#x}"
        return r.handle

    def flush(self, handle):
        assert self.call(CC["FlushContext"], params=u32(handle)).rc == 0

    def load_external(self, public, sensitive=b"", hierarchy=RH_NULL):
        """LoadExternal; returns (handle, name) with the Name computed here from the public area."""
        r = self.call(CC["LoadExternal"], params=tpm2b(sensitive) + tpm2b(public) + u32(hierarchy), rhandle=True)
        assert r.rc == 0, f"LoadExternal rc {r.rc:#x}"
        name_alg = struct.unpack(">H", public[2:4])[0]
        name = u16(name_alg) + digest(name_alg, public)
        assert r.reader().tpm2b() == name, "the TPM's Name differs from H(publicArea)"
        return r.handle, name


def nv_define(tpm, index, attrs, size, auth=b"", owner=b""):
    """NV_DefineSpace under the owner (password session); returns the response code."""
    public = u32(index) + u16(SHA256) + u32(attrs) + tpm2b(b"") + u16(size)
    return tpm.call(0x12A, handles=(RH_OWNER,), params=tpm2b(auth) + tpm2b(public),
                    auths=(Auth(password=owner),)).rc


def digest_size(alg):
    return hashlib.new(HASH_NAME[alg]).digest_size


# ---- objects whose secrets the test knows (for LoadExternal) ----
OBJ_USER_WITH_AUTH, OBJ_NO_DA, OBJ_DECRYPT, OBJ_SIGN = 1 << 6, 1 << 10, 1 << 17, 1 << 18


def keyedhash_hmac_key(key, auth, name_alg=SHA256, hmac_hash=SHA256, no_da=False):
    """(public, sensitive) of an HMAC key: unique = H_nameAlg(seedValue || key) (Part 1 §27.2)."""
    seed = os.urandom(digest_size(name_alg))
    attrs = OBJ_USER_WITH_AUTH | OBJ_SIGN | (OBJ_NO_DA if no_da else 0)
    public = (u16(KEYEDHASH) + u16(name_alg) + u32(attrs) + tpm2b(b"") + u16(HMAC_ALG) + u16(hmac_hash) +
              tpm2b(digest(name_alg, seed, key)))
    sensitive = u16(KEYEDHASH) + tpm2b(auth) + tpm2b(seed) + tpm2b(key)
    return public, sensitive


def aes_cfb_key(key, auth, name_alg=SHA256, no_da=True):
    """(public, sensitive) of an AES-CFB symmetric key that encrypts and decrypts."""
    seed = os.urandom(digest_size(name_alg))
    attrs = OBJ_USER_WITH_AUTH | OBJ_DECRYPT | OBJ_SIGN | (OBJ_NO_DA if no_da else 0)
    public = (u16(SYMCIPHER) + u16(name_alg) + u32(attrs) + tpm2b(b"") + u16(AES) + u16(8 * len(key)) + u16(CFB) +
              tpm2b(digest(name_alg, seed, key)))
    sensitive = u16(SYMCIPHER) + tpm2b(auth) + tpm2b(seed) + tpm2b(key)
    return public, sensitive


class RawTpmCase:
    """Mixin for a unittest.TestCase: utpmd (or, with the class attribute `shim` set, that mssim
    shim) started and given Startup(CLEAR) over `self.client`, an mssim connection kept open
    with `self.tpm` (a Tpm) on it; `connect()` opens a new one after a power cycle."""

    shim = None

    def setUp(self):
        self.server = (MssimShim(self.shim) if self.shim else Utpmd()).start()
        self.addCleanup(self.server.stop)
        self.connect()
        self.assertEqual(rc_of(self.client.execute(startup(SU_CLEAR))), 0)

    def connect(self):
        self.client = MssimClient(self.server.port)
        self.addCleanup(self.client.close)
        self.tpm = Tpm(self.client)
