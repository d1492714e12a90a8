"""
An smtpd worker keeps the pages a session wrote only while more sessions
follow: once it has waited a moment for its next client it gives them
back (smtp_session_release), so that an idle pool holds little more than
its sockets.  A large message writes every page of the session's input
and message-file buffers (128 KiB between them).
"""

import time

from tern_harness import TernTestCase, smtp_connect, wait_until

BUFFERS_KIB = 128   # SMTP_IO_INBUF + MSGFILE_BUFSIZE
SLACK_KIB = 48      # what else a session may leave: malloc's heap, stack


def anonymous_kib(pid):
    """The process's anonymous memory in KiB (smaps_rollup), or None
    when it has gone."""
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                if line.startswith("Anonymous:"):
                    return int(line.split()[1])
    except OSError:
        return None
    raise AssertionError("no Anonymous: line for %d" % pid)


def big_message(subject):
    """A message of about 300 KiB."""
    return ("Subject: %s\r\n\r\n" % subject +
            ("x" * 998 + "\r\n") * 300).encode()


def settled_pids(inst):
    """The smtpd processes once the pool has made its spares: the same
    set twice, a second apart."""
    seen = []

    def same():
        seen.append(sorted(inst.pids("tern-smtpd")))
        if len(seen) < 2 or len(seen[-1]) < 3 or seen[-1] != seen[-2]:
            time.sleep(1)
            return False
        return True
    wait_until(same, 30, what="the smtpd pool to settle")
    return seen[-1]


class TestSmtpdMemory(TernTestCase):

    time_limit = 90

    def test_idle_worker_gives_the_session_pages_back(self):
        inst = self.instance()
        before = {pid: anonymous_kib(pid) for pid in settled_pids(inst)}
        with smtp_connect(inst) as s:
            for i in range(2):
                s.sendmail("sender@client.test", ["alice@test.example"],
                           big_message("big-%d" % i))
        inst.wait_for_delivery("alice", count=2)

        def grown():
            out = {}
            for pid, base in before.items():
                now = anonymous_kib(pid)
                if base is not None and now is not None:
                    out[pid] = now - base
            return out

        # The worker that served the session wrote both buffers whole;
        # within a few seconds of quiet it holds no more than slack.
        wait_until(lambda: max(grown().values(), default=0) < SLACK_KIB, 30,
                   what=lambda: "idle smtpd workers to give back their "
                   "session pages (KiB grown since start, by pid: %s)"
                   % grown())
        self.assertEqual(len(inst.maildir_messages("alice")), 2)
        print("after two 300 KiB messages, every idle worker is back "
              "within %d KiB of its size at start: %s" % (SLACK_KIB, grown()))

