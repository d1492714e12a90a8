"""
TLS in smtpd: STARTTLS on port 25 and on submission, implicit TLS on
submissions, TLS 1.2/1.3 only (seen by openssl s_client), the Received:
header, the session reset after STARTTLS, the STARTTLS command injection
defence (CVE-2011-0411), and ternd -n on bad certificate settings.
"""

import os
import re
import socket
import subprocess

from tern_harness import (TernTestCase, RawSMTP, binary, qid_from_reply,
                          smtp_connect, unfold)
from tern_tls import (client_context, make_cert, secure_instance,
                      submissions)

MSG = (b"From: a@client.test\r\nTo: alice@test.example\r\n"
       b"Subject: tls\r\n\r\nover TLS\r\n")


def s_client(port, *args):
    """openssl s_client's output for a handshake with extra args."""
    r = subprocess.run(
        ["openssl", "s_client", "-connect", "127.0.0.1:%d" % port] +
        list(args), input=b"", stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, timeout=30)
    return r.returncode, r.stdout.decode("utf-8", "replace")


class TestTLS(TernTestCase):

    def setUp(self):
        self.inst = secure_instance(self)

    def test_starttls_port25_received_header(self):
        inst = self.inst
        with smtp_connect(inst) as s:
            s.ehlo()
            self.assertTrue(s.has_extn("starttls"), s.esmtp_features)
            # Plaintext port 25 without smtpd_auth_on_smtp: no AUTH.
            self.assertFalse(s.has_extn("auth"))
            s.starttls(context=client_context())
            s.ehlo()
            self.assertFalse(s.has_extn("starttls"),
                             "STARTTLS offered again inside TLS")
            self.assertIn(s.sock.version(), ("TLSv1.2", "TLSv1.3"))
            s.mail("a@client.test")
            s.rcpt("alice@test.example")
            code, text = s.data(MSG)
            self.assertEqual(code, 250, text)
            qid = qid_from_reply(text)
        data = open(inst.wait_for_delivery("alice")[0], "rb").read()
        recv = unfold(data.decode())
        m = re.search(r"Received: from client\.test .*?;", recv, re.S)
        self.assertIsNotNone(m, recv)
        self.assertRegex(m.group(0), r"with ESMTPS\s+\(using TLSv1\.[23] "
                         r"with cipher \S+ \(\d+/\d+ bits\)\) id %s" % qid)
        self.assertIn("Anonymous TLS connection established from", inst.log())

    def test_session_reset_after_starttls(self):
        inst = self.inst
        c = RawSMTP(inst.port)
        try:
            self.assertEqual(c.reply()[0], 220)
            self.assertEqual(c.cmd("EHLO client.test")[0], 250)
            self.assertEqual(c.cmd("STARTTLS")[0], 220)
            c.sock = client_context().wrap_socket(c.sock)
            # RFC 3207 4.2: the EHLO before TLS is forgotten.
            code, text = c.cmd("MAIL FROM:<a@client.test>")
            self.assertEqual(code, 503, text)
            self.assertEqual(c.cmd("EHLO client.test")[0], 250)
            self.assertEqual(c.cmd("MAIL FROM:<a@client.test>")[0], 250)
            code, _ = c.cmd("STARTTLS")
            self.assertEqual(code, 554)
            c.cmd("QUIT")
        finally:
            c.close()

    def test_starttls_injection_discarded(self):
        inst = self.inst
        c = RawSMTP(inst.port)
        try:
            self.assertEqual(c.reply()[0], 220)
            self.assertEqual(c.cmd("EHLO client.test")[0], 250)
            # One packet: STARTTLS plus commands an attacker appended.
            c.send(b"STARTTLS\r\nRSET\r\nMAIL FROM:<evil@client.test>\r\n"
                   b"RCPT TO:<alice@test.example>\r\n")
            code, _ = c.reply()
            self.assertEqual(code, 220)
            c.sock = client_context().wrap_socket(c.sock)
            # Had the injected commands run, their replies would come
            # now; the next reply must be the one to our EHLO.
            code, texts = c.cmd("EHLO client.test")
            self.assertEqual(code, 250, texts)
            self.assertEqual(texts[0], "test.example")
            # And no transaction was started by the injected MAIL.
            code, text = c.cmd("RCPT TO:<alice@test.example>")
            self.assertEqual(code, 503, text)
            c.cmd("QUIT")
        finally:
            c.close()
        log = inst.log()
        self.assertIn("discarding plaintext sent after STARTTLS", log)
        self.assertNotIn("evil@client.test", log)

    def test_protocol_versions(self):
        inst = self.inst
        for port, extra in ((inst.port, ["-starttls", "smtp"]),
                            (inst.sub_port, ["-starttls", "smtp"]),
                            (inst.subs_port, [])):
            for ver, name in (("-tls1_2", "TLSv1.2"), ("-tls1_3", "TLSv1.3")):
                rc, out = s_client(port, ver, *extra)
                self.assertRegex(out, r"New, %s, Cipher is (?!\(NONE\))"
                                 % re.escape(name), out)
            for ver in ("-tls1", "-tls1_1"):
                rc, out = s_client(port, ver, "-cipher", "ALL:@SECLEVEL=0",
                                   *extra)
                self.assertNotEqual(rc, 0, "%s accepted on %d" % (ver, port))
                self.assertNotRegex(out, r"Cipher is (?!\(NONE\))")

    def test_implicit_tls_submissions(self):
        inst = self.inst
        s = submissions(inst)
        try:
            self.assertIn(s.sock.version(), ("TLSv1.2", "TLSv1.3"))
            self.assertFalse(s.has_extn("starttls"))
            self.assertTrue(s.has_extn("auth"))
            self.assertIn("PLAIN", s.esmtp_features["auth"])
            self.assertIn("LOGIN", s.esmtp_features["auth"])
        finally:
            s.quit()

    def test_plaintext_on_submissions_port_fails(self):
        inst = self.inst
        with socket.create_connection(("127.0.0.1", inst.subs_port),
                                      timeout=10) as sock:
            sock.sendall(b"EHLO client.test\r\n")
            data = b""
            try:
                while True:
                    chunk = sock.recv(4096)
                    if not chunk:
                        break
                    data += chunk
            except (socket.timeout, ConnectionResetError):
                pass
            self.assertNotIn(b"220", data)
            self.assertNotIn(b"250", data)


class TestTLSConfig(TernTestCase):

    def check(self, inst):
        r = subprocess.run([binary("ternd"), "-n", "-c", inst.conf],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=30)
        return r.returncode, r.stdout.decode("utf-8", "replace")

    def test_ternd_n_good(self):
        inst = secure_instance(self, start=False)
        rc, out = self.check(inst)
        self.assertEqual(rc, 0, out)

    def test_ternd_n_missing_key(self):
        inst = secure_instance(self, start=False)
        inst.settings["smtpd_tls_key_file"] = os.path.join(inst.tmp, "nokey")
        inst.write_config()
        rc, out = self.check(inst)
        self.assertEqual(rc, 1, out)
        self.assertIn("smtpd_tls_key_file", out)
        self.assertIn("No such file or directory", out)
        # And a start fails at once, with the reason, not at a client.
        r = subprocess.run([binary("ternd"), "-d", "-c", inst.conf],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=30)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(b"smtpd_tls_key_file", r.stdout)

    def test_ternd_n_mismatched_and_garbage_key(self):
        inst = secure_instance(self, start=False)
        _cert2, key2 = make_cert(inst.tmp, name="other")
        inst.settings["smtpd_tls_key_file"] = key2
        inst.write_config()
        rc, out = self.check(inst)
        self.assertEqual(rc, 1, out)
        self.assertIn("does not match", out)
        with open(os.path.join(inst.tmp, "garbage.key"), "w") as f:
            f.write("-----BEGIN PRIVATE KEY-----\nnot a key\n"
                    "-----END PRIVATE KEY-----\n")
        inst.settings["smtpd_tls_key_file"] = os.path.join(inst.tmp,
                                                           "garbage.key")
        inst.write_config()
        rc, out = self.check(inst)
        self.assertEqual(rc, 1, out)
        self.assertIn("smtpd_tls_key_file", out)

    def test_ternd_n_submission_without_cert(self):
        inst = secure_instance(self, start=False)
        inst.settings["smtpd_tls_cert_file"] = None
        inst.settings["smtpd_tls_key_file"] = None
        inst.write_config()
        rc, out = self.check(inst)
        self.assertEqual(rc, 1, out)
        self.assertIn("submission", out)
        self.assertIn("smtpd_tls_cert_file", out)
