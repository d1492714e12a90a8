"""
trickle_server - a hostile SMTP server for the deadline tests: it answers
like a plain ESMTP server (no PIPELINING, no STARTTLS) except at one
stage, where it sends its reply one octet per second and watches, between
octets, whether the client has closed the connection.

Used by tests/integration/test_deadline_client.py.  Listens only on a
127.0.0.0/8 address; every socket wait is bounded, and stop() ends it.

Stages: "greeting", "ehlo", "rcpt" and "dot" (the reply to the end of
data).  Each connection is recorded as a Conn; at the trickled stage it
notes how many octets it managed to send and whether the client closed
the connection before the whole reply was out.
"""

import select
import socket
import threading
import time

# Long enough that a client sticking to it would be held for most of a
# minute, one octet per second.
REPLIES = {
    "greeting": b"220 mx.trickle.test ESMTP, one octet at a time\r\n",
    "ehlo": (b"250-mx.trickle.test greets you slowly\r\n"
             b"250-SIZE 10000000\r\n250 8BITMIME\r\n"),
    "rcpt": b"250 2.1.5 Recipient ok, said one octet at a time\r\n",
    "dot": b"250 2.0.0 Ok: queued, said one octet at a time\r\n",
}
NORMAL = {
    "greeting": b"220 mx.trickle.test ESMTP\r\n",
    "ehlo": b"250-mx.trickle.test\r\n250-SIZE 10000000\r\n250 8BITMIME\r\n",
    "rcpt": b"250 2.1.5 Ok\r\n",
    "dot": b"250 2.0.0 Ok: queued\r\n",
}


class Conn:
    """What one connection did."""

    def __init__(self):
        self.commands = []
        self.trickle_started = False
        self.sent = 0              # octets of the trickled reply sent
        self.total = 0             # octets in the trickled reply
        self.closed_early = False  # client closed before the reply was out
        self.said_meanwhile = b""  # what the client sent during the trickle
        self.done = threading.Event()


class _Closed(Exception):
    pass


class TrickleServer:

    def __init__(self, host, port, stage, interval=1.0):
        assert stage in REPLIES, stage
        self.host, self.port, self.stage = host, port, stage
        self.interval = interval
        self.conns = []
        self.first_trickle = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()

    def start(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((self.host, self.port))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        self._thread.join(5)
        self.sock.close()

    def trickled(self, timeout):
        """The first connection that reached the trickled stage, once its
        trickle has ended (closed by the client or sent whole); None when
        none ended within timeout seconds."""
        if not self.first_trickle.wait(timeout):
            return None
        with self._lock:
            c = next(c for c in self.conns if c.trickle_started)
        return c if c.done.wait(timeout) else None

    def _accept(self):
        while not self._stop.is_set():
            try:
                s, _ = self.sock.accept()
            except (socket.timeout, TimeoutError):
                continue
            except OSError:
                return
            c = Conn()
            with self._lock:
                self.conns.append(c)
            threading.Thread(target=self._serve, args=(s, c),
                             daemon=True).start()

    def _serve(self, s, c):
        s.settimeout(60)
        try:
            self._session(s, c, [b""])
        except (_Closed, OSError):
            pass
        finally:
            c.done.set()
            s.close()

    def _reply(self, s, c, stage, buf):
        if stage != self.stage or c.trickle_started:
            s.sendall(NORMAL[stage])
            return
        data = REPLIES[stage]
        c.trickle_started, c.total = True, len(data)
        self.first_trickle.set()
        for i in range(len(data)):
            try:
                s.sendall(data[i:i + 1])
            except OSError:
                c.closed_early = True
                raise _Closed()
            c.sent += 1
            if i + 1 < len(data) and self._closed_within(s, c, buf):
                c.closed_early = True
                raise _Closed()
        c.done.set()

    def _closed_within(self, s, c, buf):
        """Wait one interval; True as soon as the client closes.  What it
        sends meanwhile (a QUIT, say) is kept in buf for the session."""
        end = time.monotonic() + self.interval
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return False
            r, _, _ = select.select([s], [], [], left)
            if not r:
                continue
            try:
                chunk = s.recv(65536)
            except OSError:
                return True
            if not chunk:
                return True
            buf[0] += chunk
            c.said_meanwhile += chunk

    @staticmethod
    def _line(s, buf):
        while b"\n" not in buf[0]:
            chunk = s.recv(65536)
            if not chunk:
                raise _Closed()
            buf[0] += chunk
        line, buf[0] = buf[0].split(b"\n", 1)
        return line.rstrip(b"\r")

    def _session(self, s, c, buf):
        self._reply(s, c, "greeting", buf)
        while not self._stop.is_set():
            line = self._line(s, buf)
            c.commands.append(line.decode("ascii", "replace"))
            verb = line[:4].upper()
            if verb == b"EHLO":
                self._reply(s, c, "ehlo", buf)
            elif verb == b"HELO":
                s.sendall(b"250 mx.trickle.test\r\n")
            elif verb == b"MAIL":
                s.sendall(b"250 2.1.0 Ok\r\n")
            elif verb == b"RCPT":
                self._reply(s, c, "rcpt", buf)
            elif verb == b"DATA":
                s.sendall(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                while self._line(s, buf) != b".":
                    pass
                self._reply(s, c, "dot", buf)
            elif verb == b"RSET":
                s.sendall(b"250 2.0.0 Ok\r\n")
            elif verb == b"QUIT":
                s.sendall(b"221 2.0.0 Bye\r\n")
                return
            else:
                s.sendall(b"502 5.5.2 Error: command not recognized\r\n")
