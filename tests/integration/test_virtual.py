"""
Virtual domains: users of virtual_mailbox_domains have no account, only
an entry in virtual_mailbox_map naming their Maildir under
virtual_mailbox_base, written as virtual_uid/virtual_gid (never root);
virtual_alias_map rewrites recipients of every domain before delivery.
Mail is sent with smtplib and checked where it lands: the Maildir (and
the owner of each file and directory), the sink that stands for a remote
server, and nowhere else.
"""

import os
import time
import pwd
import re
import subprocess

from sink import Sink
from tern_harness import (HarnessError, TernTestCase, binary, free_port,
                          is_root, smtp_connect, wait_until)

MSG = (b"From: orig@client.test\r\nTo: someone\r\n"
       b"Subject: virtual test\r\n\r\nbody line\r\n")

MAILBOXES = {
    "a1@virt-a.test": "virt-a.test/a1/",
    "a2@virt-a.test": "virt-a.test/a2/",
    "a3@virt-a.test": "virt-a.test/a3/",
    "b1@virt-b.test": "virt-b.test/b1/",
    "b2@virt-b.test": "virt-b.test/b2/",
}


def unused_id():
    """A uid that no account has (virtual users have none), as root;
    else our own: only root can write as someone else."""
    if not is_root():
        return os.getuid(), os.getgid()
    n = 5000
    while True:
        try:
            pwd.getpwuid(n)
        except KeyError:
            return n, n
        n += 1


def ternmap(path, lines):
    """Write the text map and compile it, as an administrator would."""
    tmp = path + ".new"
    with open(tmp, "w") as f:
        for k, v in lines.items():
            f.write("%s  %s\n" % (k, v))
    os.rename(tmp, path)
    r = subprocess.run([binary("ternmap"), path], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=30)
    if r.returncode != 0:
        raise HarnessError("ternmap %s: %s" % (path, r.stdout))


class VirtualCase(TernTestCase):

    def virtual_instance(self, mailboxes=None, aliases=None, sink=None,
                         start=True, **settings):
        """An instance with two virtual domains (not started yet)."""
        uid, gid = unused_id()
        self.uid, self.gid = uid, gid
        inst = self.instance(start=False, **settings)
        self.base = os.path.join(inst.tmp, "vmail")
        os.mkdir(self.base)
        os.chown(self.base, uid, gid)
        os.chmod(self.base, 0o755)
        self.mailbox_map = os.path.join(inst.tmp, "vmailbox")
        self.alias_map = os.path.join(inst.tmp, "valias")
        ternmap(self.mailbox_map, MAILBOXES if mailboxes is None
                else mailboxes)
        ternmap(self.alias_map, aliases or {})
        inst.settings.update({
            "virtual_mailbox_domains": "virt-a.test, virt-b.test",
            "virtual_mailbox_base": self.base,
            "virtual_mailbox_map": self.mailbox_map,
            "virtual_alias_map": self.alias_map,
            "virtual_uid": str(uid),
            "virtual_gid": str(gid),
            # Only relayhost's sink is "remote", and the client is not
            # in mynetworks: what it may send is what tern calls ours.
            "mynetworks": "10.255.255.0/24",
        })
        if sink is not None:
            inst.settings["relayhost"] = "[127.0.0.2]:%d" % sink.port
        inst.write_config()
        if start:
            inst.start()
        return inst

    def sink(self):
        s = Sink("127.0.0.2", free_port("127.0.0.2")).start()
        self.addCleanup(s.stop)
        return s

    def vfiles(self, path):
        """Files in new/ of the virtual Maildir at path (under the base)."""
        d = os.path.join(self.base, path, "new")
        try:
            return sorted(os.path.join(d, n) for n in os.listdir(d))
        except FileNotFoundError:
            return []

    def wait_virtual(self, path, count=1, timeout=30):
        wait_until(lambda: len(self.vfiles(path)) >= count, timeout,
                   what="%d message(s) in %s" % (count, path))
        return self.vfiles(path)

    def all_virtual(self):
        """{path: number of messages} for every Maildir under the base."""
        out = {}
        for root, dirs, _files in os.walk(self.base):
            if "new" in dirs:
                rel = os.path.relpath(root, self.base) + "/"
                n = len(os.listdir(os.path.join(root, "new")))
                if n:
                    out[rel] = n
        return out

    def send(self, inst, rcpts, sender="orig@client.test"):
        with smtp_connect(inst) as s:
            s.ehlo()
            code, text = s.mail(sender)
            self.assertEqual(code, 250, text)
            for r in rcpts:
                code, text = s.rcpt(r)
                self.assertEqual(code, 250, (r, text))
            code, text = s.data(MSG)
            self.assertEqual(code, 250, text)

    def rcpt_reply(self, inst, rcpt):
        with smtp_connect(inst) as s:
            s.ehlo()
            s.mail("orig@client.test")
            return s.rcpt(rcpt)

    def assert_owned(self, path):
        """path and everything under it written as virtual_uid/gid."""
        top = os.path.join(self.base, path.split("/")[0])
        for root, dirs, files in os.walk(top):
            for n in [root] + [os.path.join(root, f) for f in files]:
                st = os.lstat(n)
                self.assertEqual((st.st_uid, st.st_gid),
                                 (self.uid, self.gid), n)


class TestVirtualMailboxes(VirtualCase):

    def test_each_virtual_user_gets_own_maildir_owned_by_virtual_uid(self):
        inst = self.virtual_instance()
        self.send(inst, sorted(MAILBOXES))
        self.send(inst, ["A2@Virt-A.test"])
        for addr, path in MAILBOXES.items():
            files = self.wait_virtual(path, 2 if addr.startswith("a2")
                                      else 1)
            with open(files[0], "rb") as f:
                data = f.read()
            self.assertIn(b"Return-Path: <orig@client.test>", data)
            self.assertIn(b"body line", data)
            self.assert_owned(path)
        inst.wait_queue_empty()
        self.assertEqual(self.all_virtual(),
                         {p: 2 if p.endswith("/a2/") else 1
                          for p in MAILBOXES.values()})
        for p in MAILBOXES.values():
            for sub in ("tmp", "new", "cur"):
                self.assertTrue(os.path.isdir(os.path.join(self.base, p,
                                                           sub)))
        self.assertEqual(inst.all_delivered(), {})
        r = subprocess.run([binary("ternd"), "-c", inst.conf, "-n"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=30)
        self.assertEqual(r.returncode, 0, r.stdout)
        # Logged by address, as Postfix log tools expect.
        self.assertRegex(inst.log(), r"to=<b1@virt-b\.test>, relay=local, "
                         r".*status=sent")
        if is_root():
            self.assertNotEqual(self.uid, 0)

    def test_virtual_mailboxes_stay_with_tern_when_mailbox_transport_is_set(self):
        # mailbox_transport takes the passwd users' mail (here to an LMTP
        # socket where nobody listens: deferred), not virtual mailboxes.
        inst = self.virtual_instance(
            mailbox_transport="lmtp:unix:%s" % "/nonexistent/lmtp")
        self.send(inst, ["a1@virt-a.test", "alice@test.example"])
        self.wait_virtual("virt-a.test/a1/")
        wait_until(lambda: re.search(r"to=<alice@test\.example>.*"
                                     r"status=deferred", inst.log()), 30,
                   what="alice's mail deferred by the absent LMTP server")
        self.assertEqual(inst.maildir_files("alice"), [])

    def test_unknown_virtual_user_refused_at_rcpt(self):
        inst = self.virtual_instance()
        code, text = self.rcpt_reply(inst, "nobody@virt-a.test")
        self.assertEqual(code, 550, text)
        self.assertIn(b"5.1.1", text)
        # The known users of that domain are still accepted.
        self.send(inst, ["a1@virt-a.test"])
        self.wait_virtual(MAILBOXES["a1@virt-a.test"])
        inst.wait_queue_empty()
        self.assertEqual(self.all_virtual(), {"virt-a.test/a1/": 1})

    def test_map_recompiled_takes_effect_without_restart(self):
        inst = self.virtual_instance()
        ternd = inst.proc.pid
        code, _ = self.rcpt_reply(inst, "new@virt-b.test")
        self.assertEqual(code, 550)
        boxes = dict(MAILBOXES)
        boxes["new@virt-b.test"] = "virt-b.test/new/"
        ternmap(self.mailbox_map, boxes)
        self.send(inst, ["new@virt-b.test"])
        self.wait_virtual("virt-b.test/new/")
        # And the alias map: a new catch-all applies at the next lookup.
        code, _ = self.rcpt_reply(inst, "whoever@virt-a.test")
        self.assertEqual(code, 550)
        ternmap(self.alias_map, {"@virt-a.test": "a3@virt-a.test"})
        self.send(inst, ["whoever@virt-a.test"])
        self.wait_virtual("virt-a.test/a3/")
        self.assertEqual(inst.proc.pid, ternd)
        self.assertIsNone(inst.proc.poll())
        self.assert_owned("virt-b.test/new/")

    def test_unreadable_map_is_451_not_acceptance(self):
        # lookupd opens its maps as root at start, so a mode does not make
        # one unreadable; a .db that is not a database, newer than its
        # source, does.
        inst = self.virtual_instance(start=False)
        later = time.time() + 5
        with open(self.mailbox_map + ".db", "wb") as f:
            f.write(b"this is not a Berkeley DB file\n")
        os.utime(self.mailbox_map + ".db", (later, later))
        inst.start()
        code, text = self.rcpt_reply(inst, "a1@virt-a.test")
        self.assertEqual(code, 451, text)
        self.assertIn(b"4.3.0", text)
        code, text = self.rcpt_reply(inst, "nobody@virt-a.test")
        self.assertEqual(code, 451, text)
        # Compiled again: the next lookup reads it, without a restart.
        ternmap(self.mailbox_map, MAILBOXES)
        self.send(inst, ["a1@virt-a.test"])
        self.wait_virtual("virt-a.test/a1/")

    def test_entry_leaving_the_base_refused_with_log_line(self):
        outside = os.path.join(self.id().split(".")[-1] + "-escape")
        boxes = dict(MAILBOXES)
        boxes["evil@virt-a.test"] = "../escape/"
        boxes["abs@virt-a.test"] = "/tmp/%s/" % outside
        boxes["mbox@virt-a.test"] = "virt-a.test/mbox"
        inst = self.virtual_instance(mailboxes=boxes)
        for rcpt in ("evil@virt-a.test", "abs@virt-a.test",
                     "mbox@virt-a.test"):
            code, text = self.rcpt_reply(inst, rcpt)
            self.assertEqual(code, 550, (rcpt, text))
        log = inst.log()
        self.assertIn("virtual_mailbox_map: entry for <evil@virt-a.test> "
                      "refused", log)
        self.assertIn("virtual_mailbox_map: entry for <abs@virt-a.test> "
                      "refused", log)
        self.assertIn("mbox files are not supported yet", log)
        # ternd -n names each refused entry.
        r = subprocess.run([binary("ternd"), "-c", inst.conf, "-n"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=30)
        self.assertNotEqual(r.returncode, 0)
        for rcpt in ("evil@virt-a.test", "abs@virt-a.test",
                     "mbox@virt-a.test"):
            self.assertIn(("virtual_mailbox_map: entry for <%s> refused"
                           % rcpt).encode(), r.stdout)
        self.assertNotIn(b"<a1@virt-a.test>", r.stdout)
        self.assertFalse(os.path.exists(os.path.join(inst.tmp, "escape")))
        self.assertFalse(os.path.exists("/tmp/" + outside))
        self.assertEqual(self.all_virtual(), {})

    def test_symbolic_link_under_base_not_followed(self):
        boxes = dict(MAILBOXES)
        boxes["sym@virt-a.test"] = "virt-a.test/link/inbox/"
        inst = self.virtual_instance(mailboxes=boxes)
        outside = os.path.join(inst.tmp, "outside")
        os.mkdir(outside)
        os.chown(outside, self.uid, self.gid)
        dom = os.path.join(self.base, "virt-a.test")
        os.mkdir(dom)
        os.chown(dom, self.uid, self.gid)
        os.symlink(outside, os.path.join(dom, "link"))
        self.send(inst, ["sym@virt-a.test"])
        wait_until(lambda: "symbolic link, which is not followed" in
                   inst.log(), 30, what="the deferral of sym@virt-a.test")
        self.assertEqual(os.listdir(outside), [])
        self.assertIn("status=deferred", inst.log())


class TestVirtualAliases(VirtualCase):

    def test_catch_all_takes_unknown_users_only(self):
        inst = self.virtual_instance(
            aliases={"@virt-b.test": "b1@virt-b.test"})
        self.send(inst, ["whoever@virt-b.test", "b2@virt-b.test"])
        self.wait_virtual("virt-b.test/b1/")
        self.wait_virtual("virt-b.test/b2/")
        inst.wait_queue_empty()
        self.assertEqual(self.all_virtual(), {"virt-b.test/b1/": 1,
                                              "virt-b.test/b2/": 1})
        with open(self.vfiles("virt-b.test/b1/")[0], "rb") as f:
            self.assertIn(b"Delivered-To: whoever@virt-b.test", f.read())

    def test_domain_rewrite_keeps_local_part(self):
        inst = self.virtual_instance(
            aliases={"@alias.test": "@virt-a.test",
                     "special@alias.test": "b1@virt-b.test"})
        # alias.test is no domain of ours but for its @domain entry: a
        # client outside mynetworks may send to it.
        self.send(inst, ["a1@alias.test", "A3@alias.test",
                         "special@alias.test"])
        self.wait_virtual("virt-a.test/a1/")
        self.wait_virtual("virt-a.test/a3/")
        self.wait_virtual("virt-b.test/b1/")
        inst.wait_queue_empty()
        self.assertEqual(self.all_virtual(), {"virt-a.test/a1/": 1,
                                              "virt-a.test/a3/": 1,
                                              "virt-b.test/b1/": 1})
        # No catch-all: the rewritten address must be a virtual user.
        code, text = self.rcpt_reply(inst, "nobody@alias.test")
        self.assertEqual(code, 550, text)

    def test_alias_to_remote_relayed_with_original_sender(self):
        sink = self.sink()
        inst = self.virtual_instance(
            sink=sink, aliases={"fwd@virt-a.test":
                                "someone@remote.test, a2@virt-a.test",
                                "alice@test.example": "other@remote.test"})
        self.send(inst, ["fwd@virt-a.test", "alice@test.example"],
                  sender="orig@client.test")
        sink.wait_messages(1, timeout=30)
        self.wait_virtual("virt-a.test/a2/")
        inst.wait_queue_empty()
        got = sorted(r for m in sink.messages for r in m.rcpt_tos)
        self.assertEqual(got, ["other@remote.test", "someone@remote.test"])
        for m in sink.messages:
            self.assertEqual(m.mail_from, "orig@client.test")
        # The local domain's alias applied before local delivery.
        self.assertEqual(inst.all_delivered(), {})

    def test_remote_address_without_domain_entry_is_still_relay_denied(self):
        inst = self.virtual_instance(
            aliases={"x@elsewhere.test": "a1@virt-a.test"})
        code, text = self.rcpt_reply(inst, "x@elsewhere.test")
        self.assertEqual(code, 554, text)

    def test_alias_loop_refused_at_rcpt(self):
        inst = self.virtual_instance(
            aliases={"@loop1.test": "@loop2.test",
                     "@loop2.test": "@loop1.test",
                     "l1@virt-a.test": "l2@virt-a.test",
                     "l2@virt-a.test": "a1@virt-a.test, l1@virt-a.test",
                     "self@virt-a.test": "self@virt-a.test, a3@virt-a.test"})
        for rcpt in ("x@loop1.test", "l1@virt-a.test"):
            code, text = self.rcpt_reply(inst, rcpt)
            self.assertEqual(code, 550, (rcpt, text))
            self.assertIn(b"5.4.6", text)
        self.assertIn("virtual alias loop at", inst.log())
        # An address naming itself is no loop: it keeps a copy, if it is
        # a mailbox (self@ has none: refused, nothing half delivered).
        code, text = self.rcpt_reply(inst, "self@virt-a.test")
        self.assertEqual(code, 550, text)
        self.assertEqual(self.all_virtual(), {})

    def test_alias_loop_met_in_the_queue_bounces_with_5_4_6(self):
        # sendmail's mail is not asked about at RCPT: queued meets the
        # loop when it resolves the recipient, and the sender hears.
        inst = self.virtual_instance(
            aliases={"l1@virt-a.test": "l2@virt-a.test",
                     "l2@virt-a.test": "l1@virt-a.test"})
        r = subprocess.run([binary("sendmail"), "-C", inst.conf, "-f",
                            "alice@test.example", "l1@virt-a.test"],
                           input=b"Subject: loop\n\nbody\n",
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=30)
        self.assertEqual(r.returncode, 0, r)
        inst.wait_for_delivery("alice")
        notice = inst.maildir_messages("alice")[0]
        self.assertIn(b"Status: 5.4.6", notice)
        self.assertIn(b"l1@virt-a.test", notice)
        self.assertEqual(self.all_virtual(), {})

    def test_alias_naming_itself_keeps_a_copy(self):
        inst = self.virtual_instance(
            aliases={"a1@virt-a.test": "a1@virt-a.test, a2@virt-a.test"})
        self.send(inst, ["a1@virt-a.test"])
        self.wait_virtual("virt-a.test/a1/")
        self.wait_virtual("virt-a.test/a2/")
        inst.wait_queue_empty()
        self.assertEqual(self.all_virtual(), {"virt-a.test/a1/": 1,
                                              "virt-a.test/a2/": 1})


class TestVirtualSettings(VirtualCase):

    def test_virtual_uid_zero_refused(self):
        inst = self.instance(start=False)
        inst.settings.update({
            "virtual_mailbox_domains": "virt-a.test",
            "virtual_mailbox_base": inst.tmp,
            "virtual_mailbox_map": os.path.join(inst.tmp, "vmailbox"),
            "virtual_uid": "0", "virtual_gid": "0"})
        inst.write_config()
        r = subprocess.run([binary("ternd"), "-c", inst.conf, "-n"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=30)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(b"virtual_uid", r.stdout)
