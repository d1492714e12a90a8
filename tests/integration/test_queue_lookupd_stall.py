"""
queued asks lookupd where recipients' mail goes without waiting for the
answer: a stopped lookupd (SIGSTOP; lookupd and smtpd share a user, so a
compromised smtpd could do this) must not hold up the commits of other
mail, and once lookupd runs again everything is delivered.  A lookup that
gets no answer in time defers its recipient, and lookupd's late answer is
dropped rather than taken for a newer request.
"""

import os
import re
import signal
import time

from tern_harness import TernTestCase, smtp_connect, wait_until, qid_from_reply


def open_session(inst, rcpt):
    """A session that has passed RCPT (lookupd said yes) and waits for DATA."""
    s = smtp_connect(inst)
    s.ehlo()
    s.mail("sender@client.test")
    code, _ = s.rcpt(rcpt)
    assert code == 250, code
    return s


class TestLookupdStall(TernTestCase):

    def stop_lookupd(self, inst):
        pids = inst.pids("tern-lookupd")
        self.assertEqual(len(pids), 1, "one tern-lookupd expected")
        os.kill(pids[0], signal.SIGSTOP)
        self.addCleanup(self.cont, pids[0])
        return pids[0]

    @staticmethod
    def cont(pid):
        try:
            os.kill(pid, signal.SIGCONT)
        except ProcessLookupError:
            pass

    def data(self, s, subject):
        t0 = time.monotonic()
        code, text = s.data(("Subject: %s\r\n\r\nbody\r\n" % subject).encode())
        s.quit()
        return code, qid_from_reply(text), time.monotonic() - t0

    def test_stopped_lookupd_does_not_stall_commits(self):
        inst = self.instance()
        first = open_session(inst, "alice@test.example")
        second = open_session(inst, "bob@test.example")
        pid = self.stop_lookupd(inst)
        # Committed, then due at once: queued now asks the stopped lookupd.
        code, qid1, _ = self.data(first, "first")
        self.assertEqual(code, 250)
        time.sleep(0.5)
        # A queued that waited for lookupd would answer this one only
        # after its lookup timeout (10 s), or smtpd would give up with 451.
        code, qid2, took = self.data(second, "second")
        self.assertEqual(code, 250)
        self.assertLess(took, 3.0, "the commit waited for a stopped lookupd")
        self.assert_nothing_delivered(inst)
        os.kill(pid, signal.SIGCONT)
        inst.wait_for_delivery("alice", 1, timeout=20)
        inst.wait_for_delivery("bob", 1, timeout=20)
        inst.wait_queue_empty()
        log = inst.log()
        for qid, rcpt in ((qid1, "alice"), (qid2, "bob")):
            self.assertRegex(log, r"%s: to=<%s@test\.example>, relay=local, "
                             r".*status=sent" % (qid, rcpt))
            self.assertNotRegex(log, r"%s: .*status=deferred" % qid)
        self.assertNotIn("lookupd did not answer", log)

    def test_unanswered_lookup_defers_then_delivers(self):
        inst = self.instance(aliases={"team": "alice, bob"})
        s = open_session(inst, "team@test.example")
        other = open_session(inst, "carol@test.example")
        pid = self.stop_lookupd(inst)
        code, qid, took = self.data(s, "to the team")
        self.assertEqual(code, 250)
        # The lookup times out (10 s): the recipient is deferred, not
        # bounced, and queued keeps serving smtpd meanwhile.
        deferred = re.compile(r"%s: to=<team@test\.example>, relay=none, .*"
                              r"dsn=4\.3\.0, status=deferred \(temporary "
                              r"lookup failure\)" % qid)
        code, qid2, took = self.data(other, "meanwhile")
        self.assertEqual(code, 250)
        self.assertLess(took, 3.0)
        wait_until(lambda: deferred.search(inst.log()), 20,
                   what="the unanswered lookup to defer")
        self.assertIn("lookupd did not answer", inst.log())
        self.assert_nothing_delivered(inst)
        # lookupd wakes up and answers the old requests: those answers
        # are dropped (nothing asks for them any more), and the retry
        # asks anew and expands the alias.
        os.kill(pid, signal.SIGCONT)
        for user in ("alice", "bob", "carol"):
            inst.wait_for_delivery(user, 1, timeout=20)
        inst.wait_queue_empty()
        log = inst.log()
        self.assertRegex(log, r"%s: to=<team@test\.example>, "
                         r"status=expanded \(2 recipients\)" % qid)
        self.assertNotRegex(log, r"%s: .*status=bounced" % qid)
        self.assertNotRegex(log, r"lookupd.*disconnecting")
        # One copy each, to the right mailboxes: the late answers (for
        # team and carol) went nowhere.
        self.assertEqual(inst.all_delivered(),
                         {"alice": 1, "bob": 1, "carol": 1})

    def test_killed_lookupd_fails_its_lookups_at_once(self):
        inst = self.instance()
        s = open_session(inst, "alice@test.example")
        pid = self.stop_lookupd(inst)
        code, qid, _ = self.data(s, "lookupd dies")
        self.assertEqual(code, 250)
        time.sleep(0.5)
        # The lookup is outstanding; lookupd dies (ternd starts a new
        # one).  The request fails when the channel closes, long before
        # its timeout, and the retry asks the new lookupd.
        t0 = time.monotonic()
        os.kill(pid, signal.SIGKILL)
        deferred = re.compile(r"%s: to=<alice@test\.example>, relay=none, .*"
                              r"dsn=4\.3\.0, status=deferred \(temporary "
                              r"lookup failure\)" % qid)
        wait_until(lambda: deferred.search(inst.log()), 20,
                   what="the lookup of the dead lookupd to fail")
        self.assertLess(time.monotonic() - t0, 5.0)
        inst.wait_for_delivery("alice", 1, timeout=20)
        inst.wait_queue_empty()
        self.assertNotIn("lookupd did not answer", inst.log())
        self.assertEqual(inst.all_delivered(), {"alice": 1})
