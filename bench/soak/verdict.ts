/**
 * The soak's targets, judged from its samples and the final, drained state (pure: no I/O).
 *  - RSS drift after warm-up: RSS at the last sample vs the first sample after the warm-up and
 *    the NATS outage, below the target (judged only when two sample intervals separate them);
 *  - every window accounted for: the windows the media sent should give (expected) = the windows
 *    the models received, and received = scored + shed (all reasons), nothing left queued;
 *  - no lost event: events DevoX counted as published = messages in the JetStream stream, none
 *    dropped, none left buffered;
 *  - calls: none failed to start, no WebSocket closed by the server other than after `stop`;
 *  - faults: NATS came back after its outage; the worker kill (when it ran) found a worker;
 *  - the server stayed up and its graceful shutdown exited 0.
 */
import { sum, type ServerSample } from './server-metrics.js';
import type { CallCounts } from './call-driver.js';
import type { FaultRecord } from './faults.js';

export interface Sample {
  /** Seconds since the calls started. */
  tSec: number;
  server: ServerSample | undefined;
  jetstream: number | undefined;
  expected: number;
  liveCalls: number;
  /** How late the load processes sent their frames since the previous sample (p99, ms; null: no report). */
  sendLateP99Ms: { rtp: number | null; ws: number | null };
}

export interface FinalState {
  drained: boolean;
  expected: number;
  server: ServerSample | undefined;
  jetstream: number | undefined;
  calls: CallCounts;
  faults: FaultRecord[];
  skipped: string[];
  serverExit: { exitCode: number | null; killed: boolean; diedDuringRun: boolean };
}

export interface Check {
  name: string;
  /** null: not judged (e.g. the run is too short for the RSS drift). */
  ok: boolean | null;
  detail: string;
}

export interface Verdict {
  checks: Check[];
  pass: boolean;
  rssDriftPct: number | null;
}

const MiB = 2 ** 20;

/**
 * RSS growth from the first sample at or after `fromSec` to the last one. The soak starts it
 * after the warm-up and after the NATS outage has ended: the events an outage buffers
 * (bounded by nats.maxBufferedEvents, by design) raise the high-water mark once.
 */
export function rssDrift(samples: readonly Sample[], fromSec: number, sampleS: number): { pct: number; from: Sample; to: Sample } | string {
  const withRss = samples.filter((s) => s.server !== undefined && s.server.rssBytes > 0);
  const from = withRss.find((s) => s.tSec >= fromSec - 1);
  const to = withRss.at(-1);
  if (!from || !to || to.tSec - from.tSec < 2 * sampleS - 1) {
    return `not judged: no two sample intervals after minute ${(fromSec / 60).toFixed(1)} (run longer, or lower --warmup-min)`;
  }
  return { pct: ((to.server!.rssBytes - from.server!.rssBytes) / from.server!.rssBytes) * 100, from, to };
}

/** RSS at the last sample before a fault and the first one after it ended (what it cost, kept or not). */
function rssAcross(samples: readonly Sample[], atSec: number, endSec: number | undefined): string {
  if (endSec === undefined) return '';
  const before = samples.filter((s) => s.tSec < atSec && s.server).at(-1);
  const after = samples.find((s) => s.tSec > endSec && s.server);
  if (!before || !after) return '';
  return `; RSS ${(before.server!.rssBytes / MiB).toFixed(1)} MiB before → ${(after.server!.rssBytes / MiB).toFixed(1)} MiB after`;
}

export function judge(samples: readonly Sample[], f: FinalState, o: { driftFromSec: number; sampleS: number; rssDriftMaxPct: number }): Verdict {
  const checks: Check[] = [];
  const s = f.server;
  const drift = rssDrift(samples, o.driftFromSec, o.sampleS);
  if (typeof drift === 'string') checks.push({ name: 'RSS drift after warm-up', ok: null, detail: drift });
  else {
    const mib = (x: Sample) => (x.server!.rssBytes / MiB).toFixed(1);
    checks.push({
      name: 'RSS drift after warm-up',
      ok: drift.pct < o.rssDriftMaxPct,
      detail: `${drift.pct >= 0 ? '+' : ''}${drift.pct.toFixed(2)} % (${mib(drift.from)} MiB at ${(drift.from.tSec / 60).toFixed(1)} min → ${mib(drift.to)} MiB at ${(drift.to.tSec / 60).toFixed(1)} min; target < ${o.rssDriftMaxPct} %)`,
    });
  }
  checks.push({ name: 'drained', ok: f.drained, detail: f.drained ? 'every call ended, no window queued, no event buffered' : 'timed out waiting for calls, windows or events to settle' });
  if (!s) {
    checks.push({ name: 'final scrape', ok: false, detail: 'the server did not answer /metrics at the end' });
  } else {
    const shed = sum(s.shed);
    checks.push({
      name: 'windows: expected = received',
      ok: f.expected === s.windowsReceived,
      detail: `${f.expected} expected from the media sent, ${s.windowsReceived} received by the models (${s.windowsReceived - f.expected >= 0 ? '+' : ''}${s.windowsReceived - f.expected})`,
    });
    const reasons = Object.entries(s.shed).filter(([, n]) => n > 0).map(([r, n]) => `${r} ${n}`).join(', ') || 'none';
    checks.push({
      name: 'windows: received = scored + shed',
      ok: s.windowsReceived === s.windowsScored + shed && s.windowsQueued === 0,
      detail: `${s.windowsReceived} = ${s.windowsScored} scored + ${shed} shed (${reasons})${s.windowsQueued ? `, ${s.windowsQueued} still queued` : ''}`,
    });
    const dropped = sum(s.eventsDropped);
    checks.push({
      name: 'events: published = in JetStream',
      ok: f.jetstream !== undefined && f.jetstream === s.eventsPublished,
      detail: `${s.eventsPublished} published (acknowledged), ${f.jetstream ?? 'unknown'} in the stream`,
    });
    checks.push({
      name: 'events: none dropped or left buffered',
      ok: dropped === 0 && s.eventsBuffered === 0,
      detail: `dropped ${dropped} ${JSON.stringify(s.eventsDropped)}, buffered ${s.eventsBuffered}`,
    });
  }
  const failed = sum(f.calls.failed);
  const abnormal = sum(f.calls.abnormalCloses);
  checks.push({
    name: 'calls: all started and ended cleanly',
    ok: failed === 0 && abnormal === 0,
    detail:
      `${f.calls.started.rtp} RTP + ${f.calls.started.ws} WebSocket calls started, ${f.calls.ended.rtp} + ${f.calls.ended.ws} ended` +
      (failed ? `; failed: ${JSON.stringify(f.calls.failed)}` : '') +
      (abnormal ? `; closed by the server: ${JSON.stringify(f.calls.abnormalCloses)}` : '') +
      (f.calls.goneBeforeDelete ? `; ${f.calls.goneBeforeDelete} RTP streams already gone at DELETE` : ''),
  });
  for (const fault of f.faults) {
    checks.push({ name: `fault: ${fault.fault} at ${(fault.atSec / 60).toFixed(1)} min`, ok: fault.ok, detail: fault.detail + rssAcross(samples, fault.atSec, fault.endSec) });
  }
  for (const why of f.skipped) checks.push({ name: 'fault skipped', ok: null, detail: why });
  const e = f.serverExit;
  checks.push({
    name: 'server: up throughout, clean shutdown',
    ok: !e.diedDuringRun && e.exitCode === 0 && !e.killed,
    detail: e.diedDuringRun ? 'the server process died during the run' : `SIGTERM → exit ${e.exitCode}${e.killed ? ' (had to be SIGKILLed)' : ''}`,
  });
  return { checks, pass: checks.every((c) => c.ok !== false), rssDriftPct: typeof drift === 'string' ? null : drift.pct };
}
