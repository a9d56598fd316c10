# SPDX-License-Identifier: ISC
"""Maildir (-c Maildir --maildir DIR): each message one file in DIR/new,
written in DIR/tmp and renamed only once it is on disk; 451 on failure."""
import os
import pwd
import re
import shutil
import subprocess
import tempfile
import threading
import unittest

from helpers import ServerTestCase, smtpd_path, testing_python_reference

# SECONDS.MMICROSECONDSPpidQcounter.host (the Maildir convention)
NAME = re.compile(r'^\d+\.M\d+P\d+Q\d+\.[^/:]+$')


class MaildirTest(ServerTestCase):

    def setUp(self):
        super().setUp()
        if testing_python_reference():
            self.skipTest('Python has no Maildir class')
        self.dir = tempfile.mkdtemp(prefix='maildir-')
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.md = os.path.join(self.dir, 'Maildir')

    def maildir(self):
        return self.server('--maildir', self.md, cls='Maildir')

    def files(self, sub):
        return sorted(os.listdir(os.path.join(self.md, sub)))

    def deliver(self, srv, body, sender='alice@client.test'):
        c = self.ehlo_client(srv)
        return c.transaction(sender, ['bob@example.test'], body)

    def test_missing_maildir_and_subdirectories_are_created(self):
        self.maildir()
        self.assertEqual(sorted(os.listdir(self.md)), ['cur', 'new', 'tmp'])

    def test_message_is_one_file_in_new(self):
        srv = self.maildir()
        self.assertEqual(self.deliver(srv, b'Subject: hi\r\n\r\nhello\r\n..dot'), '250 OK')
        names = self.files('new')
        self.assertEqual(len(names), 1)
        with open(os.path.join(self.md, 'new', names[0]), 'rb') as f:
            self.assertEqual(f.read(), b'Return-Path: <alice@client.test>\n'
                             b'Subject: hi\n\nhello\n.dot\n')
        self.assertEqual(self.files('tmp'), [])

    def test_null_sender_is_empty_return_path(self):
        srv = self.maildir()
        self.deliver(srv, b'Subject: bounce\r\n\r\nx', sender='')
        with open(os.path.join(self.md, 'new', self.files('new')[0]), 'rb') as f:
            self.assertTrue(f.read().startswith(b'Return-Path: <>\n'))

    def test_file_name_never_comes_from_the_message(self):
        srv = self.maildir()
        self.deliver(srv, b'Subject: ../../etc/passwd\r\nMessage-ID: <../x:2,S>\r\n\r\nx')
        names = self.files('new')
        self.assertEqual(len(names), 1)
        self.assertRegex(names[0], NAME)
        self.assertNotIn('passwd', names[0])

    def test_concurrent_deliveries_get_distinct_files(self):
        srv = self.maildir()
        replies = []

        def one(i):
            c = srv.connect()
            try:
                c.cmd('EHLO c%d.test' % i)
                replies.append(c.transaction('a@client.test', ['b@example.test'],
                                             b'Subject: %d\r\n\r\nx' % i))
            finally:
                c.close()
        threads = [threading.Thread(target=one, args=(i,)) for i in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        self.assertEqual(replies, ['250 OK'] * 20)
        self.assertEqual(len(self.files('new')), 20)

    def test_failure_is_451_and_leaves_nothing_behind(self):
        srv = self.maildir()
        # new/ is now a file: the rename into it must fail.
        os.rmdir(os.path.join(self.md, 'new'))
        open(os.path.join(self.md, 'new'), 'w').close()
        r = self.deliver(srv, b'Subject: x\r\n\r\nx')
        self.assertTrue(r.startswith('451 4.3.0 '), r)
        self.assertEqual(self.files('tmp'), [])
        self.assertTrue(os.path.isfile(os.path.join(self.md, 'new')))

    def test_removed_subdirectories_are_made_again(self):
        srv = self.maildir()
        shutil.rmtree(self.md)
        self.assertEqual(self.deliver(srv, b'Subject: x\r\n\r\nx'), '250 OK')
        self.assertEqual(len(self.files('new')), 1)

    def test_each_removed_folder_is_made_again_on_delivery(self):
        srv = self.maildir()
        for sub in ('tmp', 'new', 'cur'):
            with self.subTest(folder=sub):
                shutil.rmtree(os.path.join(self.md, sub))
                self.assertEqual(self.deliver(srv, b'Subject: x\r\n\r\nx'), '250 OK')
                self.assertEqual(sorted(os.listdir(self.md)), ['cur', 'new', 'tmp'])
        self.assertEqual(len(self.files('new')), 2)    # new/ went with the first

    def test_maildir_without_directory_option_is_an_error(self):
        from helpers import Server, ServerDidNotStart
        srv = Server(cls='Maildir')
        self.addCleanup(srv.cleanup)
        with self.assertRaises(ServerDidNotStart):
            srv.start()
        self.assertIn('--maildir', srv.stderr())


class MaildirAsRootTest(ServerTestCase):
    """Without -n, as root: the server becomes nobody, who must be able to
    write into the Maildir it was started with."""

    def setUp(self):
        super().setUp()
        if testing_python_reference():
            self.skipTest('Python has no Maildir class')
        if os.geteuid() != 0:
            self.skipTest('needs root: the server only drops privileges as root')
        self.dir = tempfile.mkdtemp(prefix='maildir-root-')
        self.addCleanup(shutil.rmtree, self.dir, True)
        os.chmod(self.dir, 0o755)       # nobody may enter it
        self.md = os.path.join(self.dir, 'Maildir')

    def test_folders_made_as_root_are_nobodys_and_delivery_works(self):
        nobody = pwd.getpwnam('nobody')
        srv = self.server('--maildir', self.md, cls='Maildir', nosetuid=False)
        for sub in ('', 'tmp', 'new', 'cur'):
            self.assertEqual(os.stat(os.path.join(self.md, sub)).st_uid, nobody.pw_uid, sub)
        c = self.ehlo_client(srv)
        self.assertEqual(c.transaction('a@example.com', ['b@example.com'],
                                       b'Subject: as nobody\r\n\r\nx'), '250 OK')
        names = os.listdir(os.path.join(self.md, 'new'))
        self.assertEqual(len(names), 1)
        self.assertEqual(os.stat(os.path.join(self.md, 'new', names[0])).st_uid,
                         nobody.pw_uid)

    def test_existing_folders_nobody_cannot_write_stop_the_start(self):
        for sub in ('tmp', 'new', 'cur'):
            os.makedirs(os.path.join(self.md, sub), mode=0o700)
        # It listens before it drops root, so it is seen to exit, not to
        # refuse connections.
        r = subprocess.run([smtpd_path(), '-c', 'Maildir', '--maildir', self.md,
                            '127.0.0.1:0'], stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=10)
        self.assertEqual(r.returncode, 1)
        self.assertIn('%s/tmp: Permission denied as nobody' % self.md, r.stderr.decode())


if __name__ == '__main__':
    unittest.main()
