/**
 * What other folders may import from media/. Media turns transport packets into
 * time-stamped 1-second windows at the detector's rate; it knows nothing of models.
 */

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

export type StreamEndReason = 'timeout' | 'released' | 'bye' | 'transport_closed' | 'error' | 'eof';

/** The transport-agnostic consumer of windows (the detector side implements it). */
export interface WindowSink {
  onStreamStart(stream: StreamDescriptor): void;
  onWindow(window: WindowView): void;
  onStreamEnd(stream: StreamDescriptor, reason: StreamEndReason): void;
}

/** Packet-level counters of one stream; media updates them, observability reads them. */
export interface StreamCounters {
  packetsReceived: number;
  packetsLost: number;
  packetsDuplicate: number;
  packetsLate: number;
  packetsMalformed: number;
  packetsUnknownPayload: number;
  packetsWrongSource: number;
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
  /** RTCP seen on the RTP port (rtcp-mux) or packets on the RTCP port: ignored. */
  rtcpPackets: number;
  /** Confirmed jumps far ahead/behind in sequence or timestamp (stream re-based). */
  sequenceJumps: number;
  /** Suspect far-off packets dropped without confirmation. */
  jumpPacketsDropped: number;
  decodeErrors: number;
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
