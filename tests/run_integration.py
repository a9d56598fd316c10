#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""Run the black-box integration tests (tests/integration) against ./smtpd.

Usage:
    tests/run_integration.py [-k PATTERN ...] [--python-reference]

    SMTPD=path/to/smtpd   the binary under test (default ./smtpd at the repo root)
    -k PATTERN            only tests whose id contains PATTERN (shell wildcards
                          allowed); may be given more than once
    --python-reference    run the suite against Python's own smtpd instead
                          (tests/integration/python_smtpd); the tests of our
                          documented improvements are then expected failures

Stdlib only.  Prints one line per test and ends with exactly one summary line,
`N passed, N failed` (`, N skipped` when any were skipped); exit status 1 when
any test failed or the binary does not exist.
"""
import argparse
import faulthandler
import os
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
SUITE_DIR = os.path.join(HERE, 'integration')
WATCHDOG_SECONDS = 600


class LineResult(unittest.TestResult):
    """Prints one line per test as it finishes."""

    def __init__(self, stream):
        super().__init__()
        self.stream = stream
        self.passed = 0
        self.started = {}

    def startTest(self, test):
        super().startTest(test)
        self.started[test.id()] = time.monotonic()
        # The watchdog bounds each test, not the whole run: under valgrind
        # the whole suite takes longer than any one test may.
        faulthandler.dump_traceback_later(WATCHDOG_SECONDS, exit=True)

    def _line(self, test, word, detail=''):
        secs = time.monotonic() - self.started.get(test.id(), time.monotonic())
        self.stream.write('%-5s %s (%.2fs)%s\n' % (word, test.id(), secs,
                                                  (': ' + detail) if detail else ''))
        self.stream.flush()

    def addSuccess(self, test):
        super().addSuccess(test)
        self.passed += 1
        self._line(test, 'ok')

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self._line(test, 'FAIL')
        self.stream.write(self.failures[-1][1] + '\n')

    def addError(self, test, err):
        super().addError(test, err)
        self._line(test, 'ERROR')
        self.stream.write(self.errors[-1][1] + '\n')

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        self._line(test, 'skip', reason)

    def addExpectedFailure(self, test, err):
        super().addExpectedFailure(test, err)
        self.passed += 1
        reason = getattr(getattr(test, test._testMethodName), 'improvement_reason', '')
        self._line(test, 'xfail', 'documented difference from Python: ' + reason)

    def addUnexpectedSuccess(self, test):
        super().addUnexpectedSuccess(test)
        self._line(test, 'FAIL', 'marked as a difference from Python, but passed')

    def addSubTest(self, test, subtest, err):
        super().addSubTest(test, subtest, err)
        if err is not None:
            self.stream.write('      subtest %s failed\n' % subtest._subDescription())


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('-k', dest='patterns', action='append', default=[],
                    help='only tests whose id contains PATTERN')
    ap.add_argument('--python-reference', action='store_true',
                    help="run against Python's smtpd to check the expectations")
    args = ap.parse_args()

    if args.python_reference:
        os.environ['SMTPD'] = os.path.join(SUITE_DIR, 'python_smtpd')
        os.environ['SMTPD_REFERENCE'] = 'python'
    smtpd = os.path.normpath(os.path.join(REPO, os.environ.get('SMTPD', './smtpd')))
    print('server under test: %s' % smtpd)
    if not os.path.exists(smtpd):
        print('warning: %s does not exist; the tests that need it are skipped' % smtpd)

    # A last resort: no single hang may keep the run (or CI) waiting forever
    # (restarted at each test: LineResult.startTest).
    faulthandler.dump_traceback_later(WATCHDOG_SECONDS, exit=True)

    loader = unittest.TestLoader()
    if args.patterns:
        loader.testNamePatterns = [p if '*' in p else '*%s*' % p for p in args.patterns]
    sys.path.insert(0, SUITE_DIR)
    suite = loader.discover(SUITE_DIR, pattern='test_*.py', top_level_dir=SUITE_DIR)

    result = LineResult(sys.stdout)
    start = time.monotonic()
    suite.run(result)
    # One count per test, however many of its subtests failed.
    failed = len({t.id() for t, _ in result.failures + result.errors}
                 | {t.id() for t in result.unexpectedSuccesses})
    skipped = len(result.skipped)
    print('(%.1fs)' % (time.monotonic() - start))
    line = '%d passed, %d failed' % (result.passed, failed)
    if skipped:
        line += ', %d skipped' % skipped
    print(line)
    # A missing binary skips every test; that is not a passing run.
    return 1 if failed or not os.path.exists(smtpd) else 0


if __name__ == '__main__':
    sys.exit(main())
