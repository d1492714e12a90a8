"""
A full disk: the spool on a small file system of its own (ext4 on a loop
device, or a tmpfs), filled with a ballast file.

- Below queue_minfree, new mail is refused at MAIL FROM with 452 4.3.1
  (also when a declared SIZE= would not fit with the headroom), while the
  headroom still takes the bounces queued writes itself.
- With queue_minfree = 0 the disk really fills: messages that do not fit
  are refused with 452 4.3.1 at the end of DATA, queued keeps running
  although it cannot write its index, smtpd keeps answering, and once
  the ballast is gone everything works again without a restart: what was
  queued before is delivered, and every message that got a 250 arrives.
- queued killed while the disk is full: its restart cannot recover the
  index and must leave it alone (not set it aside and rebuild it); once
  there is space, every queued message is delivered from it.
- The index (SPOOL/db) on a file system of its own that fills: commits
  whose index records cannot be written get 452 4.3.1, queued stays up,
  and the index is sound afterwards (db5.3_verify).
- smtpd's chroot (SPOOL/empty) on another file system: queued's own check
  refuses the mail at DATA instead.
- A full mailbox file system defers local delivery (4.2.2), never bounces.

Each test prints its figures at the end.
"""

import os
import re
import signal
import smtplib
import subprocess
import threading

from sink import Sink
from smallfs import SmallFS, mount_tmpfs, unmount
from tern_harness import (TernTestCase, binary, free_port, is_root,
                          proc_ppid, qid_from_reply, smtp_connect, wait_until)

NOSPACE = "4.3.1 Insufficient system storage"
SENDER = "s@client.test"
REMOTE = "x@remote.test"
SUBJECT_RE = re.compile(rb"^Subject: (df-\d+)\r?$", re.M)
RECEIVED_ID_RE = re.compile(rb"\(tern\) with E?SMTP id ([0-9A-F]{16})")


def message(subject, rcpt, size=0):
    """A message of about size octets with lines of 78."""
    head = ("From: %s\r\nTo: %s\r\nSubject: %s\r\n\r\n"
            % (SENDER, rcpt, subject)).encode()
    return head + (b"d" * 76 + b"\r\n") * max(1, size // 78)


def send(session, subject, rcpt, size=0):
    """
    One transaction on an open smtplib session: (stage, code, text) of
    the reply that ended it, stage being "MAIL", "RCPT" or "DATA".
    """
    session.ehlo_or_helo_if_needed()
    code, text = session.mail(SENDER)
    if code != 250:
        session.rset()
        return "MAIL", code, text.decode(errors="replace")
    code, text = session.rcpt(rcpt)
    if code != 250:
        session.rset()
        return "RCPT", code, text.decode(errors="replace")
    try:
        code, text = session.data(message(subject, rcpt, size))
    except smtplib.SMTPDataError as e:
        # DATA itself refused (queued gave no message file).
        session.rset()
        code, text = e.smtp_code, e.smtp_error
    return "DATA", code, text.decode(errors="replace")


def subjects(blobs):
    """The set of df-N subjects in these messages (bytes)."""
    out = set()
    for b in blobs:
        m = SUBJECT_RE.search(b)
        if m:
            out.add(m.group(1).decode())
    return out


def smtpd_settled(inst):
    """
    The tern-smtpd processes whose parent is ternd: the pool, its
    workers and the busy responder.  Not the pool's middle process of a
    fork (smtpd_pool.c forks each worker twice), which exits a moment
    later, nor a worker before that exit reparents it to ternd.
    """
    return sorted(pid for pid in inst.pids("tern-smtpd")
                  if proc_ppid(pid) == inst.proc.pid)


class DiskFullCase(TernTestCase):
    time_limit = 300

    def small_fs(self, mib):
        if not is_root():
            self.skipTest("root only: mounting a small file system needs "
                          "root")
        fs = SmallFS(mib)
        self.addCleanup(fs.unmount)
        fs.mount()
        return fs

    def spool_instance(self, spool, **settings):
        """An instance whose spool is spool (on a small file system)."""
        inst = self.instance(spool_dir=spool, **settings)
        inst.spool = spool
        return inst

    def sink(self):
        port = free_port("127.0.0.2")
        sink = Sink("127.0.0.2", port).start()
        self.addCleanup(sink.stop)
        return sink, port

    def daemons(self, inst):
        """The pids of ternd's long-lived children (not the processes a
        deliverd forks for a delivery), by program."""
        return {p: sorted(q for q in inst.pids(p)
                          if proc_ppid(q) == inst.proc.pid)
                for p in ("tern-queued", "tern-lookupd", "tern-deliverd")}

    def assert_no_child_died(self, inst):
        died = re.findall(r"process tern-\S+ pid \d+ (?:exit status|killed"
                          r" by signal).*", inst.log())
        self.assertEqual(died, [], "a tern process died")

    def check_refused(self, inst, refused, blobs):
        """
        No message refused with 452 among the delivered ones (blobs),
        except those queued kept after a failed index flush: it says so
        in the log, and such a message may arrive twice by design
        (queue_commit.c).  Returns how many of those there were.
        """
        kept = 0
        for b in blobs:
            if not subjects([b]) & set(refused):
                continue
            m = RECEIVED_ID_RE.search(b)
            self.assertIsNotNone(m, "no queue ID in %r" % b[:300])
            self.assertIn("%s: the queue index could not be flushed"
                          % m.group(1).decode(), inst.log(),
                          "a message refused with 452 was delivered")
            kept += 1
        return kept

    def assert_index_intact(self, inst):
        """
        After a graceful stop: nothing set aside or quarantined,
        Berkeley DB's own verifier finds both databases sound, and they
        are empty, as the queue is.
        """
        self.assertEqual(inst.stop(), 0)
        db = os.path.join(inst.spool, "db")
        self.assertEqual([n for n in os.listdir(db)
                          if n.startswith("broken-")], [],
                         "the queue index was set aside")
        self.assertEqual(inst.spool_files("corrupt"), [])
        self.assertNotIn("set aside", inst.log())
        self.assertNotIn("recovered from its queue file", inst.log())
        for name in ("messages.db", "recipients.db"):
            r = subprocess.run(["db5.3_verify", "-h", db, name],
                               stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, timeout=60)
            self.assertEqual(r.returncode, 0, "db5.3_verify %s: %s"
                             % (name, r.stdout.decode(errors="replace")))
            r = subprocess.run(["db5.3_dump", "-h", db, name],
                               stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, timeout=60)
            self.assertEqual(r.returncode, 0, r.stdout)
            records = [ln for ln in r.stdout.splitlines()
                       if ln.startswith(b" ")]
            self.assertEqual(records, [], "%s still holds records" % name)


class TestDiskFull(DiskFullCase):

    def test_full_disk_452_keeps_serving_and_recovers_without_restart(self):
        fs = self.small_fs(48)
        sink, port = self.sink()
        # Until the disk is emptied the remote side defers: the messages
        # queued for it stay, and every retry has to write the index.
        sink.rcpt_replies[REMOTE] = "450 4.2.0 try again later"
        inst = self.spool_instance(os.path.join(fs.path, "spool"),
                             queue_minfree="0",
                             relayhost="[127.0.0.2]:%d" % port,
                             smtpd_min_spare="3",
                             # Refusals here are the server's doing, not
                             # the client's errors.
                             smtpd_soft_error_limit="100",
                             smtpd_hard_error_limit="200")
        accepted, refused, others = {}, [], []

        def record(subject, rcpt, result):
            stage, code, text = result
            if code == 250:
                accepted[subject] = rcpt
            elif code == 452 and text.startswith(NOSPACE):
                refused.append((subject, stage))
            else:
                others.append((subject, stage, code, text))

        n = 0
        with smtp_connect(inst) as s:
            s.ehlo()
            for rcpt in [REMOTE] * 5 + ["alice@test.example"] * 3:
                n += 1
                record("df-%d" % n, rcpt, send(s, "df-%d" % n, rcpt))
        self.assertEqual(len(accepted), 8, others)
        before = self.daemons(inst)
        smtpd_before = smtpd_settled(inst)
        self.assertGreaterEqual(len(smtpd_before), 2,
                                "no smtpd pool and workers: %r" % smtpd_before)
        # A session that lives through the whole episode.
        keeper = smtp_connect(inst)
        self.addCleanup(keeper.close)
        keeper.ehlo()

        # The disk fills while messages come in (queue_minfree is 0).
        free = fs.fill(leave=256 * 1024)
        for _ in range(12):
            n += 1
            record("df-%d" % n, REMOTE,
                   send(keeper, "df-%d" % n, REMOTE, size=40000))
        self.assertTrue(refused, "the disk never filled: %d octets free"
                        % fs.free())
        # Now nothing at all is free.
        fs.fill()
        mark = len(inst.log())
        for size in (300, 3000, 30000):
            n += 1
            with smtp_connect(inst) as s:
                s.ehlo()
                record("df-%d" % n, REMOTE,
                       send(s, "df-%d" % n, REMOTE, size=size))
                self.assertEqual(s.noop()[0], 250)
        self.assertEqual(keeper.noop()[0], 250)
        self.assertEqual(others, [], "replies other than 250 and 452 %s"
                         % NOSPACE)

        # queued retries the deferred messages, and cannot record the
        # results: it must stay up and keep them in memory.
        def index_write_failed_or_queued_gone():
            log = inst.log()[mark:]
            return ("cannot update the queue index" in log or
                    "queue index flush failed" in log or
                    sorted(inst.pids("tern-queued")) != before["tern-queued"])
        wait_until(index_write_failed_or_queued_gone, 90,
                   what="a failed index write while the disk is full")
        deferred_full = len(re.findall(r"to=<x@remote\.test>.*status=deferred",
                                       inst.log()[mark:]))
        self.assertEqual(self.daemons(inst), before,
                         "a daemon was restarted while the disk was full")
        self.assert_no_child_died(inst)
        self.assertEqual(keeper.noop()[0], 250)
        self.assertTrue(set(smtpd_before) <= set(inst.pids("tern-smtpd")),
                        "an smtpd went away")

        # Space returns: no restart, new mail is taken, all is delivered.
        fs.empty()
        del sink.rcpt_replies[REMOTE]
        n += 1
        wait_until(lambda: send(keeper, "df-%d" % n, REMOTE)[1] == 250, 30,
                   what="mail accepted again after the disk was emptied")
        accepted["df-%d" % n] = REMOTE
        n += 1
        with smtp_connect(inst) as s:
            record("df-%d" % n, "alice@test.example",
                   send(s, "df-%d" % n, "alice@test.example"))
        self.assertIn("df-%d" % n, accepted)
        keeper.quit()
        remote = {k for k, v in accepted.items() if v == REMOTE}
        local = {k for k, v in accepted.items() if v != REMOTE}
        wait_until(lambda: remote <= subjects(m.data for m in sink.messages),
                   120, what=lambda: "every accepted remote message at the "
                   "sink (missing %s)" % sorted(
                       remote - subjects(m.data for m in sink.messages)))
        inst.wait_for_delivery("alice", len(local), timeout=60)
        self.assertEqual(subjects(inst.maildir_messages("alice")), local)
        inst.wait_queue_empty(60)
        # A 452 means "not taken" (but see check_refused).
        blobs = [m.data for m in sink.messages] + inst.maildir_messages(
            "alice")
        delivered = subjects(blobs)
        kept = self.check_refused(inst, [r[0] for r in refused], blobs)
        self.assertEqual(self.daemons(inst), before)
        self.assert_no_child_died(inst)
        self.assert_index_intact(inst)
        lost = len(set(accepted) - delivered)
        self.assertEqual(lost, 0)
        print("disk full (%s, %d KiB free when filling began): %d refused "
              "with 452 (%d at end of DATA; %d of them kept after a failed "
              "index flush), %d accepted, %d delivered, %d lost; %d "
              "deferred retries while full, daemons kept their pids"
              % (fs.kind, free // 1024, len(refused),
                 sum(1 for r in refused if r[1] == "DATA"), kept,
                 len(accepted), len(delivered & set(accepted)), lost,
                 deferred_full))


class TestIndexFull(DiskFullCase):

    def test_restart_on_full_disk_leaves_index_alone(self):
        """
        queued dies (SIGKILL) while the disk is full, and its restart's
        recovery cannot write: the index must be kept as it is, not set
        aside and rebuilt, and once there is space every queued message
        is delivered from it.
        """
        fs = self.small_fs(48)
        sink, port = self.sink()
        sink.rcpt_replies[REMOTE] = "450 4.2.0 try again later"
        inst = self.spool_instance(os.path.join(fs.path, "spool"),
                                   queue_minfree="0",
                                   relayhost="[127.0.0.2]:%d" % port)
        queued = set()
        with smtp_connect(inst) as s:
            for i in range(60):
                stage, code, text = send(s, "df-%d" % i, REMOTE, 1000)
                self.assertEqual(code, 250, text)
                queued.add("df-%d" % i)
        fs.fill()
        mark = len(inst.log())
        pid = self.daemons(inst)["tern-queued"][0]
        os.kill(pid, signal.SIGKILL)

        def restart_outcome():
            log = inst.log()[mark:]
            return ("cannot open the queue index" in log or
                    "queue recovered" in log)
        wait_until(restart_outcome, 60, what="queued's restart on the "
                   "full disk")
        log = inst.log()[mark:]
        # Either recovery found room, or it failed and left the index.
        self.assertFalse("set aside" in log or
                         "cannot start a new queue index" in log,
                         "queued tried to replace the index on a full disk")
        refused_starts = log.count("the index is left as it is")
        self.assertEqual(refused_starts, log.count(
            "cannot open the queue index"))
        fs.empty()
        del sink.rcpt_replies[REMOTE]
        wait_until(lambda: queued <= subjects(m.data for m in
                                              sink.messages), 120,
                   what="every queued message at the sink")
        inst.wait_queue_empty(60)
        self.assertNotIn("recovered from its queue file", inst.log())
        self.assert_index_intact(inst)
        print("restart on a full disk: %d starts refused to touch the "
              "index, then %d queued messages delivered from it, none "
              "rebuilt from files" % (refused_starts, len(queued)))

    def test_index_disk_full_commit_refused_with_452_queued_stays(self):
        """
        The index (SPOOL/db) on a file system of its own, which fills
        while the message files still fit: the commits whose index
        records cannot be written are refused with 452, queued neither
        exits nor damages the index, and every 250 is delivered.
        """
        fs = self.small_fs(48)
        spool = os.path.join(fs.path, "spool")
        db = os.path.join(spool, "db")
        os.makedirs(db)
        dbfs = SmallFS(8, at=db)
        self.addCleanup(dbfs.unmount)
        dbfs.mount()
        inst = self.spool_instance(spool, queue_minfree="1m",
                                   smtpd_soft_error_limit="100",
                                   smtpd_hard_error_limit="200")
        lock = threading.Lock()
        accepted, refused, others = set(), [], []

        def sender(k, count):
            with smtp_connect(inst) as s:
                for i in range(count):
                    subject = "df-%d" % (1000 * k + i)
                    stage, code, text = send(s, subject,
                                             "alice@test.example", 2000)
                    with lock:
                        if code == 250:
                            accepted.add(subject)
                        elif code == 452 and text.startswith(NOSPACE):
                            refused.append((subject, stage))
                        else:
                            others.append((stage, code, text))
        sender(0, 3)
        inst.wait_for_delivery("alice", 3, timeout=30)
        before = self.daemons(inst)
        # Room for a few index records, then none.
        dbfs.fill(leave=16384)
        threads = [threading.Thread(target=sender, args=(k, 15))
                   for k in range(1, 5)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        self.assertEqual(others, [], "replies other than 250 and 452 %s"
                         % NOSPACE)
        self.assertIn("DATA", [r[1] for r in refused],
                      "no commit was refused")
        self.assertEqual(self.daemons(inst), before)
        self.assert_no_child_died(inst)

        n_full = len(accepted) - 3
        dbfs.empty()
        wait_until(lambda: sender(9, 1) or "df-9000" in accepted, 30,
                   what="mail accepted again after the index disk emptied")
        wait_until(lambda: set(subjects(inst.maildir_messages("alice"))) >=
                   accepted, 60, what=lambda: "every accepted message "
                   "delivered (missing %s)" % sorted(
                       accepted - subjects(inst.maildir_messages("alice"))))
        blobs = inst.maildir_messages("alice")
        delivered = subjects(blobs)
        kept = self.check_refused(inst, [r[0] for r in refused], blobs)
        inst.wait_queue_empty(60)
        self.assertEqual(self.daemons(inst), before)
        self.assert_no_child_died(inst)
        self.assert_index_intact(inst)
        print("index disk full (%s): while full %d refused with 452 (%d at "
              "end of DATA; %d of them kept after a failed index flush) "
              "and %d accepted; in all %d accepted, %d delivered, %d lost"
              % (dbfs.kind, len(refused),
                 sum(1 for r in refused if r[1] == "DATA"), kept, n_full,
                 len(accepted), len(delivered & accepted),
                 len(accepted - delivered)))


class TestQueueMinfree(DiskFullCase):

    def test_below_minfree_mail_refused_at_mail_but_bounce_written(self):
        fs = self.small_fs(48)
        sink, port = self.sink()
        sink.rcpt_replies[REMOTE] = "450 4.2.0 try again later"
        inst = self.spool_instance(os.path.join(fs.path, "spool"),
                             queue_minfree="8m",
                             relayhost="[127.0.0.2]:%d" % port)
        with smtp_connect(inst) as s:
            s.ehlo()
            code, text = s.mail("alice@test.example")
            self.assertEqual(code, 250)
            self.assertEqual(s.rcpt(REMOTE)[0], 250)
            code, text = s.data(message("df-bounce", REMOTE))
            self.assertEqual(code, 250, text)
        qid = qid_from_reply(text)
        mib = 1024 * 1024

        # 12 MiB free: enough for queue_minfree alone, and for a declared
        # SIZE of 2 MiB (8 + 1.5 x 2 = 11), not for one of 4 MiB (14).
        fs.fill(leave=12 * mib)

        def mail_reply(size):
            with smtp_connect(inst) as s:
                s.ehlo()
                code, text = s.mail(SENDER, ["SIZE=%d" % size])
                return code, text.decode(errors="replace")
        # smtpd measures at most once a second: wait for it to see.
        wait_until(lambda: mail_reply(4 * mib) == (452, NOSPACE), 20,
                   what="MAIL FROM SIZE=4M refused with 452")
        self.assertEqual(mail_reply(2 * mib)[0], 250)
        size_refused = 1

        # 4 MiB free: below queue_minfree.
        fs.fill(leave=4 * mib)
        wait_until(lambda: mail_reply(1000) == (452, NOSPACE), 20,
                   what="MAIL FROM refused with 452 below queue_minfree")
        refused = 1
        with smtp_connect(inst) as s:
            s.ehlo()
            for _ in range(3):
                stage, code, text = send(s, "df-x", "alice@test.example")
                self.assertEqual((stage, code, text), ("MAIL", 452, NOSPACE))
                refused += 1
                self.assertEqual(s.noop()[0], 250)
        self.assertLess(fs.free(), 8 * mib)

        # The remote side now refuses for good: queued must write the
        # bounce, below queue_minfree, and deliver it.
        sink.rcpt_replies[REMOTE] = "550 5.1.1 no such user"
        subprocess.run([binary("ternctl"), "-c", inst.conf, "flush"],
                       stdout=subprocess.DEVNULL, timeout=30)
        inst.wait_for_delivery("alice", 1, timeout=60)
        bounce = inst.maildir_messages("alice")[0]
        self.assertIn(b"x@remote.test", bounce)
        self.assertIn(b"5.1.1", bounce)
        self.assertIn(b"Subject: df-bounce", bounce)
        self.assertRegex(inst.log(), r"%s: sender non-delivery "
                         r"notification: [0-9A-F]{16}" % qid)
        self.assertLess(fs.free(), 8 * mib,
                        "the bounce was not written below queue_minfree")
        free_mib = fs.free() / mib
        inst.wait_queue_empty(30)

        # Space returns: mail is taken again, without a restart.
        pids = self.daemons(inst)
        fs.empty()
        wait_until(lambda: mail_reply(1000)[0] == 250, 20,
                   what="MAIL FROM accepted after the disk was emptied")
        with smtp_connect(inst) as s:
            s.ehlo()
            self.assertEqual(send(s, "df-after", "bob@test.example")[1], 250)
        inst.wait_for_delivery("bob", 1, timeout=30)
        self.assertEqual(self.daemons(inst), pids)
        self.assert_no_child_died(inst)
        print("queue_minfree 8m: %d MAIL refused below it and %d for "
              "SIZE=4M with 12 MiB free, all with 452; bounce written and "
              "delivered with %.1f MiB free; mail accepted again after"
              % (refused, size_refused, free_mib))

    def test_chroot_on_another_fs_queued_refuses_at_data(self):
        fs = self.small_fs(32)
        spool = os.path.join(fs.path, "spool")
        empty = os.path.join(spool, "empty")
        os.makedirs(empty)
        # An administrator's own mount on smtpd's chroot (SPOOL/empty):
        # statvfs("/") in the chroot no longer measures the spool.
        mount_tmpfs(empty, 1024)
        self.addCleanup(unmount, empty)
        inst = self.spool_instance(spool, queue_minfree="8m")
        self.assertIn("queue_minfree is checked by queued only", inst.log())
        results = []

        def attempt():
            with smtp_connect(inst) as s:
                r = send(s, "df-%d" % len(results), "alice@test.example")
                results.append(r)
                return r
        # queued is up (its index open) before the disk fills.
        self.assertEqual(attempt()[1], 250)
        inst.wait_for_delivery("alice", 1, timeout=30)
        fs.fill(leave=2 * 1024 * 1024)
        wait_until(lambda: attempt()[1] == 452, 20,
                   what="a 452 from queued's check")
        self.assertEqual(results[-1], ("DATA", 452, NOSPACE))
        fs.empty()
        wait_until(lambda: attempt()[1] == 250, 20,
                   what="mail accepted after the disk was emptied")
        accepted = [r for r in results if r[1] == 250]
        inst.wait_for_delivery("alice", len(accepted), timeout=30)
        self.assertEqual(len(inst.maildir_files("alice")), len(accepted))
        refused = [r for r in results if r[1] != 250]
        self.assertEqual(set(refused), {("DATA", 452, NOSPACE)})
        print("chroot on a tmpfs: MAIL accepted, DATA refused by queued "
              "with 452 below queue_minfree; %d refused, %d accepted and "
              "delivered" % (len(refused), len(accepted)))


class TestMaildirFull(DiskFullCase):

    def test_full_mailbox_fs_defers_then_delivers(self):
        fs = self.small_fs(16)
        inst = self.instance(start=False, users=())
        inst.mailboxes = os.path.join(fs.path, "mailboxes")
        os.mkdir(inst.mailboxes)
        inst.add_user("alice")
        inst.settings["mailbox_base"] = inst.mailboxes
        inst.write_config()
        inst.start()
        fs.fill()
        with smtp_connect(inst) as s:
            s.ehlo()
            stage, code, text = send(s, "df-1", "alice@test.example",
                                     size=20000)
        self.assertEqual(code, 250, text)
        qid = qid_from_reply(text)
        deferred = re.compile(r"%s: to=<alice@test\.example>, relay=local, "
                              r".*dsn=4\.2\.2, status=deferred" % qid)
        wait_until(lambda: len(deferred.findall(inst.log())) >= 2, 60,
                   what="two deferred local deliveries (4.2.2)")
        self.assertNotRegex(inst.log(), r"%s: .*status=bounced" % qid)
        self.assertEqual(len(inst.queue_files()), 1)
        fs.empty()
        inst.wait_for_delivery("alice", 1, timeout=60)
        self.assertEqual(subjects(inst.maildir_messages("alice")), {"df-1"})
        tmp = os.path.join(inst.maildir("alice"), "tmp")
        self.assertEqual(os.listdir(tmp), [], "a partial file in tmp/")
        print("mailbox file system full: %d deferred with 4.2.2, then "
              "delivered once" % len(deferred.findall(inst.log())))
