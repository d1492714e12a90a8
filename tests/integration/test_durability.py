"""
Durability: every message that got a 250 is delivered, even when
tern-queued and then the whole suite are killed with SIGKILL while mail is
flowing.  Duplicates are allowed, losses are not.
"""

import random
import re
import smtplib
import signal
import os
import threading
import time

from tern_harness import TernTestCase, wait_until

N = 2000
CONNECTIONS = 4


class Sender:
    """CONNECTIONS threads sending ids 0..N-1 until every one got a 250."""

    def __init__(self, port):
        self.port = port
        self.lock = threading.Lock()
        self.accepted = set()
        self.attempts = 0
        self.errors = 0
        self.last_error = None
        self.stop = False
        self.threads = [threading.Thread(target=self._run, args=(k,),
                                         daemon=True)
                        for k in range(CONNECTIONS)]

    def start(self):
        for t in self.threads:
            t.start()

    def count(self):
        with self.lock:
            return len(self.accepted)

    def _connect(self):
        s = smtplib.SMTP("127.0.0.1", self.port,
                         local_hostname="durable.client.test", timeout=20)
        s.ehlo()
        return s

    def _run(self, k):
        todo = list(range(k, N, CONNECTIONS))
        s = None
        while todo and not self.stop:
            i = todo[0]
            try:
                if s is None:
                    s = self._connect()
                msg = ("From: d@client.test\r\nTo: alice@test.example\r\n"
                       "Subject: durable-%05d\r\n\r\nmessage %d\r\n"
                       % (i, i)).encode()
                with self.lock:
                    self.attempts += 1
                s.sendmail("d@client.test", ["alice@test.example"], msg)
                # sendmail returns only after the 250 to the end of data.
                with self.lock:
                    self.accepted.add(i)
                todo.pop(0)
            except (smtplib.SMTPException, OSError) as e:
                with self.lock:
                    self.errors += 1
                    self.last_error = repr(e)
                if s is not None:
                    try:
                        s.close()
                    except OSError:
                        pass
                s = None
                time.sleep(0.1)
        if s is not None:
            try:
                s.quit()
            except (smtplib.SMTPException, OSError):
                pass

    def join(self, timeout):
        deadline = time.monotonic() + timeout
        for t in self.threads:
            t.join(max(0.1, deadline - time.monotonic()))
        return not any(t.is_alive() for t in self.threads)


class TestDurability(TernTestCase):
    time_limit = 280

    def test_kill_during_load(self):
        inst = self.instance(smtpd_timeout="30s")
        rnd = random.Random()
        seed = rnd.randrange(1 << 30)
        rnd.seed(seed)
        sender = Sender(inst.port)
        sender.start()
        try:
            self._run(inst, sender, rnd, seed)
        finally:
            sender.stop = True

    def _run(self, inst, sender, rnd, seed):
        info = "seed %d" % seed
        # 1. kill -9 tern-queued at a random moment.
        target = rnd.randrange(50, 500)
        wait_until(lambda: sender.count() >= target, 60,
                   what=lambda: "%d accepted messages (%s; last error %s)"
                   % (target, info, sender.last_error))
        time.sleep(rnd.random() * 0.2)
        qpids = inst.pids("tern-queued")
        self.assertEqual(len(qpids), 1, "tern-queued processes: %r" % qpids)
        os.kill(qpids[0], signal.SIGKILL)
        at_kill = sender.count()
        # ternd must restart it and mail must flow again.
        wait_until(lambda: sender.count() >= at_kill + 100, 30,
                   what=lambda: "mail to flow again after tern-queued was killed "
                   "(%s; last error %s)" % (info, sender.last_error))
        newq = wait_until(lambda: [p for p in inst.pids("tern-queued")
                                   if p not in qpids], 15,
                          what="a new tern-queued")
        self.assertEqual(len(newq), 1, newq)
        # 2. kill -9 everything at a random moment, then restart.
        target = min(N - 50, sender.count() + rnd.randrange(50, 500))
        wait_until(lambda: sender.count() >= target, 60,
                   what=lambda: "%d accepted messages (%s)" % (target, info))
        time.sleep(rnd.random() * 0.2)
        inst.kill_all()
        at_crash = sender.count()
        time.sleep(0.5)
        inst.start()
        # 3. The rest goes through, then the queue drains.
        finished = sender.join(150)
        self.assertTrue(finished, "sender did not finish: %d/%d accepted "
                        "(%s; last error %s)" % (sender.count(), N, info,
                                                  sender.last_error))
        self.assertEqual(sender.count(), N)
        inst.wait_queue_empty(120)
        seen = {}
        for data in inst.maildir_messages("alice"):
            m = re.search(rb"^Subject: durable-(\d{5})$", data, re.M)
            self.assertIsNotNone(m, data[:300])
            i = int(m.group(1))
            seen[i] = seen.get(i, 0) + 1
        with sender.lock:
            accepted = set(sender.accepted)
        lost = sorted(accepted - set(seen))
        self.assertEqual(lost, [], "%d accepted messages were lost (%s; "
                         "queued killed at %d, all killed at %d)"
                         % (len(lost), info, at_kill, at_crash))
        dups = sum(1 for v in seen.values() if v > 1)
        print("    durability: %d accepted, %d delivered files, %d ids "
              "duplicated, %d send errors (%s)"
              % (len(accepted), sum(seen.values()), dups, sender.errors, info))
