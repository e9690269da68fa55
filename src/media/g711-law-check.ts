/**
 * G711LawCheck: tells whether a G.711 stream's payload is in the law the SDP negotiated. A-law
 * sent to a PCMU stream (or μ-law to PCMA) decodes to noise about 12 dB louder than the speech,
 * and an idle A-law channel decodes as μ-law to a constant (silence after the DC is gone): the
 * detector would score noise or nothing. Both decodings of the first packets with audio are
 * compared: the right law gives the smoother signal (higher lag-1 autocorrelation, speech is
 * low-pass) at about a quarter of the other law's level. Costs nothing once it has decided.
 */
import { ALAW_DECODE, MULAW_DECODE } from './g711.js';

export type G711Law = 'PCMU' | 'PCMA';
export type G711LawVerdict = 'match' | 'mismatch';

/** Packets with audio (not constant) compared before deciding: ~2 s at 20 ms. */
const DEFAULT_PACKETS = 100;
/** The other law must be smoother by this much (lag-1 autocorrelation)... */
const RHO_MARGIN = 0.03;
/** ...and the negotiated decoding this much louder (RMS ratio; the wrong law is ~4x). */
const LEVEL_RATIO = 2;

interface Sums {
  energy: number;
  lag1: number;
}

function accumulate(table: Readonly<Int16Array>, buf: Uint8Array, offset: number, length: number, into: Sums): boolean {
  let sum = 0;
  for (let i = offset; i < offset + length; i++) sum += table[buf[i]!]!;
  const mean = sum / length;
  let energy = 0;
  let lag1 = 0;
  let prev = table[buf[offset]!]! - mean;
  energy += prev * prev;
  for (let i = offset + 1; i < offset + length; i++) {
    const x = table[buf[i]!]! - mean;
    energy += x * x;
    lag1 += x * prev;
    prev = x;
  }
  if (energy === 0) return false;
  into.energy += energy;
  into.lag1 += lag1;
  return true;
}

export class G711LawCheck {
  /** The law the SDP negotiated. */
  readonly law: G711Law;
  readonly #negotiated: Readonly<Int16Array>;
  readonly #other: Readonly<Int16Array>;
  readonly #packets: number;
  readonly #neg: Sums = { energy: 0, lag1: 0 };
  readonly #alt: Sums = { energy: 0, lag1: 0 };
  #seen = 0;
  #verdict: G711LawVerdict | undefined;

  constructor(negotiated: G711Law, packets = DEFAULT_PACKETS) {
    this.law = negotiated;
    this.#negotiated = negotiated === 'PCMU' ? MULAW_DECODE : ALAW_DECODE;
    this.#other = negotiated === 'PCMU' ? ALAW_DECODE : MULAW_DECODE;
    this.#packets = packets;
  }

  get verdict(): G711LawVerdict | undefined {
    return this.#verdict;
  }

  /** One payload; the verdict once decided (then every later call returns it at once). */
  feed(buf: Uint8Array, offset: number, length: number): G711LawVerdict | undefined {
    if (this.#verdict !== undefined || length < 2) return this.#verdict;
    const neg: Sums = { energy: 0, lag1: 0 };
    const alt: Sums = { energy: 0, lag1: 0 };
    // Constant payloads (digital silence in either law) say nothing.
    if (!accumulate(this.#negotiated, buf, offset, length, neg) || !accumulate(this.#other, buf, offset, length, alt)) return undefined;
    this.#neg.energy += neg.energy;
    this.#neg.lag1 += neg.lag1;
    this.#alt.energy += alt.energy;
    this.#alt.lag1 += alt.lag1;
    if (++this.#seen < this.#packets) return undefined;
    const rhoNeg = this.#neg.lag1 / this.#neg.energy;
    const rhoAlt = this.#alt.lag1 / this.#alt.energy;
    const louder = this.#neg.energy > LEVEL_RATIO * LEVEL_RATIO * this.#alt.energy;
    this.#verdict = rhoAlt > rhoNeg + RHO_MARGIN && louder ? 'mismatch' : 'match';
    return this.#verdict;
  }
}
