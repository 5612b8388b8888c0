#!/usr/bin/python3
"""TPM2_ReadOnlyControl and Read-Only mode (TPM 2.0 Library 1.84; docs/engine.md "Read-Only mode"),
with raw commands: what the mode refuses with TPM_RC_READ_ONLY (0x156) and in which order relative
to authorization, what it still serves (reads, an HMAC with a loaded key checked with Python's
hmac, writes of an ORDERLY+CLEAR_STCLEAR index, PCR_Extend), TPMA_STARTUP_CLEAR.readOnly, and that
it is state-clear: Resume keeps it, a power cycle with Startup(CLEAR) ends it.

Not run against swtpm: libtpms 0.9 does not implement ReadOnlyControl (TPM_RC_COMMAND_CODE).
Run: UTPMD=build/host-debug/src/host/utpmd /usr/bin/python3 tests/e2e/read_only_test.py
"""
import hashlib
import hmac
import os
import unittest

from tpm_raw import (RH_NULL, RH_OWNER, RH_PLATFORM, SHA256, Auth, RawTpmCase, keyedhash_hmac_key, nv_define,
                     rc_session, tpm2b, u16, u32)
from utpmd_harness import SU_CLEAR, SU_STATE, rc_of, startup

SHIM = os.environ.get("UTPM_E2E_MSSIM_SHIM")
ReadOnlyControl, GetCapability, CreatePrimary, NV_DefineSpace, NV_Write, NV_Read = 0x1A0, 0x17A, 0x131, 0x12A, 0x137, 0x14E
HierarchyChangeAuth, EvictControl, PCR_Extend, HMAC, Shutdown, GetRandom = 0x129, 0x120, 0x182, 0x155, 0x145, 0x17B
RC_READ_ONLY, RC_BAD_AUTH = 0x156, 0x0A2
PT_STARTUP_CLEAR = 0x201
IDX, IDX_VOLATILE = 0x01500010, 0x01500011
OWNERRW, ORDERLY, CLEAR_STCLEAR = (1 << 1) | (1 << 17), 1 << 26, 1 << 27
# An HMAC-SHA256 keyed-hash primary template (cheap to derive).
HMAC_TEMPLATE = u16(0x0008) + u16(SHA256) + u32((1 << 18) | (1 << 6) | (1 << 5)) + tpm2b(b"") + u16(0x0005) + u16(SHA256) + tpm2b(b"")


@unittest.skipIf(SHIM, "swtpm 0.7 (libtpms 0.9) does not implement ReadOnlyControl")
class ReadOnlyMode(RawTpmCase, unittest.TestCase):
    def power_cycle(self, su):
        self.server.power_cycle()
        self.assertEqual(rc_of(self.client.execute(startup(su))), 0)

    def read_only(self, on, pw=b""):
        return self.tpm.call(ReadOnlyControl, handles=(RH_PLATFORM,), params=bytes([on]), auths=(Auth(password=pw),)).rc

    def mode(self):
        r = self.tpm.call(GetCapability, params=u32(6) + u32(PT_STARTUP_CLEAR) + u32(1))
        self.assertEqual(r.rc, 0)
        rd = r.reader()
        rd.u8(), rd.u32(), rd.u32()
        self.assertEqual(rd.u32(), PT_STARTUP_CLEAR)
        return bool(rd.u32() & (1 << 4))  # TPMA_STARTUP_CLEAR.readOnly

    def create_primary(self, pw=b""):
        r = self.tpm.call(CreatePrimary, handles=(RH_NULL,), params=tpm2b(tpm2b(b"") + tpm2b(b"")) + tpm2b(HMAC_TEMPLATE) +
                          tpm2b(b"") + u32(0), auths=(Auth(password=pw),), rhandle=True)
        if r.rc == 0:
            self.tpm.flush(r.handle)
        return r.rc

    def nv_write(self, index, data, pw=b""):
        return self.tpm.call(NV_Write, handles=(RH_OWNER, index), params=tpm2b(data) + u16(0), auths=(Auth(password=pw),)).rc

    def nv_read(self, index, size):
        r = self.tpm.call(NV_Read, handles=(RH_OWNER, index), params=u16(size) + u16(0), auths=(Auth(),))
        self.assertEqual(r.rc, 0)
        return r.reader().tpm2b()

    def test_refuses_writes_serves_reads_and_keys(self):
        key = os.urandom(32)
        public, sensitive = keyedhash_hmac_key(key, b"k", no_da=True)
        handle, _ = self.tpm.load_external(public, sensitive)
        self.assertEqual(nv_define(self.tpm, IDX, OWNERRW, 8), 0)
        self.assertEqual(nv_define(self.tpm, IDX_VOLATILE, OWNERRW | ORDERLY | CLEAR_STCLEAR, 8), 0)
        self.assertEqual(self.nv_write(IDX, b"A" * 8), 0)
        self.assertFalse(self.mode())

        self.assertEqual(self.read_only(1), 0)
        self.assertTrue(self.mode())
        # Refused as a whole, before authorization: a wrong password still says READ_ONLY.
        self.assertEqual(self.create_primary(), RC_READ_ONLY)
        self.assertEqual(self.create_primary(pw=b"wrong"), RC_READ_ONLY)
        self.assertEqual(nv_define(self.tpm, IDX + 5, OWNERRW, 8), RC_READ_ONLY)
        self.assertEqual(self.tpm.call(HierarchyChangeAuth, handles=(RH_OWNER,), params=tpm2b(b"x"),
                                       auths=(Auth(),)).rc, RC_READ_ONLY)
        self.assertEqual(self.tpm.call(EvictControl, handles=(RH_OWNER, handle), params=u32(0x81000010),
                                       auths=(Auth(),)).rc, RC_READ_ONLY)
        # NV writes: refused on a stored index (after its authorization), served on ORDERLY+CLEAR_STCLEAR.
        self.assertEqual(self.nv_write(IDX, b"B" * 8), RC_READ_ONLY)
        self.assertEqual(self.nv_write(IDX, b"B" * 8, pw=b"wrong"), rc_session(RC_BAD_AUTH, 1))
        self.assertEqual(self.nv_write(IDX_VOLATILE, b"C" * 8), 0)
        self.assertEqual(self.nv_read(IDX, 8), b"A" * 8)
        self.assertEqual(self.nv_read(IDX_VOLATILE, 8), b"C" * 8)
        # A loaded key still works: HMAC checked with Python's hmac.
        data = b"read-only mode"
        r = self.tpm.call(HMAC, handles=(handle,), params=tpm2b(data) + u16(SHA256), auths=(Auth(password=b"k"),))
        self.assertEqual(r.rc, 0)
        self.assertEqual(r.reader().tpm2b(), hmac.new(key, data, hashlib.sha256).digest())
        self.assertEqual(self.tpm.call(PCR_Extend, handles=(16,), params=u32(1) + u16(SHA256) + b"\1" * 32,
                                       auths=(Auth(),)).rc, 0)
        self.assertEqual(self.tpm.call(GetRandom, params=u16(8)).rc, 0)
        # ReadOnlyControl is authorized as usual (platformAuth, BAD_AUTH: not DA protected).
        self.assertEqual(self.read_only(0, pw=b"wrong"), rc_session(RC_BAD_AUTH, 1))
        self.assertTrue(self.mode())
        self.assertEqual(self.read_only(0), 0)
        self.assertFalse(self.mode())
        self.assertEqual(self.create_primary(), 0)
        self.assertEqual(self.nv_write(IDX, b"B" * 8), 0)
        self.assertEqual(self.nv_read(IDX, 8), b"B" * 8)

    def test_state_clear(self):
        self.assertEqual(self.read_only(1), 0)
        self.assertEqual(self.tpm.call(Shutdown, params=u16(SU_STATE)).rc, 0)
        self.power_cycle(SU_STATE)  # TPM Resume keeps it
        self.assertTrue(self.mode())
        self.assertEqual(self.create_primary(), RC_READ_ONLY)
        self.assertEqual(self.tpm.call(Shutdown, params=u16(SU_STATE)).rc, 0)
        self.power_cycle(SU_CLEAR)  # TPM Restart ends it
        self.assertFalse(self.mode())
        self.assertEqual(self.read_only(1), 0)
        self.power_cycle(SU_CLEAR)  # power lost, TPM Reset: ended too
        self.assertFalse(self.mode())
        self.assertEqual(self.create_primary(), 0)


if __name__ == "__main__":
    unittest.main()
