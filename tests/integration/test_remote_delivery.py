"""
Remote delivery through the smtp transport: MX resolution against a
private dnsmasq, delivery to another tern instance and to scripted sinks
on other loopback addresses, TLS, and what is logged.
"""

import os
import re
import shutil
import tempfile
import time

from dns_harness import DnsServer, FakeUpstream, Zone
from sink import Sink, make_cert
from tern_harness import TernTestCase, free_port, qid_from_reply, \
    smtp_connect, wait_until


def send(inst, sender, rcpts, subject="remote test", body="hello\r\n"):
    msg = ("From: %s\r\nTo: %s\r\nSubject: %s\r\n\r\n%s"
           % (sender, ", ".join(rcpts), subject, body)).encode()
    s = smtp_connect(inst)
    try:
        s.ehlo()
        s.mail(sender)
        for r in rcpts:
            code, text = s.rcpt(r)
            assert code == 250, (r, code, text)
        code, text = s.data(msg)
        assert code == 250, (code, text)
        s.quit()
    finally:
        s.close()
    return qid_from_reply(text), msg


class RemoteCase(TernTestCase):
    time_limit = 120

    def dns(self, zone):
        d = DnsServer(zone).start()
        self.addCleanup(d.cleanup)
        return d

    def sink(self, host, port, **kw):
        s = Sink(host, port, **kw).start()
        self.addCleanup(s.stop)
        return s

    def sender(self, dns, port, **kw):
        """Instance A on 127.0.0.1 delivering remote mail to port."""
        settings = {"dns_servers": dns.address, "smtp_port": str(port),
                    "smtp_connect_timeout": "3s", "smtp_helo_timeout": "10s"}
        settings.update(kw)
        return self.instance(hostname="a.test", **settings)

    def wait_log(self, inst, pattern, timeout=30):
        rx = re.compile(pattern)
        return wait_until(lambda: rx.search(inst.log()), timeout,
                          what=lambda: "log line /%s/; log tail:\n%s"
                          % (pattern, inst.log_tail(30)))


class TestRemoteDelivery(RemoteCase):

    def test_instance_to_instance_via_mx(self):
        port = free_port("127.0.0.2")
        dns = self.dns(Zone().mx("b.test", "mx.b.test", 10)
                       .host("mx.b.test", "127.0.0.2"))
        b = self.instance(hostname="b.test", listen_host="127.0.0.2",
                          port=port)
        a = self.sender(dns, port)
        qid, sent = send(a, "alice@a.test", ["bob@b.test"])
        files = b.wait_for_delivery("bob", 1, timeout=30)
        with open(files[0], "rb") as f:
            data = f.read()
        # Both tern instances added their Received: line; the message
        # itself arrived untouched.
        received = re.findall(rb"^Received: ", data, re.M)
        self.assertEqual(len(received), 2, data)
        self.assertIn(b"by a.test (tern)", data)
        self.assertIn(b"by b.test (tern)", data)
        self.assertTrue(data.endswith(sent.split(b"\r\n\r\n", 1)[1]
                                      .replace(b"\r\n", b"\n")), data)
        self.assertIn(b"Subject: remote test\n", data)
        self.wait_log(a, r"%s: to=<bob@b\.test>, relay=mx\.b\.test"
                      r"\[127\.0\.0\.2\]:%d, .*dsn=2\.0\.0, status=sent"
                      % (qid, port))

    def test_kept_connection_the_server_closed_is_replaced(self):
        # A kept connection whose server has closed it (found at the RSET
        # that goes ahead of the next transaction, pipelined with it) is
        # replaced at once: every message arrives once, none waits for
        # a retry.
        for host, how in (("127.0.0.23", ""),
                          ("127.0.0.24", "421 4.4.2 sink.test idle")):
            port = free_port(host)
            dns = self.dns(Zone().mx("k.test", "mx.k.test", 10)
                           .host("mx.k.test", host))
            s = self.sink(host, port)
            s.rset_close = how
            a = self.sender(dns, port, smtp_connection_reuse_time="60s")
            for i in range(3):
                send(a, "alice@a.test", ["k%d@k.test" % i])
                s.wait_messages(i + 1, timeout=20)
            self.assertEqual(sorted(m.rcpt_tos[0] for m in s.messages),
                             ["k0@k.test", "k1@k.test", "k2@k.test"])
            # Each message after the first found the kept connection
            # closed at its RSET and went on a new one.
            self.assertEqual(len(s.connections), 3)
            self.assertEqual([(c.commands.count("rset"), c.messages)
                              for c in s.connections],
                             [(1, 1), (1, 1), (0, 1)])
            log = a.log()
            self.assertEqual(log.count("kept connection not usable"), 2,
                             a.log_tail(30))
            self.assertEqual(len(re.findall(r"status=sent", log)), 3)
            self.assertNotIn("status=deferred", log)
            a.stop()

    def test_mx_order_and_fallback(self):
        port = free_port("127.0.0.3")
        # mx1 (preference 10) refuses connections: nothing listens on
        # 127.0.0.4; mx2 (20) on 127.0.0.3 gets the mail.
        dns = self.dns(Zone().mx("c.test", "mx1.c.test", 10)
                       .mx("c.test", "mx2.c.test", 20)
                       .mx("c.test", "mx3.c.test", 30)
                       .host("mx1.c.test", "127.0.0.4")
                       .host("mx2.c.test", "127.0.0.3")
                       .host("mx3.c.test", "127.0.0.5"))
        s2 = self.sink("127.0.0.3", port)
        s3 = self.sink("127.0.0.5", port)
        a = self.sender(dns, port)
        qid, _ = send(a, "alice@a.test", ["x@c.test"])
        s2.wait_messages(1)
        self.assertEqual(s2.messages[0].rcpt_tos, ["x@c.test"])
        self.assertEqual(s3.messages, [])
        self.wait_log(a, r"%s: to=<x@c\.test>, relay=mx2\.c\.test"
                      r"\[127\.0\.0\.3\]:%d.*status=sent" % (qid, port))

    def test_mx_lowest_preference_first(self):
        port = free_port("127.0.0.6")
        dns = self.dns(Zone().mx("d.test", "mx1.d.test", 10)
                       .mx("d.test", "mx2.d.test", 20)
                       .host("mx1.d.test", "127.0.0.6")
                       .host("mx2.d.test", "127.0.0.7"))
        s1 = self.sink("127.0.0.6", port)
        s2 = self.sink("127.0.0.7", port)
        a = self.sender(dns, port)
        for i in range(3):
            send(a, "alice@a.test", ["y%d@d.test" % i])
        s1.wait_messages(3)
        self.assertEqual(s2.messages, [])

    def test_equal_preference_shares_load(self):
        port = free_port("127.0.0.8")
        dns = self.dns(Zone().mx("e.test", "mx1.e.test", 10)
                       .mx("e.test", "mx2.e.test", 10)
                       .host("mx1.e.test", "127.0.0.8")
                       .host("mx2.e.test", "127.0.0.9"))
        s1 = self.sink("127.0.0.8", port)
        s2 = self.sink("127.0.0.9", port)
        # No reuse, so that every message picks its MX afresh.
        a = self.sender(dns, port, smtp_connection_reuse_time="0s")
        n = 20
        for i in range(n):
            send(a, "alice@a.test", ["z%d@e.test" % i])
        wait_until(lambda: len(s1.messages) + len(s2.messages) >= n, 60,
                   what="all messages at the two sinks")
        self.assertGreater(len(s1.messages), 1)
        self.assertGreater(len(s2.messages), 1)

    def test_null_mx_nxdomain_servfail(self):
        sf = FakeUpstream("servfail")
        self.addCleanup(sf.close)
        dns = self.dns(Zone().null_mx("nullmx.test")
                       .forward("servfail.test", sf))
        a = self.sender(dns, free_port(), maximal_backoff_time="60s",
                        minimal_backoff_time="60s")
        q1, _ = send(a, "alice@a.test", ["u@nullmx.test"])
        q2, _ = send(a, "alice@a.test", ["u@nx.test"])
        q3, _ = send(a, "alice@a.test", ["u@x.servfail.test"])
        self.wait_log(a, r"%s: to=<u@nullmx\.test>, relay=none, .*"
                      r"dsn=5\.1\.10, status=bounced" % q1)
        self.wait_log(a, r"%s: to=<u@nx\.test>, relay=none, .*"
                      r"dsn=5\.4\.4, status=bounced" % q2)
        self.wait_log(a, r"%s: to=<u@x\.servfail\.test>, relay=none, .*"
                      r"dsn=4\.4\.3, status=deferred" % q3)

    def test_loops_back_to_myself(self):
        port = free_port()
        dns = self.dns(Zone().mx("loop.test", "a.test", 10)
                       .host("a.test", "127.0.0.1"))
        a = self.sender(dns, port)
        qid, _ = send(a, "alice@a.test", ["u@loop.test"])
        self.wait_log(a, r"%s: to=<u@loop\.test>, .*dsn=5\.4\.6, "
                      r"status=bounced \(mail for loop\.test loops back "
                      r"to myself\)" % qid)

    def test_per_recipient_results(self):
        port = free_port("127.0.0.10")
        dns = self.dns(Zone().mx("f.test", "mx.f.test", 10)
                       .host("mx.f.test", "127.0.0.10"))
        s = self.sink("127.0.0.10", port)
        s.rcpt_replies["gone@f.test"] = "550 5.1.1 no such user here"
        s.rcpt_replies["later@f.test"] = "450 4.2.1 mailbox busy"
        a = self.sender(dns, port, minimal_backoff_time="60s",
                        maximal_backoff_time="60s")
        qid, _ = send(a, "alice@a.test",
                      ["ok@f.test", "gone@f.test", "later@f.test"],
                      body="line\r\n.leading dot\r\n..two\r\n")
        s.wait_messages(1)
        self.assertEqual(s.messages[0].rcpt_tos, ["ok@f.test"])
        # Dot-stuffing on the way out: the sink unstuffs to the original.
        self.assertTrue(s.messages[0].data.endswith(
            b"line\r\n.leading dot\r\n..two\r\n"), s.messages[0].data)
        self.wait_log(a, r"%s: to=<ok@f\.test>, relay=mx\.f\.test"
                      r"\[127\.0\.0\.10\]:%d, .*dsn=2\.0\.0, status=sent "
                      r"\(250 2\.0\.0 Ok" % (qid, port))
        self.wait_log(a, r"%s: to=<gone@f\.test>, .*dsn=5\.1\.1, "
                      r"status=bounced \(host mx\.f\.test\[127\.0\.0\.10\]"
                      r":%d said: 550 5\.1\.1 no such user here \(in reply "
                      r"to RCPT TO command\)\)" % (qid, port))
        self.wait_log(a, r"%s: to=<later@f\.test>, .*dsn=4\.2\.1, "
                      r"status=deferred" % qid)


class TestRemoteTLS(RemoteCase):

    def tls_setup(self, host, **sinkkw):
        port = free_port(host)
        d = tempfile.mkdtemp(prefix="tern-cert-")
        ctx = make_cert(d, "mx.t.test")
        dns = self.dns(Zone().mx("t.test", "mx.t.test", 10)
                       .host("mx.t.test", host))
        s = self.sink(host, port, tls=ctx, **sinkkw)
        return dns, s, port

    def test_starttls_used(self):
        dns, s, port = self.tls_setup("127.0.0.11")
        a = self.sender(dns, port)
        qid, _ = send(a, "alice@a.test", ["u@t.test"])
        s.wait_messages(1)
        self.assertTrue(s.messages[0].tls)
        self.wait_log(a, r"TLS connection established to mx\.t\.test"
                      r"\[127\.0\.0\.11\]:%d: TLSv1\.[23] with cipher "
                      % port)
        self.wait_log(a, r"%s: to=<u@t\.test>, .*status=sent" % qid)

    def test_tls_context_built_at_the_first_relay_and_shared(self):
        """The smtp transport builds its TLS context (OpenSSL's provider
        and configuration, the CA index: about 3 MiB) only when it starts
        its first connection, not at start, so a server that relays
        nothing never holds it; and it builds it once, before it forks
        the connection processes, which share it."""
        port = free_port("127.0.0.21")
        d = tempfile.mkdtemp(prefix="tern-cert-")
        self.addCleanup(shutil.rmtree, d, ignore_errors=True)
        ctx = make_cert(d, "mx.t.test")
        dns = self.dns(Zone().mx("t.test", "mx.t.test", 10)
                       .host("mx.t.test", "127.0.0.21")
                       .mx("u.test", "mx.u.test", 10)
                       .host("mx.u.test", "127.0.0.22"))
        s1 = self.sink("127.0.0.21", port, tls=ctx)
        s2 = self.sink("127.0.0.22", port, tls=ctx)
        s1.hang["data"] = s2.hang["data"] = 1.0
        a = self.sender(dns, port)
        self.wait_log(a, r"smtpd pool ready")
        time.sleep(1)
        self.assertNotIn("TLS client context ready", a.log())
        # Two destinations at once: two connection processes.
        send(a, "alice@a.test", ["x@t.test", "y@u.test"])
        s1.wait_messages(1)
        s2.wait_messages(1)
        self.assertTrue(s1.messages[0].tls and s2.messages[0].tls)
        self.wait_log(a, r"(?s)TLS connection established to mx\.t\.test"
                      r".*TLS connection established to mx\.u\.test|"
                      r"TLS connection established to mx\.u\.test"
                      r".*TLS connection established to mx\.t\.test")
        pids = set(re.findall(r"tern/deliverd\[(\d+)\]: TLS connection "
                              r"established", a.log()))
        self.assertEqual(len(pids), 2, a.log_tail(30))
        self.assertEqual(a.log().count("TLS client context ready"), 1,
                         a.log_tail(30))

    def test_openssl_configuration_still_applies(self):
        """The smtp transport reads OpenSSL's configuration only at its
        first connection, inside its chroot, through a descriptor opened
        at start: a MaxProtocol of TLSv1.2 in the file named by
        OPENSSL_CONF still makes the session TLS 1.2, against a sink that
        offers 1.3 (and gets 1.3 without that file)."""
        d = tempfile.mkdtemp(prefix="tern-osslconf-")
        self.addCleanup(shutil.rmtree, d, ignore_errors=True)
        os.chmod(d, 0o755)
        cnf = os.path.join(d, "openssl.cnf")
        with open(cnf, "w") as f:
            f.write("openssl_conf = tern_init\n"
                    "[tern_init]\nssl_conf = tern_ssl\n"
                    "[tern_ssl]\nsystem_default = tern_system\n"
                    "[tern_system]\nMaxProtocol = TLSv1.2\n")
        dns, s, port = self.tls_setup("127.0.0.18")
        old = os.environ.get("OPENSSL_CONF")
        os.environ["OPENSSL_CONF"] = cnf
        try:
            a = self.sender(dns, port)
        finally:
            if old is None:
                del os.environ["OPENSSL_CONF"]
            else:
                os.environ["OPENSSL_CONF"] = old
        qid, _ = send(a, "alice@a.test", ["u@t.test"])
        s.wait_messages(1)
        self.assertTrue(s.messages[0].tls)
        self.wait_log(a, r"TLS connection established to mx\.t\.test"
                      r"\[127\.0\.0\.18\]:%d: TLSv1\.2 with cipher " % port)
        self.wait_log(a, r"%s: to=<u@t\.test>, .*status=sent" % qid)
        # And the same sink without the file: TLS 1.3.
        b = self.sender(dns, port)
        send(b, "alice@a.test", ["v@t.test"])
        s.wait_messages(2)
        self.wait_log(b, r"TLS connection established to mx\.t\.test"
                      r"\[127\.0\.0\.18\]:%d: TLSv1\.3 with cipher " % port)

    def test_broken_tls_may_falls_back(self):
        dns, s, port = self.tls_setup("127.0.0.12", starttls="broken")
        a = self.sender(dns, port)
        qid, _ = send(a, "alice@a.test", ["u@t.test"])
        s.wait_messages(1)
        self.assertFalse(s.messages[0].tls)
        self.wait_log(a, r"TLS handshake with mx\.t\.test\[127\.0\.0\.12\]"
                      r":%d failed" % port)
        self.wait_log(a, r"%s: to=<u@t\.test>, .*status=sent" % qid)

    def test_broken_tls_encrypt_defers(self):
        dns, s, port = self.tls_setup("127.0.0.13", starttls="broken")
        a = self.sender(dns, port, smtp_tls_security_level="encrypt",
                        minimal_backoff_time="60s",
                        maximal_backoff_time="60s")
        qid, _ = send(a, "alice@a.test", ["u@t.test"])
        self.wait_log(a, r"%s: to=<u@t\.test>, .*dsn=4\.7\.5, "
                      r"status=deferred" % qid)
        time.sleep(0.5)
        self.assertEqual(s.messages, [])


def send_many(inst, rcpt, n, prefix):
    """n messages to rcpt over one SMTP session; returns their subjects."""
    subjects = []
    s = smtp_connect(inst, timeout=120)
    try:
        s.ehlo()
        for i in range(n):
            subj = "%s-%04d" % (prefix, i)
            msg = ("From: alice@a.test\r\nTo: %s\r\nSubject: %s\r\n\r\n"
                   "body %d\r\n" % (rcpt, subj, i)).encode()
            s.sendmail("alice@a.test", [rcpt], msg)
            subjects.append(subj)
        s.quit()
    finally:
        s.close()
    return subjects


def subject_of(m):
    hit = re.search(rb"^Subject: (\S+)", m.data, re.M)
    return hit.group(1).decode() if hit else None


class TestRemoteLoad(RemoteCase):
    time_limit = 400

    def test_500_messages_concurrency_and_reuse(self):
        port = free_port("127.0.0.14")
        dns = self.dns(Zone().mx("g.test", "mx.g.test", 10)
                       .host("mx.g.test", "127.0.0.14"))
        s = self.sink("127.0.0.14", port)
        a = self.sender(dns, port, smtp_destination_concurrency_limit="5",
                        smtp_connection_reuse_time="30s")
        subjects = send_many(a, "u@g.test", 500, "load")
        s.wait_messages(500, timeout=240)
        self.assertEqual(sorted(subject_of(m) for m in s.messages),
                         subjects)
        self.assertLessEqual(s.max_concurrent, 5)
        # Connections are reused: far fewer connections than messages.
        self.assertLess(len(s.connections), 100,
                        "%d connections for 500 messages"
                        % len(s.connections))
        self.assertIn("rset", [c for conn in s.connections
                               for c in conn.commands])

    def test_kill_deliverd_and_queued_mid_run(self):
        import os
        import signal
        port = free_port("127.0.0.15")
        dns = self.dns(Zone().mx("h.test", "mx.h.test", 10)
                       .host("mx.h.test", "127.0.0.15"))
        s = self.sink("127.0.0.15", port)
        a = self.sender(dns, port, smtp_destination_concurrency_limit="5")
        subjects = send_many(a, "u@h.test", 1000, "kill")
        wait_until(lambda: len(s.messages) >= 100, 120,
                   what="the first 100 messages at the sink")

        def smtp_deliverd():
            out = []
            for pid in a.pids("tern-deliverd"):
                try:
                    with open("/proc/%d/cmdline" % pid, "rb") as f:
                        argv = f.read().split(b"\0")
                except OSError:
                    continue
                if b"smtp" in argv:
                    out.append(pid)
            return out

        def kill(pid):
            # A connection process may finish between listing and kill.
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

        for pid in smtp_deliverd():
            kill(pid)
        wait_until(lambda: len(s.messages) >= 300, 120,
                   what="deliveries to resume after killing deliverd")
        for pid in a.pids("tern-queued"):
            kill(pid)
        got = lambda: {subject_of(m) for m in s.messages}
        wait_until(lambda: got() >= set(subjects), 240,
                   what=lambda: "every message at least once (missing %d)"
                   % len(set(subjects) - got()))


class TestRelayhost(RemoteCase):

    def test_relayhost_with_auth_over_tls(self):
        import os
        import subprocess
        from tern_harness import binary
        port = free_port("127.0.0.16")
        d = tempfile.mkdtemp(prefix="tern-cert-")
        ctx = make_cert(d, "smarthost.test")
        s = self.sink("127.0.0.16", port, tls=ctx,
                      auth={"relayuser": "s3cret"})
        # No DNS at all: the bracketed relayhost is used as is.
        dns = self.dns(Zone())
        maps = os.path.join(d, "sasl_passwd")
        with open(maps, "w") as f:
            f.write("[127.0.0.16]:%d relayuser:s3cret\n" % port)
        subprocess.run([binary("ternmap"), maps], check=True, timeout=30)
        os.chmod(d, 0o755)
        os.chmod(maps + ".db", 0o644)
        a = self.sender(dns, 25, relayhost="[127.0.0.16]:%d" % port,
                        smtp_sasl_password_maps=maps)
        qid, _ = send(a, "alice@a.test", ["v@far.example"])
        s.wait_messages(1)
        self.assertTrue(s.messages[0].tls)
        self.assertEqual(s.messages[0].conn.auth, "relayuser")
        self.wait_log(a, r"%s: to=<v@far\.example>, relay=127\.0\.0\.16"
                      r"\[127\.0\.0\.16\]:%d, .*status=sent" % (qid, port))
