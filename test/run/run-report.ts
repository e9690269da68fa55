/**
 * tap's `after` hook (package.json "tap".after): names every test file of this run that did not
 * pass — above all those that did not report (crashed or were killed before their plan) or hit
 * the per-file timeout — and how many files ran, then exits 1 when any did not pass, so a file
 * that never reported can neither be missed in the output nor leave the run green.
 * This run's files: the results tap wrote (.tap/test-results/**\/*.tap) since run-started.ts's stamp.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { fileOutcome, type FileOutcome } from './file-report.js';

const tapDir = resolve(process.cwd(), '.tap');
const resultsDir = join(tapDir, 'test-results');

function startedMs(): number {
  try {
    const v: unknown = JSON.parse(readFileSync(join(tapDir, 'run-started.json'), 'utf8'));
    if (typeof v === 'object' && v !== null && 'startedMs' in v && typeof v.startedMs === 'number') return v.startedMs;
  } catch {
    // no stamp: every result counts
  }
  return 0;
}

function resultFiles(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names.flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? resultFiles(p) : n.endsWith('.tap') ? [p] : [];
  });
}

const since = startedMs() - 1000; // mtime granularity
const byOutcome = new Map<FileOutcome, string[]>();
for (const file of resultFiles(resultsDir)) {
  if (statSync(file).mtimeMs < since) continue;
  const outcome = fileOutcome(readFileSync(file, 'utf8'));
  const name = relative(resultsDir, file).replace(/\.tap$/, '');
  byOutcome.set(outcome, [...(byOutcome.get(outcome) ?? []), name]);
}

const count = (o: FileOutcome): number => byOutcome.get(o)?.length ?? 0;
const total = [...byOutcome.values()].reduce((n, l) => n + l.length, 0);
const lines = [`# test files: ${total} ran, ${count('passed')} passed, ${count('failed')} failed, ` +
  `${count('timed_out')} timed out, ${count('did_not_report')} did not report`];
const label: Record<Exclude<FileOutcome, 'passed'>, string> = {
  did_not_report: 'DID NOT REPORT (crashed or killed before its plan)',
  timed_out: 'TIMED OUT (per-file timeout)',
  failed: 'FAILED',
};
for (const o of ['did_not_report', 'timed_out', 'failed'] as const) {
  for (const name of (byOutcome.get(o) ?? []).sort()) lines.push(`# ${label[o]}: ${name}`);
}
process.stdout.write(`${lines.join('\n')}\n`);
process.exitCode = total - count('passed') > 0 ? 1 : 0;
