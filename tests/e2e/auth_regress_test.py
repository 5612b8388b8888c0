#!/usr/bin/python3
"""Regression tests for authorization bugs found by strict TSSs and a code review (issue 18):
response session attributes, response HMACs of commands that flush their entity, bound sessions
that must not cover other entities, parameter encryption of whole parameters, policy sessions
against an all-zero authPolicy, and dictionary-attack parameter edges.

Every expectation is computed here (tpm_raw.py: KDFa, HMACs, XOR/AES-CFB in Python), never taken
from the TPM. UTPM_E2E_MSSIM_SHIM=/work/shared/bench/mssim-swtpm-shim runs the same tests
against swtpm, to check the expectations against a reference TPM.

Run: UTPMD=build/host-debug/src/host/utpmd /usr/bin/python3 tests/e2e/auth_regress_test.py
"""
import hashlib
import hmac
import os
import struct
import unittest

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from tpm_raw import (AES, CC, CFB, NULL_ALG, CONTINUE, DECRYPT, ENCRYPT, RC_AUTH_FAIL, RC_BAD_AUTH, RC_LOCKOUT,
                     RC_POLICY_FAIL, RH_LOCKOUT, RH_NULL, RH_OWNER, SE_POLICY, SHA1, SHA256, SHA384, ST_HASHCHECK,
                     XOR, Auth, RawTpmCase, aes_cfb_key, digest, keyedhash_hmac_key, rc_session, tpm2b, u16, u32)
from utpmd_harness import MS_POWER_OFF, MS_POWER_ON, SU_CLEAR, rc_of, startup

PT_LOCKOUT_COUNTER = 0x20E
RC_RETRY = 0x922
CAP_TPM_PROPERTIES = 6


class AuthRegress(RawTpmCase, unittest.TestCase):
    shim = os.environ.get("UTPM_E2E_MSSIM_SHIM")

    def reset(self):
        """TPM Reset: power cycle and Startup(CLEAR)."""
        self.client.close()
        self.server.platform(MS_POWER_OFF, MS_POWER_ON)
        self.connect()
        self.assertEqual(rc_of(self.client.execute(startup(SU_CLEAR))), 0)

    # ---- item 12: password sessions answer with continueSession SET ----
    def test_password_session_response_has_continue_session_set(self):
        for attrs in (CONTINUE, 0):
            r = self.tpm.call(CC["PCR_Extend"], handles=(16,), params=u32(1) + u16(SHA256) + bytes(32),
                              auths=[Auth(attrs=attrs)])
            self.assertEqual(r.rc, 0)
            self.assertEqual(r.sessions, [(b"", CONTINUE, b"")],
                             "Part 1: a password session's response has an empty nonce and HMAC, continueSession SET")

    def test_hmac_session_response_echoes_attributes_and_flushes_without_continue(self):
        s = self.tpm.start_session()
        seq = self.tpm.hash_sequence(b"pw")
        r = self.tpm.call(CC["SequenceUpdate"], handles=(seq,), names=[b""], params=tpm2b(b"abc"),
                          auths=[Auth(s, attrs=0, auth=b"pw")])
        self.assertEqual(r.rc, 0)  # the response HMAC and attributes (0) were checked by call()
        r = self.tpm.call(CC["SequenceUpdate"], handles=(seq,), names=[b""], params=tpm2b(b"abc"),
                          auths=[Auth(s, auth=b"pw")])
        self.assertNotEqual(r.rc, 0, "a session used without continueSession is flushed")

    # ---- item 3: the response HMAC of a command that flushes its authorized entity ----
    def test_sequence_complete_response_hmac_keys_with_the_sequence_auth(self):
        for bind in (False, True):
            s = self.tpm.start_session(bind=RH_OWNER, bind_auth=b"") if bind else self.tpm.start_session()
            seq = self.tpm.hash_sequence(b"seq-secret")
            a = Auth(s, auth=b"seq-secret")
            self.assertEqual(self.tpm.call(CC["SequenceUpdate"], handles=(seq,), names=[b""],
                                           params=tpm2b(b"hello "), auths=[a]).rc, 0)
            r = self.tpm.call(CC["SequenceComplete"], handles=(seq,), names=[b""],
                              params=tpm2b(b"world") + u32(RH_NULL), auths=[a])
            self.assertEqual(r.rc, 0)
            self.assertEqual(r.reader().tpm2b(), hashlib.sha256(b"hello world").digest())
            self.tpm.flush(s.handle)

    def test_hmac_sequence_complete_and_event_sequence_complete_response_hmacs(self):
        key = os.urandom(32)
        pub, sens = keyedhash_hmac_key(key, b"key-pw", no_da=True)
        k, kname = self.tpm.load_external(pub, sens)
        s = self.tpm.start_session()
        r = self.tpm.call(CC["HMAC_Start"], handles=(k,), names=[kname], params=tpm2b(b"hseq") + u16(SHA256),
                          auths=[Auth(s, auth=b"key-pw")], rhandle=True)
        self.assertEqual(r.rc, 0)
        r = self.tpm.call(CC["SequenceComplete"], handles=(r.handle,), names=[b""],
                          params=tpm2b(b"data") + u32(RH_NULL), auths=[Auth(s, auth=b"hseq")])
        self.assertEqual(r.rc, 0)
        self.assertEqual(r.reader().tpm2b(), hmac.new(key, b"data", "sha256").digest())
        # EventSequenceComplete: a PCR (password) and the sequence (HMAC session) both authorized.
        seq = self.tpm.hash_sequence(b"ev", alg=NULL_ALG)  # an event sequence
        r = self.tpm.call(CC["EventSequenceComplete"], handles=(16, seq), names=[u32(16), b""],
                          params=tpm2b(b"event"), auths=[Auth(), Auth(s, auth=b"ev")])
        self.assertEqual(r.rc, 0)
        rd = r.reader()
        count = rd.u32()
        self.assertGreaterEqual(count, 3, "one digest per implemented hash (SHA-1, SHA-256, SHA-384 at least)")
        got = {}
        for _ in range(count):
            alg = rd.u16()
            got[alg] = rd.take({SHA1: 20, SHA256: 32, SHA384: 48}.get(alg, 64))
        self.assertEqual(got[SHA256], hashlib.sha256(b"event").digest())

    # ---- item 8: a bound session covers only the entity with the bind Name AND authValue ----
    def assert_victim_sequence_needs_its_auth(self, s):
        victim = self.tpm.hash_sequence(b"victim-secret")
        # As if bound: authValue left out of the HMAC. Must fail (sequences are not DA-protected).
        r = self.tpm.call(CC["SequenceUpdate"], handles=(victim,), names=[b""], params=tpm2b(b"x"),
                          auths=[Auth(s, auth=b"", include_auth=False)])
        self.assertEqual(r.rc, rc_session(RC_BAD_AUTH, 1), "the session must not count as bound to the victim")
        # The victim's own authValue works.
        r = self.tpm.call(CC["SequenceUpdate"], handles=(victim,), names=[b""], params=tpm2b(b"x"),
                          auths=[Auth(s, auth=b"victim-secret")])
        self.assertEqual(r.rc, 0)
        self.tpm.flush(victim)

    def test_session_bound_to_own_sequence_is_not_bound_to_another(self):
        own = self.tpm.hash_sequence(b"mine")
        s = self.tpm.start_session(bind=own, bind_auth=b"mine")
        # Bound to its own sequence: the authValue is in the session key, not in the HMAC.
        r = self.tpm.call(CC["SequenceUpdate"], handles=(own,), names=[b""], params=tpm2b(b"x"),
                          auths=[Auth(s, auth=b"mine", include_auth=False)])
        self.assertEqual(r.rc, 0)
        self.assert_victim_sequence_needs_its_auth(s)

    def test_session_bound_to_sha384_named_object_is_not_bound_to_a_sequence(self):
        # A SHA-384 Name is 50 octets: it must not be truncated to the empty Name of sequences.
        pub, sens = keyedhash_hmac_key(os.urandom(48), b"mine", name_alg=SHA384, hmac_hash=SHA384, no_da=True)
        k, kname = self.tpm.load_external(pub, sens)
        self.assertEqual(len(kname), 50)
        s = self.tpm.start_session(bind=k, bind_auth=b"mine")
        r = self.tpm.call(CC["HMAC"], handles=(k,), names=[kname], params=tpm2b(b"m") + u16(SHA384),
                          auths=[Auth(s, auth=b"mine", include_auth=False)])
        self.assertEqual(r.rc, 0, "bound to the key: its authValue stays out of the HMAC")
        self.assert_victim_sequence_needs_its_auth(s)

    # ---- item 9: parameter encryption covers the whole parameter, XOR and AES-CFB ----
    def test_parameter_encryption_of_largest_parameters(self):
        aes_key, iv = os.urandom(16), os.urandom(16)
        pub, sens = aes_cfb_key(aes_key, b"k")
        k, kname = self.tpm.load_external(pub, sens)
        data = os.urandom(1024)  # TPM2B_MAX_BUFFER at its maximum
        enc = Cipher(algorithms.AES(aes_key), modes.CFB(iv)).encryptor()
        expect = enc.update(data) + enc.finalize()
        for sym in ((XOR, SHA256), (XOR, SHA1), (AES, 128), (AES, 256)):
            with self.subTest(sym=sym):
                s = self.tpm.start_session(sym=sym)
                a = Auth(s, attrs=CONTINUE | DECRYPT | ENCRYPT, auth=b"k")
                r = self.tpm.call(CC["EncryptDecrypt2"], handles=(k,), names=[kname],
                                  params=tpm2b(data) + bytes([0]) + u16(CFB) + tpm2b(iv), auths=[a])
                self.assertEqual(r.rc, 0)
                self.assertEqual(r.reader().tpm2b(), expect, "every octet decrypted and encrypted")
                # Hash of a maximal parameter through a decrypt session (no auth handle).
                r = self.tpm.call(CC["Hash"], params=tpm2b(data) + u16(SHA256) + u32(RH_NULL),
                                  auths=[Auth(s, attrs=CONTINUE | DECRYPT)])
                self.assertEqual(r.rc, 0)
                self.assertEqual(r.reader().tpm2b(), hashlib.sha256(data).digest())
                self.tpm.flush(s.handle)

    # ---- item 6: a policy session that ran no policy command ----
    def test_fresh_policy_session_satisfies_exactly_an_all_zero_auth_policy(self):
        for policy, expect in ((bytes(32), 0), (b"", rc_session(RC_POLICY_FAIL, 1)),
                               (b"\1" + bytes(31), rc_session(RC_POLICY_FAIL, 1))):
            with self.subTest(policy=policy.hex()):
                key = os.urandom(32)
                pub, sens = keyedhash_hmac_key(key, b"pw", no_da=True)
                # replace the empty authPolicy (offset 8: type, nameAlg, attributes) by `policy`
                pub = pub[:8] + tpm2b(policy) + pub[10:]
                k, kname = self.tpm.load_external(pub, sens)
                s = self.tpm.start_session(se=SE_POLICY)
                r = self.tpm.call(CC["HMAC"], handles=(k,), names=[kname], params=tpm2b(b"m") + u16(SHA256),
                                  auths=[Auth(s, auth=b"pw", include_auth=False)])
                self.assertEqual(r.rc, expect)
                if expect == 0:
                    self.assertEqual(r.reader().tpm2b(), hmac.new(key, b"m", "sha256").digest())
                self.tpm.flush(k)
                self.tpm.flush(s.handle)

    # ---- item 13: dictionary-attack parameter edges ----
    def da_parameters(self, max_tries, recovery, lockout_recovery, lockout_pw=b""):
        r = self.tpm.call(CC["DictionaryAttackParameters"], handles=(RH_LOCKOUT,),
                          params=u32(max_tries) + u32(recovery) + u32(lockout_recovery),
                          auths=[Auth(password=lockout_pw)])
        self.assertEqual(r.rc, 0)

    def lockout_counter(self):
        r = self.tpm.call(CC["GetCapability"], params=u32(CAP_TPM_PROPERTIES) + u32(PT_LOCKOUT_COUNTER) + u32(1))
        self.assertEqual(r.rc, 0)
        rd = r.reader()
        rd.u8(), rd.u32(), rd.u32()
        self.assertEqual(rd.u32(), PT_LOCKOUT_COUNTER)
        return rd.u32()

    def hmac_with(self, k, password):
        for _ in range(3):  # TPM_RC_RETRY (a reference TPM's first DA use after Startup) is retried, as TSSs do
            rc = self.tpm.call(CC["HMAC"], handles=(k,), params=tpm2b(b"m") + u16(SHA256),
                               auths=[Auth(password=password)]).rc
            if rc != RC_RETRY:
                return rc
        return rc

    def test_recovery_time_zero_disables_dictionary_attack_counting(self):
        pub, sens = keyedhash_hmac_key(os.urandom(32), b"right")
        k, _ = self.tpm.load_external(pub, sens)
        self.da_parameters(3, 0, 0)
        for _ in range(5):
            self.assertEqual(self.hmac_with(k, b"wrong"), rc_session(RC_AUTH_FAIL, 1))
        self.assertEqual(self.lockout_counter(), 0, "recoveryTime 0: failures are not counted")
        self.assertEqual(self.hmac_with(k, b"right"), 0, "and never lock out")
        # Counting resumes with a non-zero recoveryTime.
        self.da_parameters(3, 100, 0)
        self.assertEqual(self.hmac_with(k, b"wrong"), rc_session(RC_AUTH_FAIL, 1))
        self.assertEqual(self.lockout_counter(), 1)

    def test_max_tries_zero_locks_out_every_da_protected_entity(self):
        pub, sens = keyedhash_hmac_key(os.urandom(32), b"right")
        k, _ = self.tpm.load_external(pub, sens)
        pub2, sens2 = keyedhash_hmac_key(os.urandom(32), b"right", no_da=True)
        k2, _ = self.tpm.load_external(pub2, sens2)
        self.da_parameters(0, 10, 0)
        self.assertEqual(self.hmac_with(k, b"right"), RC_LOCKOUT)
        self.assertEqual(self.hmac_with(k2, b"right"), 0, "a noDA object is not affected")
        self.da_parameters(3, 10, 0)  # lockoutAuth is not DA-counted in this sense
        self.assertEqual(self.hmac_with(k, b"right"), 0)

    def lock_reset(self, password):
        return self.tpm.call(CC["DictionaryAttackLockReset"], handles=(RH_LOCKOUT,),
                             auths=[Auth(password=password)]).rc

    def test_lockout_recovery_zero_blocks_lockout_auth_until_the_next_reset(self):
        self.da_parameters(3, 10, 0)
        self.assertEqual(self.lock_reset(b"wrong"), rc_session(RC_AUTH_FAIL, 1))
        self.assertEqual(self.lock_reset(b""), RC_LOCKOUT, "blocked even with the right value")
        self.reset()
        self.assertEqual(self.lock_reset(b""), 0, "a TPM Reset lifts it")

    def test_lockout_recovery_nonzero_block_survives_power_loss(self):
        self.da_parameters(3, 10, 1000)
        self.assertEqual(self.lock_reset(b"wrong"), rc_session(RC_AUTH_FAIL, 1))
        self.assertEqual(self.lock_reset(b""), RC_LOCKOUT)
        self.reset()
        self.assertEqual(self.lock_reset(b""), RC_LOCKOUT,
                         "a power cycle must not lift a lockoutRecovery of 1000 s (it would be a free retry)")

    # ---- sessions that authorize no handle (found reviewing issue 11's audit sessions) ----
    def test_sessions_beyond_the_handles_are_checked(self):
        """Part 1 §18.7: a session that authorizes no handle must be an HMAC/policy session used
        for decrypt, encrypt or audit, and its HMAC (keyed by the session key alone) is checked:
        a wrong one is BAD_AUTH with the session number. swtpm answers the same codes."""
        get_random = 0x17B
        audit, rc_handle, rc_attributes = 0x80, 0x08B, 0x082
        pcr16 = dict(handles=(16,), params=u32(1) + u16(SHA256) + bytes(32))
        s = self.tpm.start_session(sym=(AES, 128))
        p = self.tpm.start_session(sym=(AES, 128), se=SE_POLICY)
        bad = bytes(32)
        cases = [
            ("extra password session", dict(params=u16(8), auths=[Auth()]), rc_session(rc_handle, 1)),
            ("second password session", dict(auths=[Auth(), Auth()], **pcr16), rc_session(rc_handle, 2)),
            ("HMAC session for nothing", dict(params=u16(8), auths=[Auth(session=s)]),
             rc_session(rc_attributes, 1)),
            ("encrypt session, wrong HMAC",
             dict(params=u16(8), auths=[Auth(session=s, attrs=CONTINUE | ENCRYPT, hmac_override=bad)]),
             rc_session(RC_BAD_AUTH, 1)),
            ("encrypt session, short HMAC",
             dict(params=u16(8), auths=[Auth(session=s, attrs=CONTINUE | ENCRYPT, hmac_override=bad[:20])]),
             rc_session(RC_BAD_AUTH, 1)),
            ("audit session, wrong HMAC",
             dict(params=u16(8), auths=[Auth(session=s, attrs=CONTINUE | audit, hmac_override=bad)]),
             rc_session(RC_BAD_AUTH, 1)),
            ("policy session for encryption, wrong HMAC",
             dict(params=u16(8), auths=[Auth(session=p, attrs=CONTINUE | ENCRYPT, hmac_override=bad)]),
             rc_session(RC_BAD_AUTH, 1)),
            ("audit session after a password, wrong HMAC",
             dict(auths=[Auth(), Auth(session=s, attrs=CONTINUE | audit, hmac_override=bad)], **pcr16),
             rc_session(RC_BAD_AUTH, 2)),
        ]
        for what, kw, expect in cases:
            cc = CC["PCR_Extend"] if "handles" in kw else get_random
            with self.subTest(what):
                self.assertEqual(self.tpm.call(cc, check=False, **kw).rc, expect)
        # The same sessions with their right HMACs work (the test's HMACs are computed in tpm_raw.py).
        r = self.tpm.call(get_random, params=u16(8), auths=[Auth(session=s, attrs=CONTINUE | ENCRYPT)])
        self.assertEqual(r.rc, 0)
        self.assertEqual(len(r.params), 10)
        self.assertEqual(self.tpm.call(get_random, params=u16(8), auths=[Auth(session=p, attrs=CONTINUE | ENCRYPT)]).rc, 0)
        self.assertEqual(self.tpm.call(CC["PCR_Extend"], auths=[Auth(), Auth(session=s, attrs=CONTINUE | audit,
                                                                              response_attrs=CONTINUE | audit | 0x02)],
                                       **pcr16).rc, 0)


if __name__ == "__main__":
    unittest.main()
