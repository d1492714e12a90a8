"""
The smtp transport's connection processes come from a spawner process
(deliverd/smtp_spawner.c), forked once from the transport, so that they
share its memory.  What must hold all the same: every connection process
is the transport's own child (reaped by it, counted against its limits,
never left behind as an orphan or a zombie), and a spawner that dies is
replaced without losing or delaying mail.
"""

import os
import pwd
import re
import signal
import subprocess
import sys

from sink import Sink
from tern_harness import TERN_USER, TernTestCase, free_port, wait_until
from test_remote_delivery import send_many


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

    def lone_spawner(self):
        """An instance after one relayed message, once its connection
        process has gone: (instance, sink, transport pid, spawner pid)."""
        inst, sink = self.relay()
        self.wait_subjects(sink, send_many(inst, "u@relay.test", 1,
                                           "first"))
        smtp = self.transport(inst)
        wait_until(lambda: len(self.children(inst, smtp)) == 1, 20,
                   what="the spawner alone")
        return inst, sink, smtp, self.children(inst, smtp)[0]

    def wait_subjects(self, sink, subjects, timeout=60):
        want = set(subjects)
        got = lambda: {re.search(rb"^Subject: (\S+)", m.data, re.M)
                       .group(1).decode() for m in sink.messages}
        wait_until(lambda: got() >= want, timeout,
                   what=lambda: "messages at the sink (missing %s)"
                   % sorted(want - got()))

    def test_connection_processes_are_reaped_children_of_the_transport(self):
        """While connections are open, every connection process is a child
        of the smtp transport (it reaps them, and ternd's stop reaches
        them); once each has closed its connection, only the spawner is
        left, and nothing of the instance is a zombie."""
        inst, sink = self.relay(smtp_connection_reuse_time="300s",
                                smtp_destination_concurrency_limit="4")
        subjects = send_many(inst, "u@relay.test", 12, "tree")
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
        subjects = send_many(inst, "u@relay.test", 12, "reap")
        self.wait_subjects(sink, subjects)
        smtp = self.transport(inst)
        wait_until(lambda: len(self.children(inst, smtp)) == 1, 20,
                   what=lambda: "one child of the transport, not %s"
                   % self.children(inst, smtp))
        zombies = lambda: [p for p in inst.pids() if
                           (stat_of(p) or ("", 0))[0] == "Z"]
        wait_until(lambda: not zombies(), 10,
                   what=lambda: "no zombie (%s)" % zombies())

    def test_one_connection_serves_every_waiting_job(self):
        """With one connection allowed and queued's window for the site
        grown to four jobs, three wait in the transport for the slot, which
        frees only when the busy process has been reaped.  At the end,
        when queued has no more to send, that reaping is the last event:
        the next job must start then, not when something else happens to
        wake the transport.  (The transport once handed out slots before
        freeing the reaped ones, and slept with jobs waiting whenever the
        SIGCHLD came while it was busy rather than in poll, which a
        loaded machine, the sanitizer run, made likely; an idle one
        seldom shows it.)"""
        inst, sink = self.relay(smtp_destination_concurrency_limit="4",
                                smtp_connection_limit="1")
        # Every round ends with jobs waiting and nothing more from
        # queued: five chances to meet the stall.
        for r in range(5):
            subjects = send_many(inst, "u@relay.test", 8, "slot%d" % r)
            self.wait_subjects(sink, subjects, timeout=30)
        self.assertEqual(len(sink.messages), 40)
        self.assertEqual(sink.max_concurrent, 1)
        self.assertNotIn("status=deferred", inst.log())

    def test_killed_spawner_is_replaced(self):
        """SIGKILL to the spawner: it is logged, and the next message is
        delivered through a new spawner."""
        inst, sink, smtp, spawner = self.lone_spawner()
        os.kill(spawner, signal.SIGKILL)
        wait_until(lambda: re.search(r"connection process spawner %d "
                                     r"killed by signal 9" % spawner,
                                     inst.log()), 20,
                   what="the spawner's death in the log")
        self.wait_subjects(sink, send_many(inst, "u@relay.test", 3, "second"))
        wait_until(lambda: len(self.children(inst, smtp)) == 1, 20,
                   what="the new spawner alone")
        self.assertNotEqual(self.children(inst, smtp), [spawner])
        self.assertNotIn("status=deferred", inst.log())

    def test_hung_spawner_is_killed_and_the_job_delivered(self):
        """A spawner that does not answer (stopped with SIGSTOP) is killed
        after 10 seconds, and the job that waited for it is delivered
        through a new spawner.  (The killed spawner's exit wakes the
        transport, so this does not exercise the one-second retry timer
        for a failed start; nothing in the suite does.)"""
        inst, sink, smtp, spawner = self.lone_spawner()
        os.kill(spawner, signal.SIGSTOP)
        self.addCleanup(lambda: stat_of(spawner) is None or
                        os.kill(spawner, signal.SIGKILL))
        subjects = send_many(inst, "u@relay.test", 1, "after-stop")
        wait_until(lambda: re.search(r"connection process spawner %d: no "
                                     r"answer" % spawner, inst.log()), 30,
                   what="the hung spawner in the log")
        self.wait_subjects(sink, subjects)
        wait_until(lambda: stat_of(spawner) is None, 10,
                   what="the hung spawner to be gone")

    def set_nproc(self, pid, soft):
        """Set the soft RLIMIT_NPROC of pid (None: up to its hard limit),
        as the instance's unprivileged user, who may change the limits of
        its own processes (root here may not: no CAP_SYS_RESOURCE in a
        container)."""
        code = ("import resource, sys\n"
                "pid = int(sys.argv[1])\n"
                "_, hard = resource.prlimit(pid, resource.RLIMIT_NPROC)\n"
                "soft = hard if sys.argv[2] == '-' else int(sys.argv[2])\n"
                "resource.prlimit(pid, resource.RLIMIT_NPROC, (soft, hard))\n")
        pw = pwd.getpwnam(TERN_USER)
        subprocess.run([sys.executable, "-c", code, str(pid),
                        "-" if soft is None else str(soft)],
                       user=pw.pw_uid, group=pw.pw_gid, extra_groups=[],
                       check=True)

    def test_failed_start_is_retried_every_second(self):
        """A connection process that cannot be started (the spawner's
        fork fails: its process limit is lowered to one) leaves its job
        waiting, and the transport tries again a second later on its
        own, with nothing else in the instance to wake it: the failure
        is logged again while the limit holds, and the message goes out
        within seconds once the limit is raised."""
        inst, sink, smtp, spawner = self.lone_spawner()
        self.set_nproc(spawner, 1)
        failed = lambda: len(re.findall(r"connection process spawner: "
                                        r"fork: ", inst.log()))
        subjects = send_many(inst, "u@relay.test", 1, "retried")
        wait_until(lambda: failed() >= 1, 20, what="a failed fork")
        wait_until(lambda: failed() >= 3, 10,
                   what=lambda: "two more tries (%d failures)" % failed())
        self.set_nproc(spawner, None)
        self.wait_subjects(sink, subjects, timeout=10)
        wait_until(lambda: self.children(inst, smtp) == [spawner], 20,
                   what="the same spawner alone again")
        self.assertNotIn("status=deferred", inst.log())
