"""
queued answers an smtpd's commit with the file for that worker's next
message (MSG_QUEUED_MESSAGE_COMMITTED_NEXT, queue_commit.c), so that the
next DATA starts without a round trip to queued, which under load waits
behind the group commit's syncs.  Until the worker uses it, the file is
empty and still the worker's: it must never outlive the worker, queued,
or a restart, and it must never be mistaken for a message.

queued makes those files ahead, in a thread of its own (file_pool.c):
up to queue_file_pool_size (FILE_POOL_SIZE by default) empty files that
only queued holds.  They too must never outlive queued or a restart, nor
be taken for unfinished files by "ternctl rebuild" while queued runs.
With the setting at 0 there is no pool, and a reload that changes it
takes effect at once.  The file of a delivered message is reused: emptied,
and pooled again under a new queue ID.
"""

import os
import signal
import subprocess
import time

import queue_file
from tern_harness import (TernTestCase, binary, open_file_holders,
                          smtp_connect, qid_from_reply, wait_until)

FILE_POOL_SIZE = 32     # queue_file_pool_size's default


def all_empty_files(inst):
    """The empty files in spool/msg."""
    out = []
    for f in inst.spool_files("msg"):
        try:
            if os.path.getsize(f) == 0:
                out.append(f)
        except FileNotFoundError:
            pass
    return sorted(out)


def empty_files(inst):
    """The empty files in spool/msg that an smtpd holds: the handed-out
    next files (the others are queued's, made ahead)."""
    return [f for f in all_empty_files(inst)
            if any(comm == "tern-smtpd"
                   for _pid, comm in holders(os.path.realpath(f)))]


def pooled_files(inst):
    """The empty files in spool/msg that only queued holds."""
    return sorted(inst.made_ahead_files())


def full_pool(inst):
    """Wait until queued holds FILE_POOL_SIZE files made ahead; them."""
    return wait_until(lambda: len(pooled_files(inst)) == FILE_POOL_SIZE and
                      pooled_files(inst), 15,
                      what="queued's files made ahead")


def emptied_or_gone(path):
    """path is an empty file, or no file."""
    try:
        return os.path.getsize(path) == 0
    except FileNotFoundError:
        return True


def holders(path):
    """(pid, comm) of every process with path open, each once."""
    return sorted(set(open_file_holders().get(path, [])))


def send(s, i):
    s.mail("sender@client.test")
    s.rcpt("alice@test.example")
    code, text = s.data(("Subject: next-%d\r\n\r\nbody %d\r\n"
                         % (i, i)).encode())
    return code, text


class TestQueueNextFile(TernTestCase):

    def send_many(self, inst, first, n):
        """Messages first .. first+n-1 in one session; their queue IDs."""
        qids = []
        with smtp_connect(inst) as s:
            s.ehlo()
            for i in range(first, first + n):
                code, text = send(s, i)
                self.assertEqual(code, 250, text)
                qids.append(qid_from_reply(text))
        return qids

    def send_until_emptied(self, inst, first, n):
        """send_many, then wait until every one is delivered and its file
        emptied (or already reused), polling every 5 ms so that the
        caller acts before the pool's next batch (within a second)
        reuses them; their queue IDs."""
        qids = self.send_many(inst, first, n)
        paths = [queue_file.path(inst.spool, q) for q in qids]
        deadline = time.monotonic() + 30
        while not all(emptied_or_gone(p) for p in paths):
            self.assertLess(time.monotonic(), deadline,
                            "messages %s not delivered" % qids)
            time.sleep(0.005)
        return qids

    def one_next_file(self, inst):
        """Send one message; the one empty file it leaves behind."""
        with smtp_connect(inst) as s:
            s.ehlo()
            code, text = send(s, 0)
            self.assertEqual(code, 250, text)
        files = wait_until(lambda: empty_files(inst) or None, 10,
                           what="a handed-out next file")
        self.assertEqual(len(files), 1, files)
        return files[0]

    def test_next_message_is_written_to_the_file_handed_out(self):
        inst = self.instance()
        qids = []
        prev = None
        with smtp_connect(inst) as s:
            s.ehlo()
            for i in range(3):
                code, text = send(s, i)
                self.assertEqual(code, 250, text)
                qids.append(qid_from_reply(text))
                # The worker holds exactly one empty file, named by a
                # queue ID of its own, and the next message gets it.
                files = empty_files(inst)
                self.assertEqual(len(files), 1, files)
                nxt = os.path.basename(files[0])
                self.assertNotIn(nxt, qids)
                if prev is not None:
                    self.assertEqual(qids[i], prev)
                prev = nxt
                pids = [p for p, comm in holders(os.path.realpath(
                    files[0])) if comm == "tern-smtpd"]
                self.assertEqual(len(pids), 1, "not one smtpd holds it")
        inst.wait_for_delivery("alice", 3)
        inst.wait_queue_empty(30)
        got = sorted(open(f, "rb").read() for f in inst.maildir_files("alice"))
        for i in range(3):
            self.assertTrue(any(b"body %d\r\n" % i in m or b"body %d\n" % i
                                in m for m in got), "message %d" % i)
        # The next worker's message, after QUIT, in a new session.
        with smtp_connect(inst) as s:
            s.ehlo()
            code, text = send(s, 3)
            self.assertEqual(code, 250, text)
        inst.wait_for_delivery("alice", 4)

    def test_file_goes_with_the_worker(self):
        inst = self.instance()
        path = os.path.realpath(self.one_next_file(inst))
        workers = [p for p, comm in holders(path) if comm == "tern-smtpd"]
        self.assertEqual(len(workers), 1)
        os.kill(workers[0], signal.SIGKILL)
        wait_until(lambda: not os.path.exists(path), 15,
                   what="queued to remove the dead worker's file")
        self.assertEqual(empty_files(inst), [])
        with smtp_connect(inst) as s:
            s.sendmail("a@client.test", ["alice@test.example"],
                       b"Subject: after\r\n\r\nx\r\n")
        inst.wait_for_delivery("alice", 2)

    def test_stop_leaves_no_file(self):
        # ternd stops the smtpd workers before queued, which removes the
        # file of each worker that goes; a stop that has to kill queued
        # leaves it to the next start (the test below).
        inst = self.instance()
        self.one_next_file(inst)
        inst.wait_for_delivery("alice", 1)
        self.assertEqual(inst.stop(), 0)
        self.assertEqual(inst.spool_files("msg"), [])
        self.assertNotIn("removed unfinished", inst.log())

    def test_files_made_ahead_are_queued_s_bounded_and_used(self):
        inst = self.instance()
        pooled = full_pool(inst)
        # Every empty file is queued's or a worker's: none is lost track
        # of, and the pool stays at its size.
        self.assertEqual(all_empty_files(inst), pooled)
        names = {os.path.basename(f) for f in pooled}
        qids = set()
        with smtp_connect(inst) as s:
            s.ehlo()
            for i in range(FILE_POOL_SIZE + 8):
                code, text = send(s, i)
                self.assertEqual(code, 250, text)
                qids.add(qid_from_reply(text))
        # The messages went into the files made ahead, oldest first.
        self.assertTrue(names <= qids, sorted(names - qids))
        inst.wait_for_delivery("alice", FILE_POOL_SIZE + 8)
        inst.wait_queue_empty(30)
        wait_until(lambda: len(pooled_files(inst)) == FILE_POOL_SIZE, 15,
                   what="the pool refilled")
        self.assertLessEqual(len(all_empty_files(inst)), FILE_POOL_SIZE + 1)
        self.assertNotIn("removed unfinished", inst.log())

    def test_rebuild_while_running_leaves_the_files_made_ahead(self):
        inst = self.instance()
        for round_ in range(3):
            pooled = full_pool(inst)
            r = subprocess.run([binary("ternctl"), "-c", inst.conf,
                                "rebuild"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, timeout=30)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn(b"0 unfinished files removed", r.stdout)
            for f in pooled:
                self.assertTrue(os.path.exists(f), f)
            # Each of them still becomes a message that arrives.
            with smtp_connect(inst) as s:
                s.ehlo()
                for i in range(FILE_POOL_SIZE + 2):
                    code, text = send(s, i)
                    self.assertEqual(code, 250, text)
            n = (round_ + 1) * (FILE_POOL_SIZE + 2)
            inst.wait_for_delivery("alice", n)
            inst.wait_queue_empty(30)
            self.assertEqual(len(inst.maildir_files("alice")), n)
        self.assertNotIn("removed unfinished", inst.log())

    def test_queued_killed_its_files_removed_at_restart(self):
        inst = self.instance()
        path = os.path.realpath(self.one_next_file(inst))
        inst.wait_for_delivery("alice", 1)
        queued = [p for p, comm in holders(path) if comm == "tern-queued"]
        self.assertEqual(len(queued), 1)
        os.kill(queued[0], signal.SIGKILL)
        # The new queued finds an empty file that the index does not
        # name: unfinished, removed, and no message is made of it.
        wait_until(lambda: not os.path.exists(path), 20,
                   what="the restarted queued to remove the file")
        self.assertRegex(inst.log(), r"%s: removed unfinished queue file"
                         % os.path.basename(path))
        with smtp_connect(inst) as s:
            s.sendmail("a@client.test", ["alice@test.example"],
                       b"Subject: after\r\n\r\nx\r\n")
        inst.wait_for_delivery("alice", 2)
        inst.wait_queue_empty(30)
        self.assertEqual(len(inst.maildir_files("alice")), 2)

    def test_pool_size_is_the_setting_and_a_reload_changes_it(self):
        inst = self.instance(queue_file_pool_size="0")
        # No pool: nothing made ahead, and mail still goes through
        # (the loop makes each file, the next file handed out included).
        self.send_many(inst, 0, 3)
        inst.wait_for_delivery("alice", 3)
        inst.wait_queue_empty(30)
        self.assertEqual(pooled_files(inst), [])
        self.assertEqual(len(empty_files(inst)), 1)

        def reload(size):
            inst.settings["queue_file_pool_size"] = str(size)
            inst.write_config()
            r = subprocess.run([binary("ternctl"), "-c", inst.conf,
                                "reload"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, timeout=30)
            self.assertEqual(r.returncode, 0, r.stderr)
            wait_until(lambda: "queue_file_pool_size is now %d" % size
                       in inst.log(), 15,
                       what="queued to take queue_file_pool_size %d"
                       % size)

        reload(5)
        wait_until(lambda: len(pooled_files(inst)) == 5, 15,
                   what="five files made ahead")
        self.send_many(inst, 3, 7)
        inst.wait_for_delivery("alice", 10)
        inst.wait_queue_empty(30)
        wait_until(lambda: len(pooled_files(inst)) == 5, 15,
                   what="the pool of five refilled")
        self.assertEqual(len(pooled_files(inst)), 5)
        # Back to 0: the files held are removed, not left behind.
        reload(0)
        wait_until(lambda: pooled_files(inst) == [], 15,
                   what="the pool's files removed")
        with smtp_connect(inst) as s:
            s.ehlo()
            code, text = send(s, 10)
            self.assertEqual(code, 250, text)
        inst.wait_for_delivery("alice", 11)
        self.assertEqual(pooled_files(inst), [])
        self.assertNotIn("removed unfinished", inst.log())

    def test_delivered_messages_files_are_reused_empty(self):
        inst = self.instance()
        pooled = full_pool(inst)
        # Hold every pooled file: the inode stays this one while the
        # test holds it, unlinked (no name left) or reused (a new name).
        held = {}
        for f in pooled:
            fd = os.open(f, os.O_RDONLY)
            self.addCleanup(os.close, fd)
            held[fd] = os.path.basename(f)
        n = FILE_POOL_SIZE + 8
        self.send_many(inst, 0, n)
        inst.wait_for_delivery("alice", n)
        inst.wait_queue_empty(30)

        def queued_s():
            # The empty files tern-queued holds and no smtpd does (the
            # test holds some of them too).
            return [f for f in all_empty_files(inst)
                    if {c for _p, c in holders(os.path.realpath(f))} &
                    {"tern-queued", "tern-smtpd"} == {"tern-queued"}]

        wait_until(lambda: len(queued_s()) == FILE_POOL_SIZE, 15,
                   what="the pool refilled")
        # Every message arrived whole: no reused file kept a byte of the
        # message it held before.
        bodies = sorted(int(m.split(b"body ")[1].split(b"\r\n")[0])
                        for m in inst.maildir_messages("alice"))
        self.assertEqual(bodies, list(range(n)))
        names = {}
        for f in inst.spool_files("msg"):
            try:
                names[os.stat(f).st_ino] = f
            except FileNotFoundError:
                pass
        reused = 0
        for fd, old in held.items():
            st = os.fstat(fd)
            if st.st_nlink == 0:
                continue
            reused += 1
            self.assertIn(st.st_ino, names)
            self.assertNotEqual(os.path.basename(names[st.st_ino]), old)
            self.assertEqual(st.st_size, 0, names[st.st_ino])
        # The pool is full again, and it refilled from what was delivered.
        self.assertGreaterEqual(reused, FILE_POOL_SIZE // 2)
        self.assertNotIn("removed unfinished", inst.log())

    def test_queued_killed_while_files_wait_for_reuse(self):
        # A delivered message's file waits for the pool's next batch
        # under its old name, emptied before its record went: killed
        # then, queued finds an empty file the index does not name at
        # its restart and removes it.  Were it still whole, the restart
        # would take it for a message the index lost and deliver it
        # again.  Where the file went before the kill, try again.
        inst = self.instance()
        full_pool(inst)
        sent = 0
        for attempt in range(5):
            queued = inst.pids("tern-queued")
            self.assertEqual(len(queued), 1, queued)
            qids = self.send_until_emptied(inst, sent, 4)
            sent += 4
            os.kill(queued[0], signal.SIGKILL)
            left = [f for f in inst.spool_files("msg")
                    if os.path.basename(f) in qids]
            wait_until(lambda: len(inst.pids("tern-queued")) == 1 and
                       inst.pids("tern-queued") != queued, 20,
                       what="ternd to restart tern-queued")
            if left:
                break
            wait_until(lambda: len(pooled_files(inst)) == FILE_POOL_SIZE,
                       15, what="the pool refilled")
        self.assertTrue(left, "no kill caught a file waiting to be reused")
        for f in left:
            qid = os.path.basename(f)
            wait_until(lambda: not os.path.exists(f), 20,
                       what="the restarted queued to remove %s" % qid)
            self.assertRegex(inst.log(), r"%s: removed unfinished queue "
                             r"file" % qid)
        # Nothing arrives twice: mail sent now is the next to arrive.
        with smtp_connect(inst) as s:
            s.ehlo()
            code, text = send(s, sent)
            self.assertEqual(code, 250, text)
        inst.wait_for_delivery("alice", sent + 1)
        inst.wait_queue_empty(30)
        self.assertEqual(len(inst.maildir_files("alice")), sent + 1)

    def test_file_put_back_while_waiting_is_left_alone(self):
        # Something written into a delivered message's emptied file
        # while it waits to be reused (a message restored from a backup,
        # say) is no longer the pool's: the next batch neither renames
        # nor empties nor removes it, and "ternctl rebuild" examines it
        # (here: no trailer, so an unfinished file it removes).
        inst = self.instance()
        full_pool(inst)
        sent, put = 0, []
        for attempt in range(5):
            qids = self.send_until_emptied(inst, sent, 4)
            sent += 4
            for q in qids:
                p = queue_file.path(inst.spool, q)
                try:
                    fd = os.open(p, os.O_WRONLY | os.O_APPEND)
                except FileNotFoundError:
                    continue        # reused already
                os.write(fd, b"put back\n")
                os.close(fd)
                put.append(p)
            if put:
                break
        self.assertTrue(put, "no file caught waiting to be reused")
        inst.wait_for_delivery("alice", sent)
        # The pool's next batch, a quiet second later, refills it.
        full_pool(inst)
        time.sleep(1.5)
        present = [p for p in put if os.path.exists(p)]
        self.assertTrue(present, "every file put back went with a batch")
        for p in present:
            with open(p, "rb") as f:
                self.assertEqual(f.read(), b"put back\n", p)
        r = subprocess.run([binary("ternctl"), "-c", inst.conf, "rebuild"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(b"%d unfinished files removed" % len(present),
                      r.stdout)
        for p in present:
            self.assertFalse(os.path.exists(p), p)
