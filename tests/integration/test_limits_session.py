"""
Per-session limits: a client trickling one byte every second is cut off
by smtpd_timeout (a deadline for the whole command line, not per read)
while other sessions proceed; the total session time limit; the junk
command limit; the hard error limit counting unknown commands; the delay
after the soft error limit.
"""

import smtplib
import socket
import threading
import time

from tern_harness import RawSMTP, TernTestCase


def drain(sock, timeout):
    """Everything the server sends until it closes (or timeout)."""
    sock.settimeout(timeout)
    data = b""
    try:
        while True:
            chunk = sock.recv(4096)
            if not chunk:
                return data, True
            data += chunk
    except (socket.timeout, TimeoutError):
        return data, False


class TestLimitsSession(TernTestCase):
    time_limit = 90

    def test_slow_client_cut_off_while_others_proceed(self):
        inst = self.instance(smtpd_timeout="3s")
        slow = socket.create_connection(("127.0.0.1", inst.port), timeout=10)
        self.addCleanup(slow.close)
        self.assertTrue(slow.recv(4096).startswith(b"220"))
        closed_at = []
        got = []

        def trickle():
            # One byte a second: each read is well within the 3 s timeout,
            # but the line never ends.
            start = time.monotonic()
            try:
                for b in b"EHLO slow.client.test" * 4:
                    slow.sendall(bytes([b]))
                    slow.settimeout(1.0)
                    try:
                        data = slow.recv(4096)
                    except (socket.timeout, TimeoutError):
                        continue
                    got.append(data)
                    if not data or b"421" in data:
                        rest, _ = drain(slow, 2)
                        got.append(rest)
                        break
            except OSError as e:
                got.append(repr(e).encode())
            closed_at.append(time.monotonic() - start)

        t = threading.Thread(target=trickle, daemon=True)
        t.start()
        # Meanwhile other clients are served normally, and at once.
        for i in range(3):
            t0 = time.monotonic()
            s = smtplib.SMTP("127.0.0.1", inst.port, timeout=10)
            s.ehlo("fast%d.client.test" % i)
            s.sendmail("fast@client.test", ["alice@test.example"],
                       b"Subject: fast\r\n\r\nwhile a slow one waits\r\n")
            s.quit()
            self.assertLess(time.monotonic() - t0, 2.0)
        t.join(30)
        self.assertFalse(t.is_alive(), "the trickling client was never "
                         "cut off")
        text = b"".join(got)
        self.assertIn(b"421 4.4.2 test.example Error: timeout exceeded", text)
        # Cut at the 3 s deadline (plus a byte's interval), long before
        # the line could have been finished (~84 s).
        self.assertGreater(closed_at[0], 2.5)
        self.assertLess(closed_at[0], 6.5)
        inst.wait_for_delivery("alice", 3)
        self.assertIn("timeout after CONNECT from unknown[127.0.0.1]",
                      inst.log())

    def test_session_time_limit(self):
        inst = self.instance(smtpd_timeout="3s",
                             smtpd_session_time_limit="4s")
        c = RawSMTP(inst.port, timeout=10)
        self.addCleanup(c.close)
        self.assertEqual(c.reply()[0], 220)
        t0 = time.monotonic()
        # Busy but well-behaved: a command every second, each answered.
        replies = b""
        closed = False
        while time.monotonic() - t0 < 10 and not closed:
            try:
                c.send("HELO busy.client.test\r\n")
            except OSError:
                break
            data, closed = drain(c.sock, 1.0)
            replies += data
        elapsed = time.monotonic() - t0
        self.assertTrue(closed, "session outlived its time limit")
        self.assertIn(b"421 4.4.2 test.example Error: session time limit "
                      b"exceeded", replies)
        self.assertGreater(elapsed, 3.0)
        self.assertLess(elapsed, 7.0)
        self.assertIn("session time limit exceeded after HELO from "
                      "unknown[127.0.0.1]", inst.log())

    def test_junk_command_limit(self):
        inst = self.instance(smtpd_junk_command_limit="5")
        c = RawSMTP(inst.port, timeout=10)
        self.addCleanup(c.close)
        self.assertEqual(c.reply()[0], 220)
        self.assertEqual(c.cmd("EHLO junk.client.test")[0], 250)
        for verb in ("NOOP", "RSET", "VRFY bob", "HELP", "NOOP"):
            self.assertIn(c.cmd(verb)[0], (250, 252, 214))
        # A delivered message starts the count again.
        self.assertEqual(c.cmd("MAIL FROM:<j@client.test>")[0], 250)
        self.assertEqual(c.cmd("RCPT TO:<alice@test.example>")[0], 250)
        self.assertEqual(c.cmd("DATA")[0], 354)
        self.assertEqual(c.cmd("Subject: junk\r\n\r\nx\r\n.")[0], 250)
        for _ in range(5):
            self.assertEqual(c.cmd("NOOP")[0], 250)
        self.assertEqual(c.cmd("NOOP")[0], 250)
        code, text = c.reply()
        self.assertEqual(code, 421)
        self.assertEqual(text, ["4.7.0 test.example Error: too many junk "
                                "commands"])
        data, closed = drain(c.sock, 3)
        self.assertTrue(closed)
        self.assertIn("too many junk commands after NOOP from "
                      "unknown[127.0.0.1]", inst.log())
        inst.wait_for_delivery("alice", 1)

    def test_error_limits(self):
        inst = self.instance(smtpd_hard_error_limit="4",
                             smtpd_soft_error_limit="2",
                             smtpd_error_sleep_time="1s")
        c = RawSMTP(inst.port, timeout=10)
        self.addCleanup(c.close)
        self.assertEqual(c.reply()[0], 220)
        times = []
        for _ in range(4):
            t0 = time.monotonic()
            code, _ = c.cmd("XYZZY")   # an unknown command is an error
            times.append(time.monotonic() - t0)
            self.assertEqual(code // 100, 5)
        # Below the soft limit the answer is immediate; from it, delayed.
        self.assertLess(times[0], 0.5)
        self.assertGreaterEqual(times[1], 0.9)
        self.assertGreaterEqual(times[2], 0.9)
        code, text = c.reply()
        self.assertEqual(code, 421)
        self.assertIn("too many errors", text[0])
        data, closed = drain(c.sock, 3)
        self.assertTrue(closed)
