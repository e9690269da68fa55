/**
 * Every kind of bad input closes its own connection with the right close code and reason and
 * is counted, while a good Twilio stream on the same server keeps streaming real speech at real
 * time and ends complete.
 */
import t from 'tap';
import type WebSocket from 'ws';
import { CLIP_A, TOKEN_B, alignAndCompare, closed, ffmpegRaw, openClient, sourceClip, startHarness } from './harness.js';
import type { WsCloseReason } from '../../../src/signaling/websocket/types.js';
import { coveredSamples } from '../../helpers/recording-sink.js';
import { sleep } from '../../helpers/wait.js';
import { NEEDS_SHARED_SPEECH, loadSharedSpeech } from '../../helpers/shared-data.js';

const h = await startHarness({
  realtimeSlackMs: 300,
  idleTimeoutMs: 1000,
  startTimeoutMs: 600,
  maxFrameMs: 100,
  maxMessageBytes: 16384,
  maxStreamsPerToken: 50,
});
t.teardown(() => h.close());

const mulaw = await loadSharedSpeech(() => ffmpegRaw(CLIP_A, 8000, 'mulaw'));
const ref = await loadSharedSpeech(() => sourceClip(CLIP_A));

const twilioStart = (callSid: string): string =>
  JSON.stringify({
    event: 'start',
    streamSid: `MZ-${callSid}`,
    start: { callSid, tracks: ['inbound'], mediaFormat: { encoding: 'audio/x-mulaw', sampleRate: 8000, channels: 1 } },
  });
const media = (payload: string, chunk: number, track = 'inbound'): string =>
  JSON.stringify({ event: 'media', media: { track, chunk: String(chunk), timestamp: String((chunk - 1) * 20), payload } });
const frame = (i: number): string => mulaw.subarray(i * 160, (i + 1) * 160).toString('base64');

interface BadCase {
  name: string;
  path: string;
  protocol?: string;
  reason: WsCloseReason;
  code: number;
  message: RegExp;
  /** Drives the client into the bad input. */
  act(ws: WebSocket): Promise<void> | void;
}

const cases: BadCase[] = [
  { name: 'text frame that is not JSON', path: '/twilio', reason: 'not_json', code: 1007, message: /not JSON/, act: (ws) => ws.send('{"event": "start",') },
  {
    name: 'start without callSid',
    path: '/twilio',
    reason: 'schema',
    code: 1007,
    message: /start/,
    act: (ws) => ws.send(JSON.stringify({ event: 'start', start: { mediaFormat: { encoding: 'audio/x-mulaw', sampleRate: 8000, channels: 1 } } })),
  },
  {
    name: 'text frame that is not UTF-8 (refused by ws)',
    path: '/twilio',
    reason: 'protocol_error',
    code: 1007,
    message: /^text message is not valid UTF-8$/,
    act: (ws) => ws.send(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), { binary: false }),
  },
  { name: 'message without event', path: '/twilio', reason: 'schema', code: 1007, message: /no "event"/, act: (ws) => ws.send('{"hello":1}') },
  { name: 'media before start', path: '/twilio', reason: 'schema', code: 1007, message: /media before start/, act: (ws) => ws.send(media(frame(0), 1)) },
  {
    name: 'media on a track start did not announce',
    path: '/twilio',
    reason: 'schema',
    code: 1007,
    message: /not announced/,
    act: (ws) => {
      ws.send(twilioStart('CA-bad-track'));
      ws.send(media(frame(0), 1, 'outbound'));
    },
  },
  {
    name: 'negative media timestamp',
    path: '/twilio',
    reason: 'schema',
    code: 1007,
    message: /media\.timestamp/,
    act: (ws) => {
      ws.send(twilioStart('CA-neg-ts'));
      ws.send(JSON.stringify({ event: 'media', media: { track: 'inbound', chunk: '1', timestamp: '-20', payload: frame(0) } }));
    },
  },
  {
    name: 'payload with characters outside base64',
    path: '/twilio',
    reason: 'bad_base64',
    code: 1007,
    message: /not base64/,
    act: (ws) => {
      ws.send(twilioStart('CA-bad-b64'));
      ws.send(media(frame(0), 1));
      ws.send(media('####' + frame(1).slice(4), 2));
    },
  },
  {
    name: 'base64 of impossible length',
    path: '/twilio',
    reason: 'bad_base64',
    code: 1007,
    message: /not base64/,
    act: (ws) => {
      ws.send(twilioStart('CA-bad-b64-len'));
      ws.send(media('AAAAA', 1));
    },
  },
  {
    name: 'padding in the middle of base64',
    path: '/twilio',
    reason: 'bad_base64',
    code: 1007,
    message: /base64/,
    act: (ws) => {
      ws.send(twilioStart('CA-bad-b64-pad'));
      ws.send(media('AA==AAAA', 1));
    },
  },
  { name: 'binary frame on the Twilio protocol', path: '/twilio', reason: 'unexpected_binary', code: 1003, message: /binary/, act: (ws) => ws.send(Buffer.alloc(320)) },
  {
    name: 'binary audio before metadata (audio_fork)',
    path: '/audio-fork',
    protocol: 'audio.drachtio.org',
    reason: 'unexpected_binary',
    code: 1003,
    message: /before the metadata/,
    act: (ws) => ws.send(Buffer.alloc(320)),
  },
  {
    name: 'Telnyx encoding DevoX cannot decode',
    path: '/telnyx',
    reason: 'unsupported_format',
    code: 1003,
    message: /G722/,
    act: (ws) => ws.send(JSON.stringify({ event: 'start', stream_id: 's1', start: { call_control_id: 'v3:x', media_format: { encoding: 'G722', sample_rate: 16000, channels: 1 } } })),
  },
  {
    name: 'Telnyx OPUS payload that is not an Opus packet',
    path: '/telnyx',
    reason: 'undecodable_audio',
    code: 1007,
    message: /not a valid opus packet/,
    act: (ws) => {
      ws.send(JSON.stringify({ event: 'start', stream_id: 's2', start: { call_control_id: 'v3:opus-bad', media_format: { encoding: 'OPUS', sample_rate: 16000, channels: 1 } } }));
      ws.send(JSON.stringify({ event: 'media', media: { track: 'inbound', chunk: '1', timestamp: '0', payload: Buffer.from([0x03, 0x00]).toString('base64') } }));
    },
  },
  {
    name: 'Twilio frame of 200 ms (over maxFrameMs 100)',
    path: '/twilio',
    reason: 'frame_too_large',
    code: 1009,
    message: /over 100 ms/,
    act: (ws) => {
      ws.send(twilioStart('CA-big'));
      ws.send(media(mulaw.subarray(0, 1600).toString('base64'), 1));
    },
  },
  {
    name: 'audio_fork frame of 1 s (over maxFrameMs 100)',
    path: '/audio-fork',
    protocol: 'audio.drachtio.org',
    reason: 'frame_too_large',
    code: 1009,
    message: /over 100 ms/,
    act: (ws) => {
      ws.send(JSON.stringify({ sampleRate: 8000, uuid: 'fork-big' }));
      ws.send(Buffer.alloc(16000));
    },
  },
  {
    name: 'message over maxMessageBytes (refused by ws before buffering)',
    path: '/audio-fork',
    protocol: 'audio.drachtio.org',
    reason: 'message_too_large',
    code: 1009,
    message: /^message over websocket\.maxMessageBytes \(16384 bytes\)$/,
    act: (ws) => {
      ws.send(JSON.stringify({ sampleRate: 8000, uuid: 'fork-huge' }));
      ws.send(Buffer.alloc(20000));
    },
  },
  {
    name: 'odd byte count of 16-bit PCM',
    path: '/jambonz',
    protocol: 'audio.jambonz.org',
    reason: 'partial_sample',
    code: 1007,
    message: /not whole/,
    act: (ws) => {
      ws.send(JSON.stringify({ sampleRate: 8000, callSid: 'jb-odd', mixType: 'stereo' }));
      ws.send(Buffer.alloc(322));
    },
  },
  {
    // A non-standard rate would cost a 16000-phase resampler design (event loop blocked, ~20 MiB).
    name: 'Telnyx L16 at a non-standard sample rate',
    path: '/telnyx',
    reason: 'unsupported_format',
    code: 1003,
    message: /sample_rate 47999/,
    act: (ws) => ws.send(JSON.stringify({ event: 'start', stream_id: 's3', start: { call_control_id: 'v3:l16-odd', media_format: { encoding: 'L16', sample_rate: 47999, channels: 1 } } })),
  },
  {
    name: 'audio_fork metadata with a non-standard sampleRate',
    path: '/audio-fork',
    protocol: 'audio.drachtio.org',
    reason: 'schema',
    code: 1007,
    message: /sampleRate must be one of 8000/,
    act: (ws) => ws.send(JSON.stringify({ sampleRate: 47999, uuid: 'fork-odd-rate' })),
  },
  { name: 'metadata without sampleRate', path: '/jambonz', protocol: 'audio.jambonz.org', reason: 'schema', code: 1007, message: /sampleRate/, act: (ws) => ws.send(JSON.stringify({ callSid: 'x' })) },
  { name: 'metadata that is not JSON', path: '/audio-fork', reason: 'not_json', code: 1007, message: /not JSON/, act: (ws) => ws.send('sampleRate=8000') },
  {
    name: 'client sending faster than real time',
    path: '/twilio',
    reason: 'faster_than_realtime',
    code: 1008,
    message: /ahead of real time/,
    act: (ws) => {
      ws.send(twilioStart('CA-fast'));
      // 10 s of audio at once: far beyond the 300 ms slack even if DevoX itself stalls for seconds.
      for (let i = 0; i < 500; i++) ws.send(media(frame(i % 200), i + 1));
    },
  },
  {
    name: 'client that starts and then sends nothing (no stop)',
    path: '/twilio',
    reason: 'idle_timeout',
    code: 1008,
    message: /nothing received for 1000 ms/,
    act: (ws) => {
      ws.send(twilioStart('CA-idle'));
      ws.send(media(frame(0), 1));
    },
  },
  { name: 'client that never sends start', path: '/jambonz', reason: 'start_timeout', code: 1008, message: /no start\/metadata within 600 ms/, act: () => undefined },
];

t.test('bad inputs close only their own stream, with the right code, while a good stream continues', { skip: NEEDS_SHARED_SPEECH }, async (t) => {
  const goodSid = 'CAgood000000000000000000000000000';
  const good = await openClient(h.url('/twilio'), { token: TOKEN_B });
  const goodClosed = closed(good);
  // The good stream plays the clip (looping) at real time until every bad case is done, so it is
  // live throughout however long they take on a busy machine.
  let badDone = false;
  const clipFrames = Math.floor(mulaw.length / 160);
  const goodRun = (async () => {
    good.send(twilioStart(goodSid));
    const t0 = performance.now();
    let i = 0;
    while (!badDone || i < clipFrames) {
      const wait = t0 + i * 20 - performance.now();
      if (wait > 1) await sleep(wait);
      good.send(media(frame(i % clipFrames), i + 1));
      i++;
    }
    good.send(JSON.stringify({ event: 'stop', stop: { callSid: goodSid } }));
    return { frames: i };
  })();

  await sleep(300);
  const before = { ...h.media.counters.closed };
  const expectedCounts = new Map<WsCloseReason, number>();
  for (const c of cases) {
    const ws = await openClient(h.url(c.path), c.protocol ? { protocol: c.protocol } : {});
    const done = closed(ws);
    await c.act(ws);
    const got = await done;
    t.equal(got.code, c.code, `${c.name}: close code ${c.code}`);
    t.match(got.reason, c.message, `${c.name}: reason "${got.reason}"`);
    expectedCounts.set(c.reason, (expectedCounts.get(c.reason) ?? 0) + 1);
  }
  for (const [reason, n] of expectedCounts) {
    t.equal(h.media.counters.closed[reason] - before[reason], n, `counter closed.${reason} += ${n}`);
  }
  t.equal(good.readyState, good.OPEN, 'the good stream is still open after all the bad ones');
  badDone = true;

  const { frames } = await goodRun;
  t.equal((await goodClosed).code, 1000, 'good stream ends normally');
  await h.sink.waitFor(() => h.sink.byCall(goodSid).get('inbound')?.endReason !== undefined);
  const s = h.sink.byCall(goodSid).get('inbound')!;
  t.equal(s.endReason, 'bye');
  t.equal(s.windows.length, Math.floor(((frames * 20) / 1000 - 1) / 0.25) + 1, 'good stream: every window');
  t.ok(s.windows.every((w) => w.lostRatio === 0), 'good stream: nothing lost');
  const a = alignAndCompare(s.audio, ref, Math.min(coveredSamples(s), ref.length));
  t.ok(a.corr > 0.95, `good stream: audio intact (corr ${a.corr.toFixed(4)})`);

  // Legs opened by bad clients were ended as errors / timeouts, not left dangling.
  const ends = new Map<string, string | undefined>();
  for (const st of h.sink.streams.values()) ends.set(st.descriptor.callId, st.endReason);
  t.equal(ends.get('CA-fast'), 'error', 'faster-than-real-time leg ended with error');
  t.equal(ends.get('CA-idle'), 'timeout', 'idle leg ended with timeout');
  t.equal(ends.get('fork-big'), 'error');
  t.equal(h.media.counters.activeConnections, 0, 'no connection left open');
  t.equal(h.media.counters.activeLegs, 0, 'no leg left open');
});
