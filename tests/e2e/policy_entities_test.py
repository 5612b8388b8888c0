#!/usr/bin/python3
"""Enhanced Authorization against NV indices, objects' ADMIN role and PCR groups (issue 10).

PolicyNV and PolicyAuthorizeNV through raw commands and tpm2-tools; an object with
adminWithPolicy refusing ObjectChangeAuth without its PolicyCommandCode policy; PCR_SetAuthValue
and PCR_SetAuthPolicy for the PC Client auth/policy group (PCRs 20-22). Expected digests
and Names come from hashlib over the Part 2/Part 3 formulas, never from the TPM.

UTPM_E2E_MSSIM_SHIM=/work/shared/bench/mssim-swtpm-shim runs the same tests against swtpm.
Run: UTPMD=build/host-debug/src/host/utpmd /usr/bin/python3 tests/e2e/policy_entities_test.py
"""
import hashlib
import os
import shutil
import struct
import tempfile
import unittest

from policy_test import PCC, Policy
from tpm_raw import RH_OWNER, SE_POLICY, SHA1, SHA256, Auth, Tpm, digest, rc_session, tpm2b, u16, u32
from utpmd_harness import SU_CLEAR, MssimClient, MssimShim, Utpmd, rc_of, run_tool, startup

SE_TRIAL = 3
PolicyNV, PolicyAuthorizeNV, NV_DefineSpace, NV_Write, NV_ReadLock = 0x149, 0x192, 0x12A, 0x137, 0x14F
NV_OWNERWRITE, NV_AUTHWRITE, NV_OWNERREAD, NV_AUTHREAD = 1 << 1, 1 << 2, 1 << 17, 1 << 18
NV_NO_DA, NV_READ_STCLEAR, NV_WRITTEN = 1 << 25, 1 << 31, 1 << 29
RC_POLICY, RC_NV_LOCKED, RC_NV_UNINITIALIZED, RC_NV_AUTHORIZATION = 0x126, 0x148, 0x14A, 0x149
RC_VALUE, RC_SIZE_P1, RC_VALUE_P2, RC_VALUE_P3, RC_HASH = 0x084, 0x1D5, 0x2C4, 0x3C4, 0x083
RC_AUTH_TYPE, RC_POLICY_FAIL = 0x124, 0x09D
EO = dict(eq=0, neq=1, sgt=2, ugt=3, slt=4, ult=5, sge=6, uge=7, sle=8, ule=9, bs=10, bc=11)
INDEX = 0x01500020
ATTRS = NV_OWNERWRITE | NV_AUTHWRITE | NV_OWNERREAD | NV_AUTHREAD | NV_NO_DA


def nv_name(index, attrs, size, alg=SHA256, policy=b""):
    """Name = nameAlg || H(TPMS_NV_PUBLIC)."""
    public = struct.pack(">IHIH", index, alg, attrs, len(policy)) + policy + struct.pack(">H", size)
    return u16(alg) + digest(alg, public)


def policy_nv(p, operand, offset, op, name):
    """Part 3 §23.9: H(old || TPM_CC_PolicyNV || H(operandB || offset || operation) || nvIndexName)."""
    return p.ext(PolicyNV, digest(p.alg, operand, u16(offset), u16(op)), name)


class PolicyNvE2E(unittest.TestCase):
    def setUp(self):
        shim = os.environ.get("UTPM_E2E_MSSIM_SHIM")
        self.server = (MssimShim(shim) if shim else Utpmd()).start()
        self.addCleanup(self.server.stop)
        self.client = MssimClient(self.server.port)
        self.addCleanup(self.client.close)
        self.tpm = Tpm(self.client)
        self.assertEqual(rc_of(self.client.execute(startup(SU_CLEAR))), 0)
        self.tmp = tempfile.mkdtemp(prefix="utpm-policynv-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    # ---- raw helpers ----
    def define(self, index=INDEX, size=8, attrs=ATTRS, auth=b"nvpw", alg=SHA256):
        pub = struct.pack(">IHIH", index, alg, attrs, 0) + u16(size)
        r = self.tpm.call(NV_DefineSpace, handles=(RH_OWNER,), params=tpm2b(auth) + tpm2b(pub),
                          auths=[Auth(password=b"")])
        self.assertEqual(r.rc, 0, f"NV_DefineSpace rc {r.rc:#x}")

    def write(self, data, index=INDEX, offset=0, auth=b"nvpw"):
        r = self.tpm.call(NV_Write, handles=(index, index), params=tpm2b(data) + u16(offset),
                          auths=[Auth(password=auth)])
        self.assertEqual(r.rc, 0, f"NV_Write rc {r.rc:#x}")

    def session(self, se=SE_POLICY, alg=SHA256):
        s = self.tpm.start_session(auth_hash=alg, se=se)
        self.addCleanup(lambda: self.tpm.call(0x165, params=u32(s.handle), check=False))
        return s

    def digest_of(self, s):
        r = self.tpm.call(PCC["PolicyGetDigest"], handles=(s.handle,))
        self.assertEqual(r.rc, 0)
        return r.reader().tpm2b()

    def policy_nv(self, s, operand, offset, op, index=INDEX, auth_handle=None, auth=b"nvpw", expect=0):
        r = self.tpm.call(PolicyNV, handles=(auth_handle or index, index, s.handle),
                          params=tpm2b(operand) + u16(offset) + u16(op), auths=[Auth(password=auth)], check=False)
        self.assertEqual(r.rc, expect, f"PolicyNV rc {r.rc:#x}, expected {expect:#x}")

    def authorize_nv(self, s, index=INDEX, auth=b"nvpw", expect=0):
        r = self.tpm.call(PolicyAuthorizeNV, handles=(index, index, s.handle), auths=[Auth(password=auth)],
                          check=False)
        self.assertEqual(r.rc, expect, f"PolicyAuthorizeNV rc {r.rc:#x}, expected {expect:#x}")

    # ---- PolicyNV ----
    def test_policy_nv_compares_and_extends(self):
        self.define()
        s = self.session()
        self.policy_nv(s, b"\x00", 0, EO["eq"], expect=RC_NV_UNINITIALIZED)  # never written
        data = bytes([0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0x80])
        self.write(data)
        name = nv_name(INDEX, ATTRS | NV_WRITTEN, 8)
        p = Policy()
        # the operations of TPM_EO against bytes 2..3 = 0x3040
        for operand, op in ((b"\x30\x40", "eq"), (b"\x30\x41", "neq"), (b"\x30\x3f", "ugt"), (b"\x30\x41", "ult"),
                            (b"\x30\x40", "uge"), (b"\x30\x40", "sle"), (b"\xf0\x00", "sgt"), (b"\x30\x00", "bs"),
                            (b"\x0f\x0f", "bc")):
            self.policy_nv(s, operand, 2, EO[op])
            policy_nv(p, operand, 2, EO[op], name)
            self.assertEqual(self.digest_of(s), p.d, f"digest after {op}")
        # failing comparisons: TPM_RC_POLICY, digest unchanged
        for operand, op in ((b"\x30\x41", "eq"), (b"\x30\x40", "neq"), (b"\x30\x40", "ugt"), (b"\x01\x00", "slt"),
                            (b"\x31\x00", "bs"), (b"\x10\x00", "bc")):
            self.policy_nv(s, operand, 2, EO[op], expect=RC_POLICY)
        self.assertEqual(self.digest_of(s), p.d)
        # the range: operandB beyond the data (SIZE, operandB), offset beyond it (VALUE, offset)
        self.policy_nv(s, b"\x00" * 3, 6, EO["eq"], expect=RC_SIZE_P1)
        self.policy_nv(s, b"", 9, EO["eq"], expect=RC_VALUE_P2)
        self.policy_nv(s, b"\x00", 0, 12, expect=RC_VALUE_P3)
        # the owner may read too (OWNERREAD); a wrong index password is refused
        self.policy_nv(s, data[:1], 0, EO["eq"], auth_handle=RH_OWNER, auth=b"")
        policy_nv(p, data[:1], 0, EO["eq"], name)
        self.assertEqual(self.digest_of(s), p.d)
        self.policy_nv(s, data[:1], 0, EO["eq"], auth=b"wrong", expect=rc_session(0x0A2, 1))
        # a trial session does not compare: any operand gives the digest
        t = self.session(SE_TRIAL)
        self.policy_nv(t, b"\xff\xff", 0, EO["eq"])
        self.assertEqual(self.digest_of(t), policy_nv(Policy(), b"\xff\xff", 0, EO["eq"], name).d)

    def test_policy_nv_read_locked_and_owner_without_ownerread(self):
        attrs = NV_AUTHWRITE | NV_AUTHREAD | NV_NO_DA | NV_READ_STCLEAR
        self.define(attrs=attrs)
        self.write(b"\x01" * 8)
        s = self.session()
        self.policy_nv(s, b"\x01", 0, EO["eq"], auth_handle=RH_OWNER, auth=b"", expect=RC_NV_AUTHORIZATION)
        self.policy_nv(s, b"\x01", 0, EO["eq"])
        r = self.tpm.call(NV_ReadLock, handles=(INDEX, INDEX), auths=[Auth(password=b"nvpw")])
        self.assertEqual(r.rc, 0)
        self.policy_nv(s, b"\x01", 0, EO["eq"], expect=RC_NV_LOCKED)

    # ---- PolicyAuthorizeNV ----
    def test_policy_authorize_nv(self):
        approved = Policy().ext(PCC["PolicyCommandCode"], u32(0x15E)).d  # PolicyCommandCode(Unseal)
        self.define(size=34)
        s = self.session()
        self.authorize_nv(s, expect=RC_NV_UNINITIALIZED)
        self.write(u16(SHA256) + approved)
        name = nv_name(INDEX, ATTRS | NV_WRITTEN, 34)
        expect = Policy().ext(PolicyAuthorizeNV, name).d  # H(0...0 || TPM_CC_PolicyAuthorizeNV || Name)
        self.authorize_nv(s, expect=RC_VALUE)  # the session's digest is not the approved one
        self.tpm.call(PCC["PolicyCommandCode"], handles=(s.handle,), params=u32(0x15E))
        self.authorize_nv(s)
        self.assertEqual(self.digest_of(s), expect)
        t = self.session(SE_TRIAL)
        self.authorize_nv(t)  # a trial session does not compare
        self.assertEqual(self.digest_of(t), expect)
        # the TPMT_HA names another hash than the session's: TPM_RC_HASH (no number, as swtpm)
        self.write(u16(SHA1) + approved[:20])
        for old in (s, t):
            self.tpm.call(0x165, params=u32(old.handle))
        s2 = self.session()
        self.tpm.call(PCC["PolicyCommandCode"], handles=(s2.handle,), params=u32(0x15E))
        self.authorize_nv(s2, expect=RC_HASH)

    # ---- tpm2-tools ----
    def tool(self, *args, check=True):
        self.client.close()  # one mssim connection at a time
        p = run_tool(list(args), self.server.mssim_tcti, check=check)
        if args[0] in ("tpm2_createprimary", "tpm2_create", "tpm2_load", "tpm2_unseal", "tpm2_changeauth"):
            run_tool(["tpm2_flushcontext", "-t"], self.server.mssim_tcti)
        return p

    def f(self, name):
        return os.path.join(self.tmp, name)

    def put(self, name, data):
        with open(self.f(name), "wb") as fh:
            fh.write(data)
        return self.f(name)

    def get(self, name):
        with open(self.f(name), "rb") as fh:
            return fh.read()

    def test_tools_policynv_seal_and_unseal(self):
        idx = "0x1500020"
        self.tool("tpm2_nvdefine", idx, "-C", "o", "-s", "8", "-a", "ownerread|ownerwrite|authread|authwrite|no_da",
                  "-p", "nvpw")
        self.tool("tpm2_nvwrite", idx, "-C", "o", "-i", self.put("data", b"\x00\x00\x00\x05abcd"))
        name = nv_name(INDEX, ATTRS | NV_WRITTEN, 8)
        operand = self.put("operand", b"\x00\x00\x00\x04")
        # a trial session: the digest tpm2_policynv computes (authorized by the owner)
        self.tool("tpm2_startauthsession", "-S", self.f("t.ctx"))
        self.tool("tpm2_policynv", "-S", self.f("t.ctx"), "-C", "o", "-i", operand, "-L", self.f("p.dat"), idx, "ugt")
        self.tool("tpm2_flushcontext", self.f("t.ctx"))
        expect = policy_nv(Policy(), b"\x00\x00\x00\x04", 0, EO["ugt"], name).d
        self.assertEqual(self.get("p.dat"), expect, "tpm2_policynv (trial) vs Python")
        self.tool("tpm2_createprimary", "-C", "o", "-c", self.f("prim.ctx"))
        self.tool("tpm2_create", "-C", self.f("prim.ctx"), "-L", self.f("p.dat"), "-i", self.put("secret", b"nv secret"),
                  "-u", self.f("o.pub"), "-r", self.f("o.priv"))
        self.tool("tpm2_load", "-C", self.f("prim.ctx"), "-u", self.f("o.pub"), "-r", self.f("o.priv"),
                  "-c", self.f("o.ctx"))

        def unseal(check=True):
            self.tool("tpm2_startauthsession", "--policy-session", "-S", self.f("s.ctx"))
            p = self.tool("tpm2_policynv", "-S", self.f("s.ctx"), "-P", "nvpw", "-i", operand, idx, "ugt", check=check)
            if p.returncode == 0:
                p = self.tool("tpm2_unseal", "-p", "session:" + self.f("s.ctx"), "-c", self.f("o.ctx"), check=check)
            self.tool("tpm2_flushcontext", self.f("s.ctx"), check=False)
            return p
        self.assertEqual(unseal().stdout, b"nv secret")
        self.tool("tpm2_nvwrite", idx, "-C", "o", "-i", self.put("data", b"\x00\x00\x00\x04abcd"))  # 4 > 4 fails
        self.assertNotEqual(unseal(check=False).returncode, 0, "PolicyNV must fail once the value is 4")

    def test_tools_policyauthorizenv(self):
        idx = "0x1500021"
        # the approved policy: PolicyCommandCode(Unseal), computed by tpm2-tools and by Python
        self.tool("tpm2_startauthsession", "-S", self.f("t.ctx"))
        self.tool("tpm2_policycommandcode", "-S", self.f("t.ctx"), "-L", self.f("cc.dat"), "TPM2_CC_Unseal")
        self.tool("tpm2_flushcontext", self.f("t.ctx"))
        approved = Policy().ext(PCC["PolicyCommandCode"], u32(0x15E)).d
        self.assertEqual(self.get("cc.dat"), approved)
        self.tool("tpm2_nvdefine", idx, "-C", "o", "-s", "34", "-a", "ownerread|ownerwrite|authread|authwrite|no_da")
        self.tool("tpm2_nvwrite", idx, "-C", "o", "-i", self.put("ha", u16(SHA256) + approved))
        name = nv_name(0x01500021, ATTRS | NV_WRITTEN, 34)
        self.tool("tpm2_startauthsession", "-S", self.f("t.ctx"))
        self.tool("tpm2_policyauthorizenv", "-S", self.f("t.ctx"), "-C", "o", "-L", self.f("anv.dat"), idx)
        self.tool("tpm2_flushcontext", self.f("t.ctx"))
        self.assertEqual(self.get("anv.dat"), Policy().ext(PolicyAuthorizeNV, name).d,
                         "tpm2_policyauthorizenv (trial) vs Python")
        self.tool("tpm2_createprimary", "-C", "o", "-c", self.f("prim.ctx"))
        self.tool("tpm2_create", "-C", self.f("prim.ctx"), "-L", self.f("anv.dat"), "-i",
                  self.put("secret", b"anv secret"), "-u", self.f("o.pub"), "-r", self.f("o.priv"))
        self.tool("tpm2_load", "-C", self.f("prim.ctx"), "-u", self.f("o.pub"), "-r", self.f("o.priv"),
                  "-c", self.f("o.ctx"))
        self.tool("tpm2_startauthsession", "--policy-session", "-S", self.f("s.ctx"))
        self.tool("tpm2_policycommandcode", "-S", self.f("s.ctx"), "TPM2_CC_Unseal")
        self.tool("tpm2_policyauthorizenv", "-S", self.f("s.ctx"), "-C", "o", idx)
        p = self.tool("tpm2_unseal", "-p", "session:" + self.f("s.ctx"), "-c", self.f("o.ctx"))
        self.assertEqual(p.stdout, b"anv secret")
        self.tool("tpm2_flushcontext", self.f("s.ctx"))
        # without the approved policy first, PolicyAuthorizeNV refuses
        self.tool("tpm2_startauthsession", "--policy-session", "-S", self.f("s.ctx"))
        p = self.tool("tpm2_policyauthorizenv", "-S", self.f("s.ctx"), "-C", "o", idx, check=False)
        self.assertNotEqual(p.returncode, 0)
        self.tool("tpm2_flushcontext", self.f("s.ctx"), check=False)

    def test_tools_counter_timer_and_duplication_select(self):
        # PolicyCounterTimer: trial digest of tpm2-tools vs Python, then at use (time < 10^9 ms
        # holds, time < 1 does not: TPM_RC_POLICY)
        big = 10 ** 9
        self.tool("tpm2_startauthsession", "-S", self.f("t.ctx"))
        self.tool("tpm2_policycountertimer", "-S", self.f("t.ctx"), "-L", self.f("ct.dat"), "--ult", f"time={big}")
        self.tool("tpm2_flushcontext", self.f("t.ctx"))
        args = digest(SHA256, struct.pack(">Q", big), u16(0), u16(EO["ult"]))
        self.assertEqual(self.get("ct.dat"), Policy().ext(PCC["PolicyCounterTimer"], args).d)
        self.tool("tpm2_createprimary", "-C", "o", "-c", self.f("prim.ctx"))
        self.tool("tpm2_create", "-C", self.f("prim.ctx"), "-L", self.f("ct.dat"), "-i", self.put("secret", b"ct"),
                  "-u", self.f("o.pub"), "-r", self.f("o.priv"))
        self.tool("tpm2_load", "-C", self.f("prim.ctx"), "-u", self.f("o.pub"), "-r", self.f("o.priv"),
                  "-c", self.f("o.ctx"))
        self.tool("tpm2_startauthsession", "--policy-session", "-S", self.f("s.ctx"))
        self.tool("tpm2_policycountertimer", "-S", self.f("s.ctx"), "--ult", f"time={big}")
        self.assertEqual(self.tool("tpm2_unseal", "-p", "session:" + self.f("s.ctx"), "-c", self.f("o.ctx")).stdout,
                         b"ct")
        p = self.tool("tpm2_policycountertimer", "-S", self.f("s.ctx"), "--ult", "time=1", check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn(b"(0x126)", p.stderr.lower() + p.stdout.lower())  # TPM_RC_POLICY
        self.tool("tpm2_flushcontext", self.f("s.ctx"))
        # PolicyDuplicationSelect with and without includeObject
        obj, parent = u16(SHA256) + os.urandom(32), u16(SHA256) + os.urandom(32)
        self.put("obj.name", obj)
        self.put("parent.name", parent)
        for include in (True, False):
            self.tool("tpm2_startauthsession", "-S", self.f("t.ctx"))
            self.tool("tpm2_policyduplicationselect", "-S", self.f("t.ctx"), "-n", self.f("obj.name"),
                      "-N", self.f("parent.name"), "-L", self.f("dup.dat"), *(["--include-object"] if include else []))
            self.tool("tpm2_flushcontext", self.f("t.ctx"))
            parts = (obj, parent, b"\x01") if include else (parent, b"\x00")
            self.assertEqual(self.get("dup.dat"), Policy().ext(PCC["PolicyDuplicationSelect"], *parts).d,
                             f"includeObject={include}")

    # ---- objects with adminWithPolicy (ADMIN role: policy only, the command code bound) ----
    def test_tools_admin_with_policy_change_auth(self):
        self.tool("tpm2_startauthsession", "-S", self.f("t.ctx"))
        self.tool("tpm2_policycommandcode", "-S", self.f("t.ctx"), "-L", self.f("adm.dat"), "TPM2_CC_ObjectChangeAuth")
        self.tool("tpm2_policyauthvalue", "-S", self.f("t.ctx"), "-L", self.f("adm.dat"))
        self.tool("tpm2_flushcontext", self.f("t.ctx"))
        self.assertEqual(self.get("adm.dat"),
                         Policy().ext(PCC["PolicyCommandCode"], u32(0x150)).ext(PCC["PolicyAuthValue"]).d)
        # a policy of PolicyAuthValue alone, to show that the command code must be bound
        self.tool("tpm2_startauthsession", "-S", self.f("t.ctx"))
        self.tool("tpm2_policyauthvalue", "-S", self.f("t.ctx"), "-L", self.f("av.dat"))
        self.tool("tpm2_flushcontext", self.f("t.ctx"))
        self.tool("tpm2_createprimary", "-C", "o", "-c", self.f("prim.ctx"))
        for pol, key in (("adm.dat", "k"), ("av.dat", "k2")):
            self.tool("tpm2_create", "-C", self.f("prim.ctx"), "-G", "hmac", "-L", self.f(pol), "-p", "keypw",
                      "-a", "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|adminwithpolicy|sign|noda",
                      "-u", self.f(key + ".pub"), "-r", self.f(key + ".priv"))
            self.tool("tpm2_load", "-C", self.f("prim.ctx"), "-u", self.f(key + ".pub"), "-r", self.f(key + ".priv"),
                      "-c", self.f(key + ".ctx"))
        # a password is refused (TPM_RC_AUTH_TYPE: adminWithPolicy SET needs a policy session; swtpm agrees)
        p = self.tool("tpm2_changeauth", "-c", self.f("k.ctx"), "-C", self.f("prim.ctx"), "-p", "keypw",
                      "-r", self.f("new.priv"), "newpw", check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn(b"(0x124)", p.stderr.lower() + p.stdout.lower())
        # a policy session without PolicyCommandCode is refused even though its digest matches
        self.tool("tpm2_startauthsession", "--policy-session", "-S", self.f("s.ctx"))
        self.tool("tpm2_policyauthvalue", "-S", self.f("s.ctx"))
        p = self.tool("tpm2_changeauth", "-c", self.f("k2.ctx"), "-C", self.f("prim.ctx"),
                      "-p", "session:" + self.f("s.ctx") + "+keypw", "-r", self.f("new2.priv"), "newpw", check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn(b"0x99d", p.stderr.lower() + p.stdout.lower())  # POLICY_FAIL, session 1
        self.tool("tpm2_flushcontext", self.f("s.ctx"), check=False)
        # PolicyCommandCode(ObjectChangeAuth) + PolicyAuthValue with the authValue: accepted
        self.tool("tpm2_startauthsession", "--policy-session", "-S", self.f("s.ctx"))
        self.tool("tpm2_policycommandcode", "-S", self.f("s.ctx"), "TPM2_CC_ObjectChangeAuth")
        self.tool("tpm2_policyauthvalue", "-S", self.f("s.ctx"))
        self.tool("tpm2_changeauth", "-c", self.f("k.ctx"), "-C", self.f("prim.ctx"),
                  "-p", "session:" + self.f("s.ctx") + "+keypw", "-r", self.f("new.priv"), "newpw")
        self.tool("tpm2_flushcontext", self.f("s.ctx"))
        # the new private area loads and the new authValue works for the USER role (userWithAuth)
        self.tool("tpm2_load", "-C", self.f("prim.ctx"), "-u", self.f("k.pub"), "-r", self.f("new.priv"),
                  "-c", self.f("kn.ctx"))
        self.tool("tpm2_hmac", "-c", self.f("kn.ctx"), "-p", "newpw", "-o", self.f("mac"), self.put("msg", b"m"))
        self.assertEqual(len(self.get("mac")), 32)


    def test_policy_ac_send_select_without_attached_components(self):
        # Implemented without attached components since issue 12 (swtpm: TPM_RC_COMMAND_CODE);
        # the digest is checked in act_ac_test.py.
        s = self.session()
        r = self.tpm.call(0x196, handles=(s.handle,), params=tpm2b(b"") + tpm2b(b"") + tpm2b(u32(0x90000001)) + b"\x00",
                          check=False)
        self.assertEqual(r.rc, 0x143 if os.environ.get("UTPM_E2E_MSSIM_SHIM") else 0)

    # ---- PCR auth and policy groups ----
    def pcr_extend(self, tpm, pcr, auths, expect=0):
        r = tpm.call(0x182, handles=(pcr,), params=u32(1) + u16(SHA256) + bytes(32), auths=auths, check=False)
        self.assertEqual(r.rc, expect, f"PCR_Extend({pcr}) rc {r.rc:#x}, expected {expect:#x}")

    def test_pcr_groups(self):
        # the groups, as swtpm reports them: TPM_PT_PCR_POLICY (0x13) and TPM_PT_PCR_AUTH (0x14)
        r = self.tpm.call(0x17A, params=u32(7) + u32(0x13) + u32(2))
        rd = r.reader()
        rd.u8(), rd.u32()
        self.assertEqual(rd.u32(), 2)
        for tag in (0x13, 0x14):
            self.assertEqual(rd.u32(), tag)
            self.assertEqual(rd.take(rd.u8()), bytes([0, 0, 0x70]))  # PCRs 20, 21, 22

        class Locality:  # PCRs 20-22 are extended from locality 2
            def __init__(self, client, loc):
                self.client, self.loc = client, loc

            def execute(self, cmd):
                return self.client.execute(cmd, locality=self.loc)
        loc2 = Tpm(Locality(self.client, 2))
        set_value = 0x183
        r = self.tpm.call(set_value, handles=(7,), params=tpm2b(b"x"), auths=[Auth(password=b"")], check=False)
        self.assertEqual(r.rc, 0x084)  # TPM_RC_VALUE (no handle number, as swtpm): PCR 7 is in no auth group
        r = self.tpm.call(set_value, handles=(20,), params=tpm2b(b"pcrpw"), auths=[Auth(password=b"")])
        self.assertEqual(r.rc, 0)
        for pcr in (20, 21, 22):  # the whole group has the new authValue
            self.pcr_extend(loc2, pcr, [Auth(password=b"")], expect=rc_session(0x0A2, 1))
            self.pcr_extend(loc2, pcr, [Auth(password=b"pcrpw")])
        self.pcr_extend(loc2, 16, [Auth(password=b"")])  # outside the group: the empty authValue
        # PCR_SetAuthPolicy (platform): size, group and use
        set_policy = 0x12C
        policy = Policy().ext(PCC["PolicyCommandCode"], u32(0x182)).d  # PolicyCommandCode(PCR_Extend)
        plat = 0x4000000C
        r = self.tpm.call(set_policy, handles=(plat,), params=tpm2b(policy[:20]) + u16(SHA256) + u32(21),
                          auths=[Auth(password=b"")], check=False)
        self.assertEqual(r.rc, 0x1D5)  # TPM_RC_SIZE, parameter 1
        r = self.tpm.call(set_policy, handles=(plat,), params=tpm2b(policy) + u16(SHA256) + u32(7),
                          auths=[Auth(password=b"")], check=False)
        self.assertEqual(r.rc, 0x3C4)  # TPM_RC_VALUE, parameter 3
        r = self.tpm.call(set_policy, handles=(plat,), params=tpm2b(policy) + u16(SHA256) + u32(21),
                          auths=[Auth(password=b"")])
        self.assertEqual(r.rc, 0)

        def policy_session(cc=None):
            s = loc2.start_session(se=SE_POLICY)
            if cc is not None:
                self.assertEqual(loc2.call(PCC["PolicyCommandCode"], handles=(s.handle,), params=u32(cc)).rc, 0)
            return s
        s = policy_session(0x182)
        self.pcr_extend(loc2, 22, [Auth(s, auth=b"pcrpw", include_auth=False)])
        self.pcr_extend(loc2, 22, [Auth(password=b"pcrpw")], expect=RC_AUTH_TYPE)  # a policy is now required
        s = policy_session()  # the empty policy is not the group's
        self.pcr_extend(loc2, 22, [Auth(s, include_auth=False)], expect=rc_session(RC_POLICY_FAIL, 1))
        loc2.call(0x165, params=u32(s.handle))
        # a TPM Reset empties the authValue; the policy persists
        self.client.execute(bytes.fromhex("80010000000c00000145") + u16(0))  # Shutdown(CLEAR)
        self.client.close()
        self.server.power_cycle()
        self.client = MssimClient(self.server.port)
        self.addCleanup(self.client.close)
        self.tpm = Tpm(self.client)
        loc2 = Tpm(Locality(self.client, 2))
        self.assertEqual(rc_of(self.client.execute(startup(SU_CLEAR))), 0)
        self.pcr_extend(loc2, 20, [Auth(password=b"")], expect=RC_AUTH_TYPE)  # the policy persisted
        s = policy_session(0x182)
        self.pcr_extend(loc2, 20, [Auth(s, include_auth=False)])
        # without the policy (TPM_ALG_NULL, empty digest) the authValue is used: empty again
        r = self.tpm.call(set_policy, handles=(plat,), params=tpm2b(b"") + u16(0x0010) + u32(20),
                          auths=[Auth(password=b"")])
        self.assertEqual(r.rc, 0)
        self.pcr_extend(loc2, 21, [Auth(password=b"pcrpw")], expect=rc_session(0x0A2, 1))
        self.pcr_extend(loc2, 21, [Auth(password=b"")])


if __name__ == "__main__":
    unittest.main()
