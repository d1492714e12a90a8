"""
The smtp transport against awkward servers: one that knows only HELO,
one whose SIZE is smaller than the message, one that stops answering
in the middle of a transaction, and an MX reached over IPv6 (::1).
"""


from dns_harness import Zone
from tern_harness import free_port
from test_remote_delivery import RemoteCase, send


class TestRemoteClient(RemoteCase):

    def test_helo_fallback(self):
        port = free_port("127.0.0.7")
        dns = self.dns(Zone().mx("h.test", "mx.h.test", 10)
                       .host("mx.h.test", "127.0.0.7"))
        sink = self.sink("127.0.0.7", port, esmtp=False)
        a = self.sender(dns, port)
        qid, _ = send(a, "alice@a.test", ["x@h.test"])
        [m] = sink.wait_messages(1)
        self.assertEqual(m.rcpt_tos, ["x@h.test"])
        self.assertFalse(m.conn.esmtp, "EHLO should have been refused")
        self.assertIn("HELO", " ".join(c.split()[0].upper()
                                       for c in m.conn.commands))
        self.wait_log(a, r"%s: to=<x@h\.test>, .*status=sent" % qid)

    def test_message_over_remote_size_is_not_sent(self):
        port = free_port("127.0.0.8")
        dns = self.dns(Zone().mx("s.test", "mx.s.test", 10)
                       .host("mx.s.test", "127.0.0.8"))
        sink = self.sink("127.0.0.8", port, size=1000)
        a = self.sender(dns, port)
        qid, _ = send(a, "alice@a.test", ["x@s.test"], body="y" * 900 +
                      "\r\n" + "z" * 900 + "\r\n")
        # A permanent refusal (5.3.4) without sending the data; the
        # sender gets a bounce.
        self.wait_log(a, r"%s: to=<x@s\.test>, .*dsn=5\.3\.4, "
                      r"status=bounced" % qid)
        self.assertEqual(sink.messages, [])
        self.assertFalse(any(c.upper().startswith("DATA")
                             for conn in sink.connections
                             for c in conn.commands),
                         "DATA was sent to a server that refuses the size")

    def test_hanging_server_is_timed_out_and_retried(self):
        port = free_port("127.0.0.9")
        dns = self.dns(Zone().mx("w.test", "mx.w.test", 10)
                       .host("mx.w.test", "127.0.0.9"))
        sink = self.sink("127.0.0.9", port)
        sink.hang["rcpt"] = 30
        a = self.sender(dns, port, smtp_rcpt_timeout="2s")
        qid, _ = send(a, "alice@a.test", ["x@w.test"])
        self.wait_log(a, r"%s: to=<x@w\.test>, .*status=deferred" % qid)
        # The server recovers: the retry delivers.
        sink.hang.clear()
        sink.wait_messages(1, timeout=40)
        self.wait_log(a, r"%s: to=<x@w\.test>, .*status=sent" % qid, 40)

    def test_ipv6_mx(self):
        port = free_port("::1")
        dns = self.dns(Zone().mx("v6.test", "mx.v6.test", 10)
                       .host("mx.v6.test", "::1"))
        sink = self.sink("::1", port)
        a = self.sender(dns, port)
        qid, _ = send(a, "alice@a.test", ["x@v6.test"])
        [m] = sink.wait_messages(1)
        self.assertEqual(m.rcpt_tos, ["x@v6.test"])
        self.wait_log(a, r"%s: to=<x@v6\.test>, relay=mx\.v6\.test"
                      r"\[::1\]:%d, .*status=sent" % (qid, port))


class TestTernToTernTLS(RemoteCase):

    def test_starttls_between_two_terns(self):
        # Instance B has a self-signed certificate and offers STARTTLS on
        # port 25 (its smtp_listen); A uses it under the default "may".
        from tern_tls import make_cert
        port = free_port("127.0.0.17")
        dns = self.dns(Zone().mx("b2.test", "mx.b2.test", 10)
                       .host("mx.b2.test", "127.0.0.17"))
        b = self.instance(hostname="b2.test", listen_host="127.0.0.17",
                          port=port, start=False)
        cert, key = make_cert(b.tmp, cn="mx.b2.test")
        b.settings.update({"smtpd_tls_cert_file": cert,
                           "smtpd_tls_key_file": key})
        b.write_config()
        b.start()
        a = self.sender(dns, port)
        qid, _ = send(a, "alice@a.test", ["bob@b2.test"])
        files = b.wait_for_delivery("bob", 1, timeout=30)
        with open(files[0], "rb") as f:
            data = f.read()
        # B's Received: line records the TLS session A opened.
        self.assertRegex(data.decode(errors="replace"),
                         r"by b2\.test \(tern\) with ESMTPS\s+\(using "
                         r"TLSv1\.[23] with cipher ")
        self.wait_log(a, r"TLS connection established to mx\.b2\.test"
                      r"\[127\.0\.0\.17\]:%d: TLSv1\.[23] with cipher" % port)
        self.wait_log(a, r"%s: to=<bob@b2\.test>, .*status=sent" % qid)
