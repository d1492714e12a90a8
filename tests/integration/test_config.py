"""
ternd -n checks a configuration and says what is wrong, where.
"""

import os
import re
import subprocess
import tempfile
import shutil

from tern_harness import TernTestCase, binary, progdir


class TestConfigCheck(TernTestCase):

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="tern-it-config-")
        os.chmod(self.tmp, 0o755)
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def check(self, text):
        path = os.path.join(self.tmp, "tern.conf")
        with open(path, "w") as f:
            f.write(text)
        r = subprocess.run([binary("ternd"), "-n", "-c", path],
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=20)
        return path, r.returncode, r.stdout.decode("utf-8", "replace")

    def base(self):
        return ("spool_dir = %s/spool\ndaemon_directory = %s\n"
                % (self.tmp, progdir()))

    def test_bad_config(self):
        text = (self.base() +                         # lines 1-2
                "# a comment\n"                       # 3
                "no_such_setting = 1\n"               # 4
                "\n"                                  # 5
                "smtpd_timeout = 5 fortnights\n"      # 6
                "myhostname = ok.example\n")          # 7
        path, rc, out = self.check(text)
        self.assertEqual(rc, 1, out)
        lines = out.splitlines()

        def reported(key, lineno):
            return any(path in l and re.search(r"\b%d\b" % lineno,
                                               l.replace(path, ""))
                       and key in l for l in lines)
        self.assertTrue(reported("no_such_setting", 4),
                        "unknown key not reported with file and line:\n" + out)
        self.assertTrue(reported("smtpd_timeout", 6),
                        "bad duration not reported with file and line:\n" + out)
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "spool")),
                         "ternd -n created the spool")

    def test_good_config(self):
        text = self.base() + ("myhostname = ok.example\n"
                              "smtp_listen = 127.0.0.1:2525\n"
                              "smtpd_timeout = 5m\n"
                              "message_size_limit = 10m\n"
                              "mynetworks = 127.0.0.0/8, 10.0.0.0/8\n"
                              "smtpd_bare_newline = reject\n")
        _, rc, out = self.check(text)
        self.assertEqual(rc, 0, out)

    def test_minimal_config(self):
        _, rc, out = self.check(self.base())
        self.assertEqual(rc, 0, out)

    # An empty file is tested where it means something: against an
    # installed tree (test_install.py).

    def test_mailbox_transport_checked(self):
        """A malformed mailbox_transport is refused with its line; an LMTP
        socket that is not there yet is only a warning."""
        path, rc, out = self.check(self.base() +
                                   "mailbox_transport = lmtp:unix:rel\n")
        self.assertEqual(rc, 1, out)
        self.assertIn("mailbox_transport", out)
        sock = os.path.join(self.tmp, "no-lmtp")
        _, rc, out = self.check(self.base() +
                                "mailbox_transport = lmtp:unix:%s\n" % sock)
        self.assertEqual(rc, 0, out)
        self.assertIn("warning: mailbox_transport: %s is not a socket" % sock,
                      out)

    def test_duplicate_and_bad_enum(self):
        text = (self.base() + "smtpd_timeout = 10s\n"
                "smtpd_timeout = 20s\n"
                "smtpd_bare_newline = sometimes\n")
        path, rc, out = self.check(text)
        self.assertEqual(rc, 1, out)
        self.assertIn("smtpd_bare_newline", out)
