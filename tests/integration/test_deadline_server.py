"""
smtpd's timeouts are deadlines for whatever it waits for as a whole, not
for each read: a client trickling one octet per second, each octet well
within smtpd_timeout of the last, is dropped when smtpd_timeout runs out
while it sends a STARTTLS handshake, an AUTH response line or a line of
message data.  (A trickled command line is in test_limits_session.py.)

No clock is read: the client counts the octets it managed to send before
it saw the connection closed, out of ten times what the 3 s deadline
allows.
"""

import select
import socket
import ssl

from tern_harness import RawSMTP, TernTestCase, wait_until
from tern_tls import client_context, secure_instance

TRICKLE_MAX = 30    # octets, one a second: ten times smtpd_timeout


def trickle(sock, data, interval=1.0):
    """
    Send data one octet per interval until it is all sent or the server
    closes the connection: (octets sent, closed, what the server said).
    """
    said = b""
    for i in range(len(data)):
        try:
            sock.sendall(data[i:i + 1])
        except OSError:
            return i, True, said
        r, _, _ = select.select([sock], [], [], interval)
        if not r:
            continue
        try:
            chunk = sock.recv(4096)
        except (ssl.SSLError, OSError):
            return i + 1, True, said
        if not chunk:
            return i + 1, True, said
        said += chunk
        # Whatever the server said, it closes next if it gave up.
        sock.settimeout(interval)
        try:
            while chunk:
                chunk = sock.recv(4096)
                said += chunk
            return i + 1, True, said
        except (socket.timeout, TimeoutError):
            pass
        except (ssl.SSLError, OSError):
            return i + 1, True, said
    return len(data), False, said


def client_hello():
    """The first flight of a TLS handshake, as a client would send it."""
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = client_context().wrap_bio(inc, out)
    try:
        tls.do_handshake()
    except ssl.SSLWantReadError:
        pass
    hello = out.read()
    assert len(hello) > TRICKLE_MAX, len(hello)
    return hello[:TRICKLE_MAX]


class TestDeadlineServer(TernTestCase):
    time_limit = 120

    def assert_dropped(self, sent, closed, said):
        self.assertTrue(closed, "still connected after trickling %d octets "
                        "(server said %r)" % (sent, said))
        self.assertLess(sent, TRICKLE_MAX)

    def test_trickled_starttls_handshake_is_dropped_at_smtpd_timeout(self):
        inst = secure_instance(self, smtpd_timeout="3s")
        c = RawSMTP(inst.port)
        self.addCleanup(c.close)
        self.assertEqual(c.reply()[0], 220)
        self.assertEqual(c.cmd("EHLO client.test")[0], 250)
        self.assertEqual(c.cmd("STARTTLS")[0], 220)
        sent, closed, said = trickle(c.sock, client_hello())
        self.assert_dropped(sent, closed, said)
        wait_until(lambda: "SSL_accept error from unknown[127.0.0.1]: "
                   "timeout" in inst.log(), 10, what="the handshake "
                   "timeout in the log")

    def test_trickled_auth_response_is_dropped_at_smtpd_timeout(self):
        inst = secure_instance(self, smtpd_timeout="3s")
        c = RawSMTP(inst.sub_port)
        self.addCleanup(c.close)
        self.assertEqual(c.reply()[0], 220)
        self.assertEqual(c.cmd("EHLO client.test")[0], 250)
        self.assertEqual(c.cmd("STARTTLS")[0], 220)
        c.sock = client_context().wrap_socket(c.sock)
        self.assertEqual(c.cmd("EHLO client.test")[0], 250)
        self.assertEqual(c.cmd("AUTH LOGIN")[0], 334)
        # A user name that never ends, one octet a second.
        sent, closed, said = trickle(c.sock, b"YWxp" * (TRICKLE_MAX // 4 + 1))
        self.assert_dropped(sent, closed, said)
        self.assertIn(b"421 4.4.2 test.example Error: timeout exceeded", said)
        wait_until(lambda: "timeout after AUTH from unknown[127.0.0.1]"
                   in inst.log(), 10, what="the AUTH timeout in the log")

    def test_trickled_data_line_is_dropped_at_smtpd_timeout(self):
        # The DATA phase as a whole may take ten minutes; each line of it
        # must still arrive within smtpd_timeout.
        inst = self.instance(smtpd_timeout="3s", smtpd_data_timeout="10m")
        c = RawSMTP(inst.port)
        self.addCleanup(c.close)
        self.assertEqual(c.reply()[0], 220)
        self.assertEqual(c.cmd("EHLO client.test")[0], 250)
        self.assertEqual(c.cmd("MAIL FROM:<slow@client.test>")[0], 250)
        self.assertEqual(c.cmd("RCPT TO:<alice@test.example>")[0], 250)
        self.assertEqual(c.cmd("DATA")[0], 354)
        c.send(b"Subject: slow\r\n\r\n")
        sent, closed, said = trickle(c.sock, b"x" * TRICKLE_MAX)
        self.assert_dropped(sent, closed, said)
        self.assertIn(b"421 4.4.2 test.example Error: timeout exceeded", said)
        wait_until(lambda: "timeout after DATA from unknown[127.0.0.1]"
                   in inst.log(), 10, what="the DATA timeout in the log")
        self.assert_nothing_delivered(inst)
