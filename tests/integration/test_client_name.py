"""
smtpd's names for its clients: the PTR name of the client's address,
used only when its A records lead back to that address (Postfix's
forward-confirmed reverse DNS), else "unknown".  Clients connect from
other loopback addresses (127.0.0.2, ...) with a private dnsmasq holding
the reverse zone; what is checked is the log (name[ip]) and the
Received: header of the delivered message.  Loopback reverse names are
in the locally served zones of RFC 6303, which tern answers itself by
default; these instances set dns_query_local_zones = yes, as a site with
its own reverse zones for private addresses would.
"""

import re
import smtplib
import time

from dns_harness import DnsServer, FakeUpstream, Zone
from tern_harness import TernTestCase, free_port, qid_from_reply, \
    wait_until

REVERSE = "127.in-addr.arpa"


def ptr_record(zone, addr, name):
    """A PTR record alone (no A record behind it)."""
    rev = ".".join(reversed(addr.split("."))) + ".in-addr.arpa"
    zone.options.append("--ptr-record=%s,%s" % (rev, name))
    return zone


def connect_from(inst, source, timeout=30):
    """(smtp, seconds until the greeting) for a client bound to source."""
    t0 = time.monotonic()
    s = smtplib.SMTP(inst.listen_host, inst.port,
                     local_hostname="client.test", timeout=timeout,
                     source_address=(source, 0))
    return s, time.monotonic() - t0


def send_from(inst, source, rcpt="alice@test.example"):
    """One message to rcpt from source; returns its queue id."""
    s, _ = connect_from(inst, source)
    try:
        s.ehlo()
        s.mail("someone@c.test")
        code, text = s.rcpt(rcpt)
        assert code == 250, (code, text)
        code, text = s.data(b"Subject: name test\r\n\r\nhello\r\n")
        assert code == 250, (code, text)
        s.quit()
    finally:
        s.close()
    return qid_from_reply(text)


class TestClientName(TernTestCase):
    time_limit = 120

    def instance(self, start=True, **kw):
        kw.setdefault("dns_query_local_zones", "yes")
        return super().instance(start=start, **kw)

    def dns(self, zone):
        d = DnsServer(zone).start()
        self.addCleanup(d.cleanup)
        return d

    def wait_log(self, inst, pattern, timeout=20):
        rx = re.compile(pattern)
        return wait_until(lambda: rx.search(inst.log()), timeout,
                          what=lambda: "log line /%s/; log tail:\n%s"
                          % (pattern, inst.log_tail(30)))

    def received_of(self, inst, user="alice"):
        [path] = inst.wait_for_delivery(user, 1, timeout=30)
        with open(path, "rb") as f:
            data = f.read().decode("utf-8", "replace")
        m = re.search(r"^Received: from [^\n]*", data, re.M)
        self.assertIsNotNone(m, data)
        return m.group(0)

    def test_confirmed_name_in_log_and_received(self):
        # --host-record makes both the A record and the matching PTR.
        dns = self.dns(Zone(domains=("test", REVERSE))
                       .host("relay.c.test", "127.0.0.2"))
        inst = self.instance(dns_servers=dns.address)
        qid = send_from(inst, "127.0.0.2")
        self.assertRegex(self.received_of(inst),
                         r"^Received: from client\.test "
                         r"\(relay\.c\.test \[127\.0\.0\.2\]\)$")
        self.wait_log(inst, r"connect from relay\.c\.test\[127\.0\.0\.2\]")
        self.wait_log(inst, r"%s: client=relay\.c\.test\[127\.0\.0\.2\]"
                      % qid)
        self.wait_log(inst, r"disconnect from relay\.c\.test"
                      r"\[127\.0\.0\.2\] ehlo=1 mail=1 rcpt=1 data=1")
        # A refusal before any queue file: the NOQUEUE line too.
        s, _ = connect_from(inst, "127.0.0.2")
        try:
            s.ehlo()
            s.mail("someone@c.test")
            code, _ = s.rcpt("nobody@test.example")
            self.assertEqual(code, 550)
            s.quit()
        finally:
            s.close()
        self.wait_log(inst, r"NOQUEUE: reject: RCPT from relay\.c\.test"
                      r"\[127\.0\.0\.2\]: 550 ")
        self.assertNotIn("unknown[127.0.0.2]", inst.log())
        # The lookups went to our server, as PTR then A.
        self.assertIn("query[PTR] 2.0.0.127.in-addr.arpa", dns.log())
        self.assertIn("query[A] relay.c.test", dns.log())

    def test_unconfirmed_names_stay_unknown(self):
        zone = Zone(domains=("test", REVERSE))
        # 127.0.0.3 claims a name whose A record is another address;
        # 127.0.0.4 claims a name that does not exist; 127.0.0.5 claims
        # a numeric "name" that would pass for an address.
        zone.host("liar.c.test", "127.0.0.9")
        ptr_record(zone, "127.0.0.3", "liar.c.test")
        ptr_record(zone, "127.0.0.4", "ghost.c.test")
        ptr_record(zone, "127.0.0.5", "10.0.0.1")
        dns = self.dns(zone)
        inst = self.instance(dns_servers=dns.address)
        send_from(inst, "127.0.0.3")
        self.assertRegex(self.received_of(inst),
                         r"^Received: from client\.test "
                         r"\(unknown \[127\.0\.0\.3\]\)$")
        self.wait_log(inst, r"hostname liar\.c\.test does not resolve to "
                      r"address 127\.0\.0\.3")
        self.wait_log(inst, r"connect from unknown\[127\.0\.0\.3\]")
        for source in ("127.0.0.4", "127.0.0.5"):
            s, _ = connect_from(inst, source)
            self.assertEqual(s.noop()[0], 250)
            s.quit()
            self.wait_log(inst, r"disconnect from unknown\[%s\]"
                          % re.escape(source))
        self.wait_log(inst, r"hostname ghost\.c\.test does not resolve to "
                      r"address 127\.0\.0\.4: NXDOMAIN")
        self.wait_log(inst, r"127\.0\.0\.5: PTR name 10\.0\.0\.1 is not a "
                      r"valid host name")
        log = inst.log()
        self.assertNotIn("liar.c.test[", log)
        self.assertNotIn("ghost.c.test[", log)
        self.assertNotIn("10.0.0.1[", log)
        self.assertIn("ghost.c.test", dns.log())

    def test_ipv6_client_confirmed_by_aaaa(self):
        # The PTR of ::1 is the 32 nibbles under ip6.arpa; the forward
        # check asks for AAAA.
        dns = self.dns(Zone(domains=("test", "ip6.arpa"))
                       .host("v6.c.test", "::1"))
        port = free_port("::1")
        inst = self.instance(dns_servers=dns.address, listen_host="::1",
                             port=port, smtp_listen="[::1]:%d" % port)
        send_from(inst, "::1")
        self.assertRegex(self.received_of(inst),
                         r"^Received: from client\.test "
                         r"\(v6\.c\.test \[IPv6:::1\]\)$")
        self.wait_log(inst, r"connect from v6\.c\.test\[::1\]")
        self.assertIn("query[PTR] 1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0."
                      "0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa", dns.log())
        self.assertIn("query[AAAA] v6.c.test", dns.log())

    def test_no_dns_server_is_fast_and_unknown(self):
        # The harness default: nothing listens at dns_servers.
        inst = self.instance()
        s, took = connect_from(inst, "127.0.0.2")
        s.quit()
        self.assertLess(took, 1.0, "the greeting waited for DNS")
        self.wait_log(inst, r"disconnect from unknown\[127\.0\.0\.2\]")

    def test_blackholed_dns_costs_at_most_the_budget(self):
        up = FakeUpstream("drop")
        self.addCleanup(up.close)
        inst = self.instance(dns_servers="127.0.0.1:%d" % up.port,
                             smtpd_client_lookup_timeout="1s")
        s, took = connect_from(inst, "127.0.0.2")
        try:
            self.assertEqual(s.noop()[0], 250)
            s.quit()
        finally:
            s.close()
        # The resolver's own timeouts (2s a try, 2 rounds) would take 4s.
        self.assertGreater(up.queries, 0, "no lookup was made")
        self.assertGreaterEqual(took, 0.8)
        self.assertLess(took, 2.5, "the lookup overran its budget")
        self.wait_log(inst, r"disconnect from unknown\[127\.0\.0\.2\]")

    def test_lookup_off_asks_nothing(self):
        dns = self.dns(Zone(domains=("test", REVERSE))
                       .host("relay.c.test", "127.0.0.2"))
        inst = self.instance(dns_servers=dns.address,
                             smtpd_peername_lookup="no")
        send_from(inst, "127.0.0.2")
        self.assertRegex(self.received_of(inst),
                         r"\(unknown \[127\.0\.0\.2\]\)$")
        self.wait_log(inst, r"disconnect from unknown\[127\.0\.0\.2\]")
        self.assertNotIn("query[PTR]", dns.log())
        self.assertNotIn("relay.c.test", inst.log())
        # The same server does answer when asked: the check above means
        # something.
        self.assertEqual(dns.query("2.0.0.127.in-addr.arpa", 12),
                         (0, [12]))
        wait_until(lambda: "query[PTR] 2.0.0.127.in-addr.arpa" in dns.log(),
                   5, what="dnsmasq to log the PTR query")

