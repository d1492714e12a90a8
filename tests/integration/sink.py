"""
sink - a controllable remote SMTP server (aiosmtpd) for the tests of
remote delivery: it records every message and connection and can be told
to misbehave at a given stage.

    sink = Sink("127.0.0.2", port).start()        # in a thread of the test
    sink.fail["rcpt"] = "450 4.2.0 try later"     # every RCPT gets 450
    sink.rcpt_replies["bad@b.test"] = "550 5.1.1 no such user"
    sink.hang["data"] = 30                        # sleep 30 s before DATA's reply
    sink.wait_messages(1); sink.messages[0].data; sink.max_concurrent

Stages for fail/hang: "connect" (the greeting), "ehlo", "helo", "mail",
"rcpt", "data" (the 354), "dot" (end of data).  A fail value is a whole
reply line ("550 5.7.1 no"); for "connect" the sink greets with it and
closes after QUIT.  Options: tls (an ssl.SSLContext to offer STARTTLS),
starttls = "ok" | "refuse" (454) | "broken" (220, then garbage instead of
a handshake), esmtp=False (EHLO answers 502: HELO only), pipelining and
dsn (advertise them; DSN parameters are accepted and recorded), size
(advertised SIZE; 0 none), smtputf8 (advertise SMTPUTF8, the default),
requiretls (advertise REQUIRETLS after STARTTLS; a MAIL that carries it
sets the message's requiretls),
auth = {"user": "password"} (AUTH PLAIN/LOGIN,
only after STARTTLS when tls is set; each AUTH command is recorded as
"auth" in its connection's commands).

A subclass may answer RCPT by its own rule (rcpt_reply) and keep accepted
messages its own way (record); tests/torture/ does both.

make_cert(dir, cn) writes a self-signed certificate with openssl(1) and
returns a server SSLContext for it.
"""

import asyncio
import os
import re
import ssl
import subprocess
import threading
import time

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

from tern_harness import HarnessError, wait_until

DSN_MAIL_RE = re.compile(r"\s+(RET|ENVID)=(\S+)", re.I)
DSN_RCPT_RE = re.compile(r"\s+(NOTIFY|ORCPT)=(\S+)", re.I)


def make_cert(directory, cn="mx.test"):
    """Self-signed certificate and key in directory; a server SSLContext."""
    crt = os.path.join(directory, "%s.crt" % cn)
    key = os.path.join(directory, "%s.key" % cn)
    if not os.path.exists(crt):
        r = subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
             "-keyout", key, "-out", crt, "-days", "2", "-subj",
             "/CN=%s" % cn], stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, timeout=60)
        if r.returncode != 0:
            raise HarnessError("openssl req failed: %s" % r.stdout)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(crt, key)
    return ctx


class Message:
    """One message the sink accepted."""

    def __init__(self, conn, envelope, dsn_mail, dsn_rcpt):
        self.conn = conn                    # Connection it came on
        self.mail_from = envelope.mail_from
        self.rcpt_tos = list(envelope.rcpt_tos)
        self.mail_options = list(envelope.mail_options)
        self.rcpt_options = list(envelope.rcpt_options)
        self.dsn_mail = dict(dsn_mail)      # {"RET": .., "ENVID": ..}
        self.dsn_rcpt = list(dsn_rcpt)      # per accepted RCPT: {..}
        self.data = envelope.original_content  # bytes, CRLF, unstuffed
        self.tls = conn.tls
        self.requiretls = False             # MAIL carried REQUIRETLS
        self.time = time.time()


class Connection:
    """One TCP connection to the sink."""

    def __init__(self, peer):
        self.peer = peer
        self.tls = False
        self.helo = None
        self.esmtp = False
        self.commands = []          # every command line, in order
        self.messages = 0
        self.auth = None            # user name after a successful AUTH
        self.closed = False


class _Handler:
    def __init__(self, sink):
        self.sink = sink

    async def handle_EHLO(self, server, session, envelope, hostname,
                          responses):
        session.host_name = hostname
        out = [r for r in responses if not r.startswith("250 HELP")]
        if self.sink.pipelining:
            out.append("250-PIPELINING")
        if self.sink.dsn:
            out.append("250-DSN")
        if self.sink.requiretls and server.conn.tls:
            out.append("250-REQUIRETLS")
        out.append("250-ENHANCEDSTATUSCODES")
        out.append("250 HELP")
        return out

    async def handle_RCPT(self, server, session, envelope, address,
                          options):
        reply = self.sink.rcpt_reply(address)
        if reply is not None and not reply.startswith("2"):
            return reply
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        server.dsn_rcpt_accepted.append(server.dsn_rcpt_pending)
        return reply or "250 2.1.5 Ok"

    async def handle_DATA(self, server, session, envelope):
        conn = server.conn
        msg = Message(conn, envelope, server.dsn_mail,
                      server.dsn_rcpt_accepted)
        msg.requiretls = server.mail_requiretls
        await self.sink._stage(server, "dot")
        if self.sink.fail.get("dot"):
            return self.sink.fail["dot"]
        return "250 2.0.0 Ok: queued as S%d" % self.sink.record(msg)


class _Session(SMTP):
    """aiosmtpd's SMTP with the sink's scripted failures and accounting."""

    def __init__(self, sink, *args, **kw):
        super().__init__(*args, **kw)
        self.sink = sink
        self.conn = None
        self.dsn_mail = {}
        self.dsn_rcpt_pending = {}
        self.dsn_rcpt_accepted = []
        self.mail_requiretls = False

    def connection_made(self, transport):
        self.conn = Connection(transport.get_extra_info("peername"))
        self.sink._opened(self.conn)
        super().connection_made(transport)

    def connection_lost(self, error):
        if self.conn is not None and not self.conn.closed:
            self.conn.closed = True
            self.sink._closed(self.conn)
        super().connection_lost(error)

    async def _handle_client(self):
        # The greeting stage: a scripted failure or a hang comes first.
        if self.sink.hang.get("connect"):
            await asyncio.sleep(self.sink.hang["connect"])
        if self.sink.fail.get("connect"):
            await self.push(self.sink.fail["connect"])
            # RFC 5321 3.1: after a 554 greeting the server waits for QUIT.
            try:
                await asyncio.wait_for(self._reader.readline(), 30)
                await self.push("221 2.0.0 Bye")
            except Exception:
                pass
            self.transport.close()
            return
        return await super()._handle_client()

    async def push(self, status):
        return await super().push(status)

    async def _gate(self, stage):
        self.conn.commands.append(stage)
        await self.sink._stage(self, stage)
        reply = self.sink.fail.get(stage)
        if reply:
            await self.push(reply)
            return True
        return False

    async def smtp_EHLO(self, hostname):
        if not self.sink.esmtp:
            await self.push("502 5.5.2 EHLO not implemented")
            return
        if await self._gate("ehlo"):
            return
        self.conn.esmtp = True
        self.conn.helo = hostname
        return await super().smtp_EHLO(hostname)

    async def smtp_HELO(self, hostname):
        if await self._gate("helo"):
            return
        self.conn.helo = hostname
        return await super().smtp_HELO(hostname)

    async def smtp_STARTTLS(self, arg):
        self.conn.commands.append("starttls")
        mode = self.sink.starttls
        if mode == "refuse":
            await self.push("454 4.7.0 TLS not available now")
            return
        if mode == "broken":
            await self.push("220 2.0.0 Ready to start TLS")
            self.transport.write(b"this is not a TLS server hello\r\n" * 4)
            await asyncio.sleep(0.2)
            self.transport.close()
            return
        await super().smtp_STARTTLS(arg)
        self.conn.tls = True

    async def smtp_AUTH(self, arg):
        # Every attempt is recorded, successful or not: a test can prove
        # that no password was ever offered.
        self.conn.commands.append("auth")
        return await super().smtp_AUTH(arg)

    async def smtp_MAIL(self, arg):
        if await self._gate("mail"):
            return
        self.dsn_mail = {}
        self.dsn_rcpt_accepted = []
        self.mail_requiretls = False
        if arg is not None and self.sink.requiretls and self.conn.tls:
            # RFC 8689 2: REQUIRETLS, a parameter without a value.
            words = arg.split(" ")
            self.mail_requiretls = any(w.upper() == "REQUIRETLS"
                                       for w in words[1:])
            arg = " ".join([words[0]] + [w for w in words[1:]
                                         if w.upper() != "REQUIRETLS"])
        if arg is not None and self.sink.dsn:
            for k, v in DSN_MAIL_RE.findall(arg):
                self.dsn_mail[k.upper()] = v
            arg = DSN_MAIL_RE.sub("", arg)
        return await super().smtp_MAIL(arg)

    async def smtp_RCPT(self, arg):
        if await self._gate("rcpt"):
            return
        self.dsn_rcpt_pending = {}
        if arg is not None and self.sink.dsn:
            for k, v in DSN_RCPT_RE.findall(arg):
                self.dsn_rcpt_pending[k.upper()] = v
            arg = DSN_RCPT_RE.sub("", arg)
        return await super().smtp_RCPT(arg)

    async def smtp_DATA(self, arg):
        if await self._gate("data"):
            return
        return await super().smtp_DATA(arg)

    async def smtp_RSET(self, arg):
        self.conn.commands.append("rset")
        how = self.sink.rset_close
        if how is not None:
            # An idle connection the server gave up on: closed, with
            # "how" said first unless it is empty; what was pipelined
            # after the RSET is never answered.
            if how:
                await self.push(how)
            self.transport.close()
            return
        return await super().smtp_RSET(arg)

    async def smtp_QUIT(self, arg):
        self.conn.commands.append("quit")
        return await super().smtp_QUIT(arg)


class _Controller(Controller):
    def __init__(self, sink, **kw):
        self.sink = sink
        super().__init__(_Handler(sink), **kw)

    def factory(self):
        return _Session(self.sink, self.handler, **self.SMTP_kwargs)


class Sink:
    """A scripted SMTP server on host:port, run in a background thread."""

    def __init__(self, host, port, tls=None, starttls="ok", esmtp=True,
                 pipelining=True, dsn=True, size=0, auth=None,
                 hostname="sink.test", smtputf8=True, requiretls=False):
        self.host = host
        self.port = port
        self.tls = tls
        self.starttls = starttls
        self.esmtp = esmtp
        self.pipelining = pipelining
        self.dsn = dsn
        self.size = size
        self.auth = auth
        self.hostname = hostname
        self.smtputf8 = smtputf8
        self.requiretls = requiretls        # offered over TLS only
        self.fail = {}
        self.hang = {}
        self.rset_close = None              # str: close at RSET (smtp_RSET)
        self.rcpt_replies = {}
        self.messages = []
        self.connections = []
        self.current = 0
        self.max_concurrent = 0
        self.lock = threading.Lock()
        self.controller = None

    def _auth(self, server, session, envelope, mechanism, auth_data):
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        user = auth_data.login.decode()
        ok = self.auth.get(user) == auth_data.password.decode()
        if ok:
            server.conn.auth = user
        return AuthResult(success=ok)

    def start(self):
        kw = dict(hostname=self.hostname, port=self.port,
                  server_hostname=self.hostname, ready_timeout=10,
                  data_size_limit=self.size or None, decode_data=False,
                  enable_SMTPUTF8=self.smtputf8, timeout=120)
        if self.tls is not None and self.starttls != "none":
            kw["tls_context"] = self.tls
        if self.auth is not None:
            kw["authenticator"] = self._auth
            kw["auth_require_tls"] = self.tls is not None
            kw["auth_exclude_mechanism"] = ["CRAM-MD5"]
        else:
            kw["auth_exclude_mechanism"] = ["LOGIN", "PLAIN"]
        self.controller = _Controller(self, **kw)
        # Controller binds to hostname; the advertised name is separate.
        self.controller.hostname = self.host
        self.controller.start()
        # Controller.start() connects once itself to check the server is
        # up; that connection is not the client's, so forget it.
        wait_until(lambda: self.current == 0, 10, interval=0.02,
                   what="the sink's start-up probe to close")
        with self.lock:
            self.connections = []
            self.max_concurrent = 0
        return self

    def stop(self):
        if self.controller is not None:
            try:
                self.controller.stop()
            except Exception:
                pass
            self.controller = None

    # -- accounting (called on the sink's event loop thread) --

    def _opened(self, conn):
        with self.lock:
            self.connections.append(conn)
            self.current += 1
            self.max_concurrent = max(self.max_concurrent, self.current)

    def _closed(self, conn):
        with self.lock:
            self.current -= 1

    def rcpt_reply(self, address):
        """
        The reply to RCPT TO:<address>: a whole reply line, or None for
        250 (rcpt_replies; a subclass may decide otherwise).
        """
        return self.rcpt_replies.get(address.lower())

    def record(self, msg):
        """Keep an accepted message; its number (1, 2, ...) at the sink."""
        with self.lock:
            self.messages.append(msg)
            msg.conn.messages += 1
            return len(self.messages)

    async def _stage(self, server, stage):
        if self.hang.get(stage):
            await asyncio.sleep(self.hang[stage])

    # -- what happened --

    def wait_messages(self, n, timeout=30):
        wait_until(lambda: len(self.messages) >= n, timeout,
                   what=lambda: "%d message(s) at sink %s:%d (have %d)"
                   % (n, self.host, self.port, len(self.messages)))
        return self.messages

    def recipients(self):
        """Every recipient of every accepted message, in order."""
        return [r for m in self.messages for r in m.rcpt_tos]
