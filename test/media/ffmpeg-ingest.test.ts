/**
 * An independent RTP sender: Debian's ffmpeg (`-re ... -f rtp`) streams real speech in
 * PCMU, PCMA and Opus into MediaSessions over 127.0.0.1; the decoded, resampled audio
 * must match the source (band-limited to the phone channel for G.711).
 */
import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { loadConfig } from '../../src/config.js';
import { MediaSessions } from '../../src/media/media-sessions.js';
import { readAudioFile } from '../../src/media/audio-file.js';
import { resampleBuffer } from '../../src/media/resampler.js';
import type { PayloadFormat } from '../../src/media/types.js';
import { align, descriptor, SPEECH_16K } from './helpers.js';
import { captureLog } from '../helpers/capture.js';
import { RecordingSink } from '../helpers/recording-sink.js';
import { NEEDS_SHARED_SPEECH, loadSharedSpeech } from '../helpers/shared-data.js';

const ffmpeg = spawnSync('ffmpeg', ['-hide_banner', '-encoders'], { encoding: 'utf8' });
if (ffmpeg.error || ffmpeg.status !== 0) {
  t.fail('ffmpeg is required for these tests (apt-get install ffmpeg; .ci/run installs it)');
  process.exit(1);
}
const hasLibopus = /\blibopus\b/.test(ffmpeg.stdout);

const CLIP_SEC = 2.5;
const cfg = loadConfig({ env: {} });
const sink = new RecordingSink();
const { log } = captureLog();
const sessions = new MediaSessions({
  media: { ...cfg.media, rtpPortMin: 42200, rtpPortMax: 42399 },
  window: cfg.window,
  outputRate: 16000,
  sink,
  log,
});
t.teardown(() => sessions.closeAll());

const src = await loadSharedSpeech(() => readAudioFile(SPEECH_16K));
const phoneRef = await loadSharedSpeech(() => resampleBuffer(resampleBuffer(src.samples, src.sampleRate, 8000), 8000, 16000));

function runFfmpeg(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-nostdin', '-re', '-i', SPEECH_16K, '-t', String(CLIP_SEC), ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.on('error', reject);
    p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`ffmpeg exited ${code}: ${err}`))));
  });
}

interface Case {
  name: string;
  format: PayloadFormat;
  ffmpegArgs: string[];
  ref: Float32Array;
  minCorr: number;
  minSnrDb: number;
}

const cases: Case[] = [
  { name: 'PCMU', format: { payloadType: 0, encoding: 'PCMU', clockRate: 8000, channels: 1 }, ffmpegArgs: ['-ar', '8000', '-ac', '1', '-c:a', 'pcm_mulaw'], ref: phoneRef, minCorr: 0.995, minSnrDb: 25 },
  { name: 'PCMA', format: { payloadType: 8, encoding: 'PCMA', clockRate: 8000, channels: 1 }, ffmpegArgs: ['-ar', '8000', '-ac', '1', '-c:a', 'pcm_alaw'], ref: phoneRef, minCorr: 0.995, minSnrDb: 25 },
];
if (hasLibopus) {
  // ffmpeg's RTP muxer uses dynamic payload type 97 for Opus (a=rtpmap:97 opus/48000/2).
  cases.push({ name: 'Opus', format: { payloadType: 97, encoding: 'opus', clockRate: 48000, channels: 2 }, ffmpegArgs: ['-ar', '48000', '-ac', '1', '-c:a', 'libopus', '-b:a', '32k'], ref: await loadSharedSpeech(() => src.samples), minCorr: 0.95, minSnrDb: 10 });
} else {
  t.comment('ffmpeg lacks libopus: Opus case covered by our own sender only');
}

t.test('ffmpeg -f rtp in PCMU, PCMA and Opus, concurrently', { skip: NEEDS_SHARED_SPEECH }, async (t) => {
  const results = await Promise.all(
    cases.map(async (c) => {
      const id = `ffmpeg-${c.name}`;
      const session = await sessions.allocate({ descriptor: descriptor(id), formats: [c.format] });
      await runFfmpeg([...c.ffmpegArgs, '-f', 'rtp', '-payload_type', String(c.format.payloadType), `rtp://127.0.0.1:${session.port}`]);
      await new Promise((r) => setTimeout(r, 100)); // let the last datagrams land
      sessions.release(id, 'bye');
      await sink.waitFor(() => sink.hasEnded(id));
      return { c, session, audio: sink.timeline(id) };
    }),
  );
  for (const { c, session, audio } of results) {
    const k = session.counters;
    t.ok(k.packetsReceived > 0, `${c.name}: ${k.packetsReceived} packets`);
    t.equal(k.packetsLost, 0, `${c.name}: no loss on loopback`);
    t.equal(k.packetsMalformed + k.packetsUnknownPayload + k.packetsWrongSource, 0, `${c.name}: nothing rejected`);
    t.equal(session.remote?.address, '127.0.0.1', `${c.name}: remote learned (comedia)`);
    t.ok(audio.length >= 16000 * (CLIP_SEC - 0.5), `${c.name}: ${audio.length / 16000} s of windows`);
    const r = align(c.ref, audio, 800, 1600, Math.min(audio.length, 16000 * CLIP_SEC) - 1600);
    t.ok(r.corr > c.minCorr, `${c.name}: corr ${r.corr.toFixed(4)} (lag ${r.lag})`);
    t.ok(r.snrDb > c.minSnrDb, `${c.name}: SNR ${r.snrDb.toFixed(1)} dB`);
    const ws = sink.windowsOf(session.descriptor.streamId);
    t.ok(ws.every((w, i) => w.seq === i && Math.abs(w.mediaStartSec - 0.25 * i) < 1e-9), `${c.name}: windows on the hop grid`);
    t.ok(ws.some((w) => w.speechRatio > 0.5), `${c.name}: speech detected in windows`);
  }
  const rtcp = results.reduce((s, r) => s + r.session.counters.packetsRtcp, 0);
  t.ok(rtcp > 0, `RTCP sender reports from ffmpeg on port+1 received and ignored (${rtcp})`);
});
