/**
 * server.ts's WebRTC wiring: starts the WebRTC ingest when webrtc.enabled and hands listen-in its
 * routers. mediasoup is optional: when it or its worker is missing DevoX runs without WebRTC
 * (and without listen-in), logs why and returns the reason for /readyz, the page and the console.
 */
import type { Logger } from 'pino';
import type { Config } from '../../config.js';
import type { MediaIngress } from '../../media/types.js';
import { WebRtcUnavailableError } from './errors.js';
import type { ListenIn } from './listen-in.js';
import type { StreamStatus } from './webrtc-session.js';
import { WebRtcIngest } from './webrtc-ingest.js';
import type { WorkerPoolObserver } from './worker-pool.js';

export interface StartWebRtcOptions {
  config: Readonly<Config>;
  ingress: MediaIngress;
  listenIn: ListenIn;
  log: Logger;
  status(streamId: string): StreamStatus;
  observer: WorkerPoolObserver;
}

/** The running ingest, or undefined and why not. Throws only on an unexpected start failure. */
export async function startWebRtc(o: StartWebRtcOptions): Promise<{ ingest: WebRtcIngest | undefined; unavailable: string }> {
  const { config, listenIn, log } = o;
  if (!config.webrtc.enabled) return { ingest: undefined, unavailable: 'disabled (webrtc.enabled is false)' };
  try {
    const ingest = await WebRtcIngest.start({
      ingress: o.ingress,
      webrtc: config.webrtc,
      websocket: config.websocket,
      media: config.media,
      window: config.window,
      log,
      status: o.status,
      observer: o.observer,
    });
    listenIn.useRouters(ingest);
    return { ingest, unavailable: '' };
  } catch (err) {
    if (!(err instanceof WebRtcUnavailableError)) throw err;
    listenIn.unavailableBecause(`no mediasoup worker: ${err.message}`);
    log.warn({ reason: err.reason, detail: err.message }, 'WebRTC ingest unavailable; starting without it');
    return { ingest: undefined, unavailable: err.message };
  }
}
