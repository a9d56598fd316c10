# SPDX-License-Identifier: ISC
"""--chunking: CHUNKING and BDAT (RFC 3030) through a hand-written client
over a real socket, and a private Postfix that delivers to us while we
offer it.  A message sent in chunks is delivered exactly as the same
message sent with DATA."""
import os
import socket
import time
import unittest

import private_postfix
from helpers import ServerTestCase, HOST, wait_until
from proxy_helpers import RawClient, maildir_messages, temp_dir

MESSAGE = (b'Subject: chunks\r\nX-Dots: yes\r\n\r\n.leading dot stays\r\n'
           b'.\r\nline with bare \n LF and bare \r CR\r\nlast line\r\n')


class ChunkingTest(ServerTestCase):

    def start(self, *options):
        self.md = os.path.join(temp_dir(self), 'Maildir')
        return self.server('--chunking', '--maildir', self.md, *options,
                           cls='Maildir')

    def session(self, srv):
        c = RawClient((HOST, srv.port))
        self.addCleanup(c.close)
        self.assertIn('250-CHUNKING', c.cmd('EHLO client.example'))
        return c

    def envelope(self, c, rcpts=('b@example.test',)):
        self.assertEqual(c.cmd('MAIL FROM:<a@example.test>'), '250 OK')
        for r in rcpts:
            self.assertEqual(c.cmd('RCPT TO:<%s>' % r), '250 OK')

    def bdat(self, c, chunk, last=False):
        c.send(b'BDAT %d%s\r\n' % (len(chunk), b' LAST' if last else b'') + chunk)
        return c.reply()

    def delivered(self):
        return maildir_messages(self.md)

    def test_chunking_is_offered_only_with_the_option(self):
        srv = self.server()
        c = self.client(srv)
        ehlo = c.cmd('EHLO client.example')
        self.assertNotIn('CHUNKING', ehlo)
        self.assertEqual(c.cmd('BDAT 0 LAST'),
                         '500 Error: command "BDAT" not recognized')

    def test_bdat_delivers_the_same_text_as_data(self):
        srv = self.start()
        c = self.session(srv)
        self.envelope(c)
        self.assertTrue(c.cmd('DATA').startswith('354'))
        stuffed = MESSAGE.replace(b'\r\n.', b'\r\n..')
        c.send(stuffed + b'.\r\n')
        self.assertEqual(c.reply(), '250 OK')
        self.envelope(c)
        self.assertEqual(self.bdat(c, MESSAGE[:20]), '250 2.0.0 20 bytes received')
        self.assertTrue(self.bdat(c, MESSAGE[20:], last=True).startswith('250'))
        by_data, by_bdat = self.delivered()
        self.assertEqual(by_data, by_bdat)
        self.assertIn(b'\n.leading dot stays\n.\n', by_bdat)

    def test_chunk_sizes_zero_one_and_a_megabyte(self):
        srv = self.start()
        c = self.session(srv)
        self.envelope(c)
        big = (b'x' * 998 + b'\r\n') * 1048
        self.assertEqual(self.bdat(c, b'Subject: sizes\r\n\r\n'),
                         '250 2.0.0 18 bytes received')
        self.assertEqual(self.bdat(c, b''), '250 2.0.0 0 bytes received')
        self.assertEqual(self.bdat(c, b'y'), '250 2.0.0 1 bytes received')
        self.assertEqual(self.bdat(c, b'\r\n' + big), '250 2.0.0 %d bytes received' % (len(big) + 2))
        self.assertEqual(self.bdat(c, b'', last=True), '250 OK')
        [m] = self.delivered()
        self.assertTrue(m.endswith(b'\n\ny\n' + big.replace(b'\r\n', b'\n')))

    def test_a_chunk_split_across_many_segments(self):
        srv = self.start()
        c = self.session(srv)
        self.envelope(c)
        c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        body = b'Subject: slow\r\n\r\n' + b'0123456789\r\n' * 40
        c.send(b'BDAT %d LAST\r\n' % len(body))
        for i in range(0, len(body), 7):
            c.send(body[i:i + 7])
            time.sleep(0.001)
        self.assertEqual(c.reply(), '250 OK')
        [m] = self.delivered()
        self.assertTrue(m.endswith(b'0123456789\n' * 39 + b'0123456789\n'))

    def test_pipelined_chunks(self):
        srv = self.start()
        c = self.session(srv)
        c.send(b'MAIL FROM:<a@example.test>\r\nRCPT TO:<b@example.test>\r\n'
               b'BDAT 12\r\nSubject: p\r\nBDAT 8\r\n\r\nbody\r\nBDAT 0 LAST\r\nNOOP\r\n')
        self.assertEqual(c.replies(6), ['250 OK', '250 OK', '250 2.0.0 12 bytes received',
                                        '250 2.0.0 8 bytes received', '250 OK', '250 OK'])
        [m] = self.delivered()
        self.assertTrue(m.endswith(b'Subject: p\n\nbody\n'))

    def test_last_alone_ends_an_empty_message(self):
        srv = self.start()
        c = self.session(srv)
        self.envelope(c)
        self.assertEqual(self.bdat(c, b'', last=True), '250 OK')
        self.assertEqual(self.delivered(), [b'Return-Path: <a@example.test>\n\n'])

    def test_size_limit_counts_across_chunks(self):
        srv = self.start('--size', '1000')
        c = self.session(srv)
        self.envelope(c)
        self.assertTrue(self.bdat(c, b'a' * 600).startswith('250'))
        self.assertEqual(self.bdat(c, b'b' * 600, last=True),
                         '552 Error: Too much mail data')
        self.assertEqual(c.cmd('NOOP'), '250 OK')
        self.assertEqual(self.delivered(), [])
        # The next transaction starts afresh.
        self.envelope(c)
        self.assertEqual(self.bdat(c, b'c' * 900, last=True), '250 OK')

    def test_bdat_without_a_recipient_is_503_and_its_bytes_are_skipped(self):
        srv = self.start()
        c = self.session(srv)
        self.assertEqual(self.bdat(c, b'QUIT\r\n'), '503 Error: need MAIL command')
        self.assertEqual(c.cmd('MAIL FROM:<a@example.test>'), '250 OK')
        self.assertEqual(self.bdat(c, b'RSET\r\nQUIT\r\n'), '503 Error: need RCPT command')
        self.assertEqual(c.cmd('NOOP'), '250 OK')

    def test_bdat_before_ehlo_is_503(self):
        srv = self.start()
        c = RawClient((HOST, srv.port))
        self.addCleanup(c.close)
        self.assertEqual(self.bdat(c, b'QUIT\r\n'), '503 Error: send HELO first')
        self.assertEqual(c.cmd('NOOP'), '250 OK')

    def test_data_after_bdat_is_503(self):
        srv = self.start()
        c = self.session(srv)
        self.envelope(c)
        self.assertTrue(self.bdat(c, b'Subject: x\r\n').startswith('250'))
        self.assertEqual(c.cmd('DATA'), '503 Error: BDAT in progress; DATA not allowed')
        self.assertEqual(self.bdat(c, b'\r\nbody\r\n', last=True), '250 OK')
        self.assertEqual(len(self.delivered()), 1)

    def test_rset_abandons_a_chunked_message(self):
        srv = self.start()
        c = self.session(srv)
        self.envelope(c)
        self.assertTrue(self.bdat(c, b'Subject: gone\r\n').startswith('250'))
        self.assertEqual(c.cmd('RSET'), '250 OK')
        self.assertEqual(self.bdat(c, b'x', last=True), '503 Error: need MAIL command')
        self.assertEqual(self.delivered(), [])

    def test_bad_bdat_syntax_is_501_and_closes(self):
        srv = self.start()
        for bad in ('BDAT', 'BDAT x', 'BDAT 10 FIRST', 'BDAT -1', 'BDAT 1 LAST x'):
            with self.subTest(bad=bad):
                c = self.session(srv)
                self.envelope(c)
                self.assertEqual(c.cmd(bad), '501 Syntax: BDAT chunk-size [LAST]')
                self.assertTrue(c.closed())

    def test_unreadable_bdat_line_closes_before_its_chunk_is_read(self):
        # A BDAT line refused before its size is read (a NUL in it, or too
        # long) must not let the chunk's bytes run as commands: this chunk
        # holds a whole transaction of its own.
        chunk = (b'RSET\r\nMAIL FROM:<evil@x.example>\r\n'
                 b'RCPT TO:<victim@x.example>\r\nBDAT 3 LAST\r\nhi\n')
        srv = self.start()
        for line, reply in ((b'BDAT %d\x00' % len(chunk), '500 Error: bad syntax'),
                            (b'BDAT %d ' % len(chunk) + b'x' * 2000,
                             '500 Error: line too long'),
                            (b'bdat %d LAST' % len(chunk) + b' ' * 600,
                             '500 Error: line too long')):
            with self.subTest(line=line[:20]):
                c = self.session(srv)
                self.envelope(c)
                c.send(line + b'\r\n' + chunk)
                self.assertEqual(c.reply(), reply)
                self.assertTrue(c.closed())
        time.sleep(0.2)
        self.assertEqual(self.delivered(), [])

    def test_lmtp_bdat_replies_per_recipient(self):
        self.md = os.path.join(temp_dir(self), 'Maildir')
        srv = self.server('--lmtp', '--chunking', '--maildir', self.md, cls='Maildir')
        c = RawClient((HOST, srv.port))
        self.addCleanup(c.close)
        self.assertIn('250-CHUNKING', c.cmd('LHLO client.example'))
        self.envelope(c, ('one@example.test', 'two@example.test'))
        c.send(b'BDAT 5 LAST\r\nhi\r\n.')
        self.assertEqual(c.replies(2), ['250 OK', '250 OK'])
        self.assertEqual(len(self.delivered()), 2)


@unittest.skipUnless(private_postfix.available(), 'needs root and Postfix')
class PostfixChunkingTest(ServerTestCase):
    """Postfix's SMTP client (3.7 here) does not send BDAT: it has no
    CHUNKING support at all (only its server has; the smtp binary has no
    "BDAT" in it).  What a real MTA can check is that offering CHUNKING
    costs nothing: it sees the keyword and delivers with DATA."""

    def test_postfix_delivers_when_chunking_is_offered(self):
        md = os.path.join(temp_dir(self), 'Maildir')
        srv = self.server('--chunking', '-d', '--maildir', md, cls='Maildir')
        pf = private_postfix.PrivatePostfix(relayhost=(HOST, srv.port))
        self.addCleanup(pf.stop)
        pf.start()
        text = 'Subject: via postfix\n\n' + ''.join('line %d\n' % i for i in range(2000))
        pf.sendmail('sender@postfix-test.localdomain', ['rcpt@example.test'], text)
        self.assertTrue(wait_until(lambda: maildir_messages(md), 30, interval=0.2),
                        pf.log()[-2000:])
        self.assertIn('250-CHUNKING', srv.stderr())
        self.assertRegex(srv.stderr(), r'<- (DATA|BDAT \d+ LAST)')
        [m] = maildir_messages(md)
        self.assertIn(b'Subject: via postfix\n', m)
        self.assertTrue(m.endswith(b'line 1999\n'))
        self.assertTrue(pf.wait_log(r'to=<rcpt@example.test>.*status=sent'))


if __name__ == '__main__':
    unittest.main()
