"""
test_lookupd_flood - a lookupd client that sends requests and does not
read the replies (a compromised or stuck smtpd) must not make lookupd grow
or stall: lookupd stops reading from that client until it reads, keeps
answering every other client at once, and answers every request once the
client reads again, in order.

The test plays ternd: it starts tern-lookupd itself with a channel on
descriptor 3 and hands it two client channels (MSG_MASTER_PEER, the
socket passed with SCM_RIGHTS), as ternd does for each smtpd worker.
Frames are built here from the layout in common/ipc.h: a 16-octet
header (type, payload length, request id, flags; big-endian u32) and a
payload of u32 and length-prefixed strings; the message types and flags
are read from common/msg.h and common/ipc.h.
"""

import array
import os
import re
import select
import socket
import struct
import subprocess
import time
import unittest

from tern_harness import (TernTestCase, binary, is_root, sanitizer_build,
                          srcdir, wait_until)


def c_constants(header, names):
    """{name: value} of the enum members and #defines names in
    common/HEADER, each with its value written out ("NAME = 200," or
    "#define NAME 0x1"): read from the source, so that this test and
    tern use one definition."""
    path = os.path.join(srcdir(), "common", header)
    with open(path) as f:
        text = f.read()
    out = {}
    for name in names:
        m = re.search(r"^\s*(?:#define\s+%s\s+|%s\s*=\s*)(0x[0-9a-fA-F]+|\d+)"
                      % (name, name), text, re.M)
        if m is None:
            raise AssertionError("%s: no value for %s" % (path, name))
        out[name] = int(m.group(1), 0)
    return out


_MSG = c_constants("msg.h", ("MSG_LOOKUP_RCPT", "MSG_LOOKUPD_RCPT_VERDICT",
                             "MSG_MASTER_PEER", "PEER_SMTPD"))
_IPC = c_constants("ipc.h", ("IPC_FLAG_FD", "IPC_HDR_LEN"))
MSG_LOOKUP_RCPT = _MSG["MSG_LOOKUP_RCPT"]
MSG_LOOKUPD_RCPT_VERDICT = _MSG["MSG_LOOKUPD_RCPT_VERDICT"]
MSG_MASTER_PEER = _MSG["MSG_MASTER_PEER"]
PEER_SMTPD = _MSG["PEER_SMTPD"]
IPC_FLAG_FD = _IPC["IPC_FLAG_FD"]
HDR = struct.Struct(">IIII")
assert HDR.size == _IPC["IPC_HDR_LEN"]

# Requests the flooding client may get written before lookupd must have
# stopped reading: 16 MiB of them.  The socket buffers between the two
# hold about 200 KiB (5,600 requests), so a lookupd that reads on
# regardless is caught long before.
FLOOD_LIMIT = 16 << 20


def frame(mtype, reqid, payload=b"", flags=0):
    return HDR.pack(mtype, len(payload), reqid, flags) + payload


def rcpt_request(reqid, address):
    a = address.encode()
    return frame(MSG_LOOKUP_RCPT, reqid, struct.pack(">I", len(a)) + a)


def read_frames(sock, want, timeout):
    """want whole frames from sock (blocking reads) as (type, id,
    payload); fails when they do not come within timeout seconds."""
    out, buf = [], b""
    deadline = time.monotonic() + timeout
    while len(out) < want:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([sock], [], [], left)[0]:
            raise AssertionError("%d of %d replies after %ds"
                                 % (len(out), want, timeout))
        data = sock.recv(1 << 20)
        if not data:
            raise AssertionError("lookupd closed the channel after %d of "
                                 "%d replies" % (len(out), want))
        buf += data
        while len(buf) >= HDR.size:
            mtype, length, reqid, _ = HDR.unpack_from(buf)
            if len(buf) < HDR.size + length:
                break
            out.append((mtype, reqid, buf[HDR.size:HDR.size + length]))
            buf = buf[HDR.size + length:]
    return out


def vm_rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for %d" % pid)


class TestLookupdFlood(TernTestCase):

    time_limit = 120

    def start_lookupd(self, inst):
        """tern-lookupd -d on inst's configuration; returns (process, our
        end of its channel to "ternd")."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self.addCleanup(ours.close)
        log = open(inst.logpath, "ab")
        self.addCleanup(log.close)
        fd = theirs.fileno()

        def on_fd3():
            os.dup2(fd, 3)
        proc = subprocess.Popen([binary("tern-lookupd"), "-c", inst.conf,
                                 "-d"], stdin=subprocess.DEVNULL,
                                stdout=log, stderr=log, pass_fds=(fd, 3),
                                preexec_fn=on_fd3, start_new_session=True)
        theirs.close()
        inst.sessions.add(proc.pid)

        def stop():
            if proc.poll() is None:
                proc.kill()
            proc.wait(10)
        self.addCleanup(stop)
        wait_until(lambda: "started" in inst.log(), 10,
                   what="lookupd's start")
        return proc, ours

    def client(self, master):
        """A new client channel to lookupd, handed over as ternd does."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self.addCleanup(ours.close)
        fds = array.array("i", [theirs.fileno()])
        master.sendmsg([frame(MSG_MASTER_PEER, 0,
                              struct.pack(">I", PEER_SMTPD), IPC_FLAG_FD)],
                       [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds)])
        theirs.close()
        return ours

    def assert_answers(self, sock, first_id, n, timeout=10):
        got = read_frames(sock, n, timeout)
        self.assertEqual([(t, i) for t, i, _ in got],
                         [(MSG_LOOKUPD_RCPT_VERDICT, first_id + k)
                          for k in range(n)])
        # Every verdict is the same one for the same known recipient.
        self.assertEqual(len({p for _, _, p in got}), 1, got[:3])
        self.assertEqual(len(got[0][2]), 4)

    @unittest.skipUnless(is_root(), "root only: lookupd switches to _tern")
    def test_client_that_does_not_read_is_not_read_from(self):
        inst = self.instance(start=False)
        proc, master = self.start_lookupd(inst)
        flood = self.client(master)
        other = self.client(master)

        # Both work while they read.
        flood.sendall(rcpt_request(1, "alice@test.example"))
        self.assert_answers(flood, 1, 1)
        other.sendall(rcpt_request(1, "bob@test.example"))
        self.assert_answers(other, 1, 1)
        rss_before = vm_rss_kib(proc.pid)

        # Requests without reading a reply, until lookupd stops taking
        # them: nothing can be written for two seconds.  Every request is
        # the same length, so what was written says how many went whole.
        flood.setblocking(False)
        size = len(rcpt_request(0, "alice@test.example"))
        stream = b""
        queued = written = 0
        while True:
            if len(stream) < size * 64:
                stream += b"".join(rcpt_request(2 + queued + k,
                                                "alice@test.example")
                                   for k in range(256))
                queued += 256
            try:
                n = flood.send(stream)
            except BlockingIOError:
                if not select.select([], [flood], [], 2.0)[1]:
                    break
                continue
            written += n
            stream = stream[n:]
            self.assertLess(written, FLOOD_LIMIT,
                            "lookupd read %d octets of requests from a "
                            "client that read no reply" % written)
        sent = -(-written // size)          # the last one may be cut
        rest = stream[:sent * size - written]
        self.assertGreater(sent, 1000, "too few requests to fill buffers")

        # lookupd holds no more than a reply's worth for that client (not
        # measurable under ASan, whose quarantine keeps what was freed),
        # and answers the other client at once.
        rss_flooded = vm_rss_kib(proc.pid)
        if not sanitizer_build():
            self.assertLess(rss_flooded - rss_before, 4096,
                            "lookupd grew from %d to %d KiB"
                            % (rss_before, rss_flooded))
        t0 = time.monotonic()
        other.sendall(rcpt_request(2, "carol@test.example"))
        self.assert_answers(other, 2, 1, timeout=5)
        self.assertLess(time.monotonic() - t0, 5)
        self.assertIsNone(proc.poll(), "lookupd exited")

        # The flooding client reads: every request is answered, in order.
        flood.setblocking(True)
        if rest:
            flood.sendall(rest)
        self.assert_answers(flood, 2, sent, timeout=60)
        self.assertIsNone(proc.poll(), "lookupd exited")
        self.assertNotIn("malformed", inst.log())


if __name__ == "__main__":
    unittest.main()
