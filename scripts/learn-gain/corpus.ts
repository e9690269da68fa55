/**
 * The calls of the learn-gain measurement: the demo pages a base model never saw (its card's
 * `splits.test_sources`: whole pages held out of its training), read from the shared corpus
 * manifest, each page's files split into a FEEDBACK half and an EVALUATION half.
 *
 * The split keeps speakers and utterances apart: files are grouped by connected components of
 * "same speaker" and "same pair_key" (a genuine recording and its vocoded copies share the pair
 * key; an empty pair key links nothing), and whole groups go to one half. Groups are taken in
 * the order of a hash of their name and each goes to the half with fewer files so far, so the
 * split is deterministic, balanced in size, and decided before any score is seen.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

export type Label = 'genuine' | 'synthetic';
export type Half = 'feedback' | 'eval';

export interface CorpusCall {
  /** Manifest path (relative to the manifest's folder). */
  path: string;
  /** Absolute path of the audio file. */
  file: string;
  label: Label;
  source: string;
  speaker: string;
  pairKey: string;
  durationSec: number;
  /** The split group: files sharing a speaker or an utterance are in one group. */
  group: string;
  half: Half;
}

interface Row {
  path: string;
  label: Label;
  source: string;
  speaker: string;
  pairKey: string;
  durationSec: number;
}

function parseManifest(manifest: string): Row[] {
  const lines = readFileSync(manifest, 'utf8').trim().split('\n');
  const head = lines[0]!.split(',');
  const col = (name: string): number => {
    const i = head.indexOf(name);
    if (i < 0) throw new Error(`${manifest}: no ${name} column`);
    return i;
  };
  const [p, l, s, sp, pk, d] = [col('path'), col('label'), col('source'), col('speaker'), col('pair_key'), col('duration_s')];
  return lines.slice(1).map((line) => {
    // The manifest's fields used here carry no commas (paths, labels, ids); later columns may.
    const f = line.split(',');
    const label = f[l];
    if (label !== 'genuine' && label !== 'synthetic') throw new Error(`${manifest}: label ${JSON.stringify(label)} on ${f[p]}`);
    return { path: f[p]!, label, source: f[s]!, speaker: f[sp] ?? '', pairKey: f[pk] ?? '', durationSec: Number(f[d]) };
  });
}

/** Union-find over "s:<speaker>" and "p:<pair key>" nodes: a file's group is its component. */
class Groups {
  readonly #parent = new Map<string, string>();

  find(x: string): string {
    let r = x;
    while (this.#parent.has(r) && this.#parent.get(r) !== r) r = this.#parent.get(r)!;
    if (!this.#parent.has(r)) this.#parent.set(r, r);
    let c = x;
    while (c !== r) {
      const next = this.#parent.get(c) ?? r;
      this.#parent.set(c, r);
      c = next;
    }
    return r;
  }

  union(a: string, b: string): void {
    const ra = this.find(a);
    const rb = this.find(b);
    if (ra !== rb) this.#parent.set(ra < rb ? rb : ra, ra < rb ? ra : rb);
  }
}

function hash(s: string): string {
  return createHash('sha256').update(s).digest('hex');
}

/** One page's files with their group and half. */
export function splitPage(rows: readonly Row[], manifestDir: string): CorpusCall[] {
  const g = new Groups();
  const nodeOf = (r: Row): string => (r.speaker ? `s:${r.speaker}` : `f:${r.path}`);
  for (const r of rows) {
    g.find(nodeOf(r));
    if (r.pairKey) g.union(nodeOf(r), `p:${r.pairKey}`);
  }
  const byGroup = new Map<string, Row[]>();
  for (const r of rows) {
    const k = g.find(nodeOf(r));
    byGroup.set(k, [...(byGroup.get(k) ?? []), r]);
  }
  const size = { feedback: 0, eval: 0 };
  const half = new Map<string, Half>();
  for (const k of [...byGroup.keys()].sort((a, b) => hash(a).localeCompare(hash(b)))) {
    const h: Half = size.feedback <= size.eval ? 'feedback' : 'eval';
    half.set(k, h);
    size[h] += byGroup.get(k)!.length;
  }
  return rows.map((r) => {
    const group = g.find(nodeOf(r));
    return { ...r, file: join(manifestDir, r.path), group: `${r.source}|${group}`, half: half.get(group)! };
  });
}

/** The pages a model card says were held out of its training, whole (`splits.test_sources`). */
export function heldOutPages(card: Record<string, unknown>): string[] {
  const splits = card.splits as { test_sources?: unknown } | undefined;
  const pages = splits?.test_sources;
  if (!Array.isArray(pages) || pages.length === 0 || !pages.every((p) => typeof p === 'string')) {
    throw new Error('the base card has no splits.test_sources (the whole pages held out of its training)');
  }
  return pages as string[];
}

/** Every file of the given pages, split per page. */
export function readPages(manifest: string, pages: readonly string[]): Map<string, CorpusCall[]> {
  const rows = parseManifest(manifest);
  const out = new Map<string, CorpusCall[]>();
  for (const page of pages) {
    const own = rows.filter((r) => r.source === page);
    if (own.length === 0) throw new Error(`${manifest}: no files of page ${page}`);
    out.set(page, splitPage(own, dirname(manifest)));
  }
  return out;
}
