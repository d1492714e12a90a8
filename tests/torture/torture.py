"""
torture - send mail to a tern suite for a fixed time while SIGKILLing its
processes at random, then prove that nothing it accepted was lost.

    TERN_BUILDDIR=... TERN_SRCDIR=... python3 torture.py [--seconds N]
        [--seed N] [--clients N] [--drain N] [--keep]

Run by `make torture` (TORTURE_SECONDS, default 600) and by
scripts/quickstart.sh test (120 seconds, in CI).  Uses the integration
harness (tests/integration/tern_harness.py) for the instance and an
aiosmtpd sink in a process of its own (torture_sink.py) as the remote
side; everything stays on 127.0.0.1 and 127.0.0.2.

Load: CLIENTS threads send uniquely numbered messages (X-Torture-Id and
the Subject; the body is a line repeated X-Torture-Lines times, so that
every copy received can be checked whole) of five kinds: local (a
Maildir of the instance), relayed (through relayhost to the sink, which
accepts), held (the sink answers 451 for a while, then accepts or
rejects with 550 so that tern bounces to the sender's local mailbox),
blocked (a local mailbox that is made unwritable and writable again at
random) and mixed (one recipient of each of local, relayed and held).
A message is accepted for the recipients that got 250 to RCPT when its
DATA got 250; anything else (a 4xx or 5xx, a broken connection, a
timeout) is not accepted and may or may not be delivered.

Killer: at random moments (seeded) SIGKILL one process of the suite:
smtpd, queued, lookupd, either deliverd, a delivery child, or ternd; when
ternd dies every other process of the suite is killed too and the suite
is restarted on the same spool.  Exactly once, between such a kill and
the restart, the queue index (spool/db/*) is removed, and queued is
killed again within moments of that restart, while it may be rebuilding
the index from the files.  Now and then `ternctl rebuild` runs and the
blocked mailbox changes state.  At least 50 kills happen whatever the
duration (the interval scales with it).

End: the load stops, the holds are released, the blocked mailbox opens,
`ternctl flush` runs until the queue is empty (or the drain deadline
passes), tern is stopped and the accounts are settled.  The unit of
account is one recipient of one accepted message: each must be
delivered (Maildir or sink) or, where the sink rejects it, bounced to
the sender with a DSN naming it.  Everything is printed at the end, the
last line but one being

    accepted=N delivered=N bounced=N lost=0 duplicates=N kills=N ...

and the exit status is 0 only when nothing was lost, nothing deliverable
bounced, no refused recipient got the message, every copy delivered was
whole (its body exactly what was sent), no daemon crashed on its
own (SIGSEGV, SIGABRT, ...) and the queue drained (1 otherwise; 2 when
the harness itself failed, for example fewer than 50 kills).
"""

import argparse
import os
import random
import re
import shutil
import signal
import smtplib
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

import tern_harness as th  # noqa: E402
from torture_sink import body_line, message_state  # noqa: E402

MIN_KILLS = 50
LOCAL_USERS = ("alice", "bob", "carol", "dave")
SENDER_USER = "sender"
BLOCKED_USER = "eve"
DOMAIN = "test.example"
SENDER = "%s@%s" % (SENDER_USER, DOMAIN)
SINK_HOST = "127.0.0.2"
KINDS = (("local", 35), ("relayed", 25), ("held", 15), ("blocked", 10),
         ("mixed", 15))
# What the killer aims at, and how often, relatively.
TARGETS = (("smtpd", 20), ("queued", 18), ("lookupd", 9),
           ("deliverd-local", 8), ("deliverd-smtp", 8),
           ("delivery-child", 17), ("ternd", 12))
ID_RE = re.compile(rb"^X-Torture-Id: (\d+)\r?$", re.M)
SMTP_ERRORS = (smtplib.SMTPException, OSError)


def say(text):
    print("torture: %s" % text, flush=True)


# --- load -------------------------------------------------------------------

class Attempt:
    """One message sent (or tried): its recipients and what came of it."""

    __slots__ = ("tid", "kind", "rcpts", "fates", "accepted", "qid",
                 "outcome")

    def __init__(self, tid, kind, rcpts, fates):
        self.tid = tid
        self.kind = kind
        self.rcpts = rcpts          # as sent, lowercase
        self.fates = fates          # rcpt -> "deliver" | "bounce"
        self.accepted = []          # recipients of a 250 to DATA
        self.qid = None
        # "accepted", "refused" (a reply other than 250), "broken" (the
        # connection failed or timed out), or None while in flight.
        self.outcome = None


class Load:
    """CLIENTS threads sending numbered messages until stop is set."""

    def __init__(self, inst, seed, clients, seconds):
        self.inst = inst
        self.seed = seed
        self.clients = clients
        self.max_hold = max(5, seconds // 5)
        self.lock = threading.Lock()
        self.attempts = {}
        self.next_id = 1
        self.stop = threading.Event()
        self.errors = []            # harness errors (exceptions in threads)
        self.threads = [threading.Thread(target=self._run, args=(k,),
                                         name="client-%d" % k, daemon=True)
                        for k in range(clients)]

    def start(self):
        for t in self.threads:
            t.start()

    def finish(self, timeout=90):
        self.stop.set()
        deadline = time.monotonic() + timeout
        for t in self.threads:
            t.join(max(0.1, deadline - time.monotonic()))
        return [t.name for t in self.threads if t.is_alive()]

    def accepted_count(self):
        with self.lock:
            return sum(1 for a in self.attempts.values()
                       if a.outcome == "accepted")

    def _new(self, rnd):
        with self.lock:
            tid = self.next_id
            self.next_id += 1
        kind = rnd.choices([k for k, _ in KINDS],
                           [w for _, w in KINDS])[0]
        fates = {}

        def held():
            fate = "bounce" if rnd.random() < 0.25 else "ok"
            r = "t%d-h%d-%s@defer.test" % (tid, rnd.randint(2, self.max_hold),
                                           fate)
            fates[r] = "bounce" if fate == "bounce" else "deliver"

        if kind in ("local", "mixed"):
            fates["%s@%s" % (rnd.choice(LOCAL_USERS), DOMAIN)] = "deliver"
        if kind in ("relayed", "mixed"):
            fates["u%d@relay.test" % rnd.randrange(10)] = "deliver"
        if kind in ("held", "mixed"):
            held()
        if kind == "blocked":
            fates["%s@%s" % (BLOCKED_USER, DOMAIN)] = "deliver"
        a = Attempt(tid, kind, list(fates), fates)
        with self.lock:
            self.attempts[tid] = a
        return a

    @staticmethod
    def _message(a, rnd):
        r = rnd.random()
        size = (rnd.randint(200, 2000) if r < 0.9 else
                rnd.randint(10000, 50000) if r < 0.995 else
                rnd.randint(100000, 300000))
        head = ("From: <%s>\r\nTo: %s\r\nSubject: torture %d %s\r\n"
                "Message-Id: <torture.%d@client.test>\r\n"
                "X-Torture-Id: %d\r\nX-Torture-Kind: %s\r\n"
                % (SENDER, ", ".join("<%s>" % x for x in a.rcpts), a.tid,
                   a.kind, a.tid, a.tid, a.kind))
        line = body_line(a.tid) + b"\r\n"
        n = max(1, size // len(line))
        return (head + "X-Torture-Lines: %d\r\n\r\n" % n).encode() + line * n

    def _send(self, s, a, rnd):
        """One transaction on s; returns False when s is unusable."""
        code, _ = s.mail(SENDER)
        if code != 250:
            a.outcome = "refused"
            s.rset()
            return True
        ok = []
        for r in a.rcpts:
            code, _ = s.rcpt(r)
            if code == 250:
                ok.append(r)
        if not ok:
            a.outcome = "refused"
            s.rset()
            return True
        code, text = s.data(self._message(a, rnd))
        if code == 250:
            with self.lock:
                a.accepted = ok
                a.qid = th.qid_from_reply(text)
                a.outcome = "accepted"
            return True
        a.outcome = "refused"
        return code != 421

    def _run(self, k):
        rnd = random.Random("%d-%d" % (self.seed, k))
        s = None
        left = 0
        try:
            while not self.stop.is_set():
                if s is None:
                    try:
                        s = smtplib.SMTP(self.inst.listen_host,
                                         self.inst.port,
                                         local_hostname="client.test",
                                         timeout=30)
                        s.ehlo()
                        left = rnd.randint(1, 10)
                    except SMTP_ERRORS:
                        s = self._drop(s)
                        time.sleep(rnd.uniform(0.1, 0.4))
                        continue
                a = self._new(rnd)
                try:
                    usable = self._send(s, a, rnd)
                except smtplib.SMTPResponseException:
                    # A refusal smtplib raises (DATA not answered 354).
                    if a.outcome is None:
                        a.outcome = "refused"
                    usable = False
                except SMTP_ERRORS:
                    if a.outcome is None:
                        a.outcome = "broken"
                    usable = False
                if a.outcome is None:
                    a.outcome = "broken"
                left -= 1
                if not usable or left <= 0:
                    if usable:
                        try:
                            s.quit()
                        except SMTP_ERRORS:
                            pass
                    s = self._drop(s)
        except Exception as e:  # a bug of this program, not of tern
            self.errors.append("%s: %r" % (threading.current_thread().name,
                                           e))
        self._drop(s)

    @staticmethod
    def _drop(s):
        if s is not None:
            try:
                s.close()
            except OSError:
                pass
        return None


# --- the suite's processes and the killer -----------------------------------

def proc_info(pid):
    """(comm, argv list, ppid) of pid, or None when it is gone."""
    try:
        with open("/proc/%d/comm" % pid, "rb") as f:
            comm = f.read().strip().decode(errors="replace")
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            argv = f.read().decode(errors="replace").split("\0")
        with open("/proc/%d/stat" % pid, "rb") as f:
            stat = f.read()
    except OSError:
        return None
    ppid = int(stat[stat.rfind(b")") + 2:].split()[1])
    return comm, argv, ppid


def classify(inst):
    """{target kind: [pids]} of the instance's live processes."""
    out = {k: [] for k, _ in TARGETS}
    ternd = inst.proc.pid if inst.proc is not None else None
    for pid in inst.pids():
        info = proc_info(pid)
        if info is None:
            continue
        comm, argv, ppid = info
        if pid == ternd or comm == "ternd":
            out["ternd"].append(pid)
        elif comm == "tern-smtpd":
            out["smtpd"].append(pid)
        elif comm == "tern-queued":
            out["queued"].append(pid)
        elif comm == "tern-lookupd":
            out["lookupd"].append(pid)
        elif comm == "tern-deliverd" and ppid != ternd:
            out["delivery-child"].append(pid)
        elif comm == "tern-deliverd" and "local" in argv:
            out["deliverd-local"].append(pid)
        elif comm == "tern-deliverd":
            out["deliverd-smtp"].append(pid)
    return out


class Mailbox:
    """The blocked user's Maildir: a plain file in its place blocks it."""

    def __init__(self, inst):
        self.base = os.path.join(inst.mailboxes, BLOCKED_USER)
        self.path = os.path.join(self.base, "Maildir")
        self.generation = 0
        self.blocks = 0

    def blocked(self):
        return os.path.isfile(self.path)

    def block(self):
        # A delivery may be creating the Maildir at the same moment: move
        # whatever directory is there aside (it keeps what it holds, and
        # a delivery that has it open finishes into it), then put the
        # file in its place.
        for _ in range(20):
            if os.path.isdir(self.path):
                self.generation += 1
                os.rename(self.path, "%s.%d" % (self.path, self.generation))
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL,
                             0o644)
            except FileExistsError:
                if self.blocked():
                    return
                continue
            os.write(fd, b"not a directory: deliveries are deferred\n")
            os.close(fd)
            self.blocks += 1
            return
        raise th.HarnessError("cannot block %s" % self.path)

    def unblock(self):
        if self.blocked():
            os.unlink(self.path)

    def dirs(self):
        """Every Maildir it had: the current one and those moved aside."""
        return [os.path.join(self.base, n) for n in os.listdir(self.base)
                if n.startswith("Maildir") and
                os.path.isdir(os.path.join(self.base, n))]


class Killer:
    """Kills, restarts, the one index removal, rebuilds; and the counts."""

    def __init__(self, inst, rnd, seconds, mailbox):
        self.inst = inst
        self.rnd = rnd
        self.seconds = seconds
        self.mailbox = mailbox
        self.target = max(MIN_KILLS + 10, seconds // 4)
        self.index_at = int(self.target * rnd.uniform(0.3, 0.7))
        self.kills = 0
        self.by_kind = {k: 0 for k, _ in TARGETS}
        self.restarts = 0
        self.index_removed = 0
        self.index_files = 0        # queue files in the spool at that time
        self.rebuilds = 0
        self.rebuild_failures = []
        self.toggles = 0
        self.events = []            # (wall-clock time, text)

    def note(self, text):
        self.events.append((time.time(), text))

    def run(self, until, progress):
        """Kill at random moments until the monotonic time until."""
        self.schedule(until, progress)
        # Restarts that took long near the end may have left too few.
        while self.kills < MIN_KILLS:
            self.note("one more kill to reach %d" % MIN_KILLS)
            self.kill_one()
            time.sleep(0.2)
        if not self.index_removed:
            self.index_at = self.kills
            self.kill_one()

    def schedule(self, until, progress):
        next_progress = time.monotonic() + 10
        while True:
            now = time.monotonic()
            if now >= until:
                return
            left = max(1, self.target - self.kills)
            wait = (until - now) / left * self.rnd.uniform(0.3, 1.7)
            wake = now + wait
            if wake >= until:
                time.sleep(until - now)
                return
            while time.monotonic() < wake:
                time.sleep(min(0.2, max(0.0, wake - time.monotonic())))
                if time.monotonic() >= next_progress:
                    progress()
                    next_progress += 10
            self.kill_one()
            r = self.rnd.random()
            if r < 0.08:
                self.rebuild()
            elif r < 0.25:
                self.toggle()

    def kill_one(self):
        forced = self.kills == self.index_at and not self.index_removed
        for _ in range(10):
            procs = classify(self.inst)
            if forced:
                kind = "ternd"
            else:
                present = [(k, w) for k, w in TARGETS if procs[k]]
                if not present:
                    time.sleep(0.2)
                    continue
                kind = self.rnd.choices([k for k, _ in present],
                                        [w for _, w in present])[0]
            if kind == "ternd":
                self.crash(remove_index=forced)
                return
            pid = self.rnd.choice(procs[kind])
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                continue
            self.count(kind, pid)
            return
        raise th.HarnessError("no process of the suite to kill")

    def count(self, kind, pid):
        self.kills += 1
        self.by_kind[kind] += 1
        self.note("kill %d: %s pid %d" % (self.kills, kind, pid))

    def crash(self, remove_index):
        """SIGKILL ternd, then everything else; maybe the index; restart."""
        pid = self.inst.proc.pid
        os.kill(pid, signal.SIGKILL)
        self.count("ternd", pid)
        self.inst.kill_all()
        if remove_index:
            self.index_files = len(self.inst.queue_files())
            db = os.path.join(self.inst.spool, "db")
            for name in os.listdir(db):
                p = os.path.join(db, name)
                if os.path.isdir(p) and not os.path.islink(p):
                    shutil.rmtree(p)
                else:
                    os.unlink(p)
            self.index_removed += 1
            self.note("queue index removed (%d queue files in the spool)"
                      % self.index_files)
        time.sleep(self.rnd.uniform(0, 0.5))
        if remove_index:
            self.start_and_interrupt_rebuild()
        else:
            self.inst.start(timeout=120)
        self.restarts += 1
        self.note("suite restarted")

    def start_and_interrupt_rebuild(self):
        """
        Start the suite and SIGKILL queued within moments of its start,
        while it may still be putting the files back into a new index:
        that must be safe to interrupt too.
        """
        failed = []

        def start():
            try:
                self.inst.start(timeout=120)
            except th.HarnessError as e:
                failed.append(e)

        starter = threading.Thread(target=start, daemon=True)
        starter.start()
        delay = self.rnd.uniform(0, 0.1)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            pids = (classify(self.inst)["queued"]
                    if self.inst.proc is not None else [])
            if pids:
                time.sleep(delay)
                try:
                    os.kill(pids[0], signal.SIGKILL)
                    self.count("queued", pids[0])
                    self.note("(queued killed %d ms after it appeared, "
                              "after the index removal)" % (delay * 1000))
                except ProcessLookupError:
                    pass
                break
            time.sleep(0.005)
        starter.join()
        if failed:
            raise failed[0]

    def rebuild(self):
        # Right after a kill of queued, wait for its successor.
        deadline = time.monotonic() + 10
        while True:
            r = ternctl(self.inst, "rebuild")
            if r.returncode == 0 or time.monotonic() > deadline or not \
               re.search(r"not running|queued stopped", r.stdout):
                break
            time.sleep(0.5)
        self.rebuilds += 1
        if r.returncode != 0:
            self.rebuild_failures.append(r.stdout.strip())
        self.note("ternctl rebuild: %d %s" % (r.returncode,
                                              r.stdout.strip()[:200]))

    def toggle(self):
        if self.mailbox.blocked():
            self.mailbox.unblock()
            self.note("%s's Maildir unblocked" % BLOCKED_USER)
        else:
            self.mailbox.block()
            self.note("%s's Maildir blocked" % BLOCKED_USER)
        self.toggles += 1


def ternctl(inst, *args, timeout=60):
    try:
        return subprocess.run([th.binary("ternctl"), "-c", inst.conf] +
                              list(args), stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True,
                              errors="replace", timeout=timeout)
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(args, 124, "ternctl %s timed out"
                                           % " ".join(args))


# --- the sink process -------------------------------------------------------

class SinkProcess:
    def __init__(self, tmp):
        self.port = th.free_port(SINK_HOST)
        self.records = os.path.join(tmp, "sink-records")
        self.log = open(os.path.join(tmp, "sink.log"), "ab")
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(
            [sys.executable, "-B", os.path.join(HERE, "torture_sink.py"),
             SINK_HOST, str(self.port), self.records],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=self.log)
        line = self.proc.stdout.readline()
        if line.strip() != b"ready":
            raise th.HarnessError("the sink did not start (%r)" % line)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def release(self):
        self.proc.send_signal(signal.SIGUSR1)

    def stop(self):
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()

    def received(self):
        """[(torture id or None, state, [recipients])] of every message."""
        out = []
        try:
            with open(self.records) as f:
                for line in f:
                    parts = line.split()
                    if len(parts) >= 2:
                        tid = int(parts[0]) if parts[0].isdigit() else None
                        out.append((tid, parts[1], parts[2:]))
        except FileNotFoundError:
            pass
        return out


# --- what landed where ------------------------------------------------------

def maildir_files(d):
    out = []
    for sub in ("new", "cur"):
        try:
            out.extend(os.path.join(d, sub, n)
                       for n in os.listdir(os.path.join(d, sub)))
        except FileNotFoundError:
            pass
    return out


def read_head(path, n=16384):
    with open(path, "rb") as f:
        return f.read(n)


def delivered_locally(inst, mailbox):
    """[(torture id or None, state, recipient, path)] from every Maildir."""
    out = []
    users = sorted(os.listdir(inst.mailboxes))
    for user in users:
        if user == SENDER_USER:
            continue
        if user == BLOCKED_USER:
            dirs = mailbox.dirs()
        else:
            dirs = [os.path.join(inst.mailboxes, user, "Maildir")]
        for d in dirs:
            for p in maildir_files(d):
                with open(p, "rb") as f:
                    tid, state = message_state(f.read())
                out.append((tid, state, "%s@%s" % (user, DOMAIN), p))
    return out


def parse_dsn(data):
    """(torture id or None, [(final recipient, action)], original qid)."""
    text = data.decode("utf-8", "replace").replace("\r\n", "\n")
    m = re.search(r"^X-Torture-Id: (\d+)$", text, re.M)
    q = re.search(r"^X-Tern-Queue-ID: (\S+)$", text, re.M)
    rcpts = []
    for para in text.split("\n\n"):
        f = re.search(r"^Final-Recipient: rfc822; ?(\S+)$", para, re.M)
        act = re.search(r"^Action: (\S+)$", para, re.M)
        if f and act:
            rcpts.append((f.group(1).lower(), act.group(1).lower()))
    return (int(m.group(1)) if m else None, rcpts, q.group(1) if q else None)


def bounces(inst):
    """[(torture id or None, recipient, action, path)] of the sender's DSNs."""
    out = []
    for p in maildir_files(os.path.join(inst.mailboxes, SENDER_USER,
                                        "Maildir")):
        with open(p, "rb") as f:
            tid, rcpts, _ = parse_dsn(f.read())
        if not rcpts:
            out.append((tid, None, None, p))
        for r, action in rcpts:
            out.append((tid, r, action, p))
    return out


def queue_ids(inst):
    """Torture ids of the messages still in the spool, with their paths."""
    out = {}
    for p in inst.queue_files():
        try:
            m = ID_RE.search(read_head(p, 65536))
        except OSError:
            continue
        out.setdefault(int(m.group(1)) if m else None, []).append(p)
    return out


def log_lines(inst, qids, limit=30):
    """{qid: [log lines naming it]} from the instance's log."""
    out = {q: [] for q in qids if q}
    if not out:
        return out
    pat = re.compile(r"\b(%s)\b" % "|".join(map(re.escape, out)))
    for line in inst.log().splitlines():
        for q in set(pat.findall(line)):
            if len(out[q]) < limit:
                out[q].append(line)
    return out


# --- the run ----------------------------------------------------------------

class Torture:
    def __init__(self, args):
        self.args = args
        self.seed = args.seed
        self.rnd = random.Random(self.seed)
        self.t0 = time.monotonic()
        self.failures = []          # why the run fails (tern's fault)
        self.harness = []           # why the run is void (this program's)
        self.drained = False
        self.drain_seconds = 0.0
        self.stop_status = "ok"
        self.inst = None
        self.sink = None

    def elapsed(self):
        return time.monotonic() - self.t0

    def setup(self):
        th.ensure_system_users()
        self.inst = th.TernInstance(
            name="torture", users=LOCAL_USERS + (SENDER_USER, BLOCKED_USER),
            smtpd_timeout="30s", minimal_backoff_time="1s",
            maximal_backoff_time="4s", smtpd_client_connection_limit="0",
            shutdown_timeout="10s")
        self.sink = SinkProcess(self.inst.tmp)
        self.inst.settings["relayhost"] = "[%s]:%d" % (SINK_HOST,
                                                       self.sink.port)
        self.inst.write_config()
        self.mailbox = Mailbox(self.inst)
        self.mailbox.block()
        self.sink.start()
        self.inst.start(timeout=60)
        self.load = Load(self.inst, self.seed, self.args.clients,
                         self.args.seconds)
        self.killer = Killer(self.inst, self.rnd, self.args.seconds,
                             self.mailbox)

    def progress(self):
        say("t=%ds accepted=%d attempts=%d kills=%d restarts=%d queue=%d"
            % (self.elapsed(), self.load.accepted_count(),
               len(self.load.attempts), self.killer.kills,
               self.killer.restarts, len(self.inst.queue_files())))

    def run(self):
        say("seed=%d seconds=%d clients=%d dir=%s"
            % (self.seed, self.args.seconds, self.args.clients,
               self.inst.tmp))
        self.load.start()
        until = time.monotonic() + self.args.seconds
        try:
            self.killer.run(until, self.progress)
        except th.HarnessError as e:
            # ternd did not come back, or processes did not die: tern's.
            self.failures.append("the suite did not survive a kill: %s" % e)
        stuck = self.load.finish()
        if stuck:
            self.harness.append("client threads did not stop: %s" % stuck)
        self.harness.extend(self.load.errors)
        if not self.sink.alive():
            self.harness.append("the sink process died")
        if self.killer.kills < MIN_KILLS:
            self.harness.append("only %d kills (at least %d are required)"
                                % (self.killer.kills, MIN_KILLS))
        self.run_seconds = self.elapsed()
        say("load stopped after %ds; draining" % self.run_seconds)

    def drain(self):
        start = time.monotonic()
        self.queue_listing = ""
        if self.inst.proc is None or self.inst.proc.poll() is not None:
            try:
                self.inst.kill_all()
                self.inst.start(timeout=120)
            except th.HarnessError as e:
                self.failures.append("the suite did not start to drain: %s"
                                     % e)
                self.sink.stop()
                return
        self.mailbox.unblock()
        self.sink.release()
        deadline = start + self.args.drain
        while time.monotonic() < deadline:
            ternctl(self.inst, "flush")
            time.sleep(2)
            if self.inst.queue_files():
                continue
            q = ternctl(self.inst, "queue")
            if q.returncode == 0 and "queue is empty" in q.stdout:
                self.drained = True
                break
        self.drain_seconds = time.monotonic() - start
        self.queue_listing = ternctl(self.inst, "queue").stdout
        try:
            self.inst.stop(timeout=60)
        except th.HarnessError as e:
            self.stop_status = "unclean"
            self.failures.append("tern did not stop cleanly: %s" % e)
        self.sink.stop()

    def settle(self):
        """Settle the accounts; returns the summary fields, in order."""
        attempts = self.load.attempts
        delivered = {}              # (id, rcpt) -> copies
        self.damaged = []           # (id, rcpt, where)
        for tid, state, rcpt, p in delivered_locally(self.inst,
                                                     self.mailbox):
            delivered[(tid, rcpt)] = delivered.get((tid, rcpt), 0) + 1
            if state != "whole":
                self.damaged.append((tid, rcpt, p))
        for tid, state, rcpts in self.sink.received():
            for r in rcpts:
                delivered[(tid, r)] = delivered.get((tid, r), 0) + 1
                if state != "whole":
                    self.damaged.append((tid, r, "the sink"))
        bounced = {}
        self.delays = 0
        self.odd_dsns = []
        for tid, r, action, p in bounces(self.inst):
            if action == "failed":
                bounced[(tid, r)] = bounced.get((tid, r), 0) + 1
            elif action == "delayed":
                self.delays += 1
            else:
                self.odd_dsns.append(p)
        units = [(a, r) for a in attempts.values() for r in a.accepted]
        acc = set((a.tid, r) for a, r in units)
        c = dict(accepted=len(units), delivered=0, bounced=0, lost=0,
                 duplicates=0, kills=self.killer.kills)
        self.lost = []
        self.unexpected = []
        both = 0
        for a, r in units:
            key = (a.tid, r)
            d, b = delivered.get(key, 0), bounced.get(key, 0)
            if d:
                c["delivered"] += 1
                c["duplicates"] += d - 1
                both += 1 if b else 0
            elif b:
                c["bounced"] += 1
                if a.fates[r] != "bounce":
                    self.unexpected.append((a, r))
            else:
                c["lost"] += 1
                self.lost.append((a, r))
        # Delivered without a 250: the client was not told it was
        # accepted (allowed), or its recipient was refused at RCPT while
        # others were accepted (never allowed: misdelivered).
        self.unconfirmed = {}
        self.misdelivered = []
        for k in delivered:
            a = attempts.get(k[0])
            if k in acc or a is None:
                continue
            if a.outcome == "accepted":
                self.misdelivered.append((a, k[1]))
            else:
                self.unconfirmed[a.outcome] = \
                    self.unconfirmed.get(a.outcome, 0) + 1
        strays = [k for k in list(delivered) + list(bounced)
                  if k[0] not in attempts]
        c["unconfirmed_delivered"] = sum(self.unconfirmed.values())
        c["misdelivered"] = len(self.misdelivered)
        c["unexpected_bounces"] = len(self.unexpected)
        c["duplicate_bounces"] = sum(n - 1 for k, n in bounced.items()
                                     if k in acc and n > 1)
        c["delivered_and_bounced"] = both
        c["strays"] = len(strays)
        c["messages"] = sum(1 for a in attempts.values()
                            if a.outcome == "accepted")
        c["attempts"] = len(attempts)
        c["queue_left"] = 0 if self.drained else \
            len(self.inst.queue_files())
        c["restarts"] = self.killer.restarts
        c["index_removed"] = self.killer.index_removed
        c["rebuilds"] = self.killer.rebuilds
        c["seed"] = self.seed
        self.strays = strays
        log = self.inst.log()
        # ternd's word on its children: an exit status, or a signal that
        # was not our SIGKILL (SIGTERM from ternd itself is no crash).
        self.exits = re.findall(
            r"^.*process tern-\S+ pid \d+ (?:exit status .*|killed by "
            r"signal (?!(?:9|4|5|6|7|8|11|31)$)\d+)$", log, re.M)
        # A crash signal, or a sanitizer's report (sanitizer builds).
        self.crashes = re.findall(
            r"^.*(?:process tern-\S+ pid \d+ killed by signal "
            r"(?:4|5|6|7|8|11|31)|ERROR: AddressSanitizer.*|: runtime "
            r"error: .*)$", log, re.M)
        c["crashes"] = len(self.crashes)
        c["damaged"] = len(self.damaged)
        order = ("accepted", "delivered", "bounced", "lost", "duplicates",
                 "kills", "unconfirmed_delivered", "misdelivered",
                 "unexpected_bounces", "duplicate_bounces",
                 "delivered_and_bounced", "strays", "damaged", "crashes",
                 "queue_left",
                 "messages", "attempts", "restarts", "index_removed",
                 "rebuilds", "seed")
        return {k: c[k] for k in order}

    def report(self, c):
        """Print everything, the summary line last but one; exit status."""
        attempts = self.load.attempts.values()
        k = self.killer
        log = self.inst.log()
        say("seed=%d seconds=%d clients=%d run=%.0fs drain=%.0fs "
            "drained=%s stop=%s"
            % (self.seed, self.args.seconds, self.args.clients,
               self.run_seconds, self.drain_seconds,
               "yes" if self.drained else "no", self.stop_status))
        say("kills=%d %s" % (k.kills, " ".join(
            "%s=%d" % (n, k.by_kind[n]) for n, _ in TARGETS)))
        say("restarts=%d index_removed=%d (at kill %d, %d queue files) "
            "rebuilds=%d rebuild_failures=%d blocked_mailbox_toggles=%d"
            % (k.restarts, k.index_removed, k.index_at + 1, k.index_files,
               k.rebuilds, len(k.rebuild_failures), k.toggles))
        outcomes = {}
        kinds = {}
        for a in attempts:
            outcomes[a.outcome] = outcomes.get(a.outcome, 0) + 1
            if a.outcome == "accepted":
                kinds[a.kind] = kinds.get(a.kind, 0) + 1
        say("attempts=%d %s; accepted messages by kind: %s"
            % (len(self.load.attempts), " ".join(
                "%s=%d" % (o, outcomes.get(o, 0))
                for o in ("accepted", "refused", "broken")),
               " ".join("%s=%d" % (n, kinds.get(n, 0)) for n, _ in KINDS)))
        say("log: recovered_from_files=%d (messages; %d times) "
            "unfinished_removed=%d moved_to_corrupt=%d missing_files=%d "
            "fatal_lines=%d delay_notices=%d odd_dsns=%d"
            % (len(set(re.findall(r"(%s): recovered from its queue file"
                                  % th.QID_PATTERN, log))),
               len(re.findall(r": recovered from its queue file", log)),
               len(re.findall(r": removed unfinished queue file", log)),
               len(self.inst.spool_files("corrupt")),
               len(re.findall(r": queue file missing:", log)),
               len(re.findall(r"\bfatal\b", log, re.I)),
               self.delays, len(self.odd_dsns)))
        say("delivered without a 250 (allowed): after a refusal=%d, after "
            "a broken connection=%d" % (self.unconfirmed.get("refused", 0),
                                        self.unconfirmed.get("broken", 0)))
        say("log: exits=%d (daemons that exited with a status or were "
            "stopped) crashes=%d (daemons that died of SIGSEGV, SIGABRT, "
            "..., or sanitizer reports)"
            % (len(self.exits), len(self.crashes)))
        for line in (self.exits + self.crashes)[:20]:
            print("    " + line, flush=True)
        if self.killer.rebuild_failures:
            say("ternctl rebuild failures: %s"
                % self.killer.rebuild_failures[:5])
        if not self.drained:
            say("the queue did not drain within %ds; still queued:\n%s"
                % (self.args.drain, self.queue_listing[:5000]))
        self.explain("LOST", self.lost)
        self.explain("BOUNCED BUT DELIVERABLE", self.unexpected)
        self.explain("DELIVERED TO A REFUSED RECIPIENT", self.misdelivered)
        for tid, r, where in self.damaged[:30]:
            say("DAMAGED: id %s to <%s> in %s (body not what was sent)"
                % (tid, r, where))
        if self.strays:
            say("messages nobody sent: %s" % self.strays[:20])
        for f in self.failures + self.harness:
            say("problem: %s" % f)
        status, verdict = self.verdict(c)
        if status != 0:
            self.timeline()
        print(" ".join("%s=%s" % kv for kv in c.items()), flush=True)
        say(verdict)
        return status

    def explain(self, what, units):
        if not units:
            return
        where = queue_ids(self.inst)
        qids = set(a.qid for a, _ in units[:30])
        lines = log_lines(self.inst, qids)
        for a, r in units[:30]:
            say("%s: id %d to <%s> (%s, queue id %s, accepted for %s)%s"
                % (what, a.tid, r, a.kind, a.qid, a.accepted,
                   " still in the spool: %s" % where[a.tid]
                   if a.tid in where else ""))
            for line in lines.get(a.qid, []):
                print("    " + line, flush=True)
        if len(units) > 30:
            say("... and %d more" % (len(units) - 30))

    def timeline(self):
        """What the killer did and when, to read beside the log."""
        say("what the killer did:")
        for t, text in self.killer.events:
            print("    %s.%03d %s" % (time.strftime("%H:%M:%S",
                                                  time.localtime(t)),
                                    int(t * 1000) % 1000, text), flush=True)

    def verdict(self, c):
        """(exit status, what to say last)."""
        if self.harness:
            return 2, "FAIL (the harness, not tern: see the problems above)"
        bad = [n for n in ("lost", "unexpected_bounces", "misdelivered",
                           "strays", "damaged", "queue_left", "crashes")
               if c[n]]
        if bad or self.failures or not self.drained:
            return 1, "FAIL: %s" % ", ".join(
                bad + ["problems"] * bool(self.failures) +
                ["not drained"] * (not self.drained))
        return 0, "PASS"

    def cleanup(self, status):
        if self.inst is not None:
            self.inst.cleanup()
        if self.sink is not None:
            self.sink.stop()
        if self.inst is not None:
            if status == 0 and not self.args.keep:
                self.inst.remove()
            else:
                say("kept %s (ternd.log, sink.log, sink-records, "
                    "mailboxes, spool)" % self.inst.tmp)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=int,
                    default=int(os.environ.get("TORTURE_SECONDS") or 600))
    ap.add_argument("--seed", type=int,
                    default=int(os.environ.get("TORTURE_SEED") or
                                random.SystemRandom().randrange(1 << 31)))
    ap.add_argument("--clients", type=int, default=6)
    ap.add_argument("--drain", type=int, default=600,
                    help="most seconds to wait for the queue to drain")
    ap.add_argument("--keep", action="store_true",
                    help="keep the temporary directory even on success")
    args = ap.parse_args()
    # Stopped from outside (make interrupted, a CI deadline): clean up.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(2))
    t = Torture(args)
    status = 2
    try:
        t.setup()
        t.run()
        t.drain()
        status = t.report(t.settle())
    finally:
        t.cleanup(status)
    return status


if __name__ == "__main__":
    sys.exit(main())
