// SPDX-License-Identifier: ISC
// mailhog_client.js - npm's mailhog client, unchanged, pointed at smtpd --http.
// Usage: node mailhog_client.js NPM_DIR HOST PORT
// Prints one JSON object with what each call returned, for
// tests/integration/test_http_clients.py to check; exits 1 on an error.
'use strict';
const path = require('path');
const [npmDir, host, port] = process.argv.slice(2);
const mailhog = require(path.join(npmDir, 'node_modules', 'mailhog'))({ host, port: Number(port) });

async function main() {
  const out = {};
  const all = await mailhog.messages();
  out.total = all.total;
  out.count = all.count;
  out.subjects = all.items.map((m) => m.subject);
  const rich = all.items.find((m) => /report/.test(m.subject));
  out.rich = {
    subject: rich.subject, from: rich.from, to: rich.to, cc: rich.cc,
    text: rich.text, html: rich.html,
  };
  const withFile = all.items.find((m) => m.subject === 'with a file');
  out.files = withFile.attachments.map((a) => ({ name: a.name, type: a.type }));
  out.searchTo = (await mailhog.search('carol@example.com', 'to')).total;
  const lt = await mailhog.latestTo('plain@example.com');
  out.latestTo = lt && lt.subject;
  const lf = await mailhog.latestFrom('zed@other.example');
  out.latestFrom = lf && lf.subject;
  const lc = await mailhog.latestContaining('needle-in-body');
  out.latestContaining = lc && lc.subject;
  out.latestNone = await mailhog.latestTo('nobody@nowhere.example');
  await mailhog.deleteMessage(lt.ID);
  out.afterDeleteOne = (await mailhog.messages()).total;
  await mailhog.deleteAll();
  out.afterDeleteAll = (await mailhog.messages()).total;
  return out;
}

main().then((out) => {
  process.stdout.write(JSON.stringify(out));
}, (err) => {
  process.stderr.write(String(err && err.stack || err) + '\n');
  process.exit(1);
});
