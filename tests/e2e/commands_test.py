#!/usr/bin/python3
"""GetCapability(TPM_CAP_COMMANDS) against the TPM 2.0 Library 1.84 command list (issue 12).

The list is data in the repository, with its source named: tests/e2e/data/tpm2_commands_1_84.txt.
Every command of it must be listed by the TPM, except those in NOT_YET_IMPLEMENTED below (an
explicit allow-list that shrinks as commands land; a listed command that is in the allow-list
also fails, so the list cannot go stale). TPM_PT_TOTAL_COMMANDS, TPM_PT_LIBRARY_COMMANDS and
TPM_PT_VENDOR_COMMANDS must count what is listed, and the TPMA_CC of each entry must name it.

Also runs against swtpm (UTPM_E2E_MSSIM_SHIM=/work/shared/bench/mssim-swtpm-shim) to check the
test's parsing: libtpms 0.9 lists its own set, so only the consistency checks apply there.
Run: UTPMD=build/host-debug/src/host/utpmd /usr/bin/python3 tests/e2e/commands_test.py
"""
import os
import unittest

from tpm_raw import Tpm, u32
from utpmd_harness import SU_CLEAR, MssimClient, MssimShim, Utpmd, rc_of, startup

SHIM = os.environ.get("UTPM_E2E_MSSIM_SHIM")
DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "tpm2_commands_1_84.txt")
GetCapability = 0x17A
CAP_COMMANDS, CAP_TPM_PROPERTIES = 2, 6
PT_TOTAL_COMMANDS, PT_LIBRARY_COMMANDS, PT_VENDOR_COMMANDS = 0x100 + 41, 0x100 + 42, 0x100 + 43
TPMA_CC_V = 1 << 29

# Commands of the 1.84 list that utpm does not implement yet, with the reason. Remove a name when
# its command lands (the test fails if an allow-listed command is listed by the TPM).
NOT_YET_IMPLEMENTED = {
}


def spec_commands():
    """{code: name} from the data file."""
    out = {}
    with open(DATA) as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            code, name = line.split()
            out[int(code, 16)] = name
    return out


class SpecList(unittest.TestCase):
    """The data file itself: what it must hold whatever the TPM does."""

    def test_data_file(self):
        spec = spec_commands()
        self.assertEqual(len(set(spec.values())), len(spec), "a name twice")
        # Part 2: the library codes run 0x11F..TPM_CC_LAST (0x1A1 in 1.84) with gaps at
        # 0x123, 0x15A, 0x15F, 0x166 and 0x175; Vendor_TCG_Test is CC_VEND + 0.
        library = sorted(c for c in spec if c < 0x20000000)
        gaps = set(range(0x11F, 0x1A2)) - set(library)
        self.assertEqual(gaps, {0x123, 0x15A, 0x15F, 0x166, 0x175})
        self.assertEqual(spec[0x20000000], "Vendor_TCG_Test")
        self.assertEqual(len(spec), 127)
        for name in NOT_YET_IMPLEMENTED:
            self.assertIn(name, spec.values())


class CommandList(unittest.TestCase):
    def setUp(self):
        self.server = (MssimShim(SHIM) if SHIM else Utpmd()).start()
        self.addCleanup(self.server.stop)
        self.client = MssimClient(self.server.port)
        self.addCleanup(self.client.close)
        self.tpm = Tpm(self.client)
        self.assertEqual(rc_of(self.client.execute(startup(SU_CLEAR))), 0)

    def capability(self, cap, prop, count):
        r = self.tpm.call(GetCapability, params=u32(cap) + u32(prop) + u32(count), check=False)
        self.assertEqual(r.rc, 0, f"GetCapability rc {r.rc:#x}")
        rd = r.reader()
        more, got, n = rd.u8(), rd.u32(), rd.u32()
        self.assertEqual(got, cap)
        return more, n, rd

    def listed_commands(self):
        """Every TPMA_CC of TPM_CAP_COMMANDS, paging with moreData (8 at a time to exercise it)."""
        out = []
        prop = 0
        while True:
            more, n, rd = self.capability(CAP_COMMANDS, prop, 8)
            self.assertLessEqual(n, 8)
            page = [rd.u32() for _ in range(n)]
            out += page
            if not more:
                break
            self.assertEqual(n, 8)
            last = page[-1]
            prop = (last & 0xFFFF) + 1 + (0x20000000 if last & TPMA_CC_V else 0)
        return out

    def property(self, pt):
        _, n, rd = self.capability(CAP_TPM_PROPERTIES, pt, 1)
        self.assertEqual(n, 1)
        self.assertEqual(rd.u32(), pt)
        return rd.u32()

    def test_every_command_of_the_spec_list_is_listed(self):
        spec = spec_commands()
        attrs = self.listed_commands()
        codes = [(a & 0xFFFF) | (0x20000000 if a & TPMA_CC_V else 0) for a in attrs]
        self.assertEqual(len(set(codes)), len(codes), "a command listed twice")
        self.assertEqual(codes, sorted(codes), "not in ascending order")
        # TPMA_CC counts (Part 2 §8.9): the totals describe the same list.
        vendor = sum(1 for a in attrs if a & TPMA_CC_V)
        self.assertEqual(self.property(PT_TOTAL_COMMANDS), len(codes))
        self.assertEqual(self.property(PT_LIBRARY_COMMANDS), len(codes) - vendor)
        self.assertEqual(self.property(PT_VENDOR_COMMANDS), vendor)
        if SHIM:
            return  # libtpms lists its own set; the checks above validated the parsing
        names = {spec[c] for c in codes if c in spec}
        self.assertEqual([hex(c) for c in codes if c not in spec], [], "listed but not in the 1.84 list")
        missing = sorted(n for c, n in spec.items() if n not in names and n not in NOT_YET_IMPLEMENTED)
        self.assertEqual(missing, [], "commands of the 1.84 list missing from TPM_CAP_COMMANDS")
        stale = sorted(n for n in NOT_YET_IMPLEMENTED if n in names)
        self.assertEqual(stale, [], "implemented now: remove from NOT_YET_IMPLEMENTED")


if __name__ == "__main__":
    unittest.main()
