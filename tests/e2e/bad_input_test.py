#!/usr/bin/python3
"""Bad input over each channel utpmd serves (mssim, pty, unix socket): garbage, a truncated
command, a header size larger than what arrives, a size over the maximum, and a peer that
disconnects mid-command. Each must give the right TPM response code or a clean drop, the
daemon must stay up, and the next well-formed command must succeed.

Run: UTPMD=build/host-release/src/host/utpmd python3 tests/e2e/bad_input_test.py
"""
import os
import random
import socket
import struct
import time
import unittest

from utpmd_harness import (CC_GET_RANDOM, MS_NV_ON, MS_POWER_ON, MS_REMOTE_HANDSHAKE, MS_SEND_COMMAND, SU_CLEAR,
                           TPM_RC_COMMAND_SIZE, MssimClient, StreamClient, Utpmd, command,
                           get_random, rc_of, recv_exact, startup)

STALL_MS = 300
MAX_COMMAND = 4096  # profile::kMaxCommandSize; also what TPM2_PT_MAX_COMMAND_SIZE reports


def is_insufficient(rc):
    """TPM_RC_INSUFFICIENT (format 1, error 0x1A) for any parameter/handle number."""
    return rc & 0x80 and (rc & 0x3F) == 0x1A


class ChannelMixin:
    """The same bad-input cases for each raw-stream channel; subclasses open the client."""

    def setUp(self):
        self.server = Utpmd(pty=True, unix=True, stall_timeout_ms=STALL_MS).start()
        c = MssimClient(self.server.port)
        self.assertEqual(rc_of(c.execute(startup(SU_CLEAR))), 0)
        c.close()

    def tearDown(self):
        alive = self.server.alive()
        rc = self.server.stop()
        self.assertTrue(alive, "utpmd died:\n" + "".join(self.server.log))
        self.assertEqual(rc, 0)

    def assert_works(self, client):
        rsp = client.execute(get_random(8))
        self.assertIsNotNone(rsp, "no response to a well-formed command")
        self.assertEqual(rc_of(rsp), 0, rsp.hex())
        self.assertEqual(len(rsp), 20)

    def test_garbage_is_skipped(self):
        c = self.open()
        # ModemManager's probe, text, a TPM 1.2 tag, bytes 0x80 that start no valid tag, and a
        # valid tag with an impossible size (< 10): none of it is a command.
        c.write(b"AT\r\nATZ\r\n" + bytes(range(0x20, 0x7f)) + b"\x00\xc1\x00\x00\x00\x0a"
                + b"\x80\x80\x00\x80\x03\x80\x01\x00\x00\x00\x05")
        self.assertIsNone(c.read_response(timeout=0.3), "garbage must not be answered")
        self.assert_works(c)
        c.close()

    def test_truncated_command_gets_insufficient(self):
        c = self.open()
        # A GetRandom whose header is consistent (10 bytes) but lacks bytesRequested.
        rsp = c.execute(command(CC_GET_RANDOM))
        self.assertIsNotNone(rsp)
        self.assertTrue(is_insufficient(rc_of(rsp)), hex(rc_of(rsp)))
        self.assert_works(c)
        c.close()

    def test_size_larger_than_received_is_dropped_after_the_stall_timeout(self):
        c = self.open()
        cmd = get_random(8)
        c.write(cmd[:2] + struct.pack(">I", 40) + cmd[6:])  # announces 40, sends 12
        self.assertIsNone(c.read_response(timeout=0.1))
        time.sleep(STALL_MS / 1000 * 2)
        self.assert_works(c)
        c.close()

    def test_size_over_the_maximum_gets_command_size(self):
        c = self.open()
        # A client sends the whole oversized command: one TPM_RC_COMMAND_SIZE, its body is
        # skipped (not parsed for frames), and the next command works at once.
        for size in (MAX_COMMAND + 1, 0x2000):
            body = bytes([0x80, 0x01]) * ((size - 10) // 2) + bytes((size - 10) % 2)
            c.write(struct.pack(">HII", 0x8001, size, CC_GET_RANDOM) + body)
            rsp = c.read_response()
            self.assertIsNotNone(rsp, f"no answer to size {size}")
            self.assertEqual(rc_of(rsp), TPM_RC_COMMAND_SIZE)
            self.assertIsNone(c.read_response(timeout=0.1), "the body must not be answered")
            self.assert_works(c)
        # An absurd size whose body never comes: answered at once, then the stall timeout ends
        # the skip.
        c.write(struct.pack(">HII", 0x8001, 0xFFFFFFFF, CC_GET_RANDOM) + b"\x00\x08")
        rsp = c.read_response()
        self.assertEqual(rc_of(rsp), TPM_RC_COMMAND_SIZE)
        time.sleep(STALL_MS / 1000 * 2)
        self.assert_works(c)
        c.close()

    def test_mssim_frames_on_the_stream_carry_locality(self):
        # The stream channels accept mssim framing too (our TCTI, wolfTPM's UART transport).
        c = self.open()
        c.write(struct.pack(">IBI", MS_SEND_COMMAND, 0, 12) + get_random(8))
        data = b""
        while len(data) < 4 + 20 + 4:
            chunk = c.read_some(5)
            self.assertTrue(chunk, "no mssim-framed response")
            data += chunk
        self.assertEqual(struct.unpack(">I", data[:4])[0], 20)
        self.assertEqual(rc_of(data[4:24]), 0)
        self.assertEqual(data[24:], b"\0\0\0\0")
        self.assert_works(c)  # and raw again right after
        c.close()

    def test_random_junk_storm(self):
        # 256 KiB of random bytes: whatever frames they happen to contain get well-formed
        # answers or are dropped; the daemon survives and serves the next command.
        random.seed(1234)  # reproducible junk
        c = self.open()
        for _ in range(64):
            c.write(random.randbytes(4096))
            while c.read_some(0):  # keep the reply queue drained
                pass
        time.sleep(STALL_MS / 1000 * 2)  # any partial frame the junk ended in times out
        while c.read_some(0.2):
            pass
        self.assert_works(c)
        c.close()

    def test_command_split_into_single_bytes(self):
        c = self.open()
        for b in get_random(8):
            c.write(bytes([b]))
            time.sleep(0.002)
        rsp = c.read_response()
        self.assertEqual(rc_of(rsp), 0)
        c.close()

    def test_disconnect_mid_command(self):
        c = self.open()
        c.write(get_random(8)[:7])
        time.sleep(0.05)
        c.close()
        # A new client soon after (well inside the stall timeout) is not confused by the half
        # command the previous one left behind. (The pause lets the daemon take the bytes
        # first: on the pty, bytes still queued in the kernel when the new client opens
        # cannot be told apart from the new client's.)
        time.sleep(0.05)
        c = self.open()
        self.assert_works(c)
        c.close()


class PtyBadInput(ChannelMixin, unittest.TestCase):
    def open(self):
        return StreamClient(pty_link=self.server.pty_link)

    def test_unread_response_is_not_delivered_to_the_next_client(self):
        # A tool killed after sending a command leaves its response queued on the pty (the
        # daemon holds the slave open, so the queue survives); the next tool must get its own
        # response, not that stale one.
        c = self.open()
        c.write(get_random(32))
        time.sleep(0.1)  # the response (44 bytes) is now queued, unread
        c.close()
        time.sleep(0.05)
        c = self.open()
        rsp = c.execute(get_random(8))
        self.assertEqual(len(rsp), 20, rsp.hex())
        self.assertEqual(rc_of(rsp), 0)
        self.assertIsNone(c.read_some(0.2), "stray bytes after the response")
        c.close()


class UnixBadInput(ChannelMixin, unittest.TestCase):
    def open(self):
        return StreamClient(unix_path=self.server.unix_path)


class MssimBadInput(unittest.TestCase):
    def setUp(self):
        self.server = Utpmd().start()
        c = MssimClient(self.server.port)
        self.assertEqual(rc_of(c.execute(startup(SU_CLEAR))), 0)
        c.close()

    def tearDown(self):
        alive = self.server.alive()
        rc = self.server.stop()
        self.assertTrue(alive, "utpmd died:\n" + "".join(self.server.log))
        self.assertEqual(rc, 0)

    def assert_works(self):
        c = MssimClient(self.server.port)
        rsp = c.execute(get_random(8))
        self.assertEqual(rc_of(rsp), 0, rsp.hex())
        self.assertEqual(len(rsp), 20)
        c.close()

    def test_garbage_protocol_code_answers_one_and_closes(self):
        c = MssimClient(self.server.port)
        c.send_raw(b"GET / HTTP/1.0\r\n\r\n")
        self.assertEqual(recv_exact(c.sock, 4), b"\0\0\0\x01")
        self.assertTrue(c.closed_by_peer())
        c.close()
        self.assert_works()

    def test_garbage_on_the_platform_port_answers_one_and_closes(self):
        s = socket.create_connection(("127.0.0.1", self.server.port + 1), timeout=5)
        s.sendall(b"\xde\xad\xbe\xef")
        self.assertEqual(recv_exact(s, 4), b"\0\0\0\x01")
        s.close()
        self.server.platform(MS_POWER_ON, MS_NV_ON)  # still acked on a new connection
        self.assert_works()

    def test_garbage_tpm_command_gets_a_tpm_error(self):
        c = MssimClient(self.server.port)
        rsp = c.execute(os.urandom(3) + b"\x00" * 9)  # framed by mssim, not a TPM command
        self.assertNotEqual(rc_of(rsp), 0)
        rsp = c.execute(get_random(8))  # same connection keeps working
        self.assertEqual(rc_of(rsp), 0)
        c.close()

    def test_truncated_command_gets_insufficient(self):
        c = MssimClient(self.server.port)
        rsp = c.execute(command(CC_GET_RANDOM))
        self.assertTrue(is_insufficient(rc_of(rsp)), hex(rc_of(rsp)))
        self.assertEqual(rc_of(c.execute(get_random(8))), 0)
        c.close()

    def test_header_size_larger_than_received_gets_command_size(self):
        c = MssimClient(self.server.port)
        cmd = get_random(8)
        rsp = c.execute(cmd[:2] + struct.pack(">I", 40) + cmd[6:])
        self.assertEqual(rc_of(rsp), TPM_RC_COMMAND_SIZE)
        self.assertEqual(rc_of(c.execute(get_random(8))), 0)
        c.close()

    def test_size_over_the_maximum_gets_command_size(self):
        c = MssimClient(self.server.port)
        big = struct.pack(">HII", 0x8001, MAX_COMMAND + 100, CC_GET_RANDOM) + bytes(MAX_COMMAND + 90)
        rsp = c.execute(big)
        self.assertEqual(rc_of(rsp), TPM_RC_COMMAND_SIZE)
        self.assertEqual(rc_of(c.execute(get_random(8))), 0)
        c.close()

    def test_absurd_mssim_length_is_a_clean_drop(self):
        c = MssimClient(self.server.port)
        c.send_raw(struct.pack(">IBI", MS_SEND_COMMAND, 0, 0xFFFFFF00) + get_random(8))
        self.assertTrue(c.closed_by_peer())
        c.close()
        self.assert_works()

    def test_disconnect_mid_command(self):
        for cut in (2, 5, 9, 15):  # inside code, locality/size, and the command itself
            c = MssimClient(self.server.port)
            c.send_raw((struct.pack(">IBI", MS_SEND_COMMAND, 0, 12) + get_random(8))[:cut])
            c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            c.close()  # with linger 0: an abrupt RST, like a killed client
            self.assert_works()

    def test_disconnect_before_reading_the_response(self):
        c = MssimClient(self.server.port)
        c.send_raw(struct.pack(">IBI", MS_SEND_COMMAND, 0, 12) + get_random(8))
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        c.close()
        time.sleep(0.05)
        self.assert_works()

    def test_handshake(self):
        c = MssimClient(self.server.port)
        c.send_raw(struct.pack(">II", MS_REMOTE_HANDSHAKE, 1))
        version, flags, ack = struct.unpack(">III", recv_exact(c.sock, 12))
        self.assertEqual((version, ack), (1, 0))
        self.assertTrue(flags & 0x01)  # platform available
        self.assertEqual(rc_of(c.execute(get_random(8))), 0)
        c.close()

    def test_second_client_is_served_while_the_first_stays_connected(self):
        # Several clients at once (README "Several clients at once"): the second client is
        # answered while the first one is still connected, and the first keeps working.
        first = MssimClient(self.server.port)
        self.assertEqual(rc_of(first.execute(get_random(8))), 0)
        second = MssimClient(self.server.port)
        second.send_raw(struct.pack(">IBI", MS_SEND_COMMAND, 0, 12) + get_random(8))
        self.assertEqual(rc_of(second.read_response(timeout=5)), 0)
        self.assertEqual(rc_of(first.execute(get_random(8))), 0)
        first.close()
        second.close()

    def test_a_half_sent_command_does_not_block_another_client(self):
        first = MssimClient(self.server.port)
        first.send_raw(struct.pack(">IBI", MS_SEND_COMMAND, 0, 12) + get_random(8)[:5])
        second = MssimClient(self.server.port)
        self.assertEqual(rc_of(second.execute(get_random(8))), 0)
        first.send_raw(get_random(8)[5:])
        self.assertEqual(rc_of(first.read_response()), 0)
        first.close()
        second.close()


if __name__ == "__main__":
    unittest.main()
