"""
CHUNKING / BDAT (RFC 3030) in smtpd, over a raw socket: a message in
several chunks (a CRLF split across two, a line that starts with a dot,
8-bit octets, an empty BDAT LAST) lands in the Maildir byte for byte, and
a message with a bare LF lands exactly as the same message sent by DATA;
the RFC's errors: BDAT without MAIL or without recipients (its data is
read, never taken for commands), DATA after BDAT, BDAT after a failed
chunk, a chunk past message_size_limit, a chunk size smaller than the
data (the rest is commands) and a connection cut mid-chunk (nothing is
delivered, nothing stays in the spool).  And the smtp client: tern ->
tern sends a message of several MiB in BDAT chunks, byte for byte.
"""

import re

from tern_harness import (RawSMTP, TernTestCase, free_port, qid_from_reply,
                          smtp_connect, split_delivered, wait_until)

MSG = (b"From: alice@test.example\r\nTo: bob@test.example\r\n"
       b"Subject: chunks\r\n\r\nfirst line\r\n.a line with a dot\r\n"
       b"\xc3\xa9t\xc3\xa9 8-bit\r\n.\r\nlast line\r\n")


def session(inst):
    s = RawSMTP(inst.port, inst.listen_host)
    code, _ = s.reply()
    assert code == 220
    code, texts = s.cmd("EHLO client.test")
    assert code == 250 and "CHUNKING" in texts, texts
    return s


def transaction(s, rcpt="bob@test.example"):
    assert s.cmd("MAIL FROM:<alice@test.example>")[0] == 250
    assert s.cmd("RCPT TO:<%s>" % rcpt)[0] == 250


def bdat(s, data, last=False):
    s.send(b"BDAT %d%s\r\n" % (len(data), b" LAST" if last else b"") + data)
    return s.reply()


class TestBdat(TernTestCase):

    def test_bdat_chunks_delivered_byte_for_byte(self):
        inst = self.instance()
        s = session(inst)
        transaction(s)
        # Cut after a CR, inside a line, and right before a dot.
        cuts = [MSG.index(b"\r\n\r\n") + 1, MSG.index(b"first") + 3,
                MSG.index(b".a line"), MSG.index(b"\xa9t")]
        prev = 0
        for cut in cuts:
            code, texts = bdat(s, MSG[prev:cut])
            self.assertEqual(code, 250, texts)
            self.assertIn("%d octets received" % (cut - prev), texts[0])
            prev = cut
        self.assertEqual(bdat(s, MSG[prev:])[0], 250)
        code, texts = bdat(s, b"", last=True)
        self.assertEqual(code, 250, texts)
        qid = qid_from_reply(texts[0])
        self.assertIsNotNone(qid)
        s.cmd("QUIT")
        s.close()
        (path,) = inst.wait_for_delivery("bob")
        with open(path, "rb") as f:
            self.assert_tern_delivery(f.read(), MSG, "alice@test.example",
                                      "bob@test.example", qid)
        self.assertRegex(inst.log(), r"disconnect from .* bdat=6 ")

    def test_bdat_stores_what_data_stores(self):
        inst = self.instance()
        msg = b"Subject: bare\r\n\r\none\ntwo\r\nthree\r\n"
        s = session(inst)
        transaction(s)
        self.assertEqual(bdat(s, msg[:20])[0], 250)
        self.assertEqual(bdat(s, msg[20:], last=True)[0], 250)
        # DATA and BDAT may share a session, not a transaction.
        transaction(s)
        self.assertEqual(s.cmd("DATA")[0], 354)
        s.send(msg + b".\r\n")
        self.assertEqual(s.reply()[0], 250)
        s.cmd("QUIT")
        s.close()
        paths = inst.wait_for_delivery("bob", 2)
        bodies = []
        for p in paths:
            with open(p, "rb") as f:
                bodies.append(split_delivered(f.read())[1])
        self.assertEqual(bodies[0], bodies[1])
        self.assertEqual(bodies[0], msg.replace(b"\r\n", b"\n"))

    def test_bdat_refused_without_transaction_reads_its_data(self):
        inst = self.instance()
        s = session(inst)
        # The data looks like commands: it must be read, not obeyed.
        payload = b"RCPT TO:<bob@test.example>\r\n"
        code, texts = bdat(s, payload, last=True)
        self.assertEqual(code, 503, texts)
        self.assertIn("need MAIL", texts[0])
        self.assertEqual(s.cmd("NOOP")[0], 250)
        # A recipient refused: no valid recipients.
        self.assertEqual(s.cmd("MAIL FROM:<alice@test.example>")[0], 250)
        self.assertEqual(s.cmd("RCPT TO:<nobody@test.example>")[0], 550)
        code, texts = bdat(s, payload, last=True)
        self.assertEqual(code, 554, texts)
        self.assertEqual(s.cmd("RSET")[0], 250)
        # After HELO CHUNKING was never offered.
        self.assertEqual(s.cmd("HELO client.test")[0], 250)
        self.assertEqual(bdat(s, payload)[0], 503)
        self.assertEqual(s.cmd("NOOP")[0], 250)
        s.cmd("QUIT")
        s.close()
        self.assertEqual(inst.all_delivered(), {})
        self.assertEqual(inst.msg_files(), [])

    def test_data_after_bdat_and_bdat_after_failure_get_503(self):
        inst = self.instance()
        s = session(inst)
        transaction(s)
        self.assertEqual(bdat(s, b"Subject: x\r\n\r\n")[0], 250)
        code, texts = s.cmd("DATA")
        self.assertEqual(code, 503, texts)
        # The transaction failed: a further chunk is read and refused.
        code, texts = bdat(s, b"body\r\n", last=True)
        self.assertEqual(code, 503, texts)
        self.assertIn("earlier BDAT failed", texts[0])
        self.assertEqual(s.cmd("NOOP")[0], 250)
        self.assertEqual(s.cmd("RSET")[0], 250)
        # After RSET the session is whole again.
        transaction(s)
        self.assertEqual(bdat(s, b"Subject: y\r\n\r\nok\r\n", last=True)[0],
                         250)
        # A BDAT after LAST has no transaction.
        self.assertEqual(bdat(s, b"more\r\n")[0], 503)
        s.cmd("QUIT")
        s.close()
        (path,) = inst.wait_for_delivery("bob")
        with open(path, "rb") as f:
            self.assertEqual(split_delivered(f.read())[1],
                             b"Subject: y\n\nok\n")
        inst.wait_queue_empty()

    def test_bdat_past_size_limit_gets_552_and_nothing_stays(self):
        inst = self.instance(message_size_limit="2000")
        s = session(inst)
        transaction(s)
        line = b"x" * 98 + b"\r\n"
        self.assertEqual(bdat(s, line * 10)[0], 250)
        code, texts = bdat(s, line * 15)
        self.assertEqual(code, 552, texts)
        self.assertEqual(bdat(s, line, last=True)[0], 503)
        self.assertEqual(s.cmd("RSET")[0], 250)
        s.cmd("QUIT")
        s.close()
        self.assertEqual(inst.all_delivered(), {})
        inst.wait_queue_empty()

    def test_chunk_size_smaller_than_data_leaves_the_rest_as_commands(self):
        inst = self.instance()
        s = session(inst)
        transaction(s)
        s.send(b"BDAT 5 LAST\r\nhello world\r\n")
        code, texts = s.reply()
        self.assertEqual(code, 250, texts)
        qid = qid_from_reply(texts[0])
        code, texts = s.reply()      # " world" is a command line
        self.assertEqual(code, 500, texts)
        s.cmd("QUIT")
        s.close()
        (path,) = inst.wait_for_delivery("bob")
        with open(path, "rb") as f:
            self.assert_tern_delivery(f.read(), b"hello\r\n",
                                      "alice@test.example",
                                      "bob@test.example", qid)

    def test_connection_cut_mid_chunk_delivers_nothing(self):
        inst = self.instance()
        s = session(inst)
        transaction(s)
        self.assertEqual(bdat(s, b"Subject: cut\r\n\r\n")[0], 250)
        s.send(b"BDAT 100 LAST\r\n" + b"y" * 50)
        s.close()
        wait_until(lambda: "lost connection after BDAT" in inst.log(), 30,
                   what="the lost connection line")
        qid = re.search(r"(\w+): client=", inst.log()).group(1)
        wait_until(lambda: not inst.msg_files(), 30,
                   what="the aborted file to go")
        self.assertNotRegex(inst.log(), r"%s: from=" % qid)
        self.assertEqual(inst.all_delivered(), {})


class TestBdatClient(TernTestCase):
    """The smtp client uses BDAT when the next hop offers CHUNKING."""

    def test_tern_to_tern_sends_bdat_chunks_byte_for_byte(self):
        port = free_port("127.0.0.2")
        b = self.instance(listen_host="127.0.0.2", port=port)
        a = self.instance(hostname="a.example",
                          relayhost="[127.0.0.2]:%d" % port)
        # Over two chunks of 1 MiB, with lines that start with a dot.
        line = b".dot " + b"x" * 90 + b"\r\n"
        msg = (b"From: alice@a.example\r\nTo: bob@test.example\r\n"
               b"Subject: big\r\n\r\n" + line * 26000 + b"end\r\n")
        with smtp_connect(a) as s:
            s.sendmail("alice@a.example", ["bob@test.example"], msg)
        (path,) = b.wait_for_delivery("bob")
        with open(path, "rb") as f:
            fields, rest = split_delivered(f.read())
        self.assertTrue(rest.endswith(msg.replace(b"\r\n", b"\n")))
        # a keeps the connection for the next message; stopped, it says
        # QUIT, and b logs what the session was.
        a.stop()
        done = r"disconnect from \S+\[127\.0\.0\.1\] ehlo=1 mail=1 "
        wait_until(lambda: re.search(done, b.log()), 30,
                   what="the end of a's session at b")
        self.assertRegex(b.log(), done + r"rcpt=1 bdat=3 quit=1 ")
