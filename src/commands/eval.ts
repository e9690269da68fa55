/**
 * devox eval <manifest.csv> — equal error rate of the model over labelled files, through the live
 * path (file-scorer.ts), as fast as the detector goes (several files in flight share its batches).
 *
 *   window EER: over every speech window (speechRatio ≥ verdict.minWindowSpeechRatio) of every file;
 *   file EER:   file score = mean of the file's speech-window scores (all its windows if none has
 *               speech; files with no window at all are left out and counted).
 * Prints one line per file, then one JSON line: eer_window, eer_file, threshold (the file-level
 * EER threshold), threshold_window, counts. --json prints one JSON document with the files too.
 */
import { computeEer } from '../detect/eer.js';
import { createLogger } from '../observability/logger.js';
import { fileResultJson, parseCommon, reportError } from './analyze.js';
import { FileScorer, type FileResult } from './file-scorer.js';
import { ManifestError, readManifest, type ManifestRow } from './manifest.js';

const USAGE = `usage: devox eval <manifest.csv> [options]

Manifest: CSV with a header and at least the columns path,label (label = genuine | synthetic);
paths are relative to the manifest's directory. Each file is scored through the live codec,
window and model path; file score = mean of its speech-window scores (the model card's EER tables
use the same file score; its verdict thresholds are calibrated on the verdict engine's smoothed
log-odds instead, so the printed EER threshold is not comparable with them).

  --model DIR             model directory (default: detect.modelDir, models/devox-phone)
  --channel CH            none | g711u | g711a | opus: run each file through that codec at its
                          native rate before scoring
  --json                  one JSON document (per-file results and the summary) instead of lines
  --config FILE           operator config merged over config/default.json (or DEVOX_CONFIG)
  --log-level LEVEL       logs on stderr (default warn)
  -h, --help
`;

/** Files scored at once: enough to fill batches across files, few enough to bound memory. */
const CONCURRENCY = 4;

interface Scored {
  row: ManifestRow;
  result?: FileResult;
  error?: string;
}

const r4 = (x: number): number | null => (Number.isFinite(x) ? Math.round(x * 1e4) / 1e4 : null);

export async function run(argv: string[]): Promise<number> {
  const a = parseCommon('eval', USAGE, argv);
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

  let scorer: FileScorer | undefined;
  try {
    scorer = await FileScorer.create({ config: a.config, modelDir: a.modelDir, log });
    const s = scorer;
    const started = performance.now();
    const scored: Scored[] = rows.map((row) => ({ row }));
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
        if (!a.json) printFileLine(item);
      }
    };
    await Promise.all(Array.from({ length: Math.min(CONCURRENCY, scored.length) }, worker));
    const elapsedSec = (performance.now() - started) / 1000;

    const winG: number[] = [];
    const winS: number[] = [];
    const fileG: number[] = [];
    const fileS: number[] = [];
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
    }
    const we = computeEer(winG, winS);
    const fe = computeEer(fileG, fileS);
    const card = s.card;
    const summary = {
      eer_window: r4(we.eer),
      eer_file: r4(fe.eer),
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
      channel: a.channel,
      model: { name: card.name, version: card.version, executionProvider: s.executionProvider },
      card_thresholds: card.thresholds,
      audio_sec: Math.round(audioSec * 100) / 100,
      elapsed_sec: Math.round(elapsedSec * 100) / 100,
    };
    if (a.json) {
      const files = scored.map((it) => ({
        path: it.row.relPath,
        label: it.row.label,
        ...(it.result ? { ...fileResultJson(it.result), windows: undefined, windowCount: it.result.windows.length } : { error: it.error }),
      }));
      process.stdout.write(JSON.stringify({ ...summary, files }) + '\n');
    } else {
      process.stdout.write(
        `window EER ${fmtPct(we.eer)} over ${winG.length}+${winS.length} speech windows; file EER ${fmtPct(fe.eer)} over ${fileG.length}+${fileS.length} files (genuine+synthetic)\n`,
      );
      process.stdout.write(JSON.stringify(summary) + '\n');
    }
    return failed > 0 ? 1 : 0;
  } catch (err) {
    return reportError('eval', err);
  } finally {
    await scorer?.close();
  }
}

function fmtPct(x: number): string {
  return Number.isFinite(x) ? `${(x * 100).toFixed(2)}%` : 'n/a';
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
