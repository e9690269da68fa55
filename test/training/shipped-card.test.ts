/**
 * The shipped models' cards agree with the command that makes them and with the documents that
 * quote them: `npm run train` (training/ship.py) cross-validates each member recipe that
 * training/recipes/shipped.json lists for a model, trains each member on all data for the recipe's
 * full step count (the last weights: 2.1.0 had shipped its step-1000 weights), and joins them
 * (make_ensemble.py); each card records those members and the ensemble's cross-validated figures,
 * declares the band the runtime serves with it, has the inference cost, and the model README and
 * the top-level README show the card's pooled out-of-fold EERs (not a previous model's).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { projectRoot } from '../../src/config.js';

interface Block { window_eer_pct: number; file_eer_pct: number }
interface Card {
  name: string;
  version: string;
  band?: string;
  inference: Record<string, { ms_per_window: number }>;
  training: { command: string; recipe: string; members?: Array<{ recipe: string; command: string; best_step: number; steps: number }> };
  cross_validation: { folds: unknown[]; calibration_channel: string; per_channel: Record<string, { pooled: Block; per_fold: Record<string, Block> }> };
}

interface Spec { out: string; name: string; channel: string; version: string; members: string[] }
const SHIPPED = JSON.parse(readFileSync(join(projectRoot, 'training/recipes/shipped.json'), 'utf8')) as Record<string, Spec | string>;
const MODELS = (['narrowband', 'wideband'] as const).map((band) => ({ band, spec: SHIPPED[band] as Spec, suffix: band === 'narrowband' ? '+nb' : '+wb' }));

const ROW: Record<string, string> = { g711_ulaw: 'G.711 µ-law 8 kHz', wideband: 'wideband 16 kHz' };

for (const m of MODELS) {
  const dir = join(projectRoot, m.spec.out);
  const skip = existsSync(join(dir, 'card.json')) ? false : `no shipped model (${m.spec.out}/card.json)`;
  const recipes = m.spec.members.map((r) => `training/recipes/${r}.json`);
  t.test(`${m.spec.out}: card = npm run train (${recipes.join(' + ')}, cross-validated, then all data), quoted by the READMEs`, { skip }, async (t) => {
    const card = JSON.parse(readFileSync(join(dir, 'card.json'), 'utf8')) as Card;
    const pkg = JSON.parse(readFileSync(join(projectRoot, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    t.match(pkg.scripts.train, /^python3 training\/ship\.py$/, 'npm run train = training/ship.py');
    t.match(m.spec.version, /^\d+\.\d+\.\d+$/, 'shipped.json carries the version it ships as');
    t.equal(card.name, m.spec.name);
    t.equal(card.version, `${m.spec.version}${m.suffix}`, 'the card version is the one npm run train gives this band');
    t.equal(card.band, m.band, `the card serves ${m.band}`);
    for (const r of recipes) t.ok(existsSync(join(projectRoot, r)), `${r} exists`);
    if (recipes.length === 1) {
      t.equal(card.training.recipe, recipes[0]);
      t.match(card.training.command, `--recipe ${recipes[0]} --all --thresholds-from`, 'trained on all data with the CV thresholds');
    } else {
      t.equal(card.training.recipe, recipes.join(' + '), 'the members\' recipes, in order');
      t.match(card.training.command, /^python3 training\/make_ensemble\.py --members /, 'joined by make_ensemble.py');
      t.equal(card.training.members?.length, recipes.length, 'one member per recipe');
      for (const [i, mem] of (card.training.members ?? []).entries()) {
        t.equal(mem.recipe, recipes[i], `member ${i}: ${recipes[i]}`);
        t.match(mem.command, `--recipe ${recipes[i]} --all --thresholds-from`, `member ${i} trained on all data`);
        t.equal(mem.best_step, mem.steps, `member ${i}: the last weights (step ${mem.steps}), not an earlier "best"`);
      }
    }
    t.ok(card.cross_validation.folds.length >= 1, `${card.cross_validation.folds.length} cross-validation fold(s) held out`);
    t.equal(card.cross_validation.calibration_channel, m.spec.channel, `thresholds calibrated on ${m.spec.channel}`);
    for (const b of ['batch1', 'batch64']) t.ok(card.inference[b]!.ms_per_window > 0, `inference ${b}: ${card.inference[b]!.ms_per_window} ms per window`);

    const modelReadme = readFileSync(join(dir, 'README.md'), 'utf8');
    t.match(modelReadme, new RegExp(`^# ${card.name} ${card.version.replace(/[.+]/g, '\\$&')} — model card`, 'm'));
    const readme = readFileSync(join(projectRoot, 'README.md'), 'utf8');
    for (const [ch, c] of Object.entries(card.cross_validation.per_channel)) {
      const p = c.pooled;
      t.match(modelReadme, `| **${ROW[ch]}** | **pooled** |`, `model README: pooled ${ch} row`);
      t.match(modelReadme, `**${p.window_eer_pct}%**`, `model README: ${ch} pooled window EER ${p.window_eer_pct}%`);
      const line = readme.split('\n').find((l) => l.startsWith(`| \`${card.name}\` ${card.version} | ${ROW[ch]} |`));
      t.ok(line, `README has a row for ${card.name} ${card.version} through ${ROW[ch]}`);
      t.match(line ?? '', `| ${p.window_eer_pct.toFixed(1)} % `, `README: ${ch} window EER ${p.window_eer_pct.toFixed(1)} %`);
      t.match(line ?? '', `| ${p.file_eer_pct.toFixed(1)} % `, `README: ${ch} file EER ${p.file_eer_pct.toFixed(1)} %`);
    }
  });
}
