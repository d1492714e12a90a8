"""
torture_sink - the remote side of the torture test (torture.py): an
aiosmtpd sink (tests/integration/sink.py) in a process of its own, so
that it keeps answering while the load generator is busy, writing one
line per message it accepts to a record file.

    python3 torture_sink.py HOST PORT RECORDS

It prints "ready" on standard output once it listens.  SIGUSR1 releases
every held recipient; SIGTERM stops it after the last record is written.

Recipients under defer.test are named t<ID>-h<SECONDS>-<FATE>: RCPT is
answered 451 until SECONDS after the sink first saw that address (or
until SIGUSR1), then 250 when FATE is "ok" and 550 when it is "bounce",
so that mail sits in tern's queue across kills and is then delivered or
returned to its sender.  Every other recipient is accepted.

A record line is "ID STATE RCPT [RCPT ...]": ID is the X-Torture-Id of
the message ("-" when it has none), STATE what message_state() found
("whole" or "damaged"), RCPT the recipients it was accepted for.
"""

import os
import re
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "integration"))

from sink import Sink  # noqa: E402

DEFER_RE = re.compile(r"^t(\d+)-h(\d+)-(ok|bounce)@defer\.test$", re.I)
ID_RE = re.compile(rb"^X-Torture-Id: (\d+)\r?$", re.M)
LINES_RE = re.compile(rb"^X-Torture-Lines: (\d+)\r?$", re.M)


def body_line(tid):
    """The one line that a torture message's body repeats (no newline)."""
    return ("torture message %d " % tid).ljust(76, "x").encode()


def message_state(data):
    """
    (torture id or None, "whole" | "damaged") of a received message
    (CRLF or LF lines): whole when its body is exactly the X-Torture-Lines
    lines that torture.py wrote, with nothing missing or added.
    """
    m = ID_RE.search(data)
    n = LINES_RE.search(data)
    if m is None or n is None:
        return (int(m.group(1)) if m else None), "damaged"
    tid = int(m.group(1))
    data = data.replace(b"\r\n", b"\n")
    sep = data.find(b"\n\n")
    body = data[sep + 2:] if sep >= 0 else b""
    whole = body == (body_line(tid) + b"\n") * int(n.group(1))
    return tid, "whole" if whole else "damaged"


class TortureSink(Sink):
    """A sink that holds defer.test recipients and records to a file."""

    def __init__(self, host, port, records):
        super().__init__(host, port, hostname="sink.torture.test")
        self.records = open(records, "a", buffering=1)
        self.first_seen = {}
        self.released = False
        self.count = 0

    def rcpt_reply(self, address):
        m = DEFER_RE.match(address)
        if m is None:
            return None
        key = address.lower()
        now = time.monotonic()
        with self.lock:
            first = self.first_seen.setdefault(key, now)
        if not self.released and now < first + int(m.group(2)):
            return "451 4.2.0 <%s>: held for a while (torture)" % address
        if m.group(3).lower() == "bounce":
            return "550 5.1.1 <%s>: rejected for good (torture)" % address
        return None

    def _opened(self, conn):
        # Only the count: tens of thousands of connections are not kept.
        with self.lock:
            self.current += 1

    def record(self, msg):
        tid, state = message_state(msg.data)
        line = " ".join(["-" if tid is None else str(tid), state] +
                        [r.lower() for r in msg.rcpt_tos]) + "\n"
        with self.lock:
            # Written before the 250 goes out: a message tern saw
            # accepted is on record even if this process dies next.
            self.records.write(line)
            self.count += 1
            msg.conn.messages += 1
            return self.count


def main():
    host, port, records = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    sink = TortureSink(host, port, records)
    done = threading.Event()

    def release(signum, frame):
        sink.released = True

    signal.signal(signal.SIGUSR1, release)
    signal.signal(signal.SIGTERM, lambda signum, frame: done.set())
    signal.signal(signal.SIGINT, lambda signum, frame: done.set())
    sink.start()
    print("ready", flush=True)
    while not done.wait(1):
        pass
    sink.stop()
    with sink.lock:
        sink.records.close()


if __name__ == "__main__":
    main()
