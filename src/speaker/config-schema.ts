/**
 * The `speaker` section of the config (src/config.ts validates the whole): who is speaking
 * (docs/speaker.md), enrolment and verification of a claimed identity per leg.
 */
import { z } from 'zod';

export const SpeakerConfigSchema = z
  .object({
    /** Run the speaker model on live legs next to the detector (and serve the enrolment API). */
    enabled: z.boolean(),
    modelDir: z.string().min(1),
    /** Embed one speech window in every N (4 with window.hopMs 250 = one per second of speech). */
    everyNthWindow: z.number().int().min(1).max(64),
    maxBatchSize: z.number().int().min(1).max(256),
    maxBatchWaitMs: z.number().min(0).max(1000),
    /** Deep-voice labels of the leg under which a matching voice is verified: never synthetic; ["genuine"] is the strict rule. */
    verifyDeepVoiceLabels: z
      .array(z.enum(['genuine', 'suspicious']))
      .min(1),
    /** Embedded windows needed before a voice decision (one per everyNthWindow speech windows). */
    minWindows: z.number().int().min(1),
    /** Decision threshold on the cosine score: the card's "far1" (1 % false accepts) or "eer" point, or a number. */
    threshold: z.union([z.enum(['far1', 'eer']), z.number().gt(-1).lt(1)]),
    /** Identity keys (StreamDescriptor.identity) holding the claimed account, first match wins. */
    claimKeys: z.array(z.string().min(1)),
    /** Raw claim value (e.g. a SIP AOR) -> account. */
    claimMap: z.record(z.string(), z.string()),
    /** Accounts compared 1:N when a leg carries no claim (empty: no identification). */
    identifySet: z.array(z.string()),
    /** JetStream KV bucket of enrolments (NATS configured). */
    kvBucket: z.string().regex(/^[A-Za-z0-9_-]+$/, 'letters, digits, _ and - only'),
    /** Without NATS: one JSON file per account here; empty: in memory (lost on exit). */
    storeDir: z.string(),
    /** NATS request subject for enrol / delete; empty: <nats.subjectPrefix>-speaker.enrol (never under <prefix>.>, which the event stream stores). */
    enrolSubject: z.string(),
    /** Bearer tokens accepted by the HTTP enrolment API (/speaker/enrolments); empty: the API is off. */
    httpTokens: z.array(z.string().min(16, 'tokens must be at least 16 characters')),
    /** Largest HTTP / NATS enrolment request (base64 audio), bytes. */
    maxRequestBytes: z.number().int().min(1024),
    enrol: z
      .object({
        minSpeechSec: z.number().min(0),
        minSegments: z.number().int().min(1),
        /** Speech windows (every hopSec) per consistency segment. */
        segmentWindows: z.number().int().min(1),
        hopSec: z.number().positive(),
        /** Lowest cosine of a segment to the enrolment mean; "card": the model card's enrolConsistency. */
        minConsistency: z.union([z.literal('card'), z.number().gt(-1).lt(1)]),
        /** Enrolment from a live leg (--from-call): the longest a capture waits for enough speech, and its default. */
        maxCaptureSec: z.number().positive().max(3600),
      })
      .strict(),
  })
  .strict();

/** The NATS enrolment request subject: speaker.enrolSubject, else <nats.subjectPrefix>-speaker.enrol (never under <prefix>.>, which the event stream stores). */
export function enrolSubjectOf(speaker: { enrolSubject: string }, subjectPrefix: string): string {
  return speaker.enrolSubject || `${subjectPrefix}-speaker.enrol`;
}
