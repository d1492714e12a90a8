"""
dovecot - a private Dovecot (Debian's dovecot-imapd, dovecot-pop3d,
dovecot-lmtpd) for the tests that read mail back the way a user's mail
program does.

Dovecot(tmp_parent, users, mail_location) writes a configuration into its
own temporary directory (base_dir, state, logs, the LMTP socket and the
passwd-file all live there), starts "dovecot -F -c CONF" listening only on
127.0.0.1 with free ports for IMAP and POP3, and an LMTP Unix socket (and,
with lmtp_port, an LMTP TCP listener on 127.0.0.1).  users maps a login to
(home, uid, gid); mail_location is Dovecot's, with ~ for the home, so the
same helper serves Maildir ("maildir:~/Maildir", tern's layout under
mailbox_base) and mbox ("mbox:~/mail:INBOX=/var/mail/%u") tests.  Every
user's password is Dovecot.PASSWORD.  A user may have a quota rule
(quota={"login": "*:storage=1K"}), which makes Dovecot refuse a larger
message for that user after DATA.

It talks only to 127.0.0.1 and never touches a Dovecot it did not start
(stop() ends the master by the pid it started).
"""

import grp
import imaplib
import os
import poplib
import shutil
import signal
import subprocess
import tempfile

from tern_harness import HarnessError, free_port, wait_until

DOVECOT = "/usr/sbin/dovecot"


def available():
    """True when Dovecot and its imap, pop3 and lmtp servers are here."""
    return all(os.path.exists(p) for p in (
        DOVECOT, "/usr/lib/dovecot/imap", "/usr/lib/dovecot/pop3",
        "/usr/lib/dovecot/lmtp"))


class Dovecot:
    PASSWORD = "secret-pw"

    def __init__(self, users, mail_location="maildir:~/Maildir",
                 quota=None, lmtp_port=None):
        if not available():
            raise HarnessError("Dovecot is not installed (apt-get install "
                               "dovecot-imapd dovecot-pop3d dovecot-lmtpd)")
        self.tmp = tempfile.mkdtemp(prefix="tern-it-dovecot-")
        # tern's lmtp deliverd (tern_user) must reach the socket.
        os.chmod(self.tmp, 0o755)
        self.conf = os.path.join(self.tmp, "dovecot.conf")
        self.logpath = os.path.join(self.tmp, "dovecot.log")
        self.lmtp_socket = os.path.join(self.tmp, "lmtp")
        self.imap_port = free_port()
        self.pop3_port = free_port()
        self.lmtp_port = lmtp_port
        self.users = dict(users)
        self.quota = dict(quota or {})
        self.mail_location = mail_location
        self.proc = None
        self._write_passwd()
        self._write_conf()

    def _write_passwd(self):
        path = os.path.join(self.tmp, "passwd")
        with open(path, "w") as f:
            for login, (home, uid, gid) in sorted(self.users.items()):
                extra = ""
                if login in self.quota:
                    extra = "userdb_quota_rule=%s" % self.quota[login]
                f.write("%s:{PLAIN}%s:%d:%d::%s::%s\n"
                        % (login, self.PASSWORD, uid, gid, home, extra))
        # Read by Dovecot's auth process, which runs as its internal user.
        try:
            gid = grp.getgrnam("dovecot").gr_gid
            os.chown(path, 0, gid)
            os.chmod(path, 0o640)
        except KeyError:
            os.chmod(path, 0o644)
        self.passwd = path

    def _write_conf(self):
        base = os.path.join(self.tmp, "run")
        state = os.path.join(self.tmp, "state")
        os.mkdir(base)
        os.mkdir(state)
        lmtp_inet = ""
        if self.lmtp_port:
            lmtp_inet = ("  inet_listener lmtp {\n"
                         "    address = 127.0.0.1\n"
                         "    port = %d\n  }\n" % self.lmtp_port)
        quota = ""
        plugins = ""
        if self.quota:
            plugins = "mail_plugins = $mail_plugins quota\n"
            quota = ("plugin {\n  quota = count:User quota\n"
                     "  quota_vsizes = yes\n}\n")
        text = """# written by tests/integration/dovecot.py
base_dir = {base}
state_dir = {state}
log_path = {log}
info_log_path = {log}
protocols = imap pop3 lmtp
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain
first_valid_uid = 1
mail_location = {mail_location}
pop3_uidl_format = %08Xu%08Xv
lmtp_add_received_header = no
{plugins}passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%n {passwd}
}}
userdb {{
  driver = passwd-file
  args = username_format=%n {passwd}
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {imap}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    address = 127.0.0.1
    port = {pop3}
  }}
  inet_listener pop3s {{
    port = 0
  }}
}}
service lmtp {{
  unix_listener {sock} {{
    mode = 0666
  }}
{lmtp_inet}}}
service submission-login {{
  inet_listener submission {{
    port = 0
  }}
}}
{quota}""".format(base=base, state=state, log=self.logpath,
                  mail_location=self.mail_location, plugins=plugins,
                  passwd=self.passwd, imap=self.imap_port,
                  pop3=self.pop3_port, sock=self.lmtp_socket,
                  lmtp_inet=lmtp_inet, quota=quota)
        with open(self.conf, "w") as f:
            f.write(text)

    # -- processes --

    def start(self, timeout=20):
        """Start the master in the foreground; wait for IMAP and LMTP."""
        self._logfp = open(os.path.join(self.tmp, "dovecot.stderr"), "ab")
        self.proc = subprocess.Popen([DOVECOT, "-F", "-c", self.conf],
                                     stdin=subprocess.DEVNULL,
                                     stdout=self._logfp, stderr=self._logfp,
                                     start_new_session=True)

        def ready():
            if self.proc.poll() is not None:
                raise HarnessError("dovecot exited with %s: %s"
                                   % (self.proc.returncode, self.log_tail()))
            if not os.path.exists(self.lmtp_socket):
                return False
            try:
                imaplib.IMAP4("127.0.0.1", self.imap_port,
                              timeout=5).logout()
                return True
            except OSError:
                return False
        wait_until(ready, timeout, what="dovecot to listen")
        return self

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=15)
        self.proc = None
        if getattr(self, "_logfp", None) is not None:
            self._logfp.close()
            self._logfp = None

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def log(self):
        out = ""
        for name in ("dovecot.log", "dovecot.stderr"):
            try:
                with open(os.path.join(self.tmp, name), "rb") as f:
                    out += f.read().decode("utf-8", "replace")
            except OSError:
                pass
        return out

    def log_tail(self, n=40):
        return "\n".join(self.log().splitlines()[-n:])

    # -- reading mail back --

    def imap_messages(self, login, mailbox="INBOX"):
        """Every message of mailbox as IMAP returns it (BODY.PEEK[],
        CRLF line ends), in UID order."""
        m = imaplib.IMAP4("127.0.0.1", self.imap_port, timeout=30)
        try:
            m.login(login, self.PASSWORD)
            typ, _ = m.select(mailbox, readonly=True)
            if typ != "OK":
                raise HarnessError("IMAP SELECT %s failed" % mailbox)
            typ, data = m.uid("SEARCH", None, "ALL")
            uids = data[0].split() if data and data[0] else []
            out = []
            for uid in uids:
                typ, data = m.uid("FETCH", uid, "(BODY.PEEK[])")
                if typ != "OK":
                    raise HarnessError("IMAP FETCH %s failed" % uid)
                out.append(data[0][1])
            return out
        finally:
            m.logout()

    def wait_imap_messages(self, login, count, timeout=30):
        """Wait until login's INBOX holds at least count messages."""
        got = []

        def enough():
            got[:] = self.imap_messages(login)
            return len(got) >= count
        wait_until(enough, timeout, what="%d message(s) for %s over IMAP"
                   % (count, login))
        return list(got)

    def pop3_messages(self, login):
        """Every message as POP3 RETR returns it: lines with the dot
        stuffing undone, joined with LF and ending in LF."""
        p = poplib.POP3("127.0.0.1", self.pop3_port, timeout=30)
        try:
            p.user(login)
            p.pass_(self.PASSWORD)
            count, _size = p.stat()
            out = []
            for i in range(1, count + 1):
                _resp, lines, _octets = p.retr(i)
                out.append(b"".join(line + b"\n" for line in lines))
            return out
        finally:
            p.quit()


def wait_log(inst, pattern, count=1, timeout=30):
    """Wait until tern's log matches the regular expression pattern
    count times; returns the matches."""
    import re
    found = []

    def enough():
        found[:] = re.findall(pattern, inst.log())
        return len(found) >= count
    wait_until(enough, timeout, what="%d log line(s) matching %s"
               % (count, pattern))
    return list(found)
