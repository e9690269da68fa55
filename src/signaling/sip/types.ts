/**
 * What other folders may import from signaling/sip/: the SIP-free shapes of a recording
 * offer, the media allocation port the call lifecycle needs, and the response it decides.
 * Nothing here knows drachtio; sip-app.ts adapts drachtio requests to these shapes.
 */
import type { PayloadFormat, StreamDescriptor, StreamEndReason, StreamCounters } from '../../media/types.js';

/** The part of src/media/media-sessions.ts MediaSessions that a call needs (the real class satisfies it). */
export interface MediaAllocator {
  /** A call's legs are allocated with onSilence 'report': they live as long as the dialog, silence is only reported. */
  allocate(req: { descriptor: StreamDescriptor; formats: PayloadFormat[]; onSilence?: 'end' | 'report' }): Promise<AllocatedMedia>;
  release(streamId: string, reason?: StreamEndReason): void;
  readonly size: number;
}

/** The part of an RtpSession a call reads. */
export interface AllocatedMedia {
  readonly descriptor: StreamDescriptor;
  readonly port: number;
  readonly address: string;
  readonly counters?: StreamCounters;
  /** True once media ended the session on its own (e.g. a socket error; silence does not end a SIP leg). */
  readonly ended?: boolean;
  /** A re-offer moved the sender's c=/m= address or port: learn the remote again from the next RTP packet (bounded, see RtpSession). */
  relearnRemote(): void;
  /** A re-offer kept the audio format but changed telephone-event / CN payload types. */
  updateSignalFormats(formats: readonly PayloadFormat[]): void;
}

/** A SIP request as the plain module sees it (an INVITE, re-INVITE or UPDATE). */
export interface SipRequestView {
  readonly method: string;
  readonly callId: string;
  /** Case-insensitive header lookup; undefined when absent. Multiple values joined by ", ". */
  header(name: string): string | undefined;
  /** The raw body, '' when none. */
  readonly body: string;
  readonly sourceAddress: string;
}

/** What to send back: sip-app.ts turns it into a drachtio response. */
export interface SipResponsePlan {
  status: number;
  reason: string;
  headers: Record<string, string>;
  /** Answer SDP on 200, absent otherwise. */
  sdp?: string;
}

export type StreamDirection = 'sendrecv' | 'sendonly' | 'recvonly' | 'inactive';

/** One m= line of an offer, normalised. */
export interface OfferedStream {
  /** Position of the m= line (answers keep the order). */
  index: number;
  /** 'audio', 'video', ... */
  mediaType: string;
  /** 0 = the offerer disabled the stream. */
  port: number;
  protocol: string;
  /** Connection address (media level, else session level). */
  address: string;
  /** The m= line's format list as written (payload types for RTP). */
  fmt: string;
  /** a=label (RFC 4574), the SIPREC stream key; undefined when absent. */
  label?: string;
  direction: StreamDirection;
  /** Every payload type listed on the m= line, resolved through rtpmap or the RFC 3551 static table. */
  formats: OfferedFormat[];
  /** a=ptime, when present. */
  ptime?: number;
}

export interface OfferedFormat {
  payloadType: number;
  /** Encoding name as written (case kept), e.g. 'PCMU', 'opus', 'telephone-event'. */
  name: string;
  clockRate: number;
  channels: number;
  /** a=fmtp config, when present. */
  fmtp?: string;
}

/** A participant from RFC 7865 metadata. */
export interface Participant {
  /** participant_id (RFC 7865) or id (pre-RFC drafts used by Acme Packet / Sonus). */
  id: string;
  /** nameID@aor, e.g. "sip:alice@atlanta.com"; 'unknown' when absent. */
  aor: string;
  /** nameID/name; '' when absent. */
  name: string;
}

/** A media stream from RFC 7865 metadata. */
export interface MetadataStream {
  streamId: string;
  label: string;
}

/** What the metadata says about the recorded session. */
export interface RecordingMetadata {
  /** session_id of the first <session> (the SIPREC session id). */
  sessionId?: string;
  /** <sipSessionID> of the recorded call (RFC 7989 Session-ID), when given. */
  sipSessionId?: string;
  participants: Participant[];
  streams: MetadataStream[];
  /** stream_id -> participant_ids that send it. */
  senders: Map<string, string[]>;
  /** stream_id -> participant_ids that receive it. */
  receivers: Map<string, string[]>;
}

/** How the metadata of an offer turned out: only 'ok' names participants. */
export type MetadataStatus = 'ok' | 'none' | 'missing' | 'broken' | 'hostile' | 'too_large';

/** The SIP-side result of reading an INVITE body. */
export interface RecordingOffer {
  mode: 'siprec' | 'plain';
  streams: OfferedStream[];
  /** Session-level o= line session id and version (to recognise a repeated offer). */
  originSessionId: string;
  originVersion: string;
  metadata?: RecordingMetadata;
  metadataStatus: MetadataStatus;
  /** Why the metadata is not 'ok' (for the one log line). */
  metadataProblem?: string;
}

/** One stream the call records, with the participant that speaks on it. */
export interface StreamPlan {
  offered: OfferedStream;
  /** null: answered with port 0 (declined, disabled, or not audio). */
  chosen: ChosenCodec | null;
  /** Why the stream is declined, when chosen is null. */
  declined?: string;
  leg: string;
  identity: Record<string, string>;
}

export interface ChosenCodec {
  /** The audio format, then telephone-event / CN when offered at its clock rate. */
  formats: PayloadFormat[];
  audio: PayloadFormat;
  /** Offered fmtp lines echoed for the accepted payload types. */
  fmtp: Map<number, string>;
  /** Offered a=ptime (echoed so the sender keeps its packetisation). */
  ptime?: number;
}

/** Counters of the SIP side; names are stable (metrics label values). */
export const SIP_COUNTER_NAMES = [
  'invites',
  'accepted',
  'rejected_bad_request',
  'rejected_body_too_large',
  'rejected_no_offer',
  'rejected_no_common_codec',
  'rejected_too_many_streams',
  'rejected_over_capacity',
  'rejected_media_unavailable',
  'rejected_bad_extension',
  'rejected_session_interval',
  'rejected_duplicate',
  'rejected_forbidden',
  'rejected_unauthorized',
  'cancelled',
  'metadata_missing',
  'metadata_broken',
  'metadata_hostile',
  'metadata_too_large',
  'metadata_unmatched',
  'reinvites',
  'reinvites_rejected',
  'byes',
  'session_timer_expired',
  'streams_allocated',
  'streams_released',
] as const;

export type SipCounterName = (typeof SIP_COUNTER_NAMES)[number];
export type SipCounters = Record<SipCounterName, number>;

export function newSipCounters(): SipCounters {
  const c = {} as SipCounters;
  for (const n of SIP_COUNTER_NAMES) c[n] = 0;
  return c;
}
