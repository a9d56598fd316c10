# SPDX-License-Identifier: ISC
"""The command line: -V, -h, bad arguments, classes, signals, -d, IPv6."""
import os
import pwd
import signal
import socket
import subprocess
import time
import unittest

from helpers import (Client, ServerDidNotStart, ServerTestCase, free_port, improvement,
                     ipv6_loopback_available, smtpd_path, testing_python_reference,
                     wait_until)

RUN_TIMEOUT = 10


class CommandLineTest(ServerTestCase):

    def run_smtpd(self, *args):
        """Run the binary with args to completion (it must exit on its own)."""
        try:
            return subprocess.run([smtpd_path()] + list(args), stdin=subprocess.DEVNULL,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  timeout=RUN_TIMEOUT, env=self.env())
        except subprocess.TimeoutExpired:
            self.fail('smtpd %s did not exit within %ds' % (' '.join(args), RUN_TIMEOUT))

    def env(self):
        return dict(os.environ, PYTHONWARNINGS='ignore')

    def spec(self):
        return '127.0.0.1:%d' % free_port()

    def test_version_option_prints_the_version_and_exits_0(self):
        r = self.run_smtpd('-V')
        self.assertEqual(r.returncode, 0)
        self.assertTrue(r.stdout.strip(), 'nothing printed on stdout')

    def test_version_matches_the_greeting(self):
        version = self.run_smtpd('-V').stdout.decode().split()[-1]
        c = self.client(self.server())
        self.assertEqual(c.greeting.split()[-1], version)

    def test_long_version_option(self):
        r = self.run_smtpd('--version')
        self.assertEqual(r.returncode, 0)
        self.assertTrue(r.stdout.strip())

    def test_help_option_prints_usage_and_exits_0(self):
        r = self.run_smtpd('-h')
        self.assertEqual(r.returncode, 0)
        text = (r.stdout + r.stderr).decode()
        self.assertRegex(text, r'(?i)usage')
        for option in ('-n', '-V', '-c', '-s', '-u', '-d', '-h'):
            self.assertIn(option, text)

    def test_bad_local_spec_exits_1(self):
        r = self.run_smtpd('-n', '-c', 'DebuggingServer', 'nocolon')
        self.assertEqual(r.returncode, 1)
        self.assertIn('Bad local spec: nocolon', r.stderr.decode())

    def test_bad_local_port_exits_1(self):
        r = self.run_smtpd('-n', '-c', 'DebuggingServer', '127.0.0.1:http')
        self.assertEqual(r.returncode, 1)
        self.assertIn('Bad local port: 127.0.0.1:http', r.stderr.decode())

    def test_invalid_size_exits_1(self):
        r = self.run_smtpd('-n', '-c', 'DebuggingServer', '-s', 'lots', self.spec())
        self.assertEqual(r.returncode, 1)
        self.assertIn('Invalid size: lots', r.stderr.decode())

    def test_unknown_class_exits_1_naming_it(self):
        r = self.run_smtpd('-n', '-c', 'NoSuchServer', self.spec())
        self.assertEqual(r.returncode, 1)
        self.assertIn('NoSuchServer', r.stderr.decode())

    def test_unknown_option_exits_1(self):
        r = self.run_smtpd('-n', '-Q', self.spec())
        self.assertEqual(r.returncode, 1)
        self.assertTrue(r.stderr.strip())

    @improvement('a long option without its argument says so (Python: "not recognized")')
    def test_long_option_without_its_argument_says_so(self):
        r = self.run_smtpd('-n', '--timeout')
        self.assertEqual(r.returncode, 1)
        self.assertIn('option --timeout needs an argument', r.stderr.decode())

    @improvement('an argument error is one line and a pointer to --help, not the whole usage')
    def test_argument_error_is_the_reason_and_a_pointer_to_help(self):
        for args in (['-n', '--timeout'], ['-n', '-Q'], ['-n', '--bogus'], ['-n', '-c'],
                     ['-n', 'nocolon'], ['-n', '--nosetuid=1'],
                     ['-n', self.spec(), 'localhost:25', 'extra:1']):
            with self.subTest(args=args):
                r = self.run_smtpd(*args)
                self.assertEqual(r.returncode, 1)
                lines = r.stderr.decode().splitlines()
                self.assertEqual(len(lines), 2, lines)
                self.assertRegex(lines[1], r"^Try '\S*smtpd --help' for more information\.$")
                self.assertEqual(r.stdout, b'')

    def test_argument_errors_keep_pythons_words(self):
        for args, text in ((['-n', '-Q'], 'option -Q not recognized'),
                           (['-n', '-c'], 'option -c requires argument'),
                           (['-n', 'nocolon'], 'Bad local spec: nocolon'),
                           (['-n', '127.0.0.1:x'], 'Bad local port: 127.0.0.1:x')):
            with self.subTest(args=args):
                self.assertIn(text, self.run_smtpd(*args).stderr.decode())

    def test_help_still_prints_the_whole_usage(self):
        r = self.run_smtpd('--help')
        self.assertEqual(r.returncode, 0)
        text = (r.stdout + r.stderr).decode()
        self.assertIn('Usage:', text)
        self.assertIn('--smtputf8', text)

    def test_too_many_arguments_exits_1(self):
        r = self.run_smtpd('-n', '-c', 'DebuggingServer', self.spec(), 'localhost:25', 'extra:1')
        self.assertEqual(r.returncode, 1)

    def test_remote_spec_is_accepted(self):
        srv = self.server(remote='localhost:25')
        self.assertEqual(srv.argv[-1], 'localhost:25')
        self.assertEqual(self.client(srv).cmd('NOOP'), '250 OK')

    @improvement('SIGTERM makes the server exit with status 0 (Python dies of the signal)')
    def test_sigterm_exits_0(self):
        srv = self.server()
        srv.signal(signal.SIGTERM)
        self.assertEqual(srv.wait(), 0)

    def test_sigint_exits_0(self):
        srv = self.server()
        srv.signal(signal.SIGINT)
        self.assertEqual(srv.wait(), 0)

    def test_sigterm_with_a_client_connected_exits(self):
        srv = self.server()
        c = self.ehlo_client(srv)
        c.cmd('MAIL FROM:<a@example.com>')
        srv.signal(signal.SIGTERM)
        self.assertIsNotNone(srv.wait(), 'still running 5s after SIGTERM')

    def test_debug_option_traces_the_conversation_on_stderr(self):
        srv = self.server('-d')
        c = self.client(srv)
        c.cmd('HELO trace-me.example')
        c.cmd('MAIL FROM:<tracer@example.com>')
        self.assertTrue(wait_until(lambda: 'tracer@example.com' in srv.stderr(), 5),
                        'no trace on stderr: %r' % srv.stderr()[-1000:])
        self.assertIn('trace-me.example', srv.stderr())

    def test_without_debug_option_stderr_stays_quiet(self):
        srv = self.server()
        c = self.client(srv)
        c.cmd('HELO quiet.example')
        c.cmd('QUIT')
        time.sleep(0.2)
        self.assertNotIn('quiet.example', srv.stderr())

    def test_port_in_use_fails_to_start(self):
        srv = self.server()
        r = self.run_smtpd('-n', '-c', 'DebuggingServer', '127.0.0.1:%d' % srv.port)
        self.assertNotEqual(r.returncode, 0)

    def test_default_output_is_on_stdout_only(self):
        srv = self.server()
        c = self.helo_client(srv)
        c.transaction('a@example.com', ['b@example.com'], b'Subject: x\r\n\r\nbody')
        srv.wait_for_messages(1)
        self.assertNotIn('MESSAGE FOLLOWS', srv.stderr())


@unittest.skipUnless(hasattr(os, 'SCHED_BATCH') and
                     os.path.isdir('/proc/self/task'),
                     'SCHED_BATCH and /proc are Linux\'s')
class OptionsThatDoNotApplyTest(ServerTestCase):
    """An option the class or the other options make meaningless is an
    error, not silently ignored."""

    run_smtpd = CommandLineTest.run_smtpd
    env = CommandLineTest.env
    spec = CommandLineTest.spec

    def setUp(self):
        super().setUp()
        if testing_python_reference():
            self.skipTest("Python's smtpd has none of these options")

    def refused(self, *args):
        r = self.run_smtpd('-n', *(args + (self.spec(),)))
        self.assertEqual(r.returncode, 1, args)
        return r.stderr.decode()

    def test_maildir_without_the_maildir_class(self):
        self.assertIn('--maildir needs -c Maildir (the class is Sink)',
                      self.refused('-c', 'Sink', '--maildir', '/tmp/never-made'))
        self.assertFalse(os.path.exists('/tmp/never-made'))

    def test_relay_auth_without_a_relaying_class(self):
        self.assertIn('--relay-auth needs a relaying class',
                      self.refused('-c', 'DebuggingServer', '--relay-auth', 'u:p'))
        self.assertIn('--relay-tls-insecure needs a relaying class',
                      self.refused('-c', 'Sink', '--relay-tls-insecure'))

    def test_relay_auth_plaintext_without_relay_auth(self):
        self.assertIn('--relay-auth-plaintext needs --relay-auth',
                      self.refused('-c', 'PureProxy', '--relay-auth-plaintext'))

    def test_mailman_options_with_another_class(self):
        self.assertIn('--mailman-lmtp needs -c MailmanProxy (the class is Sink)',
                      self.refused('-c', 'Sink', '--mailman-lmtp', '127.0.0.1:8024'))
        self.assertIn('--mailman-home needs -c MailmanProxy (the class is PureProxy)',
                      self.refused('-c', 'PureProxy', '--mailman-home', '/tmp'))

    def test_both_mailman_versions(self):
        self.assertIn('not both', self.refused('-c', 'MailmanProxy', '--mailman-lmtp',
                                               '127.0.0.1:8024', '--mailman-home', '/tmp'))

    def test_auth_fault_rule_without_auth(self):
        self.assertIn('the auth stage needs AUTH',
                      self.refused('--fault', 'auth=535 5.7.8 No'))

    def test_max_auth_failures_without_auth(self):
        self.assertIn('--max-auth-failures needs AUTH',
                      self.refused('--max-auth-failures', '5'))

    def test_options_that_apply_are_taken(self):
        from test_tls import tls_built
        srv = self.server('--relay-auth', 'u:p', '--relay-auth-plaintext',
                          *(['--relay-tls-insecure'] if tls_built() else []),
                          cls='PureProxy', remote='127.0.0.1:1')
        self.assertEqual(self.client(srv).cmd('NOOP'), '250 OK')


class SchedulingTest(ServerTestCase):
    """Workers run under the normal policy unless --sched-batch asks for
    SCHED_BATCH (which loses every wake-up to a busy neighbour)."""

    def worker_policies(self, *options):
        srv = self.server(*options, cls='Sink')
        c = self.client(srv)
        self.assertEqual(c.cmd('EHLO x.example').split('\n')[0][:3], '250')
        policies = set()
        for tid in os.listdir('/proc/%d/task' % srv.proc.pid):
            try:
                policies.add(os.sched_getscheduler(int(tid)))
            except OSError:
                pass                # the thread ended meanwhile
        return policies

    def test_workers_run_under_the_normal_policy_by_default(self):
        self.assertNotIn(os.SCHED_BATCH, self.worker_policies())

    @unittest.skipIf(os.environ.get('SMTPD_PORTABLE'),
                     'a PORTABLE build has no SCHED_BATCH, as macOS has none')
    def test_sched_batch_option_runs_the_workers_under_sched_batch(self):
        policies = self.worker_policies('--sched-batch')
        self.assertIn(os.SCHED_BATCH, policies)
        self.assertIn(os.SCHED_OTHER, policies)     # the listener's


class ClassTest(ServerTestCase):

    @improvement('the Sink class accepts messages and prints nothing (Python has no Sink)')
    def test_sink_accepts_and_discards(self):
        srv = self.server(cls='Sink')
        c = self.helo_client(srv)
        self.assertEqual(c.transaction('a@example.com', ['b@example.com'],
                                       b'Subject: sunk\r\n\r\nbody'), '250 OK')
        c.cmd('QUIT')
        srv.stop()
        self.assertNotIn('sunk', srv.stdout())
        self.assertNotIn('MESSAGE FOLLOWS', srv.stdout())

    @improvement('the default class is DebuggingServer (Python: PureProxy)')
    def test_default_class_is_debugging_server(self):
        srv = self.server(cls=None)
        c = self.helo_client(srv)
        c.transaction('a@example.com', ['b@example.com'], b'Subject: dflt\r\n\r\nbody')
        self.assertEqual(srv.wait_for_messages(1, timeout=3)[0].without_peer(),
                         ['Subject: dflt', '', 'body'])

    def test_debugging_server_class_by_name(self):
        srv = self.server(cls='DebuggingServer')
        c = self.helo_client(srv)
        c.transaction('a@example.com', ['b@example.com'], b'Subject: named\r\n\r\nbody')
        self.assertEqual(srv.wait_for_messages(1)[0].without_peer()[0], 'Subject: named')


class Ipv6Test(ServerTestCase):

    def setUp(self):
        super().setUp()
        if not ipv6_loopback_available():
            self.skipTest('no IPv6 loopback (::1) on this machine')

    @improvement('[::1]:PORT works as the local address (Python cannot parse it)')
    def test_ipv6_loopback_accepts_a_message(self):
        try:
            srv = self.server(host='::1')
        except ServerDidNotStart as e:
            self.fail(str(e))
        c = self.helo_client(srv)
        self.assertEqual(c.transaction('a@example.com', ['b@example.com'],
                                       b'Subject: v6\r\n\r\nbody'), '250 OK')
        self.assertEqual(srv.wait_for_messages(1, timeout=3)[0].content,
                         ['Subject: v6', 'X-Peer: ::1', '', 'body'])

    def test_empty_host_listens_on_ipv6_and_ipv4_on_one_port(self):
        srv = self.server(listen='')
        for i, host in enumerate(('::1', '127.0.0.1')):
            with socket.create_connection((host, srv.port), timeout=5) as s:
                s.settimeout(5)
                self.assertTrue(s.recv(512).startswith(b'220 '),
                                'no greeting on %s' % host)
        for host in ('::1', '127.0.0.1'):
            c = Client(host, srv.port)
            c.cmd('HELO me')
            self.assertEqual(c.transaction('a@example.com', ['b@example.com'],
                                           b'Subject: %s\r\n\r\nbody' % host.encode()),
                             '250 OK')
            c.close()
        # An IPv4 client is 127.0.0.1, not ::ffff:127.0.0.1.
        peers = [m.content[1] for m in srv.wait_for_messages(2, timeout=3)]
        self.assertEqual(peers, ['X-Peer: ::1', 'X-Peer: 127.0.0.1'])


class PrivilegeDropTest(ServerTestCase):
    """Without -n, as root: the running server is nobody on every count."""

    def setUp(self):
        super().setUp()
        if os.geteuid() != 0:
            self.skipTest('needs root: the server only drops privileges as root')

    def proc_status(self, pid):
        fields = {}
        with open('/proc/%d/status' % pid) as f:
            for line in f:
                key, _, value = line.partition(':')
                fields[key] = value.split()
        return fields

    def test_server_run_as_root_becomes_nobody_with_no_groups(self):
        nobody = pwd.getpwnam('nobody')
        srv = self.server(cls='Sink', nosetuid=False)
        status = self.proc_status(srv.proc.pid)
        self.assertEqual(status['Uid'], [str(nobody.pw_uid)] * 4)
        self.assertEqual(status['Gid'], [str(nobody.pw_gid)] * 4)
        self.assertEqual(status['Groups'], [])
        # Still serving, as nobody.
        c = self.helo_client(srv)
        self.assertEqual(c.transaction('a@example.com', ['b@example.com'],
                                       b'Subject: dropped\r\n\r\nbody'), '250 OK')


if __name__ == '__main__':
    unittest.main()
