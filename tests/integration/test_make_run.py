# SPDX-License-Identifier: ISC
"""A newcomer's first minute: `make run` (with PORT and ARGS) starts the
server, which says on stderr, in one line, that it is up and where."""
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

from helpers import (REPO, START_TIMEOUT, STOP_TIMEOUT, Client, ServerTestCase, free_port,
                     improvement, smtpd_path, testing_python_reference, wait_until)
from test_tls import tls_built

START_LINE = re.compile(r'^\S*smtpd: (\w+) on (\S+)$', re.M)


class StartLineTest(ServerTestCase):

    @improvement('one line on stderr at start says what listens where (Python: nothing)')
    def test_start_line_names_the_class_and_the_address(self):
        srv = self.server(cls='Sink')
        self.assertTrue(wait_until(lambda: START_LINE.search(srv.stderr()), 5), srv.stderr())
        self.assertEqual(START_LINE.search(srv.stderr()).groups(),
                         ('Sink', '127.0.0.1:%d' % srv.port))
        self.assertEqual(len(srv.stderr().splitlines()), 1, srv.stderr())

    def test_start_line_does_not_change_the_debug_trace(self):
        if testing_python_reference():
            self.skipTest('about our start line')
        srv = self.server('-d')
        self.assertTrue(wait_until(lambda: 'Remote addr:' in srv.stderr(), 5), srv.stderr())
        lines = srv.stderr().splitlines()
        self.assertRegex(lines[0], r'^\S*smtpd: DebuggingServer on 127\.0\.0\.1:\d+$')
        self.assertTrue(lines[1].startswith('DebuggingServer started at '), lines)

    @improvement('one line on stderr at start says what listens where (Python: nothing)')
    def test_start_line_for_a_unix_socket(self):
        d = tempfile.mkdtemp(prefix='smtpd-unix-')
        self.addCleanup(shutil.rmtree, d, True)
        path = os.path.join(d, 's')
        p = subprocess.Popen([smtpd_path(), '-n', '-c', 'Sink', 'unix:' + path],
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, start_new_session=True)
        try:
            line = self.first_line(p)
        finally:
            p.send_signal(signal.SIGTERM)
            p.wait(STOP_TIMEOUT)
            p.stderr.close()
        self.assertRegex(line, r'^\S*smtpd: Sink on unix:%s$' % re.escape(path))

    def first_line(self, p):
        os.set_blocking(p.stderr.fileno(), False)
        buf = b''
        deadline = time.monotonic() + START_TIMEOUT
        while b'\n' not in buf and time.monotonic() < deadline:
            chunk = p.stderr.read()
            if chunk:
                buf += chunk
            elif p.poll() is not None:
                break
            else:
                time.sleep(0.02)
        return buf.decode(errors='replace').split('\n')[0]


class MakeRunTest(unittest.TestCase):
    """make run PORT=... ARGS=..., on the binary under test (not rebuilt)."""

    def setUp(self):
        if testing_python_reference():
            self.skipTest('make run runs our binary')
        if not shutil.which('make'):
            self.skipTest('no make')
        binary = os.path.realpath(smtpd_path())
        if not os.path.exists(binary):
            self.skipTest('no binary')
        rel = os.path.relpath(binary, os.path.realpath(REPO))
        if rel.startswith('..') or os.path.basename(rel) != 'smtpd':
            self.skipTest('the binary under test is not one the Makefile builds')
        self.b = os.path.dirname(rel)

    def make_run(self, *variables):
        b = self.b + '/' if self.b else ''
        # -o: take the binary as it is (the one under test), never rebuild it.
        argv = ['make', '-s', '-C', REPO, '-o', b + 'smtpd', 'run', 'B=' + b] + list(variables)
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, start_new_session=True)
        self.addCleanup(self.stop, p)
        return p

    def stop(self, p):
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)
            try:
                p.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(STOP_TIMEOUT)
        p.stderr.close()

    def test_port_and_args(self):
        tls = tls_built()
        port = free_port()
        p = self.make_run('PORT=%d' % port, 'ARGS=%s--timeout 30' %
                          ('--tls-self-signed ' if tls else ''))
        line = StartLineTest.first_line(self, p)
        self.assertRegex(line, r'^\S*smtpd: DebuggingServer on localhost:%d$' % port)
        c = Client('127.0.0.1', port)
        self.addCleanup(c.close)
        r = c.cmd('EHLO client.example')
        self.assertTrue(r.startswith('250-'), r)
        if tls:
            self.assertIn('250-STARTTLS', r)


if __name__ == '__main__':
    unittest.main()
