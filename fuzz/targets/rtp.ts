/**
 * RTP receive path without sockets: the datagrams of one stream through RtpStream (header parse,
 * sequence/timestamp unwrapping, SSRC changes and jump probation, the reorder buffer, decode,
 * AudioStream), with the stale-packet flush a timer would call and the end that flushes what is
 * held; and, for inputs whose first byte has both top bits set, ReorderBuffer alone with arbitrary
 * extended sequence numbers, checking that packets come out in strictly increasing sequence.
 *
 * Input: [setup u8] then records [arrival step ms u8][length u16 BE][datagram]. setup bits 0-2
 * pick the negotiated formats, bits 3-5 the reorder depth. A step of 255 is a stale flush instead.
 * The path never throws for bad input, so no error class is expected.
 */
import { ReorderBuffer } from '../../src/media/reorder-buffer.js';
import { reorderMaxWaitMs, rtpInputRate, RtpStream } from '../../src/media/rtp-stream.js';
import type { PayloadFormat } from '../../src/media/types.js';
import { check, type ErrorClass } from '../engine/target.js';
import { checkingSink, config, descriptor, OUTPUT_RATE, silentLog } from '../support/media.js';

export const expected: readonly ErrorClass[] = [];
export const maxLen = 8192;

const TE: PayloadFormat = { payloadType: 101, encoding: 'telephone-event', clockRate: 8000, channels: 1 };
const CN: PayloadFormat = { payloadType: 13, encoding: 'CN', clockRate: 8000, channels: 1 };
const FORMATS: ReadonlyArray<readonly PayloadFormat[]> = [
  [{ payloadType: 0, encoding: 'PCMU', clockRate: 8000, channels: 1 }, TE, CN],
  [{ payloadType: 8, encoding: 'PCMA', clockRate: 8000, channels: 1 }],
  [{ payloadType: 96, encoding: 'L16', clockRate: 16000, channels: 1 }, { ...TE, clockRate: 16000 }],
  [{ payloadType: 97, encoding: 'L16', clockRate: 8000, channels: 1 }],
  [{ payloadType: 111, encoding: 'opus', clockRate: 48000, channels: 2 }, { ...TE, clockRate: 48000 }],
  [{ payloadType: 0, encoding: 'PCMU', clockRate: 8000, channels: 1 }, { payloadType: 8, encoding: 'PCMA', clockRate: 8000, channels: 1 }],
  [{ payloadType: 96, encoding: 'L16', clockRate: 48000, channels: 1 }],
  [{ payloadType: 0, encoding: 'PCMU', clockRate: 8000, channels: 1 }, { payloadType: 96, encoding: 'L16', clockRate: 16000, channels: 1 }],
];

interface Rec { step: number; packet: Buffer }

function* records(data: Buffer): Generator<Rec> {
  let at = 1;
  while (at + 3 <= data.length) {
    const step = data[at]!;
    const len = Math.min(data.readUInt16BE(at + 1), data.length - at - 3);
    yield { step, packet: data.subarray(at + 3, at + 3 + len) };
    at += 3 + len;
  }
}

function fuzzStream(data: Buffer, setup: number): void {
  const formats = FORMATS[setup & 7]!;
  const depth = (setup >> 3) & 7;
  const stream = new RtpStream({
    descriptor: { ...descriptor('rtp'), transport: 'rtp' },
    formats,
    inputRate: rtpInputRate(formats[0]!, OUTPUT_RATE),
    outputRate: OUTPUT_RATE,
    window: config.window,
    reorderDepthPackets: depth,
    maxSequenceJump: config.media.maxSequenceJump,
    sink: checkingSink,
    log: silentLog,
  });
  let now = 1_000;
  for (const r of records(data)) {
    if (r.step === 255) {
      now += 200;
      stream.flushStale(now, reorderMaxWaitMs(depth));
      continue;
    }
    now += r.step;
    stream.onPacket(r.packet, r.packet.length, now);
  }
  stream.end('bye');
  const c = stream.counters;
  check(c.packetsLost >= 0 && Number.isFinite(c.packetsLost), `packetsLost ${c.packetsLost}`);
}

function fuzzReorder(data: Buffer, setup: number): void {
  const released: number[] = [];
  const buf = new ReorderBuffer(setup & 7, {
    releasePacket: (_b, _o, _l, _pt, _pos, _a, seq) => {
      check(released.length === 0 || seq > released[released.length - 1]!, `released ${seq} after ${released[released.length - 1]}`);
      released.push(seq);
    },
  });
  const payload = new Uint8Array(1);
  for (let at = 1; at + 3 <= data.length; at += 3) {
    const v = data.readUIntBE(at, 3);
    if (v === 0xffffff) buf.flush();
    else buf.insert(v, payload, 0, 1, 0, 0, at);
  }
  buf.flush();
  check(buf.held === 0, `${buf.held} packets still held after flush`);
}

export function fuzz(data: Buffer): void {
  if (data.length === 0) return;
  const setup = data[0]!;
  if ((setup & 0xc0) === 0xc0) fuzzReorder(data, setup);
  else fuzzStream(data, setup);
}
