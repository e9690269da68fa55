/**
 * Twilio Media Streams and Telnyx streaming over a real WebSocket: real LibriSpeech speech
 * converted by ffmpeg to 8 kHz µ-law / A-law / 16 kHz L16, streamed at real-time pace by a `ws`
 * client, decoded by DevoX into windows that must match the source audio.
 */
import t, { type Test } from 'tap';
import { createDecoder, createEncoder } from '../../../src/media/codecs.js';
import { CLIP_A, CLIP_B, CLIP_SEC, OUTPUT_RATE, alignAndCompare, closed, ffmpegDecode16k, ffmpegRaw, int16FromS16le, openClient, sourceClip, startHarness, streamTwilio } from './harness.js';
import { coveredSamples, type RecordedStream } from '../../helpers/recording-sink.js';
import { NEEDS_SHARED_SPEECH, loadSharedSpeech } from '../../helpers/shared-data.js';

const h = await startHarness();
t.teardown(() => h.close());

const refA = await loadSharedSpeech(() => sourceClip(CLIP_A));
const refB = await loadSharedSpeech(() => sourceClip(CLIP_B));
const mulawA = await loadSharedSpeech(() => ffmpegRaw(CLIP_A, 8000, 'mulaw'));
const mulawB = await loadSharedSpeech(() => ffmpegRaw(CLIP_B, 8000, 'mulaw'));
const decodedA = await loadSharedSpeech(() => ffmpegDecode16k(mulawA, 8000, 'mulaw'));
const decodedB = await loadSharedSpeech(() => ffmpegDecode16k(mulawB, 8000, 'mulaw'));

/** Windows of one stream: seq 0.., hop 250 ms, 1 s long, covering the clip. */
function checkWindows(tt: Test, s: RecordedStream, sentSec: number): void {
  const expected = Math.floor((sentSec - 1) / 0.25) + 1;
  tt.equal(s.windows.length, expected, `${expected} windows for ${sentSec} s`);
  s.windows.forEach((w, i) => {
    if (w.seq !== i || Math.abs(w.mediaStartSec - i * 0.25) > 1e-9 || w.length !== OUTPUT_RATE) {
      tt.fail(`window ${i}: seq ${w.seq} start ${w.mediaStartSec} length ${w.length}`);
    }
  });
  tt.ok(s.windows.every((w) => w.lostRatio === 0), 'no window has lost audio');
  tt.ok(s.windows.every((w) => w.readyMs >= w.arrivalMs), 'each window is cut after its last frame arrived');
  tt.ok(s.windows.every((w, i) => i === 0 || w.arrivalMs >= s.windows[i - 1]!.arrivalMs), 'windows come out in arrival order');
}

t.test('Twilio: inbound + outbound tracks become two legs of one call, audio matches the source', { skip: NEEDS_SHARED_SPEECH }, async (t) => {
  const callSid = 'CAaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa1';
  const ws = await openClient(h.url('/twilio'));
  const done = closed(ws);
  const { frames } = await streamTwilio(
    ws,
    [
      { track: 'inbound', bytes: mulawA },
      { track: 'outbound', bytes: mulawB },
    ],
    { callSid, customParameters: { agent: 'alice', queue: 'support' } },
  );
  const c = await done;
  t.equal(c.code, 1000, 'closed normally after stop');
  await h.sink.waitFor(() => [...h.sink.byCall(callSid).values()].filter((s) => s.endReason).length === 2);
  const legs = h.sink.byCall(callSid);
  t.same([...legs.keys()].sort(), ['inbound', 'outbound']);
  const inbound = legs.get('inbound')!;
  const outbound = legs.get('outbound')!;
  t.equal(inbound.endReason, 'bye');
  t.equal(inbound.descriptor.transport, 'websocket');
  t.not(inbound.descriptor.streamId, outbound.descriptor.streamId);
  t.match(inbound.descriptor.identity, {
    protocol: 'twilio',
    callSid,
    streamSid: 'MZ0123456789abcdef0123456789abcdef',
    accountSid: 'AC0123456789abcdef0123456789abcdef',
    'param.agent': 'alice',
    'param.queue': 'support',
  });
  const sentSec = (frames * 20) / 1000;
  checkWindows(t, inbound, sentSec);
  checkWindows(t, outbound, sentSec);
  const n = coveredSamples(inbound);
  const a = alignAndCompare(inbound.audio, refA, n);
  const b = alignAndCompare(outbound.audio, refB, n);
  t.comment(`inbound vs source A: corr ${a.corr.toFixed(4)} lag ${a.lag} SNR ${a.snrDb.toFixed(1)} dB`);
  t.comment(`outbound vs source B: corr ${b.corr.toFixed(4)} lag ${b.lag} SNR ${b.snrDb.toFixed(1)} dB`);
  t.ok(a.corr > 0.95 && Math.abs(a.lag) <= 2, 'inbound leg carries clip A (8 kHz µ-law vs 16 kHz source)');
  t.ok(b.corr > 0.95 && Math.abs(b.lag) <= 2, 'outbound leg carries clip B');
  // Against ffmpeg's decoding of the same µ-law bytes: only the resamplers differ.
  const da = alignAndCompare(inbound.audio, decodedA, n);
  const db = alignAndCompare(outbound.audio, decodedB, n);
  t.comment(`vs ffmpeg-decoded µ-law: inbound SNR ${da.snrDb.toFixed(1)} dB, outbound SNR ${db.snrDb.toFixed(1)} dB`);
  t.ok(da.snrDb > 25 && db.snrDb > 25, 'both legs decode like ffmpeg decodes the same bytes (SNR > 25 dB)');
  const cross = alignAndCompare(inbound.audio, refB, n);
  t.ok(cross.corr < 0.3, `inbound leg is not clip B (corr ${cross.corr.toFixed(3)})`);
});

t.test('Twilio: frames sent out of order, or with jittery timestamps, are placed exactly', { skip: NEEDS_SHARED_SPEECH }, async (t) => {
  const inOrderSid = 'CAbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb1';
  const shuffledSid = 'CAbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb2';
  // Swap neighbours, and hold every 10th frame back by 3 frames (within websocket.reorderFrames = 5).
  const order = (n: number): number[] => {
    const o = [...Array(n).keys()];
    for (let i = 0; i + 1 < n; i += 2) [o[i], o[i + 1]] = [o[i + 1]!, o[i]!];
    for (let i = 5; i + 3 < n; i += 10) {
      const [held] = o.splice(i, 1);
      o.splice(i + 3, 0, held!);
    }
    return o;
  };
  const jitteredSid = 'CAbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb3';
  const ws1 = await openClient(h.url('/twilio'));
  const ws2 = await openClient(h.url('/twilio'));
  const ws3 = await openClient(h.url('/twilio'));
  const done = [ws1, ws2, ws3].map(closed);
  await Promise.all([
    streamTwilio(ws1, [{ track: 'inbound', bytes: mulawA }], { callSid: inOrderSid }),
    streamTwilio(ws2, [{ track: 'inbound', bytes: mulawA }], { callSid: shuffledSid, order }),
    // Whole-ms timestamps that wobble by up to 2 ms off the 20 ms grid.
    streamTwilio(ws3, [{ track: 'inbound', bytes: mulawA }], { callSid: jitteredSid, timestampJitterMs: (i) => i % 3 }),
  ]);
  for (const d of done) t.equal((await d).code, 1000);
  const ended = (sid: string) => h.sink.byCall(sid).get('inbound')?.endReason !== undefined;
  await h.sink.waitFor(() => ended(inOrderSid) && ended(shuffledSid) && ended(jitteredSid));
  const ref = h.sink.byCall(inOrderSid).get('inbound')!;
  const n = coveredSamples(ref);
  for (const [name, sid] of [['reordered', shuffledSid], ['jittered-timestamp', jitteredSid]] as const) {
    const got = h.sink.byCall(sid).get('inbound')!;
    t.equal(got.windows.length, ref.windows.length, `${name}: same windows as the in-order stream`);
    t.ok(got.windows.every((w) => w.lostRatio === 0), `${name}: no gap was counted as lost`);
    let maxDiff = 0;
    for (let i = 0; i < n; i++) maxDiff = Math.max(maxDiff, Math.abs(got.audio[i]! - ref.audio[i]!));
    t.equal(maxDiff, 0, `${name} stream decodes to exactly the in-order audio`);
  }
  const got = h.sink.byCall(shuffledSid).get('inbound')!;
  const a = alignAndCompare(got.audio, refA, n);
  t.ok(a.corr > 0.95 && Math.abs(a.lag) <= 2, `matches the source (corr ${a.corr.toFixed(4)})`);
});

t.test('Telnyx variant: PCMU, PCMA and L16/16k with snake_case fields', { skip: NEEDS_SHARED_SPEECH }, async (t) => {
  const cases = [
    { encoding: 'PCMU', rate: 8000, bps: 1, bytes: mulawA, fmt: 'mulaw' as const, minCorr: 0.95 },
    { encoding: 'PCMA', rate: 8000, bps: 1, bytes: ffmpegRaw(CLIP_A, 8000, 'alaw'), fmt: 'alaw' as const, minCorr: 0.95 },
    { encoding: 'L16', rate: 16000, bps: 2, bytes: ffmpegRaw(CLIP_A, 16000, 's16be'), fmt: 's16be' as const, minCorr: 0.999 },
  ];
  await Promise.all(
    cases.map(async (c, k) => {
      const callControlId = `v3:telnyx-call-${k}-${c.encoding}`;
      const ws = await openClient(h.url('/telnyx'));
      const done = closed(ws);
      const { frames } = await streamTwilio(ws, [{ track: 'inbound', bytes: c.bytes }], {
        variant: 'telnyx',
        callSid: callControlId,
        encoding: c.encoding,
        sampleRate: c.rate,
        bytesPerSample: c.bps,
      });
      t.equal((await done).code, 1000, `${c.encoding}: closed normally after stop`);
      await h.sink.waitFor(() => h.sink.byCall(callControlId).get('inbound')?.endReason !== undefined);
      const s = h.sink.byCall(callControlId).get('inbound')!;
      t.match(s.descriptor.identity, {
        protocol: 'telnyx',
        call_control_id: callControlId,
        call_session_id: 'c1d2e3f4-0000-1111-2222-333344445555',
        stream_id: '32de0dea-53cb-4b21-89a4-9e5d0ec18d6d',
        from: '+13122010000',
        to: '+13122020000',
      });
      t.equal(s.descriptor.callId, callControlId);
      t.equal(s.windows.length, Math.floor(((frames * 20) / 1000 - 1) / 0.25) + 1, `${c.encoding}: all windows`);
      const a = alignAndCompare(s.audio, refA, coveredSamples(s));
      t.comment(`Telnyx ${c.encoding}/${c.rate}: corr ${a.corr.toFixed(4)} lag ${a.lag} SNR ${a.snrDb.toFixed(1)} dB`);
      t.ok(a.corr > c.minCorr && Math.abs(a.lag) <= 2, `${c.encoding}: decoded audio matches the source`);
      const d = alignAndCompare(s.audio, ffmpegDecode16k(c.bytes, c.rate, c.fmt), coveredSamples(s));
      t.ok(d.snrDb > 25, `${c.encoding}: SNR ${d.snrDb.toFixed(1)} dB against ffmpeg's decoding of the same bytes`);
    }),
  );
});

t.test('clip length sanity', { skip: NEEDS_SHARED_SPEECH }, async (t) => {
  t.equal(mulawA.length, Math.round(CLIP_SEC * 8000), 'ffmpeg produced the requested 8 kHz clip');
});

t.test('Telnyx OPUS: one Opus packet per media message', { skip: NEEDS_SHARED_SPEECH }, async (t) => {
  const pcm48 = int16FromS16le(ffmpegRaw(CLIP_A, 48000, 's16le'));
  const enc = createEncoder('opus', { bitrate: 32000 });
  const dec = createDecoder({ encoding: 'opus', clockRate: 48000, channels: 2 });
  const packets: Buffer[] = [];
  const straight: number[] = [];
  const buf = new Uint8Array(1500);
  const out = new Int16Array(5760);
  for (let i = 0; (i + 1) * 960 <= pcm48.length; i++) {
    const p = Buffer.from(buf.subarray(0, enc.encode(pcm48, i * 960, 960, buf)));
    packets.push(p);
    const n = dec.decode(p, out);
    for (let k = 0; k < n; k++) straight.push(out[k]!);
  }
  enc.close();
  dec.close();
  const straightBytes = Buffer.alloc(straight.length * 2);
  straight.forEach((v, k) => straightBytes.writeInt16LE(v, 2 * k));
  const callControlId = 'v3:telnyx-call-opus';
  const ws = await openClient(h.url('/telnyx'));
  const done = closed(ws);
  const { frames } = await streamTwilio(ws, [{ track: 'inbound', packets }], { variant: 'telnyx', callSid: callControlId, encoding: 'OPUS', sampleRate: 16000 });
  t.equal((await done).code, 1000);
  await h.sink.waitFor(() => h.sink.byCall(callControlId).get('inbound')?.endReason !== undefined);
  const s = h.sink.byCall(callControlId).get('inbound')!;
  t.equal(s.windows.length, Math.floor(((frames * 20) / 1000 - 1) / 0.25) + 1, 'all windows');
  t.ok(s.windows.every((w) => w.lostRatio === 0), 'nothing lost');
  const d = alignAndCompare(s.audio, ffmpegDecode16k(straightBytes, 48000, 's16le'), coveredSamples(s));
  t.comment(`Telnyx OPUS vs the same packets decoded straight: corr ${d.corr.toFixed(4)} lag ${d.lag} SNR ${d.snrDb.toFixed(1)} dB`);
  t.ok(d.snrDb > 25 && d.lag === 0, 'decoded like the packets decode straight');
  const a = alignAndCompare(s.audio, refA, coveredSamples(s));
  t.ok(a.corr > 0.75, `follows the source speech (corr ${a.corr.toFixed(3)}; Opus is perceptual)`);
});
