#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""measure_memory.py - what one idle connection costs smtpd, in memory.

Starts `smtpd -n -c Sink` on a free loopback port, opens one connection and
closes it (so the libraries and the first thread are warmed up), reads the
server's VmRSS from /proc/PID/status, then opens N connections that each
read the greeting, send EHLO, read the reply and stay idle.  It reads VmRSS
again and prints the difference divided by N, split by mapping from
/proc/PID/smaps: thread stacks, heap, other.  Linux only.

    python3 docs/measure_memory.py [--smtpd ./smtpd] [-n 1000]

docs/TOUR.md quotes its result ("What a connection costs").
"""
import argparse
import os
import re
import resource
import socket
import subprocess
import sys
import time

STACK_KIB = 256         # server.c: WORKER_STACK


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def status(pid, key):
    """A line of /proc/PID/status, in KiB ('VmRSS') or as a number."""
    for line in open('/proc/%d/status' % pid):
        if line.startswith(key + ':'):
            return int(line.split()[1])
    raise KeyError(key)


def rss_by_mapping(pid):
    """Resident KiB by kind of mapping: thread stacks, heap, other."""
    kinds = {'thread stacks': 0, 'heap': 0, 'other': 0}
    kind = 'other'
    for line in open('/proc/%d/smaps' % pid):
        m = re.match(r'([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \S+\s*(.*)', line)
        if m:
            size = (int(m.group(2), 16) - int(m.group(1), 16)) // 1024
            name = m.group(3)
            if not name and size == STACK_KIB:
                kind = 'thread stacks'
            elif name == '[heap]' or not name:
                kind = 'heap'       # the main heap and malloc's arenas
            else:
                kind = 'other'
        elif line.startswith('Rss:'):
            kinds[kind] += int(line.split()[1])
    return kinds


def idle_client(port):
    """A connection that has said EHLO and now waits."""
    s = socket.create_connection(('127.0.0.1', port), timeout=10)
    f = s.makefile('rb')
    f.readline()                            # 220 greeting
    s.sendall(b'EHLO client.example\r\n')
    while f.readline()[3:4] != b' ':        # up to "250 HELP"
        pass
    return s, f


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--smtpd', default='./smtpd')
    ap.add_argument('-n', type=int, default=1000, help='connections')
    args = ap.parse_args()

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    port = free_port()
    server = subprocess.Popen([args.smtpd, '-n', '-c', 'Sink',
                               '--max-connections', str(args.n + 10),
                               '127.0.0.1:%d' % port])
    try:
        for _ in range(100):
            try:
                s, f = idle_client(port)
                break
            except OSError:
                time.sleep(0.05)
        else:
            sys.exit('smtpd did not start')
        s.sendall(b'QUIT\r\n')
        f.readline()
        s.close()
        time.sleep(0.5)

        rss0, vm0 = status(server.pid, 'VmRSS'), status(server.pid, 'VmSize')
        by0 = rss_by_mapping(server.pid)
        clients = [idle_client(port) for _ in range(args.n)]
        time.sleep(1)
        rss1, vm1 = status(server.pid, 'VmRSS'), status(server.pid, 'VmSize')
        by1 = rss_by_mapping(server.pid)
        threads = status(server.pid, 'Threads')

        n = args.n
        print('%d idle connections, %d threads' % (n, threads))
        print('VmRSS  %6d KiB -> %6d KiB: %5.1f KiB per connection'
              % (rss0, rss1, (rss1 - rss0) / n))
        for kind in by1:
            print('  %-14s %5.1f KiB per connection'
                  % (kind, (by1[kind] - by0[kind]) / n))
        print('VmSize %6d KiB -> %6d KiB: %5.0f KiB of address space per '
              'connection' % (vm0, vm1, (vm1 - vm0) / n))
        for s, f in clients:
            s.close()
    finally:
        server.terminate()
        server.wait()


if __name__ == '__main__':
    main()
