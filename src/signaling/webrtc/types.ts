/**
 * What other folders may import from signaling/webrtc/, and the slice of mediasoup's API this
 * module uses. mediasoup is an optional dependency (its install builds or downloads a native
 * worker), so it is loaded at run time and typed here structurally — these interfaces mirror
 * mediasoup v3's own (node/lib/*Types.d.ts) for the members we call, nothing more.
 */
import type { EventEmitter } from 'node:events';

export type MsMediaKind = 'audio' | 'video';

export interface MsRtpCodecParameters {
  mimeType: string;
  payloadType: number;
  clockRate: number;
  channels?: number;
  parameters?: Record<string, unknown>;
  rtcpFeedback?: Array<{ type: string; parameter?: string }>;
}

export interface MsRtpHeaderExtensionParameters {
  uri: string;
  id: number;
  encrypt?: boolean;
  parameters?: Record<string, unknown>;
}

export interface MsRtpParameters {
  mid?: string;
  codecs: MsRtpCodecParameters[];
  headerExtensions?: MsRtpHeaderExtensionParameters[];
  encodings?: Array<{ ssrc?: number; dtx?: boolean }>;
  rtcp?: { cname?: string; reducedSize?: boolean };
}

export interface MsRtpCapabilities {
  codecs?: Array<{ kind: MsMediaKind; mimeType: string; preferredPayloadType?: number; clockRate: number; channels?: number }>;
  headerExtensions?: unknown[];
}

export interface MsIceParameters {
  usernameFragment: string;
  password: string;
  iceLite?: boolean;
}

export interface MsIceCandidate {
  foundation: string;
  priority: number;
  /** mediasoup ≥ 3.13 names it `address`; older versions `ip`. */
  address?: string;
  ip?: string;
  protocol: 'udp' | 'tcp';
  port: number;
  type: 'host';
  tcpType?: 'passive';
}

export interface MsDtlsParameters {
  role?: 'auto' | 'client' | 'server';
  fingerprints: Array<{ algorithm: string; value: string }>;
}

interface MsClosable extends EventEmitter {
  readonly closed: boolean;
  close(): void;
}

interface MsIdentified extends MsClosable {
  readonly id: string;
}

export interface MsProducer extends MsIdentified {
  readonly kind: MsMediaKind;
}

export interface MsConsumer extends MsIdentified {
  readonly rtpParameters: MsRtpParameters;
  resume(): Promise<void>;
}

/** A producer on a DirectTransport: RTP packets are handed to it in process (listen-in). */
export interface MsDirectProducer extends MsProducer {
  /** One RTP packet, copied before it returns. */
  send(rtpPacket: Buffer): void;
}

/** mediasoup's WebRtcTransport ICE state (ICE-lite: `new` until the browser's first check). */
export type MsIceState = 'new' | 'connected' | 'completed' | 'disconnected' | 'closed';
export type MsDtlsState = 'new' | 'connecting' | 'connected' | 'failed' | 'closed';

/** Also emits 'icestatechange' (MsIceState) and 'dtlsstatechange' (MsDtlsState). */
export interface MsWebRtcTransport extends MsIdentified {
  readonly iceState: MsIceState;
  readonly dtlsState: MsDtlsState;
  readonly iceParameters: MsIceParameters;
  readonly iceCandidates: MsIceCandidate[];
  readonly dtlsParameters: MsDtlsParameters;
  connect(params: { dtlsParameters: MsDtlsParameters }): Promise<void>;
  produce(params: { kind: MsMediaKind; rtpParameters: MsRtpParameters; appData?: Record<string, unknown> }): Promise<MsProducer>;
  /** Sends a producer's RTP to the browser (listen-in); also emits 'routerclose' when its router goes. */
  consume(params: { producerId: string; rtpCapabilities: MsRtpCapabilities; paused?: boolean }): Promise<MsConsumer>;
}

export interface MsDirectTransport extends MsIdentified {
  consume(params: { producerId: string; rtpCapabilities: MsRtpCapabilities; paused?: boolean }): Promise<MsConsumer>;
  produce(params: { kind: MsMediaKind; rtpParameters: MsRtpParameters }): Promise<MsDirectProducer>;
}

export interface MsRouter extends MsIdentified {
  readonly rtpCapabilities: MsRtpCapabilities;
  createWebRtcTransport(opts: {
    listenInfos: Array<{ protocol: 'udp' | 'tcp'; ip: string; announcedAddress?: string; portRange?: { min: number; max: number } }>;
    enableUdp?: boolean;
    enableTcp?: boolean;
    preferUdp?: boolean;
  }): Promise<MsWebRtcTransport>;
  createDirectTransport(opts?: { maxMessageSize?: number }): Promise<MsDirectTransport>;
}

export interface MsWorker extends MsClosable {
  readonly pid: number;
  createRouter(opts: { mediaCodecs: Array<{ kind: MsMediaKind; mimeType: string; clockRate: number; channels?: number; parameters?: Record<string, unknown> }> }): Promise<MsRouter>;
}

export interface MediasoupModule {
  readonly version: string;
  /** The binary mediasoup will spawn: its MEDIASOUP_WORKER_BIN as read from process.env when it was imported, else its own build. */
  readonly workerBin?: string;
  createWorker(opts?: { logLevel?: 'debug' | 'warn' | 'error' | 'none'; rtcMinPort?: number; rtcMaxPort?: number }): Promise<MsWorker>;
}

/** Live WebRTC capacity (WebRtcIngest.capacity()): /readyz shows it, the metrics count it. */
export type WebRtcCapacity = {
  /** Workers configured (webrtc.workers, or one per core). */
  workers: number;
  /** Workers alive now, each with its router: 0 means no browser session can start. */
  liveWorkers: number;
  sessions: number;
  maxSessions: number;
  /** Set while a dead worker waits for its respawn. */
  nextRespawnInMs?: number;
};

/** Why WebRTC is not available; DevoX starts without it and logs this. */
export type WebRtcUnavailableReason = 'not_installed' | 'worker_missing' | 'worker_failed';

/** What other folders import from here: the error server.ts catches at start-up, the pool's observer. */
export { WebRtcUnavailableError } from './errors.js';
export type { WorkerPoolObserver } from './worker-pool.js';

/** The exact reason the WebRTC test (and DevoX's start-up log) gives when no worker is found. */
export const WORKER_MISSING_MESSAGE = 'mediasoup worker not found: set MEDIASOUP_WORKER_BIN';
