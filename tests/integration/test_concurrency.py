"""
100 concurrent sessions, one message each: every one is accepted and
every one lands.
"""

import re
import smtplib
import threading

from tern_harness import TernTestCase, qid_from_reply

N = 100


class TestConcurrency(TernTestCase):
    time_limit = 200

    def test_100_sessions(self):
        inst = self.instance()
        results = [None] * N
        barrier = threading.Barrier(N, timeout=90)

        def send(i):
            try:
                s = smtplib.SMTP("127.0.0.1", inst.port,
                                 local_hostname="c%d.client.test" % i,
                                 timeout=90)
                try:
                    s.ehlo()
                    barrier.wait()   # everyone mid-session at once
                    msg = ("From: c%d@client.test\r\nTo: alice@test.example"
                           "\r\nSubject: concurrent-%03d\r\n\r\nbody %d\r\n"
                           % (i, i, i)).encode()
                    s.mail("c%d@client.test" % i)
                    s.rcpt("alice@test.example")
                    code, text = s.data(msg)
                    results[i] = (code, text)
                    s.quit()
                finally:
                    s.close()
            except Exception as e:  # noqa: BLE001
                if results[i] is None:
                    results[i] = ("exception", repr(e))

        threads = [threading.Thread(target=send, args=(i,), daemon=True)
                   for i in range(N)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        self.assertFalse(any(t.is_alive() for t in threads), "sessions hung")
        bad = [(i, r) for i, r in enumerate(results)
               if r is None or r[0] != 250]
        self.assertEqual(bad, [], "%d sessions not accepted" % len(bad))
        qids = {qid_from_reply(r[1]) for r in results}
        self.assertEqual(len(qids), N, "queue IDs not unique")
        inst.wait_for_delivery("alice", N, timeout=90)
        inst.wait_queue_empty(30)
        subjects = []
        for data in inst.maildir_messages("alice"):
            m = re.search(rb"^Subject: (concurrent-\d{3})$", data, re.M)
            self.assertIsNotNone(m, data[:500])
            subjects.append(m.group(1).decode())
        self.assertEqual(sorted(subjects),
                         ["concurrent-%03d" % i for i in range(N)])
        self.assertEqual(inst.all_delivered(), {"alice": N})
