"""
aliases(5) values beyond addresses, over real SMTP: "|command", /file
and :include:, run and written as the owner of the file that names
them (a root-owned aliases file as default_privs), never as root.

- A command gets the envelope in its environment and the message (with
  Return-Path and Delivered-To) on stdin; a sender address full of shell
  metacharacters reaches it as data only: the marker files its $(),
  backticks and ; would create never appear.
- A file alias is appended in mbox format (Python's mailbox.mbox reads
  it), created 0600 by default_privs.
- An :include: file owned by a user: its members get the mail, its
  command runs as that user.
- Lists, nested lists, loops, and "root: root, x".
- Exit 75 defers (the mail comes on a later try); exit 1 bounces with
  the command's output in the DSN; command_time_limit kills the whole
  process group (a background child included) and defers.
- ternmap -a (newaliases) makes a new command alias work at once, and
  Debian's stock /etc/aliases compiles.
- A burst to two commands (one owner, default_privs, with up to four
  processes): each message reaches its command once, and a command is
  never run twice at once (its deliveries are held by one process at a
  time).
"""

import mailbox
import os
import pwd
import shutil
import stat
import subprocess
import tempfile
import threading

from tern_harness import (add_passwd_user, TernTestCase, binary, is_root, smtp_connect,
                          wait_until)

EVIL_SENDER = '"x;$(touch m1)`touch m2`\';touch m3;\\"|touch m4"@client.test'

DEBIAN_ALIASES = {
    "mailer-daemon": "postmaster", "postmaster": "root", "nobody": "root",
    "hostmaster": "root", "usenet": "root", "news": "root",
    "webmaster": "root", "www": "root", "ftp": "root", "abuse": "root",
    "noc": "root", "security": "root",
}


def message(subject, body="line one\r\nline two\r\n"):
    return ("From: someone@client.test\r\nSubject: %s\r\n\r\n%s"
            % (subject, body)).encode()


class AliasCommandCase(TernTestCase):
    time_limit = 180

    def setUp(self):
        if not is_root():
            self.skipTest("root only: commands run as other users")
        self.top = tempfile.mkdtemp(prefix="tern-alias-")
        os.chmod(self.top, 0o755)
        self.addCleanup(shutil.rmtree, self.top, ignore_errors=True)
        # Where commands write: anyone may (they run as nobody or user).
        self.out = os.path.join(self.top, "out")
        os.mkdir(self.out)
        os.chmod(self.out, 0o1777)
        self.nobody = pwd.getpwnam("nobody")

    def passwd_user(self, home=None):
        user = "ternal%d" % (os.getpid() % 100000)
        return add_passwd_user(self, user, home or self.top)

    def path(self, name):
        return os.path.join(self.out, name)

    def read(self, name):
        with open(self.path(name), "rb") as f:
            return f.read()

    def wait_file(self, name, timeout=40):
        wait_until(lambda: os.path.exists(self.path(name)), timeout,
                   what="%s to be written" % name)

    def send(self, inst, rcpts, subject="test", sender="sender@client.test"):
        with smtp_connect(inst) as s:
            s.sendmail(sender, rcpts, message(subject))

    def start(self, aliases, **settings):
        inst = self.instance(start=False, aliases=aliases, **settings)
        inst.start()
        return inst


class TestAliasCommands(AliasCommandCase):

    def test_command_gets_envelope_in_env_and_message_on_stdin_never_shell(
            self):
        # The command's working directory is its user's home (out/):
        # the marker files would land there.
        pw = self.passwd_user(home=self.out)
        sender = EVIL_SENDER
        cmd = ('"|/usr/bin/env > %s/env; id -u > %s/uid; cat > %s/stdin"'
               % (self.out, self.out, self.out))
        # control: a command that does interpret $SENDER (eval): it
        # shows the markers appear when the sender reaches a shell.
        inst = self.start({"rec": cmd,
                           "control": '"|eval \'true \'$SENDER"'},
                          default_privs=pw.pw_name)
        self.send(inst, ["rec@test.example"], "cmd", sender=sender)
        self.wait_file("stdin")
        wait_until(lambda: inst.log().count("status=sent") >= 1, 30,
                   what="the delivery logged")
        env = dict(line.split("=", 1) for line in
                   self.read("env").decode().splitlines() if "=" in line)
        self.assertEqual(env["SENDER"], sender)
        self.assertEqual(env["RECIPIENT"], "rec@test.example")
        self.assertEqual(env["LOCAL"], "rec")
        self.assertEqual(env["DOMAIN"], "test.example")
        self.assertEqual(env["USER"], pw.pw_name)
        self.assertEqual(env["HOME"], self.out)
        # Root-owned aliases: default_privs, never root.
        self.assertEqual(int(self.read("uid")), pw.pw_uid)
        data = self.read("stdin")
        self.assertTrue(data.startswith(("Return-Path: <%s>\nDelivered-To: "
                                         "rec@test.example\n" % sender)
                                        .encode()), data[:200])
        self.assertIn(b"Subject: cmd\n", data)
        self.assertTrue(data.endswith(b"line one\nline two\n"))
        self.assertNotIn(b"\r", data)
        for m in ("m1", "m2", "m3", "m4"):
            self.assertFalse(os.path.exists(self.path(m)),
                             "%s: the sender was run by a shell" % m)
        self.send(inst, ["control@test.example"], "control", sender=sender)
        self.wait_file("m1")
        self.wait_file("m2")

    def test_file_alias_appends_mbox_as_default_privs(self):
        box = self.path("list.mbox")
        inst = self.start({"box": box, "both": "%s, alice" % box})
        self.send(inst, ["box@test.example"], "first")
        self.send(inst, ["both@test.example"], "second")
        inst.wait_for_delivery("alice")
        wait_until(lambda: os.path.exists(box) and
                   len(mailbox.mbox(box).keys()) == 2, 30,
                   what="two messages in the file")
        mb = mailbox.mbox(box)
        subjects = [mb.get_message(k)["Subject"] for k in mb.keys()]
        self.assertEqual(subjects, ["first", "second"])
        self.assertEqual(mb.get_message(mb.keys()[0])["Delivered-To"],
                         "box@test.example")
        st = os.stat(box)
        self.assertEqual(st.st_uid, self.nobody.pw_uid)
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o600)

    def test_include_file_members_and_command_run_as_its_owner(self):
        pw = self.passwd_user()
        members = os.path.join(self.top, "members")
        with open(members, "w") as f:
            f.write("# the list\nalice\n\"|id -u > %s/incuid\", bob\n"
                    % self.out)
        os.chown(members, pw.pw_uid, pw.pw_gid)
        os.chmod(members, 0o644)
        inst = self.start({"inc": ":include:%s" % members})
        self.send(inst, ["inc@test.example"], "inc")
        inst.wait_for_delivery("alice")
        inst.wait_for_delivery("bob")
        # The shell creates incuid before id writes to it: read it once
        # the command has exited, i.e. when its delivery is done.
        inst.wait_queue_empty()
        self.assertEqual(int(self.read("incuid")), pw.pw_uid)

    def test_lists_nested_loop_and_root_keeps_its_own_mailbox(self):
        inst = self.instance(start=False, aliases={
            "list": "alice, nested",
            "nested": "bob, carol, alice",
            "root": "root, dave",
            "ring1": "ring2", "ring2": "ring1, alice",
        })
        inst.add_user("root")
        inst.start()
        self.send(inst, ["list@test.example"], "list")
        self.send(inst, ["root@test.example"], "root")
        # ring1 -> ring2 -> ring1 ends the loop at ring1's own mailbox,
        # which does not exist: that copy bounces, alice's arrives.
        self.send(inst, ["ring1@test.example"], "ring",
                  sender="bob@test.example")
        inst.wait_for_delivery("root")
        inst.wait_for_delivery("dave")
        inst.wait_for_delivery("alice", 2)
        inst.wait_for_delivery("bob", 2)
        inst.wait_queue_empty()
        self.assertEqual(inst.all_delivered(), {
            "alice": 2, "bob": 2, "carol": 1, "root": 1, "dave": 1})
        self.assertTrue(any(b"5.1.1" in m and b"ring1" in m
                            for m in inst.maildir_messages("bob")))

    def test_exit_75_defers_then_delivers(self):
        flag = self.path("ok")
        cmd = ('"|if [ -e %s ]; then cat > %s/got75; else echo not yet; '
               'exit 75; fi"' % (flag, self.out))
        inst = self.start({"later": cmd})
        self.send(inst, ["later@test.example"], "later")
        wait_until(lambda: "status=deferred" in inst.log(), 30,
                   what="a deferral")
        self.assertIn("command exited with status 75", inst.log())
        self.assertFalse(os.path.exists(self.path("got75")))
        with open(flag, "w"):
            pass
        self.wait_file("got75")
        inst.wait_queue_empty()

    def test_exit_1_bounces_with_the_command_output(self):
        inst = self.start({"fail": '"|echo this-is-the-output; exit 1"'})
        self.send(inst, ["fail@test.example"], "fail",
                  sender="bob@test.example")
        inst.wait_for_delivery("bob")
        dsn = inst.maildir_messages("bob")[0]
        self.assertIn(b"5.3.0", dsn)
        self.assertIn(b"this-is-the-output", dsn)
        self.assertIn(b"status 1", dsn)

    def test_command_time_limit_kills_the_process_group(self):
        cmd = '"|sleep 300 & echo $! > %s/bgpid; sleep 301"' % self.out
        inst = self.start({"slow": cmd}, command_time_limit="2s")
        self.send(inst, ["slow@test.example"], "slow")
        wait_until(lambda: "time limit exceeded" in inst.log(), 60,
                   what="the time limit")
        self.wait_file("bgpid")
        pid = int(self.read("bgpid"))

        def gone():
            try:
                with open("/proc/%d/stat" % pid) as f:
                    return f.read().split()[2] == "Z"
            except FileNotFoundError:
                return True
        wait_until(gone, 10, what="the background sleep to be killed")

    def test_burst_to_two_commands_each_once_never_run_twice_at_once(self):
        # Both commands run as default_privs: one owner, up to four
        # processes, two pins.  The script appends "alone SUBJECT" to
        # the file it is given, or "together SUBJECT" when another run
        # of the same command holds its lock (flock on FILE.lock, kept
        # until it exits, a moment after the check): that can only be
        # two processes holding that command's deliveries at once.
        script = os.path.join(self.top, "rec.sh")
        with open(script, "w") as f:
            f.write("#!/bin/sh\n"
                    "s=$(/usr/bin/sed -n 's/^Subject: //p' | "
                    "/usr/bin/head -n 1)\n"
                    "exec 9>>\"$1.lock\"\n"
                    "if /usr/bin/flock -n 9; then c=alone; "
                    "else c=together; fi\n"
                    "/usr/bin/sleep 0.02\n"
                    "echo \"$c $s\" >> \"$1\"\n")
        os.chmod(script, 0o755)
        inst = self.start({"cmda": '"|%s %s"' % (script, self.path("a")),
                           "cmdb": '"|%s %s"' % (script, self.path("b"))},
                          local_owner_concurrency_limit="4")
        errors = []

        def sender(t):
            try:
                with smtp_connect(inst, timeout=120) as s:
                    for i in range(10):
                        rcpt = "cmd%s@test.example" % "ab"[i % 2]
                        s.sendmail("sender@client.test", [rcpt],
                                   message("%s-%d-%d" % ("ab"[i % 2], t, i)))
            except Exception as e:  # reported below
                errors.append(e)
        threads = [threading.Thread(target=sender, args=(t,))
                   for t in range(10)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(180)
        self.assertEqual(errors, [])
        inst.wait_queue_empty(120)
        self.assertNotRegex(inst.log(), r"status=(deferred|bounced)")
        for cmd in "ab":
            runs = [line.split(" ", 1)
                    for line in self.read(cmd).decode().splitlines()]
            want = ["%s-%d-%d" % (cmd, t, i) for t in range(10)
                    for i in range(cmd == "b", 10, 2)]
            self.assertEqual(sorted(subj for _, subj in runs), sorted(want),
                             "cmd%s: each message once" % cmd)
            self.assertEqual([subj for c, subj in runs if c != "alone"], [],
                             "cmd%s run twice at once" % cmd)
        print("two commands of one owner, 50 messages each from 10 "
              "sessions at once: each once, never two runs at once")

    def test_newaliases_adds_a_command_without_restart(self):
        inst = self.start({"old": "alice"})
        inst.write_aliases({"old": "alice",
                            "late": '"|cat > %s/late"' % self.out})
        self.send(inst, ["late@test.example"], "late")
        self.wait_file("late")
        wait_until(lambda: b"Subject: late" in self.read("late"), 10,
                   what="the message in the command's output")

    def test_debian_stock_aliases_compile(self):
        inst = self.instance(start=False, aliases=DEBIAN_ALIASES)
        r = subprocess.run([binary("ternmap"), "-a", inst.aliases_path],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=30)
        self.assertEqual(r.returncode, 0, r.stdout)
        inst.add_user("root")
        inst.start()
        self.send(inst, ["webmaster@test.example"], "debian")
        inst.wait_for_delivery("root")


class TestDeliveredToLoop(AliasCommandCase):

    def test_delivered_to_for_this_recipient_bounces_as_loop(self):
        inst = self.start({"fwd": '"|cat > %s/fwd"' % self.out})
        looped = ("Delivered-To: Alice@test.example\r\n"
                  "From: someone@client.test\r\nSubject: looped\r\n\r\n"
                  "body\r\n").encode()
        other = ("Delivered-To: someone@elsewhere.example\r\n"
                 "From: someone@client.test\r\nSubject: fine\r\n\r\n"
                 "Delivered-To: alice@test.example\r\n").encode()
        cmdloop = ("Delivered-To: fwd@test.example\r\n"
                   "Subject: cmdloop\r\n\r\nbody\r\n").encode()
        with smtp_connect(inst) as s:
            s.sendmail("bob@test.example", ["alice@test.example"], looped)
            s.sendmail("bob@test.example", ["alice@test.example"], other)
            s.sendmail("bob@test.example", ["fwd@test.example"], cmdloop)
        inst.wait_for_delivery("bob", 2)
        inst.wait_queue_empty()
        # Only the message whose header field is another address (or
        # whose body merely mentions it) reaches alice.
        msgs = inst.maildir_messages("alice")
        self.assertEqual(len(msgs), 1)
        self.assertIn(b"Subject: fine", msgs[0])
        dsns = inst.maildir_messages("bob")
        self.assertEqual(len(dsns), 2)
        for d in dsns:
            self.assertIn(b"5.4.6", d)
        self.assertFalse(os.path.exists(self.path("fwd")))


class TestOwnerAlias(AliasCommandCase):

    def test_list_bounces_go_to_owner_not_sender(self):
        inst = self.start({"list": "alice, nosuchmember",
                           "owner-list": "bob",
                           "plain": "alice, nosuchmember2"})
        self.send(inst, ["list@test.example"], "to list",
                  sender="carol@test.example")
        inst.wait_for_delivery("bob")
        self.send(inst, ["plain@test.example"], "to plain",
                  sender="carol@test.example")
        inst.wait_for_delivery("carol")
        inst.wait_queue_empty()
        alice = inst.maildir_messages("alice")
        self.assertEqual(len(alice), 2)
        # The list's mail carries its owner as envelope sender, so that
        # later bounces (a remote server's) go there too; the other keeps
        # the sender.
        paths = sorted(m.split(b"\n", 1)[0].strip() for m in alice)
        self.assertEqual(paths, [b"Return-Path: <carol@test.example>",
                                 b"Return-Path: <owner-list@test.example>"])
        owner_dsn = inst.maildir_messages("bob")
        self.assertEqual(len(owner_dsn), 1)
        self.assertIn(b"nosuchmember", owner_dsn[0])
        self.assertIn(b"5.1.1", owner_dsn[0])
        # Without an owner- alias, the sender gets the bounce, as before.
        sender_dsn = inst.maildir_messages("carol")
        self.assertEqual(len(sender_dsn), 1)
        self.assertIn(b"nosuchmember2", sender_dsn[0])
        self.assertIn("owner non-delivery notification to "
                      "<owner-list@test.example>", inst.log())


class TestRecipientDelimiter(AliasCommandCase):

    def test_user_plus_tag_delivers_to_user_and_alias(self):
        inst = self.start({"list": "bob", "list+special": "carol"},
                          recipient_delimiter="+")
        self.send(inst, ["alice+news@test.example"], "tagged")
        self.send(inst, ["list+x@test.example"], "list tagged")
        self.send(inst, ["list+special@test.example"], "own entry")
        inst.wait_for_delivery("alice")
        inst.wait_for_delivery("bob")
        inst.wait_for_delivery("carol")
        inst.wait_queue_empty()
        self.assertEqual(inst.all_delivered(),
                         {"alice": 1, "bob": 1, "carol": 1})
        # Without a delimiter, user+tag is nobody.
        inst2 = self.start({})
        with smtp_connect(inst2) as s:
            s.ehlo()
            code, _ = s.docmd("MAIL FROM:<x@client.test>")
            code, _ = s.docmd("RCPT TO:<alice+news@test.example>")
            self.assertEqual(code, 550)
