# SPDX-License-Identifier: ISC
"""MailmanProxy (-c MailmanProxy): list mail to Mailman, the rest relayed.

Mailman 3: a real Mailman 3 core (Debian's mailman3), started by
tests/mailman/mailman3-fixture.sh with only its LMTP runner, so whatever
it accepts stays queued for us to look at.  Installed when missing and we
are root; the tests are skipped otherwise.

Mailman 2 (--mailman-home): a directory laid out like a Mailman 2 install
whose mail/mailman records its arguments and input and exits as told.
"""
import os
import shutil
import stat
import subprocess
import tempfile
import time
import unittest
import uuid

from helpers import (ServerTestCase, HOST, testing_python_reference,
                     wait_until, python_message_data)
from relay_helpers import Upstream, free_unused_port

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURE = os.path.join(REPO, 'tests', 'mailman', 'mailman3-fixture.sh')


def fixture(*args, timeout=300):
    return subprocess.run([FIXTURE, *args], check=True, timeout=timeout,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True).stdout


class MailmanProxyCase(ServerTestCase):

    def setUp(self):
        super().setUp()
        if testing_python_reference():
            self.skipTest("Python's MailmanProxy needs Mailman 2's Python 2 library")
        self.up = Upstream().start()
        self.addCleanup(self.up.stop)

    def send(self, srv, rcpts, raw, sender='alice@client.test', expect_rcpt='250 OK'):
        """One transaction; returns the reply to '.'."""
        c = self.ehlo_client(srv)
        self.assertEqual(c.cmd('MAIL FROM:<%s>' % sender), '250 OK')
        for rcpt in rcpts:
            self.assertEqual(c.cmd('RCPT TO:<%s>' % rcpt), expect_rcpt, rcpt)
        self.assertTrue(c.cmd('DATA').startswith('354'))
        return c.send_message(raw + b'\r\n.\r\n')


def message(subject, headers=b''):
    return b'Subject: ' + subject.encode() + b'\r\n' + headers + b'\r\nhello list\r\n'


@unittest.skipUnless(os.geteuid() == 0, 'the Mailman 3 fixture needs root')
class Mailman3Test(MailmanProxyCase):

    @classmethod
    def setUpClass(cls):
        try:
            fixture('install', timeout=900)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as e:
            raise unittest.SkipTest('cannot install mailman3: %s' % e)
        cls.dir = tempfile.mkdtemp(prefix='mailmanproxy-')
        try:
            out = fixture('start', cls.dir, timeout=240)
        except BaseException:
            subprocess.run([FIXTURE, 'stop', cls.dir], timeout=60,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            shutil.rmtree(cls.dir, ignore_errors=True)
            raise
        env = dict(l.split('=', 1) for l in out.splitlines() if '=' in l)
        cls.lmtp = env['MAILMAN_LMTP']

    @classmethod
    def tearDownClass(cls):
        try:
            fixture('stop', cls.dir, timeout=120)
        finally:
            shutil.rmtree(cls.dir, ignore_errors=True)

    def proxy(self, lmtp=None):
        return self.server('--mailman-lmtp', lmtp or self.lmtp, cls='MailmanProxy',
                           remote=self.up.spec)

    def queue(self, name):
        return set(fixture('queue', self.dir, name).split())

    def queued(self, name, marker, timeout=5):
        """The one queued message in queue `name` whose text has marker."""
        def find():
            for path in self.queue(name):
                text = fixture('show', path)
                if marker in text:
                    return text
            return None
        text = wait_until(find, timeout, interval=0.1)
        self.assertIsNotNone(text, 'nothing with %r in queue %s' % (marker, name))
        return text

    def test_list_post_goes_to_mailman(self):
        srv = self.proxy()
        tag = uuid.uuid4().hex
        self.assertEqual(self.send(srv, ['test@example.com'], message(tag)), '250 OK')
        self.assertIn("'to_list': True", self.queued('in', tag))

    def test_list_post_is_not_relayed_upstream(self):
        srv = self.proxy()
        self.assertEqual(self.send(srv, ['test@example.com'], message('x')), '250 OK')
        self.assertEqual(self.up.connections, 0)

    def test_from_and_date_are_added_when_missing(self):
        srv = self.proxy()
        tag = uuid.uuid4().hex
        self.send(srv, ['test@example.com'], message(tag))
        text = self.queued('in', tag)
        self.assertIn('\nFrom: alice@client.test\n', text)
        self.assertRegex(text, r'\nDate: \w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d [+-]\d{4}\n')

    def test_existing_from_and_date_are_kept(self):
        srv = self.proxy()
        tag = uuid.uuid4().hex
        self.send(srv, ['test@example.com'], message(
            tag, b'From: Alice <alice@client.test>\r\nDate: Sat, 28 Nov 2026 12:00:00 +0000\r\n'))
        text = self.queued('in', tag)
        self.assertEqual(text.count('\nFrom: '), 1)
        self.assertIn('\nFrom: Alice <alice@client.test>\n', text)
        self.assertEqual(text.count('\nDate: '), 1)
        self.assertIn('\nDate: Sat, 28 Nov 2026 12:00:00 +0000\n', text)

    def test_request_address_goes_to_mailman_command_queue(self):
        srv = self.proxy()
        tag = uuid.uuid4().hex
        self.assertEqual(self.send(srv, ['test-request@example.com'], message(tag)), '250 OK')
        self.assertIn("'to_request': True", self.queued('command', tag))

    def test_join_and_leave_addresses_go_to_mailman(self):
        srv = self.proxy()
        for sub in ('join', 'leave', 'subscribe', 'unsubscribe', 'confirm'):
            with self.subTest(sub):
                tag = uuid.uuid4().hex
                self.assertEqual(self.send(srv, ['test-%s@example.com' % sub],
                                           message(tag)), '250 OK')
                self.queued('command', tag)

    def test_owner_address_goes_to_mailman(self):
        srv = self.proxy()
        tag = uuid.uuid4().hex
        self.assertEqual(self.send(srv, ['test-owner@example.com'], message(tag)), '250 OK')
        self.assertIn("'to_owner': True", self.queued('in', tag))

    def test_bounces_address_goes_to_mailman_bounces_queue(self):
        srv = self.proxy()
        tag = uuid.uuid4().hex
        self.assertEqual(self.send(srv, ['test-bounces@example.com'], message(tag)), '250 OK')
        self.queued('bounces', tag)

    def test_address_mailman_refuses_is_relayed_upstream(self):
        # Mailman 3 has no LIST-admin; nolist is no list at all.
        srv = self.proxy()
        rcpts = ['test-admin@example.com', 'nolist@example.com', 'test@other.example']
        self.assertEqual(self.send(srv, rcpts, message('relayed')), '250 OK')
        self.assertEqual(self.up.wait_transactions(1)[0]['rcpts'], rcpts)

    def test_relayed_copy_is_the_data_as_received(self):
        # As Python's MailmanProxy: no X-Peer, no From/Date added.
        srv = self.proxy()
        raw = b'Subject: x\r\n\r\n..dot\r\nbody'
        self.send(srv, ['bob@other.example'], raw)
        data = python_message_data(raw)
        wire = data.replace(b'\n', b'\r\n').replace(b'\r\n.', b'\r\n..') + b'\r\n'
        self.assertEqual(self.up.wait_transactions(1)[0]['data'], wire)

    def test_mixed_recipients_each_get_one_copy(self):
        srv = self.proxy()
        tag = uuid.uuid4().hex
        r = self.send(srv, ['test@example.com', 'bob@other.example'], message(tag))
        self.assertEqual(r, '250 OK')
        self.queued('in', tag)
        self.assertEqual(self.up.wait_transactions(1)[0]['rcpts'], ['bob@other.example'])

    def test_defective_message_is_refused_not_accepted(self):
        # Mailman answers a defective message once, whatever the count.
        srv = self.proxy()
        before = self.queue('in')
        r = self.send(srv, ['test@example.com', 'test-owner@example.com'],
                      b'Subject: defect\r\nMIME-Version: 1.0\r\n'
                      b'Content-Type: multipart/mixed\r\n\r\nno boundary')
        self.assertTrue(r.startswith('5'), r)
        self.assertIn('defect', r)
        self.assertEqual(self.queue('in'), before)

    def test_partial_failure_names_the_recipients_not_served(self):
        srv = self.proxy()
        r = self.send(srv, ['bob@other.example', 'test@example.com'],
                      b'Subject: defect\r\nMIME-Version: 1.0\r\n'
                      b'Content-Type: multipart/mixed\r\n\r\nno boundary')
        self.assertTrue(r.startswith('554 5.3.0 Not delivered to <test@example.com>'), r)
        self.assertEqual(len(self.up.wait_transactions(1)), 1)

    def test_mailman_down_is_451_at_rcpt(self):
        srv = self.proxy(lmtp='%s:%d' % (HOST, free_unused_port()))
        c = self.ehlo_client(srv)
        self.assertEqual(c.cmd('MAIL FROM:<a@client.test>'), '250 OK')
        r = c.cmd('RCPT TO:<test@example.com>')
        self.assertTrue(r.startswith('451 4.4.1 '), r)


MAILMAN2_SCRIPT = r'''#!/bin/sh
# A stand-in for Mailman 2's mail/mailman wrapper: records, then exits.
home=$(dirname "$0")/..
n=$(ls "$home/out" | grep -c '[.]args$')
echo "$*" >"$home/out/$n.args"
printenv GLIBC_TUNABLES >"$home/out/$n.env"
cat >"$home/out/$n.msg"
[ -f "$home/sleep" ] && sleep "$(cat "$home/sleep")"
exit "$(cat "$home/status" 2>/dev/null || echo 0)"
'''


class Mailman2Test(MailmanProxyCase):

    def setUp(self):
        super().setUp()
        self.home = tempfile.mkdtemp(prefix='mailman2-')
        self.addCleanup(shutil.rmtree, self.home, True)
        for d in ('lists/test', 'lists/other', 'mail', 'out'):
            os.makedirs(os.path.join(self.home, d))
        for name in ('test', 'other'):
            open(os.path.join(self.home, 'lists', name, 'config.pck'), 'wb').close()
        script = os.path.join(self.home, 'mail', 'mailman')
        with open(script, 'w') as f:
            f.write(MAILMAN2_SCRIPT)
        os.chmod(script, 0o755)

    def proxy(self, *options):
        return self.server('--mailman-home', self.home, *options, cls='MailmanProxy',
                           remote=self.up.spec)

    def calls(self):
        out = os.path.join(self.home, 'out')
        n = len([f for f in os.listdir(out) if f.endswith('.args')])
        result = []
        for i in range(n):
            with open(os.path.join(out, '%d.args' % i)) as f:
                args = f.read().strip()
            with open(os.path.join(out, '%d.msg' % i), 'rb') as f:
                result.append((args, f.read()))
        return result

    def set(self, name, value):
        with open(os.path.join(self.home, name), 'w') as f:
            f.write(value)

    def test_post_is_piped_into_mailman_post_list(self):
        srv = self.proxy()
        self.assertEqual(self.send(srv, ['test@example.com'],
                                   b'Subject: hi\r\nFrom: a@b.test\r\nDate: x\r\n\r\nbody'),
                         '250 OK')
        self.assertEqual(self.calls(), [('post test',
                                         b'Subject: hi\nFrom: a@b.test\nDate: x\n\nbody\n')])

    def test_mailman_does_not_inherit_the_tunables_smtpd_restarted_with(self):
        if 'GLIBC_TUNABLES' in os.environ:
            self.skipTest('GLIBC_TUNABLES is the caller\'s own')
        srv = self.proxy()
        self.send(srv, ['test@example.com'], b'Subject: hi\r\n\r\nbody')
        self.assertEqual(len(self.calls()), 1)
        with open(os.path.join(self.home, 'out', '0.env')) as f:
            env = f.read()
        self.assertEqual(env, '')

    def test_commands_are_python_mailmanproxy_commands(self):
        srv = self.proxy()
        for cmd in ('admin', 'owner', 'request', 'join', 'leave'):
            self.send(srv, ['test-%s@example.com' % cmd], b'Subject: x\r\n\r\nbody')
        self.assertEqual([a for a, _ in self.calls()],
                         ['admin test', 'owner test', 'request test', 'join test', 'leave test'])

    def test_from_and_date_are_added_when_missing(self):
        srv = self.proxy()
        self.send(srv, ['test@example.com'], b'Subject: hi\r\n\r\nbody')
        msg = self.calls()[0][1]
        self.assertRegex(msg, rb'^Subject: hi\nFrom: alice@client.test\nDate: [^\n]+\n\nbody\n$')

    def test_list_name_is_case_insensitive(self):
        srv = self.proxy()
        self.send(srv, ['TEST-Request@Example.COM'], b'Subject: x\r\n\r\nbody')
        self.assertEqual(self.calls()[0][0], 'request test')

    def test_unknown_list_is_relayed(self):
        srv = self.proxy()
        self.assertEqual(self.send(srv, ['nolist@example.com'], b'Subject: x\r\n\r\nb'), '250 OK')
        self.assertEqual(self.calls(), [])
        self.assertEqual(self.up.wait_transactions(1)[0]['rcpts'], ['nolist@example.com'])

    def test_unknown_command_and_three_part_names_are_relayed(self):
        srv = self.proxy()
        rcpts = ['test-bogus@example.com', 'test-owner-x@example.com', '../test@example.com']
        self.assertEqual(self.send(srv, rcpts, b'Subject: x\r\n\r\nb'), '250 OK')
        self.assertEqual(self.calls(), [])
        self.assertEqual(self.up.wait_transactions(1)[0]['rcpts'], rcpts)

    def test_exit_75_is_451(self):
        self.set('status', '75')
        srv = self.proxy()
        r = self.send(srv, ['test@example.com'], b'Subject: x\r\n\r\nb')
        self.assertTrue(r.startswith('451 4.3.0 '), r)

    def test_other_exit_status_is_550(self):
        self.set('status', '1')
        srv = self.proxy()
        r = self.send(srv, ['test@example.com'], b'Subject: x\r\n\r\nb')
        self.assertTrue(r.startswith('550 5.3.0 '), r)

    def test_hanging_mailman_is_killed_and_451(self):
        self.set('sleep', '30')
        srv = self.proxy('--timeout', '1')
        t0 = time.monotonic()
        r = self.send(srv, ['test@example.com'], b'Subject: x\r\n\r\nb')
        self.assertTrue(r.startswith('451 '), r)
        self.assertLess(time.monotonic() - t0, 5)

    def test_two_lists_get_one_call_each(self):
        srv = self.proxy()
        self.assertEqual(self.send(srv, ['test@example.com', 'other@example.com'],
                                   b'Subject: x\r\n\r\nb'), '250 OK')
        self.assertEqual(sorted(a for a, _ in self.calls()), ['post other', 'post test'])


if __name__ == '__main__':
    unittest.main()
