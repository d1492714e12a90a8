"""
Per-client limits, counted by ternd across the whole smtpd pool:
smtpd_client_connection_limit (simultaneous sessions per address) and
smtpd_client_connection_rate_limit (connections per address per time
unit).  Other addresses and exempt networks are not affected, and a
refused client hears 421 at once.
"""

import signal
import socket

from tern_harness import TernTestCase, wait_until

# Not the clients below: the per-client limits apply to them.
NO_EXCEPTIONS = "192.0.2.0/24"


def connect(inst, src="127.0.0.1"):
    """(socket, first reply line) for a client bound to source address src."""
    s = socket.create_connection(("127.0.0.1", inst.port), timeout=10,
                                 source_address=(src, 0))
    data = b""
    while not data.endswith(b"\n"):
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    return s, data


def closed_by_server(s, timeout=3):
    s.settimeout(timeout)
    try:
        return s.recv(4096) == b""
    except (socket.timeout, TimeoutError):
        return False
    except ConnectionResetError:
        return True


class TestLimitsClient(TernTestCase):
    time_limit = 90

    def test_concurrency_limit_per_address(self):
        inst = self.instance(smtpd_client_connection_limit="3",
                             smtpd_client_event_limit_exceptions=
                             NO_EXCEPTIONS + ", 127.0.0.5/32")
        # Not 127.0.0.1: the harness's own check that ternd is up came
        # from there, and ternd may not have counted its end yet.
        src = "127.0.0.6"
        held = []
        for _ in range(3):
            s, banner = connect(inst, src)
            self.addCleanup(s.close)
            self.assertTrue(banner.startswith(b"220 "), banner)
            held.append(s)
        s, banner = connect(inst, src)
        self.addCleanup(s.close)
        self.assertEqual(banner, b"421 4.7.0 test.example Error: too many "
                         b"connections from 127.0.0.6\r\n")
        self.assertTrue(closed_by_server(s))
        # Another address is served, as are exempt ones beyond the limit.
        s2, banner = connect(inst, "127.0.0.2")
        self.addCleanup(s2.close)
        self.assertTrue(banner.startswith(b"220 "), banner)
        for _ in range(5):
            s5, banner = connect(inst, "127.0.0.5")
            self.addCleanup(s5.close)
            self.assertTrue(banner.startswith(b"220 "), banner)
        # A session ends: the client may open another.
        held[0].sendall(b"QUIT\r\n")
        self.assertTrue(held[0].recv(4096).startswith(b"221"))
        held[0].close()

        def admitted():
            s, banner = connect(inst, src)
            s.close()
            return banner.startswith(b"220 ")
        wait_until(admitted, 5, interval=0.2,
                   what="a fourth session after one ended")
        self.assertIn("warning: Connection concurrency limit exceeded: 4 "
                      "from unknown[127.0.0.6] for service smtp", inst.log())

    def test_rate_limit_per_address(self):
        inst = self.instance(smtpd_client_connection_limit="0",
                             smtpd_client_connection_rate_limit="4",
                             smtpd_client_rate_time_unit="60s",
                             smtpd_client_event_limit_exceptions=
                             NO_EXCEPTIONS)
        for _ in range(4):
            s, banner = connect(inst, "127.0.0.3")
            self.assertTrue(banner.startswith(b"220 "), banner)
            s.sendall(b"QUIT\r\n")
            s.recv(4096)
            s.close()
        s, banner = connect(inst, "127.0.0.3")
        self.addCleanup(s.close)
        self.assertEqual(banner, b"421 4.7.0 test.example Error: too many "
                         b"connections from 127.0.0.3\r\n")
        self.assertTrue(closed_by_server(s))
        s2, banner = connect(inst, "127.0.0.4")
        self.addCleanup(s2.close)
        self.assertTrue(banner.startswith(b"220 "), banner)
        self.assertIn("warning: Connection rate limit exceeded: 5 from "
                      "unknown[127.0.0.3] for service smtp", inst.log())

    def test_default_exempts_mynetworks(self):
        # With the defaults (limit 20, exceptions $mynetworks) loopback
        # clients, which are in the harness's mynetworks, are not limited.
        inst = self.instance(smtpd_max_procs="40")
        socks = []
        for _ in range(25):
            s, banner = connect(inst)
            self.addCleanup(s.close)
            self.assertTrue(banner.startswith(b"220 "), banner)
            socks.append(s)

    def test_client_served_when_ternd_does_not_answer(self):
        # ternd counts the clients; while it is stopped, smtpd waits for
        # its verdict only so long (5 s), then serves the client (failing
        # closed would refuse everyone's mail).  The answer that comes
        # late is dropped quietly, and the next clients are counted again.
        inst = self.instance(smtpd_client_connection_limit="1",
                             smtpd_client_event_limit_exceptions=
                             NO_EXCEPTIONS)
        inst.signal_ternd(signal.SIGSTOP)
        try:
            s, banner = connect(inst, "127.0.0.7")
            self.addCleanup(s.close)
        finally:
            inst.signal_ternd(signal.SIGCONT)
        self.assertTrue(banner.startswith(b"220 "), banner)
        self.assertIn("ternd did not answer about client 127.0.0.7; "
                      "serving it", inst.log())
        s.sendall(b"EHLO client.test\r\n")
        self.assertIn(b"250 ", s.recv(4096))
        s.sendall(b"QUIT\r\n")
        self.assertTrue(s.recv(4096).startswith(b"221 "))
        s.close()
        # ternd counts again: 127.0.0.8 gets its one session and no more
        # (the late answer did not shift the next ones).
        held, banner = connect(inst, "127.0.0.8")
        self.addCleanup(held.close)
        self.assertTrue(banner.startswith(b"220 "), banner)
        s2, banner = connect(inst, "127.0.0.8")
        self.addCleanup(s2.close)
        self.assertTrue(banner.startswith(b"421 4.7.0 "), banner)
        self.assertNotIn("rejected MSG_MASTER_CLIENT_VERDICT", inst.log())
