/**
 * media.maxStreams: one cap on live streams shared by every ingress. A real server with a
 * cap of 2: RTP streams opened over HTTP and a WebSocket media stream (audio_fork, real ws
 * client) take slots; the next of either kind is refused (HTTP 503 + Retry-After, WebSocket
 * 1013 over_capacity), counted by transport in /metrics; a released stream frees its slot,
 * and an admitted stream still gets its windows scored.
 */
import t from 'tap';
import { WebSocket } from 'ws';
import { StreamCapacity, StreamCapacityError } from '../../src/media/stream-capacity.js';
import { loadAudio, metricValue, scrape, sendFile, startTestServer } from '../helpers/devox-server.js';
import { LineCapture } from '../helpers/capture.js';
import { GENUINE_FILE } from '../helpers/fixture-paths.js';
import { waitFor } from '../helpers/wait.js';

t.test('StreamCapacity: slots, idempotent release, refusals by transport', async (t) => {
  const c = new StreamCapacity(2);
  const a = c.take('rtp');
  const b = c.take('websocket');
  t.equal(c.active, 2);
  t.throws(() => c.take('webrtc'), StreamCapacityError, 'third refused');
  t.throws(() => c.take('webrtc'), /at the limit of 2 live streams \(media\.maxStreams\)/, 'says which limit');
  a();
  a();
  t.equal(c.active, 1, 'a release counts once');
  const d = c.take('rtp');
  t.equal(c.active, 2);
  b();
  d();
  t.equal(c.active, 0);
  t.same(c.refused, { rtp: 0, websocket: 0, webrtc: 2, file: 0 });
  t.throws(() => new StreamCapacity(0), RangeError);
});

const TOKEN = 'capacity-test-token';
const stdout = new LineCapture();
const server = await startTestServer(
  { media: { maxStreams: 2 }, websocket: { enabled: true, tokens: [TOKEN] }, webrtc: { enabled: false } },
  { stdout },
);
t.teardown(() => server.close());

async function openRtp(callId: string): Promise<Response> {
  return fetch(`${server.http.url}/streams`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ callId, codec: 'PCMU' }),
  });
}

function wsUrl(): string {
  return `${server.http.url.replace(/^http/, 'ws')}${server.config.websocket.pathPrefix}/audio-fork`;
}

/** Opens an audio_fork stream (metadata + 1 s of PCM); resolves with how it was closed, or 'open' after 1.5 s. */
async function audioFork(uuid: string, pcm: Int16Array): Promise<{ ws: WebSocket; closed: Promise<{ code: number; reason: string }> }> {
  const ws = new WebSocket(wsUrl(), 'audio.drachtio.org', { headers: { authorization: `Bearer ${TOKEN}` } });
  const closed = new Promise<{ code: number; reason: string }>((r) => ws.once('close', (code, reason) => r({ code, reason: reason.toString() })));
  await new Promise<void>((res, rej) => {
    ws.once('open', () => res());
    ws.once('error', rej);
  });
  ws.send(JSON.stringify({ sampleRate: 8000, uuid }));
  for (let i = 0; i < 50; i++) ws.send(Buffer.from(pcm.buffer, pcm.byteOffset + i * 320, 320));
  return { ws, closed };
}

t.test('RTP and WebSocket streams share media.maxStreams', async (t) => {
  const a = await openRtp('cap-a');
  const b = await openRtp('cap-b');
  t.equal(a.status, 201, 'first RTP stream admitted');
  t.equal(b.status, 201, 'second RTP stream admitted');
  const streamA = (await a.json()) as Awaited<ReturnType<typeof server.openStream>>;
  const streamB = (await b.json()) as Awaited<ReturnType<typeof server.openStream>>;

  const c = await openRtp('cap-c');
  t.equal(c.status, 503, 'third RTP stream refused with 503');
  t.equal(c.headers.get('retry-after'), String(server.config.sip.retryAfterSec), 'with Retry-After');
  t.match(((await c.json()) as { error: string }).error, /limit of 2 live streams/, 'says why');

  const speech = await loadAudio(GENUINE_FILE, 1.2);
  const pcm8k = new Int16Array(8000);
  for (let i = 0; i < pcm8k.length; i++) pcm8k[i] = Math.round(speech.samples[2 * i]! * 32767 * 0.5);
  const refused = await audioFork('cap-ws-1', pcm8k);
  const r = await refused.closed;
  t.equal(r.code, 1013, 'WebSocket stream over the cap closed with 1013 (try again later)');
  t.match(r.reason, /limit of 2 live streams/, 'close reason says why');

  let m = await scrape(server);
  t.equal(metricValue(m, 'devox_stream_capacity'), 2, 'capacity exported');
  t.equal(metricValue(m, 'devox_stream_slots_in_use'), 2, 'two slots in use');
  t.equal(metricValue(m, 'devox_streams_refused_total', 'transport="rtp"'), 1, 'RTP refusal counted');
  t.equal(metricValue(m, 'devox_streams_refused_total', 'transport="websocket"'), 1, 'WebSocket refusal counted');
  t.equal(metricValue(m, 'devox_ws_closed_total', 'reason="over_capacity"'), 1, 'WebSocket close reason counted');

  // Releasing one RTP stream frees its slot for any ingress: the WebSocket stream is admitted and scored.
  const del = await fetch(`${server.http.url}/streams?streamId=${streamA.streamId}`, { method: 'DELETE' });
  t.equal(del.status, 200);
  await waitFor(async () => metricValue(await scrape(server), 'devox_stream_slots_in_use') === 1, 5000, 'slot freed');
  const admitted = await audioFork('cap-ws-2', pcm8k);
  const scored = () => stdout.lines.some((l) => l.includes('"cap-ws-2"') && l.includes('window.scored'));
  await waitFor(scored, 10_000, 'a scored window of the admitted WebSocket stream');
  t.ok(scored(), 'admitted WebSocket stream is scored');
  m = await scrape(server);
  t.equal(metricValue(m, 'devox_stream_slots_in_use'), 2, 'WebSocket leg holds the freed slot');
  admitted.ws.close(1000);
  await admitted.closed;
  await waitFor(async () => metricValue(await scrape(server), 'devox_stream_slots_in_use') === 1, 5000, 'WebSocket slot given back');

  // The remaining RTP stream is unaffected by the refusals: it still carries audio to verdicts.
  await sendFile(streamB, GENUINE_FILE, { maxSec: 2 });
  await waitFor(() => stdout.lines.some((l) => l.includes('"cap-b"') && l.includes('window.scored')), 10_000, 'cap-b scored');
  server.releaseStream(streamB.streamId);
  await waitFor(async () => metricValue(await scrape(server), 'devox_stream_slots_in_use') === 0, 5000, 'all slots free');
  t.equal((await openRtp('cap-d')).status, 201, 'admits again once below the cap');
});
