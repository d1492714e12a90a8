"""
Local delivery runs in one delivery process per mailbox owner, which
writes a batch of that owner's messages before it syncs new/ once for all
of them.  These tests check what that must never change: every message
lands once in its own mailbox, written by its owner, a process only ever
writes for one owner, a killed process's deliveries are deferred and made
later (never reported delivered without the file in new/), and a burst of
mail to one owner costs a few processes, not one per message.
"""

import os
import pwd
import re
import signal
import threading
import time
import unittest

from tern_harness import (TernTestCase, is_root, smtp_connect, wait_until)

# The writer's pid in a Maildir unique name: SECONDS.M<usec>P<pid>Q...
WRITER_RE = re.compile(r"\.M\d+P(\d+)Q")
QID_RE = re.compile(rb"with ESMTP id ([0-9A-F]{16})")
SUBJECT_RE = re.compile(rb"^Subject: (.*)$", re.M)


def writers(paths):
    """The pids of the processes that wrote these Maildir files."""
    out = set()
    for p in paths:
        m = WRITER_RE.search(os.path.basename(p))
        assert m, "not a tern Maildir name: %s" % p
        out.add(int(m.group(1)))
    return out


def subjects(inst, user):
    out = []
    for data in inst.maildir_messages(user):
        m = SUBJECT_RE.search(data)
        out.append(m.group(1).decode() if m else None)
    return out


def send_all(inst, batches, errors):
    """One session per batch of (subject, [rcpt...], body) in a thread."""
    def run(batch):
        try:
            with smtp_connect(inst, timeout=60) as s:
                for subject, rcpts, body in batch:
                    msg = (b"Subject: " + subject.encode() +
                           b"\r\n\r\n" + body)
                    s.sendmail("sender@client.test", rcpts, msg)
        except Exception as e:  # reported by the test, not lost
            errors.append(e)
    threads = [threading.Thread(target=run, args=(b,)) for b in batches]
    for t in threads:
        t.start()
    return threads


def local_deliverd(inst):
    """The pid of the local transport's tern-deliverd."""
    for pid in inst.pids("tern-deliverd"):
        try:
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                if b"local" in f.read().split(b"\0"):
                    return pid
        except OSError:
            continue            # a delivery process that has exited
    return None


def children(ppid):
    """Live processes whose parent is ppid."""
    out = []
    for ent in os.listdir("/proc"):
        if not ent.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % ent, "rb") as f:
                stat = f.read()
        except OSError:
            continue
        rest = stat[stat.rfind(b")") + 2:].split()
        if rest[0] not in (b"Z", b"X") and int(rest[1]) == ppid:
            out.append(int(ent))
    return out


def delivery_process_spans(log, uid):
    """{pid: (first, last)} of uid's local delivery processes: where in
    the log (line numbers, in the order deliverd logged them; ternd -v)
    each was started and took its last delivery, last a line past the
    end while it still takes them.  A process that stopped taking
    deliveries while it held some is still writing: refused."""
    spans = {}
    lines = log.splitlines()
    for n, line in enumerate(lines):
        m = re.search(r"local delivery process (\d+) (?:started for uid "
                      r"(\d+)|\(uid (\d+)\) takes no more deliveries, "
                      r"holding (\d+))", line)
        if m is None:
            continue
        pid = int(m.group(1))
        if m.group(2) == str(uid):
            spans[pid] = (n, len(lines))
        elif m.group(3) == str(uid) and pid in spans:
            assert m.group(4) == "0", ("process %d stopped taking "
                                       "deliveries holding %s"
                                       % (pid, m.group(4)))
            spans[pid] = (spans[pid][0], n)
    return spans


class TestLocalOwnerProcess(TernTestCase):

    @unittest.skipUnless(is_root(), "root only: mailbox owners need root")
    def test_two_owners_at_once_each_file_written_by_its_own_owner(self):
        inst = self.instance()
        owners = {"olga": pwd.getpwnam("nobody"),
                  "dmitri": pwd.getpwnam("daemon")}
        for user, pw in owners.items():
            inst.add_user(user, owner=pw.pw_name)
        # Four sessions at once; every third message goes to both owners
        # in one transaction (one job with two owners' recipients).
        want = {"olga": set(), "dmitri": set()}
        batches = []
        for t in range(4):
            batch = []
            for i in range(30):
                subject = "t%d-m%d" % (t, i)
                users = (["olga", "dmitri"] if i % 3 == 0 else
                         ["olga" if i % 2 else "dmitri"])
                for u in users:
                    want[u].add(subject)
                batch.append((subject, ["%s@test.example" % u for u in users],
                              b"body of " + subject.encode() + b"\r\n"))
            batches.append(batch)
        errors = []
        for th in send_all(inst, batches, errors):
            th.join(120)
        self.assertEqual(errors, [])
        for user in owners:
            inst.wait_for_delivery(user, len(want[user]), timeout=60)
        inst.wait_queue_empty(30)
        pids = {}
        for user, pw in owners.items():
            got = subjects(inst, user)
            self.assertEqual(sorted(got), sorted(want[user]),
                             "%s's Maildir: each message exactly once" % user)
            files = inst.maildir_files(user)
            for path in files:
                st = os.stat(path)
                self.assertEqual((st.st_uid, st.st_gid),
                                 (pw.pw_uid, pw.pw_gid),
                                 "%s written as uid %d" % (path, st.st_uid))
            pids[user] = writers(files)
        # No process wrote into both owners' mailboxes.
        self.assertEqual(pids["olga"] & pids["dmitri"], set(),
                         "a delivery process wrote for two owners")
        self.assertNotRegex(inst.log(), r"local delivery process .*(killed|"
                            r"exited|malformed|cannot be believed)")
        print("two owners: %d + %d messages, written by %d + %d processes"
              % (len(want["olga"]), len(want["dmitri"]),
                 len(pids["olga"]), len(pids["dmitri"])))

    @unittest.skipUnless(is_root(), "root only: mailbox owners need root")
    def test_limit_bounds_processes_and_every_owner_gets_its_turn(self):
        inst = self.instance(local_delivery_limit="2")
        owners = {"uma": "nobody", "vic": "daemon", "wes": "bin"}
        for user, owner in owners.items():
            inst.add_user(user, owner=owner)
        # Three owners' mail interleaved in three sessions: with two
        # processes at most, one owner always waits for a place.
        batches = [[("lim-%d-%d" % (t, i), ["%s@test.example" % u],
                     b"limit\r\n") for i in range(20)
                    for u in owners] for t in range(3)]
        errors = []
        threads = send_all(inst, batches, errors)
        dpid = wait_until(lambda: local_deliverd(inst), 10,
                          what="the local tern-deliverd")
        most = 0
        while any(th.is_alive() for th in threads) or \
                sum(len(inst.maildir_files(u)) for u in owners) < 180:
            most = max(most, len(children(dpid)))
            time.sleep(0.005)
        self.assertEqual(errors, [])
        for user, owner in owners.items():
            uid = pwd.getpwnam(owner).pw_uid
            files = inst.maildir_files(user)
            self.assertEqual(len(files), 60, user)
            self.assertTrue(all(os.stat(p).st_uid == uid for p in files))
        inst.wait_queue_empty(30)
        print("local_delivery_limit = 2, three owners: at most %d delivery "
              "processes seen at once" % most)
        self.assertLessEqual(most, 2)

    def test_burst_to_one_owner_uses_few_processes(self):
        inst = self.instance()
        n = 120
        batches = [[("burst-%d-%d" % (t, i), ["alice@test.example"],
                     b"burst\r\n") for i in range(n // 4)] for t in range(4)]
        errors = []
        for th in send_all(inst, batches, errors):
            th.join(120)
        self.assertEqual(errors, [])
        files = inst.wait_for_delivery("alice", n, timeout=60)
        self.assertEqual(len(files), n)
        # Each file's name carries the pid of the process that wrote it:
        # one process per delivery would make n of them.
        used = writers(files)
        print("burst of %d messages to one owner: written by %d "
              "process(es)" % (n, len(used)))
        self.assertLessEqual(len(used) * 10, n,
                             "%d delivery processes for %d messages"
                             % (len(used), n))

    def test_killed_delivery_process_defers_then_delivers(self):
        inst = self.instance(minimal_backoff_time="1s",
                             maximal_backoff_time="2s")
        body = (b"x" * 998 + b"\r\n") * 2000     # 2 MB: a slow write
        # Messages keep coming until a kill has landed mid-write: a kill
        # that comes after a batch was reported defers nothing, so a
        # fixed number of messages could all be delivered first.
        stop = threading.Event()
        sent, errors = [], []

        def sender():
            try:
                with smtp_connect(inst, timeout=60) as s:
                    for i in range(200):
                        if stop.is_set() and i >= 8:
                            break
                        subject = "kill-%d" % i
                        s.sendmail("sender@client.test",
                                   ["alice@test.example"],
                                   b"Subject: " + subject.encode() +
                                   b"\r\n\r\n" + body)
                        sent.append(subject)
            except Exception as e:  # reported by the test, not lost
                errors.append(e)
        threads = [threading.Thread(target=sender)]
        threads[0].start()
        dpid = wait_until(lambda: local_deliverd(inst), 10,
                          what="the local tern-deliverd")
        tmp = os.path.join(inst.maildir("alice"), "tmp")
        deferred = re.compile(r"to=<alice@test\.example>, relay=local, .*"
                              r"status=deferred \(local delivery process "
                              r"killed by signal 9\)")
        seen, kills = set(), 0

        def files_being_written(kids):
            """Files in tmp/: named ones, and the nameless (O_TMPFILE)
            ones the delivery processes hold open, which /proc shows as
            "tmp/#INODE (deleted)"."""
            try:
                names = set(os.listdir(tmp))
            except FileNotFoundError:
                names = set()
            for pid in kids:
                fddir = "/proc/%d/fd" % pid
                try:
                    fds = os.listdir(fddir)
                except OSError:
                    continue
                for fd in fds:
                    try:
                        target = os.readlink(os.path.join(fddir, fd))
                    except OSError:
                        continue
                    if target.startswith(tmp + "/"):
                        names.add(target)
            return names

        def kill_one_mid_write():
            """SIGKILL the delivery process while it writes a file."""
            nonlocal kills
            kids = children(dpid)
            names = files_being_written(kids)
            fresh = names - seen
            seen.update(names)
            if fresh and kids:
                for pid in kids:
                    os.kill(pid, signal.SIGKILL)
                kills += 1
                self.assert_sent_means_in_new(inst)
            return deferred.search(inst.log())

        try:
            wait_until(kill_one_mid_write, 120, interval=0.005,
                       what="a delivery deferred after a kill mid-write")
        finally:
            stop.set()
        for th in threads:
            th.join(120)
        self.assertEqual(errors, [])
        wait_until(lambda: set(subjects(inst, "alice")) == set(sent), 60,
                   what="every message in the Maildir")
        inst.wait_queue_empty(60)
        self.assert_sent_means_in_new(inst)
        got = subjects(inst, "alice")
        self.assertNotRegex(inst.log(), r"status=bounced")
        print("kill mid-write: %d kill(s), %d deferral(s), %d messages "
              "delivered as %d files (a killed batch's linked files are "
              "delivered again)" % (kills, len(deferred.findall(inst.log())),
                                    len(sent), len(got)))

    def assert_sent_means_in_new(self, inst):
        """Every message the log calls sent is in new/ already."""
        log = inst.log()        # first the log, then the files
        sent = set(re.findall(r"([0-9A-F]{16}): to=<alice@test\.example>, "
                              r"relay=local, .*status=sent", log))
        present = set()
        for data in inst.maildir_messages("alice"):
            m = QID_RE.search(data)
            if m:
                present.add(m.group(1).decode())
        self.assertEqual(sent - present, set(),
                         "reported delivered but not in new/")
