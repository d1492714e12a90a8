"""
SIGHUP reloads the configuration without breaking an open session.
"""

import signal
import time

from tern_harness import TernTestCase, smtp_connect, qid_from_reply


class TestReload(TernTestCase):

    def test_hup_with_open_session(self):
        inst = self.instance()
        s = smtp_connect(inst)
        try:
            s.ehlo()
            self.assertEqual(s.mail("r@client.test")[0], 250)
            self.assertEqual(s.rcpt("alice@test.example")[0], 250)
            inst.settings["message_size_limit"] = "20m"
            inst.write_config()
            inst.signal_ternd(signal.SIGHUP)
            time.sleep(2)
            self.assertIsNone(inst.proc.poll(), "ternd exited on SIGHUP")
            self.assertEqual(s.rcpt("bob@test.example")[0], 250)
            code, text = s.data(b"Subject: across reload\r\n\r\nbody\r\n")
            self.assertEqual(code, 250, text)
            qid = qid_from_reply(text)
            self.assertIsNotNone(qid)
            s.quit()
        finally:
            s.close()
        for u in ("alice", "bob"):
            files = inst.wait_for_delivery(u, 1)
            with open(files[0], "rb") as f:
                self.assertIn(qid.encode(), f.read())
        # New sessions work after the reload and see the new settings.
        with smtp_connect(inst) as s2:
            s2.ehlo()
            self.assertEqual(s2.esmtp_features.get("size", "").strip(),
                             str(20 * 1024 * 1024))
            s2.sendmail("r@client.test", ["carol@test.example"],
                        b"Subject: after reload\r\n\r\nbody\r\n")
        inst.wait_for_delivery("carol", 1)
        # And SIGTERM still stops everything gracefully.
        rc = inst.stop()
        self.assertEqual(rc, 0)
