/**
 * `devox send` as a user runs it (a separate process), into MediaSessions over UDP.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { loadConfig, projectRoot } from '../../src/config.js';
import { MediaSessions } from '../../src/media/media-sessions.js';
import { readAudioFile } from '../../src/media/audio-file.js';
import { resampleBuffer } from '../../src/media/resampler.js';
import { align, descriptor, SPEECH_16K } from './helpers.js';
import { captureLog } from '../helpers/capture.js';
import { RecordingSink } from '../helpers/recording-sink.js';
import { waitFor } from '../helpers/wait.js';
import { NEEDS_SHARED_SPEECH } from '../helpers/shared-data.js';

function devox(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((res, rej) => {
    const p = spawn(process.execPath, ['--import', 'tsx', resolve(projectRoot, 'src/cli.ts'), ...args], { cwd: projectRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('error', rej);
    p.on('exit', (code) => res({ code, stdout, stderr }));
  });
}

t.test('bad arguments fail with a clear message and exit code 2', { skip: NEEDS_SHARED_SPEECH }, async (t) => {
  const r = await devox(['send', SPEECH_16K, '--to', '127.0.0.1:5004', '--codec', 'g729']);
  t.equal(r.code, 2);
  t.match(r.stderr, /unsupported codec: g729/);
  const r2 = await devox(['send', SPEECH_16K, '--to', '127.0.0.1', '--loss', '2']);
  t.equal(r2.code, 2);
  t.match(r2.stderr, /--to: expected HOST:PORT/);
});

t.test('devox send --codec pcma with loss, sequence/timestamp wrap, into a live session', { skip: NEEDS_SHARED_SPEECH }, async (t) => {
  const cfg = loadConfig({ env: {} });
  const sink = new RecordingSink();
  const { log } = captureLog();
  const sessions = new MediaSessions({ media: { ...cfg.media, rtpPortMin: 42600, rtpPortMax: 42649 }, window: cfg.window, outputRate: 16000, sink, log });
  t.teardown(() => sessions.closeAll());
  const s = await sessions.allocate({ descriptor: descriptor('cli'), formats: [{ payloadType: 8, encoding: 'PCMA', clockRate: 8000, channels: 1 }] });
  const r = await devox(['send', SPEECH_16K, '--to', `127.0.0.1:${s.port}`, '--codec', 'pcma', '--loss', '0.05', '--seed', '2',
    '--start-seq', '65500', '--start-ts', String(2 ** 32 - 4000), '--ssrc', '42', '--no-realtime']);
  t.equal(r.code, 0, r.stderr);
  const summary = JSON.parse(r.stdout.trim()) as { packets: number; sent: number; dropped: number; payloadType: number; ssrc: number };
  t.equal(summary.payloadType, 8);
  t.equal(summary.ssrc, 42);
  t.equal(summary.sent, summary.packets - summary.dropped);
  await waitFor(() => s.counters.packetsReceived >= summary.sent, 5000, 'all packets');
  sessions.release('cli');
  await sink.waitFor(() => sink.hasEnded('cli'));
  t.ok(s.counters.packetsLost > 0 && s.counters.packetsLost <= summary.dropped, `lost ${s.counters.packetsLost} of ${summary.dropped} dropped`);
  t.equal(s.rtp.sequenceJumps, 0);
  const src = await readAudioFile(SPEECH_16K);
  const ref = resampleBuffer(resampleBuffer(src.samples, src.sampleRate, 8000), 8000, 16000);
  const audio = sink.timeline('cli');
  const a = align(ref, audio, 100, 800, audio.length - 800);
  t.equal(a.lag, 0);
  t.ok(a.corr > 0.95, `corr ${a.corr.toFixed(3)} with 5% of packets missing`);
});
