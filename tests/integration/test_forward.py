"""
~/.forward of a passwd user, read by the user's delivery process as the
user, over real SMTP:

- addresses are forwarded with the original envelope sender (a sink
  stands for the remote server), commands run as the user (the command
  records its uid), and "\\user" keeps a copy in the user's own mailbox;
- a name in a local domain is looked up in the aliases, as Postfix does,
  and the remote copy it leads to carries "Delivered-To:" with the
  address whose .forward sent it on;
- without "\\user" nothing lands in the mailbox;
- a world-writable .forward is ignored, with a log line, and the mail
  goes to the mailbox.
"""

import os
import shutil
import tempfile

from sink import Sink
from tern_harness import (add_passwd_user, TernTestCase, free_port, is_root, smtp_connect,
                          wait_until)

SENDER = "origin@client.test"


class ForwardCase(TernTestCase):
    time_limit = 120

    def setUp(self):
        if not is_root():
            self.skipTest("root only: .forward belongs to a passwd user")
        self.top = tempfile.mkdtemp(prefix="tern-fwd-")
        os.chmod(self.top, 0o755)
        self.addCleanup(shutil.rmtree, self.top, ignore_errors=True)
        self.user = "ternfw%d" % (os.getpid() % 100000)
        self.home = os.path.join(self.top, "home")
        os.mkdir(self.home)
        self.pw = add_passwd_user(self, self.user, self.home)
        os.chown(self.home, self.pw.pw_uid, self.pw.pw_gid)
        self.sink = Sink("127.0.0.2", free_port("127.0.0.2")).start()
        self.addCleanup(self.sink.stop)

    def write_forward(self, text, mode=0o644):
        p = os.path.join(self.home, ".forward")
        with open(p, "w") as f:
            f.write(text)
        os.chown(p, self.pw.pw_uid, self.pw.pw_gid)
        os.chmod(p, mode)

    def start(self, **settings):
        inst = self.instance(start=False, users=(), **settings)
        inst.settings["mailbox_base"] = ""
        inst.settings["relayhost"] = "[127.0.0.2]:%d" % self.sink.port
        inst.write_config()
        inst.start()
        return inst

    def send(self, inst, subject, local=None):
        with smtp_connect(inst) as s:
            s.sendmail(SENDER, ["%s@test.example" % (local or self.user)],
                       ("From: %s\r\nSubject: %s\r\n\r\nbody\r\n"
                        % (SENDER, subject)).encode())

    def mailbox(self):
        d = os.path.join(self.home, "Maildir", "new")
        return sorted(os.listdir(d)) if os.path.isdir(d) else []


class TestForward(ForwardCase):

    def test_forward_to_remote_and_command_as_user_keeps_sender(self):
        out = os.path.join(self.home, "cmd.out")
        self.write_forward("# forward\nfriend@remote.test,\n"
                           "\"|id -u > %s; cat >> %s\"\n\\%s\n"
                           % (out, out, self.user))
        inst = self.start()
        self.send(inst, "fwd")
        self.sink.wait_messages(1, timeout=30)
        m = self.sink.messages[0]
        self.assertEqual(m.mail_from, SENDER)
        self.assertEqual(m.rcpt_tos, ["friend@remote.test"])
        self.assertIn(b"Subject: fwd", m.data)
        wait_until(lambda: os.path.exists(out) and
                   b"Subject: fwd" in open(out, "rb").read(), 30,
                   what="the command's output")
        self.assertEqual(int(open(out, "rb").read().split(b"\n")[0]),
                         self.pw.pw_uid)
        self.assertEqual(os.stat(out).st_uid, self.pw.pw_uid)
        # "\user": a copy in the user's own mailbox too.
        wait_until(lambda: len(self.mailbox()) == 1, 30,
                   what="the kept copy")
        inst.wait_queue_empty()
        self.assertEqual(len(self.sink.messages), 1)

    def test_forward_without_self_leaves_mailbox_empty(self):
        self.write_forward("friend@remote.test\n")
        inst = self.start()
        self.send(inst, "away")
        self.sink.wait_messages(1, timeout=30)
        inst.wait_queue_empty()
        self.assertEqual(self.mailbox(), [])
        self.assertIn(".forward of %s: 1 address" % self.user, inst.log())

    def test_forward_to_a_local_alias_expands_it_with_delivered_to(self):
        # "team" is no passwd user: an alias, as Postfix would read it.
        self.write_forward("team\n")
        inst = self.start(aliases={"team": "friend@remote.test"})
        self.send(inst, "to the team")
        self.sink.wait_messages(1, timeout=30)
        inst.wait_queue_empty()
        m = self.sink.messages[0]
        self.assertEqual(m.rcpt_tos, ["friend@remote.test"])
        self.assertEqual(m.mail_from, SENDER)
        # The user whose .forward sent it on, once, on top.
        self.assertTrue(m.data.startswith(
            b"Delivered-To: %s@test.example\r\nReceived: "
            % self.user.encode()), m.data[:200])
        self.assertEqual(m.data.count(b"Delivered-To:"), 1)
        self.assertEqual(len(self.sink.messages), 1)
        self.assertEqual(self.mailbox(), [])

    def test_world_writable_forward_is_ignored_with_a_log_line(self):
        self.write_forward("friend@remote.test\n", mode=0o666)
        inst = self.start()
        self.send(inst, "unsafe")
        wait_until(lambda: len(self.mailbox()) == 1, 30,
                   what="the mail in the mailbox")
        wait_until(lambda: ".forward ignored" in inst.log(), 10,
                   what="the log line")
        inst.wait_queue_empty()
        self.assertEqual(self.sink.messages, [])

    def test_extension_reads_forward_plus_tag_and_sets_extension(self):
        out = os.path.join(self.home, "ext.out")
        p = os.path.join(self.home, ".forward+lists")
        with open(p, "w") as f:
            f.write('"|echo ext=$EXTENSION rcpt=$RECIPIENT > %s"\n' % out)
        os.chown(p, self.pw.pw_uid, self.pw.pw_gid)
        inst = self.start(recipient_delimiter="+")
        self.send(inst, "tagged", local=self.user + "+lists")
        wait_until(lambda: os.path.exists(out), 30, what="the command")
        self.assertEqual(open(out).read().strip(),
                         "ext=lists rcpt=%s+lists@test.example" % self.user)
        # Another tag has no .forward of its own: the mailbox.
        self.send(inst, "other tag", local=self.user + "+other")
        wait_until(lambda: len(self.mailbox()) == 1, 30,
                   what="the mail in the mailbox")
        inst.wait_queue_empty()
