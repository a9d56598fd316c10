#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""Draw docs/webui.png: the page, by the browser setup of the tests.

Usage: tests/webui/screenshot.py SMTPD OUT.png

Starts SMTPD with --http on free ports, and runs the `screenshot' scenario
of scenarios.js (a few messages sent with smtplib, one opened, 1200x680).
"""
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'integration'))
os.environ['SMTPD'] = os.path.abspath(sys.argv[1])

import test_webui  # noqa: E402  (after SMTPD is set)
from helpers import Server, free_port  # noqa: E402


def main():
    out = os.path.abspath(sys.argv[2])
    chromium = test_webui.find_chromium()
    if not chromium or not os.path.isdir(test_webui.PLAYWRIGHT):
        sys.exit('screenshot.py: needs chromium and playwright-core in %s '
                 '(make test-deps)' % test_webui.NPM_CACHE)
    http_port = free_port()
    with Server('--http', '127.0.0.1:%d' % http_port, cls='Sink') as srv:
        env = dict(os.environ, SMTPD_HTTP='http://127.0.0.1:%d' % http_port,
                   SMTPD_SMTP_PORT=str(srv.port), CHROMIUM=chromium,
                   PLAYWRIGHT_CORE=test_webui.PLAYWRIGHT, SCREENSHOT=out)
        subprocess.run(['node', os.path.join(HERE, 'scenarios.js'), 'screenshot'],
                       env=env, check=True, timeout=120)
    print('wrote %s' % out)


if __name__ == '__main__':
    main()
