/**
 * What `devox learn` gains per generator family, measured offline and honestly (docs/registry.md,
 * "What learning gains, per family"). For every whole demo page the base model never saw (its
 * card's splits.test_sources):
 *
 *   1. every file of those pages through the live path (G.711 µ-law, runtime windows, the base
 *      model's score and embedding: what the edge exports), cached;
 *   2. each page split by speaker / utterance into a feedback half and an evaluation half;
 *   3. learn() (src/learn/, the code path of `devox learn`) on the page's feedback half, with the
 *      other pages' feedback halves as unlabelled traffic (distillation rows);
 *   4. base vs candidate call EER on the page's evaluation half (the gain) and on the other pages'
 *      evaluation halves (forgetting), each with a paired bootstrap over split groups.
 *
 * usage: npx tsx scripts/learn-gain.ts [--base DIR] [--manifest CSV] [--cache FILE]
 *          [--lambda X] [--prior zero|base] [--distill X] [--weighting call|window]
 *          [--balance classes|none] [--head logistic|mlp] [--name LABEL] [--pages a,b] [--json]
 * Prints a markdown table (and with --json one JSON line per page).
 */
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig, projectRoot } from '../src/config.js';
import type { ModelCard } from '../src/detect/types.js';
import { createLogger } from '../src/logger.js';
import { heldOutPages, readPages } from './learn-gain/corpus.js';
import { embedCalls } from './learn-gain/embed.js';
import { DEFAULT_VARIANT, measurePage, type PageOutcome, type Variant } from './learn-gain/measure.js';
import type { PairedEer } from './learn-gain/paired-eer.js';

const { values: v } = parseArgs({
  options: {
    base: { type: 'string', default: resolve(projectRoot, 'test/fixtures/cv-narrowband-f0') },
    manifest: { type: 'string', default: resolve(projectRoot, '..', 'shared', 'data', 'speech', 'manifest.csv') },
    cache: { type: 'string', default: join(tmpdir(), 'devox-learn-gain', 'windows.json') },
    lambda: { type: 'string', default: String(DEFAULT_VARIANT.lambda) },
    prior: { type: 'string', default: DEFAULT_VARIANT.prior },
    distill: { type: 'string', default: String(DEFAULT_VARIANT.distillWeight) },
    weighting: { type: 'string', default: DEFAULT_VARIANT.weighting },
    balance: { type: 'string', default: DEFAULT_VARIANT.balance },
    head: { type: 'string', default: DEFAULT_VARIANT.head },
    name: { type: 'string' },
    pages: { type: 'string' },
    'min-per-class': { type: 'string', default: '5' },
    json: { type: 'boolean', default: false },
  },
  strict: true,
});

function pct(x: number): string {
  return Number.isFinite(x) ? (100 * x).toFixed(1) : 'n/a';
}

function change(r: PairedEer | undefined): string {
  if (!r) return '—';
  const sign = (x: number) => `${x > 0 ? '+' : ''}${pct(x)}`;
  return `${pct(r.before)} → ${pct(r.after)} (${sign(r.delta)} [${sign(r.lo)}, ${sign(r.hi)}])`;
}

function row(o: PageOutcome): string {
  const n = (c: { genuine: number; synthetic: number }) => `${c.genuine} / ${c.synthetic}`;
  const evalCell = o.target ? `${n(o.eval)} (${o.target.groups} groups)` : n(o.eval);
  const verdict = o.skipped ? `not measured: ${o.skipped}` : o.qualifies ? '**yes**' : 'no';
  const inSample = o.learned ? `${pct(o.learned.inSample.callEerBefore)} → ${pct(o.learned.inSample.callEerAfter)}` : '—';
  return `| ${o.page} | ${n(o.feedback)} | ${evalCell} | ${change(o.target)} | ${change(o.others)} | ${inSample} | ${verdict} |`;
}

async function main(): Promise<number> {
  const { prior, weighting, balance, head } = v;
  if (head !== 'logistic' && head !== 'mlp') throw new Error('--head must be logistic or mlp');
  if (prior !== 'zero' && prior !== 'base') throw new Error('--prior must be zero or base');
  if (weighting !== 'call' && weighting !== 'window') throw new Error('--weighting must be call or window');
  if (balance !== 'classes' && balance !== 'none') throw new Error('--balance must be classes or none');
  const name = v.name ?? `${head} head, lambda ${v.lambda}, prior ${prior}, distill ${v.distill}, weighting ${weighting}, balance ${balance}`;
  const variant: Variant = { name, lambda: Number(v.lambda), prior, distillWeight: Number(v.distill), weighting, balance, head };
  if (!(variant.lambda >= 0) || !(variant.distillWeight >= 0)) throw new Error('--lambda and --distill must be numbers >= 0');
  const baseDir = resolve(v.base);
  const baseCard = JSON.parse(readFileSync(join(baseDir, 'card.json'), 'utf8')) as ModelCard;
  const config = loadConfig({ env: {}, overrides: { log: { level: 'silent' } } });
  const log = createLogger('silent');
  const pageNames = v.pages ? v.pages.split(',') : heldOutPages(baseCard);
  const pages = readPages(resolve(v.manifest), heldOutPages(baseCard));
  const files = [...pages.values()].flat().map((c) => c.file);
  const t0 = performance.now();
  const windows = await embedCalls({
    config,
    modelDir: baseDir,
    card: baseCard,
    channel: 'g711u',
    files,
    cachePath: resolve(v.cache),
    log,
    onProgress: (done, total) => {
      if (done % 50 === 0 || done === total) process.stderr.write(`[learn-gain] scored ${done}/${total} files through G.711 µ-law\n`);
    },
  });
  process.stderr.write(`[learn-gain] ${files.length} calls' windows ready in ${((performance.now() - t0) / 1000).toFixed(0)} s\n`);

  const out: PageOutcome[] = [];
  for (const page of pageNames) {
    const o = await measurePage({
      page,
      pages,
      windows,
      baseDir,
      baseCard,
      variant,
      exportSpeechRatio: config.features.minSpeechRatio,
      evidenceSpeechRatio: config.verdict.minWindowSpeechRatio,
      minPerClass: Number(v['min-per-class']),
    });
    out.push(o);
    process.stderr.write(`[learn-gain] ${row(o)}\n`);
    if (v.json) process.stdout.write(JSON.stringify(o) + '\n');
  }
  const lines = [
    `Base ${baseCard.name}@${baseCard.version}; learn: ${variant.name}. Call EER % (σ of mean window log-odds over speech windows), base → candidate (change [95 % paired bootstrap over split groups]).`,
    '',
    '| held-out page | feedback calls (gen / syn) | eval calls (gen / syn) | that page: EER base → candidate | other pages (forgetting) | in-sample (feedback calls) | gain beyond its interval, no cost elsewhere |',
    '| --- | ---: | ---: | --- | --- | --- | --- |',
    ...out.map(row),
  ];
  process.stdout.write(lines.join('\n') + '\n');
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`learn-gain: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
