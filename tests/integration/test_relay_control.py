"""
Relay control on port 25: from a client outside mynetworks (127.0.0.2 with
mynetworks = 127.0.0.1/32) every classic relay trick is refused and
nothing is queued for another domain; inside mynetworks, for
relay_domains, or after AUTH (smtpd_auth_on_smtp), relaying works.

Mail for other domains goes through relayhost to an aiosmtpd sink on
127.0.0.3, standing for the rest of the Internet: what relays reaches it,
what must not relay never does.
"""

import smtplib

from sink import Sink
from tern_harness import (TernTestCase, QID_PATTERN, free_port,
                          qid_from_reply)
from tern_tls import client_context, plain_b64, raw_from, secure_instance

MSG = (b"From: a@outside.test\r\nTo: alice@test.example\r\n"
       b"Subject: relay\r\n\r\nbody\r\n")

# (RCPT argument, the code it must get).  550: an unknown user in our
# own domain (the parser decided the domain is ours; the strange local
# part is no mailbox); 554 5.7.1: another domain; 501: not an address.
TRICKS = [
    ("<user%other.example@test.example>", 550),
    ('<"user@other.example"@test.example>', 550),
    ("<@test.example:user@other.example>", 554),
    ("<other.example!user@test.example>", 550),
    ("<user@other.example@test.example>", 501),
    ("<user@other.example.>", 554),
    ("<user@OTHER.Example>", 554),
    ("<user@[127.0.0.1]>", 554),
    ("<user@[IPv6:::1]>", 554),
    ("<user%other.example@[127.0.0.1]>", 554),
    ("<user@other.example.@test.example>", 501),
    ('<"user%other.example"@test.example>', 550),
    ("<USER%other.example@TEST.EXAMPLE.>", 550),
]


class TestRelay(TernTestCase):

    def sink_instance(self, **kw):
        port = free_port("127.0.0.3")
        self.sink = Sink("127.0.0.3", port).start()
        self.addCleanup(self.sink.stop)
        return self.instance(relayhost="[127.0.0.3]:%d" % port, **kw)

    def outside(self, inst, port=None):
        return smtplib.SMTP("127.0.0.1", port or inst.port,
                            local_hostname="outside.test", timeout=30,
                            source_address=("127.0.0.2", 0))

    def test_relay_tricks_refused_outside_mynetworks(self):
        inst = self.sink_instance(mynetworks="127.0.0.1/32")
        c = raw_from(inst.port, "127.0.0.2")
        try:
            self.assertEqual(c.reply()[0], 220)
            self.assertEqual(c.cmd("EHLO outside.test")[0], 250)
            self.assertEqual(c.cmd("MAIL FROM:<a@outside.test>")[0], 250)
            for rcpt, want in TRICKS:
                code, texts = c.cmd("RCPT TO:%s" % rcpt)
                self.assertEqual(code, want, "%s: %r" % (rcpt, texts))
                if want == 554:
                    self.assertRegex(texts[0], r"^5\.7\.1 <.*>: Relay "
                                     r"access denied$")
            # A real local recipient, so a message is queued at all.
            self.assertEqual(c.cmd("RCPT TO:<alice@test.example>")[0], 250)
            self.assertEqual(c.cmd("DATA")[0], 354)
            c.send(MSG + b".\r\n")
            code, texts = c.reply()
            self.assertEqual(code, 250, texts)
            qid = qid_from_reply(texts[0])
            c.cmd("QUIT")
        finally:
            c.close()
        inst.wait_for_delivery("alice", 1)
        inst.wait_queue_empty(15)
        log = inst.log()
        self.assertRegex(log, r"%s: from=<a@outside\.test>, size=\d+, "
                         r"nrcpt=1\b" % qid)
        # No queued message has a recipient in another domain.
        self.assertNotRegex(log, r"%s: to=<[^>]*(other\.example|\[)"
                            % QID_PATTERN)
        self.assertEqual(inst.all_delivered(), {"alice": 1})
        self.assertEqual(self.sink.messages, [], "a relay trick relayed")
        # Postfix's reject line, which log tools and fail2ban read.
        self.assertRegex(log, r"NOQUEUE: reject: RCPT from unknown\["
                         r"127\.0\.0\.2\]: 554 5\.7\.1 <user@other\.example>: "
                         r"Relay access denied; from=<a@outside\.test> "
                         r"to=<user@other\.example> proto=ESMTP "
                         r"helo=<outside\.test>")

    def test_relay_inside_mynetworks_and_relay_domains(self):
        inst = self.sink_instance(mynetworks="127.0.0.1/32",
                                  relay_domains="relayed.example")
        # Inside mynetworks (127.0.0.1): any domain.
        with smtplib.SMTP("127.0.0.1", inst.port, local_hostname="in.test",
                          timeout=30) as s:
            s.ehlo()
            s.mail("a@in.test")
            self.assertEqual(s.rcpt("x@anywhere.example")[0], 250)
            code, text = s.data(MSG)
            self.assertEqual(code, 250, text)
            qid1 = qid_from_reply(text)
        # Outside: relay_domains yes (any case, trailing dot), others no.
        s = self.outside(inst)
        try:
            s.ehlo()
            s.mail("a@outside.test")
            self.assertEqual(s.rcpt("y@RELAYED.example.")[0], 250)
            self.assertEqual(s.rcpt("y@sub.relayed.example")[0], 554)
            self.assertEqual(s.rcpt("y@anywhere.example")[0], 554)
            code, text = s.data(MSG)
            self.assertEqual(code, 250, text)
            qid2 = qid_from_reply(text)
            s.quit()
        finally:
            s.close()
        self.sink.wait_messages(2)
        got = {(qid, r) for m in self.sink.messages for r in m.rcpt_tos
               for qid in (qid1, qid2) if qid.encode() in m.data}
        self.assertEqual(got, {(qid1, "x@anywhere.example"),
                               (qid2, "y@relayed.example")})
        inst.wait_queue_empty(15)
        self.assertNotRegex(inst.log(), r"%s: to=<y@anywhere\.example>"
                            % QID_PATTERN)

    def test_relay_after_auth_on_port_25(self):
        inst = secure_instance(self, mynetworks="127.0.0.1/32",
                               smtpd_auth_on_smtp="yes")
        c = raw_from(inst.port, "127.0.0.2")
        try:
            c.reply()
            c.cmd("EHLO outside.test")
            self.assertEqual(c.cmd("STARTTLS")[0], 220)
            c.sock = client_context().wrap_socket(c.sock)
            code, texts = c.cmd("EHLO outside.test")
            self.assertIn("AUTH PLAIN LOGIN", texts)
            self.assertEqual(c.cmd("MAIL FROM:<alice@test.example>")[0], 250)
            self.assertEqual(c.cmd("RCPT TO:<z@remote.example>")[0], 554)
            c.cmd("RSET")
            self.assertEqual(c.cmd("AUTH PLAIN " + plain_b64(
                "alice", "alice-secret"))[0], 235)
            self.assertEqual(c.cmd("MAIL FROM:<alice@test.example>")[0], 250)
            self.assertEqual(c.cmd("RCPT TO:<z@remote.example>")[0], 250)
            c.cmd("QUIT")
        finally:
            c.close()
