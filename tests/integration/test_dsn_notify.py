"""
DSN (RFC 3461) on the server side: the parameters are accepted, kept in
the queue, passed to a next hop that supports DSN, and honoured in
notifications (a "relayed" report when the next hop lacks DSN and
SUCCESS was asked; no bounce for NOTIFY=NEVER).
"""

import email
import email.policy
import time

from sink import Sink
from tern_harness import TernTestCase, free_port, smtp_connect

MSG = (b"From: alice@test.example\r\nTo: x@remote.test\r\n"
       b"Subject: dsn test\r\n\r\nbody\r\n")


class TestDsn(TernTestCase):

    def setup_pair(self, dsn):
        port = free_port("127.0.0.2")
        sink = Sink("127.0.0.2", port, dsn=dsn).start()
        self.addCleanup(sink.stop)
        inst = self.instance(relayhost="[127.0.0.2]:%d" % port,
                             delay_warning_time="0")
        return sink, inst

    def send(self, inst, rcpts, mail_opts, rcpt_opts):
        with smtp_connect(inst) as s:
            code, text = s.ehlo()
            self.assertIn(b"DSN", text, "DSN not advertised")
            self.assertEqual(s.mail("alice@test.example", mail_opts)[0],
                             250)
            for r in rcpts:
                code, text = s.rcpt(r, rcpt_opts)
                self.assertEqual(code, 250, text)
            code, text = s.data(MSG)
            self.assertEqual(code, 250, text)

    def test_passed_on_to_dsn_server(self):
        sink, inst = self.setup_pair(dsn=True)
        self.send(inst, ["x@remote.test"], ["RET=HDRS", "ENVID=abc+2B1"],
                  ["NOTIFY=SUCCESS,FAILURE", "ORCPT=rfc822;o@remote.test"])
        sink.wait_messages(1, timeout=20)
        inst.wait_queue_empty(10)
        time.sleep(1)
        m = sink.messages[0]
        self.assertEqual(m.dsn_mail.get("RET"), "HDRS")
        self.assertEqual(m.dsn_mail.get("ENVID"), "abc+2B1")
        self.assertEqual(m.dsn_rcpt[0].get("NOTIFY"), "SUCCESS,FAILURE")
        self.assertEqual(m.dsn_rcpt[0].get("ORCPT"), "rfc822;o@remote.test")
        # The next hop reports success itself: no report from us.
        self.assertEqual(inst.all_delivered(), {})

    def test_relayed_report_when_next_hop_lacks_dsn(self):
        sink, inst = self.setup_pair(dsn=False)
        self.send(inst, ["x@remote.test"], [], ["NOTIFY=SUCCESS"])
        sink.wait_messages(1, timeout=20)
        inst.wait_for_delivery("alice", 1, timeout=20)
        rep = email.message_from_bytes(inst.maildir_messages("alice")[0],
                                       policy=email.policy.compat32)
        self.assertEqual(rep.get_content_type(), "multipart/report")
        status = [p for p in rep.get_payload()
                  if p.get_content_type() == "message/delivery-status"][0]
        r = status.get_payload()[1]
        self.assertEqual(r["Action"], "relayed")
        self.assertEqual(r["Final-Recipient"], "rfc822; x@remote.test")
        self.assertTrue(r["Status"].startswith("2."))

    def test_notify_never_no_bounce(self):
        sink, inst = self.setup_pair(dsn=False)
        sink.rcpt_replies["x@remote.test"] = "550 5.1.1 no"
        sink.rcpt_replies["y@remote.test"] = "550 5.1.1 no"
        with smtp_connect(inst) as s:
            s.ehlo()
            s.mail("alice@test.example")
            self.assertEqual(s.rcpt("x@remote.test", ["NOTIFY=NEVER"])[0],
                             250)
            self.assertEqual(s.rcpt("y@remote.test")[0], 250)
            self.assertEqual(s.data(MSG)[0], 250)
        inst.wait_for_delivery("alice", 1, timeout=20)
        inst.wait_queue_empty(10)
        time.sleep(1)
        self.assertEqual(inst.all_delivered(), {"alice": 1})
        rep = email.message_from_bytes(inst.maildir_messages("alice")[0],
                                       policy=email.policy.compat32)
        status = [p for p in rep.get_payload()
                  if p.get_content_type() == "message/delivery-status"][0]
        rcpts = status.get_payload()[1:]
        self.assertEqual([r["Final-Recipient"] for r in rcpts],
                         ["rfc822; y@remote.test"])
