/**
 * libFuzzer-style mutators over byte strings: erase / insert / repeat bytes, change a byte or a
 * bit, set interesting 8/16/32-bit values, add or subtract on a binary integer field, rewrite an
 * ASCII integer, copy a part of the input onto itself, splice with another corpus entry, and
 * insert or overwrite dictionary tokens. 1 to 5 mutations are stacked per input; the length is
 * capped at maxLen. Deterministic for a given seed (xorshift32), so a run can be repeated.
 */

export class Rng {
  #s: number;
  constructor(seed: number) {
    this.#s = (seed >>> 0) || 0x9e3779b9;
  }
  /** Uniform 32-bit unsigned. */
  next(): number {
    let x = this.#s;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.#s = x >>> 0;
    return this.#s;
  }
  /** Uniform in [0, n) (n >= 1). */
  below(n: number): number {
    return n <= 1 ? 0 : this.next() % n;
  }
}

const INTERESTING_8 = [0, 1, 2, 0x7f, 0x80, 0xff, 0x0a, 0x0d, 0x20, 0x22, 0x2c, 0x2d, 0x30, 0x39, 0x3a, 0x3d, 0x3c, 0x3e, 0x5b, 0x5d, 0x7b, 0x7d, 0x5c];
const INTERESTING_16 = [0, 1, 0x7f, 0x80, 0xff, 0x100, 0x3e8, 0x7fff, 0x8000, 0xfffe, 0xffff];
const INTERESTING_32 = [0, 1, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff, 0x10000, 0xffff];
const ASCII_NUMBERS = ['0', '-1', '1', '-0', '1e309', '9007199254740993', '4294967296', '65536', '65535', '32768', '2147483648', '0.5', 'NaN', '99999999999999999999'];

/** Tokens of the seeds worth trying elsewhere: words, quoted strings, key=value heads. */
export function dictionaryFrom(seeds: readonly Uint8Array[], extra: readonly string[] = [], max = 1000): Uint8Array[] {
  const out = new Set<string>(extra);
  for (const seed of seeds) {
    const text = Buffer.from(seed).toString('latin1');
    for (const m of text.matchAll(/"[^"\r\n]{1,40}"\s*:?|<\/?[A-Za-z][\w:.-]{0,30}|[a-z]=[\w.-]{0,20}|[A-Za-z_][\w.:+/-]{1,31}/g)) {
      if (out.size >= max) break;
      out.add(m[0]);
    }
  }
  return [...out].map((t) => Buffer.from(t, 'latin1'));
}

export class Mutator {
  readonly #rng: Rng;
  readonly #maxLen: number;
  readonly #dict: readonly Uint8Array[];
  /** Working buffer, twice maxLen so inserts never run out of room before the final cap. */
  readonly #buf: Uint8Array;
  #len = 0;

  constructor(rng: Rng, maxLen: number, dict: readonly Uint8Array[]) {
    this.#rng = rng;
    this.#maxLen = maxLen;
    this.#dict = dict;
    this.#buf = new Uint8Array(maxLen * 2 + 64);
  }

  /** A mutated copy of `base` (other corpus entries may be spliced in). */
  mutate(base: Uint8Array, corpus: readonly Uint8Array[]): Buffer {
    const r = this.#rng;
    this.#len = Math.min(base.length, this.#maxLen);
    this.#buf.set(base.subarray(0, this.#len));
    const depth = 1 + r.below(5);
    for (let i = 0; i < depth; i++) this.#one(corpus);
    return Buffer.from(this.#buf.subarray(0, Math.min(this.#len, this.#maxLen)));
  }

  #one(corpus: readonly Uint8Array[]): void {
    const r = this.#rng;
    const b = this.#buf;
    const len = this.#len;
    const room = this.#buf.length - len;
    switch (r.below(16)) {
      case 0: // erase bytes
        if (len > 0) this.#erase(r.below(len), 1 + r.below(Math.min(len, 16)));
        break;
      case 1: // insert one byte
        if (room > 0) this.#insert(r.below(len + 1), Uint8Array.of(r.below(256)));
        break;
      case 2: { // insert a repeated byte
        const n = 1 + r.below(Math.min(64, Math.max(1, room)));
        if (room >= n) this.#insert(r.below(len + 1), new Uint8Array(n).fill(r.below(2) ? r.below(256) : INTERESTING_8[r.below(INTERESTING_8.length)]!));
        break;
      }
      case 3: // change a byte
        if (len > 0) b[r.below(len)] = r.below(256);
        break;
      case 4: // flip a bit
        if (len > 0) b[r.below(len)]! ^= 1 << r.below(8);
        break;
      case 5: // interesting byte
        if (len > 0) b[r.below(len)] = INTERESTING_8[r.below(INTERESTING_8.length)]!;
        break;
      case 6: // interesting 16/32-bit value, either byte order
        this.#writeInt(r.below(2) ? INTERESTING_16[r.below(INTERESTING_16.length)]! : INTERESTING_32[r.below(INTERESTING_32.length)]!, r.below(2) ? 2 : 4);
        break;
      case 7: { // add / subtract on a 1, 2 or 4 byte field
        const size = [1, 2, 4][r.below(3)]!;
        if (len < size) break;
        const at = r.below(len - size + 1);
        const be = r.below(2) === 0;
        let v = 0;
        for (let i = 0; i < size; i++) v = v * 256 + b[at + (be ? i : size - 1 - i)]!;
        v += (r.below(2) ? 1 : -1) * (1 + r.below(35));
        for (let i = size - 1; i >= 0; i--) {
          b[at + (be ? i : size - 1 - i)] = v & 0xff;
          v = Math.floor(v / 256);
        }
        break;
      }
      case 8: // rewrite an ASCII integer
        this.#asciiInt();
        break;
      case 9: // copy a part of the input onto (or into) itself
        if (len > 1) {
          const from = r.below(len);
          const n = 1 + r.below(Math.min(len - from, 64));
          if (r.below(2) && room >= n) this.#insert(r.below(len + 1), b.slice(from, from + n));
          else b.copyWithin(r.below(len - n + 1), from, from + n);
        }
        break;
      case 10:
      case 11: { // splice with another corpus entry
        const other = corpus[r.below(corpus.length)];
        if (!other || other.length === 0) break;
        const from = r.below(other.length);
        const n = 1 + r.below(Math.min(other.length - from, 128));
        const chunk = other.subarray(from, from + n);
        if (r.below(2) && room >= n) this.#insert(r.below(len + 1), chunk);
        else if (len >= n) b.set(chunk, r.below(len - n + 1));
        else { // take the other's head and our tail
          this.#len = 0;
          this.#insert(0, other.subarray(0, Math.min(other.length, this.#maxLen)));
        }
        break;
      }
      case 12:
      case 13:
      case 14: { // dictionary token: insert or overwrite
        const tok = this.#dict[r.below(this.#dict.length)];
        if (!tok) break;
        if ((r.below(2) || len < tok.length) && room >= tok.length) this.#insert(r.below(len + 1), tok);
        else if (len >= tok.length) b.set(tok, r.below(len - tok.length + 1));
        break;
      }
      case 15: { // shuffle a few bytes
        if (len < 2) break;
        const n = Math.min(len, 2 + r.below(7));
        const at = r.below(len - n + 1);
        for (let i = n - 1; i > 0; i--) {
          const j = r.below(i + 1);
          const t = b[at + i]!;
          b[at + i] = b[at + j]!;
          b[at + j] = t;
        }
        break;
      }
    }
  }

  #erase(at: number, n: number): void {
    const b = this.#buf;
    n = Math.min(n, this.#len - at);
    b.copyWithin(at, at + n, this.#len);
    this.#len -= n;
  }

  #insert(at: number, bytes: Uint8Array): void {
    const b = this.#buf;
    const n = Math.min(bytes.length, b.length - this.#len);
    b.copyWithin(at + n, at, this.#len);
    b.set(bytes.subarray(0, n), at);
    this.#len += n;
  }

  #writeInt(v: number, size: number): void {
    if (this.#len < size) return;
    const at = this.#rng.below(this.#len - size + 1);
    const be = this.#rng.below(2) === 0;
    for (let i = 0; i < size; i++) {
      const byte = Math.floor(v / 2 ** (8 * (size - 1 - i))) & 0xff;
      this.#buf[at + (be ? i : size - 1 - i)] = byte;
    }
  }

  #asciiInt(): void {
    const b = this.#buf;
    const len = this.#len;
    if (len === 0) return;
    // Find a run of digits at or after a random point.
    let at = this.#rng.below(len);
    while (at < len && (b[at]! < 0x30 || b[at]! > 0x39)) at++;
    if (at === len) return;
    let end = at;
    while (end < len && b[end]! >= 0x30 && b[end]! <= 0x39) end++;
    const old = Number(Buffer.from(b.subarray(at, end)).toString('latin1'));
    const r = this.#rng;
    let repl: string;
    switch (r.below(5)) {
      case 0: repl = String(old + 1); break;
      case 1: repl = String(Math.max(0, old - 1)); break;
      case 2: repl = String(old * 2); break;
      case 3: repl = String(r.next()); break;
      default: repl = ASCII_NUMBERS[r.below(ASCII_NUMBERS.length)]!;
    }
    this.#erase(at, end - at);
    this.#insert(at, Buffer.from(repl, 'latin1'));
  }
}
