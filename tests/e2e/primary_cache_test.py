#!/usr/bin/python3
"""End to end: the primary-key derivation cache (docs/primary_cache.md) with tpm2-tools.

tpm2_createprimary -C o (the default RSA-2048 storage template) twice gives the same public key;
after restarting utpmd on the same state directory it is still the same key (the cache entry
persists in the store; whether it hit is a timing matter, measured in bench, not asserted here);
tpm2_clear changes the storage seed, so the next key differs, and is stable again.
The expected equalities are those of the TPM 2.0 derivation itself, so the test also runs against
swtpm (UTPM_E2E_MSSIM_SHIM=/work/shared/bench/mssim-swtpm-shim; without the restart step).

Run: UTPMD=build/host-debug/src/host/utpmd /usr/bin/python3 tests/e2e/primary_cache_test.py
"""
import os
import tempfile
import unittest

from utpmd_harness import SU_CLEAR, MssimClient, MssimShim, Utpmd, rc_of, run_tool, startup

SHIM = os.environ.get("UTPM_E2E_MSSIM_SHIM")


class PrimaryCache(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="utpm-e2e-pcache-")
        self.addCleanup(self.tmp.cleanup)
        self.state = os.path.join(self.tmp.name, "state")
        os.mkdir(self.state)
        self.server = self.start_server()

    def start_server(self):
        server = MssimShim(SHIM).start() if SHIM else Utpmd(state_dir=self.state).start()
        self.addCleanup(self.stop_server, server)
        c = MssimClient(server.port)
        self.assertEqual(rc_of(c.execute(startup(SU_CLEAR))), 0)
        c.close()
        return server

    def stop_server(self, server):
        if server.alive():
            self.assertEqual(server.stop(remove_state=False), 0, "".join(server.log))

    def primary_public(self):
        tcti = self.server.mssim_tcti
        ctx = os.path.join(self.tmp.name, "primary.ctx")
        pub = os.path.join(self.tmp.name, "primary.pub")
        run_tool(["tpm2_createprimary", "-C", "o", "-c", ctx], tcti, timeout=120)
        run_tool(["tpm2_readpublic", "-c", ctx, "-o", pub], tcti)
        run_tool(["tpm2_flushcontext", "-t"], tcti)
        with open(pub, "rb") as f:
            data = f.read()
        os.unlink(ctx)
        os.unlink(pub)
        self.assertGreater(len(data), 256)  # TPM2B_PUBLIC with a 2048-bit modulus
        return data

    def test_same_key_until_clear(self):
        first = self.primary_public()
        self.assertEqual(self.primary_public(), first)
        if not SHIM:
            self.stop_server(self.server)
            self.server = self.start_server()
            self.assertEqual(self.primary_public(), first)
        run_tool(["tpm2_clear", "-c", "p"], self.server.mssim_tcti)
        after_clear = self.primary_public()
        self.assertNotEqual(after_clear, first)
        self.assertEqual(self.primary_public(), after_clear)


if __name__ == "__main__":
    unittest.main()
