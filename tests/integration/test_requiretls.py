"""
REQUIRETLS and "TLS-Required: No" (RFC 8689) end to end.

Receipt: REQUIRETLS is advertised only over TLS (after STARTTLS, and at
once on implicit TLS), and MAIL ... REQUIRETLS in clear gets 530 5.7.10.

Relay: a REQUIRETLS message goes tern -> tern when the second tern offers
REQUIRETLS over TLS whose certificate verifies (smtp_tls_policy_map:
verify), and carries REQUIRETLS on that hop; to a server that does not
offer REQUIRETLS, or whose certificate does not verify, it is not sent
at all and bounces with 5.7.30 or 5.7.10, the bounce holding only the
header (RFC 8689 5).  "TLS-Required: No" lets a message through a
"secure" policy that the server's certificate fails; without it the
message waits.

The CA and certificates are made here (test_tls_verify.TestCA); every
server is on its own loopback address, found through the test DNS.
"""

import os
import re
import smtplib
import subprocess

from dns_harness import Zone
from tern_harness import binary
from tern_tls import client_context, secure_instance, submissions
from test_dane import TERN_ADDR, TERN_DOMAIN, DaneCase
from test_tls_verify import TlsCase, common_port

B, NORT, SEC = "127.0.0.81", "127.0.0.82", "127.0.0.83"

SUBJECT = "Subject: requiretls test\r\n"


def message(rcpt, extra=""):
    return ("From: alice@a.test\r\nTo: %s\r\n%s%s\r\nthe secret body\r\n"
            % (rcpt, SUBJECT, extra)).encode()


def submit(case, inst, rcpt, data, requiretls=True, ret_full=False,
           sender="alice@a.test"):
    """Send data to rcpt through inst over STARTTLS; the queue ID."""
    s = smtplib.SMTP(inst.listen_host, inst.port,
                     local_hostname="client.test", timeout=30)
    try:
        s.ehlo()
        s.starttls(context=client_context())
        s.ehlo()
        opts = (["REQUIRETLS"] if requiretls else []) + \
            (["RET=FULL"] if ret_full else [])
        code, text = s.mail(sender, opts)
        case.assertEqual(code, 250, text)
        code, text = s.rcpt(rcpt)
        case.assertEqual(code, 250, text)
        code, text = s.data(data)
        case.assertEqual(code, 250, text)
        s.quit()
    finally:
        s.close()
    return re.search(r"queued as (\S+)", text.decode()).group(1)


class RequireTlsCase(TlsCase):

    def world(self):
        """DNS, the second tern (b.test), a sink without REQUIRETLS
        (nort.test) and one whose certificate names another host
        (sec.test), all on one port; then the sender a.test, with a
        policy map that verifies them."""
        port = common_port([B, NORT, SEC])
        zone = Zone(domains=("test",))
        zone.mx("b.test", "mx.b.test", 10).host("mx.b.test", B)
        zone.mx("nort.test", "mx.nort.test", 10).host("mx.nort.test", NORT)
        zone.mx("sec.test", "mx.sec.test", 10).host("mx.sec.test", SEC)
        # Two MX hosts: the preferred one lacks REQUIRETLS.
        zone.mx("multi.test", "mx.nort.test", 10)
        zone.mx("multi.test", "mx.b.test", 20)
        dns = self.dns(zone)
        bcrt, bkey = self.ca.issue("b", ["mx.b.test"])
        self.b = self.instance(hostname="b.test", listen_host=B, port=port,
                               local_domains="b.test, multi.test",
                               smtpd_tls_cert_file=bcrt,
                               smtpd_tls_key_file=bkey)
        self.nort = self.sink(NORT, port, tls=self.ca.context(
            "nort", ["mx.nort.test"]))
        self.sec = self.sink(SEC, port, tls=self.ca.context(
            "sec", ["other.example"]))
        pmap = os.path.join(self.dir, "tls_policy")
        with open(pmap, "w") as f:
            f.write("b.test verify\nnort.test verify\nsec.test secure\n"
                    "multi.test verify\n")
        subprocess.run([binary("ternmap"), pmap], check=True, timeout=30)
        os.chmod(pmap + ".db", 0o644)
        acrt, akey = self.ca.issue("a", ["a.test"])
        self.a = self.sender(dns, port, smtp_tls_security_level="may",
                             smtp_tls_policy_map=pmap,
                             smtpd_tls_cert_file=acrt,
                             smtpd_tls_key_file=akey)

    def submit(self, rcpt, data, **kw):
        return submit(self, self.a, rcpt, data, **kw)

    def bounce(self):
        """The one notice alice got, as text."""
        (path,) = self.a.wait_for_delivery("alice", 1, timeout=60)
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def mail_commands(self, sink):
        return [c for conn in sink.connections for c in conn.commands
                if c == "mail"]


class TestRequireTlsRelay(RequireTlsCase):

    def test_requiretls_relayed_tern_to_tern_with_requiretls_on_hop(self):
        self.world()
        qid = self.submit("bob@b.test", message("bob@b.test"))
        (path,) = self.b.wait_for_delivery("bob", 1, timeout=60)
        with open(path, "rb") as f:
            self.assertIn(b"the secret body", f.read())
        # The first hop checked the peer, the second received the tag.
        self.wait_log(self.a, r"%s: requiretls: mx\.b\.test\[%s\]:\d+: "
                      r"TLS authenticated by verify, REQUIRETLS offered"
                      % (qid, re.escape(B)))
        self.wait_log(self.a, r"%s: to=<bob@b\.test>, .*status=sent" % qid)
        self.wait_log(self.b, r"requiretls: received with REQUIRETLS")
        self.assertRegex(self.b.log(), r"Anonymous TLS connection "
                         r"established from .*\[127\.0\.0\.1\]")

    def test_requiretls_tries_next_mx_when_first_lacks_requiretls(self):
        # RFC 8689 4.2.1: QUIT, and the next MX host; a plain message
        # still goes to the preferred one.
        self.world()
        qid = self.submit("bob@multi.test", message("bob@multi.test"))
        self.b.wait_for_delivery("bob", 1, timeout=60)
        self.wait_log(self.a, r"%s: requiretls: host mx\.nort\.test\[%s\]"
                      r":\d+ does not offer REQUIRETLS" % (qid, NORT))
        self.wait_log(self.a, r"%s: to=<bob@multi\.test>, relay=mx\.b\.test"
                      r".*status=sent" % qid)
        self.assertEqual(self.mail_commands(self.nort), [])
        cmds = [c for conn in self.nort.connections for c in conn.commands]
        self.assertEqual(cmds.count("starttls"), 1, cmds)
        self.assertIn("quit", cmds)
        self.submit("carol@multi.test", message("carol@multi.test"),
                    requiretls=False)
        self.nort.wait_messages(1, timeout=60)
        self.assertEqual(self.nort.recipients(), ["carol@multi.test"])

    def test_requiretls_bounces_5_7_30_when_peer_lacks_requiretls(self):
        self.world()
        qid = self.submit("u@nort.test", message("u@nort.test"),
                          ret_full=True)
        self.wait_log(self.a, r"%s: to=<u@nort\.test>, relay=none, .*"
                      r"dsn=5\.7\.30, status=bounced \(.*does not offer "
                      r"REQUIRETLS" % qid)
        dsn = self.bounce()
        self.assertIn("Status: 5.7.30", dsn)
        self.assertIn("Action: failed", dsn)
        # RFC 8689 5: the header only, though RET=FULL was asked for.
        self.assertIn("requiretls test", dsn)
        self.assertNotIn("the secret body", dsn)
        # The server was asked nothing: not even MAIL.
        self.assertEqual(self.mail_commands(self.nort), [])
        self.assertEqual(self.nort.messages, [])

    def test_requiretls_bounces_5_7_10_when_cert_fails_header_ignored(self):
        # TLS-Required: No is ignored with REQUIRETLS (RFC 8689 4.1).
        self.world()
        qid = self.submit("u@sec.test", message("u@sec.test",
                                                "TLS-Required: No\r\n"))
        self.wait_log(self.a, r"%s: to=<u@sec\.test>, relay=none, .*"
                      r"dsn=5\.7\.10, status=bounced \(.*did not verify: "
                      r"name mismatch" % qid)
        self.assertIn("Status: 5.7.10", self.bounce())
        self.assertEqual(self.mail_commands(self.sec), [])
        self.assertNotIn("tls-required-no", self.a.log())

    def test_tls_required_no_overrides_secure_policy(self):
        self.world()
        qid = self.submit("u@sec.test", message("u@sec.test",
                                                "TLS-Required: No\r\n"),
                          requiretls=False)
        self.wait_log(self.a, r"%s: to=<u@sec\.test>, .*status=sent" % qid)
        self.wait_log(self.a, r"%s: tls-required-no: mx\.sec\.test: TLS "
                      r"policy secure of sec\.test ignored" % qid)
        got = [m for m in self.sec.messages if "u@sec.test" in m.rcpt_tos]
        self.assertEqual(len(got), 1)
        self.assertTrue(got[0].tls, "opportunistic TLS was not used")
        self.assertIn(b"TLS-Required: No", got[0].data)
        # The same message without the header waits for the policy.
        qid2 = self.submit("v@sec.test", message("v@sec.test"),
                           requiretls=False)
        self.wait_log(self.a, r"%s: to=<v@sec\.test>, relay=none, .*"
                      r"dsn=4\.7\.5, status=deferred \(.*did not verify"
                      % qid2)
        self.assertEqual([m for m in self.sec.messages
                          if "v@sec.test" in m.rcpt_tos], [])


    def test_requiretls_bounce_returns_with_requiretls_or_best_effort(self):
        # RFC 8689 5: the bounce specifies REQUIRETLS where the next hop
        # qualifies (the second tern), and is not dropped where it does
        # not (a server without REQUIRETLS).
        self.world()
        self.b.add_user("carol")
        qid = self.submit("u@nort.test", message("u@nort.test"),
                          sender="carol@b.test")
        self.wait_log(self.a, r"%s: to=<u@nort\.test>, .*dsn=5\.7\.30, "
                      r"status=bounced" % qid)
        (path,) = self.b.wait_for_delivery("carol", 1, timeout=60)
        with open(path, "rb") as f:
            dsn = f.read().decode("utf-8", "replace")
        self.assertIn("Status: 5.7.30", dsn)
        self.assertNotIn("the secret body", dsn)
        self.wait_log(self.b, r"requiretls: received with REQUIRETLS")
        self.assertRegex(self.b.log(), r"from=<>")
        qid = self.submit("u@sec.test", message("u@sec.test"),
                          sender="dave@nort.test")
        self.wait_log(self.a, r"%s: to=<u@sec\.test>, .*dsn=5\.7\.10, "
                      r"status=bounced" % qid)
        self.nort.wait_messages(1, timeout=60)
        m = self.nort.messages[0]
        self.assertEqual(m.mail_from, "<>")
        self.assertEqual(m.rcpt_tos, ["dave@nort.test"])
        self.assertNotIn("REQUIRETLS", m.mail_options)
        self.assertIn(b"Status: 5.7.10", m.data)


class TestRequireTlsReceipt(RequireTlsCase):

    def test_requiretls_advertised_and_accepted_only_over_tls(self):
        inst = secure_instance(self, passwd=False)
        s = smtplib.SMTP("127.0.0.1", inst.port,
                         local_hostname="client.test", timeout=30)
        try:
            s.ehlo()
            self.assertFalse(s.has_extn("requiretls"))
            code, text = s.mail("alice@a.test", ["REQUIRETLS"])
            self.assertEqual(code, 530)
            self.assertTrue(text.startswith(b"5.7.10 "), text)
            s.rset()
            s.starttls(context=client_context())
            s.ehlo()
            self.assertTrue(s.has_extn("requiretls"))
            code, text = s.mail("alice@a.test", ["REQUIRETLS"])
            self.assertEqual(code, 250, text)
            s.quit()
        finally:
            s.close()
        s = submissions(inst)
        try:
            self.assertTrue(s.has_extn("requiretls"))
        finally:
            s.close()


class TestRequireTlsDane(DaneCase):
    """REQUIRETLS over DANE (RFC 8689 2: the certificate "verified
    successfully using DANE"), and TLS-Required: No ignoring it."""

    def dane_sender(self):
        crt, key = self.ca.issue("a", ["a.test"])
        return self.sender(smtpd_tls_cert_file=crt, smtpd_tls_key_file=key)

    def test_requiretls_over_dane_relays_and_bounces_5_7_10(self):
        b = self.instance(hostname=TERN_DOMAIN, listen_host=TERN_ADDR,
                          port=self.port, smtpd_tls_cert_file=self.tern_crt,
                          smtpd_tls_key_file=self.tern_key)
        a = self.dane_sender()
        rcpt = "bob@" + TERN_DOMAIN
        qid = submit(self, a, rcpt, message(rcpt))
        b.wait_for_delivery("bob", 1, timeout=60)
        self.wait_log(a, r"%s: requiretls: mx\.tern\.dane\.test\[%s\]:\d+: "
                      r"TLS authenticated by dane, REQUIRETLS offered"
                      % (qid, re.escape(TERN_ADDR)))
        self.wait_log(b, r"requiretls: received with REQUIRETLS")
        # A TLSA record that does not match, and an unsigned zone (DANE
        # falls back to may, REQUIRETLS raises that to encrypt, and an
        # unauthenticated peer does not do): never sent, 5.7.10.
        for rcpt, domain in (("u@bad.dane.test", "bad.dane.test"),
                             ("u@plain.test", "plain.test")):
            qid = submit(self, a, rcpt, message(rcpt))
            self.wait_log(a, r"%s: to=<%s>, relay=none, .*dsn=5\.7\.10, "
                          r"status=bounced" % (qid, re.escape(rcpt)))
            cmds = [c for conn in self.sinks[domain].connections
                    for c in conn.commands]
            self.assertNotIn("mail", cmds, domain)
        self.assertEqual(len(a.wait_for_delivery("alice", 2, timeout=60)),
                         2)

    def test_tls_required_no_ignores_dane(self):
        a = self.dane_sender()
        qid = submit(self, a, "u@bad.dane.test",
                     message("u@bad.dane.test", "TLS-Required: No\r\n"),
                     requiretls=False)
        self.delivered(a, qid, "u@bad.dane.test", "bad.dane.test")
        self.wait_log(a, r"%s: tls-required-no: mx\.bad\.dane\.test: TLS "
                      r"policy dane of bad\.dane\.test ignored" % qid)
