/**
 * Real RTP over UDP on 127.0.0.1 from DevoX's own sender into MediaSessions: decoded,
 * resampled audio checked against the source; window timing; loss, reordering,
 * duplicates and sequence/timestamp wrap-around.
 */
import t, { type Test } from 'tap';
import { loadConfig } from '../../src/config.js';
import { MediaSessions, type RtpSession } from '../../src/media/media-sessions.js';
import { readAudioFile } from '../../src/media/audio-file.js';
import { resampleBuffer } from '../../src/media/resampler.js';
import { defaultPayloadFormat } from '../../src/media/codecs.js';
import { sendAudio, type RtpSendOptions, type RtpSendStats } from '../../src/media/rtp-sender.js';
import type { CodecName } from '../../src/media/types.js';
import { align, descriptor, rms, SPEECH_16K, SPEECH_22K } from './helpers.js';
import { captureLog } from '../helpers/capture.js';
import { RecordingSink } from '../helpers/recording-sink.js';
import { waitFor } from '../helpers/wait.js';
import { NEEDS_SHARED_SPEECH, loadSharedSpeech } from '../helpers/shared-data.js';

const cfg = loadConfig({ env: {} });
const OUT = 16000;
const sink = new RecordingSink();
const { log } = captureLog();
const sessions = new MediaSessions({
  media: { ...cfg.media, rtpPortMin: 42000, rtpPortMax: 42199 },
  window: cfg.window,
  outputRate: OUT,
  sink,
  log,
});
t.teardown(() => sessions.closeAll());

const speech16 = await loadSharedSpeech(() => readAudioFile(SPEECH_16K));
const speech22 = await loadSharedSpeech(() => readAudioFile(SPEECH_22K));
/** What the detector should see after an 8 kHz phone channel: the source band-limited the same way. */
const phoneRef16 = await loadSharedSpeech(() => resampleBuffer(resampleBuffer(speech16.samples, speech16.sampleRate, 8000), 8000, OUT));

let n = 0;
async function run(codec: CodecName, src: { samples: Float32Array; sampleRate: number }, opts: Partial<RtpSendOptions> = {}): Promise<{ session: RtpSession; stats: RtpSendStats; audio: Float32Array }> {
  const id = `ingest-${++n}-${codec}`;
  const fmt = defaultPayloadFormat(codec);
  const session = await sessions.allocate({ descriptor: descriptor(id), formats: [fmt, { payloadType: 101, encoding: 'telephone-event', clockRate: 8000, channels: 1 }] });
  const stats = await sendAudio(src.samples, src.sampleRate, { to: { address: '127.0.0.1', port: session.port }, codec, realtime: false, ...opts });
  await waitFor(() => session.counters.packetsReceived >= stats.sent, 10000, 'all packets received');
  sessions.release(id, 'bye');
  await sink.waitFor(() => sink.hasEnded(id));
  return { session, stats, audio: sink.timeline(id) };
}

function checkWindows(t: Test, id: string, expectedSec: number): void {
  const ws = sink.windowsOf(id);
  t.ok(ws.length >= Math.floor((expectedSec - 1) / 0.25) - 1, `windows cover the stream (${ws.length})`);
  const offGrid = ws
    .filter((w, i) => w.seq !== i || Math.abs(w.mediaStartSec - i * 0.25) > 1e-9 || Math.abs(w.mediaEndSec - (1 + i * 0.25)) > 1e-9)
    .map((w) => `seq ${w.seq} media ${w.mediaStartSec}..${w.mediaEndSec}`);
  t.same(offGrid, [], 'window seq and media stamps on the 250 ms hop grid');
}

t.test('PCMU and PCMA from our sender match the band-limited source', { skip: NEEDS_SHARED_SPEECH }, async (t) => {
  for (const codec of ['PCMU', 'PCMA'] as const) {
    const { session, stats, audio } = await run(codec, speech16);
    t.equal(session.counters.packetsLost, 0);
    t.equal(session.counters.packetsReceived, stats.packets);
    const r = align(phoneRef16, audio, 200, 800, audio.length - 800);
    t.equal(r.lag, 0, `${codec}: no time shift`);
    t.ok(r.corr > 0.995, `${codec}: corr ${r.corr.toFixed(4)}`);
    t.ok(r.snrDb > 25, `${codec}: SNR ${r.snrDb.toFixed(1)} dB (G.711 ~ 35 dB)`);
    checkWindows(t, session.descriptor.streamId, speech16.samples.length / speech16.sampleRate);
  }
});

t.test('PCMA from a 22.05 kHz recording', { skip: NEEDS_SHARED_SPEECH }, async (t) => {
  const { audio } = await run('PCMA', speech22);
  const ref = resampleBuffer(resampleBuffer(speech22.samples, speech22.sampleRate, 8000), 8000, OUT);
  const r = align(ref, audio, 200, 800, audio.length - 800);
  t.equal(r.lag, 0);
  t.ok(r.snrDb > 25, `SNR ${r.snrDb.toFixed(1)} dB`);
});

t.test('L16 at 16 kHz is bit-exact up to int16 quantisation', { skip: NEEDS_SHARED_SPEECH }, async (t) => {
  const { audio } = await run('L16', speech16);
  const r = align(speech16.samples, audio, 50, 800, audio.length - 800);
  t.equal(r.lag, 0);
  t.ok(r.snrDb > 60, `SNR ${r.snrDb.toFixed(1)} dB`);
});

t.test('Opus (48 kHz RTP clock) decoded to mono and resampled to 16 kHz', { skip: NEEDS_SHARED_SPEECH }, async (t) => {
  const { session, audio } = await run('opus', speech16);
  t.equal(session.counters.packetsLost, 0);
  t.equal(session.counters.packetsMalformed, 0);
  const r = align(speech16.samples, audio, 400, 1600, audio.length - 1600);
  t.ok(r.corr > 0.85, `corr ${r.corr.toFixed(3)} at lag ${r.lag} (Opus is perceptual; its algorithmic delay is ~6.5 ms)`);
  t.ok(r.lag >= 0 && r.lag < 200, 'only the codec delay');
  checkWindows(t, session.descriptor.streamId, speech16.samples.length / speech16.sampleRate);
});

t.test('5% loss: silence in place of each lost packet, timing unchanged', { skip: NEEDS_SHARED_SPEECH }, async (t) => {
  const { session, stats, audio } = await run('PCMU', speech16, { loss: 0.05, seed: 2 });
  const lastSent = stats.packets - 1;
  const countedLost = stats.droppedIndices.filter((i) => i < lastSent).length;
  t.ok(stats.dropped >= 5, `dropped ${stats.dropped} of ${stats.packets}`);
  t.equal(session.counters.packetsLost, countedLost, 'every dropped packet counted lost');
  const per = 320; // 20 ms at 16 kHz
  const lostSet = new Set(stats.droppedIndices);
  for (const i of stats.droppedIndices) {
    if (i === 0 || i >= lastSent) continue;
    // Away from the edges (resampler taps reach ~10 samples), the lost span is silent.
    t.ok(rms(audio, i * per + 12, (i + 1) * per - 12) < 1e-4, `packet ${i} span is silent`);
  }
  // The received audio is where it belongs: compare with the reference with lost spans zeroed.
  const ref = Float32Array.from(phoneRef16);
  for (const i of lostSet) ref.fill(0, i * per, (i + 1) * per);
  const r = align(ref, audio, 100, 800, audio.length - 800);
  t.equal(r.lag, 0, 'no shift after losses');
  t.ok(r.snrDb > 20, `SNR vs reference with holes ${r.snrDb.toFixed(1)} dB`);
  const ws = sink.windowsOf(session.descriptor.streamId);
  const meanLost = ws.reduce((s, w) => s + w.lostRatio, 0) / ws.length;
  t.ok(meanLost > 0.01 && meanLost < 0.12, `windows report loss (mean lostRatio ${meanLost.toFixed(3)})`);
  checkWindows(t, session.descriptor.streamId, speech16.samples.length / speech16.sampleRate);
});

t.test('reordering within the reorder depth is repaired: nothing lost, audio intact', { skip: NEEDS_SHARED_SPEECH }, async (t) => {
  const { session, stats, audio } = await run('PCMU', speech16, { reorder: 0.1, seed: 3 });
  t.ok(stats.reordered >= 5, `reordered ${stats.reordered}`);
  t.equal(session.counters.packetsLost, 0);
  t.equal(session.counters.packetsLate, 0);
  const r = align(phoneRef16, audio, 100, 800, audio.length - 800);
  t.equal(r.lag, 0);
  t.ok(r.snrDb > 25, `SNR ${r.snrDb.toFixed(1)} dB`);
});

t.test('duplicates are counted and not played twice', { skip: NEEDS_SHARED_SPEECH }, async (t) => {
  const { session, stats, audio } = await run('PCMA', speech16, { duplicate: 0.05, seed: 11 });
  t.ok(stats.duplicated >= 3, `duplicated ${stats.duplicated}`);
  t.equal(session.counters.packetsDuplicate, stats.duplicated);
  t.equal(session.counters.packetsLost, 0);
  const r = align(phoneRef16, audio, 100, 800, audio.length - 800);
  t.equal(r.lag, 0);
  t.ok(r.snrDb > 25, `SNR ${r.snrDb.toFixed(1)} dB`);
});

t.test('sequence (65500) and timestamp (2^32 - 1 s) wrap-around mid-stream', { skip: NEEDS_SHARED_SPEECH }, async (t) => {
  const { session, stats, audio } = await run('PCMU', speech16, { startSeq: 65500, startTs: 2 ** 32 - 8000, loss: 0.02, reorder: 0.05, seed: 5 });
  t.ok(stats.packets > 36 + 50, 'both counters wrap during the clip');
  t.equal(session.counters.packetsLost, stats.droppedIndices.filter((i) => i < stats.packets - 1).length);
  t.equal(session.rtp.sequenceJumps, 0);
  t.equal(session.counters.ssrcChanges, 0);
  const ref = Float32Array.from(phoneRef16);
  for (const i of stats.droppedIndices) ref.fill(0, i * 320, (i + 1) * 320);
  const r = align(ref, audio, 100, 800, audio.length - 800);
  t.equal(r.lag, 0);
  t.ok(r.snrDb > 20, `SNR ${r.snrDb.toFixed(1)} dB`);
  checkWindows(t, session.descriptor.streamId, speech16.samples.length / speech16.sampleRate);
});

t.test('real-time pacing with jitter: windows arrive in order, stamped with arrival and ready time', { skip: NEEDS_SHARED_SPEECH }, async (t) => {
  const clip = { samples: speech16.samples.subarray(0, 16000 * 2), sampleRate: 16000 };
  const { session, stats } = await run('PCMU', clip, { realtime: true, jitterMs: 10, seed: 2 });
  t.equal(session.counters.packetsLost, 0);
  t.ok(Number.isFinite(session.counters.jitterSec) && session.counters.jitterSec > 0, 'RFC 3550 jitter estimated');
  const ws = sink.windowsOf(session.descriptor.streamId);
  t.equal(ws.length, 5, 'windows ending at 1.0 .. 2.0 s');
  for (let i = 1; i < ws.length; i++) {
    t.ok(ws[i]!.arrivalMs >= ws[i - 1]!.arrivalMs, 'arrival stamps non-decreasing');
    t.ok(ws[i]!.readyMs >= ws[i - 1]!.readyMs, 'ready stamps non-decreasing');
  }
  t.ok(ws.every((w) => w.readyMs >= w.arrivalMs), 'cut after the last sample arrived');
  t.ok(stats.durationMs > 0);
});

t.test('packets later than the reorder depth but before their window is cut are put in place', { skip: NEEDS_SHARED_SPEECH }, async (t) => {
  const { session, audio } = await run('PCMU', speech16, { jitterMs: 140, seed: 9 });
  const k = session.counters;
  t.ok(session.rtp.lateRecovered > 0, `${session.rtp.lateRecovered} late packets recovered`);
  t.equal(k.packetsLost, k.packetsLate, 'every packet arrived: what is still lost is exactly what came after its window');
  t.ok(k.packetsLate < session.rtp.lateRecovered, `few truly late (${k.packetsLate})`);
  const r = align(phoneRef16, audio, 100, 800, audio.length - 800);
  t.equal(r.lag, 0);
  t.ok(r.corr > 0.98, `corr ${r.corr.toFixed(4)} SNR ${r.snrDb.toFixed(1)} dB`);
});
