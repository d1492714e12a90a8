"""
queue_file - read and write tern queue files (common/envelope.h and
common/msgfile.h) from the tests, to put damaged or hostile files where
tern must cope with them.

A file is: "TERNMSG\\n", u32 version, u32 length, the encoded envelope
(u32-length strings and big-endian integers; since version 3 a u32 of
flags after the recipients), the body, then (since version 2)
a 24-octet trailer: "TERNEND\\n", u64 content length, u32 CRC-32C of the
content, u32 CRC-32C of the trailer's first 20 octets.
"""

import os
import struct
import time

_POLY = 0x82F63B78
_TABLE = []
for _b in range(256):
    _c = _b
    for _ in range(8):
        _c = (_c >> 1) ^ _POLY if _c & 1 else _c >> 1
    _TABLE.append(_c)


def crc32c(data, crc=0):
    """CRC-32C (Castagnoli), as common/crc32c.c computes it."""
    crc ^= 0xFFFFFFFF
    for b in data:
        crc = (crc >> 8) ^ _TABLE[(crc ^ b) & 0xFF]
    return crc ^ 0xFFFFFFFF


def _s(v):
    v = v.encode() if isinstance(v, str) else (v or b"")
    return struct.pack(">I", len(v)) + v


def envelope(qid, sender, rcpts, helo="client.test", client_name="unknown",
             client_addr="127.0.0.1", protocol="ESMTP", envid=None,
             arrival=None, version=3, flags=0):
    """The envelope prefix of a queue file (bytes)."""
    enc = _s(qid) + struct.pack(">Q", int(arrival or time.time()))
    enc += _s(sender) + _s(helo) + _s(client_name) + _s(client_addr)
    enc += _s(protocol) + _s(envid) + struct.pack(">II", 0, 0)
    enc += struct.pack(">I", len(rcpts))
    for r in rcpts:
        enc += _s(r) + _s(None) + struct.pack(">I", 0)
    if version >= 3:
        enc += struct.pack(">I", flags)     # ENVELOPE_F_*
    return b"TERNMSG\n" + struct.pack(">II", version, len(enc)) + enc


def trailer(content):
    t = b"TERNEND\n" + struct.pack(">QI", len(content), crc32c(content))
    return t + struct.pack(">I", crc32c(t))


def build(qid, sender, rcpts, body, **kw):
    """A whole queue file (bytes) with a valid trailer."""
    content = envelope(qid, sender, rcpts, **kw) + body
    return content + trailer(content)


def path(spool, qid):
    return os.path.join(spool, "msg", qid[-1], qid)


def new_qid(seq=0):
    """A well-formed queue ID (16 hex digits) not used by tern itself."""
    return "%016X" % ((int(time.time() * 1e6) << 8 | (seq & 0xFF))
                      - (1 << 40))
