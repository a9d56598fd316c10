# SPDX-License-Identifier: ISC
"""Proves tests/mailman/mailman3-fixture.sh gives a working Mailman 3 core
and records how its LMTP runner answers (Mailman 3.3.8, Debian 12,
aiosmtpd 1.4.3).  The MailmanProxy tests rely on these facts.

Run as root:  python3 -m unittest tests/mailman/test_mailman_fixture.py -v
(any python3 works: this file only uses the stdlib and talks to Mailman
over TCP; the fixture runs Mailman under Debian's /usr/bin/python3).
"""

import os
import shutil
import smtplib
import subprocess
import sys
import tempfile
import time
import unittest
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURE = os.path.join(HERE, "mailman3-fixture.sh")

ERR_550 = (550, b"Requested action not taken: mailbox unavailable")
OK_RCPT = (250, b"Ok")          # RCPT accepted, and per-recipient DATA reply

# address -> (RCPT reply, queue the message lands in, msgdata marker)
ADDRESSES = {
    "test@example.com": (OK_RCPT, "in", "'to_list': True"),
    "TEST@Example.COM": (OK_RCPT, "in", "'to_list': True"),
    "test+anything@example.com": (OK_RCPT, "in", "'to_list': True"),  # VERP '+'
    "test-request@example.com": (OK_RCPT, "command", "'to_request': True"),
    "test-join@example.com": (OK_RCPT, "command", "'subaddress': 'join'"),
    "test-subscribe@example.com": (OK_RCPT, "command", "'subaddress': 'join'"),
    "test-leave@example.com": (OK_RCPT, "command", "'subaddress': 'leave'"),
    "test-unsubscribe@example.com": (OK_RCPT, "command", "'subaddress': 'leave'"),
    "test-confirm@example.com": (OK_RCPT, "command", "'subaddress': 'confirm'"),
    "test-confirm+abc123@example.com": (OK_RCPT, "command", "'subaddress': 'confirm'"),
    "test-owner@example.com": (OK_RCPT, "in", "'to_owner': True"),
    "test-bounces@example.com": (OK_RCPT, "bounces", "'subaddress': 'bounces'"),
    "test-bounces+u=x.example@example.com": (OK_RCPT, "bounces", "'subaddress': 'bounces'"),
    # rejected at RCPT time by Mailman itself
    "test-admin@example.com": (ERR_550, None, None),   # no -admin in Mailman 3
    "test-bogus@example.com": (ERR_550, None, None),
    "nolist@example.com": (ERR_550, None, None),
    "test@other.example": (ERR_550, None, None),       # list exists, wrong domain
}


def run_fixture(*args, timeout=900):
    return subprocess.run([FIXTURE, *args], check=True, timeout=timeout,
                          stdout=subprocess.PIPE, text=True).stdout


def message(msgid=None, headers=True, extra=None):
    msgid = msgid or "<%s@fixture.test>" % uuid.uuid4().hex
    lines = []
    if headers:
        lines += ["From: Alice <alice@client.example>",
                  "To: test@example.com",
                  "Date: Sat, 28 Nov 2026 12:00:00 +0000"]
    if msgid:
        lines.append("Message-ID: " + msgid)
    lines.append("Subject: fixture " + msgid)
    if extra:
        lines.append(extra)
    lines += ["", "hello", ""]
    return "\r\n".join(lines).encode()


@unittest.skipUnless(os.geteuid() == 0, "fixture installs/runs Mailman as root")
class MailmanFixtureTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        t0 = time.monotonic()
        out = run_fixture("install")
        cls.t_install = time.monotonic() - t0
        print("\n[fixture] install: %.1fs: %s" % (cls.t_install, out.strip()),
              file=sys.stderr)
        cls.dir = tempfile.mkdtemp(prefix="mailman-fixture-")
        t0 = time.monotonic()
        try:
            out = run_fixture("start", cls.dir, timeout=240)
        except BaseException:
            subprocess.run([FIXTURE, "stop", cls.dir], timeout=60)
            shutil.rmtree(cls.dir, ignore_errors=True)
            raise
        cls.t_start = time.monotonic() - t0
        env = dict(l.split("=", 1) for l in out.splitlines() if "=" in l)
        host, port = env["MAILMAN_LMTP"].rsplit(":", 1)
        cls.host, cls.port = host, int(port)
        assert os.path.realpath(env["MAILMAN_DIR"]) == os.path.realpath(cls.dir)
        print("[fixture] start: %.1fs: %s" % (cls.t_start, out.strip().replace("\n", " ")),
              file=sys.stderr)

    @classmethod
    def tearDownClass(cls):
        try:
            t0 = time.monotonic()
            run_fixture("stop", cls.dir, timeout=120)
            print("[fixture] stop: %.1fs" % (time.monotonic() - t0), file=sys.stderr)
            # nothing may be left running with this DIR's config
            cfg = os.path.join(os.path.realpath(cls.dir), "mailman.cfg")
            left = []
            for pid in filter(str.isdigit, os.listdir("/proc")):
                try:
                    with open("/proc/%s/cmdline" % pid, "rb") as fp:
                        argv = fp.read().split(b"\0")
                except OSError:
                    continue
                if cfg.encode() in argv:
                    left.append(pid)
            assert not left, "processes left: %s" % left
        finally:
            shutil.rmtree(cls.dir, ignore_errors=True)

    # -- helpers -----------------------------------------------------------

    def connect(self):
        c = smtplib.LMTP(self.host, self.port, timeout=30)
        self.addCleanup(self._close, c)
        code, _ = c.docmd("LHLO", "proxy.test")
        self.assertEqual(code, 250)
        return c

    @staticmethod
    def _close(c):
        try:
            c.quit()
        except smtplib.SMTPException:
            c.close()

    def queue(self, name):
        return set(run_fixture("queue", self.dir, name).split())

    def queues(self):
        return {q: self.queue(q) for q in ("in", "command", "bounces", "bad", "shunt")}

    def show(self, path):
        return run_fixture("show", path)

    def deliver(self, rcpts, data, mail_from="<alice@client.example>"):
        """One LMTP transaction; returns (rcpt replies, DATA replies).
        smtplib.LMTP.data() reads only ONE reply, so the per-recipient
        replies after the first are collected with getreply()."""
        c = self.connect()
        self.assertEqual(c.docmd("MAIL FROM:" + mail_from), (250, b"OK"))
        rcpt_replies = [c.docmd("RCPT TO:<%s>" % r) for r in rcpts]
        accepted = sum(1 for code, _ in rcpt_replies if code == 250)
        data_replies = []
        if accepted:
            data_replies.append(c.data(data))
            data_replies += [c.getreply() for _ in range(accepted - 1)]
        return rcpt_replies, data_replies

    def new_files(self, before):
        after = self.queues()
        return {q: sorted(after[q] - before[q]) for q in after if after[q] - before[q]}

    # -- tests ---------------------------------------------------------------

    def test_greeting_and_lhlo(self):
        c = smtplib.LMTP(self.host, self.port, timeout=30)
        self.addCleanup(self._close, c)
        # banner: "220 localhost GNU Mailman LMTP runner 2.0"
        self.assertEqual(c.docmd("HELO", "x")[0], 500)   # LMTP only: HELO/EHLO -> 500
        self.assertEqual(c.docmd("EHLO", "x")[0], 500)
        self.assertEqual(c.docmd("MAIL FROM:<a@b.example>"),
                         (503, b"Error: send HELO first"))
        code, text = c.docmd("LHLO", "proxy.test")
        self.assertEqual(code, 250)
        self.assertEqual(text.split(b"\n")[1:], [b"SIZE 33554432", b"8BITMIME", b"HELP"])
        self.assertEqual(c.docmd("MAIL FROM:<a@b.example> SIZE=40000000"),
                         (552, b"Error: message size exceeds fixed maximum message size"))
        self.assertEqual(c.docmd("MAIL FROM:<a@b.example>"), (250, b"OK"))
        self.assertEqual(c.docmd("DATA"), (503, b"Error: need RCPT command"))

    def test_rcpt_replies(self):
        c = self.connect()
        c.docmd("MAIL FROM:<alice@client.example>")
        for addr, (want, _, _) in ADDRESSES.items():
            with self.subTest(addr=addr):
                self.assertEqual(c.docmd("RCPT TO:<%s>" % addr), want)
        self.assertEqual(c.docmd("RSET"), (250, b"OK"))

    def test_each_address_lands_in_its_queue(self):
        for addr, (want, queue, marker) in ADDRESSES.items():
            if queue is None:
                continue
            with self.subTest(addr=addr):
                before = self.queues()
                rcpt, data = self.deliver([addr], message())
                self.assertEqual(rcpt, [want])
                self.assertEqual(data, [OK_RCPT])
                new = self.new_files(before)
                self.assertEqual(list(new), [queue], new)
                self.assertEqual(len(new[queue]), 1)
                dump = self.show(new[queue][0])
                self.assertIn(marker, dump)
                self.assertIn("'listid': 'test.example.com'", dump)
                self.assertIn("X-MailFrom: alice@client.example", dump)

    def test_one_reply_per_accepted_recipient(self):
        rcpts = ["test@example.com", "nolist@example.com", "test-request@example.com",
                 "test-admin@example.com", "test-join@example.com", "test-owner@example.com"]
        before = self.queues()
        rcpt, data = self.deliver(rcpts, message())
        self.assertEqual([r[0] for r in rcpt], [250, 550, 250, 550, 250, 250])
        # 4 accepted -> 4 lines "250 Ok", in RCPT order; rejected ones get none
        self.assertEqual(data, [OK_RCPT] * 4)
        new = self.new_files(before)
        self.assertEqual({q: len(f) for q, f in new.items()}, {"in": 2, "command": 2})

    def test_no_from_no_date_no_message_id_is_accepted(self):
        before = self.queues()
        rcpt, data = self.deliver(["test@example.com"],
                                  b"Subject: bare\r\n\r\nno From, Date or Message-ID\r\n")
        self.assertEqual(data, [OK_RCPT])
        new = self.new_files(before)
        self.assertEqual(list(new), ["in"])
        dump = self.show(new["in"][0])
        # Mailman invents a Message-ID and adds its hash + the envelope sender
        self.assertRegex(dump, r"(?m)^Message-ID: <[^>]+>$")
        self.assertRegex(dump, r"(?m)^Message-ID-Hash: [A-Z0-9]{32}$")
        self.assertRegex(dump, r"(?m)^X-Message-ID-Hash: [A-Z0-9]{32}$")
        self.assertIn("X-MailFrom: alice@client.example", dump)
        self.assertNotRegex(dump, r"(?m)^(From|Date): ")

    def test_headerless_and_empty_bodies_and_null_sender_are_accepted(self):
        for label, body, sender in [("no headers", b"\r\njust a body\r\n", "<alice@client.example>"),
                                    ("empty", b"", "<alice@client.example>"),
                                    ("null sender", message(), "<>")]:
            with self.subTest(label):
                before = self.queues()
                rcpt, data = self.deliver(["test@example.com"], body, mail_from=sender)
                self.assertEqual(data, [OK_RCPT])
                self.assertEqual(list(self.new_files(before)), ["in"])

    def test_message_id_is_kept(self):
        msgid = "<keep-%s@client.example>" % uuid.uuid4().hex
        before = self.queues()
        self.deliver(["test@example.com"], message(msgid))
        dump = self.show(self.new_files(before)["in"][0])
        self.assertIn("Message-ID: " + msgid, dump)

    def test_defective_message_gets_a_single_501_for_all_recipients(self):
        # Python's email parser flags a multipart without boundary as a defect;
        # Mailman then answers ONE "501 Message has defects" line no matter
        # how many recipients were accepted (RFC 2033 wants one per recipient)
        # and queues nothing.
        c = self.connect()
        c.docmd("MAIL FROM:<alice@client.example>")
        self.assertEqual(c.docmd("RCPT TO:<test@example.com>"), OK_RCPT)
        self.assertEqual(c.docmd("RCPT TO:<test-request@example.com>"), OK_RCPT)
        before = self.queues()
        body = message(extra="Content-Type: multipart/mixed").replace(b"hello", b"no boundary")
        self.assertEqual(c.data(body), (501, b"Message has defects"))
        # The next reply on the wire belongs to NOOP: no second 501 was sent.
        self.assertEqual(c.docmd("NOOP"), (250, b"OK"))
        self.assertEqual(self.new_files(before), {})


if __name__ == "__main__":
    unittest.main(verbosity=2)
