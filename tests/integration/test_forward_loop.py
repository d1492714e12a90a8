"""
Forwarding inside one queued message never loses it: each message ends
in a mailbox, at the sink (a remote copy, or a bounce to the sender), or
stays queued.  With real passwd users and their ~/.forward files:

- a .forward naming the user's own address in another local domain (or
  with an extension after recipient_delimiter) is the user's mailbox,
  delivered once, as Postfix does;
- two users whose .forward files name each other (a cycle inside the
  message) make exactly one 5.4.6 bounce ("mail forwarding loop") to the
  sender, no mailbox copy, and an empty queue;
- a .forward that leads back to the alias that sent the mail to the user
  is such a loop too;
- two users forwarding to the same third user deliver to it once, with
  no bounce (a duplicate that is not a loop is dropped as before);
- aliases alone that name each other (x: y, y: x) bounce to the sender.
"""

import os
import pwd
import re
import shutil
import subprocess
import tempfile

from sink import Sink
from tern_harness import (add_passwd_user, TernTestCase, binary, free_port, is_root,
                          smtp_connect)

SENDER = "origin@client.test"


class ForwardLoopCase(TernTestCase):
    time_limit = 150

    def setUp(self):
        if not is_root():
            self.skipTest("root only: .forward belongs to a passwd user")
        self.top = tempfile.mkdtemp(prefix="tern-fwdloop-")
        os.chmod(self.top, 0o755)
        self.addCleanup(shutil.rmtree, self.top, ignore_errors=True)
        self.sink = Sink("127.0.0.2", free_port("127.0.0.2")).start()
        self.addCleanup(self.sink.stop)

    def make_user(self, tag):
        """A passwd user with its own home; returns its name."""
        name = "ternl%s%d" % (tag, os.getpid() % 100000)
        home = os.path.join(self.top, name)
        os.mkdir(home)
        pw = add_passwd_user(self, name, home)
        os.chown(home, pw.pw_uid, pw.pw_gid)
        return name

    def write_forward(self, user, text):
        pw = pwd.getpwnam(user)
        p = os.path.join(pw.pw_dir, ".forward")
        with open(p, "w") as f:
            f.write(text)
        os.chown(p, pw.pw_uid, pw.pw_gid)
        os.chmod(p, 0o644)

    def mailbox(self, user):
        d = os.path.join(pwd.getpwnam(user).pw_dir, "Maildir", "new")
        return sorted(os.listdir(d)) if os.path.isdir(d) else []

    def start(self, **settings):
        inst = self.instance(start=False, users=(), **settings)
        inst.settings["mailbox_base"] = ""
        inst.settings["relayhost"] = "[127.0.0.2]:%d" % self.sink.port
        inst.write_config()
        inst.start()
        return inst

    def send(self, inst, rcpts, subject):
        with smtp_connect(inst) as s:
            s.sendmail(SENDER, rcpts,
                       ("From: %s\r\nSubject: %s\r\n\r\nbody\r\n"
                        % (SENDER, subject)).encode())

    def queue_listing(self, inst):
        r = subprocess.run([binary("ternctl"), "-c", inst.conf, "queue"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout.decode("utf-8", "replace")

    def assert_one_loop_bounce(self, inst, looped):
        """Exactly one message reached the sink: the bounce, 5.4.6."""
        self.sink.wait_messages(1, timeout=60)
        inst.wait_queue_empty(60)
        self.assertEqual(len(self.sink.messages), 1,
                         [m.rcpt_tos for m in self.sink.messages])
        m = self.sink.messages[0]
        self.assertEqual(m.mail_from, "<>")
        self.assertEqual(m.rcpt_tos, [SENDER])
        self.assertEqual(len(re.findall(rb"\nStatus: 5\.4\.6\b", m.data)),
                         1, m.data)
        self.assertIn(b"mail forwarding loop for " + looped.encode(),
                      m.data)
        self.assertNotIn(SENDER.split("@")[0], self.queue_listing(inst))


class TestForwardToSelf(ForwardLoopCase):

    def test_forward_to_own_address_in_other_local_domain_delivers_once(self):
        u = self.make_user("s")
        # localhost is a local domain besides myhostname (test.example);
        # with recipient_delimiter, "u+box" is u as well.
        self.write_forward(u, "%s@localhost\n%s+box@test.example\n"
                           % (u.upper(), u))
        inst = self.start(recipient_delimiter="+")
        self.send(inst, ["%s@test.example" % u], "to myself")
        inst.wait_queue_empty(60)
        self.assertEqual(len(self.mailbox(u)), 1)
        self.assertEqual(self.sink.messages, [])
        self.assertRegex(inst.log(), r"to=<%s@test\.example>.*"
                         r"status=sent" % u)


class TestForwardLoop(ForwardLoopCase):

    def test_forward_cycle_between_two_users_bounces_once_5_4_6(self):
        a, b = self.make_user("a"), self.make_user("b")
        self.write_forward(a, "%s\n" % b)
        self.write_forward(b, "%s@test.example\n" % a)
        inst = self.start()
        self.send(inst, ["%s@test.example" % a], "round and round")
        self.assert_one_loop_bounce(inst, "%s@test.example" % a)
        self.assertEqual(self.mailbox(a), [])
        self.assertEqual(self.mailbox(b), [])
        self.assertRegex(inst.log(), r"to=<%s@test\.example>.*dsn=5\.4\.6, "
                         r"status=bounced" % b)

    def test_forward_back_to_the_alias_that_led_here_bounces_5_4_6(self):
        a = self.make_user("t")
        self.write_forward(a, "team\n")
        inst = self.start(aliases={"team": a})
        self.send(inst, ["team@test.example"], "to the team")
        self.assert_one_loop_bounce(inst, "team@test.example")
        self.assertEqual(self.mailbox(a), [])

    def test_two_users_forwarding_to_a_third_deliver_it_once(self):
        a, b, c = (self.make_user("a"), self.make_user("b"),
                   self.make_user("c"))
        self.write_forward(a, "%s\n" % c)
        self.write_forward(b, "%s@localhost\n" % c)
        inst = self.start()
        self.send(inst, ["%s@test.example" % a, "%s@test.example" % b],
                  "both to c")
        inst.wait_queue_empty(60)
        self.assertEqual(len(self.mailbox(c)), 1)
        self.assertEqual(self.mailbox(a), [])
        self.assertEqual(self.mailbox(b), [])
        self.assertEqual(self.sink.messages, [])
        self.assertNotIn("status=bounced", inst.log())

    def test_forward_to_a_tagged_address_follows_its_forward_plus_tag(self):
        a, b = self.make_user("a"), self.make_user("b")
        self.write_forward(a, "%s+lists@localhost\n" % b)
        self.write_forward(b, "friend@remote.test\n")
        pw = pwd.getpwnam(b)
        p = os.path.join(pw.pw_dir, ".forward+lists")
        with open(p, "w") as f:
            f.write("\\%s\n" % b)
        os.chown(p, pw.pw_uid, pw.pw_gid)
        inst = self.start(recipient_delimiter="+")
        self.send(inst, ["%s@test.example" % a], "to the list box")
        inst.wait_queue_empty(60)
        self.assertEqual(len(self.mailbox(b)), 1)
        self.assertEqual(self.sink.messages, [])

    def test_aliases_naming_each_other_bounce_to_the_sender(self):
        # lookupd finds no end to x: y, y: x and refuses the recipient
        # (5.1.1 user unknown): bounced, not lost.
        inst = self.start(aliases={"x": "y", "y": "x"})
        self.send(inst, ["x@test.example"], "alias ping-pong")
        self.sink.wait_messages(1, timeout=60)
        inst.wait_queue_empty(60)
        self.assertEqual(len(self.sink.messages), 1)
        m = self.sink.messages[0]
        self.assertEqual((m.mail_from, m.rcpt_tos), ("<>", [SENDER]))
        self.assertIn(b"Final-Recipient: rfc822; x@test.example\r\n"
                      b"Action: failed\r\nStatus: 5.", m.data)
        self.assertEqual(len(re.findall(rb"\nAction: failed", m.data)), 1)
        self.assertNotIn(SENDER.split("@")[0], self.queue_listing(inst))
