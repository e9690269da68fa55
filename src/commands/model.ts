/**
 * devox model publish|list|promote|rollback|shadow|canary|pull|history|report: the model registry on
 * NATS JetStream (src/registry/registry.ts, candidates.ts; docs/registry.md). Every change prints one
 * JSON line; promote, rollback, shadow and canary are audited (KV history, a log line,
 * `<prefix>.model.audit`).
 */
import { userInfo } from 'node:os';
import { parseArgs } from 'node:util';
import type { NatsConnection } from '@nats-io/transport-node';
import { natsCliConfig } from './nats-cli-config.js';
import { cardBand } from '../detect/band.js';
import { ModelLoadError } from '../detect/errors.js';
import { createLogger } from '../logger.js';
import { connectNats } from '../verdicts/nats-connection.js';
import { CHANNELS, ModelRegistry, parseRef, RegistryError, type Channel } from '../registry/registry.js';
import { CANDIDATE_KINDS, readCandidate, refString, setCandidate } from '../registry/candidates.js';

const USAGE = `usage: devox model <subcommand> [options]

  publish DIR                      validate a model folder (card, sha256, ONNX shapes, window length,
                                   thresholds, head.json) and upload it; refuses an existing version
  list                             published versions and what serves each channel
  promote NAME@VERSION [--channel narrowband|wideband]   make it serve (default: its card's band)
  rollback [--channel C]           restore the version that served before the current one
  shadow NAME@VERSION --share X [--channel C]   every serving node scores a share X of the
                                   channel's windows with it too, never judging (live, no restart)
  shadow --off --channel C         stop shadow scoring on the channel
  canary NAME@VERSION --share X [--channel C]   a share X of the channel's NEW streams is judged
                                   by it on every serving node (live)
  canary --off --channel C         no new streams go to the canary (running ones finish with it)
  pull NAME@VERSION DIR            download a version into DIR (checked against its digests)
  history [--channel C]            promotions and rollbacks, oldest first
  report [--since-min N]           shadow agreement and, with feedback, EER per version

options:
  --config FILE    config file (nats.*, registry.*), else defaults and DEVOX_* variables
  --nats URL       NATS server(s), comma-separated; overrides nats.servers
  --by WHO         who makes the change (audit; default: the OS user)
  --json           machine-readable output (list, history)
  --share X        shadow: share of windows, canary: share of new streams, in (0, 1]
  --off            shadow / canary: stop it
`;

function fail(msg: string, code = 2): number {
  process.stderr.write(`devox model: ${msg}\n`);
  return code;
}

function channelOf(v: string | undefined): Channel | undefined | Error {
  if (v === undefined) return undefined;
  return (CHANNELS as readonly string[]).includes(v) ? (v as Channel) : new Error(`--channel must be ${CHANNELS.join(' or ')}, got ${JSON.stringify(v)}`);
}

export async function run(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        channel: { type: 'string' },
        config: { type: 'string' },
        nats: { type: 'string' },
        by: { type: 'string' },
        json: { type: 'boolean', default: false },
        'since-min': { type: 'string' },
        share: { type: 'string' },
        off: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    });
  } catch (err) {
    return fail(`${(err as Error).message}\n${USAGE}`);
  }
  const v = parsed.values;
  const [sub, ...pos] = parsed.positionals;
  if (v.help || !sub) {
    process.stdout.write(USAGE);
    return sub || v.help ? 0 : 2;
  }
  const loaded = natsCliConfig(v.config, v.nats);
  if ('error' in loaded) return fail(loaded.error);
  const config = loaded.config;
  const channel = channelOf(v.channel);
  if (channel instanceof Error) return fail(channel.message);
  const by = v.by ?? userInfo().username;
  const log = createLogger(config.log.level === 'silent' ? 'silent' : 'info');
  let nc: NatsConnection;
  try {
    nc = await connectNats(config.nats);
  } catch (err) {
    return fail(`cannot connect to ${config.nats.servers.join(',')}: ${(err as Error).message}`, 1);
  }
  try {
    const registry = await ModelRegistry.open(nc, {
      objectBucket: config.registry.objectBucket,
      kvBucket: config.registry.kvBucket,
      subjectPrefix: config.nats.subjectPrefix,
      log,
    });
    const out = (o: unknown): void => void process.stdout.write(JSON.stringify(o) + '\n');
    switch (sub) {
      case 'publish': {
        if (pos.length !== 1) return fail(`publish takes one model folder\n${USAGE}`);
        const p = await registry.publish(pos[0]!, { windowSec: config.window.lengthSec, by });
        out({ published: `${p.name}@${p.version}`, band: p.band, sha256: p.sha256, files: p.files, bytes: p.bytes, learned: p.learned });
        return 0;
      }
      case 'list': {
        const versions = await registry.list();
        const serving = Object.fromEntries(
          await Promise.all(CHANNELS.map(async (c) => [c, (await registry.serving(c))?.entry ?? null] as const)),
        );
        const candidates = Object.fromEntries(
          await Promise.all(CANDIDATE_KINDS.map(async (k) => [k, Object.fromEntries(await Promise.all(CHANNELS.map(async (c) => [c, (await readCandidate(registry, k, c))?.entry ?? null] as const)))] as const)),
        );
        if (v.json) {
          out({ serving, candidates, versions: versions.map(({ card: _card, ...rest }) => rest) });
          return 0;
        }
        for (const c of CHANNELS) {
          const s = serving[c];
          process.stdout.write(`${c.padEnd(10)} serving ${s ? `${s.name}@${s.version} (${s.action} by ${s.by} at ${s.at})` : '(nothing promoted: the on-disk model)'}\n`);
          for (const k of CANDIDATE_KINDS) {
            const e = candidates[k]?.[c];
            if (e?.candidate) process.stdout.write(`${''.padEnd(10)} ${k.padEnd(7)} ${refString(e.candidate)} share ${e.share} (by ${e.by} at ${e.at})\n`);
          }
        }
        for (const m of versions) {
          const tags = CHANNELS.filter((c) => serving[c]?.name === m.name && serving[c]?.version === m.version);
          process.stdout.write(`${`${m.name}@${m.version}`.padEnd(40)} ${m.band.padEnd(10)} ${String(m.bytes).padStart(9)} B  ${m.publishedAt}${m.learned ? '  learned head' : ''}${tags.length ? `  [serving ${tags.join(', ')}]` : ''}\n`);
        }
        return 0;
      }
      case 'promote': {
        if (pos.length !== 1) return fail(`promote takes NAME@VERSION\n${USAGE}`);
        const { name, version } = parseRef(pos[0]!);
        const target: Channel = channel ?? cardBand(await registry.card(name, version));
        out({ promoted: await registry.promote(name, version, target, by) });
        return 0;
      }
      case 'rollback': {
        let target = channel;
        if (!target) {
          const withHistory: Channel[] = [];
          for (const c of CHANNELS) if ((await registry.history(c)).length > 0) withHistory.push(c);
          if (withHistory.length !== 1) return fail(`rollback: say which channel (--channel ${CHANNELS.join('|')})`);
          target = withHistory[0];
        }
        out({ rolledBack: await registry.rollback(target!, by) });
        return 0;
      }
      case 'shadow':
      case 'canary': {
        if (v.off) {
          if (pos.length !== 0 || !channel) return fail(`${sub} --off takes no version and needs --channel ${CHANNELS.join('|')}`);
          out({ [sub]: await setCandidate(registry, sub, channel, null, 0, by) });
          return 0;
        }
        if (pos.length !== 1 || v.share === undefined) return fail(`${sub} takes NAME@VERSION and --share X (or --off --channel C)\n${USAGE}`);
        const share = Number(v.share);
        if (!(share > 0 && share <= 1)) return fail(`--share must be a number in (0, 1], got ${JSON.stringify(v.share)}`);
        const ref = parseRef(pos[0]!);
        const target: Channel = channel ?? cardBand(await registry.card(ref.name, ref.version));
        out({ [sub]: await setCandidate(registry, sub, target, ref, share, by) });
        return 0;
      }
      case 'pull': {
        if (pos.length !== 2) return fail(`pull takes NAME@VERSION DIR\n${USAGE}`);
        const { name, version } = parseRef(pos[0]!);
        out({ pulled: `${name}@${version}`, dir: await registry.pull(name, version, pos[1]!) });
        return 0;
      }
      case 'history': {
        for (const c of channel ? [channel] : CHANNELS) {
          for (const e of await registry.history(c)) out(e);
        }
        return 0;
      }
      case 'report': {
        const { modelReport } = await import('../learn/report.js');
        const sinceMin = v['since-min'] === undefined ? undefined : Number(v['since-min']);
        if (sinceMin !== undefined && !(sinceMin > 0)) return fail('--since-min must be a positive number of minutes');
        const r = await modelReport(nc, config, sinceMin);
        process.stdout.write(v.json ? JSON.stringify(r) + '\n' : r.text);
        return 0;
      }
      default:
        return fail(`unknown subcommand ${JSON.stringify(sub)}\n${USAGE}`);
    }
  } catch (err) {
    if (err instanceof RegistryError || err instanceof ModelLoadError) return fail(err.message, 1);
    throw err;
  } finally {
    await nc.close();
  }
}
