#!/usr/bin/python3
"""End to end: keys, objects and hierarchies with Debian's tpm2-tools against utpmd.

The TPM's results are judged outside the TPM: signatures are verified by OpenSSL's CLI, OAEP
ciphertexts made by OpenSSL are decrypted by the TPM, HMACs and symmetric ciphertexts are
recomputed with Python's hmac and the `cryptography` package from Debian. tpm2-tools saves a
context file in one invocation and loads it in the next, so every test also exercises
ContextSave/ContextLoad.

Like the MS simulator (and swtpm), utpmd keeps transient objects loaded after a client leaves;
the tests flush them between tools (tpm2_flushcontext -t) as scripts against a simulator do.

Run: UTPMD=build/host-release/src/host/utpmd python3 tests/e2e/keys_test.py [-k pattern]
"""
import hashlib
import hmac
import os
import subprocess
import tempfile
import unittest

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from utpmd_harness import SU_CLEAR, MssimClient, Utpmd, rc_of, run_tool, startup


class KeysMixin:
    CHANNEL = "mssim"

    def setUp(self):
        self.server = Utpmd(pty=self.CHANNEL == "pty").start()
        self.addCleanup(self.stop_server)
        c = MssimClient(self.server.port)
        self.assertEqual(rc_of(c.execute(startup(SU_CLEAR))), 0)
        c.close()
        self.tmp = tempfile.TemporaryDirectory(prefix="utpm-e2e-keys-")
        self.addCleanup(self.tmp.cleanup)

    def stop_server(self):
        if self.server.alive():
            self.assertEqual(self.server.stop(), 0, "utpmd did not exit cleanly")

    @property
    def tcti(self):
        return self.server.mssim_tcti if self.CHANNEL == "mssim" else self.server.device_tcti

    def p(self, name):
        return os.path.join(self.tmp.name, name)

    def tool(self, *args, check=True):
        r = run_tool(list(args), self.tcti, check=check)
        if check:
            run_tool(["tpm2_flushcontext", "-t"], self.tcti)
        return r

    def openssl(self, *args, check=True):
        return subprocess.run(["openssl", *args], capture_output=True, check=check)

    def write(self, name, data):
        with open(self.p(name), "wb") as f:
            f.write(data)
        return self.p(name)

    def read(self, name):
        with open(self.p(name), "rb") as f:
            return f.read()

    def primary(self, name="prim", hierarchy="o", alg="rsa2048"):
        self.tool("tpm2_createprimary", "-C", hierarchy, "-G", alg, "-c", self.p(name + ".ctx"))
        return self.p(name + ".ctx")

    def child(self, parent, name, *create_args):
        self.tool("tpm2_create", "-C", parent, *create_args, "-u", self.p(name + ".pub"), "-r", self.p(name + ".priv"))
        self.tool("tpm2_load", "-C", parent, "-u", self.p(name + ".pub"), "-r", self.p(name + ".priv"),
                  "-c", self.p(name + ".ctx"))
        return self.p(name + ".ctx")

    def pem(self, ctx, name):
        self.tool("tpm2_readpublic", "-c", ctx, "-f", "pem", "-o", self.p(name + ".pem"))
        return self.p(name + ".pem")


class Keys(KeysMixin, unittest.TestCase):
    def test_createprimary_each_type_and_hierarchy(self):
        for alg in ("rsa2048", "ecc256", "ecc384", "aes128", "aes256cfb", "xor"):
            self.primary("p_" + alg, "o", alg)
        for hierarchy in ("e", "p", "n"):
            self.primary("h_" + hierarchy, hierarchy, "ecc256")
        out = self.tool("tpm2_readpublic", "-c", self.p("p_ecc384.ctx")).stdout.decode()
        self.assertIn("ecc", out)

    def test_primary_is_deterministic_across_restart(self):
        self.tool("tpm2_createprimary", "-C", "o", "-c", self.p("a.ctx"), "-o", self.p("a.pem"))
        self.tool("tpm2_createprimary", "-C", "o", "-c", self.p("b.ctx"), "-o", self.p("b.pem"))
        self.assertEqual(self.read("a.pem"), self.read("b.pem"))
        # A different template (here: noDA added) gives a different key.
        self.tool("tpm2_createprimary", "-C", "o", "-c", self.p("c.ctx"), "-o", self.p("c.pem"), "-a",
                  "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|restricted|decrypt|noda")
        self.assertNotEqual(self.read("a.pem"), self.read("c.pem"))
        # Orderly shutdown, power cycle, restart: the storage seed persists.
        self.tool("tpm2_shutdown", "-c")
        self.server.power_cycle()
        run_tool(["tpm2_startup", "-c"], self.tcti)
        self.tool("tpm2_createprimary", "-C", "o", "-c", self.p("d.ctx"), "-o", self.p("d.pem"))
        self.assertEqual(self.read("a.pem"), self.read("d.pem"))
        # The null hierarchy's seed does not survive a Startup.
        self.tool("tpm2_createprimary", "-C", "n", "-c", self.p("n1.ctx"), "-o", self.p("n1.pem"))
        self.server.power_cycle()
        run_tool(["tpm2_startup", "-c"], self.tcti)
        self.tool("tpm2_createprimary", "-C", "n", "-c", self.p("n2.ctx"), "-o", self.p("n2.pem"))
        self.assertNotEqual(self.read("n1.pem"), self.read("n2.pem"))

    def test_saved_context_does_not_survive_tpm_reset(self):
        prim = self.primary()
        self.tool("tpm2_readpublic", "-c", prim)
        self.server.power_cycle()
        run_tool(["tpm2_startup", "-c"], self.tcti)
        r = self.tool("tpm2_readpublic", "-c", prim, check=False)
        self.assertNotEqual(r.returncode, 0, "a context from before a TPM Reset must not load")

    def test_sign_schemes_verified_by_openssl(self):
        prim = self.primary()
        msg = self.write("msg", os.urandom(100))
        rsa = self.child(prim, "rsa", "-G", "rsa2048")
        rsa_pem = self.pem(rsa, "rsa")
        for scheme, opt in (("rsassa", []), ("rsapss", ["-sigopt", "rsa_padding_mode:pss"])):
            self.tool("tpm2_sign", "-c", rsa, "-g", "sha256", "-s", scheme, "-f", "plain", "-o", self.p(scheme), msg)
            r = self.openssl("dgst", "-sha256", "-verify", rsa_pem, *opt, "-signature", self.p(scheme), msg)
            self.assertIn(b"Verified OK", r.stdout)
        for curve, hash_ in (("ecc256", "sha256"), ("ecc384", "sha384")):
            key = self.child(prim, curve, "-G", curve)
            self.tool("tpm2_sign", "-c", key, "-g", hash_, "-f", "plain", "-o", self.p("sig_" + curve), msg)
            r = self.openssl("dgst", "-" + hash_, "-verify", self.pem(key, curve), "-signature",
                             self.p("sig_" + curve), msg)
            self.assertIn(b"Verified OK", r.stdout)
        # A tampered message does not verify.
        bad = self.write("bad", b"x" + self.read("msg")[1:])
        r = self.openssl("dgst", "-sha256", "-verify", rsa_pem, "-signature", self.p("rsassa"), bad, check=False)
        self.assertNotEqual(r.returncode, 0)

    def test_verifysignature_in_the_tpm(self):
        prim = self.primary()
        key = self.child(prim, "k", "-G", "ecc256")
        msg = self.write("msg", b"verify me")
        self.tool("tpm2_sign", "-c", key, "-g", "sha256", "-o", self.p("sig"), msg)
        self.tool("tpm2_verifysignature", "-c", key, "-g", "sha256", "-m", msg, "-s", self.p("sig"),
                  "-t", self.p("tk"))
        other = self.write("other", b"not what was signed")
        r = self.tool("tpm2_verifysignature", "-c", key, "-g", "sha256", "-m", other, "-s", self.p("sig"), check=False)
        self.assertNotEqual(r.returncode, 0)
        run_tool(["tpm2_flushcontext", "-t"], self.tcti)

    def test_restricted_key_signs_only_tpm_hashed_data(self):
        prim = self.primary()
        # A signing key has no symmetric algorithm (the tools default to one: say null).
        key = self.child(prim, "ak", "-G", "rsa2048:rsassa-sha256:null", "-a",
                         "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|restricted|sign")
        msg = self.write("msg", b"attest this")
        self.tool("tpm2_hash", "-C", "o", "-g", "sha256", "-o", self.p("dig"), "-t", self.p("ticket"), msg)
        self.tool("tpm2_sign", "-c", key, "-g", "sha256", "-d", "-t", self.p("ticket"), "-f", "plain",
                  "-o", self.p("sig"), self.p("dig"))
        r = self.openssl("dgst", "-sha256", "-verify", self.pem(key, "ak"), "-signature", self.p("sig"), msg)
        self.assertIn(b"Verified OK", r.stdout)
        # Without a ticket the restricted key refuses.
        r = self.tool("tpm2_sign", "-c", key, "-g", "sha256", "-d", "-o", self.p("sig2"), self.p("dig"), check=False)
        self.assertNotEqual(r.returncode, 0)
        run_tool(["tpm2_flushcontext", "-t"], self.tcti)

    def test_rsa_decrypt_of_openssl_ciphertext(self):
        prim = self.primary()
        key = self.child(prim, "enc", "-G", "rsa2048:null:null", "-a",
                         "decrypt|fixedtpm|fixedparent|sensitivedataorigin|userwithauth")
        pem = self.pem(key, "enc")
        secret = os.urandom(32)
        self.write("pt", secret)
        self.openssl("pkeyutl", "-encrypt", "-pubin", "-inkey", pem, "-pkeyopt", "rsa_padding_mode:oaep",
                     "-pkeyopt", "rsa_oaep_md:sha256", "-in", self.p("pt"), "-out", self.p("ct"))
        self.tool("tpm2_rsadecrypt", "-c", key, "-s", "oaep", "-o", self.p("out"), self.p("ct"))
        self.assertEqual(self.read("out"), secret)
        self.openssl("pkeyutl", "-encrypt", "-pubin", "-inkey", pem, "-pkeyopt", "rsa_padding_mode:pkcs1",
                     "-in", self.p("pt"), "-out", self.p("ct1"))
        self.tool("tpm2_rsadecrypt", "-c", key, "-s", "rsaes", "-o", self.p("out1"), self.p("ct1"))
        self.assertEqual(self.read("out1"), secret)
        # TPM encrypts, TPM decrypts (OAEP with the tools' label handling)
        self.tool("tpm2_rsaencrypt", "-c", key, "-s", "oaep", "-o", self.p("ct2"), self.p("pt"))
        self.tool("tpm2_rsadecrypt", "-c", key, "-s", "oaep", "-o", self.p("out2"), self.p("ct2"))
        self.assertEqual(self.read("out2"), secret)

    def test_encryptdecrypt_matches_independent_aes(self):
        # A known key through LoadExternal, so the ciphertext can be recomputed outside.
        key_bytes = os.urandom(16)
        self.tool("tpm2_loadexternal", "-C", "n", "-G", "aes", "-r", self.write("aeskey", key_bytes),
                  "-c", self.p("aes.ctx"))
        key = self.p("aes.ctx")
        data = os.urandom(64)
        self.write("data", data)
        iv = os.urandom(16)
        self.write("iv", iv)
        for mode, impl in (("cfb", modes.CFB(iv)), ("cbc", modes.CBC(iv)), ("ctr", modes.CTR(iv)),
                           ("ofb", modes.OFB(iv)), ("ecb", modes.ECB())):
            args = ["-t", self.p("iv")] if mode != "ecb" else []
            self.tool("tpm2_encryptdecrypt", "-c", key, "-G", mode, *args, "-o", self.p("ct." + mode), self.p("data"))
            enc = Cipher(algorithms.AES(key_bytes), impl).encryptor()
            self.assertEqual(self.read("ct." + mode), enc.update(data) + enc.finalize(), mode)
            self.tool("tpm2_encryptdecrypt", "-d", "-c", key, "-G", mode, *args, "-o", self.p("pt." + mode),
                      self.p("ct." + mode))
            self.assertEqual(self.read("pt." + mode), data, mode)

    def test_hmac_matches_python(self):
        key_bytes = os.urandom(32)
        # An HMAC key names its scheme and only signs (the tools' default sign|decrypt with an
        # HMAC scheme is TPM_RC_SCHEME, on swtpm too).
        self.tool("tpm2_loadexternal", "-C", "n", "-G", "hmac:sha256", "-a", "sign|userwithauth", "-r",
                  self.write("hkey", key_bytes), "-c", self.p("hk.ctx"))
        key = self.p("hk.ctx")
        msg = self.write("msg", b"mac this message")
        out = self.tool("tpm2_hmac", "-c", key, "--hex", msg).stdout.decode().strip()
        self.assertEqual(out, hmac.new(key_bytes, b"mac this message", hashlib.sha256).hexdigest())

    def test_seal_unseal_with_and_without_auth(self):
        prim = self.primary()
        secret = os.urandom(48)
        self.write("secret", secret)
        for name, auth in (("open", None), ("locked", "s3cret")):
            args = ["-i", self.p("secret")] + (["-p", auth] if auth else [])
            obj = self.child(prim, name, *args)
            unseal = ["tpm2_unseal", "-c", obj, "-o", self.p("out_" + name)] + (["-p", auth] if auth else [])
            self.tool(*unseal)
            self.assertEqual(self.read("out_" + name), secret)
        r = self.tool("tpm2_unseal", "-c", self.p("locked.ctx"), "-p", "wrong", check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("0x98e", (r.stdout + r.stderr).decode().lower(), "TPM_RC_AUTH_FAIL for session 1")

    def test_changeauth_of_an_object(self):
        prim = self.primary()
        self.write("secret", b"rotate me")
        obj = self.child(prim, "s", "-i", self.p("secret"), "-p", "old")
        self.tool("tpm2_changeauth", "-c", obj, "-C", prim, "-p", "old", "-r", self.p("new.priv"), "new")
        self.tool("tpm2_load", "-C", prim, "-u", self.p("s.pub"), "-r", self.p("new.priv"), "-c", self.p("s2.ctx"))
        self.tool("tpm2_unseal", "-c", self.p("s2.ctx"), "-p", "new", "-o", self.p("out"))
        self.assertEqual(self.read("out"), b"rotate me")
        r = self.tool("tpm2_unseal", "-c", self.p("s2.ctx"), "-p", "old", check=False)
        self.assertNotEqual(r.returncode, 0)

    def test_tampered_private_blob_is_refused(self):
        prim = self.primary()
        self.child(prim, "k", "-G", "ecc256")
        blob = bytearray(self.read("k.priv"))
        blob[len(blob) // 2] ^= 1
        self.write("bad.priv", bytes(blob))
        r = self.tool("tpm2_load", "-C", prim, "-u", self.p("k.pub"), "-r", self.p("bad.priv"),
                      "-c", self.p("bad.ctx"), check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("0x1df", (r.stdout + r.stderr).decode().lower(), "TPM_RC_INTEGRITY for parameter 1")
        run_tool(["tpm2_flushcontext", "-t"], self.tcti)

    def test_salted_session_with_parameter_encryption(self):
        prim = self.primary()
        for key in (prim, self.primary("ecc", "o", "ecc256")):
            run_tool(["tpm2_startauthsession", "-S", self.p("s.ctx"), "--hmac-session", "-c", key], self.tcti)
            run_tool(["tpm2_flushcontext", "-t"], self.tcti)
            run_tool(["tpm2_sessionconfig", self.p("s.ctx"), "--enable-encrypt", "--enable-decrypt"], self.tcti)
            secret = os.urandom(24)
            self.write("sec", secret)
            # inSensitive goes encrypted (decrypt), the unsealed data comes back encrypted.
            self.tool("tpm2_create", "-C", prim, "-i", self.p("sec"), "-p", "pw", "-P", "session:" + self.p("s.ctx"),
                      "-u", self.p("o.pub"), "-r", self.p("o.priv"))
            self.tool("tpm2_load", "-C", prim, "-u", self.p("o.pub"), "-r", self.p("o.priv"), "-c", self.p("o.ctx"))
            self.tool("tpm2_unseal", "-c", self.p("o.ctx"), "-p", "pw", "-S", self.p("s.ctx"), "-o", self.p("out"))
            self.assertEqual(self.read("out"), secret)
            out = run_tool(["tpm2_getrandom", "-S", self.p("s.ctx"), "--hex", "16"], self.tcti).stdout.decode()
            self.assertEqual(len(out.strip()), 32)
            run_tool(["tpm2_flushcontext", self.p("s.ctx")], self.tcti)

    def test_hierarchy_auth_clear_and_clearcontrol(self):
        self.tool("tpm2_changeauth", "-c", "o", "ownerpw")
        self.tool("tpm2_changeauth", "-c", "l", "lockpw")
        self.assertNotEqual(self.tool("tpm2_createprimary", "-C", "o", "-c", self.p("x.ctx"), check=False).returncode, 0)
        self.tool("tpm2_createprimary", "-C", "o", "-P", "ownerpw", "-c", self.p("x.ctx"), "-o", self.p("before.pem"))
        self.tool("tpm2_clearcontrol", "-C", "l", "-P", "lockpw", "s")
        self.assertNotEqual(self.tool("tpm2_clear", "-c", "l", "lockpw", check=False).returncode, 0,
                            "Clear is disabled")
        self.tool("tpm2_clearcontrol", "-C", "p", "c")
        self.tool("tpm2_clear", "-c", "l", "lockpw")
        # A new owner: empty auth, a new storage seed.
        self.tool("tpm2_createprimary", "-C", "o", "-c", self.p("y.ctx"), "-o", self.p("after.pem"))
        self.assertNotEqual(self.read("before.pem"), self.read("after.pem"))

    def test_dictionary_attack_lockout(self):
        self.tool("tpm2_dictionarylockout", "-s", "-n", "2", "-t", "1000", "-l", "1000")
        prim = self.primary()
        self.write("s", b"x")
        obj = self.child(prim, "o", "-i", self.p("s"), "-p", "good")
        for _ in range(2):
            self.assertNotEqual(self.tool("tpm2_unseal", "-c", obj, "-p", "bad", check=False).returncode, 0)
        r = self.tool("tpm2_unseal", "-c", obj, "-p", "good", check=False)
        self.assertIn("0x921", (r.stdout + r.stderr).decode().lower(), "TPM_RC_LOCKOUT even with the right auth")
        run_tool(["tpm2_flushcontext", "-t"], self.tcti)
        self.tool("tpm2_dictionarylockout", "-c")
        self.tool("tpm2_unseal", "-c", obj, "-p", "good", "-o", self.p("out"))
        self.assertEqual(self.read("out"), b"x")

    def test_evictcontrol_survives_restart(self):
        prim = self.primary()
        self.tool("tpm2_readpublic", "-c", prim, "-o", self.p("p.pub"))
        self.tool("tpm2_evictcontrol", "-C", "o", "-c", prim, "0x81000010")
        self.assertIn("0x81000010", self.tool("tpm2_getcap", "handles-persistent").stdout.decode())
        self.assertNotEqual(self.tool("tpm2_evictcontrol", "-C", "o", "-c", prim, "0x81800010",
                                      check=False).returncode, 0, "the platform range needs platform auth")
        self.tool("tpm2_shutdown")
        self.server.power_cycle()
        run_tool(["tpm2_startup"], self.tcti)
        key = self.child("0x81000010", "k", "-G", "ecc256")
        msg = self.write("msg", b"under a persistent parent")
        self.tool("tpm2_sign", "-c", key, "-g", "sha256", "-f", "plain", "-o", self.p("sig"), msg)
        r = self.openssl("dgst", "-sha256", "-verify", self.pem(key, "k"), "-signature", self.p("sig"), msg)
        self.assertIn(b"Verified OK", r.stdout)
        self.tool("tpm2_evictcontrol", "-C", "o", "-c", "0x81000010")
        self.assertNotIn("0x81000010", self.tool("tpm2_getcap", "handles-persistent").stdout.decode())

    def test_hmac_sequence_for_long_input(self):
        key_bytes = os.urandom(32)
        # An HMAC key names its scheme and only signs (the tools' default sign|decrypt with an
        # HMAC scheme is TPM_RC_SCHEME, on swtpm too).
        self.tool("tpm2_loadexternal", "-C", "n", "-G", "hmac:sha256", "-a", "sign|userwithauth", "-r",
                  self.write("hkey", key_bytes), "-c", self.p("hk.ctx"))
        data = os.urandom(5000)  # more than one TPM2B_MAX_BUFFER: the tools use HMAC_Start + sequence
        out = self.tool("tpm2_hmac", "-c", self.p("hk.ctx"), "--hex", self.write("big", data)).stdout.decode().strip()
        self.assertEqual(out, hmac.new(key_bytes, data, hashlib.sha256).hexdigest())

    def test_ecc_parameters_match_openssl(self):
        import re
        for tool_name, ossl in (("ecc256", "prime256v1"), ("ecc384", "secp384r1")):
            self.tool("tpm2_geteccparameters", tool_name, "-o", self.p("params"))
            raw = self.read("params")
            text = self.openssl("ecparam", "-name", ossl, "-param_enc", "explicit", "-text", "-noout").stdout.decode()
            text = re.sub(r"[\s:]", "", text)
            prime = re.search(r"Prime(?:00)?([0-9a-f]+)A", text).group(1)
            self.assertIn(bytes.fromhex(prime[-len(prime) // 2 * 2:]), raw, tool_name)


class KeysOverPty(KeysMixin, unittest.TestCase):
    """The same flows through the stock device TCTI on the virtual serial port (a subset)."""
    CHANNEL = "pty"

    def test_create_load_sign_over_pty(self):
        prim = self.primary()
        key = self.child(prim, "k", "-G", "ecc256")
        msg = self.write("msg", b"over the serial port")
        self.tool("tpm2_sign", "-c", key, "-g", "sha256", "-f", "plain", "-o", self.p("sig"), msg)
        r = self.openssl("dgst", "-sha256", "-verify", self.pem(key, "k"), "-signature", self.p("sig"), msg)
        self.assertIn(b"Verified OK", r.stdout)


if __name__ == "__main__":
    unittest.main()
