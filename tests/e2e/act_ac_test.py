#!/usr/bin/python3
"""Authenticated Countdown Timers and Attached Components (Part 3 chapters 32-33, issue 12).

ACT_SetTimeout on TPM_RH_ACT_0/1 with platformAuth and with an ACT policy, the countdown and the
signal as GetCapability(TPM_CAP_ACT) shows them (no signal pin here), the ACT handles in
TPM_CAP_HANDLES, a Shutdown(STATE)/power cycle/Startup(STATE) keeping a countdown; the attached
component commands of a TPM without components (any TPMI_RH_AC handle is TPM_RC_HANDLE with its
number) and Policy_AC_SendSelect's digest computed here (Part 3: policyDigest := H(policyDigest ||
TPM_CC_Policy_AC_SendSelect || [objectName] || authHandleName || acName || includeObject)).

swtpm 0.7 (libtpms 0.9) implements neither ACTs nor ACs (COMMAND_CODE): no run against it.
Run: UTPMD=build/host-debug/src/host/utpmd /usr/bin/python3 tests/e2e/act_ac_test.py
"""
import os
import time
import unittest

from policy_test import PCC, Policy
from tpm_raw import (RH_NULL, RH_OWNER, RH_PLATFORM, SE_POLICY, SHA256, Auth, RawTpmCase, digest, keyedhash_hmac_key,
                     tpm2b, u16, u32)
from utpmd_harness import command, rc_of

SHIM = os.environ.get("UTPM_E2E_MSSIM_SHIM")
SE_TRIAL = 3
ACT_0, ACT_1 = 0x40000110, 0x40000111
AC_GetCapability, AC_Send, Policy_AC_SendSelect, ACT_SetTimeout = 0x194, 0x195, 0x196, 0x198
GetCapability, SetPrimaryPolicy, HierarchyChangeAuth, Shutdown, Startup = 0x17A, 0x12E, 0x129, 0x145, 0x144
CAP_HANDLES, CAP_ACT = 1, 10
SU_STATE = 1
SIGNALED, PRESERVE = 1, 2
RC_VALUE, RC_HANDLE, RC_CPHASH, RC_COMMAND_CODE, RC_BAD_AUTH = 0x084, 0x08B, 0x151, 0x143, 0x0A2


def rc_handle(rc, n):
    return rc + (n << 8)


def rc_param(rc, n):
    return rc + 0x40 + (n << 8)


@unittest.skipIf(SHIM, "swtpm 0.7 has no ACTs and no attached components")
class Base(RawTpmCase, unittest.TestCase):
    def acts(self, first=ACT_0, count=16):
        r = self.tpm.call(GetCapability, params=u32(CAP_ACT) + u32(first) + u32(count), check=False)
        self.assertEqual(r.rc, 0, f"GetCapability(ACT) rc {r.rc:#x}")
        rd = r.reader()
        rd.u8()
        self.assertEqual(rd.u32(), CAP_ACT)
        return {rd.u32(): (rd.u32(), rd.u32()) for _ in range(rd.u32())}

    def set_timeout(self, act, seconds, auth=None):
        return self.tpm.call(ACT_SetTimeout, handles=(act,), params=u32(seconds),
                             auths=(auth or Auth(),), check=False).rc


class ActE2E(Base):
    def test_countdown_signal_and_handles(self):
        self.assertEqual(self.acts(), {ACT_0: (0, 0), ACT_1: (0, 0)})
        self.assertEqual(self.set_timeout(ACT_0, 2), 0)
        t0 = time.monotonic()
        left, attrs = self.acts()[ACT_0]
        self.assertIn(left, (1, 2))
        self.assertEqual(attrs, 0)
        self.assertEqual(self.set_timeout(ACT_0, 0xFFFFFFFF), rc_param(RC_VALUE, 1), "not signaled: VALUE+P1")
        time.sleep(max(0.0, 2.2 - (time.monotonic() - t0)))
        self.assertEqual(self.acts()[ACT_0], (0, SIGNALED))
        self.assertEqual(self.acts()[ACT_1], (0, 0))
        self.assertEqual(self.set_timeout(ACT_0, 0xFFFFFFFF), 0, "silencing a signaled ACT")
        self.assertEqual(self.acts()[ACT_0], (0xFFFFFFFF, 0))
        # Handles: an ACT the TPM lacks is VALUE+H1; the ACTs are listed as permanent handles.
        self.assertEqual(self.set_timeout(0x4000011F, 5), rc_handle(RC_VALUE, 1))
        r = self.tpm.call(GetCapability, params=u32(CAP_HANDLES) + u32(0x40000100) + u32(32))
        rd = r.reader()
        rd.u8(), rd.u32()
        self.assertEqual([rd.u32() for _ in range(rd.u32())], [ACT_0, ACT_1])
        # A property that is not an ACT handle.
        r = self.tpm.call(GetCapability, params=u32(CAP_ACT) + u32(RH_OWNER) + u32(1), check=False)
        self.assertEqual(r.rc, rc_param(RC_VALUE, 2))

    def test_platform_auth_and_act_policy(self):
        pw = b"platform-pw"
        self.assertEqual(self.tpm.call(HierarchyChangeAuth, handles=(RH_PLATFORM,), params=tpm2b(pw),
                                       auths=(Auth(),)).rc, 0)
        self.assertEqual(self.set_timeout(ACT_1, 30), RC_BAD_AUTH + 0x900, "wrong platformAuth: BAD_AUTH, session 1")
        self.assertEqual(self.set_timeout(ACT_1, 30, Auth(password=pw)), 0)
        # The ACT's own policy: PolicyCommandCode(ACT_SetTimeout), set with SetPrimaryPolicy on the ACT.
        pol = Policy().ext(PCC["PolicyCommandCode"], u32(ACT_SetTimeout)).d
        self.assertEqual(self.tpm.call(SetPrimaryPolicy, handles=(ACT_1,), params=tpm2b(pol) + u16(SHA256),
                                       auths=(Auth(password=pw),)).rc, 0)
        s = self.tpm.start_session(se=SE_POLICY)
        self.assertEqual(self.tpm.call(PCC["PolicyCommandCode"], handles=(s.handle,), params=u32(ACT_SetTimeout)).rc, 0)
        self.assertEqual(self.set_timeout(ACT_1, 7, Auth(session=s)), 0)
        self.assertIn(self.acts()[ACT_1][0], (6, 7))

    def test_resume_keeps_the_countdown(self):
        self.assertEqual(self.set_timeout(ACT_0, 1000), 0)
        self.assertEqual(self.tpm.call(Shutdown, params=u16(SU_STATE)).rc, 0)
        self.client.close()
        self.server.power_cycle()
        self.connect()
        self.assertEqual(rc_of(self.client.execute(command(Startup, u16(SU_STATE)))), 0)
        left, attrs = self.acts()[ACT_0]
        self.assertTrue(990 <= left <= 1000, left)  # set since that Startup: not halved
        self.assertEqual(attrs, 0)


class AttachedComponentE2E(Base):
    def test_no_component_exists(self):
        r = self.tpm.call(AC_GetCapability, handles=(0x90000000,), params=u32(1) + u32(8), check=False)
        self.assertEqual(r.rc, rc_handle(RC_HANDLE, 1))
        r = self.tpm.call(AC_GetCapability, handles=(RH_OWNER,), params=u32(1) + u32(8), check=False)
        self.assertEqual(r.rc, rc_handle(RC_VALUE, 1), "not a TPMI_RH_AC")
        public, sensitive = keyedhash_hmac_key(b"k" * 32, b"")
        h, _ = self.tpm.load_external(public, sensitive)
        r = self.tpm.call(AC_Send, handles=(h, RH_OWNER, 0x90000001), params=tpm2b(b"data"),
                          auths=(Auth(), Auth()), check=False)
        self.assertEqual(r.rc, rc_handle(RC_HANDLE, 3))
        # sendObject not loaded: the handle is refused before any AC is looked for
        # (TPM_RC_REFERENCE_H0, Part 2: a transient handle that references nothing loaded).
        self.tpm.call(0x165, params=u32(h))  # FlushContext
        r = self.tpm.call(AC_Send, handles=(h, RH_OWNER, 0x90000001), params=tpm2b(b"data"),
                          auths=(Auth(), Auth()), check=False)
        self.assertEqual(hex(r.rc), hex(0x910))

    def test_policy_ac_send_select_digest(self):
        obj, auth_name, ac_name = u32(0x80000001), u32(RH_OWNER), u32(0x90000001)
        for include in (1, 0):
            s = self.tpm.start_session(se=SE_TRIAL)
            r = self.tpm.call(Policy_AC_SendSelect, handles=(s.handle,),
                              params=tpm2b(obj) + tpm2b(auth_name) + tpm2b(ac_name) + bytes([include]))
            self.assertEqual(r.rc, 0)
            parts = ([obj] if include else []) + [auth_name, ac_name, bytes([include])]
            expect = digest(SHA256, bytes(32), u32(Policy_AC_SendSelect), *parts)
            got = self.tpm.call(PCC["PolicyGetDigest"], handles=(s.handle,)).reader().tpm2b()
            self.assertEqual(got, expect, f"includeObject={include}")
            # The session now holds a nameHash: a second one is TPM_RC_CPHASH.
            r = self.tpm.call(Policy_AC_SendSelect, handles=(s.handle,),
                              params=tpm2b(obj) + tpm2b(auth_name) + tpm2b(ac_name) + bytes([include]), check=False)
            self.assertEqual(r.rc, RC_CPHASH)
            self.tpm.flush(s.handle)
        # A session already bound to another command: TPM_RC_COMMAND_CODE.
        s = self.tpm.start_session(se=SE_TRIAL)
        self.assertEqual(self.tpm.call(PCC["PolicyCommandCode"], handles=(s.handle,), params=u32(AC_Send)).rc, 0)
        r = self.tpm.call(Policy_AC_SendSelect, handles=(s.handle,),
                          params=tpm2b(obj) + tpm2b(auth_name) + tpm2b(ac_name) + b"\x01", check=False)
        self.assertEqual(r.rc, RC_COMMAND_CODE)
        # includeObject is a TPMI_YES_NO: 2 is VALUE+P4.
        s2 = self.tpm.start_session(se=SE_TRIAL)
        r = self.tpm.call(Policy_AC_SendSelect, handles=(s2.handle,),
                          params=tpm2b(obj) + tpm2b(auth_name) + tpm2b(ac_name) + b"\x02", check=False)
        self.assertEqual(r.rc, rc_param(RC_VALUE, 4))


if __name__ == "__main__":
    unittest.main()
