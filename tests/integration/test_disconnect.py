"""
A client that vanishes in the middle of DATA leaves nothing behind: no
delivery, no queue file, no incoming file.
"""

import socket
import struct
import time

from tern_harness import TernTestCase, RawSMTP, smtp_connect, wait_until


class TestDisconnect(TernTestCase):

    def _abandon(self, inst, reset):
        c = RawSMTP(inst.port)
        self.assertEqual(c.reply()[0], 220)
        self.assertEqual(c.cmd("EHLO client.test")[0], 250)
        self.assertEqual(c.cmd("MAIL FROM:<gone@client.test>")[0], 250)
        self.assertEqual(c.cmd("RCPT TO:<alice@test.example>")[0], 250)
        self.assertEqual(c.cmd("DATA")[0], 354)
        c.send(b"Subject: half\r\n\r\n" + b"partial line\r\n" * 2000)
        c.send(b"no end of data follows")
        time.sleep(0.5)
        if reset:
            c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                              struct.pack("ii", 1, 0))
        c.close()

    def test_disconnect_mid_data(self):
        inst = self.instance()
        self._abandon(inst, reset=False)
        self._abandon(inst, reset=True)
        time.sleep(3)
        self.assertEqual(inst.all_delivered(), {})
        wait_until(lambda: not inst.msg_files(), 10,
                   what="spool/msg to be empty: %r" % inst.msg_files())
        wait_until(lambda: not inst.spool_files("incoming"), 10,
                   what="spool/incoming to be empty: %r"
                   % inst.spool_files("incoming"))
        self.assertNotIn("from=<gone@client.test>", inst.log())
        # Nothing of it survives a restart either (no queue entry).
        self.assertEqual(inst.stop(), 0)
        inst.start()
        time.sleep(2)
        self.assertEqual(inst.all_delivered(), {})
        self.assertEqual(inst.msg_files(), [])
        # The suite still works afterwards.
        with smtp_connect(inst) as s:
            s.sendmail("ok@client.test", ["alice@test.example"],
                       b"Subject: after\r\n\r\nstill alive\r\n")
        inst.wait_for_delivery("alice", 1)
        inst.wait_queue_empty(10)
        time.sleep(0.5)
        self.assertEqual(inst.all_delivered(), {"alice": 1})
