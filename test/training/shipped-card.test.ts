/**
 * The shipped model's card agrees with the command that makes it and with the documents that
 * quote it: `npm run train` is the command recorded in card.json, the card has the inference
 * cost the issue asks for, and the model README and the top-level README show the card's
 * test EERs (not a previous model's).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { projectRoot } from '../../src/config.js';

const dir = join(projectRoot, 'models/devox-phone');
const skip = existsSync(join(dir, 'card.json')) ? false : 'no shipped model (models/devox-phone/card.json)';

interface Overall { window_eer_pct: number; file_eer_pct: number }

t.test('shipped card = npm run train, with inference cost, quoted by the READMEs', { skip }, async (t) => {
  const card = JSON.parse(readFileSync(join(dir, 'card.json'), 'utf8'));
  const pkg = JSON.parse(readFileSync(join(projectRoot, 'package.json'), 'utf8'));
  t.equal(card.training.command.trim(), pkg.scripts.train, 'card.training.command is `npm run train`');
  t.match(pkg.scripts.train, new RegExp(`--version ${card.version.replace(/\./g, '\\.')}(\\s|$)`), 'and names the card version');
  for (const b of ['batch1', 'batch64']) {
    t.ok(card.inference[b].ms_per_window > 0, `inference ${b}: ${card.inference[b].ms_per_window} ms per window`);
  }
  const modelReadme = readFileSync(join(dir, 'README.md'), 'utf8');
  t.match(modelReadme, new RegExp(`^# devox-phone ${card.version.replace(/\./g, '\\.')} — model card`, 'm'));
  const readme = readFileSync(join(projectRoot, 'README.md'), 'utf8');
  t.match(readme, new RegExp(`\`devox-phone\` ${card.version.replace(/\./g, '\\.')}, held-out test split`), 'README names the shipped version');
  for (const [cond, row] of [['wideband', 'wideband 16 kHz'], ['g711_ulaw', 'G.711 µ-law 8 kHz']] as const) {
    const o = card.metrics.test[cond].overall as Overall;
    t.match(modelReadme, `| ${row}${cond === 'g711_ulaw' ? ' → 16 kHz' : ''} | ${o.window_eer_pct}% `, `model README: ${cond} window EER ${o.window_eer_pct}%`);
    const line = readme.split('\n').find((l) => l.startsWith(`| ${row}`));
    t.ok(line, `README has a ${row} row`);
    t.match(line ?? '', `| ${o.window_eer_pct.toFixed(1)} % `, `README ${row}: window EER ${o.window_eer_pct.toFixed(1)} %`);
    t.match(line ?? '', `| ${o.file_eer_pct.toFixed(1)} % `, `README ${row}: file EER ${o.file_eer_pct.toFixed(1)} %`);
  }
});
