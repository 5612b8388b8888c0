#!/usr/bin/python3
"""End to end: utpmd's resource manager and several clients at once (src/host/README.md
"Several clients at once", "Resource management").

- 8 tpm2-pytss clients at once, each with its own connection, primary key, salted HMAC session
  and signing key, all connected before any starts and none closing before all are done; every
  signature is checked with `cryptography`, every client sees its own handle 0x80000000.
- 50+ consecutive tpm2-tools invocations on utpmd's defaults (no --no-rm) with no
  tpm2_flushcontext of any object; at the end no transient object, no session and no persistent
  object is left, in the TPM and in the resource manager. The same first steps fail on a bare TPM
  (--no-rm) with TPM_RC_OBJECT_MEMORY: the test can tell the difference.
- A client that disconnects with an object and a session loaded leaves nothing behind.
- The connection bound: the client beyond it is closed at once, the others keep working.

Run: UTPMD=build/host-debug/src/host/utpmd /usr/bin/python3 tests/e2e/rm_test.py
"""
import hashlib
import os
import re
import shutil
import struct
import tempfile
import threading
import time
import unittest

from utpmd_harness import SU_CLEAR, MssimClient, Utpmd, command, get_random, rc_of, run_tool, startup

CC_GET_CAPABILITY = 0x17A
CC_CREATE_PRIMARY = 0x131
CC_START_AUTH_SESSION = 0x176
CAP_HANDLES, CAP_TPM_PROPERTIES = 1, 6
PT_HR_TRANSIENT_AVAIL = 0x207
PT_HR_TRANSIENT_MIN = 0x10E
RH_NULL, RH_OWNER, RS_PW = 0x40000007, 0x40000001, 0x40000009


def get_handles(client, first):
    rsp = client.execute(command(CC_GET_CAPABILITY, struct.pack(">III", CAP_HANDLES, first, 64)))
    assert rc_of(rsp) == 0
    count = struct.unpack(">I", rsp[15:19])[0]
    return [struct.unpack(">I", rsp[19 + 4 * i:23 + 4 * i])[0] for i in range(count)]


def get_property(client, prop):
    rsp = client.execute(command(CC_GET_CAPABILITY, struct.pack(">III", CAP_TPM_PROPERTIES, prop, 1)))
    assert rc_of(rsp) == 0
    got, value = struct.unpack(">II", rsp[19:27])
    assert got == prop
    return value


def keyedhash_primary(client, unique):
    """CreatePrimary of an HMAC key in the NULL hierarchy; returns the handle the client sees."""
    public = struct.pack(">HHIHHHH", 0x0008, 0x000B, 0x00040072, 0, 0x0005, 0x000B, 1) + bytes([unique])
    params = (struct.pack(">I", 9) + struct.pack(">IHBH", RS_PW, 0, 1, 0)
              + struct.pack(">HHH", 4, 0, 0) + struct.pack(">H", len(public)) + public
              + struct.pack(">HI", 0, 0))
    rsp = client.execute(command(CC_CREATE_PRIMARY, struct.pack(">I", RH_NULL) + params, tag=0x8002))
    assert rc_of(rsp) == 0, hex(rc_of(rsp))
    return struct.unpack(">I", rsp[10:14])[0]


def policy_session(client):
    params = struct.pack(">II", RH_NULL, RH_NULL) + struct.pack(">H", 16) + b"\x11" * 16 \
        + struct.pack(">HBHH", 0, 0x01, 0x0010, 0x000B)
    rsp = client.execute(command(CC_START_AUTH_SESSION, params))
    assert rc_of(rsp) == 0, hex(rc_of(rsp))
    return struct.unpack(">I", rsp[10:14])[0]


class RmCase(unittest.TestCase):
    extra_args = ()

    def setUp(self):
        self.server = Utpmd(rm=True, extra_args=["--trace", *self.extra_args]).start()
        self.addCleanup(self.stop)
        c = MssimClient(self.server.port)
        self.assertEqual(rc_of(c.execute(startup(SU_CLEAR))), 0)
        c.close()

    def stop(self):
        if self.server.alive():
            self.assertEqual(self.server.stop(), 0)

    def wait_log(self, text, timeout=5.0):
        """Whether utpmd logged a line containing `text` (its stderr is read by a thread)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(text in ln for ln in list(self.server.log)):
                return True
            time.sleep(0.05)
        return False

    def rm_held(self):
        """What the RM said it held after the last connection that left something closed. The
        trace arrives through a pipe: wait until it says "0, 0" or give up after 5 s with what
        it last said."""
        deadline = time.monotonic() + 5
        while True:
            held = [ln for ln in list(self.server.log) if "utpmd: rm: connection closed" in ln]
            if held:
                m = re.search(r"holding (\d+) object\(s\), (\d+) session\(s\)", held[-1])
                last = int(m.group(1)), int(m.group(2))
                if last == (0, 0) or time.monotonic() > deadline:
                    return last
            elif time.monotonic() > deadline:
                self.fail("no connection left anything: the test exercised nothing")
            time.sleep(0.05)

    def assert_tpm_empty(self):
        c = MssimClient(self.server.port)
        try:
            self.assertEqual(get_handles(c, 0x02000000), [], "loaded sessions left")
            self.assertEqual(get_handles(c, 0x03000000), [], "saved sessions left")
            self.assertEqual(get_handles(c, 0x81000000), [], "persistent objects left")
            self.assertEqual(get_handles(c, 0x80000000), [])
            self.assertEqual(get_property(c, PT_HR_TRANSIENT_AVAIL), get_property(c, PT_HR_TRANSIENT_MIN))
        finally:
            c.close()


class EightClientsAtOnce(RmCase):
    def test_eight_pytss_clients_interleave(self):
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
        from cryptography.hazmat.primitives.serialization import load_pem_public_key
        from tpm2_pytss import (ESAPI, ESYS_TR, TPM2_ALG, TPM2_SE, TPM2B_DIGEST, TPM2B_PUBLIC, TPMA_OBJECT,
                                TPMA_SESSION, TPMT_SIG_SCHEME, TPMT_SYM_DEF, TPMT_TK_HASHCHECK, TPM2_ST,
                                TPM2_RH)
        n = 8
        all_connected = threading.Barrier(n, timeout=120)
        all_done = threading.Barrier(n, timeout=120)
        results = [None] * n

        def client(i):
            try:
                esapi = ESAPI(self.server.mssim_tcti)
                try:
                    all_connected.wait()  # everyone holds a connection before anyone works
                    primary, _, _, _, _ = esapi.create_primary(None, "ecc256", primary_handle=ESYS_TR.OWNER)
                    first_handle = esapi.tr_get_tpm_handle(primary)
                    sym = TPMT_SYM_DEF(algorithm=TPM2_ALG.AES)
                    sym.keyBits.aes = 128
                    sym.mode.aes = TPM2_ALG.CFB
                    session = esapi.start_auth_session(primary, ESYS_TR.NONE, TPM2_SE.HMAC, sym, TPM2_ALG.SHA256)
                    esapi.trsess_set_attributes(session, TPMA_SESSION.CONTINUESESSION | TPMA_SESSION.DECRYPT
                                                | TPMA_SESSION.ENCRYPT)
                    priv, pub, _, _, _ = esapi.create(primary, None, TPM2B_PUBLIC.parse(
                        "ecc256:ecdsa-sha256", objectAttributes=TPMA_OBJECT.SIGN_ENCRYPT | TPMA_OBJECT.USERWITHAUTH
                        | TPMA_OBJECT.FIXEDTPM | TPMA_OBJECT.FIXEDPARENT | TPMA_OBJECT.SENSITIVEDATAORIGIN),
                        session1=session)
                    key = esapi.load(primary, priv, pub, session1=session)
                    sigs = []
                    for k in range(3):
                        message = f"client {i} message {k}".encode()
                        digest = hashlib.sha256(message).digest()
                        sig = esapi.sign(key, TPM2B_DIGEST(digest), TPMT_SIG_SCHEME(scheme=TPM2_ALG.NULL),
                                         TPMT_TK_HASHCHECK(tag=TPM2_ST.HASHCHECK, hierarchy=TPM2_RH.NULL),
                                         session1=session)
                        sigs.append((message, int.from_bytes(bytes(sig.signature.ecdsa.signatureR), "big"),
                                     int.from_bytes(bytes(sig.signature.ecdsa.signatureS), "big")))
                    all_done.wait()  # nobody closes before all are done
                    results[i] = (first_handle, pub.to_pem(), sigs)
                finally:
                    esapi.close()
            except Exception as e:  # reported below, with the client's number
                all_connected.abort()
                all_done.abort()
                results[i] = e

        threads = [threading.Thread(target=client, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=300)
        for i, r in enumerate(results):
            self.assertNotIsInstance(r, Exception, f"client {i}: {r!r}")
            self.assertIsNotNone(r, f"client {i} did not finish")
            first_handle, pem, sigs = r
            self.assertEqual(first_handle, 0x80000000, f"client {i}: not its own handle space")
            pub = load_pem_public_key(pem)
            for message, rr, ss in sigs:
                pub.verify(encode_dss_signature(rr, ss), message, ec.ECDSA(hashes.SHA256()))
        # All 8 keys are different keys (one per client; the primaries are the same key).
        self.assertEqual(len({r[1] for r in results}), n)
        self.assertEqual(self.rm_held(), (0, 0))
        self.assert_tpm_empty()

    def test_commands_of_clients_interleave(self):
        # Raw mssim clients: each sends a command while all stay connected; a client that
        # connects later is served before the earlier ones close.
        clients = [MssimClient(self.server.port) for _ in range(8)]
        try:
            for round_ in range(3):
                for i, c in enumerate(clients):
                    h = keyedhash_primary(c, 16 * round_ + i)
                    self.assertEqual(h, 0x80000000 + round_)
            for c in clients:
                self.assertEqual(get_handles(c, 0x80000000), [0x80000000, 0x80000001, 0x80000002])
        finally:
            for c in clients:
                c.close()


class ToolsInARow(RmCase):
    def setUp(self):
        super().setUp()
        self.dir = tempfile.mkdtemp(prefix="utpm-rm-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.count = 0

    def p(self, name):
        return os.path.join(self.dir, name)

    def tool(self, *args, stdin=None):
        self.count += 1
        return run_tool(list(args), self.server.mssim_tcti, stdin=stdin)

    def test_fifty_invocations_without_flushcontext(self):
        p = self.p
        with open(p("msg"), "wb") as f:
            f.write(b"message to sign")
        for r in range(3):
            secret = os.urandom(24)
            with open(p("secret"), "wb") as f:
                f.write(secret)
            self.tool("tpm2_createprimary", "-C", "o", "-g", "sha256", "-G", "ecc", "-c", p("prim.ctx"))
            self.tool("tpm2_create", "-C", p("prim.ctx"), "-G", "ecc", "-u", p("key.pub"), "-r", p("key.priv"))
            self.tool("tpm2_load", "-C", p("prim.ctx"), "-u", p("key.pub"), "-r", p("key.priv"),
                      "-c", p("key.ctx"))
            self.tool("tpm2_sign", "-c", p("key.ctx"), "-g", "sha256", "-o", p("sig"), p("msg"))
            self.tool("tpm2_verifysignature", "-c", p("key.ctx"), "-g", "sha256", "-m", p("msg"), "-s", p("sig"))
            self.tool("tpm2_readpublic", "-c", p("key.ctx"))
            # A sealed secret under a PCR policy: the policy session lives in a file across tools.
            self.tool("tpm2_startauthsession", "-S", p("trial.ctx"))
            self.tool("tpm2_policypcr", "-S", p("trial.ctx"), "-l", "sha256:0,1", "-L", p("pcr.policy"))
            self.tool("tpm2_flushcontext", p("trial.ctx"))  # a session, not an object
            self.tool("tpm2_create", "-C", p("prim.ctx"), "-L", p("pcr.policy"), "-i", p("secret"),
                      "-u", p("seal.pub"), "-r", p("seal.priv"))
            self.tool("tpm2_load", "-C", p("prim.ctx"), "-u", p("seal.pub"), "-r", p("seal.priv"),
                      "-c", p("seal.ctx"))
            self.tool("tpm2_startauthsession", "--policy-session", "-S", p("s.ctx"))
            self.tool("tpm2_policypcr", "-S", p("s.ctx"), "-l", "sha256:0,1")
            out = self.tool("tpm2_unseal", "-c", p("seal.ctx"), "-p", f"session:{p('s.ctx')}", "-o", p("out"))
            with open(p("out"), "rb") as f:
                self.assertEqual(f.read(), secret)
            self.tool("tpm2_flushcontext", p("s.ctx"))
            # Plain password unseal too, and a persistent copy of the primary.
            self.tool("tpm2_create", "-C", p("prim.ctx"), "-i", p("secret"), "-u", p("pw.pub"), "-r", p("pw.priv"))
            self.tool("tpm2_load", "-C", p("prim.ctx"), "-u", p("pw.pub"), "-r", p("pw.priv"), "-c", p("pw.ctx"))
            out = self.tool("tpm2_unseal", "-c", p("pw.ctx"))
            self.assertEqual(out.stdout, secret)
            self.tool("tpm2_evictcontrol", "-C", "o", "-c", p("prim.ctx"), "0x81000001")
            self.tool("tpm2_readpublic", "-c", "0x81000001")
            self.tool("tpm2_evictcontrol", "-C", "o", "-c", "0x81000001")
        self.assertGreaterEqual(self.count, 50)
        self.assertEqual(self.rm_held(), (0, 0))
        self.assert_tpm_empty()

    def test_a_bare_tpm_runs_out_of_slots(self):
        # The same first steps against --no-rm: objects of finished tools stay loaded.
        self.server.stop()
        self.server = Utpmd(rm=False).start()
        c = MssimClient(self.server.port)
        self.assertEqual(rc_of(c.execute(startup(SU_CLEAR))), 0)
        c.close()
        p = self.p
        c = MssimClient(self.server.port)
        slots = get_property(c, PT_HR_TRANSIENT_MIN)
        c.close()
        failed = None
        for i in range(slots + 1):
            r = run_tool(["tpm2_createprimary", "-C", "o", "-G", "ecc", "-c", p(f"p{i}.ctx")],
                         self.server.mssim_tcti, check=False)
            if r.returncode != 0:
                failed = r.stderr.decode(errors="replace")
                break
        self.assertIsNotNone(failed, "a bare TPM kept accepting objects")
        self.assertIn("0x902", failed)  # TPM_RC_OBJECT_MEMORY


class DisconnectAndBound(RmCase):
    extra_args = ("--max-connections", "3")

    def test_disconnect_mid_session_frees_everything(self):
        c = MssimClient(self.server.port)
        self.assertEqual(keyedhash_primary(c, 1), 0x80000000)
        self.assertEqual(keyedhash_primary(c, 2), 0x80000001)
        s = policy_session(c)
        self.assertEqual(s >> 24, 0x03)
        other = MssimClient(self.server.port)
        self.assertEqual(get_handles(other, 0x03000000), [s])  # sessions keep their TPM handle
        self.assertEqual(get_handles(other, 0x80000000), [])   # objects are per connection
        c.sock.close()  # gone without a word (no SESSION_END, no flush)
        # The daemon notices at its next poll; the next command of another client follows it.
        for _ in range(50):
            if get_handles(other, 0x03000000) == []:
                break
        self.assertEqual(get_handles(other, 0x03000000), [])
        other.close()
        self.assertEqual(self.rm_held(), (0, 0))
        self.assertTrue(self.wait_log("flushed 2 object(s), 1 session(s)"))
        self.assert_tpm_empty()

    def test_connection_bound_refuses_cleanly(self):
        time.sleep(0.3)  # the daemon has seen setUp's client leave (it counts until then)
        a = MssimClient(self.server.port)
        b = MssimClient(self.server.port)
        c = MssimClient(self.server.port)
        for x in (a, b, c):
            self.assertEqual(rc_of(x.execute(get_random(8))), 0)
        d = MssimClient(self.server.port)  # the 4th: beyond --max-connections 3
        self.assertTrue(d.closed_by_peer(timeout=5), "the connection beyond the bound was not closed")
        d.close()
        self.assertTrue(self.wait_log("connection refused"))
        for x in (a, b, c):  # the others are unaffected
            self.assertEqual(rc_of(x.execute(get_random(8))), 0)
        a.close()
        e = None
        for _ in range(50):  # once the daemon saw a leave, a new client is welcome again
            e = MssimClient(self.server.port)
            if not e.closed_by_peer(timeout=0.1):
                break
            e.close()
            e = None
            time.sleep(0.05)  # a refusal is immediate: give the daemon rounds, not just tries
        self.assertIsNotNone(e, "no new client was welcome after one left; the daemon said:\n"
                             + "\n".join(list(self.server.log)[-40:]))
        self.assertEqual(rc_of(e.execute(get_random(8))), 0)
        for x in (b, c, e):
            x.close()


if __name__ == "__main__":
    unittest.main()
