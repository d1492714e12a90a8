"""
tern_tls - helpers for the TLS, AUTH, relay and submission tests: a test
certificate, crypt(3) hashes, a compiled passwd map, an instance with the
submission ports open, and TLS-capable SMTP clients.

Used by tests/integration/test_tls_*.py, test_auth_*.py, test_relay_*.py
and test_submission_*.py.  Talks only to 127.0.0.0/8.
"""

import base64
import ctypes
import ctypes.util
import os
import smtplib
import socket
import ssl
import subprocess

from tern_harness import HarnessError, RawSMTP, binary, free_port

# What every test login uses; hashes made with three crypt(3) methods.
USERS = {
    "alice": ("alice-secret", "yescrypt"),
    "bob": ("bob-secret", "bcrypt"),
    "carol": ("carol-secret", "sha512crypt"),
}

_libcrypt = None


def _lib():
    global _libcrypt
    if _libcrypt is None:
        name = ctypes.util.find_library("crypt") or "libcrypt.so.1"
        _libcrypt = ctypes.CDLL(name)
        _libcrypt.crypt.restype = ctypes.c_char_p
        _libcrypt.crypt.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
        _libcrypt.crypt_gensalt.restype = ctypes.c_char_p
        _libcrypt.crypt_gensalt.argtypes = [ctypes.c_char_p, ctypes.c_ulong,
                                            ctypes.c_char_p, ctypes.c_int]
    return _libcrypt


def crypt_hash(password, method):
    """
    A crypt(3) hash of password with method yescrypt, bcrypt or
    sha512crypt, from libcrypt through ctypes (Python's crypt module is
    going away).
    """
    prefix = {"yescrypt": b"$y$", "bcrypt": b"$2b$",
              "sha512crypt": b"$6$"}[method]
    # bcrypt's cost 4 keeps the test fast; the others take their default.
    setting = _lib().crypt_gensalt(prefix, 4 if method == "bcrypt" else 0,
                                   None, 0)
    if setting is None:
        raise HarnessError("crypt_gensalt(%s) failed" % prefix)
    out = _lib().crypt(password.encode(), setting)
    if out is None or out.startswith(b"*"):
        raise HarnessError("crypt(3) refused setting %r" % setting)
    return out.decode()


def make_cert(directory, cn="test.example", name="server"):
    """A self-signed RSA certificate and key: (cert path, key path)."""
    cert = os.path.join(directory, name + ".crt")
    key = os.path.join(directory, name + ".key")
    r = subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
         "-subj", "/CN=" + cn, "-days", "2", "-keyout", key, "-out", cert],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
    if r.returncode != 0:
        raise HarnessError("openssl req failed: %s" % r.stdout.decode())
    os.chmod(key, 0o600)
    return cert, key


def write_passwd_map(directory, users=None):
    """login:hash lines compiled with ternmap -p; returns the map path."""
    users = USERS if users is None else users
    path = os.path.join(directory, "sasl_passwd")
    with open(path, "w") as f:
        f.write("# test logins\n")
        for login, (password, method) in users.items():
            f.write("%s:%s\n" % (login, crypt_hash(password, method)))
    run_ternmap(["-p", path])
    return path


def write_map(directory, name, entries):
    """A "key value" map compiled with ternmap; returns its path."""
    path = os.path.join(directory, name)
    with open(path, "w") as f:
        for k, v in entries.items():
            f.write("%s %s\n" % (k, v))
    run_ternmap([path])
    return path


def run_ternmap(args):
    r = subprocess.run([binary("ternmap")] + args, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=30)
    if r.returncode != 0:
        raise HarnessError("ternmap %s failed: %s"
                           % (" ".join(args), r.stdout.decode()))


def secure_instance(case, start=True, passwd=True, **settings):
    """
    An instance (of TernTestCase case) with a certificate, a passwd map,
    and submission (587-like) and submissions (465-like) ports; the ports
    are in inst.sub_port and inst.subs_port.
    """
    inst = case.instance(start=False, **settings)
    cert, key = make_cert(inst.tmp)
    inst.cert, inst.key = cert, key
    inst.sub_port = free_port()
    inst.subs_port = free_port()
    inst.settings.update({
        "smtpd_tls_cert_file": cert,
        "smtpd_tls_key_file": key,
        "submission_listen": "127.0.0.1:%d" % inst.sub_port,
        "submissions_listen": "127.0.0.1:%d" % inst.subs_port,
        "smtpd_auth_failure_delay": "0",
    })
    if passwd:
        inst.settings["smtpd_auth_passwd_map"] = write_passwd_map(inst.tmp)
    inst.settings.update(settings)
    inst.write_config()
    if start:
        inst.start()
    return inst


def client_context():
    """A client TLS context that accepts the self-signed test certificate."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def submission(inst, timeout=30, source=None):
    """smtplib on the submission port, after EHLO + STARTTLS + EHLO."""
    s = smtplib.SMTP("127.0.0.1", inst.sub_port, local_hostname="client.test",
                     timeout=timeout,
                     source_address=(source, 0) if source else None)
    s.ehlo()
    s.starttls(context=client_context())
    s.ehlo()
    return s


def submissions(inst, timeout=30):
    """smtplib.SMTP_SSL on the submissions (implicit TLS) port."""
    s = smtplib.SMTP_SSL("127.0.0.1", inst.subs_port,
                         local_hostname="client.test", timeout=timeout,
                         context=client_context())
    s.ehlo()
    return s


def raw_from(port, source):
    """A RawSMTP connected to 127.0.0.1:port from the address source."""
    c = RawSMTP.__new__(RawSMTP)
    c.sock = socket.create_connection(("127.0.0.1", port), timeout=30,
                                      source_address=(source, 0))
    c.buf = b""
    return c


def plain_b64(login, password, authzid=""):
    return base64.b64encode(("%s\0%s\0%s" % (authzid, login, password))
                            .encode()).decode()


def b64(text):
    return base64.b64encode(text.encode()).decode()
