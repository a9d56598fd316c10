# SPDX-License-Identifier: ISC
"""--lmtp (RFC 2033) over TCP and over a UNIX-domain socket: LHLO instead
of HELO/EHLO, one reply per accepted recipient after the message; the
socket file's life (mode, removal at stop, a stale one from a crash).
Clients: Python's smtplib.LMTP, Postfix's smtp-source -L, and a private
Postfix delivering through its lmtp transport."""
import os
import smtplib
import socket
import stat
import subprocess
import unittest

import private_postfix
from helpers import ServerTestCase, HOST, smtpd_path, wait_until, stop_process
from proxy_helpers import RawClient, UnixServer, maildir_messages, temp_dir

SMTP_SOURCE = '/usr/sbin/smtp-source'


def hooked_server_path():
    """tests/lmtp-hooked, built beside the smtpd under test."""
    return os.path.join(os.path.dirname(smtpd_path()), 'tests', 'lmtp-hooked')


class LmtpTcpTest(ServerTestCase):

    def lmtp(self, srv):
        c = smtplib.LMTP()
        c.connect(HOST, srv.port)
        self.addCleanup(c.close)
        return c

    def test_lhlo_is_answered_like_ehlo(self):
        srv = self.server('--lmtp')
        c = self.lmtp(srv)
        code, text = c.ehlo('client.example')   # smtplib.LMTP sends LHLO
        self.assertEqual(code, 250)
        self.assertIn(b'PIPELINING', text)

    def test_helo_and_ehlo_are_500(self):
        srv = self.server('--lmtp')
        c = self.client(srv)
        self.assertEqual(c.cmd('HELO client.example'),
                         '500 Error: command "HELO" not recognized')
        self.assertEqual(c.cmd('EHLO client.example'),
                         '500 Error: command "EHLO" not recognized')
        self.assertEqual(c.cmd('MAIL FROM:<a@example.test>'),
                         '503 Error: send LHLO first')

    def test_without_lmtp_lhlo_is_not_a_command(self):
        srv = self.server()
        c = self.client(srv)
        self.assertEqual(c.cmd('LHLO client.example'),
                         '500 Error: command "LHLO" not recognized')

    def test_smtplib_lmtp_delivers(self):
        srv = self.server('--lmtp')
        c = self.lmtp(srv)
        refused = c.sendmail('a@example.test', ['b@example.test'],
                             b'Subject: lmtp\r\n\r\nhello\r\n')
        self.assertEqual(refused, {})
        msg = srv.wait_for_messages(1)[0]
        self.assertEqual(msg.content, ['Subject: lmtp', 'X-Peer: 127.0.0.1',
                                       '', 'hello'])

    def test_one_reply_per_accepted_recipient_in_order(self):
        srv = self.server('--lmtp', '--max-recipients', '2')
        c = self.client(srv)
        self.assertTrue(c.cmd('LHLO client.example').startswith('250-'))
        self.assertEqual(c.cmd('MAIL FROM:<a@example.test>'), '250 OK')
        self.assertEqual(c.cmd('RCPT TO:<one@example.test>'), '250 OK')
        self.assertEqual(c.cmd('RCPT TO:<two@example.test>'), '250 OK')
        self.assertEqual(c.cmd('RCPT TO:<three@example.test>'),
                         '452 Error: too many recipients')
        self.assertTrue(c.cmd('DATA').startswith('354'))
        c.send(b'Subject: x\r\n\r\nbody\r\n.\r\n')
        self.assertEqual(c.replies(2), ['250 OK', '250 OK'])
        self.assertEqual(c.cmd('NOOP'), '250 OK')
        self.assertEqual(len(srv.wait_for_messages(1)), 1)

    def test_data_needs_an_accepted_recipient(self):
        srv = self.server('--lmtp')
        c = self.client(srv)
        c.cmd('LHLO client.example')
        c.cmd('MAIL FROM:<a@example.test>')
        self.assertEqual(c.cmd('DATA'), '503 Error: need RCPT command')

    def test_maildir_delivers_one_copy_per_recipient(self):
        md = os.path.join(temp_dir(self), 'Maildir')
        srv = self.server('--lmtp', '--maildir', md, cls='Maildir')
        c = self.lmtp(srv)
        c.ehlo('client.example')
        c.mail('a@example.test')
        c.rcpt('one@example.test')
        c.rcpt('two@example.test')
        code, _ = c.data(b'Subject: two\r\n\r\nx\r\n')
        self.assertEqual(code, 250)
        self.assertEqual(c.getreply()[0], 250)   # the second recipient's
        msgs = maildir_messages(md)
        self.assertEqual(sorted(m.split(b'\n')[1] for m in msgs),
                         [b'Delivered-To: one@example.test',
                          b'Delivered-To: two@example.test'])
        for m in msgs:
            self.assertTrue(m.startswith(b'Return-Path: <a@example.test>\n'))
            self.assertTrue(m.endswith(b'Subject: two\n\nx\n'))

    @unittest.skipUnless(os.access(SMTP_SOURCE, os.X_OK), 'no smtp-source')
    def test_smtp_source_lmtp(self):
        md = os.path.join(temp_dir(self), 'Maildir')
        srv = self.server('--lmtp', '--maildir', md, cls='Maildir')
        r = subprocess.run([SMTP_SOURCE, '-L', '-s', '4', '-m', '20', '-r', '2',
                            '-f', 'src@example.test', '-t', 'dst@example.test',
                            '%s:%d' % (HOST, srv.port)],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout)
        self.assertEqual(len(maildir_messages(md)), 40)


class LmtpUnixTest(ServerTestCase):

    def unix_server(self, *options, path=None, cls='DebuggingServer'):
        srv = UnixServer(*options, path=path, cls=cls)
        self.addCleanup(srv.cleanup)
        self.addCleanup(self._check_alive, srv)
        return srv.start()

    def test_smtplib_lmtp_over_a_unix_socket(self):
        srv = self.unix_server('--lmtp')
        c = smtplib.LMTP(srv.path)
        self.addCleanup(c.close)
        self.assertEqual(c.sendmail('a@example.test', ['b@example.test'],
                                    b'Subject: u\r\n\r\nvia unix\r\n'), {})
        msg = srv.wait_for_messages(1)[0]
        # The peer of a UNIX-domain connection is reported as "unix".
        self.assertEqual(msg.content, ['Subject: u', 'X-Peer: unix', '', 'via unix'])

    def test_smtp_over_a_unix_socket(self):
        srv = self.unix_server()
        c = smtplib.SMTP()
        self.addCleanup(c.close)
        c.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        c.sock.settimeout(5)
        c.sock.connect(srv.path)
        c.file = None
        self.assertEqual(c.getreply()[0], 220)
        self.assertEqual(c.sendmail('a@example.test', ['b@example.test'],
                                    b'Subject: s\r\n\r\nsmtp\r\n'), {})
        self.assertEqual(len(srv.wait_for_messages(1)), 1)

    def test_socket_mode_is_set(self):
        srv = self.unix_server('--lmtp', '--socket-mode', '0600')
        self.assertEqual(stat.S_IMODE(os.stat(srv.path).st_mode), 0o600)
        srv.stop()
        srv2 = self.unix_server('--lmtp', '--socket-mode', '0666', path=srv.path)
        self.assertEqual(stat.S_IMODE(os.stat(srv2.path).st_mode), 0o666)

    def test_socket_file_is_removed_at_stop(self):
        srv = self.unix_server('--lmtp')
        self.assertTrue(stat.S_ISSOCK(os.stat(srv.path).st_mode))
        self.assertEqual(srv.stop(), 0)
        self.assertFalse(os.path.exists(srv.path))

    def test_stale_socket_from_a_crash_does_not_stop_a_start(self):
        d = temp_dir(self)
        path = os.path.join(d, 'lmtp.sock')
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(path)            # bound, never listening: what a crash leaves
        s.close()
        self.assertTrue(os.path.exists(path))
        srv = self.unix_server('--lmtp', path=path)
        c = srv.connect()
        self.addCleanup(c.close)
        self.assertTrue(c.greeting.startswith('220 '))

    def test_socket_in_use_is_refused(self):
        srv = self.unix_server('--lmtp')
        r = subprocess.run([smtpd_path(), '-n', '--lmtp', 'unix:' + srv.path],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=10)
        self.assertEqual(r.returncode, 1)
        self.assertIn(b'already in use', r.stderr)
        # The first server still has its socket and answers.
        c = srv.connect()
        self.addCleanup(c.close)
        self.assertTrue(c.greeting.startswith('220 '))

    def test_a_file_that_is_not_a_socket_is_left_alone(self):
        d = temp_dir(self)
        path = os.path.join(d, 'notasocket')
        with open(path, 'w') as f:
            f.write('keep me')
        r = subprocess.run([smtpd_path(), '-n', '--lmtp', 'unix:' + path],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=10)
        self.assertEqual(r.returncode, 1)
        with open(path) as f:
            self.assertEqual(f.read(), 'keep me')

    @unittest.skipUnless(os.access(SMTP_SOURCE, os.X_OK), 'no smtp-source')
    def test_smtp_source_lmtp_over_a_unix_socket(self):
        md = os.path.join(temp_dir(self), 'Maildir')
        srv = self.unix_server('--lmtp', '--maildir', md, cls='Maildir')
        r = subprocess.run([SMTP_SOURCE, '-L', '-s', '2', '-m', '10',
                            '-f', 'src@example.test', '-t', 'dst@example.test',
                            'unix:' + srv.path],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout)
        self.assertEqual(len(maildir_messages(md)), 10)


class HookedServer:
    """tests/lmtp-hooked: the library in LMTP mode with a hook refusing
    nobody@ at RCPT and a handler refusing late@ after the message."""

    def __init__(self, maildir, address, *extra):
        self.argv = [hooked_server_path(), maildir, address] + list(extra)
        self.proc = None
        self.err = os.path.join(os.path.dirname(maildir), 'hooked.err')

    def start(self):
        with open(self.err, 'wb') as err:
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.PIPE, stderr=err,
                                         start_new_session=True)
        line = self.proc.stdout.readline()
        if not line.startswith(b'listening '):
            self.stop()
            raise AssertionError('lmtp-hooked did not start: %r %s' % (line, self.stderr()))
        self.port = int(line.split()[1])
        return self

    def stderr(self):
        try:
            with open(self.err, errors='replace') as f:
                return f.read()
        except OSError:
            return ''

    def stop(self):
        stop_process(self.proc, 10)
        if self.proc:
            self.proc.stdout.close()


@unittest.skipUnless(private_postfix.available(), 'needs root and Postfix')
class PostfixLmtpTest(ServerTestCase):

    def setUp(self):
        super().setUp()
        if not os.access(hooked_server_path(), os.X_OK):
            self.skipTest('%s not built' % hooked_server_path())

    def run_postfix(self, address_for_postfix, srv, md):
        pf = private_postfix.PrivatePostfix(transport=address_for_postfix)
        self.addCleanup(pf.stop)
        pf.start()
        text = ('From: sender@postfix-test.localdomain\n'
                'Subject: to four\n\nfour recipients, two refused\n')
        pf.sendmail('sender@postfix-test.localdomain',
                    ['ann@example.test', 'nobody@example.test',
                     'late@example.test', 'bob@example.test'], text)
        # Two delivered, two bounced; the bounce itself comes to us (the
        # sender's domain has no other route) for the sender.
        self.assertTrue(wait_until(lambda: len(maildir_messages(md)) >= 3, 30,
                                   interval=0.2),
                        '%s\n%s' % (pf.log()[-3000:], srv.stderr()))
        log = pf.log()
        self.assertRegex(log, r'to=<ann@example.test>.*status=sent')
        self.assertRegex(log, r'to=<bob@example.test>.*status=sent')
        self.assertRegex(log, r'to=<nobody@example.test>.*status=bounced')
        self.assertRegex(log, r'to=<late@example.test>.*status=bounced')
        msgs = maildir_messages(md)
        delivered = sorted(m.split(b'\n')[1] for m in msgs)
        self.assertEqual(delivered, [b'Delivered-To: ann@example.test',
                                     b'Delivered-To: bob@example.test',
                                     b'Delivered-To: sender@postfix-test.localdomain'])
        bounce = [m for m in msgs if b'Delivered-To: sender@' in m][0]
        self.assertIn(b'Return-Path: <>', bounce)
        self.assertIn(b'nobody@example.test', bounce)
        self.assertIn(b'late@example.test', bounce)
        self.assertIn(b'No such user', bounce)
        return pf

    def test_postfix_lmtp_over_tcp_bounces_the_refused_recipients(self):
        d = temp_dir(self)
        md = os.path.join(d, 'Maildir')
        srv = HookedServer(md, '127.0.0.1:0').start()
        self.addCleanup(srv.stop)
        self.run_postfix('lmtp:inet:127.0.0.1:%d' % srv.port, srv, md)

    def test_postfix_lmtp_over_a_unix_socket(self):
        d = temp_dir(self)
        os.chmod(d, 0o755)
        md = os.path.join(d, 'Maildir')
        sock = os.path.join(d, 'lmtp.sock')
        srv = HookedServer(md, 'unix:' + sock).start()
        self.addCleanup(srv.stop)
        self.run_postfix('lmtp:unix:' + sock, srv, md)

    def test_postfix_lmtp_with_chunking_offered(self):
        # Postfix's lmtp client has no BDAT (test_chunking.py says more):
        # it sees CHUNKING and delivers with DATA, per recipient as ever.
        d = temp_dir(self)
        md = os.path.join(d, 'Maildir')
        srv = HookedServer(md, '127.0.0.1:0', '--chunking').start()
        self.addCleanup(srv.stop)
        self.run_postfix('lmtp:inet:127.0.0.1:%d' % srv.port, srv, md)
        self.assertIn('250-CHUNKING', srv.stderr())


if __name__ == '__main__':
    unittest.main()
