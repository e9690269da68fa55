/**
 * CPU cost of one Twilio `media` message through DevoX without sockets: JSON.parse + zod,
 * base64 into the reused buffer, µ-law decode, placement, 8 → 16 kHz resampling, windows (copied
 * out as the detector does). Complements bench/websocket.ts, whose figures include `ws` framing
 * and the loopback sockets and depend on how busy the host is.
 *
 *   npx tsx bench/websocket-handler.ts [streams=200] [seconds=10]
 */
import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';
import { pino } from 'pino';
import { loadConfig, projectRoot } from '../src/config.js';
import type { WindowSink, WindowView } from '../src/media/types.js';
import type { ConnectionContext } from '../src/signaling/websocket/media-connection.js';
import { createDecoder } from '../src/media/codecs.js';
import { FrameLeg } from '../src/media/frame-leg.js';
import { TwilioStreamHandler } from '../src/signaling/websocket/twilio-stream-handler.js';
import { newCounters } from '../src/signaling/websocket/media-stream-server.js';
import { exitOnHelp } from './args.js';

exitOnHelp('usage: npx tsx bench/websocket-handler.ts [streams=200] [seconds=10]');

const streams = Number(process.argv[2] ?? 200);
const seconds = Number(process.argv[3] ?? 10);
const CLIP = resolve(projectRoot, '../shared/data/speech/audio/resemblyzer/genuine/bonafide/libri-1040_519e3a2c75.flac');
const mulaw = execFileSync('ffmpeg', ['-v', 'error', '-i', CLIP, '-ac', '1', '-ar', '8000', '-f', 'mulaw', '-'], { maxBuffer: 64 << 20 });
const payloads: string[] = [];
for (let i = 0; (i + 1) * 160 <= mulaw.length; i++) payloads.push(mulaw.subarray(i * 160, (i + 1) * 160).toString('base64'));

const cfg = loadConfig({ env: {} });
const row = new Float32Array(16000);
let windows = 0;
const sink: WindowSink = {
  onStreamStart() {},
  onWindow(w: WindowView) {
    w.copyInto(row, 0);
    windows++;
  },
  onStreamEnd() {},
};
const counters = newCounters();
const log = pino({ level: 'silent' });

// The same handler + leg classes the server uses; only the socket is left out.
const handlers = Array.from({ length: streams }, (_, k) => {
  const ctx: ConnectionContext = {
    connId: `bench-${k}`,
    protocol: 'twilio',
    log,
    counters,
    maxFrameMs: cfg.websocket.maxFrameMs,
    openLeg: (leg, callId, inputRate, identity) =>
      new FrameLeg({
        descriptor: { streamId: `bench-${k}:${leg}`, callId, leg, transport: 'websocket', identity },
        inputRate,
        outputRate: 16000,
        window: cfg.window,
        sink,
        realtimeSlackMs: 1e12,
        wallAnchorMs: 0,
        reorderFrames: cfg.websocket.reorderFrames,
        maxFrameSamples: 800,
      }),
    createDecoder,
  };
  const h = new TwilioStreamHandler(ctx);
  h.onText(
    JSON.stringify({
      event: 'start',
      start: { callSid: `CA${k}`, tracks: ['inbound'], mediaFormat: { encoding: 'audio/x-mulaw', sampleRate: 8000, channels: 1 } },
    }),
    0,
  );
  return h;
});

const frames = Math.round((seconds * 1000) / 20);
// Messages are built before timing: the client's work is not DevoX's.
const messages = Array.from({ length: frames }, (_, f) =>
  JSON.stringify({ event: 'media', sequenceNumber: String(f + 2), media: { track: 'inbound', chunk: String(f + 1), timestamp: String(f * 20), payload: payloads[f % payloads.length] } }),
);
const heap0 = process.memoryUsage().heapUsed;
const cpu0 = process.cpuUsage();
const t0 = performance.now();
for (let f = 0; f < frames; f++) {
  const m = messages[f]!;
  for (const h of handlers) h.onText(m, f * 20);
}
const wall = performance.now() - t0;
const cpu = process.cpuUsage(cpu0);
const n = frames * streams;
const cpuMs = (cpu.user + cpu.system) / 1000;
console.log(`# ${streams} streams × ${seconds} s of 20 ms Twilio media messages (${n} messages), no sockets; node ${process.version}`);
console.log(`messages: ${n}  windows: ${windows}  cpu: ${cpuMs.toFixed(0)} ms  wall: ${wall.toFixed(0)} ms`);
console.log(`per message: ${((cpuMs * 1000) / n).toFixed(2)} µs CPU  → per stream-second: ${((cpuMs / streams / seconds)).toFixed(3)} ms  → ${(1000 / (cpuMs / streams / seconds)).toFixed(0)} streams per core`);
console.log(`heap growth during the run: ${((process.memoryUsage().heapUsed - heap0) / 2 ** 20).toFixed(1)} MiB (GC included)`);
