"""
ternd as a supervisor: a daemon that dies is restarted and the death is
logged; a session in progress finishes when ternd is told to stop; ternd -n
names users that are missing.
"""

import os
import re
import signal
import smtplib
import subprocess
import time

from tern_harness import (TernTestCase, binary, is_root, proc_ppid,
                          smtp_connect, wait_until)
import unittest


class TestSupervise(TernTestCase):

    def _pids(self, inst, prog, transport):
        """Pids of prog; for deliverd only those of one transport (-t)."""
        out = []
        for pid in inst.pids(prog):
            try:
                with open("/proc/%d/cmdline" % pid, "rb") as f:
                    argv = f.read().split(b"\0")
            except OSError:
                continue
            if transport is None or transport.encode() in argv:
                out.append(pid)
        return out

    def _restart_after_kill(self, prog, transport=None):
        inst = self.instance()
        [old] = self._pids(inst, prog, transport)
        os.kill(old, signal.SIGKILL)
        wait_until(lambda: [p for p in self._pids(inst, prog, transport)
                            if p != old], 15, what="a new %s" % prog)
        self.assertRegex(inst.log(), r"process %s pid %d killed by signal 9"
                         % (re.escape(prog), old))
        # Mail flows again (smtpd processes tied to the dead daemon are
        # replaced; give the pool a moment).
        def send():
            try:
                with smtp_connect(inst, timeout=10) as s:
                    s.sendmail("a@client.test", ["alice@test.example"],
                               b"Subject: after %s\r\n\r\nx\r\n"
                               % prog.encode())
                return True
            except Exception:
                return False
        wait_until(send, 20, interval=0.5, what="a delivery after restart")
        inst.wait_for_delivery("alice", 1)

    def _smtpd_pids(self, inst):
        """(pool pid, worker pids): the pool is ternd's child, workers are
        forked by it but reparented to ternd (a child subreaper)."""
        pool, workers = None, []
        for pid in self._pids(inst, "tern-smtpd", "-z"):
            # Not the pool's middle process of a fork (gone: None).
            if proc_ppid(pid) != inst.proc.pid:
                continue
            try:
                os.kill(pid, 0)
            except OSError:
                continue
            # The pool logs "smtpd pool ready" under its own pid.
            if re.search(r"smtpd\[%d\]: smtpd pool ready" % pid, inst.log()):
                pool = pid
            else:
                workers.append(pid)
        return pool, workers

    def test_smtpd_pool_and_workers_supervised(self):
        inst = self.instance()
        pool, workers = wait_until(
            lambda: (lambda p, w: (p, w) if p and len(w) >= 3 else None)(
                *self._smtpd_pids(inst)), 15, what="the pool and workers")
        # A worker that dies is reaped and logged by ternd, although the
        # pool forked it, and a new one takes its place.
        victim = workers[0]
        os.kill(victim, signal.SIGKILL)
        wait_until(lambda: re.search(r"process tern-smtpd pid %d killed by "
                                     r"signal 9" % victim, inst.log()), 15,
                   what="ternd to reap the killed worker")
        # The pool itself: restarted, and its old workers keep serving.
        os.kill(pool, signal.SIGKILL)
        wait_until(lambda: re.search(r"process tern-smtpd pid %d killed by "
                                     r"signal 9" % pool, inst.log()), 15,
                   what="ternd to reap the killed pool")
        wait_until(lambda: (lambda p, w: p not in (None, pool))(
            *self._smtpd_pids(inst)), 15, what="a new pool")
        for i in range(8):
            with smtp_connect(inst, timeout=10) as s:
                s.sendmail("a@client.test", ["alice@test.example"],
                           b"Subject: pool %d\r\n\r\nx\r\n" % i)
        inst.wait_for_delivery("alice", 8)

    def test_lookupd_restarted(self):
        self._restart_after_kill("tern-lookupd")

    def test_queued_restarted(self):
        self._restart_after_kill("tern-queued")

    def test_deliverd_restarted(self):
        self._restart_after_kill("tern-deliverd", "local")

    def test_smtp_deliverd_restarted(self):
        self._restart_after_kill("tern-deliverd", "smtp")

    def test_sigterm_lets_session_finish(self):
        inst = self.instance()
        s = smtp_connect(inst)
        s.ehlo()
        self.assertEqual(s.mail("a@client.test")[0], 250)
        self.assertEqual(s.rcpt("bob@test.example")[0], 250)
        inst.signal_ternd(signal.SIGTERM)
        time.sleep(1)
        # The listener is closed to new clients: refused at once, not
        # queued behind the busy process's copy of the socket (a timeout
        # here is the failure this checks for)...
        with self.assertRaises((ConnectionRefusedError,
                                ConnectionResetError,
                                smtplib.SMTPServerDisconnected)):
            smtp_connect(inst, timeout=10).quit()
        # ...but the session in progress completes its message.
        code, text = s.data(b"Subject: during stop\r\n\r\nbody\r\n")
        self.assertEqual(code, 250, text)
        s.quit()
        s.close()
        inst.proc.wait(timeout=20)
        self.assertEqual(inst.proc.returncode, 0)
        self.assertEqual(len(inst.maildir_files("bob")), 1,
                         "accepted before the stop, delivered before exit")

    def test_detached_ternd_has_written_its_pid_file_when_it_returns(self):
        # An init system (systemd: Type=forking, PIDFile=) reads the pid
        # file as soon as the command it ran returns.
        inst = self.instance(start=False)
        r = subprocess.run([binary("ternd"), "-c", inst.conf],
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=30,
                           cwd=inst.tmp)
        self.assertEqual(r.returncode, 0, r.stdout)
        with open(os.path.join(inst.spool, "run", "ternd.pid")) as f:
            pid = int(f.read().strip())
        try:
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                self.assertIn(b"ternd", f.read().split(b"\0")[0])
        finally:
            os.kill(pid, signal.SIGTERM)
            wait_until(lambda: not os.path.exists("/proc/%d" % pid), 30,
                       what="the detached ternd to stop")

    @unittest.skipUnless(is_root(), "root only: users are checked as root")
    def test_check_names_missing_users(self):
        inst = self.instance(start=False)
        inst.settings["tern_user"] = "no_such_user_x"
        inst.settings["tern_queue_user"] = "no_such_user_y"
        inst.write_config()
        r = subprocess.run([binary("ternd"), "-n", "-c", inst.conf],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=30)
        out = r.stdout.decode(errors="replace")
        self.assertEqual(r.returncode, 1, out)
        self.assertIn("no_such_user_x does not exist", out)
        self.assertIn("no_such_user_y does not exist", out)
