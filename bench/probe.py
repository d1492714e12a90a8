#!/usr/bin/env python3
"""
probe.py - latency probes for bench/run.sh: one message at a time through
an MTA to a timestamping sink.

  probe.py sink HOST:PORT
      The timestamping sink: an SMTP server that accepts everything and
      throws it away, like Postfix's smtp-sink, but prints one line
      "A TOKEN NS" on stdout for every message, where NS is
      CLOCK_MONOTONIC in nanoseconds taken right after the read that
      brought the final "." and TOKEN is the value of the message's
      X-Bench-Probe: header ("-" when it has none).  smtp-sink cannot say
      when each message arrived, so this sink serves the accept -> sink
      probe only; every throughput figure uses smtp-sink.  It ends on
      SIGTERM or when its stdin closes.

  probe.py run --server NAME --port PORT --rcpt ADDR --sink HOST:PORT
               --count N [--warmup W] [--size BYTES] [--gap SECONDS]
               [--rep R] [--label L] [--log FILE] --out RAW.jsonl
      Starts the sink on HOST:PORT (where the MTA relays RCPT's domain),
      then sends W + N messages to 127.0.0.1:PORT, one at a time, each in
      its own session, and waits until each has reached the sink before
      the next one.  Per message it records (milliseconds):
        setup    connect -> greeting -> EHLO reply
        eod      the client's end of data (after the final "." is sent)
                 -> the 250 reply
        session  connect -> QUIT reply (the whole session)
        a2s      the 250 reply -> the message's arrival at the sink
      and appends one JSON record (kind "probe") with every sample to
      RAW.jsonl.  With --log (the MTA's log), it also gathers the
      "delays=a/b/c/d" of each message's delivery line, found by the
      queue ID of the 250 reply.

Both ends take their times from CLOCK_MONOTONIC, which all processes of
the machine share, so a2s is comparable across the two processes.  The
client sets TCP_NODELAY and sends the whole message in one write, and
the sink answers a batch of pipelined commands in one write, so neither
end adds Nagle or delayed-ACK stalls of its own: what remains is the
MTA's.
"""

import json
import os
import re
import select
import selectors
import signal
import socket
import subprocess
import sys
import time

EHLO_REPLY = (b"250-sink.bench.invalid\r\n250-PIPELINING\r\n250-8BITMIME\r\n"
              b"250-ENHANCEDSTATUSCODES\r\n250 DSN\r\n")
TOKEN_RE = re.compile(rb"\r\nX-Bench-Probe: ([!-~]+)\r\n")
QID_RE = re.compile(rb"queued as ([A-Za-z0-9]+)")
DELAYS_RE = re.compile(r"^(?:.*?\s)?([A-Za-z0-9]+): to=<[^>]*>.*?, "
                       r"delays=([0-9.]+)/([0-9.]+)/([0-9.]+)/([0-9.]+),"
                       r".*status=(\w+)")


def die(msg):
    sys.stderr.write("probe.py: %s\n" % msg)
    sys.exit(2)


def hostport(text):
    host, _, port = text.rpartition(":")
    return host or "127.0.0.1", int(port)


# --- the timestamping sink ---------------------------------------------------

class SinkConn:
    """One SMTP session of the sink: bytes in, replies out."""

    def __init__(self, sock):
        self.sock = sock
        self.inbuf = bytearray()
        self.data = None        # bytearray while in DATA, else None
        self.scan = 0           # where to look for the end of data next
        self.closing = False
        self.nmsg = 0

    def feed(self, chunk, t_ns, events):
        """Consume chunk (read at t_ns); returns the replies to send."""
        out = bytearray()
        self.inbuf += chunk
        while self.inbuf and not self.closing:
            if self.data is not None:
                if not self.take_data(t_ns, out, events):
                    break
                continue
            nl = self.inbuf.find(b"\n")
            if nl < 0:
                if len(self.inbuf) > 4096:
                    out += b"500 5.5.2 Line too long\r\n"
                    self.closing = True
                break
            line = bytes(self.inbuf[:nl]).rstrip(b"\r")
            del self.inbuf[:nl + 1]
            out += self.command(line)
        return bytes(out)

    def take_data(self, t_ns, out, events):
        """Move message data in; True when the message ended."""
        self.data += self.inbuf
        self.inbuf.clear()
        d = self.data
        if d.startswith(b".\r\n"):
            end, rest = 0, 3
        else:
            end = d.find(b"\r\n.\r\n", self.scan)
            rest = end + 5
        if end < 0:
            self.scan = max(0, len(d) - 4)
            return False
        m = TOKEN_RE.search(b"\r\n" + bytes(d[:end + 2]))
        token = m.group(1).decode("ascii") if m else "-"
        events.append("A %s %d" % (token, t_ns))
        self.nmsg += 1
        self.inbuf[:0] = d[rest:]
        self.data = None
        out += b"250 2.0.0 Ok: queued as ts%d\r\n" % self.nmsg
        return True

    def command(self, line):
        verb = line[:4].upper()
        if verb in (b"EHLO", b"LHLO"):
            return EHLO_REPLY
        if verb == b"HELO":
            return b"250 sink.bench.invalid\r\n"
        if verb == b"MAIL":
            return b"250 2.1.0 Ok\r\n"
        if verb == b"RCPT":
            return b"250 2.1.5 Ok\r\n"
        if verb == b"DATA":
            self.data = bytearray()
            self.scan = 0
            return b"354 End data with <CR><LF>.<CR><LF>\r\n"
        if verb in (b"RSET", b"NOOP"):
            return b"250 2.0.0 Ok\r\n"
        if verb == b"QUIT":
            self.closing = True
            return b"221 2.0.0 Bye\r\n"
        return b"502 5.5.2 Error: command not recognized\r\n"


def send_all(sock, data):
    """Blocking send of a small reply on a non-blocking socket."""
    view = memoryview(data)
    while view:
        try:
            n = sock.send(view)
            view = view[n:]
        except BlockingIOError:
            select.select([], [sock], [], 5)


def cmd_sink(args):
    if len(args) != 1:
        die("usage: probe.py sink HOST:PORT")
    host, port = hostport(args[0])
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((host, port))
    ls.listen(256)
    ls.setblocking(False)
    sel = selectors.DefaultSelector()
    sel.register(ls, selectors.EVENT_READ, None)
    try:
        sel.register(sys.stdin, selectors.EVENT_READ, "stdin")
    except (PermissionError, ValueError):
        pass    # not a pipe (e.g. /dev/null): SIGTERM ends the sink
    out = sys.stdout
    out.write("READY\n")
    out.flush()
    while True:
        for key, _ in sel.select():
            if key.data is None:
                try:
                    c, _ = ls.accept()
                except BlockingIOError:
                    continue
                c.setblocking(False)
                c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                conn = SinkConn(c)
                sel.register(c, selectors.EVENT_READ, conn)
                send_all(c, b"220 sink.bench.invalid ESMTP probe sink\r\n")
                continue
            if key.data == "stdin":
                if not os.read(sys.stdin.fileno(), 512):
                    return 0
                continue
            conn = key.data
            try:
                chunk = conn.sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                chunk = b""
            t_ns = time.monotonic_ns()
            if chunk:
                events = []
                reply = conn.feed(chunk, t_ns, events)
                if events:
                    out.write("\n".join(events) + "\n")
                    out.flush()
                if reply:
                    try:
                        send_all(conn.sock, reply)
                    except OSError:
                        conn.closing = True
            if not chunk or conn.closing:
                sel.unregister(conn.sock)
                conn.sock.close()


# --- the probing client ------------------------------------------------------

class Client:
    """A minimal blocking SMTP client with exact timestamps."""

    def __init__(self, port, timeout):
        self.sock = socket.create_connection(("127.0.0.1", port),
                                             timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def reply(self):
        """The next complete reply: (code, text of all lines)."""
        lines = []
        while True:
            nl = self.buf.find(b"\n")
            if nl < 0:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise OSError("connection closed by the server")
                self.buf += chunk
                continue
            line, self.buf = self.buf[:nl + 1], self.buf[nl + 1:]
            lines.append(line)
            if len(line) < 4 or line[3:4] != b"-":
                code = int(line[:3]) if line[:3].isdigit() else 0
                return code, b"".join(lines)

    def command(self, line, want):
        self.sock.sendall(line + b"\r\n")
        code, text = self.reply()
        if code != want:
            raise OSError("%r: %r" % (line, text.strip()))
        return text

    def close(self):
        self.sock.close()


def make_message(token, size, rcpt):
    """Headers, a body of about size octets, and the final dot."""
    head = ("From: <probe@client.bench.invalid>\r\nTo: <%s>\r\n"
            "Subject: latency probe\r\nMessage-ID: <%s@client.bench.invalid>"
            "\r\nX-Bench-Probe: %s\r\n\r\n" % (rcpt, token, token))
    line = b"latency probe body line, 64 octets long...................\r\n"
    body = line * max(1, size // len(line))
    return head.encode("ascii") + body + b".\r\n"


class SinkProc:
    """The sink as a child process, and the arrivals it reports."""

    def __init__(self, addr):
        self.proc = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "sink", addr],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.buf = b""
        self.arrived = {}
        line = self.next_line(10)
        if line != "READY":
            self.stop()
            die("the probe sink did not start on %s" % addr)

    def next_line(self, timeout):
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            r, _, _ = select.select([self.proc.stdout], [], [], left)
            if r:
                chunk = os.read(self.proc.stdout.fileno(), 65536)
                if not chunk:
                    return None
                self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode("ascii", "replace")

    def wait_for(self, token, timeout):
        """The arrival time (ns) of token, or None after timeout."""
        deadline = time.monotonic() + timeout
        while token not in self.arrived:
            line = self.next_line(max(0.0, deadline - time.monotonic()))
            if line is None:
                return None
            parts = line.split()
            if len(parts) == 3 and parts[0] == "A":
                self.arrived[parts[1]] = int(parts[2])
        return self.arrived[token]

    def stop(self):
        try:
            self.proc.stdin.close()
            self.proc.wait(5)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.terminate()
            self.proc.wait(5)


def one_message(opts, token, sink):
    """One session with one message; a dict of times in ms, or an error."""
    t0 = time.monotonic_ns()
    c = Client(opts["port"], opts["timeout"])
    try:
        code, _ = c.reply()
        if code != 220:
            raise OSError("greeting %d" % code)
        c.command(b"EHLO probe.client.bench.invalid", 250)
        t_ehlo = time.monotonic_ns()
        c.command(b"MAIL FROM:<probe@client.bench.invalid>", 250)
        c.command(b"RCPT TO:<%s>" % opts["rcpt"].encode(), 250)
        c.command(b"DATA", 354)
        c.sock.sendall(make_message(token, opts["size"], opts["rcpt"]))
        t_eod = time.monotonic_ns()
        code, text = c.reply()
        t_250 = time.monotonic_ns()
        if code != 250:
            raise OSError("end of data: %r" % text.strip())
        m = QID_RE.search(text)
        c.command(b"QUIT", 221)
        t_quit = time.monotonic_ns()
    finally:
        c.close()
    t_arr = sink.wait_for(token, opts["timeout"])
    if t_arr is None:
        raise OSError("message %s did not reach the sink in %ss"
                      % (token, opts["timeout"]))
    ms = 1e-6
    return {"setup": (t_ehlo - t0) * ms, "eod": (t_250 - t_eod) * ms,
            "session": (t_quit - t0) * ms, "a2s": (t_arr - t_250) * ms,
            "qid": m.group(1).decode() if m else None}


def log_delays(path, qids):
    """{qid: [a, b, c, d]} from the delivery lines of the MTA's log."""
    found = {}
    if not path or not qids:
        return found
    want = set(qids)
    try:
        with open(path, errors="replace") as f:
            for line in f:
                m = DELAYS_RE.match(line)
                if m and m.group(1) in want and m.group(6) == "sent":
                    found[m.group(1)] = [float(m.group(i))
                                         for i in range(2, 6)]
    except OSError:
        pass
    return found


def cmd_run(args):
    opts = {"warmup": "5", "size": "1024", "gap": "0.02", "rep": "1",
            "timeout": "30", "label": "", "log": ""}
    while args:
        key = args.pop(0).lstrip("-")
        if not args:
            die("option --%s needs a value" % key)
        opts[key] = args.pop(0)
    for k in ("server", "port", "rcpt", "sink", "count", "out"):
        if k not in opts:
            die("run: missing --%s" % k)
    for k in ("port", "count", "warmup", "size"):
        opts[k] = int(opts[k])
    for k in ("gap", "timeout"):
        opts[k] = float(opts[k])

    sink = SinkProc(opts["sink"])
    samples, errors = [], []
    try:
        for i in range(opts["warmup"] + opts["count"]):
            token = "%s-%s-%s-%d" % (opts["server"], opts["label"] or "p",
                                     opts["rep"], i)
            try:
                s = one_message(opts, token, sink)
            except OSError as e:
                errors.append("%s: %s" % (token, e))
                time.sleep(0.2)
                continue
            if i >= opts["warmup"]:
                samples.append(s)
            time.sleep(opts["gap"])
    finally:
        sink.stop()
    delays = log_delays(opts["log"], [s["qid"] for s in samples])
    rec = {"kind": "probe", "server": opts["server"], "label": opts["label"],
           "rep": opts["rep"], "rcpt": opts["rcpt"], "size": opts["size"],
           "count": opts["count"], "ok": len(samples), "errors": errors[:10],
           "time": time.strftime("%H:%M:%S")}
    for k in ("setup", "eod", "session", "a2s"):
        rec[k] = [round(s[k], 3) for s in samples]
    rec["delays"] = [delays.get(s["qid"]) for s in samples]
    with open(opts["out"], "a") as f:
        f.write(json.dumps(rec) + "\n")
    summary = "  ".join("%s p50 %.2f ms" % (k, median(rec[k]))
                        for k in ("setup", "eod", "session", "a2s")
                        if rec[k])
    print("  %-7s probe %-6s rep=%s  %d/%d ok  %s%s"
          % (opts["server"], opts["label"] or "", opts["rep"], len(samples),
             opts["count"], summary,
             ("  errors: %s" % errors[0]) if errors else ""), flush=True)
    return 0 if len(samples) == opts["count"] else 1


def median(values):
    v = sorted(values)
    n = len(v)
    return (v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2) \
        if n else float("nan")


def main(argv):
    if len(argv) < 2:
        die("usage: probe.py sink|run ...")
    if argv[1] == "sink":
        return cmd_sink(argv[2:])
    if argv[1] == "run":
        return cmd_run(argv[2:])
    die("unknown command %s" % argv[1])


if __name__ == "__main__":
    sys.exit(main(sys.argv))
