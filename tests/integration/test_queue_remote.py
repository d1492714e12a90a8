"""
The queue manager with remote delivery: deferral and retry, one bounce per
message naming exactly the failed recipients, expiry with a delay warning
first, bounces that are not bounced again, and the per-destination
concurrency limit.  The remote side is the scripted aiosmtpd sink reached
through relayhost on another loopback address; bounces to local senders
are checked where they land (the Maildir) and parsed with Python's email
package as RFC 3464 reports.
"""

import email
import email.policy
import re
import smtplib
import time

from sink import Sink
from tern_harness import TernTestCase, free_port, smtp_connect, wait_until

MSG = (b"From: alice@test.example\r\nTo: someone@remote.test\r\n"
       b"Subject: queue test %d\r\nMessage-Id: <q%d@client.test>\r\n\r\n"
       b"body line\r\n")

FAST = {
    "minimal_backoff_time": "1s",
    "maximal_backoff_time": "2s",
    "delay_warning_time": "0",
}


def parse_report(data):
    """A delivered notice (Maildir file, LF lines) as an email object."""
    return email.message_from_bytes(data, policy=email.policy.compat32)


def dsn_blocks(report):
    """The per-message and per-recipient field groups of the report."""
    self_parts = report.get_payload()
    status = [p for p in self_parts
              if p.get_content_type() == "message/delivery-status"]
    assert len(status) == 1, [p.get_content_type() for p in self_parts]
    # email parses message/delivery-status into a list of header blocks.
    return status[0].get_payload()


class RemoteCase(TernTestCase):

    def sink(self, **kw):
        port = free_port("127.0.0.2")
        s = Sink("127.0.0.2", port, **kw).start()
        self.addCleanup(s.stop)
        return s

    def remote_instance(self, relay_port, **settings):
        conf = dict(FAST)
        conf["relayhost"] = "[127.0.0.2]:%d" % relay_port
        conf.update(settings)
        return self.instance(**conf)

    def send(self, inst, rcpts, sender="alice@test.example", n=0,
             mail_options=(), rcpt_options=()):
        with smtp_connect(inst) as s:
            s.ehlo()
            code, text = s.mail(sender, list(mail_options))
            self.assertEqual(code, 250, text)
            for r in rcpts:
                code, text = s.rcpt(r, list(rcpt_options))
                self.assertEqual(code, 250, text)
            code, text = s.data(MSG % (n, n))
            self.assertEqual(code, 250, text)
        return text.decode().split()[-1]

    def notices(self, inst, user):
        return [parse_report(d) for d in inst.maildir_messages(user)]


class TestDeferral(RemoteCase):

    def test_451_rcpt_deferred_then_delivered(self):
        sink = self.sink()
        sink.fail["rcpt"] = "451 4.3.0 try again later"
        inst = self.remote_instance(sink.port)
        qid = self.send(inst, ["someone@remote.test"])
        wait_until(lambda: re.search(
            r"%s: to=<someone@remote.test>, relay=\S+, .*dsn=4\.3\.0, "
            r"status=deferred \(.*451" % qid, inst.log()), 20,
            what="the deferral in the log")
        self.assertEqual(sink.messages, [])
        del sink.fail["rcpt"]
        sink.wait_messages(1, timeout=20)
        wait_until(lambda: re.search(
            r"%s: to=<someone@remote.test>, relay=\S+:%d, delay=\S+, "
            r"delays=\S+, dsn=2\.\d\.\d, status=sent \(" % (qid, sink.port),
            inst.log()), 10, what="the delivery in the log")
        inst.wait_queue_empty(10)
        time.sleep(1)
        self.assertEqual(len(sink.messages), 1)
        self.assertEqual(sink.messages[0].rcpt_tos, ["someone@remote.test"])
        self.assertEqual(inst.all_delivered(), {}, "unexpected notice")


class TestBounce(RemoteCase):

    def test_550_one_of_three(self):
        sink = self.sink()
        sink.rcpt_replies["bad@remote.test"] = "550 5.1.1 no such user here"
        inst = self.remote_instance(
            sink.port, notify_classes="bounce, resource, software",
            aliases={"postmaster": "carol"})
        qid = self.send(inst, ["good1@remote.test", "bad@remote.test",
                               "good2@remote.test"])
        sink.wait_messages(1, timeout=20)
        inst.wait_for_delivery("alice", 1, timeout=20)
        inst.wait_queue_empty(10)
        time.sleep(1)
        self.assertEqual(len(sink.messages), 1)
        self.assertEqual(sorted(sink.recipients()),
                         ["good1@remote.test", "good2@remote.test"])
        notes = self.notices(inst, "alice")
        self.assertEqual(len(notes), 1, "expected exactly one bounce")
        rep = notes[0]
        self.assertEqual(rep.get_content_type(), "multipart/report")
        self.assertEqual(rep.get_param("report-type"), "delivery-status")
        self.assertIn("MAILER-DAEMON@test.example", rep["From"])
        self.assertEqual(rep["Return-Path"], "<>")
        blocks = dsn_blocks(rep)
        self.assertEqual(blocks[0]["Reporting-MTA"], "dns; test.example")
        self.assertIsNotNone(blocks[0]["Arrival-Date"])
        rcpts = blocks[1:]
        self.assertEqual(len(rcpts), 1, "bounce must name one recipient")
        r = rcpts[0]
        self.assertEqual(r["Final-Recipient"], "rfc822; bad@remote.test")
        self.assertEqual(r["Action"], "failed")
        self.assertEqual(r["Status"], "5.1.1")
        self.assertIn("550 5.1.1 no such user here", r["Diagnostic-Code"])
        self.assertTrue(r["Diagnostic-Code"].startswith("smtp;"))
        self.assertIsNotNone(r["Remote-MTA"])
        self.assertIsNotNone(r["Last-Attempt-Date"])
        parts = rep.get_payload()
        self.assertEqual(parts[0].get_content_type(), "text/plain")
        self.assertEqual(parts[2].get_content_type(), "text/rfc822-headers")
        self.assertIn("Subject: queue test 0", parts[2].get_payload())
        self.assertNotIn("body line", parts[2].get_payload())
        self.assertRegex(inst.log(), r"%s: sender non-delivery "
                         r"notification: \w+" % qid)
        # notify_classes has "bounce": the postmaster gets a copy.
        inst.wait_for_delivery("carol", 1, timeout=10)
        self.assertEqual(inst.all_delivered(), {"alice": 1, "carol": 1})

    def test_expiry_after_delay_warning(self):
        port = free_port("127.0.0.2")    # nothing listens there
        inst = self.remote_instance(port, maximal_queue_lifetime="6s",
                                    delay_warning_time="2s")
        qid = self.send(inst, ["gone@remote.test"],
                        mail_options=["RET=FULL", "ENVID=env-77"],
                        rcpt_options=["ORCPT=rfc822;orig@remote.test"])
        inst.wait_for_delivery("alice", 2, timeout=40)
        inst.wait_queue_empty(10)
        time.sleep(1)
        self.assertEqual(len(inst.maildir_files("alice")), 2)
        log = inst.log()
        warn = log.find("%s: sender delay notification:" % qid)
        bounce = log.find("%s: sender non-delivery notification:" % qid)
        self.assertGreaterEqual(warn, 0, "no delay warning logged")
        self.assertGreater(bounce, warn, "the warning must come first")
        self.assertRegex(log, r"%s: from=<alice@test.example>, "
                         r"status=expired, returned to sender" % qid)
        by_subject = {}
        for rep in self.notices(inst, "alice"):
            by_subject[rep["Subject"].split()[0]] = rep
        self.assertEqual(sorted(by_subject), ["Delayed", "Undelivered"])
        delayed = dsn_blocks(by_subject["Delayed"])
        self.assertEqual(delayed[1]["Action"], "delayed")
        self.assertTrue(delayed[1]["Status"].startswith("4."))
        failed_rep = by_subject["Undelivered"]
        self.assertEqual(failed_rep.get_content_type(), "multipart/report")
        blocks = dsn_blocks(failed_rep)
        self.assertEqual(blocks[0]["Original-Envelope-Id"], "env-77")
        self.assertEqual(len(blocks), 2)
        r = blocks[1]
        self.assertEqual(r["Final-Recipient"], "rfc822; gone@remote.test")
        self.assertEqual(r["Original-Recipient"], "rfc822;orig@remote.test")
        self.assertEqual(r["Action"], "failed")
        self.assertTrue(r["Status"].startswith("5."), r["Status"])
        self.assertIsNotNone(r["Diagnostic-Code"])
        self.assertIsNotNone(r["Last-Attempt-Date"])
        # RET=FULL: the whole message comes back.
        parts = failed_rep.get_payload()
        self.assertEqual(parts[2].get_content_type(), "message/rfc822")
        self.assertIn("body line", parts[2].as_string())

    def test_bounce_is_not_bounced(self):
        port = free_port("127.0.0.2")    # nothing listens there
        inst = self.remote_instance(
            port, maximal_queue_lifetime="3s", bounce_queue_lifetime="3s",
            notify_classes="2bounce",
            aliases={"postmaster": "carol"})
        qid = self.send(inst, ["gone@remote.test"],
                        sender="writer@elsewhere.test")
        inst.wait_for_delivery("carol", 1, timeout=40)
        inst.wait_queue_empty(15)
        time.sleep(2)
        log = inst.log()
        m = re.search(r"%s: sender non-delivery notification: (\w+)" % qid,
                      log)
        self.assertIsNotNone(m, "the first bounce was not sent")
        bqid = m.group(1)
        self.assertRegex(log, r"%s: postmaster non-delivery notification: "
                         % bqid)
        self.assertNotRegex(log, r"%s: sender non-delivery notification"
                            % bqid)
        self.assertEqual(inst.all_delivered(), {"carol": 1})
        rep = self.notices(inst, "carol")[0]
        self.assertEqual(rep.get_content_type(), "multipart/report")
        r = dsn_blocks(rep)[1]
        self.assertEqual(r["Final-Recipient"],
                         "rfc822; writer@elsewhere.test")


class TestDoubleBounceDropped(RemoteCase):

    def test_double_bounce_dropped_without_2bounce(self):
        port = free_port("127.0.0.2")
        inst = self.remote_instance(
            port, maximal_queue_lifetime="2s", bounce_queue_lifetime="2s",
            aliases={"postmaster": "carol"})
        qid = self.send(inst, ["gone@remote.test"],
                        sender="writer@elsewhere.test")
        inst.wait_queue_empty(40)
        time.sleep(2)
        log = inst.log()
        m = re.search(r"%s: sender non-delivery notification: (\w+)" % qid,
                      log)
        self.assertIsNotNone(m)
        self.assertRegex(log, r"%s: undeliverable notification from <> "
                         r"discarded" % m.group(1))
        self.assertEqual(inst.all_delivered(), {})


class TestConcurrency(RemoteCase):

    def test_500_messages_limit_5(self):
        sink = self.sink()
        sink.hang["dot"] = 0.02      # keep connections busy a moment
        inst = self.remote_instance(
            sink.port, smtp_destination_concurrency_limit="5")
        s = smtplib.SMTP(inst.listen_host, inst.port,
                         local_hostname="client.test", timeout=60)
        for i in range(500):
            s.sendmail("alice@test.example", ["r%d@remote.test" % i],
                       MSG % (i, i))
        s.quit()
        sink.wait_messages(500, timeout=240)
        inst.wait_queue_empty(30)
        self.assertLessEqual(sink.max_concurrent, 5,
                             "more than 5 connections at once")
        self.assertGreater(sink.max_concurrent, 1,
                           "the window never grew past one connection")
        got = sorted(r for m in sink.messages for r in m.rcpt_tos)
        self.assertEqual(got, sorted("r%d@remote.test" % i
                                     for i in range(500)))


class TestAliasTargets(RemoteCase):

    def test_alias_with_remote_target(self):
        sink = self.sink()
        sink.rcpt_replies["far@remote.test"] = "451 4.2.0 later please"
        inst = self.remote_instance(
            sink.port, aliases={"fwd": "bob, far@remote.test"})
        qid = self.send(inst, ["fwd@test.example"])
        # The local target is delivered while the remote one waits: each
        # target is a recipient of its own.
        inst.wait_for_delivery("bob", 1, timeout=20)
        wait_until(lambda: re.search(
            r"%s: to=<far@remote.test>, orig_to=<fwd@test.example>, .*"
            r"status=deferred" % qid, inst.log()), 20,
            what="the remote target's deferral")
        del sink.rcpt_replies["far@remote.test"]
        sink.wait_messages(1, timeout=20)
        inst.wait_queue_empty(10)
        time.sleep(1)
        self.assertEqual(inst.all_delivered(), {"bob": 1})
        self.assertEqual(sink.recipients(), ["far@remote.test"])
        self.assertEqual(sink.messages[0].dsn_rcpt[0].get("ORCPT"),
                         "rfc822;fwd@test.example")
