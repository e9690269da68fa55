/**
 * Listen-in through mediasoup: the console asks to hear one live leg of this process; each
 * request becomes a ListenSession (listen-session.ts) on a live router of the WebRTC ingest's
 * worker pool. This service knows nothing of operators, roles or audits (the console does) and
 * nothing of how the leg's audio arrived: any stream media can tap (RTP, WebSocket, WebRTC).
 *
 * Available only while the WebRTC ingest runs with a live worker; otherwise every request is
 * refused with the reason (`no mediasoup worker: ...`), which the console shows.
 */
import type { Logger } from 'pino';
import type { Config } from '../../config.js';
import type { AudioTap, AudioTapListener, StreamDescriptor } from '../../media/types.js';
import { SdpOfferError } from '../sip/errors.js';
import { ListenSession, type ListenEndReason } from './listen-session.js';
import type { MsRouter } from './types.js';

/** The live streams whose audio can be heard (media's AudioTaps). */
export interface TapSource {
  descriptor(streamId: string): StreamDescriptor | undefined;
  tap(streamId: string, listener: AudioTapListener): AudioTap | undefined;
}

/** Where sessions get a router (the WebRTC ingest). */
export interface RouterSource {
  pickRouter(): MsRouter | undefined;
  unavailable(): { message: string } | undefined;
}

export type ListenOpenResult =
  | { ok: true; id: string; offer: string; stream: StreamDescriptor }
  | { ok: false; code: 'not_found' | 'unavailable'; message: string };

export type ListenAnswerResult = { ok: true } | { ok: false; code: 'not_found' | 'bad_request'; message: string };

export interface ListenInOptions {
  taps: TapSource;
  webrtc: Config['webrtc'];
  log: Logger;
}

export class ListenIn {
  readonly #o: ListenInOptions;
  readonly #log: Logger;
  readonly #sessions = new Map<string, ListenSession>();
  #routers: RouterSource | undefined;
  #why = 'no mediasoup worker (webrtc.enabled is false)';

  constructor(o: ListenInOptions) {
    this.#o = o;
    this.#log = o.log.child({ component: 'listen-in' });
  }

  /** The WebRTC ingest is up: sessions use its routers. */
  useRouters(routers: RouterSource): void {
    this.#routers = routers;
  }

  /** WebRTC did not start: why listen-in cannot be offered. */
  unavailableBecause(reason: string): void {
    this.#routers = undefined;
    this.#why = reason;
  }

  /** Why listen-in cannot start now, or undefined when it can. */
  unavailable(): string | undefined {
    if (!this.#routers) return this.#why;
    const down = this.#routers.unavailable();
    return down ? `no mediasoup worker: ${down.message}` : undefined;
  }

  get size(): number {
    return this.#sessions.size;
  }

  /** Starts hearing `streamId`; `onEnded` is told once when the session ends by itself or is closed. */
  async open(streamId: string, onEnded: (reason: ListenEndReason) => void): Promise<ListenOpenResult> {
    const why = this.unavailable();
    const router = why === undefined ? this.#routers?.pickRouter() : undefined;
    if (!router) return { ok: false, code: 'unavailable', message: why ?? 'no mediasoup worker alive' };
    const stream = this.#o.taps.descriptor(streamId);
    if (!stream) return { ok: false, code: 'not_found', message: 'no such live leg on this DevoX node (it ended, or another node handles it)' };
    let opened = false;
    const session: ListenSession = new ListenSession({
      router,
      webrtc: this.#o.webrtc,
      log: this.#log.child({ streamId, callId: stream.callId }),
      onClosed: (reason) => {
        this.#sessions.delete(session.id);
        // Told only of sessions it was handed: one that ends during setup is a refusal instead.
        if (opened) onEnded(reason);
      },
    });
    this.#sessions.set(session.id, session);
    let offer: string | undefined;
    try {
      offer = await session.open((listener) => this.#o.taps.tap(streamId, listener));
    } catch (err) {
      this.#log.error({ err, streamId }, 'listen-in setup failed');
      session.close('error');
      return { ok: false, code: 'unavailable', message: `listen-in setup failed: ${(err as Error).message}` };
    }
    if (offer === undefined || session.closed) return { ok: false, code: 'not_found', message: 'the leg ended' };
    opened = true;
    return { ok: true, id: session.id, offer, stream };
  }

  /** The browser's SDP answer for session `id`. */
  async answer(id: string, sdp: string): Promise<ListenAnswerResult> {
    const s = this.#sessions.get(id);
    if (!s) return { ok: false, code: 'not_found', message: 'no such listen-in (it ended)' };
    try {
      await s.answer(sdp);
      return { ok: true };
    } catch (err) {
      if (err instanceof SdpOfferError) return { ok: false, code: 'bad_request', message: err.message };
      this.#log.error({ err }, 'listen-in connect failed');
      s.close('error');
      return { ok: false, code: 'not_found', message: 'listen-in ended: DTLS connect failed' };
    }
  }

  /** Ends one session (idempotent); its onEnded gets `reason`. */
  close(id: string, reason: ListenEndReason): void {
    this.#sessions.get(id)?.close(reason);
  }

  /** Ends every session. */
  closeAll(reason: ListenEndReason): void {
    for (const s of [...this.#sessions.values()]) s.close(reason);
  }
}
