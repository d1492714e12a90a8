"""
SMTP AUTH (RFC 4954): PLAIN and LOGIN over STARTTLS on submission and over
implicit TLS on submissions, with smtplib and swaks; mail is then relayed
onward (to a sink standing for the next hop) and delivered locally.  Refusals: AUTH
before TLS, wrong password, malformed base64, "*" cancel, the failure
limit; the failure log lines are read by fail2ban's postfix filter in
auth mode (the postfix-sasl jail) with the real fail2ban-regex.
"""

import os
import re
import shutil
import signal
import subprocess
import time

from sink import Sink
from tern_harness import TernTestCase, RawSMTP, free_port, qid_from_reply
from tern_tls import (b64, client_context, plain_b64, raw_from,
                      secure_instance, submission, submissions)

MSG = (b"From: alice@test.example\r\nTo: bob@test.example\r\n"
       b"Subject: submitted\r\n\r\nhello\r\n")


def tls_from(inst, source):
    """A RawSMTP on the submission port from source, after STARTTLS."""
    c = raw_from(inst.sub_port, source)
    assert c.reply()[0] == 220
    assert c.cmd("EHLO client.test")[0] == 250
    assert c.cmd("STARTTLS")[0] == 220
    c.sock = client_context().wrap_socket(c.sock)
    assert c.cmd("EHLO client.test")[0] == 250
    return c


def tls_raw(inst, port=None):
    """A RawSMTP on the submission port after EHLO and STARTTLS."""
    c = RawSMTP(port or inst.sub_port)
    assert c.reply()[0] == 220
    assert c.cmd("EHLO client.test")[0] == 250
    assert c.cmd("STARTTLS")[0] == 220
    c.sock = client_context().wrap_socket(c.sock)
    assert c.cmd("EHLO client.test")[0] == 250
    return c


class TestAuthSubmit(TernTestCase):

    def relay_instance(self):
        """A secure instance whose mail for other domains goes to a sink
        (relayhost on 127.0.0.2), as a provider's MSA relays onward."""
        port = free_port("127.0.0.2")
        self.sink = Sink("127.0.0.2", port).start()
        self.addCleanup(self.sink.stop)
        return secure_instance(self, relayhost="[127.0.0.2]:%d" % port)

    def assert_relayed_and_delivered(self, inst, qid, remote):
        inst.wait_for_delivery("bob", 1)
        [m] = self.sink.wait_messages(1)
        self.assertEqual(m.rcpt_tos, [remote])
        self.assertIn(qid.encode(), m.data)
        self.assertIn(b"Subject: submitted", m.data)

    def test_smtplib_587_starttls_auth_plain(self):
        inst = self.relay_instance()
        s = submission(inst)
        try:
            self.assertIn("PLAIN", s.esmtp_features["auth"])
            code, text = s.docmd("AUTH", "PLAIN " +
                                 plain_b64("alice", "alice-secret"))
            self.assertEqual(code, 235, text)
            self.assertTrue(text.startswith(b"2.7.0"), text)
            code, text = s.mail("alice@test.example")
            self.assertEqual(code, 250, text)
            self.assertEqual(s.rcpt("bob@test.example")[0], 250)
            self.assertEqual(s.rcpt("someone@remote.example")[0], 250)
            code, text = s.data(MSG)
            self.assertEqual(code, 250, text)
            qid = qid_from_reply(text)
        finally:
            s.quit()
        self.assert_relayed_and_delivered(inst, qid, "someone@remote.example")
        log = inst.log()
        self.assertIn("%s: client=unknown[127.0.0.1], sasl_method=PLAIN, "
                      "sasl_username=alice" % qid, log)
        data = open(inst.maildir_files("bob")[0], "rb").read().decode()
        self.assertRegex(data, r"with ESMTPSA\s+\(using TLSv1\.[23] ")
        self.assertNotIn("alice-secret", log)

    def test_smtplib_465_implicit_tls_auth_login(self):
        inst = self.relay_instance()
        s = submissions(inst)
        try:
            s.user, s.password = "bob", "bob-secret"   # bcrypt hash
            code, text = s.auth("LOGIN", s.auth_login)
            self.assertEqual(code, 235, text)
            code, _ = s.sendmail("bob@test.example",
                                 ["bob@test.example", "x@remote.example"],
                                 MSG) or (250, None)
        finally:
            s.quit()
        inst.wait_for_delivery("bob", 1)
        [m] = self.sink.wait_messages(1)
        self.assertEqual(m.rcpt_tos, ["x@remote.example"])
        self.assertRegex(inst.log(), r"client=unknown\[127\.0\.0\.1\], "
                         r"sasl_method=LOGIN, sasl_username=bob")

    def test_swaks_587_and_465(self):
        inst = secure_instance(self)
        common = ["swaks", "--server", "127.0.0.1", "--helo", "client.test",
                  "--from", "carol@test.example", "--to", "bob@test.example",
                  "--auth-user", "carol", "--auth-password", "carol-secret",
                  "--timeout", "20"]
        r = subprocess.run(common + ["--port", str(inst.sub_port), "--tls",
                                     "--auth", "PLAIN"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=60)
        out = r.stdout.decode("utf-8", "replace")
        self.assertEqual(r.returncode, 0, out)
        self.assertIn("235 2.7.0", out)
        r = subprocess.run(common + ["--port", str(inst.subs_port),
                                     "--tls-on-connect", "--auth", "LOGIN"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=60)
        out = r.stdout.decode("utf-8", "replace")
        self.assertEqual(r.returncode, 0, out)
        self.assertIn("334 VXNlcm5hbWU6", out)
        self.assertIn("235 2.7.0", out)
        inst.wait_for_delivery("bob", 2)

    def test_mail_needs_auth_on_submission(self):
        inst = secure_instance(self)
        s = submission(inst)
        try:
            code, text = s.mail("alice@test.example")
            self.assertEqual(code, 530, text)
            self.assertTrue(text.startswith(b"5.7.0"), text)
        finally:
            s.quit()


class TestAuthRefusals(TernTestCase):

    def test_auth_before_tls(self):
        inst = secure_instance(self)
        c = RawSMTP(inst.sub_port)
        try:
            self.assertEqual(c.reply()[0], 220)
            code, texts = c.cmd("EHLO client.test")
            self.assertFalse(any(t.startswith("AUTH") for t in texts),
                             "AUTH offered before TLS: %r" % texts)
            code, texts = c.cmd("AUTH PLAIN " +
                                plain_b64("alice", "alice-secret"))
            self.assertEqual(code, 538, texts)
            self.assertTrue(texts[0].startswith("5.7.11"), texts)
        finally:
            c.close()
        # Port 25 without smtpd_auth_on_smtp: not even after TLS.
        c = RawSMTP(inst.port)
        try:
            c.reply()
            c.cmd("EHLO client.test")
            c.cmd("STARTTLS")
            c.sock = client_context().wrap_socket(c.sock)
            code, texts = c.cmd("EHLO client.test")
            self.assertFalse(any(t.startswith("AUTH") for t in texts))
            self.assertEqual(c.cmd("AUTH PLAIN " +
                                   plain_b64("alice", "alice-secret"))[0], 503)
        finally:
            c.close()

    def test_wrong_password_malformed_cancel(self):
        inst = secure_instance(self)
        c = tls_raw(inst)
        try:
            code, t = c.cmd("AUTH PLAIN " + plain_b64("alice", "wrong"))
            self.assertEqual(code, 535, t)
            self.assertTrue(t[0].startswith("5.7.8"), t)
            # An unknown login gets the same answer.
            code, t = c.cmd("AUTH PLAIN " + plain_b64("nobody", "x"))
            self.assertEqual(code, 535, t)
            code, t = c.cmd("AUTH PLAIN not*base64")
            self.assertEqual(code, 501, t)
            code, t = c.cmd("AUTH PLAIN")
            self.assertEqual(code, 334, t)
            code, t = c.cmd("*")
            self.assertEqual(code, 501, t)
            code, t = c.cmd("AUTH LOGIN")
            self.assertEqual((code, t[0]), (334, "VXNlcm5hbWU6"))
            code, t = c.cmd(b64("alice"))
            self.assertEqual((code, t[0]), (334, "UGFzc3dvcmQ6"))
            code, t = c.cmd("%%%")
            self.assertEqual(code, 501, t)
            # authzid other than the login: refused, not a way in.
            code, t = c.cmd("AUTH PLAIN " + plain_b64("alice", "alice-secret",
                                                      authzid="bob"))
            self.assertEqual(code, 501, t)
            # Still usable: the right password works after all that.
            code, t = c.cmd("AUTH PLAIN " + plain_b64("alice",
                                                      "alice-secret"))
            self.assertEqual(code, 235, t)
            code, t = c.cmd("AUTH PLAIN " + plain_b64("alice",
                                                      "alice-secret"))
            self.assertEqual(code, 503, t)
        finally:
            c.close()

    def test_failure_limit_and_delay(self):
        inst = secure_instance(self, smtpd_auth_failure_limit="3",
                               smtpd_auth_failure_delay="1s")
        c = tls_raw(inst)
        try:
            t0 = time.monotonic()
            self.assertEqual(c.cmd("AUTH PLAIN " +
                                   plain_b64("alice", "bad1"))[0], 535)
            self.assertEqual(c.cmd("AUTH PLAIN " +
                                   plain_b64("alice", "bad2"))[0], 535)
            code, t = c.cmd("AUTH PLAIN " + plain_b64("alice", "bad3"))
            elapsed = time.monotonic() - t0
            self.assertEqual(code, 421, t)
            # 1s, 2s and 4s of growing delay before the three answers.
            self.assertGreaterEqual(elapsed, 6.5)
            self.assertEqual(c.pending(2), b"", "session not closed")
        finally:
            c.close()
        log = inst.log()
        self.assertEqual(len(re.findall(
            r"warning: unknown\[127\.0\.0\.1\]: SASL PLAIN authentication "
            r"failed: ", log)), 3, log)
        self.assertNotIn("bad1", log)
        self.fail2ban_matches(inst, 3)

    def test_failures_counted_per_client_across_sessions(self):
        inst = secure_instance(self, smtpd_auth_failure_limit="3",
                               smtpd_auth_failure_delay="0")
        c = tls_raw(inst)
        for bad in ("bad1", "bad2"):
            self.assertEqual(c.cmd("AUTH PLAIN " +
                                   plain_b64("alice", bad))[0], 535)
        c.cmd("QUIT")
        c.close()
        # A new session from the same address: the third failure is the
        # limit, and ends it.
        c = tls_raw(inst)
        code, t = c.cmd("AUTH PLAIN " + plain_b64("alice", "bad3"))
        self.assertEqual(code, 421, t)
        c.close()
        # From then on that address gets no more tries, right password
        # or not...
        c = tls_raw(inst)
        code, t = c.cmd("AUTH PLAIN " + plain_b64("alice", "alice-secret"))
        self.assertEqual(code, 421, t)
        c.close()
        # ...while another client is not affected.
        c = raw_from(inst.sub_port, "127.0.0.2")
        try:
            self.assertEqual(c.reply()[0], 220)
            self.assertEqual(c.cmd("EHLO other.test")[0], 250)
            self.assertEqual(c.cmd("STARTTLS")[0], 220)
            c.sock = client_context().wrap_socket(c.sock)
            self.assertEqual(c.cmd("EHLO other.test")[0], 250)
            code, t = c.cmd("AUTH PLAIN " + plain_b64("alice",
                                                      "alice-secret"))
            self.assertEqual(code, 235, t)
        finally:
            c.close()

    def test_failure_counted_before_the_client_is_answered(self):
        # smtpd answers a failed AUTH only once ternd has counted it, so
        # a client that comes back at once, to whichever worker, finds
        # its failure in the count.  With ternd stopped the 535 waits;
        # it comes when ternd runs again.  Each round uses its own client
        # address, so the rounds do not share a count; with several
        # workers the new session usually lands on another one than the
        # failed session.
        inst = secure_instance(self, smtpd_auth_failure_limit="2",
                               smtpd_auth_failure_delay="0")
        ternd = inst.proc.pid
        c = tls_from(inst, "127.0.0.9")
        os.kill(ternd, signal.SIGSTOP)
        try:
            c.send("AUTH PLAIN " + plain_b64("alice", "bad1") + "\r\n")
            self.assertEqual(c.pending(1.5), b"",
                             "535 sent before ternd counted the failure")
        finally:
            os.kill(ternd, signal.SIGCONT)
        c.sock.settimeout(30)
        self.assertEqual(c.reply()[0], 535)
        c.close()
        for i in range(8):
            source = "127.0.0.%d" % (10 + i)
            c = tls_from(inst, source)
            try:
                code, t = c.cmd("AUTH PLAIN " + plain_b64("alice", "bad1"))
                self.assertEqual(code, 535, t)
                c.cmd("QUIT")
            finally:
                c.close()
            c = tls_from(inst, source)
            try:
                code, t = c.cmd("AUTH PLAIN " + plain_b64("alice", "bad2"))
                self.assertEqual(code, 421, "round %d: %s" % (i, t))
            finally:
                c.close()
        self.assertNotIn("did not count a failed AUTH", inst.log())

    def fail2ban_matches(self, inst, n):
        """fail2ban-regex with the postfix filter in auth mode finds n."""
        self.assertIsNotNone(shutil.which("fail2ban-regex"),
                             "fail2ban is not installed")
        lines = [l for l in inst.log().splitlines()
                 if "tern/smtpd[" in l]
        fg = os.path.join(inst.tmp, "fg.log")
        with open(fg, "w") as f:
            f.write("\n".join(lines) + "\n")
        # Syslog adds the host name; there the daemon name must be told
        # to the filter (documented in tern-smtpd(8)).
        sl = os.path.join(inst.tmp, "syslog.log")
        with open(sl, "w") as f:
            for l in lines:
                f.write(re.sub(r"^(\w{3} [ \d]\d \d\d:\d\d:\d\d) ",
                               r"\1 mailhost ", l) + "\n")
        for path, flt in ((fg, "postfix[mode=auth]"),
                          (sl, r"postfix[mode=auth, _daemon=tern/\w+]")):
            r = subprocess.run(["fail2ban-regex", path, flt],
                               stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, timeout=120)
            out = r.stdout.decode("utf-8", "replace")
            self.assertEqual(r.returncode, 0, out)
            m = re.search(r"Lines: \d+ lines, \d+ ignored, (\d+) matched",
                          out)
            self.assertIsNotNone(m, out)
            self.assertEqual(int(m.group(1)), n, out)
            self.assertIn("127.0.0.1", out)
