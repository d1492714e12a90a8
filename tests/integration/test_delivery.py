"""
Mail sent with smtplib, swaks and a raw pipelining client lands in the
Maildir exactly as sent, plus tern's three added header fields.
"""

import re
import subprocess
import os

from tern_harness import (TernTestCase, RawSMTP, qid_from_reply, smtp_connect,
                          wait_until)


def message(subject, body_lines):
    head = [b"From: Sender <sender@client.test>",
            b"To: Alice <alice@test.example>",
            b"Subject: " + subject,
            b"Message-ID: <" + subject.replace(b" ", b"-") + b"@client.test>",
            b"Date: Thu, 01 Jan 2026 00:00:00 +0000"]
    return b"\r\n".join(head) + b"\r\n\r\n" + b"\r\n".join(body_lines) + b"\r\n"


class TestDelivery(TernTestCase):

    def setUp(self):
        self.inst = self.instance()

    def test_smtplib_exact(self):
        msg = message(b"smtplib exact", [
            b"Hello Alice,", b"", b"  indented line with trailing space ",
            b"\ttab-led line", b"x" * 900, b"end."])
        with smtp_connect(self.inst) as s:
            s.ehlo()
            code, _ = s.mail("sender@client.test")
            self.assertEqual(code, 250)
            code, _ = s.rcpt("alice@test.example")
            self.assertEqual(code, 250)
            code, text = s.data(msg)
            self.assertEqual(code, 250, text)
            self.assertRegex(text.decode(), r"^2\.0\.0 Ok: queued as [0-9A-F]{16}$")
            qid = qid_from_reply(text)
        files = self.inst.wait_for_delivery("alice", 1)
        self.assertEqual(len(files), 1)
        with open(files[0], "rb") as f:
            data = f.read()
        self.assert_tern_delivery(data, msg, "sender@client.test",
                                  "alice@test.example", qid)
        self.assertEqual(self.inst.all_delivered(), {"alice": 1})
        log = self.inst.log()
        self.assertRegex(log, r"%s: client=unknown\[127\.0\.0\.1\]" % qid)
        self.assertRegex(log, r"%s: from=<sender@client\.test>, size=\d+, "
                         r"nrcpt=1\b" % qid)
        self.assertRegex(log, r"%s: to=<alice@test\.example>, relay=local, "
                         r"delay=[0-9.]+, delays=[0-9.]+/[0-9.]+/[0-9.]+/"
                         r"[0-9.]+, dsn=2\.0\.0, status=sent "
                         r"\(delivered to maildir\)" % qid)
        self.inst.wait_queue_empty(10)
        # The file goes first, then the index record, then the log line.
        wait_until(lambda: re.search(r"%s: removed" % qid, self.inst.log()),
                   10, what="%s: removed" % qid)

    def test_swaks_exact(self):
        msg = message(b"swaks exact", [b"Sent by swaks.", b"", b"Second para.",
                                       b"end."])
        path = os.path.join(self.inst.tmp, "swaks-data.eml")
        with open(path, "wb") as f:
            # swaks ends the data with CRLF . CRLF itself, so the file
            # holds the message without its final line break.
            f.write(msg.replace(b"\r\n", b"\n")[:-1])
        r = subprocess.run(
            ["swaks", "--server", "127.0.0.1", "--port", str(self.inst.port),
             "--ehlo", "client.test", "--from", "bounce@client.test",
             "--to", "bob@test.example", "--data", "@" + path,
             "--timeout", "30", "--no-hints"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
        out = r.stdout.decode("utf-8", "replace")
        self.assertEqual(r.returncode, 0, out)
        qid = qid_from_reply(r.stdout)
        self.assertIsNotNone(qid, "no 'queued as QID' in swaks output:\n" + out)
        files = self.inst.wait_for_delivery("bob", 1)
        self.assertEqual(len(files), 1)
        with open(files[0], "rb") as f:
            data = f.read()
        self.assert_tern_delivery(data, msg, "bounce@client.test",
                                  "bob@test.example", qid)
        self.assertEqual(self.inst.all_delivered(), {"bob": 1})

    def test_dot_stuffing(self):
        # Wire form (already dot-stuffed by the client) and what must land.
        lines = [b".leading dot", b"..", b".", b"...three", b"middle . dot",
                 b". space after dot", b"last"]
        msg = message(b"dots", lines)
        wire = b"".join((b"." + l if l.startswith(b".") else l) + b"\r\n"
                        for l in msg[:-2].split(b"\r\n"))
        c = RawSMTP(self.inst.port)
        try:
            self.assertEqual(c.reply()[0], 220)
            self.assertEqual(c.cmd("EHLO client.test")[0], 250)
            self.assertEqual(c.cmd("MAIL FROM:<dots@client.test>")[0], 250)
            self.assertEqual(c.cmd("RCPT TO:<alice@test.example>")[0], 250)
            self.assertEqual(c.cmd("DATA")[0], 354)
            c.send(wire + b".\r\n")
            code, text = c.reply()
            self.assertEqual(code, 250, text)
            qid = qid_from_reply(text[0])
            self.assertEqual(c.cmd("QUIT")[0], 221)
        finally:
            c.close()
        files = self.inst.wait_for_delivery("alice", 1)
        with open(files[0], "rb") as f:
            data = f.read()
        self.assert_tern_delivery(data, msg, "dots@client.test",
                                  "alice@test.example", qid)
        body = data.split(b"\n\n", 1)[1]
        self.assertIn(b"\n..\n", b"\n" + body)
        self.assertIn(b"\n.\n", b"\n" + body)

    def test_pipelining(self):
        msg = message(b"pipelined", [b"Both of you.", b"end."])
        c = RawSMTP(self.inst.port)
        try:
            self.assertEqual(c.reply()[0], 220)
            code, ext = c.cmd("EHLO client.test")
            self.assertEqual(code, 250)
            self.assertIn("PIPELINING", [e.upper() for e in ext[1:]],
                          "PIPELINING not advertised: %r" % ext)
            c.send(b"MAIL FROM:<pipe@client.test>\r\n"
                   b"RCPT TO:<alice@test.example>\r\n"
                   b"RCPT TO:<bob@test.example>\r\n"
                   b"DATA\r\n")
            codes = [c.reply()[0] for _ in range(4)]
            self.assertEqual(codes, [250, 250, 250, 354])
            c.send(msg + b".\r\n")
            code, text = c.reply()
            self.assertEqual(code, 250, text)
            qid = qid_from_reply(text[0])
            self.assertIsNotNone(qid, text)
            self.assertEqual(c.cmd("QUIT")[0], 221)
        finally:
            c.close()
        for user in ("alice", "bob"):
            files = self.inst.wait_for_delivery(user, 1)
            self.assertEqual(len(files), 1, user)
            with open(files[0], "rb") as f:
                self.assert_tern_delivery(f.read(), msg, "pipe@client.test",
                                          "%s@test.example" % user, qid)
        self.assertEqual(self.inst.all_delivered(), {"alice": 1, "bob": 1})

    def test_8bitmime(self):
        body = [bytes(range(0x80, 0xc0)), bytes(range(0xc0, 0x100)),
                "Grüße aus Köln — naïve café, 日本語テキスト, emoji \U0001F600"
                .encode("utf-8"), b"end."]
        msg = (b"From: sender@client.test\r\nTo: alice@test.example\r\n"
               b"Subject: 8bit\r\nMIME-Version: 1.0\r\n"
               b"Content-Type: text/plain; charset=utf-8\r\n"
               b"Content-Transfer-Encoding: 8bit\r\n\r\n"
               + b"\r\n".join(body) + b"\r\n")
        with smtp_connect(self.inst) as s:
            s.ehlo()
            self.assertTrue(s.has_extn("8bitmime"), "8BITMIME not advertised")
            code, _ = s.mail("sender@client.test", ["BODY=8BITMIME"])
            self.assertEqual(code, 250)
            self.assertEqual(s.rcpt("alice@test.example")[0], 250)
            code, text = s.data(msg)
            self.assertEqual(code, 250, text)
            qid = qid_from_reply(text)
        files = self.inst.wait_for_delivery("alice", 1)
        with open(files[0], "rb") as f:
            self.assert_tern_delivery(f.read(), msg, "sender@client.test",
                                      "alice@test.example", qid)
