/**
 * What other folders may import from media/. Media turns transport packets into
 * time-stamped 1-second windows at the detector's rate; it knows nothing of models.
 */
import type { Logger } from 'pino';

export type CodecName = 'PCMU' | 'PCMA' | 'L16' | 'opus';

/** How a stream's audio arrives. */
export type TransportKind = 'rtp' | 'websocket' | 'webrtc' | 'file';

/** One negotiated payload type of an RTP stream (from SDP or a transport's metadata). */
export interface PayloadFormat {
  payloadType: number;
  /** Audio codecs are decoded; telephone-event (RFC 4733) and CN (RFC 3389) are recognised and not decoded. */
  encoding: CodecName | 'telephone-event' | 'CN';
  clockRate: number;
  channels: number;
}

/** Who a stream belongs to. Signaling fills it; it travels unchanged into every event. */
export interface StreamDescriptor {
  /** Unique per stream for the life of the process. */
  streamId: string;
  /** The call this stream is one leg of. */
  callId: string;
  /** Leg name within the call, e.g. "caller" / "callee", "inbound" / "outbound", or a SIPREC label. */
  leg: string;
  transport: TransportKind;
  /** Pass-through identity (SIP Call-ID, SIPREC session id, callSid, custom parameters...). */
  identity?: Readonly<Record<string, string>>;
  /**
   * Who sent this audio, for sharing the detector fairly under overload (a WebSocket token's
   * principal id); absent: the call. Never published in events.
   */
  principal?: string;
}

/**
 * One analysis window, valid only during the synchronous `onWindow` call: the object
 * and its audio are reused for the stream's next window (no per-window allocation).
 * Consumers copy what they keep, e.g. `copyInto(batchTensor, row * length)`.
 */
/** What media measured on a window; carried unchanged from the window to its score and its `window.scored` event. */
export interface WindowMeasures {
  /** Media time of the window's first / last sample, seconds since the stream's first sample. */
  mediaStartSec: number;
  mediaEndSec: number;
  /** Fraction (0..1) of 20 ms frames in the window above the speech threshold. */
  speechRatio: number;
  /** RMS level of the whole window, dBFS. */
  rmsDbfs: number;
  /** Fraction (0..1) of the window filled with silence because packets were lost. */
  lostRatio: number;
}

export interface WindowView extends Readonly<WindowMeasures> {
  readonly stream: StreamDescriptor;
  /** 0, 1, 2, ... per stream. */
  readonly seq: number;
  readonly sampleRate: number;
  /**
   * The rate the stream's audio arrived at before media resampled it to `sampleRate`
   * (8000 for G.711): the detector picks a narrowband or wideband model by it.
   */
  readonly inputRate?: number;
  /** Samples in the window (lengthSec * sampleRate). */
  readonly length: number;
  /** Wall clock (ms since epoch, sub-ms precision) when the packet holding the last sample arrived. */
  readonly arrivalMs: number;
  /** Wall clock when the window was cut. */
  readonly readyMs: number;
  /** Copies the window as float samples in [-1, 1] into dst starting at offset. */
  copyInto(dst: Float32Array, offset: number): void;
}

/** Why a stream ended; `shutdown` when the server itself is closing (docs/events.md, schema/events.schema.json). */
export type StreamEndReason = 'timeout' | 'released' | 'bye' | 'transport_closed' | 'error' | 'eof' | 'shutdown';

/** The transport-agnostic consumer of windows (the detector side implements it). */
export interface WindowSink {
  onStreamStart(stream: StreamDescriptor): void;
  onWindow(window: WindowView): void;
  onStreamEnd(stream: StreamDescriptor, reason: StreamEndReason): void;
}

/**
 * Packet-level counters of one stream; media updates them, observability reads them.
 *
 * Every datagram an RTP session receives lands in exactly one of packetsReceived,
 * packetsMalformed, packetsUnknownPayload, packetsWrongSource, packetsRtcp and
 * packetsOutOfRange. packetsDuplicate, packetsLate and packetsUndecodable are parts of
 * packetsReceived (accepted as RTP, then not used); packetsLost counts packets never received.
 */
export interface StreamCounters {
  /** Accepted as RTP of this stream (duplicates, late and undecodable ones included). */
  packetsReceived: number;
  packetsLost: number;
  packetsDuplicate: number;
  packetsLate: number;
  /** Not RTP: too short, wrong version, bad header fields, over media.maxPacketBytes. */
  packetsMalformed: number;
  packetsUnknownPayload: number;
  packetsWrongSource: number;
  /** RTCP: multiplexed on the RTP port (rtcp-mux) or on the RTCP port (port + 1). Not analysed. */
  packetsRtcp: number;
  /** Far off in sequence or timestamp (over media.maxSequenceJump) and not confirmed by the next packet: dropped. */
  packetsOutOfRange: number;
  /** Received RTP whose payload the decoder rejected (part of packetsReceived). */
  packetsUndecodable: number;
  /**
   * Payload types whose G.711 audio is in the other law than negotiated (PCMA sent to a PCMU
   * stream): 0 or 1 per G.711 payload type, decided on the first ~2 s of audio. Not a packet counter.
   */
  codecMismatches: number;
  ssrcChanges: number;
  bytesReceived: number;
  /** Interarrival jitter (RFC 3550 A.8), in seconds. */
  jitterSec: number;
  windowsEmitted: number;
}

/** RTP-specific counters of one stream, beyond StreamCounters. */
export interface RtpExtraCounters {
  telephoneEvents: number;
  comfortNoise: number;
  /** Confirmed jumps far ahead/behind in sequence or timestamp (stream re-based). */
  sequenceJumps: number;
  /** Packets that arrived after the reorder buffer gave up but before their window was cut: put in place. */
  lateRecovered: number;
}

/** One allocated RTP stream (MediaSessions.allocate). RTCP on port+1 is bound and ignored. */
export interface RtpSession {
  readonly descriptor: StreamDescriptor;
  readonly port: number;
  readonly address: string;
  readonly counters: StreamCounters;
  /** RTP-specific counters (telephone-event, CN, RTCP, sequence jumps, late packets recovered). */
  readonly rtp: Readonly<RtpExtraCounters>;
  /** The learned remote (first packet, symmetric RTP / comedia), or null before any. */
  readonly remote: { readonly address: string; readonly port: number } | null;
  readonly ended: boolean;
  /**
   * A re-offer moved the sender's address/port: the next RTP packet from a new source becomes the
   * remote, within media.streamTimeoutMs and until ~50 more packets show the known remote kept sending.
   */
  relearnRemote(): void;
  /** A re-offer kept the audio payload format but changed telephone-event / CN payload types. */
  updateSignalFormats(formats: readonly PayloadFormat[]): void;
}

/** Decodes one codec's payloads to mono int16 (media/codecs.ts makes them). */
export interface AudioDecoder {
  readonly sampleRate: number;
  /** Decodes one payload, returns samples written (mono int16). Throws on an undecodable payload. */
  decode(payload: Uint8Array, out: Int16Array): number;
  /** Same, for the payload at buf[offset, offset + length): no subarray object per packet. */
  decodeRange(buf: Uint8Array, offset: number, length: number, out: Int16Array): number;
  close(): void;
}

/** A stream fed whole RTP packets in process (WebRTC: a mediasoup DirectTransport consumer). */
export interface PacketStream {
  readonly descriptor: StreamDescriptor;
  /** The rate the payload is decoded at (Opus: at the detector's rate, not its 48 kHz clock). */
  readonly inputRate: number;
  readonly counters: Readonly<StreamCounters>;
  /** One RTP packet; bad input is counted, never thrown. */
  onRtp(packet: Uint8Array): void;
  /** Idempotent: releases held packets, ends the stream (sink.onStreamEnd) and gives its slot back. */
  end(reason: StreamEndReason): void;
}

/** A stream fed decoded frames (WebSocket media streams: one per track / channel). */
export interface FrameStream {
  readonly descriptor: StreamDescriptor;
  readonly inputRate: number;
  readonly counters: Readonly<StreamCounters>;
  /** Frames timed before the stream's first frame (dropped). */
  readonly earlyFrames: number;
  /** Frames held until a gap before them filled (or the hold ran out). */
  readonly reorderedFrames: number;
  /**
   * A frame stamped with the media time of its first sample (ms) and its chunk number (-1: none).
   * @returns false when it lies before the stream's origin and was dropped.
   * @throws PacingError when media time runs ahead of the wall clock by more than the slack.
   */
  writeTimed(pcm: Int16Array, count: number, timestampMs: number, chunk: number, arrivalMs: number): boolean;
  /** A frame placed right after the previous one. @throws PacingError as writeTimed. */
  append(pcm: Int16Array, offset: number, count: number, arrivalMs: number): void;
  /** Idempotent: ends the stream (held frames first unless `error`) and gives its slot back. */
  end(reason: StreamEndReason): void;
}

/** What a framed stream needs beyond its descriptor (see FrameStream). */
export interface FrameStreamRequest {
  descriptor: StreamDescriptor;
  inputRate: number;
  /** What the transport decoded, e.g. "PCMU/8000", "L16/16000" (shown to supervisors, never interpreted). */
  codec: string;
  /** How far media time may run ahead of wall-clock time (ms). */
  realtimeSlackMs: number;
  /** Wall clock (ms, MediaIngress.nowMs) the pacing check counts from at the latest: when the connection was accepted. */
  wallAnchorMs: number;
  /** Frames held to undo reordering (0: none). */
  reorderFrames: number;
  /** Largest frame in samples (sizes the reorder slots). */
  maxFrameSamples: number;
  /** The transport's per-stream logger (default: the ingress's, with the stream's ids). */
  log?: Logger;
}

/** Gives a taken capacity slot back; idempotent. */
export type ReleaseSlot = () => void;

/**
 * The one way audio enters media/, whatever carries it: each stream takes a slot of the shared
 * cap (media.maxStreams; StreamCapacityError when none is left), gets its counters and is built
 * here, then feeds the WindowSink. Signaling is handed one by whoever wires the process
 * (server.ts) and never builds a stream itself. RTP over UDP (SIP, POST /streams) enters through
 * the same head's MediaSessions (a MediaAllocator for signaling/sip).
 */
export interface MediaIngress {
  /** Takes a slot for a stream that is still being negotiated (a WebRTC session before its offer). @throws StreamCapacityError */
  reserve(transport: TransportKind): ReleaseSlot;
  /** Opens an in-process RTP stream (WebRTC); its capacity slot was reserved by the caller. */
  openPacketStream(req: { descriptor: StreamDescriptor; format: PayloadFormat; log?: Logger }): PacketStream;
  /** Takes a slot and opens a framed stream (WebSocket). @throws StreamCapacityError */
  openFrameStream(req: FrameStreamRequest): FrameStream;
  /** A decoder for frames that arrive encoded (WebSocket G.711 / L16 / Opus). @throws UnsupportedCodecError */
  createDecoder(format: Pick<PayloadFormat, 'encoding' | 'clockRate' | 'channels'>): AudioDecoder;
  /** Media's clock: wall time in ms with sub-ms precision, what arrival times are stamped with. */
  nowMs(): number;
}

// What other folders may use of media besides its types: its named errors, the rule of which
// formats and rates it decodes (SDP and WebSocket negotiation ask it), and the decode bound.
export { MediaError, PacingError, StreamCapacityError, UnsupportedCodecError, UnsupportedSampleRateError } from './errors.js';
export { SUPPORTED_SAMPLE_RATES, isSupportedSampleRate } from './sample-rates.js';
export { MAX_DECODED_SAMPLES, checkAudioFormat, codecLabel, parseCodecName } from './codecs.js';
// Listening to a live stream (the console's listen-in): media's observer, the tap (audio-tap.ts).
export type { AudioTap, AudioTapListener } from './audio-tap.js';
