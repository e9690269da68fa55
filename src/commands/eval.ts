/**
 * devox eval <manifest.csv> — equal error rate of the model over labelled files, through the live
 * path (file-scorer.ts), as fast as the detector goes (several files in flight share its batches).
 *
 *   window EER: over every speech window (speechRatio ≥ verdict.minWindowSpeechRatio) of every file;
 *   file EER:   file score = mean of the file's speech-window scores (all its windows if none has
 *               speech; files with no window at all are left out and counted).
 * Both come with bootstrap 95% intervals (files resampled per class, fixed seed), and with --by
 * per value of manifest columns (eval-report.ts). Prints one line per file, then one JSON line:
 * eer_window, eer_file (and their _ci95), threshold (the file-level EER threshold),
 * threshold_window, counts; then a table per --by column. --json prints one JSON document with
 * the files (and their windows) too. A progress line goes to stderr when it is a terminal.
 */
import { computeEer } from '../detect/eer.js';
import { createLogger } from '../logger.js';
import { parseCommon, reportError } from './analyze.js';
import {
  BOOTSTRAP_SEED,
  breakdown,
  breakdownTable,
  DEFAULT_RESAMPLES,
  eerStats,
  extractEvalArgs,
  fileEntryJson,
  fileEvidence,
  fmtEer,
  MIN_OWN_FILES,
  Progress,
  r4,
  type BreakdownGroup,
  type FileEvidence,
} from './eval-report.js';
import { FileScorer, type FileResult } from './file-scorer.js';
import { ManifestError, manifestColumns, readManifest, type ManifestRow } from './manifest.js';

const USAGE = `usage: devox eval <manifest.csv> [options]

Manifest: CSV with a header and at least the columns path,label (label = genuine | synthetic);
paths are relative to the manifest's directory; other columns (e.g. source, generator,
condition) are kept for --by. Each file is scored through the live codec, window and model path;
file score = mean of its speech-window scores (the model card's EER tables use the same file
score; its verdict thresholds are calibrated on the verdict engine's smoothed log-odds instead,
so the printed EER threshold is not comparable with them).

Window and file EER come with bootstrap 95% intervals (eer_window_ci95, eer_file_ci95):
percentile intervals over ${DEFAULT_RESAMPLES} resamples of the files, genuine and synthetic
resampled separately (a window interval resamples files and takes all their speech windows),
with a fixed seed, so the same scores print the same intervals.

  --by COLUMN[,COLUMN]    window and file EER (with intervals) per value of a manifest column;
                          repeatable. A value with files of both labels is judged on its own
                          files; one with fewer than ${MIN_OWN_FILES} genuine files (e.g. generator, empty on
                          genuine rows) on all the run's genuine files vs its synthetic ones
                          ("genuine: all"); one with fewer than ${MIN_OWN_FILES} synthetic files on its genuine
                          files vs all the run's synthetic ones ("synthetic: all")
  --bootstrap N           bootstrap resamples (default ${DEFAULT_RESAMPLES}; 0: no intervals)
  --model DIR             model directory (default: detect.modelDir, models/devox-phone); alone,
                          it serves every channel
  --narrowband-model DIR  model for 8 kHz / G.711 audio (default: detect.narrowbandModelDir,
                          models/devox-phone-nb, unless --model is given)
  --channel CH            none | g711u | g711a | opus: run each file through that codec at its
                          native rate before scoring
  --json                  one JSON document (summary, breakdowns, per-file results with their
                          windows) instead of lines
  --config FILE           operator config merged over config/default.json (or DEVOX_CONFIG)
  --log-level LEVEL       logs on stderr (default warn)
  -h, --help

Text output: one line per file, a summary line, one JSON line (the summary), then a table per
--by column. A progress line (files done/total, elapsed, ETA) is drawn on stderr when stderr is
a terminal, never on a pipe or file.
`;

/** Files scored at once: enough to fill batches across files, few enough to bound memory. */
const CONCURRENCY = 4;

interface Scored {
  row: ManifestRow;
  result?: FileResult;
  error?: string;
}

export async function run(argv: string[]): Promise<number> {
  const extra = extractEvalArgs(argv);
  if ('error' in extra) {
    process.stderr.write(`devox eval: ${extra.error}\n\n${USAGE}`);
    return 2;
  }
  const a = parseCommon('eval', USAGE, extra.rest);
  if (typeof a === 'number') return a;
  const log = createLogger(a.config.log.level);
  let rows: ManifestRow[];
  try {
    rows = await readManifest(a.positionals[0]!);
  } catch (err) {
    if (err instanceof ManifestError) {
      process.stderr.write(`devox eval: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  const columns = manifestColumns(rows);
  const unknown = extra.by.filter((c) => !columns.includes(c));
  if (unknown.length > 0) {
    const have = columns.length > 0 ? `the manifest's columns besides path and label are: ${columns.join(', ')}` : 'the manifest has no columns besides path and label';
    process.stderr.write(`devox eval: unknown --by column${unknown.length > 1 ? 's' : ''} ${unknown.map((c) => JSON.stringify(c)).join(', ')}; ${have}\n`);
    return 2;
  }

  let scorer: FileScorer | undefined;
  let progress: Progress | undefined;
  try {
    scorer = await FileScorer.create({ config: a.config, modelDir: a.modelDir, narrowbandModelDir: a.narrowbandModelDir, log });
    const s = scorer;
    const started = performance.now();
    const scored: Scored[] = rows.map((row) => ({ row }));
    progress = Progress.start(scored.length);
    const p = progress;
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < scored.length) {
        const item = scored[next++]!;
        try {
          item.result = await s.scoreFile(item.row.path, a.channel);
        } catch (err) {
          // One unreadable file must not sink the run: reported and counted.
          item.error = (err as Error).message;
        }
        if (!a.json) {
          if (p) p.around(() => printFileLine(item));
          else printFileLine(item);
        }
        p?.tick();
      }
    };
    await Promise.all(Array.from({ length: Math.min(CONCURRENCY, scored.length) }, worker));
    progress?.stop();
    progress = undefined;
    const elapsedSec = (performance.now() - started) / 1000;

    const winG: number[] = [];
    const winS: number[] = [];
    const fileG: number[] = [];
    const fileS: number[] = [];
    const used: FileEvidence[] = [];
    let noWindows = 0;
    let noSpeech = 0;
    let failed = 0;
    let audioSec = 0;
    let shed = 0;
    for (const it of scored) {
      if (!it.result) {
        failed++;
        continue;
      }
      const r = it.result;
      audioSec += r.durationSec;
      shed += r.shed;
      const wins = it.row.label === 'genuine' ? winG : winS;
      for (const w of r.windows) if (w.speech) wins.push(w.score);
      if (r.windows.length === 0) {
        noWindows++;
        continue;
      }
      if (r.speechWindows === 0) noSpeech++;
      (it.row.label === 'genuine' ? fileG : fileS).push(r.fileScore);
      used.push(fileEvidence(it.row, r));
    }
    const we = computeEer(winG, winS);
    const fe = computeEer(fileG, fileS);
    // Same files, same numbers as we/fe; adds the bootstrap intervals.
    const overall = eerStats(
      used.filter((f) => f.label === 'genuine'),
      used.filter((f) => f.label === 'synthetic'),
      extra.resamples,
    );
    const by: Record<string, BreakdownGroup[]> = {};
    for (const c of extra.by) by[c] = breakdown(rows, used, c, extra.resamples);
    const card = s.card;
    const summary = {
      eer_window: r4(we.eer),
      eer_window_ci95: overall.eer_window_ci95,
      eer_file: r4(fe.eer),
      eer_file_ci95: overall.eer_file_ci95,
      threshold: r4(fe.threshold),
      threshold_window: r4(we.threshold),
      counts: {
        files: rows.length,
        scored: rows.length - failed,
        failed,
        files_genuine: fileG.length,
        files_synthetic: fileS.length,
        files_without_windows: noWindows,
        files_without_speech: noSpeech,
        windows_genuine: winG.length,
        windows_synthetic: winS.length,
        windows_shed: shed,
      },
      file_score: 'mean of speech-window scores',
      bootstrap: { resamples: extra.resamples, seed: BOOTSTRAP_SEED, resampled: 'files, per label', interval: 'percentile, 95%' },
      channel: a.channel,
      model: { name: card.name, version: card.version, executionProvider: s.executionProvider },
      card_thresholds: card.thresholds,
      audio_sec: Math.round(audioSec * 100) / 100,
      elapsed_sec: Math.round(elapsedSec * 100) / 100,
      ...(extra.by.length > 0 ? { by } : {}),
    };
    if (a.json) {
      const files = scored.map((it) => fileEntryJson(it.row, it.result, it.error, columns.length > 0));
      process.stdout.write(JSON.stringify({ ...summary, files }) + '\n');
    } else {
      process.stdout.write(
        `window EER ${fmtEer(we.eer, summary.eer_window_ci95)} over ${winG.length}+${winS.length} speech windows; ` +
          `file EER ${fmtEer(fe.eer, summary.eer_file_ci95)} over ${fileG.length}+${fileS.length} files (genuine+synthetic)\n`,
      );
      process.stdout.write(JSON.stringify(summary) + '\n');
      for (const c of extra.by) process.stdout.write('\n' + breakdownTable(c, by[c]!));
    }
    return failed > 0 ? 1 : 0;
  } catch (err) {
    progress?.stop();
    return reportError('eval', err);
  } finally {
    await scorer?.close();
  }
}

function printFileLine(it: Scored): void {
  if (!it.result) {
    process.stdout.write(`ERROR      ${it.row.label.padEnd(9)} ${it.row.relPath}: ${it.error}\n`);
    return;
  }
  const r = it.result;
  const score = Number.isFinite(r.fileScore) ? r.fileScore.toFixed(3) : '  n/a';
  process.stdout.write(
    `${it.row.label.padEnd(9)}  score ${score}  ${r.verdict.label.padEnd(19)}  ${String(r.speechWindows).padStart(3)}/${String(r.windows.length).padEnd(3)} speech windows  ${it.row.relPath}\n`,
  );
}
