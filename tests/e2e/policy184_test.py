#!/usr/bin/python3
"""The 1.84 policy additions and the capability answers they read (issue 10).

PolicyCapability (Part 3 §23.23): one GetCapability entry compared with operandB;
PolicyParameters (§23.24): a policy bound to H(commandCode || parameters) whatever the handles;
PolicyTransportSPDM (§23.25): a policy that holds only over an SPDM secure session, which no
transport of utpm offers, so its digest is checked and its use refused with TPM_RC_CHANNEL;
GetCapability(TPM_CAP_AUTH_POLICIES) and saved sessions listed under TPM_HT_SAVED_SESSION.
Every expected digest, entry and response code is computed here from the spec's formulas.

swtpm 0.7 (libtpms 0.9) predates PolicyCapability/PolicyParameters, so only the capability
tests also run against it (UTPM_E2E_MSSIM_SHIM=/work/shared/bench/mssim-swtpm-shim).
Run: UTPMD=build/host-debug/src/host/utpmd /usr/bin/python3 tests/e2e/policy184_test.py
"""
import os
import struct
import unittest

from policy_test import PCC, Policy
from tpm_raw import RH_OWNER, SE_POLICY, SHA256, Auth, Tpm, digest, rc_session, tpm2b, u16, u32
from utpmd_harness import SU_CLEAR, MssimClient, MssimShim, Utpmd, rc_of, startup

SE_TRIAL = 3
PolicyCapability, PolicyParameters, PolicyTransportSPDM = 0x19B, 0x19C, 0x1A1
ContextLoad = 0x161
NV_DefineSpace, NV_Write, GetCapability, SetPrimaryPolicy, ContextSave = 0x12A, 0x137, 0x17A, 0x12E, 0x162
CAP_ALGS, CAP_HANDLES, CAP_COMMANDS, CAP_PCRS, CAP_TPM_PROPERTIES, CAP_AUTH_POLICIES = 0, 1, 2, 5, 6, 9
PT_FAMILY_INDICATOR = 0x100
NV_POLICYWRITE, NV_AUTHREAD, NV_NO_DA = 1 << 3, 1 << 18, 1 << 25
EO_EQ, EO_NEQ, EO_UGT = 0, 1, 3
RC_POLICY, RC_CPHASH, RC_POLICY_FAIL = 0x126, 0x151, 0x09D
RC_CHANNEL, RC_VALUE_FMT1, RC_HASH = 0x0B0, 0x084, 0x083


def rc_param(rc, n):
    return rc | 0xC0 | (n << 8)


RC_VALUE, RC_SIZE, RC_HANDLE = 0x04, 0x15, 0x0B
SHIM = os.environ.get("UTPM_E2E_MSSIM_SHIM")


def capability_args(operand, offset, op, cap, prop):
    """Part 3 §23.23: args = H(operandB.buffer || offset || operation || capability || property)."""
    return digest(SHA256, operand, u16(offset), u16(op), u32(cap), u32(prop))


class Base(unittest.TestCase):
    def setUp(self):
        self.server = (MssimShim(SHIM) if SHIM else Utpmd()).start()
        self.addCleanup(self.server.stop)
        self.client = MssimClient(self.server.port)
        self.addCleanup(self.client.close)
        self.tpm = Tpm(self.client)
        self.assertEqual(rc_of(self.client.execute(startup(SU_CLEAR))), 0)

    def session(self, se=SE_POLICY):
        s = self.tpm.start_session(se=se)
        self.addCleanup(lambda: self.tpm.call(0x165, params=u32(s.handle), check=False))
        return s

    def digest_of(self, s):
        r = self.tpm.call(PCC["PolicyGetDigest"], handles=(s.handle,))
        self.assertEqual(r.rc, 0)
        return r.reader().tpm2b()

    def capability(self, cap, prop, count=64):
        r = self.tpm.call(GetCapability, params=u32(cap) + u32(prop) + u32(count), check=False)
        self.assertEqual(r.rc, 0, f"GetCapability rc {r.rc:#x}")
        rd = r.reader()
        more, got_cap, n = rd.u8(), rd.u32(), rd.u32()
        self.assertEqual(got_cap, cap)
        return more, n, rd


@unittest.skipIf(SHIM, "swtpm 0.7 does not implement the 1.83 policy commands")
class PolicyCapabilityE2E(Base):
    def policy_capability(self, s, operand, offset, op, cap, prop):
        return self.tpm.call(PolicyCapability, handles=(s.handle,),
                             params=tpm2b(operand) + u16(offset) + u16(op) + u32(cap) + u32(prop), check=False).rc

    def test_assertions_on_properties_commands_algorithms_and_handles(self):
        s = self.session()
        expect = Policy()
        # TPMS_TAGGED_PROPERTY of TPM_PT_FAMILY_INDICATOR: property || "2.0\0"
        cases = [
            (b"2.0\0", 4, EO_EQ, CAP_TPM_PROPERTIES, PT_FAMILY_INDICATOR),
            (u32(PT_FAMILY_INDICATOR), 0, EO_EQ, CAP_TPM_PROPERTIES, PT_FAMILY_INDICATOR),
            # TPMA_CC of PolicyCapability itself: its commandIndex (low 16 bits) is 0x019B
            (u16(PolicyCapability), 2, EO_EQ, CAP_COMMANDS, PolicyCapability),
            # TPMS_ALG_PROPERTY of SHA-256 (alg || TPMA_ALGORITHM with the hash bit, 0x4)
            (u16(SHA256) + u32(0x4), 0, EO_EQ, CAP_ALGS, SHA256),
            # the permanent handle TPM_RH_OWNER exists; a persistent handle that does not is NEQ
            (u32(RH_OWNER), 0, EO_EQ, CAP_HANDLES, RH_OWNER),
            (b"\x00", 0, EO_NEQ, CAP_HANDLES, 0x81000099),
            (b"1.2\0", 4, EO_UGT, CAP_TPM_PROPERTIES, PT_FAMILY_INDICATOR),  # "2.0" > "1.2"
        ]
        for operand, offset, op, cap, prop in cases:
            with self.subTest(cap=cap, prop=hex(prop), op=op):
                self.assertEqual(self.policy_capability(s, operand, offset, op, cap, prop), 0)
                expect.ext(PolicyCapability, capability_args(operand, offset, op, cap, prop))
        self.assertEqual(self.digest_of(s), expect.d)

    def test_failed_assertions_and_bad_arguments(self):
        s = self.session()
        before = self.digest_of(s)
        cases = [
            ((b"1.2\0", 4, EO_EQ, CAP_TPM_PROPERTIES, PT_FAMILY_INDICATOR), RC_POLICY),
            ((b"\x00", 0, EO_EQ, CAP_HANDLES, 0x81000099), RC_POLICY),   # missing entry: only NEQ holds
            ((b"\x00", 9, EO_EQ, CAP_TPM_PROPERTIES, PT_FAMILY_INDICATOR), rc_param(RC_VALUE, 2)),  # offset > 8
            ((bytes(6), 4, EO_EQ, CAP_TPM_PROPERTIES, PT_FAMILY_INDICATOR), rc_param(RC_SIZE, 1)),  # 4 + 6 > 8
            ((b"\x00", 0, EO_EQ, CAP_PCRS, 0), rc_param(RC_VALUE, 4)),     # no single entry
            ((b"\x00", 0, EO_EQ, 0x55, 0), rc_param(RC_VALUE, 4)),
            ((b"\x00", 0, EO_EQ, CAP_HANDLES, 0x05000000), rc_param(RC_HANDLE, 5)),  # no such handle type
            ((b"\x00", 0, EO_EQ, CAP_AUTH_POLICIES, 0x81000000), rc_param(RC_VALUE, 5)),
            ((b"\x00", 0, 12, CAP_TPM_PROPERTIES, PT_FAMILY_INDICATOR), rc_param(RC_VALUE, 3)),  # no TPM_EO 12
        ]
        for args, rc in cases:
            with self.subTest(args=args):
                self.assertEqual(self.policy_capability(s, *args), rc)
        self.assertEqual(self.digest_of(s), before, "a failed assertion leaves the digest alone")

    def test_trial_session_only_computes_the_digest(self):
        t = self.session(SE_TRIAL)
        self.assertEqual(self.policy_capability(t, b"x", 0, EO_EQ, 0x55, 0x81000099), 0)
        self.assertEqual(self.digest_of(t), Policy().ext(PolicyCapability,
                                                         capability_args(b"x", 0, EO_EQ, 0x55, 0x81000099)).d)


@unittest.skipIf(SHIM, "swtpm 0.7 does not implement the 1.83 policy commands")
class PolicyParametersE2E(Base):
    INDEX = 0x01500030

    def policy_parameters(self, s, p_hash):
        return self.tpm.call(PolicyParameters, handles=(s.handle,), params=tpm2b(p_hash), check=False).rc

    def test_binds_the_parameters_of_nv_write(self):
        data = b"approved"
        p_hash = digest(SHA256, u32(NV_Write), tpm2b(data), u16(0))  # H(commandCode || parameters)
        policy = Policy().ext(PolicyParameters, p_hash).d
        attrs = NV_POLICYWRITE | NV_AUTHREAD | NV_NO_DA
        pub = struct.pack(">IHIH", self.INDEX, SHA256, attrs, len(policy)) + policy + u16(8)
        r = self.tpm.call(NV_DefineSpace, handles=(RH_OWNER,), params=tpm2b(b"") + tpm2b(pub), auths=[Auth()])
        self.assertEqual(r.rc, 0, f"NV_DefineSpace rc {r.rc:#x}")

        name = u16(SHA256) + digest(SHA256, pub)  # not yet written: the Name of the defined public area

        def write(payload):
            s = self.session()
            self.assertEqual(self.policy_parameters(s, p_hash), 0)
            self.assertEqual(self.digest_of(s), policy)
            return self.tpm.call(NV_Write, handles=(self.INDEX, self.INDEX), names=(name, name),
                                 params=tpm2b(payload) + u16(0), auths=[Auth(session=s, include_auth=False)],
                                 check=False).rc

        self.assertEqual(write(b"tampered"), rc_session(RC_POLICY_FAIL, 1))
        self.assertEqual(write(data), 0)

    def test_size_and_the_occupied_cphash_slot(self):
        s = self.session()
        self.assertEqual(self.policy_parameters(s, bytes(20)), rc_param(RC_SIZE, 1))
        self.assertEqual(self.policy_parameters(s, bytes(32)), 0)
        # even the same pHash again: the slot is taken (no equality escape as PolicyCpHash has)
        self.assertEqual(self.policy_parameters(s, bytes(32)), RC_CPHASH)
        r = self.tpm.call(PCC["PolicyCpHash"], handles=(s.handle,), params=tpm2b(bytes(32)), check=False)
        self.assertEqual(r.rc, RC_CPHASH)
        s2 = self.session()
        r = self.tpm.call(PCC["PolicyCpHash"], handles=(s2.handle,), params=tpm2b(bytes(32)))
        self.assertEqual(r.rc, 0)
        self.assertEqual(self.policy_parameters(s2, bytes(32)), RC_CPHASH)


@unittest.skipIf(SHIM, "swtpm 0.7 does not implement the 1.84 policy commands")
class PolicyTransportSPDME2E(Base):
    REQ = u16(SHA256) + digest(SHA256, b"requester key")   # a Name: nameAlg || digest
    TPM_KEY = u16(0x000C) + digest(0x000C, b"tpm key")     # SHA-384
    INDEX = 0x01500031

    def assert_spdm(self, s, req=b"", tpm_key=b""):
        return self.tpm.call(PolicyTransportSPDM, handles=(s.handle,), params=tpm2b(req) + tpm2b(tpm_key),
                             check=False).rc

    @staticmethod
    def key_names_hash(req, tpm_key):
        """scKeyNameHash = H(reqKeyName.size || reqKeyName || tpmKeyName.size || tpmKeyName), or
        the Empty Buffer when both Names are empty."""
        return digest(SHA256, tpm2b(req), tpm2b(tpm_key)) if req or tpm_key else b""

    def test_digest_with_and_without_key_names(self):
        for req, tpm_key in ((b"", b""), (self.REQ, b""), (b"", self.TPM_KEY), (self.REQ, self.TPM_KEY)):
            with self.subTest(req=len(req), tpm_key=len(tpm_key)):
                for se in (SE_POLICY, SE_TRIAL):
                    s = self.session(se)
                    self.assertEqual(self.assert_spdm(s, req, tpm_key), 0)
                    expect = Policy().ext(PolicyTransportSPDM, self.key_names_hash(req, tpm_key)).d
                    self.assertEqual(self.digest_of(s), expect)
                    self.tpm.call(0x165, params=u32(s.handle))  # FlushContext: 3 session slots

    def test_bad_names_and_a_second_assertion(self):
        s = self.session()
        before = self.digest_of(s)
        cases = [
            ((b"\x00", b""), rc_param(RC_SIZE, 1)),                         # shorter than a nameAlg
            ((u16(SHA256) + bytes(20), b""), rc_param(RC_SIZE, 1)),          # not a SHA-256 digest
            ((u16(0x0099) + bytes(32), b""), rc_param(RC_HASH, 1)),          # no such hash
            ((u16(0x0010) + bytes(0), b""), rc_param(RC_HASH, 1)),           # TPM_ALG_NULL is not a nameAlg
            ((self.REQ, b"\x00"), rc_param(RC_SIZE, 2)),
            ((self.REQ, u16(0x0099) + bytes(32)), rc_param(RC_HASH, 2)),
            ((self.REQ, u16(SHA256) + bytes(48)), rc_param(RC_SIZE, 2)),
        ]
        for (req, tpm_key), rc in cases:
            with self.subTest(req=req.hex(), tpm_key=tpm_key.hex()):
                self.assertEqual(self.assert_spdm(s, req, tpm_key), rc)
        self.assertEqual(self.digest_of(s), before, "a refused assertion leaves the digest alone")
        self.assertEqual(self.assert_spdm(s), 0)
        self.assertEqual(self.assert_spdm(s), RC_VALUE_FMT1, "one assertion per session")
        # the mark survives a context save and load, and only PolicyRestart clears it
        r = self.tpm.call(ContextSave, params=u32(s.handle))
        r = self.tpm.call(ContextLoad, params=r.params)
        self.assertEqual(r.rc, 0)
        self.assertEqual(self.assert_spdm(s, self.REQ), RC_VALUE_FMT1)
        self.assertEqual(self.tpm.call(PCC["PolicyRestart"], handles=(s.handle,)).rc, 0)
        self.assertEqual(self.assert_spdm(s, self.REQ), 0)
        self.assertEqual(self.digest_of(s), Policy().ext(PolicyTransportSPDM, self.key_names_hash(self.REQ, b"")).d)

    def test_no_command_arrives_over_spdm_so_the_policy_never_authorizes(self):
        policy = Policy().ext(PolicyTransportSPDM, b"").d
        attrs = NV_POLICYWRITE | NV_AUTHREAD | NV_NO_DA
        pub = struct.pack(">IHIH", self.INDEX, SHA256, attrs, len(policy)) + policy + u16(8)
        r = self.tpm.call(NV_DefineSpace, handles=(RH_OWNER,), params=tpm2b(b"") + tpm2b(pub), auths=[Auth()])
        self.assertEqual(r.rc, 0, f"NV_DefineSpace rc {r.rc:#x}")
        name = u16(SHA256) + digest(SHA256, pub)
        s = self.session()
        self.assertEqual(self.assert_spdm(s), 0)
        self.assertEqual(self.digest_of(s), policy)
        rc = self.tpm.call(NV_Write, handles=(self.INDEX, self.INDEX), names=(name, name),
                           params=tpm2b(b"payload!") + u16(0), auths=[Auth(session=s, include_auth=False)],
                           check=False).rc
        self.assertEqual(rc, rc_session(RC_CHANNEL, 1))


class CapabilityE2E(Base):
    def test_auth_policies_lists_the_hierarchies_with_their_policies(self):
        policy = digest(SHA256, b"owner policy")
        r = self.tpm.call(SetPrimaryPolicy, handles=(RH_OWNER,), params=tpm2b(policy) + u16(SHA256), auths=[Auth()])
        self.assertEqual(r.rc, 0)
        more, n, rd = self.capability(CAP_AUTH_POLICIES, 0x40000000)
        entries = {}
        for _ in range(n):
            h, alg = rd.u32(), rd.u16()
            entries[h] = (alg, rd.take(32) if alg == SHA256 else b"")
        self.assertEqual(more, 0)
        self.assertEqual(entries[RH_OWNER], (SHA256, policy))
        for h in (0x4000000A, 0x4000000B, 0x4000000C):  # lockout, endorsement, platform: no policy
            self.assertEqual(entries[h], (0x0010, b""))
        self.assertEqual(list(entries), sorted(entries), "ascending handles")
        r = self.tpm.call(GetCapability, params=u32(CAP_AUTH_POLICIES) + u32(0x81000000) + u32(8), check=False)
        self.assertEqual(r.rc, rc_param(RC_VALUE, 2))

    def test_saved_sessions_are_listed_under_the_saved_session_type(self):
        hmac_s = self.tpm.start_session()
        policy_s = self.tpm.start_session(se=SE_POLICY)
        for s in (hmac_s, policy_s):
            self.assertEqual(self.tpm.call(ContextSave, params=u32(s.handle)).rc, 0)
        _, n, rd = self.capability(CAP_HANDLES, 0x03000000)
        saved = [rd.u32() for _ in range(n)]
        self.assertEqual(sorted(h & 0xFFFFFF for h in saved), sorted(s.handle & 0xFFFFFF for s in (hmac_s, policy_s)))
        if not SHIM:  # the reference TPM lists every saved session as 0x02..; utpm keeps its type (engine.md)
            self.assertEqual(sorted(saved), sorted([hmac_s.handle, policy_s.handle]))
        _, n, _ = self.capability(CAP_HANDLES, 0x02000000)
        self.assertEqual(n, 0, "no session is loaded")


if __name__ == "__main__":
    unittest.main()
