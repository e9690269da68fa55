/**
 * The soak's calls: `streams` slots, each holding one call at a time — RTP for the first
 * (1 − wsShare) of them, a Twilio WebSocket for the rest. A call lasts a random time in
 * [callMinS, callMaxS] (the first ones less, so that ends are spread out from the start), then
 * ends and, after a pause of up to gapMaxS, the slot starts a new call: long calls with churn.
 *
 * RTP: POST /streams, the RTP load process sends; at the end it stops sending, and after
 * settleMs (the last packets are read) DELETE /streams ends the stream, as a BYE would.
 * WebSocket: the load process connects and sends `start` and media; at the end it sends `stop`
 * and the server closes the socket.
 *
 * Every frame a call sent goes to the WindowLedger, which gives the windows expected.
 */
import { seededRandom } from '../../src/media/seeded-random.js';
import type { CallEvent, LoadProcess } from './load-process.js';
import type { WindowLedger } from './window-ledger.js';

export interface CallDriverOptions {
  streams: number;
  wsShare: number;
  callMinS: number;
  callMaxS: number;
  gapMaxS: number;
  settleMs: number;
  seed: number;
  /** Speech files the load processes loop (calls take them in turn). */
  files: number;
  /** DevoX's HTTP base URL (POST/DELETE /streams) and its Twilio WebSocket URL and token. */
  httpUrl: string;
  wsUrl: string;
  wsToken: string;
}

type Transport = 'rtp' | 'ws';
type CallState = 'opening' | 'live' | 'stopping' | 'ended';

interface Call {
  id: number;
  slot: number;
  transport: Transport;
  state: CallState;
  endAtMs: number;
  streamId?: string;
}

export interface CallCounts {
  started: Record<Transport, number>;
  ended: Record<Transport, number>;
  live: Record<Transport, number>;
  /** Calls that never got going (POST /streams refused, WebSocket upgrade failed), by reason. */
  failed: Record<string, number>;
  /** WebSocket calls the server closed with a code other than 1000 or before `stop`. */
  abnormalCloses: Record<string, number>;
  /** RTP streams already gone at DELETE /streams (ended by the server before the soak did). */
  goneBeforeDelete: number;
}

export class CallDriver {
  readonly #o: CallDriverOptions;
  readonly #ledger: WindowLedger;
  readonly #rtp: LoadProcess;
  readonly #ws: LoadProcess;
  readonly #rand: () => number;
  readonly #calls = new Map<number, Call>();
  /** Per slot: its call, or when its next call may start. */
  readonly #slots: Array<{ call: Call | undefined; nextAtMs: number; first: boolean }>;
  readonly #pending = new Set<Promise<void>>();
  #nextId = 1;
  #accepting = true;
  readonly counts: CallCounts = {
    started: { rtp: 0, ws: 0 },
    ended: { rtp: 0, ws: 0 },
    live: { rtp: 0, ws: 0 },
    failed: {},
    abnormalCloses: {},
    goneBeforeDelete: 0,
  };

  constructor(o: CallDriverOptions, ledger: WindowLedger, load: { rtp: LoadProcess; ws: LoadProcess }, nowMs: number) {
    this.#o = o;
    this.#ledger = ledger;
    this.#rtp = load.rtp;
    this.#ws = load.ws;
    this.#rand = seededRandom(o.seed);
    // Starts spread over the first 5 s, so the server does not see every call open in one burst.
    this.#slots = Array.from({ length: o.streams }, () => ({ call: undefined, nextAtMs: nowMs + this.#rand() * 5000, first: true }));
  }

  /** Handles a load process's call event (wired by the soak to both processes). */
  onCallEvent(e: CallEvent): void {
    const call = this.#calls.get(e.id);
    if (!call) return;
    switch (e.op) {
      case 'started':
        call.state = 'live';
        this.#ledger.begin(call.id);
        this.counts.live[call.transport]++;
        return;
      case 'failed':
        this.#fail(call, `${call.transport}: ${e.why}`);
        return;
      case 'ended':
        if (call.transport === 'ws' && (!e.requested || e.closeCode !== 1000)) {
          const key = `${e.closeCode ?? '?'} ${e.closeReason ?? ''}`.trim();
          this.counts.abnormalCloses[key] = (this.counts.abnormalCloses[key] ?? 0) + 1;
        }
        this.#ledger.end(call.id, e.frames);
        if (call.transport === 'rtp') this.#track(this.#deleteLater(call));
        else this.#finish(call);
        return;
    }
  }

  /** Ends calls whose time is up and starts new ones in free slots. Call often (e.g. every 250 ms). */
  tick(nowMs: number): void {
    for (const [i, slot] of this.#slots.entries()) {
      const c = slot.call;
      if (c?.state === 'live' && nowMs >= c.endAtMs) this.#stop(c);
      if (!slot.call && this.#accepting && nowMs >= slot.nextAtMs) this.#start(i, nowMs, slot.first);
    }
  }

  /** Stops starting calls and ends every call; resolves when all have ended (or after timeoutMs). */
  async stopAll(timeoutMs: number): Promise<boolean> {
    this.#accepting = false;
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      for (const c of this.#calls.values()) if (c.state === 'live') this.#stop(c);
      if (this.#calls.size === 0 && this.#pending.size === 0) return true;
      await new Promise((r) => setTimeout(r, 100));
    }
    return false;
  }

  get liveCalls(): number {
    return this.counts.live.rtp + this.counts.live.ws;
  }

  #start(slotIndex: number, nowMs: number, first: boolean): void {
    const slot = this.#slots[slotIndex]!;
    // The first round(streams × (1 − wsShare)) slots are RTP, the rest WebSocket.
    const transport: Transport = slotIndex >= Math.round(this.#o.streams * (1 - this.#o.wsShare)) ? 'ws' : 'rtp';
    const o = this.#o;
    let lengthS = o.callMinS + this.#rand() * (o.callMaxS - o.callMinS);
    if (first) lengthS *= 0.25 + 0.75 * this.#rand();
    const call: Call = { id: this.#nextId++, slot: slotIndex, transport, state: 'opening', endAtMs: nowMs + lengthS * 1000 };
    slot.call = call;
    slot.first = false;
    this.#calls.set(call.id, call);
    this.counts.started[transport]++;
    const file = call.id % o.files;
    if (transport === 'ws') {
      const callSid = `CAsoak${String(call.id).padStart(8, '0')}`;
      this.#ws.start(call.id, file, { kind: 'ws', url: o.wsUrl, token: o.wsToken, callSid });
      return;
    }
    this.#track(
      this.#open(call).then((opened) => {
        if (!opened) return;
        call.streamId = opened.streamId;
        this.#rtp.start(call.id, file, { kind: 'rtp', address: opened.address, port: opened.port, payloadType: opened.payloadType });
      }),
    );
  }

  async #open(call: Call): Promise<{ streamId: string; address: string; port: number; payloadType: number } | undefined> {
    try {
      const res = await fetch(`${this.#o.httpUrl}/streams`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ codec: 'PCMU', callId: `soak-rtp-${call.id}`, leg: 'caller' }),
      });
      const body = (await res.json()) as { streamId: string; address: string; port: number; payloadType: number; error?: string };
      if (res.status === 201) return body;
      this.#fail(call, `rtp: POST /streams ${res.status} ${body.error ?? ''}`.trim());
    } catch (err) {
      this.#fail(call, `rtp: POST /streams: ${(err as Error).message}`);
    }
    return undefined;
  }

  #stop(call: Call): void {
    call.state = 'stopping';
    (call.transport === 'rtp' ? this.#rtp : this.#ws).stop(call.id);
  }

  /** RTP: the sender has stopped; after settleMs the stream is ended as a BYE would. */
  async #deleteLater(call: Call): Promise<void> {
    await new Promise((r) => setTimeout(r, this.#o.settleMs));
    try {
      const res = await fetch(`${this.#o.httpUrl}/streams?streamId=${encodeURIComponent(call.streamId!)}`, { method: 'DELETE' });
      await res.arrayBuffer();
      if (res.status === 404) this.counts.goneBeforeDelete++;
    } catch {
      this.counts.goneBeforeDelete++;
    }
    this.#finish(call);
  }

  #finish(call: Call): void {
    if (call.state === 'ended') return;
    if (call.state !== 'opening') this.counts.live[call.transport]--;
    call.state = 'ended';
    this.counts.ended[call.transport]++;
    this.#release(call);
  }

  #fail(call: Call, why: string): void {
    this.counts.failed[why] = (this.counts.failed[why] ?? 0) + 1;
    this.#ledger.forget(call.id);
    if (call.state === 'live' || call.state === 'stopping') this.counts.live[call.transport]--;
    call.state = 'ended';
    this.#release(call);
  }

  #release(call: Call): void {
    this.#calls.delete(call.id);
    const slot = this.#slots[call.slot]!;
    if (slot.call === call) {
      slot.call = undefined;
      slot.nextAtMs = performance.now() + this.#rand() * this.#o.gapMaxS * 1000;
    }
  }

  #track(p: Promise<void>): void {
    this.#pending.add(p);
    void p.finally(() => this.#pending.delete(p));
  }
}
