// DevoX supervisor console: one call's detail (per-leg timelines, verdicts, identity, feedback,
// events) and the supervisor's actions on it (feedback, listen-in).
import { badge, duration, timeline } from './draw.js';
import { decorateLegButton, startListen } from './listen.js';
import { $, api } from './dom.js';

let deps = null;
let state = null;

/** deps: { state, post(path, body) }. Call once, at start. */
export function initDetail(d) {
  deps = d;
  state = d.state;
}

export function openDetail(callId) {
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

export function refreshDetailSoon() {
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

// ---------- actions on the open call ----------
async function feedback(verdict) {
  const id = state.detailId;
  if (!id) return;
  const msg = $('d-msg');
  msg.className = 'msg';
  msg.textContent = 'sending…';
  const r = await deps.post('feedback', { callId: id, verdict });
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
