# SPDX-License-Identifier: ISC
"""The private Postfix fixture (private_postfix.py) that the fault, LMTP
and BDAT tests use as a real MTA: it relays through this server, and its
stop leaves no Postfix process and no directory behind."""
import os
import unittest

from helpers import ServerTestCase, testing_python_reference
from private_postfix import PrivatePostfix, available, postfix_process_alive


@unittest.skipUnless(available(), 'needs root and Postfix')
class PrivatePostfixTest(ServerTestCase):

    def test_postfix_relays_a_message_through_us_and_stops_cleanly(self):
        srv = self.server()
        pf = PrivatePostfix(relayhost=('127.0.0.1', srv.port))
        pf.start()
        try:
            pid = pf.master_pid
            pf.sendmail('me@sender.example', ['you@example.com'],
                        'Subject: via postfix\n\nhello from postfix\n')
            self.assertTrue(pf.wait_queue_empty(timeout=20),
                            pf.queue_listing() + pf.log())
            srv.wait_for_messages(1)
            out = srv.stdout()
            self.assertIn('Subject: via postfix', out)
            self.assertIn('hello from postfix', out)
            if not testing_python_reference():
                self.assertRegex(pf.log(), r'status=sent \(250 OK\)')
        finally:
            pf.stop()
        self.assertFalse(os.path.exists(pf.dir))
        self.assertFalse(postfix_process_alive(pid),
                         'postfix master still running')


if __name__ == '__main__':
    unittest.main()
