// DevoX supervisor console: hand-written, no build step. Reads the server-sent events of
// /console/api/stream (hello, snapshot, delta) and renders the calls table, the alerts feed
// and a call's detail. Rendering is batched to one animation frame per push. Listen-in: listen.js.
import { decorateLegButton, initListen, listenBlocked, onListenEvent, startListen, stopListen } from './listen.js';

const BASE = location.pathname.replace(/\/$/, '');
const api = (p) => `${BASE}/api/${p}`;
const $ = (id) => document.getElementById(id);
const LABELS = ['synthetic', 'suspicious', 'genuine', 'insufficient_speech', 'listening'];
const RANK = { listening: 0, insufficient_speech: 1, genuine: 2, suspicious: 3, synthetic: 4 };
const COLORS = { synthetic: '#ff5c5c', suspicious: '#ffb020', genuine: '#3fcf8e', listening: '#7aa2f7', insufficient_speech: '#7d8796' };

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

// ---------- calls table ----------
function schedule() {
  if (state.dirty) return;
  state.dirty = true;
  requestAnimationFrame(render);
}

function matches(c, f) {
  if (!f.ended && c.endedMs !== null) return false;
  if (f.label && c.label !== f.label) return false;
  if (f.tenant && c.tenant !== f.tenant) return false;
  if (f.ingress && c.ingress !== f.ingress) return false;
  if (f.node && !(c.node === f.node || c.legs.some((l) => l.node === f.node))) return false;
  if (f.q) {
    const hay = `${c.callId} ${c.caller} ${c.callee} ${Object.values(c.identity).join(' ')}`.toLowerCase();
    if (!hay.includes(f.q)) return false;
  }
  return true;
}

function filters() {
  return {
    q: $('search').value.trim().toLowerCase(),
    label: $('f-label').value,
    tenant: $('f-tenant').value,
    ingress: $('f-ingress').value,
    node: $('f-node').value,
    ended: $('f-ended').checked,
  };
}

const SORTS = {
  // severity, then start time (stable: rows do not jump as scores move)
  label: (c) => RANK[c.label],
  call: (c) => c.callId,
  caller: (c) => c.caller,
  tenant: (c) => c.tenant,
  speech: (c) => c.legs.reduce((a, l) => a + l.speechSec, 0),
  duration: (c) => (c.endedMs ?? Date.now()) - c.startedMs,
  model: (c) => c.modelVersion,
  node: (c) => c.node,
};

function render() {
  const t0 = performance.now();
  state.dirty = false;
  const f = filters();
  const key = SORTS[state.sort.key];
  const list = [...state.calls.values()].filter((c) => matches(c, f));
  const dir = state.sort.desc ? -1 : 1;
  list.sort((a, b) => {
    // live calls above ended ones, then the chosen key
    if ((a.endedMs === null) !== (b.endedMs === null)) return a.endedMs === null ? -1 : 1;
    const ka = key(a);
    const kb = key(b);
    return ka < kb ? -dir : ka > kb ? dir : a.startedMs - b.startedMs;
  });
  const tbody = $('rows');
  const keep = new Set(list.map((c) => c.callId));
  for (const [id, row] of state.rows) {
    if (!keep.has(id)) {
      rowObserver.unobserve(row.tr);
      visibleRows.delete(row.tr);
      row.tr.remove();
      state.rows.delete(id);
    }
  }
  let prev = null;
  for (const c of list) {
    let row = state.rows.get(c.callId);
    if (!row) {
      row = makeRow(c.callId);
      state.rows.set(c.callId, row);
    }
    if (row.call !== c) {
      // Rows out of view are brought up to date when they scroll into view.
      if (!row.call || visibleRows.has(row.tr)) updateRow(row, c);
      else row.pending = c;
    }
    const want = prev ? prev.nextSibling : tbody.firstChild;
    if (want !== row.tr) tbody.insertBefore(row.tr, want);
    prev = row.tr;
  }
  $('empty').hidden = list.length > 0;
  $('empty').textContent = state.calls.size === 0 ? 'No calls yet. Calls appear here as soon as DevoX receives their audio.' : 'No call matches the filters.';
  $('shown').textContent = `${list.length} of ${state.calls.size} calls`;
  updateKpis();
  updateFilterOptions();
  const ms = performance.now() - t0;
  state.frameMs.push(ms);
  if (state.frameMs.length > 2000) state.frameMs.shift();
}

// Rows on screen (or about to be): only those are redrawn on a push.
const visibleRows = new Set();
const rowOfTr = new WeakMap();
const rowObserver = new IntersectionObserver(
  (entries) => {
    for (const e of entries) {
      if (!e.isIntersecting) {
        visibleRows.delete(e.target);
        continue;
      }
      visibleRows.add(e.target);
      const row = rowOfTr.get(e.target);
      if (row && row.pending) {
        const c = row.pending;
        row.pending = null;
        updateRow(row, c);
      }
    }
  },
  { root: document.querySelector('.table-wrap'), rootMargin: '300px 0px' },
);

function makeRow(callId) {
  const tr = document.createElement('tr');
  tr.dataset.callId = callId;
  tr.innerHTML = '<td class="c-label"></td><td class="c-call"></td><td class="c-who"></td><td class="c-tenant"></td><td class="c-legs"></td><td class="c-speech num"></td><td class="c-dur num"></td><td class="c-model sub"></td><td class="c-node"></td>';
  tr.tabIndex = 0;
  tr.addEventListener('click', () => openDetail(callId));
  tr.addEventListener('keydown', (e) => {
    if (e.key === 'Enter') openDetail(callId);
  });
  const cells = {};
  for (const td of tr.children) cells[td.className.split(' ')[0].slice(2)] = td;
  const row = { tr, cells, call: null, pending: null, legs: new Map() };
  rowOfTr.set(tr, row);
  rowObserver.observe(tr);
  return row;
}

function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
}

function badge(label, small) {
  const s = document.createElement('span');
  s.className = `badge ${label}${small ? ' small' : ''}`;
  s.textContent = label.replace('_', ' ');
  return s;
}

function updateRow(row, c) {
  const old = row.call;
  row.call = c;
  const { cells, tr } = row;
  const cls = `${c.endedMs !== null ? 'ended ' : ''}row-${c.label}`;
  if (tr.className !== cls && !tr.classList.contains('pulse')) tr.className = cls;
  else if (tr.className !== cls) tr.className = `${cls} pulse`;
  if (!old || old.label !== c.label || (old.endedMs === null) !== (c.endedMs === null)) {
    cells.label.replaceChildren(badge(c.label));
    if (c.endedMs !== null) cells.label.append(Object.assign(document.createElement('div'), { className: 'sub', textContent: 'call ended' }));
  }
  if (!old) {
    cells.call.innerHTML = '<div class="callid"></div><span class="chip"></span>';
    cells.call.firstChild.textContent = c.callId;
    cells.call.firstChild.title = c.callId;
    cells.call.lastChild.textContent = c.ingress;
    const params = Object.entries(c.params).map(([k, v]) => `${k}=${v}`).join(' · ');
    cells.who.innerHTML = '<div></div><div class="sub"></div>';
    cells.who.firstChild.textContent = c.callee ? `${c.caller || '?'} → ${c.callee}` : c.caller || '—';
    cells.who.lastChild.textContent = params;
    cells.tenant.textContent = c.tenant || '—';
  }
  setText(cells.model, c.modelVersion);
  setText(cells.node, c.node);
  setText(cells.speech, `${c.legs.reduce((a, l) => a + l.speechSec, 0).toFixed(1)} s`);
  setText(cells.dur, duration(c));
  // legs: one line each, with a sparkline
  let wrap = cells.legs.firstChild;
  if (!wrap) {
    wrap = document.createElement('div');
    wrap.className = 'legs';
    cells.legs.append(wrap);
  }
  for (const l of c.legs) {
    let el = row.legs.get(l.streamId);
    if (!el) {
      el = document.createElement('div');
      el.className = 'leg';
      el.innerHTML = '<span class="name"></span><span class="lb"></span><span class="num sc"></span><canvas width="160" height="26" aria-label="window scores"></canvas>';
      el.firstChild.textContent = l.leg;
      el.firstChild.title = `${l.leg} (${l.transport}, ${l.node})`;
      wrap.append(el);
      row.legs.set(l.streamId, el);
      el.prevLabel = null;
    }
    if (el.prevLabel !== l.label) {
      el.children[1].replaceChildren(badge(l.label, true));
      el.prevLabel = l.label;
    }
    setText(el.children[2], l.score.toFixed(2));
    el.dataset.windows = String(l.windows);
    sparkline(el.children[3], l.spark, l.label);
  }
}

function sparkline(cv, pts, label) {
  const ctx = cv.getContext('2d');
  const w = cv.width;
  const h = cv.height;
  ctx.clearRect(0, 0, w, h);
  ctx.fillStyle = '#1c2530';
  ctx.fillRect(0, 0, w, h);
  if (pts.length < 2) return;
  // newest at the right edge, one point per window (the last console.sparklinePoints windows)
  const color = COLORS[label] ?? '#7aa2f7';
  const n = Math.max(pts.length, 24);
  const X = (i) => w - (pts.length - 1 - i) * (w / (n - 1));
  const Y = (v) => h - 2 - v * (h - 4);
  ctx.beginPath();
  ctx.moveTo(X(0), h);
  for (let i = 0; i < pts.length; i++) ctx.lineTo(X(i), Y(pts[i]));
  ctx.lineTo(X(pts.length - 1), h);
  ctx.closePath();
  ctx.globalAlpha = 0.25;
  ctx.fillStyle = color;
  ctx.fill();
  ctx.globalAlpha = 1;
  ctx.strokeStyle = color;
  ctx.lineWidth = 1.5;
  ctx.beginPath();
  for (let i = 0; i < pts.length; i++) {
    if (i === 0) ctx.moveTo(X(i), Y(pts[i]));
    else ctx.lineTo(X(i), Y(pts[i]));
  }
  ctx.stroke();
}

function duration(c) {
  const ms = (c.endedMs ?? Date.now()) - c.startedMs;
  const s = Math.max(0, Math.round(ms / 1000));
  const m = Math.floor(s / 60);
  return `${m}:${String(s % 60).padStart(2, '0')}`;
}

function updateKpis() {
  let live = 0;
  const by = { synthetic: 0, suspicious: 0, genuine: 0 };
  const nodes = new Set();
  for (const c of state.calls.values()) {
    nodes.add(c.node);
    for (const l of c.legs) nodes.add(l.node);
    if (c.endedMs !== null) continue;
    live++;
    if (c.label in by) by[c.label]++;
  }
  $('kpi-live').textContent = live;
  $('kpi-synthetic').textContent = by.synthetic;
  $('kpi-suspicious').textContent = by.suspicious;
  $('kpi-genuine').textContent = by.genuine;
  $('kpi-nodes').textContent = nodes.size;
}

const optionSets = { 'f-label': new Set(), 'f-tenant': new Set(), 'f-ingress': new Set(), 'f-node': new Set() };
function updateFilterOptions() {
  const values = { 'f-label': new Set(LABELS), 'f-tenant': new Set(), 'f-ingress': new Set(), 'f-node': new Set() };
  for (const c of state.calls.values()) {
    if (c.tenant) values['f-tenant'].add(c.tenant);
    values['f-ingress'].add(c.ingress);
    values['f-node'].add(c.node);
    for (const l of c.legs) values['f-node'].add(l.node);
  }
  for (const [id, vals] of Object.entries(values)) {
    const have = optionSets[id];
    for (const v of [...vals].sort()) {
      if (have.has(v)) continue;
      have.add(v);
      const o = document.createElement('option');
      o.value = v;
      o.textContent = v.replace('_', ' ');
      $(id).append(o);
    }
  }
}

for (const id of ['search', 'f-label', 'f-tenant', 'f-ingress', 'f-node', 'f-ended']) $(id).addEventListener('input', schedule);
for (const th of document.querySelectorAll('#calls th[data-sort]')) {
  th.addEventListener('click', () => {
    const k = th.dataset.sort;
    state.sort = { key: k, desc: state.sort.key === k ? !state.sort.desc : k === 'label' || k === 'duration' || k === 'speech' };
    for (const o of document.querySelectorAll('#calls th')) o.classList.remove('sorted', 'asc');
    th.classList.add('sorted');
    if (!state.sort.desc) th.classList.add('asc');
    schedule();
  });
}
// durations of live calls move every second
setInterval(() => {
  for (const tr of visibleRows) {
    const row = rowOfTr.get(tr);
    if (row && row.call && row.call.endedMs === null) row.cells.dur.textContent = duration(row.call);
  }
}, 1000);

// ---------- alerts ----------
function renderAlerts(fresh) {
  const ol = $('alerts');
  const list = [...state.alerts.values()].sort((a, b) => b.id - a.id).slice(0, 200);
  const sup = state.me?.role === 'supervisor';
  ol.replaceChildren(
    ...list.map((a) => {
      const li = document.createElement('li');
      li.className = `${a.label}${a.ack ? ' acked' : ''}${fresh.has(a.id) ? ' new' : ''}`;
      li.dataset.alertId = String(a.id);
      li.innerHTML = '<div class="a-top"><span class="lb"></span><span class="sub t"></span></div><div class="a-call"></div><div class="sub info"></div><div class="a-actions"></div>';
      li.querySelector('.lb').append(badge(a.label, true));
      li.querySelector('.t').textContent = new Date(a.wallTimeMs).toLocaleTimeString();
      const call = li.querySelector('.a-call');
      call.textContent = a.callId;
      call.title = 'open the call';
      call.addEventListener('click', () => openDetail(a.callId));
      li.querySelector('.info').textContent =
        `${a.leg} · ${a.previousLabel.replace('_', ' ')} → ${a.label} · score ${a.score.toFixed(2)} · ${a.node}` +
        (a.ack ? ` · acknowledged by ${a.ack.by}` : '') + (a.assignee ? ` · assigned to ${a.assignee}` : '');
      const act = li.querySelector('.a-actions');
      if (sup) {
        if (!a.ack) {
          const ack = document.createElement('button');
          ack.textContent = 'Acknowledge';
          ack.className = 'ack';
          ack.addEventListener('click', () => post('alerts/ack', { id: a.id }));
          act.append(ack);
        }
        const who = document.createElement('input');
        who.placeholder = 'assign to';
        who.value = a.assignee ?? '';
        who.setAttribute('aria-label', 'assign to');
        const as = document.createElement('button');
        as.textContent = 'Assign';
        as.className = 'assign';
        as.addEventListener('click', () => post('alerts/assign', { id: a.id, to: who.value }));
        act.append(who, as);
      }
      return li;
    }),
  );
  let open = 0;
  for (const a of state.alerts.values()) if (!a.ack) open++;
  $('alert-count').textContent = String(open);
}

function cue(alerts) {
  const synthetic = alerts.some((a) => a.label === 'synthetic');
  const kpi = document.querySelector(synthetic ? '.kpi.synthetic' : '.kpi.suspicious');
  kpi.classList.remove('flash');
  void kpi.offsetWidth;
  kpi.classList.add('flash');
  for (const a of alerts) {
    const row = state.rows.get(a.callId);
    if (row) {
      row.tr.classList.remove('pulse');
      void row.tr.offsetWidth;
      row.tr.classList.add('pulse');
    }
  }
  if ($('sound').checked) beep(synthetic ? 880 : 660);
}

function beep(freq) {
  state.audio ??= new AudioContext();
  const ctx = state.audio;
  const o = ctx.createOscillator();
  const g = ctx.createGain();
  o.frequency.value = freq;
  g.gain.setValueAtTime(0.15, ctx.currentTime);
  g.gain.exponentialRampToValueAtTime(0.001, ctx.currentTime + 0.4);
  o.connect(g).connect(ctx.destination);
  o.start();
  o.stop(ctx.currentTime + 0.4);
}

async function post(path, body) {
  const r = await fetch(api(path), { method: 'POST', credentials: 'same-origin', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const out = await r.json().catch(() => ({}));
  return { status: r.status, body: out };
}

// ---------- detail ----------
function openDetail(callId) {
  state.detailId = callId;
  $('detail').hidden = false;
  $('d-msg').textContent = '';
  $('d-msg').className = 'msg';
  $('d-legs').replaceChildren();
  void loadDetail();
}

$('d-close').addEventListener('click', () => {
  state.detailId = null;
  $('detail').hidden = true;
});
document.addEventListener('keydown', (e) => {
  if (e.key === 'Escape' && state.detailId) $('d-close').click();
});

function refreshDetailSoon() {
  if (state.detailTimer) return;
  const wait = Math.max(0, 1000 - (Date.now() - state.detailLast));
  state.detailTimer = setTimeout(() => {
    state.detailTimer = 0;
    void loadDetail();
  }, wait);
}

async function loadDetail() {
  const id = state.detailId;
  if (!id) return;
  state.detailLast = Date.now();
  const r = await fetch(`${api('call')}?id=${encodeURIComponent(id)}`);
  if (id !== state.detailId) return;
  if (r.status !== 200) {
    $('d-msg').textContent = (await r.json().catch(() => ({}))).error ?? `no detail (${r.status})`;
    return;
  }
  renderDetail(await r.json());
}

function renderDetail(d) {
  const c = d.call;
  const title = $('d-title');
  title.replaceChildren(badge(c.label), document.createTextNode(c.callId));
  $('d-sub').textContent = `${c.ingress} · ${c.caller || '?'} → ${c.callee || '?'}${c.tenant ? ` · tenant ${c.tenant}` : ''} · node ${c.node} · model ${c.modelVersion} · ${duration(c)}${c.endedMs !== null ? ' (ended)' : ''}`;
  const legs = $('d-legs');
  for (const tl of d.timelines) {
    let panel = legs.querySelector(`[data-stream-id="${CSS.escape(tl.streamId)}"]`);
    if (!panel) {
      panel = document.createElement('div');
      panel.className = 'leg-panel';
      panel.dataset.streamId = tl.streamId;
      panel.innerHTML = '<div class="lp-head"><b></b><span class="lb"></span><span class="sub info"></span><span class="legend"><span><i class="lg-smooth"></i>smoothed score</span><span><i class="lg-window"></i>window score</span><span><i class="lg-speech"></i>speech</span><span><i class="lg-lost"></i>lost media</span><span><i class="lg-threshold"></i>model thresholds</span></span><button type="button" class="leg-listen">Listen</button></div><canvas class="timeline" aria-label="window timeline"></canvas><div class="counters"></div>';
      const streamId = tl.streamId;
      panel.querySelector('.leg-listen').addEventListener('click', () => void startListen(state.detailId, streamId));
      legs.append(panel);
    }
    const leg = c.legs.find((l) => l.streamId === tl.streamId);
    decorateLegButton(panel.querySelector('.leg-listen'), c.callId, leg);
    panel.querySelector('b').textContent = tl.leg;
    panel.querySelector('.lb').replaceChildren(badge(leg?.label ?? 'listening', true));
    panel.querySelector('.info').textContent = leg
      ? `score ${leg.score.toFixed(3)} · ${leg.speechSec.toFixed(1)} s speech · ${leg.windows} windows · ${leg.transport} · ${leg.node}${leg.ended ? ` · ended (${leg.endReason})` : ''}`
      : '';
    timeline(panel.querySelector('canvas'), tl);
    const counters = { windows: tl.t.length, 'mean lost media': tl.lost.length ? `${((tl.lost.reduce((a, b) => a + b, 0) / tl.lost.length) * 100).toFixed(1)} %` : '—' };
    if (tl.thresholds) Object.assign(counters, { 'suspicious ≥': tl.thresholds.suspicious.toFixed(3), 'synthetic ≥': tl.thresholds.synthetic.toFixed(3) });
    if (tl.media) Object.assign(counters, tl.media);
    const box = panel.querySelector('.counters');
    box.replaceChildren(
      ...Object.entries(counters).map(([k, v]) => {
        const s = document.createElement('span');
        s.append(`${k} `);
        const b = document.createElement('b');
        b.textContent = String(v);
        s.append(b);
        return s;
      }),
    );
  }
  const vb = $('d-verdicts').tBodies[0];
  vb.replaceChildren(
    ...d.verdicts.map((v) => {
      const tr = document.createElement('tr');
      for (const x of [new Date(v.wallTimeMs).toLocaleTimeString(), v.leg, null, v.score.toFixed(3), v.speechSec.toFixed(1), v.mediaTimeSec.toFixed(1)]) {
        const td = document.createElement('td');
        if (x === null) td.append(badge(v.label, true));
        else td.textContent = x;
        if (/^[\d.]+$/.test(x ?? '')) td.className = 'num';
        tr.append(td);
      }
      return tr;
    }),
  );
  $('d-identity').replaceChildren(
    ...Object.entries(c.identity).flatMap(([k, v]) => {
      const dt = document.createElement('dt');
      dt.textContent = k;
      const dd = document.createElement('dd');
      dd.textContent = v;
      return [dt, dd];
    }),
  );
  $('d-feedback').replaceChildren(
    ...(c.feedback.length
      ? c.feedback.map((f) => {
          const li = document.createElement('li');
          li.textContent = `${f.verdict === 'confirmed_synthetic' ? 'confirmed fake' : f.verdict === 'confirmed_genuine' ? 'false alarm' : f.verdict} by ${f.operator} at ${new Date(f.wallTimeMs).toLocaleTimeString()}${f.leg ? ` (${f.leg})` : ''}`;
          return li;
        })
      : [Object.assign(document.createElement('li'), { className: 'sub', textContent: 'none yet' })]),
  );
  $('d-events').replaceChildren(
    ...d.events
      .slice()
      .reverse()
      .map((e) => {
        const li = document.createElement('li');
        const det = document.createElement('details');
        const sum = document.createElement('summary');
        sum.textContent = `${new Date(e.wallTimeMs).toLocaleTimeString()} ${e.type} ${e.leg} #${e.seq}${e.label ? ` ${e.label}` : ''}${typeof e.score === 'number' ? ` ${e.score.toFixed(3)}` : ''}`;
        const pre = document.createElement('pre');
        pre.textContent = JSON.stringify(e, null, 1);
        det.append(sum, pre);
        li.append(det);
        return li;
      }),
  );
}

function timeline(cv, tl) {
  const dpr = window.devicePixelRatio || 1;
  const w = Math.max(300, cv.clientWidth);
  const h = Math.max(120, cv.clientHeight);
  cv.width = w * dpr;
  cv.height = h * dpr;
  const ctx = cv.getContext('2d');
  ctx.scale(dpr, dpr);
  const padL = 34;
  const padB = 18;
  const pw = w - padL - 6;
  const ph = h - padB - 6;
  ctx.fillStyle = '#161d26';
  ctx.fillRect(0, 0, w, h);
  const n = tl.t.length;
  const t1 = n ? tl.t[n - 1] : 1;
  const t0 = n ? Math.max(0, tl.t[0] - 1) : 0;
  const span = Math.max(1, t1 - t0);
  const X = (t) => padL + ((t - t0) / span) * pw;
  const Y = (v) => 6 + (1 - v) * ph;
  // speech mask: windows with speech shaded (alpha by speech ratio)
  for (let i = 0; i < n; i++) {
    if (tl.sp[i] <= 0) continue;
    const x0 = X(tl.t[i] - 0.25);
    ctx.fillStyle = `rgba(63, 207, 142, ${0.08 + 0.22 * tl.sp[i]})`;
    ctx.fillRect(x0, 6, Math.max(1, X(tl.t[i]) - x0), ph);
    if (tl.lost[i] > 0) {
      ctx.fillStyle = '#ff5c5c';
      ctx.fillRect(x0, 6 + ph - 4, Math.max(1, X(tl.t[i]) - x0), 4);
    }
  }
  // axes
  ctx.strokeStyle = '#2a3543';
  ctx.fillStyle = '#8b98a9';
  ctx.font = '11px system-ui, sans-serif';
  ctx.lineWidth = 1;
  for (const v of [0, 0.5, 1]) {
    ctx.beginPath();
    ctx.moveTo(padL, Y(v));
    ctx.lineTo(padL + pw, Y(v));
    ctx.stroke();
    ctx.fillText(v.toFixed(1), 6, Y(v) + 4);
  }
  const step = span > 120 ? 30 : span > 40 ? 10 : span > 12 ? 5 : 1;
  for (let t = Math.ceil(t0 / step) * step; t <= t1; t += step) ctx.fillText(`${t}s`, X(t) - 8, h - 4);
  // thresholds of the judging model
  if (tl.thresholds) {
    ctx.setLineDash([6, 4]);
    for (const [k, v] of Object.entries(tl.thresholds)) {
      ctx.strokeStyle = COLORS[k];
      ctx.beginPath();
      ctx.moveTo(padL, Y(v));
      ctx.lineTo(padL + pw, Y(v));
      ctx.stroke();
      ctx.fillStyle = COLORS[k];
      ctx.fillText(k, padL + pw - 62, Y(v) - 3);
    }
    ctx.setLineDash([]);
  }
  const line = (vals, color, width) => {
    ctx.strokeStyle = color;
    ctx.lineWidth = width;
    ctx.beginPath();
    for (let i = 0; i < n; i++) {
      if (i === 0) ctx.moveTo(X(tl.t[i]), Y(vals[i]));
      else ctx.lineTo(X(tl.t[i]), Y(vals[i]));
    }
    ctx.stroke();
  };
  line(tl.s, 'rgba(122, 162, 247, 0.8)', 1);
  line(tl.e, '#e6edf3', 2.2);
}

// ---------- actions on the open call ----------
async function feedback(verdict) {
  const id = state.detailId;
  if (!id) return;
  const msg = $('d-msg');
  msg.className = 'msg';
  msg.textContent = 'sending…';
  const r = await post('feedback', { callId: id, verdict });
  if (r.status === 200) {
    msg.className = 'msg good';
    msg.textContent = `Feedback "${verdict === 'confirmed_synthetic' ? 'confirmed fake' : 'false alarm'}" stored (${r.body.stream} #${r.body.seq}).`;
    void loadDetail();
  } else {
    msg.className = 'msg error';
    msg.textContent = r.body.error ?? `feedback failed (${r.status})`;
  }
}
$('fb-fake').addEventListener('click', () => feedback('confirmed_synthetic'));
$('fb-genuine').addEventListener('click', () => feedback('confirmed_genuine'));
$('listen').addEventListener('click', () => void startListen(state.detailId));
initListen({ post, state });

void boot();
