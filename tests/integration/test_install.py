"""
test_install - "make install" into a temporary prefix, then an EMPTY
tern.conf.  Every setting has a default, so an empty file must be a working
local-only server: ternd -n accepts it and, started as root with nothing
but that file, ternd listens on 127.0.0.1:25 and delivers mail for a passwd
user at localhost into ~user/Maildir, as that user.
"""

import atexit
import grp
import os
import re
import shutil
import signal
import smtplib
import subprocess
import tempfile
import unittest

from tern_harness import (add_passwd_user, HarnessError, ensure_system_users,
                          is_root, sanitizer_build, srcdir, wait_until)


# The install compiles the whole tree with make -j2: no other module's
# timing should share the CPUs with it (runner.py).
RUN_ALONE = "make -j2 install loads every CPU"

_INSTALLED = {}


def _install():
    """Build and install once per run (the runner runs tests one by one,
    without class fixtures); returns the namespace of paths."""
    if not _INSTALLED:
        _INSTALLED["ns"] = _Install()
    return _INSTALLED["ns"]


class _Install:

    def __init__(cls):
        ensure_system_users()
        cls.tmp = tempfile.mkdtemp(prefix="tern-it-install-")
        # One install serves every test of the run: removed at its end.
        atexit.register(shutil.rmtree, cls.tmp, True)
        os.chmod(cls.tmp, 0o755)
        cls.prefix = os.path.join(cls.tmp, "p")
        build = os.path.join(cls.tmp, "build")
        os.mkdir(build)
        # Same compiler options as the build under test (e.g. sanitizers).
        opts = ["--enable-sanitizers"] if sanitizer_build() else []
        for cmd in ([os.path.join(srcdir(), "configure"), "-q",
                     "--prefix=" + cls.prefix] + opts,
                    ["make", "-s", "-j2", "install"]):
            r = subprocess.run(cmd, cwd=build, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, timeout=900)
            if r.returncode != 0:
                raise HarnessError("%s failed:\n%s" % (
                    " ".join(cmd), r.stdout.decode(errors="replace")[-3000:]))
        cls.conf = os.path.join(cls.prefix, "etc", "tern", "tern.conf")
        os.makedirs(os.path.dirname(cls.conf), exist_ok=True)
        open(cls.conf, "w").close()
        cls.ternd = os.path.join(cls.prefix, "sbin", "ternd")

class TestInstalledEmptyConfig(unittest.TestCase):

    def setUp(self):
        ns = _install()
        self.tmp, self.conf, self.ternd = ns.tmp, ns.conf, ns.ternd
        self.prefix = ns.prefix

    @unittest.skipUnless(is_root(), "root only: make install sets the group "
                         "of tern-postdrop as root only")
    def test_sendmail_links_and_setgid_helper_installed(self):
        sendmail = os.path.join(self.prefix, "sbin", "sendmail")
        st = os.stat(sendmail)
        self.assertEqual(st.st_mode & 0o7000, 0, "sendmail is set-id")
        for link in ("bin/mailq", "bin/newaliases", "lib/sendmail"):
            self.assertEqual(os.readlink(os.path.join(self.prefix, link)),
                             sendmail)
        pd = os.stat(os.path.join(self.prefix, "libexec", "tern",
                                  "tern-postdrop"))
        self.assertEqual(pd.st_uid, 0)
        self.assertEqual(pd.st_gid, grp.getgrnam("_terndrop").gr_gid)
        self.assertEqual(pd.st_mode & 0o7777, 0o2755)
        # newaliases, run through its link, finds ternmap in sbin.
        src = os.path.join(self.tmp, "aliases-for-newaliases")
        with open(src, "w") as f:
            f.write("team: root\n")
        conf = os.path.join(self.tmp, "newaliases.conf")
        with open(conf, "w") as f:
            f.write("alias_maps = %s\n" % src)
        r = subprocess.run([os.path.join(self.prefix, "bin", "newaliases"),
                            "-C", conf], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout)
        self.assertTrue(os.path.exists(src + ".db"))

    def test_empty_config_checks_clean(self):
        self.assertEqual(os.path.getsize(self.conf), 0)
        r = subprocess.run([self.ternd, "-n"], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout.decode(errors="replace"))

    @unittest.skipUnless(is_root(), "root only: the defaults listen on port 25")
    def test_empty_config_serves_local_mail(self):
        user = "terntest%d" % (os.getpid() % 100000)
        home = os.path.join(self.tmp, "home-" + user)
        pw = add_passwd_user(self, user, home)
        os.mkdir(home, 0o700)
        os.chown(home, pw.pw_uid, pw.pw_gid)

        # The default alias_maps is /etc/aliases.  Another MTA's package
        # may have left that file without a compiled .db, and tern defers
        # local mail rather than guess (ternd -n warns).  Compile it the way
        # a package's postinst does, and put things back afterwards.
        if os.path.exists("/etc/aliases") and \
                not os.path.exists("/etc/aliases.db"):
            subprocess.run([os.path.join(os.path.dirname(self.ternd),
                                         "ternmap"), "-a", "/etc/aliases"],
                           check=True, timeout=30)
            self.addCleanup(os.unlink, "/etc/aliases.db")

        log = open(os.path.join(self.tmp, "ternd.log"), "wb")
        self.addCleanup(log.close)
        proc = subprocess.Popen([self.ternd, "-d"], stdout=log, stderr=log,
                                stdin=subprocess.DEVNULL,
                                start_new_session=True)

        def stop():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(10)
        self.addCleanup(stop)

        def greets():
            if proc.poll() is not None:
                raise HarnessError("ternd exited %s:\n%s" % (
                    proc.returncode, open(log.name, errors="replace").read()))
            try:
                s = smtplib.SMTP("127.0.0.1", 25, timeout=5)
                s.quit()
                return True
            except OSError:
                return False
        wait_until(greets, 20, what="ternd greeting on 127.0.0.1:25 "
                   "(is another MTA using port 25?)")

        body = ("From: someone@example.org\r\nTo: %s@localhost\r\n"
                "Subject: empty config\r\n\r\nhello\r\n" % user)
        with smtplib.SMTP("127.0.0.1", 25, timeout=30) as s:
            s.sendmail("someone@example.org", ["%s@localhost" % user], body)

        new = os.path.join(home, "Maildir", "new")
        wait_until(lambda: os.path.isdir(new) and os.listdir(new), 30,
                   what="delivery into %s" % new)
        [name] = os.listdir(new)
        path = os.path.join(new, name)
        self.assertEqual(os.stat(path).st_uid, pw.pw_uid)
        with open(path, "rb") as f:
            data = f.read()
        self.assertIn(b"Delivered-To: %s@localhost\n" % user.encode(), data)
        self.assertTrue(data.endswith(b"Subject: empty config\n\nhello\n"),
                        data)

        # The installed sendmail, run by that user with nothing but the
        # defaults: through the set-group-ID tern-postdrop into the
        # maildrop, delivered, and logged with the user's uid.
        r = subprocess.run([os.path.join(self.prefix, "sbin", "sendmail"),
                            "%s@localhost" % user],
                           input=b"Subject: local\n\nfrom sendmail\n",
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           user=pw.pw_uid, group=pw.pw_gid, extra_groups=[],
                           timeout=60)
        self.assertEqual(r.returncode, 0, r)
        wait_until(lambda: len(os.listdir(new)) == 2, 30,
                   what="the message from sendmail in %s" % new)
        wait_until(lambda: re.search(r"[0-9A-F]{16}: uid=%d from=<%s@"
                                     % (pw.pw_uid, user),
                                     open(log.name, errors="replace")
                                     .read()), 10,
                   what="the pickup log line with the user's uid")
