"""
dns_harness - a private DNS server (dnsmasq) on loopback for the tests of
remote delivery.

A Zone collects records (MX, A/AAAA, null MX, names that fail with
SERVFAIL or never answer); DnsServer starts dnsmasq on 127.0.0.1 and a
free port with exactly those records and nothing else: it reads no
/etc/resolv.conf, no /etc/hosts and forwards nothing, so every other name
under the zone's domains is NXDOMAIN and names outside them are REFUSED.
Point tern at it with dns_servers = server.address ("127.0.0.1:PORT").

Used by tests/integration/test_remote_*.py and the scheduler tests.  It
never touches a process it did not start.
"""

import os
import random
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading

from tern_harness import HarnessError, free_port, wait_until

DNSMASQ = "/usr/sbin/dnsmasq"


def free_udp_port(host="127.0.0.1"):
    """A UDP port nothing is bound to right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class Zone:
    """The records one test wants served."""

    def __init__(self, domains=("test",)):
        # Names under these domains are answered locally (NXDOMAIN when
        # unknown); every name used must be under one of them.
        self.domains = list(domains)
        self.options = []

    def mx(self, domain, host, pref=10):
        self.options.append("--mx-host=%s,%s,%d" % (domain, host, pref))
        return self

    def host(self, name, *addrs):
        """A and/or AAAA records for name (one record per address)."""
        for a in addrs:
            self.options.append("--host-record=%s,%s" % (name, a))
        return self

    def txt(self, name, text):
        """A TXT record of one string (at most 255 octets, no comma)."""
        # On dnsmasq's command line quotes would be part of the text.
        if "," in text or '"' in text:
            raise HarnessError("TXT text with a comma or quote: %r" % text)
        self.options.append("--txt-record=%s,%s" % (name, text))
        return self

    def null_mx(self, domain):
        """RFC 7505: a single MX "." at preference 0."""
        # Raw RR type 15: preference 0 (two octets), the root name (one
        # zero octet); dnsmasq's --mx-host cannot express the root.
        self.options.append("--dns-rr=%s,15,000000" % domain)
        return self

    def forward(self, domain, upstream):
        """
        Queries under domain go to upstream (a FakeUpstream): SERVFAIL
        answers or none at all (a timeout at tern).
        """
        self.options.append("--server=/%s/127.0.0.1#%d"
                            % (domain, upstream.port))
        return self


# The rcode each answering FakeUpstream mode gives.
FAKE_RCODES = {"servfail": 2, "notimp": 4, "refused": 5}


def question_of(data):
    """(lowercase name, qtype) of a query packet, or None."""
    labels, pos = [], 12
    try:
        while data[pos] != 0:
            labels.append(data[pos + 1:pos + 1 + data[pos]].decode("ascii"))
            pos += 1 + data[pos]
        (qtype,) = struct.unpack(">H", data[pos + 1:pos + 3])
    except (IndexError, UnicodeDecodeError, struct.error):
        return None
    return ".".join(labels).lower(), qtype


class FakeUpstream:
    """
    A UDP "name server" on host that answers every query with SERVFAIL
    (mode "servfail"), REFUSED ("refused") or NOTIMP ("notimp"), or never
    answers (mode "drop").  It counts the queries (queries) and keeps
    each one's (name, qtype) in asked.  address is the value for
    dns_servers.  Call close().
    """

    def __init__(self, mode="servfail", host="127.0.0.1"):
        self.mode = mode
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, 0))
        self.port = self.sock.getsockname()[1]
        self.address = "%s:%d" % (host, self.port)
        self.queries = 0
        self.asked = []
        self._stop = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        self.sock.settimeout(0.2)
        while not self._stop:
            try:
                data, peer = self.sock.recvfrom(4096)
                self.asked.append(question_of(data))
                self.queries += 1
                rcode = FAKE_RCODES.get(self.mode)
                if rcode is not None and len(data) >= 12:
                    # Same id and question; QR, RD, RA; the rcode.
                    hdr = data[:2] + struct.pack(">H", 0x8180 | rcode) + \
                        data[4:12]
                    self.sock.sendto(hdr + data[12:], peer)
            except (socket.timeout, TimeoutError):
                continue
            except OSError:
                return

    def close(self):
        self._stop = True
        self.thread.join(2)
        self.sock.close()


class DnsServer:
    """dnsmasq serving one Zone on 127.0.0.1:port (UDP and TCP)."""

    def __init__(self, zone, host="127.0.0.1"):
        if not os.access(DNSMASQ, os.X_OK):
            raise HarnessError("%s missing: install dnsmasq-base" % DNSMASQ)
        self.zone = zone
        self.host = host
        self.port = None
        self.proc = None
        self.tmp = tempfile.mkdtemp(prefix="tern-dns-")
        self.logpath = os.path.join(self.tmp, "dnsmasq.log")

    @property
    def address(self):
        """The value for tern's dns_servers setting."""
        return "%s:%d" % (self.host, self.port)

    def start(self, timeout=10, port=None):
        """
        Start on a free port, or on port (that of a server this one
        replaces: a changed zone without changing tern's dns_servers).
        """
        # The port must be free for both UDP and TCP; retry on a clash.
        for _ in range(1 if port else 5):
            self.port = port or free_port(self.host)
            argv = [DNSMASQ, "--keep-in-foreground", "--no-resolv",
                    "--no-hosts", "--no-poll", "--conf-file=/dev/null",
                    "--port=%d" % self.port,
                    "--listen-address=%s" % self.host, "--bind-interfaces",
                    "--pid-file=", "--log-queries",
                    "--log-facility=%s" % self.logpath]
            if os.geteuid() == 0:
                argv.append("--user=root")
            argv += ["--local=/%s/" % d for d in self.zone.domains]
            argv += self.zone.options
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL,
                                         stderr=subprocess.PIPE)
            try:
                wait_until(self._ready, timeout, interval=0.05,
                           what="dnsmasq to answer")
                return self
            except HarnessError:
                err = b""
                if self.proc.poll() is not None:
                    err = self.proc.stderr.read()
                self.stop()
                if b"Address already in use" not in err:
                    raise HarnessError("dnsmasq did not start: %s"
                                       % err.decode(errors="replace"))
        raise HarnessError("no free port for dnsmasq")

    def _ready(self):
        if self.proc.poll() is not None:
            raise HarnessError("dnsmasq exited: %s" %
                               self.proc.stderr.read().decode(errors="replace"))
        try:
            rcode, _ = self.query("ready.%s" % self.zone.domains[0], 1,
                                  timeout=0.3)
            return rcode is not None
        except OSError:
            return False

    def query(self, name, qtype, timeout=2.0):
        """(rcode, [raw answer RR type list]) or (None, []) on timeout."""
        return dns_query((self.host, self.port), name, qtype, timeout)

    def log(self):
        try:
            with open(self.logpath, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.proc is not None and self.proc.stderr is not None:
            self.proc.stderr.close()

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)


def dns_query(server, name, qtype, timeout=2.0):
    """
    One UDP query: (rcode, [answer types]); (None, []) on timeout.  Only
    for checking the test server itself; tern has its own resolver.
    """
    qid = random.randrange(65536)
    q = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for label in name.rstrip(".").split("."):
        q += bytes([len(label)]) + label.encode()
    q += b"\0" + struct.pack(">HH", qtype, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(q, server)
        try:
            data, _ = s.recvfrom(4096)
        except (socket.timeout, TimeoutError):
            return None, []
    rid, flags, _qd, an, _ns, _ar = struct.unpack(">HHHHHH", data[:12])
    if rid != qid:
        return None, []
    # Skip the question, then read the answer types.
    pos = 12
    while data[pos] != 0:
        pos += 1 + data[pos]
    pos += 5
    types = []
    for _ in range(an):
        if data[pos] & 0xC0 == 0xC0:
            pos += 2
        else:
            while data[pos] != 0:
                pos += 1 + data[pos]
            pos += 1
        rtype, _cls, _ttl, rdlen = struct.unpack(">HHIH", data[pos:pos + 10])
        types.append(rtype)
        pos += 10 + rdlen
    return flags & 0xF, types
