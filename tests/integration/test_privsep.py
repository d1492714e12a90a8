"""
Root only: the network- and spool-facing processes give up root for good,
smtpd is chrooted to spool/empty, and local delivery writes as the mailbox
owner.  Skipped (not failed) when not run as root; CI runs as root.
"""

import os
import pwd
import time
import unittest

from tern_harness import (TernTestCase, is_root, proc_root, proc_uids,
                          smtp_connect, TERN_USER, TERN_QUEUE_USER)


@unittest.skipUnless(is_root(), "root only: privilege separation needs root")
class TestPrivsep(TernTestCase):

    def setUp(self):
        self.inst = self.instance()
        # Let the pool settle and every child finish its setup.
        time.sleep(1)

    def test_no_root_and_chroot(self):
        tern_uid = pwd.getpwnam(TERN_USER).pw_uid
        ternq_uid = pwd.getpwnam(TERN_QUEUE_USER).pw_uid
        empty = os.path.realpath(os.path.join(self.inst.spool, "empty"))
        smtp_root = os.path.realpath(os.path.join(self.inst.spool, "smtp"))
        smtpd = self.inst.pids("tern-smtpd")
        queued = self.inst.pids("tern-queued")
        lookupd = self.inst.pids("tern-lookupd")
        self.assertGreaterEqual(len(smtpd), 1, "no tern-smtpd running")
        self.assertEqual(len(queued), 1, "tern-queued: %r" % queued)
        self.assertEqual(len(lookupd), 1, "tern-lookupd: %r" % lookupd)
        checked = 0
        for pid in smtpd:
            # The pool forks each worker through a middle process that
            # exits at once: a listed one may be gone.
            uids, root = proc_uids(pid), proc_root(pid)
            if uids is None or root is None:
                continue
            self.assertEqual(uids, [tern_uid] * 4, "tern-smtpd %d uids" % pid)
            self.assertEqual(root, empty, "tern-smtpd %d not chrooted" % pid)
            checked += 1
        self.assertGreaterEqual(checked, 1, "no tern-smtpd checked")
        for pid in queued:
            self.assertEqual(proc_uids(pid), [ternq_uid] * 4,
                             "tern-queued %d uids" % pid)
        for pid in lookupd:
            self.assertEqual(proc_uids(pid), [tern_uid] * 4,
                             "tern-lookupd %d uids" % pid)
        # The smtp transport talks to the Internet: unprivileged and
        # chrooted too.  Only the local transport keeps root, to switch
        # to each mailbox owner.
        smtp_deliverd = [p for p in self.inst.pids("tern-deliverd")
                         if b"smtp" in open("/proc/%d/cmdline" % p,
                                            "rb").read().split(b"\0")]
        self.assertEqual(len(smtp_deliverd), 1,
                         "tern-deliverd -t smtp: %r" % smtp_deliverd)
        for pid in smtp_deliverd:
            self.assertEqual(proc_uids(pid), [tern_uid] * 4,
                             "tern-deliverd -t smtp %d uids" % pid)
            self.assertEqual(os.readlink("/proc/%d/root" % pid), smtp_root,
                             "tern-deliverd -t smtp %d not chrooted" % pid)
        # And ternd is the only other root process of the instance.
        ternd = self.inst.proc.pid
        for pid in self.inst.pids():
            if pid == ternd or pid in smtp_deliverd:
                continue
            try:
                with open("/proc/%d/cmdline" % pid, "rb") as f:
                    argv = f.read().split(b"\0")
            except FileNotFoundError:
                continue
            if 0 in (proc_uids(pid) or []):
                self.assertIn(b"local", argv,
                              "pid %d %r runs as root" % (pid, argv))
        # A session served now is served by an unprivileged process.
        with smtp_connect(self.inst) as s:
            s.sendmail("p@client.test", ["alice@test.example"],
                       b"Subject: privsep\r\n\r\nbody\r\n")
        self.inst.wait_for_delivery("alice", 1)
        for pid in self.inst.pids("tern-smtpd"):
            self.assertNotIn(0, proc_uids(pid) or [],
                             "tern-smtpd %d has uid 0" % pid)

    def outside_dirs(self, pid):
        """Directory descriptors of pid that lead outside its root, and
        its root; root None when pid is gone."""
        root = proc_root(pid)
        fddir = "/proc/%d/fd" % pid
        found = []
        try:
            fds = os.listdir(fddir)
        except FileNotFoundError:
            return None, []
        if root is None:
            return None, []
        for fd in fds:
            try:
                target = os.readlink(os.path.join(fddir, fd))
                isdir = os.path.isdir(os.path.join(fddir, fd))
            except OSError:
                continue            # closed meanwhile
            if isdir and target != root and \
                    not target.startswith(root + "/"):
                found.append((int(fd), target))
        return root, found

    def test_chroots_hold_no_directory_outside(self):
        # A directory descriptor from outside the chroot lets the process
        # fchdir() out of it: neither smtpd nor the smtp transport (whose
        # MTA-STS cache lives in its own chroot) may keep one.
        smtp_deliverd = [p for p in self.inst.pids("tern-deliverd")
                         if b"smtp" in open("/proc/%d/cmdline" % p,
                                            "rb").read().split(b"\0")]
        self.assertEqual(len(smtp_deliverd), 1)
        checked = 0
        for pid in smtp_deliverd + self.inst.pids("tern-smtpd"):
            root, found = self.outside_dirs(pid)
            if root is None:
                continue        # a pool's middle process, gone
            self.assertNotEqual(root, "/", "pid %d not chrooted" % pid)
            self.assertEqual(found, [], "pid %d (root %s) holds directories "
                             "outside its chroot" % (pid, root))
            checked += 1
        self.assertGreaterEqual(checked, 2)
        # The cache is there for the transport: open inside its root, a
        # root-owned directory that holds only the cache.
        smtp_root = os.path.realpath(os.path.join(self.inst.spool, "smtp"))
        cache = os.path.join(smtp_root, "mta-sts")
        st = os.stat(smtp_root)
        self.assertEqual((st.st_uid, st.st_mode & 0o7777), (0, 0o755))
        self.assertEqual(os.listdir(smtp_root), ["mta-sts"])
        st = os.stat(cache)
        self.assertEqual((st.st_uid, st.st_mode & 0o7777),
                         (pwd.getpwnam(TERN_USER).pw_uid, 0o700))
        fds = [os.readlink("/proc/%d/fd/%s" % (smtp_deliverd[0], fd))
               for fd in os.listdir("/proc/%d/fd" % smtp_deliverd[0])]
        self.assertIn(cache, fds)

    def test_delivery_as_mailbox_owner(self):
        nobody = pwd.getpwnam("nobody")
        self.inst.add_user("carol", owner="nobody")
        with smtp_connect(self.inst) as s:
            s.sendmail("p@client.test", ["carol@test.example"],
                       b"Subject: to carol\r\n\r\nbody\r\n")
        files = self.inst.wait_for_delivery("carol", 1)
        st = os.stat(files[0])
        self.assertEqual(st.st_uid, nobody.pw_uid,
                         "delivered file owned by uid %d" % st.st_uid)
        self.assertEqual(st.st_gid, nobody.pw_gid)
        for d in ("Maildir", "Maildir/new", "Maildir/tmp", "Maildir/cur"):
            st = os.stat(os.path.join(self.inst.mailboxes, "carol", d))
            self.assertEqual(st.st_uid, nobody.pw_uid, d)
