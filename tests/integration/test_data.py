# SPDX-License-Identifier: ISC
"""DATA: message content as DebuggingServer prints it, dot-stuffing, the end of
data, size limits, and a 10 MB message."""
import time
import unittest

from helpers import (BEGIN, ServerTestCase, expected_debug_lines, improvement,
                     python_message_data)

TOO_MUCH = '552 Error: Too much mail data'


class DataTestCase(ServerTestCase):

    def start_data(self, *options, ehlo=True, mail='MAIL FROM:<a@example.com>', **kw):
        srv = self.server(*options)
        c = self.ehlo_client(srv, **kw) if ehlo else self.helo_client(srv, **kw)
        self.assertEqual(c.cmd(mail), '250 OK')
        self.assertEqual(c.cmd('RCPT TO:<b@example.com>'), '250 OK')
        self.assertEqual(c.cmd('DATA'), '354 End data with <CR><LF>.<CR><LF>')
        return srv, c

    def deliver(self, raw, *options, **kw):
        """Send raw (the text after 354, without CRLF.CRLF); return the one printed message."""
        srv, c = self.start_data(*options, **kw)
        self.assertEqual(c.send_message(raw + b'\r\n.\r\n'), '250 OK')
        # Nothing else may come back: the message was one message.
        self.assertEqual(c.cmd('NOOP'), '250 OK')
        return srv.wait_for_messages(1)[0]

    def assert_delivered_as_python_does(self, raw, *options):
        msg = self.deliver(raw, *options)
        self.assertEqual(msg.content, expected_debug_lines(python_message_data(raw)))
        return msg


class MessageOutputTest(DataTestCase):

    def test_message_is_printed_between_markers(self):
        srv, c = self.start_data(ehlo=False)
        c.send_message(b'Subject: hi\r\n\r\nhello\r\n.\r\n')
        msgs = srv.wait_for_messages(1)
        self.assertEqual(len(msgs), 1)
        self.assertEqual(msgs[0].lines, ['Subject: hi', 'X-Peer: 127.0.0.1', '', 'hello'])

    def test_x_peer_goes_before_the_first_empty_line(self):
        msg = self.deliver(b'A: 1\r\nB: 2\r\n\r\nbody\r\n\r\nmore')
        self.assertEqual(msg.content, ['A: 1', 'B: 2', 'X-Peer: 127.0.0.1', '', 'body', '', 'more'])

    def test_message_without_empty_line_has_no_x_peer(self):
        msg = self.deliver(b'just one line')
        self.assertEqual(msg.content, ['just one line'])

    def test_mail_options_are_printed(self):
        srv, c = self.start_data('-s', '1000', mail='MAIL FROM:<a@example.com> BODY=8BITMIME SIZE=20')
        c.send_message(b'Subject: x\r\n\r\nbody\r\n.\r\n')
        msg = srv.wait_for_messages(1)[0]
        self.assertEqual(msg.lines[0], "mail options: ['BODY=8BITMIME', 'SIZE=20']")
        self.assertEqual(msg.mail_options, ['BODY=8BITMIME', 'SIZE=20'])

    def test_mail_options_are_printed_in_upper_case(self):
        srv, c = self.start_data(mail='MAIL FROM:<a@example.com> body=8bitmime')
        c.send_message(b'Subject: x\r\n\r\nbody\r\n.\r\n')
        self.assertEqual(srv.wait_for_messages(1)[0].mail_options, ['BODY=8BITMIME'])

    def test_no_mail_options_line_without_options(self):
        msg = self.deliver(b'Subject: x\r\n\r\nbody')
        self.assertIsNone(msg.mail_options)
        self.assertFalse(any(l.startswith('mail options') for l in msg.lines))

    @improvement('DebuggingServer prints message lines as text, not b\'...\' reprs')
    def test_message_lines_are_printed_as_text(self):
        srv, c = self.start_data()
        c.send_message(b'Subject: caf\xc3\xa9\r\n\r\nna\xc3\xafve\r\n.\r\n')
        srv.wait_for_messages(1)
        out = srv.stdout().split('\n')
        self.assertIn('Subject: caf\u00e9', out)
        self.assertIn('X-Peer: 127.0.0.1', out)
        self.assertIn('na\u00efve', out)

    def test_utf8_body_is_delivered(self):
        msg = self.deliver('Subject: gr\u00fc\u00dfe\r\n\r\nh\u00e9llo w\u00f6rld \u2603'.encode())
        self.assertEqual(msg.without_peer(), ['Subject: gr\u00fc\u00dfe', '', 'h\u00e9llo w\u00f6rld \u2603'])

    def test_two_messages_on_one_connection_are_printed_in_order(self):
        srv, c = self.start_data()
        c.send_message(b'Subject: one\r\n\r\nfirst\r\n.\r\n')
        c.transaction('c@example.com', ['d@example.com'], b'Subject: two\r\n\r\nsecond')
        msgs = srv.wait_for_messages(2)
        self.assertEqual([m.without_peer()[-1] for m in msgs], ['first', 'second'])

    def test_data_passed_as_python_does(self):
        # CRLF -> LF, and the line ending before the final dot is not part of the data.
        self.assert_delivered_as_python_does(b'H: v\r\n\r\nbody\r\n\r\n')

    def test_final_line_ending_is_not_part_of_the_message(self):
        # Data is 'Subject: x\n': no empty line, so no X-Peer line either.
        msg = self.deliver(b'Subject: x\r\n')
        self.assertEqual(msg.content, ['Subject: x'])

    def test_trailing_empty_lines_are_kept(self):
        msg = self.deliver(b'H: v\r\n\r\nbody\r\n\r\n')
        self.assertEqual(msg.content, ['H: v', 'X-Peer: 127.0.0.1', '', 'body', ''])


class DotTest(DataTestCase):

    def test_dot_stuffed_lines_arrive_unstuffed(self):
        msg = self.deliver(b'Subject: dots\r\n\r\n..hello\r\n...\r\n..\r\nend')
        self.assertEqual(msg.without_peer(), ['Subject: dots', '', '.hello', '..', '.', 'end'])

    def test_single_leading_dot_is_removed(self):
        # Python removes one leading dot from every line, stuffed or not.
        msg = self.deliver(b'Subject: dots\r\n\r\n.x\r\n. y')
        self.assertEqual(msg.without_peer(), ['Subject: dots', '', 'x', ' y'])

    def test_dot_in_the_middle_of_a_line_is_kept(self):
        msg = self.deliver(b'Subject: dots\r\n\r\na.b\r\nend.')
        self.assertEqual(msg.without_peer(), ['Subject: dots', '', 'a.b', 'end.'])

    def test_lf_dot_lf_is_message_text(self):
        self.assert_delivered_as_python_does(b'Subject: s\r\n\r\nbefore\n.\nMAIL FROM:<x@y>\r\nafter')

    def test_cr_dot_cr_is_message_text(self):
        self.assert_delivered_as_python_does(b'Subject: s\r\n\r\nbefore\r.\rMAIL FROM:<x@y>\r\nafter')

    def test_lf_dot_crlf_is_message_text(self):
        self.assert_delivered_as_python_does(b'Subject: s\r\n\r\nbefore\n.\r\nMAIL FROM:<x@y>\r\nafter')

    def test_crlf_dot_lf_is_message_text(self):
        self.assert_delivered_as_python_does(b'Subject: s\r\n\r\nbefore\r\n.\nMAIL FROM:<x@y>\r\nafter')

    def test_crlf_dot_space_crlf_is_message_text(self):
        self.assert_delivered_as_python_does(b'Subject: s\r\n\r\nbefore\r\n. \r\nafter')

    def test_bare_lf_lines_stay_in_the_message(self):
        self.assert_delivered_as_python_does(b'Subject: s\n\nunix\nlines\r\nend')

    def test_end_of_data_split_across_writes(self):
        srv, c = self.start_data()
        for part in (b'Subject: s\r\n\r\nbody\r', b'\n', b'.', b'\r', b'\n'):
            c.send(part)
            time.sleep(0.05)
        self.assertEqual(c.reply(), '250 OK')
        self.assertEqual(srv.wait_for_messages(1)[0].without_peer(), ['Subject: s', '', 'body'])

    @improvement('DATA followed at once by "." is an empty message (Python waits for more)')
    def test_empty_message_is_250(self):
        srv, c = self.start_data(timeout=2)
        self.assertEqual(c.send_message(b'.\r\n'), '250 OK')
        self.assertEqual(c.cmd('NOOP'), '250 OK')

    @improvement('DATA followed at once by "." is an empty message (Python waits for more)')
    def test_empty_message_is_printed_with_no_lines(self):
        srv, c = self.start_data(timeout=2)
        c.send_message(b'.\r\n')
        self.assertEqual(srv.wait_for_messages(1, timeout=2)[0].content, [])

    def test_transaction_ends_after_a_message(self):
        srv, c = self.start_data()
        c.send_message(b'Subject: x\r\n\r\nbody\r\n.\r\n')
        self.assertEqual(c.cmd('RCPT TO:<b@example.com>'), '503 Error: need MAIL command')
        self.assertEqual(c.cmd('DATA'), '503 Error: need RCPT command')
        self.assertEqual(c.cmd('MAIL FROM:<c@example.com>'), '250 OK')


class SizeLimitTest(DataTestCase):

    def test_oversize_message_is_552(self):
        srv, c = self.start_data('-s', '100')
        self.assertEqual(c.send_message(b'x' * 101 + b'\r\n.\r\n'), TOO_MUCH)

    def test_message_at_the_size_limit_is_250(self):
        srv, c = self.start_data('-s', '100')
        self.assertEqual(c.send_message(b'x' * 100 + b'\r\n.\r\n'), '250 OK')

    def test_size_limit_counts_raw_bytes_including_line_breaks(self):
        # Python counts the bytes received before CRLF.CRLF: 49 + 2 + 49 = 100.
        srv, c = self.start_data('-s', '100')
        self.assertEqual(c.send_message(b'x' * 49 + b'\r\n' + b'x' * 49 + b'\r\n.\r\n'), '250 OK')

    def test_size_limit_over_by_a_line_break_is_552(self):
        # 50 + 2 + 49 = 101 raw bytes (100 once CRLF became LF): over.
        srv, c = self.start_data('-s', '100')
        self.assertEqual(c.send_message(b'x' * 50 + b'\r\n' + b'x' * 49 + b'\r\n.\r\n'), TOO_MUCH)

    def test_oversize_message_is_not_delivered(self):
        srv, c = self.start_data('-s', '100')
        c.send_message(b'Subject: big\r\n\r\n' + b'y' * 500 + b'\r\n.\r\n')
        c.close()
        srv.stop()
        self.assertNotIn(BEGIN, srv.stdout())

    @improvement('after 552 Too much mail data the transaction ends (Python stays in DATA)')
    def test_after_oversize_message_next_mail_is_250(self):
        srv, c = self.start_data('-s', '100', timeout=2)
        self.assertEqual(c.send_message(b'x' * 500 + b'\r\n.\r\n'), TOO_MUCH)
        self.assertEqual(c.cmd('MAIL FROM:<c@example.com>'), '250 OK')

    @improvement('after 552 Too much mail data the transaction ends (Python stays in DATA)')
    def test_after_oversize_message_rcpt_needs_mail(self):
        srv, c = self.start_data('-s', '100', timeout=2)
        c.send_message(b'x' * 500 + b'\r\n.\r\n')
        self.assertEqual(c.cmd('RCPT TO:<b@example.com>'), '503 Error: need MAIL command')

    @improvement('after 552 Too much mail data the transaction ends (Python stays in DATA)')
    def test_after_oversize_message_a_small_one_is_delivered(self):
        srv, c = self.start_data('-s', '100', timeout=2)
        c.send_message(b'x' * 500 + b'\r\n.\r\n')
        self.assertEqual(c.transaction('c@example.com', ['d@example.com'], b'Subject: s\r\n\r\nsmall'),
                         '250 OK')
        self.assertEqual(srv.wait_for_messages(1, timeout=3)[0].without_peer(),
                         ['Subject: s', '', 'small'])


def ten_megabytes():
    """About 10 MB of numbered lines; every 7th starts with a (stuffed) dot."""
    lines = [b'Subject: ten megabytes', b'']
    for i in range(115000):
        line = b'%07d %s' % (i, (b'abcdefghijklmnopqrstuvwxyz0123456789' * 3)[i % 36:][:90])
        if i % 7 == 0:
            line = b'.' + line
        lines.append(line)
    text = b'\r\n'.join(lines)
    stuffed = b'\r\n'.join((b'.' + l) if l.startswith(b'.') else l for l in lines)
    return text, stuffed


class BigMessageTest(DataTestCase):

    def test_10mb_message_is_delivered_intact(self):
        text, stuffed = ten_megabytes()
        self.assertGreater(len(stuffed), 10 * 1024 * 1024)
        srv, c = self.start_data('-s', '0', timeout=60)
        c.send(stuffed + b'\r\n.\r\n')
        self.assertEqual(c.reply(), '250 OK')
        msg = srv.wait_for_messages(1, timeout=60)[0]
        got = msg.without_peer()
        expected = text.decode().split('\r\n')
        self.assertEqual(len(got), len(expected))
        if got != expected:
            i = next(i for i, (a, b) in enumerate(zip(got, expected)) if a != b)
            self.fail('the 10 MB message differs first at line %d: %r != %r'
                      % (i, got[i][:120], expected[i][:120]))

    def test_10mb_message_under_a_large_limit_is_250(self):
        text, stuffed = ten_megabytes()
        srv, c = self.start_data('-s', '20000000', timeout=60)
        c.send(stuffed + b'\r\n.\r\n')
        self.assertEqual(c.reply(), '250 OK')


if __name__ == '__main__':
    unittest.main()
