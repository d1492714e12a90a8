"""
Outbound TLS that checks certificates: smtp_tls_security_level none, may,
encrypt, verify and secure against servers with a good certificate from a
test CA, a certificate for another name, an expired one, a self-signed
one, and no STARTTLS at all; smtp_tls_policy_map overriding the global
level per destination; a relayhost's password offered only to a server
whose certificate passes; and tern to tern.

The CA and the certificates are made here with openssl(1).  Every remote
server is an aiosmtpd sink or a second tern on its own loopback address;
the test DNS server points the MX records at them.
"""

import os
import re
import ssl
import subprocess
import tempfile

from dns_harness import DnsServer, Zone
from sink import Sink
from tern_harness import HarnessError, TernTestCase, binary, free_port, \
    qid_from_reply, smtp_connect, wait_until


def openssl(*args):
    r = subprocess.run(["openssl"] + list(args), stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=60)
    if r.returncode != 0:
        raise HarnessError("openssl %s failed: %s"
                           % (args[0], r.stdout.decode("utf-8", "replace")))


class TestCA:
    """A throw-away CA in a directory, and certificates it signs."""

    def __init__(self, directory):
        self.dir = directory
        self.crt = os.path.join(directory, "ca.crt")
        self.key = os.path.join(directory, "ca.key")
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes",
                "-keyout", self.key, "-out", self.crt, "-days", "2",
                "-subj", "/CN=tern test CA",
                "-addext", "basicConstraints=critical,CA:TRUE",
                "-addext", "keyUsage=critical,keyCertSign,cRLSign")

    def issue(self, name, dns_names, days=2, self_signed=False):
        """(cert, key) for dns_names; days -1 makes an expired one."""
        crt = os.path.join(self.dir, name + ".crt")
        key = os.path.join(self.dir, name + ".key")
        san = "subjectAltName=" + ",".join("DNS:" + n for n in dns_names)
        if self_signed:
            openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes",
                    "-keyout", key, "-out", crt, "-days", str(days),
                    "-subj", "/CN=" + dns_names[0], "-addext", san)
            return crt, key
        csr = os.path.join(self.dir, name + ".csr")
        ext = os.path.join(self.dir, name + ".ext")
        with open(ext, "w") as f:
            f.write(san + "\nextendedKeyUsage=serverAuth\n")
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                "-out", csr, "-subj", "/CN=" + dns_names[0])
        # A negative -days puts notAfter before now: expired at once.
        openssl("x509", "-req", "-in", csr, "-CA", self.crt, "-CAkey",
                self.key, "-CAcreateserial", "-out", crt, "-days",
                str(days), "-extfile", ext)
        return crt, key

    def context(self, name, dns_names, **kw):
        crt, key = self.issue(name, dns_names, **kw)
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(crt, key)
        return ctx


# The remote servers: domain -> (address, MX host, certificate kind).
SERVERS = {
    "good.test": ("127.0.0.51", "mx.good.test", "good"),
    "wrongname.test": ("127.0.0.52", "mx.wrongname.test", "wrongname"),
    "expired.test": ("127.0.0.53", "mx.expired.test", "expired"),
    "selfsigned.test": ("127.0.0.54", "mx.selfsigned.test", "selfsigned"),
    "plain.test": ("127.0.0.55", "mx.plain.test", "none"),
    # An MX host outside the domain: its certificate names the host only,
    # which verify accepts and secure does not.
    "hosted.test": ("127.0.0.56", "mx.hoster.example", "good"),
}

# What each level does with each server: "tls" delivered over TLS,
# "plain" delivered in clear, else a deferral with that dsn and reason.
NOT_OFFERED = ("4.7.4", r"TLS is required \(level \w+\), but was not "
               r"offered by host mx\.plain\.test")
EXPECT = {
    "none": {d: "plain" for d in SERVERS},
    "may": dict({d: "tls" for d in SERVERS}, **{"plain.test": "plain"}),
    "encrypt": dict({d: "tls" for d in SERVERS},
                    **{"plain.test": NOT_OFFERED}),
    "verify": {
        "good.test": "tls",
        "hosted.test": "tls",
        "wrongname.test": ("4.7.5", r"did not verify: name mismatch: "
                           r"certificate for other\.example, expected "
                           r"mx\.wrongname\.test"),
        "expired.test": ("4.7.5", r"did not verify: certificate expired"),
        "selfsigned.test": ("4.7.5",
                            r"did not verify: self-signed certificate"),
        "plain.test": NOT_OFFERED,
    },
}
EXPECT["secure"] = dict(EXPECT["verify"], **{
    "wrongname.test": ("4.7.5", r"did not verify: name mismatch: "
                       r"certificate for other\.example, expected "
                       r"wrongname\.test, \.wrongname\.test"),
    "hosted.test": ("4.7.5", r"did not verify: name mismatch: certificate "
                    r"for mx\.hoster\.example, expected hosted\.test, "
                    r"\.hosted\.test")})


def common_port(hosts):
    """A port that is free on every one of hosts."""
    import socket
    for _ in range(50):
        port = free_port(hosts[0])
        try:
            for h in hosts[1:]:
                with socket.socket() as s:
                    s.bind((h, port))
            return port
        except OSError:
            continue
    raise HarnessError("no port free on all of %s" % (hosts,))


def send(inst, rcpts):
    """One message per recipient; their queue IDs, in order."""
    qids = []
    s = smtp_connect(inst)
    try:
        s.ehlo()
        for r in rcpts:
            msg = ("From: alice@a.test\r\nTo: %s\r\nSubject: tls %s\r\n\r\n"
                   "hello\r\n" % (r, r)).encode()
            s.mail("alice@a.test")
            code, text = s.rcpt(r)
            assert code == 250, (r, code, text)
            code, text = s.data(msg)
            assert code == 250, (code, text)
            qids.append(qid_from_reply(text))
        s.quit()
    finally:
        s.close()
    return qids


class TlsCase(TernTestCase):
    time_limit = 240

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="tern-tlsv-")
        os.chmod(self.dir, 0o755)
        self.ca = TestCA(self.dir)

    def dns(self, zone):
        d = DnsServer(zone).start()
        self.addCleanup(d.cleanup)
        return d

    def sink(self, host, port, **kw):
        s = Sink(host, port, **kw).start()
        self.addCleanup(s.stop)
        return s

    def server_context(self, domain, kind, mx):
        if kind == "good":
            return self.ca.context(domain, [mx])
        if kind == "wrongname":
            return self.ca.context(domain, ["other.example"])
        if kind == "expired":
            return self.ca.context(domain, [mx], days=-1)
        if kind == "selfsigned":
            return self.ca.context(domain, [mx], self_signed=True)
        return None

    def servers(self, zone=None):
        """A sink per SERVERS entry on one port; (dns, port, sinks)."""
        zone = zone or Zone(domains=("test", "example"))
        port = common_port([a for a, _, _ in SERVERS.values()])
        sinks = {}
        for domain, (addr, mx, kind) in SERVERS.items():
            zone.mx(domain, mx, 10).host(mx, addr)
            ctx = self.server_context(domain, kind, mx)
            sinks[domain] = self.sink(
                addr, port, tls=ctx or self.ca.context(domain + "-x", [mx]),
                starttls="none" if ctx is None else "ok")
        return self.dns(zone), port, sinks

    def sender(self, dns, port, **kw):
        settings = {"dns_servers": dns.address, "smtp_port": str(port),
                    "smtp_connect_timeout": "3s", "smtp_helo_timeout": "10s",
                    "smtp_tls_CAfile": self.ca.crt}
        settings.update(kw)
        return self.instance(hostname="a.test", **settings)

    def wait_log(self, inst, pattern, timeout=60):
        rx = re.compile(pattern)
        return wait_until(lambda: rx.search(inst.log()), timeout,
                          what=lambda: "log line /%s/; log tail:\n%s"
                          % (pattern, inst.log_tail(30)))

    def check_outcome(self, inst, sinks, qid, rcpt, domain, want):
        """rcpt's message qid went to domain's sink as want says."""
        sink = sinks[domain]
        if want in ("tls", "plain"):
            self.wait_log(inst, r"%s: to=<%s>, .*status=sent"
                          % (qid, re.escape(rcpt)))
            got = [m for m in sink.messages if rcpt in m.rcpt_tos]
            self.assertEqual(len(got), 1, "%s: %d copies" % (rcpt, len(got)))
            self.assertEqual(got[0].tls, want == "tls",
                             "%s: tls=%s" % (rcpt, got[0].tls))
            return
        dsn, reason = want
        self.wait_log(inst, r"%s: to=<%s>, relay=none, .*dsn=%s, "
                      r"status=deferred \(.*%s" % (qid, re.escape(rcpt),
                                                   re.escape(dsn), reason))
        self.assertEqual([m for m in sink.messages if rcpt in m.rcpt_tos],
                         [], "%s was delivered" % rcpt)

    def run_level(self, level, **kw):
        dns, port, sinks = self.servers()
        a = self.sender(dns, port, smtp_tls_security_level=level, **kw)
        rcpts = ["u@%s" % d for d in SERVERS]
        qids = send(a, rcpts)
        for qid, rcpt, domain in zip(qids, rcpts, SERVERS):
            self.check_outcome(a, sinks, qid, rcpt, domain,
                               EXPECT[level][domain])
        # A deferred message was never sent in clear either: the sinks
        # that failed the level saw no MAIL at all.
        for domain, want in EXPECT[level].items():
            if isinstance(want, tuple):
                cmds = [c for conn in sinks[domain].connections
                        for c in conn.commands]
                self.assertNotIn("mail", cmds, domain)
        return a


class TestTlsLevels(TlsCase):

    def test_level_none_never_starts_tls(self):
        self.run_level("none")

    def test_level_may_takes_any_certificate(self):
        self.run_level("may")

    def test_level_encrypt_needs_starttls_not_a_trusted_cert(self):
        self.run_level("encrypt")

    def test_level_verify_needs_trusted_cert_for_mx_name(self):
        a = self.run_level("verify")
        self.wait_log(a, r"Verified TLS connection established to "
                      r"mx\.good\.test\[127\.0\.0\.51\]")
        self.wait_log(a, r"mx\.expired\.test\[127\.0\.0\.53\]:\d+: TLS is "
                      r"required \(level verify\), but the certificate of "
                      r"host .* did not verify: certificate expired")

    def test_level_secure_needs_cert_for_nexthop_domain(self):
        self.run_level("secure")


class TestTlsCaPath(TlsCase):

    def test_level_verify_trusts_ca_from_smtp_tls_capath(self):
        # The test CA only in smtp_tls_CApath, among files that hold no
        # certificate and another CA; smtp_tls_CAfile unset, so the
        # system bundle (which does not know the test CA) is read too.
        capath = os.path.join(self.dir, "capath")
        os.mkdir(capath)
        os.chmod(capath, 0o755)
        other = TestCA(tempfile.mkdtemp(prefix="tern-tlsv-other-",
                                        dir=self.dir))
        with open(os.path.join(capath, "README"), "w") as f:
            f.write("CA certificates for tern\n")
        for name, src in (("other.pem", other.crt), ("test.pem", self.ca.crt)):
            with open(src) as f, \
                    open(os.path.join(capath, name), "w") as out:
                out.write("junk before\n" + f.read() + "junk after\n")
        a = self.run_level("verify", smtp_tls_CAfile=None,
                           smtp_tls_CApath=capath)
        self.wait_log(a, r"Verified TLS connection established to "
                      r"mx\.good\.test\[127\.0\.0\.51\]")


class TestTlsPolicyMap(TlsCase):

    def write_map(self, lines):
        path = os.path.join(self.dir, "tls_policy")
        with open(path, "w") as f:
            f.write("".join(line + "\n" for line in lines))
        subprocess.run([binary("ternmap"), path], check=True, timeout=30)
        os.chmod(path + ".db", 0o644)
        return path

    def test_policy_map_overrides_global_level_per_destination(self):
        zone = Zone(domains=("test", "example"))
        # A subdomain, sent to the same server as expired.test.
        zone.mx("x.expired.test", "mx.expired.test", 10)
        dns, port, sinks = self.servers(zone)
        pmap = self.write_map([
            "expired.test verify",
            ".expired.test secure",
            "selfsigned.test none",
            "wrongname.test encrypt",
            "hosted.test verify match=nexthop:mx.hoster.example",
            "plain.test  verify  ciphers=high",
        ])
        a = self.sender(dns, port, smtp_tls_security_level="may",
                        smtp_tls_policy_map=pmap)
        rcpts = ["u@good.test", "u@expired.test", "v@x.expired.test",
                 "u@selfsigned.test", "u@wrongname.test", "u@hosted.test",
                 "u@plain.test"]
        qids = send(a, rcpts)
        want = [
            ("good.test", "tls"),           # no entry: may
            ("expired.test", ("4.7.5", r"certificate expired")),
            ("expired.test", ("4.7.5", r"certificate expired")),
            ("selfsigned.test", "plain"),   # none, though it offers TLS
            ("wrongname.test", "tls"),
            ("hosted.test", "tls"),         # match= names the MX host
            # An entry that does not parse defers; it never means "may".
            ("plain.test", ("4.7.5", r"invalid TLS policy for plain\.test")),
        ]
        for qid, rcpt, (domain, w) in zip(qids, rcpts, want):
            self.check_outcome(a, sinks, qid, rcpt, domain, w)
        self.wait_log(a, r"smtp_tls_policy_map: plain\.test: unknown or "
                      r"repeated attribute \"ciphers=high\"")


    def test_policy_map_change_applies_after_reload(self):
        # The chrooted transport cannot see the map's path: a reload
        # must restart it so that it opens the new map.
        import signal
        dns, port, sinks = self.servers()
        pmap = self.write_map(["expired.test verify"])
        a = self.sender(dns, port, smtp_tls_security_level="may",
                        smtp_tls_policy_map=pmap)
        qid, = send(a, ["u@expired.test"])
        self.check_outcome(a, sinks, qid, "u@expired.test", "expired.test",
                           ("4.7.5", r"certificate expired"))
        self.write_map(["expired.test encrypt"])
        a.signal_ternd(signal.SIGHUP)
        self.check_outcome(a, sinks, qid, "u@expired.test", "expired.test",
                           "tls")
        # A restart it asked for is not a crash: no backoff, even for a
        # transport restarted moments ago.
        a.signal_ternd(signal.SIGHUP)
        wait_until(lambda: a.log().count("then restarting") >= 2, 20,
                   what="the second restart of the smtp transport")
        qid, = send(a, ["v@expired.test"])
        self.check_outcome(a, sinks, qid, "v@expired.test", "expired.test",
                           "tls")
        self.assertNotIn("restarting tern-deliverd in", a.log())


class TestTlsRelayhostAuth(TlsCase):

    def relay(self, kind, level_entry):
        """A relayhost [smarthost.test]:port with AUTH and a certificate
        of kind; level_entry its smtp_tls_policy_map entry."""
        port = free_port("127.0.0.57")
        zone = Zone(domains=("test",)).host("smarthost.test", "127.0.0.57")
        dns = self.dns(zone)
        ctx = self.server_context("smarthost", kind, "smarthost.test")
        s = self.sink("127.0.0.57", port, tls=ctx,
                      auth={"relayuser": "s3cret"})
        nexthop = "[smarthost.test]:%d" % port
        sasl = os.path.join(self.dir, "sasl_passwd")
        with open(sasl, "w") as f:
            f.write("%s relayuser:s3cret\n" % nexthop)
        pmap = os.path.join(self.dir, "tls_policy")
        with open(pmap, "w") as f:
            f.write("%s %s\n" % (nexthop, level_entry))
        for m in (sasl, pmap):
            subprocess.run([binary("ternmap"), m], check=True, timeout=30)
            os.chmod(m + ".db", 0o644)
        a = self.sender(dns, 25, relayhost=nexthop,
                        smtp_sasl_password_maps=sasl,
                        smtp_tls_policy_map=pmap)
        return a, s

    def auth_attempts(self, sink):
        return [c for conn in sink.connections for c in conn.commands
                if c == "auth"]

    def test_relayhost_password_sent_to_verified_cert(self):
        a, s = self.relay("good", "secure")
        qid, = send(a, ["v@far.example"])
        s.wait_messages(1)
        self.assertTrue(s.messages[0].tls)
        self.assertEqual(s.messages[0].conn.auth, "relayuser")
        self.wait_log(a, r"Verified TLS connection established to "
                      r"smarthost\.test\[127\.0\.0\.57\]")
        self.wait_log(a, r"%s: to=<v@far\.example>, .*status=sent" % qid)

    def test_relayhost_gets_no_password_when_cert_does_not_verify(self):
        a, s = self.relay("selfsigned", "secure")
        qid, = send(a, ["v@far.example"])
        self.wait_log(a, r"%s: to=<v@far\.example>, relay=none, .*"
                      r"dsn=4\.7\.5, status=deferred \(.*did not verify: "
                      r"self-signed certificate" % qid)
        # The handshake happened, and then nothing more: no AUTH.
        self.assertTrue(any("starttls" in c.commands for c in s.connections))
        self.assertEqual(self.auth_attempts(s), [])
        self.assertEqual(s.messages, [])

    def test_relayhost_password_never_in_clear_at_level_may(self):
        # The credentials raise "may" to "encrypt": a server that offers
        # no STARTTLS gets neither the password nor the mail.
        a, s = self.relay("none", "may")
        qid, = send(a, ["v@far.example"])
        self.wait_log(a, r"%s: to=<v@far\.example>, relay=none, .*"
                      r"dsn=4\.7\.4, status=deferred \(TLS is required "
                      r"\(level encrypt\)" % qid)
        self.assertEqual(self.auth_attempts(s), [])
        self.assertEqual(s.messages, [])


class TestTlsTernToTern(TlsCase):

    def test_tern_to_tern_verified_and_refused(self):
        port = common_port(["127.0.0.58", "127.0.0.59"])
        zone = Zone(domains=("test",))
        zone.mx("b.test", "mx.b.test", 10).host("mx.b.test", "127.0.0.58")
        zone.mx("c.test", "mx.c.test", 10).host("mx.c.test", "127.0.0.59")
        dns = self.dns(zone)
        bcrt, bkey = self.ca.issue("b", ["mx.b.test"])
        ccrt, ckey = self.ca.issue("c", ["mx.c.test"], self_signed=True)
        b = self.instance(hostname="b.test", listen_host="127.0.0.58",
                          port=port, smtpd_tls_cert_file=bcrt,
                          smtpd_tls_key_file=bkey)
        c = self.instance(hostname="c.test", listen_host="127.0.0.59",
                          port=port, smtpd_tls_cert_file=ccrt,
                          smtpd_tls_key_file=ckey)
        a = self.sender(dns, port, smtp_tls_security_level="verify")
        qb, qc = send(a, ["bob@b.test", "carol@c.test"])
        files = b.wait_for_delivery("bob", 1, timeout=60)
        with open(files[0], "rb") as f:
            self.assertIn(b"with ESMTPS", f.read())
        self.wait_log(a, r"Verified TLS connection established to "
                      r"mx\.b\.test\[127\.0\.0\.58\]")
        self.wait_log(a, r"%s: to=<carol@c\.test>, relay=none, .*"
                      r"dsn=4\.7\.5, status=deferred \(.*did not verify: "
                      r"self-signed certificate" % qc)
        self.assertEqual(c.all_delivered(), {})


class TestTlsConfigCheck(TlsCase):
    """ternd -n on the outbound TLS settings."""

    def check(self, **settings):
        path = os.path.join(self.dir, "tern.conf")
        with open(path, "w") as f:
            f.write("spool_dir = %s/spool\ndaemon_directory = %s\n"
                    % (self.dir, os.path.dirname(binary("ternd"))))
            for k, v in settings.items():
                f.write("%s = %s\n" % (k, v))
        r = subprocess.run([binary("ternd"), "-n", "-c", path],
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=20)
        return r.returncode, r.stdout.decode("utf-8", "replace")

    def compiled(self, name, lines):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write("".join(line + "\n" for line in lines))
        subprocess.run([binary("ternmap"), path], check=True, timeout=30)
        return path

    def test_check_warns_when_relay_password_goes_unverified(self):
        sasl = self.compiled("sasl", ["[relay.test]:587 u:p"])
        rc, out = self.check(relayhost="[relay.test]:587",
                             smtp_sasl_password_maps=sasl,
                             smtp_tls_security_level="encrypt")
        self.assertEqual(rc, 0, out)
        self.assertRegex(out, r"warning: smtp_sasl_password_maps: passwords "
                         r"go to relayhost \[relay\.test\]:587 over TLS at "
                         r"level encrypt, which does not verify")
        # At "may" the password still gets at least encrypt.
        rc, out = self.check(relayhost="[relay.test]:587",
                             smtp_sasl_password_maps=sasl)
        self.assertRegex(out, r"over TLS at level encrypt, which does not")
        # verify, globally or for the relayhost alone: no warning.
        rc, out = self.check(relayhost="[relay.test]:587",
                             smtp_sasl_password_maps=sasl,
                             smtp_tls_security_level="verify")
        self.assertEqual(rc, 0, out)
        self.assertNotIn("smtp_sasl_password_maps", out)
        pmap = self.compiled("policy", ["[relay.test]:587 secure"])
        rc, out = self.check(relayhost="[relay.test]:587",
                             smtp_sasl_password_maps=sasl,
                             smtp_tls_policy_map=pmap)
        self.assertEqual(rc, 0, out)
        self.assertNotIn("smtp_sasl_password_maps", out)

    def test_check_reports_bad_policy_map_and_ca(self):
        pmap = self.compiled("policy", ["good.test verify",
                                        "bad.test verfy"])
        rc, out = self.check(smtp_tls_policy_map=pmap,
                             smtp_tls_CAfile=os.path.join(self.dir, "nope"))
        self.assertEqual(rc, 1, out)
        self.assertIn("smtp_tls_policy_map: bad.test: not a security level",
                      out)
        self.assertNotIn("good.test", out)
        self.assertRegex(out, r"smtp_tls_CAfile .*nope: No such file")
        rc, out = self.check(
            smtp_tls_policy_map=os.path.join(self.dir, "missing"))
        self.assertEqual(rc, 1, out)
        self.assertRegex(out, r"smtp_tls_policy_map: .*missing\.db")
