/**
 * Listen-in end to end: a real DevoX with a real mediasoup worker (MEDIASOUP_WORKER_BIN), a real
 * RTP call (PCMU) and a real Twilio Media Streams call (µ-law over WebSocket), each speaking
 * LibriSpeech clips of the shared corpus; headless Chromium signs in as a supervisor, opens each
 * call and clicks Listen on its leg. What the browser plays is captured in the page (WebAudio on
 * the listen bar's <audio> stream) as a loudness envelope, and the test checks that it correlates
 * with the audio sent on that leg (aligned by cross-correlation, test/helpers/envelope.ts),
 * clearly more than with unrelated speech (other clips, and the other call's audio). Then: Stop, the
 * listen-in that ends when its call ends, the cap on listeners (429), a viewer refused (403), and
 * the audit trail (listen_started / listen_stopped with operator, call and leg).
 *
 * Skips with 'mediasoup worker not found: set MEDIASOUP_WORKER_BIN' without a worker.
 */
import t from 'tap';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import WebSocket from 'ws';
import { readAudioFile, floatToInt16 } from '../../src/media/audio-file.js';
import { createEncoder } from '../../src/media/codecs.js';
import { resampleBuffer } from '../../src/media/resampler.js';
import { sendAudio } from '../../src/media/rtp-sender.js';
import { findWorkerBin, mediasoupInstalled } from '../../src/signaling/webrtc/mediasoup-loader.js';
import { WORKER_MISSING_MESSAGE } from '../../src/signaling/webrtc/types.js';
import { CHROMIUM_BIN, CHROMIUM_MISSING, launchChromium } from '../helpers/chromium.js';
import { SCREENSHOT_DIR, screenshot, signIn, SUPERVISOR, testOperators, VIEWER } from '../helpers/console.js';
import { startTestServer } from '../helpers/devox-server.js';
import { envelopeMatch, rmsEnvelope, trimSilence } from '../helpers/envelope.js';
import { NEEDS_SHARED_SPEECH, sharedSpeech } from '../helpers/shared-data.js';
import { sleep, waitFor } from '../helpers/wait.js';
import { closed, openClient, TOKEN } from '../signaling/websocket/harness.js';

const skip = !findWorkerBin()
  ? WORKER_MISSING_MESSAGE
  : !mediasoupInstalled()
    ? 'mediasoup not installed: npm install mediasoup (MEDIASOUP_WORKER_BIN is set)'
    : !CHROMIUM_BIN
      ? CHROMIUM_MISSING
      : NEEDS_SHARED_SPEECH;

const clip = (id: string) => sharedSpeech(`audio/resemblyzer/genuine/bonafide/libri-${id}.flac`);
/** ~44 s sent on the RTP call, ~48 s on the Twilio call, ~38 s never sent (the unrelated reference). */
const RTP_CLIPS = ['1040_519e3a2c75', '1116_7a36f639c7', '1992_51d88e9d12'].map(clip);
const TWILIO_CLIPS = ['2033_0bb74e6d96', '229_f7e7e4170d', '2136_66e4228592'].map(clip);
const UNRELATED_CLIPS = ['1926_f2a8c69f7d', '196_f86a7c8e78', '2007_4de9218c98'].map(clip);
/** Seconds of played audio captured per listen-in. */
const CAPTURE_SEC = 8;
/** What the played audio must reach with the audio sent on its leg, and its lead over unrelated speech. */
const MIN_R = 0.8;
const MIN_LEAD = 0.15;
const RATE = 16000;

/** The clips end to end at 16 kHz, `times` over (a call long enough for a slow machine). */
async function speech(paths: string[], times = 1): Promise<Float32Array> {
  const parts: Float32Array[] = [];
  for (const p of paths) {
    const a = await readAudioFile(p);
    if (a.sampleRate !== RATE) throw new Error(`${p}: expected ${RATE} Hz`);
    parts.push(a.samples);
  }
  const one = parts.reduce((n, p) => n + p.length, 0);
  const out = new Float32Array(one * times);
  let at = 0;
  for (let k = 0; k < times; k++) {
    for (const p of parts) {
      out.set(p, at);
      at += p.length;
    }
  }
  return out;
}

/** Twilio Media Streams at real-time pace: one inbound track of µ-law, until `signal` aborts; then stop. */
async function twilioCall(url: string, callSid: string, audio: Float32Array, signal: AbortSignal): Promise<void> {
  const pcm = floatToInt16(resampleBuffer(audio, RATE, 8000));
  const enc = createEncoder('PCMU');
  const ws = await openClient(url);
  const done = closed(ws);
  const streamSid = 'MZ00listen0000000000000000000000aa';
  ws.send(JSON.stringify({ event: 'connected', protocol: 'Call', version: '1.0.0' }));
  ws.send(JSON.stringify({ event: 'start', sequenceNumber: '1', streamSid, start: { accountSid: 'AC0123456789abcdef0123456789abcdef', streamSid, callSid, tracks: ['inbound'], customParameters: { tenant: 'listen-test' }, mediaFormat: { encoding: 'audio/x-mulaw', sampleRate: 8000, channels: 1 } } }));
  const frame = new Uint8Array(160);
  const t0 = performance.now();
  let i = 0;
  for (; (i + 1) * 160 <= pcm.length && !signal.aborted && ws.readyState === WebSocket.OPEN; i++) {
    const wait = t0 + i * 20 - performance.now();
    if (wait > 1) await sleep(wait);
    enc.encode(pcm, i * 160, 160, frame);
    ws.send(JSON.stringify({ event: 'media', sequenceNumber: String(i + 2), streamSid, media: { track: 'inbound', chunk: String(i + 1), timestamp: String(i * 20), payload: Buffer.from(frame).toString('base64') } }));
  }
  enc.close();
  ws.send(JSON.stringify({ event: 'stop', sequenceNumber: String(i + 2), streamSid, stop: { accountSid: 'AC0123456789abcdef0123456789abcdef', callSid } }));
  ws.close(1000);
  await done;
}

/** What the page plays for `sec` seconds: RMS per 20 ms of the listen bar's audio, through WebAudio. */
function capturePlayed(page: Page, sec: number): Promise<{ sampleRate: number; env: number[] }> {
  return page.evaluate(async (seconds) => {
    const el = document.getElementById('listen-audio') as HTMLAudioElement;
    const ctx = new AudioContext();
    await ctx.resume();
    const src = ctx.createMediaStreamSource(el.srcObject as MediaStream);
    const proc = ctx.createScriptProcessor(2048, 1, 1);
    const block = Math.round(ctx.sampleRate * 0.02);
    const env: number[] = [];
    let acc = 0;
    let n = 0;
    proc.onaudioprocess = (e) => {
      const x = e.inputBuffer.getChannelData(0);
      for (let i = 0; i < x.length; i++) {
        acc += x[i]! * x[i]!;
        if (++n === block) {
          env.push(Math.sqrt(acc / block));
          acc = 0;
          n = 0;
        }
      }
    };
    src.connect(proc);
    proc.connect(ctx.destination);
    await new Promise((r) => setTimeout(r, seconds * 1000));
    proc.disconnect();
    src.disconnect();
    await ctx.close();
    return { sampleRate: ctx.sampleRate, env };
  }, sec);
}

/**
 * How well the played envelope follows the leg's sent audio, and the best any unrelated speech
 * reaches through the same alignment; saved under .tap/console/ for a look after a failure.
 */
function judge(name: string, played: number[], sent: number[], unrelated: number[][]): { r: number; rigid: number; lagSec: number; other: number } {
  const m = envelopeMatch(played, sent);
  const other = Math.max(...unrelated.map((u) => envelopeMatch(played, u).r));
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  writeFileSync(join(SCREENSHOT_DIR, `listen-${name}-envelope.json`), JSON.stringify({ ...m, other, blockSec: 0.02, played }));
  return { ...m, other };
}

async function listenTo(page: Page, callId: string): Promise<void> {
  if (await page.isVisible('#detail')) await page.click('#d-close');
  await page.click(`tr[data-call-id="${callId}"]`);
  await page.waitForSelector('#detail .leg-panel .leg-listen:not([disabled])', { timeout: 60_000 });
  await page.click('#detail .leg-panel .leg-listen');
  await page.waitForSelector('#listen-bar[data-state="live"]', { timeout: 60_000 });
}

t.test('listen-in: a supervisor hears an RTP leg and a Twilio leg live in the browser', { skip }, async (t) => {
  const auditFile = join(mkdtempSync(join(tmpdir(), 'devox-listen-')), 'audit.jsonl');
  const server = await startTestServer({
    websocket: { tokens: [TOKEN] },
    webrtc: { enabled: true, workers: 1 },
    console: { operators: await testOperators(), auditFile, listen: { maxListeners: 1, maxSec: 600 } },
  });
  t.teardown(() => server.close());
  t.ok(server.webrtc, `WebRTC up (mediasoup ${server.webrtc?.mediasoupVersion})`);
  const [rtpAudio, twilioAudio, unrelated] = await Promise.all([speech(RTP_CLIPS, 2), speech(TWILIO_CLIPS, 2), speech(UNRELATED_CLIPS)]);

  // Two live calls: RTP (PCMU) and Twilio (µ-law over WebSocket), each until aborted.
  const stopCalls = new AbortController();
  t.teardown(() => stopCalls.abort());
  const rtpCall = await server.openStream({ callId: 'call-listen-rtp', leg: 'caller', codec: 'PCMU', identity: { from: '+4915100000001' } });
  const rtpSending = sendAudio(rtpAudio, RATE, { codec: 'PCMU', payloadType: rtpCall.payloadType, to: { address: rtpCall.address, port: rtpCall.port }, realtime: true, signal: stopCalls.signal });
  const twilioSid = 'CA00listen00000000000000000000000b';
  const stopTwilio = new AbortController();
  const twilioSending = twilioCall(`ws://127.0.0.1:${server.http.port}${server.config.websocket.pathPrefix}/twilio`, twilioSid, twilioAudio, AbortSignal.any([stopTwilio.signal, stopCalls.signal]));

  const browser = await launchChromium();
  t.teardown(() => browser.close());
  const page = await (await browser.newContext({ viewport: { width: 1366, height: 768 } })).newPage();
  await page.goto(`${server.http.url}/console`);
  await signIn(page, SUPERVISOR);
  await page.waitForSelector('tr[data-call-id="call-listen-rtp"]', { timeout: 60_000 });
  await page.waitForSelector(`tr[data-call-id="${twilioSid}"]`, { timeout: 60_000 });
  const sentEnv = { rtp: rmsEnvelope(rtpAudio, RATE), twilio: rmsEnvelope(twilioAudio, RATE), unrelated: rmsEnvelope(unrelated, RATE) };

  // --- the RTP leg ---
  await listenTo(page, 'call-listen-rtp');
  t.match(await page.textContent('#listen-what'), /call-listen-rtp · caller/, 'the bar names the call and leg');
  const rtpPlayed = trimSilence((await capturePlayed(page, CAPTURE_SEC)).env);
  t.ok(rtpPlayed.length >= CAPTURE_SEC * 25, `${(rtpPlayed.length * 0.02).toFixed(1)} s of audio played`);
  const rtp = judge('rtp', rtpPlayed, sentEnv.rtp, [sentEnv.unrelated, sentEnv.twilio]);
  t.comment(`RTP leg: envelope correlation with the sent audio ${rtp.r.toFixed(3)} (${rtp.rigid.toFixed(3)} at one lag, ${rtp.lagSec.toFixed(2)} s into it), best with unrelated speech ${rtp.other.toFixed(3)}`);
  t.ok(rtp.r >= MIN_R, `what the browser plays follows the sent audio (r = ${rtp.r.toFixed(3)})`);
  t.ok(rtp.r >= rtp.other + MIN_LEAD, `clearly more than unrelated speech (${rtp.other.toFixed(3)})`);
  await screenshot(page, '07-listen-in');

  // One listener at a time here (console.listen.maxListeners 1): a second is refused with 429.
  const second = await page.evaluate(async (callId) => {
    const r = await fetch('/console/api/listen', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ callId }) });
    return { status: r.status, body: (await r.json()) as { error: string } };
  }, twilioSid);
  t.equal(second.status, 429, 'over console.listen.maxListeners: 429');
  t.match(second.body.error, /at most 1 listen-ins at once/);

  // Stop.
  await page.click('#listen-stop');
  await page.waitForSelector('#listen-bar[data-state="ended"]', { timeout: 30_000 });
  t.match(await page.textContent('#listen-state'), /ended: stopped/);
  await waitFor(() => server.console!.listen.size === 0, 10_000, 'the server side stopped too');

  // --- the Twilio leg; it ends when the call does ---
  await listenTo(page, twilioSid);
  const twPlayed = trimSilence((await capturePlayed(page, CAPTURE_SEC)).env);
  const tw = judge('twilio', twPlayed, sentEnv.twilio, [sentEnv.unrelated, sentEnv.rtp]);
  t.comment(`Twilio leg: envelope correlation with the sent audio ${tw.r.toFixed(3)} (${tw.rigid.toFixed(3)} at one lag, ${tw.lagSec.toFixed(2)} s into it), best with unrelated speech ${tw.other.toFixed(3)}`);
  t.ok(tw.r >= MIN_R, `the Twilio leg too (r = ${tw.r.toFixed(3)})`);
  t.ok(tw.r >= tw.other + MIN_LEAD, `clearly more than unrelated speech (${tw.other.toFixed(3)})`);
  stopTwilio.abort();
  await twilioSending;
  await page.waitForSelector('#listen-bar[data-state="ended"]', { timeout: 30_000 });
  t.equal(await page.getAttribute('#listen-bar', 'data-reason'), 'leg_ended', 'the listen-in ended with its call');
  t.match(await page.textContent('#listen-state'), /ended: the leg ended/);
  t.equal(server.console!.listen.size, 0, 'nothing left listening on the server');

  // --- a viewer may not listen ---
  const vpage = await (await browser.newContext()).newPage();
  await vpage.goto(`${server.http.url}/console`);
  await signIn(vpage, VIEWER);
  await vpage.click('tr[data-call-id="call-listen-rtp"]');
  await vpage.waitForSelector('#detail .leg-panel .leg-listen', { timeout: 30_000 });
  t.equal(await vpage.isDisabled('#detail .leg-panel .leg-listen'), true, 'a viewer’s Listen button is disabled');
  const refused = await vpage.evaluate(async () => {
    const r = await fetch('/console/api/listen', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ callId: 'call-listen-rtp' }) });
    return { status: r.status, body: (await r.json()) as { error: string } };
  });
  t.equal(refused.status, 403, 'the API refuses a viewer');
  t.match(refused.body.error, /supervisor role/);

  stopCalls.abort();
  await rtpSending;
  server.releaseStream(rtpCall.streamId);
  await server.close();
  const audit = readFileSync(auditFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, string>);
  const of = (action: string) => audit.filter((a) => a.action === action);
  t.match(of('listen_started'), [
    { operator: SUPERVISOR.name, role: 'supervisor', callId: 'call-listen-rtp', leg: 'caller' },
    { operator: SUPERVISOR.name, callId: twilioSid, leg: 'inbound' },
  ], 'each listen-in start audited with operator, call and leg');
  t.match(of('listen_stopped'), [
    { operator: SUPERVISOR.name, callId: 'call-listen-rtp', leg: 'caller', detail: /^stopped after \d+\.\d s$/ },
    { operator: SUPERVISOR.name, callId: twilioSid, leg: 'inbound', detail: /^leg_ended after \d+\.\d s$/ },
  ], 'and each end, with why and how long');
  t.ok(of('listen_refused').some((a) => a.callId === twilioSid && /at most 1/.test(a.detail ?? '')), 'the 429 audited');
  t.ok(of('forbidden').some((a) => a.operator === VIEWER.name && /listen_in needs the supervisor role/.test(a.detail ?? '')), 'the viewer’s attempt audited');
});
