#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""latency_neighbour.py - connect-to-250 latency beside a busy neighbour.

NAME
    latency_neighbour.py - p50/p99 latency of one-message connections while
    another process keeps the server's CPU busy

SYNOPSIS
    bench/latency_neighbour.py [--smtpd ./smtpd] [-n 400] [--seconds 50]
                               [--no-neighbour]

DESCRIPTION
    An embedded test server always shares its CPUs with the program under
    test.  This measures what that costs a client: each server is pinned to
    one CPU (the first this process may use) and a busy loop, a normal
    process at nice 0, is pinned to the same CPU; the client runs on
    another CPU when there is one.  Then, in rounds, each server in a new
    random order gets one connection: connect, 220, EHLO, MAIL, RCPT,
    DATA, a 1 KB message, and the time from connect() to the 250 that
    accepts the message is recorded; QUIT.

    The servers, when present:
        smtpd           ./smtpd -n -c Sink (workers under the normal policy)
        smtpd-batch     ./smtpd -n -c Sink --sched-batch
        smtp-sink       Postfix's /usr/sbin/smtp-sink

    Printed per server: connections, p50, p99 and max in ms, and p99 over
    smtp-sink's.  Loopback only (127.0.0.1, free ports), bounded: it stops
    after --seconds (default 50) even if fewer than -n connections per
    server were made, and every process it starts is stopped by its PID.
    The figures mean something only on a machine doing nothing else.
"""
import argparse
import math
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import time

HOST = '127.0.0.1'
SMTP_SINK = '/usr/sbin/smtp-sink'
MESSAGE = (b'From: <bench@bench.example>\r\nTo: <sink@bench.example>\r\n'
           b'Subject: latency probe\r\n\r\n' + (b'x' * 78 + b'\r\n') * 12 +
           b'.\r\n')
TIMEOUT = 5.0       # seconds per reply


def free_port():
    """A loopback port nobody listens on now."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def read_reply(f):
    """One whole reply (its last line); raises on EOF."""
    while True:
        line = f.readline()
        if not line:
            raise ConnectionError('connection closed')
        if line[3:4] != b'-':
            return line


def one_message(port):
    """Seconds from connect() to the 250 after the message."""
    t0 = time.perf_counter()
    with socket.create_connection((HOST, port), timeout=TIMEOUT) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        f = s.makefile('rb')
        read_reply(f)
        for cmd in (b'EHLO bench.example\r\n', b'MAIL FROM:<a@bench.example>\r\n',
                    b'RCPT TO:<b@bench.example>\r\n', b'DATA\r\n'):
            s.sendall(cmd)
            read_reply(f)
        s.sendall(MESSAGE)
        reply = read_reply(f)
        t = time.perf_counter() - t0
        if not reply.startswith(b'250'):
            raise ConnectionError('message refused: %r' % reply)
        s.sendall(b'QUIT\r\n')
        f.close()
    return t


def wait_ready(port, proc, deadline):
    """Wait until the server greets."""
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError('exited with %d' % proc.returncode)
        try:
            with socket.create_connection((HOST, port), timeout=1) as s:
                if s.makefile('rb').readline().startswith(b'220'):
                    return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError('no greeting')


def start(argv, cpu):
    """Start a process pinned to cpu."""
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if cpu is not None:
        os.sched_setaffinity(proc.pid, {cpu})
    return proc


def stop(proc):
    """Stop one process we started, by its PID."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def percentile(values, p):
    """The p-th percentile (nearest rank) of values."""
    v = sorted(values)
    return v[max(0, math.ceil(p / 100 * len(v)) - 1)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--smtpd', default='./smtpd')
    ap.add_argument('-n', type=int, default=400,
                    help='connections per server (default 400)')
    ap.add_argument('--seconds', type=float, default=50,
                    help='stop measuring after this long (default 50)')
    ap.add_argument('--no-neighbour', action='store_true',
                    help='without the busy process, for comparison')
    args = ap.parse_args()

    cpus = sorted(os.sched_getaffinity(0))
    server_cpu = cpus[0] if len(cpus) > 1 else None
    if len(cpus) > 1:
        os.sched_setaffinity(0, set(cpus[1:]))      # the client
    servers = []
    if os.access(args.smtpd, os.X_OK):
        servers.append(('smtpd', [args.smtpd, '-n', '-c', 'Sink']))
        servers.append(('smtpd-batch', [args.smtpd, '-n', '-c', 'Sink',
                                        '--sched-batch']))
    if os.access(SMTP_SINK, os.X_OK):
        as_root = ['-u', 'nobody'] if os.geteuid() == 0 else []
        servers.append(('smtp-sink', [SMTP_SINK] + as_root + ['-m', '2000']))
    if not servers:
        sys.exit('latency_neighbour.py: neither %s nor %s' % (args.smtpd, SMTP_SINK))

    started, times = [], {}
    try:
        running = []
        for name, argv in servers:
            port = free_port()
            spec = '%s:%d' % (HOST, port)
            argv = argv + [spec, '1024'] if name == 'smtp-sink' else argv + [spec]
            proc = start(argv, server_cpu)
            started.append(proc)
            wait_ready(port, proc, time.monotonic() + 10)
            running.append((name, port))
            times[name] = []
        if not args.no_neighbour:
            started.append(start([sys.executable, '-c', 'while True: pass'],
                                 server_cpu))
            time.sleep(0.2)
        deadline = time.monotonic() + args.seconds
        for _ in range(args.n):
            if time.monotonic() > deadline:
                break
            random.shuffle(running)
            for name, port in running:
                times[name].append(one_message(port))
    finally:
        for proc in reversed(started):
            stop(proc)

    cpu_note = ('servers and a busy neighbour on CPU %d' % server_cpu
                if server_cpu is not None and not args.no_neighbour else
                'servers on CPU %s, no neighbour' % server_cpu)
    print('connect-to-250 latency, one message per connection (%s)' % cpu_note)
    print('%-12s %6s %8s %8s %8s %10s' % ('server', 'conns', 'p50 ms', 'p99 ms',
                                          'max ms', 'p99/sink'))
    sink = times.get('smtp-sink')
    sink_p99 = percentile(sink, 99) if sink else None
    for name, _ in servers:
        t = times[name]
        if not t:
            continue
        p99 = percentile(t, 99)
        ratio = '%.2fx' % (p99 / sink_p99) if sink_p99 else '-'
        print('%-12s %6d %8.2f %8.2f %8.2f %10s' % (
            name, len(t), statistics.median(t) * 1000, p99 * 1000,
            max(t) * 1000, ratio))


if __name__ == '__main__':
    main()
