# SPDX-License-Identifier: ISC
"""--proxy-protocol: every connection starts with HAProxy's PROXY header
(v1 text or v2 binary), and the client it names is the client for
everything the server reports; a connection without a good one is closed.
Headers are made by hand and sent over real sockets."""
import time
import unittest

from helpers import ServerTestCase, HOST
from proxy_helpers import ProxiedServer, RawClient, proxy_v1, proxy_v2


class ProxyProtocolTest(ServerTestCase):

    def proxied(self, *options):
        srv = ProxiedServer('--proxy-protocol', *options)
        self.addCleanup(srv.cleanup)
        self.addCleanup(self._check_alive, srv)
        return srv.start()

    def client_with(self, srv, header, **kw):
        c = RawClient((HOST, srv.port), prefix=header, **kw)
        self.addCleanup(c.close)
        return c

    def send_one(self, c):
        self.assertTrue(c.cmd('EHLO client.example').startswith('250-'))
        self.assertEqual(c.cmd('MAIL FROM:<a@example.test>'), '250 OK')
        self.assertEqual(c.cmd('RCPT TO:<b@example.test>'), '250 OK')
        self.assertTrue(c.cmd('DATA').startswith('354'))
        self.assertEqual(c.cmd('Subject: x\r\n\r\nbody\r\n.'), '250 OK')

    def test_v1_header_names_the_client_in_x_peer(self):
        srv = self.proxied()
        c = self.client_with(srv, proxy_v1('192.0.2.7', sport=56324))
        self.assertTrue(c.greeting.startswith('220 '))
        self.send_one(c)
        msg = srv.wait_for_messages(1)[0]
        self.assertIn('X-Peer: 192.0.2.7', msg.content)

    def test_v1_tcp6_header_names_the_client(self):
        srv = self.proxied()
        c = self.client_with(srv, proxy_v1('2001:db8::7', dst='2001:db8::1'))
        self.send_one(c)
        self.assertIn('X-Peer: 2001:db8::7', srv.wait_for_messages(1)[0].content)

    def test_v2_header_names_the_client_in_x_peer(self):
        srv = self.proxied()
        c = self.client_with(srv, proxy_v2('198.51.100.23', sport=1234))
        self.send_one(c)
        self.assertIn('X-Peer: 198.51.100.23', srv.wait_for_messages(1)[0].content)

    def test_v2_ipv6_with_tlvs_names_the_client(self):
        srv = self.proxied()
        tlvs = b'\x01\x00\x04smtp' + b'\x04\x00\x02\x00\x00'
        c = self.client_with(srv, proxy_v2('2001:db8::42', tlvs=tlvs))
        self.send_one(c)
        self.assertIn('X-Peer: 2001:db8::42', srv.wait_for_messages(1)[0].content)

    def test_v2_local_keeps_the_real_peer(self):
        srv = self.proxied()
        c = self.client_with(srv, proxy_v2(None))
        self.send_one(c)
        self.assertIn('X-Peer: 127.0.0.1', srv.wait_for_messages(1)[0].content)

    def test_debug_trace_names_the_client_from_the_header(self):
        srv = self.proxied('-d')
        c = self.client_with(srv, proxy_v1('192.0.2.9', sport=4711))
        c.cmd('NOOP')
        c.cmd('QUIT')
        self.assertTrue(c.closed())
        self.assertIn('192.0.2.9:4711 <- NOOP', srv.stderr())

    def test_header_split_across_segments_is_read(self):
        srv = self.proxied()
        h = proxy_v2('192.0.2.77')
        c = RawClient((HOST, srv.port), read_greeting=False)
        self.addCleanup(c.close)
        for b in h:
            c.send(bytes([b]))
            time.sleep(0.002)
        self.assertTrue(c.reply().startswith('220 '))
        self.send_one(c)
        self.assertIn('X-Peer: 192.0.2.77', srv.wait_for_messages(1)[0].content)

    def test_smtp_without_a_header_is_closed_unanswered(self):
        srv = self.proxied()
        c = self.client_with(srv, b'EHLO client.example\r\n', read_greeting=False)
        self.assertTrue(c.closed())
        self.assertEqual(c.buf, b'')

    def test_malformed_headers_are_closed_unanswered(self):
        srv = self.proxied()
        for bad in (b'PROXY TCP4 192.0.2.7 127.0.0.1 99999 25\r\n',
                    b'PROXY TCP4 not-an-address 127.0.0.1 1 25\r\n',
                    b'PROXY TCP5 192.0.2.7 127.0.0.1 1 25\r\n',
                    b'PROXY ' + b'x' * 120 + b'\r\n',
                    proxy_v2('192.0.2.7', command=0x22),
                    proxy_v2('192.0.2.7')[:12] + b'\x31\x11\x00\x0c' + b'\0' * 12):
            with self.subTest(header=bad):
                c = self.client_with(srv, bad, read_greeting=False)
                self.assertTrue(c.closed())
                self.assertEqual(c.buf, b'')

    def test_truncated_header_is_closed_at_the_timeout(self):
        srv = self.proxied('--timeout', '1')
        c = self.client_with(srv, proxy_v2('192.0.2.7')[:20], read_greeting=False)
        start = time.monotonic()
        self.assertTrue(c.closed(timeout=5))
        self.assertLess(time.monotonic() - start, 4)
        self.assertEqual(c.buf, b'')

    def test_header_cut_short_by_the_client_closing(self):
        srv = self.proxied()
        c = self.client_with(srv, proxy_v1('192.0.2.7')[:15], read_greeting=False)
        c.sock.shutdown(1)
        self.assertTrue(c.closed())
        # The server goes on serving others.
        c2 = self.client_with(srv, proxy_v1('192.0.2.8'))
        self.assertTrue(c2.greeting.startswith('220 '))

    def test_proxy_from_refuses_other_balancers(self):
        srv = self.proxied('--proxy-from', '10.0.0.0/8',
                           '--proxy-from', '2001:db8::/32')
        c = self.client_with(srv, proxy_v1('192.0.2.7'), read_greeting=False)
        self.assertTrue(c.closed())
        self.assertEqual(c.buf, b'')

    def test_proxy_from_admits_a_listed_balancer(self):
        srv = self.proxied('--proxy-from', '10.0.0.0/8',
                           '--proxy-from', '127.0.0.0/8')
        c = self.client_with(srv, proxy_v1('192.0.2.7'))
        self.assertTrue(c.greeting.startswith('220 '))

    def test_bad_proxy_from_is_an_error(self):
        srv = ProxiedServer('--proxy-protocol', '--proxy-from', '10.0.0.0/40')
        self.addCleanup(srv.cleanup)
        with self.assertRaises(AssertionError):
            srv.start()
        self.assertIn('10.0.0.0/40', srv.stderr())

    def test_without_the_option_a_proxy_line_is_just_a_bad_command(self):
        srv = self.server()
        c = self.client(srv)
        self.assertEqual(c.cmd('PROXY TCP4 192.0.2.7 127.0.0.1 1 25'),
                         '500 Error: command "PROXY" not recognized')


if __name__ == '__main__':
    unittest.main()
