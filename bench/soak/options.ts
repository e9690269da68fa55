/**
 * `npm run soak` options: parsed, checked (a bad value names the option, exit 2) and defaulted.
 */
import { benchArgs } from '../args.js';

export const USAGE = `usage: npm run soak -- [options]

Runs DevoX (a real \`devox serve\` process) under mixed RTP + Twilio WebSocket calls with churn,
a real nats-server with JetStream, a NATS outage and (with WebRTC) a killed mediasoup worker;
prints a line per sample and a verdict: RSS drift after warm-up, every window accounted for,
every event in JetStream. Exit 0 when every target holds, 1 when one does not.

  --streams N             concurrent calls (default 400)
  --minutes M             length of the run, calls included (default 30; fractions allowed)
  --ws-share F            fraction of the calls over WebSocket, the rest RTP (default 0.25)
  --call-s MIN,MAX        call length in seconds, uniform (default 120,360); then the slot pauses
  --gap-s S               up to S seconds between a call's end and the slot's next call (default 2)
  --sample-s S            seconds between samples (default 60: "every minute")
  --warmup-min W          RSS drift is measured from the sample at minute W to the end (default:
                          5, or longer while per-call state DevoX keeps by design is still filling:
                          console.endedRetentionSec + the longest call, 16 with the defaults)
  --rss-drift-max PCT     the RSS drift target (default 5)
  --nats-outage-at WHEN   when nats-server goes down: minutes (7.5), seconds (90s), or off
                          (default: mid-run)
  --nats-outage-s S       how long it stays down (default 30)
  --nats-signal SIG       how it goes down: KILL (a crash, default) or TERM
  --kill-worker-at WHEN   SIGKILL a mediasoup worker (default: at 3/4 of the run); needs
                          MEDIASOUP_WORKER_BIN (WebRTC on); skipped with the reason otherwise
  --no-webrtc             run DevoX without WebRTC even when MEDIASOUP_WORKER_BIN is set
  --max-buffered-events N nats.maxBufferedEvents (default: sized to hold the outage's events)
  --settle-ms MS          RTP: wait after the last packet before the stream is ended (default 500)
  --set key.path=VALUE    DevoX config override (repeatable; VALUE parsed as JSON when it can be)
  --seed N                call lengths and pauses (default 1)
  --log-dir DIR           where the server's config and log go (default: a new temporary folder)
  --json FILE             write every sample, the faults and the verdict as JSON
  -h, --help              this text

examples:
  npm run soak                                             # 400 streams, 30 min (an idle box)
  npm run soak -- --streams 50 --minutes 3 --call-s 20,60 --nats-outage-s 20 --warmup-min 1`;

export interface SoakOptions {
  streams: number;
  minutes: number;
  wsShare: number;
  callMinS: number;
  callMaxS: number;
  gapMaxS: number;
  sampleS: number;
  /** null: 5 minutes, or the console's ended-call retention plus the longest call when longer. */
  warmupMin: number | null;
  rssDriftMaxPct: number;
  /** Seconds after the calls start; null: off. */
  natsOutageAtS: number | null;
  natsOutageS: number;
  natsSignal: NodeJS.Signals;
  killWorkerAtS: number | null;
  webrtc: boolean;
  maxBufferedEvents: number | null;
  settleMs: number;
  overrides: Record<string, unknown>;
  seed: number;
  logDir: string | null;
  json: string | null;
}

export class OptionError extends Error {}

function num(name: string, v: string, min: number, max = Infinity): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n < min || n > max) throw new OptionError(`--${name}: expected a number in [${min}, ${max}], got ${JSON.stringify(v)}`);
  return n;
}

/** `7.5` minutes, `90s` seconds, `off`; as seconds (null: off). */
function when(name: string, v: string, runS: number): number | null {
  if (v === 'off' || v === 'none') return null;
  const s = v.endsWith('s') ? num(name, v.slice(0, -1), 0) : num(name, v, 0) * 60;
  if (s >= runS) throw new OptionError(`--${name}: ${v} is not within the ${runS / 60}-minute run`);
  return s;
}

function setOverride(into: Record<string, unknown>, kv: string): void {
  const i = kv.indexOf('=');
  if (i <= 0) throw new OptionError(`--set: expected key.path=value, got ${JSON.stringify(kv)}`);
  let value: unknown = kv.slice(i + 1);
  try {
    value = JSON.parse(value as string);
  } catch {
    // a plain string
  }
  let cur = into;
  const keys = kv.slice(0, i).split('.');
  for (const k of keys.slice(0, -1)) cur = (cur[k] ??= {}) as Record<string, unknown>;
  cur[keys.at(-1)!] = value;
}

export function parseSoakOptions(args: string[] = process.argv.slice(2)): SoakOptions {
  const v = benchArgs(
    USAGE,
    {
      streams: { type: 'string', default: '400' },
      minutes: { type: 'string', default: '30' },
      'ws-share': { type: 'string', default: '0.25' },
      'call-s': { type: 'string', default: '120,360' },
      'gap-s': { type: 'string', default: '2' },
      'sample-s': { type: 'string', default: '60' },
      'warmup-min': { type: 'string' },
      'rss-drift-max': { type: 'string', default: '5' },
      'nats-outage-at': { type: 'string' },
      'nats-outage-s': { type: 'string', default: '30' },
      'nats-signal': { type: 'string', default: 'KILL' },
      'kill-worker-at': { type: 'string' },
      'no-webrtc': { type: 'boolean', default: false },
      'max-buffered-events': { type: 'string' },
      'settle-ms': { type: 'string', default: '500' },
      set: { type: 'string', multiple: true },
      seed: { type: 'string', default: '1' },
      'log-dir': { type: 'string' },
      json: { type: 'string' },
    },
    args,
  );
  const minutes = num('minutes', v.minutes!, 0.05);
  const runS = minutes * 60;
  const [callMin, callMax, extra] = v['call-s']!.split(',');
  if (callMax === undefined || extra !== undefined) throw new OptionError(`--call-s: expected MIN,MAX seconds, got ${JSON.stringify(v['call-s'])}`);
  const callMinS = num('call-s', callMin!, 2);
  const callMaxS = num('call-s', callMax, callMinS);
  const signal = v['nats-signal']!.toUpperCase().replace(/^SIG/, '');
  if (signal !== 'KILL' && signal !== 'TERM') throw new OptionError(`--nats-signal: expected KILL or TERM, got ${JSON.stringify(v['nats-signal'])}`);
  const overrides: Record<string, unknown> = {};
  for (const kv of v.set ?? []) setOverride(overrides, kv);
  return {
    streams: Math.round(num('streams', v.streams!, 1, 5000)),
    minutes,
    wsShare: num('ws-share', v['ws-share']!, 0, 1),
    callMinS,
    callMaxS,
    gapMaxS: num('gap-s', v['gap-s']!, 0),
    sampleS: num('sample-s', v['sample-s']!, 1),
    warmupMin: v['warmup-min'] !== undefined ? num('warmup-min', v['warmup-min'], 0) : null,
    rssDriftMaxPct: num('rss-drift-max', v['rss-drift-max']!, 0),
    natsOutageAtS: v['nats-outage-at'] !== undefined ? when('nats-outage-at', v['nats-outage-at'], runS) : runS / 2,
    natsOutageS: num('nats-outage-s', v['nats-outage-s']!, 0),
    natsSignal: `SIG${signal}`,
    killWorkerAtS: v['kill-worker-at'] !== undefined ? when('kill-worker-at', v['kill-worker-at'], runS) : runS * 0.75,
    webrtc: !v['no-webrtc'],
    maxBufferedEvents: v['max-buffered-events'] !== undefined ? Math.round(num('max-buffered-events', v['max-buffered-events'], 1)) : null,
    settleMs: num('settle-ms', v['settle-ms']!, 0),
    overrides,
    seed: Math.round(num('seed', v.seed!, 0)),
    logDir: v['log-dir'] ?? null,
    json: v.json ?? null,
  };
}
