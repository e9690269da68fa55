/**
 * One RTP stream over UDP: its socket pair (RTP on an even port, RTCP on port+1, bound and
 * ignored) and symmetric-RTP/comedia learning of the remote, in front of the shared receive
 * half (rtp-stream.ts).
 * Every datagram is handled inside a try/catch: bad input is counted, never thrown.
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import type { Logger } from '../logger.js';
import { nowMs } from './clock.js';
import { PortAllocationError } from './errors.js';
import { RtpStream, type RtpStreamOptions } from './rtp-stream.js';
import type { PayloadFormat, RtpExtraCounters, RtpSession, StreamCounters, StreamDescriptor, StreamEndReason } from './types.js';

export type { RtpSession } from './types.js';

export interface RtpSessionOptions extends RtpStreamOptions {
  maxPacketBytes: number;
  /** How long a relearn armed by a re-offer waits for a new source (media.streamTimeoutMs). */
  relearnTimeoutMs: number;
  /** The stream's logger: binds streamId and callId (MediaSessions makes it a child). */
  log: Logger;
}

/**
 * Packets from the known remote that end an armed relearn early: the sender did not move
 * (a NAT'd c=, a re-anchoring that kept the media path); ~1 s of audio at 20 ms packets.
 */
const RELEARN_CONFIRM_PACKETS = 50;

function bindSocket(sock: Socket, port: number, address: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    sock.once('error', onError);
    sock.bind({ port, address, exclusive: true }, () => {
      sock.off('error', onError);
      resolve();
    });
  });
}

function closeSocket(sock: Socket): Promise<void> {
  return new Promise((resolve) => {
    try {
      sock.close(() => resolve());
    } catch {
      resolve(); // already closed
    }
  });
}

export class RtpSessionImpl implements RtpSession {
  readonly descriptor: StreamDescriptor;
  readonly port: number;
  readonly address: string;
  readonly #rtp: Socket;
  readonly #rtcp: Socket;
  readonly #stream: RtpStream;
  readonly #log: Logger;
  readonly #maxPacketBytes: number;
  readonly #relearnTimeoutMs: number;
  #remote: { address: string; port: number } | null = null;
  /**
   * A re-offer moved the sender: until this time (0: not armed) the next plausible packet from
   * another source becomes the remote, unless RELEARN_CONFIRM_PACKETS from the known one come first.
   */
  #relearnUntilMs = 0;
  #relearnKnownPackets = 0;
  #lastActivityMs: number;
  #ended = false;
  #closing: Promise<void> | undefined;

  /** Binds the socket pair on `port`/`port+1`; throws (after cleaning up) if either is taken. */
  static async open(port: number, address: string, opts: RtpSessionOptions): Promise<RtpSessionImpl> {
    const rtp = createSocket({ type: address.includes(':') ? 'udp6' : 'udp4' });
    const rtcp = createSocket({ type: address.includes(':') ? 'udp6' : 'udp4' });
    try {
      await bindSocket(rtp, port, address);
      await bindSocket(rtcp, port + 1, address);
    } catch (err) {
      await Promise.all([closeSocket(rtp), closeSocket(rtcp)]);
      throw new PortAllocationError(`cannot bind RTP/RTCP ports ${port}/${port + 1} on ${address}`, { cause: err });
    }
    try {
      return new RtpSessionImpl(port, address, rtp, rtcp, opts);
    } catch (err) {
      // e.g. a decoder that cannot be built: the bound pair must not outlive the failed open.
      await Promise.all([closeSocket(rtp), closeSocket(rtcp)]);
      throw err;
    }
  }

  private constructor(port: number, address: string, rtp: Socket, rtcp: Socket, opts: RtpSessionOptions) {
    this.descriptor = opts.descriptor;
    this.port = port;
    this.address = address;
    this.#rtp = rtp;
    this.#rtcp = rtcp;
    this.#log = opts.log;
    this.#maxPacketBytes = opts.maxPacketBytes;
    this.#relearnTimeoutMs = opts.relearnTimeoutMs;
    this.#stream = new RtpStream(opts);
    this.#lastActivityMs = nowMs();
    rtp.on('message', (msg, rinfo) => this.#onRtp(msg, rinfo));
    rtcp.on('message', () => {
      this.#stream.counters.packetsRtcp++;
    });
    const onSocketError = (err: Error): void => this.#logOnce('socket_error', { err }, 'RTP socket error');
    rtp.on('error', onSocketError);
    rtcp.on('error', onSocketError);
  }

  get counters(): StreamCounters {
    return this.#stream.counters;
  }
  get rtp(): Readonly<RtpExtraCounters> {
    return this.#stream.extra;
  }
  get remote(): { readonly address: string; readonly port: number } | null {
    return this.#remote;
  }
  get ended(): boolean {
    return this.#ended;
  }
  get lastActivityMs(): number {
    return this.#lastActivityMs;
  }

  /**
   * A re-offer changed the sender's c=/m= address or port (SBC failover, re-anchoring): keep
   * accepting the current remote, and take the next plausible RTP packet from any other
   * source as the new one (comedia again: behind NAT the offered address may not be the source).
   * Bounded: disarmed after relearnTimeoutMs, or once RELEARN_CONFIRM_PACKETS more arrive from
   * the known remote (the sender did not move), so a stray datagram later cannot take the stream.
   */
  relearnRemote(): void {
    if (this.#ended || this.#remote === null) return;
    this.#relearnUntilMs = nowMs() + this.#relearnTimeoutMs;
    this.#relearnKnownPackets = 0;
  }

  /** A re-offer that keeps the audio codec changed only telephone-event / CN payload types. */
  updateSignalFormats(formats: readonly PayloadFormat[]): void {
    this.#stream.updateSignalFormats(formats);
  }

  /** Timer hook: release reordered packets that waited longer than maxWaitMs. */
  tick(now: number, maxWaitMs: number): void {
    this.#stream.flushStale(now, maxWaitMs);
  }

  /** Ends the stream once (flushes held packets, tells the sink) and closes both sockets. */
  end(reason: StreamEndReason): Promise<void> {
    if (!this.#ended) {
      this.#ended = true;
      this.#stream.end(reason);
      this.#closing = Promise.all([closeSocket(this.#rtp), closeSocket(this.#rtcp)]).then(() => undefined);
    }
    return this.#closing!;
  }

  #onRtp(msg: Buffer, rinfo: RemoteInfo): void {
    if (this.#ended) return;
    const arrival = nowMs();
    try {
      const remote = this.#remote;
      const known = remote !== null && rinfo.port === remote.port && rinfo.address === remote.address;
      if (this.#relearnUntilMs !== 0
        && (arrival > this.#relearnUntilMs || (known && ++this.#relearnKnownPackets >= RELEARN_CONFIRM_PACKETS))) {
        this.#relearnUntilMs = 0;
        this.#log.debug({ knownPackets: this.#relearnKnownPackets },
          'RTP remote relearn ended: no new source (deadline, or the known one kept sending)');
      }
      const relearn = this.#relearnUntilMs !== 0;
      if (remote === null || (relearn && !known)) {
        // comedia: the first plausible RTP packet (version 2, full header) names the remote.
        if (msg.length < 12 || msg[0]! >> 6 !== 2 || msg.length > this.#maxPacketBytes) {
          this.counters.packetsMalformed++;
          this.#logOnce('malformed_before_remote', { length: msg.length }, 'non-RTP datagram before the remote was learned');
          return;
        }
        this.#remote = { address: rinfo.address, port: rinfo.port };
        this.#log.info({ relearned: relearn,
          pii: { remoteAddress: rinfo.address, remotePort: rinfo.port } }, 'RTP remote learned');
        this.#relearnUntilMs = 0;
      } else if (!known) {
        this.counters.packetsWrongSource++;
        this.#logOnce('wrong_source', { pii: { address: rinfo.address, port: rinfo.port } }, 'RTP from an unexpected source dropped');
        return;
      }
      this.#lastActivityMs = arrival;
      if (msg.length > this.#maxPacketBytes) {
        this.counters.packetsMalformed++;
        this.counters.bytesReceived += msg.length;
        this.#logOnce('oversized', { length: msg.length, max: this.#maxPacketBytes }, 'oversized RTP datagram dropped');
        return;
      }
      this.#stream.onPacket(msg, msg.length, arrival);
    } catch (err) {
      this.counters.packetsMalformed++;
      this.#logOnce('internal_error', { err }, 'RTP packet handling failed; packet dropped');
    }
  }

  #logOnce(kind: string, fields: Record<string, unknown>, msg: string): void {
    this.#stream.logOnce(kind, fields, msg);
  }
}
