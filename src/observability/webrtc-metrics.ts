/**
 * Live WebRTC capacity in the server's one registry, fed through the worker pool's observer
 * (signaling/webrtc/worker-pool.ts never imports prom-client): workers alive and configured,
 * deaths, respawns. `devox_webrtc_workers_live == 0` with `devox_webrtc_workers > 0` is
 * "WebRTC down on this node" (the node stays ready for RTP, SIP and WebSocket ingress).
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { WorkerPoolObserver } from '../signaling/webrtc/types.js';

export function registerWebRtcMetrics(registry: Registry): WorkerPoolObserver {
  const live = new Gauge({
    name: 'devox_webrtc_workers_live',
    help: 'mediasoup workers alive with their router: browser sessions can start only while this is above 0',
    registers: [registry],
  });
  const configured = new Gauge({
    name: 'devox_webrtc_workers',
    help: 'mediasoup workers configured (webrtc.workers); 0 when WebRTC is disabled or mediasoup/its worker is missing',
    registers: [registry],
  });
  const deaths = new Counter({
    name: 'devox_webrtc_worker_deaths_total',
    help: 'mediasoup workers that died (crash, kill); their sessions ended and a respawn was scheduled',
    registers: [registry],
  });
  const respawns = new Counter({
    name: 'devox_webrtc_worker_respawns_total',
    help: 'mediasoup worker respawn attempts, by result (ok, failed: retried with a longer backoff)',
    labelNames: ['result'] as const,
    registers: [registry],
  });
  live.set(0);
  configured.set(0);
  respawns.inc({ result: 'ok' }, 0);
  respawns.inc({ result: 'failed' }, 0);
  return {
    workers: (n, of) => {
      live.set(n);
      configured.set(of);
    },
    died: () => deaths.inc(),
    respawn: (result) => respawns.inc({ result }),
  };
}
