"""
MTA-STS (RFC 8461) in the smtp transport: the _mta-sts TXT record served
by dnsmasq, the policy by an HTTPS server on 127.0.0.161:443 whose
certificate comes from a test CA made here (tern trusts it through
smtp_tls_CAfile), the MX hosts by aiosmtpd sinks with STARTTLS.

What is proved: enforce keeps mail away from an MX host outside the
policy and from one whose certificate does not verify, and delivers over
verified TLS to one inside it; testing delivers and logs what enforce
would have refused; the cached policy holds when the HTTPS server is down
(across a restart of tern, and when a new TXT id cannot be fetched); a
new TXT id makes tern fetch the policy again; an oversized or malformed
policy is ignored with a log line; a policy-map entry wins over MTA-STS.

With RFC 8689: a REQUIRETLS message goes to an MX host that the policy
names over TLS verified for that name (MTA-STS validates the MX name:
enforce, and testing too, RFC 8689 4.2.1 step 2 asks only for the
RFC 8461 4.1 match), with REQUIRETLS on MAIL; to a host no policy
names it is not sent and bounces 5.7.10; "TLS-Required: No" makes an
enforce policy ignored, and for such a message the policy is not even
looked up: no TXT query, no HTTPS request, a cached policy not refreshed,
while a message without the header to the same domain fetches and obeys
it, never on a connection opened for the other.
"""

import http.server
import os
import pwd
import re
import subprocess
import tempfile
import threading

from dns_harness import DnsServer, Zone
from sink import Sink
from tern_harness import HarnessError, TernTestCase, binary, is_root, \
    wait_until
from test_requiretls import message, submit
from test_tls_verify import TestCA, common_port, send

DOMAIN = "sts.test"
STS_ADDR = "127.0.0.161"        # mta-sts.sts.test, port 443
MX_GOOD = ("mx.sts.test", "127.0.0.162")
MX_OTHER = ("mx.other.test", "127.0.0.163")
MX_SELF = ("mx2.sts.test", "127.0.0.164")       # self-signed certificate


def policy(mode="enforce", mx=("mx.sts.test",), max_age=86400):
    lines = ["version: STSv1", "mode: %s" % mode]
    lines += ["mx: %s" % m for m in mx]
    lines.append("max_age: %d" % max_age)
    return "\r\n".join(lines) + "\r\n"


class _PolicyHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def do_GET(self):
        srv = self.server
        with srv.lock:
            srv.requests.append((self.path, self.headers.get("Host")))
        if self.path != "/.well-known/mta-sts.txt":
            self.send_error(404)
            return
        body = srv.body.encode()
        self.send_response(200)
        self.send_header("Content-Type", srv.ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        pass


class PolicyServer:
    """https://mta-sts.DOMAIN/.well-known/mta-sts.txt on STS_ADDR:443."""

    def __init__(self, ctx, body, ctype="text/plain"):
        self.httpd = http.server.ThreadingHTTPServer((STS_ADDR, 443),
                                                     _PolicyHandler)
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket,
                                            server_side=True)
        self.httpd.daemon_threads = True
        self.httpd.body = body
        self.httpd.ctype = ctype
        self.httpd.requests = []
        self.httpd.lock = threading.Lock()
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       daemon=True)
        self.thread.start()
        self.running = True

    @property
    def requests(self):
        with self.httpd.lock:
            return list(self.httpd.requests)

    def stop(self):
        if self.running:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.thread.join(5)
            self.running = False


class MtaStsCase(TernTestCase):
    time_limit = 240

    def setUp(self):
        if not is_root():
            raise HarnessError("MTA-STS tests bind port 443: run as root")
        self.dir = tempfile.mkdtemp(prefix="tern-sts-")
        os.chmod(self.dir, 0o755)
        self.ca = TestCA(self.dir)
        self.port = common_port([MX_GOOD[1], MX_OTHER[1], MX_SELF[1]])
        self.sinks = {}
        for (mx, addr), kind in ((MX_GOOD, "good"), (MX_OTHER, "good"),
                                 (MX_SELF, "selfsigned")):
            ctx = self.ca.context(mx, [mx], self_signed=kind == "selfsigned")
            s = Sink(addr, self.port, tls=ctx, starttls="ok").start()
            self.addCleanup(s.stop)
            self.sinks[mx] = s
        self.dns = None

    def zone(self, mx, txt_id="1"):
        z = Zone(domains=("test",))
        z.mx(DOMAIN, mx[0], 10).host(mx[0], mx[1])
        z.host("mta-sts." + DOMAIN, STS_ADDR)
        if txt_id is not None:
            z.txt("_mta-sts." + DOMAIN, "v=STSv1; id=%s;" % txt_id)
        return z

    def serve_dns(self, mx, txt_id="1"):
        """Start dnsmasq, or replace it on the same port with a new zone."""
        port = None
        if self.dns is not None:
            port = self.dns.port
            self.dns.cleanup()
        self.dns = DnsServer(self.zone(mx, txt_id)).start(port=port)
        self.addCleanup(self.dns.cleanup)
        return self.dns

    def serve_policy(self, body, ctype="text/plain"):
        ctx = self.ca.context("mta-sts", ["mta-sts." + DOMAIN])
        srv = PolicyServer(ctx, body, ctype)
        self.addCleanup(srv.stop)
        return srv

    def sender(self, **kw):
        settings = {"dns_servers": self.dns.address,
                    "smtp_port": str(self.port),
                    "smtp_connect_timeout": "3s", "smtp_helo_timeout": "10s",
                    "smtp_tls_CAfile": self.ca.crt,
                    "smtp_mta_sts_timeout": "20s",
                    # Each message on a new connection: a kept one was
                    # checked against the policy when it was opened.
                    "smtp_connection_reuse_time": "0"}
        settings.update(kw)
        return self.instance(hostname="a.test", **settings)

    def wait_log(self, inst, pattern, timeout=60):
        rx = re.compile(pattern)
        return wait_until(lambda: rx.search(inst.log()), timeout,
                          what=lambda: "log line /%s/; log tail:\n%s"
                          % (pattern, inst.log_tail(30)))

    def delivered(self, inst, mx, qid, rcpt, tls=True):
        self.wait_log(inst, r"%s: to=<%s>, relay=%s\[.*status=sent"
                      % (qid, re.escape(rcpt), re.escape(mx)))
        got = [m for m in self.sinks[mx].messages if rcpt in m.rcpt_tos]
        self.assertEqual(len(got), 1, "%s: %d copies" % (rcpt, len(got)))
        self.assertEqual(got[0].tls, tls)

    def deferred(self, inst, qid, rcpt, reason):
        self.wait_log(inst, r"%s: to=<%s>, relay=none, .*dsn=4\.7\.5, "
                      r"status=deferred \(.*%s" % (qid, re.escape(rcpt),
                                                 reason))
        for s in self.sinks.values():
            self.assertEqual([m for m in s.messages if rcpt in m.rcpt_tos],
                             [], "%s was delivered" % rcpt)


class TestMtaStsEnforce(MtaStsCase):

    def test_enforce_defers_when_no_mx_matches_policy(self):
        self.serve_dns(MX_OTHER)
        self.serve_policy(policy("enforce", mx=("mx.sts.test",)))
        a = self.sender()
        qid, = send(a, ["u@" + DOMAIN])
        self.deferred(a, qid, "u@" + DOMAIN, r"mta-sts enforce: no MX host "
                      r"of sts\.test matches its MTA-STS policy \(id 1\)")
        self.wait_log(a, r"%s: mta-sts enforce: MX host mx\.other\.test of "
                      r"sts\.test does not match the policy; not used" % qid)
        # Not even a connection to the host outside the policy.
        self.assertEqual(self.sinks[MX_OTHER[0]].connections, [])

    def test_enforce_delivers_over_verified_tls_to_matching_mx(self):
        self.serve_dns(MX_GOOD)
        # A wildcard pattern matches the one label in front of it.
        srv = self.serve_policy(policy("enforce", mx=("*.sts.test",)))
        a = self.sender()
        qid, = send(a, ["u@" + DOMAIN])
        self.delivered(a, MX_GOOD[0], qid, "u@" + DOMAIN)
        self.wait_log(a, r"%s: mta-sts enforce: policy of sts\.test \(id 1\) "
                      r"applies" % qid)
        self.wait_log(a, r"Verified TLS connection established to "
                      r"mx\.sts\.test\[127\.0\.0\.162\]")
        self.assertEqual(srv.requests, [("/.well-known/mta-sts.txt",
                                         "mta-sts.sts.test")])
        # The cache: one file for the domain, tern_user's.
        path = os.path.join(a.spool, "smtp", "mta-sts", DOMAIN)
        st = os.stat(path)
        self.assertEqual(st.st_uid, pwd.getpwnam("_tern").pw_uid)
        with open(path) as f:
            self.assertIn("mode: enforce", f.read())

    def test_enforce_defers_when_mx_certificate_does_not_verify(self):
        self.serve_dns(MX_SELF)
        self.serve_policy(policy("enforce", mx=("mx2.sts.test",)))
        # The global level "may" would take any certificate.
        a = self.sender(smtp_tls_security_level="may")
        qid, = send(a, ["u@" + DOMAIN])
        self.deferred(a, qid, "u@" + DOMAIN, r"mta-sts enforce \(policy of "
                      r"sts\.test\): TLS is required \(level verify\), but "
                      r"the certificate of host mx2\.sts\.test.* did not "
                      r"verify: self-signed certificate")
        cmds = [c for conn in self.sinks[MX_SELF[0]].connections
                for c in conn.commands]
        self.assertNotIn("mail", cmds)

    def test_policy_map_entry_wins_over_mta_sts(self):
        self.serve_dns(MX_OTHER)
        srv = self.serve_policy(policy("enforce", mx=("mx.sts.test",)))
        pmap = os.path.join(self.dir, "tls_policy")
        with open(pmap, "w") as f:
            f.write("sts.test encrypt\n")
        subprocess.run([binary("ternmap"), pmap], check=True, timeout=30)
        os.chmod(pmap + ".db", 0o644)
        a = self.sender(smtp_tls_policy_map=pmap)
        qid, = send(a, ["u@" + DOMAIN])
        self.delivered(a, MX_OTHER[0], qid, "u@" + DOMAIN)
        self.assertEqual(srv.requests, [])


class TestMtaStsTesting(MtaStsCase):

    def test_testing_mode_delivers_and_logs_what_enforce_would_refuse(self):
        self.serve_dns(MX_OTHER)
        self.serve_policy(policy("testing", mx=("mx.sts.test",)))
        a = self.sender()
        qid, = send(a, ["u@" + DOMAIN])
        self.delivered(a, MX_OTHER[0], qid, "u@" + DOMAIN)
        self.wait_log(a, r"%s: mta-sts testing: policy of sts\.test \(id 1\) "
                      r"applies" % qid)
        self.wait_log(a, r"%s: mta-sts testing: MX host mx\.other\.test of "
                      r"sts\.test does not match the policy; enforce would "
                      r"not use it" % qid)

    def test_testing_mode_logs_a_certificate_that_would_not_verify(self):
        self.serve_dns(MX_SELF)
        self.serve_policy(policy("testing", mx=("mx2.sts.test",)))
        a = self.sender()
        qid, = send(a, ["u@" + DOMAIN])
        self.delivered(a, MX_SELF[0], qid, "u@" + DOMAIN)
        self.wait_log(a, r"%s: mta-sts testing: mx2\.sts\.test\[.*: the "
                      r"certificate did not verify \(self-signed "
                      r"certificate\); enforce would have refused the host"
                      % qid)


class TestMtaStsCache(MtaStsCase):

    def test_cached_policy_holds_while_https_server_is_down(self):
        self.serve_dns(MX_GOOD)
        srv = self.serve_policy(policy("enforce", mx=("mx.sts.test",)))
        a = self.sender()
        qid, = send(a, ["u@" + DOMAIN])
        self.delivered(a, MX_GOOD[0], qid, "u@" + DOMAIN)
        srv.stop()
        # Same id, server down, tern restarted: the cache alone answers.
        a.stop()
        a.start()
        qid2, = send(a, ["v@" + DOMAIN])
        self.delivered(a, MX_GOOD[0], qid2, "v@" + DOMAIN)
        self.wait_log(a, r"%s: mta-sts enforce: policy of sts\.test \(id 1\) "
                      r"applies" % qid2)
        # A new id that cannot be fetched, and an MX host outside the
        # cached policy: the cached policy still holds, so no delivery.
        self.serve_dns(MX_OTHER, txt_id="2")
        qid3, = send(a, ["w@" + DOMAIN])
        self.wait_log(a, r"%s: mta-sts: cannot fetch the policy of sts\.test:"
                      r" cannot connect to mta-sts\.sts\.test: .*; the cached "
                      r"policy stays" % qid3)
        self.deferred(a, qid3, "w@" + DOMAIN, r"mta-sts enforce: no MX host "
                      r"of sts\.test matches its MTA-STS policy \(id 1\)")
        # No TXT record at all: the unexpired cached policy still holds.
        self.serve_dns(MX_OTHER, txt_id=None)
        qid4, = send(a, ["x@" + DOMAIN])
        self.deferred(a, qid4, "x@" + DOMAIN, r"mta-sts enforce: no MX host "
                      r"of sts\.test matches its MTA-STS policy \(id 1\)")
        self.assertEqual(self.sinks[MX_OTHER[0]].connections, [])

    def test_changed_txt_id_fetches_the_policy_again(self):
        self.serve_dns(MX_OTHER)
        srv = self.serve_policy(policy("testing", mx=("mx.sts.test",)))
        a = self.sender()
        qid, = send(a, ["u@" + DOMAIN])
        self.delivered(a, MX_OTHER[0], qid, "u@" + DOMAIN)
        self.assertEqual(len(srv.requests), 1)
        # Same id: the cache answers, the server is not asked.
        qid2, = send(a, ["v@" + DOMAIN])
        self.delivered(a, MX_OTHER[0], qid2, "v@" + DOMAIN)
        self.assertEqual(len(srv.requests), 1)
        # A new id and a new policy: fetched, and enforced at once.
        srv.httpd.body = policy("enforce", mx=("mx.sts.test",))
        self.serve_dns(MX_OTHER, txt_id="2")
        qid3, = send(a, ["w@" + DOMAIN])
        self.wait_log(a, r"%s: mta-sts: fetched the policy of sts\.test "
                      r"\(id 2\): mode enforce" % qid3)
        self.deferred(a, qid3, "w@" + DOMAIN, r"mta-sts enforce: no MX host "
                      r"of sts\.test matches its MTA-STS policy \(id 2\)")
        self.assertEqual(len(srv.requests), 2)


class TestMtaStsBadPolicy(MtaStsCase):

    def bad_policy_ignored(self, srv_kw, log):
        self.serve_dns(MX_OTHER)
        srv = self.serve_policy(**srv_kw)
        a = self.sender()
        qid, = send(a, ["u@" + DOMAIN])
        # Each says enforce for another MX host: used, it would defer.
        self.delivered(a, MX_OTHER[0], qid, "u@" + DOMAIN)
        self.wait_log(a, r"%s: mta-sts: %s" % (qid, log))
        self.assertNotRegex(a.log(), r"mta-sts enforce")
        self.assertEqual(len(srv.requests), 1)
        self.assertFalse(os.path.exists(os.path.join(a.spool, "smtp",
                                                     "mta-sts", DOMAIN)))

    def test_oversized_policy_is_ignored(self):
        body = policy("enforce") + "x-pad: %s\r\n" % ("a" * 70000)
        self.bad_policy_ignored(dict(body=body), r"cannot fetch the policy "
                                r"of sts\.test: policy larger than 65536 "
                                r"octets")

    def test_malformed_policy_is_ignored(self):
        body = policy("enforce").replace("mode: enforce", "mode: enforcing")
        self.bad_policy_ignored(dict(body=body), r"policy of sts\.test "
                                r"ignored: bad or repeated mode field")

    def test_policy_not_served_as_text_plain_is_ignored(self):
        self.bad_policy_ignored(dict(body=policy("enforce"),
                                     ctype="text/html"),
                                r"cannot fetch the policy of sts\.test: "
                                r"media type is not text/plain")


class TestMtaStsRequireTls(MtaStsCase):

    def requiretls_sender(self, **kw):
        """a.test at global level may, no policy map, accepting
        REQUIRETLS over STARTTLS; the MX sinks offer REQUIRETLS."""
        for sink in self.sinks.values():
            sink.requiretls = True
        crt, key = self.ca.issue("a", ["a.test"])
        return self.sender(smtp_tls_security_level="may",
                           smtpd_tls_cert_file=crt, smtpd_tls_key_file=key,
                           **kw)

    def sts_txt_queries(self):
        """How many times dnsmasq was asked for _mta-sts.sts.test."""
        return len(re.findall(r"query\[TXT\] _mta-sts\.sts\.test ",
                              self.dns.log()))

    def submit_tls_required_no(self, a, rcpt):
        return submit(self, a, rcpt, message(rcpt, "TLS-Required: No\r\n"),
                      requiretls=False)

    def relayed_with_requiretls(self, a, qid, rcpt):
        self.delivered(a, MX_GOOD[0], qid, rcpt)
        got = [m for m in self.sinks[MX_GOOD[0]].messages
               if rcpt in m.rcpt_tos]
        self.assertTrue(got[0].requiretls, "MAIL lacked REQUIRETLS")
        self.wait_log(a, r"%s: requiretls: mx\.sts\.test\[127\.0\.0\.162\]"
                      r":\d+: TLS authenticated by mta-sts, REQUIRETLS "
                      r"offered" % qid)

    def bounced_unsent(self, a, qid, rcpt, mx):
        self.wait_log(a, r"%s: to=<%s>, relay=none, .*dsn=5\.7\.10, "
                      r"status=bounced" % (qid, re.escape(rcpt)))
        (path,) = a.wait_for_delivery("alice", 1, timeout=60)
        with open(path, "rb") as f:
            self.assertIn(b"Status: 5.7.10", f.read())
        cmds = [c for conn in self.sinks[mx].connections
                for c in conn.commands]
        self.assertNotIn("mail", cmds)

    def test_requiretls_relayed_to_mx_that_mta_sts_enforce_validates(self):
        self.serve_dns(MX_GOOD)
        self.serve_policy(policy("enforce", mx=("mx.sts.test",)))
        a = self.requiretls_sender()
        rcpt = "u@" + DOMAIN
        qid = submit(self, a, rcpt, message(rcpt))
        self.relayed_with_requiretls(a, qid, rcpt)
        self.wait_log(a, r"%s: mta-sts enforce: policy of sts\.test \(id 1\) "
                      r"applies" % qid)

    def test_requiretls_relayed_to_mx_that_mta_sts_testing_names(self):
        # RFC 8689 4.2.1 step 2: the MX name validated "using MTA-STS,
        # as described in [RFC8461], Section 4.1" (the mx match); step
        # 4: the certificate verified for it.  The mode is not asked.
        self.serve_dns(MX_GOOD)
        self.serve_policy(policy("testing", mx=("mx.sts.test",)))
        a = self.requiretls_sender()
        rcpt = "u@" + DOMAIN
        qid = submit(self, a, rcpt, message(rcpt))
        self.relayed_with_requiretls(a, qid, rcpt)
        self.wait_log(a, r"Verified TLS connection established to "
                      r"mx\.sts\.test\[127\.0\.0\.162\]")

    def test_requiretls_bounces_5_7_10_for_mx_outside_testing_policy(self):
        # A testing policy does not validate a host it does not name,
        # whose certificate verifies for its own name: REQUIRETLS mail
        # is not sent there, though other mail is (testing).
        self.serve_dns(MX_OTHER)
        self.serve_policy(policy("testing", mx=("mx.sts.test",)))
        a = self.requiretls_sender()
        rcpt = "u@" + DOMAIN
        qid = submit(self, a, rcpt, message(rcpt))
        self.bounced_unsent(a, qid, rcpt, MX_OTHER[0])
        self.wait_log(a, r"%s: requiretls: REQUIRETLS: the TLS connection "
                      r"to host mx\.other\.test\[.* is not authenticated"
                      % qid)
        qid2 = submit(self, a, "v@" + DOMAIN, message("v@" + DOMAIN),
                      requiretls=False)
        self.delivered(a, MX_OTHER[0], qid2, "v@" + DOMAIN)

    def test_tls_required_no_ignores_mta_sts_enforce(self):
        # RFC 8689 4.1: the header asks that recipient TLS policies,
        # MTA-STS included, be ignored.
        self.serve_dns(MX_SELF)
        self.serve_policy(policy("enforce", mx=("mx2.sts.test",)))
        a = self.requiretls_sender()
        rcpt = "u@" + DOMAIN
        qid = submit(self, a, rcpt, message(rcpt, "TLS-Required: No\r\n"),
                     requiretls=False)
        self.delivered(a, MX_SELF[0], qid, rcpt)
        self.wait_log(a, r"%s: tls-required-no: MTA-STS of sts\.test not "
                      r"looked up at the sender's request" % qid)
        # Without the header the policy holds: the mail waits.
        qid2 = submit(self, a, "v@" + DOMAIN, message("v@" + DOMAIN),
                      requiretls=False)
        self.deferred(a, qid2, "v@" + DOMAIN, r"mta-sts enforce \(policy of "
                      r"sts\.test\): TLS is required \(level verify\), but "
                      r"the certificate of host mx2\.sts\.test.* did not "
                      r"verify: self-signed certificate")

    def test_tls_required_no_message_fetches_no_mta_sts_policy(self):
        # The policy would be ignored anyway: looking it up would only
        # delay the message and tell the domain that mail is coming.
        self.serve_dns(MX_GOOD)
        srv = self.serve_policy(policy("enforce", mx=("mx.sts.test",)))
        a = self.requiretls_sender()
        rcpt = "u@" + DOMAIN
        qid = self.submit_tls_required_no(a, rcpt)
        self.delivered(a, MX_GOOD[0], qid, rcpt)
        self.assertEqual(srv.requests, [])
        self.assertEqual(self.sts_txt_queries(), 0)
        self.assertNotRegex(a.log(), r"%s: mta-sts" % qid)
        self.wait_log(a, r"%s: tls-required-no: MTA-STS of sts\.test not "
                      r"looked up at the sender's request" % qid)
        self.assertFalse(os.path.exists(os.path.join(a.spool, "smtp",
                                                     "mta-sts", DOMAIN)))
        # A message without the header to the same domain: fetched, and
        # delivered as the policy says (verified TLS to a named host).
        qid2 = submit(self, a, "v@" + DOMAIN, message("v@" + DOMAIN),
                      requiretls=False)
        self.delivered(a, MX_GOOD[0], qid2, "v@" + DOMAIN)
        self.wait_log(a, r"%s: mta-sts: fetched the policy of sts\.test "
                      r"\(id 1\): mode enforce" % qid2)
        self.wait_log(a, r"%s: mta-sts enforce: policy of sts\.test \(id 1\) "
                      r"applies" % qid2)
        self.wait_log(a, r"Verified TLS connection established to "
                      r"mx\.sts\.test\[127\.0\.0\.162\]")
        self.assertEqual(srv.requests, [("/.well-known/mta-sts.txt",
                                         "mta-sts.sts.test")])
        self.assertGreaterEqual(self.sts_txt_queries(), 1)

    def test_tls_required_no_message_does_not_refresh_cached_policy(self):
        self.serve_dns(MX_GOOD)
        srv = self.serve_policy(policy("enforce", mx=("mx.sts.test",)))
        a = self.requiretls_sender()
        qid = submit(self, a, "u@" + DOMAIN, message("u@" + DOMAIN),
                     requiretls=False)
        self.delivered(a, MX_GOOD[0], qid, "u@" + DOMAIN)
        self.assertEqual(len(srv.requests), 1)
        # A new id: whoever looks the policy up now fetches it again.
        self.serve_dns(MX_GOOD, txt_id="2")
        rcpt = "v@" + DOMAIN
        qid2 = self.submit_tls_required_no(a, rcpt)
        self.delivered(a, MX_GOOD[0], qid2, rcpt)
        self.assertEqual(len(srv.requests), 1)
        self.assertEqual(self.sts_txt_queries(), 0)
        self.assertNotRegex(a.log(), r"%s: mta-sts" % qid2)
        # Without the header: the new id is seen and fetched.
        qid3 = submit(self, a, "w@" + DOMAIN, message("w@" + DOMAIN),
                      requiretls=False)
        self.delivered(a, MX_GOOD[0], qid3, "w@" + DOMAIN)
        self.wait_log(a, r"%s: mta-sts: fetched the policy of sts\.test "
                      r"\(id 2\): mode enforce" % qid3)
        self.assertEqual(len(srv.requests), 2)

    def test_connection_kept_for_tls_required_no_carries_no_other_mail(self):
        # The connection opened without the policy is kept for reuse; a
        # message without the header to the same domain must not ride
        # on it, but look the policy up and meet it (here it cannot).
        self.serve_dns(MX_SELF)
        srv = self.serve_policy(policy("enforce", mx=("mx2.sts.test",)))
        a = self.requiretls_sender(smtp_connection_reuse_time="120s")
        rcpt = "u@" + DOMAIN
        qid = self.submit_tls_required_no(a, rcpt)
        self.delivered(a, MX_SELF[0], qid, rcpt)
        self.assertEqual(srv.requests, [])
        qid2 = submit(self, a, "v@" + DOMAIN, message("v@" + DOMAIN),
                      requiretls=False)
        self.deferred(a, qid2, "v@" + DOMAIN, r"mta-sts enforce \(policy of "
                      r"sts\.test\): TLS is required \(level verify\), but "
                      r"the certificate of host mx2\.sts\.test.* did not "
                      r"verify: self-signed certificate")
        self.assertEqual(len(srv.requests), 1)
        cmds = [c for conn in self.sinks[MX_SELF[0]].connections
                for c in conn.commands]
        self.assertEqual(cmds.count("mail"), 1)
