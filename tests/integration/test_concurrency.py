# SPDX-License-Identifier: ISC
"""Many clients at once: every message arrives whole, none is mixed with another."""
import threading
import unittest

from helpers import ServerTestCase

CLIENTS = 50
MESSAGES = 20
DEADLINE = 60


def message_lines(client, n):
    """A message with a unique marker and lines of varied length, some with dots."""
    marker = 'X-Marker: c%02d-m%02d' % (client, n)
    body = []
    for i in range(1 + (client * 7 + n * 3) % 25):
        text = 'c%02d m%02d line %02d %s' % (client, n, i, 'abcdefghij' * ((client + n + i) % 12))
        body.append('.' + text if i % 5 == 0 else text)
    return [marker, 'Subject: load %d/%d' % (client, n), ''] + body


def stuffed(lines):
    return '\r\n'.join(('.' + l) if l.startswith('.') else l for l in lines).encode()


class ConcurrencyTest(ServerTestCase):

    def test_50_clients_send_20_messages_each_intact(self):
        srv = self.server('-s', '100000')
        errors = []

        def client(k):
            try:
                c = srv.connect(timeout=20)
                try:
                    if not c.greeting.startswith('220 '):
                        raise AssertionError('greeting %r' % c.greeting)
                    c.cmd('EHLO c%02d.example' % k)
                    for n in range(MESSAGES):
                        r = c.transaction('c%02d@example.com' % k,
                                          ['r%02d-%02d@example.com' % (k, n), 'all@example.com'],
                                          stuffed(message_lines(k, n)))
                        if r != '250 OK':
                            raise AssertionError('client %d message %d: %r' % (k, n, r))
                    if c.cmd('QUIT') != '221 Bye':
                        raise AssertionError('client %d: QUIT' % k)
                finally:
                    c.close()
            except Exception as e:  # reported by the main thread
                errors.append('client %d: %r' % (k, e))

        threads = [threading.Thread(target=client, args=(k,), daemon=True) for k in range(CLIENTS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(DEADLINE)
        self.assertFalse([t for t in threads if t.is_alive()], 'clients still running after %ds' % DEADLINE)
        self.assertEqual(errors, [])

        msgs = srv.wait_for_messages(CLIENTS * MESSAGES, timeout=30)
        self.assertEqual(len(msgs), CLIENTS * MESSAGES)
        seen = {}
        for m in msgs:
            marker = m.content[0] if m.content else ''
            self.assertNotIn(marker, seen, 'message printed twice: ' + marker)
            seen[marker] = m
        for k in range(CLIENTS):
            for n in range(MESSAGES):
                lines = message_lines(k, n)
                self.assertIn(lines[0], seen, 'message missing')
                expected = lines[:2] + ['X-Peer: 127.0.0.1'] + lines[2:]
                self.assertEqual(seen[lines[0]].content, expected)
                self.assertEqual(seen[lines[0]].mail_options, None)


if __name__ == '__main__':
    unittest.main()
