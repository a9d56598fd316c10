# SPDX-License-Identifier: ISC
"""Many connections in a row leave nothing behind (issue #2): every worker
thread ends or is reused, every descriptor is closed, memory stays flat.

Each connection is a whole short session: greeting, QUIT, close.  Under
`make check` (sanitizers, valgrind) far fewer connections are made.
"""
import socket
import time

from helpers import HOST, ServerTestCase
from procinfo import CHECK, fd_count, rss_kb, slow, thread_count, wait_for

CONNECTIONS = 2000 if CHECK else 100000


def short_session(port):
    """Connect, read the greeting, QUIT, read until the server closes."""
    s = socket.create_connection((HOST, port), timeout=10)
    try:
        buf = b''
        while b'\r\n' not in buf:
            chunk = s.recv(4096)
            if not chunk:
                raise AssertionError('closed before the greeting: %r' % buf)
            buf += chunk
        if not buf.startswith(b'220 '):
            raise AssertionError('greeting: %r' % buf)
        s.sendall(b'QUIT\r\n')
        buf = b''
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            buf += chunk
        if buf != b'221 Bye\r\n':
            raise AssertionError('QUIT answered %r' % buf)
    finally:
        s.close()


class ConnectionsInARowTest(ServerTestCase):

    def test_connections_in_a_row_leave_threads_fds_and_memory_where_they_started(self):
        srv = self.server(cls='Sink')
        pid = srv.proc.pid
        short_session(srv.port)            # the first worker and its arena
        time.sleep(0.2)
        fds, threads, rss = fd_count(pid), thread_count(pid), rss_kb(pid)
        start = time.monotonic()
        for _ in range(CONNECTIONS):
            short_session(srv.port)
        elapsed = time.monotonic() - start
        # A finished worker waits up to 10 s for the next client, then ends.
        self.assertTrue(wait_for(lambda: fd_count(pid) <= fds and
                                 thread_count(pid) <= threads, slow(30), 0.2),
                        'after %d connections: fds %d -> %d, threads %d -> %d'
                        % (CONNECTIONS, fds, fd_count(pid), threads, thread_count(pid)))
        if not CHECK:
            grown = rss_kb(pid) - rss
            self.assertLess(grown, 2048, 'RSS grew by %d KB over %d connections'
                            % (grown, CONNECTIONS))
        print('(%d connections in %.1f s)' % (CONNECTIONS, elapsed), end=' ')
