#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""measure_memory.py - what one idle connection costs smtpd, in memory.

Starts `smtpd -n -c Sink` on a free loopback port, opens one connection and
closes it (so the libraries and the first thread are warmed up), reads the
server's VmRSS from /proc/PID/status, then opens N connections that each
read the greeting, send EHLO, read the reply and stay idle.  It reads VmRSS
again and prints the difference divided by N (the method of the shared
benchmark's KB/conn column), split by mapping from /proc/PID/smaps:

  thread stacks   the 256 KiB mappings, and how many of their pages each
                  stack has resident;
  heap            the main heap and malloc's per-thread arenas (anonymous
                  mappings that are not stacks), and how many arenas;
  other           the rest (libraries, the binary).

Then the kernel's side, which VmRSS does not count: the server's page
tables (VmPTE), the threads' kernel stacks (KernelStack in /proc/meminfo),
and, when /proc/slabinfo is readable (root), the growth of the slab caches
the sockets and threads live in.  Those are machine-wide figures: both
ends of each loopback connection are counted, so the socket caches are
divided by 2N (one end), the thread caches by N.  Linux only.

    python3 docs/measure_memory.py [--smtpd ./smtpd] [-n 1000] [-- ARGS]

ARGS are passed to smtpd before the address.  docs/TOUR.md and the
README's memory section quote its result.
"""
import argparse
import collections
import os
import re
import resource
import socket
import subprocess
import sys
import time

STACK_KIB = 256         # server.c: WORKER_STACK
PAGE_KIB = os.sysconf('SC_PAGE_SIZE') // 1024

# Slab caches, by what they hold.  One end of a TCP connection: the sock,
# its inode, the open file and its dentry.  One thread: the task and what
# the kernel keeps per task.
SOCKET_SLABS = ('TCP', 'TCPv6', 'sock_inode_cache', 'filp', 'dentry',
                'skbuff_head_cache')
THREAD_SLABS = ('task_struct', 'pid', 'vm_area_struct', 'anon_vma_chain',
                'anon_vma', 'maple_node', 'sigqueue', 'audit_buffer')


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


def meminfo(key):
    """A line of /proc/meminfo, in KiB."""
    for line in open('/proc/meminfo'):
        if line.startswith(key + ':'):
            return int(line.split()[1])
    return 0


def slabs():
    """Bytes in use per slab cache, or {} when /proc/slabinfo is closed."""
    try:
        lines = open('/proc/slabinfo').read().splitlines()[2:]
    except OSError:
        return {}
    use = {}
    for line in lines:
        f = line.split()
        use[f[0]] = int(f[1]) * int(f[3])      # active_objs * objsize
    return use


def smaps(pid):
    """Resident KiB by kind of mapping, the resident pages of each stack,
    and the number of anonymous mappings of 1 MiB or more (arenas)."""
    kinds = {'thread stacks': 0, 'heap': 0, 'other': 0}
    stack_pages = collections.Counter()
    arenas = 0
    kind, size = 'other', 0
    for line in open('/proc/%d/smaps' % pid):
        m = re.match(r'([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \S+\s*(.*)', line)
        if m:
            size = (int(m.group(2), 16) - int(m.group(1), 16)) // 1024
            name = m.group(3)
            if not name and size == STACK_KIB:
                kind = 'thread stacks'
            elif name == '[heap]' or not name:
                kind = 'heap'       # the main heap and malloc's arenas
                if not name and size >= 1024:
                    arenas += 1
            else:
                kind = 'other'
        elif line.startswith('Rss:'):
            rss = int(line.split()[1])
            kinds[kind] += rss
            if kind == 'thread stacks':
                stack_pages[rss // PAGE_KIB] += 1
    return kinds, stack_pages, arenas


def idle_client(port):
    """A connection that has said EHLO and now waits."""
    s = socket.create_connection(('127.0.0.1', port), timeout=30)
    f = s.makefile('rb')
    f.readline()                            # 220 greeting
    s.sendall(b'EHLO client.example\r\n')
    while f.readline()[3:4] != b' ':        # up to "250 HELP"
        pass
    return s, f


def snapshot(pid):
    """Everything measured at one moment."""
    kinds, stack_pages, arenas = smaps(pid)
    return dict(rss=status(pid, 'VmRSS'), vm=status(pid, 'VmSize'),
                pte=status(pid, 'VmPTE'), kstack=meminfo('KernelStack'),
                kinds=kinds, stack_pages=stack_pages, arenas=arenas,
                slabs=slabs())


def slab_delta(a, b, names):
    """Bytes the named caches grew by, and the caches that grew."""
    grew = {k: b[k] - a.get(k, 0) for k in names if k in b}
    return sum(grew.values()), grew


def report(n, threads, a, b):
    """Print the per-connection figures."""
    print('%d idle connections, %d threads' % (n, threads))
    print('VmRSS  %6d KiB -> %6d KiB: %5.2f KiB per connection'
          % (a['rss'], b['rss'], (b['rss'] - a['rss']) / n))
    for kind in b['kinds']:
        print('  %-14s %5.2f KiB per connection'
              % (kind, (b['kinds'][kind] - a['kinds'][kind]) / n))
    pages = ', '.join('%d x %d pages' % (c, p)
                      for p, c in sorted(b['stack_pages'].items()))
    print('  stacks resident: %s; malloc arenas: %d' % (pages, b['arenas']))
    print('VmSize %6d KiB -> %6d KiB: %5.0f KiB of address space per '
          'connection' % (a['vm'], b['vm'], (b['vm'] - a['vm']) / n))
    print('kernel, not in VmRSS (machine-wide figures, other processes add '
          'noise):')
    print('  page tables    %5.2f KiB per connection (VmPTE)'
          % ((b['pte'] - a['pte']) / n))
    print('  kernel stacks  %5.2f KiB per connection (KernelStack)'
          % ((b['kstack'] - a['kstack']) / n))
    if a['slabs'] and b['slabs']:
        sock, grew = slab_delta(a['slabs'], b['slabs'], SOCKET_SLABS)
        print('  socket         %5.2f KiB per connection (one end: %s)'
              % (sock / 2 / n / 1024, ' '.join(
                  '%s %.0f B' % (k, v / 2 / n) for k, v in grew.items()
                  if v > 0)))
        task, grew = slab_delta(a['slabs'], b['slabs'], THREAD_SLABS)
        print('  thread         %5.2f KiB per connection (%s)'
              % (task / n / 1024, ' '.join(
                  '%s %.0f B' % (k, v / n) for k, v in grew.items()
                  if v > 0)))
    else:
        print('  (slab caches: /proc/slabinfo needs root)')


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--smtpd', default='./smtpd')
    ap.add_argument('-n', type=int, default=1000, help='connections')
    ap.add_argument('args', nargs='*', help='more smtpd arguments')
    args = ap.parse_args()

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < args.n + 100:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard < args.n + 100:
        sys.exit('measure_memory.py: %d connections need ulimit -n %d'
                 % (args.n, args.n + 100))
    port = free_port()
    server = subprocess.Popen([args.smtpd, '-n', '-c', 'Sink',
                               '--max-connections', str(args.n + 10)]
                              + args.args + ['127.0.0.1:%d' % port])
    clients = []
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

        a = snapshot(server.pid)
        clients = [idle_client(port) for _ in range(args.n)]
        time.sleep(1)
        b = snapshot(server.pid)
        report(args.n, status(server.pid, 'Threads'), a, b)
    finally:
        for s, f in clients:
            s.close()
        server.terminate()
        server.wait()


if __name__ == '__main__':
    main()
