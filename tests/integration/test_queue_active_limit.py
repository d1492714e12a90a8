"""
queue_active_limit bounds the messages tern-queued holds in memory for
delivery: a backlog for a slow destination stays on disk beyond it, and is
taken up as deliveries end, none lost, none delayed for good.  "ternctl
stats" says how many are loaded (queue_active), which the test reads
while the backlog drains.
"""

import re
import time

from sink import Sink
from tern_harness import (TernTestCase, free_port, smtp_connect,
                          ternctl_stats, wait_until)


def queue_active(inst):
    """queue_active from "ternctl stats --json"."""
    return ternctl_stats(inst)["queue_active"]


class TestQueueActiveLimit(TernTestCase):
    time_limit = 120

    def test_backlog_beyond_the_limit_waits_on_disk_and_is_delivered(self):
        """40 messages for a destination that takes one at a time, slowly,
        with queue_active_limit = 10: the limit is reached and logged, and
        every message still arrives, each once."""
        port = free_port("127.0.0.32")
        sink = Sink("127.0.0.32", port).start()
        self.addCleanup(sink.stop)
        sink.hang["data"] = 0.1
        inst = self.instance(hostname="a.test",
                             relayhost="[127.0.0.32]:%d" % port,
                             smtp_destination_concurrency_limit="1",
                             queue_active_limit="10")
        subjects = []
        s = smtp_connect(inst, timeout=60)
        try:
            s.ehlo()
            for i in range(40):
                subj = "active-%02d" % i
                s.sendmail("a@a.test", ["u@relay.test"],
                           ("From: a@a.test\r\nSubject: %s\r\n\r\nbody\r\n"
                            % subj).encode())
                subjects.append(subj)
            s.quit()
        finally:
            s.close()
        wait_until(lambda: re.search(r"queue_active_limit \(10\) reached",
                                     inst.log()), 30,
                   what="the limit in the log")
        got = lambda: [re.search(rb"^Subject: (\S+)", m.data, re.M)
                       .group(1).decode() for m in sink.messages]
        # What queued holds while the backlog drains: the limit, never
        # more, while there is more than the limit to deliver.
        seen = []
        deadline = time.monotonic() + 90
        while len(got()) < 40 and time.monotonic() < deadline:
            n = queue_active(inst)
            seen.append((len(got()), n))
            self.assertLessEqual(n, 10, "queue_active %d > the limit" % n)
            time.sleep(0.1)
        self.assertEqual(len(got()), 40, "40 messages at the sink")
        self.assertIn(10, [n for done, n in seen if done < 25], seen)
        self.assertEqual(sorted(got()), subjects)
        inst.wait_queue_empty()
        wait_until(lambda: queue_active(inst) == 0, 10,
                   what="nothing loaded once the queue is empty")
