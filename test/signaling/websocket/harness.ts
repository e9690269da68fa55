/**
 * Test plumbing for WebSocket media streams: real speech from ../shared/data (converted by the
 * real `ffmpeg` into the wire format each platform sends), a real HTTP server + MediaStreamServer
 * on 127.0.0.1 recording into test/helpers' RecordingSink, and real `ws` clients speaking each
 * protocol at real-time pace.
 */
import { execFileSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import WebSocket from 'ws';
import { MediaIngress } from '../../../src/media/ingress.js';
import { loadConfig, type Config } from '../../../src/config.js';
import { readAudioFile } from '../../../src/media/audio-file.js';
import { MediaStreamServer } from '../../../src/signaling/websocket/media-stream-server.js';
import { RecordingSink } from '../../helpers/recording-sink.js';
import { sharedSpeech } from '../../helpers/shared-data.js';
import { sleep } from '../../helpers/wait.js';

/** LibriSpeech (CC BY 4.0) utterances of the shared corpus, 16 kHz mono FLAC, 4.1–4.9 s. */
export const CLIP_A = sharedSpeech('audio/resemblyzer/genuine/bonafide/libri-1688_d0f098e0d2.flac');
export const CLIP_B = sharedSpeech('audio/resemblyzer/genuine/bonafide/libri-2033_33231937c4.flac');
export const CLIP_C = sharedSpeech('audio/resemblyzer/genuine/bonafide/libri-201_768256be14.flac');

export const OUTPUT_RATE = 16000;
export const CLIP_SEC = 4.1;

/** The clip as ffmpeg converts it: raw bytes in `format` (mulaw, alaw, s16le, s16be) at `rate`. */
export function ffmpegRaw(path: string, rate: number, format: 'mulaw' | 'alaw' | 's16le' | 's16be', seconds = CLIP_SEC): Buffer {
  return execFileSync('ffmpeg', ['-v', 'error', '-i', path, '-t', String(seconds), '-ac', '1', '-ar', String(rate), '-f', format, '-'], {
    maxBuffer: 64 << 20,
  });
}

/**
 * What an independent decoder (ffmpeg) makes of the same wire bytes, at 16 kHz: the reference
 * for "decoded correctly" (the band above 4 kHz that 8 kHz audio cannot carry is absent from both).
 */
export function ffmpegDecode16k(bytes: Buffer, rate: number, format: 'mulaw' | 'alaw' | 's16le' | 's16be'): Float32Array {
  const out = execFileSync(
    'ffmpeg',
    ['-v', 'error', '-f', format, '-ar', String(rate), '-ac', '1', '-i', 'pipe:0', '-ar', String(OUTPUT_RATE), '-f', 'f32le', '-'],
    { input: bytes, maxBuffer: 64 << 20 },
  );
  return new Float32Array(out.buffer, out.byteOffset, out.length >> 2).slice();
}

/** The source clip at 16 kHz (its native rate), first `seconds`. */
export async function sourceClip(path: string, seconds = CLIP_SEC): Promise<Float32Array> {
  const { samples, sampleRate } = await readAudioFile(path);
  if (sampleRate !== OUTPUT_RATE) throw new Error(`expected a 16 kHz clip, got ${sampleRate}`);
  return samples.subarray(0, Math.round(seconds * sampleRate));
}

/**
 * Best normalised cross-correlation of `got` against `ref` over lags -maxLag..maxLag (samples),
 * on the first `n` samples, and the SNR (dB) at that lag after a least-squares gain.
 */
export function alignAndCompare(got: Float32Array, ref: Float32Array, n: number, maxLag = 160): { corr: number; lag: number; snrDb: number } {
  let best = { corr: -2, lag: 0, snrDb: -Infinity };
  const lo = maxLag;
  const hi = n - maxLag;
  for (let lag = -maxLag; lag <= maxLag; lag++) {
    let sxy = 0;
    let sxx = 0;
    let syy = 0;
    for (let i = lo; i < hi; i++) {
      const x = ref[i]!;
      const y = got[i + lag]!;
      sxy += x * y;
      sxx += x * x;
      syy += y * y;
    }
    const corr = sxy / Math.sqrt(sxx * syy || 1);
    if (corr > best.corr) {
      const g = sxy / (sxx || 1);
      let err = 0;
      for (let i = lo; i < hi; i++) {
        const d = got[i + lag]! - g * ref[i]!;
        err += d * d;
      }
      best = { corr, lag, snrDb: 10 * Math.log10((g * g * sxx) / (err || 1e-20)) };
    }
  }
  return best;
}

export interface Harness {
  cfg: Readonly<Config>;
  server: Server;
  media: MediaStreamServer;
  sink: RecordingSink;
  port: number;
  /** ws:// URL of a protocol path, e.g. url('/twilio'). */
  url(path: string, query?: string): string;
  close(): Promise<void>;
}

export const TOKEN = 'test-token-a';
export const TOKEN_B = 'test-token-b';
export const SECRET = 'test-signing-secret';

export async function startHarness(websocket: Partial<Config['websocket']> = {}): Promise<Harness> {
  const cfg = loadConfig({
    env: {},
    overrides: { websocket: { tokens: [TOKEN, TOKEN_B], signingSecret: SECRET, ...websocket } },
  });
  const sink = new RecordingSink();
  const log = pino({ level: process.env.DEVOX_TEST_LOG ?? 'silent' });
  const ingress = new MediaIngress({ media: cfg.media, window: cfg.window, outputRate: OUTPUT_RATE, sink, log });
  const media = new MediaStreamServer({ websocket: cfg.websocket, ingress, log });
  const server = createServer((_req, res) => {
    res.statusCode = 404;
    res.end();
  });
  media.attach(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    cfg,
    server,
    media,
    sink,
    port,
    url: (path, query) => `ws://127.0.0.1:${port}${cfg.websocket.pathPrefix}${path}${query ? `?${query}` : ''}`,
    close: async () => {
      await media.close();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

export interface ClosedInfo {
  code: number;
  reason: string;
}

/** Opens a ws client with the bearer token; resolves once open. */
export async function openClient(url: string, opts: { token?: string | null; protocol?: string } = {}): Promise<WebSocket> {
  const headers: Record<string, string> = {};
  const token = opts.token === undefined ? TOKEN : opts.token;
  if (token !== null) headers.authorization = `Bearer ${token}`;
  const ws = opts.protocol ? new WebSocket(url, opts.protocol, { headers }) : new WebSocket(url, { headers });
  await new Promise<void>((res, rej) => {
    ws.once('open', () => res());
    ws.once('error', rej);
    ws.once('unexpected-response', (_req, resp) => rej(new Error(`HTTP ${resp.statusCode}`)));
  });
  return ws;
}

export function closed(ws: WebSocket): Promise<ClosedInfo> {
  if (ws.readyState === ws.CLOSED) return Promise.resolve({ code: -1, reason: 'already closed' });
  return new Promise((r) => ws.once('close', (code, reason) => r({ code, reason: reason.toString() })));
}

/** Answer of a refused upgrade: HTTP status, or 101 when it was accepted. */
export function upgradeStatus(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((res, rej) => {
    const ws = new WebSocket(url, { headers });
    ws.once('open', () => {
      ws.close();
      res({ status: 101, body: '' });
    });
    ws.once('unexpected-response', (_req, resp) => {
      let body = '';
      resp.on('data', (d: Buffer) => (body += d.toString()));
      resp.on('end', () => res({ status: resp.statusCode ?? 0, body }));
    });
    ws.once('error', (err) => {
      if (!/Unexpected server response/.test(err.message)) rej(err);
    });
  });
}

/** Calls send(i) for i = 0..count-1, frame i at t0 + i*intervalMs (real-time pace, drift-free). */
export async function paced(count: number, intervalMs: number, send: (i: number) => void): Promise<void> {
  const t0 = performance.now();
  for (let i = 0; i < count; i++) {
    const wait = t0 + i * intervalMs - performance.now();
    if (wait > 1) await sleep(wait);
    send(i);
  }
}

export interface TwilioTrack {
  track: 'inbound' | 'outbound';
  /** Wire payload bytes (µ-law, or whatever the start message announces), cut into frameMs frames. */
  bytes?: Buffer;
  /** Or one payload per frame (compressed codecs such as Opus). */
  packets?: Buffer[];
}

export interface TwilioStreamOptions {
  variant?: 'twilio' | 'telnyx';
  callSid?: string;
  customParameters?: Record<string, string>;
  /** Telnyx media_format.encoding (PCMU, PCMA, L16) and rate. */
  encoding?: string;
  sampleRate?: number;
  bytesPerSample?: number;
  frameMs?: number;
  /** Order frames are sent in (indices into the frame list); default in order. */
  order?: (n: number) => number[];
  /** Send `stop` at the end (default true). */
  stop?: boolean;
  /** Added to frame i's timestamp (ms), to imitate whole-ms timestamp jitter. */
  timestampJitterMs?: (i: number) => number;
}

/**
 * Streams tracks over the Twilio Media Streams protocol (or Telnyx's variant) at real-time
 * pace: connected, start, one media frame per track every frameMs, stop.
 */
export async function streamTwilio(ws: WebSocket, tracks: TwilioTrack[], opts: TwilioStreamOptions = {}): Promise<{ frames: number }> {
  const variant = opts.variant ?? 'twilio';
  const rate = opts.sampleRate ?? 8000;
  const bps = opts.bytesPerSample ?? 1;
  const frameMs = opts.frameMs ?? 20;
  const frameBytes = (rate * frameMs * bps) / 1000;
  const callSid = opts.callSid ?? 'CA0123456789abcdef0123456789abcdef';
  const streamSid = 'MZ0123456789abcdef0123456789abcdef';
  if (variant === 'twilio') {
    ws.send(JSON.stringify({ event: 'connected', protocol: 'Call', version: '1.0.0' }));
    ws.send(
      JSON.stringify({
        event: 'start',
        sequenceNumber: '1',
        start: {
          accountSid: 'AC0123456789abcdef0123456789abcdef',
          streamSid,
          callSid,
          tracks: tracks.map((t) => t.track),
          customParameters: opts.customParameters ?? {},
          mediaFormat: { encoding: 'audio/x-mulaw', sampleRate: 8000, channels: 1 },
        },
        streamSid,
      }),
    );
  } else {
    ws.send(JSON.stringify({ event: 'connected', version: '1.0.0' }));
    ws.send(
      JSON.stringify({
        event: 'start',
        sequence_number: '1',
        start: {
          user_id: '3e6f995f-85f7-4705-9741-53b116d28237',
          call_control_id: callSid,
          call_session_id: 'c1d2e3f4-0000-1111-2222-333344445555',
          from: '+13122010000',
          to: '+13122020000',
          client_state: 'aGF2ZSBhIG5pY2UgZGF5ID1d',
          media_format: { encoding: opts.encoding ?? 'PCMU', sample_rate: rate, channels: 1 },
        },
        stream_id: '32de0dea-53cb-4b21-89a4-9e5d0ec18d6d',
      }),
    );
  }
  const nFrames = Math.min(...tracks.map((t) => (t.packets ? t.packets.length : Math.floor(t.bytes!.length / frameBytes))));
  const order = opts.order ? opts.order(nFrames) : [...Array(nFrames).keys()];
  let seq = 2;
  await paced(order.length, frameMs, (k) => {
    const i = order[k]!;
    for (const t of tracks) {
      const payload = (t.packets ? t.packets[i]! : t.bytes!.subarray(i * frameBytes, (i + 1) * frameBytes)).toString('base64');
      const ts = i * frameMs + (opts.timestampJitterMs ? opts.timestampJitterMs(i) : 0);
      const media = { track: t.track, chunk: String(i + 1), timestamp: String(ts), payload };
      ws.send(
        JSON.stringify(
          variant === 'twilio'
            ? { event: 'media', sequenceNumber: String(seq++), media, streamSid }
            : { event: 'media', sequence_number: String(seq++), media, stream_id: '32de0dea-53cb-4b21-89a4-9e5d0ec18d6d' },
        ),
      );
    }
  });
  if (opts.stop ?? true) {
    ws.send(
      JSON.stringify(
        variant === 'twilio'
          ? { event: 'stop', sequenceNumber: String(seq), streamSid, stop: { accountSid: 'AC0123456789abcdef0123456789abcdef', callSid } }
          : { event: 'stop', sequence_number: String(seq), stop: { call_control_id: callSid } },
      ),
    );
  }
  return { frames: nFrames };
}

/**
 * Streams 16-bit little-endian PCM as mod_audio_fork / jambonz do: the metadata text frame,
 * then binary frames of frameMs (channels interleaved), at real-time pace.
 */
export async function streamPcmFork(
  ws: WebSocket,
  metadata: Record<string, unknown>,
  channels: Int16Array[],
  rate: number,
  frameMs = 20,
): Promise<{ frames: number }> {
  ws.send(JSON.stringify(metadata));
  const per = (rate * frameMs) / 1000;
  const n = Math.floor(Math.min(...channels.map((c) => c.length)) / per);
  const ch = channels.length;
  await paced(n, frameMs, (i) => {
    const buf = Buffer.allocUnsafe(per * ch * 2);
    for (let k = 0; k < per; k++) for (let c = 0; c < ch; c++) buf.writeInt16LE(channels[c]![i * per + k]!, (k * ch + c) * 2);
    ws.send(buf);
  });
  return { frames: n };
}

export function int16FromS16le(b: Buffer): Int16Array {
  const out = new Int16Array(b.length >> 1);
  for (let i = 0; i < out.length; i++) out[i] = b.readInt16LE(2 * i);
  return out;
}
