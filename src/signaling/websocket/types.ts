/**
 * What other folders may import from signaling/websocket/: the media stream server's
 * options, the protocols it speaks, its close codes and the counters it exposes for metrics.
 *
 * One WebSocket connection carries one call's audio; each audio track / channel of it
 * becomes one framed stream of the media ingress (a "leg"), feeding the same WindowSink as RTP does.
 */
import type { Logger } from 'pino';
import type { Config } from '../../config.js';
import type { MediaIngress } from '../../media/types.js';

/**
 * twilio: Twilio Media Streams (JSON, base64 µ-law); telnyx: Telnyx media streaming (same shape,
 * snake_case fields, PCMU/PCMA/L16); audio-fork: FreeSWITCH mod_audio_fork; jambonz: jambonz `listen`.
 * The last two send one JSON metadata text frame, then binary 16-bit little-endian PCM.
 */
export type WsProtocol = 'twilio' | 'telnyx' | 'audio-fork' | 'jambonz';

export const WS_PROTOCOLS: readonly WsProtocol[] = ['twilio', 'telnyx', 'audio-fork', 'jambonz'];

/** Path under `websocket.pathPrefix` that serves each protocol. */
export const PROTOCOL_PATHS: Readonly<Record<WsProtocol, string>> = {
  twilio: '/twilio',
  telnyx: '/telnyx',
  'audio-fork': '/audio-fork',
  jambonz: '/jambonz',
};

/** WebSocket subprotocol each PCM fork client offers (selected when offered). */
export const SUBPROTOCOLS: Readonly<Partial<Record<WsProtocol, string>>> = {
  'audio-fork': 'audio.drachtio.org',
  jambonz: 'audio.jambonz.org',
};

/** RFC 6455 close codes used by DevoX. */
export const CloseCode = {
  normal: 1000,
  goingAway: 1001,
  protocolError: 1002,
  unsupportedData: 1003,
  invalidPayload: 1007,
  policyViolation: 1008,
  messageTooBig: 1009,
  internalError: 1011,
  tryAgainLater: 1013,
} as const;

/** Why a media connection ended; each has one close code (see CLOSE_CODE_OF). */
export type WsCloseReason =
  /** The client sent `stop` (Twilio/Telnyx); DevoX closes with 1000. */
  | 'stop'
  /** The client closed the WebSocket (normal for audio_fork / jambonz at hang-up). */
  | 'client_closed'
  /** A text frame that is not JSON. */
  | 'not_json'
  /** JSON that violates the protocol's schema (missing/ill-typed fields, media before start...). */
  | 'schema'
  /** A media payload that is not valid base64. */
  | 'bad_base64'
  /** Audio that is not a whole number of samples (odd byte count, half a stereo frame). */
  | 'partial_sample'
  /** A compressed payload (Opus) the decoder rejects. */
  | 'undecodable_audio'
  /** A binary frame before the metadata text frame, or any binary frame on a JSON protocol. */
  | 'unexpected_binary'
  /** A media format DevoX cannot decode (e.g. G.722, AMR-WB, 3 channels, a non-standard sample rate). */
  | 'unsupported_format'
  /** An audio frame longer than websocket.maxFrameMs. */
  | 'frame_too_large'
  /** A message over websocket.maxMessageBytes (refused by ws before it is buffered). */
  | 'message_too_large'
  /** Media time ran ahead of wall-clock time by more than websocket.realtimeSlackMs. */
  | 'faster_than_realtime'
  /** Nothing received for websocket.idleTimeoutMs. */
  | 'idle_timeout'
  /** No start / metadata message within websocket.startTimeoutMs. */
  | 'start_timeout'
  /** The token already holds websocket.maxStreamsPerToken connections. */
  | 'too_many_streams'
  /** DevoX holds media.maxStreams live streams (all ingresses together). */
  | 'over_capacity'
  /** A WebSocket protocol error detected by ws (bad UTF-8, bad framing). */
  | 'protocol_error'
  /** A bug or a failing sink; the connection is closed, the process keeps running. */
  | 'internal_error'
  /** DevoX is shutting down. */
  | 'server_shutdown';

export const WS_CLOSE_REASONS: readonly WsCloseReason[] = [
  'stop',
  'client_closed',
  'not_json',
  'schema',
  'bad_base64',
  'partial_sample',
  'undecodable_audio',
  'unexpected_binary',
  'unsupported_format',
  'frame_too_large',
  'message_too_large',
  'faster_than_realtime',
  'idle_timeout',
  'start_timeout',
  'too_many_streams',
  'over_capacity',
  'protocol_error',
  'internal_error',
  'server_shutdown',
];

export const CLOSE_CODE_OF: Readonly<Record<WsCloseReason, number>> = {
  stop: CloseCode.normal,
  client_closed: CloseCode.normal,
  not_json: CloseCode.invalidPayload,
  schema: CloseCode.invalidPayload,
  bad_base64: CloseCode.invalidPayload,
  partial_sample: CloseCode.invalidPayload,
  undecodable_audio: CloseCode.invalidPayload,
  unexpected_binary: CloseCode.unsupportedData,
  unsupported_format: CloseCode.unsupportedData,
  frame_too_large: CloseCode.messageTooBig,
  message_too_large: CloseCode.messageTooBig,
  faster_than_realtime: CloseCode.policyViolation,
  idle_timeout: CloseCode.policyViolation,
  start_timeout: CloseCode.policyViolation,
  too_many_streams: CloseCode.tryAgainLater,
  over_capacity: CloseCode.tryAgainLater,
  protocol_error: CloseCode.invalidPayload,
  internal_error: CloseCode.internalError,
  server_shutdown: CloseCode.goingAway,
};

/** Why an upgrade was answered with an HTTP error instead of a WebSocket. */
/** unauthorized: 401; not_found: 404; bad_subprotocol: 400 (a subprotocol the endpoint does not speak). */
export type UpgradeRefusal = 'unauthorized' | 'not_found' | 'bad_subprotocol';

/** Monotonic counters (plus two gauges) for observability/metrics.ts to export. */
export interface WsMediaCounters {
  /** Upgrades accepted, by protocol. */
  connections: Record<WsProtocol, number>;
  /** Upgrades refused with an HTTP status (400 / 401 / 404), by cause. */
  refused: Record<UpgradeRefusal, number>;
  /** Connections ended, by reason (a reason maps to one close code, CLOSE_CODE_OF). */
  closed: Record<WsCloseReason, number>;
  /** WebSocket messages received on media connections. */
  messages: number;
  /** Bytes of those messages. */
  bytes: number;
  /** Audio frames written into streams. */
  frames: number;
  /** Control messages accepted and not otherwise used (mark, dtmf, unknown future events). */
  ignored: number;
  /** Audio frames timed before their leg's first frame (they cannot be placed and are dropped). */
  dropped: number;
  /** Gauge: open media connections. */
  activeConnections: number;
  /** Gauge: open legs (AudioStreams). */
  activeLegs: number;
}

export interface MediaStreamServerOptions {
  websocket: Config['websocket'];
  /** Where the audio enters media: each leg opens one framed stream there (and takes one slot). */
  ingress: MediaIngress;
  log: Logger;
}
