# SPDX-License-Identifier: ISC
"""-c DebuggingServer --decode (issue 21): each message printed decoded
(web/mime.c, GMime): the envelope, the headers with encoded words
decoded, the text part in UTF-8, one line per other part.  What it prints
is compared with what Python's `email` package (policy=default) reads from
the same bytes, for messages sent by real senders (smtplib with
EmailMessage, swaks).  Hostile messages: the server answers, prints a
bounded result, and stays up.  A build without the web interface refuses
the option."""
import email
import email.policy
import os
import re
import shutil
import smtplib
import subprocess
import tempfile
import time
import unittest
from email.message import EmailMessage

from helpers import BEGIN, END, ServerTestCase, smtpd_path, testing_python_reference

CLIENT_TIMEOUT = 30
PART_LINE = re.compile(r'^\[(attachment|inline) ([0-9.]+): (.*), ([^,]+), (\d+) bytes\]$')


def web_built():
    """Was ./smtpd built with the web interface (GMime)?  --decode with a
    class other than DebuggingServer fails at once either way, saying which."""
    r = subprocess.run([smtpd_path(), '-n', '--decode', '-c', 'Sink', '127.0.0.1:1'],
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=10)
    return b'built without the web interface' not in r.stderr


class Decoded:
    """One message as --decode printed it."""

    def __init__(self, lines):
        self.envelope, self.headers, self.text = {}, [], []
        self.html_size, self.parts, self.truncated = None, [], False
        i = 0
        while i < len(lines) and lines[i]:
            k, _, v = lines[i].partition(': ')
            self.envelope.setdefault(k, []).append(v)
            i += 1
        i += 1
        while i < len(lines) and lines[i]:
            k, _, v = lines[i].partition(': ')
            self.headers.append((k, v))
            i += 1
        body = lines[i + 1:]
        while body and body[-1].startswith('['):
            line = body.pop()
            m = PART_LINE.match(line)
            if m:
                self.parts.insert(0, {'kind': m.group(1), 'id': m.group(2),
                                      'name': m.group(3), 'type': m.group(4),
                                      'size': int(m.group(5))})
            elif line.startswith('[html: '):
                self.html_size = int(line.split()[1])
            elif line.startswith('[truncated'):
                self.truncated = True
        self.text = '\n'.join(body)

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None


def decoded_messages(out):
    msgs, cur = [], None
    for line in out.split('\n'):
        if line == BEGIN:
            cur = []
        elif line == END and cur is not None:
            msgs.append(Decoded(cur))
            cur = None
        elif cur is not None:
            cur.append(line)
    return msgs


class DecodeTestCase(ServerTestCase):

    def setUp(self):
        super().setUp()
        if testing_python_reference():
            self.skipTest('Python has no --decode')
        if not web_built():
            self.skipTest('built without the web interface (WEB=no)')

    def decoding_server(self, *options):
        return self.server('--decode', *options)

    def wait_decoded(self, srv, count, timeout=20.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msgs = decoded_messages(srv.stdout())
            if len(msgs) >= count:
                return msgs
            time.sleep(0.05)
        self.fail('expected %d decoded message(s), got:\n%s' % (count, srv.stdout()[-3000:]))

    def send(self, srv, msg, sender='from@example.com', rcpts=('ann@example.org',)):
        raw = msg if isinstance(msg, bytes) else msg.as_bytes()
        with smtplib.SMTP('127.0.0.1', srv.port, timeout=CLIENT_TIMEOUT) as s:
            self.assertEqual(s.sendmail(sender, list(rcpts), raw), {})
        return raw


def rich_message():
    """multipart/mixed: (alternative: text, related: (html, inline cid
    image)), an attachment; non-ASCII subject, names and file name."""
    m = EmailMessage()
    m['From'] = 'Jürgen Müller <j@example.com>'
    m['To'] = 'Ann Ångström <ann@example.org>, b@example.org'
    m['Cc'] = 'Zoë <zoe@example.org>'
    m['Subject'] = 'Grüße – 日本語 test'
    m['Message-ID'] = '<rich.1@example.com>'
    m.set_content('Hällo wörld\nsecond line €\n')
    m.add_alternative('<html><body><p>Hällo <img src="cid:logo@example"></p>'
                      '</body></html>\n', subtype='html')
    m.get_payload()[1].add_related(b'\x89PNG\r\n\x1a\n' + bytes(range(256)),
                                   maintype='image', subtype='png',
                                   cid='<logo@example>', disposition='inline',
                                   filename='logo.png')
    m.add_attachment(b'%PDF-1.4\n' + b'\x00\xff' * 500, maintype='application',
                     subtype='pdf', filename='Résumé 2026.pdf')
    return m


class DecodeMatchesPythonTest(DecodeTestCase):

    def test_rich_message_fields_match_python_email(self):
        srv = self.decoding_server()
        raw = self.send(srv, rich_message(), rcpts=('ann@example.org', 'c@example.org'))
        d = self.wait_decoded(srv, 1)[0]
        py = email.message_from_bytes(raw, policy=email.policy.default)

        self.assertEqual(d.envelope['mail from'], ['from@example.com'])
        self.assertEqual(d.envelope['rcpt to'], ['ann@example.org', 'c@example.org'])
        self.assertRegex(d.envelope['peer'][0], r'^127\.0\.0\.1 port \d+$')
        self.assertIn('time', d.envelope)

        self.assertEqual(d.header('Subject'), str(py['subject']))
        for name in ('From', 'To', 'Cc'):
            for a in py[name].addresses:
                self.assertIn(a.display_name, d.header(name))
                self.assertIn(a.addr_spec, d.header(name))
        self.assertEqual([k for k, _ in d.headers], list(py.keys()))

        self.assertEqual(d.text.rstrip('\n'),
                         py.get_body(('plain',)).get_content().rstrip('\n'))
        html = py.get_body(('html',)).get_content()
        # (the handler gets the message with LF line ends, as Python's does)
        self.assertEqual(d.html_size, len(html.encode()))

        expected = []
        for part in py.walk():
            if part.is_multipart() or part.get_content_disposition() is None:
                continue
            expected.append((part.get_filename(), part.get_content_type(),
                             len(part.get_payload(decode=True))))
        got = [(p['name'], p['type'], p['size']) for p in d.parts]
        self.assertEqual(sorted(got), sorted(expected))
        kinds = {p['name']: (p['kind'], p['id']) for p in d.parts}
        # Mailpit's PartIDs: the attachment is the mixed part's second part,
        # the image the second part of the related part in the alternative
        self.assertEqual(kinds['Résumé 2026.pdf'], ('attachment', '2'))
        self.assertEqual(kinds['logo.png'], ('inline', '1.2.2'))
        self.assertFalse(d.truncated)

    def test_latin1_quoted_printable_text_becomes_utf8(self):
        srv = self.decoding_server()
        m = EmailMessage()
        m['Subject'] = '=?iso-8859-1?q?Caf=E9?='
        m.set_content('Café crème à la carte\n', charset='iso-8859-1', cte='quoted-printable')
        raw = self.send(srv, m)
        d = self.wait_decoded(srv, 1)[0]
        py = email.message_from_bytes(raw, policy=email.policy.default)
        self.assertIn(b'=E9', raw)
        self.assertEqual(d.header('Subject'), str(py['subject']))
        self.assertEqual(d.header('Subject'), 'Café')
        self.assertEqual(d.text.rstrip('\n'), py.get_content().rstrip('\n'))

    def test_base64_utf8_text_and_attachment_sizes(self):
        srv = self.decoding_server()
        m = EmailMessage()
        m['Subject'] = 'base64'
        m.set_content('Ünïcödé ' * 40 + '\n', cte='base64')
        m.add_attachment('x,y\n1,2\n', subtype='csv', filename='data.csv')
        raw = self.send(srv, m)
        d = self.wait_decoded(srv, 1)[0]
        py = email.message_from_bytes(raw, policy=email.policy.default)
        self.assertEqual(d.text.rstrip('\n'), py.get_body(('plain',)).get_content().rstrip('\n'))
        att = next(py.iter_attachments())
        self.assertEqual([(p['name'], p['type'], p['size']) for p in d.parts],
                         [('data.csv', 'text/csv', len(att.get_payload(decode=True)))])

    def test_swaks_message_with_attachment(self):
        if not shutil.which('swaks'):
            self.skipTest('swaks is not installed (Debian package "swaks")')
        srv = self.decoding_server()
        tmp = tempfile.mkdtemp(prefix='decode-')
        self.addCleanup(shutil.rmtree, tmp, True)
        path = os.path.join(tmp, 'pic.png')
        with open(path, 'wb') as f:
            f.write(b'\x89PNG' + bytes(range(200)))
        r = subprocess.run(['swaks', '--server', '127.0.0.1', '--port', str(srv.port),
                            '--from', 'a@example.com', '--to', 'b@example.com',
                            '--header', 'Subject: =?UTF-8?B?w7xiZXIgc3dha3M=?=',
                            '--body', 'swaks body text', '--attach-type', 'image/png',
                            '--attach-name', 'bild ü.png', '--attach', '@' + path,
                            '--timeout', '10'],
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=CLIENT_TIMEOUT)
        self.assertEqual(r.returncode, 0, r.stderr.decode(errors='replace'))
        d = self.wait_decoded(srv, 1)[0]
        self.assertEqual(d.header('Subject'), 'über swaks')
        self.assertEqual(d.text.strip(), 'swaks body text')
        self.assertEqual([(p['kind'], p['name'], p['type'], p['size']) for p in d.parts],
                         [('attachment', 'bild ü.png', 'image/png', 204)])

    def test_default_output_is_still_pythons(self):
        srv = self.server()
        self.send(srv, rich_message())
        msgs = srv.wait_for_messages(1)
        subject = [line for line in msgs[0].content if line.startswith('Subject: ')]
        self.assertEqual(len(subject), 1)
        self.assertTrue(subject[0].startswith('Subject: =?utf-8?'), subject)
        self.assertFalse(any(line.startswith('mail from: ') for line in msgs[0].lines))


class DecodeHostileTest(DecodeTestCase):
    """Hostile messages: bounded, still answered 250, the server stays up."""

    def send_and_check_alive(self, raw, timeout=60.0):
        srv = self.decoding_server()
        t0 = time.monotonic()
        self.send(srv, raw)
        d = self.wait_decoded(srv, 1, timeout=timeout)[0]
        elapsed = time.monotonic() - t0
        # the server still takes mail
        self.send(srv, b'Subject: after\r\n\r\nstill here\r\n')
        after = self.wait_decoded(srv, 2)[1]
        self.assertEqual(after.text.strip(), 'still here')
        return d, elapsed, srv

    def test_ten_thousand_parts(self):
        parts = b''.join(b'--x\r\nContent-Type: image/gif\r\nContent-Disposition: '
                         b'attachment; filename=a%d.gif\r\n\r\nGIF\r\n' % i
                         for i in range(10000))
        raw = (b'Subject: many\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n'
               + parts + b'--x--\r\n')
        d, elapsed, _ = self.send_and_check_alive(raw)
        self.assertTrue(d.truncated)
        self.assertLessEqual(len(d.parts), 1000)
        self.assertLess(elapsed, 20)

    def test_nesting_a_hundred_deep(self):
        raw = b'Subject: deep\r\nContent-Type: multipart/mixed; boundary=b0\r\n\r\n'
        for i in range(1, 101):
            raw += b'--b%d\r\nContent-Type: multipart/mixed; boundary=b%d\r\n\r\n' % (i - 1, i)
        raw += b'--b100\r\nContent-Type: text/plain\r\n\r\ndeep text\r\n'
        d, elapsed, _ = self.send_and_check_alive(raw)
        self.assertTrue(d.truncated)
        self.assertLess(elapsed, 20)

    def test_thirty_megabyte_header(self):
        folded = b'\r\n '.join([b'x' * 900] * (30 * 1024 * 1024 // 903))
        raw = b'Subject: big\r\nX-Huge: ' + folded + b'\r\n\r\nsmall body\r\n'
        self.assertGreater(len(raw), 30 * 1000 * 1000)
        d, elapsed, _ = self.send_and_check_alive(raw, timeout=90)
        self.assertTrue(d.truncated)
        self.assertEqual(d.header('Subject'), 'big')
        self.assertEqual(d.text.strip(), 'small body')
        self.assertLess(sum(len(v) for _, v in d.headers), 2 * 1024 * 1024)

    def test_nuls_and_invalid_utf8(self):
        raw = (b'Subject: bad \xff\xfe =?utf-8?q?=C3=28?= end\r\n'
               b'Content-Type: text/plain; charset=utf-8\r\n\r\n'
               b'a\x00b \xc0\xaf c \x1b[31mred\r\n')
        d, _, srv = self.send_and_check_alive(raw)
        out = srv.stdout_bytes()
        out.decode('utf-8')          # valid UTF-8: raises otherwise
        self.assertNotIn(b'\x1b', out)   # no escape sequence reaches the terminal
        self.assertNotIn(b'\x00', out)
        self.assertIn('end', d.header('Subject'))
        self.assertIn('\ufffdb', d.text)

    def test_filename_with_quote_crlf_and_dotdot(self):
        raw = (b'Subject: names\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n'
               b'--x\r\nContent-Type: text/plain\r\n\r\nhi\r\n'
               b'--x\r\nContent-Type: application/octet-stream\r\n'
               b"Content-Disposition: attachment; filename*=utf-8''"
               b'..%2F..%2Fetc%2F%22pa%0D%0Ass%22\r\n\r\nzz\r\n--x--\r\n')
        d, _, _ = self.send_and_check_alive(raw)
        self.assertEqual(len(d.parts), 1)
        name = d.parts[0]['name']
        self.assertIn('../', name)
        self.assertIn('"', name)
        self.assertNotIn('\r', name)


class DecodeOptionTest(ServerTestCase):

    def setUp(self):
        super().setUp()
        if testing_python_reference():
            self.skipTest('Python has no --decode')

    def run_smtpd(self, *args):
        return subprocess.run([smtpd_path(), '-n'] + list(args), stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=10)

    def test_decode_with_another_class_is_refused(self):
        r = self.run_smtpd('--decode', '-c', 'Sink', '127.0.0.1:1')
        self.assertEqual(r.returncode, 1)
        self.assertTrue(b'--decode is for -c DebuggingServer' in r.stderr
                        or b'built without the web interface' in r.stderr, r.stderr)

    def test_without_the_web_interface_decode_is_refused(self):
        if web_built():
            self.skipTest('built with the web interface')
        r = self.run_smtpd('--decode', '127.0.0.1:1')
        self.assertEqual(r.returncode, 1)
        self.assertIn(b'--decode: built without the web interface', r.stderr)


if __name__ == '__main__':
    unittest.main()
