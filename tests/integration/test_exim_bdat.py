# SPDX-License-Identifier: ISC
"""A real MTA sending to us with BDAT (RFC 3030).

Postfix's SMTP and LMTP clients never send BDAT (only its server takes
it), so the MTA here is Exim, whose smtp transport uses CHUNKING when a
server offers it.  tests/install-deps.sh unpacks Debian's Exim binary into
/var/cache/smtpd-tests/exim4 without installing the package; the test
runs it with a configuration of its own (exim -C), spool and log in a
temporary directory, delivering in the foreground (-odf), so it leaves no
process behind.
"""
import os
import shutil
import subprocess
import tempfile
import unittest

from helpers import ServerTestCase, testing_python_reference

EXIM = '/var/cache/smtpd-tests/exim4/usr/sbin/exim4'

CONFIG = """\
exim_path = {exim}
keep_environment =
primary_hostname = exim-test.localdomain
spool_directory = {dir}/spool
log_file_path = {dir}/log/%slog
exim_user = Debian-exim
exim_group = nogroup
trusted_users = root
begin routers
smarthost:
  driver = manualroute
  route_list = * 127.0.0.1::{port}
  transport = remote_smtp
  self = send
begin transports
remote_smtp:
  driver = smtp
  hosts_try_chunking = *
  allow_localhost
begin retry
* * F,1m,1m
"""


def exim_available():
    if os.geteuid() != 0 or not os.access(EXIM, os.X_OK):
        return False
    try:
        import pwd
        pwd.getpwnam('Debian-exim')
    except KeyError:
        return False
    return True


@unittest.skipUnless(exim_available(), 'needs root and the unpacked Exim')
class EximBdatTest(ServerTestCase):

    def setUp(self):
        super().setUp()
        if testing_python_reference():
            self.skipTest('Python has no CHUNKING')
        self.dir = tempfile.mkdtemp(prefix='smtpd-exim-')
        self.addCleanup(shutil.rmtree, self.dir, True)
        os.chmod(self.dir, 0o755)
        for sub in ('spool', 'log'):
            os.mkdir(os.path.join(self.dir, sub))
            shutil.chown(os.path.join(self.dir, sub), 'Debian-exim',
                         'nogroup')

    def exim_send(self, port, text):
        conf = os.path.join(self.dir, 'exim.conf')
        with open(conf, 'w') as f:
            f.write(CONFIG.format(exim=EXIM, dir=self.dir, port=port))
        r = subprocess.run([EXIM, '-C', conf, '-odf', '-f',
                            'me@sender.example', 'you@example.com'],
                           input=text, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=30)
        with open(os.path.join(self.dir, 'log', 'mainlog'),
                  errors='replace') as f:
            return r.returncode, f.read()

    def test_exim_sends_with_bdat_when_chunking_is_offered(self):
        srv = self.server('--chunking', '-d')
        rc, log = self.exim_send(srv.port, b'Subject: via exim\n\n'
                                 b'hello from exim\n.leading dot\n')
        self.assertEqual(rc, 0, log)
        self.assertIn('Completed', log)
        self.assertRegex(log, r'=> you@example.com .* K C="250 OK"')
        msgs = srv.wait_for_messages(1)
        self.assertEqual(len(msgs), 1)
        out = srv.stdout()
        self.assertIn('Subject: via exim', out)
        # No dot-stuffing in BDAT: the leading dot arrives as it was.
        self.assertIn('\n.leading dot', out)
        self.assertRegex(srv.stderr(), r'<- BDAT \d+ LAST')

    def test_exim_uses_data_without_chunking(self):
        srv = self.server('-d')
        rc, log = self.exim_send(srv.port, b'Subject: plain\n\nhello\n')
        self.assertEqual(rc, 0, log)
        srv.wait_for_messages(1)
        self.assertNotIn('BDAT', srv.stderr())
        self.assertIn('<- DATA', srv.stderr())


if __name__ == '__main__':
    unittest.main()
