/**
 * GET /readyz for a whole node: the model is loaded, NATS is connected (when configured),
 * drachtio-server is connected (when SIP is on) and the node is not shutting down. WebRTC down
 * (not started, or no worker alive) leaves the node ready but degraded (docs/webrtc.md).
 */
import type { Config } from './config.js';
import type { ReadinessReport } from './http/http-server.js';
import type { SipApp } from './signaling/sip/sip-app.js';
import type { WebRtcIngest } from './signaling/webrtc/webrtc-ingest.js';
import { webrtcReadiness } from './signaling/webrtc/webrtc-routes.js';
import type { EventPublisher } from './verdicts/publisher.js';

export interface NodeReadinessParts {
  config: Readonly<Config>;
  publisher: EventPublisher;
  sip: SipApp | undefined;
  webrtc: WebRtcIngest | undefined;
  /** Why WebRTC did not start (when enabled and it did not). */
  webrtcUnavailable: string;
  /** True once shutdown has begun. */
  closing(): boolean;
}

export function nodeReadiness(p: NodeReadinessParts): () => ReadinessReport {
  const { config, publisher, sip, webrtc } = p;
  return () => {
    const checks: Record<string, true | string> = {
      model: true,
      nats: publisher.kind === 'stdout' ? true : publisher.connected ? true : 'NATS not connected',
      sip: !sip || sip.ready ? true : 'not connected to drachtio-server',
      accepting: p.closing() ? 'shutting down' : true,
    };
    const webrtcState = webrtcReadiness({ path: config.webrtc.path, ingest: webrtc, unavailable: p.webrtcUnavailable, enabled: config.webrtc.enabled, maxSessions: config.webrtc.maxSessions });
    return { ready: Object.values(checks).every((c) => c === true), checks, ...webrtcState };
  };
}
