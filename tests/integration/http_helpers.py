# SPDX-License-Identifier: ISC
"""Helpers for the --http tests: a server with its HTTP side on a free port,
and small urllib calls that return (status, headers, body) instead of
raising on 4xx/5xx."""
import base64
import json
import smtplib
import socket
import subprocess
import time
import urllib.error
import urllib.request

from helpers import HOST, Server, ServerTestCase, free_port, smtpd_path

HTTP_TIMEOUT = 15


def web_available():
    """Was ./smtpd built with the web interface?  (A WEB=no build refuses
    --http at start with a message saying so.)"""
    try:
        out = subprocess.run([smtpd_path(), '-n', '--http', '127.0.0.1:1',
                              '127.0.0.1:1'], capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return b'built without the web interface' not in out.stderr


class HTTPServer(Server):
    """A Server with --http on a free port; start() returns once HTTP answers."""

    def __init__(self, *options, **kw):
        self.http_port = free_port()
        super().__init__('--http', '%s:%d' % (HOST, self.http_port), *options, **kw)
        self.auth = None

    def start(self):
        super().start()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection((HOST, self.http_port), timeout=1):
                    return self
            except OSError:
                time.sleep(0.02)
        raise AssertionError('HTTP did not answer on %d: %s' % (self.http_port, self.stderr()))

    def url(self, path):
        return 'http://%s:%d%s' % (HOST, self.http_port, path)

    def request(self, method, path, body=None, headers=None, timeout=HTTP_TIMEOUT):
        """(status, headers, bytes); never raises for an HTTP status."""
        data = body
        hdrs = dict(headers or {})
        if isinstance(body, (dict, list)):
            data = json.dumps(body).encode()
            hdrs.setdefault('Content-Type', 'application/json')
        elif isinstance(body, str):
            data = body.encode()
        if self.auth and 'Authorization' not in hdrs:
            hdrs['Authorization'] = 'Basic ' + base64.b64encode(self.auth.encode()).decode()
        req = urllib.request.Request(self.url(path), data=data, method=method, headers=hdrs)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, r.headers, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read()

    def get_json(self, path, status=200, **kw):
        code, hdrs, body = self.request('GET', path, **kw)
        if code != status:
            raise AssertionError('GET %s: %d, expected %d: %r' % (path, code, status, body[:500]))
        return json.loads(body)

    def send(self, msg, sender='ann@example.com', rcpts=('bob@example.com',)):
        """Send an email.message or bytes with smtplib; return nothing."""
        with smtplib.SMTP(HOST, self.port, timeout=HTTP_TIMEOUT) as s:
            if isinstance(msg, (bytes, str)):
                s.sendmail(sender, list(rcpts), msg)
            else:
                s.send_message(msg, from_addr=sender, to_addrs=list(rcpts))


class HTTPTestCase(ServerTestCase):
    """Skips every test of a WEB=no build (test_http_api.py's WebNoTest
    checks that build's refusal)."""

    def setUp(self):
        super().setUp()
        if not web_available():
            self.skipTest('built without the web interface (make WEB=no)')

    def http_server(self, *options, cls='Sink', **kw):
        srv = HTTPServer(*options, cls=cls, **kw)
        self.addCleanup(srv.cleanup)
        self.addCleanup(self._check_alive, srv)
        return srv.start()


def simple(subject='hello', to='bob@example.com', body='body text\r\n', frm='ann@example.com'):
    return ('From: %s\r\nTo: %s\r\nSubject: %s\r\n\r\n%s' % (frm, to, subject, body)).encode()
