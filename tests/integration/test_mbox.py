"""
mailbox_format = mbox: a passwd user's mail is appended to
mail_spool_directory/USER (a directory made like Debian's /var/mail:
root:mail, mode 2775), locked with fcntl and USER.lock as mutt and
Dovecot lock it.

- 200 messages from ten SMTP sessions at once, while a reader (Python's
  mailbox.mbox, which takes both locks) holds the lock at intervals:
  the file never changes while the reader holds the lock, and
  mailbox.mbox finds exactly the 200 messages, each body byte for byte
  what was sent once the mboxrd quoting (">From ", ">>From ") is undone.
- 200 messages from ten sessions at once, up to four processes per
  owner allowed: each lands once, after a well-formed From_ line, and
  the user's delivery processes take deliveries one at a time.
- A stale USER.lock (older than five minutes) is removed and the mail
  goes in; a fresh one held past the wait defers (4.2.0), and the mail
  arrives once it is gone.
- The spool directory on a small full file system: the delivery is
  deferred (4.2.2), the mbox keeps exactly what it held (the partial
  append is truncated away), and once there is space the message is
  appended after the previous one.  The same for a Maildir: no partial
  file stays in tmp/.
"""

import grp
import mailbox
import os
import re
import shutil
import stat
import subprocess
import tempfile
import threading
import time
import unittest

from smallfs import SmallFS
from tern_harness import (add_passwd_user, TernTestCase, binary, is_root, progdir,
                          smtp_connect, wait_until)
from test_local_owner_process import delivery_process_spans

SENDER = "sender@client.test"
BODY_LINES = [
    b"From the start of a line",
    b">From already quoted once",
    b">>From quoted twice",
    b"From",
    b" From not at the start",
    b"Fromage",
    b"",
    b"end",
]


def body_of(tag):
    """The body of message tag, CRLF lines as sent."""
    return b"\r\n".join([b"id " + tag.encode()] + BODY_LINES) + b"\r\n"


def message_of(tag, rcpt):
    return (b"From: " + SENDER.encode() + b"\r\nTo: " + rcpt.encode() +
            b"\r\nSubject: " + tag.encode() + b"\r\n\r\n" + body_of(tag))


def mboxrd_unquote(data):
    """Undo mboxrd quoting: one '>' less on every >+From line."""
    return re.sub(rb"(?m)^>(>*From )", rb"\1", data)


def sent_body_lf(tag):
    return body_of(tag).replace(b"\r\n", b"\n")


class MboxCase(TernTestCase):
    time_limit = 300

    def passwd_user(self):
        """A passwd user of our own, removed afterwards."""
        if not is_root():
            self.skipTest("root only: mbox owners need passwd users")
        user = "ternmb%d" % (os.getpid() % 100000)
        return add_passwd_user(self, user)

    def tmpdir(self):
        """A new directory (mode 0755) below which a spool can be made."""
        top = tempfile.mkdtemp(prefix="tern-mbox-")
        os.chmod(top, 0o755)
        self.addCleanup(shutil.rmtree, top, ignore_errors=True)
        return os.path.join(top, "mail")

    def spool_dir(self, path):
        """path made like Debian's /var/mail: root:mail 2775."""
        os.makedirs(path, exist_ok=True)
        os.chown(path, 0, grp.getgrnam("mail").gr_gid)
        os.chmod(path, 0o2775)
        return path

    def mbox_instance(self, spool, verbose=False, **settings):
        inst = self.instance(start=False, users=(), **settings)
        inst.verbose = verbose
        inst.settings["mailbox_base"] = ""
        inst.settings["mailbox_format"] = "mbox"
        inst.settings["mail_spool_directory"] = spool
        inst.write_config()
        inst.start()
        return inst

    def try_lock(self, box):
        """box.lock() (dotlock and lockf, never waiting): True when
        taken, False while someone else holds either."""
        try:
            box.lock()
            return True
        except mailbox.ExternalClashError:
            return False

    def mbox_tags(self, path):
        """The Subject of each message mailbox.mbox finds at path."""
        box = mailbox.mbox(path, create=False)
        try:
            return [box.get_message(k)["Subject"] for k in box.keys()]
        finally:
            box.close()

    def send_one(self, inst, tag, rcpt):
        with smtp_connect(inst) as s:
            s.sendmail(SENDER, [rcpt], message_of(tag, rcpt))


class TestMbox(MboxCase):

    def test_200_concurrent_deliveries_with_a_locking_reader(self):
        pw = self.passwd_user()
        user = pw.pw_name
        inst = self.mbox_instance(self.spool_dir(self.tmpdir()))
        spool = inst.settings["mail_spool_directory"]
        path = os.path.join(spool, user)
        rcpt = "%s@test.example" % user

        # The first message creates the mbox: mode 0600, the user's.
        self.send_one(inst, "m-000", rcpt)
        wait_until(lambda: os.path.exists(path) and
                   self.mbox_tags(path) == ["m-000"], 30,
                   what="the first message in the mbox")
        st = os.stat(path)
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o600)
        self.assertEqual(st.st_uid, pw.pw_uid)

        # Ten sessions stay open; the mail comes in ten waves of twenty
        # (two per session at once).  Before each wave the reader takes
        # both locks (mailbox.mbox.lock: lockf, and a dotlock made with
        # link) and holds them while the wave is accepted and a second
        # after: the file must not change meanwhile.  Then it lets go,
        # and the wave must arrive.
        sessions = [smtp_connect(inst, timeout=120) for _ in range(10)]
        for s in sessions:
            self.addCleanup(s.close)
        errors, changed, holds = [], [], 0

        def sender(s, tags):
            try:
                for tag in tags:
                    s.sendmail(SENDER, [rcpt], message_of(tag, rcpt))
            except Exception as e:  # reported below
                errors.append(e)
        n = 1
        for wave in range(10):
            want = min(n + 20, 200)
            box = mailbox.mbox(path, create=False)
            # The last wave's messages are visible in the file before
            # tern's fsync and unlock: wait for tern's locks to go.
            wait_until(lambda: self.try_lock(box), 30,
                       what="tern to release the mbox")
            try:
                before = os.stat(path).st_size
                threads = []
                for i, s in enumerate(sessions):
                    tags = ["m-%03d" % k for k in (n + 2 * i, n + 2 * i + 1)
                            if k < want]
                    threads.append(threading.Thread(target=sender,
                                                    args=(s, tags)))
                for th in threads:
                    th.start()
                for th in threads:
                    th.join(120)
                time.sleep(1)
                if os.stat(path).st_size != before:
                    changed.append(wave)
                holds += 1
            finally:
                box.unlock()
                box.close()
            self.assertEqual(errors, [])
            wait_until(lambda: len(self.mbox_tags(path)) >= want, 60,
                       what="wave %d in the mbox (have %d of %d)"
                       % (wave, len(self.mbox_tags(path)), want))
            n = want
        inst.wait_queue_empty(60)
        self.assertEqual(changed, [], "the mbox changed while the reader "
                         "held its locks")
        self.assertEqual(holds, 10)
        box = mailbox.mbox(path, create=False)
        try:
            keys = box.keys()
            self.assertEqual(len(keys), 200)
            tags = []
            for k in keys:
                raw = box.get_bytes(k)
                head, body = raw.split(b"\n\n", 1)
                self.assertTrue(head.startswith(
                    b"Return-Path: <" + SENDER.encode() +
                    b">\nDelivered-To: " + rcpt.encode() + b"\n"), head)
                tag = re.search(rb"(?m)^Subject: (m-\d+)$", head)
                self.assertIsNotNone(tag, head)
                tag = tag.group(1).decode()
                tags.append(tag)
                # mailbox.mbox leaves the separating empty line out.
                self.assertEqual(mboxrd_unquote(body), sent_body_lf(tag))
                self.assertIn(b"\n>From the start of a line\n", body)
                self.assertIn(b"\n>>From already quoted once\n", body)
                self.assertIn(b"\n>>>From quoted twice\n", body)
                self.assertIn(b"\nFrom\n From not at the start\n"
                              b"Fromage\n", body)
                self.assertEqual(box.get_message(k).get_from().split()[0],
                                 SENDER)
        finally:
            box.close()
        self.assertEqual(sorted(tags), ["m-%03d" % n for n in range(200)])
        with open(path, "rb") as f:
            data = f.read()
        self.assertTrue(data.startswith(b"From " + SENDER.encode() + b" "))
        self.assertTrue(data.endswith(b"\nend\n\n"))
        self.assertEqual(data.count(b"\n\nFrom " + SENDER.encode() + b" "),
                         199)
        self.assertFalse(os.path.exists(path + ".lock"))
        print("mbox: 200 messages in 10 waves, each sent while the "
              "reader held the lock")

    def test_burst_to_one_mbox_each_once_by_one_process_at_a_time(self):
        # 200 messages from ten sessions at once to one mbox user, with
        # up to four delivery processes per owner allowed: every
        # delivery to the mbox is pinned to the one process that holds
        # one already.  The user's mail has no other pin, so while one
        # of its processes takes deliveries no second one may start.
        # deliverd logs (with -v) when a process starts and when it
        # takes no more deliveries, in the order it does so: the spans
        # of the user's processes in the log must not overlap.
        pw = self.passwd_user()
        user = pw.pw_name
        spool = self.spool_dir(self.tmpdir())
        inst = self.mbox_instance(spool, verbose=True,
                                  local_owner_concurrency_limit="4")
        path = os.path.join(spool, user)
        rcpt = "%s@test.example" % user
        errors = []

        def sender(tags):
            try:
                with smtp_connect(inst, timeout=120) as s:
                    for tag in tags:
                        s.sendmail(SENDER, [rcpt], message_of(tag, rcpt))
            except Exception as e:  # reported below
                errors.append(e)
        want = ["b-%03d" % n for n in range(200)]
        threads = [threading.Thread(target=sender, args=(want[i::10],))
                   for i in range(10)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(180)
        self.assertEqual(errors, [])
        wait_until(lambda: os.path.exists(path) and
                   len(self.mbox_tags(path)) >= 200, 120,
                   what="200 messages in the mbox")
        inst.wait_queue_empty(60)

        # Each message exactly once.
        self.assertEqual(sorted(self.mbox_tags(path)), want)
        # Every unquoted "From " line is a well-formed separator, at the
        # start of the file or after an empty line, one per message.
        with open(path, "rb") as f:
            lines = f.read().split(b"\n")
        seps = [i for i, line in enumerate(lines)
                if line.startswith(b"From ")]
        self.assertEqual(len(seps), 200)
        for i in seps:
            self.assertRegex(lines[i], rb"^From " + re.escape(SENDER.encode())
                             + rb" [A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d "
                             rb"\d\d:\d\d:\d\d \d{4}$")
            self.assertTrue(i == 0 or lines[i - 1] == b"",
                            "separator %d not after an empty line" % i)
        self.assertEqual(lines[-2:], [b"", b""], "no empty line at the end")

        log = inst.log()
        self.assertNotRegex(log, r"status=deferred|local delivery process "
                            r".*(killed|exited|malformed|cannot be believed)")
        spans = sorted(delivery_process_spans(log, pw.pw_uid).values())
        self.assertGreaterEqual(len(spans), 1, "no process start logged")
        for (_, end), (start, _) in zip(spans, spans[1:]):
            self.assertLess(end, start, "%d processes took deliveries to "
                            "one mbox at once" % len(spans))
        print("mbox: 200 messages from 10 sessions at once, each once, by "
              "%d process(es), one at a time" % len(spans))

    def test_stale_dotlock_removed_fresh_one_defers_until_released(self):
        pw = self.passwd_user()
        user = pw.pw_name
        spool = self.spool_dir(self.tmpdir())
        inst = self.mbox_instance(spool)
        path = os.path.join(spool, user)
        lock = path + ".lock"
        rcpt = "%s@test.example" % user

        # Six minutes old: stale.
        with open(lock, "w") as f:
            f.write("99999\n")
        old = time.time() - 360
        os.utime(lock, (old, old))
        self.send_one(inst, "stale", rcpt)
        wait_until(lambda: os.path.exists(path) and
                   self.mbox_tags(path) == ["stale"], 60,
                   what="delivery past a stale dotlock")
        # The message shows before the delivery process lets go of the
        # lock it took in place of the stale one.
        wait_until(lambda: not os.path.exists(lock), 30,
                   what="the stale dotlock (and ours) to go")

        # Fresh: held past the wait, the delivery is deferred.
        with open(lock, "w") as f:
            f.write("99999\n")
        size = os.path.getsize(path)
        mark = len(inst.log())
        self.send_one(inst, "fresh", rcpt)
        deferred = re.compile(r"to=<%s@test\.example>, relay=local, .*"
                              r"dsn=4\.2\.0, status=deferred \(mailbox "
                              r"locked" % user)
        wait_until(lambda: deferred.search(inst.log()[mark:]), 120,
                   what="the delivery deferred by the held dotlock")
        self.assertEqual(os.path.getsize(path), size)
        self.assertTrue(os.path.exists(lock), "a fresh dotlock was removed")
        os.unlink(lock)
        wait_until(lambda: self.mbox_tags(path) == ["stale", "fresh"], 90,
                   what="the deferred message after the lock went")
        inst.wait_queue_empty(30)
        self.assertNotRegex(inst.log(), r"status=bounced")


class TestMailboxFull(MboxCase):

    def small_fs(self, mib):
        if not is_root():
            self.skipTest("root only: mounting a small file system needs "
                          "root")
        fs = SmallFS(mib)
        self.addCleanup(fs.unmount)
        fs.mount()
        # The mbox owner must reach the mount point.
        os.chmod(fs.tmp, 0o755)
        return fs

    def big_message(self, tag, rcpt, size):
        head = ("From: %s\r\nTo: %s\r\nSubject: %s\r\n\r\n"
                % (SENDER, rcpt, tag)).encode()
        return head + (b"d" * 76 + b"\r\n") * (size // 78)

    def wait_deferred(self, inst, rcpt_re, n):
        deferred = re.compile(r"to=<%s>, relay=local, .*dsn=4\.2\.2, "
                              r"status=deferred" % rcpt_re)
        wait_until(lambda: len(deferred.findall(inst.log())) >= n, 90,
                   what="%d deferred local deliveries (4.2.2)" % n)

    def test_full_mbox_fs_defers_truncates_then_appends(self):
        pw = self.passwd_user()
        user = pw.pw_name
        fs = self.small_fs(16)
        spool = self.spool_dir(os.path.join(fs.path, "mail"))
        inst = self.mbox_instance(spool)
        path = os.path.join(spool, user)
        rcpt = "%s@test.example" % user
        self.send_one(inst, "before", rcpt)
        wait_until(lambda: os.path.exists(path) and
                   self.mbox_tags(path) == ["before"], 60,
                   what="the first message")
        with open(path, "rb") as f:
            before = f.read()
        # Room for part of the next message, not all of it: the append
        # starts, fails with ENOSPC, and must be taken back.
        fs.fill(leave=24 * 1024)
        with smtp_connect(inst) as s:
            s.sendmail(SENDER, [rcpt], self.big_message("big", rcpt, 200000))
        self.wait_deferred(inst, user + r"@test\.example", 2)
        self.assertNotRegex(inst.log(), r"status=bounced")
        with open(path, "rb") as f:
            self.assertEqual(f.read(), before, "the mbox holds part of a "
                             "message")
        self.assertFalse(os.path.exists(path + ".lock"))
        fs.empty()
        wait_until(lambda: self.mbox_tags(path) == ["before", "big"], 90,
                   what="the big message once there is space")
        inst.wait_queue_empty(30)
        with open(path, "rb") as f:
            data = f.read()
        self.assertTrue(data.startswith(before))
        rest = data[len(before):]
        self.assertTrue(rest.startswith(b"From " + SENDER.encode() + b" "))
        self.assertEqual(rest.count(b"\nFrom "), 0)
        self.assertTrue(rest.endswith(b"d" * 76 + b"\n\n"))
        self.assertEqual(rest.count(b"d" * 76 + b"\n"), 200000 // 78)
        print("mbox on a full %s: deferred with 4.2.2, left as it was, "
              "then appended" % fs.kind)

    def test_full_maildir_fs_partial_file_removed(self):
        fs = self.small_fs(16)
        inst = self.instance(start=False, users=())
        inst.mailboxes = os.path.join(fs.path, "mailboxes")
        os.mkdir(inst.mailboxes)
        inst.add_user("alice")
        inst.settings["mailbox_base"] = inst.mailboxes
        inst.write_config()
        inst.start()
        rcpt = "alice@test.example"
        self.send_one(inst, "before", rcpt)
        inst.wait_for_delivery("alice", 1)
        fs.fill(leave=24 * 1024)
        with smtp_connect(inst) as s:
            s.sendmail(SENDER, [rcpt], self.big_message("big", rcpt, 200000))
        self.wait_deferred(inst, "alice@test\\.example", 2)
        tmp = os.path.join(inst.maildir("alice"), "tmp")
        self.assertEqual(os.listdir(tmp), [], "a partial file in tmp/")
        self.assertEqual(len(inst.maildir_files("alice")), 1)
        fs.empty()
        inst.wait_for_delivery("alice", 2, timeout=90)
        inst.wait_queue_empty(30)
        self.assertEqual(os.listdir(tmp), [])
        big = [d for d in inst.maildir_messages("alice")
               if b"Subject: big\n" in d]
        self.assertEqual(len(big), 1)
        self.assertEqual(big[0].count(b"d" * 76 + b"\n"), 200000 // 78)


class TestMboxConfig(TernTestCase):

    def check(self, extra):
        tmp = tempfile.mkdtemp(prefix="tern-it-mboxconf-")
        self.addCleanup(shutil.rmtree, tmp, True)
        path = os.path.join(tmp, "tern.conf")
        with open(path, "w") as f:
            f.write("spool_dir = %s/spool\ndaemon_directory = %s\n%s"
                    % (tmp, progdir(), extra))
        r = subprocess.run([binary("ternd"), "-n", "-c", path],
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=20)
        return tmp, r.returncode, r.stdout.decode("utf-8", "replace")

    def test_ternd_n_checks_mailbox_format_and_spool_directory(self):
        _, rc, out = self.check("mailbox_format = mbx\n")
        self.assertEqual(rc, 1, out)
        self.assertIn("mailbox_format", out)
        _, rc, out = self.check("mail_spool_directory = var/mail\n")
        self.assertEqual(rc, 1, out)
        self.assertIn("mail_spool_directory", out)
        missing = "/nonexistent/tern-mail-spool"
        _, rc, out = self.check("mailbox_format = mbox\n"
                                "mail_spool_directory = %s\n" % missing)
        self.assertIn("mail_spool_directory %s: not a directory" % missing,
                      out)
        # With Maildirs the spool directory is not used: no warning.
        _, rc, out = self.check("mail_spool_directory = %s\n" % missing)
        self.assertNotIn("mail_spool_directory", out)


if __name__ == "__main__":
    unittest.main()
