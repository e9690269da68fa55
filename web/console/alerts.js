// DevoX supervisor console: the alerts feed (acknowledge / assign for supervisors) and the cue
// (flash, pulse, optional beep) when new alerts arrive.
import { badge } from './draw.js';
import { $ } from './dom.js';

let deps = null;
let state = null;

/** deps: { state, post(path, body), openDetail(callId) }. Call once, before the first push. */
export function initAlerts(d) {
  deps = d;
  state = d.state;
}

export function renderAlerts(fresh) {
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
      call.addEventListener('click', () => deps.openDetail(a.callId));
      li.querySelector('.info').textContent =
        `${a.leg} · ${a.previousLabel.replace('_', ' ')} → ${a.label} · score ${a.score.toFixed(2)} · ${a.node}` +
        (a.ack ? ` · acknowledged by ${a.ack.by}` : '') + (a.assignee ? ` · assigned to ${a.assignee}` : '');
      const act = li.querySelector('.a-actions');
      if (sup) {
        if (!a.ack) {
          const ack = document.createElement('button');
          ack.textContent = 'Acknowledge';
          ack.className = 'ack';
          ack.addEventListener('click', () => deps.post('alerts/ack', { id: a.id }));
          act.append(ack);
        }
        const who = document.createElement('input');
        who.placeholder = 'assign to';
        who.value = a.assignee ?? '';
        who.setAttribute('aria-label', 'assign to');
        const as = document.createElement('button');
        as.textContent = 'Assign';
        as.className = 'assign';
        as.addEventListener('click', () => deps.post('alerts/assign', { id: a.id, to: who.value }));
        act.append(who, as);
      }
      return li;
    }),
  );
  let open = 0;
  for (const a of state.alerts.values()) if (!a.ack) open++;
  $('alert-count').textContent = String(open);
}

export function cue(alerts) {
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
