/**
 * devox learn: retrains and recalibrates the classifier head of a serving version from exported
 * features and analyst feedback, writes a new version (same model.onnx, head.json, replay.json,
 * card) and publishes it to the registry as a candidate (not promoted: shadow it first).
 * src/learn/learn.ts has the method; docs/registry.md the deployment.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { natsCliConfig } from './nats-cli-config.js';
import { ModelLoadError } from '../detect/errors.js';
import { createLogger } from '../logger.js';
import { readFeatures, readFeedback } from '../learn/dataset.js';
import { learn, LearnError } from '../learn/learn.js';
import { featuresPrefix } from '../verdicts/feature-exporter.js';
import { connectNats } from '../verdicts/nats-connection.js';
import { ModelRegistry, parseRef, RegistryError, CHANNELS, type Channel } from '../registry/registry.js';

const USAGE = `usage: devox learn [options]

  --base NAME@VERSION   the version whose backbone is kept (default: what serves --channel)
  --channel C           narrowband | wideband (default narrowband)
  --version V           the new version (default: <base version>-l<UTC timestamp>)
  --out DIR             where the new model folder is written (default: a temporary folder)
  --no-publish          write the folder only
  --lambda X            L2 strength in z-scored embedding coordinates (default 100)
  --prior zero|base     what the L2 term pulls towards: a fresh ridge head (default) or the base head
  --distill X           weight of distillation windows relative to labelled ones (default 0.25)
  --weighting call|window   labelled windows weigh per call (default: each call the same) or each the same
  --balance classes|none    each class half of the labelled weight (default) or as the feedback came
  --since-min N         only features and feedback of the last N minutes
  --config FILE / --nats URL / --by WHO   as for devox model
`;

export async function run(argv: string[]): Promise<number> {
  let v;
  try {
    v = parseArgs({
      args: argv,
      options: {
        base: { type: 'string' },
        channel: { type: 'string', default: 'narrowband' },
        version: { type: 'string' },
        out: { type: 'string' },
        'no-publish': { type: 'boolean', default: false },
        lambda: { type: 'string', default: '100' },
        prior: { type: 'string', default: 'zero' },
        distill: { type: 'string', default: '0.25' },
        weighting: { type: 'string', default: 'call' },
        balance: { type: 'string', default: 'classes' },
        'since-min': { type: 'string' },
        config: { type: 'string' },
        nats: { type: 'string' },
        by: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }).values;
  } catch (err) {
    process.stderr.write(`devox learn: ${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  if (v.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const fail = (msg: string, code = 2): number => {
    process.stderr.write(`devox learn: ${msg}\n`);
    return code;
  };
  const lambda = Number(v.lambda);
  if (v.prior !== 'zero' && v.prior !== 'base') return fail('--prior must be zero or base');
  const distill = Number(v.distill);
  if (v.weighting !== 'call' && v.weighting !== 'window') return fail('--weighting must be call or window');
  if (v.balance !== 'classes' && v.balance !== 'none') return fail('--balance must be classes or none');
  const sinceMin = v['since-min'] === undefined ? undefined : Number(v['since-min']);
  if (!(lambda >= 0) || !(distill >= 0) || (sinceMin !== undefined && !(sinceMin > 0))) return fail('--lambda and --distill must be >= 0, --since-min > 0');
  if (!(CHANNELS as readonly string[]).includes(v.channel)) return fail(`--channel must be ${CHANNELS.join(' or ')}`);
  const loaded = natsCliConfig(v.config, v.nats);
  if ('error' in loaded) return fail(loaded.error);
  const config = loaded.config;
  const log = createLogger(config.log.level === 'silent' ? 'silent' : 'info');
  const nc = await connectNats(config.nats).catch((err: Error) => err);
  if (nc instanceof Error) return fail(`cannot connect to ${config.nats.servers.join(',')}: ${nc.message}`, 1);
  try {
    const registry = await ModelRegistry.open(nc, { objectBucket: config.registry.objectBucket, kvBucket: config.registry.kvBucket, subjectPrefix: config.nats.subjectPrefix, log });
    let baseRef: { name: string; version: string };
    if (v.base) baseRef = parseRef(v.base);
    else {
      const s = await registry.serving(v.channel as Channel);
      if (!s) return fail(`nothing serves ${v.channel} in the registry: say --base NAME@VERSION`, 1);
      baseRef = { name: s.entry.name, version: s.entry.version };
    }
    const work = mkdtempSync(join(tmpdir(), 'devox-learn-'));
    const baseDir = await registry.pull(baseRef.name, baseRef.version, join(work, 'base'));
    const baseCard = await registry.card(baseRef.name, baseRef.version);
    const compatible = new Set((await registry.list()).filter((m) => m.sha256 === baseCard.sha256).map((m) => m.version));
    compatible.add(baseCard.version);
    const sinceMs = sinceMin === undefined ? undefined : Date.now() - sinceMin * 60_000;
    const features = await readFeatures(nc, config.features.stream, featuresPrefix(config), sinceMs);
    const feedback = await readFeedback(nc, config.nats.stream, config.nats.subjectPrefix, sinceMs);
    const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*$/, '');
    const newVersion = v.version ?? `${baseCard.version.replace(/-l\d{8}T\d{6}$/, '')}-l${stamp}`;
    const outDir = resolve(v.out ?? join(work, 'out'));
    const { summary } = await learn({
      baseDir,
      baseCard,
      compatibleVersions: compatible,
      features: features.calls,
      feedback: feedback.byCall,
      newVersion,
      outDir,
      lambda,
      prior: v.prior,
      distillWeight: distill,
      replayCap: 500,
      weighting: v.weighting,
      balance: v.balance,
    });
    const result: Record<string, unknown> = { learned: `${baseCard.name}@${newVersion}`, dir: outDir, featuresRead: features.windows, featuresInvalid: features.invalid, feedbackInvalid: feedback.invalid, ...summary };
    if (!v['no-publish']) {
      const p = await registry.publish(outDir, { windowSec: config.window.lengthSec, by: v.by ?? userInfo().username });
      result.published = `${p.name}@${p.version}`;
    }
    process.stdout.write(JSON.stringify(result) + '\n');
    return 0;
  } catch (err) {
    if (err instanceof LearnError || err instanceof RegistryError || err instanceof ModelLoadError) return fail(err.message, 1);
    throw err;
  } finally {
    await nc.close();
  }
}
