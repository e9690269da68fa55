/**
 * devox analyze <file> — scores one audio file through the live path (file-scorer.ts) and prints a
 * per-window timeline and the final stream verdict; --json prints one JSON document instead.
 */
import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig, type Config } from '../config.js';
import { ModelLoadError } from '../detect/errors.js';
import { AudioFileError } from '../media/errors.js';
import { createLogger } from '../logger.js';
import { FileScorer, parseChannel, UsageError, type Channel, type FileResult } from './file-scorer.js';
import { claimDecision, loadSpeakerModel, openConfiguredStore, SpeakerWindowCollector } from '../speaker/offline.js';
import type { IdentityDecision } from '../speaker/types.js';
import type { VerdictLabel } from '../verdicts/types.js';

/** analyze --claim: the final identity decision of the file against the claim's enrolment. */
async function verifyClaim(
  config: Readonly<Config>,
  claim: string,
  windows: readonly Float32Array[],
  label: VerdictLabel,
): Promise<{ decision: IdentityDecision | null; model: { name: string; version: string } }> {
  const store = await openConfiguredStore(config);
  try {
    const model = await loadSpeakerModel(config.speaker.modelDir, config.detect.intraOpThreads);
    try {
      const decision = await claimDecision(config, model, store, claim, windows, label);
      return { decision, model: { name: model.card.name, version: model.card.version } };
    } finally {
      await model.session.release();
    }
  } finally {
    await store.close();
  }
}

const USAGE = `usage: devox analyze <file> [options]

Scores an audio file (wav, flac, mp3, ogg...) through the same codec, window and model path as a
live call, and prints each window (media time, score, speech ratio, verdict label) and the verdict.

  --model DIR             model directory (default: detect.modelDir, models/devox-phone); alone,
                          it serves every channel
  --narrowband-model DIR  model for 8 kHz / G.711 audio (default: detect.narrowbandModelDir,
                          models/devox-phone-nb, unless --model is given)
  --channel CH            none | g711u | g711a | opus: run the audio through that codec at its
                          native rate (8 kHz G.711, 48 kHz Opus) first, as a phone call would
  --claim ACCOUNT         also verify the voice against ACCOUNT's enrolment (speaker verification,
                          docs/speaker.md), spoof-aware like a live leg: never verified when the
                          deep-voice verdict is synthetic
  --json                  print one JSON document instead of the timeline
  --config FILE           operator config merged over config/default.json (or DEVOX_CONFIG)
  --log-level LEVEL       logs on stderr (default warn)
  -h, --help
`;

export interface CommonArgs {
  config: Readonly<Config>;
  modelDir: string;
  /** '' when the primary model serves every band. */
  narrowbandModelDir: string;
  channel: Channel;
  json: boolean;
  /** analyze --claim ACCOUNT: verify the speaker too. */
  claim?: string;
  positionals: string[];
}

/** Shared by analyze and eval: parses flags and loads the config; returns an exit code on a usage error. */
export function parseCommon(name: string, usage: string, argv: string[]): CommonArgs | number {
  let args;
  try {
    args = parseArgs({
      args: argv,
      options: {
        model: { type: 'string' },
        'narrowband-model': { type: 'string' },
        channel: { type: 'string' },
        json: { type: 'boolean' },
        ...(name === 'analyze' ? { claim: { type: 'string' as const } } : {}),
        config: { type: 'string' },
        'log-level': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: true,
    });
  } catch (err) {
    process.stderr.write(`devox ${name}: ${(err as Error).message}\n\n${usage}`);
    return 2;
  }
  const v = args.values;
  if (v.help) {
    process.stdout.write(usage);
    return 0;
  }
  if (args.positionals.length !== 1) {
    process.stderr.write(`devox ${name}: expected exactly one ${name === 'eval' ? 'manifest' : 'file'}\n\n${usage}`);
    return 2;
  }
  let channel: Channel;
  try {
    channel = parseChannel(v.channel ?? 'none');
  } catch (err) {
    process.stderr.write(`devox ${name}: ${(err as Error).message}\n`);
    return 2;
  }
  let config: Readonly<Config>;
  try {
    config = loadConfig({ file: v.config, overrides: { log: { level: v['log-level'] ?? 'warn' } } });
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`devox ${name}: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  const narrowbandModelDir = v['narrowband-model'] ?? (v.model !== undefined ? '' : config.detect.narrowbandModelDir);
  const claim = (v as { claim?: string }).claim;
  return { config, modelDir: v.model ?? config.detect.modelDir, narrowbandModelDir, channel, json: v.json ?? false, ...(claim !== undefined ? { claim } : {}), positionals: args.positionals };
}

/** Errors the user can fix get one line and exit 1; anything else is rethrown (a bug). */
export function reportError(name: string, err: unknown): number {
  if (err instanceof ModelLoadError || err instanceof AudioFileError || err instanceof UsageError) {
    process.stderr.write(`devox ${name}: ${err.message}\n`);
    return err instanceof UsageError ? 2 : 1;
  }
  throw err;
}

const f = (x: number, d: number): string => (Number.isFinite(x) ? x.toFixed(d) : 'n/a');

function printTimeline(r: FileResult, model: { name: string; version: string; ep: string }): void {
  const out: string[] = [];
  out.push(`file     ${r.path}`);
  out.push(`audio    ${f(r.durationSec, 2)} s at ${r.sampleRate} Hz, channel ${r.channel}`);
  out.push(`model    ${model.name} ${model.version} (${model.ep})`);
  out.push('');
  out.push('  seq   media time (s)   score   speech  label');
  for (const w of r.windows) {
    out.push(
      `${String(w.seq).padStart(5)}   ${f(w.mediaStartSec, 2).padStart(6)}–${f(w.mediaEndSec, 2).padEnd(6)}  ${f(w.score, 3)}   ${f(w.speechRatio, 2)}${w.speech ? ' ' : '*'}  ${w.label}`,
    );
  }
  if (r.windows.length === 0) out.push(`  (no window: the file is shorter than one ${f(r.windowSec, 2)}-s window)`);
  else out.push('  (* = not enough speech to count as evidence)');
  out.push('');
  const e = r.verdict.evidence;
  out.push(
    `verdict  ${r.verdict.label}  (evidence score ${f(e.score, 3)}, speech ${f(e.speechSec, 1)} s, ${e.speechWindows}/${e.windows} speech windows` +
      `${r.shed > 0 ? `, ${r.shed} windows shed` : ''})`,
  );
  out.push(`file score (mean of speech-window scores) ${f(r.fileScore, 3)}`);
  process.stdout.write(out.join('\n') + '\n');
}

export function fileResultJson(r: FileResult): Record<string, unknown> {
  const num = (x: number): number | null => (Number.isFinite(x) ? x : null);
  return {
    file: r.path,
    durationSec: r.durationSec,
    sampleRate: r.sampleRate,
    channel: r.channel,
    verdict: { label: r.verdict.label, score: r.verdict.evidence.score, evidence: r.verdict.evidence },
    fileScore: num(r.fileScore),
    speechWindows: r.speechWindows,
    shed: r.shed,
    windows: r.windows,
  };
}

/** Why `path` is no file to read (missing, a directory, unreadable), or undefined. */
async function notAReadableFile(path: string): Promise<string | undefined> {
  try {
    if ((await stat(path)).isDirectory()) return 'is a directory, not an audio file';
    await access(path, constants.R_OK);
    return undefined;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'ENOENT' ? 'no such file' : code === 'EACCES' || code === 'EPERM' ? 'permission denied' : (err as Error).message;
  }
}

export async function run(argv: string[]): Promise<number> {
  const a = parseCommon('analyze', USAGE, argv);
  if (typeof a === 'number') return a;
  const notAFile = await notAReadableFile(a.positionals[0]!);
  if (notAFile !== undefined) {
    // Before loading any model: the argument is wrong, not the audio.
    process.stderr.write(`devox analyze: ${a.positionals[0]}: ${notAFile}\n`);
    return 2;
  }
  const log = createLogger(a.config.log.level);
  let scorer: FileScorer | undefined;
  try {
    scorer = await FileScorer.create({ config: a.config, modelDir: a.modelDir, narrowbandModelDir: a.narrowbandModelDir, log });
    const collector = a.claim !== undefined ? new SpeakerWindowCollector(a.config.speaker.everyNthWindow, a.config.verdict.minWindowSpeechRatio) : undefined;
    const r = await scorer.scoreFile(a.positionals[0]!, a.channel, collector);
    const identity = a.claim !== undefined ? await verifyClaim(a.config, a.claim, collector!.windows, r.verdict.label) : undefined;
    if (a.json) {
      const doc = {
        ...fileResultJson(r),
        model: { ...r.model, executionProvider: scorer.executionProvider },
        ...(identity ? { identity } : {}),
      };
      process.stdout.write(JSON.stringify(doc) + '\n');
    } else {
      printTimeline(r, { name: r.model.name, version: `${r.model.version} (${r.model.band})`, ep: scorer.executionProvider });
      if (identity) {
        const d = identity.decision;
        process.stdout.write(
          `identity ${d ? `${d.kind} (${d.reason})` : 'undecided'}  claim ${a.claim}, score ${d?.score ?? 'n/a'} vs threshold ${d?.threshold ?? 'n/a'}, ` +
            `${d?.windows ?? 0} speaker windows, speaker model ${identity.model.version}\n`,
        );
      }
    }
    return 0;
  } catch (err) {
    return reportError('analyze', err);
  } finally {
    await scorer?.close();
  }
}
