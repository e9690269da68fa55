/**
 * What the soak prints: the header, one line per sample, the verdict block.
 */
import { sum, type ServerSample } from './server-metrics.js';
import type { CallCounts } from './call-driver.js';
import type { Check, Sample } from './verdict.js';

const MiB = 2 ** 20;

function shedText(s: ServerSample): string {
  const total = sum(s.shed);
  const parts = Object.entries(s.shed).filter(([, n]) => n > 0).map(([r, n]) => `${r} ${n}`);
  return parts.length ? `${total} (${parts.join(', ')})` : String(total);
}

function lateText(x: Sample): string {
  const { rtp, ws } = x.sendLateP99Ms;
  return rtp === null && ws === null ? '' : ` | send late p99 rtp ${rtp ?? '-'} ws ${ws ?? '-'} ms`;
}

export function sampleLine(x: Sample, calls: CallCounts, natsUp: boolean, note = ''): string {
  const head = `[${(x.tSec / 60).toFixed(1).padStart(5)} min]`;
  const s = x.server;
  const callText = `calls live ${x.liveCalls} (rtp ${calls.live.rtp}, ws ${calls.live.ws}), started ${calls.started.rtp + calls.started.ws}`;
  if (!s) return `${head} /metrics did not answer | windows expected ${x.expected} | ${callText}${note}`;
  const dropped = sum(s.eventsDropped);
  return (
    `${head} RSS ${(s.rssBytes / MiB).toFixed(1)} MiB heap ${(s.heapUsedBytes / MiB).toFixed(1)} MiB ` +
    `loop p50 ${s.loopP50Ms.toFixed(2)} p99 ${s.loopP99Ms.toFixed(2)} ms | ` +
    `windows expected ${x.expected} received ${s.windowsReceived} scored ${s.windowsScored} shed ${shedText(s)} queued ${s.windowsQueued} | ` +
    `events published ${s.eventsPublished} in JetStream ${x.jetstream ?? 'n/a'} buffered ${s.eventsBuffered}${dropped ? ` DROPPED ${dropped}` : ''} | ` +
    `${callText}, server streams ${sum(s.activeStreams)} | NATS ${natsUp ? 'up' : 'DOWN'}${lateText(x)}${note}`
  );
}

export function verdictBlock(checks: readonly Check[], pass: boolean): string {
  const mark = (c: Check): string => (c.ok === null ? ' -- ' : c.ok ? ' ok ' : 'FAIL');
  const width = Math.max(...checks.map((c) => c.name.length));
  return [
    '',
    '== verdict ==',
    ...checks.map((c) => `[${mark(c)}] ${c.name.padEnd(width)}  ${c.detail}`),
    pass ? 'SOAK PASSED: every target held' : 'SOAK FAILED: see FAIL above',
  ].join('\n');
}
