// SPDX-License-Identifier: ISC
// scenarios.js - the web page tested in a real browser: Debian's chromium
// driven by npm's playwright-core, against a running `smtpd --http`.
//
//   node scenarios.js SCENARIO
//
// tests/integration/test_webui.py starts the server and runs one scenario
// per test, with the environment:
//   SMTPD_HTTP       the page's base URL, http://127.0.0.1:PORT
//   SMTPD_SMTP_PORT  the server's SMTP port (mail is sent with smtplib,
//                    by send_mail.py beside this file)
//   CHROMIUM         the browser (default /usr/lib/chromium/chromium)
//   PLAYWRIGHT_CORE  where playwright-core is installed
//   SMTPD_WEBUI_LAX  set: timings are measured and printed, not asserted
//                    (a server under valgrind or a sanitizer)
//   SCREENSHOT       for the `screenshot' scenario: the PNG to write
// It prints `ok SCENARIO' and measurements, or the failure, and exits 1
// on failure.
'use strict';
const assert = require('assert');
const http = require('http');
const path = require('path');
const { execFile } = require('child_process');
const { chromium } = require(process.env.PLAYWRIGHT_CORE || 'playwright-core');

const BASE = process.env.SMTPD_HTTP;
const SMTP_PORT = process.env.SMTPD_SMTP_PORT;
const LAX = !!process.env.SMTPD_WEBUI_LAX;
const WAIT = LAX ? 30000 : 5000;         // the longest wait for the page

// sendMail - run send_mail.py (smtplib); its JSON answer
function sendMail(...args) {
  return new Promise((resolve, reject) => {
    execFile('python3', [path.join(__dirname, 'send_mail.py'), SMTP_PORT, ...args],
      { timeout: 600000, maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
        if (err) reject(new Error('send_mail.py ' + args.join(' ') + ': ' + err.message + stderr));
        else resolve(JSON.parse(stdout));
      });
  });
}

// api - a JSON request to the server from node (not the page)
async function api(p, opts) {
  const r = await fetch(BASE + p, opts);
  assert.ok(r.ok, p + ': ' + r.status);
  const t = await r.text();
  return t ? JSON.parse(t) : null;
}

// within - assert a measured time, or only report it when LAX
function within(what, ms, limit) {
  console.log('measured: ' + what + ' ' + ms.toFixed(0) + ' ms (limit ' + limit + ' ms)');
  if (!LAX) assert.ok(ms < limit, what + ' took ' + ms.toFixed(0) + ' ms, over ' + limit + ' ms');
}

// rows - the list's rows
const rows = (page) => page.locator('#list li.row');

// watch - record what should never happen: a dialog (alert), a title
// changed by a message's script, a page error
function watch(page) {
  const bad = [];
  page.on('dialog', (d) => { bad.push('dialog: ' + d.message()); d.dismiss().catch(() => {}); });
  page.on('pageerror', (e) => bad.push('page error: ' + e.message));
  return bad;
}

const scenarios = {};

// A message sent with smtplib appears without a reload and opens: HTML
// (cid: image inline), Text, Source, Headers, Attachments (the PDF's bytes),
// the envelope with the Bcc recipient marked.
scenarios.rich = async (browser) => {
  const page = await browser.newPage();
  const bad = watch(page);
  await page.goto(BASE + '/');
  await page.getByRole('searchbox', { name: 'Search' }).waitFor();
  await page.waitForFunction(() => document.title === 'smtpd');
  await page.waitForTimeout(300);        // the event stream is open
  const sent = await sendMail('rich');
  const row = rows(page).filter({ hasText: sent.subject });
  await row.waitFor({ timeout: WAIT });
  within('SMTP 250 to the row on the page', Date.now() - sent.t250, 500);
  assert.strictEqual(await page.title(), '(1) smtpd');
  assert.ok(await row.evaluate((li) => li.classList.contains('unread')), 'the new row is unread');
  assert.match(await row.innerText(), /Zoë Sender/);
  assert.strictEqual(await row.getByRole('img', { name: '1 attachment' }).count(), 1);

  await row.getByRole('link').click();
  await page.getByRole('heading', { name: sent.subject }).waitFor();
  assert.match(page.url(), /#\/message\//);
  await page.waitForFunction(() => document.title === 'smtpd');   // read now

  // HTML: rendered in the sandboxed frame, the cid: image loaded from the message.
  const frameEl = page.locator('#html-frame');
  assert.strictEqual(await frameEl.getAttribute('sandbox'), '');
  const frame = page.frameLocator('#html-frame');
  await frame.locator('#greeting').waitFor({ timeout: WAIT });
  assert.strictEqual(await frame.locator('#greeting').innerText(), 'Hello Ann');
  await page.waitForFunction(() => true);
  const imgOk = await frame.locator('#logo').evaluate((img) =>
    new Promise((res) => (img.complete ? res(img.naturalWidth) : (img.onload = () => res(img.naturalWidth), img.onerror = () => res(0)))));
  assert.strictEqual(imgOk, 1, 'the cid: image shows (1x1 PNG)');

  await page.getByRole('tab', { name: 'Text' }).click();
  await page.locator('#m-text').filter({ hasText: 'the report is attached. Ünïcödé text.' }).waitFor();

  await page.getByRole('tab', { name: 'Source' }).click();
  await page.locator('#m-source').filter({ hasText: 'multipart/alternative' }).waitFor();

  await page.getByRole('tab', { name: 'Headers' }).click();
  const subj = page.locator('#m-headers tr').filter({ has: page.locator('th', { hasText: /^Subject$/ }) });
  await subj.first().waitFor();
  assert.strictEqual(await subj.first().locator('td').innerText(), sent.subject);

  await page.getByRole('tab', { name: 'Attachments' }).click();
  const link = page.getByRole('link', { name: 'Download report.pdf' });
  await link.waitFor();
  const [download] = await Promise.all([page.waitForEvent('download'), link.click()]);
  const fs = require('fs');
  const saved = await download.path();
  assert.strictEqual(fs.readFileSync(saved).toString('hex'), sent.pdf, 'the PDF downloads byte for byte');
  assert.strictEqual(download.suggestedFilename(), 'report.pdf');
  assert.match(await page.locator('#m-attachments').innerText(), /application\/pdf/);

  // Ours: the envelope, Bcc marked; a link to the session.
  await page.locator('#m-smtp summary').click();
  const smtp = page.locator('#m-smtp-fields');
  await smtp.filter({ hasText: '<sender@example.com>' }).waitFor();
  const hidden = smtp.locator('li', { hasText: '<hidden@example.com>' });
  assert.strictEqual(await hidden.locator('.tag', { hasText: 'Bcc' }).count(), 1, 'Bcc recipient marked');
  assert.match(await smtp.innerText(), /127\.0\.0\.1/);
  const sessionLink = smtp.getByRole('link', { name: /^Session / });
  await sessionLink.waitFor({ timeout: WAIT });
  await sessionLink.click();
  await page.locator('#sessions details[open] pre').filter({ hasText: 'RCPT TO:<hidden@example.com>' }).waitFor();
  assert.deepStrictEqual(bad, []);
};

// Script in the Subject, the From name, a file name and the HTML body is
// shown as text and never runs; the HTML's remote image is fetched only
// after "Load remote content".
scenarios.xss = async (browser) => {
  const hits = [];
  const remote = http.createServer((req, res) => { hits.push(req.url); res.end(); });
  await new Promise((r) => remote.listen(0, '127.0.0.1', r));
  const remoteURL = 'http://127.0.0.1:' + remote.address().port;
  try {
    const page = await browser.newPage();
    const bad = watch(page);
    const resp = await page.goto(BASE + '/');
    const csp = resp.headers()['content-security-policy'] || '';
    assert.match(csp, /script-src 'self'/);
    assert.match(csp, /frame-ancestors 'none'/);
    await page.waitForTimeout(300);
    await sendMail('xss', remoteURL);
    const subject = '<img src=x onerror="top.document.title=\'pwned\';alert(1)">';
    const row = rows(page).filter({ hasText: subject });
    await row.waitFor({ timeout: WAIT });
    assert.match(await row.innerText(), /<script>alert\(2\)<\/script>/);
    await row.getByRole('link').click();
    await page.getByRole('heading', { name: subject }).waitFor();
    await page.frameLocator('#html-frame').locator('#body').waitFor({ timeout: WAIT });
    await page.getByRole('tab', { name: 'Attachments' }).click();
    await page.locator('#m-attachments td', { hasText: '<img src=x onerror=alert(7)>.txt' }).waitFor();
    await page.getByRole('tab', { name: 'Text' }).click();
    await page.getByRole('tab', { name: 'HTML' }).click();
    await page.waitForTimeout(500);
    // Nothing of theirs ran in the page's origin, nothing remote was fetched.
    assert.deepStrictEqual(bad, []);
    assert.strictEqual(await page.title(), 'smtpd');
    assert.strictEqual(await page.locator('#list img, #m-fields img, h1 img, script:not([src])').count(), 0);
    assert.deepStrictEqual(hits, [], 'no remote fetch before "Load remote content"');
    // The frame has no script: its own handlers did not run either.
    const ran = await page.frameLocator('#html-frame').locator('body').evaluate(() => document.title);
    assert.notStrictEqual(ran, 'pwned');
    // The user asks: now the remote image loads (and still no script runs).
    await page.getByRole('button', { name: 'Load remote content' }).click();
    const deadline = Date.now() + WAIT;
    while (!hits.includes('/pixel.png') && Date.now() < deadline) await page.waitForTimeout(50);
    assert.ok(hits.includes('/pixel.png'), 'remote image fetched after the click: ' + hits);
    await page.waitForTimeout(300);
    assert.deepStrictEqual(bad, []);
    assert.strictEqual(await page.title(), 'smtpd');
  } finally {
    remote.close();
  }
};

// The search box narrows the list; the query is in the URL (bookmark, reload).
scenarios.search = async (browser) => {
  await sendMail('plain', 'alpha report', 'ann@example.com');
  await sendMail('plain', 'beta invoice', 'bob@example.org');
  await sendMail('plain', 'gamma alpha', 'cy@example.net');
  const page = await browser.newPage();
  const bad = watch(page);
  await page.goto(BASE + '/');
  await page.waitForFunction(() => document.querySelectorAll('#list li.row').length === 3, null, { timeout: WAIT });
  await page.keyboard.press('/');
  const box = page.getByRole('searchbox', { name: 'Search' });
  assert.ok(await box.evaluate((e) => e === document.activeElement), '/ focuses the search box');
  await box.fill('subject:alpha');
  await box.press('Enter');
  await page.waitForFunction(() => document.querySelectorAll('#list li.row').length === 2, null, { timeout: WAIT });
  assert.match(decodeURIComponent(page.url()), /q=subject:alpha/);
  await box.fill('to:bob@example.org');
  await box.press('Enter');
  await page.waitForFunction(() => document.querySelectorAll('#list li.row').length === 1, null, { timeout: WAIT });
  assert.match(await rows(page).innerText(), /beta invoice/);
  // A bookmark of the search opens it again.
  await page.reload();
  await page.waitForFunction(() => document.querySelectorAll('#list li.row').length === 1, null, { timeout: WAIT });
  assert.strictEqual(await box.inputValue(), 'to:bob@example.org');
  await box.fill('nothing-matches-this');
  await box.press('Enter');
  await page.getByText('No messages match this search.').waitFor();
  await box.fill('');
  await box.press('Enter');
  await page.waitForFunction(() => document.querySelectorAll('#list li.row').length === 3, null, { timeout: WAIT });
  assert.deepStrictEqual(bad, []);
};

// Delete one (button and key), mark unread, delete all (confirmed).
scenarios.delete = async (browser) => {
  for (const s of ['one', 'two', 'three', 'four']) await sendMail('plain', 'message ' + s, 'ann@example.com');
  const page = await browser.newPage();
  const dialogs = [];
  page.on('dialog', (d) => { dialogs.push(d.message()); d.accept(); });
  await page.goto(BASE + '/');
  await page.waitForFunction(() => document.querySelectorAll('#list li.row').length === 4, null, { timeout: WAIT });
  assert.strictEqual(await page.title(), '(4) smtpd');
  // Open the newest; mark it unread again; delete it with the button.
  await rows(page).first().getByRole('link').click();
  await page.getByRole('heading', { name: 'message four' }).waitFor();
  await page.waitForFunction(() => document.title === '(3) smtpd');
  await page.getByRole('button', { name: 'Mark unread' }).click();
  await page.waitForFunction(() => document.title === '(4) smtpd');
  await page.getByRole('button', { name: 'Mark read' }).waitFor();
  await page.getByRole('button', { name: 'Delete', exact: true }).click();
  await page.waitForFunction(() => document.querySelectorAll('#list li.row').length === 3, null, { timeout: WAIT });
  // The next one is open now; j moves on, Delete deletes it.
  await page.getByRole('heading', { name: 'message three' }).waitFor();
  await page.locator('body').click({ position: { x: 1, y: 1 } }).catch(() => {});
  await page.keyboard.press('j');
  await page.getByRole('heading', { name: 'message two' }).waitFor();
  await page.keyboard.press('ArrowDown');
  await page.getByRole('heading', { name: 'message one' }).waitFor();
  await page.keyboard.press('ArrowUp');
  await page.getByRole('heading', { name: 'message two' }).waitFor();
  await page.keyboard.press('k');
  await page.getByRole('heading', { name: 'message three' }).waitFor();
  await page.keyboard.press('Delete');
  await page.waitForFunction(() => document.querySelectorAll('#list li.row').length === 2, null, { timeout: WAIT });
  await page.getByRole('button', { name: 'Delete all' }).click();
  await page.getByText('No messages.').waitFor({ timeout: WAIT });
  assert.strictEqual(dialogs.length, 1, 'Delete all asks first');
  assert.strictEqual((await api('/api/v1/messages')).total, 0);
  assert.strictEqual(await page.title(), 'smtpd');
};

// A fault rule written on the page refuses the next message; the Sessions
// view shows the refusal, the rule and the transcript, without a reload.
scenarios.faults = async (browser) => {
  const page = await browser.newPage();
  const bad = watch(page);
  await page.goto(BASE + '/#/faults');
  const box = page.getByRole('textbox', { name: 'Fault rules' });
  await box.waitFor();
  await page.getByText('The rule language').click();
  await page.getByText('STAGE[:MATCH][#N[+]]=ACTION[@P%]').waitFor();
  const rule = 'rcpt:*@refused.example=550 5.1.1 No such user here';
  await box.fill(rule);
  await page.getByRole('button', { name: 'Save rules' }).click();
  await page.getByText('Saved').waitFor({ timeout: WAIT });
  await page.reload();
  await page.waitForFunction((r) => document.getElementById('faults').value.includes(r), rule, { timeout: WAIT });
  await page.getByRole('link', { name: 'Sessions' }).click();
  await page.getByRole('heading', { name: 'Sessions' }).waitFor();
  await page.waitForTimeout(300);
  const sent = await sendMail('refused', 'who@refused.example');
  assert.strictEqual(sent.refused, 550);
  const s = page.locator('#sessions li', { hasText: 'fault' }).first();
  await s.waitFor({ timeout: WAIT });
  assert.match(await s.innerText(), /550/);
  await s.locator('summary').click();
  await s.locator('pre', { hasText: 'S: 550 5.1.1 No such user here' }).waitFor();
  assert.match(await s.innerText(), /refused\.example/);
  // A bad rule is refused with the server's reason, and the old ones stay.
  await page.goto(BASE + '/#/faults');
  await box.fill('nonsense');
  await page.getByRole('button', { name: 'Save rules' }).click();
  await page.getByText('Not saved.').waitFor({ timeout: WAIT });
  assert.ok(await page.locator('#error').isVisible());
  await box.fill('');
  await page.getByRole('button', { name: 'Save rules' }).click();
  await page.getByText('Saved').waitFor({ timeout: WAIT });
  assert.strictEqual((await sendMail('plain', 'after', 'ok@refused.example')).refused, undefined);
  assert.deepStrictEqual(bad, []);
};

// 10,000 stored messages: the first screen within 1 s; paging works.
scenarios.many = async (browser) => {
  const n = parseInt(process.env.SMTPD_WEBUI_MANY || '10000', 10);
  await sendMail('many', String(n));
  assert.strictEqual((await api('/api/v1/messages?limit=1')).total, n);
  // The best of five loads: this machine is shared, and one slow load
  // says more about the neighbours than about the page (whose work does
  // not grow with the store: it asks for one page of 50).
  let best = Infinity;
  let page;
  for (let i = 0; i < 5; i++) {
    if (page) await page.close();
    page = await browser.newPage();
    const t0 = Date.now();
    await page.goto(BASE + '/');
    await page.waitForFunction(() => document.querySelectorAll('#list li.row').length === 50, null, { timeout: WAIT * 4 });
    const ms = Date.now() - t0;
    console.log('measured: load ' + (i + 1) + ' ' + ms + ' ms');
    best = Math.min(best, ms);
  }
  within('first screen with ' + n + ' messages (best of 5)', best, 1000);
  assert.match(await rows(page).first().innerText(), new RegExp('Message ' + String(n - 1).padStart(5, '0')));
  assert.strictEqual(await page.locator('#range').innerText(), '1–50 of ' + n);
  await page.getByRole('button', { name: 'Older messages' }).click();
  await page.locator('#range', { hasText: '51–100 of ' + n }).waitFor({ timeout: WAIT });
  assert.strictEqual(await page.title(), '(' + n + ') smtpd');
};

// 375 px wide and dark: no sideways scrolling, one pane at a time, dark
// colours; every control has an accessible name.
scenarios.layout = async (browser) => {
  await sendMail('rich');
  const ctx = await browser.newContext({ viewport: { width: 375, height: 700 }, colorScheme: 'dark' });
  const page = await ctx.newPage();
  await page.goto(BASE + '/');
  await rows(page).first().waitFor({ timeout: WAIT });
  const wide = () => page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(await wide() <= 375, 'list fits 375 px: ' + await wide());
  const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  const [r, g, b] = bg.match(/\d+/g).map(Number);
  assert.ok(r + g + b < 200, 'dark background in dark mode: ' + bg);
  await rows(page).first().getByRole('link').click();
  await page.locator('#message-pane h1').waitFor();
  assert.ok(!(await page.locator('#list-pane').isVisible()), 'narrow: the list gives way to the message');
  for (const t of ['Attachments', 'Headers', 'HTML']) {
    await page.getByRole('tab', { name: t }).click();
    await page.waitForTimeout(100);
    assert.ok(await wide() <= 375, t + ' tab fits 375 px: ' + await wide());
  }
  await page.getByRole('link', { name: 'Back' }).click();
  await rows(page).first().waitFor();
  for (const view of ['#/', '#/sessions', '#/faults']) {
    await page.goto(BASE + '/' + view);
    await page.waitForTimeout(200);
    const unnamed = await page.evaluate(() => {
      const name = (e) => (e.getAttribute('aria-label') || (e.labels && [...e.labels].map((l) => l.textContent).join('')) ||
        e.getAttribute('title') || e.textContent || '').trim();
      return [...document.querySelectorAll('button, a[href], input, textarea, select, iframe, [role=tab]')]
        .filter((e) => e.offsetParent !== null && !name(e)).map((e) => e.outerHTML.slice(0, 80));
    });
    assert.deepStrictEqual(unnamed, [], view + ': every visible control has a name');
    assert.ok(await wide() <= 375, view + ' fits 375 px');
  }
  await ctx.close();
};

// With --http-auth the page asks for the login: without it nothing is
// shown; with it the list, the events and a message all work.
scenarios.auth = async (browser) => {
  // (A headless browser cannot show the login box: it refuses the page.)
  const anon = await browser.newContext();
  const p0 = await anon.newPage();
  await assert.rejects(p0.goto(BASE + '/'), /ERR_INVALID_AUTH_CREDENTIALS/);
  await anon.close();
  const r0 = await fetch(BASE + '/');
  assert.strictEqual(r0.status, 401);
  assert.match(r0.headers.get('www-authenticate') || '', /^Basic /);
  const [user, password] = process.env.SMTPD_WEBUI_LOGIN.split(':');
  const ctx = await browser.newContext({ httpCredentials: { username: user, password } });
  const page = await ctx.newPage();
  const bad = watch(page);
  assert.strictEqual((await page.goto(BASE + '/')).status(), 200);
  await page.getByText('No messages.').waitFor({ timeout: WAIT });
  await page.waitForTimeout(300);
  await sendMail('plain', 'behind a login', 'ann@example.com');
  await rows(page).filter({ hasText: 'behind a login' }).waitFor({ timeout: WAIT });
  await rows(page).first().getByRole('link').click();
  await page.locator('#m-text', { hasText: 'About behind a login.' }).waitFor();
  assert.deepStrictEqual(bad, []);
  await ctx.close();
};

// docs/webui.png: the page with a few messages, one open.
scenarios.screenshot = async (browser) => {
  await sendMail('plain', 'Your order #1042 has shipped', 'ann@example.com');
  await sendMail('plain', 'Password reset', 'bob@example.org');
  await sendMail('rich');
  const ctx = await browser.newContext({ viewport: { width: 1200, height: 680 }, colorScheme: 'light' });
  const page = await ctx.newPage();
  await page.goto(BASE + '/');
  await rows(page).first().waitFor({ timeout: WAIT });
  await rows(page).first().getByRole('link').click();
  await page.frameLocator('#html-frame').locator('#greeting').waitFor({ timeout: WAIT });
  await page.locator('#m-smtp summary').click();
  await page.waitForTimeout(300);
  await page.screenshot({ path: process.env.SCREENSHOT });
  await ctx.close();
};

async function main() {
  const name = process.argv[2];
  const fn = scenarios[name];
  if (!fn) throw new Error('no scenario ' + name + '; there are: ' + Object.keys(scenarios).join(' '));
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/lib/chromium/chromium',
    args: ['--no-sandbox'],              // root in CI; the page is ours, the mail sandboxed
  });
  try {
    await fn(browser);
  } finally {
    await browser.close();
  }
  console.log('ok ' + name);
}

main().catch((err) => {
  console.error('FAIL ' + process.argv[2] + ': ' + (err && err.stack || err));
  process.exit(1);
});
