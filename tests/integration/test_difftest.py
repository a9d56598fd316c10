# SPDX-License-Identifier: ISC
"""Differential tests: the conversations in tests/difftest/*.smtp, played against
Python's smtpd and the server under test, must get the same replies and the same
DebuggingServer output, once the documented differences are folded away (the
greeting's text after the host name, the PIPELINING line, text vs b'...' lines).

Each script may start with a comment `# args: OPTIONS` giving the server options
(both servers get the same).  The scripts use the format of the team's
../shared/difftest/smtpdiff.py, which is also run over them when it exists.
"""
import glob
import os
import subprocess
import sys
import unittest

from helpers import (DIFFTEST_DIR, REPO, Server, ServerTestCase, fold_reply, play,
                     python_smtpd_argv, script_options, smtpd_path, text_lines)

SHARED_SMTPDIFF = os.path.normpath(os.path.join(REPO, '..', 'shared', 'difftest', 'smtpdiff.py'))
SCRIPTS = sorted(glob.glob(os.path.join(DIFFTEST_DIR, '*.smtp')))


def read_script(path):
    with open(path, encoding='utf-8') as f:
        return f.read().splitlines()


def run_script(argv0, lines):
    """Play lines against a fresh DebuggingServer; return (replies, output lines)."""
    srv = Server(*script_options(lines), argv=argv0).start()
    try:
        replies = play(srv, lines)
    finally:
        srv.stop()
    out = text_lines(srv.stdout_bytes())
    srv.cleanup()
    return replies, out


def show(b):
    return repr(b)[2:-1]


class DifferentialTest(ServerTestCase):

    def check_script(self, path):
        lines = read_script(path)
        py_replies, py_out = run_script(python_smtpd_argv(), lines)
        our_replies, our_out = run_script([smtpd_path()], lines)
        diffs = []
        for (sent, a), (_, b) in zip(py_replies, our_replies):
            if fold_reply(a) != fold_reply(b):
                diffs.append('sent %s\n    python: %s\n    ours:   %s' % (show(sent), show(a), show(b)))
        if len(py_replies) != len(our_replies):
            diffs.append('different number of steps: python %d, ours %d'
                         % (len(py_replies), len(our_replies)))
        if py_out != our_out:
            diffs.append('DebuggingServer output differs:\n    python: %r\n    ours:   %r'
                         % (py_out, our_out))
        if diffs:
            self.fail('%s (%s):\n%s' % (os.path.basename(path), ' '.join(script_options(lines)),
                                        '\n'.join(diffs)))

    def test_difftest_scripts_exist(self):
        self.assertGreaterEqual(len(SCRIPTS), 5, 'no conversations in ' + DIFFTEST_DIR)

    def test_shared_smtpdiff_tool_finds_no_difference(self):
        if not os.path.exists(SHARED_SMTPDIFF):
            self.skipTest('%s not found (CI has ../shared beside the clone)' % SHARED_SMTPDIFF)
        failures = []
        for path in SCRIPTS:
            args = ' '.join(script_options(read_script(path)))
            try:
                r = subprocess.run([sys.executable, SHARED_SMTPDIFF, '--python', 'python3',
                                    '--smtpd', smtpd_path(), '--args', args, path],
                                   cwd=REPO, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, timeout=60)
            except subprocess.TimeoutExpired:
                failures.append('%s: smtpdiff.py did not finish within 60s' % path)
                continue
            if r.returncode != 0:
                failures.append(r.stdout.decode('utf-8', 'replace'))
        if failures:
            self.fail('\n'.join(failures))


def _make_test(path):
    def test(self):
        self.check_script(path)
    test.__doc__ = 'replies to %s equal Python smtpd\'s' % os.path.basename(path)
    return test


for _path in SCRIPTS:
    _name = os.path.splitext(os.path.basename(_path))[0].replace('-', '_')
    setattr(DifferentialTest, 'test_same_replies_as_python_%s' % _name, _make_test(_path))


if __name__ == '__main__':
    unittest.main()
