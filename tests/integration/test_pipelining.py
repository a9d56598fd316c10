# SPDX-License-Identifier: ISC
"""Pipelining (RFC 2920): many commands in one write, all replies in order."""
import unittest

from helpers import FQDN, ServerTestCase


class PipeliningTest(ServerTestCase):

    def test_pipelined_transaction_replies_in_order(self):
        srv = self.server('-s', '1000')
        c = self.client(srv)
        c.send(b'EHLO client.example\r\n'
               b'MAIL FROM:<a@example.com>\r\n'
               b'RCPT TO:<b@example.com>\r\n'
               b'RCPT TO:<c@example.com>\r\n'
               b'DATA\r\n')
        ehlo = c.reply()
        self.assertTrue(ehlo.startswith('250-' + FQDN), ehlo)
        self.assertEqual(c.replies(4), ['250 OK', '250 OK', '250 OK',
                                        '354 End data with <CR><LF>.<CR><LF>'])
        c.send(b'Subject: pipelined\r\n\r\nbody\r\n.\r\n'
               b'MAIL FROM:<d@example.com>\r\n'
               b'RCPT TO:<e@example.com>\r\n'
               b'DATA\r\n')
        self.assertEqual(c.replies(4), ['250 OK', '250 OK', '250 OK',
                                        '354 End data with <CR><LF>.<CR><LF>'])
        c.send(b'Subject: second\r\n\r\nbody two\r\n.\r\nQUIT\r\n')
        self.assertEqual(c.replies(2), ['250 OK', '221 Bye'])
        msgs = srv.wait_for_messages(2)
        self.assertEqual([m.without_peer() for m in msgs],
                         [['Subject: pipelined', '', 'body'], ['Subject: second', '', 'body two']])

    def test_pipelined_errors_keep_their_place(self):
        c = self.ehlo_client(self.server())
        c.send(b'RCPT TO:<x@example.com>\r\n'
               b'MAIL FROM:<a@example.com>\r\n'
               b'RCPT TO:<b@example.com> NOTIFY=NEVER\r\n'
               b'RCPT TO:<c@example.com>\r\n'
               b'FROB\r\n'
               b'\r\n'
               b'RSET\r\n'
               b'DATA\r\n')
        self.assertEqual(c.replies(8), [
            '503 Error: need MAIL command',
            '250 OK',
            '555 RCPT TO parameters not recognized or not implemented',
            '250 OK',
            '500 Error: command "FROB" not recognized',
            '500 Error: bad syntax',
            '250 OK',
            '503 Error: need RCPT command',
        ])

    def test_message_and_quit_in_one_write(self):
        srv = self.server()
        c = self.client(srv)
        c.send(b'HELO c\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n'
               b'Subject: all at once\r\n\r\nbody\r\n.\r\nQUIT\r\n')
        self.assertEqual(c.replies(6)[1:], ['250 OK', '250 OK',
                                            '354 End data with <CR><LF>.<CR><LF>',
                                            '250 OK', '221 Bye'])
        self.assertTrue(c.expect_closed())
        self.assertEqual(srv.wait_for_messages(1)[0].without_peer(),
                         ['Subject: all at once', '', 'body'])

    def test_1000_pipelined_noops_get_1000_replies(self):
        c = self.client(self.server())
        c.send(b'NOOP\r\n' * 1000)
        self.assertEqual(c.replies(1000, timeout=20), ['250 OK'] * 1000)
        self.assertEqual(c.cmd('HELP'), '250 Supported commands: EHLO HELO MAIL RCPT DATA '
                         'RSET NOOP QUIT VRFY')

    def test_1000_pipelined_commands_are_answered_in_order(self):
        # Each unknown command is named in its reply, so the order is visible.
        c = self.client(self.server())
        lines, expected = [], []
        for i in range(1000):
            if i % 3 == 0:
                lines.append(b'NOOP')
                expected.append('250 OK')
            elif i % 3 == 1:
                lines.append(b'X%04d' % i)
                expected.append('500 Error: command "X%04d" not recognized' % i)
            else:
                lines.append(b'NOOP %d' % i)
                expected.append('501 Syntax: NOOP')
        c.send(b'\r\n'.join(lines) + b'\r\n')
        self.assertEqual(c.replies(1000, timeout=20), expected)

    def test_command_split_across_writes(self):
        c = self.client(self.server())
        c.send(b'NO')
        c.send(b'OP\r')
        c.send(b'\nNOOP\r\n')
        self.assertEqual(c.replies(2), ['250 OK', '250 OK'])


if __name__ == '__main__':
    unittest.main()
