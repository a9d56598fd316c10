# SPDX-License-Identifier: ISC
"""Scale-out: HAProxy (examples/haproxy.cfg, its ports replaced by free
ones) with send-proxy-v2 in front of two instances writing into one
Maildir.  20 clients, each bound to its own loopback address, send 1000
messages: each is in the Maildir exactly once and names its real client
in X-Peer.  Then one instance gets SIGTERM during a run: HAProxy's check
takes it out, the clients retry what got a 4xx or a dropped connection,
and every message that got a 250 is in the Maildir.  At the end, a short
measurement: messages per second through one instance alone and through
two behind HAProxy (printed, for the README).  And --reuse-port: two
processes on one port, without a balancer."""
import os
import re
import shutil
import signal
import smtplib
import socket
import subprocess
import sys
import threading
import time
import unittest

from helpers import ServerTestCase, Server, HOST, REPO, free_port, wait_until, stop_process
from proxy_helpers import ProxiedServer, maildir_messages, temp_dir

HAPROXY = shutil.which('haproxy') or '/usr/sbin/haproxy'
CONFIG = os.path.join(REPO, 'examples', 'haproxy.cfg')
CLIENTS = 20
PER_CONNECTION = 10
ATTEMPTS = 20


def loopback_sources_work():
    try:
        with socket.socket() as s:
            s.bind(('127.0.0.9', 0))
        return True
    except OSError:
        return False


class HAProxy:
    def __init__(self, front, backends, tmpdir):
        text = open(CONFIG).read()
        text = text.replace('127.0.0.1:2525', '127.0.0.1:%d' % front)
        text = text.replace('127.0.0.1:2526', '127.0.0.1:%d' % backends[0])
        text = text.replace('127.0.0.1:2527', '127.0.0.1:%d' % backends[1])
        self.cfg = os.path.join(tmpdir, 'haproxy.cfg')
        with open(self.cfg, 'w') as f:
            f.write(text)
        self.log = os.path.join(tmpdir, 'haproxy.log')
        self.front = front
        self.proc = None

    def start(self):
        with open(self.log, 'wb') as log:
            self.proc = subprocess.Popen([HAPROXY, '-db', '-f', self.cfg],
                                         stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT,
                                         start_new_session=True)
        def up():
            try:
                with socket.create_connection((HOST, self.front), timeout=1) as s:
                    s.settimeout(2)
                    return s.recv(100).startswith(b'220')
            except OSError:
                return False
        if not wait_until(up, 10, interval=0.05):
            self.stop()
            raise AssertionError('haproxy did not start: %s' % open(self.log).read())
        return self

    def output(self):
        with open(self.log, errors='replace') as f:
            return f.read()

    def stop(self):
        stop_process(self.proc, 10)


class Sender(threading.Thread):
    """One client on its own source address: sends its messages, PER_CONNECTION
    to a connection, retrying after a 4xx or a dropped connection."""

    def __init__(self, port, source, ids):
        super().__init__(daemon=True)
        self.port, self.source, self.ids = port, source, ids
        self.accepted = []          # ids that got a 250
        self.failed = []
        self.retries = 0
        self.conn = None
        self.sent_on_conn = 0

    def connect(self):
        self.close()
        self.conn = smtplib.SMTP(HOST, self.port, timeout=15,
                                 source_address=(self.source, 0))
        self.conn.ehlo('client%s.example' % self.source)
        self.sent_on_conn = 0

    def close(self):
        if self.conn is not None:
            try:
                self.conn.close()
            except Exception:
                pass
            self.conn = None

    def send(self, i):
        text = ('Message-ID: <%d@haproxy.test>\r\nSubject: message %d\r\n'
                'X-Source: %s\r\n\r\nbody of %d\r\n' % (i, i, self.source, i))
        for attempt in range(ATTEMPTS):
            try:
                if self.conn is None or self.sent_on_conn >= PER_CONNECTION:
                    self.connect()
                self.conn.sendmail('sender@example.test', ['rcpt@example.test'], text)
                self.sent_on_conn += 1
                self.accepted.append(i)
                return
            except smtplib.SMTPResponseException as e:
                if not 400 <= e.smtp_code < 500:
                    self.failed.append((i, e.smtp_code))
                    return
            except (smtplib.SMTPServerDisconnected, smtplib.SMTPRecipientsRefused,
                    smtplib.SMTPSenderRefused, OSError):
                pass
            self.retries += 1
            self.close()
            time.sleep(0.05)
        self.failed.append((i, 'gave up'))

    def run(self):
        try:
            for i in self.ids:
                self.send(i)
        finally:
            self.close()


def run_clients(port, first, count, sources):
    """count messages, ids first.., spread over the clients; the senders."""
    ids = list(range(first, first + count))
    senders = [Sender(port, src, ids[k::len(sources)]) for k, src in enumerate(sources)]
    for s in senders:
        s.start()
    return senders


def join(senders, timeout=60):
    deadline = time.monotonic() + timeout
    for s in senders:
        s.join(max(0.1, deadline - time.monotonic()))
    return all(not s.is_alive() for s in senders)


def parse(msg):
    mid = re.search(rb'^Message-ID: <(\d+)@haproxy.test>$', msg, re.M)
    peer = re.search(rb'^X-Peer: (\S+)$', msg, re.M)
    src = re.search(rb'^X-Source: (\S+)$', msg, re.M)
    return (int(mid.group(1)) if mid else None,
            peer.group(1).decode() if peer else None,
            src.group(1).decode() if src else None)


@unittest.skipUnless(os.access(HAPROXY, os.X_OK), 'haproxy is not installed')
@unittest.skipUnless(loopback_sources_work(), 'cannot bind 127.0.0.x sources')
class HAProxyScaleOutTest(ServerTestCase):

    def instance(self, md, port):
        srv = ProxiedServer('--proxy-protocol', '--proxy-from', '127.0.0.1',
                            '--maildir', md, cls='Maildir', port=port)
        self.addCleanup(srv.cleanup)
        return srv.start()

    def test_two_instances_behind_haproxy(self):
        d = temp_dir(self, 'smtpd-haproxy-')
        md = os.path.join(d, 'Maildir')
        ports = [free_port(), free_port()]
        a = self.instance(md, ports[0])
        b = self.instance(md, ports[1])
        front = free_port()
        hap = HAProxy(front, ports, d).start()
        self.addCleanup(hap.stop)
        sources = ['127.0.0.%d' % (2 + k) for k in range(CLIENTS)]

        # 1. 1000 messages, both instances up.
        t0 = time.monotonic()
        senders = run_clients(front, 0, 1000, sources)
        self.assertTrue(join(senders), 'clients did not finish')
        two_rate = 1000 / (time.monotonic() - t0)
        self.assertEqual([f for s in senders for f in s.failed], [])
        msgs = [parse(m) for m in maildir_messages(md)]
        ids = sorted(m[0] for m in msgs)
        self.assertEqual(ids, list(range(1000)), 'each message exactly once')
        for mid, peer, src in msgs:
            self.assertEqual(peer, src, 'X-Peer of message %d' % mid)
        self.assertEqual(len(set(m[1] for m in msgs)), CLIENTS)

        # 2. One instance gets SIGTERM during a run of 400.
        senders = run_clients(front, 1000, 400, sources)
        wait_until(lambda: len(os.listdir(os.path.join(md, 'new'))) >= 1100, 10)
        a.signal(signal.SIGTERM)
        self.assertEqual(a.wait(15), 0)
        self.assertTrue(join(senders), 'clients did not finish after the stop')
        # HAProxy's check saw it go (it says so on its standard error).
        self.assertTrue(wait_until(lambda: 'smtpd1 is DOWN' in hap.output(), 10),
                        hap.output())
        accepted = set(i for s in senders for i in s.accepted)
        failed = [f for s in senders for f in s.failed]
        delivered = {}
        for mid, peer, src in (parse(m) for m in maildir_messages(md)):
            delivered[mid] = delivered.get(mid, 0) + 1
            self.assertEqual(peer, src)
        self.assertEqual(failed, [])
        missing = sorted(i for i in accepted if i not in delivered)
        self.assertEqual(missing, [], 'got a 250 but are not in the Maildir')
        self.assertEqual(accepted, set(range(1000, 1400)))
        sys.stderr.write('\n    [haproxy] after SIGTERM: %d retries\n'
                         % sum(s.retries for s in senders))

        # 3. The measurement: one instance alone (no HAProxy), 500 messages.
        md1 = os.path.join(d, 'Maildir1')
        alone = Server('--maildir', md1, cls='Maildir')
        self.addCleanup(alone.cleanup)
        alone.start()
        t0 = time.monotonic()
        senders = run_clients(alone.port, 0, 500, sources)
        self.assertTrue(join(senders))
        one_rate = 500 / (time.monotonic() - t0)
        self.assertEqual(len(maildir_messages(md1)), 500)
        sys.stderr.write('    [haproxy] one instance alone: %.0f msgs/s; two behind '
                         'HAProxy: %.0f msgs/s\n' % (one_rate, two_rate))
        b.stop()



class ReusePortTest(ServerTestCase):
    """--reuse-port: two processes listen on one port, and the kernel
    shares the connections between them."""

    def test_two_servers_share_a_port_with_reuse_port(self):
        port = free_port()
        a = Server('--reuse-port', '-d', cls='Sink', port=port)
        self.addCleanup(a.cleanup)
        a.start()
        b = Server('--reuse-port', '-d', cls='Sink', port=port)
        self.addCleanup(b.cleanup)
        b.start()
        # b's start-up probe may be answered by a, already on the port:
        # b listens some moments later.  Connect until the kernel has given
        # each server more than its probe, within a bound.
        count = lambda srv: srv.stderr().count('Incoming connection')
        deadline = time.monotonic() + 30     # valgrind starts slowly
        while time.monotonic() < deadline:
            with socket.create_connection((HOST, port), timeout=5) as s:
                s.settimeout(5)
                self.assertTrue(s.recv(100).startswith(b'220'))
            if count(a) > 1 and count(b) > 1:
                break
            time.sleep(0.02)
        self.assertTrue(wait_until(lambda: count(a) > 1 and count(b) > 1, 5),
                        'connections: a %d, b %d' % (count(a), count(b)))

    def test_without_reuse_port_the_second_server_cannot_bind(self):
        port = free_port()
        a = Server('--reuse-port', cls='Sink', port=port)
        self.addCleanup(a.cleanup)
        a.start()
        r = subprocess.run([a.argv0[0], '-n', '-c', 'Sink', '%s:%d' % (HOST, port)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=10)
        self.assertEqual(r.returncode, 1)
        self.assertIn(b'in use', r.stderr)


if __name__ == '__main__':
    unittest.main()
