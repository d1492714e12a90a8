"""
"\\name" in an alias file (aliases(5)), as in Sendmail and Postfix: the
local user name's own mailbox, without looking name up in the aliases
again and without reading name's ~/.forward.  With real passwd users:

- "alice: \\alice, alice@backup.example" keeps exactly one copy in
  alice's Maildir and sends exactly one to the other address (the sink),
  and nothing bounces: it is not a forwarding loop;
- "\\bob" for a user whose .forward sends his mail away puts the mail in
  bob's Maildir and does not follow the .forward;
- "\\nosuchuser" is an unknown local user: returned to the sender as
  5.1.1, while the alias's other targets are delivered;
- a user's .forward that names an alias whose "\\user" is that user
  again is no forwarding loop: the mailbox gets its one copy.
"""

import re

from test_forward_loop import SENDER, ForwardLoopCase


class TestAliasMailbox(ForwardLoopCase):

    def test_alias_backslash_self_keeps_one_copy_and_forwards_one(self):
        a = self.make_user("k")
        inst = self.start(aliases={a: "\\%s, %s@backup.example" % (a, a)})
        self.send(inst, ["%s@test.example" % a], "keep a copy")
        self.sink.wait_messages(1, timeout=60)
        inst.wait_queue_empty(60)
        self.assertEqual(len(self.mailbox(a)), 1)
        self.assertEqual([(m.mail_from, m.rcpt_tos)
                          for m in self.sink.messages],
                         [(SENDER, ["%s@backup.example" % a])])
        log = inst.log()
        self.assertNotIn("status=bounced", log)
        self.assertNotIn("loop", log)

    def test_alias_backslash_user_does_not_read_the_users_forward(self):
        b = self.make_user("f")
        self.write_forward(b, "elsewhere@remote.test\n")
        inst = self.start(aliases={"team": "\\%s" % b})
        self.send(inst, ["team@test.example"], "to the team")
        inst.wait_queue_empty(60)
        self.assertEqual(len(self.mailbox(b)), 1)
        self.assertEqual(self.sink.messages, [])
        log = inst.log()
        self.assertNotIn(".forward of", log)
        self.assertNotIn("status=bounced", log)

    def test_alias_backslash_unknown_user_bounces_5_1_1(self):
        a = self.make_user("u")
        ghost = "ternlnosuch%s" % a[len("ternlu"):]
        inst = self.start(aliases={"team": "\\%s, \\%s" % (a, ghost)})
        self.send(inst, ["team@test.example"], "to a ghost")
        self.sink.wait_messages(1, timeout=60)
        inst.wait_queue_empty(60)
        self.assertEqual(len(self.mailbox(a)), 1)
        self.assertEqual(len(self.sink.messages), 1)
        m = self.sink.messages[0]
        self.assertEqual((m.mail_from, m.rcpt_tos), ("<>", [SENDER]))
        self.assertEqual(len(re.findall(rb"\nStatus: 5\.1\.1\b", m.data)),
                         1, m.data)
        self.assertIn(ghost.encode(), m.data)
        self.assertNotIn(SENDER.split("@")[0], self.queue_listing(inst))

    def test_forward_to_alias_with_backslash_user_is_not_a_loop(self):
        # u's .forward sends its mail to the alias list, whose "\u"
        # is u's own mailbox (no .forward there): a copy stays with u,
        # the other goes out, and nothing bounces as a forwarding loop.
        u = self.make_user("l")
        self.write_forward(u, "list@test.example\n")
        inst = self.start(aliases={"list": "\\%s, copy@backup.example" % u})
        self.send(inst, ["%s@test.example" % u], "through the list")
        self.sink.wait_messages(1, timeout=60)
        inst.wait_queue_empty(60)
        self.assertEqual(len(self.mailbox(u)), 1)
        self.assertEqual([(m.mail_from, m.rcpt_tos)
                          for m in self.sink.messages],
                         [(SENDER, ["copy@backup.example"])])
        self.assertNotIn("status=bounced", inst.log())
