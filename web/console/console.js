// DevoX supervisor console: hand-written, no build step. Signs the operator in, reads the
// server-sent events of /console/api/stream (hello, snapshot, delta) and hands them to the
// calls table (table.js), the alerts feed (alerts.js) and the open call's detail (detail.js).
// Drawing helpers: draw.js; element and API lookups: dom.js. Listen-in: listen.js.
import { cue, initAlerts, renderAlerts } from './alerts.js';
import { initDetail, openDetail, refreshDetailSoon } from './detail.js';
import { initListen, listenBlocked, onListenEvent, startListen, stopListen } from './listen.js';
import { initTable, schedule } from './table.js';
import { $, api } from './dom.js';

const state = {
  me: null,
  hello: null,
  calls: new Map(),
  alerts: new Map(),
  rows: new Map(),
  sort: { key: 'label', desc: true },
  dirty: false,
  detailId: null,
  detailTimer: 0,
  detailLast: 0,
  source: null,
  audio: null,
  /** Frame times of renders (ms), for the bench. */
  frameMs: [],
};
window.devoxConsole = state;

// ---------- sign-in ----------
async function boot() {
  const r = await fetch(api('me'), { credentials: 'same-origin' });
  if (r.status === 200) {
    state.me = await r.json();
    showApp();
  } else {
    showLogin();
  }
}

function showLogin(message) {
  $('app').hidden = true;
  $('login').hidden = false;
  $('login-error').textContent = message ?? '';
  $('login-name').focus();
}

$('login-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  $('login-error').textContent = '';
  const r = await fetch(api('login'), {
    method: 'POST',
    credentials: 'same-origin',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name: $('login-name').value, password: $('login-password').value }),
  });
  $('login-password').value = '';
  if (r.status === 204) return boot();
  const body = await r.json().catch(() => ({}));
  $('login-error').textContent = body.error ?? `sign-in failed (${r.status})`;
});

$('logout').addEventListener('click', async () => {
  await stopListen();
  await fetch(api('logout'), { method: 'POST', credentials: 'same-origin' });
  state.source?.close();
  location.reload();
});

function showApp() {
  $('login').hidden = true;
  $('app').hidden = false;
  $('operator').textContent = `${state.me.name} · ${state.me.role}`;
  document.body.classList.toggle('viewer', state.me.role !== 'supervisor');
  connect();
}

// ---------- live updates ----------
function connect() {
  const es = new EventSource(api('stream'));
  state.source = es;
  es.addEventListener('open', () => setConn('up', 'live'));
  es.addEventListener('error', async () => {
    setConn('down', 'reconnecting');
    // Session expired or signed out elsewhere: back to the sign-in form.
    const r = await fetch(api('me')).catch(() => null);
    if (r && r.status === 401) {
      es.close();
      showLogin('Your session ended; sign in again.');
    }
  });
  es.addEventListener('listen', (e) => onListenEvent(JSON.parse(e.data)));
  es.addEventListener('hello', (e) => {
    state.hello = JSON.parse(e.data);
    applyHello();
  });
  es.addEventListener('snapshot', (e) => {
    const s = JSON.parse(e.data);
    state.calls.clear();
    for (const c of s.calls) state.calls.set(c.callId, c);
    state.alerts.clear();
    for (const a of s.alerts) state.alerts.set(a.id, a);
    renderAlerts(new Set());
    schedule();
  });
  es.addEventListener('delta', (e) => {
    const d = JSON.parse(e.data);
    for (const c of d.calls) {
      mergeSparks(c, state.calls.get(c.callId));
      state.calls.set(c.callId, c);
    }
    for (const id of d.removed) state.calls.delete(id);
    const fresh = new Set();
    for (const a of d.alerts) {
      if (!state.alerts.has(a.id)) fresh.add(a.id);
      state.alerts.set(a.id, a);
    }
    if (d.alerts.length) renderAlerts(fresh);
    if (fresh.size) cue([...fresh].map((id) => state.alerts.get(id)));
    if (state.detailId && (d.calls.some((c) => c.callId === state.detailId) || d.alerts.length)) refreshDetailSoon();
    schedule();
  });
}

// A delta carries only the window scores since the previous push: append them to what we have.
function mergeSparks(c, prev) {
  const max = state.hello?.sparklinePoints ?? 60;
  for (const l of c.legs) {
    if (!l.sparkTail) continue;
    const p = prev?.legs.find((x) => x.streamId === l.streamId);
    if (p) {
      const fresh = Math.max(0, l.windows - p.windows);
      l.spark = p.spark.concat(fresh > 0 ? l.spark.slice(-fresh) : []).slice(-max);
    }
    l.sparkTail = false;
  }
}

function setConn(cls, text) {
  const el = $('conn');
  el.className = `conn ${cls}`;
  el.textContent = text;
}

function applyHello() {
  const h = state.hello;
  const sup = h.operator.role === 'supervisor';
  for (const id of ['fb-fake', 'fb-genuine']) {
    const b = $(id);
    b.disabled = !sup || !h.feedback.available;
    b.title = !sup ? 'needs the supervisor role' : h.feedback.available ? '' : h.feedback.reason;
  }
  const l = $('listen');
  l.disabled = listenBlocked() !== '';
  l.title = listenBlocked() || 'listen live to the most suspect leg (never recorded, audited)';
  const notes = [];
  if (!sup) notes.push('Read-only (viewer): feedback, alert handling and listen-in need the supervisor role.');
  else {
    if (!h.feedback.available) notes.push(`Feedback unavailable: ${h.feedback.reason}.`);
    if (!h.listen.available) notes.push(`Listen-in unavailable: ${h.listen.reason}.`);
  }
  $('d-note').textContent = notes.join(' ');
}


async function post(path, body) {
  const r = await fetch(api(path), { method: 'POST', credentials: 'same-origin', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const out = await r.json().catch(() => ({}));
  return { status: r.status, body: out };
}

$('listen').addEventListener('click', () => void startListen(state.detailId));
initListen({ post, state });
initDetail({ post, state });
initAlerts({ post, state, openDetail });
initTable({ state, openDetail });

void boot();
