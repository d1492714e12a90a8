"""
Name servers that refuse: a server answering REFUSED, SERVFAIL or NOTIMP
is asked once per name and left at once for the next server; when every
server has so answered, the lookup ends as a temporary failure (mail is
deferred, never bounced).  Reverse names in the locally served zones of
RFC 6303 (here: loopback clients) cause no query at all.

The refusing servers are tiny Python UDP servers on 127.0.0.x
(dns_harness.FakeUpstream) that count the queries they get, so what is
checked is who was asked what, how often: no timing.
"""

import re
import smtplib
from collections import Counter

from dns_harness import DnsServer, FakeUpstream, Zone
from tern_harness import TernTestCase, free_port, qid_from_reply, \
    wait_until

T_A, T_PTR, T_MX = 1, 12, 15


def send(inst, rcpt, source="127.0.0.1"):
    """One message to rcpt from the address source; its queue id."""
    s = smtplib.SMTP(inst.listen_host, inst.port, local_hostname="client.test",
                     timeout=30, source_address=(source, 0))
    try:
        s.ehlo()
        s.mail("someone@client.test")
        code, text = s.rcpt(rcpt)
        assert code == 250, (code, text)
        code, text = s.data(b"Subject: dns test\r\n\r\nhello\r\n")
        assert code == 250, (code, text)
        s.quit()
    finally:
        s.close()
    return qid_from_reply(text)


class TestDnsRefused(TernTestCase):
    time_limit = 120

    def fake(self, mode, host):
        up = FakeUpstream(mode, host=host)
        self.addCleanup(up.close)
        return up

    def wait_log(self, inst, pattern, timeout=30):
        rx = re.compile(pattern)
        return wait_until(lambda: rx.search(inst.log()), timeout,
                          what=lambda: "log line /%s/; log tail:\n%s"
                          % (pattern, inst.log_tail(30)))

    def test_refusing_servers_asked_once_and_mail_deferred(self):
        refused = self.fake("refused", "127.0.0.5")
        servfail = self.fake("servfail", "127.0.0.6")
        # One delivery attempt only: the first retry is an hour away.
        inst = self.instance(dns_servers="%s, %s" % (refused.address,
                                                     servfail.address),
                             minimal_backoff_time="1h",
                             maximal_backoff_time="2h")
        qid = send(inst, "bob@remote.test")
        self.wait_log(inst, r"%s: to=<bob@remote\.test>, relay=none, .*"
                      r"dsn=4\.4\.3, status=deferred \(.*name=remote\.test "
                      r"type=MX: SERVFAIL\)" % qid)
        # Each server was asked once, in order; no second round.
        self.assertEqual(refused.asked, [("remote.test", T_MX)])
        self.assertEqual(servfail.asked, [("remote.test", T_MX)])
        # Deferred, not bounced: the message waits in the queue.
        self.assertTrue(inst.queue_files())
        self.assertNotIn("status=bounced", inst.log())

    def test_refusing_first_server_hands_over_to_the_second(self):
        # The client lookup budget (1 s) is shorter than one try's
        # timeout (2 s): waiting for something better from the refusing
        # server would use it up and leave the client unknown.
        refused = self.fake("refused", "127.0.0.5")
        dns = DnsServer(Zone(domains=("test", "127.in-addr.arpa"))
                        .host("relay.c.test", "127.0.0.2")).start()
        self.addCleanup(dns.cleanup)
        inst = self.instance(dns_servers="%s, %s" % (refused.address,
                                                     dns.address),
                             dns_query_local_zones="yes",
                             smtpd_client_lookup_timeout="1s")
        qid = send(inst, "alice@test.example", source="127.0.0.2")
        self.wait_log(inst, r"%s: client=relay\.c\.test\[127\.0\.0\.2\]"
                      % qid)
        # One query per name (the harness's own readiness probe from
        # 127.0.0.1 is asked about too).
        asked = Counter(refused.asked)
        self.assertEqual(asked[("2.0.0.127.in-addr.arpa", T_PTR)], 1, asked)
        self.assertEqual(asked[("relay.c.test", T_A)], 1, asked)
        self.assertEqual(set(asked.values()), {1}, asked)
        self.assertIn("query[PTR] 2.0.0.127.in-addr.arpa", dns.log())

    def test_loopback_clients_cause_no_query(self):
        refused = self.fake("refused", "127.0.0.5")
        port, port6 = free_port(), free_port("::1")
        inst = self.instance(dns_servers=refused.address, port=port,
                             smtp_listen="127.0.0.1:%d, [::1]:%d"
                             % (port, port6),
                             minimal_backoff_time="1h",
                             maximal_backoff_time="2h")
        for source in ("127.0.0.2", "127.0.0.3"):
            send(inst, "alice@test.example", source=source)
            self.wait_log(inst, r"disconnect from unknown\[%s\]"
                          % re.escape(source))
        s = smtplib.SMTP("::1", port6, local_hostname="client.test",
                         timeout=30)
        self.assertEqual(s.noop()[0], 250)
        s.quit()
        self.wait_log(inst, r"disconnect from unknown\[::1\]")
        self.assertEqual(refused.asked, [])
        # The same server is asked about what is not a local zone: the
        # count above could have been other than zero.
        qid = send(inst, "bob@remote.test")
        self.wait_log(inst, r"%s: to=<bob@remote\.test>, relay=none, .*"
                      r"status=deferred \(.*type=MX: REFUSED\)" % qid)
        self.assertEqual(refused.asked, [("remote.test", T_MX)])
