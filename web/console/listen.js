// Listen-in (supervisors): hear one live leg of a call in this browser. DevoX offers the leg's
// audio over WebRTC (POST listen → SDP offer; POST listen/answer ← this browser's answer); the
// audio plays in the <audio> element of the listen bar and is never recorded, here or on the
// server. One listen-in at a time per page; DevoX ends it when the leg ends, after
// console.listen.maxSec, on sign-out, or when this page goes away, and says so on the event
// stream (`listen` event).
import { $ } from './dom.js';

const REASONS = {
  stopped: 'stopped',
  leg_ended: 'the leg ended',
  max_duration: 'the longest listen-in allowed (console.listen.maxSec) is over',
  signed_out: 'signed out',
  left: 'the page went away',
  shutdown: 'DevoX is shutting down',
  connect_timeout: 'the browser did not connect in time',
  dtls_failed: 'the secure connection failed',
  dtls_closed: 'the browser closed the connection',
  ice_disconnected: 'the network connection was lost',
  worker_died: 'the media worker stopped',
  error: 'an error on the server',
};

let post = null;
let state = null;
/** The listen-in of this page: { listenId, pc, callId, leg, streamId, startedMs, maxSec }. */
let cur = null;
let tick = 0;

/** deps: post(path, body) → {status, body}; state: the console's (hello, me). */
export function initListen(deps) {
  post = deps.post;
  state = deps.state;
  $('listen-stop').addEventListener('click', () => {
    if (cur) void stopListen();
    else $('listen-bar').hidden = true;
  });
  // Closing the page closes the connection: DevoX sees DTLS close (and the event stream gone).
  window.addEventListener('pagehide', () => cur?.pc.close());
}

/** Why this operator cannot listen now, or '' when they can. */
export function listenBlocked() {
  const h = state.hello;
  if (!h) return 'connecting';
  if (h.operator.role !== 'supervisor') return 'needs the supervisor role';
  if (!h.listen.available) return `Listen-in unavailable: ${h.listen.reason}`;
  return '';
}

/** A leg panel's Listen button: enabled for a live leg a supervisor may hear. */
export function decorateLegButton(button, callId, leg) {
  const blocked = listenBlocked() || (!leg ? 'no such leg' : leg.ended ? 'the leg has ended' : '');
  const on = cur && cur.callId === callId && leg && cur.streamId === leg.streamId;
  button.disabled = Boolean(blocked) || Boolean(on);
  button.title = blocked || (on ? 'listening now' : `listen live to ${leg.leg} (never recorded, audited)`);
  button.textContent = on ? 'Listening…' : 'Listen';
  if (leg) button.dataset.streamId = leg.streamId;
}

/** Starts hearing a leg (streamId) of callId, or without streamId the call's most suspect live leg. */
export async function startListen(callId, streamId) {
  if (!callId) return;
  if (cur) await stopListen();
  bar('starting', `Listen-in: ${callId}`, 'asking DevoX…');
  const r = await post('listen', streamId ? { callId, streamId } : { callId });
  if (r.status !== 200) return ended(r.body.error ?? `listen-in refused (${r.status})`, 'refused');
  const b = r.body;
  const pc = new RTCPeerConnection();
  const me = { listenId: b.listenId, pc, callId: b.callId, leg: b.leg, streamId: b.streamId, startedMs: Date.now(), maxSec: b.maxSec };
  cur = me;
  $('listen-bar').dataset.listenId = b.listenId;
  bar('connecting', `Listen-in: ${b.callId} · ${b.leg}`, 'connecting…');
  pc.ontrack = (e) => {
    const audio = $('listen-audio');
    audio.srcObject = new MediaStream([e.track]);
    audio.play().catch(() => undefined);
  };
  pc.onconnectionstatechange = () => {
    if (cur !== me) return;
    if (pc.connectionState === 'connected') bar('live', null, clock(me));
    else if (pc.connectionState === 'failed') ended('the connection failed');
  };
  try {
    await pc.setRemoteDescription({ type: 'offer', sdp: b.sdp });
    await pc.setLocalDescription(await pc.createAnswer());
  } catch (err) {
    void post('listen/stop', { listenId: b.listenId });
    return ended(`this browser cannot play it: ${err.message}`);
  }
  if (cur !== me) return;
  const a = await post('listen/answer', { listenId: b.listenId, sdp: pc.localDescription.sdp });
  if (a.status !== 200 && cur === me) ended(a.body.error ?? `listen-in failed (${a.status})`);
  clearInterval(tick);
  tick = setInterval(() => {
    if (cur === me && pc.connectionState === 'connected') bar('live', null, clock(me));
  }, 1000);
}

/** Stops this page's listen-in (the Stop button, sign-out). */
export async function stopListen() {
  const me = cur;
  if (!me) return;
  // DevoX first, so its audit says `stopped`; closing the connection first would read as the browser's.
  bar('stopping', null, 'stopping…');
  await post('listen/stop', { listenId: me.listenId });
  if (cur === me) ended(REASONS.stopped, 'stopped');
}

/** The `listen` event of the console's event stream. */
export function onListenEvent(ev) {
  if (ev.state === 'ended' && cur && ev.listenId === cur.listenId) ended(REASONS[ev.reason] ?? ev.reason, ev.reason);
}

function clock(me) {
  const s = Math.floor((Date.now() - me.startedMs) / 1000);
  const mmss = (x) => `${Math.floor(x / 60)}:${String(x % 60).padStart(2, '0')}`;
  return `live ${mmss(s)} of at most ${mmss(me.maxSec)} · never recorded`;
}

function ended(text, reason = '') {
  const me = cur;
  cur = null;
  clearInterval(tick);
  me?.pc.close();
  const audio = $('listen-audio');
  audio.srcObject = null;
  $('listen-bar').dataset.reason = reason;
  bar('ended', null, `ended: ${text}`);
  for (const b of document.querySelectorAll('.leg-listen')) if (b.dataset.streamId === me?.streamId) b.textContent = 'Listen';
}

function bar(st, what, text) {
  const el = $('listen-bar');
  el.hidden = false;
  el.dataset.state = st;
  if (what !== null) $('listen-what').textContent = what;
  $('listen-state').textContent = text;
  $('listen-stop').textContent = st === 'ended' ? 'Dismiss' : 'Stop listening';
}
