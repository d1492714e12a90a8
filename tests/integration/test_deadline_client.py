"""
The smtp client's timeouts are deadlines for a whole reply: a server that
sends its greeting, its EHLO reply, a RCPT reply or its reply to the end
of data one octet per second, each octet well within the timeout of one
read, is dropped when the step's timeout runs out, and the mail is
deferred with the timeout in the log.  The client closes the connection
without a QUIT, which would only make it wait again.

No clock is read here: the trickling server (trickle_server.py) counts
the octets it managed to send before it saw the connection closed; each
trickled reply is ten times longer than the 3 s deadline allows.
"""

import re

from tern_harness import TernTestCase, free_port, wait_until
from test_remote_delivery import send
from trickle_server import TrickleServer


class TestDeadlineClient(TernTestCase):
    time_limit = 150

    def trickle(self, host, stage, **timeouts):
        """A trickling server for stage, an instance relaying to it with
        the given step timeouts, and one message sent: (inst, server, qid)."""
        port = free_port(host)
        srv = TrickleServer(host, port, stage).start()
        self.addCleanup(srv.stop)
        settings = {"relayhost": "[%s]:%d" % (host, port),
                    "smtp_connect_timeout": "3s",
                    "smtp_helo_timeout": "30s",
                    "smtp_mail_timeout": "30s",
                    "smtp_rcpt_timeout": "30s",
                    "smtp_data_init_timeout": "30s",
                    "smtp_data_done_timeout": "30s"}
        settings.update(timeouts)
        inst = self.instance(hostname="a.test", **settings)
        qid, _ = send(inst, "alice@test.example", ["x@remote.test"])
        return inst, srv, qid

    def assert_dropped(self, inst, srv, qid, while_text):
        c = srv.trickled(90)
        self.assertIsNotNone(c, "the client never reached the trickled "
                             "reply, or stayed connected")
        self.assertTrue(c.closed_early, "the client read the whole trickled "
                        "reply (%d of %d octets) instead of giving up; "
                        "commands %r" % (c.sent, c.total, c.commands))
        self.assertLess(c.sent, c.total)
        # Out of step with a server that is still replying, the client
        # just closes: a QUIT would only wait for another reply.
        self.assertNotIn(b"QUIT", c.said_meanwhile.upper())
        rx = re.compile(r"%s: to=<x@remote\.test>, .*status=deferred "
                        r"\(conversation timed out with \S+ while %s"
                        % (qid, while_text))
        wait_until(lambda: rx.search(inst.log()), 30,
                   what=lambda: "deferral in log; tail:\n" + inst.log_tail())

    def test_trickled_greeting_is_dropped_at_helo_timeout(self):
        inst, srv, qid = self.trickle("127.0.0.31", "greeting",
                                      smtp_helo_timeout="3s")
        self.assert_dropped(inst, srv, qid, r"receiving the initial server "
                            r"greeting")

    def test_trickled_ehlo_reply_is_dropped_at_helo_timeout(self):
        inst, srv, qid = self.trickle("127.0.0.32", "ehlo",
                                      smtp_helo_timeout="3s")
        self.assert_dropped(inst, srv, qid, r"sending EHLO")

    def test_trickled_rcpt_reply_is_dropped_at_rcpt_timeout(self):
        inst, srv, qid = self.trickle("127.0.0.33", "rcpt",
                                      smtp_rcpt_timeout="3s")
        self.assert_dropped(inst, srv, qid, r"sending RCPT TO")
        c = srv.conns[0]
        self.assertTrue(any(x.upper().startswith("RCPT TO:<X@REMOTE.TEST>")
                            for x in c.commands), c.commands)

    def test_trickled_end_of_data_reply_is_dropped_at_data_done_timeout(self):
        inst, srv, qid = self.trickle("127.0.0.34", "dot",
                                      smtp_data_done_timeout="3s")
        self.assert_dropped(inst, srv, qid, r"sending end of data")
