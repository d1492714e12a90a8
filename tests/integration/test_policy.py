"""
Recipient and size policy: unknown users, relaying from mynetworks,
message_size_limit, smtpd_recipient_limit.  Each checks where mail lands.
"""

import os
import smtplib
import time

from sink import Sink
from tern_harness import (TernTestCase, free_port, RawSMTP, qid_from_reply,
                          smtp_connect,
                          wait_until)

SMALL = (b"From: a@client.test\r\nTo: alice@test.example\r\n"
         b"Subject: small\r\n\r\nsmall body\r\n")


class TestRecipients(TernTestCase):

    def test_unknown_local_user(self):
        inst = self.instance()
        with smtp_connect(inst) as s:
            s.ehlo()
            self.assertEqual(s.mail("a@client.test")[0], 250)
            code, text = s.rcpt("nosuchuser@test.example")
            self.assertEqual(code, 550, text)
            self.assertTrue(text.startswith(b"5.1.1"), text)
            code, text = s.rcpt("nosuchuser@localhost")
            self.assertEqual(code, 550, text)
            self.assertTrue(text.startswith(b"5.1.1"), text)
            self.assertEqual(s.rcpt("alice@test.example")[0], 250)
            code, text = s.data(SMALL)
            self.assertEqual(code, 250, text)
        inst.wait_for_delivery("alice", 1)
        inst.wait_queue_empty(10)
        self.assertEqual(inst.all_delivered(), {"alice": 1})
        self.assertNotIn("nosuchuser", os.listdir(inst.mailboxes))

    def test_alias_expansion(self):
        inst = self.instance(aliases={"team": "alice, bob",
                                      "postmaster": "carol"})
        with smtp_connect(inst) as s:
            s.sendmail("a@client.test", ["team@test.example",
                                         "postmaster@test.example"], SMALL)
        for u in ("alice", "bob", "carol"):
            inst.wait_for_delivery(u, 1)
        inst.wait_queue_empty(10)
        time.sleep(0.5)
        self.assertEqual(inst.all_delivered(),
                         {"alice": 1, "bob": 1, "carol": 1})

    def test_relay_from_mynetworks_reaches_next_hop(self):
        port = free_port("127.0.0.2")
        sink = Sink("127.0.0.2", port).start()
        self.addCleanup(sink.stop)
        inst = self.instance(relayhost="[127.0.0.2]:%d" % port)
        with smtp_connect(inst) as s:
            s.ehlo()
            self.assertEqual(s.mail("a@client.test")[0], 250)
            code, text = s.rcpt("someone@remote.example")
            self.assertEqual(code, 250, text)
            code, text = s.data(SMALL)
            self.assertEqual(code, 250, text)
            qid = qid_from_reply(text)
            self.assertIsNotNone(qid, text)
        [m] = sink.wait_messages(1)
        self.assertEqual(m.rcpt_tos, ["someone@remote.example"])
        self.assertIn(qid.encode(), m.data)
        self.assertEqual(inst.all_delivered(), {})
        inst.wait_queue_empty(10)
        self.assertRegex(inst.log(), r"%s: to=<someone@remote\.example>, "
                         r"relay=127\.0\.0\.2\[127\.0\.0\.2\]:%d, .*"
                         r"status=sent" % (qid, port))

    def test_relay_denied_outside_mynetworks(self):
        # 127.0.0.2 is a loopback address outside mynetworks.
        inst = self.instance(mynetworks="127.0.0.1/32")
        s = smtplib.SMTP("127.0.0.1", inst.port, local_hostname="outside.test",
                         timeout=30, source_address=("127.0.0.2", 0))
        try:
            s.ehlo()
            self.assertEqual(s.mail("a@outside.test")[0], 250)
            code, text = s.rcpt("someone@remote.example")
            self.assertEqual(code, 554, text)
            self.assertTrue(text.startswith(b"5.7.1"), text)
            # Mail for our own domains is still welcome.
            self.assertEqual(s.rcpt("alice@test.example")[0], 250)
            code, text = s.data(SMALL)
            self.assertEqual(code, 250, text)
            s.quit()
        finally:
            s.close()
        inst.wait_for_delivery("alice", 1)
        inst.wait_queue_empty(10)
        self.assertEqual(inst.all_delivered(), {"alice": 1})
        # The refused recipient is not part of the queued message.
        self.assertRegex(inst.log(), r"[0-9A-F]{16}: from=<a@outside\.test>, "
                         r"size=\d+, nrcpt=1\b")


class TestSizeLimit(TernTestCase):

    def setUp(self):
        self.inst = self.instance(message_size_limit="10k")

    def test_size_parameter_too_big(self):
        with smtp_connect(self.inst) as s:
            s.ehlo()
            self.assertTrue(s.has_extn("size"), "SIZE not advertised")
            self.assertEqual(s.esmtp_features["size"].strip(), "10240")
            code, text = s.mail("a@client.test", ["SIZE=20000"])
            self.assertEqual(code, 552, text)
            self.assertTrue(text.startswith(b"5.3.4"), text)
            # A message that fits still goes through on the same session.
            s.rset()
            self.assertEqual(s.mail("a@client.test", ["SIZE=500"])[0], 250)
            self.assertEqual(s.rcpt("alice@test.example")[0], 250)
            code, text = s.data(SMALL)
            self.assertEqual(code, 250, text)
        self.inst.wait_for_delivery("alice", 1)
        time.sleep(1)
        self.assertEqual(self.inst.all_delivered(), {"alice": 1})

    def test_data_too_big(self):
        big = SMALL + (b"y" * 70 + b"\r\n") * 300   # ~21k
        c = RawSMTP(self.inst.port)
        try:
            self.assertEqual(c.reply()[0], 220)
            self.assertEqual(c.cmd("EHLO client.test")[0], 250)
            self.assertEqual(c.cmd("MAIL FROM:<a@client.test>")[0], 250)
            self.assertEqual(c.cmd("RCPT TO:<alice@test.example>")[0], 250)
            self.assertEqual(c.cmd("DATA")[0], 354)
            c.send(big + b".\r\n")
            code, text = c.reply()
            self.assertEqual(code, 552, text)
            self.assertTrue(text[0].startswith("5.3.4"), text)
            # The session is still in step: the next command's reply is
            # the next thing we read.
            self.assertEqual(c.cmd("RSET")[0], 250)
            self.assertEqual(c.cmd("QUIT")[0], 221)
        finally:
            c.close()
        time.sleep(2)
        self.assertEqual(self.inst.all_delivered(), {})
        wait_until(lambda: not self.inst.msg_files(), 10,
                   what="no leftover in spool/msg")
        wait_until(lambda: not self.inst.spool_files("incoming"), 10,
                   what="no leftover in spool/incoming")


class TestRecipientLimit(TernTestCase):
    time_limit = 200

    def test_1001st_rcpt(self):
        users = ["u%04d" % i for i in range(1001)]
        inst = self.instance(users=users, smtpd_recipient_limit="1000",
                             start=False)
        inst.start()
        c = RawSMTP(inst.port, timeout=60)
        try:
            self.assertEqual(c.reply()[0], 220)
            self.assertEqual(c.cmd("EHLO client.test")[0], 250)
            self.assertEqual(c.cmd("MAIL FROM:<many@client.test>")[0], 250)
            # Pipelined in chunks of 100.
            codes = []
            for start in range(0, 1001, 100):
                chunk = users[start:start + 100]
                c.send("".join("RCPT TO:<%s@test.example>\r\n" % u
                               for u in chunk))
                codes.extend(c.reply() for _ in chunk)
            for i, (code, text) in enumerate(codes[:1000]):
                self.assertEqual(code, 250, "RCPT #%d: %r" % (i + 1, text))
            self.assertEqual(codes[1000][0], 452, codes[1000])
            self.assertTrue(codes[1000][1][0].startswith("4.5.3"), codes[1000])
            self.assertEqual(c.cmd("DATA")[0], 354)
            c.send(SMALL + b".\r\n")
            code, text = c.reply()
            self.assertEqual(code, 250, text)
            self.assertEqual(c.cmd("QUIT")[0], 221)
        finally:
            c.close()
        wait_until(lambda: sum(1 for u in users[:1000]
                               if inst.maildir_files(u)) == 1000, 120,
                   interval=0.5, what="delivery to all 1000 recipients")
        inst.wait_queue_empty(30)
        counts = inst.all_delivered()
        self.assertNotIn("u1000", counts, "1001st recipient got the message")
        self.assertEqual(set(counts.values()), {1})
        self.assertEqual(len(counts), 1000)

    def test_repeated_rcpt_counts_toward_limit(self):
        # Every accepted RCPT counts, as in Postfix: repeating one
        # address is no way around smtpd_recipient_limit.
        inst = self.instance(smtpd_recipient_limit="5")
        c = RawSMTP(inst.port)
        try:
            self.assertEqual(c.reply()[0], 220)
            self.assertEqual(c.cmd("EHLO client.test")[0], 250)
            self.assertEqual(c.cmd("MAIL FROM:<a@client.test>")[0], 250)
            c.send("RCPT TO:<alice@test.example>\r\n" * 8)
            codes = [c.reply() for _ in range(8)]
            self.assertEqual([code for code, _ in codes],
                             [250] * 5 + [452] * 3, codes)
            self.assertEqual(codes[5][1], ["4.5.3 Error: too many "
                                           "recipients"])
            # A new transaction starts counting afresh.
            self.assertEqual(c.cmd("RSET")[0], 250)
            self.assertEqual(c.cmd("MAIL FROM:<a@client.test>")[0], 250)
            self.assertEqual(c.cmd("RCPT TO:<bob@test.example>")[0], 250)
            self.assertEqual(c.cmd("DATA")[0], 354)
            c.send(SMALL + b".\r\n")
            self.assertEqual(c.reply()[0], 250)
            self.assertEqual(c.cmd("QUIT")[0], 221)
        finally:
            c.close()
        inst.wait_for_delivery("bob", 1)
        inst.wait_queue_empty(15)
        self.assertEqual(inst.all_delivered(), {"bob": 1})

    def test_repeated_rcpt_needs_no_lookup(self):
        # An address already accepted in this transaction is answered
        # without asking lookupd again: with lookupd gone, the repeat
        # still gets 250 while a new address cannot be looked up.
        inst = self.instance()
        c = RawSMTP(inst.port)
        try:
            self.assertEqual(c.reply()[0], 220)
            self.assertEqual(c.cmd("EHLO client.test")[0], 250)
            self.assertEqual(c.cmd("MAIL FROM:<a@client.test>")[0], 250)
            self.assertEqual(c.cmd("RCPT TO:<alice@test.example>")[0], 250)
            pids = inst.pids("tern-lookupd")
            self.assertEqual(len(pids), 1, pids)
            os.kill(pids[0], 9)
            wait_until(lambda: pids[0] not in inst.pids("tern-lookupd"), 10,
                       what="tern-lookupd to die")
            code, text = c.cmd("RCPT TO:<bob@test.example>")
            self.assertEqual(code, 451, text)
            code, text = c.cmd("RCPT TO:<alice@test.example>")
            self.assertEqual(code, 250, text)
            self.assertEqual(c.cmd("DATA")[0], 354)
            c.send(SMALL + b".\r\n")
            self.assertEqual(c.reply()[0], 250)
            self.assertEqual(c.cmd("QUIT")[0], 221)
        finally:
            c.close()
        inst.wait_for_delivery("alice", 1)
        inst.wait_queue_empty(30)
        self.assertEqual(inst.all_delivered(), {"alice": 1})
