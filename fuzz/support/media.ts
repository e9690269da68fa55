/**
 * What the media-side targets share: the default config's media/window sections, a window sink
 * that checks each window's measures (a NaN or out-of-range ratio from hostile input is a bug
 * even when nothing throws), and a framed leg built as MediaIngress.openFrameStream builds it.
 */
import { pino } from 'pino';
import { loadConfig } from '../../src/config.js';
import { FrameLeg } from '../../src/media/frame-leg.js';
import type { StreamDescriptor, WindowSink, WindowView } from '../../src/media/types.js';
import { check } from '../engine/target.js';

export const config = loadConfig({ env: {} });
export const OUTPUT_RATE = 16000;
export const silentLog = pino({ level: 'silent' });

export const checkingSink: WindowSink = {
  onStreamStart(): void {},
  onWindow(w: WindowView): void {
    check(Number.isFinite(w.mediaStartSec) && w.mediaEndSec >= w.mediaStartSec, `window times ${w.mediaStartSec}..${w.mediaEndSec}`);
    check(w.lostRatio >= 0 && w.lostRatio <= 1, `lostRatio ${w.lostRatio}`);
    check(w.speechRatio >= 0 && w.speechRatio <= 1, `speechRatio ${w.speechRatio}`);
    check(!Number.isNaN(w.rmsDbfs), 'rmsDbfs is NaN');
  },
  onStreamEnd(): void {},
};

export function descriptor(leg: string, callId = 'fuzz', identity?: Record<string, string>): StreamDescriptor {
  return { streamId: `fuzz:${leg}`, callId, leg, transport: 'websocket', ...(identity ? { identity } : {}) };
}

/** A framed leg as the WebSocket ingress opens it (anchored at wall-clock 0). */
export function frameLeg(leg: string, callId: string, inputRate: number, identity: Readonly<Record<string, string>>, reorderFrames: number): FrameLeg {
  const ws = config.websocket;
  return new FrameLeg({
    descriptor: descriptor(leg, callId, { ...identity }),
    inputRate,
    outputRate: OUTPUT_RATE,
    window: config.window,
    sink: checkingSink,
    realtimeSlackMs: ws.realtimeSlackMs,
    wallAnchorMs: 0,
    reorderFrames,
    maxFrameSamples: Math.ceil((ws.maxFrameMs * inputRate) / 1000) + 2,
    log: silentLog,
  });
}
