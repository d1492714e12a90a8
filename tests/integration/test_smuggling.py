"""
SMTP smuggling: a fake end of data made with bare CR or LF inside one
message must never start a second transaction, whatever
smtpd_bare_newline says.
"""

import time

from tern_harness import TernTestCase, RawSMTP

VARIANTS = {
    "LF.LF": b"\n.\n",
    "LF.CRLF": b"\n.\r\n",
    "CRLF.LF": b"\r\n.\n",
    "CR.CRLF": b"\r.\r\n",
}

SMUGGLED = (b"MAIL FROM:<evil@x>\r\n"
            b"RCPT TO:<bob@test.example>\r\n"
            b"DATA\r\n"
            b"From: evil@x\r\nTo: bob@test.example\r\nSubject: smuggled\r\n\r\n"
            b"smuggled body\r\n")


def session(port, fake_end):
    """
    One message to alice carrying the smuggling attempt: a fake end of
    data, then the commands and data of a second message to bob, then the
    only real CRLF . CRLF.  Returns the first reply after the data and every
    reply up to QUIT's (a server fooled by the fake end answers the
    smuggled commands too).
    """
    c = RawSMTP(port)
    try:
        assert c.reply()[0] == 220
        assert c.cmd("EHLO client.test")[0] == 250
        code = c.cmd("MAIL FROM:<sender@client.test>")
        assert code[0] == 250, code
        code = c.cmd("RCPT TO:<alice@test.example>")
        assert code[0] == 250, code
        code = c.cmd("DATA")
        assert code[0] == 354, code
        c.send(b"From: sender@client.test\r\nTo: alice@test.example\r\n"
               b"Subject: carrier\r\n\r\nbefore the fake end" + fake_end
               + SMUGGLED + b".\r\n")
        final = c.reply()
        c.send(b"QUIT\r\n")
        rest = []
        while True:
            r = c.reply()
            rest.append(r)
            if r[0] == 221 or len(rest) > 5:
                break
        return final, rest
    finally:
        c.close()


class TestSmuggling(TernTestCase):

    def check_one_reply(self, rest):
        self.assertEqual([r[0] for r in rest], [221],
                         "server answered smuggled commands: %r" % rest)

    def test_normalize(self):
        inst = self.instance(smtpd_bare_newline="normalize")
        n = 0
        for name, fake in VARIANTS.items():
            with self.subTest(variant=name):
                final, rest = session(inst.port, fake)
                self.assertEqual(final[0], 250, final)
                self.check_one_reply(rest)
                n += 1
                files = inst.wait_for_delivery("alice", n, timeout=20)
                time.sleep(0.5)
                self.assertEqual(inst.all_delivered(), {"alice": n})
                with open(files[-1], "rb") as f:
                    data = f.read()
                self.assertNotIn(b"\r", data, "bare CR stored")
                self.assertNotIn(b"Return-Path: <evil@x>", data)
                lines = data.split(b"\n")
                self.assertEqual(lines[0], b"Return-Path: <sender@client.test>")
                for want in (b"MAIL FROM:<evil@x>",
                             b"RCPT TO:<bob@test.example>", b"DATA",
                             b"Subject: smuggled", b"smuggled body"):
                    self.assertIn(want, lines,
                                  "%r is not a line of its own" % want)
                # The bare newline became a line break.
                self.assertIn(b"before the fake end", lines)
        self.assertNotIn("from=<evil@x>", inst.log())

    def test_reject(self):
        inst = self.instance(smtpd_bare_newline="reject")
        for name, fake in VARIANTS.items():
            with self.subTest(variant=name):
                final, rest = session(inst.port, fake)
                self.assertTrue(500 <= final[0] <= 599,
                                "message with bare newline not rejected: %r"
                                % (final,))
                self.check_one_reply(rest)
        time.sleep(2)
        self.assertEqual(inst.all_delivered(), {})
        self.assertEqual(inst.msg_files(), [])
        self.assertNotIn("from=<evil@x>", inst.log())
        # A clean message still goes through with reject on.
        c = RawSMTP(inst.port)
        try:
            self.assertEqual(c.reply()[0], 220)
            self.assertEqual(c.cmd("EHLO client.test")[0], 250)
            self.assertEqual(c.cmd("MAIL FROM:<sender@client.test>")[0], 250)
            self.assertEqual(c.cmd("RCPT TO:<alice@test.example>")[0], 250)
            self.assertEqual(c.cmd("DATA")[0], 354)
            c.send(b"Subject: clean\r\n\r\nclean body\r\n.\r\n")
            final = c.reply()
            self.assertEqual(final[0], 250, final)
            self.assertEqual(c.cmd("QUIT")[0], 221)
        finally:
            c.close()
        inst.wait_for_delivery("alice", 1)
        time.sleep(0.5)
        self.assertEqual(inst.all_delivered(), {"alice": 1})
