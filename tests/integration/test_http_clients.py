# SPDX-License-Identifier: ISC
"""Real clients, none written here: npm's mailpit-api and mailhog, as their
users run them, pointed at smtpd --http (tests/http_clients/*.js drive
them; `make test` installs them into a cache, SMTPD_TEST_NPM, through
tests/install-deps.sh).  Skipped, saying why, where node or the packages
are missing."""
import json
import os
import shutil
import subprocess
import threading
import unittest
from email.message import EmailMessage

from helpers import HOST, REPO
from http_helpers import HTTPTestCase, simple
from test_http_api import rich_message

NPM_DIR = os.environ.get('SMTPD_TEST_NPM', '/var/cache/smtpd-tests/npm')
SCRIPTS = os.path.join(REPO, 'tests', 'http_clients')
NODE_TIMEOUT = 60


class NodeClientTestCase(HTTPTestCase):
    package = None

    def setUp(self):
        super().setUp()
        if shutil.which('node') is None:
            self.skipTest('no node (apt-get install nodejs npm)')
        if not os.path.isdir(os.path.join(NPM_DIR, 'node_modules', self.package)):
            self.skipTest('npm package %s not in %s (make test-deps installs it: '
                          'npm install --prefix %s %s)' % (self.package, NPM_DIR, NPM_DIR,
                                                          self.package))

    def node(self, script, *args):
        out = subprocess.run(['node', os.path.join(SCRIPTS, script), NPM_DIR] + list(args),
                             capture_output=True, timeout=NODE_TIMEOUT)
        self.assertEqual(out.returncode, 0, out.stderr.decode(errors='replace'))
        return json.loads(out.stdout)


class MailpitClientTest(NodeClientTestCase):
    package = 'mailpit-api'

    def test_every_method_we_implement(self):
        srv = self.http_server()
        srv.send(simple('other thing'))
        srv.send(rich_message(), rcpts=['bob@example.com', 'carol@example.com'])
        srv.get_json('/api/v1/search?query=report&wait=5')
        out = self.node('mailpit_client.js', srv.url(''), 'calls')
        self.assertEqual(out['info']['Messages'], 2)
        self.assertIn('MessageRelay', out['config'])
        self.assertEqual(out['list']['total'], 2)
        self.assertEqual(out['search']['messages_count'], 1)
        self.assertEqual(out['message']['Subject'], 'Grüße, a report ✓')
        self.assertEqual(out['latest']['ID'], out['message']['ID'])
        self.assertEqual(out['headers']['Subject'], ['Grüße, a report ✓'])
        self.assertIn('Message-ID: <report-1@example.com>', out['source'])
        self.assertEqual(out['attachment'], {'type': 'application/pdf', 'size': 160})
        self.assertEqual(out['setUnread'], '')
        self.assertEqual(out['afterUnread'], 2)
        self.assertIn('data:image/png;base64,', out['html'])
        self.assertIn('the report is attached', out['text'])
        self.assertEqual(out['chaosSet']['Sender'], {'ErrorCode': 450, 'Probability': 0})
        self.assertEqual(out['chaosGet'], out['chaosSet'])
        self.assertIn('501', out['htmlCheck'])
        self.assertEqual(out['afterSearchDelete'], 1)
        self.assertEqual(out['afterDeleteOne'], 0)
        self.assertEqual(out['afterDeleteAll'], 0)

    def test_wait_for_message(self):
        srv = self.http_server()
        threading.Timer(1.0, srv.send, (simple('late one', to='late@example.com'),),
                        {'rcpts': ['late@example.com']}).start()
        out = self.node('mailpit_client.js', srv.url(''), 'wait')
        self.assertEqual(out['subject'], 'late one')
        self.assertEqual(out['count'], 1)

    def test_basic_auth(self):
        srv = self.http_server('--http-auth', 'ann:pw')
        srv.send(simple('x'))
        srv.auth = 'ann:pw'
        srv.get_json('/api/v1/message/latest?wait=5')
        out = subprocess.run(['node', os.path.join(SCRIPTS, 'mailpit_client.js'), NPM_DIR,
                              srv.url(''), 'wait'], capture_output=True, timeout=NODE_TIMEOUT)
        self.assertNotEqual(out.returncode, 0)
        self.assertIn(b'401', out.stderr)


class MailHogClientTest(NodeClientTestCase):
    package = 'mailhog'

    def test_messages_search_latest_delete(self):
        srv = self.http_server()
        # MailHog's client reads one level of parts: a multipart/alternative,
        # and a multipart/mixed with an attachment.
        m = EmailMessage()
        m['From'] = 'Zoë Ann <ann@example.com>'
        m['To'] = 'carol@example.com'
        m['Subject'] = 'Grüße, a report ✓'
        m.set_content('Hello, Ünïcode text.\n')
        m.add_alternative('<p>Hello <b>Bob</b></p>\n', subtype='html')
        srv.send(m, rcpts=['carol@example.com'])
        m = EmailMessage()
        m['From'] = 'ann@example.com'
        m['To'] = 'dan@example.com'
        m['Subject'] = 'with a file'
        m.set_content('see the file\n')
        m.add_attachment(b'%PDF-1.4\n', maintype='application', subtype='pdf',
                         filename='report.pdf')
        srv.send(m, rcpts=['dan@example.com'])
        srv.send(simple('from zed', frm='zed@other.example'), sender='zed@other.example')
        srv.send(simple('plain one', to='plain@example.com', body='a needle-in-body here\r\n'),
                 rcpts=['plain@example.com'])
        srv.get_json('/api/v1/search?query=plain&wait=5')
        out = self.node('mailhog_client.js', HOST, str(srv.http_port))
        self.assertEqual((out['total'], out['count']), (4, 4))
        self.assertEqual(out['subjects'][0], 'plain one')
        rich = out['rich']
        self.assertEqual(rich['subject'], 'Grüße, a report ✓')
        self.assertIn('ann@example.com', rich['from'])
        self.assertIn('Ünïcode', rich['text'])
        self.assertIn('<b>Bob</b>', rich['html'])
        self.assertEqual(out['files'], [{'name': 'report.pdf', 'type': 'application/pdf'}])
        self.assertEqual(out['searchTo'], 1)
        self.assertEqual(out['latestTo'], 'plain one')
        self.assertEqual(out['latestFrom'], 'from zed')
        self.assertEqual(out['latestContaining'], 'plain one')
        self.assertEqual(out['latestNone'], 0)
        self.assertEqual(out['afterDeleteOne'], 3)
        self.assertEqual(out['afterDeleteAll'], 0)


if __name__ == '__main__':
    unittest.main()
