# SPDX-License-Identifier: ISC
"""--http: Mailpit's API v1, MailHog's subset, the wait, events, sessions
and faults, over real sockets with urllib and curl; every message sent by
smtplib and compared field by field with what Python's email package makes
of the same bytes (the /raw ones)."""
import email
import email.policy
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import unittest
from email.message import EmailMessage

from helpers import HOST, ServerTestCase, smtpd_path
from http_helpers import HTTPTestCase, simple, web_available

# A hostile message may take a sanitizer or valgrind build a while.
SLOW = 180
CHECK = os.environ.get('SMTPD_CHECK', '')       # make check's stage

PNG = (b'\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06'
       b'\x00\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01'
       b'\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82')


def rich_message():
    """multipart/alternative with a cid: image, a PDF, non-ASCII."""
    m = EmailMessage()
    m['From'] = 'Zoë Ann <ann@example.com>'
    m['To'] = 'Bob <bob@example.com>, carol@example.com'
    m['Cc'] = 'dan@example.com'
    m['Subject'] = 'Grüße, a report ✓'
    m['Message-ID'] = '<report-1@example.com>'
    m.set_content('Hello Bob,\nthe report is attached. Ünïcode.\n')
    m.add_alternative('<p>Hello <b>Bob</b> <img src="cid:logo@example.com"></p>\n',
                      subtype='html')
    m.get_payload()[1].add_related(PNG, 'image', 'png', cid='<logo@example.com>',
                                   filename='logo.png')
    m.add_attachment(b'%PDF-1.4 report\n' * 10, maintype='application', subtype='pdf',
                     filename='report ü.pdf')
    return m


class WebNoTest(ServerTestCase):
    """A build without the web interface says so, and does not start."""

    def test_http_is_refused_with_a_clear_message(self):
        if web_available():
            self.skipTest('built with the web interface')
        out = subprocess.run([smtpd_path(), '-n', '--http', '127.0.0.1:1', '127.0.0.1:1'],
                             capture_output=True, timeout=10)
        self.assertEqual(out.returncode, 1)
        self.assertIn(b'built without the web interface', out.stderr)


class MailpitAPITest(HTTPTestCase):

    def test_start_says_where_the_page_is(self):
        # The HTTP side listens with the SMTP side, so the start line can
        # name it: a newcomer learns the page's address without reading.
        srv = self.http_server()
        deadline = time.monotonic() + 5
        want = 'smtpd: the page and the HTTP API on http://%s:%d/' % (HOST, srv.http_port)
        while want not in srv.stderr() and time.monotonic() < deadline:
            time.sleep(0.02)
        self.assertIn(want, srv.stderr())

    def test_message_fields_match_pythons_email_package(self):
        srv = self.http_server()
        srv.send(rich_message(), rcpts=['bob@example.com', 'carol@example.com',
                                        'dan@example.com', 'secret@example.com'])
        lst = srv.get_json('/api/v1/messages?wait=5')
        self.assertEqual((lst['total'], lst['count'], lst['unread']), (1, 1, 1))
        s = lst['messages'][0]
        self.assertEqual(len(s['ID']), 22)
        self.assertTrue(s['ID'].isalnum())
        code, hdrs, raw = srv.request('GET', '/api/v1/message/%s/raw' % s['ID'])
        self.assertEqual(code, 200)
        py = email.message_from_bytes(raw, policy=email.policy.default)
        m = srv.get_json('/api/v1/message/' + s['ID'])
        self.assertEqual(m['Subject'], str(py['Subject']))
        self.assertEqual(s['Subject'], str(py['Subject']))
        self.assertEqual(m['MessageID'], 'report-1@example.com')
        self.assertEqual(m['From'], {'Name': 'Zoë Ann', 'Address': 'ann@example.com'})
        self.assertEqual([a['Address'] for a in m['To']],
                         [a.addr_spec for a in py['To'].addresses])
        self.assertEqual([a['Name'] for a in m['To']],
                         [a.display_name for a in py['To'].addresses])
        self.assertEqual([a['Address'] for a in m['Cc']], ['dan@example.com'])
        # Bcc: the envelope recipient that is in no header.
        self.assertEqual([a['Address'] for a in m['Bcc']], ['secret@example.com'])
        self.assertEqual(m['Text'].replace('\r\n', '\n'),
                         py.get_body(('plain',)).get_content().replace('\r\n', '\n'))
        self.assertEqual(m['HTML'].strip(), py.get_body(('html',)).get_content().strip())
        self.assertEqual(m['Size'], len(raw))
        self.assertEqual(s['Size'], len(raw))
        att = [p for p in py.iter_attachments()]
        pdf = [a for a in m['Attachments'] if a['FileName'] == 'report ü.pdf']
        self.assertEqual(len(pdf), 1)
        self.assertEqual(pdf[0]['ContentType'], 'application/pdf')
        self.assertEqual(pdf[0]['Size'], len(att[-1].get_content()))
        self.assertEqual(s['Attachments'], len(m['Attachments']))
        self.assertIn('logo@example.com', [i['ContentID'] for i in m['Inline'] + m['Attachments']])
        for key in ('ID', 'MessageID', 'Read', 'From', 'To', 'Cc', 'Bcc', 'ReplyTo',
                    'Subject', 'Created', 'Username', 'Tags', 'Size', 'Attachments',
                    'Snippet'):
            self.assertIn(key, s)
        for key in ('Date', 'Text', 'HTML', 'ReturnPath', 'Inline', 'ListUnsubscribe'):
            self.assertIn(key, m)
            self.assertNotIn(key, s)
        self.assertEqual(m['SMTP']['MailFrom'], 'ann@example.com')
        self.assertEqual(len(m['SMTP']['RcptTo']), 4)
        # The attachment, decoded, with its type and a safe file name.
        code, hdrs, data = srv.request('GET', '/api/v1/message/%s/part/%s'
                                       % (s['ID'], pdf[0]['PartID']))
        self.assertEqual(code, 200)
        self.assertEqual(data, att[-1].get_content())
        self.assertEqual(hdrs['Content-Type'], 'application/pdf')
        self.assertIn("filename*=UTF-8''report%20%C3%BC.pdf", hdrs['Content-Disposition'])
        # Reading it marked it read.
        self.assertTrue(srv.get_json('/api/v1/messages')['messages'][0]['Read'])

    def test_raw_is_the_message_as_sent(self):
        # Byte for byte what the client sent (CRLF line ends, the dot
        # unstuffed), though the class got Python's LF text: a test that
        # compares /raw with what it sent, or Size with its length, holds.
        srv = self.http_server()
        sent = (b'From: ann@example.com\r\nTo: bob@example.com\r\n'
                b'Subject: as sent\r\n\r\nline one\r\n.a dotted line\r\n'
                b'\r\nlast line\r\n')
        srv.send(sent)
        m = srv.get_json('/api/v1/message/latest?wait=5')
        code, hdrs, raw = srv.request('GET', '/api/v1/message/%s/raw' % m['ID'])
        self.assertEqual(code, 200)
        self.assertEqual(raw, sent)
        self.assertEqual(m['Size'], len(sent))

    def test_headers_raw_and_unknown_ids(self):
        srv = self.http_server()
        srv.send(simple('first'))
        mid = srv.get_json('/api/v1/message/latest?wait=5')['ID']
        h = srv.get_json('/api/v1/message/%s/headers' % mid)
        self.assertEqual(h['Subject'], ['first'])
        self.assertEqual(h['From'], ['ann@example.com'])
        code, hdrs, raw = srv.request('GET', '/api/v1/message/%s/raw?dl=1' % mid)
        self.assertIn(b'Subject: first', raw)
        self.assertIn('%s.eml' % mid, hdrs['Content-Disposition'])
        for path in ('/api/v1/message/NoSuchId', '/api/v1/message/NoSuchId/raw',
                     '/api/v1/message/%s/part/9' % mid, '/view/NoSuchId.html',
                     '/api/v1/nothing-here'):
            code, hdrs, body = srv.request('GET', path)
            self.assertEqual(code, 404, path)
            self.assertIn('Error', json.loads(body))
            self.assertEqual(hdrs['X-Content-Type-Options'], 'nosniff')

    def test_read_flags_delete_and_bad_json(self):
        srv = self.http_server()
        for i in range(3):
            srv.send(simple('m%d' % i))
        lst = srv.get_json('/api/v1/search?query=m2&wait=5')
        ids = [m['ID'] for m in srv.get_json('/api/v1/messages')['messages']]
        self.assertEqual(len(ids), 3)
        self.assertEqual(srv.request('PUT', '/api/v1/messages', {'IDs': ids[:2], 'Read': True})[0], 200)
        self.assertEqual(srv.get_json('/api/v1/messages')['unread'], 1)
        self.assertEqual(srv.request('PUT', '/api/v1/messages', {'Read': False})[0], 200)
        self.assertEqual(srv.get_json('/api/v1/messages')['unread'], 3)
        # Bad JSON: 400, and nothing deleted (safer than Mailpit).
        code, hdrs, body = srv.request('DELETE', '/api/v1/messages', '{"IDs": [',
                                       headers={'Content-Type': 'application/json'})
        self.assertEqual(code, 400)
        self.assertIn('Error', json.loads(body))
        self.assertEqual(srv.get_json('/api/v1/messages')['total'], 3)
        code, hdrs, body = srv.request('DELETE', '/api/v1/messages', {'IDs': [ids[0]]})
        self.assertEqual((code, body), (200, b''))
        self.assertEqual(srv.get_json('/api/v1/messages')['total'], 2)
        self.assertEqual(srv.request('DELETE', '/api/v1/messages')[0], 200)
        self.assertEqual(srv.get_json('/api/v1/messages')['total'], 0)
        self.assertTrue(lst['messages_count'] >= 1)

    def test_search_paging_and_delete_search(self):
        srv = self.http_server()
        for i in range(5):
            srv.send(simple('paging %d' % i, to='pat%d@example.com' % (i % 2)))
        srv.get_json('/api/v1/search?query=paging&wait=5&count=5')
        page = srv.get_json('/api/v1/messages?start=1&limit=2')
        self.assertEqual((page['total'], page['count'], page['start']), (5, 2, 1))
        self.assertEqual(page['messages'][0]['Subject'], 'paging 3')   # newest first
        hits = srv.get_json('/api/v1/search?query=to:pat0@example.com')
        self.assertEqual(hits['messages_count'], 3)
        self.assertEqual(hits['total'], 5)
        self.assertEqual(srv.request('GET', '/api/v1/search')[0], 400)
        self.assertEqual(srv.request('DELETE', '/api/v1/search?query=to:pat1@example.com')[0], 200)
        self.assertEqual(srv.get_json('/api/v1/messages')['total'], 3)

    def test_view_html_has_its_csp_and_cid_images_inline(self):
        srv = self.http_server()
        srv.send(rich_message())
        mid = srv.get_json('/api/v1/message/latest?wait=5')['ID']
        code, hdrs, body = srv.request('GET', '/view/%s.html' % mid)
        self.assertEqual(code, 200)
        self.assertTrue(hdrs['Content-Type'].startswith('text/html'))
        csp = hdrs['Content-Security-Policy']
        self.assertIn('sandbox', csp)
        self.assertIn("default-src 'none'", csp)
        self.assertIn('img-src data:;', csp)
        self.assertNotIn(b'cid:logo', body)
        self.assertIn(b'data:image/png;base64,', body)
        code, hdrs, body = srv.request('GET', '/view/%s.html?remote=1' % mid)
        self.assertIn('img-src data: http: https:', hdrs['Content-Security-Policy'])
        code, hdrs, body = srv.request('GET', '/view/%s.txt' % mid)
        self.assertTrue(hdrs['Content-Type'].startswith('text/plain'))
        self.assertIn('Ünïcode', body.decode())

    def test_endpoints_we_lack_answer_501(self):
        srv = self.http_server()
        for method, path in (('GET', '/api/v1/message/latest/html-check'),
                             ('GET', '/api/v1/message/x/link-check'),
                             ('GET', '/api/v1/message/x/sa-check'),
                             ('GET', '/api/v1/tags'), ('POST', '/api/v1/send'),
                             ('GET', '/api/v1/message/x/part/1/thumb')):
            code, hdrs, body = srv.request(method, path, b'{}' if method == 'POST' else None)
            self.assertEqual(code, 501, path)
            self.assertIn('not implemented', json.loads(body)['Error'])

    def test_the_page_is_served_with_its_csp(self):
        srv = self.http_server()
        code, hdrs, body = srv.request('GET', '/')
        self.assertEqual(code, 200)
        self.assertTrue(hdrs['Content-Type'].startswith('text/html'))
        self.assertIn("script-src 'self'", hdrs['Content-Security-Policy'])
        self.assertIn("frame-ancestors 'none'", hdrs['Content-Security-Policy'])
        self.assertEqual(hdrs['X-Content-Type-Options'], 'nosniff')
        self.assertEqual(srv.request('GET', '/ui/app.js')[0], 200)
        self.assertEqual(srv.request('GET', '/ui/../web.h')[0], 404)

    def test_info_and_webui(self):
        srv = self.http_server()
        info = srv.get_json('/api/v1/info')
        self.assertEqual(info['Messages'], 0)
        self.assertIn('Version', info)
        self.assertIn('MessageRelay', srv.get_json('/api/v1/webui'))


class WaitTest(HTTPTestCase):
    """wait=: at once, on arrival, on timeout, 50 at a time, and at stop."""

    def test_returns_at_once_when_the_message_is_there(self):
        srv = self.http_server()
        srv.send(simple('here', to='ann@example.com'), rcpts=['ann@example.com'])
        srv.get_json('/api/v1/search?query=here&wait=5')
        t = time.monotonic()
        m = srv.get_json('/api/v1/message/latest?query=to:ann@example.com&wait=10')
        self.assertLess(time.monotonic() - t, 2)
        self.assertEqual(m['Subject'], 'here')

    def test_returns_on_arrival(self):
        srv = self.http_server()
        threading.Timer(0.5, srv.send, (simple('late', to='late@example.com'),),
                        {'rcpts': ['late@example.com']}).start()
        t = time.monotonic()
        m = srv.get_json('/api/v1/message/latest?query=to:late@example.com&wait=10')
        elapsed = time.monotonic() - t
        self.assertEqual(m['Subject'], 'late')
        self.assertGreater(elapsed, 0.3)
        self.assertLess(elapsed, 5)

    def test_times_out_with_404(self):
        srv = self.http_server()
        t = time.monotonic()
        code, hdrs, body = srv.request('GET', '/api/v1/message/latest?query=to:nobody@x&wait=1')
        self.assertEqual(code, 404)
        self.assertGreaterEqual(time.monotonic() - t, 0.9)

    def test_search_waits_for_count(self):
        srv = self.http_server()

        def later():
            for i in range(3):
                time.sleep(0.2)
                srv.send(simple('batch %d' % i))
        threading.Thread(target=later).start()
        res = srv.get_json('/api/v1/search?query=batch&wait=10&count=3')
        self.assertEqual(res['messages_count'], 3)

    def test_fifty_concurrent_waiters_each_get_their_own(self):
        srv = self.http_server('--http-max-connections', '200')
        results = {}

        def wait(i):
            try:
                results[i] = srv.get_json(
                    '/api/v1/message/latest?query=to:user%d@example.com&wait=20' % i,
                    timeout=30)['Subject']
            except Exception as e:          # reported below
                results[i] = repr(e)
        threads = [threading.Thread(target=wait, args=(i,)) for i in range(50)]
        for t in threads:
            t.start()
        time.sleep(0.5)
        for i in range(50):
            srv.send(simple('for %d' % i, to='user%d@example.com' % i),
                     rcpts=['user%d@example.com' % i])
        for t in threads:
            t.join(40)
        self.assertEqual(results, {i: 'for %d' % i for i in range(50)})

    def test_stop_ends_the_waiters(self):
        srv = self.http_server()
        codes = []

        def wait():
            try:
                codes.append(srv.request('GET', '/api/v1/message/latest?query=to:x@y&wait=60',
                                         timeout=30)[0])
            except Exception as e:
                codes.append(repr(e))
        threads = [threading.Thread(target=wait) for _ in range(3)]
        for t in threads:
            t.start()
        time.sleep(0.5)
        t0 = time.monotonic()
        srv.stop()
        for t in threads:
            t.join(30)
        self.assertLess(time.monotonic() - t0, 10)
        self.assertEqual(srv.returncode, 0)
        self.assertEqual(len(codes), 3)


class EventsSessionsFaultsTest(HTTPTestCase):

    def test_events_stream_a_new_message(self):
        srv = self.http_server()
        s = socket.create_connection((HOST, srv.http_port), timeout=10)
        self.addCleanup(s.close)
        s.sendall(b'GET /api/v1/events HTTP/1.1\r\nHost: x\r\n\r\n')
        buf = b''
        while b'\r\n\r\n' not in buf:
            buf += s.recv(4096)
        self.assertIn(b'text/event-stream', buf)
        srv.send(simple('live one'))
        deadline = time.monotonic() + 10
        while b'live one' not in buf and time.monotonic() < deadline:
            buf += s.recv(4096)
        self.assertIn(b'event: new', buf)
        self.assertIn(b'"Subject":"live one"', buf)

    def test_sessions_show_a_fault_refusal(self):
        srv = self.http_server('--fault', 'rcpt:*@bounce.example=550 5.1.1 No such user')
        import smtplib
        with smtplib.SMTP(HOST, srv.port, timeout=10) as c:
            with self.assertRaises(smtplib.SMTPRecipientsRefused):
                c.sendmail('a@example.com', ['x@bounce.example'], simple())
        srv.send(simple('delivered'))
        mid = srv.get_json('/api/v1/message/latest?wait=5')['ID']
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            sessions = srv.get_json('/api/v1/sessions')['sessions']
            if len(sessions) >= 2 and all(x['How'] != 'open' for x in sessions):
                break
            time.sleep(0.05)
        refused = [x for x in sessions if 'x@bounce.example' in x['Transcript']]
        self.assertEqual(len(refused), 1)
        self.assertIn('550 5.1.1 No such user', refused[0]['Transcript'])
        self.assertIn('bounce.example', refused[0]['FaultRule'])
        ok = [x for x in sessions if mid in x['MessageIDs']]
        self.assertEqual(len(ok), 1)
        one = srv.get_json('/api/v1/sessions/%d' % ok[0]['ID'])
        self.assertEqual(one['MessageIDs'], [mid])
        self.assertEqual(srv.request('GET', '/api/v1/sessions/99999')[0], 404)

    def test_faults_and_chaos_change_the_rules_at_run_time(self):
        srv = self.http_server()
        import smtplib
        code, hdrs, body = srv.request('PUT', '/api/v1/faults', {'Rules': 'rcpt=oops'})
        self.assertEqual(code, 400)
        self.assertIn('Error', json.loads(body))
        res = srv.get_json('/api/v1/faults')
        self.assertEqual(res['Rules'], [])
        code, hdrs, body = srv.request('PUT', '/api/v1/faults',
                                       {'Rules': 'rcpt:*@no.example=550 5.1.1 Gone\n'})
        self.assertEqual(code, 200)
        self.assertEqual(json.loads(body)['Rules'], ['rcpt:*@no.example=550 5.1.1 Gone'])
        with smtplib.SMTP(HOST, srv.port, timeout=10) as c:
            with self.assertRaises(smtplib.SMTPRecipientsRefused) as cm:
                c.sendmail('a@example.com', ['x@no.example'], simple())
        self.assertEqual(cm.exception.recipients['x@no.example'][0], 550)
        # Mailpit's chaos: Recipient at 100% with 451.
        code, hdrs, body = srv.request('PUT', '/api/v1/chaos',
                                       {'Recipient': {'ErrorCode': 451, 'Probability': 100}})
        self.assertEqual(code, 200)
        chaos = json.loads(body)
        self.assertEqual(chaos['Recipient'], {'ErrorCode': 451, 'Probability': 100})
        self.assertEqual(chaos['Sender'], {'ErrorCode': 451, 'Probability': 0})
        with smtplib.SMTP(HOST, srv.port, timeout=10) as c:
            with self.assertRaises(smtplib.SMTPRecipientsRefused) as cm:
                c.sendmail('a@example.com', ['x@any.example'], simple())
        self.assertEqual(cm.exception.recipients['x@any.example'][0], 451)
        self.assertEqual(srv.request('PUT', '/api/v1/chaos', {'Sender': {'ErrorCode': 200}})[0], 400)
        self.assertEqual(srv.request('PUT', '/api/v1/chaos', {})[0], 200)
        srv.send(simple('after chaos'))
        self.assertEqual(srv.get_json('/api/v1/message/latest?wait=5')['Subject'], 'after chaos')

    def test_release_needs_the_option(self):
        srv = self.http_server()
        srv.send(simple('keep'))
        mid = srv.get_json('/api/v1/message/latest?wait=5')['ID']
        code, hdrs, body = srv.request('POST', '/api/v1/message/%s/release' % mid,
                                       {'To': ['z@example.com']})
        self.assertEqual(code, 403)
        self.assertIn('--release', json.loads(body)['Error'])

    def test_release_relays_to_the_upstream(self):
        up = self.http_server()
        srv = self.http_server('--release', remote='%s:%d' % (HOST, up.port))
        srv.send(simple('to release'))
        mid = srv.get_json('/api/v1/message/latest?wait=5')['ID']
        code, hdrs, body = srv.request('POST', '/api/v1/message/%s/release' % mid,
                                       {'To': ['zed@example.com']})
        self.assertEqual(code, 200, body)
        m = up.get_json('/api/v1/message/latest?wait=5')
        self.assertEqual(m['Subject'], 'to release')
        self.assertEqual(m['SMTP']['RcptTo'], ['zed@example.com'])

    def test_release_logs_in_to_the_upstream_with_relay_auth(self):
        # --release relays, so the relaying classes' --relay-auth applies
        # to it (and is not refused as meaningless with -c Sink).
        up = self.http_server('--auth-any', '--auth-plaintext', '--auth-required')
        srv = self.http_server('--release', '--relay-auth', 'rel:secret',
                               '--relay-auth-plaintext',
                               remote='%s:%d' % (HOST, up.port))
        srv.send(simple('released with a login'))
        mid = srv.get_json('/api/v1/message/latest?wait=5')['ID']
        code, hdrs, body = srv.request('POST', '/api/v1/message/%s/release' % mid,
                                       {'To': ['zed@example.com']})
        self.assertEqual(code, 200, body)
        m = up.get_json('/api/v1/message/latest?wait=5')
        self.assertEqual(m['Subject'], 'released with a login')


class StoreLimitsTest(HTTPTestCase):

    def test_eviction_by_count(self):
        srv = self.http_server('--max-messages', '3')
        for i in range(5):
            srv.send(simple('n%d' % i))
        srv.get_json('/api/v1/search?query=n4&wait=5')
        lst = srv.get_json('/api/v1/messages')
        self.assertEqual([m['Subject'] for m in lst['messages']], ['n4', 'n3', 'n2'])

    def test_eviction_by_bytes(self):
        srv = self.http_server('--max-store-size', '5000')
        for i in range(5):
            srv.send(simple('b%d' % i, body='x' * 2000 + '\r\n'))
        srv.get_json('/api/v1/search?query=b4&wait=5')
        lst = srv.get_json('/api/v1/messages')
        self.assertEqual([m['Subject'] for m in lst['messages']], ['b4', 'b3'])

    def test_the_class_still_runs(self):
        srv = self.http_server(cls='DebuggingServer')
        srv.send(simple('printed and stored'))
        self.assertEqual(srv.get_json('/api/v1/message/latest?wait=5')['Subject'],
                         'printed and stored')
        self.assertIn('Subject: printed and stored', srv.wait_for_messages(1)[0].content)

    def test_a_refused_message_is_not_stored(self):
        srv = self.http_server('--fault', 'dot=554 5.7.1 Rejected')
        import smtplib
        with smtplib.SMTP(HOST, srv.port, timeout=10) as c:
            with self.assertRaises(smtplib.SMTPDataError):
                c.sendmail('a@example.com', ['b@example.com'], simple())
        self.assertEqual(srv.get_json('/api/v1/messages')['total'], 0)


class HTTPSecurityTest(HTTPTestCase):

    def test_basic_auth_on_every_path(self):
        srv = self.http_server('--http-auth', 'ann:s3cret')
        for path in ('/api/v1/messages', '/', '/view/x.html', '/api/v2/messages', '/nothing'):
            code, hdrs, body = srv.request('GET', path)
            self.assertEqual(code, 401, path)
            self.assertIn('Basic', hdrs['WWW-Authenticate'])
            self.assertEqual(hdrs['X-Content-Type-Options'], 'nosniff')
        srv.auth = 'ann:wrong'
        self.assertEqual(srv.request('GET', '/api/v1/messages')[0], 401)
        srv.auth = 'ann:s3cret'
        self.assertEqual(srv.request('GET', '/api/v1/messages')[0], 200)

    def test_auth_file(self):
        d = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, d)
        path = os.path.join(d, 'login')
        with open(path, 'w') as f:
            f.write('# the login\n\nbob:pa:ss\n')
        srv = self.http_server('--http-auth-file', path)
        self.assertEqual(srv.request('GET', '/api/v1/info')[0], 401)
        srv.auth = 'bob:pa:ss'
        self.assertEqual(srv.request('GET', '/api/v1/info')[0], 200)

    def test_cors_only_when_asked(self):
        srv = self.http_server()
        code, hdrs, body = srv.request('GET', '/api/v1/info', headers={'Origin': 'http://a.example'})
        self.assertIsNone(hdrs['Access-Control-Allow-Origin'])
        srv2 = self.http_server('--http-cors', 'http://a.example')
        code, hdrs, body = srv2.request('GET', '/api/v1/info', headers={'Origin': 'http://a.example'})
        self.assertEqual(hdrs['Access-Control-Allow-Origin'], 'http://a.example')
        code, hdrs, body = srv2.request('OPTIONS', '/api/v1/messages',
                                        headers={'Origin': 'http://a.example',
                                                 'Access-Control-Request-Method': 'DELETE'})
        self.assertEqual(code, 204)
        self.assertIn('DELETE', hdrs['Access-Control-Allow-Methods'])

    def test_body_url_and_header_bounds(self):
        srv = self.http_server()
        # A body over 1 MiB is refused from its Content-Length, before it
        # is sent: the 413 comes without a byte of it.  (Sending it with
        # urllib raced the server's close: a broken pipe on a quiet machine.)
        with socket.create_connection((HOST, srv.http_port), timeout=5) as s:
            s.sendall(b'PUT /api/v1/messages HTTP/1.1\r\nHost: x\r\n'
                      b'Content-Type: application/json\r\n'
                      b'Content-Length: %d\r\n\r\n' % (1024 * 1024 + 1))
            answer = b''
            while b'\r\n' not in answer:
                chunk = s.recv(4096)
                if not chunk:
                    break
                answer += chunk
        self.assertTrue(answer.startswith(b'HTTP/1.1 413 '), answer[:80])
        # A URL past the bound: an error status or a closed connection.
        try:
            code = srv.request('GET', '/api/v1/messages?' + 'a' * 100000)[0]
            self.assertGreaterEqual(code, 400)
        except OSError:
            pass
        self.assertEqual(srv.request('GET', '/api/v1/info')[0], 200)

    def test_connection_limit(self):
        srv = self.http_server('--http-max-connections', '2')
        # Until the start-up probe's connection is gone, it holds a slot.
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                if srv.request('GET', '/api/v1/info', timeout=2)[0] == 200:
                    break
            except OSError:
                pass
            time.sleep(0.1)
        time.sleep(0.5)
        socks = [socket.create_connection((HOST, srv.http_port), timeout=5) for _ in range(2)]
        for s in socks:
            self.addCleanup(s.close)
            # Served, and kept open (HTTP/1.1 keep-alive): both count.
            s.sendall(b'GET /api/v1/info HTTP/1.1\r\nHost: x\r\n\r\n')
            self.assertTrue(s.recv(100).startswith(b'HTTP/1.1 200'))
        time.sleep(0.3)
        extra = socket.create_connection((HOST, srv.http_port), timeout=5)
        self.addCleanup(extra.close)
        extra.sendall(b'GET /api/v1/info HTTP/1.1\r\nHost: x\r\n\r\n')
        try:
            got = extra.recv(100)
        except OSError:
            got = b''
        self.assertEqual(got, b'')          # closed: the third is over the limit
        for s in socks:
            s.close()
        # The slots come back (each as its connection's thread ends).
        served = False
        deadline = time.monotonic() + 10
        while not served and time.monotonic() < deadline:
            try:
                served = srv.request('GET', '/api/v1/info', timeout=2)[0] == 200
            except OSError:
                time.sleep(0.1)
        self.assertTrue(served)

    def test_hostile_file_name_cannot_inject_headers(self):
        srv = self.http_server()
        raw = (b'From: a@example.com\r\nTo: b@example.com\r\nSubject: evil\r\n'
               b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n'
               b'--B\r\nContent-Type: text/plain\r\n\r\nhi\r\n'
               b'--B\r\nContent-Type: application/octet-stream\r\n'
               b'Content-Disposition: attachment; filename*=UTF-8\'\'..%2F..%2Fx%22%0D%0ASet-Cookie%3A%20a%3Db.sh\r\n'
               b'Content-Transfer-Encoding: base64\r\n\r\naGVsbG8=\r\n--B--\r\n')
        srv.send(raw)
        m = srv.get_json('/api/v1/message/latest?wait=5')
        pid = m['Attachments'][0]['PartID']
        code, hdrs, body = srv.request('GET', '/api/v1/message/%s/part/%s' % (m['ID'], pid))
        self.assertEqual((code, body), (200, b'hello'))
        self.assertIsNone(hdrs['Set-Cookie'])
        disp = hdrs['Content-Disposition']
        self.assertNotIn('/', disp.split('filename*=')[0])
        self.assertNotIn('\r', disp)
        self.assertNotIn('\n', disp)

    def test_html_part_is_a_download(self):
        srv = self.http_server()
        raw = (b'From: a@example.com\r\nSubject: h\r\nMIME-Version: 1.0\r\n'
               b'Content-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\n'
               b'Content-Type: text/plain\r\n\r\nx\r\n--B\r\nContent-Type: text/html\r\n'
               b'Content-Disposition: attachment; filename=x.html\r\n\r\n'
               b'<script>alert(1)</script>\r\n--B--\r\n')
        srv.send(raw)
        m = srv.get_json('/api/v1/message/latest?wait=5')
        code, hdrs, body = srv.request('GET', '/api/v1/message/%s/part/%s'
                                       % (m['ID'], m['Attachments'][0]['PartID']))
        self.assertEqual(hdrs['Content-Type'], 'application/octet-stream')
        self.assertTrue(hdrs['Content-Disposition'].startswith('attachment'))


class HostileMessagesTest(HTTPTestCase):
    """Every byte of a message may be hostile: the JSON stays valid and the
    server stays up."""

    def check_all_endpoints(self, srv):
        m = srv.get_json('/api/v1/message/latest?wait=10', timeout=SLOW)
        for path in ('/api/v1/messages', '/api/v1/message/%s' % m['ID'],
                     '/api/v1/message/%s/headers' % m['ID'], '/api/v2/messages',
                     '/api/v1/messages/%s' % m['ID'], '/api/v1/search?query=x'):
            code, hdrs, body = srv.request('GET', path, timeout=SLOW)
            self.assertEqual(code, 200, path)
            json.loads(body.decode('utf-8'))            # strict UTF-8 JSON
        for path in ('/view/%s.html' % m['ID'], '/view/%s.txt' % m['ID'],
                     '/api/v1/message/%s/raw' % m['ID']):
            self.assertIn(srv.request('GET', path, timeout=SLOW)[0], (200, 404))
        return m

    def test_invalid_utf8_and_nul(self):
        srv = self.http_server()
        srv.send(b'From: \xff\xfe <a@example.com>\r\nTo: b@example.com\r\n'
                 b'Subject: bad \xc3\x28 \x00 nul =?utf-8?b?/w==?=\r\n\r\nbody \xff\x00 x\r\n')
        m = self.check_all_endpoints(srv)
        self.assertIn('bad', m['Subject'])

    def test_ten_thousand_parts(self):
        if CHECK == 'valgrind':
            self.skipTest('too slow under valgrind; run under the sanitizers')
        srv = self.http_server()
        parts = b''.join(b'--B\r\nContent-Type: text/plain\r\n\r\np%d\r\n' % i
                         for i in range(10000))
        srv.send(b'From: a@example.com\r\nSubject: many\r\nMIME-Version: 1.0\r\n'
                 b'Content-Type: multipart/mixed; boundary=B\r\n\r\n' + parts + b'--B--\r\n')
        self.check_all_endpoints(srv)

    def test_nesting_a_hundred_deep(self):
        srv = self.http_server()
        head = b''.join(b'--B%d\r\nContent-Type: multipart/mixed; boundary=B%d\r\n\r\n'
                        % (i, i + 1) for i in range(100))
        tail = b''.join(b'--B%d--\r\n' % i for i in reversed(range(101)))
        srv.send(b'From: a@example.com\r\nSubject: deep\r\nMIME-Version: 1.0\r\n'
                 b'Content-Type: multipart/mixed; boundary=B0\r\n\r\n' + head +
                 b'--B100\r\nContent-Type: text/plain\r\n\r\ndeep text\r\n' + tail)
        self.check_all_endpoints(srv)

    def test_a_huge_header(self):
        if CHECK == 'valgrind':
            self.skipTest('too slow under valgrind; run under the sanitizers')
        srv = self.http_server()
        srv.send(b'From: a@example.com\r\nSubject: big\r\nX-Big: ' +
                 b'y' * (4 * 1024 * 1024) + b'\r\n\r\nbody\r\n')
        self.check_all_endpoints(srv)


class MailHogAPITest(HTTPTestCase):

    def test_shapes(self):
        srv = self.http_server()
        srv.send(rich_message(), rcpts=['bob@example.com'])
        srv.send(simple('second', frm='zed@other.example'), sender='zed@other.example')
        srv.get_json('/api/v1/search?query=second&wait=5')
        res = srv.get_json('/api/v2/messages')
        self.assertEqual((res['total'], res['count'], res['start']), (2, 2, 0))
        first = res['items'][0]
        self.assertEqual(first['From'], {'Relays': None, 'Mailbox': 'zed',
                                         'Domain': 'other.example', 'Params': ''})
        self.assertEqual(first['Content']['Headers']['Subject'], ['second'])
        self.assertEqual(first['Raw']['From'], 'zed@other.example')
        self.assertEqual(first['Raw']['To'], ['bob@example.com'])
        rich = res['items'][1]
        self.assertIsNotNone(rich['MIME'])
        self.assertGreaterEqual(len(rich['MIME']['Parts']), 2)
        for kind, query, n in (('from', 'zed@other', 1), ('to', 'bob@example.com', 2),
                               ('containing', 'report', 1)):
            r = srv.get_json('/api/v2/search?kind=%s&query=%s' % (kind, query))
            self.assertEqual(r['total'], n, kind)
        self.assertEqual(srv.request('GET', '/api/v2/search?kind=bad&query=x')[0], 400)
        mid = first['ID']
        self.assertEqual(srv.get_json('/api/v1/messages/' + mid)['ID'], mid)
        code, hdrs, body = srv.request('GET', '/api/v1/messages/%s/download' % mid)
        self.assertEqual(code, 200)
        self.assertIn(b'Subject: second', body)
        self.assertEqual(srv.request('DELETE', '/api/v1/messages/' + mid)[0], 200)
        self.assertEqual(srv.request('DELETE', '/api/v1/messages/' + mid)[0], 404)
        self.assertEqual(srv.get_json('/api/v2/messages')['total'], 1)


class CurlTest(HTTPTestCase):

    def test_the_readme_commands(self):
        if shutil.which('curl') is None:
            self.skipTest('no curl')
        srv = self.http_server()
        threading.Timer(0.3, srv.send, (simple('curl me', to='ann@example.com'),),
                        {'rcpts': ['ann@example.com']}).start()
        out = subprocess.run(['curl', '-sf', srv.url('/api/v1/message/latest?query=to:ann@example.com&wait=5')],
                             capture_output=True, timeout=30)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(json.loads(out.stdout)['Subject'], 'curl me')


if __name__ == '__main__':
    unittest.main()
