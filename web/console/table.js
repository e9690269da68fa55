// DevoX supervisor console: the calls table. Rows are keyed by call id and updated in place;
// rendering is batched to one animation frame per push, and rows out of view are brought up
// to date only when they scroll into view.
import { badge, duration, setText, sparkline } from './draw.js';
import { $ } from './dom.js';

const LABELS = ['synthetic', 'suspicious', 'genuine', 'insufficient_speech', 'listening'];
const RANK = { listening: 0, insufficient_speech: 1, genuine: 2, suspicious: 3, synthetic: 4 };

let deps = null;
let state = null;

/** deps: { state, deps.openDetail(callId) }. Call once, before the first push. */
export function initTable(d) {
  deps = d;
  state = d.state;
}

export function schedule() {
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
  tr.addEventListener('click', () => deps.openDetail(callId));
  tr.addEventListener('keydown', (e) => {
    if (e.key === 'Enter') deps.openDetail(callId);
  });
  const cells = {};
  for (const td of tr.children) cells[td.className.split(' ')[0].slice(2)] = td;
  const row = { tr, cells, call: null, pending: null, legs: new Map() };
  rowOfTr.set(tr, row);
  rowObserver.observe(tr);
  return row;
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
