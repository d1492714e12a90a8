"""
A local transport that is held up holds back local mail only.

queued hands the local transport a bounded number of jobs at once (eight
a local delivery process); the rest wait in queued for room.  Here a
command alias hangs until the test lets it go, with local_delivery_limit
= 1 (eight jobs): twelve messages to it fill the bound and leave four
waiting, which "ternctl stats" shows (local_jobs, local_jobs_waiting).
A message relayed to a sink meanwhile still goes out, while the
command's mail is held; once the command is let go, every held message
is delivered, each once.
"""

import os
import shutil
import tempfile

from sink import Sink
from tern_harness import (TernTestCase, free_port, is_root, smtp_connect,
                          ternctl_stats, wait_until)

HELD = 12
BOUND = 8       # local jobs in flight with local_delivery_limit = 1


class TestLocalStall(TernTestCase):
    time_limit = 180

    def setUp(self):
        if not is_root():
            self.skipTest("root only: alias commands run as default_privs")
        self.top = tempfile.mkdtemp(prefix="tern-stall-")
        os.chmod(self.top, 0o1777)
        self.addCleanup(shutil.rmtree, self.top, ignore_errors=True)

    def test_relayed_mail_goes_out_while_local_jobs_are_held(self):
        go = os.path.join(self.top, "go")
        got = os.path.join(self.top, "got")
        cmd = ('"|while [ ! -e %s ]; do sleep 0.2; done; '
               'grep ^Subject: >> %s"' % (go, got))
        port = free_port("127.0.0.84")
        sink = Sink("127.0.0.84", port).start()
        self.addCleanup(sink.stop)
        inst = self.instance(start=False, aliases={"slow": cmd},
                             relayhost="[127.0.0.84]:%d" % port,
                             local_delivery_limit="1",
                             command_time_limit="150s")
        inst.start()
        # Let the command go however the test ends, so that the
        # instance stops without waiting for it.
        self.addCleanup(lambda: open(go, "w").close())
        with smtp_connect(inst, timeout=60) as s:
            for i in range(HELD):
                s.sendmail("a@client.test", ["slow@test.example"],
                           ("From: a@client.test\r\nSubject: held-%02d\r\n"
                            "\r\nbody\r\n" % i).encode())
            s.sendmail("a@client.test", ["u@relay.test"],
                       b"From: a@client.test\r\nSubject: relayed\r\n\r\n"
                       b"body\r\n")
        wait_until(lambda: len(sink.messages) == 1, 60,
                   what="the relayed message at the sink while the local "
                   "jobs are held")
        self.assertIn(b"Subject: relayed", sink.messages[0].data)
        wait_until(lambda: (ternctl_stats(inst)["local_jobs"],
                            ternctl_stats(inst)["local_jobs_waiting"]) ==
                   (BOUND, HELD - BOUND), 30,
                   what="%d local jobs in flight, %d waiting"
                   % (BOUND, HELD - BOUND))
        self.assertFalse(os.path.exists(got), "the command was let go")
        self.assertEqual([line for line in inst.log().splitlines()
                          if "slow@" in line and "status=sent" in line], [])

        open(go, "w").close()
        inst.wait_queue_empty(timeout=120)
        with open(got) as f:
            subjects = sorted(line.split()[1] for line in f)
        self.assertEqual(subjects, ["held-%02d" % i for i in range(HELD)])
        self.assertEqual(len(sink.messages), 1)
        st = ternctl_stats(inst)
        self.assertEqual((st["local_jobs"], st["local_jobs_waiting"]),
                         (0, 0))
