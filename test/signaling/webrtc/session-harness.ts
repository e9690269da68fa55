/**
 * What the WebRtcSession tests share: a canned Chromium offer, a real WebSocket pair on
 * 127.0.0.1, a log that keeps its records, and a stand-in for mediasoup's router (the structural
 * MsRouter of src/signaling/webrtc/types.ts) whose every await can be held at a named step, so a
 * test can close the socket exactly while setup waits on the worker.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import type { MsRtpParameters } from '../../../src/signaling/webrtc/types.js';

export const CHROME_OFFER = [
  'v=0',
  'o=- 4611731400430051336 2 IN IP4 127.0.0.1',
  's=-',
  't=0 0',
  'a=group:BUNDLE 0',
  'a=msid-semantic: WMS',
  'm=audio 9 UDP/TLS/RTP/SAVPF 111 0',
  'c=IN IP4 0.0.0.0',
  'a=rtcp:9 IN IP4 0.0.0.0',
  'a=ice-ufrag:abcd',
  'a=ice-pwd:abcdefghijklmnopqrstuvwx',
  'a=fingerprint:sha-256 AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99',
  'a=setup:actpass',
  'a=mid:0',
  'a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level',
  'a=extmap:9 urn:3gpp:video-orientation',
  'a=sendonly',
  'a=rtcp-mux',
  'a=rtpmap:111 opus/48000/2',
  'a=rtcp-fb:111 transport-cc',
  'a=fmtp:111 minptime=10;useinbandfec=1',
  'a=rtpmap:0 PCMU/8000',
  'a=ssrc:1001 cname:abc',
  '',
].join('\r\n');

export interface WsPair {
  /** DevoX's side (what WebRtcSession gets). */
  server: WebSocket;
  client: WebSocket;
  /** The close code and reason the client saw. */
  clientClosed: Promise<{ code: number; reason: string }>;
  close(): Promise<void>;
}

/** A real WebSocket connection over 127.0.0.1 (client options e.g. `autoPong: false`). */
export async function wsPair(clientOpts: { autoPong?: boolean } = {}): Promise<WsPair> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((r) => wss.once('listening', () => r()));
  const accepted = new Promise<WebSocket>((r) => wss.once('connection', (ws) => r(ws)));
  const client = new WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}/`, clientOpts);
  const clientClosed = new Promise<{ code: number; reason: string }>((r) => client.once('close', (code, reason) => r({ code, reason: reason.toString() })));
  client.on('error', () => {});
  const server = await accepted;
  await new Promise<void>((r) => (client.readyState === client.OPEN ? r() : client.once('open', () => r())));
  return {
    server,
    client,
    clientClosed,
    close: async () => {
      client.terminate();
      server.terminate();
      await new Promise<void>((r) => wss.close(() => r()));
    },
  };
}

/** A pino logger whose records the test can read. */
export type SetupStep = 'createWebRtcTransport' | 'connect' | 'produce' | 'createDirectTransport' | 'consume';

class FakeClosable extends EventEmitter {
  readonly id = randomUUID();
  closed = false;
  constructor(readonly kindOf: string) {
    super();
  }
  close(): void {
    this.closed = true;
  }
}

/**
 * mediasoup's router as far as WebRtcSession uses it. Like the worker, a step on a closed parent
 * rejects (produce on a closed transport, consume of a closed producer); createDirectTransport
 * does not (the router lives on), which is how the leak of defect 2 happened.
 */
export class FakeRouter extends FakeClosable {
  readonly rtpCapabilities = { codecs: [{ kind: 'audio' as const, mimeType: 'audio/opus', preferredPayloadType: 100, clockRate: 48000, channels: 2 }] };
  /** Everything created, in order. */
  readonly created: FakeClosable[] = [];
  transport: (FakeClosable & { iceState: string; dtlsState: string }) | undefined;
  consumer: FakeClosable | undefined;
  #hold: SetupStep | undefined;
  #release: (() => void) | undefined;
  #reached: (() => void) | undefined;

  constructor() {
    super('router');
  }

  /** The next call of `step` waits for release(); the returned promise settles when it is reached. */
  hold(step: SetupStep): Promise<void> {
    this.#hold = step;
    return new Promise((r) => (this.#reached = r));
  }

  release(): void {
    this.#release?.();
  }

  async #step(step: SetupStep): Promise<void> {
    if (this.#hold !== step) return;
    this.#hold = undefined;
    const gate = new Promise<void>((r) => (this.#release = r));
    this.#reached?.();
    await gate;
  }

  #make<T extends FakeClosable>(o: T): T {
    this.created.push(o);
    return o;
  }

  async createWebRtcTransport(): Promise<never> {
    await this.#step('createWebRtcTransport');
    const router = this;
    const t = this.#make(
      Object.assign(new FakeClosable('webrtc-transport'), {
        iceState: 'new',
        dtlsState: 'new',
        iceParameters: { usernameFragment: randomBytes(8).toString('hex'), password: randomBytes(16).toString('hex'), iceLite: true },
        iceCandidates: [{ foundation: 'udpcandidate', priority: 1076302079, address: '127.0.0.1', protocol: 'udp', port: 50123, type: 'host' }],
        dtlsParameters: { role: 'auto', fingerprints: [{ algorithm: 'sha-256', value: 'AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99' }] },
        async connect(): Promise<void> {
          await router.#step('connect');
          if (t.closed) throw new Error('transport closed');
        },
        async produce(): Promise<FakeClosable> {
          await router.#step('produce');
          if (t.closed) throw new Error('transport closed');
          return router.#make(new FakeClosable('producer'));
        },
      }),
    );
    this.transport = t;
    return t as never;
  }

  async createDirectTransport(): Promise<never> {
    await this.#step('createDirectTransport');
    const router = this;
    const d = this.#make(
      Object.assign(new FakeClosable('direct-transport'), {
        async consume(p: { producerId: string }): Promise<FakeClosable> {
          await router.#step('consume');
          const producer = router.created.find((o) => o.id === p.producerId);
          if (!producer || producer.closed) throw new Error(`Producer with id "${p.producerId}" not found`);
          if (d.closed) throw new Error('transport closed');
          const rtpParameters: MsRtpParameters = { codecs: [{ mimeType: 'audio/opus', payloadType: 100, clockRate: 48000, channels: 2 }] };
          const c = router.#make(Object.assign(new FakeClosable('consumer'), { rtpParameters, resume: async () => {} }));
          router.consumer = c;
          return c;
        },
      }),
    );
    return d as never;
  }
}
