/**
 * The reporting half of `devox eval` (eval.ts scores the files): the options eval adds to the
 * common ones (--by, --bootstrap), bootstrap intervals, per-column breakdowns, the text tables,
 * the per-file JSON entries and the TTY progress line.
 */
import { bootstrapEerCi, computeEer } from '../detect/eer.js';
import { fileResultJson } from './analyze.js';
import type { FileResult } from './file-scorer.js';
import type { ManifestRow, TruthLabel } from './manifest.js';

export { formatProgress, Progress } from './progress.js';

/** Fixed bootstrap seed: the same manifest and scores print the same intervals. */
export const BOOTSTRAP_SEED = 0x5eed;
export const DEFAULT_RESAMPLES = 1000;
/**
 * In a --by group, a class with fewer files than this of its own is taken from the whole run
 * (e.g. `generator` is empty on genuine rows: each generator's synthetic files vs all genuine).
 * One file gives an EER that can only be 0, 1 or an interpolation between them.
 */
export const MIN_OWN_FILES = 2;

export interface EvalExtraArgs {
  /** The argv left for parseCommon. */
  rest: string[];
  /** --by columns, lowercased (manifest headers are), deduplicated, in order. */
  by: string[];
  resamples: number;
}

/** Takes --by and --bootstrap out of argv (parseCommon is strict about the options it knows). */
export function extractEvalArgs(argv: readonly string[]): EvalExtraArgs | { error: string } {
  const rest: string[] = [];
  const by: string[] = [];
  let resamples = DEFAULT_RESAMPLES;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      rest.push(...argv.slice(i));
      break;
    }
    const m = /^--(by|bootstrap)(?:=(.*))?$/s.exec(arg);
    if (!m) {
      rest.push(arg);
      continue;
    }
    const name = m[1]!;
    let value = m[2];
    if (value === undefined) {
      value = argv[i + 1];
      if (value === undefined || value.startsWith('-')) return { error: `--${name} needs a value` };
      i++;
    }
    if (name === 'by') {
      const cols = value.split(',').map((c) => c.trim().toLowerCase()).filter((c) => c.length > 0);
      if (cols.length === 0) return { error: `--by needs a column name, got ${JSON.stringify(value)}` };
      for (const c of cols) if (!by.includes(c)) by.push(c);
    } else {
      if (!/^\d+$/.test(value) || Number(value) > 100_000) {
        return { error: `--bootstrap must be a whole number of resamples from 0 to 100000, got ${JSON.stringify(value)}` };
      }
      resamples = Number(value);
    }
  }
  return { rest, by, resamples };
}

/** A file that entered the EERs (scored, with at least one window). */
export interface FileEvidence {
  label: TruthLabel;
  columns: Readonly<Record<string, string>>;
  fileScore: number;
  /** Its speech-window scores (the window EER's samples). */
  speechScores: number[];
}

export function fileEvidence(row: ManifestRow, r: FileResult): FileEvidence {
  return { label: row.label, columns: row.columns, fileScore: r.fileScore, speechScores: r.windows.filter((w) => w.speech).map((w) => w.score) };
}

export const r4 = (x: number): number | null => (Number.isFinite(x) ? Math.round(x * 1e4) / 1e4 : null);

type Ci = [number, number] | null;

/**
 * Percentile bootstrap interval over files (bootstrapEerCi), widened to include the point
 * estimate where it falls outside: with a handful of files the resample distribution is lumpy and
 * the plain percentile interval can miss the estimate it is meant to bracket.
 */
function ci(g: ReadonlyArray<ArrayLike<number>>, s: ReadonlyArray<ArrayLike<number>>, point: number, resamples: number): Ci {
  if (!Number.isFinite(point) || resamples === 0) return null;
  const c = bootstrapEerCi(g, s, { resamples, seed: BOOTSTRAP_SEED });
  return c ? [Math.min(c[0], point), Math.max(c[1], point)] : null;
}

const ciJson = (c: Ci): [number, number] | null => (c ? [r4(c[0])!, r4(c[1])!] : null);

export interface EerStats {
  eer_window: number | null;
  eer_window_ci95: [number, number] | null;
  eer_file: number | null;
  eer_file_ci95: [number, number] | null;
  /** File-level EER threshold. */
  threshold: number | null;
  files_genuine: number;
  files_synthetic: number;
  windows_genuine: number;
  windows_synthetic: number;
}

/** Window and file EER of these files, with bootstrap intervals (resampling files, per class). */
export function eerStats(genuine: readonly FileEvidence[], synthetic: readonly FileEvidence[], resamples: number): EerStats {
  const gWin = genuine.map((f) => f.speechScores);
  const sWin = synthetic.map((f) => f.speechScores);
  const gFile = genuine.map((f) => [f.fileScore]);
  const sFile = synthetic.map((f) => [f.fileScore]);
  const we = computeEer(gWin.flat(), sWin.flat());
  const fe = computeEer(gFile.flat(), sFile.flat());
  return {
    eer_window: r4(we.eer),
    eer_window_ci95: ciJson(ci(gWin, sWin, we.eer, resamples)),
    eer_file: r4(fe.eer),
    eer_file_ci95: ciJson(ci(gFile, sFile, fe.eer, resamples)),
    threshold: r4(fe.threshold),
    files_genuine: genuine.length,
    files_synthetic: synthetic.length,
    windows_genuine: we.genuine,
    windows_synthetic: we.synthetic,
  };
}

export interface BreakdownGroup extends EerStats {
  value: string;
  /** 'own': this value's genuine files; 'all': every genuine file of the run (it has too few). */
  genuine: 'own' | 'all';
  synthetic: 'own' | 'all';
}

/**
 * One group per value of `column` (every value in the manifest, sorted). A value with files of
 * both classes (at least MIN_OWN_FILES each) is judged on its own files; one with too few genuine
 * files (and some synthetic) on all the run's genuine files vs its synthetic ones; one with too few
 * synthetic files (and some genuine) on its genuine files vs all the run's synthetic ones.
 */
export function breakdown(rows: readonly ManifestRow[], used: readonly FileEvidence[], column: string, resamples: number): BreakdownGroup[] {
  const values = [...new Set(rows.map((r) => r.columns[column] ?? ''))].sort();
  const allG = used.filter((f) => f.label === 'genuine');
  const allS = used.filter((f) => f.label === 'synthetic');
  return values.map((value) => {
    const own = used.filter((f) => (f.columns[column] ?? '') === value);
    const ownG = own.filter((f) => f.label === 'genuine');
    const ownS = own.filter((f) => f.label === 'synthetic');
    let genuine: 'own' | 'all' = 'own';
    let synthetic: 'own' | 'all' = 'own';
    if (ownS.length > 0 && ownG.length < MIN_OWN_FILES) genuine = 'all';
    else if (ownG.length > 0 && ownS.length < MIN_OWN_FILES) synthetic = 'all';
    const stats = eerStats(genuine === 'all' ? allG : ownG, synthetic === 'all' ? allS : ownS, resamples);
    return { value, genuine, synthetic, ...stats };
  });
}

export function fmtPct(x: number | null): string {
  return x !== null && Number.isFinite(x) ? `${(x * 100).toFixed(2)}%` : 'n/a';
}

/** "12.50% [8.33%, 18.75%]", or just the EER without an interval. */
export function fmtEer(x: number | null, c: [number, number] | null): string {
  return c ? `${fmtPct(x)} [${fmtPct(c[0])}, ${fmtPct(c[1])}]` : fmtPct(x);
}

/** The text-mode table of one --by column. */
export function breakdownTable(column: string, groups: readonly BreakdownGroup[]): string {
  const head = [column, 'files genuine/synthetic', 'window EER [95% CI]', 'file EER [95% CI]'];
  const body = groups.map((g) => [
    g.value === '' ? '(empty)' : g.value,
    `${g.files_genuine}${g.genuine === 'all' ? ' (genuine: all)' : ''} / ${g.files_synthetic}${g.synthetic === 'all' ? ' (synthetic: all)' : ''}`,
    fmtEer(g.eer_window, g.eer_window_ci95),
    fmtEer(g.eer_file, g.eer_file_ci95),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((r) => r[i]!.length)));
  const line = (cells: string[]): string => '  ' + cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ');
  return [`by ${column}:`, line(head), ...body.map(line)].join('\n') + '\n';
}

/** One file of the --json document: analyze's fields, its windows (short form), its model. */
export function fileEntryJson(row: ManifestRow, result: FileResult | undefined, error: string | undefined, withColumns: boolean): Record<string, unknown> {
  return {
    path: row.relPath,
    label: row.label,
    ...(withColumns ? { columns: row.columns } : {}),
    ...(result
      ? {
          ...fileResultJson(result),
          windows: result.windows.map((w) => ({ seq: w.seq, mediaStartSec: w.mediaStartSec, score: w.score, speechRatio: w.speechRatio, speech: w.speech })),
          windowCount: result.windows.length,
          model: result.model,
        }
      : { error }),
  };
}
