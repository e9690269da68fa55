/**
 * Enrol / erase / look up accounts, whoever asks (CLI, HTTP, NATS): decodes the audio, cuts its
 * speech windows, embeds them with the speaker model, runs the quality check (enrolment.ts) and
 * writes the record to the EnrolmentStore. The audio never leaves this function. Enrolment from a
 * live leg (call-enrolment.ts) hands in embeddings the speaker scorer made: same check, same record.
 */
import { decodeAudioBytes } from '../media/audio-file.js';
import { buildEnrolment, checkAccount, enrolmentFromEmbeddings, speechWindows, type EnrolmentPolicy, type SpeechLayout } from './enrolment.js';
import type { EnrolmentStore } from './enrolment-store.js';
import type { EnrolmentRecord, SpeakerCard } from './types.js';

export type EmbedFn = (windows: Float32Array, rows: number) => Promise<Float32Array>;

/** What the APIs answer about an enrolment: everything but the embedding. */
export type EnrolmentSummary = Omit<EnrolmentRecord, 'embedding'>;

export function summary(r: EnrolmentRecord): EnrolmentSummary {
  const { embedding: _e, ...rest } = r;
  return rest;
}

export class EnrolService {
  readonly #store: EnrolmentStore;
  readonly #card: Readonly<SpeakerCard>;
  readonly #policy: EnrolmentPolicy;
  readonly #embed: EmbedFn;

  constructor(opts: { store: EnrolmentStore; card: Readonly<SpeakerCard>; policy: EnrolmentPolicy; embed: EmbedFn }) {
    this.#store = opts.store;
    this.#card = opts.card;
    this.#policy = opts.policy;
    this.#embed = opts.embed;
  }

  get store(): EnrolmentStore {
    return this.#store;
  }

  get policy(): Readonly<EnrolmentPolicy> {
    return this.#policy;
  }

  get card(): Readonly<SpeakerCard> {
    return this.#card;
  }

  /** Enrols from unit embeddings already made (rows × dim, grouped as `layout` says); throws EnrolmentError on refusal. */
  async enrolEmbeddings(account: string, layout: Readonly<SpeechLayout>, embeddings: Float32Array): Promise<EnrolmentRecord> {
    const record = enrolmentFromEmbeddings(account, layout, embeddings, this.#card, this.#policy);
    await this.#store.put(record);
    return record;
  }

  /** Enrols `account` from decoded audio; throws EnrolmentError (refusal) or AudioFileError. */
  async enrolSamples(account: string, sources: { name: string; samples: Float32Array; sampleRate: number }[]): Promise<EnrolmentRecord> {
    checkAccount(account);
    const sw = speechWindows(sources, this.#card.input.shape[1], this.#card.input.sampleRate, this.#policy);
    const record = await buildEnrolment(account, sw, this.#card, this.#policy, this.#embed);
    await this.#store.put(record);
    return record;
  }

  /** Enrols from encoded audio files (wav, flac, ogg/opus, mp3...). */
  async enrolFiles(account: string, files: { name: string; bytes: Uint8Array }[]): Promise<EnrolmentRecord> {
    checkAccount(account);
    const sources = [];
    for (const f of files) sources.push({ name: f.name, ...(await decodeAudioBytes(f.bytes, f.name)) });
    return this.enrolSamples(account, sources);
  }

  async get(account: string): Promise<EnrolmentRecord | null> {
    return this.#store.get(checkAccount(account));
  }

  async delete(account: string): Promise<boolean> {
    return this.#store.delete(checkAccount(account));
  }
}

/** The enrolment policy of the config, with the card's consistency threshold when it says "card". */
export function enrolmentPolicy(
  enrol: { minSpeechSec: number; minSegments: number; segmentWindows: number; hopSec: number; minConsistency: 'card' | number },
  card: Readonly<SpeakerCard>,
  minSpeechRatio: number,
  speechThresholdDbfs: number,
): EnrolmentPolicy {
  return {
    minSpeechSec: enrol.minSpeechSec,
    minSegments: enrol.minSegments,
    segmentWindows: enrol.segmentWindows,
    hopSec: enrol.hopSec,
    minConsistency: enrol.minConsistency === 'card' ? card.thresholds.enrolConsistency : enrol.minConsistency,
    minSpeechRatio,
    speechThresholdDbfs,
  };
}
