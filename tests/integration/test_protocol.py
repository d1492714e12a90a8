"""
The SMTP server's replies, command by command (RFC 5321, RFC 2034, RFC
2920): sequencing, the small commands, limits on lines, errors and time.
"""

import time

from tern_harness import RawSMTP, TernTestCase


class TestProtocol(TernTestCase):

    def raw(self, inst):
        c = RawSMTP(inst.port)
        self.addCleanup(c.close)
        code, text = c.reply()
        self.assertEqual(code, 220)
        self.assertTrue(text[0].startswith("test.example ESMTP"), text)
        return c

    def test_ehlo_advertises_extensions(self):
        inst = self.instance(message_size_limit="10m")
        c = self.raw(inst)
        code, lines = c.cmd("EHLO client.test")
        self.assertEqual(code, 250)
        self.assertEqual(lines[0], "test.example")
        self.assertEqual(set(lines[1:]), {"PIPELINING", "SIZE 10485760",
                                          "ENHANCEDSTATUSCODES", "8BITMIME", "DSN",
                                          "CHUNKING", "ETRN", "SMTPUTF8"})
        code, lines = c.cmd("HELO client.test")
        self.assertEqual((code, lines), (250, ["test.example"]))

    def test_small_commands(self):
        inst = self.instance()
        c = self.raw(inst)
        self.assertEqual(c.cmd("NOOP")[0], 250)
        code, text = c.cmd("VRFY alice")
        self.assertEqual(code, 252)
        self.assertTrue(text[0].startswith("2.0.0 "), text)
        code, text = c.cmd("HELP")
        self.assertEqual(code, 214)
        self.assertEqual(c.cmd("EXPN staff")[0], 502)
        self.assertEqual(c.cmd("RSET")[0], 250)
        code, text = c.cmd("QUIT")
        self.assertEqual(code, 221)
        self.assertEqual(text, ["2.0.0 Bye"])
        self.assertEqual(c.pending(1), b"", "connection must close after QUIT")

    def test_sequencing(self):
        inst = self.instance()
        c = self.raw(inst)
        self.assertEqual(c.cmd("MAIL FROM:<a@client.test>"),
                         (503, ["5.5.1 Error: send HELO/EHLO first"]))
        c.cmd("EHLO client.test")
        self.assertEqual(c.cmd("RCPT TO:<alice@test.example>")[0], 503)
        self.assertEqual(c.cmd("DATA")[0], 503)
        self.assertEqual(c.cmd("MAIL FROM:<a@client.test>")[0], 250)
        self.assertEqual(c.cmd("MAIL FROM:<a@client.test>"),
                         (503, ["5.5.1 Error: nested MAIL command"]))
        self.assertEqual(c.cmd("DATA"),
                         (554, ["5.5.1 Error: no valid recipients"]))
        # RSET ends the transaction; the session goes on.
        self.assertEqual(c.cmd("RSET")[0], 250)
        self.assertEqual(c.cmd("RCPT TO:<alice@test.example>")[0], 503)
        self.assertEqual(c.cmd("FOO bar"),
                         (500, ["5.5.2 Error: command not recognized"]))
        # An unknown BODY value is a parameter value not implemented (555).
        self.assertEqual(c.cmd("MAIL FROM:<a@client.test> BODY=9BIT")[0], 555)
        self.assertEqual(c.cmd("MAIL FROM:a@client.test")[0], 501)

    def test_command_line_too_long(self):
        inst = self.instance()
        c = self.raw(inst)
        code, text = c.cmd("NOOP " + "x" * 600)
        self.assertEqual(code, 500)
        self.assertTrue(text[0].startswith("5.5.2"), text)
        # A line of 100 KiB is read to its end, not taken as several.
        code, text = c.cmd("NOOP " + "y" * 100000)
        self.assertEqual(code, 500)
        self.assertEqual(c.cmd("NOOP")[0], 250)
        self.assertEqual(c.pending(0.3), b"", "one reply per line")

    def test_bare_lf_command(self):
        inst = self.instance()
        c = self.raw(inst)
        c.send("NOOP\n")
        self.assertEqual(c.reply()[0], 250)
        inst2 = self.instance(smtpd_bare_newline="reject")
        c2 = self.raw(inst2)
        c2.send("NOOP\n")
        code, text = c2.reply()
        self.assertEqual(code, 500)
        self.assertIn("bare", text[0])

    def test_error_limit_ends_session(self):
        inst = self.instance(smtpd_hard_error_limit="5")
        c = self.raw(inst)
        for _ in range(4):
            self.assertEqual(c.cmd("BOGUS")[0], 500)
        c.send("BOGUS\r\n")
        self.assertEqual(c.reply()[0], 500)
        code, text = c.reply()
        self.assertEqual(code, 421)
        self.assertTrue(text[0].startswith("4.7.0"), text)
        self.assertEqual(c.pending(1), b"")

    def test_idle_client_times_out(self):
        inst = self.instance(smtpd_timeout="2s")
        c = self.raw(inst)
        c.cmd("EHLO client.test")
        start = time.monotonic()
        c.sock.settimeout(10)
        code, text = c.reply()
        self.assertEqual(code, 421)
        self.assertTrue(text[0].startswith("4.4.2"), text)
        self.assertLess(time.monotonic() - start, 6)
        self.assertRegex(inst.log(), r"timeout after EHLO from unknown\[127\.0\.0\.1\]")

    def test_pipelined_group_answered_in_order(self):
        inst = self.instance()
        c = self.raw(inst)
        c.send("EHLO a\r\nNOOP\r\nMAIL FROM:<x@client.test>\r\n"
               "RCPT TO:<nobody@test.example>\r\nRCPT TO:<alice@test.example>\r\n"
               "RSET\r\nQUIT\r\n")
        codes = [c.reply()[0] for _ in range(7)]
        self.assertEqual(codes, [250, 250, 250, 550, 250, 250, 221])
