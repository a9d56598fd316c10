#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""Send the browser tests' mail with smtplib, as a program under test would.

Usage: send_mail.py PORT KIND [ARG...]   (the server is on 127.0.0.1:PORT)

  rich               multipart/alternative (text + HTML with an inline cid:
                     image) + a PDF attachment, a non-ASCII subject, a Bcc
                     recipient that is in no header
  xss REMOTE_URL     script in the Subject, the From name, a file name and
                     the HTML body; the HTML also asks for REMOTE_URL
  plain SUBJECT TO   a short text message
  refused TO         one message the server is expected to refuse
  many N             N small messages on one connection

Prints one JSON object on stdout: what the browser test checks against
(the PDF's bytes as hex, the time of the last 250 in ms since the epoch,
or the refusal's code).
"""
import json
import smtplib
import sys
import time
from email.message import EmailMessage
from email.utils import make_msgid

HOST = '127.0.0.1'
RICH_SUBJECT = 'Grüße aus Köln: déjà vu ✓'

# A 1x1 red PNG and a minimal PDF, made here (no file from elsewhere).
PNG = bytes.fromhex(
    '89504e470d0a1a0a0000000d4948445200000001000000010802000000907753'
    'de0000000c4944415408d763f8cfc000000301010018dd8db00000000049454e44ae426082')
PDF = (b'%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n'
       b'2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\n'
       b'trailer<</Root 1 0 R>>\n%%EOF\n' + bytes(range(256)))


def rich():
    m = EmailMessage()
    m['Subject'] = RICH_SUBJECT
    m['From'] = 'Zoë Sender <zoe@example.com>'
    m['To'] = 'Ann Reader <ann@example.com>'
    m['Date'] = 'Tue, 08 Dec 2026 01:00:00 +0000'
    cid = make_msgid(domain='example.com')
    m.set_content('Hello Ann,\n\nthe report is attached. Ünïcödé text.\n')
    m.add_alternative(
        '<html><body><h1 id="greeting">Hello Ann</h1>'
        '<p>The report is attached.</p>'
        '<img id="logo" alt="logo" width="20" height="20" src="cid:%s">'
        '</body></html>' % cid[1:-1], subtype='html')
    m.get_payload()[1].add_related(PNG, 'image', 'png', cid=cid,
                                   disposition='inline', filename='logo.png')
    m.add_attachment(PDF, maintype='application', subtype='pdf',
                     filename='report.pdf')
    return m, ['ann@example.com', 'hidden@example.com']


def xss(remote):
    m = EmailMessage()
    m['Subject'] = '<img src=x onerror="top.document.title=\'pwned\';alert(1)">'
    m['From'] = '"<script>alert(2)</script>" <evil@example.com>'
    m['To'] = 'ann@example.com'
    m.set_content('text part <script>alert(3)</script>\n')
    m.add_alternative(
        '<html><body><p id="body">inert body</p>'
        '<script>top.document.title="pwned";alert(4)</script>'
        '<img src=x onerror="top.document.title=\'pwned\';alert(5)">'
        '<svg onload="alert(6)"></svg>'
        '<img id="remote" alt="tracker" src="%s/pixel.png">'
        '<link rel="stylesheet" href="%s/style.css">'
        '</body></html>' % (remote, remote), subtype='html')
    m.add_attachment(b'evil bytes\n', maintype='text', subtype='plain',
                     filename='<img src=x onerror=alert(7)>.txt')
    return m, ['ann@example.com']


def plain(subject, to):
    m = EmailMessage()
    m['Subject'] = subject
    m['From'] = 'bob@example.com'
    m['To'] = to
    m.set_content('About %s.\n' % subject)
    return m, [to]


def main():
    port, kind, args = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
    out = {}
    with smtplib.SMTP(HOST, port, timeout=30) as s:
        if kind == 'many':
            for i in range(int(args[0])):
                m, rcpts = plain('Message %05d' % i, 'user%d@example.com' % (i % 7))
                s.send_message(m, 'bob@example.com', rcpts)
        elif kind == 'refused':
            m, rcpts = plain('Should be refused', args[0])
            try:
                s.send_message(m, 'bob@example.com', rcpts)
                out['refused'] = None
            except smtplib.SMTPRecipientsRefused as e:
                out['refused'] = list(e.recipients.values())[0][0]
            except smtplib.SMTPResponseException as e:
                out['refused'] = e.smtp_code
        else:
            if kind == 'rich':
                m, rcpts = rich()
                out['pdf'] = PDF.hex()
                out['subject'] = RICH_SUBJECT
            elif kind == 'xss':
                m, rcpts = xss(args[0])
            else:
                m, rcpts = plain(args[0], args[1])
            s.send_message(m, 'sender@example.com', rcpts)
            out['t250'] = time.time() * 1000    # the 250 after the data
    print(json.dumps(out))


if __name__ == '__main__':
    main()
