"""
Mail that tern delivers is read back by a real Dovecot (Debian's
dovecot-imapd, dovecot-pop3d, dovecot-lmtpd, started privately by
dovecot.py) the way a user's mail program reads it: over IMAP and POP3,
byte for byte.  Mail handed to Dovecot over LMTP (mailbox_transport)
arrives the same way, and each recipient of one LMTP transaction gets its
own result: delivered, bounced to the sender, or deferred and retried.
"""

import grp
import os
import pwd
import re
import signal
import shutil
import socket
import tempfile
import threading
import unittest

from dovecot import Dovecot, wait_log
from tern_harness import (add_passwd_user, TernTestCase, free_port, is_root, smtp_connect,
                          qid_from_reply, wait_until)

MAILBOX_OWNER = "nobody"	# Dovecot serves no mail to root


def body(subject, size=0):
    """A message with a leading-dot line, long lines and 8-bit text."""
    text = (b"From: Sender <sender@client.test>\r\n"
            b"To: somebody\r\n"
            b"Subject: " + subject.encode() + b"\r\n"
            b"Message-ID: <" + subject.encode() + b"@client.test>\r\n"
            b"\r\n"
            b"first line\r\n"
            b".a line that starts with a dot\r\n"
            b"..two dots\r\n"
            b"\r\n"
            b"last line\r\n")
    if size:
        text += b"x" * 70 + b"\r\n"
        while len(text) < size:
            text += b"y" * 70 + b"\r\n"
    return text


def send(inst, sender, rcpts, msg, mail_options=()):
    """One message over SMTP; its queue ID."""
    with smtp_connect(inst) as s:
        s.ehlo("client.test")
        s.mail(sender, options=list(mail_options))
        for r in rcpts:
            code, text = s.rcpt(r)
            assert code == 250, (r, code, text)
        code, text = s.data(msg)
        assert code == 250, (code, text)
    return qid_from_reply(text)


def lmtp_agent(inst):
    """(uid, root directory) of the lmtp deliverd's processes: the
    transport and its connection processes."""
    out = set()
    for pid in inst.pids("tern-deliverd"):
        try:
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                argv = f.read().split(b"\0")
            with open("/proc/%d/status" % pid) as f:
                uid = [int(line.split()[1]) for line in f
                       if line.startswith("Uid:")][0]
            root = os.readlink("/proc/%d/root" % pid)
        except OSError:
            continue
        if b"lmtp" in argv:
            out.add((uid, root))
    return out


def crlf(data):
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


@unittest.skipUnless(is_root(), "root only: Dovecot switches to each mail "
                     "user, and tern's mailboxes belong to that user")
class DovecotTestCase(TernTestCase):
    """A tern instance and a Dovecot that serves the same mailboxes."""

    def dovecot(self, inst, users, **kw):
        pw = pwd.getpwnam(MAILBOX_OWNER)
        table = {}
        for u in users:
            home = inst.add_user(u, owner=MAILBOX_OWNER)
            table[u] = (home, pw.pw_uid, pw.pw_gid)
        dc = Dovecot(table, **kw)
        self.addCleanup(dc.cleanup)
        dc.start()
        self.addCleanup(self.print_dovecot_log_on_failure, dc)
        return dc

    def print_dovecot_log_on_failure(self, dc):
        # The runner prints tern's log; Dovecot's is only here.
        outcome = getattr(self, "_outcome", None)
        if outcome is not None and not getattr(outcome, "success", True):
            print("--- dovecot log ---\n" + dc.log_tail())


class TestDovecotReadsTernMaildir(DovecotTestCase):

    def test_maildir_delivery_reads_back_over_imap_and_pop3(self):
        """tern writes the Maildir itself; Dovecot serves exactly that
        file over IMAP and POP3, not a byte changed."""
        inst = self.instance(start=False)
        dc = self.dovecot(inst, ["alice"])
        inst.start()
        msg = body("maildir-readback", size=3000)
        send(inst, "sender@client.test", ["alice@test.example"], msg)
        files = inst.wait_for_delivery("alice")
        self.assertEqual(len(files), 1)
        with open(files[0], "rb") as f:
            stored = f.read()
        self.assert_tern_delivery(stored, msg, "sender@client.test",
                                  "alice@test.example",
                                  qid_from_stored(stored))
        imap = dc.wait_imap_messages("alice", 1)
        self.assertEqual(len(imap), 1)
        self.assertEqual(imap[0], crlf(stored),
                         "IMAP does not return the message tern stored")
        pop = dc.pop3_messages("alice")
        self.assertEqual(len(pop), 1)
        self.assertEqual(pop[0], stored,
                         "POP3 does not return the message tern stored")


    def test_mbox_delivery_reads_back_over_imap_and_pop3(self):
        """mailbox_format = mbox: Dovecot reads tern's mbox (the spool
        made like Debian's /var/mail) and serves each message as tern
        stored it, without the From line and the closing blank line."""
        user = "terndc%d" % (os.getpid() % 100000)
        pw = add_passwd_user(self, user)
        top = tempfile.mkdtemp(prefix="tern-it-mbox-")
        self.addCleanup(shutil.rmtree, top, ignore_errors=True)
        os.chmod(top, 0o755)
        spool = os.path.join(top, "mail")
        os.mkdir(spool)
        os.chown(spool, 0, grp.getgrnam("mail").gr_gid)
        os.chmod(spool, 0o2775)
        home = os.path.join(top, "home")
        os.mkdir(home)
        os.chown(home, pw.pw_uid, pw.pw_gid)
        dc = Dovecot({user: (home, pw.pw_uid, pw.pw_gid)},
                     mail_location="mbox:~/mail:INBOX=%s/%%u" % spool)
        self.addCleanup(dc.cleanup)
        dc.start()
        self.addCleanup(self.print_dovecot_log_on_failure, dc)
        inst = self.instance(start=False, users=())
        inst.settings["mailbox_base"] = ""
        inst.settings["mailbox_format"] = "mbox"
        inst.settings["mail_spool_directory"] = spool
        inst.write_config()
        inst.start()
        msgs = [body("mbox-readback-%d" % i, size=2000) for i in range(2)]
        for msg in msgs:
            send(inst, "sender@client.test", ["%s@test.example" % user],
                 msg)
        path = os.path.join(spool, user)
        wait_until(lambda: os.path.exists(path) and
                   open(path, "rb").read().count(b"\nFrom ") +
                   open(path, "rb").read().startswith(b"From ") == 2, 30,
                   what="two messages in %s" % path)
        with open(path, "rb") as f:
            data = f.read()
        # Each stored message: after its From line, up to the blank line
        # that ends it (the bodies hold no "From " lines to unquote).
        stored = [m.split(b"\n", 1)[1][:-1] for m in
                  re.split(rb"(?m)^(?=From )", data) if m]
        self.assertEqual(len(stored), 2)
        for st, msg in zip(stored, msgs):
            self.assertTrue(st.startswith(b"Return-Path: <sender@client."
                                          b"test>\n"), st[:200])
            self.assertTrue(crlf(st).endswith(msg), st[-200:])
        imap = dc.wait_imap_messages(user, 2)
        self.assertEqual(imap, [crlf(st) for st in stored],
                         "IMAP does not return the messages tern stored")
        pop = dc.pop3_messages(user)
        self.assertEqual(pop, stored,
                         "POP3 does not return the messages tern stored")


def qid_from_stored(data):
    m = re.search(rb"with ESMTP id ([0-9A-F]{16})", data)
    assert m, data[:400]
    return m.group(1).decode()


class TestLmtpDelivery(DovecotTestCase):

    def lmtp_instance(self, users, **kw):
        inst = self.instance(start=False)
        dc = self.dovecot(inst, users, **kw)
        inst.settings["mailbox_transport"] = "lmtp:unix:" + dc.lmtp_socket
        inst.write_config()
        inst.start()
        return inst, dc

    def assert_lmtp_copy(self, got, sent, sender, rcpt):
        """got (over IMAP) is Dovecot's Return-Path (and Delivered-To, if
        this Dovecot adds one), then exactly what tern sent: its Received:
        field and the message."""
        prefix = b"Return-Path: <" + sender.encode() + b">\r\n"
        self.assertTrue(got.startswith(prefix), got[:300])
        rest = got[len(prefix):]
        dt = b"Delivered-To: " + rcpt.encode() + b"\r\n"
        if rest.startswith(b"Delivered-To:"):
            self.assertTrue(rest.startswith(dt), rest[:200])
            rest = rest[len(dt):]
        self.assertTrue(rest.startswith(b"Received: from "), rest[:300])
        # tern's one Received: field (folded), then the message itself.
        m = re.match(rb"Received: [^\r]*(\r\n[ \t][^\r]*)*\r\n", rest)
        self.assertIsNotNone(m, rest[:300])
        self.assertRegex(m.group(0), rb"by test\.example \(tern\) with "
                         rb"ESMTP id [0-9A-F]{16}")
        self.assertEqual(rest[m.end():], sent,
                         "the message changed on its way through LMTP")

    def test_lmtp_delivery_reads_back_over_imap(self):
        """With mailbox_transport = lmtp:unix:SOCKET, Dovecot's LMTP
        server writes the mailbox (tern writes no Maildir file itself), and
        IMAP returns the message byte for byte, dot lines and all."""
        inst, dc = self.lmtp_instance(["alice", "bob"])
        msg = body("lmtp-readback", size=5000)
        send(inst, "sender@client.test",
             ["alice@test.example", "bob@test.example"], msg)
        for user in ("alice", "bob"):
            got = dc.wait_imap_messages(user, 1)
            self.assertEqual(len(got), 1)
            self.assert_lmtp_copy(got[0], msg, "sender@client.test",
                                  "%s@test.example" % user)
        # Dovecot wrote the mailbox, as its user; tern only logged it.
        lines = wait_log(inst, r"to=<(alice|bob)@test\.example>, relay=%s"
                         r".*status=sent" % re.escape(dc.lmtp_socket), 2)
        self.assertEqual(sorted(lines), ["alice", "bob"])
        self.assertNotIn("relay=local", inst.log())
        # The socket is outside spool_dir/empty: tern_user, no chroot.
        tern_uid = pwd.getpwnam("_tern").pw_uid
        self.assertEqual(lmtp_agent(inst), {(tern_uid, "/")})
        self.assertIn("running as _tern without a chroot", inst.log())
        pop = dc.pop3_messages("alice")
        self.assertEqual(len(pop), 1)
        self.assertEqual(crlf(pop[0]), dc.imap_messages("alice")[0])

    def test_lmtp_per_recipient_results_bounce_only_the_refused(self):
        """One LMTP transaction, three recipients: Dovecot delivers to
        alice, refuses ghost at RCPT (no such Dovecot user: 550) and
        refuses full after the final dot (over quota: 552).  alice has the
        message, each refusal bounces to the sender on its own, and
        nothing is retried."""
        inst, dc = self.lmtp_instance(["alice", "full", "bob"],
                                      quota={"full": "*:storage=1K"})
        inst.add_user("ghost")	# tern's user, unknown to Dovecot
        msg = body("lmtp-mixed", size=8000)
        qid = send(inst, "bob@test.example",
                   ["alice@test.example", "ghost@test.example",
                    "full@test.example"], msg)
        got = dc.wait_imap_messages("alice", 1)
        self.assert_lmtp_copy(got[0], msg, "bob@test.example",
                              "alice@test.example")
        wait_log(inst, r"%s: to=<ghost@test\.example>.*dsn=5\.1\.1, "
                 r"status=bounced" % qid)
        wait_log(inst, r"%s: to=<full@test\.example>.*dsn=5\.2\.2, "
                 r"status=bounced" % qid)
        # The bounce to bob names both refused recipients, and came
        # through LMTP too.
        bounce = dc.wait_imap_messages("bob", 1)
        self.assertEqual(len(bounce), 1)
        self.assertIn(b"Return-Path: <>", bounce[0])
        self.assertIn(b"Final-Recipient: rfc822; ghost@test.example",
                      bounce[0])
        self.assertIn(b"Final-Recipient: rfc822; full@test.example",
                      bounce[0])
        self.assertNotIn(b"Final-Recipient: rfc822; alice@test.example",
                         bounce[0])
        # A Unix socket has no DNS name (RFC 3464 2.1.2: an X- type).
        self.assertIn(b"Remote-MTA: x-local-socket; %s"
                      % dc.lmtp_socket.encode(), bounce[0])
        self.assertNotIn(b"Remote-MTA: dns;", bounce[0])
        self.assertEqual(dc.imap_messages("full"), [])
        inst.wait_queue_empty()
        self.assertEqual(len(re.findall(r"%s: to=<alice@test\.example>"
                                        % qid, inst.log())), 1)

    def test_lmtp_set_by_reload_starts_the_lmtp_agent(self):
        """mailbox_transport set by a reload: ternd starts the lmtp
        deliverd, and the next message goes to Dovecot over LMTP; the one
        before went to tern's own Maildir."""
        inst = self.instance(start=False)
        dc = self.dovecot(inst, ["alice"])
        inst.start()
        send(inst, "sender@client.test", ["alice@test.example"],
             body("before-reload"))
        inst.wait_for_delivery("alice")
        self.assertEqual(lmtp_agent(inst), set())
        inst.settings["mailbox_transport"] = "lmtp:unix:" + dc.lmtp_socket
        inst.write_config()
        inst.signal_ternd(signal.SIGHUP)
        wait_log(inst, r"reload: configuration reread")
        wait_until(lambda: lmtp_agent(inst), 20,
                   what="the lmtp deliverd to start")
        msg = body("after-reload")
        send(inst, "sender@client.test", ["alice@test.example"], msg)
        wait_log(inst, r"to=<alice@test\.example>, relay=%s.*status=sent"
                 % re.escape(dc.lmtp_socket))
        got = dc.wait_imap_messages("alice", 2)
        self.assertEqual(len(got), 2)
        # Dovecot numbers them in the order it found them: by subject.
        after = [m for m in got if b"Subject: after-reload" in m]
        before = [m for m in got if b"Subject: before-reload" in m]
        self.assertEqual((len(before), len(after)), (1, 1))
        self.assert_lmtp_copy(after[0], msg, "sender@client.test",
                              "alice@test.example")
        # tern wrote only the first one itself.
        self.assertEqual(len(re.findall(r"to=<alice@test\.example>, "
                                        r"relay=local,", inst.log())), 1)

    def test_lmtp_notify_success_gets_a_delivered_notice(self):
        """NOTIFY=SUCCESS for a recipient delivered over LMTP: the LMTP
        server's 250 is the delivery itself, so the sender gets a
        "delivered" notification (not "relayed", not none)."""
        inst, dc = self.lmtp_instance(["alice", "bob"])
        with smtp_connect(inst) as s:
            s.ehlo("client.test")
            s.mail("bob@test.example")
            code, _ = s.rcpt("alice@test.example",
                             options=["NOTIFY=SUCCESS"])
            self.assertEqual(code, 250)
            code, _ = s.data(body("lmtp-notify"))
            self.assertEqual(code, 250)
        dc.wait_imap_messages("alice", 1)
        notice = dc.wait_imap_messages("bob", 1)
        self.assertEqual(len(notice), 1)
        self.assertIn(b"Final-Recipient: rfc822; alice@test.example",
                      notice[0])
        self.assertIn(b"Action: delivered", notice[0])


class FakeLmtp:
    """A tiny LMTP server on 127.0.0.1 that answers, after the final dot,
    452 for the recipients in tempfail the first time it sees them and
    250 otherwise.  It records every transaction: (rcpts, data with the
    dot-stuffing undone, data as it came)."""

    def __init__(self, tempfail=(), port=0):
        self.tempfail = set(tempfail)
        self.failed_once = set()
        self.transactions = []
        self.commands = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.port = self.sock.getsockname()[1]
        self.sock.listen(8)
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def close(self):
        self.sock.close()

    def serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.session, args=(conn,),
                             daemon=True).start()

    def session(self, conn):
        f = conn.makefile("rb")
        w = conn.makefile("wb")

        def say(line):
            w.write(line.encode() + b"\r\n")
            w.flush()
        try:
            say("220 fake LMTP ready")
            rcpts = []
            while True:
                line = f.readline()
                if not line:
                    return
                cmd = line.rstrip(b"\r\n").decode("ascii", "replace")
                with self.lock:
                    self.commands.append(cmd)
                verb = cmd.split(" ")[0].upper()
                if verb == "LHLO":
                    say("250-fake\r\n250-PIPELINING\r\n250-8BITMIME\r\n"
                        "250-ENHANCEDSTATUSCODES\r\n250 SIZE 10000000")
                elif verb == "MAIL":
                    rcpts = []
                    say("250 2.1.0 ok")
                elif verb == "RCPT":
                    rcpts.append(cmd[cmd.index("<") + 1:cmd.index(">")])
                    say("250 2.1.5 ok")
                elif verb == "DATA":
                    say("354 go ahead")
                    data = raw = b""
                    while True:
                        l2 = f.readline()
                        if l2 in (b".\r\n", b""):
                            break
                        raw += l2
                        data += l2[1:] if l2.startswith(b".") else l2
                    with self.lock:
                        self.transactions.append((list(rcpts), data, raw))
                    for r in rcpts:
                        with self.lock:
                            first = (r in self.tempfail and
                                     r not in self.failed_once)
                            if first:
                                self.failed_once.add(r)
                        if first:
                            say("452 4.2.2 <%s> mailbox busy, try later"
                                % r)
                        else:
                            say("250 2.0.0 <%s> saved" % r)
                elif verb == "RSET":
                    rcpts = []
                    say("250 2.0.0 ok")
                elif verb == "QUIT":
                    say("221 2.0.0 bye")
                    return
                else:
                    say("500 5.5.1 unknown command")
        except OSError:
            pass
        finally:
            conn.close()


class TestLmtpFakeServer(TernTestCase):
    """tern against a scripted LMTP server over TCP."""


    def test_lmtp_tempfail_after_dot_retries_only_that_recipient(self):
        """An LMTP server (lmtp:[127.0.0.1]:PORT) that answers 452 for
        one of two recipients after the final dot: the other is delivered
        once and never sent again; the deferred one is sent again, alone,
        and delivered then."""
        fake = FakeLmtp(tempfail=["bob@test.example"])
        self.addCleanup(fake.close)
        inst = self.instance(start=False,
                             mailbox_transport="lmtp:[127.0.0.1]:%d"
                             % fake.port)
        inst.start()
        msg = body("lmtp-tempfail")
        qid = send(inst, "sender@client.test",
                   ["alice@test.example", "bob@test.example"], msg,
                   mail_options=["BODY=8BITMIME"])
        wait_log(inst, r"%s: to=<bob@test\.example>.*dsn=4\.2\.2, "
                 r"status=deferred" % qid)
        wait_log(inst, r"%s: to=<bob@test\.example>.*status=sent" % qid)
        inst.wait_queue_empty()
        with fake.lock:
            trans = list(fake.transactions)
            commands = list(fake.commands)
        self.assertEqual([t[0] for t in trans],
                         [["alice@test.example", "bob@test.example"],
                          ["bob@test.example"]])
        # What the server got is tern's Received: field and the message,
        # dot-stuffed on the wire exactly as it was in DATA.
        for _rcpts, data, raw in trans:
            self.assertTrue(data.startswith(b"Received: from "), data[:200])
            self.assertTrue(data.endswith(msg), data[-300:])
            self.assertIn(b"\r\n..a line that starts with a dot\r\n"
                          b"...two dots\r\n", raw)
        self.assertTrue(any(c.startswith("LHLO ") for c in commands))
        # The server offered SIZE and 8BITMIME: MAIL FROM uses both.
        mails = [c for c in commands if c.startswith("MAIL FROM:")]
        self.assertEqual(len(mails), 2)
        for c in mails:
            self.assertRegex(c, r"^MAIL FROM:<sender@client\.test> "
                             r"SIZE=\d+ BODY=8BITMIME$")
        self.assertFalse(any(c.upper().startswith(("EHLO", "HELO"))
                             for c in commands))
        self.assertEqual(len(re.findall(r"%s: to=<alice@test\.example>.*"
                                        r"status=sent" % qid, inst.log())),
                         1)
        # Nothing went to a Maildir: the LMTP server is the mailbox.
        self.assertEqual(inst.all_delivered(), {})
        # An address is reached from the chroot, as tern_user.
        if is_root():
            tern_uid = pwd.getpwnam("_tern").pw_uid
            self.assertEqual(lmtp_agent(inst),
                             {(tern_uid, os.path.join(inst.spool, "empty"))})


    def test_lmtp_server_down_defers_then_delivers(self):
        """Nothing listens where mailbox_transport points: the mail is
        deferred (never bounced); once the LMTP server is there, it is
        delivered."""
        port = free_port()
        inst = self.instance(start=False,
                             mailbox_transport="lmtp:[127.0.0.1]:%d" % port)
        inst.start()
        msg = body("lmtp-down")
        qid = send(inst, "sender@client.test", ["alice@test.example"], msg)
        wait_log(inst, r"%s: to=<alice@test\.example>.*dsn=4\.4\.1, "
                 r"status=deferred \(connect to " % qid)
        fake = FakeLmtp(port=port)
        self.addCleanup(fake.close)
        wait_log(inst, r"%s: to=<alice@test\.example>.*status=sent" % qid)
        inst.wait_queue_empty()
        self.assertNotIn("status=bounced", inst.log())
        with fake.lock:
            self.assertEqual([t[0] for t in fake.transactions],
                             [["alice@test.example"]])

    def test_lmtp_reload_reaches_new_connection_processes(self):
        """Unchrooted, the lmtp deliverd rereads the configuration in
        place: a connection made after a reload greets with the new
        smtp_helo_name, although its process comes from the connection
        process spawner (which a reload replaces)."""
        fake = FakeLmtp()
        self.addCleanup(fake.close)
        inst = self.instance(start=False,
                             mailbox_transport="lmtp:localhost:%d"
                             % fake.port,
                             smtp_helo_name="before.example",
                             smtp_connection_reuse_time="0s")
        inst.start()
        qid = send(inst, "sender@client.test", ["alice@test.example"],
                   body("lmtp-before"))
        wait_log(inst, r"%s: to=<alice@test\.example>.*status=sent" % qid)
        inst.settings["smtp_helo_name"] = "after.example"
        inst.write_config()
        inst.signal_ternd(signal.SIGHUP)
        wait_log(inst, r"reload: configuration reread")
        qid = send(inst, "sender@client.test", ["alice@test.example"],
                   body("lmtp-after"))
        wait_log(inst, r"%s: to=<alice@test\.example>.*status=sent" % qid)
        with fake.lock:
            lhlo = [c for c in fake.commands if c.startswith("LHLO ")]
        self.assertEqual(lhlo, ["LHLO before.example", "LHLO after.example"])

    def test_lmtp_host_name_runs_unchrooted(self):
        """lmtp:localhost:PORT names a host: the system's resolver looks
        it up, so the lmtp deliverd runs without the chroot (as
        tern_user), and the mail arrives."""
        fake = FakeLmtp()
        self.addCleanup(fake.close)
        inst = self.instance(start=False,
                             mailbox_transport="lmtp:localhost:%d"
                             % fake.port)
        inst.start()
        qid = send(inst, "sender@client.test", ["alice@test.example"],
                   body("lmtp-name"))
        wait_log(inst, r"%s: to=<alice@test\.example>, relay=localhost\["
                 r"127\.0\.0\.1\]:%d.*status=sent" % (qid, fake.port))
        if is_root():
            tern_uid = pwd.getpwnam("_tern").pw_uid
            self.assertEqual(lmtp_agent(inst), {(tern_uid, "/")})


if __name__ == "__main__":
    unittest.main()
