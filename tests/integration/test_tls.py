# SPDX-License-Identifier: ISC
"""STARTTLS, implicit TLS and AUTH, with real clients and real handshakes:
smtplib, swaks, curl, openssl s_client, and PureProxy relaying to a second
server.  Skipped (all but the AUTH dialogue over plaintext) when smtpd was
built with TLS=no; then the TLS options must be refused at start."""
import base64
import hashlib
import hmac
import os
import shutil
import smtplib
import socket
import ssl
import subprocess
import tempfile
import time
import unittest

from helpers import (HOST, REPLY_TIMEOUT, ConnectionClosed, Server, ServerTestCase,
                     smtpd_path, wait_until)
from procinfo import fd_count, slow, thread_count

CLIENT_TIMEOUT = 20
USER, PASSWORD = 'alice', 'wonder land'
CREDS = '%s:%s' % (USER, PASSWORD)
MESSAGE = ('From: a@example.com\r\nTo: b@example.com\r\nSubject: tls test\r\n\r\n'
           'tls-marker-1\r\n')

_tls_built = None


def tls_built():
    """Was smtpd built with TLS?  A build without says so when asked for it."""
    global _tls_built
    if _tls_built is None:
        r = subprocess.run([smtpd_path(), '-n', '--tls-self-signed', '--tls-cert', '/',
                            '127.0.0.1:1'], stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=10)
        _tls_built = b'built without TLS support' not in r.stderr
    return _tls_built


def client_context():
    """A client that takes the server's self-signed certificate."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def b64(s):
    return base64.b64encode(s.encode() if isinstance(s, str) else s).decode()


def auth_line(msg):
    """DebuggingServer's "auth: USER" line, after the options."""
    return next((l for l in msg.content[:3] if l.startswith('auth: ')), None)


def tls_line(msg):
    """Its "tls: PROTOCOL CIPHER" line."""
    return next((l for l in msg.content[:3] if l.startswith('tls: ')), '')


def run_client(argv, timeout=CLIENT_TIMEOUT, stdin=None):
    return subprocess.run(argv, input=stdin, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=timeout)


class TLSTestCase(ServerTestCase):

    def setUp(self):
        super().setUp()
        if not tls_built():
            self.skipTest('smtpd was built with TLS=no')

    def tls_server(self, *options, **kw):
        return self.server('--tls-self-signed', *options, **kw)

    def starttls(self, c):
        """STARTTLS on a raw helpers.Client; its socket becomes a TLS one."""
        self.assertEqual(c.cmd('STARTTLS'), '220 2.0.0 Ready to start TLS')
        c.sock = client_context().wrap_socket(c.sock)
        return c


class StartTLSTest(TLSTestCase):

    def test_ehlo_offers_starttls_then_not_after_it(self):
        srv = self.tls_server()
        c = self.client(srv)
        self.assertIn('\n250-STARTTLS\n', c.cmd('EHLO client.example'))
        self.starttls(c)
        r = c.cmd('EHLO client.example')
        self.assertTrue(r.startswith('250-'), r)
        self.assertNotIn('STARTTLS', r)

    def test_session_is_forgotten_after_the_handshake(self):
        srv = self.tls_server()
        c = self.ehlo_client(srv)
        self.starttls(c)
        # The EHLO before STARTTLS no longer counts (RFC 3207 section 4.2).
        self.assertEqual(c.cmd('MAIL FROM:<a@example.com>'), '503 Error: send HELO first')
        self.assertTrue(c.cmd('EHLO client.example').startswith('250-'))
        self.assertEqual(c.cmd('MAIL FROM:<a@example.com>'), '250 OK')

    def test_starttls_with_a_parameter_is_501(self):
        srv = self.tls_server()
        c = self.ehlo_client(srv)
        self.assertEqual(c.cmd('STARTTLS now'), '501 Syntax: STARTTLS')

    def test_starttls_twice_is_503(self):
        srv = self.tls_server()
        c = self.ehlo_client(srv)
        self.starttls(c)
        self.assertEqual(c.cmd('STARTTLS'), '503 5.5.1 Error: TLS already active')

    def test_without_tls_options_starttls_is_not_a_command(self):
        srv = self.server()
        c = self.ehlo_client(srv)
        self.assertEqual(c.cmd('STARTTLS'), '500 Error: command "STARTTLS" not recognized')

    def test_injected_plaintext_after_starttls_is_thrown_away(self):
        """CVE-2011-0411: commands sent with STARTTLS, before the handshake,
        must not run as if they had come over TLS."""
        srv = self.tls_server()
        c = self.ehlo_client(srv)
        c.send(b'STARTTLS\r\nRSET\r\nMAIL FROM:<x@y>\r\n')
        self.assertEqual(c.reply(), '220 2.0.0 Ready to start TLS')
        c.sock = client_context().wrap_socket(c.sock)
        self.assertTrue(c.cmd('EHLO client.example').startswith('250-'))
        # Had the injected MAIL run, this RCPT would be accepted (or RSET's
        # reply would be waiting here).
        self.assertEqual(c.cmd('RCPT TO:<b@example.com>'), '503 Error: need MAIL command')
        self.assertEqual(c.cmd('NOOP'), '250 OK')

    def test_stop_says_421_to_an_idle_tls_client(self):
        srv = self.tls_server()
        c = self.ehlo_client(srv)
        self.starttls(c)
        self.assertTrue(c.cmd('EHLO client.example').startswith('250-'))
        srv.signal(15)
        self.assertRegex(c.reply(timeout=slow(10)), r'^421 .* Error: shutting down$')
        self.assertEqual(srv.wait(slow(15)), 0)

    def test_require_tls_refuses_mail_before_starttls(self):
        srv = self.tls_server('--require-tls')
        c = self.ehlo_client(srv)
        self.assertEqual(c.cmd('MAIL FROM:<a@example.com>'),
                         '530 5.7.0 Must issue a STARTTLS command first')
        self.starttls(c)
        c.cmd('EHLO client.example')
        self.assertEqual(c.cmd('MAIL FROM:<a@example.com>'), '250 OK')

    def test_delivered_message_says_tls_protocol_and_cipher(self):
        srv = self.tls_server()
        with smtplib.SMTP(HOST, srv.port, timeout=CLIENT_TIMEOUT) as s:
            s.starttls(context=client_context())
            s.sendmail('a@example.com', ['b@example.com'], MESSAGE)
        msg = srv.wait_for_messages(1)[0]
        self.assertRegex(tls_line(msg), r'^tls: TLSv1\.[23] \S+$')
        self.assertIn('tls-marker-1', msg.lines)

    def test_plaintext_message_has_no_tls_line(self):
        srv = self.tls_server()
        with smtplib.SMTP(HOST, srv.port, timeout=CLIENT_TIMEOUT) as s:
            s.sendmail('a@example.com', ['b@example.com'], MESSAGE)
        msg = srv.wait_for_messages(1)[0]
        self.assertFalse([l for l in msg.lines if l.startswith(('tls:', 'auth:'))])

    def test_certificate_and_key_files(self):
        d = self.server_tmp()
        cert, key = os.path.join(d, 'cert.pem'), os.path.join(d, 'key.pem')
        r = run_client(['openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes',
                        '-keyout', key, '-out', cert, '-days', '1',
                        '-subj', '/CN=localhost'])
        self.assertEqual(r.returncode, 0, r.stderr)
        srv = self.server('--tls-cert', cert, '--tls-key', key)
        with smtplib.SMTP(HOST, srv.port, timeout=CLIENT_TIMEOUT) as s:
            s.starttls(context=client_context())
            der = s.sock.getpeercert(binary_form=True)
        with open(cert) as f:
            self.assertEqual(der, ssl.PEM_cert_to_DER_cert(f.read()))

    def test_key_only_root_can_read_is_read_before_dropping_root(self):
        if os.geteuid() != 0:
            self.skipTest('needs root: the server only drops privileges as root')
        d = self.server_tmp()
        cert, key = os.path.join(d, 'cert.pem'), os.path.join(d, 'key.pem')
        r = run_client(['openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt',
                        'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', cert,
                        '-days', '1', '-subj', '/CN=localhost'])
        self.assertEqual(r.returncode, 0, r.stderr)
        os.chmod(key, 0o600)
        os.chmod(d, 0o755)
        srv = self.server('--tls-cert', cert, '--tls-key', key, nosetuid=False)
        with open('/proc/%d/status' % srv.proc.pid) as f:
            uid = [l.split()[1] for l in f if l.startswith('Uid:')][0]
        self.assertNotEqual(uid, '0')
        with smtplib.SMTP(HOST, srv.port, timeout=CLIENT_TIMEOUT) as s:
            self.assertEqual(s.starttls(context=client_context())[0], 220)
            self.assertEqual(s.noop()[0], 250)

    def test_missing_key_file_is_refused_at_start(self):
        r = run_client([smtpd_path(), '-n', '--tls-cert', '/nonexistent.pem',
                        '--tls-key', '/nonexistent.key', '127.0.0.1:1'], timeout=10)
        self.assertEqual(r.returncode, 1)
        self.assertIn(b'/nonexistent.pem', r.stderr)

    def test_debug_prints_the_certificate_fingerprint(self):
        srv = self.tls_server('-d')
        with socket.create_connection((HOST, srv.port), timeout=5) as s:
            s.recv(100)
            s.sendall(b'STARTTLS\r\n')
            s.recv(100)
            t = client_context().wrap_socket(s)
            der = t.getpeercert(binary_form=True)
            t.close()
        want = ':'.join('%02X' % b for b in hashlib.sha256(der).digest())
        self.assertIn('TLS certificate SHA-256 fingerprint: ' + want, srv.stderr())

    def server_tmp(self):
        import tempfile
        d = tempfile.mkdtemp(prefix='smtpd-tls-')
        self.addCleanup(shutil.rmtree, d, True)
        return d


class ImplicitTLSTest(TLSTestCase):

    def test_smtp_ssl_delivers(self):
        srv = self.tls_server('--smtps')
        with smtplib.SMTP_SSL(HOST, srv.port, timeout=CLIENT_TIMEOUT,
                              context=client_context()) as s:
            code, ehlo = s.ehlo()
            self.assertEqual(code, 250)
            self.assertNotIn(b'STARTTLS', ehlo)
            s.sendmail('a@example.com', ['b@example.com'], MESSAGE)
        msg = srv.wait_for_messages(1)[0]
        self.assertRegex(tls_line(msg), r'^tls: TLSv1\.[23] ')

    def test_proxy_header_comes_before_the_handshake(self):
        srv = self.tls_server('--smtps', '--proxy-protocol')
        s = socket.create_connection((HOST, srv.port), timeout=5)
        self.addCleanup(s.close)
        s.sendall(b'PROXY TCP4 192.0.2.7 127.0.0.1 4321 25\r\n')
        t = client_context().wrap_socket(s)
        f = t.makefile('rb')
        self.assertTrue(f.readline().startswith(b'220 '))
        for line in (b'HELO client.example', b'MAIL FROM:<a@example.com>',
                     b'RCPT TO:<b@example.com>', b'DATA'):
            t.sendall(line + b'\r\n')
            f.readline()
        t.sendall(b'Subject: proxied\r\n\r\nbody\r\n.\r\n')
        self.assertEqual(f.readline(), b'250 OK\r\n')
        msg = srv.wait_for_messages(1)[0]
        self.assertIn('X-Peer: 192.0.2.7', msg.content)

    def test_plaintext_to_smtps_is_closed_and_others_are_served(self):
        srv = self.tls_server('--smtps')
        c = self.client(srv, read_greeting=False)
        c.send(b'EHLO client.example\r\n')
        self.assertTrue(c.expect_closed(timeout=slow(5)))
        with smtplib.SMTP_SSL(HOST, srv.port, timeout=CLIENT_TIMEOUT,
                              context=client_context()) as s:
            self.assertEqual(s.noop()[0], 250)

    def test_garbage_instead_of_a_client_hello_is_closed(self):
        srv = self.tls_server()
        c = self.ehlo_client(srv)
        self.assertEqual(c.cmd('STARTTLS'), '220 2.0.0 Ready to start TLS')
        c.send(os.urandom(64) + b'\r\n')
        self.assertTrue(c.expect_closed(timeout=slow(5)))
        c2 = self.ehlo_client(srv)
        self.assertEqual(c2.cmd('NOOP'), '250 OK')

    def test_stalled_handshake_is_closed_after_the_timeout(self):
        srv = self.tls_server('--smtps', '--timeout', '1')
        c = self.client(srv, read_greeting=False)
        start = time.monotonic()
        self.assertTrue(c.expect_closed(timeout=slow(6)))
        self.assertGreaterEqual(time.monotonic() - start, 0.9)

    def test_tls_to_a_plaintext_port_fails_and_others_are_served(self):
        srv = self.server()
        s = socket.create_connection((HOST, srv.port), timeout=2)
        self.addCleanup(s.close)
        s.recv(100)
        with self.assertRaises((ssl.SSLError, OSError)):
            client_context().wrap_socket(s).do_handshake()
        c2 = self.ehlo_client(srv)
        self.assertEqual(c2.cmd('NOOP'), '250 OK')

    def test_200_connections_leaving_mid_handshake_leak_nothing(self):
        srv = self.tls_server('--smtps')
        pid = srv.proc.pid
        fds, threads = fd_count(pid), thread_count(pid)
        for i in range(200):
            s = socket.create_connection((HOST, srv.port), timeout=5)
            # A TLS record header that promises a ClientHello that never
            # comes, or only its first byte.
            s.sendall(b'\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03' if i % 2
                      else b'\x16')
            s.close()
        # Idle worker threads linger up to 10 s (server.c) before they exit.
        last = [None]

        def settled():
            last[0] = (fd_count(pid), thread_count(pid))
            return last[0][0] <= fds and last[0][1] <= threads
        self.assertTrue(wait_until(settled, slow(20), interval=0.2),
                        'fds, threads: before %r, now %r' % ((fds, threads), last[0]))
        with smtplib.SMTP_SSL(HOST, srv.port, timeout=CLIENT_TIMEOUT,
                              context=client_context()) as s:
            self.assertEqual(s.noop()[0], 250)


class AuthOverTLSTest(TLSTestCase):

    def login(self, srv, mechanism):
        with smtplib.SMTP(HOST, srv.port, timeout=CLIENT_TIMEOUT) as s:
            s.starttls(context=client_context())
            s.ehlo()
            s.user, s.password = USER, PASSWORD
            code, _ = s.auth(mechanism, getattr(s, 'auth_' + mechanism.lower()
                                                .replace('-', '_')))
            self.assertEqual(code, 235)
            s.sendmail('a@example.com', ['b@example.com'], MESSAGE)
        return srv.wait_for_messages(1)[0]

    def test_smtplib_login_plain(self):
        msg = self.login(self.tls_server('--auth-user', CREDS), 'PLAIN')
        self.assertEqual(auth_line(msg), 'auth: ' + USER)
        self.assertRegex(tls_line(msg), r'^tls: TLSv1\.[23] ')

    def test_smtplib_login_login(self):
        msg = self.login(self.tls_server('--auth-user', CREDS), 'LOGIN')
        self.assertEqual(auth_line(msg), 'auth: ' + USER)

    def test_smtplib_login_cram_md5(self):
        msg = self.login(self.tls_server('--auth-user', CREDS), 'CRAM-MD5')
        self.assertEqual(auth_line(msg), 'auth: ' + USER)

    def test_smtplib_login_picks_a_mechanism(self):
        srv = self.tls_server('--auth-user', CREDS)
        with smtplib.SMTP(HOST, srv.port, timeout=CLIENT_TIMEOUT) as s:
            s.starttls(context=client_context())
            self.assertEqual(s.login(USER, PASSWORD)[0], 235)

    def test_wrong_password_is_535(self):
        # smtplib's login() tries each mechanism offered, three failed
        # attempts: then the server says 421 (--max-auth-failures), which
        # smtplib's QUIT at the end of the with block would raise.
        srv = self.tls_server('--auth-user', CREDS)
        s = smtplib.SMTP(HOST, srv.port, timeout=CLIENT_TIMEOUT)
        self.addCleanup(s.close)
        s.starttls(context=client_context())
        with self.assertRaises(smtplib.SMTPAuthenticationError) as e:
            s.login(USER, 'wrong')
        self.assertEqual(e.exception.smtp_code, 535)

    def test_auth_file(self):
        d = StartTLSTest.server_tmp(self)
        path = os.path.join(d, 'users')
        with open(path, 'w') as f:
            f.write('# test users\nbob:builder\n%s\n' % CREDS)
        msg = self.login(self.tls_server('--auth-file', path), 'PLAIN')
        self.assertEqual(auth_line(msg), 'auth: ' + USER)

    def test_auth_any_records_the_name(self):
        srv = self.tls_server('--auth-any')
        with smtplib.SMTP(HOST, srv.port, timeout=CLIENT_TIMEOUT) as s:
            s.starttls(context=client_context())
            s.login('whoever', 'whatever')
            s.sendmail('a@example.com', ['b@example.com'], MESSAGE)
        self.assertEqual(auth_line(srv.wait_for_messages(1)[0]), 'auth: whoever')

    def test_auth_is_listed_only_over_tls_unless_plaintext_is_allowed(self):
        # A client that saw AUTH before TLS could send its password with
        # the command, in the clear, before any 538 told it not to.
        srv = self.tls_server('--auth-user', CREDS)
        c = self.client(srv)
        before = c.cmd('EHLO client.example')
        self.assertIn('250-STARTTLS', before)
        self.assertNotIn('AUTH', before)
        self.starttls(c)
        self.assertRegex(c.cmd('EHLO client.example'), r'\n250-AUTH PLAIN LOGIN')
        plain = self.client(self.tls_server('--auth-user', CREDS,
                                            '--auth-plaintext'))
        self.assertRegex(plain.cmd('EHLO client.example'), r'\n250-AUTH PLAIN LOGIN')

    def test_auth_over_plaintext_is_538(self):
        srv = self.tls_server('--auth-user', CREDS)
        c = self.ehlo_client(srv)
        self.assertEqual(c.cmd('AUTH PLAIN ' + b64('\0%s\0%s' % (USER, PASSWORD))),
                         '538 5.7.11 Encryption required for requested '
                         'authentication mechanism')

    def test_auth_required_refuses_mail_before_auth(self):
        srv = self.tls_server('--auth-user', CREDS, '--auth-required')
        c = self.ehlo_client(srv)
        self.starttls(c)
        c.cmd('EHLO client.example')
        self.assertEqual(c.cmd('MAIL FROM:<a@example.com>'),
                         '530 5.7.0 Authentication required')
        self.assertEqual(c.cmd('AUTH PLAIN ' + b64('\0%s\0%s' % (USER, PASSWORD))),
                         '235 2.7.0 Authentication successful')
        self.assertEqual(c.cmd('MAIL FROM:<a@example.com>'), '250 OK')

    def test_starttls_forgets_a_plaintext_login(self):
        srv = self.tls_server('--auth-user', CREDS, '--auth-plaintext', '--auth-required')
        c = self.ehlo_client(srv)
        self.assertTrue(c.cmd('AUTH PLAIN ' + b64('\0%s\0%s' % (USER, PASSWORD)))
                        .startswith('235'))
        self.starttls(c)
        c.cmd('EHLO client.example')
        self.assertEqual(c.cmd('MAIL FROM:<a@example.com>'),
                         '530 5.7.0 Authentication required')


class SelfSignedOutTest(TLSTestCase):
    """--tls-self-signed-out FILE: the throwaway certificate, for a client
    that verifies."""

    def cert_server(self):
        d = tempfile.mkdtemp(prefix='smtpd-cert-')
        self.addCleanup(shutil.rmtree, d, True)
        path = os.path.join(d, 'smtpd.pem')
        srv = self.tls_server('--tls-self-signed-out', path)
        return srv, path

    def test_python_ssl_verifies_the_server_with_the_written_certificate(self):
        srv, path = self.cert_server()
        with open(path) as f:
            pem = f.read()
        self.assertTrue(pem.startswith('-----BEGIN CERTIFICATE-----\n'), pem[:60])
        self.assertNotIn('PRIVATE KEY', pem)
        for host in ('localhost', HOST):
            with self.subTest(host=host):
                ctx = ssl.create_default_context(cafile=path)   # hostname checked too
                with smtplib.SMTP(host, srv.port, timeout=CLIENT_TIMEOUT) as s:
                    self.assertEqual(s.starttls(context=ctx)[0], 220)
                    self.assertEqual(s.noop()[0], 250)

    def test_without_it_a_verifying_client_refuses_the_server(self):
        srv, _ = self.cert_server()
        ctx = ssl.create_default_context()
        with smtplib.SMTP(HOST, srv.port, timeout=CLIENT_TIMEOUT) as s:
            with self.assertRaises(ssl.SSLCertVerificationError):
                s.starttls(context=ctx)

    def test_openssl_s_client_verifies_with_it(self):
        if not shutil.which('openssl'):
            self.skipTest('openssl is not installed')
        srv, path = self.cert_server()
        r = run_client(['openssl', 's_client', '-starttls', 'smtp', '-quiet',
                        '-verify_return_error', '-CAfile', path, '-verify_hostname',
                        'localhost', '-connect', '%s:%d' % (HOST, srv.port)],
                       stdin=b'EHLO client.example\r\nQUIT\r\n')
        self.assertEqual(r.returncode, 0, r.stderr.decode(errors='replace'))
        self.assertIn('221 Bye', r.stdout.decode(errors='replace'))

    def test_curl_verifies_with_it(self):
        if not shutil.which('curl'):
            self.skipTest('curl is not installed')
        srv, path = self.cert_server()
        r = run_client(['curl', '-sS', '--ssl-reqd', '--cacert', path,
                        'smtp://localhost:%d' % srv.port, '--mail-from', 'a@example.com',
                        '--mail-rcpt', 'b@example.com', '-T', '-'], stdin=MESSAGE.encode())
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(tls_line(srv.wait_for_messages(1)[0]), r'^tls: TLSv1\.[23] ')

    def test_needs_tls_self_signed(self):
        r = subprocess.run([smtpd_path(), '-n', '--tls-self-signed-out', '/tmp/never.pem',
                            '127.0.0.1:0'], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=10)
        self.assertEqual(r.returncode, 1)
        self.assertIn('--tls-self-signed-out needs --tls-self-signed', r.stderr.decode())
        self.assertFalse(os.path.exists('/tmp/never.pem'))


class ClientsTest(TLSTestCase):

    def swaks(self, srv, *extra):
        if not shutil.which('swaks'):
            self.skipTest('swaks is not installed')
        r = run_client(['swaks', '--server', HOST, '--port', str(srv.port),
                        '--from', 'a@example.com', '--to', 'b@example.com',
                        '--body', 'swaks-tls-marker', '--timeout', '10'] + list(extra))
        out = r.stdout.decode(errors='replace') + r.stderr.decode(errors='replace')
        self.assertEqual(r.returncode, 0, 'swaks failed:\n' + out)
        return srv.wait_for_messages(1)[0]

    def test_swaks_starttls(self):
        msg = self.swaks(self.tls_server(), '--tls')
        self.assertRegex(tls_line(msg), r'^tls: TLSv1\.[23] ')
        self.assertIn('swaks-tls-marker', msg.lines)

    def test_swaks_tls_on_connect(self):
        msg = self.swaks(self.tls_server('--smtps'), '--tlsc')
        self.assertRegex(tls_line(msg), r'^tls: TLSv1\.[23] ')

    def test_swaks_auth_plain(self):
        msg = self.swaks(self.tls_server('--auth-user', CREDS), '--tls', '--auth', 'PLAIN',
                         '--auth-user', USER, '--auth-password', PASSWORD)
        self.assertEqual(auth_line(msg), 'auth: ' + USER)

    def test_swaks_auth_login(self):
        msg = self.swaks(self.tls_server('--auth-user', CREDS), '--tls', '--auth', 'LOGIN',
                         '--auth-user', USER, '--auth-password', PASSWORD)
        self.assertEqual(auth_line(msg), 'auth: ' + USER)

    def test_swaks_auth_cram_md5(self):
        r = subprocess.run(['perl', '-MDigest::HMAC_MD5', '-e1'], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
        if r.returncode != 0:
            self.skipTest('swaks needs Digest::HMAC_MD5 for CRAM-MD5')
        msg = self.swaks(self.tls_server('--auth-user', CREDS), '--tls', '--auth',
                         'CRAM-MD5', '--auth-user', USER, '--auth-password', PASSWORD)
        self.assertEqual(auth_line(msg), 'auth: ' + USER)

    def test_curl_ssl_reqd_with_a_login(self):
        if not shutil.which('curl'):
            self.skipTest('curl is not installed')
        srv = self.tls_server('--auth-user', CREDS, '--auth-required')
        r = run_client(['curl', '-sS', '--ssl-reqd', '-k', '-u', CREDS,
                        'smtp://%s:%d' % (HOST, srv.port), '--mail-from', 'a@example.com',
                        '--mail-rcpt', 'b@example.com', '-T', '-'],
                       stdin=MESSAGE.encode())
        self.assertEqual(r.returncode, 0, r.stderr)
        msg = srv.wait_for_messages(1)[0]
        self.assertEqual(auth_line(msg), 'auth: ' + USER)
        self.assertRegex(tls_line(msg), r'^tls: TLSv1\.[23] ')

    def test_openssl_s_client_starttls(self):
        if not shutil.which('openssl'):
            self.skipTest('openssl is not installed')
        srv = self.tls_server('--auth-user', CREDS)
        r = run_client(['openssl', 's_client', '-starttls', 'smtp', '-quiet',
                        '-connect', '%s:%d' % (HOST, srv.port)],
                       stdin=b'EHLO client.example\r\nQUIT\r\n')
        out = r.stdout.decode(errors='replace')
        self.assertIn('250-AUTH PLAIN LOGIN CRAM-MD5', out)
        self.assertNotIn('STARTTLS', out)
        self.assertIn('221 Bye', out)


class RelayTest(TLSTestCase):
    """PureProxy in front of a submission server (a second smtpd) that
    demands STARTTLS and a login."""

    def upstream(self):
        return self.tls_server('--auth-user', CREDS, '--require-tls', '--auth-required')

    def proxy(self, up, *options):
        return self.server('--relay-auth', CREDS, *options, cls='PureProxy',
                           remote='%s:%d' % (HOST, up.port))

    def test_pureproxy_relays_over_starttls_with_auth(self):
        up = self.upstream()
        front = self.proxy(up, '--relay-tls-insecure')
        with smtplib.SMTP(HOST, front.port, timeout=CLIENT_TIMEOUT) as s:
            self.assertEqual(s.sendmail('a@example.com', ['b@example.com'], MESSAGE), {})
        msg = up.wait_for_messages(1)[0]
        self.assertEqual(auth_line(msg), 'auth: ' + USER)
        self.assertRegex(tls_line(msg), r'^tls: TLSv1\.[23] ')
        self.assertIn('tls-marker-1', msg.lines)

    def test_unverifiable_upstream_certificate_is_451(self):
        up = self.upstream()
        front = self.proxy(up)
        c = self.ehlo_client(front)
        r = c.cmd('MAIL FROM:<a@example.com>')
        self.assertTrue(r.startswith('451 4.4.1 '), r)
        self.assertIn('certificate', r)

    def test_wrong_relay_password_is_451(self):
        up = self.upstream()
        front = self.server('--relay-auth', USER + ':nope', '--relay-tls-insecure',
                            cls='PureProxy', remote='%s:%d' % (HOST, up.port))
        c = self.ehlo_client(front)
        r = c.cmd('MAIL FROM:<a@example.com>')
        self.assertTrue(r.startswith('451 '), r)
        self.assertIn('535', r)


class AuthDiagnosticsTest(ServerTestCase):
    """A login that can never succeed is announced at start; with -d each
    failed AUTH says who and why, never the password."""

    WARNING = 'warning: AUTH without TLS: every login will get 538'

    def test_auth_user_without_tls_or_plaintext_warns_at_start(self):
        srv = self.server('--auth-user', CREDS)
        self.assertTrue(wait_until(lambda: self.WARNING in srv.stderr(), 5), srv.stderr())
        self.assertIn('--auth-plaintext', srv.stderr())
        self.assertNotIn(PASSWORD, srv.stderr())

    def test_auth_plaintext_does_not_warn(self):
        srv = self.server('--auth-user', CREDS, '--auth-plaintext')
        self.assertEqual(self.client(srv).cmd('NOOP'), '250 OK')
        self.assertNotIn('warning', srv.stderr())

    def test_tls_does_not_warn(self):
        if not tls_built():
            self.skipTest('smtpd was built with TLS=no')
        srv = self.server('--auth-user', CREDS, '--tls-self-signed')
        self.assertEqual(self.client(srv).cmd('NOOP'), '250 OK')
        self.assertNotIn('warning', srv.stderr())

    def failed_lines(self, srv, n):
        wait_until(lambda: srv.stderr().count('AUTH failed') >= n, 5)
        return [l.split(' ', 1)[1] for l in srv.stderr().splitlines() if 'AUTH failed' in l]

    def test_debug_shows_user_and_reason_of_a_failed_auth(self):
        srv = self.server('-d', '--auth-user', CREDS, '--auth-plaintext')
        # A connection each, as a limit on failures per session may close one.
        c = self.ehlo_client(srv)
        self.assertTrue(c.cmd('AUTH PLAIN ' + b64('\0%s\0guess one' % USER)).startswith('535'))
        self.failed_lines(srv, 1)
        c = self.ehlo_client(srv)
        self.assertTrue(c.cmd('AUTH PLAIN ' + b64('\0mallory\0guess two')).startswith('535'))
        self.failed_lines(srv, 2)
        c = self.ehlo_client(srv)
        c.cmd('AUTH LOGIN')
        c.cmd(b64(USER))
        self.assertTrue(c.cmd(b64('guess three')).startswith('535'))
        self.failed_lines(srv, 3)
        c = self.ehlo_client(srv)
        c.cmd('AUTH LOGIN')
        self.assertTrue(c.cmd('*').startswith('501'))
        self.assertEqual(self.failed_lines(srv, 4), [
            'AUTH failed: user <%s>: wrong password' % USER,
            'AUTH failed: user <mallory>: no such user',
            'AUTH failed: user <%s>: wrong password' % USER,
            'AUTH failed: cancelled by the client'])
        self.assertNotIn('guess', srv.stderr())

    def test_without_debug_failed_auth_is_not_logged(self):
        srv = self.server('--auth-user', CREDS, '--auth-plaintext')
        c = self.ehlo_client(srv)
        self.assertTrue(c.cmd('AUTH PLAIN ' + b64('\0%s\0x' % USER)).startswith('535'))
        c.cmd('QUIT')
        time.sleep(0.2)
        self.assertNotIn('AUTH failed', srv.stderr())


class AuthDialogueTest(ServerTestCase):
    """AUTH's replies, over plaintext (--auth-plaintext): no TLS needed."""

    def auth_server(self, *options):
        return self.server('--auth-user', CREDS, '--auth-plaintext', *options)

    def test_ehlo_offers_auth(self):
        c = self.client(self.auth_server())
        r = c.cmd('EHLO client.example')
        self.assertRegex(r, r'\n250-AUTH PLAIN LOGIN( CRAM-MD5)?\n')

    def test_without_auth_options_auth_is_not_a_command(self):
        c = self.ehlo_client(self.server())
        self.assertEqual(c.cmd('AUTH PLAIN AGEAYg=='), '500 Error: command "AUTH" not recognized')

    def test_plain_initial_response_is_235(self):
        c = self.ehlo_client(self.auth_server())
        self.assertEqual(c.cmd('AUTH PLAIN ' + b64('\0%s\0%s' % (USER, PASSWORD))),
                         '235 2.7.0 Authentication successful')

    def test_plain_after_334(self):
        c = self.ehlo_client(self.auth_server())
        self.assertEqual(c.cmd('AUTH PLAIN'), '334 ')
        self.assertEqual(c.cmd(b64('\0%s\0%s' % (USER, PASSWORD))),
                         '235 2.7.0 Authentication successful')

    def test_login_dialogue(self):
        c = self.ehlo_client(self.auth_server())
        self.assertEqual(c.cmd('AUTH LOGIN'), '334 VXNlcm5hbWU6')
        self.assertEqual(c.cmd(b64(USER)), '334 UGFzc3dvcmQ6')
        self.assertEqual(c.cmd(b64(PASSWORD)), '235 2.7.0 Authentication successful')

    def test_cram_md5_dialogue(self):
        if not tls_built():
            self.skipTest('CRAM-MD5 needs a TLS build (HMAC-MD5 from OpenSSL)')
        c = self.ehlo_client(self.auth_server())
        r = c.cmd('AUTH CRAM-MD5')
        self.assertTrue(r.startswith('334 '), r)
        challenge = base64.b64decode(r[4:])
        digest = hmac.new(PASSWORD.encode(), challenge, 'md5').hexdigest()
        self.assertEqual(c.cmd(b64('%s %s' % (USER, digest))),
                         '235 2.7.0 Authentication successful')

    def test_bad_password_is_535(self):
        c = self.ehlo_client(self.auth_server())
        self.assertEqual(c.cmd('AUTH PLAIN ' + b64('\0%s\0x' % USER)),
                         '535 5.7.8 Authentication credentials invalid')

    def test_star_cancels_with_501(self):
        c = self.ehlo_client(self.auth_server())
        c.cmd('AUTH LOGIN')
        self.assertEqual(c.cmd('*'), '501 5.7.0 Authentication cancelled')

    def test_bad_base64_is_501_5_5_2(self):
        c = self.ehlo_client(self.auth_server())
        self.assertEqual(c.cmd('AUTH PLAIN not*base64'), '501 5.5.2 Cannot decode response')

    def test_second_auth_is_503(self):
        c = self.ehlo_client(self.auth_server())
        c.cmd('AUTH PLAIN ' + b64('\0%s\0%s' % (USER, PASSWORD)))
        self.assertEqual(c.cmd('AUTH PLAIN ' + b64('\0%s\0%s' % (USER, PASSWORD))),
                         '503 5.5.1 Error: already authenticated')

    def test_auth_inside_a_transaction_is_503(self):
        c = self.ehlo_client(self.auth_server())
        c.cmd('MAIL FROM:<a@example.com>')
        self.assertEqual(c.cmd('AUTH PLAIN ' + b64('\0%s\0%s' % (USER, PASSWORD))),
                         '503 5.5.1 Error: AUTH not permitted during a mail transaction')

    def test_auth_before_ehlo_is_503(self):
        c = self.client(self.auth_server())
        self.assertEqual(c.cmd('AUTH PLAIN'), '503 Error: send HELO first')

    def test_unknown_mechanism_is_504(self):
        c = self.ehlo_client(self.auth_server())
        self.assertEqual(c.cmd('AUTH GSSAPI'), '504 5.5.4 Unrecognized authentication type')

    def test_failed_logins_count_toward_the_bad_command_limit(self):
        c = self.ehlo_client(self.auth_server('--max-auth-failures', '0'))
        bad = 'AUTH PLAIN ' + b64('\0%s\0guess' % USER)
        for _ in range(19):
            self.assertTrue(c.cmd(bad).startswith('535'))
        r = c.cmd(bad)
        self.assertTrue(r.startswith('535'), r)
        self.assertRegex(c.reply(), r'^421 .* too many bad commands$')
        self.assertTrue(c.expect_closed())

    def test_third_failed_login_is_421_and_closes(self):
        # NOOPs between the guesses reset the bad-command count; they do
        # not reset this one.
        c = self.ehlo_client(self.auth_server())
        bad = 'AUTH PLAIN ' + b64('\0%s\0guess' % USER)
        for _ in range(2):
            self.assertTrue(c.cmd(bad).startswith('535 '))
            self.assertEqual(c.cmd('NOOP'), '250 OK')
        self.assertTrue(c.cmd(bad).startswith('535 '))
        self.assertEqual(c.reply(), '421 4.7.0 Too many authentication failures')
        self.assertTrue(c.expect_closed())

    def test_max_auth_failures_sets_the_limit(self):
        bad = 'AUTH PLAIN ' + b64('\0%s\0guess' % USER)
        c = self.ehlo_client(self.auth_server('--max-auth-failures', '5'))
        for _ in range(5):
            self.assertTrue(c.cmd(bad).startswith('535 '))
        self.assertTrue(c.reply().startswith('421 '))
        c = self.ehlo_client(self.auth_server('--max-auth-failures', '0'))
        for _ in range(8):
            self.assertTrue(c.cmd(bad).startswith('535 '))
            c.cmd('NOOP')
        self.assertTrue(c.cmd('AUTH PLAIN ' + b64('\0%s\0%s' % (USER, PASSWORD)))
                        .startswith('235 '))

    def test_delivered_message_says_who_logged_in(self):
        srv = self.auth_server()
        with smtplib.SMTP(HOST, srv.port, timeout=CLIENT_TIMEOUT) as s:
            s.login(USER, PASSWORD)
            s.sendmail('a@example.com', ['b@example.com'], MESSAGE)
        self.assertEqual(auth_line(srv.wait_for_messages(1)[0]), 'auth: ' + USER)

    def test_debug_trace_leaves_out_the_credentials(self):
        srv = self.auth_server('-d')
        c = self.ehlo_client(srv)
        secret = b64('\0%s\0%s' % (USER, PASSWORD))
        self.assertTrue(c.cmd('AUTH PLAIN ' + secret).startswith('235'))
        c2 = self.ehlo_client(srv)
        self.assertEqual(c2.cmd('AUTH LOGIN ' + b64(USER)), '334 UGFzc3dvcmQ6')
        self.assertTrue(c2.cmd(b64(PASSWORD)).startswith('235'))
        c.cmd('QUIT')
        c.expect_closed()
        self.assertTrue(wait_until(lambda: '221 Bye' in srv.stderr(), 5))
        err = srv.stderr()
        self.assertIn('<- AUTH PLAIN (%d bytes of AUTH)' % len(secret), err)
        self.assertNotIn(secret, err)
        self.assertNotIn(b64(PASSWORD), err)

    def test_fault_rule_at_the_auth_stage_answers_for_that_user(self):
        srv = self.server('--auth-user', CREDS, '--auth-user', 'bob:builder',
                          '--auth-plaintext', '--fault',
                          'auth:%s=454 4.7.0 Temporary authentication failure' % USER)
        c = self.ehlo_client(srv)
        self.assertEqual(c.cmd('AUTH PLAIN ' + b64('\0%s\0%s' % (USER, PASSWORD))),
                         '454 4.7.0 Temporary authentication failure')
        self.assertEqual(c.cmd('AUTH PLAIN ' + b64('\0bob\0builder')),
                         '235 2.7.0 Authentication successful')

    def test_auth_options_need_users(self):
        r = run_client([smtpd_path(), '-n', '--auth-required', '127.0.0.1:1'], timeout=10)
        self.assertEqual(r.returncode, 1)
        self.assertIn(b'needs users', r.stderr)


class WithoutTLSTest(ServerTestCase):
    """Built with TLS=no, every TLS option is refused at start."""

    def test_tls_options_are_refused_with_a_clear_message(self):
        if tls_built():
            self.skipTest('smtpd was built with TLS')
        for opts in (['--tls-self-signed'], ['--smtps', '--tls-self-signed'],
                     ['--tls-cert', 'c.pem', '--tls-key', 'k.pem']):
            r = run_client([smtpd_path(), '-n'] + opts + ['127.0.0.1:1'], timeout=10)
            self.assertEqual(r.returncode, 1)
            self.assertIn(b'built without TLS support', r.stderr)


if __name__ == '__main__':
    unittest.main()
