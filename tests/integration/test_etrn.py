"""
ETRN (RFC 1985): a client in mynetworks asks for the deferred mail of one
domain and gets it (250), and only that domain's; "@domain" takes its
subdomains too; 251 when nothing waits; 458 for a named queue ("#q");
459 for a client outside mynetworks, whose ETRN never reaches queued.
The mail is checked where it lands: at the sink that appears after the
first deferral.
"""

import re
import smtplib

from sink import Sink
from tern_harness import (TernTestCase, free_port, qid_from_reply,
                          wait_until)

BODY = (b"From: alice@test.example\r\nTo: x@remote.test\r\n"
        b"Subject: etrn test\r\n\r\nline one\r\n")

TRUSTED = "127.0.0.2"       # the only client address in mynetworks


def connect(inst, source):
    return smtplib.SMTP(inst.listen_host, inst.port,
                        local_hostname="client.test", timeout=30,
                        source_address=(source, 0))


def send(inst, rcpt):
    with connect(inst, TRUSTED) as s:
        s.ehlo()
        s.mail("alice@test.example")
        code, text = s.rcpt(rcpt)
        assert code == 250, (code, text)
        code, text = s.data(BODY)
        assert code == 250, (code, text)
        return qid_from_reply(text)


def etrn(inst, arg, source=TRUSTED):
    with connect(inst, source) as s:
        code, text = s.ehlo()
        assert b"\nETRN" in text, text
        return s.docmd("ETRN", arg)


class TestEtrn(TernTestCase):

    def deferrals(self, inst, qid):
        return len(re.findall(r"%s: to=<[^>]*>.*status=deferred" % qid,
                              inst.log()))

    def sent(self, inst, qid):
        return re.search(r"%s: to=<[^>]*>.*status=sent" % qid,
                         inst.log()) is not None

    def test_etrn_flushes_only_the_named_domain_from_mynetworks(self):
        port = free_port("127.0.0.3")
        # Nothing listens yet: mail is deferred, and tried again only
        # when asked (the backoff is an hour).
        inst = self.instance(relayhost="[127.0.0.3]:%d" % port,
                             mynetworks="%s/32" % TRUSTED,
                             minimal_backoff_time="1h",
                             maximal_backoff_time="2h",
                             delay_warning_time="0")
        a = send(inst, "x@remote.test")
        b = send(inst, "y@mx.other.test")
        wait_until(lambda: self.deferrals(inst, a) == 1 and
                   self.deferrals(inst, b) == 1, 30,
                   what="the first deferral of both")
        sink = Sink("127.0.0.3", port).start()
        self.addCleanup(sink.stop)

        # A client outside mynetworks is refused, and queued never hears.
        code, text = etrn(inst, "remote.test", source="127.0.0.1")
        self.assertEqual(code, 459, text)
        self.assertIn(b"Node remote.test not allowed", text)
        self.assertNotIn("ETRN remote.test:", inst.log())

        # No named queues: 458, as RFC 1985 has for a node it cannot queue.
        code, text = etrn(inst, "#somequeue")
        self.assertEqual(code, 458, text)

        # Nothing waits for this one.
        code, text = etrn(inst, "nothing.test")
        self.assertEqual(code, 251, text)
        self.assertIn(b"no messages waiting for node nothing.test", text)

        # The named domain's message goes; the other one stays deferred.
        code, text = etrn(inst, "Remote.Test")
        self.assertEqual(code, 250, text)
        self.assertIn(b"queuing for node remote.test started", text)
        sink.wait_messages(1)
        self.assertEqual(sink.recipients(), ["x@remote.test"])
        wait_until(lambda: self.sent(inst, a), 30, what="a's sent line")
        self.assertIn("ETRN remote.test: 1 message due now", inst.log())
        self.assertEqual(self.deferrals(inst, b), 1)
        self.assertFalse(self.sent(inst, b))

        # "other.test" alone is not mx.other.test; "@other.test" is.
        code, text = etrn(inst, "other.test")
        self.assertEqual(code, 251, text)
        code, text = etrn(inst, "@other.test")
        self.assertEqual(code, 250, text)
        sink.wait_messages(2)
        self.assertEqual(sink.recipients(),
                         ["x@remote.test", "y@mx.other.test"])
        inst.wait_queue_empty()
        code, text = etrn(inst, "remote.test")
        self.assertEqual(code, 251, text)

    def test_etrn_syntax_and_sequence_errors(self):
        inst = self.instance()
        with connect(inst, "127.0.0.1") as s:
            self.assertEqual(s.docmd("ETRN", "remote.test")[0], 503)
            s.ehlo()
            self.assertEqual(s.docmd("ETRN")[0], 501)
            self.assertEqual(s.docmd("ETRN", "[127.0.0.1]")[0], 501)
            self.assertEqual(s.docmd("ETRN", "a..b")[0], 501)
            s.mail("alice@test.example")
            code, text = s.docmd("ETRN", "remote.test")
            self.assertEqual(code, 503, text)
            self.assertIn(b"MAIL transaction in progress", text)
