/**
 * Every Prometheus metric DevoX exports, in one registry object (no global default
 * registry, so tests and several servers in one process never collide).
 *
 * Latency buckets span 0.1 ms … 5 s: window → verdict latency is sub-millisecond when
 * the detector keeps up and seconds when it sheds, and both ends must be readable.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { StreamCounters } from '../media/types.js';
import type { SipCounters } from '../signaling/sip/types.js';
import type { WsMediaCounters } from '../signaling/websocket/types.js';
import type { EventType, VerdictLabel } from '../verdicts/types.js';
import type { StreamCapacity } from '../media/stream-capacity.js';
import { SHED_REASONS } from '../detect/micro-batcher.js';
import { registerRtpMetrics, StreamCounterTotals, type CounterSource } from './rtp-metrics.js';

export type { CounterSource } from './rtp-metrics.js';

/** Seconds: 0.1 ms … 5 s, denser where real-time operation lives (1–50 ms). */
export const LATENCY_BUCKETS_SEC: readonly number[] = [
  0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.025, 0.035, 0.05, 0.075, 0.1,
  0.15, 0.25, 0.5, 1, 2, 5,
];
export const BATCH_SIZE_BUCKETS: readonly number[] = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024];

export class Metrics {
  readonly registry = new Registry();
  readonly #rtp = new StreamCounterTotals();
  readonly #modelByBand = new Map<string, { name: string; version: string; band: string }>();

  /** Window cut by media → its event handed to NATS / stdout (every scored window). */
  readonly windowToVerdict = new Histogram({
    name: 'devox_window_to_verdict_seconds',
    help: 'Window ready (cut by media) to its verdict/window event published, seconds',
    buckets: [...LATENCY_BUCKETS_SEC],
    registers: [this.registry],
  });
  readonly batchDuration = new Histogram({
    name: 'devox_inference_batch_duration_seconds',
    help: 'Duration of one batched model run, seconds',
    buckets: [...LATENCY_BUCKETS_SEC],
    registers: [this.registry],
  });
  readonly queueWait = new Histogram({
    name: 'devox_inference_queue_wait_seconds',
    help: 'Window ready to the start of the batch that scores it, seconds',
    buckets: [...LATENCY_BUCKETS_SEC],
    registers: [this.registry],
  });
  readonly batchSize = new Histogram({
    name: 'devox_inference_batch_size',
    help: 'Windows per inference batch',
    buckets: [...BATCH_SIZE_BUCKETS],
    registers: [this.registry],
  });
  /** Media time into a stream at its first decided label (how much call it takes to decide). */
  readonly firstVerdict = new Histogram({
    name: 'devox_first_verdict_media_seconds',
    help: 'Media time (s since the stream started) of the first genuine, suspicious or synthetic verdict',
    buckets: [0.5, 1, 1.25, 1.5, 2, 2.5, 3, 4, 5, 7.5, 10, 15, 20, 30, 60],
    registers: [this.registry],
  });
  /** Windows cut by media and handed to the models: each one is counted again as scored or shed, once settled. */
  readonly windowsReceived = new Counter({
    name: 'devox_windows_received_total',
    help: 'Windows cut by media and handed to the models; received = scored + shed + devox_windows_queued',
    registers: [this.registry],
  });
  readonly windowsScored = new Counter({
    name: 'devox_windows_scored_total',
    help: 'Windows scored by the model',
    registers: [this.registry],
  });
  readonly windowsShed = new Counter({
    name: 'devox_windows_shed_total',
    help:
      'Windows dropped unscored, by reason: queue_delay / buffer_full (inference fell behind real time), ' +
      'inference_error (their batch failed), invalid_window (window does not fit the model: misconfiguration), closed (shutdown)',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly inferenceErrors = new Counter({
    name: 'devox_inference_errors_total',
    help: 'Batches whose inference failed (their windows are counted as shed)',
    registers: [this.registry],
  });
  readonly speechWindows = new Counter({
    name: 'devox_speech_windows_total',
    help: 'Scored windows that counted as speech evidence',
    registers: [this.registry],
  });
  readonly insufficientSpeech = new Counter({
    name: 'devox_insufficient_speech_total',
    help: 'Streams that reached insufficient_speech',
    registers: [this.registry],
  });
  readonly verdicts = new Counter({
    name: 'devox_verdicts_total',
    help: 'Verdict changes, by new label',
    labelNames: ['label'] as const,
    registers: [this.registry],
  });
  readonly eventsPublished = new Counter({
    name: 'devox_events_published_total',
    help: 'Events delivered (acknowledged by JetStream, or written to stdout), by type',
    labelNames: ['type'] as const,
    registers: [this.registry],
  });
  readonly eventsDropped = new Counter({
    name: 'devox_events_dropped_total',
    help: 'Events dropped: buffer_full (NATS away too long), rejected (NATS refused the message, or stdout broke) or closed (published after shutdown, or undelivered at shutdown)',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly eventsBuffered = new Gauge({
    name: 'devox_events_buffered',
    help: 'Events held in memory waiting for NATS',
    registers: [this.registry],
  });
  /** Registered by addEventOutput('nats') only: absent from /metrics without NATS. */
  readonly natsConnected = new Gauge({
    name: 'devox_nats_connected',
    help: '1 when the NATS connection is up, 0 when down or degraded (absent meaning: NATS not configured)',
    registers: [],
  });
  /** The configured event output only (one series): what the dashboard's output panel shows. */
  readonly eventsOutputUp = new Gauge({
    name: 'devox_events_output_up',
    help: '1 when events are being delivered now, 0 when down or degraded; output="nats" or "stdout" (no NATS configured)',
    labelNames: ['output'] as const,
    registers: [this.registry],
  });
  readonly natsReconnects = new Counter({
    name: 'devox_nats_reconnects_total',
    help: 'NATS reconnections',
    registers: [this.registry],
  });
  readonly natsDisconnects = new Counter({
    name: 'devox_nats_disconnects_total',
    help: 'NATS connection losses',
    registers: [this.registry],
  });
  readonly activeCalls = new Gauge({
    name: 'devox_active_calls',
    help: 'Calls with at least one live stream',
    registers: [this.registry],
  });
  readonly liveStreamsByLabel = new Gauge({
    name: 'devox_live_streams_by_label',
    help: 'Live streams by their current verdict label',
    labelNames: ['label'] as const,
    registers: [this.registry],
  });
  readonly activeStreams = new Gauge({
    name: 'devox_active_streams',
    help: 'Live media streams',
    labelNames: ['transport'] as const,
    registers: [this.registry],
  });
  readonly streamsStarted = new Counter({
    name: 'devox_streams_started_total',
    help: 'Media streams started',
    labelNames: ['transport'] as const,
    registers: [this.registry],
  });
  readonly rtpSilences = new Counter({
    name: 'devox_rtp_silences_total',
    help: 'Times a SIP leg had no RTP for media.streamTimeoutMs (kept open for its dialog, not ended)',
    registers: [this.registry],
  });
  readonly httpUnauthorized = new Counter({
    name: 'devox_http_unauthorized_total',
    help: 'HTTP requests refused for a missing, malformed or wrong bearer token (401), by route access level and reason',
    labelNames: ['access', 'reason'] as const,
    registers: [this.registry],
  });
  readonly modelInfo = new Gauge({
    name: 'devox_model_info',
    help: 'The models serving (value 1), one per band, with name, version and band as labels',
    labelNames: ['name', 'version', 'band'] as const,
    registers: [this.registry],
  });
  readonly modelSwaps = new Counter({
    name: 'devox_model_swaps_total',
    help: 'Model swaps',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly rtpJitter: Gauge<'stat'>;

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    this.rtpJitter = registerRtpMetrics(this.registry, this.#rtp);
    for (const label of ['listening', 'insufficient_speech', 'genuine', 'suspicious', 'synthetic'] satisfies VerdictLabel[]) {
      this.verdicts.inc({ label }, 0);
    }
    for (const label of ['listening', 'insufficient_speech', 'genuine', 'suspicious', 'synthetic'] satisfies VerdictLabel[]) {
      this.liveStreamsByLabel.set({ label }, 0);
    }
    for (const type of ['call.started', 'window.scored', 'verdict.changed', 'stream.silence', 'call.ended', 'identity.verified', 'identity.mismatch', 'identity.insufficient_speech'] satisfies EventType[]) {
      this.eventsPublished.inc({ type }, 0);
    }
    this.eventsDropped.inc({ reason: 'buffer_full' }, 0);
    this.eventsDropped.inc({ reason: 'rejected' }, 0);
    this.eventsDropped.inc({ reason: 'closed' }, 0);
    for (const reason of SHED_REASONS) this.windowsShed.inc({ reason }, 0);
    this.activeStreams.set({ transport: 'rtp' }, 0);
    if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry, prefix: 'devox_' });
  }

  /**
   * Called by the event publisher when it is created: exports devox_nats_connected only when
   * events go to NATS (idempotent; several publishers may share one Metrics in tests).
   */
  addEventOutput(output: 'nats' | 'stdout'): void {
    if (output === 'nats' && !this.registry.getSingleMetric('devox_nats_connected')) {
      this.registry.registerMetric(this.natsConnected);
    }
  }

  /** SIP signaling counters (SipApp.counters) and readiness, read at scrape time. */
  addSipCounters(read: () => Readonly<SipCounters>, ready: () => boolean): void {
    new Counter({
      name: 'devox_sip_events_total',
      help: 'SIP signaling events: INVITEs, answers, rejections by cause, re-INVITEs, metadata problems...',
      labelNames: ['event'] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const [event, v] of Object.entries(read())) this.inc({ event }, v);
      },
    });
    new Gauge({
      name: 'devox_sip_connected',
      help: '1 when connected to drachtio-server',
      registers: [this.registry],
      collect() {
        this.set(ready() ? 1 : 0);
      },
    });
  }

  /** WebSocket media stream counters (MediaStreamServer.counters), read at scrape time. */
  addWebSocketCounters(read: () => Readonly<WsMediaCounters>): void {
    const r = this.registry;
    const labelled = (name: string, help: string, label: string, pick: (c: Readonly<WsMediaCounters>) => Record<string, number>) =>
      new Counter({
        name,
        help,
        labelNames: [label],
        registers: [r],
        collect() {
          this.reset();
          for (const [k, v] of Object.entries(pick(read()))) this.inc({ [label]: k }, v);
        },
      });
    labelled('devox_ws_connections_total', 'WebSocket media connections accepted, by protocol', 'protocol', (c) => c.connections);
    labelled('devox_ws_refused_total', 'WebSocket media upgrades refused, by cause', 'cause', (c) => c.refused);
    labelled('devox_ws_closed_total', 'WebSocket media connections ended, by reason', 'reason', (c) => c.closed);
    const plain = (name: string, help: string, pick: (c: Readonly<WsMediaCounters>) => number) =>
      new Counter({
        name,
        help,
        registers: [r],
        collect() {
          this.reset();
          this.inc(pick(read()));
        },
      });
    plain('devox_ws_messages_total', 'WebSocket messages received on media connections', (c) => c.messages);
    plain('devox_ws_bytes_total', 'Bytes of WebSocket media messages', (c) => c.bytes);
    plain('devox_ws_frames_total', 'Audio frames written into streams from WebSockets', (c) => c.frames);
    plain('devox_ws_frames_dropped_total', "Audio frames timed before their leg's first frame (dropped)", (c) => c.dropped);
    new Gauge({
      name: 'devox_ws_active_connections',
      help: 'Open WebSocket media connections',
      registers: [r],
      collect() {
        this.set(read().activeConnections);
      },
    });
  }

  /** Speaker verification (speaker/speaker-scorer.ts stats), read at scrape time; identity events count in devox_events_published_total. */
  addSpeakerCounters(read: () => Readonly<{ embedded: number; shed: number; batches: number; inferenceMs: number; streams: number }>): void {
    const r = this.registry;
    const plain = (name: string, help: string, pick: (c: ReturnType<typeof read>) => number) =>
      new Counter({ name, help, registers: [r], collect() {
        this.reset();
        this.inc(pick(read()));
      } });
    plain('devox_speaker_windows_embedded_total', 'Speech windows embedded by the speaker model', (c) => c.embedded);
    plain('devox_speaker_windows_shed_total', 'Speaker windows dropped (batch full while the worker was busy, or a failed batch)', (c) => c.shed);
    plain('devox_speaker_batches_total', 'Speaker-model batches run', (c) => c.batches);
    plain('devox_speaker_inference_seconds_total', 'Time the speaker model spent in inference', (c) => c.inferenceMs / 1000);
    new Gauge({ name: 'devox_speaker_legs', help: 'Live legs whose voice is being embedded (a claim, or 1:N identification)', registers: [r], collect() {
      this.set(read().streams);
    } });
  }

  /** The shared cap on live streams (media.maxStreams): its limit, slots in use, refusals by transport. */
  addStreamCapacity(capacity: StreamCapacity): void {
    const r = this.registry;
    new Gauge({
      name: 'devox_stream_capacity',
      help: 'Live streams DevoX admits across all ingresses (media.maxStreams)',
      registers: [r],
      collect() {
        this.set(capacity.limit);
      },
    });
    new Gauge({
      name: 'devox_stream_slots_in_use',
      help: 'Live streams holding a capacity slot (RTP, WebSocket legs, WebRTC sessions)',
      registers: [r],
      collect() {
        this.set(capacity.active);
      },
    });
    new Counter({
      name: 'devox_streams_refused_total',
      help: 'Streams refused because media.maxStreams were live, by transport',
      labelNames: ['transport'],
      registers: [r],
      collect() {
        this.reset();
        for (const [transport, n] of Object.entries(capacity.refused)) this.inc({ transport }, n);
      },
    });
  }

  /** Windows received by the models and not yet scored or shed (queued or in a running batch; read at scrape time). */
  watchDetectorQueue(count: () => number): void {
    new Gauge({
      name: 'devox_windows_queued',
      help: 'Windows waiting in the detectors or in a batch being scored: devox_windows_received_total minus scored and shed',
      registers: [this.registry],
      collect() {
        this.set(count());
      },
    });
  }

  /** The SIP legs without RTP for media.streamTimeoutMs now (read at scrape time). */
  watchSilentStreams(count: () => number): void {
    new Gauge({
      name: 'devox_rtp_silent_streams',
      help: 'SIP legs open without RTP for media.streamTimeoutMs now',
      registers: [this.registry],
      collect() {
        this.set(count());
      },
    });
  }

  /** Register a live source of per-stream RTP counters (read at scrape time). */
  addCounterSource(source: CounterSource): void {
    this.#rtp.addSource(source);
  }

  /** Track one stream's counters directly (transports without a source). */
  trackStreamCounters(streamId: string, counters: StreamCounters): void {
    this.#rtp.track(streamId, counters);
  }

  /**
   * A stream is flowing (e.g. its first window): pick up its counters from the sources now,
   * so a stream that ends between two scrapes still reaches the totals.
   */
  noteStream(streamId: string): void {
    this.#rtp.note(streamId);
  }

  /** Call when a stream ends: its final counters stay in the totals. */
  retireStream(streamId: string): void {
    this.#rtp.retire(streamId);
  }

  /** The model serving `band` now (one series per band; a swap replaces its band's series). */
  setModel(name: string, version: string, band = 'wideband'): void {
    const prev = this.#modelByBand.get(band);
    if (prev) this.modelInfo.remove(prev);
    const labels = { name, version, band };
    this.#modelByBand.set(band, labels);
    this.modelInfo.set(labels, 1);
  }

  async text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
