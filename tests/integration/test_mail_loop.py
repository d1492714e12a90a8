"""
Mail never loops back to this host.  An address literal naming one of
tern's own addresses (a loopback address, an interface or listen
address) is refused at RCPT with 550 5.4.6, even for a client allowed
to relay; and the smtp transport never delivers to one of its own
listening address:ports: an address literal that reaches the queue by
an alias bounces with 5.4.6, a relayhost naming this instance defers
(the administrator's mistake, not the recipient's).  In every case one
message is accepted, never the copies a loop would make.
"""

import re

from sink import Sink
from tern_harness import RawSMTP, TernTestCase, free_port, smtp_connect, \
    wait_until

MSG = b"Subject: loop?\r\n\r\nbody\r\n"


def send(inst, sender, rcpt):
    with smtp_connect(inst) as s:
        s.ehlo()
        s.mail(sender)
        code, text = s.rcpt(rcpt)
        assert code == 250, (code, text)
        code, text = s.data(MSG)
        assert code == 250, (code, text)


class TestMailLoop(TernTestCase):
    time_limit = 120

    def wait_log(self, inst, pattern, timeout=30):
        rx = re.compile(pattern)
        return wait_until(lambda: rx.search(inst.log()), timeout,
                          what=lambda: "log line /%s/; log tail:\n%s"
                          % (pattern, inst.log_tail(30)))

    def accepted(self, inst):
        """How many messages smtpd has accepted (Postfix's client= lines)."""
        return len(re.findall(r": client=", inst.log()))

    def test_literal_naming_us_refused_at_rcpt(self):
        sink_port = free_port("127.0.0.3")
        sink = Sink("127.0.0.3", sink_port).start()
        self.addCleanup(sink.stop)
        # The client (127.0.0.1) is in mynetworks: it may relay.
        inst = self.instance(relayhost="[127.0.0.3]:%d" % sink_port)
        c = RawSMTP(inst.port)
        try:
            self.assertEqual(c.reply()[0], 220)
            self.assertEqual(c.cmd("EHLO client.test")[0], 250)
            self.assertEqual(c.cmd("MAIL FROM:<a@client.test>")[0], 250)
            for rcpt in ("u@[127.0.0.1]", "u@[127.0.0.2]", "u@[IPv6:::1]",
                         "postmaster@[127.0.0.1]", "u@[0.0.0.0]"):
                code, text = c.cmd("RCPT TO:<%s>" % rcpt)
                self.assertEqual(code, 550, (rcpt, text))
                self.assertRegex(text[0], r"^5\.4\.6 <%s>: .*loops back "
                                 r"to myself$" % re.escape(rcpt))
            # A literal naming another host is relayed as before.
            self.assertEqual(c.cmd("RCPT TO:<u@[192.0.2.1]>")[0], 250)
            self.assertEqual(c.cmd("DATA")[0], 354)
            c.send(MSG + b".\r\n")
            self.assertEqual(c.reply()[0], 250)
            self.assertEqual(c.cmd("QUIT")[0], 221)
        finally:
            c.close()
        wait_until(lambda: sink.messages, 30, what="the relayed message")
        inst.wait_queue_empty(30)
        self.assertEqual(sink.recipients(), ["u@[192.0.2.1]"])
        self.assertRegex(inst.log(), r"NOQUEUE: reject: RCPT from "
                         r"unknown\[127\.0\.0\.1\]: 550 5\.4\.6 "
                         r"<u@\[127\.0\.0\.1\]>")
        self.assertEqual(self.accepted(inst), 1)

    def test_literal_from_alias_bounces_not_loops(self):
        # smtp_port is this instance's own port: [127.0.0.1] would be
        # delivered straight back to it.
        port = free_port()
        inst = self.instance(port=port, smtp_port=str(port),
                             aliases={"looper": "u@[127.0.0.1]"})
        send(inst, "alice@test.example", "looper@test.example")
        self.wait_log(inst, r"to=<u@\[127\.0\.0\.1\]>, (orig_to=<[^>]*>, )?"
                      r"relay=none, .*dsn=5\.4\.6, status=bounced \(mail "
                      r"for \[127\.0\.0\.1\] loops back to myself\)")
        # The sender hears of it; nothing was delivered to ourselves.
        inst.wait_for_delivery("alice", 1)
        inst.wait_queue_empty(30)
        self.assertEqual(self.accepted(inst), 1)
        self.assertNotIn("status=sent (250", inst.log())

    def test_relayhost_naming_us_defers_not_loops(self):
        port = free_port()
        inst = self.instance(port=port,
                             relayhost="[127.0.0.1]:%d" % port,
                             minimal_backoff_time="1h",
                             maximal_backoff_time="2h")
        send(inst, "alice@test.example", "bob@remote.test")
        self.wait_log(inst, r"to=<bob@remote\.test>, relay=none, .*"
                      r"dsn=4\.4\.6, status=deferred \(mail for "
                      r"\[127\.0\.0\.1\]:%d loops back to myself\)" % port)
        self.assertRegex(inst.log(), r"warning: relayhost \[127\.0\.0\.1\]:"
                         r"%d loops back to myself: configuration problem"
                         % port)
        self.assertEqual(self.accepted(inst), 1)
        self.assertEqual(len(inst.queue_files()), 1)
