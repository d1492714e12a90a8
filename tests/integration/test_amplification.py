"""
One message must not become an attack on the server: case variants of a
local address or an alias are one recipient (one copy each), a large
alias expansion goes out in bounded jobs, and queued keeps serving.
"""

import itertools

from tern_harness import TernTestCase, smtp_connect

MEMBERS = ["m%02d" % i for i in range(12)]


def case_variants(word, n):
    out = []
    for bits in itertools.product((0, 1), repeat=len(word)):
        out.append("".join(c.upper() if b else c for c, b in zip(word, bits)))
        if len(out) == n:
            return out
    raise ValueError("not enough variants")


class TestAmplification(TernTestCase):

    def test_case_variants_of_an_alias(self):
        inst = self.instance(users=MEMBERS + ["alice"],
                             aliases={"engineering": ", ".join(MEMBERS)},
                             smtpd_recipient_limit="1000")
        rcpts = ["%s@test.example" % v
                 for v in case_variants("engineering", 990)]
        rcpts += ["%s@test.example" % v for v in case_variants("alice", 5)]
        with smtp_connect(inst) as s:
            s.ehlo()
            self.assertEqual(s.mail("a@client.test")[0], 250)
            for r in rcpts:
                code, text = s.rcpt(r)
                self.assertEqual(code, 250, (r, text))
            code, text = s.data(b"Subject: amplified?\r\n\r\nbody\r\n")
            self.assertEqual(code, 250, text)
        for u in MEMBERS + ["alice"]:
            inst.wait_for_delivery(u, 1, timeout=60)
        inst.wait_queue_empty(60)
        # Exactly one copy each, and queued never died on the way.
        self.assertEqual(inst.all_delivered(),
                         {u: 1 for u in MEMBERS + ["alice"]})
        self.assertNotIn("tern-queued pid", inst.log())
        # The server still takes mail.
        with smtp_connect(inst) as s:
            s.sendmail("a@client.test", ["alice@test.example"],
                       b"Subject: after\r\n\r\nx\r\n")
        inst.wait_for_delivery("alice", 2)
