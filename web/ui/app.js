// SPDX-License-Identifier: ISC
// app.js - the page's script: shows what an `smtpd --http` server captured.
//
// Plain JavaScript, no framework, no build step.  The page is one HTML
// document (index.html) with three views, chosen by the URL's hash:
//
//   #/                  the inbox (#/?q=QUERY&start=N: a search, a page)
//   #/message/ID        one message, beside the list (alone when narrow)
//   #/sessions          the recent SMTP sessions (#/sessions/ID: one open)
//   #/faults            the fault rules, editable
//
// Everything comes from the server's HTTP API: Mailpit's /api/v1 shapes for
// the mail, ours for /api/v1/events (Server-Sent Events: the list reloads
// when mail is stored or deleted), /api/v1/sessions and /api/v1/faults.
//
// The one rule: message data (subjects, names, file names, headers, bodies)
// is only ever put into the page as text (textContent, attribute values),
// never as HTML.  A message's HTML is shown only by the server under
// /view/, in an iframe with sandbox="" (no script, a unique origin).
'use strict';

const PAGE = 50;                        // messages a page: enough for a screen

const $ = (id) => document.getElementById(id);

const state = {
  route: '',                            // 'inbox', 'message', 'sessions', 'faults'
  query: '',                            // the search, as in the URL
  start: 0,                             // the first message shown (paging)
  total: 0,                             // messages matching the query
  messages: [],                         // the summaries on the screen
  selected: -1,                         // the row j/k moved to
  open: null,                           // the full message shown, or null
  openID: '',
  sessionID: '',
  tab: 'html',
  unread: 0,                            // in the title: (3) smtpd
};

// ---- small helpers ----------------------------------------------------

// el - a new element with text content and attributes (never HTML)
function el(tag, text, attrs) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  return e;
}

// api - fetch a path of the API; JSON (or text) back, an Error on failure
async function api(path, opts, asText) {
  const r = await fetch(path, Object.assign({ credentials: 'same-origin' }, opts || {}));
  if (!r.ok) {
    let why = r.status + ' ' + r.statusText;
    try { const j = await r.json(); if (j && (j.Error || j.error)) why = j.Error || j.error; } catch (e) { /* not JSON */ }
    throw new Error(path.split('?')[0] + ': ' + why);
  }
  if (asText) return r.text();
  // JSON, or nothing (Mailpit answers some changes with a plain "ok")
  const json = (r.headers.get('Content-Type') || '').startsWith('application/json');
  const body = await r.text();
  return json && body ? JSON.parse(body) : null;
}

// send - a request with a JSON body
function send(method, path, body) {
  return api(path, {
    method, headers: { 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

// showError - the one error line at the top, or none
function showError(err) {
  const p = $('error');
  p.hidden = !err;
  p.textContent = err ? String(err.message || err) : '';
}

// announce - tell a screen reader what just happened
function announce(text) { $('status').textContent = text; }

// address - "Name <a@b>" or "a@b" for a Mailpit address object
function address(a) {
  if (!a) return '';
  if (typeof a === 'string') return a;
  return a.Name ? a.Name + ' <' + a.Address + '>' : (a.Address || '');
}
function addresses(list) { return (list || []).map(address).join(', '); }

// size - bytes as a person reads them
function size(n) {
  if (n < 1024) return n + ' B';
  if (n < 1024 * 1024) return (n / 1024).toFixed(1) + ' kB';
  return (n / 1024 / 1024).toFixed(1) + ' MB';
}

// when - a time: the hour today, else the date
function when(iso) {
  const d = new Date(iso);
  if (isNaN(d)) return '';
  const today = new Date().toDateString() === d.toDateString();
  return today ? d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })
    : d.toLocaleDateString([], { year: 'numeric', month: 'short', day: 'numeric' });
}

// ---- routes -------------------------------------------------------------

// parseHash - the view and its parameters from location.hash
function parseHash() {
  const h = location.hash.replace(/^#/, '') || '/';
  const [path, qs] = h.split('?');
  const params = new URLSearchParams(qs || '');
  const decode = (x) => { try { return decodeURIComponent(x); } catch (e) { return x; } };
  const parts = path.split('/').filter(Boolean).map(decode);
  return { parts, params };
}

// inboxHash - the URL of the inbox for a query and a first message
function inboxHash(query, start) {
  const p = new URLSearchParams();
  if (query) p.set('q', query);
  if (start) p.set('start', String(start));
  const s = p.toString();
  return '#/' + (s ? '?' + s : '');
}

// route - show the view the URL names
async function route() {
  const { parts, params } = parseHash();
  showError(null);
  const view = parts[0] || '';
  for (const v of ['inbox', 'sessions', 'faults']) {
    $(v + '-view').hidden = true;
    $('nav-' + v).removeAttribute('aria-current');
  }
  try {
    if (view === 'sessions') {
      state.route = 'sessions';
      state.sessionID = parts[1] || '';
      show('sessions');
      await Promise.all([loadSessions(true), loadUnread()]);
    } else if (view === 'faults') {
      state.route = 'faults';
      show('faults');
      await Promise.all([loadFaults(), loadUnread()]);
    } else {
      show('inbox');
      if (view !== 'message') {
        state.query = params.get('q') || '';
        state.start = Math.max(0, parseInt(params.get('start') || '0', 10) || 0);
      }
      $('search').value = state.query;
      state.route = view === 'message' ? 'message' : 'inbox';
      document.body.classList.toggle('reading', view === 'message');
      await loadList();
      if (view === 'message') await openMessage(parts[1]);
      else closeMessage();
    }
  } catch (err) {
    showError(err);
  }
}

// show - make one view visible and mark its tab in the navigation
function show(name) {
  $(name + '-view').hidden = false;
  $('nav-' + name).setAttribute('aria-current', 'page');
}

// ---- the list -----------------------------------------------------------

// loadList - fetch the page of summaries the URL asks for and draw it
async function loadList() {
  const q = state.query;
  const path = q ? '/api/v1/search?query=' + encodeURIComponent(q) + '&' : '/api/v1/messages?';
  const res = await api(path + 'start=' + state.start + '&limit=' + PAGE);
  if (q !== state.query) return;        // a newer search has begun
  state.messages = res.messages || [];
  state.total = res.messages_count !== undefined ? res.messages_count : res.total;
  setUnread(res.unread || 0);
  drawList();
}

// loadUnread - the unread count alone, for the views without the list
async function loadUnread() {
  setUnread((await api('/api/v1/messages?limit=1')).unread || 0);
}

// setUnread - the unread count in the title and beside "Inbox"
function setUnread(n) {
  state.unread = n;
  document.title = n > 0 ? '(' + n + ') smtpd' : 'smtpd';
  const b = $('unread-badge');
  b.hidden = n === 0;
  b.textContent = String(n);
  b.setAttribute('aria-label', n + ' unread');
}

// drawList - one row a message: From, Subject, To, time, size, attachments
function drawList() {
  const ul = $('list');
  const rows = document.createDocumentFragment();
  state.messages.forEach((m, i) => {
    const li = el('li', null, { class: 'row' + (m.Read ? '' : ' unread') });
    const a = el('a', null, { href: '#/message/' + encodeURIComponent(m.ID), 'data-id': m.ID });
    if (m.ID === state.openID) { li.classList.add('open'); a.setAttribute('aria-current', 'true'); }
    if (i === state.selected) li.classList.add('selected');
    a.append(
      el('span', m.From ? (m.From.Name || m.From.Address) : '', { class: 'from' }),
      el('span', m.Subject || '(no subject)', { class: 'subject' }),
      el('span', 'To: ' + addresses(m.To), { class: 'to' }),
      el('time', when(m.Created), { class: 'time', datetime: m.Created || '' }),
      el('span', size(m.Size || 0), { class: 'size' }));
    if (m.Attachments > 0) a.append(clip(m.Attachments));
    if (!m.Read) a.append(el('span', 'unread', { class: 'visually-hidden' }));
    li.append(a);
    rows.append(li);
  });
  ul.replaceChildren(rows);
  $('empty').hidden = state.messages.length > 0;
  $('empty').textContent = state.query ? 'No messages match this search.' : 'No messages.';
  const last = state.start + state.messages.length;
  $('range').textContent = state.total ? (state.start + 1) + '–' + last + ' of ' + state.total : '';
  $('prev-page').disabled = state.start === 0;
  $('next-page').disabled = last >= state.total;
  $('delete-all').textContent = state.query ? 'Delete all found' : 'Delete all';
}

// clip - the attachment mark: a paper clip drawn in SVG (no emoji font
// needed), named for screen readers
function clip(n) {
  const NS = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(NS, 'svg');
  svg.setAttribute('viewBox', '0 0 16 16');
  svg.setAttribute('class', 'clip');
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', n + (n > 1 ? ' attachments' : ' attachment'));
  const p = document.createElementNS(NS, 'path');
  p.setAttribute('d', 'M10.5 4.5v6a2.5 2.5 0 0 1-5 0V3.5a1.5 1.5 0 0 1 3 0V10a.5.5 0 0 1-1 0V4.5');
  svg.append(p);
  return svg;
}

// ---- one message --------------------------------------------------------

// openMessage - fetch a message (which marks it read) and show it
async function openMessage(id) {
  const m = await api('/api/v1/message/' + encodeURIComponent(id));
  state.open = m;
  state.openID = m.ID;
  for (const row of state.messages) if (row.ID === m.ID && !row.Read) { row.Read = true; }
  drawList();
  $('message-pane').hidden = false;
  $('m-subject').textContent = m.Subject || '(no subject)';
  $('toggle-read').textContent = 'Mark unread';
  drawFields(m);
  drawSMTP(m);
  // Tabs are filled when shown; the HTML one starts blocked from remote content.
  $('html-frame').removeAttribute('src');
  $('m-source').textContent = '';
  $('m-headers').replaceChildren();
  state.loaded = {};
  selectTab(m.HTML ? state.tab : (state.tab === 'html' ? 'text' : state.tab));
}

// closeMessage - back to the list alone
function closeMessage() {
  state.open = null;
  state.openID = '';
  $('message-pane').hidden = true;
  $('html-frame').removeAttribute('src');
  document.body.classList.remove('reading');
}

// drawFields - From, To, Cc, Bcc, Reply-To, Date as a definition list
function drawFields(m) {
  const dl = $('m-fields');
  dl.replaceChildren();
  const add = (name, value) => {
    if (value) dl.append(el('dt', name), el('dd', value));
  };
  add('From', address(m.From));
  add('To', addresses(m.To));
  add('Cc', addresses(m.Cc));
  add('Bcc', addresses(m.Bcc));
  add('Reply-To', addresses(m.ReplyTo));
  add('Date', m.Date ? new Date(m.Date).toLocaleString() : '');
  add('Size', size(m.Size || 0));
}

// drawSMTP - what is ours: the envelope, the peer, TLS, AUTH, the session
// (found in the message's SMTP object, else in /api/v1/sessions)
async function drawSMTP(m) {
  const dl = $('m-smtp-fields');
  dl.replaceChildren();
  const s = m.SMTP || m.Envelope || {};
  const add = (name, value, node) => {
    if (!value && !node) return;
    const dd = el('dd', node ? null : value);
    if (node) dd.append(node);
    dl.append(el('dt', name), dd);
  };
  const rcpts = s.RcptTo || s.Rcpt || s.Recipients || [];
  const bcc = new Set((m.Bcc || []).map((a) => (a.Address || a).toLowerCase()));
  add('MAIL FROM', s.MailFrom !== undefined ? '<' + s.MailFrom + '>' : '');
  if (rcpts.length) {
    const ul = el('ul', null, { class: 'rcpts' });
    for (const r of rcpts) {
      const li = el('li', '<' + r + '>');
      if (bcc.has(String(r).toLowerCase())) li.append(el('span', 'Bcc', { class: 'tag' }));
      ul.append(li);
    }
    add('RCPT TO', '', ul);
  }
  add('Peer', s.Peer || (s.PeerIP ? s.PeerIP + (s.PeerPort ? ':' + s.PeerPort : '') : ''));
  add('HELO', s.Helo || s.HELO || '');
  add('TLS', s.TLS ? [s.TLS.Protocol || s.TLSProtocol, s.TLS.Cipher || s.TLSCipher].filter(Boolean).join(', ')
    : [s.TLSProtocol, s.TLSCipher].filter(Boolean).join(', ') || 'none');
  add('AUTH user', s.AuthUser || s.Auth || 'none');
  let sid = s.SessionID || s.Session || '';
  if (!sid) {
    try {
      const res = await api('/api/v1/sessions');
      const found = sessionList(res).find((x) => (x.MessageIDs || x.Messages || []).includes(m.ID));
      if (found) sid = found.ID;
    } catch (e) { /* no session log: no link */ }
  }
  if (state.openID !== m.ID) return;
  if (sid) add('Session', '', el('a', 'Session ' + sid, { href: '#/sessions/' + encodeURIComponent(sid) }));
}

const TABS = ['html', 'text', 'source', 'headers', 'attachments'];

// selectTab - show one tab's panel, loading what it needs once
async function selectTab(name) {
  state.tab = name;
  for (const t of TABS) {
    const on = t === name;
    $('tab-' + t).setAttribute('aria-selected', on ? 'true' : 'false');
    $('tab-' + t).tabIndex = on ? 0 : -1;
    $('panel-' + t).hidden = !on;
  }
  const m = state.open;
  if (!m || state.loaded[name]) return;
  state.loaded[name] = true;
  const base = '/api/v1/message/' + encodeURIComponent(m.ID);
  try {
    if (name === 'html') {
      $('no-html').hidden = !!m.HTML;
      $('html-frame').hidden = !m.HTML;
      $('load-remote').hidden = !m.HTML;
      if (m.HTML) $('html-frame').src = '/view/' + encodeURIComponent(m.ID) + '.html';
    } else if (name === 'text') {
      $('m-text').textContent = m.Text || '(no text part)';
    } else if (name === 'source') {
      $('raw-link').href = base + '/raw';
      $('raw-link').setAttribute('download', m.ID + '.eml');
      $('m-source').textContent = await api(base + '/raw', null, true);
    } else if (name === 'headers') {
      const h = await api(base + '/headers');
      const body = $('m-headers');
      for (const k of Object.keys(h || {})) {
        for (const v of [].concat(h[k])) {
          const tr = el('tr');
          tr.append(el('th', k, { scope: 'row' }), el('td', v));
          body.append(tr);
        }
      }
    } else if (name === 'attachments') {
      const parts = (m.Attachments || []).concat((m.Inline || []).map((p) => Object.assign({ inline: true }, p)));
      const body = $('m-attachments');
      body.replaceChildren();
      for (const p of parts) {
        const tr = el('tr');
        const a = el('a', 'Download', {
          href: base + '/part/' + encodeURIComponent(p.PartID),
          download: p.FileName || 'part-' + p.PartID,
          'aria-label': 'Download ' + (p.FileName || 'part ' + p.PartID) });
        const td = el('td');
        td.append(a);
        tr.append(el('td', (p.FileName || '(no name)') + (p.inline ? ' (inline)' : '')),
          el('td', p.ContentType || ''), el('td', size(p.Size || 0)), td);
        body.append(tr);
      }
      $('no-attachments').hidden = parts.length > 0;
    }
  } catch (err) {
    state.loaded[name] = false;
    showError(err);
  }
}

// ---- actions on messages -------------------------------------------------

// deleteMessage - delete one message (the open one, or the one j/k chose)
async function deleteMessage(id) {
  const i = state.messages.findIndex((m) => m.ID === id);
  await send('DELETE', '/api/v1/messages', { IDs: [id] });
  announce('Message deleted');
  const next = state.messages[i + 1] || state.messages[i - 1];
  if (id === state.openID && next) location.hash = '#/message/' + encodeURIComponent(next.ID);
  else if (id === state.openID) location.hash = inboxHash(state.query, state.start);
  else await loadList();
}

// deleteAll - every message, or every one the search found, after asking
async function deleteAll() {
  const q = state.query;
  const what = q ? 'all ' + state.total + ' messages matching “' + q + '”' : 'all messages';
  if (!window.confirm('Delete ' + what + '?')) return;
  if (q) await api('/api/v1/search?query=' + encodeURIComponent(q), { method: 'DELETE' });
  else await api('/api/v1/messages', { method: 'DELETE' });
  announce('Deleted ' + what);
  location.hash = inboxHash(q, 0);
  await loadList();
}

// toggleRead - mark the open message unread (or read again)
async function toggleRead() {
  const m = state.open;
  if (!m) return;
  const row = state.messages.find((x) => x.ID === m.ID);
  const read = !(row ? row.Read : true);
  await send('PUT', '/api/v1/messages', { IDs: [m.ID], Read: read });
  if (row) row.Read = read;
  $('toggle-read').textContent = read ? 'Mark unread' : 'Mark read';
  announce(read ? 'Marked read' : 'Marked unread');
  await loadList();
}

// ---- sessions -------------------------------------------------------------

// sessionList - the array of sessions in /api/v1/sessions' answer
function sessionList(res) {
  return Array.isArray(res) ? res : (res && (res.sessions || res.Sessions)) || [];
}

// loadSessions - draw the recent sessions, the one in the URL opened
async function loadSessions(scroll) {
  const list = sessionList(await api('/api/v1/sessions'));
  const ul = $('sessions');
  const opened = new Set([...ul.querySelectorAll('details[open]')].map((d) => d.parentNode.id));
  const frag = document.createDocumentFragment();
  for (const s of list) {
    const li = el('li', null, { id: 'session-' + s.ID });
    const d = el('details');
    if (String(s.ID) === state.sessionID || opened.has(li.id)) d.open = true;
    const sum = el('summary');
    const ended = s.Ended || s.How || s.End || '';
    sum.append(
      el('time', when(s.Started || s.Created), { datetime: s.Started || '' }),
      el('span', ' ' + (s.PeerIP || s.Peer || '') + (s.PeerPort ? ':' + s.PeerPort : ''), { class: 'peer' }),
      el('span', ' ' + (typeof ended === 'string' ? ended : ''), { class: 'how' }));
    if (s.LastCode) sum.append(el('span', ' ' + s.LastCode, { class: 'code c' + String(s.LastCode)[0] }));
    if (s.FaultRule) sum.append(el('span', ' fault: ' + s.FaultRule, { class: 'fault' }));
    d.append(sum);
    const dl = el('dl', null, { class: 'fields' });
    const add = (k, v) => { if (v) dl.append(el('dt', k), el('dd', v)); };
    add('Session', String(s.ID));
    add('TLS', [s.TLSProtocol, s.TLSCipher].filter(Boolean).join(', '));
    add('AUTH user', s.AuthUser);
    add('Fault rule', s.FaultRule);
    d.append(dl);
    const ids = s.MessageIDs || s.Messages || [];
    if (ids.length) {
      const p = el('p', 'Delivered: ');
      ids.forEach((id, i) => {
        if (i) p.append(', ');
        p.append(el('a', id, { href: '#/message/' + encodeURIComponent(id) }));
      });
      d.append(p);
    }
    d.append(el('pre', s.Transcript || '', { class: 'transcript' }));
    li.append(d);
    frag.append(li);
  }
  ul.replaceChildren(frag);
  $('no-sessions').hidden = list.length > 0;
  if (scroll && state.sessionID) {
    const target = $('session-' + state.sessionID);
    if (target) target.scrollIntoView({ block: 'start' });
  }
}

// ---- faults ----------------------------------------------------------------

// faultText - the rule text in /api/v1/faults' answer
function faultText(res) {
  if (typeof res === 'string') return res;
  if (!res) return '';
  const r = res.Rules !== undefined ? res.Rules : res.rules;
  return Array.isArray(r) ? r.join('\n') : (r || '');
}

// loadFaults - put the active rules into the text box
async function loadFaults() {
  $('faults').value = faultText(await api('/api/v1/faults'));
  $('faults-status').textContent = '';
}

// saveFaults - replace the rules with the text box's; the server checks them
async function saveFaults(ev) {
  ev.preventDefault();
  $('faults-status').textContent = '';
  try {
    const res = await send('PUT', '/api/v1/faults', { Rules: $('faults').value });
    if (res) $('faults').value = faultText(res);
    $('faults-status').textContent = 'Saved: they apply from the next command.';
    showError(null);
  } catch (err) {
    $('faults-status').textContent = 'Not saved.';
    showError(err);
  }
}

// ---- live updates ------------------------------------------------------------

let reloadTimer = 0;

// refresh - reload what the current view shows, once for a burst of events
function refresh() {
  if (reloadTimer) return;
  reloadTimer = setTimeout(async () => {
    reloadTimer = 0;
    try {
      if (state.route === 'sessions') await Promise.all([loadSessions(), loadUnread()]);
      else if (state.route === 'faults') await loadUnread();
      else if (state.route === 'inbox' || state.route === 'message') await loadList();
    } catch (err) { showError(err); }
  }, 50);
}

// Sessions that end without a message or a refusal post no event: while
// the Sessions view is open it also asks every 2 s.
setInterval(() => { if (state.route === 'sessions' && !document.hidden) refresh(); }, 2000);

// showNew - a new message's summary (from its event) drawn at once on
// the first page of the unsearched list; refresh() then brings the counts
function showNew(m) {
  if ((state.route !== 'inbox' && state.route !== 'message') || state.query || state.start) return;
  if (state.messages.some((x) => x.ID === m.ID)) return;
  if (!m.Read) setUnread((state.unread || 0) + 1);
  state.messages.unshift(m);
  if (state.messages.length > PAGE) state.messages.pop();
  state.total += 1;
  if (state.selected >= 0) state.selected += 1;
  drawList();
}

// listen - the server's events: a message stored, deleted or read, a
// session refused.  EventSource reconnects by itself after a drop.
function listen() {
  if (!window.EventSource) return;
  const es = new EventSource('/api/v1/events');
  const onEvent = (ev) => {
    let e = {};
    try { e = JSON.parse(ev.data); } catch (x) { /* a comment or keep-alive */ }
    if (e.Type === 'new' && e.Data && e.Data.ID) {
      announce('New message: ' + (e.Data.Subject || ''));
      showNew(e.Data);
    }
    refresh();
  };
  es.onmessage = onEvent;
  for (const t of ['new', 'delete', 'deleted', 'read', 'update', 'truncate', 'prune', 'session', 'stats']) {
    es.addEventListener(t, onEvent);
  }
  let opened = false;
  es.onopen = () => {                   // after a reconnection: catch up
    if (opened) refresh();
    opened = true;
  };
}

// ---- keyboard ----------------------------------------------------------------

// move - j/k and the arrows: the next or previous message (opened when one is)
function move(step) {
  if (!state.messages.length) return;
  let i = state.messages.findIndex((m) => m.ID === state.openID);
  if (i < 0) i = state.selected;
  i = Math.min(state.messages.length - 1, Math.max(0, i + step));
  state.selected = i;
  if (state.openID) {
    location.hash = '#/message/' + encodeURIComponent(state.messages[i].ID);
  } else {
    drawList();
    const a = $('list').children[i].querySelector('a');
    a.focus();
  }
}

// onKey - j, k, arrows, Delete, / (not while typing in a field)
function onKey(ev) {
  const t = ev.target;
  if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
  if (t && (t.tagName === 'INPUT' || t.tagName === 'TEXTAREA' || t.isContentEditable)) {
    if (ev.key === 'Escape') t.blur();
    return;
  }
  if (state.route !== 'inbox' && state.route !== 'message') return;
  if (ev.key === '/') { ev.preventDefault(); $('search').focus(); $('search').select(); }
  else if (ev.key === 'j' || ev.key === 'ArrowDown') { ev.preventDefault(); move(1); }
  else if (ev.key === 'k' || ev.key === 'ArrowUp') { ev.preventDefault(); move(-1); }
  else if (ev.key === 'Delete') {
    const id = state.openID || (state.messages[state.selected] || {}).ID;
    if (id) { ev.preventDefault(); deleteMessage(id).catch(showError); }
  } else if (ev.key === 'Escape' && state.openID) {
    location.hash = inboxHash(state.query, state.start);
  }
}

// ---- start -------------------------------------------------------------------

function start() {
  $('search-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    location.hash = inboxHash($('search').value.trim(), 0);
  });
  $('search').addEventListener('search', () => {       // the clear button (×)
    if (!$('search').value && state.query) location.hash = inboxHash('', 0);
  });
  $('prev-page').addEventListener('click', () => {
    location.hash = inboxHash(state.query, Math.max(0, state.start - PAGE));
  });
  $('next-page').addEventListener('click', () => {
    location.hash = inboxHash(state.query, state.start + PAGE);
  });
  $('back').addEventListener('click', (ev) => {
    ev.preventDefault();
    location.hash = inboxHash(state.query, state.start);
  });
  $('delete-all').addEventListener('click', () => deleteAll().catch(showError));
  $('mark-all-read').addEventListener('click', () =>
    send('PUT', '/api/v1/messages', { Read: true }).then(loadList).catch(showError));
  $('delete-one').addEventListener('click', () => {
    if (state.openID) deleteMessage(state.openID).catch(showError);
  });
  $('toggle-read').addEventListener('click', () => toggleRead().catch(showError));
  $('load-remote').addEventListener('click', () => {
    if (state.open) $('html-frame').src = '/view/' + encodeURIComponent(state.open.ID) + '.html?remote=1';
  });
  for (const t of TABS) $('tab-' + t).addEventListener('click', () => selectTab(t));
  $('tabs').addEventListener('keydown', (ev) => {       // arrows between tabs
    const step = ev.key === 'ArrowRight' ? 1 : ev.key === 'ArrowLeft' ? -1 : 0;
    if (!step) return;
    ev.stopPropagation();
    const next = TABS[(TABS.indexOf(state.tab) + step + TABS.length) % TABS.length];
    selectTab(next);
    $('tab-' + next).focus();
  });
  $('faults-form').addEventListener('submit', saveFaults);
  document.addEventListener('keydown', onKey);
  window.addEventListener('hashchange', route);
  listen();
  route();
}

start();
