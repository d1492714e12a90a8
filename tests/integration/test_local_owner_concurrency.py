"""
One mailbox owner may have several local delivery processes at once
(local_owner_concurrency_limit): a delivery goes to the owner's process
holding the fewest, and another process is started while that one is
busy.  These tests check that a busy owner's mail is written by a second
process while the first is held up (a stopped process stands for one
waiting on its disk), that limit 1 keeps one process per owner, that
every message lands exactly once, and that a flooding owner holding
every place still lets another owner's mail through.

The writer of each Maildir file is read from its name (the pid in
SECONDS.M<usec>P<pid>Q...), and the progress of a delivery from the
queue manager's log line for it, so nothing here depends on timing.
"""

import os
import pwd
import re
import signal
import threading
import unittest

from tern_harness import (TernTestCase, is_root, smtp_connect, wait_until)
from test_local_owner_process import children, local_deliverd

WRITER_RE = re.compile(r"\.M\d+P(\d+)Q")
MSGID_RE = re.compile(rb"^Message-ID: <([^>]*)>", re.M | re.I)


def writer(path):
    """The pid of the process that wrote this Maildir file."""
    m = WRITER_RE.search(os.path.basename(path))
    assert m, "not a tern Maildir name: %s" % path
    return int(m.group(1))


def message_ids(inst, user):
    """The Message-IDs in user's Maildir/new, one per file."""
    out = []
    for data in inst.maildir_messages(user):
        m = MSGID_RE.search(data)
        out.append(m.group(1).decode() if m else None)
    return out


def message(msgid):
    return ("Message-ID: <%s>\r\nSubject: %s\r\n\r\nbody of %s\r\n"
            % (msgid, msgid, msgid)).encode()


def send_one(inst, user, msgid):
    with smtp_connect(inst, timeout=60) as s:
        s.sendmail("sender@client.test", ["%s@test.example" % user],
                   message(msgid))


def wait_sent(inst, user, n):
    """Wait until queued has logged n deliveries to user as sent."""
    pat = re.compile(r"to=<%s@test\.example>, relay=local, .*status=sent"
                     % re.escape(user))
    wait_until(lambda: len(pat.findall(inst.log())) >= n, 60,
               what="%d deliveries to %s logged as sent" % (n, user))


def burst(inst, user, sessions, per_session, tag):
    """Send sessions * per_session messages at once; their Message-IDs."""
    errors, ids = [], []

    def run(t):
        try:
            with smtp_connect(inst, timeout=60) as s:
                for i in range(per_session):
                    msgid = "%s-%d-%d@client.test" % (tag, t, i)
                    s.sendmail("sender@client.test",
                               ["%s@test.example" % user], message(msgid))
        except Exception as e:  # reported by the test, not lost
            errors.append(e)
    for t in range(sessions):
        ids.extend("%s-%d-%d@client.test" % (tag, t, i)
                   for i in range(per_session))
    threads = [threading.Thread(target=run, args=(t,))
               for t in range(sessions)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(120)
    return ids, errors


class TestLocalOwnerConcurrency(TernTestCase):

    def test_busy_owner_mail_written_by_another_process_meanwhile(self):
        inst = self.instance(local_owner_concurrency_limit="3")
        # The owner's first process, idle once its delivery is reported.
        send_one(inst, "alice", "first@client.test")
        wait_sent(inst, "alice", 1)
        dpid = local_deliverd(inst)
        stopped = children(dpid)
        self.assertEqual(len(stopped), 1, "one delivery process so far")
        os.kill(stopped[0], signal.SIGSTOP)
        try:
            # The idle process takes this one, and holds it while stopped.
            send_one(inst, "alice", "held@client.test")
            # The owner's process is busy now: each of these goes to
            # another process and is written while the first is stopped
            # (one at a time, each reported before the next is sent, so
            # the new process is idle again and holds the fewest).
            for i in range(4):
                send_one(inst, "alice", "meanwhile-%d@client.test" % i)
                inst.wait_for_delivery("alice", 2 + i, timeout=60)
                wait_sent(inst, "alice", 2 + i)
            self.assertNotIn("held@client.test",
                             message_ids(inst, "alice"),
                             "written by a stopped process")
        finally:
            os.kill(stopped[0], signal.SIGCONT)
        inst.wait_for_delivery("alice", 6, timeout=60)
        inst.wait_queue_empty(30)
        files = inst.maildir_files("alice")
        ids = message_ids(inst, "alice")
        self.assertEqual(sorted(ids), sorted(
            ["first@client.test", "held@client.test"] +
            ["meanwhile-%d@client.test" % i for i in range(4)]),
            "each message exactly once")
        by_id = {m: writer(p) for m, p in zip(ids, files)}
        self.assertEqual(by_id["held@client.test"], stopped[0])
        others = {by_id["meanwhile-%d@client.test" % i] for i in range(4)}
        self.assertNotIn(stopped[0], others)
        print("one owner, its process stopped: 4 messages written "
              "meanwhile by %d other process(es)" % len(others))

    def test_burst_to_one_owner_each_message_exactly_once(self):
        inst = self.instance(local_owner_concurrency_limit="3")
        ids, errors = burst(inst, "alice", 4, 40, "burst")
        self.assertEqual(errors, [])
        inst.wait_for_delivery("alice", len(ids), timeout=120)
        inst.wait_queue_empty(60)
        self.assertEqual(sorted(message_ids(inst, "alice")), sorted(ids),
                         "each message exactly once")
        self.assertNotRegex(inst.log(), r"local delivery process .*(killed|"
                            r"exited|malformed|cannot be believed)|"
                            r"status=deferred")
        used = {writer(p) for p in inst.maildir_files("alice")}
        print("burst of %d messages to one owner, limit 3: written by %d "
              "process(es)" % (len(ids), len(used)))

    def test_limit_one_owner_mail_written_by_one_process(self):
        inst = self.instance(local_owner_concurrency_limit="1")
        ids, errors = burst(inst, "alice", 4, 30, "one")
        self.assertEqual(errors, [])
        inst.wait_for_delivery("alice", len(ids), timeout=120)
        inst.wait_queue_empty(60)
        self.assertEqual(sorted(message_ids(inst, "alice")), sorted(ids),
                         "each message exactly once")
        used = {writer(p) for p in inst.maildir_files("alice")}
        self.assertEqual(len(used), 1,
                         "limit 1: %d processes wrote for one owner"
                         % len(used))

    @unittest.skipUnless(is_root(), "root only: mailbox owners need root")
    def test_second_owner_served_while_first_floods_every_place(self):
        # Two places in all, and the flooding owner may take both.
        inst = self.instance(local_delivery_limit="2",
                             local_owner_concurrency_limit="2")
        inst.add_user("flood", owner="nobody")
        inst.add_user("quiet", owner="daemon")
        stop = threading.Event()
        errors = []

        def flood(t):
            try:
                with smtp_connect(inst, timeout=60) as s:
                    i = 0
                    while not stop.is_set():
                        s.sendmail("sender@client.test",
                                   ["flood@test.example"],
                                   message("flood-%d-%d@client.test"
                                           % (t, i)))
                        i += 1
            except Exception as e:  # reported by the test, not lost
                errors.append(e)
        threads = [threading.Thread(target=flood, args=(t,))
                   for t in range(3)]
        for th in threads:
            th.start()
        try:
            # The flood holds both places: two of its processes write.
            wait_until(lambda: len({writer(p) for p in
                                    inst.maildir_files("flood")}) >= 2,
                       60, interval=0.05,
                       what="two processes writing the flooding owner's "
                            "mail")
            # The flood goes on until the quiet owner's mail is in: it
            # gets there only if a flooding process makes room for it.
            for i in range(3):
                send_one(inst, "quiet", "quiet-%d@client.test" % i)
                inst.wait_for_delivery("quiet", i + 1, timeout=60)
        finally:
            stop.set()
            for th in threads:
                th.join(120)
        self.assertEqual(errors, [])
        inst.wait_queue_empty(120)
        self.assertEqual(sorted(message_ids(inst, "quiet")),
                         ["quiet-%d@client.test" % i for i in range(3)])
        ids = message_ids(inst, "flood")
        self.assertEqual(len(ids), len(set(ids)), "a flood message twice")
        for user, owner in (("flood", "nobody"), ("quiet", "daemon")):
            uid = pwd.getpwnam(owner).pw_uid
            for p in inst.maildir_files(user):
                self.assertEqual(os.stat(p).st_uid, uid, p)
        print("flooding owner: %d messages by %d processes; the quiet "
              "owner's 3 delivered meanwhile"
              % (len(ids), len({writer(p) for p in
                                inst.maildir_files("flood")})))
