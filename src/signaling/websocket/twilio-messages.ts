/**
 * Message schemas of Twilio Media Streams and of Telnyx's variant of it (same events,
 * snake_case fields, `start.media_format` with PCMU/PCMA/L16, `sequence_number`, `stream_id`).
 * Unknown extra fields are allowed (both vendors add fields over time); known fields must be
 * well-typed. Numbers may arrive as numeric strings (Twilio sends "chunk": "2").
 */
import { z } from 'zod';
import { isSupportedSampleRate, SUPPORTED_SAMPLE_RATES, type PayloadFormat } from '../../media/types.js';
import { StreamPolicyError } from './errors.js';
import { flattenIdentity } from './identity.js';

const Num = z.union([z.number().finite(), z.string().regex(/^-?\d+(\.\d+)?$/)]).transform(Number);
/** Chunk numbers and timestamps: non-negative. */
const Count = Num.pipe(z.number().nonnegative());
const Id = z.string().min(1).max(256);
const Params = z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()]));

const TwilioStartBody = z.looseObject({
  accountSid: Id.optional(),
  callSid: Id,
  streamSid: Id.optional(),
  tracks: z.array(z.enum(['inbound', 'outbound'])).min(1).max(2).optional(),
  customParameters: Params.optional(),
  mediaFormat: z.looseObject({ encoding: z.string(), sampleRate: Num, channels: Num }),
});

const TelnyxStartBody = z.looseObject({
  call_control_id: Id.optional(),
  call_session_id: Id.optional(),
  call_leg_id: Id.optional(),
  custom_parameters: Params.optional(),
  media_format: z.looseObject({ encoding: z.string(), sample_rate: Num, channels: Num }),
});

const startMessage = <B extends z.ZodType>(body: B) =>
  z.looseObject({ event: z.literal('start'), streamSid: Id.optional(), stream_id: Id.optional(), start: body });
/** Twilio's start carries `mediaFormat`, Telnyx's `media_format`: the schema is picked by which is present. */
const TwilioStart = startMessage(TwilioStartBody);
const TelnyxStart = startMessage(TelnyxStartBody);
const StartMessage = startMessage(z.union([TwilioStartBody, TelnyxStartBody]));

const MediaMessage = z.looseObject({
  event: z.literal('media'),
  media: z.looseObject({
    track: z.enum(['inbound', 'outbound', 'inbound_track', 'outbound_track']).optional(),
    chunk: Count.optional(),
    timestamp: Count,
    payload: z.string(),
  }),
});

const StopMessage = z.looseObject({ event: z.literal('stop') });
const ConnectedMessage = z.looseObject({ event: z.literal('connected') });
const MarkMessage = z.looseObject({ event: z.literal('mark'), mark: z.looseObject({ name: z.string() }) });
const DtmfMessage = z.looseObject({
  event: z.literal('dtmf'),
  dtmf: z.looseObject({ digit: z.string().max(8) }),
});
/** Telnyx reports stream errors in-band. */
const ErrorMessage = z.looseObject({ event: z.literal('error') });

const Message = z.discriminatedUnion('event', [
  StartMessage,
  MediaMessage,
  StopMessage,
  ConnectedMessage,
  MarkMessage,
  DtmfMessage,
  ErrorMessage,
]);

const KNOWN_EVENTS = new Set(['start', 'media', 'stop', 'connected', 'mark', 'dtmf', 'error']);

export type MediaStreamMessage = z.infer<typeof Message>;
export type MediaFrame = z.infer<typeof MediaMessage>['media'];

/**
 * Parse one text frame. Returns null for an event this version does not know (ignored, for
 * forward compatibility); throws StreamPolicyError for non-JSON or schema violations.
 */
export function parseStreamMessage(text: string): MediaStreamMessage | null {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new StreamPolicyError('not_json', 'text frame is not JSON', { cause: err });
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new StreamPolicyError('schema', 'message is not a JSON object');
  }
  const event = (raw as { event?: unknown }).event;
  if (typeof event !== 'string') throw new StreamPolicyError('schema', 'message has no "event" string');
  if (!KNOWN_EVENTS.has(event)) return null;
  let schema: z.ZodType<MediaStreamMessage> = Message;
  if (event === 'start') {
    const body = (raw as { start?: unknown }).start;
    schema = typeof body === 'object' && body !== null && 'media_format' in body ? TelnyxStart : TwilioStart;
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new StreamPolicyError('schema', `${event}: ${issue.path.join('.') || '(root)'}: ${issue.message}`.slice(0, 120));
  }
  return parsed.data;
}

/** What a `start` message tells about the stream, vendor differences removed. */
export interface StreamStart {
  variant: 'twilio' | 'telnyx';
  callId: string;
  /** Tracks announced in `start` (Twilio), or null when the vendor does not announce them. */
  tracks: readonly string[] | null;
  format: PayloadFormat;
  identity: Record<string, string>;
}

/** Telnyx stream codecs DevoX decodes; an OPUS payload is one Opus packet (decoded at 48 kHz). */
const TELNYX_ENCODINGS: Readonly<Record<string, PayloadFormat['encoding']>> = { PCMU: 'PCMU', PCMA: 'PCMA', L16: 'L16', OPUS: 'opus' };

export function describeStart(msg: Extract<MediaStreamMessage, { event: 'start' }>): StreamStart {
  const body = msg.start;
  if ('mediaFormat' in body && body.mediaFormat !== undefined) {
    const b = body as z.infer<typeof TwilioStartBody>;
    const f = b.mediaFormat;
    if (f.encoding !== 'audio/x-mulaw') {
      throw new StreamPolicyError('unsupported_format', `mediaFormat.encoding ${f.encoding.slice(0, 40)} (supported: audio/x-mulaw)`);
    }
    if (f.channels !== 1) throw new StreamPolicyError('unsupported_format', `mediaFormat.channels ${f.channels} (supported: 1)`);
    const identity = flattenIdentity(b, ['mediaFormat', 'tracks', 'customParameters']);
    if (msg.streamSid !== undefined && identity.streamSid === undefined) identity.streamSid = msg.streamSid;
    Object.assign(identity, flattenIdentity(b.customParameters ?? {}, [], 'param.'));
    return {
      variant: 'twilio',
      callId: b.callSid,
      tracks: b.tracks ?? null,
      format: { payloadType: 0, encoding: 'PCMU', clockRate: f.sampleRate, channels: 1 },
      identity,
    };
  }
  const b = body as z.infer<typeof TelnyxStartBody>;
  const f = b.media_format;
  const encoding = TELNYX_ENCODINGS[f.encoding.toUpperCase()];
  if (encoding === undefined) {
    throw new StreamPolicyError('unsupported_format', `media_format.encoding ${f.encoding.slice(0, 40)} (supported: PCMU, PCMA, L16, OPUS)`);
  }
  if (f.channels !== 1) throw new StreamPolicyError('unsupported_format', `media_format.channels ${f.channels} (supported: 1)`);
  if (!isSupportedSampleRate(f.sample_rate)) {
    throw new StreamPolicyError('unsupported_format',
      `media_format.sample_rate ${f.sample_rate} (supported: ${SUPPORTED_SAMPLE_RATES.join(', ')})`);
  }
  const identity = flattenIdentity(b, ['media_format', 'custom_parameters']);
  if (msg.stream_id !== undefined) identity.stream_id = msg.stream_id;
  Object.assign(identity, flattenIdentity(b.custom_parameters ?? {}, [], 'param.'));
  const callId = b.call_control_id ?? b.call_session_id ?? b.call_leg_id ?? msg.stream_id;
  if (callId === undefined) throw new StreamPolicyError('schema', 'start: no call_control_id, call_session_id or stream_id');
  return {
    variant: 'telnyx',
    callId,
    tracks: null,
    format: {
      payloadType: encoding === 'PCMU' ? 0 : encoding === 'PCMA' ? 8 : encoding === 'opus' ? 111 : 96,
      encoding,
      clockRate: encoding === 'opus' ? 48000 : f.sample_rate,
      channels: 1,
    },
    identity,
  };
}

/** Telnyx names tracks `inbound_track` in some messages; legs are `inbound` / `outbound`. */
export function legOfTrack(track: MediaFrame['track']): 'inbound' | 'outbound' {
  return track === 'outbound' || track === 'outbound_track' ? 'outbound' : 'inbound';
}
