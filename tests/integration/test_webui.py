# SPDX-License-Identifier: ISC
"""The web page (`GET /` on the --http listener) in a real browser.

Each test starts `smtpd -c Sink --http 127.0.0.1:PORT` and runs one
scenario of tests/webui/scenarios.js: Debian's chromium driven by npm's
playwright-core, with the mail sent by smtplib (tests/webui/send_mail.py).
`make test` installs playwright-core into a cache (tests/install-deps.sh);
where node, playwright-core or chromium are missing, or the server was
built without the web interface (WEB=no), the tests skip and say why.
"""
import os
import shutil
import subprocess
import unittest
import urllib.error
import urllib.request

from helpers import REPO, Server, free_port, require_binary, wait_until

SCENARIOS = os.path.join(REPO, 'tests', 'webui', 'scenarios.js')
NPM_CACHE = os.environ.get('SMTPD_TEST_NPM', '/var/cache/smtpd-tests/npm')
PLAYWRIGHT = os.path.join(NPM_CACHE, 'node_modules', 'playwright-core')
# Under `make check` (a sanitizer, valgrind) the server is many times slower:
# the timings are printed, not asserted, and the big store is smaller.
CHECK = os.environ.get('SMTPD_CHECK', '')


def find_chromium():
    for path in ('/usr/lib/chromium/chromium', '/usr/bin/chromium',
                 '/usr/bin/chromium-browser'):
        if os.access(path, os.X_OK):
            return path
    return shutil.which('chromium')


class WebUITest(unittest.TestCase):
    """One browser scenario a test, each against a server of its own."""

    def setUp(self):
        require_binary(self)
        self.node = shutil.which('node')
        self.chromium = find_chromium()
        if not self.node:
            self.skipTest('node is not installed (apt-get install nodejs)')
        if not os.path.isdir(PLAYWRIGHT):
            self.skipTest('playwright-core is not in %s (make test-deps, or '
                          'npm install --prefix %s playwright-core)' % (NPM_CACHE, NPM_CACHE))
        if not self.chromium:
            self.skipTest('chromium is not installed (apt-get install chromium)')

    def start_server(self, *options):
        """smtpd with --http on a free port; skips when built without it."""
        for _ in range(3):
            self.http_port = free_port()
            srv = Server('--http', '127.0.0.1:%d' % self.http_port,
                         '--max-messages', '0', *options, cls='Sink')
            try:
                srv.start()
            except AssertionError:
                err = srv.stderr()
                srv.cleanup()
                if 'built without the web interface' in err:
                    self.skipTest('smtpd was built without the web interface (WEB=no)')
                if 'in use' in err:
                    continue
                raise
            self.addCleanup(srv.cleanup)
            self.base = 'http://127.0.0.1:%d' % self.http_port
            if wait_until(self.page_answers, 60 if CHECK else 10):
                return srv
            raise AssertionError('the page did not answer on %s: %s'
                                 % (self.base, srv.stderr()[-1500:]))
        raise AssertionError('no free port for --http')

    def page_answers(self):
        try:
            with urllib.request.urlopen(self.base + '/', timeout=2) as r:
                return r.status == 200
        except urllib.error.HTTPError as e:
            return e.code == 401            # --http-auth: it asks for the login
        except (OSError, urllib.error.URLError):
            return False

    def scenario(self, name, timeout=180, env=None, options=()):
        srv = self.start_server(*options)
        e = dict(os.environ, SMTPD_HTTP=self.base, SMTPD_SMTP_PORT=str(srv.port),
                 CHROMIUM=self.chromium, PLAYWRIGHT_CORE=PLAYWRIGHT)
        if CHECK:
            e['SMTPD_WEBUI_LAX'] = '1'
        e.update(env or {})
        try:
            p = subprocess.run([self.node, SCENARIOS, name], env=e, timeout=timeout,
                               stdin=subprocess.DEVNULL, capture_output=True, text=True)
        except subprocess.TimeoutExpired as x:
            self.fail('scenario %s did not end within %ds: %s' % (name, timeout, x.stdout))
        for line in p.stdout.splitlines():
            if line.startswith('measured:'):
                print('      ' + line, flush=True)
        self.assertEqual(p.returncode, 0, 'scenario %s:\n%s%s\nserver stderr: %s'
                         % (name, p.stdout, p.stderr[-4000:], srv.stderr()[-1500:]))
        self.assertIsNone(srv.died_unexpectedly())

    def test_page_shows_new_mail_without_reload_and_opens_every_tab(self):
        self.scenario('rich')

    def test_script_in_subject_from_filename_and_html_is_inert(self):
        self.scenario('xss')

    def test_search_box_narrows_the_list_and_keeps_the_query_in_the_url(self):
        self.scenario('search')

    def test_delete_mark_unread_keys_and_delete_all_with_confirmation(self):
        self.scenario('delete')

    def test_fault_rule_edited_on_the_page_refuses_and_sessions_show_it(self):
        self.scenario('faults')

    def test_first_screen_of_10000_messages_within_1s(self):
        n = '10000' if not CHECK else '500'
        self.scenario('many', timeout=600, env={'SMTPD_WEBUI_MANY': n})

    def test_with_http_auth_the_page_asks_for_the_login(self):
        login = 'ann:s3cret pass'
        self.scenario('auth', env={'SMTPD_WEBUI_LOGIN': login},
                      options=('--http-auth', login))

    def test_narrow_window_dark_mode_and_accessible_names(self):
        self.scenario('layout')


if __name__ == '__main__':
    unittest.main()
