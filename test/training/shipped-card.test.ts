/**
 * The shipped models' cards agree with the command that makes them and with the documents that
 * quote them: `npm run train` (training/ship.py) cross-validates each shipped recipe, then trains
 * it on all data; each card records that recipe and its cross-validated figures, declares the band
 * the runtime serves with it, has the inference cost, and the model README and the top-level
 * README show the card's pooled out-of-fold EERs (not a previous model's).
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
  training: { command: string; recipe: string };
  cross_validation: { folds: unknown[]; calibration_channel: string; per_channel: Record<string, { pooled: Block; per_fold: Record<string, Block> }> };
}

const MODELS = [
  { dir: 'models/devox-phone-nb', band: 'narrowband', recipe: 'training/recipes/narrowband.json', channel: 'g711_ulaw', suffix: '+nb' },
  { dir: 'models/devox-phone', band: 'wideband', recipe: 'training/recipes/wideband.json', channel: 'wideband', suffix: '+wb' },
] as const;

const ROW: Record<string, string> = { g711_ulaw: 'G.711 µ-law 8 kHz', wideband: 'wideband 16 kHz' };

for (const m of MODELS) {
  const dir = join(projectRoot, m.dir);
  const skip = existsSync(join(dir, 'card.json')) ? false : `no shipped model (${m.dir}/card.json)`;
  t.test(`${m.dir}: card = npm run train (${m.recipe}, cross-validated, then all data), quoted by the READMEs`, { skip }, async (t) => {
    const card = JSON.parse(readFileSync(join(dir, 'card.json'), 'utf8')) as Card;
    const pkg = JSON.parse(readFileSync(join(projectRoot, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    t.match(pkg.scripts.train, /^python3 training\/ship\.py$/, 'npm run train = training/ship.py');
    const recipe = JSON.parse(readFileSync(join(projectRoot, m.recipe), 'utf8')) as { version: string };
    t.match(recipe.version, /^\d+\.\d+\.\d+$/, `${m.recipe} carries the version it ships as`);
    t.equal(card.version, `${recipe.version}${m.suffix}`, 'the card version is the one npm run train gives this band');
    t.equal(card.band, m.band, `the card serves ${m.band}`);
    t.equal(card.training.recipe, m.recipe);
    t.match(card.training.command, `--recipe ${m.recipe} --all --thresholds-from`, 'trained on all data with the CV thresholds');
    t.ok(card.cross_validation.folds.length >= 1, `${card.cross_validation.folds.length} cross-validation fold(s) held out`);
    t.equal(card.cross_validation.calibration_channel, m.channel, `thresholds calibrated on ${m.channel}`);
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
