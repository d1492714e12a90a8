"""
tern_harness - start a whole tern suite in a temporary directory on a
loopback port and look at what it did.

Used by every tests/integration/test_*.py module (through TernTestCase) and
by runner.py.  It talks only to 127.0.0.1; it never touches processes it did
not start (processes are found by the configuration path of this instance,
which lives in this instance's private temporary directory).
"""

import atexit
import contextlib
import fcntl
import grp
import json
import os
import pwd
import random
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest

QID_RE = re.compile(rb"queued as ([0-9A-F]{16})\b")
QID_PATTERN = "[0-9A-F]{16}"

TERN_USER = "_tern"
TERN_QUEUE_USER = "_ternq"
TERN_DROP_GROUP = "_terndrop"
TERN_ADMIN_GROUP = "ternadm"

# Every TernInstance created while a test runs; runner.py reads and clears it
# to print log tails of failed tests and to remove temporary directories.
INSTANCES = []
_instances_lock = threading.Lock()


class HarnessError(AssertionError):
    """Something the test needs is missing or did not happen in time."""


def builddir():
    d = os.environ.get("TERN_BUILDDIR")
    if not d:
        raise HarnessError("TERN_BUILDDIR is not set (absolute build dir)")
    return os.path.abspath(d)


def srcdir():
    d = os.environ.get("TERN_SRCDIR")
    if not d:
        raise HarnessError("TERN_SRCDIR is not set (absolute source dir)")
    return os.path.abspath(d)


# What the sanitizers write when they find something.
SANITIZER_REPORT_RE = re.compile(r"ERROR: (Address|Leak)Sanitizer|"
                                 r"runtime error: |"
                                 r"LeakSanitizer has encountered a fatal")


def proc_uids(pid):
    """The real, effective, saved and filesystem uids of process pid, or
    None when it is gone."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("Uid:"):
                    return [int(x) for x in line.split()[1:]]
    except OSError:
        return None
    return None


def proc_ppid(pid):
    """The parent of process pid, or None when it is gone."""
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            stat = f.read()
    except OSError:
        return None
    return int(stat[stat.rfind(b")") + 2:].split()[1])


def ternctl_stats(inst):
    """ "ternctl stats --json" of inst, as a dict."""
    r = subprocess.run([binary("ternctl"), "-c", inst.conf, "stats",
                        "--json"], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=30, check=True)
    return json.loads(r.stdout.decode())


def proc_root(pid):
    """The root directory of process pid, or None when it is gone."""
    try:
        return os.readlink("/proc/%d/root" % pid)
    except FileNotFoundError:
        return None


def sanitizer_build():
    """The build under test was configured with --enable-sanitizers (its
    processes' memory figures then include ASan's shadow and
    quarantine)."""
    try:
        with open(os.path.join(builddir(), "config.log"),
                  errors="replace") as f:
            return "--enable-sanitizers" in f.read(4096)
    except OSError:
        return False


_PROGDIR = []


def _reachable_by_all(path):
    """Every directory from / down to path lets any user pass (o+x)."""
    while True:
        if not os.stat(path).st_mode & 0o001:
            return False
        parent = os.path.dirname(path)
        if parent == path:
            return True
        path = parent


def progdir():
    """Where tests run the built programs from: the build directory, or,
    when a user other than root could not reach it (a checkout under
    /root or a mktemp -d directory, mode 0700), a copy of its programs
    in a directory everyone can reach, made once per run.  Tests run
    sendmail, ternctl and the daemons as other users."""
    if _PROGDIR:
        return _PROGDIR[0]
    d = builddir()
    if not _reachable_by_all(d):
        copy = tempfile.mkdtemp(prefix="tern-it-bin-")
        atexit.register(shutil.rmtree, copy, True)
        os.chmod(copy, 0o755)
        for n in sorted(os.listdir(d)):
            src = os.path.join(d, n)
            if (os.path.isfile(src) and os.access(src, os.X_OK) and
                    (n.startswith("tern") or n in ("sendmail", "mailq",
                                                   "newaliases"))):
                shutil.copy2(src, os.path.join(copy, n))
        d = copy
    _PROGDIR.append(d)
    return d


def binary(name):
    """Path of a built program; fails the test when it is missing."""
    path = os.path.join(progdir(), name)
    if not os.access(path, os.X_OK):
        raise HarnessError("missing program %s (not built?)" % path)
    return path


def is_root():
    return os.geteuid() == 0


def ensure_system_users():
    """As root, create _tern and _ternq, the group _terndrop of
    tern-postdrop (setgid_group) and the group ternadm
    (tern_admin_group), when they do not exist."""
    if not is_root():
        return
    with host_lock():
        _ensure_system_users()


def _ensure_system_users():
    try:
        grp.getgrnam(TERN_ADMIN_GROUP)
    except KeyError:
        subprocess.run(["groupadd", "--system", TERN_ADMIN_GROUP],
                       check=True, timeout=30)
    for user in (TERN_USER, TERN_QUEUE_USER):
        try:
            pwd.getpwnam(user)
        except KeyError:
            subprocess.run(
                ["useradd", "--system", "--no-create-home",
                 "--shell", "/usr/sbin/nologin", user],
                check=True, timeout=30)
    try:
        grp.getgrnam(TERN_DROP_GROUP)
    except KeyError:
        subprocess.run(["groupadd", "--system", TERN_DROP_GROUP],
                       check=True, timeout=30)


_ports_given = set()


def _worker_share():
    """(k, n): this process is worker k of n that the runner runs at once
    (0, 1 when it runs tests in one process)."""
    try:
        k = int(os.environ.get("TERN_TEST_WORKER", "0"))
        n = int(os.environ.get("TERN_TEST_WORKERS", "1"))
    except ValueError:
        return 0, 1
    return (k, n) if 0 <= k < n else (0, 1)


def _ephemeral_low():
    """The lowest port the kernel gives outgoing connections."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port(host="127.0.0.1"):
    """
    A TCP port nothing listens on right now, below the kernel's range for
    outgoing connections: a port from that range (the kernel's choice for
    bind to port 0) can be taken by some test's outgoing connection in
    the moment before ternd binds it ("Address already in use").  Never
    the same port twice in one run: the runner's workers each take only
    the ports whose number modulo the number of workers is their own
    number, so a port one worker leaves unused (a destination that is
    down) is never another's listener.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    k, n = _worker_share()
    hi = _ephemeral_low() - 1
    lo = max(1024, hi - 12000)
    for _ in range(500):
        port = random.randint(lo, hi)
        port -= (port - k) % n
        if port < lo or port in _ports_given:
            continue
        with socket.socket(family, socket.SOCK_STREAM) as s:
            try:
                s.bind((host, port))
            except OSError:
                continue
        _ports_given.add(port)
        return port
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def host_lock():
    """
    Held while a test changes what every test process on the machine
    shares (the passwd file, loop devices): the runner's parallel workers
    take turns there.  The lock file is the runner's (TERN_TEST_LOCK);
    without one, nothing to wait for.
    """
    path = os.environ.get("TERN_TEST_LOCK")
    if not path:
        yield
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _userdel(name):
    with host_lock():
        subprocess.run(["userdel", name], timeout=30)


def add_passwd_user(test, name, home="/nonexistent"):
    """
    As root, a passwd user name (home directory home, not created, shell
    nologin) that test removes at its cleanup; returns its pwd entry.
    """
    with host_lock():
        subprocess.run(["useradd", "--no-create-home", "--home-dir", home,
                        "--shell", "/usr/sbin/nologin", name],
                       check=True, timeout=30)
    test.addCleanup(_userdel, name)
    return pwd.getpwnam(name)


def wait_until(pred, timeout, interval=0.1, what="condition"):
    """
    Poll pred() until it returns a true value; HarnessError on timeout
    (what, a string or a function returning one, says what was awaited).
    """
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= deadline:
            if callable(what):
                what = what()
            raise HarnessError("timed out after %.1fs waiting for %s"
                               % (timeout, what))
        time.sleep(interval)


def unfold(text):
    """RFC 5322 unfolding of header text (LF line endings)."""
    return re.sub(r"\n[ \t]", " ", text)


def split_delivered(data):
    """
    Split a delivered file (bytes, LF endings) into (added headers, rest):
    the leading Return-Path, Delivered-To and Received fields, each with its
    continuation lines, and the bytes after them.
    """
    lines = data.split(b"\n")
    fields = []
    i = 0
    while i < len(lines):
        m = re.match(rb"(Return-Path|Delivered-To|Received):", lines[i])
        if not m:
            break
        field = lines[i]
        i += 1
        while i < len(lines) and lines[i][:1] in (b" ", b"\t"):
            field += b"\n" + lines[i]
            i += 1
        fields.append(field)
        # Only the first Received: is tern's; the sender's own belong to
        # the message.
        if m.group(1) == b"Received":
            break
    rest = b"\n".join(lines[i:])
    return fields, rest


# --- raw SMTP client ----------------------------------------------------------

class RawSMTP:
    """A bare socket client: exact bytes out, parsed replies in."""

    def __init__(self, port, host="127.0.0.1", timeout=30):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = b""

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def _line(self):
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("server closed the connection "
                                      "(pending: %r)" % self.buf)
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.rstrip(b"\r")

    def reply(self):
        """One (possibly multi-line) reply: (code, [texts])."""
        texts = []
        while True:
            line = self._line()
            if len(line) < 3 or not line[:3].isdigit():
                raise ValueError("malformed reply line %r" % line)
            texts.append(line[4:].decode("utf-8", "replace"))
            if line[3:4] != b"-":
                return int(line[:3]), texts

    def cmd(self, line):
        self.send(line + "\r\n")
        return self.reply()

    def pending(self, wait=0.5):
        """Whatever the server sends within wait seconds (bytes)."""
        self.sock.settimeout(wait)
        data = self.buf
        self.buf = b""
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    break
                data += chunk
        except (socket.timeout, TimeoutError):
            pass
        return data

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


# --- the instance -------------------------------------------------------------

class TernInstance:
    """One tern suite (ternd and its children) in its own temporary dir."""

    DEFAULT_USERS = ("alice", "bob", "carol", "dave")

    def __init__(self, name="tern", users=DEFAULT_USERS, aliases=None,
                 hostname="test.example", listen_host="127.0.0.1", port=None,
                 **settings):
        ensure_system_users()
        self.name = name
        self.tmp = tempfile.mkdtemp(prefix="tern-it-%s-" % name)
        os.chmod(self.tmp, 0o755)
        # Several "hosts" are several loopback addresses (127.0.0.2, ...)
        # that may share one port (smtp_port of the sending instance).
        self.listen_host = listen_host
        self.port = port or free_port(listen_host)
        self.hostname = hostname
        self.conf = os.path.join(self.tmp, "tern.conf")
        self.spool = os.path.join(self.tmp, "spool")
        self.mailboxes = os.path.join(self.tmp, "mailboxes")
        self.logpath = os.path.join(self.tmp, "ternd.log")
        self.aliases_path = os.path.join(self.tmp, "aliases")
        self.proc = None
        self.verbose = False        # ternd -v: debug lines in the log
        self.ternd_state = None     # set by the first cleanup()
        # A user name: ternd starts as that user instead of root (no
        # privilege separation, no chroot; the caller makes the files
        # it needs that user's).
        self.run_as = None
        self.env = {}               # added to ternd's environment
        # (soft, hard): ternd starts with this descriptor limit (prlimit)
        self.nofile = None
        self.sessions = set()
        self._logfp = None
        with _instances_lock:
            INSTANCES.append(self)
        os.mkdir(self.mailboxes)
        os.chmod(self.mailboxes, 0o755)
        for u in users:
            self.add_user(u)
        self.settings = {
            "myhostname": hostname,
            "spool_dir": self.spool,
            "daemon_directory": progdir(),
            "smtp_listen": "%s:%d" % (listen_host, self.port),
            "local_domains": "%s, localhost" % hostname,
            "mailbox_base": self.mailboxes,
            "alias_maps": self.aliases_path,
            "mynetworks": "127.0.0.0/8",
            "smtpd_min_spare": "3",
            "smtpd_max_procs": "120",
            "minimal_backoff_time": "1s",
            "maximal_backoff_time": "2s",
            "smtpd_timeout": "60s",
            "shutdown_timeout": "5s",
            "daemon_restart_backoff_max": "1s",
            # Tests talk only to loopback: never the system's resolver.
            # Nothing listens on this port, so a lookup fails at once as
            # a temporary error; tests that need DNS run dnsmasq and set
            # their own dns_servers.
            "dns_servers": "127.0.0.1:1",
        }
        self.settings.update(settings)
        self.write_aliases(aliases or {})
        self.write_config()

    # -- files --

    def add_user(self, user, owner=None):
        """Create the mailbox directory that makes user a local user."""
        d = os.path.join(self.mailboxes, user)
        os.makedirs(d, exist_ok=True)
        os.chmod(d, 0o755)
        if owner is not None:
            pw = pwd.getpwnam(owner)
            os.chown(d, pw.pw_uid, pw.pw_gid)
        return d

    def write_config(self, extra_lines=()):
        with open(self.conf, "w") as f:
            f.write("# written by tests/integration/tern_harness.py\n")
            for k, v in self.settings.items():
                if v is not None:
                    f.write("%s = %s\n" % (k, v))
            for line in extra_lines:
                f.write(line + "\n")

    def write_aliases(self, aliases):
        with open(self.aliases_path, "w") as f:
            f.write("# test aliases\n")
            for k, v in aliases.items():
                f.write("%s: %s\n" % (k, v))
        r = subprocess.run([binary("ternmap"), "-a", self.aliases_path],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=30)
        if r.returncode != 0:
            raise HarnessError("ternmap -a %s failed (%d): %s"
                               % (self.aliases_path, r.returncode,
                                  r.stdout.decode("utf-8", "replace")))

    # -- processes --

    def start(self, timeout=20):
        """Start ternd -d and wait until the SMTP port greets with 220."""
        if self._logfp is None:
            self._logfp = open(self.logpath, "ab")
        self._logfp.write(("=== harness: starting ternd at %s\n"
                           % time.strftime("%H:%M:%S")).encode())
        self._logfp.flush()
        cmd = [binary("ternd"), "-c", self.conf, "-d"] + \
            (["-v"] if self.verbose else [])
        if self.run_as is not None:
            pw = pwd.getpwnam(self.run_as)
            cmd = ["setpriv", "--reuid=%d" % pw.pw_uid,
                   "--regid=%d" % pw.pw_gid, "--clear-groups"] + cmd
        if self.nofile is not None:
            cmd = ["prlimit", "--nofile=%d:%d" % self.nofile, "--"] + cmd
        env = dict(os.environ, **self.env)
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=self._logfp,
            stderr=self._logfp, start_new_session=True, cwd=self.tmp,
            env=env)
        self.sessions.add(self.proc.pid)
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout=20):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise HarnessError("ternd exited with status %s before it "
                                   "was ready; log tail:\n%s"
                                   % (self.proc.returncode, self.log_tail()))
            try:
                with socket.create_connection((self.listen_host, self.port),
                                              timeout=2) as s:
                    s.settimeout(5)
                    data = b""
                    while b"\n" not in data:
                        chunk = s.recv(4096)
                        if not chunk:
                            break
                        data += chunk
                    if data.startswith(b"220"):
                        s.sendall(b"QUIT\r\n")
                        return
                    last = "greeting %r" % data
            except OSError as e:
                last = str(e)
            time.sleep(0.1)
        raise HarnessError("ternd not ready on port %d after %ss (%s); "
                           "log tail:\n%s"
                           % (self.port, timeout, last, self.log_tail()))

    def pids(self, prog=None):
        """
        Pids of running processes (not zombies) of this instance: those in
        a session of a ternd we started (start_new_session, so the session
        id survives re-parenting after a kill) or whose command line names
        this instance's configuration file.  With prog (e.g.
        "tern-queued"), only that program, matched by its kernel name
        (comm) or argv[0].
        """
        out = []
        conf = self.conf.encode()
        for ent in os.listdir("/proc"):
            if not ent.isdigit():
                continue
            try:
                with open("/proc/%s/cmdline" % ent, "rb") as f:
                    argv = f.read().split(b"\0")
                with open("/proc/%s/stat" % ent, "rb") as f:
                    stat = f.read()
                with open("/proc/%s/comm" % ent, "rb") as f:
                    comm = f.read().strip().decode(errors="replace")
            except OSError:
                continue
            rest = stat[stat.rfind(b")") + 2:].split()
            state, sid = rest[0], int(rest[3])
            if state in (b"Z", b"X"):
                continue
            if sid not in self.sessions and conf not in argv:
                continue
            if prog is not None:
                arg0 = os.path.basename(argv[0]).decode(errors="replace")
                if comm != prog[:15] and arg0 != prog and \
                   not arg0.startswith(prog + ":"):
                    continue
            out.append(int(ent))
        return out

    def signal_ternd(self, sig):
        if self.proc is None or self.proc.poll() is not None:
            raise HarnessError("ternd is not running")
        os.kill(self.proc.pid, sig)

    def kill_all(self):
        """kill -9 ternd and every process of this instance."""
        for pgid in self.sessions:
            try:
                os.killpg(pgid, signal.SIGKILL)
            except OSError:
                pass
        for _ in range(50):
            pids = self.pids()
            if not pids:
                break
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            time.sleep(0.05)
        if self.proc is not None:
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        wait_until(lambda: not self.pids(), 10, what="processes to die")

    def stop(self, timeout=None):
        """
        SIGTERM ternd, wait for it and every child to exit.  Returns ternd's
        exit status; kills leftovers and raises HarnessError when the stop
        is not graceful in time.
        """
        if self.proc is None:
            return None
        if timeout is None:
            timeout = 15
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill_all()
            raise HarnessError("ternd did not exit within %ss of SIGTERM"
                               % timeout)
        try:
            wait_until(lambda: not self.pids(), 5,
                       what="children to exit after ternd")
        except HarnessError:
            left = self.pids()
            self.kill_all()
            raise HarnessError("children still running after ternd exited: "
                               "%s" % left)
        return rc

    def cleanup(self):
        """Kill whatever is left (used after every test, pass or fail).
        In a sanitizer build a running ternd is stopped first, so that
        every process exits and LeakSanitizer checks those it can
        (check_sanitizer_log reads what it found)."""
        # For the runner's report of a failure: ternd's state before this.
        if self.ternd_state is None:
            if self.proc is None:
                self.ternd_state = "never started"
            elif self.proc.poll() is None:
                self.ternd_state = "ternd running"
            else:
                self.ternd_state = ("ternd exited with status %s"
                                    % self.proc.returncode)
        if (sanitizer_build() and self.proc is not None and
                self.proc.poll() is None):
            try:
                self.stop(timeout=10)
            except HarnessError:
                pass
        try:
            self.kill_all()
        except HarnessError:
            pass
        if self._logfp is not None:
            self._logfp.close()
            self._logfp = None

    def remove(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def check_sanitizer_log(self):
        """Raise HarnessError with the reports of AddressSanitizer,
        LeakSanitizer or UBSan that any process of the instance wrote
        into its log (after cleanup, in a sanitizer build)."""
        if not sanitizer_build():
            return
        lines = self.log().splitlines()
        hits = [i for i, line in enumerate(lines)
                if SANITIZER_REPORT_RE.search(line)]
        if hits:
            first = hits[0]
            raise HarnessError("sanitizer report in %s:\n%s" % (
                self.logpath, "\n".join(lines[first:first + 60])))

    # -- what happened --

    def log(self):
        try:
            with open(self.logpath, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def log_tail(self, n=40):
        return "\n".join(self.log().splitlines()[-n:])

    def maildir(self, user):
        return os.path.join(self.mailboxes, user, "Maildir")

    def maildir_files(self, user):
        """Sorted paths of the files in user's Maildir/new."""
        d = os.path.join(self.maildir(user), "new")
        try:
            names = os.listdir(d)
        except FileNotFoundError:
            return []
        return sorted(os.path.join(d, n) for n in names)

    def maildir_messages(self, user):
        out = []
        for p in self.maildir_files(user):
            with open(p, "rb") as f:
                out.append(f.read())
        return out

    def all_delivered(self):
        """{user: number of files in Maildir/new} for every mailbox dir."""
        out = {}
        for u in sorted(os.listdir(self.mailboxes)):
            n = len(self.maildir_files(u))
            if n:
                out[u] = n
        return out

    def wait_for_delivery(self, user, count=1, timeout=30):
        """Wait until user's Maildir/new holds at least count files."""
        wait_until(lambda: len(self.maildir_files(user)) >= count, timeout,
                   what="%d message(s) in %s's Maildir (have %d)"
                   % (count, user, len(self.maildir_files(user))))
        return self.maildir_files(user)

    def spool_files(self, sub="msg"):
        """Every file under spool/SUB."""
        out = []
        for root, _dirs, files in os.walk(os.path.join(self.spool, sub)):
            out.extend(os.path.join(root, f) for f in files)
        return out

    def made_ahead_files(self, listed=None):
        """queued's files made ahead (file_pool.c): the empty files under
        spool/msg (or of listed, a listing of it) that a tern-queued holds
        open and no other process does (one handed to an smtpd is held by
        both).  Every listed file the pool made is held already: it holds
        each from the moment it makes it."""
        if listed is None:
            listed = self.spool_files("msg")
        held = open_file_holders()
        out = []
        for f in listed:
            comms = {comm for _pid, comm in
                     held.get(os.path.realpath(f), [])}
            try:
                if comms == {"tern-queued"} and os.path.getsize(f) == 0:
                    out.append(f)
            except FileNotFoundError:
                pass
        return out

    def msg_files(self):
        """Every file under spool/msg but queued's made ahead: what a
        message, or one abandoned, leaves.  One listing for both, so that
        a file the pool makes meanwhile (right after a start, say) is
        never in the second and missing from the first."""
        listed = self.spool_files("msg")
        ahead = set(self.made_ahead_files(listed))
        return [f for f in listed if f not in ahead]

    def queue_files(self):
        """The message files in spool/msg: every file but the empty ones
        queued hands out to smtpd workers for their next message (one at
        most per worker, queue_commit.c); spool_files("msg") has all."""
        out = []
        for f in self.spool_files("msg"):
            try:
                if os.path.getsize(f) > 0:
                    out.append(f)
            except FileNotFoundError:
                pass
        return out

    def wait_queue_empty(self, timeout=30):
        wait_until(lambda: not self.queue_files(), timeout,
                   what=lambda: "the queue (spool/msg) to drain; left: %s"
                   % " ".join(os.path.relpath(f, self.spool)
                              for f in self.queue_files()[:10]))


def open_file_holders():
    """{path: [(pid, comm), ...]} for every file some process has open."""
    out = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/comm" % pid) as f:
                comm = f.read().strip()
            fds = os.listdir("/proc/%s/fd" % pid)
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink("/proc/%s/fd/%s" % (pid, fd))
            except OSError:
                continue
            out.setdefault(target, []).append((int(pid), comm))
    return out


# --- SMTP helpers -----------------------------------------------------------

def smtp_connect(inst, timeout=30):
    import smtplib
    s = smtplib.SMTP(inst.listen_host, inst.port, local_hostname="client.test",
                     timeout=timeout)
    return s


def qid_from_reply(text):
    if isinstance(text, str):
        text = text.encode()
    m = QID_RE.search(text)
    return m.group(1).decode() if m else None


# --- base test case ---------------------------------------------------------

class TernTestCase(unittest.TestCase):
    """A test with helpers to make instances that are always cleaned up."""

    def instance(self, start=True, **kw):
        inst = TernInstance(name=self.id().split(".")[-1][:40], **kw)
        # Cleanups run last first: the log is read after the stop.
        self.addCleanup(inst.check_sanitizer_log)
        self.addCleanup(inst.cleanup)
        if start:
            inst.start()
        return inst

    def assert_nothing_delivered(self, inst, wait=0):
        if wait:
            time.sleep(wait)
        self.assertEqual(inst.all_delivered(), {},
                         "mail was delivered but should not have been")

    def assert_tern_delivery(self, data, sent, sender, rcpt, qid,
                             hostname="test.example"):
        """
        data (delivered file) is exactly Return-Path, Delivered-To and one
        Received: with qid, followed by sent with CRLF turned into LF.
        """
        self.assertNotIn(b"\r", data, "delivered file contains CR")
        fields, rest = split_delivered(data)
        self.assertEqual(len(fields), 3,
                         "expected Return-Path, Delivered-To, Received; "
                         "got %r" % fields)
        self.assertEqual(fields[0], b"Return-Path: <%s>" % sender.encode())
        self.assertEqual(fields[1], b"Delivered-To: %s" % rcpt.encode())
        recv = unfold(fields[2].decode("utf-8", "replace"))
        self.assertTrue(recv.startswith("Received: from "), recv)
        self.assertRegex(recv, r"\bby %s \(tern\) with ESMTP id %s\b"
                         % (re.escape(hostname), qid))
        self.assertEqual(rest, sent.replace(b"\r\n", b"\n"),
                         "message body/headers altered in delivery")
