/**
 * One scrape of DevoX's /metrics, reduced to what the soak records: memory, event-loop delay,
 * windows (received, scored, shed by reason, queued), events (published, dropped by reason,
 * buffered), live streams, NATS connection, RTP loss. Parses the Prometheus text format line by
 * line and keeps only the devox_ families it needs, so a scrape stays cheap.
 */

/** prom-client's monitorEventLoopDelay resolution (ms): an idle loop reads about this much. */
export const LOOP_RESOLUTION_MS = 10;

export interface ServerSample {
  rssBytes: number;
  heapUsedBytes: number;
  /** Event-loop delay over the interval since the previous scrape, beyond the 10 ms sampling timer (ms). */
  loopP50Ms: number;
  loopP99Ms: number;
  loopMaxMs: number;
  windowsReceived: number;
  windowsScored: number;
  windowsQueued: number;
  shed: Record<string, number>;
  eventsPublished: number;
  eventsDropped: Record<string, number>;
  eventsBuffered: number;
  activeStreams: Record<string, number>;
  natsConnected: number;
  rtpPacketsReceived: number;
  rtpPacketsLost: number;
  rtpPacketsLate: number;
  wsClosed: Record<string, number>;
  streamsRefused: number;
  /** mediasoup workers configured / alive (0 / 0 without WebRTC). */
  webrtcWorkers: number;
  webrtcWorkersLive: number;
}

const WANTED = new Set([
  'devox_process_resident_memory_bytes',
  'devox_nodejs_heap_size_used_bytes',
  'devox_nodejs_eventloop_lag_p50_seconds',
  'devox_nodejs_eventloop_lag_p99_seconds',
  'devox_nodejs_eventloop_lag_max_seconds',
  'devox_windows_received_total',
  'devox_windows_scored_total',
  'devox_windows_queued',
  'devox_windows_shed_total',
  'devox_events_published_total',
  'devox_events_dropped_total',
  'devox_events_buffered',
  'devox_active_streams',
  'devox_nats_connected',
  'devox_rtp_packets_received_total',
  'devox_rtp_packets_lost_total',
  'devox_rtp_packets_late_total',
  'devox_ws_closed_total',
  'devox_streams_refused_total',
  'devox_webrtc_workers',
  'devox_webrtc_workers_live',
]);

/** name → [label value of its one label ('' if none), value][] */
type Families = Map<string, Array<[string, number]>>;

export function parseMetrics(text: string): Families {
  const out: Families = new Map();
  for (const line of text.split('\n')) {
    if (line.length === 0 || line.charCodeAt(0) === 35 /* # */) continue;
    const brace = line.indexOf('{');
    const space = line.lastIndexOf(' ');
    const name = brace >= 0 && brace < space ? line.slice(0, brace) : line.slice(0, space);
    if (!WANTED.has(name)) continue;
    let label = '';
    if (brace >= 0 && brace < space) {
      const m = /^[^=]+="((?:[^"\\]|\\.)*)"/.exec(line.slice(brace + 1));
      label = m ? m[1]! : '';
    }
    let list = out.get(name);
    if (!list) out.set(name, (list = []));
    list.push([label, Number(line.slice(space + 1))]);
  }
  return out;
}

function one(f: Families, name: string): number {
  return (f.get(name) ?? []).reduce((a, [, v]) => a + v, 0);
}

function byLabel(f: Families, name: string): Record<string, number> {
  const r: Record<string, number> = {};
  for (const [label, v] of f.get(name) ?? []) r[label] = (r[label] ?? 0) + v;
  return r;
}

export function toSample(f: Families): ServerSample {
  const loop = (name: string): number => Math.max(0, one(f, name) * 1000 - LOOP_RESOLUTION_MS);
  return {
    rssBytes: one(f, 'devox_process_resident_memory_bytes'),
    heapUsedBytes: one(f, 'devox_nodejs_heap_size_used_bytes'),
    loopP50Ms: loop('devox_nodejs_eventloop_lag_p50_seconds'),
    loopP99Ms: loop('devox_nodejs_eventloop_lag_p99_seconds'),
    loopMaxMs: loop('devox_nodejs_eventloop_lag_max_seconds'),
    windowsReceived: one(f, 'devox_windows_received_total'),
    windowsScored: one(f, 'devox_windows_scored_total'),
    windowsQueued: one(f, 'devox_windows_queued'),
    shed: byLabel(f, 'devox_windows_shed_total'),
    eventsPublished: one(f, 'devox_events_published_total'),
    eventsDropped: byLabel(f, 'devox_events_dropped_total'),
    eventsBuffered: one(f, 'devox_events_buffered'),
    activeStreams: byLabel(f, 'devox_active_streams'),
    natsConnected: one(f, 'devox_nats_connected'),
    rtpPacketsReceived: one(f, 'devox_rtp_packets_received_total'),
    rtpPacketsLost: one(f, 'devox_rtp_packets_lost_total'),
    rtpPacketsLate: one(f, 'devox_rtp_packets_late_total'),
    wsClosed: byLabel(f, 'devox_ws_closed_total'),
    streamsRefused: one(f, 'devox_streams_refused_total'),
    webrtcWorkers: one(f, 'devox_webrtc_workers'),
    webrtcWorkersLive: one(f, 'devox_webrtc_workers_live'),
  };
}

export function sum(r: Record<string, number>): number {
  return Object.values(r).reduce((a, b) => a + b, 0);
}

/** Scrapes `${httpUrl}/metrics`; undefined when the server does not answer within timeoutMs. */
export async function scrapeServer(httpUrl: string, timeoutMs = 10_000): Promise<ServerSample | undefined> {
  try {
    const res = await fetch(`${httpUrl}/metrics`, { signal: AbortSignal.timeout(timeoutMs) });
    if (res.status !== 200) return undefined;
    return toSample(parseMetrics(await res.text()));
  } catch {
    return undefined;
  }
}
