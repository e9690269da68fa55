/**
 * FreeSWITCH mod_audio_fork and jambonz `listen` over a real WebSocket: metadata text frame,
 * then binary 16-bit LE PCM (mono or interleaved stereo) of real speech at real-time pace.
 */
import t from 'tap';
import { CLIP_A, CLIP_B, alignAndCompare, closed, ffmpegDecode16k, ffmpegRaw, int16FromS16le, openClient, sourceClip, startHarness, streamPcmFork } from './harness.js';
import { coveredSamples } from '../../helpers/recording-sink.js';
import { NEEDS_SHARED_SPEECH, loadSharedSpeech } from '../../helpers/shared-data.js';

const h = await startHarness();
t.teardown(() => h.close());

const refA = await loadSharedSpeech(() => sourceClip(CLIP_A));
const refB = await loadSharedSpeech(() => sourceClip(CLIP_B));

function expectedWindows(frames: number, frameMs = 20): number {
  return Math.floor(((frames * frameMs) / 1000 - 1) / 0.25) + 1;
}

t.test('audio_fork mono 8 kHz (subprotocol audio.drachtio.org)', { skip: NEEDS_SHARED_SPEECH }, async (t) => {
  const bytes = ffmpegRaw(CLIP_A, 8000, 's16le');
  const uuid = '5b4a3c2d-1e0f-4a5b-8c7d-000000000001';
  const ws = await openClient(h.url('/audio-fork'), { protocol: 'audio.drachtio.org' });
  t.equal(ws.protocol, 'audio.drachtio.org', 'server selected the audio_fork subprotocol');
  const { frames } = await streamPcmFork(ws, { sampleRate: 8000, uuid, caller: '+15551230001', campaign: 'q4' }, [int16FromS16le(bytes)], 8000);
  ws.close(1000, 'hangup');
  t.equal((await closed(ws)).code, 1000);
  await h.sink.waitFor(() => h.sink.byCall(uuid).get('caller')?.endReason !== undefined);
  const legs = h.sink.byCall(uuid);
  t.same([...legs.keys()], ['caller'], 'mono is one leg: caller');
  const s = legs.get('caller')!;
  t.equal(s.endReason, 'transport_closed');
  t.match(s.descriptor.identity, { protocol: 'audio-fork', uuid, caller: '+15551230001', campaign: 'q4' });
  t.notOk('sampleRate' in s.descriptor.identity!, 'format fields are not identity');
  t.equal(s.windows.length, expectedWindows(frames));
  t.ok(s.windows.every((w, i) => w.seq === i && Math.abs(w.mediaStartSec - i * 0.25) < 1e-9 && w.lostRatio === 0), 'windows every 250 ms, nothing lost');
  const n = coveredSamples(s);
  const a = alignAndCompare(s.audio, refA, n);
  const d = alignAndCompare(s.audio, ffmpegDecode16k(bytes, 8000, 's16le'), n);
  t.comment(`audio_fork mono 8k: corr vs source ${a.corr.toFixed(4)} lag ${a.lag}; SNR vs ffmpeg ${d.snrDb.toFixed(1)} dB`);
  t.ok(a.corr > 0.95 && Math.abs(a.lag) <= 2, 'matches the source speech');
  t.ok(d.snrDb > 25, 'matches ffmpeg resampling of the same PCM (SNR > 25 dB)');
});

t.test('audio_fork stereo 16 kHz: left = caller, right = callee', { skip: NEEDS_SHARED_SPEECH }, async (t) => {
  const left = int16FromS16le(ffmpegRaw(CLIP_A, 16000, 's16le'));
  const right = int16FromS16le(ffmpegRaw(CLIP_B, 16000, 's16le'));
  const uuid = '5b4a3c2d-1e0f-4a5b-8c7d-000000000002';
  const ws = await openClient(h.url('/audio-fork'), { protocol: 'audio.drachtio.org' });
  const { frames } = await streamPcmFork(ws, { sampleRate: 16000, mixType: 'stereo', uuid }, [left, right], 16000);
  ws.close(1000);
  await closed(ws);
  await h.sink.waitFor(() => [...h.sink.byCall(uuid).values()].filter((s) => s.endReason).length === 2);
  const legs = h.sink.byCall(uuid);
  t.same([...legs.keys()].sort(), ['callee', 'caller']);
  const caller = legs.get('caller')!;
  const callee = legs.get('callee')!;
  t.equal(caller.windows.length, expectedWindows(frames));
  t.equal(callee.windows.length, expectedWindows(frames));
  const n = coveredSamples(caller);
  const ca = alignAndCompare(caller.audio, refA, n);
  const cb = alignAndCompare(callee.audio, refB, n);
  const cross = alignAndCompare(caller.audio, refB, n);
  t.comment(`stereo: caller~A corr ${ca.corr.toFixed(4)} SNR ${ca.snrDb.toFixed(1)} dB; callee~B corr ${cb.corr.toFixed(4)} SNR ${cb.snrDb.toFixed(1)} dB; caller~B ${cross.corr.toFixed(3)}`);
  t.ok(ca.corr > 0.999 && ca.lag === 0 && ca.snrDb > 40, 'left channel is the caller leg, sample-exact but for int16 rounding');
  t.ok(cb.corr > 0.999 && cb.lag === 0 && cb.snrDb > 40, 'right channel is the callee leg');
  t.ok(cross.corr < 0.3, 'channels are not mixed up');
});

t.test('jambonz listen: metadata fields become identity; stereo 8 kHz', { skip: NEEDS_SHARED_SPEECH }, async (t) => {
  const left = int16FromS16le(ffmpegRaw(CLIP_A, 8000, 's16le'));
  const right = int16FromS16le(ffmpegRaw(CLIP_B, 8000, 's16le'));
  const callSid = 'b3f8c2a4-9d1e-4f6a-8b2c-jambonz00001';
  const metadata = {
    callSid,
    accountSid: 'acct-1',
    applicationSid: 'app-1',
    from: '+15551110000',
    to: '+15552220000',
    callerName: 'Alice',
    direction: 'inbound',
    sampleRate: 8000,
    mixType: 'stereo',
    metadata: { crmId: 'C-42', priority: 3 },
  };
  const ws = await openClient(h.url('/jambonz'), { protocol: 'audio.jambonz.org' });
  t.equal(ws.protocol, 'audio.jambonz.org', 'server selected the jambonz subprotocol');
  const sending = streamPcmFork(ws, metadata, [left, right], 8000);
  // jambonz may send JSON control frames mid-stream (e.g. DTMF); they must not disturb audio.
  setTimeout(() => ws.send(JSON.stringify({ event: 'dtmf', dtmf: '5', duration: 160 })), 1000);
  const { frames } = await sending;
  ws.close(1000);
  await closed(ws);
  await h.sink.waitFor(() => [...h.sink.byCall(callSid).values()].filter((s) => s.endReason).length === 2);
  const legs = h.sink.byCall(callSid);
  const caller = legs.get('caller')!;
  const callee = legs.get('callee')!;
  t.match(caller.descriptor.identity, {
    protocol: 'jambonz',
    callSid,
    accountSid: 'acct-1',
    from: '+15551110000',
    to: '+15552220000',
    direction: 'inbound',
    'metadata.crmId': 'C-42',
    'metadata.priority': '3',
  });
  t.equal(caller.descriptor.callId, callSid);
  t.equal(callee.descriptor.callId, callSid);
  t.equal(caller.windows.length, expectedWindows(frames));
  const n = coveredSamples(caller);
  const ca = alignAndCompare(caller.audio, refA, n);
  const cb = alignAndCompare(callee.audio, refB, n);
  t.comment(`jambonz stereo 8k: caller~A corr ${ca.corr.toFixed(4)}; callee~B corr ${cb.corr.toFixed(4)}`);
  t.ok(ca.corr > 0.95 && cb.corr > 0.95, 'each leg carries its channel');
  t.ok(caller.windows.every((w) => w.lostRatio === 0), 'control frame did not cost audio');
});

t.test('jambonz mixed: one leg named mixed', { skip: NEEDS_SHARED_SPEECH }, async (t) => {
  const mono = int16FromS16le(ffmpegRaw(CLIP_A, 16000, 's16le', 2.1));
  const callSid = 'b3f8c2a4-9d1e-4f6a-8b2c-jambonz00002';
  const ws = await openClient(h.url('/jambonz'), { protocol: 'audio.jambonz.org' });
  await streamPcmFork(ws, { callSid, sampleRate: '16000', mixType: 'mixed' }, [mono], 16000);
  ws.close(1000);
  await closed(ws);
  await h.sink.waitFor(() => h.sink.byCall(callSid).get('mixed')?.endReason !== undefined);
  const s = h.sink.byCall(callSid).get('mixed')!;
  t.equal(s.windows.length, 5, '2.1 s → 5 windows');
  t.ok(alignAndCompare(s.audio, refA, coveredSamples(s)).corr > 0.999);
});
