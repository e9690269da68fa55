/**
 * The soak's WebSocket load process (forked by bench/soak/load-process.ts): one Twilio Media
 * Streams client per call (bench/twilio-frames.ts) over a real WebSocket, one inbound track of
 * µ-law, a 20 ms `media` frame on a drift-free schedule, looping a speech file. Started and
 * stopped by the soak over IPC (load-protocol.ts); `stop` sends Twilio's `stop` and answers
 * `ended` when the server has closed the socket (every frame sent before it was read).
 */
import WebSocket from 'ws';
import { encodeFiles, PACKET_MS } from '../rtp-pacer.js';
import { twilioConnected, twilioMedia, twilioStart, twilioStop } from '../twilio-frames.js';
import { LatenessHistogram } from './lateness.js';
import type { LoadCommand, LoadReply, LoadSetup, WsCallTarget } from './load-protocol.js';

const TICK_MS = 5;
/** A server that does not close after `stop` within this long: the call is ended anyway (and says so). */
const CLOSE_WAIT_MS = 15_000;

interface Call {
  id: number;
  ws: WebSocket;
  payloads: readonly string[];
  /** When frame 0 is due (NaN until the socket is open). */
  startMs: number;
  frames: number;
  stopping: boolean;
  /** Sends what is due, then `stop`; the server's close ends the call. */
  stop(): void;
}

function send(m: LoadReply): void {
  process.send!(m);
}

async function main(): Promise<void> {
  const setup = await new Promise<LoadSetup>((r) => process.once('message', (m) => r(m as LoadSetup)));
  // µ-law payloads of 20 ms, base64 once per file.
  const files = (await encodeFiles(setup.files, 'PCMU')).map((e) => e.payloads.map((p) => p.toString('base64')));
  const late = new LatenessHistogram();
  const calls = new Map<number, Call>();
  let sendErrors = 0;

  const sendDue = (c: Call, now: number): void => {
    if (c.stopping || Number.isNaN(c.startMs) || c.ws.readyState !== c.ws.OPEN) return;
    for (;;) {
      const due = c.startMs + c.frames * PACKET_MS;
      if (due > now) return;
      c.ws.send(twilioMedia(c.frames, 'inbound', c.payloads[c.frames % c.payloads.length]!), (err) => {
        if (err) sendErrors++;
      });
      late.add(now - due);
      c.frames++;
    }
  };

  const start = (id: number, file: number, t: WsCallTarget): void => {
    const ws = new WebSocket(t.url, {
      headers: { authorization: `Bearer ${t.token}` },
      perMessageDeflate: false,
      // An all-zero mask lets ws skip the masking copy; the server still unmasks as for any client.
      generateMask: (mask: Buffer) => void mask.fill(0),
    });
    let opened = false;
    let stopTimer: NodeJS.Timeout | undefined;
    const call: Call = {
      id,
      ws,
      payloads: files[file % files.length]!,
      startMs: Number.NaN,
      frames: 0,
      stopping: false,
      stop: () => {
        if (call.stopping) return;
        sendDue(call, performance.now());
        call.stopping = true;
        if (ws.readyState !== ws.OPEN) return ws.terminate();
        ws.send(twilioStop());
        stopTimer = setTimeout(() => ws.terminate(), CLOSE_WAIT_MS);
      },
    };
    calls.set(id, call);
    ws.on('error', (err) => {
      if (!opened) send({ op: 'failed', id, why: err.message });
    });
    ws.once('open', () => {
      opened = true;
      ws.send(twilioConnected());
      ws.send(twilioStart(t.callSid, ['inbound'], { soak: '1' }));
      call.startMs = performance.now();
      send({ op: 'started', id });
    });
    ws.on('close', (code, reason) => {
      clearTimeout(stopTimer);
      calls.delete(id);
      if (!opened) return;
      send({ op: 'ended', id, frames: call.frames, requested: call.stopping, closeCode: code, closeReason: reason.toString() });
    });
  };

  let timer: NodeJS.Timeout | undefined;
  const tick = (): void => {
    const now = performance.now();
    for (const c of calls.values()) sendDue(c, now);
    timer = setTimeout(tick, TICK_MS);
  };
  tick();

  process.on('message', (m: LoadCommand) => {
    switch (m.op) {
      case 'start':
        if (m.target.kind !== 'ws') return send({ op: 'failed', id: m.id, why: 'not a WebSocket target' });
        start(m.id, m.file, m.target);
        return;
      case 'stop':
        calls.get(m.id)?.stop();
        return;
      case 'report': {
        const live: Array<[number, number]> = [];
        for (const c of calls.values()) if (!Number.isNaN(c.startMs)) live.push([c.id, c.frames]);
        send({ op: 'report', req: m.req, live, lateP99Ms: late.quantile(0.99), lateMaxMs: late.max, sendErrors });
        late.reset();
        return;
      }
      case 'exit':
        clearTimeout(timer);
        for (const c of calls.values()) c.ws.terminate();
        process.disconnect();
        return;
    }
  });
  // The soak is gone (killed): so is its load.
  process.on('disconnect', () => process.exit(0));
  send({ op: 'ready' });
}

main().catch((err: unknown) => {
  process.stderr.write(`soak ws-calls: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
