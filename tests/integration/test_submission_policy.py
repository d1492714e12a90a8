"""
Submission policy (RFC 6409): which MAIL FROM an authenticated login may
use (smtpd_sender_login_map, else itself at a local domain: 553 5.7.1
otherwise), and the Date: and Message-ID: fields added to submitted mail
that lacks them (section 8), checked in the delivered file.
"""

import re

from tern_harness import TernTestCase, qid_from_reply
from tern_tls import plain_b64, secure_instance, submission, write_map


def login(s, user):
    code, text = s.docmd("AUTH", "PLAIN " + plain_b64(user, user + "-secret"))
    assert code == 235, (code, text)


class TestSenderLogin(TernTestCase):

    def test_default_own_address_only(self):
        inst = secure_instance(self)
        s = submission(inst)
        try:
            login(s, "alice")
            code, text = s.mail("bob@test.example")
            self.assertEqual(code, 553, text)
            self.assertTrue(text.startswith(b"5.7.1"), text)
            self.assertIn(b"not owned by user alice", text)
            self.assertEqual(s.mail("someone@elsewhere.example")[0], 553)
            self.assertEqual(s.mail("ALICE@localhost")[0], 250)
            s.rset()
            self.assertEqual(s.mail("alice@test.example")[0], 250)
            s.rset()
            self.assertEqual(s.mail("")[0], 250)   # the null sender
        finally:
            s.quit()
        self.assertRegex(inst.log(), r"NOQUEUE: reject: MAIL from unknown\["
                         r"127\.0\.0\.1\]: 553 5\.7\.1 <bob@test\.example>: "
                         r"Sender address rejected: not owned by user alice")

    def test_sender_login_map(self):
        inst = secure_instance(self, start=False)
        inst.settings["smtpd_sender_login_map"] = write_map(
            inst.tmp, "sender_logins", {
                "team@test.example": "alice, carol",
                "alice@test.example": "carol",
            })
        inst.write_config()
        inst.start()
        s = submission(inst)
        try:
            login(s, "alice")
            self.assertEqual(s.mail("team@test.example")[0], 250)
            s.rset()
            # The map names alice@test.example: only carol may use it now.
            code, text = s.mail("alice@test.example")
            self.assertEqual(code, 553, text)
            self.assertTrue(text.startswith(b"5.7.1"), text)
            # Not in the map: the default rule still applies.
            self.assertEqual(s.mail("alice@localhost")[0], 250)
        finally:
            s.quit()
        s = submission(inst)
        try:
            login(s, "bob")
            code, text = s.mail("team@test.example")
            self.assertEqual(code, 553, text)
        finally:
            s.quit()


class TestSubmissionHeaders(TernTestCase):

    def send(self, inst, msg):
        s = submission(inst)
        try:
            login(s, "alice")
            s.mail("alice@test.example")
            s.rcpt("bob@test.example")
            code, text = s.data(msg)
            self.assertEqual(code, 250, text)
            return qid_from_reply(text)
        finally:
            s.quit()

    def test_date_and_message_id_added(self):
        inst = secure_instance(self)
        qid = self.send(inst, b"From: alice@test.example\r\n"
                              b"Subject: bare\r\n\r\nbody\r\n")
        data = open(inst.wait_for_delivery("bob")[0], "rb").read().decode()
        head, body = data.split("\n\n", 1)
        self.assertRegex(head, r"\nDate: \w{3}, \d{1,2} \w{3} \d{4} "
                         r"\d\d:\d\d:\d\d [+-]\d{4}")
        self.assertIn("\nMessage-ID: <%s@test.example>" % qid, head)
        # Added at the end of the header section, before the body.
        self.assertTrue(head.rstrip().splitlines()[-1].startswith(
            "Message-ID:"), head)
        self.assertEqual(body, "body\n")

    def test_existing_fields_kept_unqualified_replaced(self):
        inst = secure_instance(self)
        self.send(inst, b"From: alice@test.example\r\n"
                        b"Date: Mon, 1 Jan 2024 10:00:00 +0000\r\n"
                        b"Message-ID: <keep.1@client.test>\r\n"
                        b"Subject: full\r\n\r\nbody\r\n")
        self.send(inst, b"From: alice@test.example\r\n"
                        b"Message-ID: <unqualified>\r\n"
                        b"Subject: partial\r\n\r\nbody\r\n")
        files = inst.wait_for_delivery("bob", 2)
        texts = [open(f, "rb").read().decode() for f in files]
        full = [t for t in texts if "Subject: full" in t][0]
        part = [t for t in texts if "Subject: partial" in t][0]
        self.assertEqual(len(re.findall(r"(?m)^Date:", full)), 1)
        self.assertIn("Message-ID: <keep.1@client.test>", full)
        self.assertEqual(len(re.findall(r"(?m)^Message-ID:", full)), 1)
        self.assertNotIn("<unqualified>", part)
        self.assertRegex(part, r"(?m)^Message-ID: <[0-9A-F]{16}@"
                         r"test\.example>$")
        self.assertEqual(len(re.findall(r"(?m)^Date:", part)), 1)

    def test_port_25_mail_left_alone(self):
        inst = secure_instance(self)
        import smtplib
        with smtplib.SMTP("127.0.0.1", inst.port, timeout=30) as s:
            s.sendmail("x@client.test", ["bob@test.example"],
                       b"Subject: relay\r\n\r\nbody\r\n")
        data = open(inst.wait_for_delivery("bob")[0], "rb").read().decode()
        self.assertNotRegex(data, r"(?m)^(Date|Message-ID):")
