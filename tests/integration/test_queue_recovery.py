"""
The queue survives the loss of its index.  Message files carry their
envelopes and a trailer that proves them whole, so queued can put back
what the index forgot: a removed or unreadable index loses no mail,
"ternctl rebuild" does the same while running, an unfinished file is
removed, a damaged one is moved to corrupt/ (never deleted), and a message
whose file is lost is not retried forever: it bounces at the end of its
lifetime from what the index knows.
"""

import glob
import os
import re
import shutil
import subprocess

import queue_file
from tern_harness import (TernTestCase, binary, smtp_connect, qid_from_reply,
                          wait_until)

N = 5


class RecoveryCase(TernTestCase):

    def blocked_instance(self, **settings):
        """An instance whose mail to alice is deferred until unblock()."""
        settings.setdefault("minimal_backoff_time", "1s")
        settings.setdefault("maximal_backoff_time", "2s")
        inst = self.instance(**settings)
        self.blocker = os.path.join(inst.mailboxes, "alice", "Maildir")
        with open(self.blocker, "w") as f:
            f.write("not a directory: deliveries to alice are deferred\n")
        return inst

    def unblock(self):
        os.unlink(self.blocker)

    def send(self, inst, sender, subject, rcpt="alice@test.example"):
        with smtp_connect(inst) as s:
            s.ehlo()
            s.mail(sender)
            s.rcpt(rcpt)
            code, text = s.data(("Subject: %s\r\n\r\nbody of %s\r\n"
                                 % (subject, subject)).encode())
        self.assertEqual(code, 250, text)
        return qid_from_reply(text)

    def send_deferred(self, inst, n=N):
        qids = [self.send(inst, "r@client.test", "msg-%d" % i)
                for i in range(n)]
        for q in qids:
            wait_until(lambda q=q: re.search(
                r"%s: to=<alice@test\.example>.*status=deferred" % q,
                inst.log()), 20, what="deferral of %s" % q)
        return qids

    def ternctl(self, inst, *args):
        r = subprocess.run([binary("ternctl"), "-c", inst.conf] + list(args),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=30)
        return r.returncode, r.stdout.decode(), r.stderr.decode()

    def subjects(self, inst, user="alice"):
        out = []
        for path in inst.maildir_files(user):
            with open(path, "rb") as f:
                m = re.search(rb"Subject: (\S+)", f.read())
                out.append(m.group(1).decode() if m else None)
        return sorted(out)

    def db_files(self, inst):
        return [p for p in glob.glob(os.path.join(inst.spool, "db", "*"))
                if os.path.isfile(p)]

    def give_to_queue_owner(self, inst, path):
        st = os.stat(os.path.join(inst.spool, "msg"))
        os.chown(path, st.st_uid, st.st_gid)
        os.chmod(path, 0o600)


class TestIndexLoss(RecoveryCase):

    def test_removed_index_is_rebuilt_and_nothing_is_lost(self):
        inst = self.blocked_instance()
        qids = self.send_deferred(inst)
        inst.stop()
        self.assertTrue(self.db_files(inst))
        for p in self.db_files(inst):
            os.unlink(p)
        inst.start()
        for q in qids:
            wait_until(lambda q=q: "%s: recovered from its queue file" % q
                       in inst.log(), 20, what="recovery of %s" % q)
        self.assertRegex(inst.log(), r"%d messages put back into the queue "
                         r"index" % N)
        self.unblock()
        self.assertEqual(self.ternctl(inst, "flush")[0], 0)
        inst.wait_for_delivery("alice", N, timeout=30)
        inst.wait_queue_empty()
        self.assertEqual(self.subjects(inst),
                         sorted("msg-%d" % i for i in range(N)))

    def test_unreadable_index_is_set_aside_and_rebuilt(self):
        inst = self.blocked_instance()
        qids = self.send_deferred(inst)
        inst.stop()
        for p in self.db_files(inst):
            with open(p, "r+b") as f:
                size = max(os.path.getsize(p), 4096)
                f.write(os.urandom(size))
        inst.start()
        wait_until(lambda: "the queue index was set aside" in inst.log(), 20,
                   what="the broken index set aside")
        self.assertTrue(glob.glob(os.path.join(inst.spool, "db",
                                               "broken-*", "*")),
                        "the broken index is kept for a post-mortem")
        for q in qids:
            wait_until(lambda q=q: "%s: recovered from its queue file" % q
                       in inst.log(), 20, what="recovery of %s" % q)
        self.unblock()
        self.ternctl(inst, "flush")
        inst.wait_for_delivery("alice", N, timeout=30)
        inst.wait_queue_empty()
        self.assertEqual(len(self.subjects(inst)), N)


class TestFiles(RecoveryCase):

    def test_unfinished_removed_damaged_moved_hostile_refused(self):
        inst = self.blocked_instance()
        good, flipped = self.send_deferred(inst, 2)
        inst.stop()
        for p in self.db_files(inst):
            os.unlink(p)
        with open(queue_file.path(inst.spool, good), "rb") as f:
            whole = f.read()
        # A file whose writer died: everything but the trailer.
        unfinished = queue_file.new_qid(1)
        p = queue_file.path(inst.spool, unfinished)
        with open(p, "wb") as f:
            f.write(whole[:-24])
        self.give_to_queue_owner(inst, p)
        # A whole file damaged afterwards: one body octet changed.
        p = queue_file.path(inst.spool, flipped)
        with open(p, "r+b") as f:
            data = bytearray(f.read())
            data[-30] ^= 0x20
            f.seek(0)
            f.write(data)
        # A whole, well-formed file whose sender would inject a command
        # into an outbound MAIL FROM: refused like a bad SMTP client.
        hostile = queue_file.new_qid(2)
        p = queue_file.path(inst.spool, hostile)
        with open(p, "wb") as f:
            f.write(queue_file.build(hostile, "a@b.test>\r\nRCPT TO:<x@y.test",
                                     ["alice@test.example"],
                                     b"Subject: hostile\r\n\r\nx\r\n"))
        self.give_to_queue_owner(inst, p)
        inst.start()
        log = lambda: inst.log()  # noqa: E731
        wait_until(lambda: "%s: recovered from its queue file" % good
                   in log(), 20, what="the good file recovered")
        # The scan's summary comes after every file has been looked at;
        # the files are taken in directory order, not the test's.
        wait_until(lambda: re.search(r"queue recovered: .* 1 recovered from "
                                     r"files, 1 unfinished files removed, 2 "
                                     r"damaged files moved", log()), 20,
                   what="the recovery's summary")
        self.assertRegex(log(), r"%s: removed unfinished queue file \(no "
                         r"trailer\)" % unfinished)
        self.assertFalse(os.path.exists(queue_file.path(inst.spool,
                                                        unfinished)))
        corrupt = os.path.join(inst.spool, "corrupt")
        self.assertRegex(log(), r"%s: damaged queue file moved to .*"
                         r"checksum mismatch" % flipped)
        self.assertRegex(log(), r"%s: damaged queue file moved to .*bad "
                         r"sender address" % hostile)
        self.assertEqual(sorted(os.listdir(corrupt)),
                         sorted([flipped, hostile]))
        self.unblock()
        self.ternctl(inst, "flush")
        inst.wait_for_delivery("alice", 1, timeout=30)
        inst.wait_queue_empty()
        self.assertEqual(self.subjects(inst), ["msg-0"])

    def test_ternctl_rebuild_recovers_a_file_put_back(self):
        inst = self.blocked_instance()
        (qid,) = self.send_deferred(inst, 1)
        saved = os.path.join(inst.tmp, "saved")
        shutil.copy2(queue_file.path(inst.spool, qid), saved)
        self.unblock()
        self.ternctl(inst, "flush")
        inst.wait_for_delivery("alice", 1, timeout=30)
        inst.wait_queue_empty()
        wait_until(lambda: "%s: removed" % qid in inst.log(), 10,
                   what="removal of %s" % qid)
        # The index no longer names it; the file comes back (restored
        # from a backup, say) and rebuild puts it back into the queue.
        dest = queue_file.path(inst.spool, qid)
        shutil.copy2(saved, dest)
        self.give_to_queue_owner(inst, dest)
        code, out, err = self.ternctl(inst, "rebuild")
        self.assertEqual(code, 0, err)
        self.assertIn("rebuild: 1 messages recovered", out)
        inst.wait_for_delivery("alice", 2, timeout=30)
        inst.wait_queue_empty()
        self.assertEqual(self.subjects(inst), ["msg-0", "msg-0"])


class TestLostFile(RecoveryCase):

    def test_lost_file_bounces_from_the_index_at_end_of_lifetime(self):
        inst = self.blocked_instance(maximal_queue_lifetime="4s")
        qid = self.send(inst, "bob@test.example", "lost-one")
        wait_until(lambda: re.search(r"%s: .*status=deferred" % qid,
                                     inst.log()), 20, what="deferral")
        os.unlink(queue_file.path(inst.spool, qid))
        wait_until(lambda: inst.maildir_files("bob"), 30,
                   what="the bounce to bob")
        self.assertRegex(inst.log(), r"%s: to=<alice@test\.example>, "
                         r"relay=none, .*dsn=5\.3\.0, status=bounced "
                         r"\(queue file lost\)" % qid)
        with open(inst.maildir_files("bob")[0], "rb") as f:
            bounce = f.read()
        self.assertIn(b"lost its copy", bounce)
        self.assertIn(qid.encode(), bounce)
        self.assertIn(b"Final-Recipient: rfc822; alice@test.example", bounce)
        self.assertIn(b"Status: 5.3.0", bounce)
        inst.wait_queue_empty()
        wait_until(lambda: "%s: removed" % qid in inst.log(), 10,
                   what="removal of %s" % qid)

    def test_lost_file_from_null_sender_is_dropped_with_a_log_line(self):
        inst = self.blocked_instance(bounce_queue_lifetime="4s")
        qid = self.send(inst, "", "lost-bounce")
        wait_until(lambda: re.search(r"%s: .*status=deferred" % qid,
                                     inst.log()), 20, what="deferral")
        os.unlink(queue_file.path(inst.spool, qid))
        wait_until(lambda: "%s: queue file lost; undeliverable notification"
                   " from <> discarded" % qid in inst.log(), 30,
                   what="the drop of %s" % qid)
        wait_until(lambda: "%s: removed" % qid in inst.log(), 10,
                   what="removal of %s" % qid)
        self.assertEqual(inst.maildir_files("bob"), [])
