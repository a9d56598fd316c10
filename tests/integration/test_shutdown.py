# SPDX-License-Identifier: ISC
"""Graceful shutdown (issue #5): on SIGTERM or SIGINT the server stops
accepting, lets a message in DATA finish (up to 10 s), tells idle clients
`421 <fqdn> Error: shutting down`, and exits 0 - and every message it
answered 250 was delivered.
"""
import signal
import socket
import threading
import time

from helpers import FQDN, HOST, ConnectionClosed, NoReply, ServerTestCase, debug_messages
from procinfo import slow, wait_for

TX = b'EHLO c.example\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\n'
SHUTTING_DOWN = '421 %s Error: shutting down' % FQDN
GRACE = 10      # server.c: shutdown_grace default


class ShutdownTest(ServerTestCase):

    def in_data(self, srv, subject):
        """A client inside DATA, part of its message sent."""
        c = self.client(srv, timeout=slow(15))
        c.send(TX + b'Subject: ' + subject + b'\r\n\r\nfirst half\r\n')
        self.assertTrue(c.replies(4)[-1].startswith('354'))
        return c

    def test_sigterm_lets_a_message_in_data_finish_with_250_and_deliver_it(self):
        srv = self.server()
        c = self.in_data(srv, b'finishing')
        srv.signal(signal.SIGTERM)
        time.sleep(0.5)
        self.assertIsNone(srv.proc.poll(), 'exited with a message in DATA')
        self.assertEqual(c.send_message(b'second half\r\n.\r\n'), '250 OK')
        self.assertEqual(c.reply(), SHUTTING_DOWN)
        self.assertEqual(srv.wait(slow(5)), 0)
        msgs = debug_messages(srv.stdout_bytes())
        self.assertEqual(len(msgs), 1)
        self.assertIn('second half', msgs[0].content)

    def test_sigterm_sends_idle_clients_421_shutting_down_and_exits_0(self):
        srv = self.server()
        clients = [self.ehlo_client(srv) for _ in range(3)]
        srv.signal(signal.SIGTERM)
        for c in clients:
            self.assertEqual(c.reply(timeout=slow(5)), SHUTTING_DOWN)
            self.assertTrue(c.expect_closed())
        self.assertEqual(srv.wait(slow(5)), 0)

    def test_sigint_sends_idle_clients_421_shutting_down_and_exits_0(self):
        srv = self.server()
        c = self.ehlo_client(srv)
        srv.signal(signal.SIGINT)
        self.assertEqual(c.reply(timeout=slow(5)), SHUTTING_DOWN)
        self.assertEqual(srv.wait(slow(5)), 0)

    def test_no_new_connection_is_accepted_after_sigterm(self):
        srv = self.server()
        c = self.in_data(srv, b'holding the server open')
        srv.signal(signal.SIGTERM)

        def refused():
            try:
                with socket.create_connection((HOST, srv.port), timeout=1) as s:
                    s.settimeout(1)
                    return s.recv(512) == b''
            except (ConnectionRefusedError, ConnectionResetError):
                return True
            except OSError:
                return False
        self.assertTrue(wait_for(refused, slow(5), interval=0.1),
                        'a new client was served after SIGTERM')
        self.assertEqual(c.send_message(b'.\r\n'), '250 OK')
        self.assertEqual(srv.wait(slow(5)), 0)

    def test_message_not_finished_within_the_grace_period_is_not_acknowledged(self):
        srv = self.server()
        c = self.in_data(srv, b'too slow')
        start = time.monotonic()
        srv.signal(signal.SIGTERM)
        status = srv.wait(slow(GRACE + 5))
        self.assertEqual(status, 0, 'no exit within the grace period')
        self.assertLess(time.monotonic() - start, slow(GRACE + 3))
        try:
            c.send(b'.\r\n')
            reply = c.reply(timeout=2)
        except (ConnectionClosed, NoReply, OSError):
            reply = None
        self.assertNotEqual(reply, '250 OK')
        self.assertEqual(debug_messages(srv.stdout_bytes()), [])

    def test_every_message_answered_250_was_delivered_when_stopped_under_load(self):
        srv = self.server()
        acked = []
        lock = threading.Lock()
        stop = threading.Event()

        def client(k):
            c = None
            try:
                c = srv.connect(timeout=slow(15))
                c.cmd('EHLO c%d.example' % k)
                n = 0
                while not stop.is_set() or n == 0:
                    marker = 'c%d-m%d' % (k, n)
                    r = c.cmd('MAIL FROM:<a@b.example>')
                    if r != '250 OK':
                        return
                    c.cmd('RCPT TO:<c@d.example>')
                    if not c.cmd('DATA').startswith('354'):
                        return
                    if c.send_message(b'X-Marker: ' + marker.encode() + b'\r\n\r\nbody\r\n.\r\n') \
                            == '250 OK':
                        with lock:
                            acked.append(marker)
                    n += 1
            except (ConnectionClosed, NoReply, OSError):
                return
            finally:
                if c is not None:
                    c.close()

        threads = [threading.Thread(target=client, args=(k,), daemon=True) for k in range(8)]
        for t in threads:
            t.start()
        time.sleep(1)
        srv.signal(signal.SIGTERM)
        stop.set()
        self.assertEqual(srv.wait(slow(GRACE + 5)), 0)
        for t in threads:
            t.join(slow(10))
        delivered = {m.content[0][len('X-Marker: '):] for m in debug_messages(srv.stdout_bytes())
                     if m.content and m.content[0].startswith('X-Marker: ')}
        self.assertGreater(len(acked), 0)
        self.assertEqual(sorted(set(acked) - delivered), [], 'answered 250 but not delivered')
