/**
 * devox demo (npm run demo): starts the server in-process with the embedded defaults
 * (events → stdout JSON lines, captured here), streams the sample calls
 * samples/genuine-*.flac and samples/synthetic-*.flac over real RTP on 127.0.0.1 (one call
 * per file, concurrently, in real time), prints every verdict as its event arrives and a
 * final summary line per call. Exit code 0 when every call ends with the label its file
 * name promises.
 */
import { readdirSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { Writable } from 'node:stream';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig, projectRoot } from '../config.js';
import { readAudioFile } from '../media/audio-file.js';
import { parseCodecName } from '../media/codecs.js';
import { sendAudio } from '../media/rtp-sender.js';
import { createLogger } from '../logger.js';
import { DevoxServer } from '../server.js';
import type { CallEndedEvent, DevoxEvent, VerdictChangedEvent } from '../verdicts/types.js';

const USAGE = `usage: npm run demo -- [options]

  --samples DIR      where genuine-*.flac / synthetic-*.flac are (default samples/)
  --model DIR        model directory (default: detect.modelDir, models/devox-phone); alone, it
                     serves every codec
  --narrowband-model DIR  model for PCMU/PCMA calls (default: detect.narrowbandModelDir,
                     models/devox-phone-nb, unless --model is given)
  --codec CODEC      pcmu | pcma | opus | l16 (default pcmu: a phone call)
  --max-sec S        stream at most S seconds of each file
  --log-level LEVEL  server log level on stderr (default warn)
`;

interface DemoCall {
  file: string;
  expected: 'genuine' | 'synthetic';
  callId: string;
  firstVerdictMediaSec: number | null;
  ended: CallEndedEvent | null;
}

/** Receives the StdoutPublisher's JSON lines: the same events an integrator would read. */
class EventTap extends Writable {
  #partial = '';
  constructor(private readonly onEvent: (e: DevoxEvent) => void) {
    super();
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    const text = this.#partial + chunk.toString('utf8');
    const lines = text.split('\n');
    this.#partial = lines.pop() ?? '';
    for (const line of lines) {
      if (line) this.onEvent((JSON.parse(line) as { event: DevoxEvent }).event);
    }
    cb();
  }
}

function findSamples(dir: string): Array<{ file: string; expected: 'genuine' | 'synthetic' }> {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (err) {
    throw new Error(`no samples directory at ${dir} (${(err as Error).message})`, { cause: err });
  }
  const out: Array<{ file: string; expected: 'genuine' | 'synthetic' }> = [];
  for (const n of names.sort()) {
    const m = /^(genuine|synthetic)-.*\.(flac|wav|mp3|ogg)$/i.exec(n);
    if (m) out.push({ file: resolve(dir, n), expected: m[1]!.toLowerCase() as 'genuine' | 'synthetic' });
  }
  return out;
}

export async function run(argv: string[]): Promise<number> {
  let v;
  try {
    v = parseArgs({
      args: argv,
      options: {
        samples: { type: 'string' },
        model: { type: 'string' },
        'narrowband-model': { type: 'string' },
        codec: { type: 'string', default: 'pcmu' },
        'max-sec': { type: 'string' },
        'log-level': { type: 'string', default: 'warn' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }).values;
  } catch (err) {
    process.stderr.write(`demo: ${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (v.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const maxSec = v['max-sec'] === undefined ? undefined : Number(v['max-sec']);
  if (maxSec !== undefined && !(maxSec > 0)) {
    process.stderr.write(`demo: --max-sec: expected a positive number, got ${JSON.stringify(v['max-sec'])}\n`);
    return 2;
  }
  let codec;
  try {
    codec = parseCodecName(v.codec!);
  } catch (err) {
    process.stderr.write(`demo: --codec: ${(err as Error).message}\n`);
    return 2;
  }
  const samplesDir = resolve(v.samples ?? resolve(projectRoot, 'samples'));
  let samples;
  try {
    samples = findSamples(samplesDir);
  } catch (err) {
    process.stderr.write(`demo: ${(err as Error).message}\n`);
    return 1;
  }
  if (!samples.some((s) => s.expected === 'genuine') || !samples.some((s) => s.expected === 'synthetic')) {
    process.stderr.write(`demo: ${samplesDir} needs genuine-*.flac and synthetic-*.flac sample calls\n`);
    return 1;
  }

  let config;
  try {
    config = loadConfig({
      overrides: {
        log: { level: v['log-level'] },
        http: { port: 0 },
        nats: { servers: [] },
        // --model alone serves every codec; --narrowband-model adds a model for PCMU/PCMA
        ...(v.model || v['narrowband-model']
          ? { detect: { ...(v.model ? { modelDir: v.model, narrowbandModelDir: '' } : {}), ...(v['narrowband-model'] ? { narrowbandModelDir: v['narrowband-model'] } : {}) } }
          : {}),
      },
    });
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`demo: ${err.message}\n`);
      return 2;
    }
    throw err;
  }

  const calls = new Map<string, DemoCall>();
  const out = (line: string): void => void process.stdout.write(line + '\n');
  const tap = new EventTap((e) => {
    const call = calls.get(e.callId);
    if (!call) return;
    const t = e.mediaTimeSec.toFixed(2).padStart(6);
    if (e.type === 'verdict.changed') {
      const ve = e as VerdictChangedEvent;
      call.firstVerdictMediaSec ??= ve.mediaTimeSec;
      out(
        `[${t} s] ${call.callId.padEnd(16)} ${ve.previousLabel} → ${ve.label.toUpperCase()}  ` +
          `score ${ve.score.toFixed(3)}  speech ${ve.evidence.speechSec.toFixed(1)} s  latency ${ve.latencyMs.toFixed(1)} ms`,
      );
    } else if (e.type === 'call.ended') {
      call.ended = e as CallEndedEvent;
    }
  });

  const log = createLogger(config.log.level);
  let server: DevoxServer;
  try {
    server = await DevoxServer.start({ config, log, stdout: tap });
  } catch (err) {
    process.stderr.write(`demo: cannot start the server: ${(err as Error).message}\n`);
    return 1;
  }
  // G.711 calls are narrowband (8 kHz): the detector gives them its narrowband model when it has one.
  const band = codec === 'PCMU' || codec === 'PCMA' ? 'narrowband' : 'wideband';
  const card = server.detector.cardFor(band);
  out(`devox demo: model ${card.name} ${card.version} (${band}, for ${codec} calls), metrics at ${server.http.url}/metrics`);
  const th = card.thresholds;
  out(`verdict thresholds (model card): genuine below ${th.suspicious.toFixed(3)}, synthetic at ${th.synthetic.toFixed(3)} or above, suspicious between (with hysteresis)`);

  try {
    const runs = samples.map(async (s, i) => {
      const callId = `demo-${s.expected}-${i + 1}`;
      const call: DemoCall = { file: s.file, expected: s.expected, callId, firstVerdictMediaSec: null, ended: null };
      calls.set(callId, call);
      const audio = await readAudioFile(s.file);
      const samplesToSend = maxSec === undefined ? audio.samples : audio.samples.subarray(0, Math.round(maxSec * audio.sampleRate));
      const stream = await server.openStream({ callId, leg: 'caller', codec, identity: { sample: basename(s.file) } });
      out(`calling ${callId} with ${basename(s.file)} (${(samplesToSend.length / audio.sampleRate).toFixed(1)} s, ${stream.codec} → udp ${stream.address}:${stream.port})`);
      await sendAudio(samplesToSend, audio.sampleRate, {
        codec,
        payloadType: stream.payloadType,
        to: { address: stream.address, port: stream.port },
        realtime: true,
      });
      await new Promise((r) => setTimeout(r, 100)); // last packets in flight
      server.releaseStream(stream.streamId); // hang up
    });
    await Promise.all(runs);
    const deadline = Date.now() + 10_000;
    while ([...calls.values()].some((c) => !c.ended) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  } finally {
    await server.close();
  }

  let ok = true;
  out('');
  for (const c of calls.values()) {
    const e = c.ended;
    const label = e?.call.label ?? 'no verdict';
    const pass = label === c.expected;
    ok &&= pass;
    out(
      `${pass ? 'PASS' : 'FAIL'} ${c.callId}: ${basename(c.file)} → ${label}` +
        (e
          ? ` (score ${e.score.toFixed(3)}, ${e.evidence.speechSec.toFixed(1)} s speech in ${e.evidence.windows} windows, first verdict at ${c.firstVerdictMediaSec?.toFixed(2) ?? '-'} s of media)`
          : '') +
        ` — expected ${c.expected}`,
    );
  }
  return ok ? 0 : 1;
}
