# SPDX-License-Identifier: ISC
"""PureProxy (-c PureProxy): relaying to real upstreams.

Upstreams: this project's own server (-c Sink, -c Maildir), Postfix's
smtp-sink, and the scriptable recorder in relay_helpers (which refuses
chosen recipients, answers DATA as told, hangs, or lacks extensions), one
that is down and one that never answers.
"""
import base64
import os
import shutil
import socket
import tempfile
import threading
import time
import unittest

from helpers import (ServerTestCase, Server, ipv6_loopback_available,
                     python_message_data, testing_python_reference, wait_until,
                     HOST)
from relay_helpers import (DEFAULT_EHLO, Upstream, SilentUpstream, SmtpSink, smtp_sink_path,
                           python_pureproxy_wire, free_unused_port)

# A body that tries every way to end DATA early or to confuse a relay.
TRICKY_RAW = (b'Subject: tricky\r\n'
              b'\r\n'
              b'..a line that began with a dot\r\n'
              b'bare LF then dot\n.\nstill the same message\r\n'
              b'bare CR then dot\r.\rstill the same message\r\n'
              b'8-bit: caf\xc3\xa9 \xff\xfe\r\n'
              b'....\r\n'
              b'last line')

DEFAULT_AUTH_EHLO = DEFAULT_EHLO + ('AUTH PLAIN LOGIN',)


class PureProxyCase(ServerTestCase):

    def setUp(self):
        super().setUp()
        if testing_python_reference():
            self.skipTest("Python's PureProxy crashes on every message")

    def upstream(self, **kw):
        up = Upstream(**kw).start()
        self.addCleanup(up.stop)
        return up

    def proxy(self, remote, *options):
        return self.server(*options, cls='PureProxy', remote=remote)

    def mail(self, srv, sender='alice@client.test', params='', ehlo=True):
        c = self.ehlo_client(srv) if ehlo else self.helo_client(srv)
        r = c.cmd('MAIL FROM:<%s>%s' % (sender, ' ' + params if params else ''))
        return c, r

    def send(self, c, raw):
        """DATA, then raw (without the final CRLF.CRLF); the reply to '.'."""
        r = c.cmd('DATA')
        self.assertTrue(r.startswith('354'), r)
        return c.send_message(raw + b'\r\n.\r\n')

    def deliver(self, srv, rcpts, raw, sender='alice@client.test', params=''):
        c, r = self.mail(srv, sender, params)
        self.assertEqual(r, '250 OK')
        for rcpt in rcpts:
            self.assertEqual(c.cmd('RCPT TO:<%s>' % rcpt), '250 OK')
        return c, self.send(c, raw)


class PureProxyRealUpstreamTest(PureProxyCase):

    def test_message_lands_in_own_maildir_server_with_x_peer(self):
        d = tempfile.mkdtemp(prefix='relay-maildir-')
        self.addCleanup(shutil.rmtree, d, True)
        up = self.server('--maildir', d, cls='Maildir')
        srv = self.proxy('%s:%d' % (HOST, up.port))
        c, r = self.deliver(srv, ['bob@example.test'],
                            b'Subject: hi\r\nTo: bob@example.test\r\n\r\nhello')
        self.assertEqual(r, '250 OK')
        names = os.listdir(os.path.join(d, 'new'))
        self.assertEqual(len(names), 1)
        with open(os.path.join(d, 'new', names[0]), 'rb') as f:
            self.assertEqual(f.read(), b'Return-Path: <alice@client.test>\n'
                             b'Subject: hi\nTo: bob@example.test\n'
                             b'X-Peer: 127.0.0.1\n\nhello\n')

    def test_own_sink_server_accepts_relayed_message(self):
        up = self.server(cls='Sink')
        srv = self.proxy('%s:%d' % (HOST, up.port))
        c, r = self.deliver(srv, ['a@example.test', 'b@example.test'],
                            b'Subject: x\r\n\r\nbody')
        self.assertEqual(r, '250 OK')

    @unittest.skipUnless(smtp_sink_path(), 'Postfix smtp-sink not installed')
    def test_smtp_sink_gets_tricky_body_as_exactly_one_message(self):
        sink = SmtpSink().start()
        self.addCleanup(sink.cleanup)
        srv = self.proxy(sink.spec)
        c, r = self.deliver(srv, ['bob@example.test'], TRICKY_RAW)
        self.assertEqual(r, '250 OK')
        self.assertEqual(c.cmd('QUIT'), '221 Bye')
        msgs = sink.wait_messages(1)
        time.sleep(0.2)     # a second message, were the body split, comes now
        msgs = sink.messages()
        self.assertEqual(len(msgs), 1)
        # smtp-sink stores lines with LF, takes the dots off again, and
        # ends each dump with an empty line.
        expected = python_pureproxy_wire(python_message_data(TRICKY_RAW))
        expected = b'\n'.join(l[1:] if l.startswith(b'.') else l
                              for l in expected.split(b'\r\n')) + b'\n'
        self.assertEqual(msgs[0][1], expected)


class PureProxyWireTest(PureProxyCase):

    def test_wire_text_is_python_pureproxy_text_byte_for_byte(self):
        bodies = {
            'tricky': TRICKY_RAW,
            'no empty line: X-Peer at the end': b'Subject: only headers',
            'empty message': b'',
            'starts with an empty line': b'\r\nbody only',
            'final empty lines': b'Subject: x\r\n\r\nbody\r\n\r\n',
            'lone dot lines': b'Subject: x\r\n\r\n..\r\n...\r\n',
        }
        up = self.upstream()
        srv = self.proxy(up.spec)
        for i, (name, raw) in enumerate(bodies.items()):
            with self.subTest(name):
                c, r = self.deliver(srv, ['bob@example.test'], raw)
                self.assertEqual(r, '250 OK')
                got = up.wait_transactions(i + 1)[i]['data']
                self.assertEqual(got, python_pureproxy_wire(python_message_data(raw)))

    def test_upstream_connection_ends_with_quit(self):
        up = self.upstream()
        srv = self.proxy(up.spec)
        c, r = self.deliver(srv, ['bob@example.test'], b'Subject: x\r\n\r\nhi')
        self.assertEqual(r, '250 OK')
        self.assertTrue(wait_for(lambda: up.commands and up.commands[-1] == b'QUIT'),
                        up.commands)

    def test_envelope_is_relayed_unchanged(self):
        up = self.upstream()
        srv = self.proxy(up.spec)
        self.deliver(srv, ['bob@example.test', 'carol@example.test'], b'x',
                     sender='alice@client.test')
        tx = up.wait_transactions(1)[0]
        self.assertEqual(tx['mail'], b'MAIL FROM:<alice@client.test>')
        self.assertEqual(tx['rcpts'], ['bob@example.test', 'carol@example.test'])

    def test_null_sender_is_relayed_as_null_sender(self):
        up = self.upstream()
        srv = self.proxy(up.spec)
        c = self.ehlo_client(srv)
        self.assertEqual(c.cmd('MAIL FROM:<>'), '250 OK')
        self.assertEqual(up.transactions[0]['mail'], b'MAIL FROM:<>')

    def test_helo_is_used_when_upstream_refuses_ehlo(self):
        up = self.upstream(ehlo_ok=False)
        srv = self.proxy(up.spec)
        c, r = self.deliver(srv, ['bob@example.test'], b'Subject: x\r\n\r\nhi')
        self.assertEqual(r, '250 OK')
        self.assertTrue(any(cmd.startswith(b'HELO ') for cmd in up.commands), up.commands)

    @unittest.skipUnless(ipv6_loopback_available(), 'no IPv6 loopback')
    def test_ipv6_upstream(self):
        up = self.upstream(host='::1')
        srv = self.proxy(up.spec)
        c, r = self.deliver(srv, ['bob@example.test'], b'Subject: x\r\n\r\nhi')
        self.assertEqual(r, '250 OK')
        self.assertEqual(len(up.wait_transactions(1)), 1)


class PureProxyRefusalTest(PureProxyCase):

    def test_refused_recipient_gets_upstream_reply(self):
        up = self.upstream(rcpt_replies={'nobody@example.test':
                                         '550 5.1.1 <nobody@example.test>: unknown user'})
        srv = self.proxy(up.spec)
        c, r = self.mail(srv)
        self.assertEqual(c.cmd('RCPT TO:<nobody@example.test>'),
                         '550 5.1.1 <nobody@example.test>: unknown user')

    def test_accepted_recipients_still_get_the_message_after_a_refusal(self):
        up = self.upstream(rcpt_replies={'nobody@example.test': '550 5.1.1 unknown user'})
        srv = self.proxy(up.spec)
        c, r = self.mail(srv)
        self.assertEqual(c.cmd('RCPT TO:<bob@example.test>'), '250 OK')
        self.assertTrue(c.cmd('RCPT TO:<nobody@example.test>').startswith('550'))
        self.assertEqual(self.send(c, b'Subject: x\r\n\r\nhi'), '250 OK')
        self.assertEqual(up.wait_transactions(1)[0]['rcpts'], ['bob@example.test'])

    def test_upstream_4xx_at_rcpt_reaches_client(self):
        up = self.upstream(rcpt_replies={'busy@example.test': '450 4.2.1 mailbox busy'})
        srv = self.proxy(up.spec)
        c, r = self.mail(srv)
        self.assertEqual(c.cmd('RCPT TO:<busy@example.test>'), '450 4.2.1 mailbox busy')

    def test_upstream_421_at_rcpt_becomes_451(self):
        up = self.upstream(rcpt_replies={'x@example.test': '421 4.3.2 shutting down'})
        srv = self.proxy(up.spec)
        c, r = self.mail(srv)
        r = c.cmd('RCPT TO:<x@example.test>')
        self.assertTrue(r.startswith('451 '), r)
        self.assertIn('421 4.3.2 shutting down', r)

    def test_upstream_refusing_sender_is_answer_to_mail(self):
        up = self.upstream(mail_reply='553 5.7.1 sender rejected')
        srv = self.proxy(up.spec)
        c, r = self.mail(srv)
        self.assertEqual(r, '553 5.7.1 sender rejected')

    def test_upstream_5xx_after_data_reaches_client(self):
        up = self.upstream(data_reply='554 5.7.1 looks like spam')
        srv = self.proxy(up.spec)
        c, r = self.deliver(srv, ['bob@example.test'], b'Subject: x\r\n\r\nhi')
        self.assertEqual(r, '554 5.7.1 looks like spam')

    def test_upstream_4xx_after_data_reaches_client(self):
        up = self.upstream(data_reply='452 4.3.1 insufficient storage')
        srv = self.proxy(up.spec)
        c, r = self.deliver(srv, ['bob@example.test'], b'Subject: x\r\n\r\nhi')
        self.assertEqual(r, '452 4.3.1 insufficient storage')

    def test_upstream_down_is_451_at_mail(self):
        srv = self.proxy('%s:%d' % (HOST, free_unused_port()))
        c, r = self.mail(srv)
        self.assertTrue(r.startswith('451 4.4.1 '), r)
        self.assertIn('Connection refused', r)

    @unittest.skipUnless(smtp_sink_path(), 'Postfix smtp-sink not installed')
    def test_upstream_disconnecting_at_rcpt_is_451(self):
        sink = SmtpSink('-q', 'RCPT').start()
        self.addCleanup(sink.cleanup)
        srv = self.proxy(sink.spec)
        c, r = self.mail(srv)
        self.assertEqual(r, '250 OK')
        r = c.cmd('RCPT TO:<bob@example.test>')
        self.assertTrue(r.startswith('451 '), r)
        self.assertIn('connection closed', r)

    @unittest.skipUnless(smtp_sink_path(), 'Postfix smtp-sink not installed')
    def test_smtp_sink_refusing_rcpt_is_5xx(self):
        sink = SmtpSink('-f', 'RCPT').start()
        self.addCleanup(sink.cleanup)
        srv = self.proxy(sink.spec)
        c, r = self.mail(srv)
        self.assertEqual(c.cmd('RCPT TO:<bob@example.test>'), '500 5.3.0 Error: command failed')


    def test_bare_cr_in_upstream_reply_cannot_forge_a_second_reply(self):
        up = self.upstream(rcpt_replies={'x@example.test': '550 no\r250 2.0.0 fake'})
        srv = self.proxy(up.spec)
        c, r = self.mail(srv)
        r = c.cmd('RCPT TO:<x@example.test>')
        self.assertEqual(r, '550 no 250 2.0.0 fake')
        self.assertEqual(c.cmd('NOOP'), '250 OK')

    def test_control_characters_in_upstream_reply_become_spaces(self):
        up = self.upstream(rcpt_replies={'x@example.test': '550 a\x00b\x1bc\x7fd\te'})
        srv = self.proxy(up.spec)
        c, r = self.mail(srv)
        self.assertEqual(c.cmd('RCPT TO:<x@example.test>'), '550 a b c d\te')


class RelayAuthWithoutTLSTest(PureProxyCase):
    """--relay-auth and an upstream that offers no STARTTLS (or had it
    stripped on the way): the password stays home unless asked."""

    def test_no_starttls_upstream_gets_no_password_and_client_451(self):
        up = self.upstream(ehlo=DEFAULT_AUTH_EHLO)
        srv = self.proxy(up.spec, '--relay-auth', 'user:secret', '-d')
        c, r = self.mail(srv)
        self.assertTrue(r.startswith('451 4.4.1 '), r)
        self.assertIn('no TLS', r)
        self.assertIn('--relay-auth-plaintext', r)
        self.assertFalse([l for l in up.commands if l.upper().startswith(b'AUTH')],
                         up.commands)
        self.assertTrue(wait_until(lambda: 'relay password is not sent' in srv.stderr(), 5),
                        srv.stderr())
        self.assertNotIn('secret', srv.stderr())

    def test_relay_auth_plaintext_sends_it_anyway(self):
        up = self.upstream(ehlo=DEFAULT_AUTH_EHLO)
        srv = self.proxy(up.spec, '--relay-auth', 'user:secret', '--relay-auth-plaintext')
        c, r = self.mail(srv)
        # The recorder knows no AUTH: its 502 is our 451, after the login was sent.
        self.assertTrue(r.startswith('451 '), r)
        self.assertIn('refused our AUTH', r)
        auth = [l for l in up.commands if l.upper().startswith(b'AUTH PLAIN ')]
        self.assertEqual(len(auth), 1, up.commands)
        self.assertEqual(base64.b64decode(auth[0][11:]), b'\0user\0secret')


class PureProxyTimeoutTest(PureProxyCase):

    def test_silent_upstream_is_451_after_the_timeout(self):
        silent = SilentUpstream().start()
        self.addCleanup(silent.stop)
        srv = self.proxy(silent.spec, '--timeout', '1')
        c = self.ehlo_client(srv)
        t0 = time.monotonic()
        r = c.cmd('MAIL FROM:<a@client.test>', timeout=10)
        self.assertTrue(r.startswith('451 4.4.1 '), r)
        self.assertIn('timed out', r)
        self.assertLess(time.monotonic() - t0, 5)

    def test_silent_upstream_blocks_only_its_own_client(self):
        silent = SilentUpstream().start()
        self.addCleanup(silent.stop)
        srv = self.proxy(silent.spec, '--timeout', '3')
        stuck = self.ehlo_client(srv)
        stuck.send('MAIL FROM:<a@client.test>\r\n')
        time.sleep(0.3)         # it is now waiting for the upstream
        other = self.client(srv)
        t0 = time.monotonic()
        self.assertTrue(other.cmd('EHLO other.test').startswith('250-'))
        self.assertEqual(other.cmd('NOOP'), '250 OK')
        self.assertLess(time.monotonic() - t0, 1.0)
        self.assertTrue(stuck.reply(timeout=10).startswith('451 '))

    def test_hanging_delivery_does_not_hold_up_other_deliveries(self):
        up = self.upstream(hang_sender='slow@')
        srv = self.proxy(up.spec, '--timeout', '3')
        slow, r = self.mail(srv, sender='slow@client.test')
        self.assertEqual(slow.cmd('RCPT TO:<bob@example.test>'), '250 OK')
        self.assertTrue(slow.cmd('DATA').startswith('354'))
        slow.send(b'Subject: slow\r\n\r\nslow\r\n.\r\n')
        up.wait_transactions(1)     # the slow message is with the upstream
        t0 = time.monotonic()
        c, r = self.deliver(srv, ['carol@example.test'], b'Subject: fast\r\n\r\nfast')
        self.assertEqual(r, '250 OK')
        self.assertLess(time.monotonic() - t0, 2.0)
        r = slow.reply(timeout=10)
        self.assertTrue(r.startswith('451 '), r)


class PureProxyExtensionTest(PureProxyCase):

    def test_size_is_passed_with_room_for_x_peer(self):
        up = self.upstream()
        srv = self.proxy(up.spec)
        c, r = self.mail(srv, params='SIZE=1000')
        self.assertEqual(r, '250 OK')
        # "X-Peer: 127.0.0.1" and its CRLF: 19 bytes more.
        self.assertEqual(up.transactions[0]['mail'], b'MAIL FROM:<alice@client.test> SIZE=1019')

    def test_size_is_not_passed_when_upstream_does_not_offer_it(self):
        up = self.upstream(ehlo=('8BITMIME',))
        srv = self.proxy(up.spec)
        c, r = self.mail(srv, params='SIZE=1000')
        self.assertEqual(up.transactions[0]['mail'], b'MAIL FROM:<alice@client.test>')

    def test_upstream_size_refusal_reaches_client(self):
        up = self.upstream(mail_reply='552 5.3.4 Message size exceeds fixed limit')
        srv = self.proxy(up.spec)
        c, r = self.mail(srv, params='SIZE=1000')
        self.assertEqual(r, '552 5.3.4 Message size exceeds fixed limit')

    def test_body_8bitmime_is_passed_when_offered(self):
        up = self.upstream()
        srv = self.proxy(up.spec)
        c, r = self.deliver(srv, ['bob@example.test'], b'Subject: caf\xc3\xa9\r\n\r\n\xff',
                            params='BODY=8BITMIME')
        self.assertEqual(r, '250 OK')
        self.assertEqual(up.transactions[0]['mail'],
                         b'MAIL FROM:<alice@client.test> BODY=8BITMIME')

    def test_body_8bitmime_is_refused_when_upstream_lacks_8bitmime(self):
        up = self.upstream(ehlo=('SIZE 1000000',))
        srv = self.proxy(up.spec)
        c, r = self.mail(srv, params='BODY=8BITMIME')
        self.assertTrue(r.startswith('550 5.6.3 '), r)
        self.assertEqual(up.transactions, [])

    def test_8bit_data_is_refused_when_upstream_lacks_8bitmime(self):
        up = self.upstream(ehlo=('SIZE 1000000',))
        srv = self.proxy(up.spec)
        c, r = self.deliver(srv, ['bob@example.test'], b'Subject: x\r\n\r\ncaf\xc3\xa9')
        self.assertTrue(r.startswith('554 5.6.3 '), r)
        self.assertNotIn('data', up.transactions[0])

    def test_7bit_data_goes_to_upstream_without_8bitmime(self):
        up = self.upstream(ehlo=())
        srv = self.proxy(up.spec)
        c, r = self.deliver(srv, ['bob@example.test'], b'Subject: x\r\n\r\nplain')
        self.assertEqual(r, '250 OK')

    def test_smtputf8_is_passed_when_offered(self):
        up = self.upstream()
        srv = self.proxy(up.spec, '-u')
        c, r = self.mail(srv, sender='j\u00f6rg@client.test', params='SMTPUTF8')
        self.assertEqual(r, '250 OK')
        self.assertEqual(up.transactions[0]['mail'],
                         'MAIL FROM:<j\u00f6rg@client.test> SMTPUTF8'.encode())

    def test_smtputf8_is_refused_when_upstream_lacks_it(self):
        up = self.upstream(ehlo=('8BITMIME',))
        srv = self.proxy(up.spec, '-u')
        c, r = self.mail(srv, sender='j\u00f6rg@client.test', params='SMTPUTF8')
        self.assertTrue(r.startswith('550 5.6.7 '), r)


def wait_for(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


if __name__ == '__main__':
    unittest.main()
