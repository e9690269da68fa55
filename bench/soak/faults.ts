/**
 * The faults the soak injects while the calls run:
 *  - a NATS outage: nats-server stopped (SIGKILL by default: a crash) and, after the outage,
 *    started again on the same port with the same JetStream store; DevoX must buffer its events
 *    and replay them, losing none;
 *  - a killed mediasoup worker (SIGKILL), when DevoX runs WebRTC (MEDIASOUP_WORKER_BIN set):
 *    DevoX must keep running and keep scoring every other stream.
 */
import { realpathSync } from 'node:fs';
import type { NatsServer } from '../../test/helpers/nats-server.js';
import type { ServerProcess } from './server-process.js';

export interface FaultRecord {
  fault: 'nats-outage' | 'kill-worker';
  /** Seconds since the calls started. */
  atSec: number;
  /** When it was over (NATS back), seconds since the calls started. */
  endSec?: number;
  detail: string;
  ok: boolean;
}

/** Stops nats-server now, starts it again after `seconds`; resolves when it is back (or failed to come back). */
export async function natsOutage(nats: NatsServer, seconds: number, signal: NodeJS.Signals, onDown: () => void): Promise<{ downMs: number; error?: string }> {
  const t0 = performance.now();
  await nats.stop(signal);
  onDown();
  await new Promise((r) => setTimeout(r, Math.max(0, seconds * 1000 - (performance.now() - t0))));
  try {
    await nats.restart();
    return { downMs: performance.now() - t0 };
  } catch (err) {
    return { downMs: performance.now() - t0, error: (err as Error).message };
  }
}

/** Why the worker kill cannot run here, or undefined when it can. */
export function workerKillUnavailable(env: NodeJS.ProcessEnv, webrtcEnabled: boolean): string | undefined {
  if (!env.MEDIASOUP_WORKER_BIN) return 'MEDIASOUP_WORKER_BIN is not set: DevoX runs without WebRTC here, so there is no mediasoup worker to kill';
  if (!webrtcEnabled) return 'WebRTC is disabled (--no-webrtc)';
  return undefined;
}

/**
 * After a worker kill: polls the server's metrics until every configured worker is alive again
 * (DevoX respawns it with backoff, docs/webrtc.md), within withinMs.
 */
export async function awaitRespawn(scrape: () => Promise<{ webrtcWorkers: number; webrtcWorkersLive: number } | undefined>,
  withinMs: number): Promise<{ ok: boolean; detail: string }> {
  const t0 = performance.now();
  let sawDown = false;
  for (;;) {
    const s = await scrape();
    if (s && s.webrtcWorkersLive < s.webrtcWorkers) sawDown = true;
    if (s && s.webrtcWorkers > 0 && s.webrtcWorkersLive === s.webrtcWorkers && sawDown) {
      return { ok: true, detail: `respawned: ${s.webrtcWorkersLive} of ${s.webrtcWorkers} workers alive again ${((performance.now() - t0) / 1000).toFixed(1)} s after the kill` };
    }
    if (performance.now() - t0 > withinMs) {
      return { ok: false, detail: s ? `not respawned within ${withinMs / 1000} s: ${s.webrtcWorkersLive} of ${s.webrtcWorkers} workers alive${sawDown ? '' : ' (the metric never showed the death)'}` : 'the server did not answer /metrics' };
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** SIGKILLs one mediasoup worker of the server; says which, or why none. */
export function killWorker(server: ServerProcess, workerBin: string): { ok: boolean; detail: string } {
  let bin = workerBin;
  try {
    bin = realpathSync(workerBin);
  } catch {
    // compare as given
  }
  const workers = server.children().filter((c) => c.exe === bin || c.comm.startsWith('mediasoup-work'));
  const victim = workers[0];
  if (!victim) return { ok: false, detail: `no mediasoup worker among the server's children (WebRTC unavailable? see ${server.logFile})` };
  try {
    process.kill(victim.pid, 'SIGKILL');
  } catch (err) {
    return { ok: false, detail: `kill ${victim.pid}: ${(err as Error).message}` };
  }
  return { ok: true, detail: `SIGKILL to mediasoup worker pid ${victim.pid} (1 of ${workers.length})` };
}
