# SPDX-License-Identifier: ISC
"""What a server process holds, read from /proc: for the hostile-client and
shutdown tests, which check that connections leave nothing behind.

Under `make check` (SMTPD_CHECK set) the server runs under a sanitizer or
valgrind, many times slower: `slow(seconds)` stretches a wait accordingly.
"""
import os
import unittest

from helpers import wait_until

if not os.path.isdir('/proc/self/fd'):
    # macOS and the BSDs: the tests that count what a process holds are
    # skipped, the rest of each test file runs.
    def _no_proc(*args, **kwargs):
        raise unittest.SkipTest('needs /proc (Linux)')

CHECK = os.environ.get('SMTPD_CHECK', '')
SLOWDOWN = {'': 1, 'address,undefined': 2, 'thread': 4, 'valgrind': 8}.get(CHECK, 4)


def slow(seconds):
    """A wait long enough for the server under test (see SLOWDOWN)."""
    return seconds * SLOWDOWN


def fd_count(pid):
    return len(os.listdir('/proc/%d/fd' % pid))


def thread_count(pid):
    return len(os.listdir('/proc/%d/task' % pid))


def rss_kb(pid):
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1])
    return 0


def cpu_seconds(pid):
    """User plus system CPU time the process has used."""
    with open('/proc/%d/stat' % pid) as f:
        fields = f.read().rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')


def wait_for(predicate, timeout, interval=0.05):
    """Poll until predicate() is true; its last value."""
    return wait_until(predicate, timeout, interval)


if not os.path.isdir('/proc/self/fd'):
    fd_count = thread_count = rss_kb = cpu_seconds = _no_proc
