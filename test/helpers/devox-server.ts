/**
 * Starts a real DevoxServer for end-to-end tests: real model (the shipped
 * models/devox-phone when present, else the tiny fixture model), real RTP sockets on
 * 127.0.0.1, HTTP on a free port, events to a real nats-server (or captured stdout).
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { loadConfig, mergeConfig, projectRoot, type Config } from '../../src/config.js';
import { readAudioFile } from '../../src/media/audio-file.js';
import { sendAudio, type RtpSendStats } from '../../src/media/rtp-sender.js';
import type { CodecName } from '../../src/media/types.js';
import { createLogger } from '../../src/logger.js';
import type { OpenedStream } from '../../src/http/streams-api.js';
import { DevoxServer } from '../../src/server.js';
import type { VerdictListener } from '../../src/verdicts/pipeline.js';
import { LineCapture } from './capture.js';
import { TINY_MODEL } from './fixture-paths.js';

export const SHIPPED_MODEL_DIR = resolve(projectRoot, 'models/devox-phone');
export const SHIPPED_NARROWBAND_MODEL_DIR = resolve(projectRoot, 'models/devox-phone-nb');

/** The shipped narrowband model when both shipped models have landed, else none (the primary serves every band). */
export function testNarrowbandModelDir(): string {
  return testModelDir() === SHIPPED_MODEL_DIR && existsSync(resolve(SHIPPED_NARROWBAND_MODEL_DIR, 'card.json')) ? SHIPPED_NARROWBAND_MODEL_DIR : '';
}

/** The shipped model once it has landed, else the tiny real fixture model. */
export function testModelDir(): string {
  return existsSync(resolve(SHIPPED_MODEL_DIR, 'card.json')) && existsSync(resolve(SHIPPED_MODEL_DIR, 'model.onnx'))
    ? SHIPPED_MODEL_DIR
    : TINY_MODEL;
}

/** A port range of 200 pairs that other tests running at the same time are unlikely to use. */
function rtpRange(): { rtpPortMin: number; rtpPortMax: number } {
  const base = 20000 + 400 * Math.floor(Math.random() * 50);
  return { rtpPortMin: base, rtpPortMax: base + 399 };
}

export function testConfig(over: Record<string, unknown> = {}): Readonly<Config> {
  const base = {
    log: { level: process.env.DEVOX_TEST_LOG ?? 'silent' },
    media: { ...rtpRange(), streamTimeoutMs: 3000 },
    detect: { modelDir: testModelDir(), narrowbandModelDir: testNarrowbandModelDir() },
    http: { host: '127.0.0.1', port: 0 },
    sip: { enabled: false },
  };
  return loadConfig({ env: {}, overrides: mergeConfig(base, over) });
}

export async function startTestServer(
  over: Record<string, unknown> = {},
  opts: { listener?: VerdictListener; stdout?: NodeJS.WritableStream } = {},
): Promise<DevoxServer> {
  const config = testConfig(over);
  return DevoxServer.start({ config, log: createLogger(config.log.level), stdout: opts.stdout ?? new LineCapture(), ...opts });
}

const audioCache = new Map<string, { samples: Float32Array; sampleRate: number }>();

export async function loadAudio(path: string, maxSec?: number): Promise<{ samples: Float32Array; sampleRate: number }> {
  let a = audioCache.get(path);
  if (!a) {
    a = await readAudioFile(path);
    audioCache.set(path, a);
  }
  if (maxSec === undefined) return a;
  return { samples: a.samples.subarray(0, Math.min(a.samples.length, Math.round(maxSec * a.sampleRate))), sampleRate: a.sampleRate };
}

/** Streams a file as real-time RTP to an opened stream. */
export async function sendFile(
  stream: OpenedStream,
  path: string,
  opts: { maxSec?: number; codec?: CodecName; signal?: AbortSignal } = {},
): Promise<RtpSendStats> {
  const a = await loadAudio(path, opts.maxSec);
  return sendAudio(a.samples, a.sampleRate, {
    codec: opts.codec ?? stream.codec,
    payloadType: stream.payloadType,
    to: { address: stream.address, port: stream.port },
    realtime: true,
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
}

export async function scrape(server: DevoxServer): Promise<string> {
  const res = await fetch(`${server.http.url}/metrics`);
  if (res.status !== 200) throw new Error(`/metrics answered ${res.status}`);
  return res.text();
}

/** The sum of every series of one metric name (all label values). */
export function metricSum(text: string, name: string): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(name + ' ') || line.startsWith(name + '{')) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

/** Value of one sample line of a Prometheus text exposition (0 when absent). */
export function metricValue(text: string, name: string, labels = ''): number {
  const want = labels ? `${name}{${labels}}` : name;
  for (const line of text.split('\n')) {
    if (line.startsWith(want + ' ')) return Number(line.slice(want.length + 1));
  }
  return 0;
}
