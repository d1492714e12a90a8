"""
The manual: every page under man/ is clean for mandoc -Tlint (warnings
included), and every program and setting an administrator meets has one.
"""

import os
import shutil
import subprocess
import unittest

from tern_harness import TernTestCase

SRCDIR = os.environ.get("TERN_SRCDIR", os.path.join(
    os.path.dirname(__file__), "..", ".."))
MAN = os.path.join(SRCDIR, "man")


class TestManPages(TernTestCase):

    def pages(self):
        return sorted(os.path.join(MAN, n) for n in os.listdir(MAN)
                      if n[-2:-1] == "." and n[-1] in "12345678")

    @unittest.skipUnless(shutil.which("mandoc"), "mandoc is not installed")
    def test_mandoc_lint_clean(self):
        for page in self.pages():
            r = subprocess.run(["mandoc", "-Tlint", "-W", "warning", page],
                               stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, timeout=30)
            self.assertEqual(r.stdout.decode(), "", page)

    @unittest.skipUnless(shutil.which("groff"), "groff is not installed")
    def test_groff_renders_without_warnings(self):
        # What man(1) uses, and lintian checks: it reads words like "No"
        # in a reference title as macros where mandoc does not.
        for page in self.pages():
            r = subprocess.run(["groff", "-mandoc", "-ww", "-z", page],
                               stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, timeout=30)
            self.assertEqual(r.stdout.decode(), "", page)

    def test_every_program_has_a_page(self):
        names = {os.path.basename(p) for p in self.pages()}
        for page in ("ternd.8", "ternctl.8", "ternmap.8", "sendmail.8",
                     "mailq.1", "newaliases.1", "tern.conf.5", "aliases.5",
                     "tern-smtpd.8", "tern-lookupd.8", "tern-queued.8",
                     "tern-deliverd.8"):
            self.assertIn(page, names)
