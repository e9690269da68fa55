/**
 * What the edge would export for each call of the measurement, computed offline through the live
 * path: each file through G.711 µ-law (encode + decode packet by packet), the runtime's resampler,
 * windowing and speech measure, and the base model in its inference worker (FileScorer, as
 * `devox eval --channel g711u` scores). Kept per window: seq, the base's score, the speech ratio
 * and the `embedding` output, i.e. a features-stream record without the transport.
 *
 * Cached in one JSON file keyed by the model's sha256, the channel and the window settings, so a
 * second run of the measurement reads instead of scoring (files added later are scored and added).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Config } from '../../src/config.js';
import type { ModelCard } from '../../src/detect/types.js';
import { FileScorer, type Channel } from '../../src/commands/file-scorer.js';
import type { Logger } from '../../src/logger.js';
import { decodeEmbedding, encodeEmbedding } from '../../src/verdicts/feature-exporter.js';

export interface EmbeddedWindow {
  seq: number;
  /** The base model's probability of synthetic for the window. */
  score: number;
  speechRatio: number;
  embedding: Float32Array;
}

interface CacheFile {
  v: 1;
  key: string;
  dim: number;
  calls: Record<string, Array<{ seq: number; score: number; speechRatio: number; e: string }>>;
}

export interface EmbedOptions {
  config: Readonly<Config>;
  modelDir: string;
  card: Readonly<ModelCard>;
  channel: Channel;
  /** Absolute audio paths. */
  files: readonly string[];
  cachePath: string;
  log: Logger;
  /** Files in flight at once (they share the detector's batches). */
  concurrency?: number;
  onProgress?(done: number, total: number): void;
}

function cacheKey(o: EmbedOptions): string {
  const w = o.config.window;
  return `${o.card.sha256}|${o.channel}|${w.lengthSec}|${w.hopMs}|${w.speechThresholdDbfs}`;
}

/** Every window of every file (all windows: the caller picks speech windows), by absolute path. */
export async function embedCalls(o: EmbedOptions): Promise<Map<string, EmbeddedWindow[]>> {
  const dim = o.card.embedding?.dim;
  if (!dim) throw new Error(`${o.card.name}@${o.card.version} has no embedding output`);
  const key = cacheKey(o);
  let cache: CacheFile = { v: 1, key, dim, calls: {} };
  if (existsSync(o.cachePath)) {
    const c = JSON.parse(readFileSync(o.cachePath, 'utf8')) as CacheFile;
    if (c.key === key && c.dim === dim) cache = c;
  }
  const missing = o.files.filter((f) => !(f in cache.calls));
  if (missing.length > 0) {
    const scorer = await FileScorer.create({ config: o.config, modelDir: o.modelDir, log: o.log, embeddings: true });
    try {
      let next = 0;
      let done = 0;
      const worker = async (): Promise<void> => {
        while (next < missing.length) {
          const file = missing[next++]!;
          const r = await scorer.scoreFile(file, o.channel);
          if (r.shed > 0) throw new Error(`${file}: ${r.shed} windows shed offline`);
          cache.calls[file] = r.windows.map((w) => {
            if (!w.embedding) throw new Error(`${file}: window ${w.seq} came without its embedding`);
            return { seq: w.seq, score: w.score, speechRatio: w.speechRatio, e: encodeEmbedding(w.embedding) };
          });
          o.onProgress?.(++done, missing.length);
        }
      };
      await Promise.all(Array.from({ length: Math.min(o.concurrency ?? 4, missing.length) }, worker));
    } finally {
      await scorer.close();
    }
    mkdirSync(dirname(o.cachePath), { recursive: true });
    writeFileSync(o.cachePath, JSON.stringify(cache));
  }
  const out = new Map<string, EmbeddedWindow[]>();
  for (const f of o.files) {
    out.set(f, cache.calls[f]!.map((w) => ({ seq: w.seq, score: w.score, speechRatio: w.speechRatio, embedding: decodeEmbedding(w.e, dim) })));
  }
  return out;
}
