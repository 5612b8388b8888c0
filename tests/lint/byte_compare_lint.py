#!/usr/bin/python3
"""Security lint: every byte comparison in product code is either constant-time
(crypto::ct_equal) or listed here with the reason why its operands are not secret.

An authValue, HMAC, ticket, policy digest or MAC compared with memcmp/std::equal/bcmp leaks,
through timing, how many leading octets matched: an attacker who can time the TPM then guesses
the value octet by octet. New code that compares bytes must use crypto::ct_equal or add an entry
below (file, the comparison's text, why it is public) in review. docs/security.md says more.

Run: python3 tests/lint/byte_compare_lint.py [SRC_DIR]
"""
import os
import re
import sys

# (path relative to src/, a fragment of the line, why the operands are public)
ALLOWED = [
    ("tpm/subsystem/keys.cc", "q.x, pub.unique.ecc.x.buffer",
     "a public key computed from the private part vs the public area (both public)"),
    ("tpm/commands/ea.cc", "std::memcmp(a.data(), b.data(), a.size())",
     "PolicyNV/PolicyCounterTimer ordering of operandA and operandB: the spec's arithmetic "
     "comparison, whose outcome the command reveals anyway"),
    ("tpm/commands/testing.cc", "std::memcmp(out, k.digest, n)",
     "self-test known-answer vectors (constants)"),
    ("host/link_stream_session.cc", "kLegacyCancel[i]", "a framing marker on the wire"),
    ("host/tcti/tcti_config.cc", "std::memcmp(s, word, len)", "TCTI configuration keywords"),
    ("host/state_blob.cc", "kMagic, 8", "a file magic"),
    ("host/state_blob.cc", "&payload[4], id.data()", "a blob type id in authenticated plaintext"),
    ("storage/host/file_anchor.cc", "cur.value.instance, value.instance",
     "store instance ids (stored in clear in every segment header)"),
    ("storage/secure_store.cc", "h.instance, instance_", "store instance ids (public)"),
    ("storage/secure_store.cc", "std::memcmp(chunk, entry.data() + done, n)",
     "read-back verification of ciphertext just programmed"),
    ("storage/secure_store.cc", "std::memcmp(a, b, n)", "read-back verification of ciphertext copied"),
    ("storage/secure_store.cc", "std::memcmp(&back, &c, sizeof c)",
     "read-back verification of a commit record just programmed"),
    ("storage/anchor.cc", "s.best.instance, value.instance", "store instance ids (public)"),
    ("firmware/device_secret.cc", "r.magic, kMagic", "a page magic"),
]

PATTERN = re.compile(r"\b(memcmp|bcmp|std::equal|timingsafe_bcmp)\s*\(")
SKIP_DIRS = {"fuzz", "testing"}


def scan(src):
    found = []
    for root, dirs, files in os.walk(src):
        dirs[:] = [d for d in dirs if d not in SKIP_DIRS]
        for name in files:
            if not name.endswith((".cc", ".h", ".c")) or "_test" in name:
                continue
            path = os.path.join(root, name)
            rel = os.path.relpath(path, src)
            with open(path, encoding="utf-8", errors="replace") as f:
                lines = f.readlines()
            for i, line in enumerate(lines):
                code = line.split("//", 1)[0]
                if PATTERN.search(code):
                    # The comparison may continue on the next line.
                    found.append((rel, i + 1, code + (lines[i + 1] if i + 1 < len(lines) else "")))
    return found


def self_test():
    """The lint must catch a new memcmp of an auth value (and pass the real tree)."""
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        os.makedirs(os.path.join(d, "tpm", "core"))
        with open(os.path.join(d, "tpm", "core", "auth.cc"), "w") as f:
            f.write("bool ok = std::memcmp(hmac.buffer, expected, n) == 0;\n")
        found = scan(d)
        assert len(found) == 1 and found[0][:2] == ("tpm/core/auth.cc", 1), found
        assert not any(p == "tpm/core/auth.cc" for p, _, _ in ALLOWED)


def main():
    if sys.argv[1:] == ["--self-test"]:
        self_test()
        print("self-test: a new memcmp is found")
        return 0
    src = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "..", "src")
    found = scan(src)
    used = set()
    bad = []
    for rel, line, text in found:
        match = [k for k, (p, frag, _) in enumerate(ALLOWED) if p == rel and frag in text]
        if match:
            used.update(match)
        else:
            bad.append(f"src/{rel}:{line}: {text.strip().splitlines()[0]}")
    stale = [f"src/{p}: '{frag}'" for k, (p, frag, _) in enumerate(ALLOWED) if k not in used]
    if bad:
        print("byte comparisons that are neither crypto::ct_equal nor allowed with a reason:")
        print("\n".join("  " + b for b in bad))
    if stale:
        print("allow-list entries that match nothing any more (remove them):")
        print("\n".join("  " + s for s in stale))
    if not found:
        print("no comparison found at all: wrong source directory?")
        return 1
    print(f"{len(found)} byte comparisons, {len(found) - len(bad)} allowed, {len(bad)} not")
    return 1 if bad or stale else 0


if __name__ == "__main__":
    sys.exit(main())
