# SPDX-License-Identifier: ISC
"""Failures on demand (--fault, --fault-file, --fault-seed, --triggers,
--max-messages-per-connection, --rate): each stage and action over real
sockets, seen the way a user's code sees it - the exception smtplib raises,
swaks's exit status - and every refused message is never delivered.

The README's "Testing your error handling" recipes are copied from the
commands these tests run (test_readme_recipes_are_tested checks it).
"""
import os
import re
import shutil
import smtplib
import socket
import subprocess
import tempfile
import threading
import time
import unittest

from helpers import (REPO, ServerTestCase, debug_messages, free_port, smtpd_path,
                     testing_python_reference, wait_until)

try:
    from private_postfix import PrivatePostfix, available as postfix_available
except ImportError:                     # before the helper is merged
    PrivatePostfix = None

    def postfix_available():
        return False

CLIENT_TIMEOUT = 20
README = os.path.join(REPO, 'README')


def message(n):
    return 'From: a@example.com\r\nTo: b@example.com\r\nSubject: m%d\r\n\r\nbody %d\r\n' % (n, n)


def subjects(msgs):
    """The Subject: of each message DebuggingServer printed, in order."""
    out = []
    for m in msgs:
        for line in m.content:
            if line.startswith('Subject: '):
                out.append(line[len('Subject: '):])
    return out


def delivered_count(srv):
    return len(debug_messages(srv.stdout_bytes()))


class FaultTestCase(ServerTestCase):

    def setUp(self):
        super().setUp()
        if testing_python_reference():
            self.skipTest("Python's smtpd has no --fault")

    def smtp(self, srv, **kw):
        s = smtplib.SMTP('127.0.0.1', srv.port, timeout=kw.pop('timeout', CLIENT_TIMEOUT))
        self.addCleanup(self._close, s)
        return s

    @staticmethod
    def _close(s):
        try:
            s.close()
        except Exception:
            pass

    def assert_nothing_delivered(self, srv, wait=0.3):
        time.sleep(wait)
        self.assertEqual(delivered_count(srv), 0, srv.stdout()[-2000:])


class StageTest(FaultTestCase):
    """One rule per stage, as the issue and the README write them."""

    def test_rcpt_glob_is_SMTPRecipientsRefused(self):
        srv = self.server('--fault', 'rcpt:*@bounce.example=550 5.1.1 No such user')
        s = self.smtp(srv)
        with self.assertRaises(smtplib.SMTPRecipientsRefused) as cm:
            s.sendmail('a@example.com', ['joe@bounce.example'], message(1))
        self.assertEqual(cm.exception.recipients,
                         {'joe@bounce.example': (550, b'5.1.1 No such user')})
        # One good recipient: delivered to it, the other reported refused.
        refused = s.sendmail('a@example.com', ['ok@example.com', 'joe@bounce.example'],
                             message(2))
        self.assertEqual(refused, {'joe@bounce.example': (550, b'5.1.1 No such user')})
        msgs = srv.wait_for_messages(1)
        self.assertEqual(subjects(msgs), ['m2'])

    def test_mail_glob_is_SMTPSenderRefused(self):
        srv = self.server('--fault', 'mail:spam*@*=553 5.7.1 Sender rejected')
        s = self.smtp(srv)
        with self.assertRaises(smtplib.SMTPSenderRefused) as cm:
            s.sendmail('spammer@example.com', ['b@example.com'], message(1))
        self.assertEqual(cm.exception.smtp_code, 553)
        self.assertEqual(cm.exception.smtp_error, b'5.7.1 Sender rejected')
        s.sendmail('ham@example.com', ['b@example.com'], message(2))
        self.assertEqual(subjects(srv.wait_for_messages(1)), ['m2'])

    def test_dot_451_is_SMTPDataError_and_not_delivered(self):
        srv = self.server('--fault', 'dot=451 4.3.0 Try again later')
        s = self.smtp(srv)
        with self.assertRaises(smtplib.SMTPDataError) as cm:
            s.sendmail('a@example.com', ['b@example.com'], message(1))
        self.assertEqual(cm.exception.smtp_code, 451)
        self.assertEqual(cm.exception.smtp_error, b'4.3.0 Try again later')
        self.assert_nothing_delivered(srv)
        # The session goes on.
        self.assertEqual(s.noop()[0], 250)

    def test_dot_count_is_the_third_message_only(self):
        srv = self.server('--fault', 'dot#3=452 4.3.1 Insufficient storage')
        s = self.smtp(srv)
        results = []
        for i in range(1, 5):
            try:
                s.sendmail('a@example.com', ['b@example.com'], message(i))
                results.append('ok')
            except smtplib.SMTPDataError as e:
                results.append(e.smtp_code)
        self.assertEqual(results, ['ok', 'ok', 452, 'ok'])
        self.assertEqual(subjects(srv.wait_for_messages(3)), ['m1', 'm2', 'm4'])

    def test_dot_count_plus_is_from_the_third_on(self):
        srv = self.server('--fault', 'dot#3+=452 4.3.1 Insufficient storage')
        s = self.smtp(srv)
        results = []
        for i in range(1, 6):
            try:
                s.sendmail('a@example.com', ['b@example.com'], message(i))
                results.append('ok')
            except smtplib.SMTPDataError as e:
                results.append(e.smtp_code)
        self.assertEqual(results, ['ok', 'ok', 452, 452, 452])
        self.assertEqual(subjects(srv.wait_for_messages(2)), ['m1', 'm2'])

    def test_count_is_server_wide_across_connections(self):
        srv = self.server('--fault', 'dot#2=451 4.3.0 Second message')
        self.smtp(srv).sendmail('a@example.com', ['b@example.com'], message(1))
        with self.assertRaises(smtplib.SMTPDataError):
            self.smtp(srv).sendmail('a@example.com', ['b@example.com'], message(2))
        self.smtp(srv).sendmail('a@example.com', ['b@example.com'], message(3))
        self.assertEqual(subjects(srv.wait_for_messages(2)), ['m1', 'm3'])

    def test_dot_drop_is_SMTPServerDisconnected_and_not_delivered(self):
        srv = self.server('--fault', 'dot=drop')
        s = self.smtp(srv)
        with self.assertRaises(smtplib.SMTPServerDisconnected):
            s.sendmail('a@example.com', ['b@example.com'], message(1))
        self.assert_nothing_delivered(srv)

    def test_connect_drop_is_SMTPServerDisconnected(self):
        srv = self.server('--fault', 'connect=drop')
        with self.assertRaises(smtplib.SMTPServerDisconnected):
            smtplib.SMTP('127.0.0.1', srv.port, timeout=CLIENT_TIMEOUT)

    def test_connect_421_is_SMTPConnectError(self):
        srv = self.server('--fault', 'connect=421 4.7.0 Too busy, try later')
        with self.assertRaises(smtplib.SMTPConnectError) as cm:
            smtplib.SMTP('127.0.0.1', srv.port, timeout=CLIENT_TIMEOUT)
        self.assertEqual(cm.exception.smtp_code, 421)
        self.assertEqual(cm.exception.smtp_error, b'4.7.0 Too busy, try later')

    def test_connect_glob_on_the_client_address(self):
        srv = self.server('--fault', 'connect:192.0.2.*=421 4.7.0 Not you')
        # We are 127.0.0.1: not matched, greeted as usual.
        self.assertEqual(self.smtp(srv).noop()[0], 250)

    def test_greeting_delay_comes_before_the_greeting(self):
        srv = self.server('--fault', 'greeting=delay 1s')
        c = self.client(srv, read_greeting=False, timeout=10)
        t0 = time.monotonic()
        greeting = c.reply()
        self.assertGreaterEqual(time.monotonic() - t0, 0.9)
        self.assertTrue(greeting.startswith('220 '), greeting)

    def test_helo_reply_refuses_the_greeting(self):
        srv = self.server('--fault', 'helo=501 5.5.4 Bad HELO name')
        s = self.smtp(srv)
        self.assertEqual(s.ehlo('client.example'), (501, b'5.5.4 Bad HELO name'))
        self.assertEqual(s.helo('client.example'), (501, b'5.5.4 Bad HELO name'))
        # sendmail says EHLO, then HELO, itself; both refused.
        with self.assertRaises(smtplib.SMTPHeloError):
            self.smtp(srv).sendmail('a@example.com', ['b@example.com'], message(1))

    def test_helo_glob_on_the_name(self):
        srv = self.server('--fault', 'helo:*.bad.example=550 5.7.1 Go away')
        s = self.smtp(srv)
        self.assertEqual(s.ehlo('host.bad.example')[0], 550)
        s2 = self.smtp(srv)
        self.assertEqual(s2.ehlo('host.good.example')[0], 250)

    def test_data_delay_then_reply(self):
        srv = self.server('--fault', 'data=delay 1s, 451 4.4.2 Timeout')
        s = self.smtp(srv)
        t0 = time.monotonic()
        with self.assertRaises(smtplib.SMTPDataError) as cm:
            s.sendmail('a@example.com', ['b@example.com'], message(1))
        self.assertGreaterEqual(time.monotonic() - t0, 0.9)
        self.assertEqual((cm.exception.smtp_code, cm.exception.smtp_error),
                         (451, b'4.4.2 Timeout'))
        self.assert_nothing_delivered(srv)

    def test_rcpt_delay_holds_one_client_only(self):
        srv = self.server('--fault', 'rcpt:*@slow.example=delay 3s')
        slow_done = []

        def slow():
            s = smtplib.SMTP('127.0.0.1', srv.port, timeout=CLIENT_TIMEOUT)
            s.sendmail('a@example.com', ['x@slow.example'], message(1))
            s.quit()
            slow_done.append(time.monotonic())

        t = threading.Thread(target=slow)
        t0 = time.monotonic()
        t.start()
        self.addCleanup(t.join, 10)
        time.sleep(0.3)
        # Meanwhile another client is served at once.
        s = self.smtp(srv)
        s.sendmail('a@example.com', ['fast@example.com'], message(2))
        fast = time.monotonic() - t0
        self.assertLess(fast, 2.0)
        t.join(10)
        self.assertTrue(slow_done)
        self.assertGreaterEqual(slow_done[0] - t0, 2.9)
        # A delay alone delays: the message then goes through.
        self.assertEqual(sorted(subjects(srv.wait_for_messages(2))), ['m1', 'm2'])

    def test_delay_is_bounded_by_the_timeout(self):
        srv = self.server('--timeout', '1', '--fault', 'rcpt=delay 30s')
        s = self.smtp(srv)
        s.ehlo()
        s.mail('a@example.com')
        t0 = time.monotonic()
        code, _ = s.rcpt('b@example.com')
        self.assertLess(time.monotonic() - t0, 5)
        self.assertEqual(code, 250)

    def test_a_delay_does_not_hold_up_stopping(self):
        srv = self.server('--fault', 'rcpt=delay 30s')
        c = self.ehlo_client(srv)
        self.assertEqual(c.cmd('MAIL FROM:<a@example.com>'), '250 OK')
        c.send('RCPT TO:<b@example.com>\r\n')
        time.sleep(0.3)
        t0 = time.monotonic()
        self.assertEqual(srv.stop(), 0)
        self.assertLess(time.monotonic() - t0, 4)

    def test_rcpt_421_closes_the_connection(self):
        srv = self.server('--fault', 'rcpt=421 4.7.0 Closing')
        c = self.ehlo_client(srv)
        self.assertEqual(c.cmd('MAIL FROM:<a@example.com>'), '250 OK')
        self.assertEqual(c.cmd('RCPT TO:<b@example.com>'), '421 4.7.0 Closing')
        self.assertTrue(c.expect_closed())

    def test_rset_noop_quit_replies(self):
        srv = self.server('--fault', 'rset=451 4.3.0 No reset',
                          '--fault', 'noop=500 5.5.1 No noop',
                          '--fault', 'quit=421 4.3.2 Not so fast')
        c = self.ehlo_client(srv)
        self.assertEqual(c.cmd('RSET'), '451 4.3.0 No reset')
        self.assertEqual(c.cmd('NOOP'), '500 5.5.1 No noop')
        self.assertEqual(c.cmd('QUIT'), '421 4.3.2 Not so fast')
        self.assertTrue(c.expect_closed())

    def test_rset_421_closes(self):
        srv = self.server('--fault', 'rset=421 4.4.2 Bye')
        c = self.ehlo_client(srv)
        self.assertEqual(c.cmd('RSET'), '421 4.4.2 Bye')
        self.assertTrue(c.expect_closed())

    def test_auth_rule_is_accepted_with_auth(self):
        srv = self.server('--auth-any', '--auth-plaintext',
                          '--fault', 'auth=535 5.7.8 Authentication credentials invalid')
        self.assertEqual(self.smtp(srv).noop()[0], 250)

    def test_auth_rule_without_auth_is_refused_saying_why(self):
        # It could never fire: a test relying on it would pass for nothing.
        r = subprocess.run([smtpd_path(), '-n', '--fault', 'auth=535 5.7.8 No',
                            '127.0.0.1:0'], stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=10)
        self.assertEqual(r.returncode, 1)
        self.assertIn('fault rule "auth=535 5.7.8 No": the auth stage needs AUTH',
                      r.stderr.decode())

    def test_first_matching_rule_wins(self):
        srv = self.server('--fault', 'rcpt:vip@*=450 4.2.1 Busy',
                          '--fault', 'rcpt=550 5.1.1 No such user')
        s = self.smtp(srv)
        s.ehlo()
        s.mail('a@example.com')
        self.assertEqual(s.rcpt('vip@example.com')[0], 450)
        self.assertEqual(s.rcpt('other@example.com')[0], 550)

    def test_no_fault_option_changes_nothing(self):
        srv = self.server()
        c = self.ehlo_client(srv)
        self.assertEqual(c.cmd('NOOP'), '250 OK')
        self.assertEqual(c.transaction('a@example.com', ['b@example.com'], 'x'), '250 OK')
        self.assertEqual(c.cmd('QUIT'), '221 Bye')


class ProtocolTest(FaultTestCase):
    """The same stages in LMTP and with BDAT."""

    def test_lmtp_dot_reply_is_one_per_recipient(self):
        srv = self.server('--lmtp', '--fault', 'dot=451 4.3.0 Try again later')
        c = self.client(srv)
        self.assertTrue(c.cmd('LHLO client.example').startswith('250-'))
        self.assertEqual(c.cmd('MAIL FROM:<a@example.com>'), '250 OK')
        self.assertEqual(c.cmd('RCPT TO:<b@example.com>'), '250 OK')
        self.assertEqual(c.cmd('RCPT TO:<c@example.com>'), '250 OK')
        self.assertTrue(c.cmd('DATA').startswith('354'))
        c.send('Subject: x\r\n\r\nbody\r\n.\r\n')
        self.assertEqual(c.replies(2), ['451 4.3.0 Try again later'] * 2)
        self.assertEqual(c.cmd('NOOP'), '250 OK')
        self.assert_nothing_delivered(srv)

    def test_lmtp_lhlo_is_the_helo_stage(self):
        srv = self.server('--lmtp', '--fault', 'helo=501 5.5.4 Bad name')
        c = self.client(srv)
        self.assertEqual(c.cmd('LHLO client.example'), '501 5.5.4 Bad name')

    def bdat(self, c, chunk, last=False):
        c.send(b'BDAT %d%s\r\n' % (len(chunk), b' LAST' if last else b'') + chunk)
        return c.reply()

    def test_bdat_first_chunk_is_the_data_stage(self):
        srv = self.server('--chunking', '--fault', 'data=554 5.3.4 No chunks today')
        c = self.ehlo_client(srv)
        self.assertEqual(c.cmd('MAIL FROM:<a@example.com>'), '250 OK')
        self.assertEqual(c.cmd('RCPT TO:<b@example.com>'), '250 OK')
        # The chunk is read and dropped: the session stays in step.
        self.assertEqual(self.bdat(c, b'Subject: x\r\n\r\nbody\r\n', last=True),
                         '554 5.3.4 No chunks today')
        self.assertEqual(c.cmd('NOOP'), '250 OK')
        self.assert_nothing_delivered(srv)

    def test_bdat_last_is_the_dot_stage(self):
        srv = self.server('--chunking', '--fault', 'dot=452 4.3.1 Insufficient storage')
        c = self.ehlo_client(srv)
        self.assertEqual(c.cmd('MAIL FROM:<a@example.com>'), '250 OK')
        self.assertEqual(c.cmd('RCPT TO:<b@example.com>'), '250 OK')
        self.assertEqual(self.bdat(c, b'Subject: x\r\n\r\n'), '250 2.0.0 14 bytes received')
        self.assertEqual(self.bdat(c, b'body\r\n', last=True), '452 4.3.1 Insufficient storage')
        self.assertEqual(c.cmd('NOOP'), '250 OK')
        self.assert_nothing_delivered(srv)


class DebugLogTest(FaultTestCase):

    def test_each_fault_is_logged_on_one_line(self):
        srv = self.server('-d', '--fault', 'rcpt:*@bounce.example=550 5.1.1 No such user')
        s = self.smtp(srv)
        with self.assertRaises(smtplib.SMTPRecipientsRefused):
            s.sendmail('a@example.com', ['joe@bounce.example'], message(1))
        line = wait_until(lambda: [l for l in srv.stderr().splitlines()
                                   if ' fault ' in l], 5)
        self.assertEqual(len(line), 1, srv.stderr())
        self.assertRegex(line[0], r'fault rcpt <joe@bounce.example>: '
                                  r'rcpt:\*@bounce\.example=550 5\.1\.1 No such user'
                                  r' -> 550 5\.1\.1 No such user$')

    def test_without_d_nothing_is_logged(self):
        srv = self.server('--fault', 'noop=450 4.0.0 Busy')
        self.smtp(srv).noop()
        time.sleep(0.2)
        self.assertNotIn('fault', srv.stderr())


class BadRuleTest(FaultTestCase):

    def run_smtpd(self, *args):
        return subprocess.run([smtpd_path(), '-n'] + list(args) + ['127.0.0.1:0'],
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=10)

    def test_success_or_intermediate_reply_is_refused_saying_why(self):
        for rule in ('data=354 go ahead', 'rcpt:ghost@*=250 OK', 'quit=221 Bye',
                     'dot=delay 1s, 250 OK', 'mail=600 no'):
            r = self.run_smtpd('--fault', rule)
            self.assertEqual(r.returncode, 1, rule)
            err = r.stderr.decode()
            self.assertIn('fault rule "%s"' % rule, err)
            self.assertIn('a failure, 4xx or 5xx', err)

    def test_4xx_and_5xx_drop_and_delay_are_taken(self):
        for rule in ('rcpt=450 4.2.1 Busy', 'dot=554 5.7.1 No', 'quit=421 4.3.2 Bye',
                     'data=drop', 'noop=delay 10ms', 'mail=delay 10ms, 451 4.4.2 Slow'):
            with self.subTest(rule=rule):
                srv = self.server('--fault', rule)
                self.assertEqual(self.smtp(srv).ehlo()[0], 250)
                srv.stop()

    def test_bad_rule_exits_1_quoting_it(self):
        r = self.run_smtpd('--fault', 'dot=45 Try again')
        self.assertEqual(r.returncode, 1)
        err = r.stderr.decode()
        self.assertIn('fault rule "dot=45 Try again"', err)
        self.assertIn('three-digit code', err)

    def test_unknown_stage_lists_the_stages(self):
        r = self.run_smtpd('--fault', 'bdat=550 No')
        self.assertEqual(r.returncode, 1)
        self.assertIn('unknown stage "bdat" (one of connect, greeting, helo',
                      r.stderr.decode())

    def test_bad_delay_says_so(self):
        r = self.run_smtpd('--fault', 'rcpt=delay 30')
        self.assertEqual(r.returncode, 1)
        self.assertIn('duration with a unit', r.stderr.decode())

    def test_fault_file_line_is_named(self):
        d = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, d)
        path = os.path.join(d, 'faults')
        with open(path, 'w') as f:
            f.write('# greylisting\ndot#1=451 4.7.1 Greylisted\nrcpt=55O oops\n')
        r = self.run_smtpd('--fault-file', path)
        self.assertEqual(r.returncode, 1)
        self.assertIn('%s line 3: fault rule "rcpt=55O oops"' % path, r.stderr.decode())

    def test_missing_fault_file(self):
        r = self.run_smtpd('--fault-file', '/nonexistent/faults')
        self.assertEqual(r.returncode, 1)
        self.assertIn('/nonexistent/faults', r.stderr.decode())

    def test_bad_rate_and_count(self):
        for args in (['--rate', '5'], ['--rate', 'x/s'], ['--rate', '0/s'],
                     ['--max-messages-per-connection', '-1'], ['--fault-seed', 'abc']):
            r = self.run_smtpd(*args)
            self.assertEqual(r.returncode, 1, args)


class FaultFileTest(FaultTestCase):

    def test_fault_file_with_comments(self):
        d = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, d)
        path = os.path.join(d, 'faults')
        with open(path, 'w') as f:
            f.write('# the first message of the server is greylisted\n'
                    '\n'
                    'dot#1=451 4.7.1 Greylisted, try again later\n'
                    '  # unknown users\n'
                    'rcpt:*@bounce.example=550 5.1.1 No such user\n')
        srv = self.server('--fault-file', path)
        s = self.smtp(srv)
        with self.assertRaises(smtplib.SMTPDataError):
            s.sendmail('a@example.com', ['b@example.com'], message(1))
        s.sendmail('a@example.com', ['b@example.com'], message(2))
        with self.assertRaises(smtplib.SMTPRecipientsRefused):
            s.sendmail('a@example.com', ['x@bounce.example'], message(3))
        self.assertEqual(subjects(srv.wait_for_messages(1)), ['m2'])


class ProbabilityTest(FaultTestCase):

    N = 1000

    def run_many(self, seed):
        srv = self.server('--fault', 'dot=451 4.3.0 Try again later@20%',
                          '--fault-seed', str(seed))
        s = self.smtp(srv)
        refused = []
        for i in range(self.N):
            try:
                s.sendmail('a@example.com', ['b@example.com'], message(i))
            except smtplib.SMTPDataError as e:
                self.assertEqual(e.smtp_code, 451)
                refused.append('m%d' % i)
        s.quit()
        delivered = subjects(srv.wait_for_messages(self.N - len(refused), timeout=30))
        return refused, delivered

    def test_twenty_percent_of_a_thousand_with_a_seed(self):
        refused, delivered = self.run_many(7)
        # 200 expected, standard deviation 12.6: this is 4 of them.
        self.assertGreater(len(refused), 150)
        self.assertLess(len(refused), 250)
        # Every message is delivered once or refused, never both.
        self.assertEqual(len(delivered), len(set(delivered)))
        self.assertEqual(set(delivered) & set(refused), set())
        self.assertEqual(set(delivered) | set(refused), {'m%d' % i for i in range(self.N)})
        # The same seed refuses the same messages.
        again, _ = self.run_many(7)
        self.assertEqual(again, refused)


class TriggerTest(FaultTestCase):
    """--triggers: the client picks the failure (BadSMTP's addresses)."""

    def test_rcpt550_is_refused(self):
        srv = self.server('--triggers')
        s = self.smtp(srv)
        with self.assertRaises(smtplib.SMTPRecipientsRefused) as cm:
            s.sendmail('a@example.com', ['rcpt550@example.com'], message(1))
        self.assertEqual(cm.exception.recipients['rcpt550@example.com'][0], 550)

    def test_rcpt550_with_an_enhanced_code(self):
        srv = self.server('--triggers')
        s = self.smtp(srv)
        refused = s.sendmail('a@example.com', ['ok@example.com', 'rcpt550_5.1.1@example.com'],
                             message(1))
        self.assertEqual(refused, {'rcpt550_5.1.1@example.com':
                                   (550, b'5.1.1 Requested action not taken: '
                                         b'mailbox unavailable')})
        self.assertEqual(subjects(srv.wait_for_messages(1)), ['m1'])

    def test_mail421_is_refused_and_closes(self):
        srv = self.server('--triggers')
        s = self.smtp(srv)
        with self.assertRaises(smtplib.SMTPSenderRefused) as cm:
            s.sendmail('mail421@example.com', ['b@example.com'], message(1))
        self.assertEqual(cm.exception.smtp_code, 421)
        with self.assertRaises(smtplib.SMTPServerDisconnected):
            s.noop()

    def test_data451_sender_fails_at_data(self):
        srv = self.server('--triggers')
        s = self.smtp(srv)
        with self.assertRaises(smtplib.SMTPDataError) as cm:
            s.sendmail('data451@example.com', ['b@example.com'], message(1))
        self.assertEqual(cm.exception.smtp_code, 451)
        self.assert_nothing_delivered(srv)

    def test_rset_noop_quit_from_the_sender(self):
        srv = self.server('--triggers')
        c = self.ehlo_client(srv)
        self.assertEqual(c.cmd('MAIL FROM:<noop452@example.com>'), '250 OK')
        self.assertEqual(c.cmd('NOOP'),
                         '452 Requested action not taken: insufficient system storage')
        self.assertEqual(c.cmd('RSET'), '250 OK')
        self.assertEqual(c.cmd('NOOP'), '250 OK')
        self.assertEqual(c.cmd('MAIL FROM:<quit421_4.4.2@example.com>'), '250 OK')
        self.assertEqual(c.cmd('QUIT'), '421 4.4.2 Service not available, '
                                        'closing transmission channel')
        self.assertTrue(c.expect_closed())

    def test_ehlo_helo500(self):
        srv = self.server('--triggers')
        s = self.smtp(srv)
        self.assertEqual(s.ehlo('helo500.example.com'),
                         (500, b'Syntax error, command unrecognized'))

    def test_without_triggers_the_addresses_are_ordinary(self):
        srv = self.server()
        s = self.smtp(srv)
        s.sendmail('data451@example.com', ['rcpt550@example.com'], message(1))
        self.assertEqual(subjects(srv.wait_for_messages(1)), ['m1'])


class LimitTest(FaultTestCase):

    def test_max_messages_per_connection(self):
        srv = self.server('--max-messages-per-connection', '2')
        s = self.smtp(srv)
        s.sendmail('a@example.com', ['b@example.com'], message(1))
        s.sendmail('a@example.com', ['b@example.com'], message(2))
        with self.assertRaises(smtplib.SMTPSenderRefused) as cm:
            s.sendmail('a@example.com', ['b@example.com'], message(3))
        self.assertEqual(cm.exception.smtp_code, 421)
        # A new connection may send again.
        self.smtp(srv).sendmail('a@example.com', ['b@example.com'], message(4))
        self.assertEqual(subjects(srv.wait_for_messages(3)), ['m1', 'm2', 'm4'])

    def test_rate_limit_refuses_at_mail(self):
        srv = self.server('--rate', '3/s')
        s = self.smtp(srv)
        results = []
        t0 = time.monotonic()
        for i in range(10):
            try:
                s.sendmail('a@example.com', ['b@example.com'], message(i))
                results.append('ok')
            except smtplib.SMTPSenderRefused as e:
                self.assertEqual((e.smtp_code, e.smtp_error),
                                 (451, b'4.7.0 Rate limit exceeded'))
                results.append(451)
        elapsed = time.monotonic() - t0
        ok = results.count('ok')
        self.assertEqual(results[:3], ['ok'] * 3)
        self.assertLessEqual(ok, 3 + int(elapsed * 3) + 1)
        if elapsed < 1:
            self.assertIn(451, results)
        srv.wait_for_messages(ok)
        time.sleep(0.2)
        self.assertEqual(delivered_count(srv), ok)


class SwaksFaultTest(FaultTestCase):

    def setUp(self):
        super().setUp()
        if not shutil.which('swaks'):
            self.skipTest('swaks is not installed (Debian package "swaks")')

    def swaks(self, srv, *args):
        r = subprocess.run(['swaks', '--server', '127.0.0.1', '--port', str(srv.port),
                            '--timeout', '10'] + list(args),
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=CLIENT_TIMEOUT)
        return r.returncode

    def test_swaks_exit_codes(self):
        srv = self.server('--fault', 'mail:spam*@*=553 5.7.1 Sender rejected',
                          '--fault', 'rcpt:*@bounce.example=550 5.1.1 No such user',
                          '--fault', 'dot:late@*=451 4.3.0 Try again later',
                          '--fault', 'helo:bad.example=501 5.5.4 Bad name')
        self.assertEqual(self.swaks(srv, '--from', 'a@example.com', '--to', 'b@example.com'), 0)
        self.assertEqual(self.swaks(srv, '--from', 'a@example.com', '--to', 'b@example.com',
                                    '--helo', 'bad.example'), 22)
        self.assertEqual(self.swaks(srv, '--from', 'spam@example.com', '--to', 'b@example.com'), 23)
        self.assertEqual(self.swaks(srv, '--from', 'a@example.com',
                                    '--to', 'joe@bounce.example'), 24)
        self.assertEqual(self.swaks(srv, '--from', 'late@example.com', '--to', 'b@example.com'), 26)

    def test_swaks_data_and_drop(self):
        srv = self.server('--fault', 'data=554 5.5.1 No thanks')
        self.assertEqual(self.swaks(srv, '--from', 'a@example.com', '--to', 'b@example.com'), 25)
        srv2 = self.server('--fault', 'dot=drop')
        self.assertEqual(self.swaks(srv2, '--from', 'a@example.com', '--to', 'b@example.com'), 6)

    def test_swaks_triggers(self):
        srv = self.server('--triggers')
        self.assertEqual(self.swaks(srv, '--from', 'a@example.com',
                                    '--to', 'rcpt550_5.1.1@example.com'), 24)
        self.assertEqual(self.swaks(srv, '--from', 'data451@example.com',
                                    '--to', 'b@example.com'), 25)


class RecipeTest(FaultTestCase):
    """The README's five recipes, run as written there (with -c Sink's
    place taken by DebuggingServer, so that deliveries can be counted)."""

    def test_greylisting(self):
        srv = self.server('--fault', 'rcpt#1=451 4.7.1 Greylisted, try again later')
        s = self.smtp(srv)
        with self.assertRaises(smtplib.SMTPRecipientsRefused) as cm:
            s.sendmail('a@example.com', ['b@example.com'], message(1))
        self.assertEqual(cm.exception.recipients['b@example.com'][0], 451)
        s.sendmail('a@example.com', ['b@example.com'], message(1))
        self.assertEqual(subjects(srv.wait_for_messages(1)), ['m1'])

    def test_unknown_recipient(self):
        srv = self.server('--fault', 'rcpt:*@bounce.example=550 5.1.1 No such user')
        with self.assertRaises(smtplib.SMTPRecipientsRefused):
            self.smtp(srv).sendmail('a@example.com', ['joe@bounce.example'], message(1))

    def test_full_mailbox(self):
        srv = self.server('--fault', 'rcpt:full@*=452 4.2.2 Mailbox full')
        refused = self.smtp(srv).sendmail('a@example.com', ['full@example.com', 'b@example.com'],
                                          message(1))
        self.assertEqual(refused, {'full@example.com': (452, b'4.2.2 Mailbox full')})

    def test_server_hangs_after_the_body(self):
        srv = self.server('--fault', 'dot=delay 60s')
        s = self.smtp(srv, timeout=1)
        with self.assertRaises(smtplib.SMTPServerDisconnected):
            s.sendmail('a@example.com', ['b@example.com'], message(1))
        # The client gave up before a reply: not delivered, not yet.
        self.assert_nothing_delivered(srv)
        t0 = time.monotonic()
        self.assertEqual(srv.stop(), 0)
        self.assertLess(time.monotonic() - t0, 4)
        self.assertEqual(delivered_count(srv), 0)

    def test_flaky_server_at_ten_percent(self):
        srv = self.server('--fault', 'dot=451 4.3.0 Try again later@10%', '--fault-seed', '1')
        s = self.smtp(srv)
        refused = 0
        for i in range(300):
            try:
                s.sendmail('a@example.com', ['b@example.com'], message(i))
            except smtplib.SMTPDataError:
                refused += 1
        # 30 expected, standard deviation 5.2.
        self.assertGreater(refused, 10)
        self.assertLess(refused, 55)
        srv.wait_for_messages(300 - refused)


@unittest.skipUnless(postfix_available(), 'needs root and Postfix')
class PostfixRetryTest(FaultTestCase):
    """A real MTA as the client: a 4xx means "retry", and nothing is lost."""

    TEXT = ('From: a@sender.example\nTo: b@example.com\n'
            'Subject: postfix-fault-%s\n\nthe body\n')

    def postfix(self, port):
        pf = PrivatePostfix(relayhost=('127.0.0.1', port))
        self.addCleanup(pf.stop)
        return pf.start()

    def test_dot_451_stays_deferred_then_arrives_exactly_once(self):
        port = free_port()
        srv = self.server('--fault', 'dot=451 4.3.0 Try again later', port=port)
        pf = self.postfix(port)
        pf.sendmail('a@sender.example', ['b@example.com'], self.TEXT % 'retry')
        self.assertTrue(pf.wait_log(r'status=deferred .*451 4\.3\.0 Try again later'),
                        pf.log())
        self.assertEqual(len(pf.queue_ids()), 1, pf.queue_listing())
        self.assertIn('Try again later', pf.queue_listing())
        self.assertEqual(delivered_count(srv), 0)
        # The rule removed: the same port, a server without it.
        srv.stop()
        srv2 = self.server(port=port)
        pf.flush()
        self.assertTrue(pf.wait_queue_empty(timeout=30), pf.queue_listing() + pf.log())
        msgs = srv2.wait_for_messages(1)
        time.sleep(1)
        self.assertEqual(subjects(debug_messages_of(srv2)), ['postfix-fault-retry'])
        self.assertEqual(len(msgs), 1)
        self.assertRegex(pf.log(), r'status=sent \(250 OK\)')

    def test_rcpt_550_bounces_to_the_sender(self):
        port = free_port()
        srv = self.server('--fault', 'rcpt:*@example.com=550 5.1.1 No such user', port=port)
        pf = self.postfix(port)
        pf.sendmail('a@sender.example', ['b@example.com'], self.TEXT % 'bounce')
        self.assertTrue(pf.wait_log(r'status=bounced .*550 5\.1\.1 No such user'), pf.log())
        # The bounce goes back to a@sender.example - through us, the relayhost.
        bounce = srv.wait_for_messages(1, timeout=30)[0]
        text = '\n'.join(bounce.content)
        self.assertIn('Subject: Undelivered Mail Returned to Sender', text)
        self.assertIn('To: a@sender.example', text)
        self.assertIn('550 5.1.1 No such user', text)
        self.assertTrue(pf.wait_queue_empty(timeout=30), pf.queue_listing())


def debug_messages_of(srv):
    return debug_messages(srv.stdout_bytes())


class ReadmeRecipesTest(unittest.TestCase):
    """Every command of the README's recipes is one these tests run."""

    def test_readme_recipes_are_tested(self):
        with open(README, encoding='utf-8') as f:
            readme = f.read()
        m = re.search(r'^Testing your error handling\n-+\n', readme, re.M)
        self.assertIsNotNone(m, 'README has no "Testing your error handling" section')
        section = readme[m.end():]
        end = re.search(r'\n[^\n]+\n-{3,}\n', section)
        if end:
            section = section[:end.start()]
        with open(__file__, encoding='utf-8') as f:
            tests = f.read()
        rules = re.findall(r"--fault '([^']+)'", section)
        self.assertGreaterEqual(len(rules), 5)
        for rule in rules:
            self.assertIn("'%s'" % rule, tests, 'README recipe rule not run by a test')
