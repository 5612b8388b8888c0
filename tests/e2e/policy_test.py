#!/usr/bin/python3
"""Enhanced Authorization (issue 10): policy and trial sessions and the Policy* commands.

Every expected policy digest is computed here with hashlib over the Part 3 §23 formulas
(policyDigest_new = H(policyDigest_old || TPM_CC || ...)), never taken from the TPM; tickets and
signatures are made with python3-cryptography. The tpm2-tools tests check that a policy digest
tpm2_createpolicy computes matches ours and the Python one, and seal/unseal to a PCR policy.

UTPM_E2E_MSSIM_SHIM=/work/shared/bench/mssim-swtpm-shim runs the same tests against swtpm.
Run: UTPMD=build/host-debug/src/host/utpmd /usr/bin/python3 tests/e2e/policy_test.py
"""
import hashlib
import hmac
import os
import shutil
import struct
import tempfile
import unittest

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils

from tpm_raw import (CC, NULL_ALG, RH_NULL, RH_OWNER, SE_POLICY, SHA1, SHA256, SHA384, Auth, Reader, Tpm,
                     digest, digest_size, keyedhash_hmac_key, rc_session, tpm2b, u16, u32)
from utpmd_harness import SU_CLEAR, MssimClient, MssimShim, Utpmd, rc_of, run_tool, startup

SE_TRIAL = 3
RSA, ECC, RSASSA, ECDSA, HMAC_ALG, P256 = 0x0001, 0x0023, 0x0014, 0x0018, 0x0005, 0x0003
OBJ_USER_WITH_AUTH, OBJ_NO_DA, OBJ_SIGN = 1 << 6, 1 << 10, 1 << 18
ST_AUTH_SECRET, ST_AUTH_SIGNED, ST_VERIFIED = 0x8023, 0x8025, 0x8022
RC_VALUE, RC_BAD_AUTH, RC_POLICY_FAIL, RC_POLICY_CC = 0x084, 0x0A2, 0x09D, 0x0A4
RC_PCR_CHANGED, RC_LOCALITY, RC_SIGNATURE, RC_TICKET, RC_AUTH_TYPE = 0x128, 0x907, 0x09B, 0x0A0, 0x124
RC_P1 = 0x140  # TPM_RC_P | parameter 1

PCC = dict(PolicySigned=0x160, PolicySecret=0x151, PolicyTicket=0x172, PolicyOR=0x171, PolicyPCR=0x17F,
           PolicyLocality=0x16F, PolicyCounterTimer=0x16D, PolicyCommandCode=0x16C, PolicyPhysicalPresence=0x187,
           PolicyCpHash=0x16E, PolicyNameHash=0x170, PolicyDuplicationSelect=0x188, PolicyAuthorize=0x16A,
           PolicyAuthValue=0x16B, PolicyPassword=0x18C, PolicyGetDigest=0x189, PolicyNvWritten=0x18F,
           PolicyTemplate=0x190, PolicyRestart=0x180, VerifySignature=0x177, PCR_Read=0x17E, HMAC_Start=0x15B,
           Duplicate=0x14B, ContextSave=0x162, ContextLoad=0x161)


def sel(alg, pcrs):
    """TPML_PCR_SELECTION with one bank."""
    bits = bytearray(3)
    for p in pcrs:
        bits[p // 8] |= 1 << (p % 8)
    return u32(1) + u16(alg) + bytes([3]) + bytes(bits)


class Policy:
    """A policy digest computed in Python (Part 3 §23)."""

    def __init__(self, alg=SHA256):
        self.alg, self.d = alg, bytes(digest_size(alg))

    def ext(self, cc, *parts):
        self.d = digest(self.alg, self.d, u32(cc), *parts)
        return self

    def update(self, cc, name, ref):  # PolicyUpdate: H(H(d || cc || name) || policyRef)
        self.ext(cc, name)
        self.d = digest(self.alg, self.d, ref)
        return self


class PolicyE2E(unittest.TestCase):
    def setUp(self):
        shim = os.environ.get("UTPM_E2E_MSSIM_SHIM")
        self.server = (MssimShim(shim) if shim else Utpmd()).start()
        self.addCleanup(self.server.stop)
        self.client = MssimClient(self.server.port)
        self.addCleanup(self.client.close)
        self.tpm = Tpm(self.client)
        self.assertEqual(rc_of(self.client.execute(startup(SU_CLEAR))), 0)
        self.tmp = tempfile.mkdtemp(prefix="utpm-policy-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    # ---- helpers ----
    def session(self, se=SE_POLICY, alg=SHA256):
        """A new session; the oldest of this test's sessions is flushed to keep two loaded."""
        live = self.__dict__.setdefault("live", [])
        while len(live) >= 2:
            self.tpm.flush(live.pop(0).handle)
        s = self.tpm.start_session(auth_hash=alg, se=se)
        live.append(s)
        return s

    def pol(self, s, name, params=b"", handles=(), names=None, auths=(), expect=0):
        r = self.tpm.call(PCC[name], handles=tuple(handles) + (s.handle,),
                          names=None if names is None else list(names) + [u32(s.handle)], params=params, auths=auths)
        self.assertEqual(r.rc, expect, f"{name}: rc {r.rc:#x}, expected {expect:#x}")
        return r

    def get_digest(self, s):
        r = self.tpm.call(PCC["PolicyGetDigest"], handles=(s.handle,))
        self.assertEqual(r.rc, 0)
        return r.reader().tpm2b()

    def pcr_values(self, alg, pcrs):
        r = self.tpm.call(PCC["PCR_Read"], params=sel(alg, pcrs))
        self.assertEqual(r.rc, 0)
        rd = r.reader()
        rd.u32()
        n = rd.u32()
        for _ in range(n):
            rd.u16()
            rd.take(rd.u8())
        return [rd.tpm2b() for _ in range(rd.u32())]

    def hmac_key(self, policy, auth=b"pw"):
        key = os.urandom(32)
        pub, sens = keyedhash_hmac_key(key, auth, no_da=True)
        pub = pub[:8] + tpm2b(policy) + pub[10:]
        h, name = self.tpm.load_external(pub, sens)
        self.addCleanup(lambda: self.tpm.call(CC["FlushContext"], params=u32(h)))
        return h, name, key

    def use_hmac(self, s, k, kname, key, auth=b"pw", include_auth=False, expect=0, **kw):
        r = self.tpm.call(CC["HMAC"], handles=(k,), names=[kname], params=tpm2b(b"m") + u16(SHA256),
                          auths=[Auth(s, auth=auth, include_auth=include_auth, **kw)], check=kw.get("hmac_override") is None)
        self.assertEqual(r.rc, expect, f"HMAC rc {r.rc:#x}, expected {expect:#x}")
        if expect == 0:
            self.assertEqual(r.reader().tpm2b(), hmac.new(key, b"m", "sha256").digest())
        return r

    def rsa_signer(self):
        priv = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        n = priv.public_key().public_numbers().n.to_bytes(256, "big")
        pub = (u16(RSA) + u16(SHA256) + u32(OBJ_SIGN | OBJ_USER_WITH_AUTH | OBJ_NO_DA) + tpm2b(b"") + u16(NULL_ALG) +
               u16(RSASSA) + u16(SHA256) + u16(2048) + u32(0) + tpm2b(n))

        def sign(d):
            return u16(RSASSA) + u16(SHA256) + tpm2b(priv.sign(d, padding.PKCS1v15(), utils.Prehashed(hashes.SHA256())))
        return pub, sign

    def ecc_signer(self):
        priv = ec.generate_private_key(ec.SECP256R1())
        nums = priv.public_key().public_numbers()
        pub = (u16(ECC) + u16(SHA256) + u32(OBJ_SIGN | OBJ_USER_WITH_AUTH | OBJ_NO_DA) + tpm2b(b"") + u16(NULL_ALG) +
               u16(ECDSA) + u16(SHA256) + u16(P256) + u16(NULL_ALG) + tpm2b(nums.x.to_bytes(32, "big")) +
               tpm2b(nums.y.to_bytes(32, "big")))

        def sign(d):
            r, s = utils.decode_dss_signature(priv.sign(d, ec.ECDSA(utils.Prehashed(hashes.SHA256()))))
            return u16(ECDSA) + u16(SHA256) + tpm2b(r.to_bytes(32, "big")) + tpm2b(s.to_bytes(32, "big"))
        return pub, sign

    # ---- trial sessions: every digest against the Part 3 formulas ----
    def test_trial_digests_match_part3_formulas(self):
        for alg in (SHA256, SHA1, SHA384):
            with self.subTest(alg=alg):
                s = self.session(SE_TRIAL, alg)
                p = Policy(alg)
                dl = digest_size(alg)
                steps = [
                    ("PolicyCommandCode", u32(CC["HMAC"]), lambda: p.ext(PCC["PolicyCommandCode"], u32(CC["HMAC"]))),
                    ("PolicyAuthValue", b"", lambda: p.ext(PCC["PolicyAuthValue"])),
                    ("PolicyPassword", b"", lambda: p.ext(PCC["PolicyAuthValue"])),
                    ("PolicyPhysicalPresence", b"", lambda: p.ext(PCC["PolicyPhysicalPresence"])),
                    ("PolicyLocality", bytes([0x09]), lambda: p.ext(PCC["PolicyLocality"], bytes([0x09]))),
                    ("PolicyPCR", tpm2b(b"\x11" * dl) + sel(SHA256, [0, 1, 7]),
                     lambda: p.ext(PCC["PolicyPCR"], sel(SHA256, [0, 1, 7]), b"\x11" * dl)),
                    ("PolicyCpHash", tpm2b(b"\x22" * dl), lambda: p.ext(PCC["PolicyCpHash"], b"\x22" * dl)),
                    ("PolicyNvWritten", b"\x01", lambda: p.ext(PCC["PolicyNvWritten"], b"\x01")),
                    ("PolicyCounterTimer", tpm2b(b"\0\0\0\5") + u16(8) + u16(3),
                     lambda: p.ext(PCC["PolicyCounterTimer"], digest(alg, b"\0\0\0\5", u16(8), u16(3)))),
                    ("PolicySigned", tpm2b(b"") + tpm2b(b"") + tpm2b(b"ref") + u32(0) + u16(NULL_ALG),
                     None),  # needs a key handle: below
                ]
                for name, params, expect in steps[:-1]:
                    self.pol(s, name, params)
                    expect()
                    self.assertEqual(self.get_digest(s), p.d, name)
                # PolicyOR resets to H(0 || CC || digests)
                other = b"\x33" * dl
                self.pol(s, "PolicyOR", u32(2) + tpm2b(p.d) + tpm2b(other))
                p.d = digest(alg, bytes(dl), u32(PCC["PolicyOR"]), p.d, other)
                self.assertEqual(self.get_digest(s), p.d, "PolicyOR")
                # PolicySecret with the owner hierarchy (password session)
                self.pol(s, "PolicySecret", tpm2b(b"") + tpm2b(b"") + tpm2b(b"ref") + u32(0), handles=(RH_OWNER,),
                         auths=[Auth()])
                p.update(PCC["PolicySecret"], u32(RH_OWNER), b"ref")
                self.assertEqual(self.get_digest(s), p.d, "PolicySecret")
                # PolicyAuthorize (trial: no ticket check) resets to the key Name and policyRef
                kname = u16(SHA256) + b"\x44" * 32
                self.pol(s, "PolicyAuthorize", tpm2b(p.d) + tpm2b(b"r2") + tpm2b(kname) +
                         u16(ST_VERIFIED) + u32(RH_NULL) + tpm2b(b""))
                p.d = bytes(dl)
                p.update(PCC["PolicyAuthorize"], kname, b"r2")
                self.assertEqual(self.get_digest(s), p.d, "PolicyAuthorize")
                self.pol(s, "PolicyRestart")
                self.assertEqual(self.get_digest(s), bytes(dl), "PolicyRestart")
                # PolicyNameHash / PolicyTemplate / PolicyDuplicationSelect (each from a fresh digest)
                p = Policy(alg)
                self.pol(s, "PolicyNameHash", tpm2b(b"\x55" * dl))
                p.ext(PCC["PolicyNameHash"], b"\x55" * dl)
                self.assertEqual(self.get_digest(s), p.d, "PolicyNameHash")
                self.pol(s, "PolicyRestart")
                p = Policy(alg)
                self.pol(s, "PolicyTemplate", tpm2b(b"\x66" * dl))
                p.ext(PCC["PolicyTemplate"], b"\x66" * dl)
                self.assertEqual(self.get_digest(s), p.d, "PolicyTemplate")
                self.pol(s, "PolicyRestart")
                p = Policy(alg)
                on, np_ = u16(SHA256) + b"\x01" * 32, u16(SHA256) + b"\x02" * 32
                self.pol(s, "PolicyDuplicationSelect", tpm2b(on) + tpm2b(np_) + b"\x00")
                p.ext(PCC["PolicyDuplicationSelect"], np_, b"\x00")
                self.assertEqual(self.get_digest(s), p.d, "PolicyDuplicationSelect (includeObject NO)")
                self.pol(s, "PolicyRestart")
                p = Policy(alg)
                self.pol(s, "PolicyDuplicationSelect", tpm2b(on) + tpm2b(np_) + b"\x01")
                p.ext(PCC["PolicyDuplicationSelect"], on, np_, b"\x01")
                self.assertEqual(self.get_digest(s), p.d, "PolicyDuplicationSelect (includeObject YES)")

    def test_trial_session_never_authorizes(self):
        k, kname, key = self.hmac_key(bytes(32))
        s = self.session(SE_TRIAL)
        self.use_hmac(s, k, kname, key, expect=RC_AUTH_TYPE)

    # ---- checks at authorization time ----
    def test_command_code_and_auth_value(self):
        policy = Policy().ext(PCC["PolicyCommandCode"], u32(CC["HMAC"])).ext(PCC["PolicyAuthValue"]).d
        k, kname, key = self.hmac_key(policy)
        s = self.session()
        self.pol(s, "PolicyCommandCode", u32(CC["HMAC"]))
        self.pol(s, "PolicyAuthValue")
        self.assertEqual(self.get_digest(s), policy)
        self.use_hmac(s, k, kname, key, include_auth=True)  # the HMAC includes the authValue
        # a wrong HMAC in a policy session (entity without DA): POLICY_FAIL, as swtpm answers
        self.use_hmac(s, k, kname, key, auth=b"wrong", include_auth=True, expect=rc_session(RC_POLICY_FAIL, 1))
        self.use_hmac(s, k, kname, key, include_auth=False, expect=rc_session(RC_POLICY_FAIL, 1))
        # the same policy used for another command: POLICY_CC
        r = self.tpm.call(PCC["HMAC_Start"], handles=(k,), names=[kname], params=tpm2b(b"") + u16(SHA256),
                          auths=[Auth(s, auth=b"pw")], rhandle=True)
        self.assertEqual(r.rc, rc_session(RC_POLICY_CC, 1))

    def test_password(self):
        policy = Policy().ext(PCC["PolicyAuthValue"]).d
        k, kname, key = self.hmac_key(policy)
        s = self.session()
        self.pol(s, "PolicyPassword")
        self.assertEqual(self.get_digest(s), policy, "PolicyPassword extends with TPM_CC_PolicyAuthValue")
        r = self.use_hmac(s, k, kname, key, hmac_override=b"pw")
        self.assertEqual(r.sessions[0][2], b"", "a PolicyPassword session answers with an empty HMAC")
        self.use_hmac(s, k, kname, key, hmac_override=b"pX", expect=rc_session(RC_POLICY_FAIL, 1))

    def test_pcr_policy_and_pcr_changed(self):
        vals = self.pcr_values(SHA256, [2, 3])
        policy = Policy().ext(PCC["PolicyPCR"], sel(SHA256, [2, 3]), digest(SHA256, *vals)).d
        k, kname, key = self.hmac_key(policy)
        s = self.session()
        self.pol(s, "PolicyPCR", tpm2b(b"") + sel(SHA256, [2, 3]))
        self.assertEqual(self.get_digest(s), policy)
        self.use_hmac(s, k, kname, key)
        # a wrong expected value
        s2 = self.session()
        self.pol(s2, "PolicyPCR", tpm2b(b"\1" * 32) + sel(SHA256, [2, 3]), expect=RC_VALUE | RC_P1)
        # any PCR change between PolicyPCR and use
        self.assertEqual(self.tpm.call(CC["PCR_Extend"], handles=(9,), params=u32(1) + u16(SHA256) + bytes(32),
                                       auths=[Auth()]).rc, 0)
        self.use_hmac(s, k, kname, key, expect=RC_PCR_CHANGED)

    def test_policy_or_of_two_pcr_states(self):
        vals = self.pcr_values(SHA256, [4])
        a = Policy().ext(PCC["PolicyPCR"], sel(SHA256, [4]), digest(SHA256, *vals)).d
        after = digest(SHA256, vals[0], bytes(32))  # PCR 4 after one extend with 32 zero octets
        b = Policy().ext(PCC["PolicyPCR"], sel(SHA256, [4]), digest(SHA256, after)).d
        policy = digest(SHA256, bytes(32), u32(PCC["PolicyOR"]), a, b)
        k, kname, key = self.hmac_key(policy)
        for state in (0, 1):
            s = self.session()
            self.pol(s, "PolicyPCR", tpm2b(b"") + sel(SHA256, [4]))
            self.pol(s, "PolicyOR", u32(2) + tpm2b(a) + tpm2b(b))
            self.use_hmac(s, k, kname, key)
            self.assertEqual(self.tpm.call(CC["PCR_Extend"], handles=(4,), params=u32(1) + u16(SHA256) + bytes(32),
                                           auths=[Auth()]).rc, 0)
        s = self.session()
        self.pol(s, "PolicyPCR", tpm2b(b"") + sel(SHA256, [4]))
        self.pol(s, "PolicyOR", u32(2) + tpm2b(a) + tpm2b(b), expect=RC_VALUE | RC_P1)
        # pHashList's count is {2:8}: fewer is TPM_RC_SIZE on parameter 1 as it is read, even
        # with digests after it (the differential campaign found the unnumbered SIZE of trailing
        # octets here before).
        for count in (0, 1):
            self.pol(s, "PolicyOR", u32(count) + tpm2b(a) + tpm2b(b), expect=0x095 | RC_P1)

    def test_cp_hash_and_name_hash(self):
        k, kname, key = self.hmac_key(b"")
        cp_other = digest(SHA256, u32(CC["HMAC"]), kname, tpm2b(b"m") + u16(SHA256))  # another key's cpHash
        # a key whose policy is PolicyCpHash(cp_other): the digest matches, the command does not
        k2, kname2, key2 = self.hmac_key(Policy().ext(PCC["PolicyCpHash"], cp_other).d)
        s = self.session()
        self.pol(s, "PolicyCpHash", tpm2b(cp_other))
        self.use_hmac(s, k2, kname2, key2, expect=rc_session(RC_POLICY_FAIL, 1))
        self.pol(s, "PolicyCpHash", tpm2b(digest(SHA256, b"x")), expect=0x151)  # TPM_RC_CPHASH: set differently
        self.pol(s, "PolicyCpHash", tpm2b(b"short"), expect=0x095 | RC_P1)  # TPM_RC_SIZE
        # nameHash: the same, over the handles' Names
        k3, kname3, key3 = self.hmac_key(Policy().ext(PCC["PolicyNameHash"], digest(SHA256, kname)).d)
        s = self.session()
        self.pol(s, "PolicyNameHash", tpm2b(digest(SHA256, kname)))
        self.use_hmac(s, k3, kname3, key3, expect=rc_session(RC_POLICY_FAIL, 1))  # digest right, Name wrong
        self.pol(s, "PolicyCpHash", tpm2b(cp_other), expect=0x151)

    def test_locality(self):
        policy = Policy().ext(PCC["PolicyLocality"], bytes([1 << 3])).d
        k, kname, key = self.hmac_key(policy)
        s = self.session()
        self.pol(s, "PolicyLocality", bytes([1 << 3]))
        self.use_hmac(s, k, kname, key, expect=RC_LOCALITY)  # locality 0
        client = self.client

        class AtLocality3:
            def execute(self, cmd):
                return client.execute(cmd, locality=3)
        Tpm(AtLocality3()).call(CC["HMAC"], handles=(k,), names=[kname], params=tpm2b(b"m") + u16(SHA256),
                                auths=[Auth(s, auth=b"pw", include_auth=False)])

    def test_secret_on_owner_and_ticket(self):
        ref = b"policy-ref"
        policy = Policy().update(PCC["PolicySecret"], u32(RH_OWNER), ref).d
        k, kname, key = self.hmac_key(policy)
        s = self.session()
        r = self.pol(s, "PolicySecret", tpm2b(s.nonce_tpm) + tpm2b(b"") + tpm2b(ref) + u32(0xFFFFFFFF - 99),
                     handles=(RH_OWNER,), auths=[Auth()])
        rd = r.reader()
        timeout, tag, hier, tk = rd.tpm2b(), rd.u16(), rd.u32(), rd.tpm2b()
        self.assertEqual((len(timeout), tag, hier), (8, ST_AUTH_SECRET, RH_OWNER))
        self.assertEqual(self.get_digest(s), policy)
        self.use_hmac(s, k, kname, key)
        # the ticket stands in for PolicySecret in another session
        s2 = self.session()
        ticket = u16(tag) + u32(hier) + tpm2b(tk)
        self.pol(s2, "PolicyTicket", tpm2b(timeout) + tpm2b(b"") + tpm2b(ref) + tpm2b(u32(RH_OWNER)) + ticket)
        self.assertEqual(self.get_digest(s2), policy)
        self.use_hmac(s2, k, kname, key)
        bad = u16(tag) + u32(hier) + tpm2b(bytes([tk[0] ^ 1]) + tk[1:])
        s3 = self.session()
        self.pol(s3, "PolicyTicket", tpm2b(timeout) + tpm2b(b"") + tpm2b(ref) + tpm2b(u32(RH_OWNER)) + bad,
                 expect=RC_TICKET | 0x540)
        # a wrong owner password fails the command
        s4 = self.session()
        self.pol(s4, "PolicySecret", tpm2b(b"") + tpm2b(b"") + tpm2b(ref) + u32(0), handles=(RH_OWNER,),
                 auths=[Auth(password=b"nope")], expect=rc_session(RC_BAD_AUTH, 1))

    def check_signed(self, pub, sign, hierarchy=RH_NULL, sensitive=b""):
        h, name = self.tpm.load_external(pub, sensitive, hierarchy=hierarchy)
        self.addCleanup(lambda: self.tpm.call(CC["FlushContext"], params=u32(h)))
        ref = b"signed-ref"
        policy = Policy().update(PCC["PolicySigned"], name, ref).d
        k, kname, key = self.hmac_key(policy)
        s = self.session()
        exp = u32(0)
        a_hash = digest(SHA256, s.nonce_tpm, exp, b"", ref)
        self.pol(s, "PolicySigned", tpm2b(s.nonce_tpm) + tpm2b(b"") + tpm2b(ref) + exp + sign(a_hash),
                 handles=(h,), names=[name])
        self.assertEqual(self.get_digest(s), policy)
        self.use_hmac(s, k, kname, key)
        s2 = self.session()
        self.pol(s2, "PolicySigned", tpm2b(s2.nonce_tpm) + tpm2b(b"") + tpm2b(ref) + exp + sign(a_hash),
                 handles=(h,), names=[name], expect=RC_SIGNATURE | 0x540)  # signed the other session's nonce

    def test_signed_rsa(self):
        self.check_signed(*self.rsa_signer())

    def test_signed_ecc(self):
        self.check_signed(*self.ecc_signer())

    def test_signed_hmac_key(self):
        # an HMAC key "signs" aHash with HMAC_sigHash(key, aHash) (TPMT_SIGNATURE sigAlg TPM_ALG_HMAC)
        key = os.urandom(32)
        pub, sens = keyedhash_hmac_key(key, b"", no_da=True)
        self.check_signed(pub, lambda d: u16(HMAC_ALG) + u16(SHA256) + hmac.new(key, d, "sha256").digest(),
                          sensitive=sens)

    def test_authorize_with_signing_key(self):
        pub, sign = self.rsa_signer()
        h, kname_sign = self.tpm.load_external(pub, hierarchy=RH_OWNER)  # a NULL-hierarchy ticket proves nothing
        self.addCleanup(lambda: self.tpm.call(CC["FlushContext"], params=u32(h)))
        ref = b""
        policy = Policy().update(PCC["PolicyAuthorize"], kname_sign, ref).d
        k, kname, key = self.hmac_key(policy)
        for pcr_state in range(2):
            vals = self.pcr_values(SHA256, [5])
            approved = Policy().ext(PCC["PolicyPCR"], sel(SHA256, [5]), digest(SHA256, *vals)).d
            a_hash = digest(SHA256, approved, ref)
            r = self.tpm.call(PCC["VerifySignature"], handles=(h,), names=[kname_sign],
                              params=tpm2b(a_hash) + sign(a_hash))
            self.assertEqual(r.rc, 0)
            ticket = r.params
            s = self.session()
            self.pol(s, "PolicyPCR", tpm2b(b"") + sel(SHA256, [5]))
            self.pol(s, "PolicyAuthorize", tpm2b(approved) + tpm2b(ref) + tpm2b(kname_sign) + ticket)
            self.assertEqual(self.get_digest(s), policy)
            self.use_hmac(s, k, kname, key)
            # PCR 5 changes: the old approval no longer fits, a new signature does
            self.assertEqual(self.tpm.call(CC["PCR_Extend"], handles=(5,), params=u32(1) + u16(SHA256) + bytes(32),
                                           auths=[Auth()]).rc, 0)
            s = self.session()
            self.pol(s, "PolicyPCR", tpm2b(b"") + sel(SHA256, [5]))
            self.pol(s, "PolicyAuthorize", tpm2b(approved) + tpm2b(ref) + tpm2b(kname_sign) + ticket,
                     expect=RC_VALUE | RC_P1)

    def test_policy_state_survives_context_save_and_load(self):
        policy = Policy().ext(PCC["PolicyCommandCode"], u32(CC["HMAC"])).ext(PCC["PolicyAuthValue"]).d
        k, kname, key = self.hmac_key(policy)
        s = self.tpm.start_session(se=SE_POLICY)
        self.pol(s, "PolicyCommandCode", u32(CC["HMAC"]))
        self.pol(s, "PolicyAuthValue")
        r = self.tpm.call(PCC["ContextSave"], handles=(s.handle,))
        self.assertEqual(r.rc, 0)
        r = self.tpm.call(PCC["ContextLoad"], params=r.params, rhandle=True)
        self.assertEqual(r.rc, 0)
        self.assertEqual(self.get_digest(s), policy)
        self.use_hmac(s, k, kname, key, include_auth=True)  # isAuthValueNeeded survived
        self.tpm.flush(s.handle)

    # ---- tpm2-tools ----
    def tool(self, *args, check=True):
        self.client.close()  # the daemon serves one mssim connection at a time
        p = run_tool(list(args), self.server.mssim_tcti, check=check)
        if args[0] in ("tpm2_createprimary", "tpm2_create", "tpm2_load", "tpm2_unseal"):
            run_tool(["tpm2_flushcontext", "-t"], self.server.mssim_tcti)  # no resource manager on mssim
        return p

    def f(self, name):
        return os.path.join(self.tmp, name)

    def test_tools_seal_to_pcr_policy(self):
        vals = self.pcr_values(SHA256, [0, 1])
        expect = Policy().ext(PCC["PolicyPCR"], sel(SHA256, [0, 1]), digest(SHA256, *vals)).d
        self.tool("tpm2_createpolicy", "--policy-pcr", "-l", "sha256:0,1", "-L", self.f("p.dat"))
        with open(self.f("p.dat"), "rb") as fh:
            self.assertEqual(fh.read(), expect, "tpm2_createpolicy (trial session) vs Python")
        self.tool("tpm2_createprimary", "-C", "o", "-c", self.f("prim.ctx"))
        with open(self.f("secret"), "wb") as fh:
            fh.write(b"sealed secret")
        self.tool("tpm2_create", "-C", self.f("prim.ctx"), "-L", self.f("p.dat"), "-i", self.f("secret"),
                  "-u", self.f("seal.pub"), "-r", self.f("seal.priv"))
        self.tool("tpm2_load", "-C", self.f("prim.ctx"), "-u", self.f("seal.pub"), "-r", self.f("seal.priv"),
                  "-c", self.f("seal.ctx"))

        def unseal(check=True):
            self.tool("tpm2_startauthsession", "--policy-session", "-S", self.f("s.ctx"))
            self.tool("tpm2_policypcr", "-S", self.f("s.ctx"), "-l", "sha256:0,1")
            p = self.tool("tpm2_unseal", "-p", "session:" + self.f("s.ctx"), "-c", self.f("seal.ctx"), check=check)
            self.tool("tpm2_flushcontext", self.f("s.ctx"), check=False)
            return p
        self.assertEqual(unseal().stdout, b"sealed secret")
        self.tool("tpm2_pcrextend", "0:sha256=" + "00" * 32)
        self.assertNotEqual(unseal(check=False).returncode, 0, "unseal must fail after a PCR 0 extend")

    def test_tools_policy_secret_and_command_code(self):
        self.tool("tpm2_startauthsession", "-S", self.f("t.ctx"))
        self.tool("tpm2_policysecret", "-S", self.f("t.ctx"), "-c", "o", "-L", self.f("secret.dat"))
        self.tool("tpm2_flushcontext", self.f("t.ctx"))
        with open(self.f("secret.dat"), "rb") as fh:
            self.assertEqual(fh.read(), Policy().update(PCC["PolicySecret"], u32(RH_OWNER), b"").d)
        self.tool("tpm2_startauthsession", "-S", self.f("t.ctx"))
        self.tool("tpm2_policycommandcode", "-S", self.f("t.ctx"), "-L", self.f("cc.dat"), "TPM2_CC_Unseal")
        self.tool("tpm2_policyauthvalue", "-S", self.f("t.ctx"), "-L", self.f("cc.dat"))
        self.tool("tpm2_flushcontext", self.f("t.ctx"))
        with open(self.f("cc.dat"), "rb") as fh:
            self.assertEqual(fh.read(), Policy().ext(PCC["PolicyCommandCode"], u32(0x15E)).ext(PCC["PolicyAuthValue"]).d)
        # seal under that policy and unseal with the policy session plus the object's authValue
        self.tool("tpm2_createprimary", "-C", "o", "-c", self.f("prim.ctx"))
        with open(self.f("secret"), "wb") as fh:
            fh.write(b"cc secret")
        self.tool("tpm2_create", "-C", self.f("prim.ctx"), "-L", self.f("cc.dat"), "-p", "objpw", "-i",
                  self.f("secret"), "-u", self.f("o.pub"), "-r", self.f("o.priv"))
        self.tool("tpm2_load", "-C", self.f("prim.ctx"), "-u", self.f("o.pub"), "-r", self.f("o.priv"),
                  "-c", self.f("o.ctx"))
        self.tool("tpm2_startauthsession", "--policy-session", "-S", self.f("s.ctx"))
        self.tool("tpm2_policycommandcode", "-S", self.f("s.ctx"), "TPM2_CC_Unseal")
        self.tool("tpm2_policyauthvalue", "-S", self.f("s.ctx"))
        p = self.tool("tpm2_unseal", "-p", "session:" + self.f("s.ctx") + "+objpw", "-c", self.f("o.ctx"))
        self.assertEqual(p.stdout, b"cc secret")
        self.tool("tpm2_flushcontext", self.f("s.ctx"))


if __name__ == "__main__":
    unittest.main()
