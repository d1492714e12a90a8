"""
Maps under a directory that tern_user cannot search: a checkout under
/root or a mktemp -d directory (mode 0700), as the README's quick start
may run from.  lookupd opens its maps as root before it drops to
tern_user, so aliases there work, and keep working across a reload.
"""

import os
import signal
import smtplib
import time

from tern_harness import TernTestCase, smtp_connect, wait_until


class TestMapPrivateDir(TernTestCase):

    def private_aliases(self, inst, aliases):
        """Aliases in inst.tmp/private/etc (private: 0700, root's)."""
        private = os.path.join(inst.tmp, "private")
        etc = os.path.join(private, "etc")
        os.makedirs(etc)
        os.chmod(private, 0o700)
        os.chmod(etc, 0o755)
        inst.aliases_path = os.path.join(etc, "aliases")
        inst.write_aliases(aliases)
        inst.settings["alias_maps"] = inst.aliases_path
        inst.write_config()

    def rcpt(self, inst, rcpt):
        with smtp_connect(inst) as s:
            s.ehlo()
            s.mail("sender@client.test")
            return s.rcpt(rcpt)

    def test_alias_under_private_dir_delivers(self):
        inst = self.instance(start=False)
        self.private_aliases(inst, {"postmaster": "alice",
                                    "team": "bob, carol"})
        inst.start()
        code, text = self.rcpt(inst, "postmaster@test.example")
        self.assertEqual(code, 250, text)
        with smtp_connect(inst) as s:
            s.sendmail("sender@client.test", ["postmaster@test.example",
                                              "team@test.example"],
                       b"Subject: private aliases\r\n\r\nbody\r\n")
        for u in ("alice", "bob", "carol"):
            inst.wait_for_delivery(u, 1)
        self.assertIn("using the copy opened at start", inst.log())
        # A reload keeps the map it opened as root.
        inst.signal_ternd(signal.SIGHUP)
        wait_until(lambda: "configuration reread" in inst.log(), 10,
                   what="the reload")
        time.sleep(1)
        code, text = self.rcpt(inst, "team@test.example")
        self.assertEqual(code, 250, text)
        self.assertNotIn("Temporary lookup failure", text.decode())

    def test_unknown_name_under_private_dir_is_550(self):
        inst = self.instance(start=False)
        self.private_aliases(inst, {"postmaster": "alice"})
        inst.start()
        code, text = self.rcpt(inst, "nosuchuser@test.example")
        self.assertEqual(code, 550, text)
        try:
            with smtp_connect(inst) as s:
                s.sendmail("sender@client.test", ["postmaster@test.example"],
                           b"Subject: x\r\n\r\nbody\r\n")
        except smtplib.SMTPException as e:
            self.fail("refused: %r" % (e,))
        inst.wait_for_delivery("alice", 1)
