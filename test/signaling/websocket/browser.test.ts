/**
 * "Point a browser at DevoX" as docs/websocket.md shows it: headless Chromium with a fake
 * microphone fed from a WAV of real speech captures at 16 kHz in an AudioWorklet and streams
 * 20 ms PCM frames over the jambonz protocol to /media/jambonz with a signed URL. DevoX must cut
 * windows of that speech and carry the page's metadata as identity.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { signMediaPath } from '../../../src/signaling/auth.js';
import { CHROMIUM_BIN, CHROMIUM_MISSING, launchChromium } from '../../helpers/chromium.js';
import { CLIP_A, SECRET, sourceClip, startHarness } from './harness.js';
import { NEEDS_SHARED_SPEECH } from '../../helpers/shared-data.js';
import { sleep } from '../../helpers/wait.js';

/** RMS per 10 ms frame at 16 kHz: an envelope that survives the browser's resampling and offset. */
function envelope(x: Float32Array, n: number): Float64Array {
  const frames = Math.floor(n / 160);
  const out = new Float64Array(frames);
  for (let f = 0; f < frames; f++) {
    let s = 0;
    for (let i = f * 160; i < (f + 1) * 160; i++) s += x[i]! * x[i]!;
    out[f] = Math.sqrt(s / 160);
  }
  return out;
}

/** Best correlation of envelope `a` against `b` over all overlaps of at least `minLen` frames. */
function bestEnvelopeCorr(a: Float64Array, b: Float64Array, minLen: number): number {
  let best = -1;
  for (let lag = -(b.length - minLen); lag <= a.length - minLen; lag++) {
    let sx = 0, sy = 0, sxx = 0, syy = 0, sxy = 0, n = 0;
    for (let i = Math.max(0, lag); i < Math.min(a.length, b.length + lag); i++) {
      const x = a[i]!, y = b[i - lag]!;
      sx += x; sy += y; sxx += x * x; syy += y * y; sxy += x * y; n++;
    }
    if (n < minLen) continue;
    const c = (n * sxy - sx * sy) / Math.sqrt((n * sxx - sx * sx) * (n * syy - sy * sy) || 1);
    if (c > best) best = c;
  }
  return best;
}

const PAGE = `<!doctype html><title>devox browser stream</title><script type="module">
window.stream = async (signedUrl, seconds) => {
  const ws = new WebSocket(signedUrl, 'audio.jambonz.org');
  ws.binaryType = 'arraybuffer';
  await new Promise((res, rej) => { ws.onopen = res; ws.onerror = () => rej(new Error('ws failed')); });
  const ctx = new AudioContext({ sampleRate: 16000 });
  await ctx.audioWorklet.addModule(URL.createObjectURL(new Blob([\`
    class Pcm extends AudioWorkletProcessor {
      buf = new Int16Array(320); n = 0;
      process([input]) {
        const ch = input[0]; if (!ch) return true;
        for (const v of ch) {
          this.buf[this.n++] = Math.max(-32768, Math.min(32767, Math.round(v * 32767)));
          if (this.n === 320) { this.port.postMessage(this.buf.slice().buffer); this.n = 0; }
        }
        return true;
      }
    }
    registerProcessor('pcm', Pcm);\`], { type: 'text/javascript' })));
  const mic = await navigator.mediaDevices.getUserMedia({ audio: { echoCancellation: false, noiseSuppression: false, autoGainControl: false } });
  const node = new AudioWorkletNode(ctx, 'pcm');
  ctx.createMediaStreamSource(mic).connect(node);
  ws.send(JSON.stringify({ sampleRate: 16000, mixType: 'mono', callSid: 'browser-call-1', agent: 'web', page: 'test' }));
  let frames = 0;
  node.port.onmessage = (e) => { if (ws.readyState === 1) { ws.send(e.data); frames++; } };
  await new Promise((r) => setTimeout(r, seconds * 1000));
  mic.getTracks().forEach((tr) => tr.stop());
  await ctx.close();
  ws.close(1000, 'done');
  return frames;
};
</script>`;

t.test('a browser streams its microphone over the jambonz protocol', { skip: NEEDS_SHARED_SPEECH || (CHROMIUM_BIN ? false : CHROMIUM_MISSING) }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'devox-browser-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const wav = join(dir, 'speech.wav');
  execFileSync('ffmpeg', ['-v', 'error', '-i', CLIP_A, '-ac', '1', '-ar', '48000', '-c:a', 'pcm_s16le', wav]);

  const h = await startHarness();
  t.teardown(() => h.close());
  const pageServer = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end(PAGE);
  });
  await new Promise<void>((r) => pageServer.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => pageServer.close(() => r())));

  const browser = await launchChromium(wav);
  t.teardown(() => browser.close());
  const page = await browser.newPage();
  await page.goto(`http://127.0.0.1:${(pageServer.address() as AddressInfo).port}/`);
  const path = `${h.cfg.websocket.pathPrefix}/jambonz`;
  const signed = h.url('/jambonz', `auth=${signMediaPath(path, SECRET, Math.floor(Date.now() / 1000) + 120)}`);
  const seconds = 4;
  const sent = await page.evaluate(([u, s]) => (window as unknown as { stream(u: string, s: number): Promise<number> }).stream(u, s), [signed, seconds] as const);
  t.ok(sent >= 100, `the page sent its 20 ms frames (${sent} in ${seconds} s)`);
  await h.sink.waitFor(() => h.sink.byCall('browser-call-1').get('caller')?.endReason !== undefined);
  await sleep(10);
  const s = h.sink.byCall('browser-call-1').get('caller')!;
  t.equal(s.endReason, 'transport_closed');
  t.match(s.descriptor.identity, { protocol: 'jambonz', callSid: 'browser-call-1', agent: 'web', page: 'test' });
  t.ok(s.windows.length >= 5, `windows cut from the browser audio (${s.windows.length})`);
  t.ok(s.windows.every((w, i) => w.seq === i && w.lostRatio === 0), 'windows in order, nothing lost');
  const speech = s.windows.filter((w) => w.speechRatio > 0.3).length;
  t.ok(speech >= s.windows.length / 2, `most windows hold speech (${speech}/${s.windows.length})`);
  // The fake microphone loops the WAV from an arbitrary point: compare loudness envelopes over any offset.
  const ref = await sourceClip(CLIP_A, 4.1);
  const got = Math.round(s.windows.at(-1)!.mediaEndSec * 16000);
  const c = bestEnvelopeCorr(envelope(s.audio, got), envelope(ref, ref.length), 150);
  t.comment(`browser audio vs source: loudness-envelope correlation ${c.toFixed(3)}`);
  t.ok(c > 0.7, 'the speech DevoX received is the WAV the fake microphone played');
});
