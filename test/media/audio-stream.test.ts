import t from 'tap';
import { AudioStream } from '../../src/media/audio-stream.js';
import type { WindowSink } from '../../src/media/types.js';
import { descriptor, rms } from './helpers.js';
import { captureLog } from '../helpers/capture.js';
import { RecordingSink } from '../helpers/recording-sink.js';

function toneInt16(freq: number, rate: number, n: number, amp = 8000, phase0 = 0): Int16Array {
  const a = new Int16Array(n);
  for (let i = 0; i < n; i++) a[i] = Math.round(amp * Math.sin((2 * Math.PI * freq * (i + phase0)) / rate));
  return a;
}

function stream(sink: WindowSink, over: Partial<ConstructorParameters<typeof AudioStream>[0]> = {}): AudioStream {
  return new AudioStream({
    descriptor: descriptor('s1', 'file'), inputRate: 8000, outputRate: 16000, windowSec: 1, hopMs: 250,
    speechThresholdDbfs: -45, sink, ...over,
  });
}

t.test('windows every hop of media time with media stamps, regardless of write sizes', async (t) => {
  const sink = new RecordingSink();
  const s = stream(sink);
  t.same(sink.started.map((d) => d.streamId), ['s1']);
  const pcm = toneInt16(440, 8000, 8000 * 3);
  // Irregular write sizes (transport-agnostic): 7, 160, 333, ...
  let pos = 0;
  for (let step = 7; pos < pcm.length; step = (step * 13) % 611 + 1) {
    const n = Math.min(step, pcm.length - pos);
    s.write(pcm, pos, n, pos, 1000 + pos / 8);
    pos += n;
  }
  const ws = sink.windowsOf('s1');
  // 3 s of audio: windows end at 1.0, 1.25, ... 3.0 s (each cut as soon as its last input
  // sample is written, not after the resampler's look-ahead).
  t.equal(ws.length, 9);
  ws.forEach((w, i) => {
    t.equal(w.seq, i);
    t.equal(w.mediaStartSec, i * 0.25);
    t.equal(w.mediaEndSec, 1 + i * 0.25);
    t.equal(w.length, 16000);
    t.equal(w.sampleRate, 16000);
    t.equal(w.lostRatio, 0);
  });
  t.equal(s.counters.windowsEmitted, ws.length);
  t.ok(ws.every((w) => w.speechRatio === 1), 'a -18 dBFS tone is "speech" in every frame');
  t.ok(ws.every((w) => Math.abs(w.rmsDbfs - 20 * Math.log10(8000 / 32768 / Math.SQRT2)) < 0.2), 'rms level of the tone');
  // Consecutive windows overlap by 0.75 s: the shared audio is identical, except the last
  // 1.25 ms (20 samples) of a window, computed before the resampler's look-ahead arrived.
  const a = ws[0]!.audio, b = ws[1]!.audio;
  let maxDiff = 0;
  for (let i = 4000; i < 16000 - 20; i++) maxDiff = Math.max(maxDiff, Math.abs(a[i]! - b[i - 4000]!));
  t.equal(maxDiff, 0, 'overlapping parts are the same samples');
  let tailDiff = 0;
  for (let i = 16000 - 20; i < 16000; i++) tailDiff = Math.max(tailDiff, Math.abs(a[i]! - b[i - 4000]!));
  t.ok(tailDiff < 0.15, `provisional tail close to the exact one (max diff ${tailDiff.toFixed(4)} at a 0.24 amplitude)`);
  // arrival stamp is the arrival time given with the write that completed the window
  t.ok(ws.every((w) => w.arrivalMs >= 1000 && w.arrivalMs <= 1000 + 3000 && w.readyMs >= w.arrivalMs));
  s.end('eof');
  s.end('eof');
  t.same(sink.ended.map((e) => [e.stream.streamId, e.reason]), [['s1', 'eof']], 'end is idempotent');
  s.write(pcm, 0, 160, pos, 0);
  t.equal(sink.windowsOf('s1').length, ws.length, 'nothing after end');
});

t.test('a gap is silence in place, counted as lost; timing unchanged', async (t) => {
  const sink = new RecordingSink();
  const s = stream(sink, { outputRate: 8000 }); // same rate: samples map 1:1
  const pcm = toneInt16(300, 8000, 16000);
  s.write(pcm, 0, 4000, 0, 1);
  // skip 4000..4800 (100 ms lost), continue at the right position
  s.write(pcm, 4800, 16000 - 4800, 4800, 2);
  const ws = sink.windowsOf('s1');
  t.equal(ws[0]!.mediaEndSec, 1);
  t.ok(Math.abs(ws[0]!.lostRatio - 0.1) < 0.01, `lostRatio ${ws[0]!.lostRatio}`);
  const w0 = ws[0]!.audio;
  t.ok(rms(w0, 4010, 4790) < 1e-4, 'silence where the loss was');
  t.ok(Math.abs(w0[4800 + 100]! - pcm[4900]! / 32768) < 1e-6, 'audio after the gap sits at its own position');
  t.ok(Math.abs(w0[100]! - pcm[100]! / 32768) < 1e-6);
  t.equal(ws.at(-1)!.mediaEndSec, 2);
  t.equal(ws.at(-1)!.lostRatio, 0, 'a later window without loss');
});

t.test('late samples (behind the write head) are counted and dropped, never inserted', async (t) => {
  const sink = new RecordingSink();
  const s = stream(sink, { outputRate: 8000 });
  const pcm = toneInt16(300, 8000, 10000);
  s.write(pcm, 0, 8160, 0, 1);
  const before = Float32Array.from(sink.windowsOf('s1')[0]!.audio);
  s.write(new Int16Array(160).fill(30000), 0, 160, 4000, 2); // fully behind
  t.equal(s.counters.packetsLate, 1);
  s.write(pcm, 8000, 320, 8000, 3); // half behind: only the new half is used
  t.equal(s.counters.packetsLate, 1);
  s.write(pcm, 8320, 1680, 8320, 4);
  const w1 = sink.windowsOf('s1')[1]!;
  t.equal(w1.mediaStartSec, 0.25);
  let maxDiff = 0;
  for (let i = 0; i < 8000 - 2000; i++) maxDiff = Math.max(maxDiff, Math.abs(w1.audio[i]! - before[i + 2000]!));
  t.equal(maxDiff, 0, 'no late sample landed in the ring');
});

t.test('known silence (comfort noise) is not loss; silence is not speech', async (t) => {
  const sink = new RecordingSink();
  const s = stream(sink, { outputRate: 8000 });
  s.writeSilence(8000, 0, 5);
  const w = sink.windowsOf('s1')[0]!;
  t.equal(w.lostRatio, 0);
  t.equal(w.speechRatio, 0);
  t.equal(w.rmsDbfs, -120);
  t.equal(w.arrivalMs, 5);
});

t.test('a throwing sink does not break the stream; the error is logged once', async (t) => {
  const { log, lines: records } = captureLog();
  let calls = 0;
  const sink: WindowSink = {
    onStreamStart: () => {},
    onWindow: () => {
      calls++;
      throw new Error('listener bug');
    },
    onStreamEnd: () => {},
  };
  const s = stream(sink, { log });
  const pcm = toneInt16(300, 8000, 8000 * 3);
  s.write(pcm, 0, pcm.length, 0, 1);
  t.equal(calls, 9, 'every window still delivered');
  t.equal(s.counters.windowsEmitted, 9);
  t.equal(records.filter((r) => r.kind === 'sink_onWindow').length, 1);
});

t.test('a gap longer than maxGapSec is a discontinuity, not minutes of silence', async (t) => {
  const sink = new RecordingSink();
  const { log, lines: records } = captureLog();
  const s = stream(sink, { outputRate: 8000, maxGapSec: 2, log });
  const pcm = toneInt16(300, 8000, 8000);
  s.write(pcm, 0, 8000, 0, 1);
  s.write(pcm, 0, 8000, 8000 * 3600, 2);
  t.equal(sink.windowsOf('s1').length, 5, 'media time continued without a gap');
  t.equal(records.filter((r) => r.kind === 'discontinuity').length, 1);
});

t.test('samples for a lost gap that arrive before any window holds it are put in place exactly', async (t) => {
  const pcm = toneInt16(700, 8000, 12000, 9000);
  const ref = new RecordingSink();
  const refStream = stream(ref);
  refStream.write(pcm, 0, 12000, 0, 1);
  const sink = new RecordingSink();
  const s = stream(sink);
  s.write(pcm, 0, 4000, 0, 1);
  s.write(pcm, 4800, 2200, 4800, 2); // 4000..4800 lost for now (no window cut yet: first cut at input 8000)
  t.equal(s.insertLate(pcm, 4000, 800, 4000), 800);
  s.write(pcm, 7000, 5000, 7000, 3);
  const a = ref.timeline('s1');
  const b = sink.timeline('s1');
  t.equal(b.length, a.length);
  let maxDiff = 0;
  for (let i = 0; i < a.length; i++) maxDiff = Math.max(maxDiff, Math.abs(a[i]! - b[i]!));
  t.ok(maxDiff < 1e-5, `identical to the uninterrupted stream (max diff ${maxDiff})`);
  t.ok(sink.windowsOf('s1').every((w) => w.lostRatio === 0), 'no loss reported');
  const wa = ref.windowsOf('s1');
  const wb = sink.windowsOf('s1');
  t.ok(wb.every((w, i) => Math.abs(w.rmsDbfs - wa[i]!.rmsDbfs) < 1e-6 && w.speechRatio === wa[i]!.speechRatio), 'same level and speech stats');
  t.equal(s.counters.packetsLate, 0);
});

t.test('partly filled gap keeps the rest as loss; a gap inside a cut window stays silent', async (t) => {
  const pcm = toneInt16(700, 8000, 12000, 9000);
  const sink = new RecordingSink();
  const s = stream(sink, { outputRate: 8000 });
  s.write(pcm, 0, 1000, 0, 1);
  s.write(pcm, 1800, 2200, 1800, 2); // gap 1000..1800
  t.equal(s.insertLate(pcm, 1160, 160, 1160), 160, 'middle of the gap');
  s.write(pcm, 4000, 4100, 4000, 3); // first window (0..8000) cut
  const w0 = sink.windowsOf('s1')[0]!;
  t.ok(Math.abs(w0.lostRatio - 640 / 8000) < 1e-9, `lostRatio ${w0.lostRatio}`);
  t.ok(Math.abs(w0.audio[1200]! - pcm[1200]! / 32768) < 1e-6, 'inserted samples in place');
  t.ok(rms(w0.audio, 1010, 1150) < 1e-6 && rms(w0.audio, 1330, 1790) < 1e-6, 'rest of the gap silent');
  // The remaining gap parts are inside the cut window now: too late.
  s.write(pcm, 1000, 160, 1000, 4);
  t.equal(s.counters.packetsLate, 1);
  t.equal(s.insertLate(pcm, 1500, 160, 1500), 0);
});

t.test('LostGaps: split, shrink, prune, bounded, output mapping', async (t) => {
  const { LostGaps } = await import('../../src/media/lost-gaps.js');
  const g = new LostGaps(3);
  g.add(100, 200);
  g.remove(0, 120, 140); // split
  t.same([g.count, g.start(0), g.end(0), g.start(1), g.end(1)], [2, 100, 120, 140, 200]);
  g.remove(1, 140, 150); // shrink from the start
  g.remove(0, 110, 130); // shrink from the end
  t.same([g.start(0), g.end(0), g.start(1), g.end(1)], [100, 110, 150, 200]);
  t.equal(g.statusAt(105 * 2, 2, 1, 0), 1, 'input 105 -> output 210 is lost');
  t.equal(g.boundary, 220);
  t.equal(g.statusAt(230, 2, 1, 0), 0);
  t.equal(g.boundary, 300, 'next gap starts at output 300');
  g.add(300, 310);
  g.add(400, 410); // capacity 3: the oldest is forgotten
  t.same([g.count, g.start(0)], [3, 150]);
  g.pruneBefore(310);
  t.same([g.count, g.start(0)], [1, 400]);
  g.remove(0, 0, 1000);
  t.equal(g.count, 0);
});

t.test('odd configurations: windows on the hop grid, loss accounted, same audio as a clean reference', async (t) => {
  const configs = [
    { inputRate: 8000, outputRate: 16000, windowSec: 1, hopMs: 33 },
    { inputRate: 48000, outputRate: 16000, windowSec: 0.5, hopMs: 100 },
    { inputRate: 16000, outputRate: 22050, windowSec: 1.5, hopMs: 250 },
    { inputRate: 44100, outputRate: 8000, windowSec: 1, hopMs: 40 },
  ];
  let seed = 99;
  const rand = (): number => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
  for (const c of configs) {
    const total = c.inputRate * 3;
    const pcm = toneInt16(300, c.inputRate, total, 6000);
    const ref = new RecordingSink();
    const clean = stream(ref, { ...c, speechThresholdDbfs: -45 });
    const sink = new RecordingSink();
    const s = stream(sink, { ...c, speechThresholdDbfs: -45 });
    let lostIn = 0;
    for (let pos = 0; pos < total; ) {
      const n = Math.min(total - pos, 1 + Math.floor(rand() * c.inputRate * 0.05));
      clean.write(pcm, pos, n, pos, 0);
      if (rand() < 0.03 && pos > 0 && pos + n < total) lostIn += n; // dropped: becomes a gap
      else s.write(pcm, pos, n, pos, 0);
      pos += n;
    }
    const ws = sink.windowsOf('s1');
    const hop = Math.round((c.hopMs / 1000) * c.outputRate) / c.outputRate;
    const win = Math.round(c.windowSec * c.outputRate);
    t.ok(ws.length > 0 && ws.every((w, i) => w.seq === i && w.length === win && Math.abs(w.mediaEndSec - (win / c.outputRate + i * hop)) < 1e-9), `${JSON.stringify(c)}: ${ws.length} windows on the grid`);
    t.equal(ws.length, ref.windowsOf('s1').length, 'as many windows as the clean stream');
    // Loss reported over the whole stream ≈ what was dropped (windows overlap, so compare averages).
    const meanLost = ws.reduce((a, w) => a + w.lostRatio, 0) / ws.length;
    t.ok(Math.abs(meanLost - lostIn / total) < 0.05, `mean lostRatio ${meanLost.toFixed(3)} vs dropped ${(lostIn / total).toFixed(3)}`);
    // Where nothing was lost, the audio equals the clean stream's.
    const cleanWs = ref.windowsOf('s1');
    let exact = 0;
    ws.forEach((w, i) => {
      if (w.lostRatio !== 0) return;
      let d = 0;
      for (let k = 0; k < w.length - 64; k++) d = Math.max(d, Math.abs(w.audio[k]! - cleanWs[i]!.audio[k]!));
      if (d < 1e-6) exact++;
      else t.fail(`window ${i} differs from the clean stream by ${d}`);
    });
    t.ok(exact > 0, `${exact} loss-free windows identical to the clean stream`);
  }
});
