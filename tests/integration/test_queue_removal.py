"""
A delivered message leaves the queue completely: its file, and then its
index record (scheduler.c, sched_after_sync).  A record left behind would
come back at the next start as an indexed message; a file left behind
would stay in spool/msg for ever.
"""

import re
import subprocess

from tern_harness import (TernTestCase, binary, smtp_connect, qid_from_reply,
                          wait_until)

N = 40


class TestQueueRemoval(TernTestCase):

    def indexed_at_start(self, inst):
        """How many messages the last start found in the index."""
        found = re.findall(r"queue recovered: (\d+) indexed", inst.log())
        self.assertTrue(found, "no recovery report in the log")
        return int(found[-1])

    def test_delivered_messages_leave_neither_file_nor_index_record(self):
        inst = self.instance()
        qids = []
        with smtp_connect(inst) as s:
            s.ehlo()
            for i in range(N):
                s.mail("sender@client.test")
                s.rcpt("alice@test.example")
                code, text = s.data(("Subject: removal-%d\r\n\r\nbody\r\n"
                                     % i).encode())
                self.assertEqual(code, 250, text)
                qids.append(qid_from_reply(text))
        inst.wait_for_delivery("alice", N, 60)
        inst.wait_queue_empty(60)
        for q in qids:
            wait_until(lambda q=q: "%s: removed" % q in inst.log(), 30,
                       what="the removal of %s's index record" % q)
        r = subprocess.run([binary("ternctl"), "-c", inst.conf, "queue"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        for q in qids:
            self.assertNotIn(q, r.stdout.decode(), "still listed")
        # The index itself: a restart finds nothing in it.
        inst.stop()
        inst.start()
        self.assertEqual(self.indexed_at_start(inst), 0)
        self.assertEqual(inst.msg_files(), [])
        self.assertEqual(len(inst.maildir_files("alice")), N)
