# SPDX-License-Identifier: ISC
"""Helpers for the PROXY protocol, LMTP and CHUNKING tests.

proxy_v1 / proxy_v2 make HAProxy's PROXY headers by hand (the layout in
proxyproto.c's header comment); UnixServer runs the server on a UNIX-domain
socket; RawClient is helpers.Client on any socket, TCP or UNIX.
"""
import os
import socket
import struct
import tempfile
import time

from helpers import Client, Server, ConnectionClosed, START_TIMEOUT, \
    REPLY_TIMEOUT

V2_SIGNATURE = b'\r\n\r\n\x00\r\nQUIT\n'


def proxy_v1(src, dst='127.0.0.1', sport=40000, dport=25):
    proto = 'TCP6' if ':' in src else 'TCP4'
    return ('PROXY %s %s %s %d %d\r\n' % (proto, src, dst, sport, dport)).encode()


def proxy_v2(src, dst=None, sport=40000, dport=25, command=0x21, tlvs=b''):
    """A v2 header; src None makes a LOCAL one (command 0x20, no address)."""
    if src is None:
        return V2_SIGNATURE + bytes([0x20, 0x00]) + struct.pack('!H', len(tlvs)) + tlvs
    if ':' in src:
        fam = 0x21
        addrs = socket.inet_pton(socket.AF_INET6, src) + \
            socket.inet_pton(socket.AF_INET6, dst or '::1')
    else:
        fam = 0x11
        addrs = socket.inet_pton(socket.AF_INET, src) + \
            socket.inet_pton(socket.AF_INET, dst or '127.0.0.1')
    body = addrs + struct.pack('!HH', sport, dport) + tlvs
    return V2_SIGNATURE + bytes([command, fam]) + struct.pack('!H', len(body)) + body


class RawClient(Client):
    """helpers.Client over TCP (host, port) or a UNIX path, from a chosen
    source address, and after a prefix (a PROXY header) if given."""

    def __init__(self, address, timeout=REPLY_TIMEOUT, prefix=b'',
                 read_greeting=True, source=None):
        self.timeout = timeout
        if isinstance(address, str):
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.settimeout(timeout)
            self.sock.connect(address)
        else:
            self.sock = socket.create_connection(address, timeout=timeout,
                                                 source_address=source)
        self.buf = b''
        if prefix:
            self.sock.sendall(prefix)
        self.greeting = self.reply() if read_greeting else None

    def _fill(self, deadline):
        # A refused header is closed with input unread, which the kernel
        # turns into a reset: for these tests, a close like any other.
        try:
            super()._fill(deadline)
        except ConnectionResetError:
            raise ConnectionClosed('connection reset; unread %r' % self.buf)

    def closed(self, timeout=None):
        """True when the server closes the connection (unread replies kept)."""
        return self.expect_closed(timeout)


class ProxiedServer(Server):
    """A Server whose start-up probe sends a PROXY header (a LOCAL one, as
    a balancer's health check does), so it is not left waiting for one."""

    def _wait_accepting(self):
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                with socket.create_connection((self.host, self.port), timeout=1) as s:
                    s.sendall(proxy_v2(None))
                    try:
                        s.recv(1024)
                    except OSError:
                        pass
                return True
            except OSError:
                time.sleep(0.03)
        return False


class UnixServer(Server):
    """The server on a UNIX-domain socket: the address is unix:PATH."""

    def __init__(self, *options, path=None, **kw):
        super().__init__(*options, **kw)
        self.path = path or os.path.join(self.tmpdir, 'smtpd.sock')

    def start(self):
        import subprocess
        argv = list(self.argv0) + ['-n']
        if self.cls:
            argv += ['-c', self.cls]
        self.argv = argv + self.options + ['unix:' + self.path]
        self.port = None
        with open(self.stdout_path, 'wb') as out, open(self.stderr_path, 'wb') as err:
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL,
                                         stdout=out, stderr=err,
                                         start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                    s.settimeout(1)
                    s.connect(self.path)
                    s.recv(1024)
                return self
            except OSError:
                time.sleep(0.03)
        from helpers import ServerDidNotStart
        raise ServerDidNotStart('unix server did not start: %s' % self.stderr())

    def connect(self, timeout=REPLY_TIMEOUT, read_greeting=True):
        return RawClient(self.path, timeout=timeout, read_greeting=read_greeting)


def maildir_messages(md):
    """Every file in md/new, as bytes."""
    out = []
    new = os.path.join(md, 'new')
    for name in sorted(os.listdir(new)):
        with open(os.path.join(new, name), 'rb') as f:
            out.append(f.read())
    return out


def temp_dir(testcase, prefix='smtpd-'):
    import shutil
    d = tempfile.mkdtemp(prefix=prefix)
    testcase.addCleanup(shutil.rmtree, d, True)
    return d
