/**
 * The metadata text frame that FreeSWITCH mod_audio_fork (`uuid_audio_fork ... <metadata>`) and
 * jambonz `listen` send before binary audio. jambonz fills sampleRate, mixType, callSid, from, to,
 * direction, ...; with audio_fork the operator puts at least sampleRate (and mixType when not mono)
 * in the metadata JSON. Every other scalar field is kept as identity.
 */
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { isSupportedSampleRate, SUPPORTED_SAMPLE_RATES } from '../../media/types.js';
import { StreamPolicyError } from './errors.js';
import { flattenIdentity } from './identity.js';

const Rate = z
  .union([z.number(), z.string().regex(/^\d+$/)])
  .transform(Number)
  .pipe(z.number().refine(isSupportedSampleRate, { error: `sampleRate must be one of ${SUPPORTED_SAMPLE_RATES.join(', ')}` }));

const ForkMetadata = z.looseObject({
  sampleRate: Rate,
  mixType: z.enum(['mono', 'mixed', 'stereo']).default('mono'),
  callSid: z.string().min(1).max(256).optional(),
  callId: z.string().min(1).max(256).optional(),
  uuid: z.string().min(1).max(256).optional(),
});

export type MixType = 'mono' | 'mixed' | 'stereo';

export interface ForkStart {
  sampleRate: number;
  mixType: MixType;
  /** Leg of each interleaved channel: mono → caller; mixed → mixed; stereo → caller, callee. */
  legs: readonly string[];
  callId: string;
  identity: Record<string, string>;
}

const LEGS: Readonly<Record<MixType, readonly string[]>> = {
  mono: ['caller'],
  mixed: ['mixed'],
  stereo: ['caller', 'callee'],
};

/** Parse the first text frame; throws StreamPolicyError (not_json / schema). */
export function parseForkMetadata(text: string): ForkStart {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new StreamPolicyError('not_json', 'metadata frame is not JSON', { cause: err });
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new StreamPolicyError('schema', 'metadata is not a JSON object');
  }
  const parsed = ForkMetadata.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new StreamPolicyError('schema', `metadata: ${issue.path.join('.') || '(root)'}: ${issue.message}`.slice(0, 120));
  }
  const m = parsed.data;
  return {
    sampleRate: m.sampleRate,
    mixType: m.mixType,
    legs: LEGS[m.mixType],
    callId: m.callSid ?? m.callId ?? m.uuid ?? randomUUID(),
    identity: flattenIdentity(m, ['sampleRate', 'mixType']),
  };
}
