// SPDX-License-Identifier: ISC
// mailpit_client.js - npm's mailpit-api, unchanged, pointed at smtpd --http.
// Usage: node mailpit_client.js NPM_DIR BASE_URL SCENARIO [USER:PASSWORD]
// Prints one JSON object with what each call returned, for
// tests/integration/test_http_clients.py to check; exits 1 on an error.
'use strict';
const path = require('path');
const [npmDir, base, scenario, login] = process.argv.slice(2);
const { MailpitClient } = require(path.join(npmDir, 'node_modules', 'mailpit-api'));
const opts = login ? { auth: { username: login.split(':')[0], password: login.split(':').slice(1).join(':') } } : undefined;
const mp = new MailpitClient(base, opts);

const scenarios = {
  // The mail is there already: every read, flag, chaos and delete call.
  async calls() {
    const out = {};
    out.info = await mp.getInfo();
    out.config = await mp.getConfiguration();
    out.list = await mp.listMessages();
    const id = out.list.messages.find((m) => m.Subject.startsWith('Grüße')).ID;
    out.search = await mp.searchMessages({ query: 'subject:report' });
    out.message = await mp.getMessageSummary(id);
    out.latest = await mp.getMessageSummary();
    out.headers = await mp.getMessageHeaders(id);
    out.source = await mp.getMessageSource(id);
    const pdf = out.message.Attachments.find((a) => a.FileName.endsWith('.pdf'));
    const blob = await mp.getMessageAttachment(id, pdf.PartID);
    out.attachment = { type: blob.type, size: blob.size };
    out.setUnread = await mp.setReadStatus({ IDs: [id], Read: false });
    out.afterUnread = (await mp.listMessages()).unread;
    out.html = await mp.renderMessageHTML(id);
    out.text = await mp.renderMessageText(id);
    out.chaosSet = await mp.setChaosTriggers({ Sender: { ErrorCode: 450, Probability: 0 } });
    out.chaosGet = await mp.getChaosTriggers();
    try {
      await mp.htmlCheck(id);
      out.htmlCheck = 'answered 200';
    } catch (e) {
      out.htmlCheck = String(e.message);
    }
    out.deleteBySearch = await mp.deleteMessagesBySearch({ query: 'subject:other' });
    out.afterSearchDelete = (await mp.listMessages()).total;
    out.deleteOne = await mp.deleteMessages({ IDs: [id] });
    out.afterDeleteOne = (await mp.listMessages()).total;
    out.deleteAll = await mp.deleteMessages();
    out.afterDeleteAll = (await mp.listMessages()).total;
    return out;
  },
  // The mail arrives after the call: the client's own polling wait.
  async wait() {
    const t = Date.now();
    const m = await mp.waitForMessage({ query: 'to:late@example.com' }, { timeout: 15000 });
    const all = await mp.waitForMessages({ query: 'late', count: 1 }, { timeout: 15000 });
    return { subject: m.Subject, ms: Date.now() - t, count: all.messages_count };
  },
};

scenarios[scenario]().then((out) => {
  process.stdout.write(JSON.stringify(out));
}, (err) => {
  process.stderr.write(String(err && err.stack || err) + '\n');
  process.exit(1);
});
