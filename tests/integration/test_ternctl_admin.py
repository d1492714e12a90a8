"""
ternctl queue administration: a deferred message in "queue" (mailq
format) and "queue --json" (parsed), "show" with its last error, "hold"
stopping its retries, "release" and "flush" delivering it, "delete"
removing it and its file; who may do what (a non-admin user sees none of
the SMTP mail and is refused every change, a ternadm member is allowed);
"stats" counting exactly what the test sent, also as Prometheus text;
"check" finding a wrong spool mode; "config -d"; ternmap -s and -q.
"""

import grp
import json
import os
import pwd
import re
import subprocess

from sink import Sink
from tern_harness import (TernTestCase, binary, free_port, is_root,
                          qid_from_reply, smtp_connect, wait_until)

BODY = (b"From: alice@test.example\r\nTo: x@remote.test\r\n"
        b"Subject: admin test\r\n\r\nline one\r\n")


def send(inst, sender, rcpts, body=BODY):
    """One SMTP session: the queue ID, or None; and the RCPT codes."""
    with smtp_connect(inst) as s:
        s.ehlo()
        s.mail(sender)
        codes = [s.rcpt(r)[0] for r in rcpts]
        if 250 not in codes:
            s.rset()
            return None, codes
        code, text = s.data(body)
        assert code == 250, (code, text)
        return qid_from_reply(text), codes


class AdminCase(TernTestCase):

    def ternctl(self, inst, *args, user=None, groups=(), stdin=None):
        cmd = [binary("ternctl"), "-c", inst.conf] + list(args)
        kw = {}
        if user is not None:
            pw = pwd.getpwnam(user)
            kw = dict(user=pw.pw_uid, group=pw.pw_gid,
                      extra_groups=list(groups))
        r = subprocess.run(cmd, input=stdin, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=60, **kw)
        return r.returncode, r.stdout.decode(), r.stderr.decode()

    def ok(self, inst, *args, **kw):
        code, out, err = self.ternctl(inst, *args, **kw)
        self.assertEqual(code, 0, "ternctl %s: %s" % (" ".join(args), err))
        return out

    def deferrals(self, inst, qid):
        return len(re.findall(r"%s: to=<[^>]*>.*status=deferred" % qid,
                              inst.log()))

    def deferred_instance(self, port):
        # Nothing listens on port yet: mail waits, and retries only when
        # told to (the backoff is long).
        return self.instance(relayhost="[127.0.0.2]:%d" % port,
                             minimal_backoff_time="1h",
                             maximal_backoff_time="2h",
                             delay_warning_time="0")


class TestTernctlQueueAdmin(AdminCase):

    def test_deferred_listed_shown_held_released_flushed_delivered(self):
        port = free_port("127.0.0.2")
        inst = self.deferred_instance(port)
        a, _ = send(inst, "alice@test.example", ["x@remote.test"])
        b, _ = send(inst, "alice@test.example", ["y@remote.test"])
        wait_until(lambda: self.deferrals(inst, a) == 1 and
                   self.deferrals(inst, b) == 1, 30,
                   what="the first deferral of both")

        out = self.ok(inst, "queue")
        self.assertRegex(out, r"(?m)^%s  +\d+ \w{3} \w{3} [ \d]\d "
                         r"\d\d:\d\d:\d\d  alice@test\.example$" % a)
        self.assertRegex(out, r"(?m)^\(.*127\.0\.0\.2.*\)$")
        self.assertRegex(out, r"(?m)^ {48}x@remote\.test$")
        self.assertRegex(out, r"(?m)^-- \d+ Kbytes in 2 Requests\.$")

        out = self.ok(inst, "queue", "--json")
        objs = {o["queue_id"]: o for o in
                (json.loads(line) for line in out.splitlines())}
        self.assertEqual(set(objs), {a, b})
        self.assertEqual(objs[a]["queue_name"], "deferred")
        self.assertEqual(objs[a]["sender"], "alice@test.example")
        self.assertIs(objs[a]["held"], False)
        # The size is the one queued logged when it took the message.
        size = re.search(r"%s: from=<[^>]*>, size=(\d+)" % a, inst.log())
        self.assertEqual(objs[a]["message_size"], int(size.group(1)))
        rcpt = objs[a]["recipients"]
        self.assertEqual([r["address"] for r in rcpt], ["x@remote.test"])
        self.assertIn("127.0.0.2", rcpt[0]["delay_reason"])

        out = self.ok(inst, "show", a)
        self.assertIn("sender: <alice@test.example>", out)
        self.assertRegex(out, r"recipient: <x@remote\.test> deferred, "
                         r"1 attempt")
        self.assertRegex(out, r"(?m)^    last error: 4\.\S+ .*127\.0\.0\.2")
        self.assertIn("Subject: admin test\n", out)
        self.assertIn("\nline one\n", out)

        out = self.ok(inst, "hold", a)
        self.assertIn("%s: placed on hold" % a, out)
        self.assertRegex(self.ok(inst, "queue"), r"(?m)^%s!" % a)
        held = json.loads([l for l in self.ok(inst, "queue", "-j")
                           .splitlines() if a in l][0])
        self.assertIs(held["held"], True)
        self.assertEqual(held["queue_name"], "hold")
        # The hold is in the index: a restart keeps it.
        inst.stop()
        inst.start()
        self.assertRegex(self.ok(inst, "queue"), r"(?m)^%s!" % a)

        # Both flushed at once: b is tried again, the held a is not.
        self.ok(inst, "flush")
        wait_until(lambda: self.deferrals(inst, b) == 2, 30,
                   what="the retry of the message not held")
        self.assertEqual(self.deferrals(inst, a), 1)

        sink = Sink("127.0.0.2", port).start()
        self.addCleanup(sink.stop)
        self.assertIn("%s: released from hold" % a,
                      self.ok(inst, "release", a))
        self.ok(inst, "flush")
        sink.wait_messages(2)
        self.assertEqual(sorted(sink.recipients()),
                         ["x@remote.test", "y@remote.test"])
        inst.wait_queue_empty()
        self.assertIn("Mail queue is empty", self.ok(inst, "queue"))

    def test_delete_removes_message_and_its_file(self):
        port = free_port("127.0.0.2")
        inst = self.deferred_instance(port)
        qid, _ = send(inst, "alice@test.example", ["x@remote.test"])
        wait_until(lambda: self.deferrals(inst, qid) == 1, 30,
                   what="the first deferral")
        files = [f for f in inst.spool_files() if f.endswith(qid)]
        self.assertEqual(len(files), 1, inst.spool_files())
        # IDs from stdin, as with postsuper -d -.
        out = self.ok(inst, "delete", "-", stdin=("%s\n" % qid).encode())
        self.assertIn("%s: deleted" % qid, out)
        wait_until(lambda: "%s: removed" % qid in inst.log(), 20,
                   what="the removal")
        self.assertFalse(os.path.exists(files[0]))
        self.assertNotIn(qid, self.ok(inst, "queue"))
        code, out, err = self.ternctl(inst, "delete", qid)
        self.assertEqual(code, 1)
        self.assertIn("no such message", err)
        # A restart finds nothing of it.
        inst.stop()
        inst.start()
        self.assertIn("Mail queue is empty", self.ok(inst, "queue"))


class TestTernctlAuthorization(AdminCase):

    def test_non_admin_sees_nothing_and_changes_nothing(self):
        if not is_root():
            self.skipTest("root only: needs other uids")
        port = free_port("127.0.0.2")
        inst = self.deferred_instance(port)
        qid, _ = send(inst, "alice@test.example", ["x@remote.test"])
        wait_until(lambda: self.deferrals(inst, qid) == 1, 30,
                   what="the first deferral")
        # No local user submitted it: nobody sees it.
        out = self.ok(inst, "queue", user="nobody")
        self.assertIn("Mail queue is empty", out)
        self.assertNotIn(qid, out)
        self.assertEqual(self.ok(inst, "queue", "--json", user="nobody"),
                         "")
        code, out, err = self.ternctl(inst, "show", qid, user="nobody")
        self.assertEqual(code, 1)
        self.assertIn("no such message", err)
        self.assertNotIn("remote.test", out)
        for cmd in ("hold", "release", "delete", "requeue"):
            code, out, err = self.ternctl(inst, cmd, qid, user="nobody")
            self.assertEqual(code, 1, cmd)
            self.assertIn("permission denied", err, cmd)
        for cmd in ("stats", "reload", "stop"):
            code, out, err = self.ternctl(inst, cmd, user="nobody")
            self.assertEqual(code, 1, cmd)
            self.assertIn("permission denied", err, cmd)
        # Anyone may flush, as with Postfix.
        self.ok(inst, "flush", user="nobody")
        self.assertIn(qid, self.ok(inst, "queue"))
        self.assertRegex(inst.log(), r"control: hold refused to uid \d+")

        # A member of tern_admin_group may do everything.
        gid = grp.getgrnam("ternadm").gr_gid
        self.assertIn(qid, self.ok(inst, "queue", user="nobody",
                                   groups=[gid]))
        self.assertIn("%s: placed on hold" % qid,
                      self.ok(inst, "hold", qid, user="nobody",
                              groups=[gid]))
        self.assertIn("%s: deleted" % qid,
                      self.ok(inst, "delete", "ALL", user="nobody",
                              groups=[gid]))
        self.assertIsNone(inst.proc.poll(), "ternd exited")


class TestTernctlStats(AdminCase):

    def stats(self, inst):
        return json.loads(self.ok(inst, "stats", "--json"))

    def test_stats_count_what_was_sent(self):
        port = free_port("127.0.0.2")
        sink = Sink("127.0.0.2", port).start()
        self.addCleanup(sink.stop)
        sink.rcpt_replies["bad@remote.test"] = "550 5.1.1 no such user"
        sink.rcpt_replies["later@remote.test"] = "450 4.2.0 try later"
        inst = self.instance(relayhost="[127.0.0.2]:%d" % port,
                             minimal_backoff_time="1h",
                             maximal_backoff_time="2h")
        before = self.stats(inst)
        send(inst, "alice@test.example", ["good1@remote.test"])
        send(inst, "alice@test.example", ["good2@remote.test",
                                          "nosuch@test.example"])
        # From <>: its failure bounces to nobody.
        send(inst, "", ["bad@remote.test"])
        send(inst, "alice@test.example", ["later@remote.test"])
        qid, codes = send(inst, "alice@test.example",
                          ["nosuch2@test.example"])
        self.assertEqual((qid, codes), (None, [550]))
        wait_until(lambda: inst.log().count("status=sent") == 2 and
                   inst.log().count("status=bounced") == 1 and
                   inst.log().count("status=deferred") == 1, 30,
                   what="every result")
        after = self.stats(inst)
        delta = {k: after[k] - before.get(k, 0) for k in after}
        self.assertEqual(delta["smtpd_connections"], 5)
        self.assertEqual(delta["messages_received"], 4)
        self.assertEqual(delta["recipients_delivered"], 2)
        self.assertEqual(delta["recipients_bounced"], 1)
        self.assertEqual(delta["recipients_deferred"], 1)
        self.assertEqual(delta["smtpd_rejected_unknown_recipient"], 2)
        self.assertEqual(delta["smtpd_rejected_relay_denied"], 0)
        self.assertEqual(after["queue_messages"], 1)
        self.assertGreaterEqual(after["queue_oldest_age_seconds"], 0)

        out = self.ok(inst, "stats", "--prometheus")
        samples, types = {}, {}
        for line in out.splitlines():
            if line.startswith("# TYPE "):
                _, _, name, kind = line.split(" ")
                types[name] = kind
                continue
            if line.startswith("# HELP "):
                continue
            m = re.match(r'^([a-z_]+)(\{reason="([a-z_]+)"\})? (\d+)$', line)
            self.assertIsNotNone(m, line)
            self.assertIn(m.group(1), types, "no TYPE before " + line)
            samples[(m.group(1), m.group(3))] = int(m.group(4))
        self.assertEqual(types["tern_messages_received_total"], "counter")
        self.assertEqual(types["tern_queue_messages"], "gauge")
        self.assertEqual(types["tern_queue_active_messages"], "gauge")
        self.assertEqual(samples[("tern_queue_active_messages", None)],
                         after["queue_active"])
        self.assertEqual(types["tern_local_jobs_waiting"], "gauge")
        self.assertEqual(samples[("tern_local_jobs", None)],
                         after["local_jobs"])
        self.assertEqual(samples[("tern_local_jobs_waiting", None)],
                         after["local_jobs_waiting"])
        self.assertEqual(samples[("tern_messages_received_total", None)],
                         after["messages_received"])
        self.assertEqual(samples[("tern_recipients_delivered_total", None)],
                         after["recipients_delivered"])
        self.assertEqual(samples[("tern_smtpd_rejected_total",
                                  "unknown_recipient")],
                         after["smtpd_rejected_unknown_recipient"])
        self.assertEqual(samples[("tern_queue_messages", None)], 1)
        text = self.ok(inst, "stats")
        self.assertRegex(text, r"(?m)^messages_received +%d$"
                         % after["messages_received"])


class TestTernctlCheckConfig(AdminCase):

    def test_check_finds_a_wrong_spool_mode(self):
        if not is_root():
            self.skipTest("root only: the spool is root's")
        inst = self.instance()
        code, out, err = self.ternctl(inst, "check")
        self.assertEqual(code, 0, err)
        os.chmod(os.path.join(inst.spool, "db"), 0o755)
        code, out, err = self.ternctl(inst, "check")
        self.assertEqual(code, 1)
        self.assertRegex(err, r"(?m)^ternctl: %s/db: mode 0755, should be "
                         r"0700$" % re.escape(inst.spool))
        self.assertEqual(len([l for l in err.splitlines()
                              if "warning" not in l]), 1, err)

    def test_config_defaults(self):
        inst = self.instance(start=False, minimal_backoff_time="7s",
                             maximal_backoff_time="1h")
        out = self.ok(inst, "config", "-d")
        self.assertIn("minimal_backoff_time = 5m\n", out)
        self.assertIn("tern_admin_group = ternadm\n", out)
        self.assertNotIn("7s", out)
        self.assertIn("minimal_backoff_time = 7s\n",
                      self.ok(inst, "config", "-n"))

    def test_ternmap_dump_and_query(self):
        inst = self.instance(start=False, aliases={"postmaster": "alice",
                                                   "team": "bob, carol"})
        r = subprocess.run([binary("ternmap"), "-s", inst.aliases_path],
                           stdout=subprocess.PIPE, timeout=30)
        self.assertEqual(r.returncode, 0)
        lines = sorted(r.stdout.decode().splitlines())
        self.assertEqual(lines, ["postmaster\talice", "team\tbob, carol"])
        r = subprocess.run([binary("ternmap"), "-q", "team",
                            inst.aliases_path], stdout=subprocess.PIPE,
                           timeout=30)
        self.assertEqual((r.returncode, r.stdout), (0, b"bob, carol\n"))
        r = subprocess.run([binary("ternmap"), "-q", "nobody",
                            inst.aliases_path], stdout=subprocess.PIPE,
                           timeout=30)
        self.assertEqual((r.returncode, r.stdout), (1, b""))
