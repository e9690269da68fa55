/**
 * The soak's RTP load process (forked by bench/soak/load-process.ts): real-time PCMU over real
 * UDP from one socket, each call looping a speech file in 20 ms packets (bench/rtp-pacer.ts),
 * started and stopped by the soak over IPC (load-protocol.ts). A stopped call's packets are all
 * handed to the kernel before `ended` is answered.
 */
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { encodeFiles, RtpPacer } from '../rtp-pacer.js';
import { LatenessHistogram } from './lateness.js';
import type { LoadCommand, LoadReply, LoadSetup } from './load-protocol.js';

const TICK_MS = 2;

function send(m: LoadReply): void {
  process.send!(m);
}

async function main(): Promise<void> {
  const setup = await new Promise<LoadSetup>((r) => process.once('message', (m) => r(m as LoadSetup)));
  const encoded = await encodeFiles(setup.files, 'PCMU');
  const sock = createSocket('udp4');
  sock.bind(0, '127.0.0.1');
  await once(sock, 'listening');
  sock.setSendBufferSize(8 * 1024 * 1024);
  const late = new LatenessHistogram();
  const pacer = new RtpPacer(sock, encoded, (ms) => late.add(ms));
  let timer: NodeJS.Timeout | undefined;
  const tick = (): void => {
    pacer.sendDue(performance.now());
    timer = setTimeout(tick, TICK_MS);
  };
  tick();

  process.on('message', (m: LoadCommand) => {
    switch (m.op) {
      case 'start': {
        if (m.target.kind !== 'rtp') return send({ op: 'failed', id: m.id, why: 'not an RTP target' });
        pacer.add(m.id, {
          port: m.target.port,
          address: m.target.address,
          payloadType: m.target.payloadType,
          ssrc: (0x10000000 + m.id * 7919) >>> 0,
          file: m.file % encoded.length,
          startMs: performance.now(),
          limit: Infinity,
        });
        send({ op: 'started', id: m.id });
        return;
      }
      case 'stop': {
        // Catch up first: the call ends with every packet due by now.
        pacer.sendDue(performance.now());
        const frames = pacer.stop(m.id);
        if (frames === undefined) return;
        // After the sends just queued have gone out (the soak waits its settle time more before it ends the stream).
        setImmediate(() => send({ op: 'ended', id: m.id, frames, requested: true }));
        return;
      }
      case 'report': {
        const live: Array<[number, number]> = [];
        for (const id of pacer.ids()) live.push([id, pacer.sentBy(id)!]);
        send({ op: 'report', req: m.req, live, lateP99Ms: late.quantile(0.99), lateMaxMs: late.max, sendErrors: pacer.stats.sendErrors });
        late.reset();
        return;
      }
      case 'exit':
        clearTimeout(timer);
        sock.close();
        process.disconnect();
        return;
    }
  });
  // The soak is gone (killed): so is its load.
  process.on('disconnect', () => process.exit(0));
  send({ op: 'ready' });
}

main().catch((err: unknown) => {
  process.stderr.write(`soak rtp-calls: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
