"""
DANE for outbound SMTP (RFC 7672): smtp_tls_security_level = dane (and
dane from smtp_tls_policy_map) with dns_dnssec = yes, against a zone
signed in the test with ldns, served by nsd and validated by unbound on
loopback, and aiosmtpd sinks as the MX hosts.

What is proved: a TLSA record that matches the server's key delivers
over TLS (to aiosmtpd, and to a second tern), even for a certificate
that is out of date and from an unknown CA; one that does not match
defers and nothing arrives; a DANE-TA
record of the issuing CA delivers, and defers when the certificate's
name is neither the MX host nor the next hop; a TLSA RRset whose
signature fails (SERVFAIL from the validator) defers; a signed host with
TLSA records that offers no STARTTLS defers; an unsigned zone falls back
to opportunistic TLS (and its wrong TLSA record is ignored); a TLSA
RRset of only unusable (PKIX) records means TLS without authentication;
without dns_dnssec the AD bit is not believed.  Log lines name the
policy that applied.  And "ternd -n" warns about a DNSSEC resolver off
loopback and about dane without dns_dnssec.
"""

import os
import re
import shutil
import subprocess
import tempfile

from dnssec_harness import DnssecServers, SignedZone, UnsignedZone, \
    cert_sha256, spki_der, spki_sha256
from sink import Sink
from tern_harness import HarnessError, TernTestCase, binary, wait_until
from test_tls_verify import TestCA, common_port, send

# domain -> (address, MX host, zone, TLSA kind, server certificate kind)
SERVERS = {
    "good.dane.test": ("127.0.0.61", "ee-match", "self"),
    "bad.dane.test": ("127.0.0.62", "ee-other", "self"),
    "notls.dane.test": ("127.0.0.63", "ee-match", None),
    "bogus.dane.test": ("127.0.0.64", "ee-match-bogus", "self"),
    "ta.dane.test": ("127.0.0.65", "ta-match", "ca"),
    "taname.dane.test": ("127.0.0.66", "ta-match", "ca-othername"),
    "pkix.dane.test": ("127.0.0.67", "pkix-only", "self"),
    "plain.test": ("127.0.0.68", "ee-other", "self"),
    "expired.dane.test": ("127.0.0.60", "ee-match", "expired"),
    "full.dane.test": ("127.0.0.73", "ee-full", "self"),
}
# A second tern as the MX host of this domain, TLSA 3 1 1 of its key.
TERN_DOMAIN, TERN_ADDR = "tern.dane.test", "127.0.0.69"
OTHER = "ab" * 32   # a SHA-256 that matches no key


class DaneCase(TernTestCase):
    time_limit = 240
    extra_addrs = []    # more sink addresses a subclass's records use

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="tern-dane-")
        self.addCleanup(shutil.rmtree, self.dir, ignore_errors=True)
        os.chmod(self.dir, 0o755)
        self.ca = TestCA(self.dir)
        self.port = common_port([a for a, _, _ in SERVERS.values()] +
                                [TERN_ADDR] + self.extra_addrs)
        self.sinks = {}
        signed = SignedZone("dane.test")
        unsigned = UnsignedZone("plain.test")
        for domain, (addr, tlsa, kind) in SERVERS.items():
            zone = unsigned if domain == "plain.test" else signed
            mx = "mx." + domain
            zone.add("%s. MX 10 %s." % (domain, mx))
            zone.add("%s. A %s" % (mx, addr))
            crt, key = self.server_cert(domain, mx, kind)
            self.sinks[domain] = self.sink(addr, crt, key, kind is not None)
            owner = "_%d._tcp.%s." % (self.port, mx)
            zone.add("%s TLSA %s" % (owner, self.tlsa(tlsa, crt)))
            if tlsa.endswith("-bogus"):
                signed.corrupt(owner)
        mx = "mx." + TERN_DOMAIN
        self.tern_crt, self.tern_key = self.server_cert(TERN_DOMAIN, mx,
                                                        "self")
        signed.add("%s. MX 10 %s." % (TERN_DOMAIN, mx))
        signed.add("%s. A %s" % (mx, TERN_ADDR))
        signed.add("_%d._tcp.%s. TLSA %s" % (self.port, mx, self.tlsa(
            "ee-match", self.tern_crt)))
        self.add_records(signed, unsigned)
        self.dns = DnssecServers(os.path.join(self.dir, "dns"),
                                 [signed, unsigned])
        os.mkdir(self.dns.dir)
        self.addCleanup(self.dns.stop)
        self.dns.start()

    def add_records(self, signed, unsigned):
        """A subclass's own records and sinks, before the zones are
        signed."""

    def server_cert(self, domain, mx, kind):
        if kind in ("self", None):
            # (None: a server without STARTTLS, TLSA records for this.)
            # A name that is neither the MX host nor the domain: DANE-EE
            # does not look at names (RFC 7672 3.1.1).
            return self.ca.issue(domain, ["unrelated.example"],
                                 self_signed=True)
        if kind == "expired":
            # Out of date, and from a CA nobody trusts: DANE-EE checks
            # neither (RFC 7672 3.1.1).
            return self.ca.issue(domain, [mx], days=-1)
        crt, key = self.ca.issue(domain, [mx] if kind == "ca" else
                                 ["other.example"])
        # A DANE-TA(2) chain carries its anchor (RFC 7671 5.2.2).
        with open(crt, "a") as f, open(self.ca.crt) as ca:
            f.write(ca.read())
        return crt, key

    def tlsa(self, kind, crt):
        if kind.startswith("ee-match"):
            return "3 1 1 " + spki_sha256(crt)
        if kind == "ee-full":
            # The whole key, split as zone files allow.
            data = spki_der(crt).hex()
            return "3 1 0 ( %s )" % " ".join(
                data[i:i + 64] for i in range(0, len(data), 64))
        if kind == "ee-other":
            return "3 1 1 " + OTHER
        if kind == "ta-match":
            return "2 0 1 " + cert_sha256(self.ca.crt)
        if kind == "pkix-only":
            return "1 1 1 " + OTHER
        raise ValueError(kind)

    def sink(self, addr, crt, key, tls, sni=None):
        import ssl
        ctx = None
        if tls:
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ctx.load_cert_chain(crt, key)
            if sni is not None:
                # The server names the clients asked for, in order.
                ctx.sni_callback = lambda _s, name, _c: sni.append(name)
        s = Sink(addr, self.port, tls=ctx,
                 starttls="ok" if ctx is not None else "none").start()
        self.addCleanup(s.stop)
        return s

    def sender(self, **kw):
        settings = {"dns_servers": self.dns.address, "dns_dnssec": "yes",
                    "smtp_port": str(self.port),
                    "smtp_connect_timeout": "3s",
                    "smtp_helo_timeout": "10s",
                    "smtp_tls_security_level": "dane"}
        settings.update(kw)
        return self.instance(hostname="a.test", **settings)

    def wait_log(self, inst, pattern, timeout=60):
        rx = re.compile(pattern)
        try:
            return wait_until(lambda: rx.search(inst.log()), timeout,
                              what=lambda: "log line /%s/; log tail:\n%s"
                              % (pattern, inst.log_tail(30)))
        except HarnessError:
            print(self.dns.logs())
            raise

    def delivered(self, inst, qid, rcpt, domain, tls=True):
        self.wait_log(inst, r"%s: to=<%s>, .*status=sent"
                      % (qid, re.escape(rcpt)))
        got = [m for m in self.sinks[domain].messages if rcpt in m.rcpt_tos]
        self.assertEqual(len(got), 1, "%s: %d copies" % (rcpt, len(got)))
        self.assertEqual(got[0].tls, tls, rcpt)

    def deferred(self, inst, qid, rcpt, domain, dsn, reason):
        self.wait_log(inst, r"%s: to=<%s>, relay=none, .*dsn=%s, "
                      r"status=deferred \(.*%s" % (qid, re.escape(rcpt),
                                                   re.escape(dsn), reason))
        sink = self.sinks[domain]
        self.assertEqual([m for m in sink.messages if rcpt in m.rcpt_tos],
                         [], "%s was delivered" % rcpt)
        cmds = [c for conn in sink.connections for c in conn.commands]
        self.assertNotIn("mail", cmds, "%s: MAIL was sent" % domain)


class TestDaneLevel(DaneCase):

    def test_dane_matches_tlsa_defers_mismatch_and_falls_back_unsigned(self):
        a = self.sender()
        rcpts = ["u@" + d for d in SERVERS]
        qids = dict(zip(SERVERS, send(a, rcpts)))
        mx = lambda d: re.escape("mx." + d)   # noqa: E731
        # DANE-EE 3 1 1 of the sink's key, whatever its names say.
        self.delivered(a, qids["good.dane.test"], "u@good.dane.test",
                       "good.dane.test")
        self.wait_log(a, r"%s: TLS policy dane for %s: 1 usable TLSA "
                      r"record\(s\) at _%d\._tcp\.%s \(3 1 1 "
                      % (qids["good.dane.test"], mx("good.dane.test"),
                         self.port, mx("good.dane.test")))
        self.wait_log(a, r"Verified TLS connection established to %s\["
                      r"127\.0\.0\.61\]:%d \(dane: TLSA 3 1 1 at depth 0\)"
                      % (mx("good.dane.test"), self.port))
        # A signed TLSA record that matches nothing: never delivered.
        self.deferred(a, qids["bad.dane.test"], "u@bad.dane.test",
                      "bad.dane.test", "4.7.5",
                      r"TLS is required \(level dane\), but the "
                      r"certificate of host %s.* did not verify: no TLSA "
                      r"record matches" % mx("bad.dane.test"))
        # A signed host with TLSA records and no STARTTLS.
        self.deferred(a, qids["notls.dane.test"], "u@notls.dane.test",
                      "notls.dane.test", "4.7.4",
                      r"TLS is required \(level dane\), but was not "
                      r"offered by host %s" % mx("notls.dane.test"))
        # The validator says SERVFAIL (bogus signature): the host may
        # have TLSA records, so it is not used at all.
        self.deferred(a, qids["bogus.dane.test"], "u@bogus.dane.test",
                      "bogus.dane.test", "4.7.5",
                      r"TLSA lookup of _%d\._tcp\.%s failed: SERVFAIL"
                      % (self.port, mx("bogus.dane.test")))
        self.assertEqual(self.sinks["bogus.dane.test"].connections, [])
        # DANE-TA 2 0 1 of the CA: the chain and the MX host name.
        self.delivered(a, qids["ta.dane.test"], "u@ta.dane.test",
                       "ta.dane.test")
        self.wait_log(a, r"Verified TLS connection established to %s\["
                      r"127\.0\.0\.65\]:%d \(dane: TLSA 2 0 1 at depth 1\)"
                      % (mx("ta.dane.test"), self.port))
        self.deferred(a, qids["taname.dane.test"], "u@taname.dane.test",
                      "taname.dane.test", "4.7.5", r"did not verify: name "
                      r"mismatch")
        # Only PKIX-EE records: TLS required, not authenticated.
        self.delivered(a, qids["pkix.dane.test"], "u@pkix.dane.test",
                       "pkix.dane.test")
        self.wait_log(a, r"%s: TLS policy dane-encrypt for %s: none of its "
                      r"1 TLSA record\(s\) is usable"
                      % (qids["pkix.dane.test"], mx("pkix.dane.test")))
        self.delivered(a, qids["expired.dane.test"], "u@expired.dane.test",
                       "expired.dane.test")
        # 3 1 0: the whole public key rather than its digest.
        self.delivered(a, qids["full.dane.test"], "u@full.dane.test",
                       "full.dane.test")
        self.wait_log(a, r"Verified TLS connection established to %s\["
                      r"127\.0\.0\.73\]:%d \(dane: TLSA 3 1 0 at depth 0\)"
                      % (mx("full.dane.test"), self.port))
        # Unsigned: opportunistic TLS; its (wrong) TLSA record is not
        # believed.
        self.delivered(a, qids["plain.test"], "u@plain.test", "plain.test")
        self.wait_log(a, r"%s: TLS policy dane-fallback-may for "
                      r"mx\.plain\.test: the MX records are not "
                      r"DNSSEC-signed" % qids["plain.test"])

    def test_dane_tern_to_tern(self):
        b = self.instance(hostname=TERN_DOMAIN, listen_host=TERN_ADDR,
                          port=self.port, smtpd_tls_cert_file=self.tern_crt,
                          smtpd_tls_key_file=self.tern_key)
        a = self.sender()
        qid, = send(a, ["bob@" + TERN_DOMAIN])
        files = b.wait_for_delivery("bob", 1, timeout=60)
        with open(files[0], "rb") as f:
            self.assertIn(b"with ESMTPS", f.read())
        self.wait_log(a, r"Verified TLS connection established to "
                      r"mx\.tern\.dane\.test\[127\.0\.0\.69\]:%d \(dane: "
                      r"TLSA 3 1 1 at depth 0\)" % self.port)
        self.wait_log(a, r"%s: to=<bob@tern\.dane\.test>, .*status=sent" % qid)

    def test_dane_without_dns_dnssec_is_may(self):
        # The AD bit means nothing unless dns_dnssec says the resolver
        # validates: the mismatching TLSA record is not used.
        a = self.sender(dns_dnssec="no")
        qid, = send(a, ["u@bad.dane.test"])
        self.delivered(a, qid, "u@bad.dane.test", "bad.dane.test")
        self.wait_log(a, r"%s: TLS policy dane-fallback-may for "
                      r"mx\.bad\.dane\.test: dns_dnssec is off" % qid)


# An MX host that is a CNAME (RFC 7672 2.2.2): domain -> (address, where
# the MX host's CNAME leads, where the TLSA record is: "target" or
# "origin", TLSA kind, certificate kind).  The MX host is mx.<domain>.
CNAMES = {
    # Signed chain, the record at the target only: DANE, at the target.
    "cn-target.dane.test": ("127.0.0.74", "srv.cn-target.dane.test",
                            "target", "ee-match", "self"),
    # ... and a record there that matches nothing: never delivered.
    "cn-wrong.dane.test": ("127.0.0.75", "srv.cn-wrong.dane.test",
                           "target", "ee-other", "self"),
    # Signed chain, the record at the MX host's own name only.
    "cn-origin.dane.test": ("127.0.0.76", "srv.cn-origin.dane.test",
                            "origin", "ee-match", "self"),
    # DANE-TA: a certificate that names only the target of the CNAME,
    # the record at the target, or at the MX host name.
    "cn-ta.dane.test": ("127.0.0.77", "srv.cn-ta.dane.test", "target",
                        "ta-match", "ca-target"),
    "cn-taorigin.dane.test": ("127.0.0.79", "srv.cn-taorigin.dane.test",
                              "origin", "ta-match", "ca-target"),
    # The chain leaves the signed zone (the target is unsigned): the
    # target's (wrong) record is not believed, the signed MX host
    # name's own record is used.
    "cn-insecure.dane.test": ("127.0.0.78", "srv.cn-insecure.plain.test",
                              "both", "ee-match", "self"),
    # The MX host name is unsigned (its MX record is signed), its CNAME
    # leads into the signed zone, where a wrong record waits: not used.
    "cn-unsigned.dane.test": ("127.0.0.80", "srv.cn-unsigned.dane.test",
                              "target", "ee-other", "self"),
}
# MX hosts other than mx.<domain>.
CNAME_MX = {"cn-unsigned.dane.test": "mx.cn-unsigned.plain.test"}


class TestDaneCname(DaneCase):
    """The TLSA base domain of an MX host that is a CNAME: where the
    signed chain leads first, then the MX host name (RFC 7672 2.2.2);
    only the MX host name when the chain is not signed all the way."""

    extra_addrs = [a for a, _, _, _, _ in CNAMES.values()]

    def add_records(self, signed, unsigned):
        self.sni = {}
        for domain, (addr, target, where, tlsa, kind) in CNAMES.items():
            mx = CNAME_MX.get(domain, "mx." + domain)
            signed.add("%s. MX 10 %s." % (domain, mx))
            (unsigned if mx.endswith(".plain.test") else signed).add(
                "%s. CNAME %s." % (mx, target))
            zone = unsigned if target.endswith(".plain.test") else signed
            zone.add("%s. A %s" % (target, addr))
            if kind == "ca-target":
                crt, key = self.ca.issue(domain, [target])
                with open(crt, "a") as f, open(self.ca.crt) as ca:
                    f.write(ca.read())
            else:
                crt, key = self.server_cert(domain, mx, kind)
            self.sni[domain] = []
            self.sinks[domain] = self.sink(addr, crt, key, True,
                                           sni=self.sni[domain])
            rr = self.tlsa(tlsa, crt)
            if where in ("target", "both"):
                zone.add("_%d._tcp.%s. TLSA %s" % (
                    self.port, target,
                    rr if where == "target" else "3 1 1 " + OTHER))
            if where in ("origin", "both"):
                signed.add("_%d._tcp.%s. TLSA %s" % (self.port, mx, rr))

    def send_to(self, *domains):
        a = self.sender()
        return a, dict(zip(domains, send(a, ["u@" + d for d in domains])))

    def used_tlsa_at(self, a, qid, d, owner):
        self.wait_log(a, r"%s: TLS policy dane for mx\.%s: 1 usable TLSA "
                      r"record\(s\) at _%d\._tcp\.%s \(3 1 1 "
                      % (qid, re.escape(d), self.port, re.escape(owner)))

    def test_cname_mx_host_uses_tlsa_at_the_signed_target(self):
        a, qids = self.send_to("cn-target.dane.test", "cn-ta.dane.test")
        # The record at the target of the signed chain is the one used,
        # and the SNI is that TLSA base domain (RFC 7672 8.1).
        d = "cn-target.dane.test"
        self.delivered(a, qids[d], "u@" + d, d)
        self.used_tlsa_at(a, qids[d], d, "srv." + d)
        self.wait_log(a, r"Verified TLS connection established to mx\.%s"
                      r"\[127\.0\.0\.74\]:%d \(dane: TLSA 3 1 1 at depth 0"
                      % (re.escape(d), self.port))
        self.assertEqual(self.sni[d], ["srv." + d])
        # DANE-TA: the target of the chain is a reference identifier.
        d = "cn-ta.dane.test"
        self.delivered(a, qids[d], "u@" + d, d)
        self.wait_log(a, r"Verified TLS connection established to mx\.%s"
                      r"\[127\.0\.0\.77\]:%d \(dane: TLSA 2 0 1 at depth 1"
                      % (re.escape(d), self.port))

    def test_cname_mx_host_wrong_tlsa_at_target_defers(self):
        a, qids = self.send_to("cn-wrong.dane.test")
        d = "cn-wrong.dane.test"
        self.deferred(a, qids[d], "u@" + d, d, "4.7.5",
                      r"no TLSA record matches")

    def test_cname_mx_host_without_tlsa_at_target_uses_its_own(self):
        a, qids = self.send_to("cn-origin.dane.test",
                               "cn-taorigin.dane.test")
        d = "cn-origin.dane.test"
        self.delivered(a, qids[d], "u@" + d, d)
        self.used_tlsa_at(a, qids[d], d, "mx." + d)
        self.assertEqual(self.sni[d], ["mx." + d])
        # DANE-TA there: the signed chain's target is a reference
        # identifier too (RFC 7672 3.2.3), the certificate names only it.
        d = "cn-taorigin.dane.test"
        self.delivered(a, qids[d], "u@" + d, d)
        self.wait_log(a, r"Verified TLS connection established to mx\.%s"
                      r"\[127\.0\.0\.79\]:%d \(dane: TLSA 2 0 1 at depth 1"
                      % (re.escape(d), self.port))

    def test_unsigned_cname_into_signed_zone_is_may(self):
        # The MX host name's own CNAME is not signed: DANE does not apply,
        # whatever the (signed) target has.
        a, qids = self.send_to("cn-unsigned.dane.test")
        d = "cn-unsigned.dane.test"
        self.delivered(a, qids[d], "u@" + d, d)
        self.wait_log(a, r"%s: TLS policy dane-fallback-may for "
                      r"mx\.cn-unsigned\.plain\.test: its CNAME and "
                      r"address records are not DNSSEC-signed" % qids[d])

    def test_cname_into_unsigned_zone_uses_only_the_mx_host_name(self):
        # Not the target's record (it would not match), the MX host
        # name's, which is signed.
        a, qids = self.send_to("cn-insecure.dane.test")
        d = "cn-insecure.dane.test"
        self.delivered(a, qids[d], "u@" + d, d)
        self.used_tlsa_at(a, qids[d], d, "mx." + d)


class TestDanePolicyMap(DaneCase):

    def test_policy_map_dane_for_one_destination(self):
        path = os.path.join(self.dir, "tls_policy")
        with open(path, "w") as f:
            f.write("bad.dane.test dane\n")
        subprocess.run([binary("ternmap"), path], check=True, timeout=30)
        os.chmod(path + ".db", 0o644)
        a = self.sender(smtp_tls_security_level="may",
                        smtp_tls_policy_map=path)
        qbad, qgood = send(a, ["u@bad.dane.test", "v@good.dane.test"])
        self.deferred(a, qbad, "u@bad.dane.test", "bad.dane.test", "4.7.5",
                      r"no TLSA record matches")
        # No entry: may, so no TLSA lookup and no DANE log line.
        self.delivered(a, qgood, "v@good.dane.test", "good.dane.test")
        self.assertNotIn("%s: TLS policy dane" % qgood, a.log())


class TestDaneConfigCheck(TernTestCase):
    """ternd -n on dns_dnssec and the dane level."""

    def check(self, **settings):
        d = tempfile.mkdtemp(prefix="tern-danecheck-")
        self.addCleanup(shutil.rmtree, d, ignore_errors=True)
        path = os.path.join(d, "tern.conf")
        with open(path, "w") as f:
            f.write("spool_dir = %s/spool\ndaemon_directory = %s\n"
                    % (d, os.path.dirname(binary("ternd"))))
            for k, v in settings.items():
                f.write("%s = %s\n" % (k, v))
        r = subprocess.run([binary("ternd"), "-n", "-c", path],
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=20)
        return r.returncode, r.stdout.decode("utf-8", "replace")

    def test_check_warns_dnssec_resolver_not_on_loopback(self):
        rc, out = self.check(dns_dnssec="yes",
                             dns_servers="127.0.0.53, 192.0.2.1:5353, "
                             "[::1]:53, [2001:db8::1]")
        self.assertEqual(rc, 0, out)
        self.assertRegex(out, r"warning: dns_dnssec: name server 192\.0\.2"
                         r"\.1 \(dns_servers\) is not on a loopback address")
        self.assertRegex(out, r"name server 2001:db8::1 \(dns_servers\)")
        self.assertNotIn("127.0.0.53", out)
        self.assertNotIn("server ::1 ", out)
        rc, out = self.check(dns_dnssec="yes", dns_servers="127.0.0.1")
        self.assertEqual(rc, 0, out)
        self.assertNotIn("dns_dnssec", out)

    def test_check_warns_dane_level_without_dnssec(self):
        rc, out = self.check(smtp_tls_security_level="dane")
        self.assertEqual(rc, 0, out)
        self.assertIn("smtp_tls_security_level dane needs dns_dnssec = yes",
                      out)
        rc, out = self.check(smtp_tls_security_level="dane",
                             dns_dnssec="yes", dns_servers="127.0.0.1")
        self.assertNotIn("needs dns_dnssec", out)
