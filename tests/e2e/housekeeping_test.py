#!/usr/bin/python3
"""Platform and housekeeping commands of Part 3 (issue 12): Vendor_TCG_Test, the field-upgrade
commands of a TPM upgraded by other means, SetAlgorithmSet, SetCapability without settable
capabilities. Expected values from the spec text (docs/engine.md "Platform housekeeping").

Against swtpm (UTPM_E2E_MSSIM_SHIM=/work/shared/bench/mssim-swtpm-shim): libtpms 0.9 answers
TPM_RC_COMMAND_CODE for Vendor_TCG_Test, the field-upgrade commands and SetCapability; it
implements SetAlgorithmSet (the same answers as here: recorded, reported in TPM_PT_ALGORITHM_SET),
so that test and the listing/dispatch comparison run against it.
Run: UTPMD=build/host-debug/src/host/utpmd /usr/bin/python3 tests/e2e/housekeeping_test.py
"""
import os
import unittest

from tpm_raw import RH_LOCKOUT, RH_OWNER, RH_PLATFORM, SHA256, Auth, Tpm, tpm2b, u16, u32
from utpmd_harness import SU_CLEAR, MssimClient, MssimShim, Utpmd, command, rc_of, startup

SHIM = os.environ.get("UTPM_E2E_MSSIM_SHIM")
Vendor_TCG_Test, FieldUpgradeStart, FieldUpgradeData, FirmwareRead = 0x20000000, 0x12F, 0x141, 0x179
SetAlgorithmSet, SetCapability, GetCapability, Shutdown = 0x13F, 0x19F, 0x17A, 0x145
CAP_COMMANDS, CAP_TPM_PROPERTIES = 2, 6
PT_ALGORITHM_SET = 0x200 + 12
TPM_ALG_RSASSA = 0x0014
RC_COMMAND_CODE, RC_UPGRADE = 0x143, 0x12D
RC_VALUE, RC_SIGNATURE, RC_SELECTOR, RC_SIZE = 0x04, 0x1B, 0x18, 0x15


def rc_param(rc, n):
    return rc | 0xC0 | (n << 8)


def rc_handle(rc, n):
    return rc | 0x80 | (n << 8)


class Base(unittest.TestCase):
    def setUp(self):
        self.server = (MssimShim(SHIM) if SHIM else Utpmd()).start()
        self.addCleanup(self.server.stop)
        self.client = MssimClient(self.server.port)
        self.addCleanup(self.client.close)
        self.tpm = Tpm(self.client)
        self.assertEqual(rc_of(self.client.execute(startup(SU_CLEAR))), 0)

    def property(self, pt):
        r = self.tpm.call(GetCapability, params=u32(CAP_TPM_PROPERTIES) + u32(pt) + u32(1), check=False)
        self.assertEqual(r.rc, 0)
        rd = r.reader()
        rd.u8()
        rd.u32()
        self.assertEqual(rd.u32(), 1)
        self.assertEqual(rd.u32(), pt)
        return rd.u32()

    def listed(self, cc):
        """The TPMA_CC GetCapability(TPM_CAP_COMMANDS) gives for cc, or None."""
        r = self.tpm.call(GetCapability, params=u32(CAP_COMMANDS) + u32(cc) + u32(1), check=False)
        self.assertEqual(r.rc, 0)
        rd = r.reader()
        rd.u8()
        rd.u32()
        if rd.u32() != 1:
            return None
        a = rd.u32()
        return a if (a & 0xFFFF) | (a & 0x20000000) == cc else None


NOT_IN_SWTPM = "swtpm 0.7 (libtpms 0.9) answers TPM_RC_COMMAND_CODE"


class Housekeeping(Base):
    @unittest.skipIf(SHIM, NOT_IN_SWTPM)
    def test_vendor_tcg_test_echoes_its_input(self):
        data = os.urandom(20)
        r = self.tpm.call(Vendor_TCG_Test, params=tpm2b(data), check=False)
        self.assertEqual(r.rc, 0)
        self.assertEqual(r.reader().tpm2b(), data)
        # Listed with TPMA_CC.V and commandIndex 0; counted as the one vendor command.
        a = self.listed(Vendor_TCG_Test)
        self.assertIsNotNone(a)
        self.assertEqual(a & 0xFFFF, 0)
        self.assertTrue(a & (1 << 29))
        self.assertEqual(self.property(0x100 + 43), 1)  # TPM_PT_VENDOR_COMMANDS

    @unittest.skipIf(SHIM, NOT_IN_SWTPM)
    def test_field_upgrade_is_not_done_through_the_tpm(self):
        # FieldUpgradeStart: no manifest verifies (no Field Upgrade Authorization key).
        sig = u16(TPM_ALG_RSASSA) + u16(SHA256) + tpm2b(b"\0" * 256)
        r = self.tpm.call(FieldUpgradeStart, handles=(RH_PLATFORM, RH_OWNER),
                          params=tpm2b(b"\0" * 32) + sig, auths=(Auth(),), check=False)
        self.assertEqual(r.rc, rc_handle(RC_VALUE, 2))  # keyHandle: TPMI_DH_OBJECT, not a permanent handle
        r = self.tpm.call(FieldUpgradeStart, handles=(RH_OWNER, 0x80000000),
                          params=tpm2b(b"\0" * 32) + sig, auths=(Auth(),), check=False)
        self.assertEqual(r.rc, rc_handle(RC_VALUE, 1))  # authorization: TPMI_RH_PLATFORM
        # FieldUpgradeData outside Field Upgrade Mode: TPM_RC_UPGRADE.
        r = self.tpm.call(FieldUpgradeData, params=tpm2b(b"\1" * 64), check=False)
        self.assertEqual(r.rc, RC_UPGRADE)
        # FirmwareRead: no image kept, block 0 is the Empty Buffer, later blocks out of range.
        r = self.tpm.call(FirmwareRead, params=u32(0), check=False)
        self.assertEqual(r.rc, 0)
        self.assertEqual(r.reader().tpm2b(), b"")
        r = self.tpm.call(FirmwareRead, params=u32(1), check=False)
        self.assertEqual(r.rc, rc_param(RC_VALUE, 1))

    @unittest.skipIf(SHIM, NOT_IN_SWTPM)
    def test_field_upgrade_start_signature_never_verifies(self):
        # A loaded key as keyHandle: still no Field Upgrade Authorization key.
        from tpm_raw import keyedhash_hmac_key
        pub, sens = keyedhash_hmac_key(b"k" * 32, b"")
        h, _ = self.tpm.load_external(pub, sens)
        sig = u16(0x0005) + u16(SHA256) + b"\0" * 32  # TPMT_SIGNATURE HMAC
        r = self.tpm.call(FieldUpgradeStart, handles=(RH_PLATFORM, h), params=tpm2b(b"\0" * 32) + sig,
                          auths=(Auth(),), check=False)
        self.assertEqual(r.rc, rc_param(RC_SIGNATURE, 2))

    def test_set_algorithm_set_is_recorded_and_persists(self):
        self.assertEqual(self.property(PT_ALGORITHM_SET), 0)
        r = self.tpm.call(SetAlgorithmSet, handles=(RH_PLATFORM,), params=u32(7), auths=(Auth(),), check=False)
        self.assertEqual(r.rc, 0)
        self.assertEqual(self.property(PT_ALGORITHM_SET), 7)
        r = self.tpm.call(SetAlgorithmSet, handles=(RH_OWNER,), params=u32(1), auths=(Auth(),), check=False)
        self.assertEqual(r.rc, rc_handle(RC_VALUE, 1))  # authHandle: TPMI_RH_PLATFORM
        self.assertEqual(rc_of(self.client.execute(command(Shutdown, u16(SU_CLEAR)))), 0)
        self.server.power_cycle()
        self.assertEqual(rc_of(self.client.execute(startup(SU_CLEAR))), 0)
        self.assertEqual(self.property(PT_ALGORITHM_SET), 7)

    @unittest.skipIf(SHIM, NOT_IN_SWTPM)
    def test_set_capability_has_nothing_settable(self):
        data = u32(CAP_TPM_PROPERTIES) + u32(0x100) + u32(0)
        r = self.tpm.call(SetCapability, handles=(RH_PLATFORM,), params=tpm2b(data), auths=(Auth(),), check=False)
        self.assertEqual(r.rc, rc_param(RC_SELECTOR, 1))
        r = self.tpm.call(SetCapability, handles=(RH_OWNER,), params=tpm2b(b""), auths=(Auth(),), check=False)
        self.assertEqual(r.rc, rc_param(RC_SIZE, 1))


PP_Commands, Clear, ClearControl, HierarchyControl, GetRandom = 0x12D, 0x126, 0x127, 0x121, 0x17B
CAP_PP_COMMANDS = 3
RC_PP = 0x090
MS_PHYS_PRES_ON, MS_PHYS_PRES_OFF = 3, 4


def rc_session(rc, n):
    return rc | 0x800 | (n << 8)


def tpml_cc(*codes):
    return u32(len(codes)) + b"".join(u32(c) for c in codes)


@unittest.skipIf(SHIM, "the shim's platform port does not carry physical presence to swtpm")
class PhysicalPresence(Base):
    """PP_Commands (Part 3 §26.2) and TPM_CAP_PP_COMMANDS."""

    def pp_list(self):
        r = self.tpm.call(GetCapability, params=u32(CAP_PP_COMMANDS) + u32(0) + u32(64), check=False)
        self.assertEqual(r.rc, 0)
        rd = r.reader()
        self.assertEqual(rd.u8(), 0)  # moreData
        self.assertEqual(rd.u32(), CAP_PP_COMMANDS)
        return [rd.u32() for _ in range(rd.u32())]

    def pp_commands(self, set_list, clear_list, handle=RH_PLATFORM, password=b""):
        return self.tpm.call(PP_Commands, handles=(handle,), params=tpml_cc(*set_list) + tpml_cc(*clear_list),
                             auths=(Auth(password=password),), check=False).rc

    def clear_control(self, handle, password=b"", disable=0):
        return self.tpm.call(ClearControl, handles=(handle,), params=bytes([disable]),
                             auths=(Auth(password=password),), check=False).rc

    def test_pp_commands_always_needs_physical_presence(self):
        # Out of manufacture only PP_Commands itself needs it.
        self.assertEqual(self.pp_list(), [PP_Commands])
        self.assertEqual(self.pp_commands([ClearControl], []), rc_session(RC_PP, 1))
        # Checked before the authValue: a wrong password still answers TPM_RC_PP.
        self.assertEqual(self.pp_commands([ClearControl], [], password=b"wrong"), rc_session(RC_PP, 1))
        # authHandle is TPMI_RH_PLATFORM.
        self.assertEqual(self.pp_commands([ClearControl], [], handle=RH_OWNER), rc_handle(RC_VALUE, 1))
        self.assertEqual(self.pp_list(), [PP_Commands])

    def test_lists_gate_platform_authorizations_and_persist(self):
        self.server.platform(MS_PHYS_PRES_ON)
        # setList then clearList: HierarchyControl (in both) ends up not gated, GetRandom has no
        # platform handle (discarded), PP_Commands cannot be cleared.
        self.assertEqual(self.pp_commands([ClearControl, Clear, GetRandom, HierarchyControl],
                                          [HierarchyControl, PP_Commands]), 0)
        self.assertEqual(self.pp_list(), [Clear, ClearControl, PP_Commands])
        self.assertEqual(self.clear_control(RH_PLATFORM), 0)
        self.server.platform(MS_PHYS_PRES_OFF)
        self.assertEqual(self.clear_control(RH_PLATFORM), rc_session(RC_PP, 1))
        self.assertEqual(self.clear_control(RH_LOCKOUT, disable=1), 0)  # only platform authorizations are gated
        # Kept over a power cycle (persistent).
        self.assertEqual(rc_of(self.client.execute(command(Shutdown, u16(SU_CLEAR)))), 0)
        self.server.power_cycle()
        self.assertEqual(rc_of(self.client.execute(startup(SU_CLEAR))), 0)
        self.assertEqual(self.pp_list(), [Clear, ClearControl, PP_Commands])
        self.assertEqual(self.clear_control(RH_PLATFORM), rc_session(RC_PP, 1))
        self.server.platform(MS_PHYS_PRES_ON)
        self.assertEqual(self.pp_commands([], [Clear, ClearControl]), 0)
        self.server.platform(MS_PHYS_PRES_OFF)
        self.assertEqual(self.pp_list(), [PP_Commands])
        self.assertEqual(self.clear_control(RH_PLATFORM), 0)


class CompareWithSwtpm(Base):
    """What a TPM without these commands answers (swtpm); utpm must list exactly what it runs."""

    def test_listing_matches_dispatch(self):
        for cc in (Vendor_TCG_Test, FieldUpgradeStart, FieldUpgradeData, FirmwareRead, SetAlgorithmSet,
                   SetCapability):
            r = self.tpm.call(cc, params=b"", check=False)
            if self.listed(cc) is None:
                self.assertEqual(r.rc, RC_COMMAND_CODE, f"{cc:#x} not listed but answered {r.rc:#x}")
            else:
                self.assertNotEqual(r.rc, RC_COMMAND_CODE, f"{cc:#x} listed but not dispatched")


if __name__ == "__main__":
    unittest.main()
