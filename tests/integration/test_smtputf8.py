"""
SMTPUTF8 (RFC 6531, 6532): tern -> tern with a UTF-8 sender and local
part, sent by Python's smtplib with the SMTPUTF8 parameter, lands in the
second tern's Maildir byte for byte, each hop's Received: saying
"with UTF8SMTP"; to a server that does not offer SMTPUTF8 such a message
bounces with 5.6.7 (RFC 6531 3.4) while an ASCII message still goes; a
UTF-8 domain is looked up in DNS by its A-label and the message reaches
an aiosmtpd that offers SMTPUTF8; and smtpd refuses UTF-8 addresses
without the parameter and malformed UTF-8 with it.
"""

import smtplib

from dns_harness import DnsServer, Zone
from sink import Sink
from tern_harness import (RawSMTP, TernTestCase, free_port, qid_from_reply,
                          split_delivered, unfold)

SENDER = "\u00e5lice@a.example"         # ålice
LOCAL = "j\u00f6rg"                     # jörg
BODY = ("From: \u00e5lice <\u00e5lice@a.example>\r\n"
        "To: j\u00f6rg@test.example\r\n"
        "Subject: Gr\u00fc\u00dfe\r\n\r\n"
        "\u00c7a va? \u4e2d\u6587\r\n").encode("utf-8")


def send(inst, sender, rcpt, body, utf8=True):
    with smtplib.SMTP(inst.listen_host, inst.port,
                      local_hostname="client.test", timeout=30) as s:
        s.ehlo()
        assert s.has_extn("smtputf8")
        opts = ["SMTPUTF8"] if utf8 else []
        code, text = s.mail(sender, opts)
        assert code == 250, (code, text)
        code, text = s.rcpt(rcpt)
        assert code == 250, (code, text)
        code, text = s.data(body)
        assert code == 250, (code, text)
        return qid_from_reply(text)


class TestSmtputf8(TernTestCase):

    def test_utf8_local_part_tern_to_tern_lands_in_maildir(self):
        port = free_port("127.0.0.2")
        b = self.instance(listen_host="127.0.0.2", port=port)
        b.add_user(LOCAL)
        a = self.instance(hostname="a.example",
                          relayhost="[127.0.0.2]:%d" % port)
        qid = send(a, SENDER, "%s@test.example" % LOCAL, BODY)
        (path,) = b.wait_for_delivery(LOCAL)
        with open(path, "rb") as f:
            data = f.read()
        fields, rest = split_delivered(data)
        self.assertEqual(fields[0], ("Return-Path: <%s>" % SENDER)
                         .encode("utf-8"))
        self.assertEqual(fields[1], ("Delivered-To: %s@test.example"
                                     % LOCAL).encode("utf-8"))
        recv_b = unfold(fields[2].decode("utf-8"))
        self.assertRegex(recv_b, r"\bby test\.example \(tern\) with "
                         r"UTF8SMTP id \w+")
        # a's own Received: comes next, then the message as sent.
        recv_a, _, msg = rest.partition(b"\n" + BODY.split(b"\r\n")[0])
        self.assertRegex(unfold(recv_a.decode("utf-8")),
                         r"^Received: from client\.test .*\bby a\.example "
                         r"\(tern\) with UTF8SMTP id %s\b" % qid)
        self.assertEqual(BODY.split(b"\r\n")[0] + msg,
                         BODY.replace(b"\r\n", b"\n"))

    def test_no_smtputf8_at_the_next_hop_bounces_with_5_6_7(self):
        port = free_port("127.0.0.3")
        sink = Sink("127.0.0.3", port, smtputf8=False).start()
        self.addCleanup(sink.stop)
        a = self.instance(hostname="a.example",
                          relayhost="[127.0.0.3]:%d" % port)
        qid = send(a, "alice@a.example", "%s@remote.test" % LOCAL, BODY)
        (path,) = a.wait_for_delivery("alice")
        with open(path, "rb") as f:
            bounce = f.read().decode("utf-8", "replace")
        self.assertIn("Status: 5.6.7", bounce)
        self.assertIn("does not support SMTPUTF8", bounce)
        self.assertRegex(a.log(), r"%s: to=<%s@remote\.test>.*dsn=5\.6\.7, "
                         r"status=bounced" % (qid, LOCAL))
        # An ASCII message without the parameter still goes there.
        send(a, "alice@a.example", "bob@remote.test",
             b"Subject: plain\r\n\r\nhi\r\n", utf8=False)
        sink.wait_messages(1)
        self.assertEqual(sink.recipients(), ["bob@remote.test"])
        self.assertNotIn("SMTPUTF8", sink.messages[0].mail_options)

    def test_bounce_to_a_utf8_sender_reaches_its_maildir(self):
        port = free_port("127.0.0.3")
        sink = Sink("127.0.0.3", port, smtputf8=False).start()
        self.addCleanup(sink.stop)
        a = self.instance(hostname="a.example",
                          relayhost="[127.0.0.3]:%d" % port)
        a.add_user(SENDER.split("@")[0])
        qid = send(a, SENDER, "%s@remote.test" % LOCAL, BODY)
        (path,) = a.wait_for_delivery(SENDER.split("@")[0])
        with open(path, "rb") as f:
            bounce = f.read()
        self.assertIn(b"Status: 5.6.7", bounce)
        self.assertIn(qid.encode(), bounce)
        self.assertEqual(sink.messages, [])

    def test_utf8_domain_is_resolved_by_its_a_label(self):
        port = free_port("127.0.0.4")
        zone = Zone().mx("xn--bcher-kva.test", "mx.xn--bcher-kva.test", 10) \
            .host("mx.xn--bcher-kva.test", "127.0.0.4")
        dns = DnsServer(zone).start()
        self.addCleanup(dns.cleanup)
        sink = Sink("127.0.0.4", port).start()
        self.addCleanup(sink.stop)
        a = self.instance(hostname="a.example", dns_servers=dns.address,
                          smtp_port=str(port))
        rcpt = "%s@b\u00fccher.test" % LOCAL
        send(a, SENDER, rcpt, BODY)
        sink.wait_messages(1)
        m = sink.messages[0]
        self.assertEqual(m.rcpt_tos, [rcpt])
        self.assertEqual(m.mail_from, SENDER)
        self.assertIn("SMTPUTF8", m.mail_options)
        self.assertTrue(m.data.endswith(BODY), m.data)

    def test_utf8_addresses_need_the_parameter_and_valid_utf8(self):
        inst = self.instance()
        inst.add_user(LOCAL)
        s = RawSMTP(inst.port)
        self.assertEqual(s.reply()[0], 220)
        code, texts = s.cmd("EHLO client.test")
        self.assertIn("SMTPUTF8", texts)
        rcpt = ("RCPT TO:<%s@test.example>" % LOCAL).encode("utf-8")
        # A UTF-8 sender without SMTPUTF8: 553 5.6.7.
        s.send(("MAIL FROM:<%s>\r\n" % SENDER).encode("utf-8"))
        code, texts = s.reply()
        self.assertEqual(code, 553, texts)
        self.assertTrue(texts[0].startswith("5.6.7"), texts)
        # An ASCII MAIL without it: a UTF-8 recipient gets 553 5.6.7.
        self.assertEqual(s.cmd("MAIL FROM:<alice@test.example>")[0], 250)
        s.send(rcpt + b"\r\n")
        code, texts = s.reply()
        self.assertEqual(code, 553, texts)
        self.assertTrue(texts[0].startswith("5.6.7"), texts)
        self.assertEqual(s.cmd("RSET")[0], 250)
        # With it, malformed UTF-8 is still refused: overlong, surrogate.
        self.assertEqual(s.cmd("MAIL FROM:<alice@test.example> SMTPUTF8")[0],
                         250)
        for bad in (b"j\xc0\xafrg", b"j\xed\xa0\x80rg", b"j\xc3"):
            s.send(b"RCPT TO:<" + bad + b"@test.example>\r\n")
            code, texts = s.reply()
            self.assertIn(code, (501, 553), (bad, texts))
        s.send(rcpt + b"\r\n")
        self.assertEqual(s.reply()[0], 250)
        s.cmd("QUIT")
        s.close()
