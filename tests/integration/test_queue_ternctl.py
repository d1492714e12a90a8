"""
ternctl and the control socket: status, config, queue listing, flush,
reload, stop; refusal of privileged requests to other users; a hostile
client cannot make ternd exit; a queued that dies before it answers
makes queue and rebuild fail instead of succeeding with no answer.
"""

import os
import pwd
import signal
import socket
import subprocess
import time

from tern_harness import (TernTestCase, binary, free_port, is_root,
                          smtp_connect, wait_until)

MSG = (b"From: alice@test.example\r\nTo: x@remote.test\r\n"
       b"Subject: ctl\r\n\r\nbody\r\n")


class TestTernctl(TernTestCase):

    def ternctl(self, inst, *args, user=None):
        cmd = [binary("ternctl"), "-c", inst.conf] + list(args)
        kw = {}
        if user is not None:
            pw = pwd.getpwnam(user)
            kw = dict(user=pw.pw_uid, group=pw.pw_gid, extra_groups=[])
        r = subprocess.run(cmd, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=30, **kw)
        return r.returncode, r.stdout.decode(), r.stderr.decode()

    def test_status_config_queue_flush(self):
        port = free_port("127.0.0.2")      # nothing listens: mail waits
        inst = self.instance(relayhost="[127.0.0.2]:%d" % port,
                             minimal_backoff_time="300s",
                             maximal_backoff_time="600s",
                             delay_warning_time="0")
        code, out, err = self.ternctl(inst, "status")
        self.assertEqual(code, 0, err)
        self.assertRegex(out, r"ternd pid \d+ running")
        self.assertRegex(out, r"tern-queued pid \d+")
        code, out, err = self.ternctl(inst, "config", "-n")
        self.assertEqual(code, 0, err)
        self.assertIn("myhostname = test.example\n", out)
        self.assertIn("maximal_backoff_time = 10m\n", out)
        # 300s is the default: -n leaves it out.
        self.assertNotIn("minimal_backoff_time", out)
        self.assertNotIn("smtp_destination_concurrency_limit", out)
        code, out, err = self.ternctl(inst, "config")
        self.assertEqual(code, 0, err)
        self.assertIn("smtp_destination_concurrency_limit = 20\n", out)
        self.assertIn("notify_classes = resource, software\n", out)

        with smtp_connect(inst) as s:
            s.sendmail("alice@test.example", ["x@remote.test"], MSG)
        wait_until(lambda: "status=deferred" in inst.log(), 20,
                   what="the first deferral")
        code, out, err = self.ternctl(inst, "queue")
        self.assertEqual(code, 0, err)
        self.assertRegex(out, r"(?m)^\w+[ *]\s+\d+ .*  "
                         r"alice@test\.example$")
        self.assertRegex(out, r"(?m)^\(.*\)\n +x@remote\.test$")

        # The retry is 5 minutes away; flush makes it now.
        n = inst.log().count("status=deferred")
        code, out, err = self.ternctl(inst, "flush")
        self.assertEqual(code, 0, err)
        wait_until(lambda: inst.log().count("status=deferred") > n, 20,
                   what="a retry after flush")
        self.assertIn("control: flush", inst.log())

        code, out, err = self.ternctl(inst, "reload")
        self.assertEqual(code, 0, err)
        wait_until(lambda: "reload: configuration reread" in inst.log(), 10,
                   what="the reload")
        code, out, err = self.ternctl(inst, "stop")
        self.assertEqual(code, 0, err)
        inst.proc.wait(timeout=30)
        self.assertIn("daemon stopped", inst.log())

    def test_hostile_clients(self):
        inst = self.instance()
        path = os.path.join(inst.spool, "run", "control")
        for junk in (b"\x00\xff" * 5000, b"x" * 100 + b"\n", b"\n",
                     b"queue queue queue\n", b""):
            c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            c.connect(path)
            try:
                c.sendall(junk)
            except OSError:
                pass
            c.close()
        # Many idle clients hold slots but do not stop others for long.
        idle = []
        for _ in range(20):
            c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            c.connect(path)
            idle.append(c)
        for c in idle:
            c.close()
        time.sleep(0.5)
        code, out, err = self.ternctl(inst, "status")
        self.assertEqual(code, 0, err)
        self.assertIsNone(inst.proc.poll(), "ternd exited")
        code, out, err = self.ternctl(inst, "frobnicate")
        self.assertEqual(code, 2)

    def test_unprivileged_user_refused(self):
        if not is_root():
            self.skipTest("root only: needs another uid")
        inst = self.instance()
        code, out, err = self.ternctl(inst, "status", user="nobody")
        self.assertEqual(code, 0, err)
        for cmd in ("rebuild", "reload", "stop"):
            code, out, err = self.ternctl(inst, cmd, user="nobody")
            self.assertEqual(code, 1, cmd)
            self.assertIn("permission denied", err)
        # Listing and flushing are for anyone (the listing shows only
        # their own messages: test_ternctl_admin.py).
        for cmd in ("flush", "queue"):
            code, out, err = self.ternctl(inst, cmd, user="nobody")
            self.assertEqual(code, 0, cmd)
        self.assertIsNone(inst.proc.poll(), "ternd exited")
        self.assertRegex(inst.log(), r"control: stop refused to uid \d+")


class TestTernctlQueuedGone(TernTestCase):

    def test_queue_and_rebuild_fail_when_queued_dies_before_answering(self):
        inst = self.instance()
        for cmd in ("queue", "rebuild"):
            old = wait_until(lambda: inst.pids("tern-queued"), 15,
                             what="tern-queued")
            # Stopped, it cannot answer; killed, it never will.
            os.kill(old[0], signal.SIGSTOP)
            asked = inst.log().count("control: %s (uid" % cmd)
            p = subprocess.Popen([binary("ternctl"), "-c", inst.conf, cmd],
                                 stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE)
            try:
                wait_until(lambda: inst.log().count(
                    "control: %s (uid" % cmd) > asked, 15,
                    what="ternd to pass %s to queued" % cmd)
                os.kill(old[0], signal.SIGKILL)
                out, err = p.communicate(timeout=60)
            finally:
                if p.poll() is None:
                    p.kill()
                    p.wait()
            self.assertEqual(p.returncode, 1, "ternctl %s: status %d, "
                             "stdout %r, stderr %r"
                             % (cmd, p.returncode, out, err))
            self.assertIn(b"queued stopped before it answered", err)
            wait_until(lambda: [q for q in inst.pids("tern-queued")
                                if q not in old], 15,
                       what="a new tern-queued")
        # The new queued answers as before.
        r = subprocess.run([binary("ternctl"), "-c", inst.conf, "queue"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=30)
        self.assertEqual((r.returncode, r.stdout), (0, b"Mail queue is empty\n"),
                         r.stderr)
