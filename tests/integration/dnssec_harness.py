"""
dnssec_harness - DNSSEC on loopback for the DANE tests: zones signed in
the test with ldns (ldnsutils), served by an authoritative server (nsd) on
one loopback address, and a validating resolver (unbound) on another that
trusts the signed zones' keys and nothing else.

    zones = [SignedZone("dane.test"), UnsignedZone("plain.test")]
    zones[0].add("mx.good.dane.test. A 127.0.0.61")
    dns = DnssecServers(workdir, zones).start()
    tern setting: dns_servers = dns.address, dns_dnssec = yes

unbound answers with AD for the signed zones, without AD for the
unsigned ones (no trust anchor covers them: insecure), and SERVFAIL for
a record whose signature does not verify (SignedZone.corrupt).  Every
zone is a stub zone of unbound, so nothing is asked of the Internet.
Never touches a process it did not start.
"""

import hashlib
import os
import signal
import subprocess

from dns_harness import dns_query
from tern_harness import HarnessError, free_port, wait_until

NSD = "/usr/sbin/nsd"
UNBOUND = "/usr/sbin/unbound"
LDNS_KEYGEN = "/usr/bin/ldns-keygen"
LDNS_SIGNZONE = "/usr/bin/ldns-signzone"


def run(argv, cwd=None):
    r = subprocess.run(argv, cwd=cwd, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=60)
    if r.returncode != 0:
        raise HarnessError("%s failed: %s" % (
            " ".join(argv), r.stdout.decode("utf-8", "replace")))
    return r.stdout.decode("utf-8", "replace")


def spki_der(cert):
    """cert's SubjectPublicKeyInfo, DER: TLSA x 1 0 data."""
    pub = subprocess.run(["openssl", "x509", "-in", cert, "-noout",
                          "-pubkey"], stdout=subprocess.PIPE, check=True,
                         timeout=30).stdout
    return subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"],
                          input=pub, stdout=subprocess.PIPE, check=True,
                          timeout=30).stdout


def spki_sha256(cert):
    """The hex SHA-256 of cert's SubjectPublicKeyInfo: TLSA 3 1 1 data."""
    return hashlib.sha256(spki_der(cert)).hexdigest()


def cert_sha256(cert):
    """The hex SHA-256 of cert's DER form: TLSA x 0 1 data."""
    der = subprocess.run(["openssl", "x509", "-in", cert, "-outform",
                          "DER"], stdout=subprocess.PIPE, check=True,
                         timeout=30).stdout
    return hashlib.sha256(der).hexdigest()


class UnsignedZone:
    """A zone served as it is."""

    signed = False

    def __init__(self, name):
        self.name = name.rstrip(".")
        self.records = []

    def add(self, rr):
        """One record in zone file syntax, owner name fully qualified."""
        self.records.append(rr)
        return self

    def text(self):
        head = ["$TTL 300",
                "%s. IN SOA ns.%s. hostmaster.%s. 1 3600 600 86400 300"
                % (self.name, self.name, self.name),
                "%s. IN NS ns.%s." % (self.name, self.name),
                "ns.%s. IN A 127.0.0.1" % self.name]
        return "\n".join(head + self.records) + "\n"

    def write(self, directory):
        """The file nsd serves; returns its path."""
        path = os.path.join(directory, self.name + ".zone")
        with open(path, "w") as f:
            f.write(self.text())
        return path


class SignedZone(UnsignedZone):
    """A zone signed with a fresh KSK and ZSK (ECDSA P-256) by ldns."""

    signed = True

    def __init__(self, name):
        super().__init__(name)
        self.corrupted = []
        self.ds = None

    def corrupt(self, owner):
        """After signing, change the data of owner's TLSA record so that
        its signature no longer verifies (a "bogus" answer)."""
        self.corrupted.append(owner.rstrip(".").lower() + ".")
        return self

    def write(self, directory):
        plain = super().write(directory)
        keys = []
        for ksk in (True, False):
            out = run([LDNS_KEYGEN, "-a", "ECDSAP256SHA256"] +
                      (["-k"] if ksk else []) + [self.name], cwd=directory)
            keys.append(os.path.join(directory, out.strip()))
        with open(keys[0] + ".ds") as f:
            self.ds = f.read().strip()
        run([LDNS_SIGNZONE, "-n", "-f", plain + ".signed", plain] + keys,
            cwd=directory)
        path = plain + ".signed"
        if self.corrupted:
            self._corrupt(path)
        return path

    def _corrupt(self, path):
        with open(path) as f:
            lines = f.read().splitlines()
        hit = 0
        for i, line in enumerate(lines):
            fields = line.split()
            if len(fields) >= 8 and fields[0].lower() in self.corrupted \
                    and fields[3] == "TLSA":
                # Flip the last hex digit of the association data.
                last = fields[-1]
                fields[-1] = last[:-1] + ("0" if last[-1] != "0" else "1")
                lines[i] = "\t".join(fields)
                hit += 1
        if hit != len(self.corrupted):
            raise HarnessError("corrupt: %d of %s found in %s"
                               % (hit, self.corrupted, path))
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")


class DnssecServers:
    """nsd (authoritative, at auth_host) and unbound (validating, at
    host) for zones; address is the value of tern's dns_servers."""

    def __init__(self, directory, zones, host="127.0.0.71",
                 auth_host="127.0.0.70"):
        for tool in (NSD, UNBOUND, LDNS_KEYGEN, LDNS_SIGNZONE):
            if not os.access(tool, os.X_OK):
                raise HarnessError("%s missing: install nsd, unbound and "
                                   "ldnsutils" % tool)
        self.dir = directory
        self.zones = zones
        self.host = host
        self.auth_host = auth_host
        self.port = None
        self.auth_port = None
        self.procs = []

    @property
    def address(self):
        return "%s:%d" % (self.host, self.port)

    def _nsd_conf(self):
        lines = ["server:",
                 "  ip-address: %s@%d" % (self.auth_host, self.auth_port),
                 "  port: %d" % self.auth_port,
                 "  username: \"\"", "  chroot: \"\"",
                 "  database: \"\"", "  zonesdir: \"%s\"" % self.dir,
                 "  zonelistfile: \"%s/zone.list\"" % self.dir,
                 "  xfrdfile: \"%s/xfrd.state\"" % self.dir,
                 "  xfrdir: \"%s\"" % self.dir,
                 "  pidfile: \"%s/nsd.pid\"" % self.dir,
                 "  logfile: \"%s/nsd.log\"" % self.dir,
                 "  server-count: 1", "  do-ip6: no", "  verbosity: 1",
                 "remote-control:", "  control-enable: no"]
        for z in self.zones:
            lines += ["zone:", "  name: \"%s\"" % z.name,
                      "  zonefile: \"%s\"" % z.path]
        path = os.path.join(self.dir, "nsd.conf")
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        return path

    def _unbound_conf(self):
        anchors = os.path.join(self.dir, "anchors")
        with open(anchors, "w") as f:
            for z in self.zones:
                if z.signed:
                    f.write(z.ds + "\n")
        lines = ["server:",
                 "  interface: %s@%d" % (self.host, self.port),
                 "  port: %d" % self.port,
                 "  do-daemonize: no", "  username: \"\"",
                 "  chroot: \"\"", "  directory: \"%s\"" % self.dir,
                 "  pidfile: \"%s/unbound.pid\"" % self.dir,
                 "  use-syslog: no",
                 "  logfile: \"%s/unbound.log\"" % self.dir,
                 "  verbosity: 1", "  val-log-level: 2",
                 "  num-threads: 1", "  do-ip6: no",
                 "  so-reuseport: no", "  qname-minimisation: no",
                 "  do-not-query-localhost: no",
                 "  access-control: 127.0.0.0/8 allow",
                 # "test." is one of unbound's built-in empty zones.
                 "  local-zone: \"test.\" nodefault",
                 "  module-config: \"validator iterator\"",
                 "  trust-anchor-file: \"%s\"" % anchors,
                 "  harden-dnssec-stripped: yes",
                 "  trust-anchor-signaling: no",
                 "  cache-max-ttl: 5", "  cache-max-negative-ttl: 5",
                 "remote-control:", "  control-enable: no"]
        for z in self.zones:
            lines += ["stub-zone:", "  name: \"%s\"" % z.name,
                      "  stub-addr: %s@%d" % (self.auth_host,
                                              self.auth_port)]
        path = os.path.join(self.dir, "unbound.conf")
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        return path

    def _spawn(self, argv, server, port, probe):
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT)
        self.procs.append(p)

        def ready():
            if p.poll() is not None:
                raise HarnessError("%s exited: %s" % (
                    argv[0], p.stdout.read().decode("utf-8", "replace")
                    + self.logs()))
            rcode, _ = dns_query((server, port), probe, 6, timeout=0.3)
            return rcode is not None
        wait_until(ready, 20, interval=0.1, what="%s to answer" % argv[0])

    def start(self):
        for z in self.zones:
            z.path = z.write(self.dir)
        self.auth_port = free_port(self.auth_host)
        self.port = free_port(self.host)
        self._spawn([NSD, "-d", "-c", self._nsd_conf()], self.auth_host,
                    self.auth_port, self.zones[0].name)
        self._spawn([UNBOUND, "-d", "-c", self._unbound_conf()], self.host,
                    self.port, self.zones[0].name)
        return self

    def logs(self):
        out = ""
        for name in ("nsd.log", "unbound.log"):
            try:
                with open(os.path.join(self.dir, name),
                          errors="replace") as f:
                    out += "\n--- %s\n%s" % (name, f.read()[-4000:])
            except OSError:
                pass
        return out

    def stop(self):
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait(5)
            if p.stdout is not None:
                p.stdout.close()
        self.procs = []


def ad_flag(server, name, qtype):
    """(rcode, AD set) of a DO query for name/qtype at server."""
    import random
    import socket
    import struct
    qid = random.randrange(65536)
    q = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 1)
    for label in name.rstrip(".").split("."):
        q += bytes([len(label)]) + label.encode()
    q += b"\0" + struct.pack(">HH", qtype, 1)
    q += b"\0" + struct.pack(">HHIH", 41, 1232, 0x8000, 0)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(5)
        s.sendto(q, server)
        data, _ = s.recvfrom(65535)
    _rid, flags = struct.unpack(">HH", data[:4])
    return flags & 0xF, bool(flags & 0x20)


TLSA = 52

