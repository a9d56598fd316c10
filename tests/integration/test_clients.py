# SPDX-License-Identifier: ISC
"""Real clients: Python's smtplib, swaks and curl, checked through DebuggingServer's output."""
import email.message
import os
import re
import shutil
import smtplib
import subprocess
import tempfile
import unittest

from helpers import BEGIN, END, ServerTestCase, improvement, text_lines

CLIENT_TIMEOUT = 20


class SmtplibTest(ServerTestCase):

    MESSAGE = ('From: a@example.com\r\n'
               'To: b@example.com, c@example.com\r\n'
               'Subject: smtplib test\r\n'
               '\r\n'
               'first line\r\n'
               '.a line that starts with a dot\r\n'
               '\r\n'
               'last line\r\n')

    def test_sendmail_to_several_recipients(self):
        srv = self.server('-s', '100000')
        with smtplib.SMTP('127.0.0.1', srv.port, timeout=CLIENT_TIMEOUT) as s:
            refused = s.sendmail('a@example.com',
                                 ['b@example.com', 'c@example.com', 'd@example.com'],
                                 self.MESSAGE)
        self.assertEqual(refused, {})
        msg = srv.wait_for_messages(1)[0]
        self.assertRegex(msg.lines[0], r"^mail options: \['SIZE=\d+'\]$")
        self.assertEqual(msg.content, [
            'From: a@example.com',
            'To: b@example.com, c@example.com',
            'Subject: smtplib test',
            'X-Peer: 127.0.0.1',
            '',
            'first line',
            '.a line that starts with a dot',
            '',
            'last line',
        ])

    def test_sendmail_output_is_framed_by_the_markers(self):
        srv = self.server('-s', '100000')
        with smtplib.SMTP('127.0.0.1', srv.port, timeout=CLIENT_TIMEOUT) as s:
            s.sendmail('a@example.com', ['b@example.com'], self.MESSAGE)
        srv.wait_for_messages(1)
        lines = text_lines(srv.stdout())
        self.assertEqual(lines[0], BEGIN)
        self.assertIn(END, lines)
        # The X-Peer line is inserted just before the first empty line.
        first_empty = lines.index('')
        self.assertEqual(lines[first_empty - 1], 'X-Peer: 127.0.0.1')
        self.assertEqual(lines[lines.index(END) - 1], 'last line')

    def test_sendmail_after_helo_only(self):
        srv = self.server('-s', '100000')
        with smtplib.SMTP('127.0.0.1', srv.port, timeout=CLIENT_TIMEOUT) as s:
            self.assertEqual(s.helo('client.example')[0], 250)
            s.sendmail('a@example.com', ['b@example.com'], self.MESSAGE)
        msg = srv.wait_for_messages(1)[0]
        self.assertIsNone(msg.mail_options)
        self.assertEqual(msg.without_peer()[-1], 'last line')

    def test_several_messages_on_one_connection(self):
        srv = self.server('-s', '100000')
        with smtplib.SMTP('127.0.0.1', srv.port, timeout=CLIENT_TIMEOUT) as s:
            for i in range(5):
                s.sendmail('a@example.com', ['b@example.com'],
                           'Subject: %d\r\n\r\nmessage %d\r\n' % (i, i))
        msgs = srv.wait_for_messages(5)
        self.assertEqual([m.without_peer()[-1] for m in msgs],
                         ['message %d' % i for i in range(5)])

    def test_smtplib_reports_the_size_limit(self):
        srv = self.server('-s', '100')
        with smtplib.SMTP('127.0.0.1', srv.port, timeout=CLIENT_TIMEOUT) as s:
            with self.assertRaises(smtplib.SMTPSenderRefused) as cm:
                s.sendmail('a@example.com', ['b@example.com'], 'Subject: x\r\n\r\n' + 'y' * 200)
        self.assertEqual(cm.exception.smtp_code, 552)

    def test_send_message_with_smtputf8_addresses(self):
        srv = self.server('-u', '-s', '100000')
        m = email.message.EmailMessage()
        m['From'] = 'J\u00f6rg <j\u00f6rg@b\u00fccher.example>'
        m['To'] = '\u00e9mile@ex\u00e4mple.com'
        m['Subject'] = 'gr\u00fc\u00dfe'
        m.set_content('h\u00e9llo w\u00f6rld\n')
        with smtplib.SMTP('127.0.0.1', srv.port, timeout=CLIENT_TIMEOUT) as s:
            self.assertEqual(s.send_message(m), {})
        msg = srv.wait_for_messages(1)[0]
        self.assertIn('SMTPUTF8', msg.mail_options)
        self.assertIn('BODY=8BITMIME', msg.mail_options)
        self.assertIn('From: J\u00f6rg <j\u00f6rg@b\u00fccher.example>', msg.content)
        self.assertIn('To: \u00e9mile@ex\u00e4mple.com', msg.content)
        self.assertIn('h\u00e9llo w\u00f6rld', msg.content)

    def test_send_message_with_smtputf8_addresses_needs_u(self):
        srv = self.server('-s', '100000')
        m = email.message.EmailMessage()
        m['From'] = 'j\u00f6rg@b\u00fccher.example'
        m['To'] = 'b@example.com'
        m.set_content('x\n')
        with smtplib.SMTP('127.0.0.1', srv.port, timeout=CLIENT_TIMEOUT) as s:
            with self.assertRaises(smtplib.SMTPNotSupportedError):
                s.send_message(m)

    @improvement('the default size limit is 33554432, which smtplib sees in EHLO')
    def test_smtplib_sees_the_default_size_limit(self):
        srv = self.server()
        with smtplib.SMTP('127.0.0.1', srv.port, timeout=CLIENT_TIMEOUT) as s:
            s.ehlo()
            self.assertEqual(s.esmtp_features.get('size'), '33554432')


def run_client(argv, timeout=CLIENT_TIMEOUT):
    return subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=timeout)


class SwaksTest(ServerTestCase):

    def setUp(self):
        super().setUp()
        if not shutil.which('swaks'):
            self.skipTest('swaks is not installed (Debian package "swaks")')

    def swaks(self, srv, *extra):
        r = run_client(['swaks', '--server', '127.0.0.1', '--port', str(srv.port),
                        '--from', 'a@example.com', '--to', 'b@example.com,c@example.com',
                        '--header', 'Subject: swaks test', '--body', 'swaks-marker-42',
                        '--timeout', '10'] + list(extra))
        self.assertEqual(r.returncode, 0, 'swaks failed:\n' + r.stdout.decode(errors='replace')
                         + r.stderr.decode(errors='replace'))
        return r

    def test_swaks_delivers_a_message(self):
        srv = self.server('-s', '100000')
        self.swaks(srv)
        msg = srv.wait_for_messages(1)[0]
        self.assertIn('Subject: swaks test', msg.content)
        self.assertIn('To: b@example.com,c@example.com', msg.content)
        self.assertIn('swaks-marker-42', msg.content)
        i = msg.content.index('')
        self.assertEqual(msg.content[i - 1], 'X-Peer: 127.0.0.1')

    @improvement('EHLO advertises PIPELINING, which swaks --pipeline requires')
    def test_swaks_pipelined_delivers_a_message(self):
        srv = self.server('-s', '100000')
        r = self.swaks(srv, '--pipeline')
        # Pipelined, swaks sends MAIL and RCPT before reading MAIL's reply;
        # without PIPELINING in EHLO it falls back to one command at a time.
        self.assertRegex(r.stdout.decode(errors='replace'),
                         r' -> MAIL FROM:<a@example.com>\r?\n -> RCPT TO:<b@example.com>')
        msg = srv.wait_for_messages(1, timeout=5)[0]
        self.assertIn('swaks-marker-42', msg.content)


class CurlTest(ServerTestCase):

    def setUp(self):
        super().setUp()
        if not shutil.which('curl'):
            self.skipTest('curl is not installed')

    def test_curl_uploads_a_message(self):
        srv = self.server('-s', '100000')
        body = ('From: a@example.com\r\nTo: b@example.com\r\nSubject: curl test\r\n\r\n'
                'curl-marker-7\r\n.starts with a dot\r\nend\r\n')
        with tempfile.NamedTemporaryFile('w', suffix='.eml', delete=False) as f:
            f.write(body)
        self.addCleanup(os.unlink, f.name)
        r = run_client(['curl', '-sS', '--max-time', '15',
                        '--mail-from', 'a@example.com',
                        '--mail-rcpt', 'b@example.com', '--mail-rcpt', 'c@example.com',
                        '-T', f.name, 'smtp://127.0.0.1:%d' % srv.port])
        self.assertEqual(r.returncode, 0, r.stderr.decode(errors='replace'))
        msg = srv.wait_for_messages(1)[0]
        self.assertEqual(msg.content, ['From: a@example.com', 'To: b@example.com',
                                       'Subject: curl test', 'X-Peer: 127.0.0.1', '',
                                       'curl-marker-7', '.starts with a dot', 'end'])
        self.assertTrue(msg.mail_options and re.match(r'SIZE=\d+$', msg.mail_options[0]),
                        msg.mail_options)


if __name__ == '__main__':
    unittest.main()
