# SPDX-License-Identifier: ISC
"""The files read at start (--fault-file, --auth-file): a line longer than
64 KiB, an endless one (/dev/zero) and a read error each stop the start
with exit status 1 and a message naming the file and the line, in bounded
memory and time."""
import os
import shutil
import subprocess
import tempfile
import time
import unittest

from helpers import require_binary, smtpd_path, testing_python_reference

RUN_TIMEOUT = 10
LINE_MAX = 65536
# Peak RSS a refused start may reach, in KiB: far above what smtpd needs
# (a few MiB; more under a sanitizer), far below an unbounded read.
RSS_BOUND_KIB = 200 * 1024


def run_bounded(argv):
    """Run argv to its end (killed after RUN_TIMEOUT): (status, stderr,
    peak RSS in KiB) of that one process."""
    with tempfile.TemporaryFile() as err:
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=err)
        deadline = time.monotonic() + RUN_TIMEOUT
        while True:
            pid, status, ru = os.wait4(p.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                p.kill()
                pid, status, ru = os.wait4(p.pid, 0)
                p.returncode = -9
                raise AssertionError('%s did not exit within %ds' % (argv, RUN_TIMEOUT))
            time.sleep(0.02)
        p.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        return p.returncode, err.read().decode(errors='replace'), ru.ru_maxrss


class StartFileTest(unittest.TestCase):

    def setUp(self):
        require_binary(self)
        if testing_python_reference():
            self.skipTest("Python's smtpd has no --fault-file or --auth-file")
        self.dir = tempfile.mkdtemp(prefix='smtpd-files-')
        self.addCleanup(shutil.rmtree, self.dir, True)

    def smtpd(self, *args):
        return run_bounded([smtpd_path(), '-n'] + list(args) + ['127.0.0.1:0'])

    def file(self, data):
        path = os.path.join(self.dir, 'f')
        with open(path, 'wb') as f:
            f.write(data)
        return path

    def test_fault_file_line_over_64k_names_file_and_line(self):
        path = self.file(b'# fine\n' + b'rcpt=550 5.1.1 ' + b'x' * LINE_MAX + b'\n')
        code, err, _ = self.smtpd('--fault-file', path)
        self.assertEqual(code, 1, err)
        self.assertIn('%s line 2: longer than 65536 bytes' % path, err)

    def test_fault_file_line_of_64k_is_read_whole(self):
        # A rule exactly at the bound is read whole, and refused for itself.
        line = b'rcpt=550 5.1.1 ' + b'x' * (LINE_MAX - 15)
        self.assertEqual(len(line), LINE_MAX)
        code, err, _ = self.smtpd('--fault-file', self.file(line + b'\n'))
        self.assertEqual(code, 1)
        self.assertIn('longer than 1000 characters', err)
        self.assertNotIn('65536', err)

    def test_fault_file_dev_zero_stops_in_bounded_memory(self):
        code, err, rss = self.smtpd('--fault-file', '/dev/zero')
        self.assertEqual(code, 1, err)
        self.assertIn('/dev/zero line 1: longer than 65536 bytes', err)
        self.assertLess(rss, RSS_BOUND_KIB)

    def test_fault_file_read_error_exits_1(self):
        code, err, _ = self.smtpd('--fault-file', self.dir)    # EISDIR on read
        self.assertEqual(code, 1, err)
        self.assertIn(self.dir, err)

    def test_auth_file_line_over_64k_names_file_and_line(self):
        path = self.file(b'ann:pw\n' + b'bob:' + b'p' * LINE_MAX + b'\n')
        code, err, _ = self.smtpd('--auth-user', 'x:y', '--auth-plaintext',
                                  '--auth-file', path)
        self.assertEqual(code, 1, err)
        self.assertIn('%s:2: longer than 65536 bytes' % path, err)
        self.assertNotIn('ppppp', err)

    def test_auth_file_dev_zero_stops_in_bounded_memory(self):
        code, err, rss = self.smtpd('--auth-file', '/dev/zero')
        self.assertEqual(code, 1, err)
        self.assertIn('/dev/zero:1: longer than 65536 bytes', err)
        self.assertLess(rss, RSS_BOUND_KIB)

    def test_auth_file_read_error_exits_1(self):
        code, err, _ = self.smtpd('--auth-file', self.dir)     # EISDIR on read
        self.assertEqual(code, 1, err)
        self.assertIn(self.dir, err)

    def test_auth_file_nul_byte_is_a_bad_line(self):
        code, err, _ = self.smtpd('--auth-file', self.file(b'ann:pw\0rest\n'))
        self.assertEqual(code, 1, err)
        self.assertIn(':1: not a user:password line', err)


if __name__ == '__main__':
    unittest.main()
