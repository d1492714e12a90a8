"""
queue_active_limit bounds the messages tern-queued holds in memory for
delivery: a backlog for a slow destination stays on disk beyond it, and is
taken up as deliveries end, none lost, none delayed for good.
"""

import re

from sink import Sink
from tern_harness import TernTestCase, free_port, smtp_connect, wait_until


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
        wait_until(lambda: len(got()) >= 40, 90,
                   what=lambda: "40 messages at the sink (have %d)"
                   % len(got()))
        self.assertEqual(sorted(got()), subjects)
        inst.wait_queue_empty()
