#!/usr/bin/env python3
"""
phases.py PORT N [RCPT] - send N messages, one per connection, to the
SMTP server on 127.0.0.1:PORT, and print the median and mean time of each
step (connect, greeting, EHLO, MAIL, RCPT, DATA to 354, end of data to
250, QUIT) in milliseconds.  Run it beside a load (smtp-source -s 9
...) to see which step a loaded server makes a session wait in
(bench/README.md, item 16).  The recipient is RCPT, by default
alice@bench.test as in bench/run.sh's local workload (user@sink.test is
the relay workload's); the body is about 2 KiB.
"""

import socket
import statistics
import sys
import time

STEPS = ["connect", "greeting", "ehlo", "mail", "rcpt", "data-354",
         "dot-250", "quit"]
BODY = b"Subject: phases\r\n\r\n" + (b"x" * 70 + b"\r\n") * 28 + b".\r\n"


def reply(f):
    """Read one (possibly multi-line) reply; its last line."""
    while True:
        line = f.readline()
        if len(line) < 4 or line[3:4] != b"-":
            return line


def one_message(port, rcpt):
    """The time of each step of one session, in seconds."""
    t = [time.perf_counter()]
    s = socket.create_connection(("127.0.0.1", port))
    t.append(time.perf_counter())
    f = s.makefile("rb")
    reply(f)
    t.append(time.perf_counter())
    for line in (b"EHLO phases.invalid\r\n", b"MAIL FROM:<p@phases.invalid>\r\n",
                 b"RCPT TO:<%s>\r\n" % rcpt.encode(), b"DATA\r\n", BODY,
                 b"QUIT\r\n"):
        s.sendall(line)
        reply(f)
        t.append(time.perf_counter())
    s.close()
    return [b - a for a, b in zip(t, t[1:])]


def main():
    port, n = int(sys.argv[1]), int(sys.argv[2])
    rcpt = sys.argv[3] if len(sys.argv) > 3 else "alice@bench.test"
    times = [one_message(port, rcpt) for _ in range(n)]
    for i, step in enumerate(STEPS + ["total"]):
        v = [1000 * (sum(m) if step == "total" else m[i]) for m in times]
        print("%-9s p50 %.2f ms  mean %.2f ms" % (step, statistics.median(v),
                                                   statistics.mean(v)))


if __name__ == "__main__":
    main()
