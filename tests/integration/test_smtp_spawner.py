"""
The smtp transport's connection processes come from a spawner process
(deliverd/smtp_spawner.c), forked once from the transport, so that they
share its memory.  What must hold all the same: every connection process
is the transport's own child (reaped by it, counted against its limits,
never left behind as an orphan or a zombie), and a spawner that dies is
replaced without losing or delaying mail.
"""

import os
import re
import signal

from sink import Sink
from tern_harness import TernTestCase, free_port, smtp_connect, wait_until


def stat_of(pid):
    """(state, ppid) of pid from /proc, or None once it is gone."""
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            data = f.read()
    except OSError:
        return None
    # The name field may hold spaces and parentheses: split after it.
    rest = data[data.rindex(b")") + 2:].split()
    return rest[0].decode(), int(rest[1])


def argv_of(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().split(b"\0")
    except OSError:
        return []


def send_n(inst, n, prefix):
    """n messages to u@relay.test over one session; their subjects."""
    subjects = []
    s = smtp_connect(inst, timeout=60)
    try:
        s.ehlo()
        for i in range(n):
            subj = "%s-%02d" % (prefix, i)
            msg = ("From: a@a.test\r\nTo: u@relay.test\r\nSubject: %s\r\n"
                   "\r\nbody %d\r\n" % (subj, i)).encode()
            s.sendmail("a@a.test", ["u@relay.test"], msg)
            subjects.append(subj)
        s.quit()
    finally:
        s.close()
    return subjects


class TestSmtpSpawner(TernTestCase):
    time_limit = 120

    def relay(self, **kw):
        """An instance relaying everything to a sink on 127.0.0.31 that
        keeps no connection open after a job; (instance, sink)."""
        port = free_port("127.0.0.31")
        sink = Sink("127.0.0.31", port).start()
        self.addCleanup(sink.stop)
        settings = {"relayhost": "[127.0.0.31]:%d" % port,
                    "smtp_connection_reuse_time": "0s"}
        settings.update(kw)
        return self.instance(hostname="a.test", **settings), sink

    def transport(self, inst):
        """The pid of the instance's smtp deliverd (its connection
        processes and spawner have the same command line)."""
        found = [p for p in inst.pids("tern-deliverd")
                 if b"smtp" in argv_of(p) and
                 (stat_of(p) or ("", 0))[1] == inst.proc.pid]
        self.assertEqual(len(found), 1, found)
        return found[0]

    def children(self, inst, parent):
        """Pids of the instance's processes whose parent is parent."""
        return [p for p in inst.pids() if (stat_of(p) or ("", 0))[1] ==
                parent]

    def wait_subjects(self, sink, subjects):
        want = set(subjects)
        got = lambda: {re.search(rb"^Subject: (\S+)", m.data, re.M)
                       .group(1).decode() for m in sink.messages}
        wait_until(lambda: got() >= want, 60,
                   what=lambda: "messages at the sink (missing %s)"
                   % sorted(want - got()))

    def test_connection_processes_are_reaped_children_of_the_transport(self):
        """While connections are open, every connection process is a child
        of the smtp transport (it reaps them, and ternd's stop reaches
        them); once each has closed its connection, only the spawner is
        left, and nothing of the instance is a zombie."""
        inst, sink = self.relay(smtp_connection_reuse_time="300s",
                                smtp_destination_concurrency_limit="4")
        subjects = send_n(inst, 12, "tree")
        self.wait_subjects(sink, subjects)
        smtp = self.transport(inst)
        ternd = inst.proc.pid
        kids = self.children(inst, smtp)
        # Kept connections: at least one connection process besides the
        # spawner.
        self.assertGreaterEqual(len(kids), 2, kids)
        for p in inst.pids("tern-deliverd"):
            st = stat_of(p)
            if st is not None:
                self.assertIn(st[1], (ternd, smtp),
                              "deliverd %d has parent %d" % (p, st[1]))
        # Ending the kept connections (a stop) must leave no orphan.
        inst.stop()
        for p in kids:
            wait_until(lambda: stat_of(p) is None, 20,
                       what="connection process %d to be gone" % p)

    def test_no_connection_process_outlives_its_job_unreaped(self):
        """With no connection kept, each connection process exits after its
        job and the transport reaps it: its slot is free again (with
        smtp_connection_limit = 2, twelve messages need six times as many
        processes), the transport's only child left is the spawner, and no
        process of the instance is a zombie."""
        inst, sink = self.relay(smtp_destination_concurrency_limit="4",
                                smtp_connection_limit="2")
        subjects = send_n(inst, 12, "reap")
        self.wait_subjects(sink, subjects)
        smtp = self.transport(inst)
        wait_until(lambda: len(self.children(inst, smtp)) == 1, 20,
                   what=lambda: "one child of the transport, not %s"
                   % self.children(inst, smtp))
        zombies = lambda: [p for p in inst.pids() if
                           (stat_of(p) or ("", 0))[0] == "Z"]
        wait_until(lambda: not zombies(), 10,
                   what=lambda: "no zombie (%s)" % zombies())

    def test_killed_spawner_is_replaced(self):
        """SIGKILL to the spawner: it is logged, and the next message is
        delivered through a new spawner."""
        inst, sink = self.relay()
        self.wait_subjects(sink, send_n(inst, 1, "first"))
        smtp = self.transport(inst)
        wait_until(lambda: len(self.children(inst, smtp)) == 1, 20,
                   what="the spawner alone")
        spawner = self.children(inst, smtp)[0]
        os.kill(spawner, signal.SIGKILL)
        wait_until(lambda: re.search(r"connection process spawner %d "
                                     r"killed by signal 9" % spawner,
                                     inst.log()), 20,
                   what="the spawner's death in the log")
        self.wait_subjects(sink, send_n(inst, 3, "second"))
        wait_until(lambda: len(self.children(inst, smtp)) == 1, 20,
                   what="the new spawner alone")
        self.assertNotEqual(self.children(inst, smtp), [spawner])
        self.assertNotIn("status=deferred", inst.log())

    def test_hung_spawner_is_killed_and_the_job_retried(self):
        """A spawner that does not answer (stopped with SIGSTOP) is killed
        after 10 seconds; the job that waited for it is tried again on its
        own (nothing else happens in the instance) and delivered through a
        new spawner."""
        inst, sink = self.relay()
        self.wait_subjects(sink, send_n(inst, 1, "first"))
        smtp = self.transport(inst)
        wait_until(lambda: len(self.children(inst, smtp)) == 1, 20,
                   what="the spawner alone")
        spawner = self.children(inst, smtp)[0]
        os.kill(spawner, signal.SIGSTOP)
        self.addCleanup(lambda: stat_of(spawner) is None or
                        os.kill(spawner, signal.SIGKILL))
        subjects = send_n(inst, 1, "after-stop")
        wait_until(lambda: re.search(r"connection process spawner %d: no "
                                     r"answer" % spawner, inst.log()), 30,
                   what="the hung spawner in the log")
        self.wait_subjects(sink, subjects)
        wait_until(lambda: stat_of(spawner) is None, 10,
                   what="the hung spawner to be gone")
