"""
tern started by an ordinary user (no root: no privilege separation, no
chroot) still serves: it accepts (also over STARTTLS and implicit TLS,
with AUTH, and in chunks), delivers locally into mailboxes that user can
write and into a virtual mailbox, relays (over TLS), bounces a refused recipient to its sender,
sends a success notice, expands an alias, reloads, and stops cleanly.
In a sanitizer build this is also where most daemons' leaks are
checked: elsewhere they run chrooted or as another user, where
LeakSanitizer cannot work (it reads /proc and ptraces the process at
exit), so they skip it (__lsan_is_turned_off, common/privsep.c); here
every process of the instance runs with it and must exit without a
report.  Root only (the test starts ternd as
nobody); CI runs as root.
"""

import glob
import os
import pwd
import shutil
import signal
import smtplib
import subprocess
import tempfile
import time
import unittest

from sink import Sink, make_cert
from tern_harness import (RawSMTP, TernTestCase, binary, free_port,
                          is_root, proc_uids, sanitizer_build, smtp_connect,
                          wait_until)
from tern_tls import client_context, secure_instance, write_map

USER = "nobody"


def chown_tree(top, uid, gid):
    """top and everything in it owned by uid:gid."""
    for d, dirs, files in os.walk(top):
        os.chown(d, uid, gid)
        for name in files:
            os.chown(os.path.join(d, name), uid, gid)


@unittest.skipUnless(is_root(), "root only: ternd is started as nobody")
class TestUnprivileged(TernTestCase):

    def setUp(self):
        port = free_port("127.0.0.1")
        self.sink = Sink("127.0.0.1", port,
                         tls=make_cert(self.tmpdir(), "sink.test")).start()
        self.addCleanup(self.sink.stop)
        self.sink.rcpt_replies["bad@remote.test"] = "550 5.1.1 no such user"
        self.sink.rcpt_replies["later@remote.test"] = "451 4.3.0 not now"
        self.inst = secure_instance(self, start=False,
                                    relayhost="[127.0.0.1]:%d" % port)
        self.inst.write_aliases({"team": "alice, bob"})
        pw = pwd.getpwnam(USER)
        # A virtual mailbox domain, written as nobody too.
        self.vbase = os.path.join(self.inst.tmp, "vmail")
        os.mkdir(self.vbase)
        self.inst.settings.update({
            "virtual_mailbox_domains": "virt.test",
            "virtual_mailbox_base": self.vbase,
            "virtual_mailbox_map": write_map(
                self.inst.tmp, "vmailbox", {"v1@virt.test": "virt.test/v1/"}),
            "virtual_uid": str(pw.pw_uid),
            "virtual_gid": str(pw.pw_gid),
        })
        self.inst.write_config()
        self.uid = pw.pw_uid
        chown_tree(self.inst.tmp, pw.pw_uid, pw.pw_gid)
        self.inst.run_as = USER
        self.asan_dir = os.path.join(self.inst.tmp, "asan")
        if sanitizer_build():
            os.mkdir(self.asan_dir)
            os.chown(self.asan_dir, pw.pw_uid, pw.pw_gid)
            opts = os.environ.get("ASAN_OPTIONS", "")
            self.inst.env["ASAN_OPTIONS"] = (
                (opts + ":" if opts else "") + "detect_leaks=1:log_path=" +
                os.path.join(self.asan_dir, "asan"))
        self.inst.start()

    def tmpdir(self):
        d = tempfile.mkdtemp(prefix="tern-it-unpriv-")
        self.addCleanup(shutil.rmtree, d, True)
        return d

    def leak_reports(self):
        out = []
        for path in sorted(glob.glob(os.path.join(self.asan_dir, "asan*"))):
            with open(path, errors="replace") as f:
                out.append("%s:\n%s" % (path, f.read()))
        return out

    def test_serves_delivers_relays_and_exits_clean(self):
        inst = self.inst
        time.sleep(0.5)
        pids = inst.pids()
        self.assertGreaterEqual(len(pids), 5, "processes: %r" % pids)
        for pid in pids:
            u = proc_uids(pid)
            if u is not None:
                self.assertEqual(u, [self.uid] * 4, "pid %d uids" % pid)
        sender = "alice@test.example"
        with smtp_connect(inst) as s:
            s.ehlo()
            for i in range(3):
                refused = s.sendmail(
                    sender, ["alice@test.example", "good@remote.test",
                             "bad@remote.test"],
                    ("From: %s\r\nSubject: unpriv-%d\r\n\r\nbody %d\r\n"
                     % (sender, i, i)).encode())
                self.assertEqual(refused, {})
            self.assertEqual(s.mail(sender)[0], 250)
            self.assertEqual(s.rcpt("nosuchuser@test.example")[0], 550)
            s.rset()
            # An alias, a virtual mailbox, and a recipient the next
            # server defers.
            self.assertEqual(s.sendmail(
                sender, ["team@test.example", "v1@virt.test",
                         "later@remote.test"],
                b"Subject: unpriv-team\r\n\r\nbody\r\n"), {})
        # Submission: STARTTLS, a failed and a good AUTH, a message out;
        # and a session on the implicit-TLS port.
        with smtplib.SMTP("127.0.0.1", inst.sub_port, timeout=30) as s:
            s.starttls(context=client_context())
            s.ehlo()
            with self.assertRaises(smtplib.SMTPAuthenticationError):
                s.login("alice", "wrong")
            s.login("alice", "alice-secret")
            self.assertEqual(s.sendmail(
                sender, ["good@remote.test"],
                b"Subject: unpriv-submitted\r\n\r\nbody\r\n"), {})
        with smtplib.SMTP_SSL("127.0.0.1", inst.subs_port, timeout=30,
                              context=client_context()) as s:
            s.ehlo()
            s.noop()
        # CHUNKING with a success notice asked for (RFC 3030, 3461), and
        # ETRN for the deferred destination (RFC 1985).
        raw = RawSMTP(inst.port, inst.listen_host)
        try:
            self.assertEqual(raw.reply()[0], 220)
            self.assertEqual(raw.cmd("EHLO client.test")[0], 250)
            self.assertEqual(raw.cmd("MAIL FROM:<%s> RET=HDRS ENVID=unpriv"
                                     % sender)[0], 250)
            self.assertEqual(raw.cmd("RCPT TO:<bob@test.example> "
                                     "NOTIFY=SUCCESS")[0], 250)
            for chunk, last in ((b"Subject: unpriv-bdat\r\n\r\n", False),
                                (b"chunked body\r\n", True)):
                raw.send(b"BDAT %d%s\r\n" % (len(chunk),
                                              b" LAST" if last else b"")
                         + chunk)
                self.assertEqual(raw.reply()[0], 250)
            self.assertEqual(raw.cmd("ETRN remote.test")[0], 250)
            self.assertEqual(raw.cmd("QUIT")[0], 221)
        finally:
            raw.sock.close()
        # Three messages and for each a bounce for bad@remote.test, the
        # alias's copy, the chunked one and its success notice.
        inst.wait_for_delivery("alice", 8, timeout=60)
        inst.wait_for_delivery("bob", 2, timeout=30)
        vnew = os.path.join(self.vbase, "virt.test", "v1", "new")
        wait_until(lambda: os.path.isdir(vnew) and len(os.listdir(vnew)) == 1,
                   30, what="the virtual mailbox's message")
        notices = [m for m in inst.maildir_messages("alice")
                   if b"Original-Envelope-Id: unpriv" in m]
        self.assertEqual(len(notices), 1, "the success notice")
        self.assertIn(b"Action: delivered", notices[0])
        self.sink.wait_messages(4, timeout=30)
        self.assertTrue(all(m.tls for m in self.sink.messages),
                        "a relayed message went without TLS")
        bounces = [m for m in inst.maildir_messages("alice")
                   if b"bad@remote.test" in m and b"5.1.1" in m]
        self.assertEqual(len(bounces), 3, "bounces: %d" % len(bounces))
        # A reload, and the administrator's view of the deferred one.
        inst.signal_ternd(signal.SIGHUP)
        wait_until(lambda: "later@remote.test" in subprocess.run(
            [binary("ternctl"), "-c", inst.conf, "queue"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            timeout=30).stdout.decode("utf-8", "replace"), 30,
            what="the deferred message in ternctl queue")
        # Stopped with it still queued.
        rc = inst.stop()
        if sanitizer_build():
            reports = self.leak_reports()
            self.assertEqual(reports, [], "sanitizer reports:\n" +
                             "\n".join(reports))
        self.assertEqual(rc, 0, inst.log_tail())
        died = [line for line in inst.log().splitlines()
                if "exit status" in line or "killed by signal" in line]
        self.assertEqual(died, [], "processes that did not exit cleanly")
        if sanitizer_build():
            print("every process exited with LeakSanitizer on and no "
                  "report")


if __name__ == "__main__":
    unittest.main()
