"""
Long remote replies and long MX host names must not cost the smtp
transport its channel to queued.

Anyone can make a remote server answer with a long multi-line reply (a
DSN NOTIFY=SUCCESS notice to a domain they control is enough), and an MX
host name may be as long as DNS allows.  deliverd passes that text and
the relay "host[address]:port" to queued, which once decoded them into
smaller buffers than deliverd filled: it called the transport malformed,
cut it off, deferred every delivery in flight (re-sending those already
accepted) and retried the recipient that caused it, again and again.

Each test keeps a second message in flight to another sink while the long
reply comes back, and checks that the smtp deliverd kept running (same
pid, nothing "malformed" in the log), that the recipient bounced with the
server's text cut short, and that the other message arrived exactly once.
"""

import re

from dns_harness import DnsServer, Zone
from sink import Sink
from tern_harness import TernTestCase, free_port, qid_from_reply, \
    smtp_connect, wait_until

BEGIN = "BEGIN-OF-REPLY"
END = "END-OF-REPLY"


def long_reply(code, dsn):
    """A multi-line reply of about 900 octets, marked at both ends."""
    filler = "x" * 200
    lines = ["%s %s" % (BEGIN, filler), filler, filler,
             "%s %s" % (filler, END)]
    return "\r\n".join("%d%s%s %s" % (code, "-" if i < len(lines) - 1
                                      else " ", dsn, text)
                       for i, text in enumerate(lines))


def send(inst, rcpt, subject):
    msg = ("From: alice@a.test\r\nTo: %s\r\nSubject: %s\r\n\r\nbody\r\n"
           % (rcpt, subject)).encode()
    with smtp_connect(inst) as s:
        s.ehlo()
        s.mail("alice@a.test")
        code, text = s.rcpt(rcpt)
        assert code == 250, (code, text)
        code, text = s.data(msg)
        assert code == 250, (code, text)
    return qid_from_reply(text)


def smtp_deliverd(inst):
    """The pid of the smtp deliverd (not its connection processes)."""
    for pid in inst.pids("tern-deliverd"):
        try:
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                argv = f.read().split(b"\0")
            with open("/proc/%d/stat" % pid, "rb") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat[stat.rfind(b")") + 2:].split()[1])
        if b"smtp" in argv and ppid not in inst.pids("tern-deliverd"):
            return pid
    return None


class TestLongRemoteReply(TernTestCase):
    time_limit = 180

    def setup_sites(self, zone_extra, far_host):
        """DNS, the slow sink (o.test) and the sending instance."""
        self.port = free_port("127.0.0.41")
        zone = Zone().mx("o.test", "mx.o.test", 10) \
            .host("mx.o.test", "127.0.0.41")
        zone_extra(zone)
        dns = DnsServer(zone).start()
        self.addCleanup(dns.cleanup)
        # The other site takes its time over the end of data, so that its
        # delivery is in flight when the long reply comes back.
        self.slow = Sink("127.0.0.41", self.port).start()
        self.addCleanup(self.slow.stop)
        self.slow.hang["dot"] = 4
        self.far = Sink(far_host, self.port).start()
        self.addCleanup(self.far.stop)
        self.inst = self.instance(
            hostname="a.test", dns_servers=dns.address,
            smtp_port=str(self.port), smtp_connect_timeout="3s",
            smtp_helo_timeout="10s")
        wait_until(lambda: smtp_deliverd(self.inst) is not None, 20,
                   what="the smtp deliverd to start")
        self.pid = smtp_deliverd(self.inst)

    def start_slow_delivery(self):
        """A message to the slow sink, now waiting for its end of data."""
        qid = send(self.inst, "u@o.test", "in-flight")
        wait_until(lambda: any("data" in c.commands
                               for c in self.slow.connections), 30,
                   what="the slow sink to reach DATA")
        return qid

    def wait_log(self, pattern, timeout=40):
        rx = re.compile(pattern)
        wait_until(lambda: rx.search(self.inst.log()), timeout,
                   what=lambda: "log line /%s/; log tail:\n%s"
                   % (pattern, self.inst.log_tail(30)))

    def assert_transport_kept(self, slow_qid):
        self.slow.wait_messages(1)
        self.wait_log(r"%s: to=<u@o\.test>, .*status=sent" % slow_qid)
        self.inst.wait_queue_empty(40)
        log = self.inst.log()
        self.assertNotIn("malformed", log)
        self.assertNotIn("did not report a result", log)
        self.assertEqual(smtp_deliverd(self.inst), self.pid,
                         "the smtp deliverd was restarted")
        self.assertEqual(len(self.slow.messages), 1,
                         "the message in flight was delivered %d times"
                         % len(self.slow.messages))

    def assert_bounce_cut_short(self, qid, rcpt):
        self.wait_log(r"%s: to=<%s>, .*dsn=5\.7\.1, status=bounced \("
                      % (qid, re.escape(rcpt)))
        files = self.inst.wait_for_delivery("alice", 1, timeout=30)
        with open(files[0], "rb") as f:
            bounce = f.read().decode("utf-8", "replace")
        self.assertIn(rcpt, bounce)
        self.assertIn(BEGIN, bounce)
        self.assertNotIn(END, bounce)
        self.assertIn("...", bounce)

    def test_long_rcpt_reply_bounces_and_keeps_transport(self):
        self.setup_sites(lambda z: z.mx("l.test", "mx.l.test", 10)
                         .host("mx.l.test", "127.0.0.42"), "127.0.0.42")
        self.far.rcpt_replies["victim@l.test"] = long_reply(550, "5.7.1")
        slow_qid = self.start_slow_delivery()
        qid = send(self.inst, "victim@l.test", "long rcpt reply")
        self.assert_bounce_cut_short(qid, "victim@l.test")
        self.assert_transport_kept(slow_qid)
        self.assertEqual(self.far.messages, [])

    def test_long_end_of_data_reply_bounces_and_keeps_transport(self):
        self.setup_sites(lambda z: z.mx("l.test", "mx.l.test", 10)
                         .host("mx.l.test", "127.0.0.43"), "127.0.0.43")
        self.far.fail["dot"] = long_reply(554, "5.7.1")
        slow_qid = self.start_slow_delivery()
        qid = send(self.inst, "victim@l.test", "long data reply")
        self.assert_bounce_cut_short(qid, "victim@l.test")
        self.assert_transport_kept(slow_qid)

    def test_long_mx_host_name_delivers_once(self):
        # 250 octets: four 60-octet labels under n.test.
        host = ".".join(c * 60 for c in "abcd") + ".n.test"
        self.setup_sites(lambda z: z.mx("n.test", host, 10)
                         .host(host, "127.0.0.44"), "127.0.0.44")
        slow_qid = self.start_slow_delivery()
        qid = send(self.inst, "ok@n.test", "long host name")
        self.far.wait_messages(1)
        self.wait_log(r"%s: to=<ok@n\.test>, relay=%s\[127\.0\.0\.44\]:%d,"
                      r" .*status=sent" % (qid, re.escape(host), self.port))
        self.assert_transport_kept(slow_qid)
        self.assertEqual(len(self.far.messages), 1)
