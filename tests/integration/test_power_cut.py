"""
Power cut: every message that got a 250 survives 20 power cuts under load
and is delivered.  Duplicates are allowed, losses are not.

The spool is on cutfs (tests/powercut), which keeps only what was made
durable (fsync/fdatasync of files, fsync of directories for their
entries) when its power is cut; the mailboxes are on the ordinary
filesystem, where deliveries are counted.  Each round: start tern on the
spool, let SENDERS clients send numbered messages, and at a random moment
(seeded; the seed is printed) kill -9 every tern process at once, cut the
filesystem's power and mount it again.  Every second cut is harsh: there
each unsynced page survives or not at random (a coin seeded from the
seed).  Berkeley DB's log files are made small (db/DB_CONFIG), so that
the index log changes files many times.  Half the rounds run without
queued's files made ahead (queue_file_pool_size = 0), so that the files
the loop makes, whose directory only the group commit syncs, meet the
cuts as surely as the pooled ones.  At the end tern runs until every
accepted message has been delivered.
Set TERN_POWER_CUT_SEED to replay a seed.
"""

import os
import pwd
import random
import re
import smtplib
import threading
import time

from cutfs_harness import CutFS
from tern_harness import (TERN_QUEUE_USER, HarnessError, TernTestCase,
                          is_root, qid_from_reply, wait_until)

CUTS = 20
SENDERS = 4
SUBJECT_RE = re.compile(rb"^Subject: powercut-(\d{6})$", re.M)
RECEIVED_ID_RE = re.compile(rb"\(tern\) with E?SMTP id ([0-9A-F]{16})")


class Load:
    """SENDERS clients sending numbered messages until stopped."""

    def __init__(self, port):
        self.port = port
        self.lock = threading.Lock()
        self.next_id = 0
        self.accepted = {}      # id -> (queue id, round)
        self.round = 0
        self.errors = 0
        self.last_error = None
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, daemon=True)
                        for _ in range(SENDERS)]

    def start(self):
        for t in self.threads:
            t.start()

    def count(self):
        with self.lock:
            return len(self.accepted)

    def _send_one(self, s):
        with self.lock:
            i = self.next_id
            self.next_id += 1
        msg = ("From: load@client.test\r\nTo: alice@test.example\r\n"
               "Subject: powercut-%06d\r\n\r\n" % i).encode()
        # A few lines of body, so that messages span several sizes.
        msg += b"line of the message body\r\n" * (i % 7 * 11)
        s.mail("load@client.test")
        s.rcpt("alice@test.example")
        code, text = s.data(msg)
        if code == 250:
            qid = qid_from_reply(text)
            with self.lock:
                self.accepted[i] = (qid, self.round)

    def _run(self):
        s = None
        while not self.stop.is_set():
            try:
                if s is None:
                    s = smtplib.SMTP("127.0.0.1", self.port,
                                     local_hostname="load.client.test",
                                     timeout=10)
                    s.ehlo()
                self._send_one(s)
            except (smtplib.SMTPException, OSError) as e:
                with self.lock:
                    self.errors += 1
                    self.last_error = repr(e)
                if s is not None:
                    try:
                        s.close()
                    except OSError:
                        pass
                s = None
                time.sleep(0.05)
        if s is not None:
            try:
                s.close()
            except OSError:
                pass

    def finish(self, timeout=30):
        self.stop.set()
        for t in self.threads:
            t.join(timeout)
        return not any(t.is_alive() for t in self.threads)


class TestPowerCut(TernTestCase):
    time_limit = 300

    def test_spool_layout_survives_a_power_cut_after_first_start(self):
        if not is_root():
            self.skipTest("root only: mounts a FUSE filesystem with "
                          "allow_other for tern's _tern and _ternq")
        inst = self.instance(start=False)
        fs = CutFS(inst.spool, os.path.join(inst.tmp, "cutfs.img"),
                   os.path.join(inst.tmp, "cutfs.log"))
        self.addCleanup(fs.cleanup)
        self.addCleanup(inst.cleanup)
        fs.mount()
        inst.start()
        inst.kill_all()
        fs.cut()
        fs.mount()
        q = pwd.getpwnam(TERN_QUEUE_USER)
        want = {"db": (q.pw_uid, 0o700), "msg": (q.pw_uid, 0o700),
                "empty": (0, 0o555), "run": (0, 0o755)}
        want.update(("msg/%X" % i, (q.pw_uid, 0o700)) for i in range(16))
        have = {}
        for d in want:
            try:
                st = os.stat(os.path.join(inst.spool, d))
                have[d] = (st.st_uid, st.st_mode & 0o7777)
            except FileNotFoundError:
                pass
        self.assertEqual(have, want, "spool layout after the cut")

    def test_acknowledged_mail_survives_power_cuts(self):
        if not is_root():
            self.skipTest("root only: mounts a FUSE filesystem with "
                          "allow_other for tern's _tern and _ternq")
        seed = int(os.environ.get("TERN_POWER_CUT_SEED") or
                   random.SystemRandom().randrange(1 << 31))
        print("    power cut seed %d (TERN_POWER_CUT_SEED=%d replays it)"
              % (seed, seed), flush=True)
        rnd = random.Random(seed)
        inst = self.instance(start=False)
        fs = CutFS(inst.spool, os.path.join(inst.tmp, "cutfs.img"),
                   os.path.join(inst.tmp, "cutfs.log"))
        self.addCleanup(fs.cleanup)
        self.addCleanup(inst.cleanup)   # runs first: nothing uses the fs
        fs.mount()
        self._small_bdb_logs(inst.spool)
        load = Load(inst.port)
        self.addCleanup(load.finish)
        in_queue = []
        try:
            for k in range(CUTS):
                with load.lock:
                    load.round = k
                # Half the rounds without the pool, gentle and harsh
                # cuts alike (harsh ones end the odd rounds).
                inst.settings["queue_file_pool_size"] = \
                    "0" if k % 4 in (1, 2) else None
                inst.write_config()
                inst.start()
                if k == 0:
                    load.start()
                base = load.count()
                target = base + rnd.randrange(1, 100)
                wait_until(lambda: load.count() >= target, 60,
                           what=lambda: "%d accepted messages in round %d "
                           "(seed %d; last error %s)"
                           % (target - base, k, seed, load.last_error))
                time.sleep(rnd.random() * 0.3)
                inst.kill_all()
                in_queue.append(len(self._undelivered(inst, load)))
                fs.cut()
                # The cut that ends the next round is harsh every second
                # time (cutfs takes the mode when it mounts).
                fs.harsh_seed = rnd.randrange(1 << 31) if k % 2 == 0 \
                    else None
                fs.mount()
            self.assertTrue(load.finish(), "senders did not stop")
            inst.start()
            self._wait_all_delivered(inst, load, seed)
            inst.wait_queue_empty(60)
            inst.stop()
            last_log = max(int(n[4:]) for n in
                           os.listdir(os.path.join(inst.spool, "db"))
                           if re.fullmatch(r"log\.\d{10}", n))
        except HarnessError as e:
            raise AssertionError("%s (seed %d)" % (e, seed))
        self._check(inst, fs, load, seed, in_queue, last_log)

    def _small_bdb_logs(self, spool):
        """
        Berkeley DB log files of 256 KiB instead of 10 MiB, so that the
        log changes files (and checkpoints remove old ones) many times
        during the test, as it does over days of real traffic.  Written
        before the first start, as an administrator would, and synced.
        """
        db = os.path.join(spool, "db")
        os.mkdir(db, 0o700)
        path = os.path.join(db, "DB_CONFIG")
        with open(path, "w") as f:
            f.write("set_lg_max 262144\n")
            f.flush()
            os.fsync(f.fileno())
        for d in (db, spool):
            fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
            os.fsync(fd)
            os.close(fd)

    def _delivered(self, inst):
        """{message number: [queue ids of its deliveries]}"""
        seen = {}
        for data in inst.maildir_messages("alice"):
            m = SUBJECT_RE.search(data)
            r = RECEIVED_ID_RE.search(data)
            self.assertIsNotNone(m, data[:300])
            seen.setdefault(int(m.group(1)), []).append(
                r.group(1).decode() if r else None)
        return seen

    def _undelivered(self, inst, load):
        with load.lock:
            accepted = set(load.accepted)
        return accepted - set(self._delivered(inst))

    def _wait_all_delivered(self, inst, load, seed):
        """Until every accepted message is delivered or the queue is
        empty (then what is missing is lost: _check says which, and why)."""
        try:
            wait_until(lambda: not self._undelivered(inst, load) or
                       not inst.queue_files(), 90,
                       what="every accepted message delivered")
        except HarnessError:
            pass

    def _check(self, inst, fs, load, seed, in_queue, last_log):
        seen = self._delivered(inst)
        with load.lock:
            accepted = dict(load.accepted)
        lost = sorted(set(accepted) - set(seen))
        dups = sum(len(v) - 1 for v in seen.values())
        cut_losses = sum(c["lost_nodes"] + c["lost_pages"] +
                         c["unsynced_dirs"] for c in fs.cuts)
        summary = ("power cuts: %d, messages accepted: %d, delivered: %d, "
                   "lost: %d, duplicates: %d"
                   % (len(fs.cuts), len(accepted),
                      len(set(accepted) & set(seen)), len(lost), dups))
        if lost:
            log = inst.log()
            detail = []
            for i in lost[:10]:
                qid, rnd_ = accepted[i]
                detail.append("message %d, %s, accepted in round %d "
                              "(cut: %s):" % (i, qid, rnd_, fs.cuts[rnd_]))
                detail.extend("      " + line for line in log.splitlines()
                              if qid and qid in line)
            self.fail("%s (seed %d)\n%s" % (summary, seed,
                                            "\n".join(detail)))
        print("    " + summary, flush=True)
        print("    (seed %d; messages not yet delivered at each cut: %s; "
              "send errors %d; last log file %d)"
              % (seed, in_queue, load.errors, last_log), flush=True)
        self.assertEqual(len(fs.cuts), CUTS)
        # Not vacuous: the cuts threw state away, and they caught mail
        # in the queue.
        self.assertGreater(cut_losses, 0, "the cuts lost nothing: %s"
                           % fs.cuts)
        self.assertGreater(sum(in_queue), 0,
                           "no cut caught a message in the queue")
        self.assertGreaterEqual(len(accepted), CUTS)
        self.assertGreater(last_log, 1, "the index log never changed files")
