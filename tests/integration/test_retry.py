"""
A local delivery that fails for a temporary reason (here: the Maildir
cannot be created) is kept in the queue and retried with backoff until it
succeeds; nothing is lost or bounced meanwhile.
"""

import os
import re

from tern_harness import TernTestCase, smtp_connect, wait_until, qid_from_reply


class TestLocalRetry(TernTestCase):

    def test_temporary_failure_is_retried(self):
        inst = self.instance(minimal_backoff_time="1s",
                             maximal_backoff_time="2s")
        blocker = os.path.join(inst.mailboxes, "alice", "Maildir")
        with open(blocker, "w") as f:
            f.write("not a directory\n")
        with smtp_connect(inst) as s:
            s.ehlo()
            s.mail("r@client.test")
            s.rcpt("alice@test.example")
            code, text = s.data(b"Subject: retry me\r\n\r\nbody\r\n")
        self.assertEqual(code, 250)
        qid = qid_from_reply(text)
        deferred = re.compile(r"%s: to=<alice@test\.example>, relay=local, "
                              r".*dsn=4\.\d\.\d, status=deferred" % qid)
        wait_until(lambda: len(deferred.findall(inst.log())) >= 2, 20,
                   what="two deferred attempts")
        # Still queued, not bounced, not delivered.
        self.assertEqual(len(inst.queue_files()), 1)
        self.assertNotRegex(inst.log(), r"%s: .*status=bounced" % qid)
        os.unlink(blocker)
        files = inst.wait_for_delivery("alice", 1, timeout=20)
        with open(files[0], "rb") as f:
            self.assertIn(b"Subject: retry me", f.read())
        inst.wait_queue_empty()
        # The file goes first, then the index record, then the log line.
        wait_until(lambda: re.search(r"%s: removed" % qid, inst.log()), 10,
                   what="%s: removed" % qid)
