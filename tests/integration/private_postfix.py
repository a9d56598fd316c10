# SPDX-License-Identifier: ISC
"""A private Postfix instance for tests that need a real MTA as a client.

PrivatePostfix writes its own main.cf and master.cf into a temporary
config_directory, with its own queue_directory and data_directory beside
them, and starts its own master (`postfix -c DIR start`).  Nothing of the
system's Postfix is read or touched: no service is started, /etc/postfix
is only where the package keeps its postfix-files list (meta_directory).
It has no SMTP listener of its own; mail goes in with `sendmail -C DIR`
and out through its smtp or lmtp client to the server under test.

    with PrivatePostfix(relayhost=('127.0.0.1', port)) as pf:
        pf.sendmail('a@sender.example', ['b@example.com'], text)
        pf.wait_queue_empty(timeout=20)

stop() ends the master by its PID (postfix stop, then SIGKILL to its
process group if it lingers) and removes the directory.  Every wait has a
timeout.  Postfix needs root to start; available() says whether it can run
here.
"""
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time

POSTFIX = '/usr/sbin/postfix'
SENDMAIL = '/usr/sbin/sendmail'
POSTQUEUE = '/usr/sbin/postqueue'
STOP_TIMEOUT = 15.0

# Every service runs unchrooted, so nothing needs copying into the queue.
MASTER_CF = """\
pickup    unix  n       -       n       1       1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


def available():
    """True when a private Postfix can be started here (root, installed)."""
    return (os.geteuid() == 0 and os.access(POSTFIX, os.X_OK)
            and os.access(SENDMAIL, os.X_OK))


class PrivatePostfix:
    """A Postfix of the test's own, relaying to the server under test.

    relayhost: (host, port) every message goes to over SMTP, or None.
    transport: a transport_maps-style default, e.g. 'lmtp:inet:127.0.0.1:N'
    or 'lmtp:unix:/path', used instead of relayhost (default_transport).
    extra: more main.cf settings, a dict.
    """

    def __init__(self, relayhost=None, transport=None, extra=None):
        self.dir = tempfile.mkdtemp(prefix='smtpd-postfix-')
        self.config = os.path.join(self.dir, 'etc')
        self.queue = os.path.join(self.dir, 'queue')
        self.data = os.path.join(self.dir, 'data')
        self.maillog = os.path.join(self.dir, 'maillog')
        self.relayhost = relayhost
        self.transport = transport
        self.extra = dict(extra or {})
        self.master_pid = None

    # ---- configuration ------------------------------------------------

    def _main_cf(self):
        s = {
            'compatibility_level': '3.6',
            'config_directory': self.config,
            'queue_directory': self.queue,
            'data_directory': self.data,
            'meta_directory': '/etc/postfix',
            'command_directory': '/usr/sbin',
            'daemon_directory': '/usr/lib/postfix/sbin',
            'shlib_directory': '/usr/lib/postfix',
            'mail_owner': 'postfix',
            'setgid_group': 'postdrop',
            'myhostname': 'postfix-test.localdomain',
            'mydomain': 'localdomain',
            'myorigin': '$myhostname',
            'mydestination': '',
            'local_recipient_maps': '',
            'alias_maps': '',
            'alias_database': '',
            'inet_interfaces': 'loopback-only',
            'inet_protocols': 'ipv4',
            'mynetworks': '127.0.0.0/8',
            'maillog_file': self.maillog,
            'maillog_file_prefixes': self.dir,
            'biff': 'no',
            'smtp_tls_security_level': 'none',
            'smtputf8_enable': 'no',
            # Retry soon, so that a flush after a 4xx is seen at once.
            'queue_run_delay': '1s',
            'minimal_backoff_time': '1s',
            'maximal_backoff_time': '2s',
            'smtp_connect_timeout': '5s',
            'smtp_helo_timeout': '10s',
            'smtp_data_done_timeout': '20s',
            'lmtp_connect_timeout': '5s',
            'bounce_queue_lifetime': '1d',
            'maximal_queue_lifetime': '1d',
            'delay_warning_time': '0',
        }
        if self.relayhost is not None:
            host, port = self.relayhost
            s['relayhost'] = '[%s]:%d' % (host, port)
        if self.transport is not None:
            s['default_transport'] = self.transport
            s['relay_transport'] = self.transport
        s.update(self.extra)
        return ''.join('%s = %s\n' % kv for kv in s.items())

    def _postfix(self, *args, timeout=30):
        return subprocess.run([POSTFIX, '-c', self.config] + list(args),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              timeout=timeout)

    # ---- lifecycle ----------------------------------------------------

    def start(self):
        # Postfix's daemons (user postfix) must reach data_directory.
        os.chmod(self.dir, 0o755)
        os.makedirs(self.config)
        with open(os.path.join(self.config, 'main.cf'), 'w') as f:
            f.write(self._main_cf())
        with open(os.path.join(self.config, 'master.cf'), 'w') as f:
            f.write(MASTER_CF)
        os.makedirs(self.queue)
        os.makedirs(self.data)
        shutil.chown(self.data, 'postfix')
        # postfix start creates the queue's subdirectories (set-permissions)
        # and starts master, which writes queue/pid/master.pid.
        r = self._postfix('start', timeout=60)
        if r.returncode != 0:
            # Without a terminal, postfix says why only in its log.
            why = self.log()
            self.stop()
            raise RuntimeError('postfix start failed: %s %s %s' % (
                r.stdout.decode(errors='replace'),
                r.stderr.decode(errors='replace'), why))
        pidfile = os.path.join(self.queue, 'pid', 'master.pid')
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with open(pidfile) as f:
                    self.master_pid = int(f.read().split()[0])
                os.kill(self.master_pid, 0)
                break
            except (OSError, ValueError, IndexError):
                time.sleep(0.05)
        else:
            self.stop()
            raise RuntimeError('postfix master did not start')
        return self

    def stop(self):
        """Stop the master by its PID and remove everything."""
        if self.master_pid is not None:
            try:
                self._postfix('stop', timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                pass
            deadline = time.monotonic() + STOP_TIMEOUT
            while time.monotonic() < deadline and postfix_process_alive(self.master_pid):
                time.sleep(0.05)
            if postfix_process_alive(self.master_pid):
                try:
                    os.killpg(os.getpgid(self.master_pid), signal.SIGKILL)
                except OSError:
                    pass
            self.master_pid = None
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # ---- mail ---------------------------------------------------------

    def sendmail(self, sender, rcpts, text, timeout=20):
        """Submit a message with Postfix's sendmail, as a program would."""
        if isinstance(text, str):
            text = text.encode()
        r = subprocess.run([SENDMAIL, '-C', self.config, '-f', sender, '-i',
                            '--'] + list(rcpts), input=text,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=timeout)
        if r.returncode != 0:
            raise RuntimeError('sendmail failed: %s' %
                               r.stderr.decode(errors='replace'))

    def queue_ids(self):
        """The queue IDs that `postqueue -p` lists (deferred or active)."""
        r = subprocess.run([POSTQUEUE, '-c', self.config, '-p'],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=20)
        out = r.stdout.decode(errors='replace')
        return re.findall(r'^([0-9A-F]{6,})[*!]?\s', out, re.M)

    def queue_listing(self):
        r = subprocess.run([POSTQUEUE, '-c', self.config, '-p'],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=20)
        return r.stdout.decode(errors='replace')

    def flush(self):
        """postqueue -f: try every deferred message again now."""
        subprocess.run([POSTQUEUE, '-c', self.config, '-f'],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=20)

    def log(self):
        try:
            with open(self.maillog, errors='replace') as f:
                return f.read()
        except OSError:
            return ''

    def wait_log(self, pattern, timeout=20.0):
        """Wait until the maillog has a line matching pattern; the match."""
        deadline = time.monotonic() + timeout
        rx = re.compile(pattern, re.M)
        while time.monotonic() < deadline:
            m = rx.search(self.log())
            if m:
                return m
            time.sleep(0.1)
        return None

    def wait_queue_empty(self, timeout=20.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.queue_ids():
                return True
            time.sleep(0.2)
        return False


def postfix_process_alive(pid):
    """True while pid runs (a zombie left to init counts as gone)."""
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    # A zombie is gone for our purposes.
    try:
        with open('/proc/%d/stat' % pid) as f:
            return f.read().split(')')[-1].split()[0] != 'Z'
    except OSError:
        return True
