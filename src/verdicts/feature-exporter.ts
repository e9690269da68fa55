/**
 * Features, never audio: with features.export on, each speech window's embedding (the model's
 * `embedding` output, 128 float32 for the shipped 2.2 models) goes to JetStream on
 * `<featuresPrefix>.<callToken>`, in a stream of its own (features.stream) whose max age and
 * max bytes bound what the core can ever hold. A record carries the model version, call id,
 * leg, stream id, window seq, media time, speech ratio and the serving score: no samples, no
 * caller identity (SIP headers, numbers, URIs are never copied). docs/privacy.md says what an
 * embedding does and does not give away.
 *
 * Subjects live beside the events' `<prefix>.>` (default `devox-features.<callToken>`, not
 * `devox.features.*`): JetStream refuses two streams over overlapping subjects, and the events
 * stream captures `<prefix>.>`.
 *
 * Publishing is core NATS (the stream stores it without a per-message ack round trip): one
 * encode + one write per window. Features are telemetry for learning, so a window lost while NATS
 * is down is counted, not buffered beyond the client's reconnect buffer.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager, JetStreamApiCodes, JetStreamApiError, DiscardPolicy, StorageType } from '@nats-io/jetstream';
import { nanos } from '@nats-io/transport-node';
import type { Config } from '../config.js';
import type { ScoreSink, WindowScore } from '../detect/types.js';
import type { Logger } from '../logger.js';
import { callIdToToken } from './events.js';

export const FEATURES_SCHEMA_VERSION = 1 as const;

/** One exported window (JSON; the embedding as base64 of little-endian float32). */
export interface FeatureRecord {
  v: typeof FEATURES_SCHEMA_VERSION;
  type: 'window.features';
  callId: string;
  leg: string;
  streamId: string;
  seq: number;
  mediaStartSec: number;
  mediaEndSec: number;
  speechRatio: number;
  modelVersion: string;
  /** The serving model's score of the window (what the verdict engine used). */
  score: number;
  dim: number;
  embedding: string;
}

export interface FeatureExporterObserver {
  exported?(bytes: number): void;
  skipped?(reason: 'no_embedding' | 'not_speech' | 'disconnected'): void;
}

export function featuresPrefix(cfg: Readonly<Config>): string {
  return cfg.features.subjectPrefix || `${cfg.nats.subjectPrefix}-features`;
}

export function encodeEmbedding(e: Float32Array): string {
  return Buffer.from(e.buffer, e.byteOffset, e.byteLength).toString('base64');
}

export function decodeEmbedding(b64: string, dim: number): Float32Array {
  const buf = Buffer.from(b64, 'base64');
  if (buf.length !== dim * 4) throw new Error(`embedding has ${buf.length} bytes, expected ${dim * 4}`);
  const out = new Float32Array(dim);
  for (let i = 0; i < dim; i++) out[i] = buf.readFloatLE(i * 4);
  return out;
}

/** Creates the features stream with its retention limits (or leaves an existing one as configured by its operator). */
export async function ensureFeatureStream(nc: NatsConnection, cfg: Readonly<Config>, log: Logger): Promise<void> {
  const jsm = await jetstreamManager(nc, { timeout: 5000 });
  const subject = `${featuresPrefix(cfg)}.>`;
  try {
    await jsm.streams.info(cfg.features.stream);
  } catch (err) {
    if (!(err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound)) throw err;
    await jsm.streams.add({
      name: cfg.features.stream,
      subjects: [subject],
      storage: StorageType.File,
      max_age: nanos(cfg.features.maxAgeSec * 1000),
      max_bytes: cfg.features.maxBytes,
      discard: DiscardPolicy.Old,
    });
    log.info({ stream: cfg.features.stream, subject, maxAgeSec: cfg.features.maxAgeSec, maxBytes: cfg.features.maxBytes }, 'created JetStream features stream');
  }
}

export class FeatureExporter implements ScoreSink {
  readonly #nc: NatsConnection;
  readonly #prefix: string;
  readonly #minSpeech: number;
  readonly #observer: FeatureExporterObserver | undefined;
  /** Subject per call (the token escaping is not free; calls have many windows). */
  readonly #subjects = new Map<string, string>();
  readonly #enc = new TextEncoder();

  constructor(nc: NatsConnection, cfg: Readonly<Config>, observer?: FeatureExporterObserver) {
    this.#nc = nc;
    this.#prefix = featuresPrefix(cfg);
    this.#minSpeech = cfg.features.minSpeechRatio;
    this.#observer = observer;
  }

  onScore(s: WindowScore): void {
    if (!s.embedding) return void this.#observer?.skipped?.('no_embedding');
    if (s.speechRatio < this.#minSpeech) return void this.#observer?.skipped?.('not_speech');
    if (this.#nc.isClosed()) return void this.#observer?.skipped?.('disconnected');
    let subject = this.#subjects.get(s.stream.callId);
    if (!subject) {
      subject = `${this.#prefix}.${callIdToToken(s.stream.callId)}`;
      this.#subjects.set(s.stream.callId, subject);
    }
    const rec: FeatureRecord = {
      v: FEATURES_SCHEMA_VERSION,
      type: 'window.features',
      callId: s.stream.callId,
      leg: s.stream.leg,
      streamId: s.stream.streamId,
      seq: s.seq,
      mediaStartSec: s.mediaStartSec,
      mediaEndSec: s.mediaEndSec,
      speechRatio: s.speechRatio,
      modelVersion: s.modelVersion,
      score: s.score,
      dim: s.embedding.length,
      embedding: encodeEmbedding(s.embedding),
    };
    const bytes = this.#enc.encode(JSON.stringify(rec));
    this.#nc.publish(subject, bytes);
    this.#observer?.exported?.(bytes.length);
  }

  onStreamDrained(stream: WindowScore['stream']): void {
    this.#subjects.delete(stream.callId);
  }
}
