"""
Delivered-To: on mail that an alias or a .forward sends to a remote
address (Postfix's local(8) does the same):

- the copy carries exactly one "Delivered-To: ADDR" on top of the
  message, where ADDR is the local address that forwarded it, and the
  original envelope sender; a recipient of the same message that nobody
  forwarded gets its own transaction, without the field; SIZE= counts the
  field, and a line starting with "." survives the dot-stuffing;
- the address is kept in the queue index: a copy deferred before a
  restart carries it after the restart;
- over BDAT (tern to tern) the chunks carry the field too, and the
  receiving tern delivers the message whole;
- a forwarding loop through another server (an alias, or a user's
  .forward, sends the mail to a remote address that sends it back) ends
  at the second pass with a 5.4.6 bounce to the sender, instead of going
  round until the hop limit: each server accepts the message a counted
  number of times.
"""

import os
import re
import shutil
import subprocess
import tempfile

from sink import Sink
from tern_harness import (add_passwd_user, TernTestCase, binary, free_port, is_root, smtp_connect,
                          split_delivered, wait_until)

SENDER = "origin@client.test"


def send(inst, sender, rcpts, body):
    with smtp_connect(inst) as s:
        s.sendmail(sender, rcpts, body)


def delivered_to(data):
    """The Delivered-To: values of a message's header section (bytes)."""
    head = data.split(b"\r\n\r\n", 1)[0].replace(b"\r\n", b"\n")
    head = head.split(b"\n\n", 1)[0]
    return re.findall(rb"^Delivered-To:[ \t]*(\S*)[ \t]*$", head,
                      re.M | re.I)


class TestDeliveredToSink(TernTestCase):
    time_limit = 120

    def sink(self, **kw):
        sink = Sink("127.0.0.2", free_port("127.0.0.2"), **kw).start()
        self.addCleanup(sink.stop)
        return sink

    def test_alias_copy_carries_one_delivered_to_and_the_sender(self):
        sink = self.sink(size=10 * 1024 * 1024)
        inst = self.instance(aliases={"fwd": "friend@remote.test"},
                             relayhost="[127.0.0.2]:%d" % sink.port)
        body = (b"From: %s\r\nSubject: forwarded\r\n\r\n.a dotted line\r\n"
                b"..two dots\r\nend\r\n" % SENDER.encode())
        send(inst, SENDER, ["fwd@test.example", "other@remote.test"], body)
        sink.wait_messages(2)
        inst.wait_queue_empty()
        by_rcpt = {tuple(m.rcpt_tos): m for m in sink.messages}
        self.assertEqual(sorted(by_rcpt), [("friend@remote.test",),
                                           ("other@remote.test",)])
        fwd = by_rcpt[("friend@remote.test",)]
        plain = by_rcpt[("other@remote.test",)]
        self.assertEqual(fwd.mail_from, SENDER)
        self.assertEqual(plain.mail_from, SENDER)
        self.assertEqual(delivered_to(fwd.data), [b"fwd@test.example"])
        self.assertEqual(delivered_to(plain.data), [])
        # The same file, with the field on top.
        self.assertEqual(fwd.data,
                         b"Delivered-To: fwd@test.example\r\n" + plain.data)
        self.assertTrue(fwd.data.endswith(body.split(b"\r\n\r\n", 1)[1]))
        for m in (fwd, plain):
            self.assertIn("SIZE=%d" % len(m.data), m.mail_options)

    def test_delivered_to_survives_a_restart(self):
        sink = self.sink()
        dead = free_port("127.0.0.3")
        inst = self.instance(aliases={"fwd": "friend@remote.test"},
                             relayhost="[127.0.0.3]:%d" % dead,
                             minimal_backoff_time="1h",
                             maximal_backoff_time="2h")
        send(inst, SENDER, ["fwd@test.example"],
             b"Subject: later\r\n\r\nbody\r\n")
        wait_until(lambda: re.search(r"to=<friend@remote\.test>.*"
                                     r"status=deferred", inst.log()), 30,
                   what="the deferral")
        inst.stop()
        inst.settings["relayhost"] = "[127.0.0.2]:%d" % sink.port
        inst.write_config()
        inst.start()
        r = subprocess.run([binary("ternctl"), "-c", inst.conf, "flush"],
                           timeout=30, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT)
        self.assertEqual(r.returncode, 0, r.stdout)
        sink.wait_messages(1)
        inst.wait_queue_empty()
        m = sink.messages[0]
        self.assertEqual(m.rcpt_tos, ["friend@remote.test"])
        self.assertEqual(m.mail_from, SENDER)
        self.assertEqual(delivered_to(m.data), [b"fwd@test.example"])


class TestDeliveredToTern(TernTestCase):
    """Two tern instances: a.test on 127.0.0.1, b.test on 127.0.0.2,
    each the other's relayhost."""
    time_limit = 180

    def pair(self, a_kw=None, b_kw=None):
        pa, pb = free_port("127.0.0.1"), free_port("127.0.0.2")
        b = self.instance(hostname="b.test", listen_host="127.0.0.2",
                          port=pb, relayhost="[127.0.0.1]:%d" % pa,
                          **(b_kw or {}))
        a = self.instance(hostname="a.test", port=pa,
                          relayhost="[127.0.0.2]:%d" % pb, **(a_kw or {}))
        return a, b

    @staticmethod
    def accepted(inst):
        """Messages smtpd accepted (Postfix's client= lines)."""
        return len(re.findall(r": client=", inst.log()))

    def test_bdat_copy_carries_delivered_to_whole(self):
        a, b = self.pair(a_kw={"aliases": {"fwd": "bob@b.test"}})
        big = b"".join(b"%06d .line %s\r\n" % (i, b"x" * 60)
                       for i in range(20000))
        body = (b"From: alice@a.test\r\nSubject: big\r\n\r\n.first\r\n"
                + big)
        self.assertGreater(len(body), 1024 * 1024)
        send(a, "alice@a.test", ["fwd@a.test"], body)
        (path,) = b.wait_for_delivery("bob", 1, timeout=60)
        a.wait_queue_empty()
        with open(path, "rb") as f:
            data = f.read()
        fields, rest = split_delivered(data)
        self.assertEqual(fields[1], b"Delivered-To: bob@b.test")
        self.assertTrue(rest.startswith(b"Delivered-To: fwd@a.test\n"
                                        b"Received: from "), rest[:200])
        self.assertEqual(len(re.findall(rb"^Delivered-To:", data, re.M)), 2)
        self.assertTrue(data.endswith(body.split(b"\r\n\r\n", 1)[1]
                                      .replace(b"\r\n", b"\n")))
        # a keeps the connection; stopped, it says QUIT, and b logs what
        # the session was: two chunks of at most 1 MiB, no DATA.
        a.stop()
        done = r"disconnect from \S+\[127\.0\.0\.1\] ehlo=1 mail=1 "
        wait_until(lambda: re.search(done, b.log()), 30,
                   what="the end of a's session at b")
        self.assertRegex(b.log(), done + r"rcpt=1 bdat=2 quit=1 ")

    def wait_bounce(self, b):
        (path,) = b.wait_for_delivery("alice", 1, timeout=60)
        with open(path, "rb") as f:
            bounce = f.read()
        self.assertIn(b"Return-Path: <>", bounce)
        self.assertRegex(bounce, rb"\nStatus: 5\.4\.6\b")
        self.assertIn(b"mail forwarding loop", bounce)
        return bounce

    def test_alias_loop_through_remote_bounces_5_4_6(self):
        a, b = self.pair(a_kw={"aliases": {"loop": "u@b.test"}},
                         b_kw={"aliases": {"u": "loop@a.test"}})
        send(a, "alice@b.test", ["loop@a.test"],
             b"Subject: round and round\r\n\r\nbody\r\n")
        self.wait_bounce(b)
        a.wait_queue_empty(60)
        b.wait_queue_empty(60)
        # a: the message, and its return from b; b: the first copy and
        # the bounce.  Nothing else went round.
        self.assertEqual(self.accepted(a), 2)
        self.assertEqual(self.accepted(b), 2)
        self.assertRegex(a.log(), r"to=<u@b\.test>, orig_to=<loop@a\.test>"
                         r".*dsn=5\.4\.6, status=bounced")
        self.assertEqual(b.all_delivered(), {"alice": 1})


class TestDeliveredToForwardLoop(TernTestCase):
    time_limit = 180

    def test_forward_loop_through_remote_bounces_5_4_6(self):
        if not is_root():
            self.skipTest("root only: .forward belongs to a passwd user")
        top = tempfile.mkdtemp(prefix="tern-fwdloop-")
        os.chmod(top, 0o755)
        self.addCleanup(shutil.rmtree, top, ignore_errors=True)
        user = "ternfl%d" % (os.getpid() % 100000)
        home = os.path.join(top, "home")
        os.mkdir(home)
        pw = add_passwd_user(self, user, home)
        os.chown(home, pw.pw_uid, pw.pw_gid)
        fwd = os.path.join(home, ".forward")
        with open(fwd, "w") as f:
            f.write("u@b.test\n")
        os.chown(fwd, pw.pw_uid, pw.pw_gid)
        pa, pb = free_port("127.0.0.1"), free_port("127.0.0.2")
        b = self.instance(hostname="b.test", listen_host="127.0.0.2",
                          port=pb, relayhost="[127.0.0.1]:%d" % pa,
                          aliases={"u": "%s@a.test" % user})
        a = self.instance(hostname="a.test", port=pa, users=(),
                          start=False, relayhost="[127.0.0.2]:%d" % pb)
        a.settings["mailbox_base"] = ""
        a.write_config()
        a.start()
        send(a, "alice@b.test", ["%s@a.test" % user],
             b"Subject: away\r\n\r\nbody\r\n")
        (path,) = b.wait_for_delivery("alice", 1, timeout=60)
        with open(path, "rb") as f:
            bounce = f.read()
        self.assertRegex(bounce, rb"\nStatus: 5\.4\.6\b")
        self.assertIn(b"mail forwarding loop", bounce)
        a.wait_queue_empty(60)
        b.wait_queue_empty(60)
        accepted = [len(re.findall(r": client=", i.log())) for i in (a, b)]
        self.assertEqual(accepted, [2, 2])
        self.assertFalse(os.path.isdir(os.path.join(home, "Maildir")))
