"""
The descriptor limit: ternd raises it, before it starts anything, to what
the configuration may need (a channel per smtpd process in ternd, queued
and lookupd), so every process inherits it; it never lowers it, and when
the hard limit is too low for it (a root without CAP_SYS_RESOURCE, or
not root) it says so in the log with the remedy.  A reload that needs
more raises it; queued, lookupd and deliverd, which keep running, raise
theirs as they reread the configuration, and the smtpd pool is replaced.  Mail
still flows.
"""

import resource
import signal
import subprocess

from tern_harness import TernTestCase, proc_ppid, smtp_connect, wait_until

SMTPD_MAX_PROCS = 1000
NEED = SMTPD_MAX_PROCS + 1 + 128    # fd_limit_need: + responder, spare


def nofile(pid):
    """(soft, hard) descriptor limit of process pid."""
    with open("/proc/%d/limits" % pid) as f:
        for line in f:
            if line.startswith("Max open files"):
                soft, hard = line.split()[3:5]
                return int(soft), int(hard)
    raise AssertionError("no Max open files in /proc/%d/limits" % pid)


def live_nofile(pids):
    """{pid: (soft, hard)} of those of pids still running: an smtpd pool
    forks through a middle process that exits at once, so a listed
    process may be gone when its limits are read."""
    limits = {}
    for pid in pids:
        try:
            limits[pid] = nofile(pid)
        except FileNotFoundError:
            pass
    return limits


def hard_raisable():
    """A child of ours may raise its hard descriptor limit."""
    def probe():
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, 128))
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, 129))
    try:
        subprocess.run(["true"], preexec_fn=probe, check=True)
    except subprocess.SubprocessError:
        return False
    return True


class TestFdLimit(TernTestCase):

    def start(self, soft, hard, procs=SMTPD_MAX_PROCS):
        inst = self.instance(start=False, smtpd_max_procs=str(procs))
        inst.nofile = (soft, hard)
        inst.start()
        return inst

    def check_mail_flows(self, inst):
        with smtp_connect(inst) as s:
            s.sendmail("a@example.test", ["alice@localhost"],
                       b"Subject: fd\r\n\r\nbody\r\n")
        inst.wait_for_delivery("alice", 1)

    def test_raised_within_hard_limit_and_inherited(self):
        inst = self.start(256, 20000)
        self.assertEqual(nofile(inst.proc.pid), (NEED, 20000))
        for prog in ("tern-queued", "tern-lookupd", "tern-smtpd"):
            limits = live_nofile(inst.pids(prog))
            self.assertTrue(limits, prog)
            for pid, (soft, _) in limits.items():
                self.assertEqual(soft, NEED, "%s [%d]" % (prog, pid))
        self.assertIn("descriptor limit raised to %d" % NEED, inst.log())
        self.check_mail_flows(inst)

    def test_never_lowered(self):
        inst = self.start(8192, 20000)
        self.assertEqual(nofile(inst.proc.pid), (8192, 20000))
        self.assertNotIn("descriptor limit", inst.log())
        self.check_mail_flows(inst)

    def test_hard_limit_too_low(self):
        inst = self.start(256, 512)
        if hard_raisable():
            self.assertEqual(nofile(inst.proc.pid), (NEED, NEED))
            self.assertNotIn("this configuration may need", inst.log())
        else:
            self.assertEqual(nofile(inst.proc.pid), (512, 512))
            self.assertIn("the descriptor limit is 512, and this "
                          "configuration may need %d" % NEED, inst.log())
            self.assertIn("LimitNOFILE=", inst.log())
        self.check_mail_flows(inst)

    def test_reload_raises_it_for_running_processes_too(self):
        inst = self.start(256, 20000, procs=100)
        small = 10 + 512 + 128          # the local transport's need
        self.assertEqual(nofile(inst.proc.pid)[0], small)

        def children(prog):
            # ternd's own; those the delivery agents forked before the
            # reload keep the limit they were forked with.
            return [p for p in inst.pids(prog) if proc_ppid(p) == inst.proc.pid]
        running = {prog: children(prog)
                   for prog in ("tern-queued", "tern-lookupd")}
        for prog, pids in running.items():
            self.assertEqual(len(pids), 1, prog)
            self.assertEqual(nofile(pids[0]), (small, 20000), prog)
        inst.settings["smtpd_max_procs"] = str(SMTPD_MAX_PROCS)
        inst.write_config()
        inst.signal_ternd(signal.SIGHUP)
        wait_until(lambda: "reload: configuration reread" in inst.log(),
                   10, what="the reload")
        self.assertEqual(nofile(inst.proc.pid), (NEED, 20000))
        self.assertIn("descriptor limit raised to %d; the processes "
                      "running raise theirs" % NEED, inst.log())
        # queued and lookupd keep running and raise theirs; the delivery
        # agents raise theirs, or (chrooted) restart with ternd's.
        for prog, pids in running.items():
            wait_until(lambda: nofile(pids[0]) == (NEED, 20000), 10,
                       what="%s [%d] with the new limit" % (prog, pids[0]))
            self.assertEqual(children(prog), pids, "%s restarted" % prog)
        wait_until(lambda: set(live_nofile(children("tern-deliverd"))
                               .values()) == {(NEED, 20000)}, 10,
                   what="the delivery agents with the new limit")
        self.assertNotIn("this configuration may need", inst.log())
        # The smtpd pool restarts on a reload with the new limit.
        wait_until(lambda: any(soft == NEED for soft, _ in
                               live_nofile(inst.pids("tern-smtpd"))
                               .values()), 10,
                   what="an smtpd process with the new limit")
        self.check_mail_flows(inst)
