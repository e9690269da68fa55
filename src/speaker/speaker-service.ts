/**
 * Everything "who is speaking" in one handle the server wires in (speaker.enabled):
 *   engine (the speaker model in its worker) → SpeakerScorer (a WindowSink beside the detector)
 *   → IdentityPipeline (a ScoreSink after the verdict pipeline, and the scorer's SpeakerSink)
 *   → identity.* events through the server's EventPublisher;
 *   EnrolmentStore (NATS KV, else files, else memory) + EnrolService, served over HTTP and NATS;
 *   CallEnrolments: enrolment from a live leg, its windows captured through the scorer.
 * close() cancels captures, ends legs (their final identity events), stops the NATS responder, the worker and the store.
 */
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import type { HttpServer } from '../http/http-server.js';
import { connectNats } from '../verdicts/nats-connection.js';
import type { EventPublisher } from '../verdicts/publisher.js';
import type { IdentityEvent, VerdictLabel } from '../verdicts/types.js';
import { CallEnrolments } from './call-enrolment.js';
import { enrolSubjectOf } from './config-schema.js';
import { routeEnrolments, serveEnrolmentsOverNats } from './enrol-api.js';
import { EnrolService, enrolmentPolicy, type EmbedFn } from './enrol-service.js';
import { openEnrolmentStore, type EnrolmentStore } from './enrolment-store.js';
import { IdentityPipeline } from './identity-pipeline.js';
import { SpeakerEngine } from './speaker-engine.js';
import { SpeakerScorer } from './speaker-scorer.js';
import type { SpeakerCard } from './types.js';

/** The decision threshold speaker.threshold names. */
export function speakerThreshold(cfg: Config['speaker'], card: Readonly<SpeakerCard>): number {
  return typeof cfg.threshold === 'number' ? cfg.threshold : card.thresholds[cfg.threshold];
}

/** Embeds any number of windows through the engine, a batch at a time, between live batches. */
export function engineEmbed(engine: SpeakerEngine, maxBatch: number): EmbedFn {
  return async (windows, rows) => {
    const len = engine.windowLength;
    const dim = engine.card.output.dim;
    const out = new Float32Array(rows * dim);
    for (let r = 0; r < rows; r += maxBatch) {
      const n = Math.min(maxBatch, rows - r);
      while (engine.busy) await new Promise((res) => setTimeout(res, 2));
      const buf = new ArrayBuffer(n * len * 4);
      new Float32Array(buf).set(windows.subarray(r * len, (r + n) * len));
      const result = await engine.run(buf, n);
      out.set(result.embeddings, r * dim);
    }
    return out;
  };
}

export class SpeakerService {
  readonly engine: SpeakerEngine;
  readonly scorer: SpeakerScorer;
  readonly identity: IdentityPipeline;
  readonly enrol: EnrolService;
  readonly calls: CallEnrolments;
  readonly store: EnrolmentStore;
  readonly enrolSubject: string;
  readonly #nc: NatsConnection | null;
  readonly #sub: Subscription | null;
  #closing: Promise<void> | undefined;

  private constructor(p: {
    engine: SpeakerEngine;
    scorer: SpeakerScorer;
    identity: IdentityPipeline;
    enrol: EnrolService;
    calls: CallEnrolments;
    store: EnrolmentStore;
    nc: NatsConnection | null;
    sub: Subscription | null;
    enrolSubject: string;
  }) {
    this.engine = p.engine;
    this.scorer = p.scorer;
    this.identity = p.identity;
    this.enrol = p.enrol;
    this.calls = p.calls;
    this.store = p.store;
    this.#nc = p.nc;
    this.#sub = p.sub;
    this.enrolSubject = p.enrolSubject;
  }

  static async start(opts: {
    config: Readonly<Config>;
    publisher: Pick<EventPublisher, 'publish'>;
    labelOf(streamId: string): VerdictLabel | undefined;
    log: Logger;
    onEvent?(e: IdentityEvent): void;
  }): Promise<SpeakerService> {
    const { config, log } = opts;
    const cfg = config.speaker;
    const engine = await SpeakerEngine.start(cfg.modelDir, config.detect.intraOpThreads);
    let nc: NatsConnection | null = null;
    try {
      const card = engine.card;
      if (card.input.shape[1] !== Math.round(config.window.lengthSec * card.input.sampleRate)) {
        throw new Error(`speaker model input ${card.input.shape[1]} samples differs from media's ${config.window.lengthSec}-s windows`);
      }
      nc = config.nats.servers.length > 0 ? await connectNats(config.nats) : null;
      const store = await openEnrolmentStore({ nats: nc, ownsConnection: false, bucket: cfg.kvBucket, storeDir: cfg.storeDir });
      if (store.kind === 'memory') log.warn('speaker enrolments are kept in memory only (no nats.servers, no speaker.storeDir): lost on exit');
      const identity = new IdentityPipeline({
        store,
        publisher: opts.publisher,
        labelOf: opts.labelOf,
        claimKeys: cfg.claimKeys,
        claimMap: cfg.claimMap,
        identifySet: cfg.identifySet,
        node: opts.config.node.id,
        threshold: speakerThreshold(cfg, card),
        minWindows: cfg.minWindows,
        verifyLabels: cfg.verifyDeepVoiceLabels,
        modelVersion: card.version,
        log: log.child({ component: 'identity' }),
        ...(opts.onEvent ? { onEvent: opts.onEvent } : {}),
      });
      const scorer = new SpeakerScorer({
        engine,
        everyNth: cfg.everyNthWindow,
        minSpeechRatio: config.verdict.minWindowSpeechRatio,
        maxBatchSize: cfg.maxBatchSize,
        maxBatchWaitMs: cfg.maxBatchWaitMs,
        sink: identity,
        // Only legs that can get an identity event cost a speaker model run.
        wants: (stream) => identity.wants(stream),
        log: log.child({ component: 'speaker' }),
      });
      const enrol = new EnrolService({
        store,
        card,
        policy: enrolmentPolicy(cfg.enrol, card, config.verdict.minWindowSpeechRatio, config.window.speechThresholdDbfs),
        embed: engineEmbed(engine, cfg.maxBatchSize),
      });
      const calls = new CallEnrolments({
        scorer,
        enrol,
        windowHopSec: config.window.hopMs / 1000,
        maxCaptureSec: cfg.enrol.maxCaptureSec,
        log: log.child({ component: 'enrol' }),
      });
      // Never under <prefix>.>: the event stream would capture (and store) the requests' audio.
      const enrolSubject = enrolSubjectOf(cfg, config.nats.subjectPrefix);
      const sub = nc ? serveEnrolmentsOverNats(nc, enrolSubject, enrol, calls, config.node.id, log.child({ component: 'enrol' })) : null;
      log.info({ model: card.name, modelVersion: card.version, store: store.kind, threshold: speakerThreshold(cfg, card), enrolSubject: nc ? enrolSubject : null }, 'speaker verification ready');
      return new SpeakerService({ engine, scorer, identity, enrol, calls, store, nc, sub, enrolSubject });
    } catch (err) {
      await engine.close();
      await nc?.close().catch(() => undefined);
      throw err;
    }
  }

  route(http: HttpServer, config: Readonly<Config>, log: Logger): void {
    routeEnrolments(http, this.enrol, this.calls, { tokens: config.speaker.httpTokens, maxRequestBytes: config.speaker.maxRequestBytes, log: log.child({ component: 'enrol' }) });
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#sub?.unsubscribe();
      this.calls.close();
      await this.scorer.close();
      await this.identity.settled();
      await this.store.close();
      if (this.#nc && !this.#nc.isClosed()) await this.#nc.drain().catch(() => this.#nc!.close());
    })();
    return this.#closing;
  }
}
