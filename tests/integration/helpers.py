# SPDX-License-Identifier: ISC
"""Helpers for the black-box integration tests: start a server, talk SMTP to it.

Everything here goes through real sockets on 127.0.0.1 (or ::1) and real
processes; nothing imports the server.  Every wait has a timeout, so a hung
server fails a test instead of hanging the suite.

The binary under test is $SMTPD (default ./smtpd at the repository root).  To
check the expectations themselves, point SMTPD at tests/integration/python_smtpd
(which runs Python's own smtpd) and set SMTPD_REFERENCE=python: the tests that
assert our documented improvements over Python are then expected to fail
(see `improvement`).  `tests/run_integration.py --python-reference` does both.
"""
import ast
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DIFFTEST_DIR = os.path.join(REPO, 'tests', 'difftest')
HOST = '127.0.0.1'
START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0
REPLY_TIMEOUT = 5.0
FQDN = socket.getfqdn()


def smtpd_path():
    """The server under test: $SMTPD, relative paths taken from the repo root."""
    path = os.environ.get('SMTPD', './smtpd')
    return os.path.normpath(os.path.join(REPO, path))


def python_smtpd_argv():
    """How to run Python's own smtpd (the reference implementation)."""
    return [sys.executable, '-W', 'ignore', '-m', 'smtpd']


def testing_python_reference():
    return os.environ.get('SMTPD_REFERENCE') == 'python'


def improvement(reason):
    """Mark a test that asserts a documented difference from Python's smtpd.

    Against our server it is an ordinary test.  When the suite runs against
    Python's smtpd (SMTPD_REFERENCE=python) it is an expected failure, so a
    run against the reference both validates the other expectations and
    shows that these tests really do exercise a difference.
    """
    def decorate(test):
        test.improvement_reason = reason
        if testing_python_reference():
            return unittest.expectedFailure(test)
        return test
    return decorate


def require_binary(testcase):
    path = smtpd_path()
    if not os.path.exists(path):
        testcase.skipTest('server binary %s does not exist (run make, or set SMTPD)' % path)


def free_port(host=HOST):
    family = socket.AF_INET6 if ':' in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def ipv6_loopback_available():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(('::1', 0))
        return True
    except OSError:
        return False


def wait_until(predicate, timeout, interval=0.02):
    """Poll predicate() until it is true; return its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


def stop_process(proc, timeout=STOP_TIMEOUT):
    """SIGTERM, then SIGKILL if it has not exited after timeout; waits."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout)


class ServerDidNotStart(AssertionError):
    pass


class Server:
    """One server process on a free port; stdout and stderr go to files.

    Files rather than pipes: DebuggingServer may print megabytes, and a full
    pipe would block the server while the test waits for its reply.
    """

    def __init__(self, *options, cls='DebuggingServer', host=HOST, argv=None,
                 nosetuid=True, port=None, remote=None, listen=None):
        self.argv0 = list(argv) if argv else [smtpd_path()]
        self.host = host
        # The host in the local spec, when not where the clients connect:
        # listen='' is ':PORT', every address.
        self.listen = host if listen is None else listen
        self.options = list(options)
        self.cls = cls
        self.nosetuid = nosetuid
        self.fixed_port = port
        self.remote = [remote] if remote else []
        self.proc = None
        self.stopped_on_purpose = False
        self.tmpdir = tempfile.mkdtemp(prefix='smtpd-it-')
        self.stdout_path = os.path.join(self.tmpdir, 'stdout')
        self.stderr_path = os.path.join(self.tmpdir, 'stderr')
        self.returncode = None

    # -- life cycle -------------------------------------------------------
    def start(self):
        # A port found free may be taken before the server binds it; retry.
        for attempt in range(3):
            self.port = self.fixed_port or free_port(self.host)
            spec = '[%s]:%d' % (self.listen, self.port) if ':' in self.listen \
                else '%s:%d' % (self.listen, self.port)
            argv = list(self.argv0)
            if self.nosetuid:
                argv.append('-n')
            if self.cls:
                argv += ['-c', self.cls]
            self.argv = argv + self.options + [spec] + self.remote
            env = dict(os.environ, PYTHONUNBUFFERED='1', PYTHONWARNINGS='ignore')
            with open(self.stdout_path, 'wb') as out, open(self.stderr_path, 'wb') as err:
                self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL,
                                             stdout=out, stderr=err, env=env,
                                             start_new_session=True)
            if self._wait_accepting():
                return self
            self.stop()
            if 'in use' not in self.stderr():
                break
        raise ServerDidNotStart('server did not accept connections within %gs: %s\n'
                                'stderr: %s' % (START_TIMEOUT, ' '.join(self.argv),
                                                self.stderr()[-1500:]))

    def _wait_accepting(self):
        deadline = time.monotonic() + START_TIMEOUT
        family = socket.AF_INET6 if ':' in self.host else socket.AF_INET
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                with socket.socket(family, socket.SOCK_STREAM) as s:
                    s.settimeout(1)
                    s.connect((self.host, self.port))
                    # Read the greeting so the probe leaves nothing half done.
                    try:
                        s.recv(1024)
                    except OSError:
                        pass
                return True
            except OSError:
                time.sleep(0.03)
        return False

    def signal(self, signum):
        self.stopped_on_purpose = True
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signum)

    def wait(self, timeout=STOP_TIMEOUT):
        """Wait for the process to exit; return its exit status or None."""
        try:
            self.returncode = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        return self.returncode

    def stop(self):
        """SIGTERM, then SIGKILL after STOP_TIMEOUT; returns the exit status."""
        if self.proc is None:
            return None
        self.stopped_on_purpose = True
        # Python's smtpd dies of SIGTERM without cleanup, which is fine here.
        stop_process(self.proc)
        self.returncode = self.proc.returncode
        return self.returncode

    def died_unexpectedly(self):
        """The exit status if the server exited without being asked to, else None."""
        if self.proc is None or self.stopped_on_purpose:
            return None
        return self.proc.poll()

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.tmpdir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.cleanup()

    # -- output -----------------------------------------------------------
    def stdout_bytes(self):
        with open(self.stdout_path, 'rb') as f:
            return f.read()

    def stdout(self):
        return self.stdout_bytes().decode('utf-8', 'replace')

    def stderr(self):
        with open(self.stderr_path, 'rb') as f:
            return f.read().decode('utf-8', 'replace')

    def wait_for_messages(self, count, timeout=10.0):
        """Wait until DebuggingServer printed `count` whole messages; return them."""
        def enough():
            msgs = debug_messages(self.stdout_bytes())
            return msgs if len(msgs) >= count else None
        msgs = wait_until(enough, timeout, interval=0.05)
        if msgs is None:
            raise AssertionError('expected %d message(s) on stdout within %gs, got:\n%s'
                                 % (count, timeout, self.stdout()[-3000:]))
        return msgs

    # -- clients ----------------------------------------------------------
    def connect(self, timeout=REPLY_TIMEOUT, read_greeting=True):
        return Client(self.host, self.port, timeout=timeout, read_greeting=read_greeting)


class ServerTestCase(unittest.TestCase):
    """A test case with helpers to start servers that are stopped afterwards."""

    def setUp(self):
        require_binary(self)

    def server(self, *options, **kw):
        srv = Server(*options, **kw)
        self.addCleanup(srv.cleanup)
        # Runs before cleanup: a server that died during the test (a crash)
        # fails the test even when the test itself did not notice.
        self.addCleanup(self._check_alive, srv)
        return srv.start()

    def _check_alive(self, srv):
        status = srv.died_unexpectedly()
        if status is not None:
            raise AssertionError('the server exited during the test with status %s%s; '
                                 'stderr: %s' % (status, ' (SIGSEGV)' if status == -11 else '',
                                                 srv.stderr()[-1000:]))

    def client(self, srv, **kw):
        c = srv.connect(**kw)
        self.addCleanup(c.close)
        return c

    def ehlo_client(self, srv, **kw):
        """A connection that has said EHLO (reply checked)."""
        c = self.client(srv, **kw)
        self.assertTrue(c.cmd('EHLO client.example').startswith('250-'))
        return c

    def helo_client(self, srv, **kw):
        c = self.client(srv, **kw)
        self.assertTrue(c.cmd('HELO client.example').startswith('250 '))
        return c


class NoReply(AssertionError):
    pass


class Client:
    """A raw SMTP client: send bytes, read whole replies, all with timeouts."""

    def __init__(self, host, port, timeout=REPLY_TIMEOUT, read_greeting=True):
        self.timeout = timeout
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = b''
        self.greeting = self.reply() if read_greeting else None

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def send(self, data):
        if isinstance(data, str):
            data = data.encode('utf-8')
        self.sock.sendall(data)

    def _fill(self, deadline):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise NoReply('no complete reply within %gs; have %r' % (self.timeout, self.buf[-300:]))
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            raise NoReply('no complete reply within %gs; have %r' % (self.timeout, self.buf[-300:]))
        if not chunk:
            raise ConnectionClosed('connection closed; unread %r' % self.buf)
        self.buf += chunk

    def reply_lines(self, timeout=None):
        """One whole reply as a list of lines (str, no CRLF)."""
        deadline = time.monotonic() + (timeout or self.timeout)
        lines = []
        while True:
            while b'\r\n' not in self.buf:
                self._fill(deadline)
            line, self.buf = self.buf.split(b'\r\n', 1)
            lines.append(line.decode('utf-8', 'surrogateescape'))
            if line[3:4] != b'-':
                return lines

    def reply(self, timeout=None):
        """One whole reply; the lines of a multi-line reply joined by '\\n'."""
        return '\n'.join(self.reply_lines(timeout))

    def replies(self, n, timeout=None):
        return [self.reply(timeout) for _ in range(n)]

    def cmd(self, line, timeout=None):
        """Send one command line (CRLF added) and return its reply."""
        self.send((line if isinstance(line, bytes) else line.encode('utf-8')) + b'\r\n')
        return self.reply(timeout)

    def send_message(self, data):
        """After a 354: send data (bytes) that must end with CRLF.CRLF itself."""
        self.send(data)
        return self.reply()

    def transaction(self, sender, rcpts, body, mail_params=''):
        """MAIL, RCPT..., DATA, body, '.'; every reply must be a success."""
        r = self.cmd('MAIL FROM:<%s>%s' % (sender, (' ' + mail_params) if mail_params else ''))
        assert r == '250 OK', r
        for rcpt in rcpts:
            r = self.cmd('RCPT TO:<%s>' % rcpt)
            assert r == '250 OK', r
        r = self.cmd('DATA')
        assert r.startswith('354'), r
        if isinstance(body, str):
            body = body.encode('utf-8')
        return self.send_message(body + b'\r\n.\r\n')

    def expect_closed(self, timeout=None):
        """True when the server closes the connection (all replies drained)."""
        deadline = time.monotonic() + (timeout or self.timeout)
        try:
            while True:
                self._fill(deadline)
        except ConnectionClosed:
            return True
        except ConnectionResetError:
            return True
        except NoReply:
            return False


class ConnectionClosed(AssertionError):
    pass


# -- DebuggingServer output --------------------------------------------------

BEGIN = '---------- MESSAGE FOLLOWS ----------'
END = '------------ END MESSAGE ------------'


def text_lines(out):
    """DebuggingServer output as text lines, Python 3's b'...' reprs decoded.

    Our server prints message lines as text; Python prints repr(bytes).  This
    folds the two so the same assertions hold for both.
    """
    if isinstance(out, bytes):
        out = out.decode('utf-8', 'surrogateescape')
    lines = []
    for line in out.split('\n'):
        if line.startswith(("b'", 'b"')):
            try:
                line = ast.literal_eval(line).decode('utf-8', 'surrogateescape')
            except (ValueError, SyntaxError):
                pass
        lines.append(line)
    return lines


class DebugMessage:
    """One message printed by DebuggingServer."""

    def __init__(self, lines):
        self.lines = lines
        self.mail_options = None
        self.rcpt_options = None
        body = list(lines)
        if body and body[0].startswith('mail options: '):
            self.mail_options = ast.literal_eval(body.pop(0)[len('mail options: '):])
        if body and body[0].startswith('rcpt options: '):
            self.rcpt_options = ast.literal_eval(body.pop(0)[len('rcpt options: '):])
            # Python prints a '\n' after the rcpt options: one empty line.
            if body and body[0] == '':
                body.pop(0)
        self.content = body  # message lines with the X-Peer line inserted

    def without_peer(self):
        """The message lines with the inserted X-Peer header taken out."""
        out, removed = [], False
        for line in self.content:
            if not removed and line.startswith('X-Peer: '):
                removed = True
                continue
            out.append(line)
        return out

    def __repr__(self):
        return 'DebugMessage(%r)' % (self.lines,)


def debug_messages(out):
    """Split DebuggingServer output into DebugMessage objects (complete ones only)."""
    msgs, cur = [], None
    for line in text_lines(out):
        if line == BEGIN:
            cur = []
        elif line == END and cur is not None:
            msgs.append(DebugMessage(cur))
            cur = None
        elif cur is not None:
            cur.append(line)
    return msgs


def expected_debug_lines(data, peer='127.0.0.1'):
    """What DebuggingServer prints for message data (bytes, as Python passes it).

    Python: data.splitlines(), and 'X-Peer: <ip>' before the first empty line.
    """
    if isinstance(data, str):
        data = data.encode('utf-8')
    out, inheaders = [], True
    for line in data.splitlines():
        if inheaders and not line:
            out.append('X-Peer: ' + peer)
            inheaders = False
        out.append(line.decode('utf-8', 'surrogateescape'))
    return out


# -- conversation scripts (the format of ../shared/difftest/smtpdiff.py) -----

def unescape(text):
    return text.encode('utf-8').decode('unicode_escape').encode('latin-1')


def script_options(script_lines):
    """Server options from a leading '# args: ...' comment of a .smtp script."""
    for raw in script_lines:
        m = re.match(r'#\s*args:\s*(.*)$', raw)
        if m:
            return m.group(1).split()
    return []


def play(srv, script_lines, timeout=REPLY_TIMEOUT):
    """Play a conversation script; return [(sent, reply)] as bytes pairs."""
    c = Client(srv.host, srv.port, timeout=timeout, read_greeting=False)
    try:
        out = [(b'(connect)', _script_reply(c))]
        queued, in_data = [], False
        for raw in script_lines:
            if raw.startswith('#') and not in_data:
                continue
            if raw.startswith('!sleep '):
                time.sleep(float(raw.split()[1]))
                continue
            eol = b'\r\n'
            if raw.endswith('\\!'):
                raw, eol = raw[:-2], b''
            if in_data:
                line = unescape(raw)
                if not _script_send(c, line + eol):
                    out.append((line, b'<connection closed>'))
                    return out
                if line == b'.':
                    out.append((b'.', _script_reply(c)))
                    in_data = False
                continue
            if raw.startswith('+'):
                queued.append(unescape(raw[1:]))
                continue
            lines = queued + [unescape(raw)]
            queued = []
            if not _script_send(c, b''.join(l + eol for l in lines)):
                out.append((lines[0], b'<connection closed>'))
                return out
            for line in lines:
                r = _script_reply(c)
                out.append((line, r))
                if r.startswith(b'354'):
                    in_data = True
        return out
    finally:
        c.close()


def _script_send(c, data):
    try:
        c.send(data)
        return True
    except OSError:
        return False


def _script_reply(c):
    try:
        return '\r\n'.join(c.reply_lines()).encode('utf-8', 'surrogateescape') + b'\r\n'
    except NoReply:
        return b'<no reply>'
    except (ConnectionClosed, OSError):
        return b'<connection closed>'


def fold_reply(reply):
    """Fold the documented differences out of one reply (as smtpdiff.py does)."""
    if reply.startswith(b'220 ') and reply.count(b'\r\n') == 1:
        return re.sub(rb'^(220 \S+) .*', rb'\1 <ident>', reply)
    return b''.join(l for l in reply.splitlines(True) if l[4:].strip().upper() != b'PIPELINING')


def python_message_data(raw):
    """The message data Python's smtpd hands to process_message.

    raw is what the client sent after the 354, without the final CRLF.CRLF.
    Lines are split on CRLF only, one leading dot is removed from each, and
    they are joined with LF.
    """
    return b'\n'.join(t[1:] if t.startswith(b'.') else t for t in raw.split(b'\r\n'))
