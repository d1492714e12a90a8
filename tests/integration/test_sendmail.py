"""
test_sendmail - local submission: sendmail(8) and its modes, through
tern-postdrop and the maildrop into the queue, checked where the mail
lands (the Maildirs) and in the log.

Each test runs the build's sendmail with -C and the instance's tern.conf,
as callers on a real system run /usr/sbin/sendmail.  Tests that need a
user other than root run sendmail as "nobody" with a set-group-ID copy
of tern-postdrop (the build's own is not set-group-ID) in a private
daemon_directory, and are root only.
"""

import grp
import os
import pwd
import re
import shutil
import subprocess
import time

import queue_file
from sink import Sink
from tern_harness import (TernTestCase, binary, free_port, is_root,
                          smtp_connect, split_delivered, unfold,
                          wait_until)

EX_USAGE, EX_DATAERR, EX_NOPERM, EX_TEMPFAIL = 64, 65, 77, 75


def header_fields(data):
    """{lowercase name: [values]} of a delivered file's header."""
    head = data.split(b"\n\n", 1)[0].decode("utf-8", "replace")
    out = {}
    for line in unfold(head).split("\n"):
        if ":" in line:
            k, v = line.split(":", 1)
            out.setdefault(k.strip().lower(), []).append(v.strip())
    return out


class SendmailTestCase(TernTestCase):

    def sendmail(self, inst, args, data=b"", user=None, prog=None,
                 timeout=30):
        """Run sendmail -C inst.conf ARGS with data on stdin."""
        cmd = [prog or binary("sendmail"), "-C", inst.conf] + list(args)
        kw = {}
        if user is not None:
            pw = pwd.getpwnam(user)
            kw = dict(user=pw.pw_uid, group=pw.pw_gid, extra_groups=[])
        return subprocess.run(cmd, input=data, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=timeout, **kw)

    def assert_ok(self, r):
        self.assertEqual(r.returncode, 0, "sendmail failed: %r" % (r,))

    def maildrop(self, inst):
        d = os.path.join(inst.spool, "maildrop")
        return sorted(n for n in os.listdir(d))

    def setgid_libexec(self, inst):
        """A daemon_directory whose tern-postdrop is set-group-ID
        _terndrop, as "make install" leaves it; the daemons are links
        to the build's."""
        lib = os.path.join(inst.tmp, "libexec")
        os.mkdir(lib)
        os.chmod(lib, 0o755)
        for n in ("tern-smtpd", "tern-lookupd", "tern-queued",
                  "tern-deliverd"):
            os.symlink(binary(n), os.path.join(lib, n))
        pd = os.path.join(lib, "tern-postdrop")
        shutil.copy(binary("tern-postdrop"), pd)
        os.chown(pd, 0, grp.getgrnam("_terndrop").gr_gid)
        os.chmod(pd, 0o2755)
        inst.settings["daemon_directory"] = lib
        inst.write_config()
        return pd


class TestSendmail(SendmailTestCase):

    def test_t_delivers_to_to_cc_bcc_and_removes_bcc(self):
        inst = self.instance()
        msg = (b"From: dave@test.example\n"
               b"To: Alice <alice@test.example>\n"
               b"Cc: bob@test.example\n"
               b"Bcc: carol@test.example,\n"
               b" hidden-copy@test.example\n"
               b"Subject: three ways\n\n"
               b"one body\n.\nstill the body with -i\n")
        self.assert_ok(self.sendmail(inst, ["-t", "-i"], msg))
        for user in ("alice", "bob", "carol"):
            inst.wait_for_delivery(user, 1)
            data = inst.maildir_messages(user)
            self.assertEqual(len(data), 1, user)
            d = data[0]
            self.assertNotIn(b"Bcc", d, "%s got the Bcc field" % user)
            self.assertNotIn(b"hidden-copy", d)
            if user != "carol":
                self.assertNotIn(b"carol", d)
            self.assertIn(b"Subject: three ways\n", d)
            self.assertTrue(d.endswith(b"one body\n.\n"
                                       b"still the body with -i\n"), d)
            self.assertIn(b"Return-Path: <root@test.example>\n", d)
        # hidden-copy is no mailbox: bounced to the sender, root.
        wait_until(lambda: "hidden-copy@test.example" in inst.log(), 20,
                   what="the unknown Bcc recipient in the log")
        self.assertEqual(len(inst.maildir_files("dave")), 0)

    def test_t_with_arguments_adds_them_as_postfix_does(self):
        inst = self.instance()
        msg = b"To: alice@test.example\nSubject: both\n\nb\n"
        self.assert_ok(self.sendmail(inst, ["-t", "bob@test.example"], msg))
        inst.wait_for_delivery("alice")
        inst.wait_for_delivery("bob")

    def test_f_sets_the_envelope_sender(self):
        inst = self.instance()
        r = self.sendmail(inst, ["-f", "list-bounces@lists.example",
                                 "alice@test.example"],
                          b"Subject: f\n\nbody\n")
        self.assert_ok(r)
        data = open(inst.wait_for_delivery("alice")[0], "rb").read()
        self.assertTrue(data.startswith(
            b"Return-Path: <list-bounces@lists.example>\n"), data)
        # The missing From: is the envelope sender, as Postfix adds it.
        self.assertEqual(header_fields(data)["from"],
                         ["list-bounces@lists.example"])
        self.assertRegex(inst.log(), r"[0-9A-F]{16}: uid=0 from="
                         r"<list-bounces@lists\.example>")

    def test_header_fields_added_and_kept(self):
        inst = self.instance()
        self.assert_ok(self.sendmail(inst, ["alice@test.example"],
                                     b"just a body, no header\n"))
        data = open(inst.wait_for_delivery("alice")[0], "rb").read()
        fields, rest = split_delivered(data)
        recv = unfold(fields[2].decode())
        self.assertRegex(recv, r"^Received: by test\.example \(tern, from "
                         r"userid 0\) id ([0-9A-F]{16}); \w\w\w, ")
        h = header_fields(rest)
        self.assertEqual(h["from"], ["root@test.example"])
        self.assertRegex(h["message-id"][0],
                         r"^<[0-9A-F]{16}\.\d+@test\.example>$")
        self.assertRegex(h["date"][0],
                         r"^\w\w\w, \d+ \w\w\w \d{4} \d\d:\d\d:\d\d [+-]\d{4}$")
        self.assertTrue(rest.endswith(b"\n\njust a body, no header\n"), rest)

        # A message that has them keeps its own, untouched.
        own = (b"From: Someone <someone@else.example>\n"
               b"Date: Mon, 1 Jan 2024 10:00:00 +0000\n"
               b"Message-ID: <own@else.example>\n\nb\n")
        self.assert_ok(self.sendmail(inst, ["bob@test.example"], own))
        data = open(inst.wait_for_delivery("bob")[0], "rb").read()
        self.assertTrue(split_delivered(data)[1] == own, data)

    def test_unqualified_addresses_get_myorigin(self):
        inst = self.instance(myorigin="localhost")
        r = self.sendmail(inst, ["alice"], b"Subject: short\n\nb\n")
        self.assert_ok(r)
        data = open(inst.wait_for_delivery("alice")[0], "rb").read()
        self.assertIn(b"Delivered-To: alice@localhost\n", data)
        self.assertIn(b"Return-Path: <root@localhost>\n", data)

    def test_cron_form_delivers(self):
        # Debian's cron: sendmail -FCronDaemon -i -B8BITMIME -oem user
        inst = self.instance()
        body = ("Subject: Cron <root@host> run-parts\n\n"
                "Grüße from cron\n.\nend\n").encode()
        r = self.sendmail(inst, ["-FCronDaemon", "-i", "-B8BITMIME",
                                 "-oem", "alice"], body)
        self.assert_ok(r)
        data = open(inst.wait_for_delivery("alice")[0], "rb").read()
        h = header_fields(data)
        self.assertEqual(h["from"], ["CronDaemon <root@test.example>"])
        self.assertTrue(data.endswith("Grüße from cron\n.\nend\n".encode()))

    def test_mail_s_through_s_nail_delivers(self):
        snail = shutil.which("s-nail")
        self.assertIsNotNone(snail, "s-nail is not installed "
                             "(scripts/quickstart.sh installs it)")
        inst = self.instance()
        home = os.path.join(inst.tmp, "home")
        os.mkdir(home)
        env = {"PATH": "/usr/bin:/bin", "HOME": home, "LC_ALL": "C.UTF-8"}
        # mail -s SUBJECT USER, with the mta pointed at this build and
        # its -C: s-nail runs "$mta $mta-arguments -- USER".
        r = subprocess.run(
            [snail, "-:/", "-Sv15-compat", "-Smta=" + binary("sendmail"),
             "-Smta-arguments=-C " + inst.conf, "-Sexpandaddr",
             "-s", "subj from mail", "alice"],
            input=b"body from mail\n", env=env, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, timeout=30)
        self.assertEqual(r.returncode, 0, r.stdout)
        data = open(inst.wait_for_delivery("alice")[0], "rb").read()
        self.assertEqual(header_fields(data)["subject"], ["subj from mail"])
        self.assertIn(b"Delivered-To: alice@test.example\n", data)
        self.assertTrue(data.endswith(b"\n\nbody from mail\n"), data)

    def test_bs_speaks_smtp(self):
        inst = self.instance()
        p = subprocess.Popen([binary("sendmail"), "-C", inst.conf, "-bs"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        self.addCleanup(p.kill)

        def line():
            return p.stdout.readline().decode()

        def reply():
            lines = [line()]
            while lines[-1][3:4] == "-":
                lines.append(line())
            return lines

        def cmd(text):
            p.stdin.write(text.encode() + b"\r\n")
            p.stdin.flush()
            return reply()

        self.assertTrue(reply()[0].startswith("220 test.example ESMTP"))
        ehlo = cmd("EHLO client.test")
        self.assertEqual(ehlo[0], "250-test.example\r\n")
        self.assertIn("250-DSN\r\n", ehlo)
        self.assertTrue(cmd("RCPT TO:<alice@test.example>")[0]
                        .startswith("503 "))
        self.assertTrue(cmd("MAIL FROM:<bob@test.example> BODY=8BITMIME")[0]
                        .startswith("250 2.1.0"))
        self.assertTrue(cmd("RCPT TO:<alice@test.example> NOTIFY=NEVER")[0]
                        .startswith("250 2.1.5"))
        self.assertTrue(cmd("RCPT TO:<bad@@address>")[0]
                        .startswith("501 5.1.3"))
        self.assertTrue(cmd("RCPT TO:<carol>")[0].startswith("250 2.1.5"))
        self.assertTrue(cmd("DATA")[0].startswith("354 "))
        p.stdin.write(b"Subject: via -bs\r\n\r\n..leading dot\r\nline\r\n"
                      b".\r\n")
        p.stdin.flush()
        done = reply()[0]
        self.assertRegex(done, r"^250 2\.0\.0 Ok: queued as [0-9A-F]{16}")
        self.assertTrue(cmd("QUIT")[0].startswith("221 "))
        self.assertEqual(p.wait(10), 0)
        for user in ("alice", "carol"):
            data = open(inst.wait_for_delivery(user)[0], "rb").read()
            self.assertIn(b"Return-Path: <bob@test.example>\n", data)
            self.assertTrue(data.endswith(b"\n\n.leading dot\nline\n"),
                            data)
            self.assertEqual(header_fields(data)["subject"], ["via -bs"])

    def test_bv_checks_addresses(self):
        inst = self.instance(start=False)
        r = self.sendmail(inst, ["-bv", "alice", "Bob <bob@x.example>"])
        self.assertEqual(r.returncode, 0, r)
        self.assertIn(b"<alice@test.example>", r.stdout)
        self.assertIn(b"<bob@x.example>", r.stdout)
        r = self.sendmail(inst, ["-bv", "a@@b"])
        self.assertEqual(r.returncode, EX_DATAERR, r)

    def test_usage_errors_exit_64(self):
        inst = self.instance(start=False)
        self.assertEqual(self.sendmail(inst, ["-Q"]).returncode, EX_USAGE)
        self.assertEqual(self.sendmail(inst, [], b"x\n").returncode,
                         EX_USAGE)
        self.assertEqual(self.sendmail(inst, ["-t"], b"Subject: s\n\nb\n")
                         .returncode, EX_USAGE)
        self.assertEqual(self.sendmail(inst, ["-bd"]).returncode, EX_USAGE)
        self.assertEqual(self.sendmail(inst, ["-N", "sometimes", "a"])
                         .returncode, EX_USAGE)

    def test_ternd_stopped_exits_0_and_delivers_after_start(self):
        inst = self.instance()
        inst.stop()
        r = self.sendmail(inst, ["alice@test.example"],
                          b"Subject: while stopped\n\nqueued later\n")
        self.assert_ok(r)
        self.assertEqual(len(self.maildrop(inst)), 1)
        self.assertEqual(inst.maildir_files("alice"), [])
        inst.start()
        data = open(inst.wait_for_delivery("alice")[0], "rb").read()
        self.assertTrue(data.endswith(b"\n\nqueued later\n"))
        wait_until(lambda: self.maildrop(inst) == [], 10,
                   what="the maildrop file to go")
        self.assertEqual(len(re.findall(r": uid=0 from=", inst.log())), 1)
        self.assertEqual(len(inst.maildir_files("alice")), 1)

    def test_maildrop_unusable_exits_75_with_a_message(self):
        inst = self.instance(start=False)    # the spool does not exist
        r = self.sendmail(inst, ["alice@test.example"], b"Subject: x\n\nb\n")
        self.assertEqual(r.returncode, EX_TEMPFAIL, r)
        self.assertIn(b"maildrop", r.stderr)

    def test_mailq_and_q_run_ternctl(self):
        inst = self.instance(relayhost="[127.0.0.2]:9",
                             minimal_backoff_time="300s",
                             maximal_backoff_time="600s")
        self.assert_ok(self.sendmail(inst, ["x@remote.test"],
                                     b"Subject: waits\n\nb\n"))
        wait_until(lambda: "status=deferred" in inst.log(), 20,
                   what="the deferral")
        qid = re.search(r"([0-9A-F]{16}): uid=0", inst.log()).group(1)
        mailq = os.path.join(inst.tmp, "mailq")
        os.symlink(binary("sendmail"), mailq)
        r = self.sendmail(inst, [], prog=mailq)
        self.assertEqual(r.returncode, 0, r)
        self.assertIn(qid.encode(), r.stdout)
        self.assertIn(b"x@remote.test", r.stdout)
        r = self.sendmail(inst, ["-bp"])
        self.assertIn(qid.encode(), r.stdout)
        r = self.sendmail(inst, ["-q"])
        self.assertEqual(r.returncode, 0, r)
        self.assertIn(b"flush", r.stdout)


    def test_qI_and_qR_flush_one_message_and_one_domain(self):
        # Deferred with a long backoff: only a flush tries them again.
        port = free_port("127.0.0.2")
        inst = self.instance(relayhost="[127.0.0.2]:%d" % port,
                             minimal_backoff_time="1h",
                             maximal_backoff_time="2h",
                             delay_warning_time="0")
        for rcpt in ("x@one.test", "y@two.test", "z@three.test"):
            self.assert_ok(self.sendmail(inst, [rcpt],
                                         b"Subject: waits\n\nb\n"))
        wait_until(lambda: inst.log().count("status=deferred") == 3, 30,
                   what="three deferrals")
        qid = re.search(r"([0-9A-F]{16}): to=<x@one\.test>",
                        inst.log()).group(1)
        sink = Sink("127.0.0.2", port).start()
        self.addCleanup(sink.stop)
        self.assert_ok(self.sendmail(inst, ["-qI", qid]))
        sink.wait_messages(1)
        self.assert_ok(self.sendmail(inst, ["-qRtwo.test"]))
        sink.wait_messages(2)
        # The third was in neither flush: still deferred, once.
        time.sleep(1)
        self.assertEqual(sorted(sink.recipients()),
                         ["x@one.test", "y@two.test"])
        self.assertEqual(len(re.findall(r"to=<z@three\.test>.*"
                                        r"status=deferred", inst.log())), 1)


class TestNewaliases(SendmailTestCase):

    def test_newaliases_compiles_alias_maps(self):
        inst = self.instance(aliases={"team": "alice, bob"})
        with open(inst.aliases_path, "a") as f:
            f.write("sales: carol\n")
        newaliases = os.path.join(inst.tmp, "newaliases")
        os.symlink(binary("sendmail"), newaliases)
        db = inst.aliases_path + ".db"
        before = os.stat(db).st_mtime_ns
        r = self.sendmail(inst, [], prog=newaliases)
        self.assertEqual(r.returncode, 0, r)
        self.assertGreater(os.stat(db).st_mtime_ns, before)
        r = subprocess.run([binary("ternmap"), "-a", "-q", "sales",
                            inst.aliases_path], stdout=subprocess.PIPE)
        self.assertEqual(r.stdout, b"carol\n")
        # -bi is the same; a source that does not parse fails.
        with open(inst.aliases_path, "a") as f:
            f.write("broken line without colon\n")
        r = self.sendmail(inst, ["-bi"])
        self.assertNotEqual(r.returncode, 0, r)

    def test_lookupd_reads_aliases_without_db(self):
        # A source never compiled, and one edited since: mail for the
        # aliases in it is delivered, not deferred, and ternd -n warns.
        inst = self.instance(start=False, aliases={"team": "alice"})
        os.unlink(inst.aliases_path + ".db")
        r = subprocess.run([binary("ternd"), "-n", "-c", inst.conf],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.assertEqual(r.returncode, 0, r.stdout)
        self.assertIn(b"lookupd reads", r.stdout)
        inst.start()
        with smtp_connect(inst) as s:
            s.sendmail("dave@test.example", ["team@test.example"],
                       b"Subject: a\r\n\r\nb\r\n")
        inst.wait_for_delivery("alice")
        self.assertRegex(inst.log(), r"aliases\.db is missing; reading")
        # Edited: the new alias works at once, from the text.
        with open(inst.aliases_path, "a") as f:
            f.write("crew: bob\n")
        self.assert_ok(self.sendmail(inst, ["crew@test.example"],
                                     b"Subject: c\n\nb\n"))
        inst.wait_for_delivery("bob")
        self.assertNotIn("status=deferred", inst.log())


class TestMaildropTrust(SendmailTestCase):
    """What a user can and cannot do to the maildrop and to queued."""

    def test_malformed_maildrop_files_are_quarantined_and_logged(self):
        inst = self.instance()
        queued = inst.pids("tern-queued")
        md = os.path.join(inst.spool, "maildrop")
        qid = queue_file.new_qid()
        good = queue_file.build(qid, "root@test.example",
                                ["alice@test.example"],
                                b"Subject: ok\r\n\r\nb\r\n",
                                protocol="local")
        bad = {
            # garbage
            "0000000000000001": b"this is not a queue file\n" * 10,
            # a whole file cut short: no trailer
            "0000000000000002": good[:-30],
            # a valid trailer over an envelope that does not validate
            "0000000000000003": queue_file.build(
                qid, "root@test.example", ["alice@test.example\r\nX"],
                b"b\r\n"),
            # checksum wrong: one octet of the message changed
            "0000000000000004": good[:-30] + b"X" + good[-29:],
            # a name that is no submission
            "not-a-maildrop-name": good,
        }
        # Each is made under a temporary (dot) name and renamed, as
        # tern-postdrop does.  Those without a trailer are made old: a
        # young one may still be being written, and waits.
        os.mkfifo(os.path.join(md, ".fifo"))
        os.rename(os.path.join(md, ".fifo"),
                  os.path.join(md, "0000000000000005"))
        os.symlink("/etc/passwd", os.path.join(md, ".link"))
        os.rename(os.path.join(md, ".link"),
                  os.path.join(md, "0000000000000006"))
        # Old enough not to wait (a minute), young enough that a scan
        # between the write and the rename does not take the temporary
        # file for one abandoned (MAILDROP_TEMP_STALE, an hour).
        old = time.time() - 600
        for name, data in bad.items():
            tmp = os.path.join(md, "." + name)
            with open(tmp, "wb") as f:
                f.write(data)
            os.utime(tmp, (old, old))
            os.rename(tmp, os.path.join(md, name))
        wait_until(lambda: self.maildrop(inst) == [], 20,
                   what="maildrop to be emptied: %s" % self.maildrop(inst))
        corrupt = os.listdir(os.path.join(inst.spool, "corrupt"))
        self.assertEqual(len(corrupt), 7, corrupt)
        log = inst.log()
        self.assertEqual(log.count("malformed submission moved to "
                                   "corrupt/maildrop."), 7, log)
        for why in ("no trailer", "envelope: bad recipient address",
                    "checksum mismatch", "not a maildrop file name",
                    "not a regular file", "a symbolic link"):
            self.assertIn(why, log)
        self.assertEqual(inst.pids("tern-queued"), queued,
                         "queued restarted")
        self.assertNotIn("uid=", log)
        self.assertEqual(inst.all_delivered(), {})
        # queued still takes good mail.
        self.assert_ok(self.sendmail(inst, ["alice@test.example"],
                                     b"Subject: after\n\nb\n"))
        inst.wait_for_delivery("alice")

    def test_claimed_maildrop_file_whose_message_is_queued_is_not_sent_twice(
            self):
        # A crash after the queue took a submission (its index durable)
        # but before its maildrop file went: the file, claimed for that
        # queue ID, is removed at the next start, not delivered again.
        inst = self.instance(relayhost="[127.0.0.2]:9",
                             minimal_backoff_time="300s",
                             maximal_backoff_time="600s")
        self.assert_ok(self.sendmail(inst, ["x@remote.test"],
                                     b"Subject: stays queued\n\nb\n"))
        wait_until(lambda: "status=deferred" in inst.log(), 20,
                   what="the deferral")
        qid = re.search(r"([0-9A-F]{16}): uid=0", inst.log()).group(1)
        inst.stop()
        md = os.path.join(inst.spool, "maildrop")
        claimed = queue_file.new_qid() + "." + qid
        with open(os.path.join(md, claimed), "wb") as f:
            f.write(queue_file.build(queue_file.new_qid(1),
                                     "root@test.example",
                                     ["alice@test.example"],
                                     b"Subject: twice?\r\n\r\nb\r\n",
                                     protocol="local"))
        # ... and one claimed for a queue file that never became whole:
        # taken again, delivered once.
        again = queue_file.new_qid(2) + "." + queue_file.new_qid(3)
        with open(os.path.join(md, again), "wb") as f:
            f.write(queue_file.build(queue_file.new_qid(4),
                                     "root@test.example",
                                     ["bob@test.example"],
                                     b"Subject: once\r\n\r\nb\r\n",
                                     protocol="local"))
        inst.start()
        inst.wait_for_delivery("bob")
        wait_until(lambda: self.maildrop(inst) == [], 10,
                   what="the maildrop to empty")
        log = inst.log()
        self.assertIn("%s: its submission maildrop/%s was already queued"
                      % (qid, claimed), log)
        # Taken into the queue: the first message, and bob's once.
        self.assertEqual(len(re.findall(r": uid=0 from=", log)), 2, log)
        self.assertEqual(inst.maildir_files("alice"), [])
        self.assertEqual(len(inst.maildir_files("bob")), 1)

    def test_root_only_non_root_user_is_logged_with_its_uid(self):
        if not is_root():
            self.skipTest("root only: runs sendmail as nobody")
        inst = self.instance(start=False)
        self.setgid_libexec(inst)
        inst.start()
        r = self.sendmail(inst, ["alice@test.example"],
                          b"Subject: from nobody\n\nb\n", user="nobody")
        self.assert_ok(r)
        data = open(inst.wait_for_delivery("alice")[0], "rb").read()
        uid = pwd.getpwnam("nobody").pw_uid
        self.assertRegex(inst.log(), r"[0-9A-F]{16}: uid=%d "
                         r"from=<nobody@test\.example>" % uid)
        self.assertIn(b"Return-Path: <nobody@test.example>\n", data)
        self.assertRegex(unfold(data.decode()),
                         r"Received: by test\.example \(tern, from userid "
                         r"%d\)" % uid)
        # ternd -n is content with this tern-postdrop, and says so when
        # it is not set-group-ID.
        r = subprocess.run([binary("ternd"), "-n", "-c", inst.conf],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.assertNotIn(b"tern-postdrop", r.stdout)
        os.chmod(os.path.join(inst.tmp, "libexec", "tern-postdrop"), 0o755)
        r = subprocess.run([binary("ternd"), "-n", "-c", inst.conf],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.assertIn(b"tern-postdrop should be owned by root, group "
                      b"_terndrop, mode 2755", r.stdout)

    def test_root_only_user_lists_only_own_submissions(self):
        # ternctl queue shows a user the messages they submitted with
        # sendmail (the uid pickup records in the index), and nobody
        # else's; an administrator sees both.
        if not is_root():
            self.skipTest("root only: runs sendmail as two users")
        port = free_port("127.0.0.2")   # nothing listens: mail waits
        inst = self.instance(start=False,
                             relayhost="[127.0.0.2]:%d" % port,
                             minimal_backoff_time="1h",
                             maximal_backoff_time="2h",
                             delay_warning_time="0")
        self.setgid_libexec(inst)
        inst.start()
        for user in ("nobody", "daemon"):
            self.assert_ok(self.sendmail(
                inst, ["x@remote.test"], b"Subject: from %s\n\nb\n"
                % user.encode(), user=user))
        wait_until(lambda: len(re.findall(r"status=deferred",
                                          inst.log())) >= 2, 30,
                   what="both messages deferred")
        qids = {}
        for user in ("nobody", "daemon"):
            uid = pwd.getpwnam(user).pw_uid
            m = re.search(r"([0-9A-F]{16}): uid=%d from=" % uid, inst.log())
            self.assertIsNotNone(m, inst.log())
            qids[user] = m.group(1)

        def queue(user=None):
            kw = {}
            if user is not None:
                pw = pwd.getpwnam(user)
                kw = dict(user=pw.pw_uid, group=pw.pw_gid,
                          extra_groups=[])
            r = subprocess.run([binary("ternctl"), "-c", inst.conf,
                                "queue"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, timeout=30, **kw)
            self.assertEqual(r.returncode, 0, r)
            return r.stdout.decode()
        for user, other in (("nobody", "daemon"), ("daemon", "nobody")):
            out = queue(user)
            self.assertIn(qids[user], out)
            self.assertNotIn(qids[other], out)
        out = queue()
        self.assertIn(qids["nobody"], out)
        self.assertIn(qids["daemon"], out)

    def test_root_only_uid_without_login_name_needs_f(self):
        # A uid with no passwd entry (a container's) has no default
        # sender: 67, EX_NOUSER, unless -f names one.
        if not is_root():
            self.skipTest("root only: runs sendmail as an unnamed uid")
        inst = self.instance(start=False)
        self.setgid_libexec(inst)
        inst.start()
        uid = 54321
        while True:
            try:
                pwd.getpwuid(uid)
                uid += 1
            except KeyError:
                break

        def run(*args):
            return subprocess.run(
                [binary("sendmail"), "-C", inst.conf] + list(args) +
                ["alice@test.example"], input=b"Subject: u\n\nb\n",
                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                user=uid, group=uid, extra_groups=[], timeout=30)
        r = run()
        self.assertEqual(r.returncode, 67, r)
        self.assertIn(b"use -f", r.stderr)
        self.assert_ok(run("-f", "app@test.example"))
        inst.wait_for_delivery("alice")
        self.assertRegex(inst.log(), r"[0-9A-F]{16}: uid=%d "
                         r"from=<app@test\.example>" % uid)

    def test_root_only_user_cannot_forge_a_uid(self):
        # A user who feeds tern-postdrop directly, with an envelope and
        # Received: field of their own making, is still logged as
        # themselves: the uid is the file's owner, set by the kernel.
        if not is_root():
            self.skipTest("root only: runs tern-postdrop as nobody")
        inst = self.instance(start=False)
        pd = self.setgid_libexec(inst)
        inst.start()
        nobody = pwd.getpwnam("nobody")
        forged = queue_file.build(
            queue_file.new_qid(), "root@test.example",
            ["alice@test.example"],
            b"Received: by test.example (tern, from userid 0)\r\n"
            b"Subject: forged\r\n\r\nb\r\n", protocol="local")
        r = subprocess.run([pd, "-C", inst.conf], input=forged,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           user=nobody.pw_uid, group=nobody.pw_gid,
                           extra_groups=[], timeout=30)
        self.assertEqual(r.returncode, 0, r)
        data = open(inst.wait_for_delivery("alice")[0], "rb").read()
        self.assertRegex(inst.log(), r"[0-9A-F]{16}: uid=%d "
                         r"from=<root@test\.example>" % nobody.pw_uid)
        self.assertNotRegex(inst.log(), r"uid=0 ")
        first = split_delivered(data)[0][2].decode()
        self.assertIn("from userid %d)" % nobody.pw_uid, first)
        # Garbage straight into tern-postdrop: refused, nothing written.
        r = subprocess.run([pd, "-C", inst.conf], input=b"garbage" * 100,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           user=nobody.pw_uid, group=nobody.pw_gid,
                           extra_groups=[], timeout=30)
        self.assertEqual(r.returncode, EX_DATAERR, r)
        self.assertIn(b"malformed input", r.stderr)
        self.assertEqual(self.maildrop(inst), [])

    def test_root_only_user_cannot_choose_the_configuration(self):
        # -C from a user other than root must name a file only root
        # can change, or a user could aim tern-postdrop's group at a
        # spool of their choosing.
        if not is_root():
            self.skipTest("root only: runs sendmail as nobody")
        inst = self.instance()
        self.setgid_libexec(inst)
        nobody = pwd.getpwnam("nobody")
        mine = os.path.join(inst.tmp, "nobodys")
        os.mkdir(mine)
        os.chown(mine, nobody.pw_uid, nobody.pw_gid)
        conf = os.path.join(mine, "tern.conf")
        shutil.copy(inst.conf, conf)
        os.chown(conf, nobody.pw_uid, nobody.pw_gid)
        r = subprocess.run([binary("sendmail"), "-C", conf,
                            "alice@test.example"], input=b"Subject: x\n\nb\n",
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           user=nobody.pw_uid, group=nobody.pw_gid,
                           extra_groups=[], timeout=30)
        self.assertEqual(r.returncode, EX_NOPERM, r)
        self.assertIn(b"refused", r.stderr)
        self.assertEqual(self.maildrop(inst), [])
        # The instance's own tern.conf (root's, in root's directory) is
        # accepted from the same user.
        r = self.sendmail(inst, ["alice@test.example"], b"Subject: y\n\nb\n",
                          user="nobody")
        self.assert_ok(r)
        inst.wait_for_delivery("alice")
