# SPDX-License-Identifier: ISC
"""Upstreams for the relaying tests (test_relay.py, test_mailman.py).

- Upstream: a scriptable SMTP server in threads of this process.  It records
  every transaction byte for byte (the DATA text exactly as it came over the
  wire, dot-stuffing included), and can refuse chosen recipients, answer
  DATA with a chosen reply, not offer EHLO or some extensions, or never
  answer the "." of a chosen sender.
- SilentUpstream: accepts connections (the kernel completes them) and never
  says a word.
- SmtpSink: Postfix's smtp-sink, dumping each message into a directory.
- python_pureproxy_wire: what Python's PureProxy sends for given message
  data, computed with Python's own smtplib functions.

Every wait has a timeout; every thread and process started here is stopped
by stop().
"""
import os
import re
import shutil
import signal
import smtplib
import socket
import subprocess
import tempfile
import threading
import time

from helpers import HOST, free_port, wait_until, stop_process

DEFAULT_EHLO = ('SIZE 10240000', '8BITMIME', 'SMTPUTF8', 'ENHANCEDSTATUSCODES')
IO_TIMEOUT = 10.0


class Upstream:
    """A recording SMTP server on a free loopback port."""

    def __init__(self, ehlo=DEFAULT_EHLO, ehlo_ok=True, rcpt_replies=None,
                 mail_reply=None, data_reply='250 2.0.0 Ok: queued',
                 hang_sender=None, host=HOST):
        self.ehlo = list(ehlo)
        self.ehlo_ok = ehlo_ok
        self.rcpt_replies = dict(rcpt_replies or {})
        self.mail_reply = mail_reply
        self.data_reply = data_reply
        self.hang_sender = hang_sender
        self.host = host
        self.transactions = []      # dicts: helo, mail, rcpts, data
        self.commands = []          # every command line, as bytes
        self.connections = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = []
        self._socks = []

    def start(self):
        family = socket.AF_INET6 if ':' in self.host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.bind((self.host, 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        t = threading.Thread(target=self._accept_loop, daemon=True)
        t.start()
        self._threads.append(t)
        return self

    @property
    def spec(self):
        return ('[%s]:%d' if ':' in self.host else '%s:%d') % (self.host, self.port)

    def stop(self):
        self._stop.set()
        with self._lock:
            socks = list(self._socks)
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for t in self._threads:
            t.join(5)
        self.sock.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def wait_transactions(self, n, timeout=IO_TIMEOUT):
        """The recorded transactions once there are n with data."""
        def done():
            with self._lock:
                got = [t for t in self.transactions if 'data' in t]
            return got if len(got) >= n else None
        got = wait_until(done, timeout)
        if got is None:
            raise AssertionError('upstream got %d message(s), expected %d; commands: %r'
                                 % (len([t for t in self.transactions if 'data' in t]),
                                    n, self.commands))
        return got

    # -- the server ---------------------------------------------------------
    def _accept_loop(self):
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self._lock:
                self.connections += 1
                self._socks.append(conn)
            t = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            t.start()
            self._threads.append(t)

    def _serve(self, conn):
        conn.settimeout(IO_TIMEOUT)
        buf = [b'']

        def send(line):
            conn.sendall(line.encode() + b'\r\n')

        def readline():
            while b'\r\n' not in buf[0]:
                chunk = conn.recv(65536)
                if not chunk:
                    raise EOFError
                buf[0] += chunk
            line, buf[0] = buf[0].split(b'\r\n', 1)
            return line

        def read_data():
            # Up to the line ".", exactly as sent (still dot-stuffed).
            while True:
                if buf[0].startswith(b'.\r\n'):
                    buf[0] = buf[0][3:]
                    return b''
                i = buf[0].find(b'\r\n.\r\n')
                if i >= 0:
                    data, buf[0] = buf[0][:i + 2], buf[0][i + 5:]
                    return data
                chunk = conn.recv(65536)
                if not chunk:
                    raise EOFError
                buf[0] += chunk

        tx = None
        helo = None
        try:
            send('220 upstream.test ESMTP recorder')
            while not self._stop.is_set():
                line = readline()
                with self._lock:
                    self.commands.append(line)
                verb = line[:4].upper()
                if verb == b'EHLO':
                    if not self.ehlo_ok:
                        send('502 5.5.2 Error: command not recognized')
                        continue
                    helo = line[5:]
                    lines = ['upstream.test'] + self.ehlo
                    for i, l in enumerate(lines):
                        send('250%s%s' % ('-' if i < len(lines) - 1 else ' ', l))
                elif verb == b'HELO':
                    helo = line[5:]
                    send('250 upstream.test')
                elif verb == b'MAIL':
                    if self.mail_reply:
                        send(self.mail_reply)
                        continue
                    tx = {'helo': helo, 'mail': line, 'rcpts': []}
                    with self._lock:
                        self.transactions.append(tx)
                    send('250 2.1.0 Ok')
                elif verb == b'RCPT':
                    m = re.search(rb'<([^>]*)>', line)
                    addr = m.group(1).decode('utf-8', 'replace') if m else ''
                    reply = self.rcpt_replies.get(addr, '250 2.1.5 Ok')
                    if reply.startswith('2') and tx is not None:
                        tx['rcpts'].append(addr)
                    send(reply)
                elif verb == b'DATA':
                    send('354 End data with <CR><LF>.<CR><LF>')
                    data = read_data()
                    if tx is not None:
                        tx['data'] = data
                    if self.hang_sender and tx and self.hang_sender.encode() in tx['mail']:
                        self._stop.wait(IO_TIMEOUT)
                        return
                    send(self.data_reply)
                    tx = None
                elif verb == b'RSET':
                    tx = None
                    send('250 2.0.0 Ok')
                elif verb == b'NOOP':
                    send('250 2.0.0 Ok')
                elif verb == b'QUIT':
                    send('221 2.0.0 Bye')
                    return
                else:
                    send('502 5.5.2 Error: command not recognized')
        except (EOFError, OSError):
            pass
        finally:
            conn.close()


class SilentUpstream:
    """Listens; the kernel completes each connection; nobody ever answers."""

    def __init__(self, host=HOST):
        self.host = host

    def start(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind((self.host, 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        return self

    @property
    def spec(self):
        return '%s:%d' % (self.host, self.port)

    def stop(self):
        self.sock.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def smtp_sink_path():
    for p in ('/usr/sbin/smtp-sink', shutil.which('smtp-sink') or ''):
        if p and os.access(p, os.X_OK):
            return p
    return None


class SmtpSink:
    """Postfix's smtp-sink on a free port, one dump file per message."""

    def __init__(self, *options):
        self.options = list(options)
        self.dir = tempfile.mkdtemp(prefix='smtp-sink-')
        os.chmod(self.dir, 0o777)       # it writes as "nobody" when root
        self.proc = None

    def start(self):
        for _ in range(3):
            self.port = free_port()
            argv = [smtp_sink_path()]
            if os.geteuid() == 0:
                argv += ['-u', 'nobody']
            argv += self.options + ['-d', os.path.join(self.dir, 'msg.'),
                                    '%s:%d' % (HOST, self.port), '16']
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL,
                                         stderr=subprocess.PIPE,
                                         start_new_session=True)
            if wait_until(self._accepting, 5):
                return self
            self.stop()
        raise AssertionError('smtp-sink did not start')

    def _accepting(self):
        if self.proc.poll() is not None:
            return False
        try:
            with socket.create_connection((HOST, self.port), timeout=1) as s:
                s.recv(100)
                s.sendall(b'QUIT\r\n')
            return True
        except OSError:
            return False

    @property
    def spec(self):
        return '%s:%d' % (HOST, self.port)

    def messages(self):
        """The dump files' contents, each as (smtp-sink headers, message)."""
        out = []
        for name in sorted(os.listdir(self.dir)):
            with open(os.path.join(self.dir, name), 'rb') as f:
                raw = f.read()
            # smtp-sink's own headers end with its three-line Received:.
            m = re.match(rb'(.*?\nReceived: [^\n]*\n\t[^\n]*\n\t[^\n]*\n)(.*)\Z',
                         raw, re.S)
            out.append((m.group(1), m.group(2)) if m else (b'', raw))
        return out

    def wait_messages(self, n, timeout=IO_TIMEOUT):
        got = wait_until(lambda: len(self.messages()) >= n and self.messages(), timeout)
        if not got:
            raise AssertionError('smtp-sink got %d message(s), expected %d'
                                 % (len(self.messages()), n))
        return got

    def stop(self):
        stop_process(self.proc, 5)
        if self.proc and self.proc.stderr:
            self.proc.stderr.close()

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.cleanup()


def python_pureproxy_wire(data, peer='127.0.0.1'):
    """The DATA text Python's PureProxy sends for message data (bytes, as
    the channel passes it), its bugs fixed: X-Peer before the first empty
    line (split at b'\\n'), then smtplib's own line-ending fix and period
    quoting, then the CRLF smtplib adds when the text does not end in one.
    Latin-1 carries the 8-bit bytes through Python's str-only functions."""
    lines = data.split(b'\n')
    i = 0
    for line in lines:
        if not line:
            break
        i += 1
    lines.insert(i, b'X-Peer: ' + peer.encode())
    text = b'\n'.join(lines).decode('latin-1')
    wire = smtplib._quote_periods(smtplib._fix_eols(text).encode('latin-1'))
    if wire[-2:] != b'\r\n':
        wire += b'\r\n'
    return wire


def free_unused_port():
    """A port on which nothing listens (an upstream that is down)."""
    return free_port()


def elapsed(f):
    t0 = time.monotonic()
    result = f()
    return result, time.monotonic() - t0
