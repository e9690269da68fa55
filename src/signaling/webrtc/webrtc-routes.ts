/**
 * The WebRTC ingest's face on the HTTP server: the page at webrtc.path, the signaling upgrade at
 * <path>/signal, and WebRTC's part of /readyz.
 *
 * WebRTC is one ingress of several: while it is down — mediasoup or its worker missing at start,
 * or no worker alive between a death and its respawn — the node stays ready (RTP, SIP and
 * WebSocket media still work, and an unready node would be pulled from its load balancer for all
 * of them). /readyz says so under `degraded.webrtc`, with the live capacity under
 * `capacity.webrtc`; the page and the signaling upgrade answer 503 with the reason (and
 * Retry-After while a respawn is due).
 */
import type { HttpServer, ReadinessReport } from '../../http/http-server.js';
import { sendJson } from '../../http/http-server.js';
import type { WebRtcIngest } from './webrtc-ingest.js';

export interface WebRtcRoutesOptions {
  /** webrtc.path */
  path: string;
  /** The running ingest; undefined when WebRTC did not start. */
  ingest: WebRtcIngest | undefined;
  /** Why WebRTC did not start (shown while `ingest` is undefined). */
  unavailable: string;
}

export function routeWebRtc(http: HttpServer, o: WebRtcRoutesOptions): void {
  const w = o.ingest;
  if (!w) {
    http.route('GET', o.path, (_req, res) => sendJson(res, 503, { error: `WebRTC unavailable: ${o.unavailable}` }), 'public');
    return;
  }
  http.onUpgrade(o.path, (req, socket, head) => w.handleUpgrade(req, socket, head));
  // The page is static; its signaling socket authenticates (websocket.tokens / signed URL).
  http.route(
    'GET',
    o.path,
    (_req, res) => {
      const down = w.unavailable();
      if (down) {
        res.setHeader('retry-after', String(down.retryAfterSec));
        sendJson(res, 503, { error: `WebRTC unavailable: ${down.message}` });
        return;
      }
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
      res.end(w.page());
    },
    'public',
  );
}

/** WebRTC's part of /readyz: never a failed check, a `degraded` reason while it is down, its live capacity. */
export function webrtcReadiness(o: WebRtcRoutesOptions & { enabled: boolean; maxSessions: number }): Pick<ReadinessReport, 'degraded' | 'capacity'> {
  if (!o.enabled) return {};
  if (!o.ingest) {
    return { degraded: { webrtc: o.unavailable }, capacity: { webrtc: { workers: 0, liveWorkers: 0, sessions: 0, maxSessions: o.maxSessions } } };
  }
  const down = o.ingest.unavailable();
  return { ...(down ? { degraded: { webrtc: down.message } } : {}), capacity: { webrtc: o.ingest.capacity() } };
}
