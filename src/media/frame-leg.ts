/**
 * A stream fed decoded frames rather than RTP packets — one leg (track / channel) of a WebSocket
 * call: places the frames into an AudioStream at their media position and polices real-time
 * pacing (PacingError: the transport closes with its own code). Two ways in:
 *  - writeTimed: frames carrying a media timestamp (ms) and a chunk number (Twilio, Telnyx),
 *    placed by timestamp as RTP is by its timestamp. AudioStream drops anything behind its write
 *    head, so frames ahead of a gap are held (up to websocket.reorderFrames of them, in
 *    preallocated slots) until the missing frame arrives or the hold is full; then the gap
 *    becomes loss. Telnyx documents that frames can arrive out of order.
 *  - append: frames with no position of their own (audio_fork, jambonz), placed end to end.
 */
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import { AudioStream, windowOptions } from './audio-stream.js';
import { PacingError } from './errors.js';
import type { AudioTaps } from './audio-tap.js';
import type { FrameStream, StreamCounters, StreamDescriptor, StreamEndReason, WindowSink } from './types.js';

export interface FrameLegOptions {
  descriptor: StreamDescriptor;
  inputRate: number;
  outputRate: number;
  window: Config['window'];
  sink: WindowSink;
  /** How far media time may run ahead of wall-clock time (ms). */
  realtimeSlackMs: number;
  /**
   * Wall clock (ms) the pacing check counts from at the latest: when the connection was accepted.
   * Arrival times are when DevoX processed a frame; if DevoX itself stalls as a leg starts, the
   * frames buffered meanwhile arrive together and would look like a burst. Counting from the
   * accept time forgives that (and at most one start-up's worth of burst from a client).
   */
  wallAnchorMs: number;
  /** Frames held to undo reordering (0: none). */
  reorderFrames: number;
  /** Largest frame in samples (sizes the reorder slots). */
  maxFrameSamples: number;
  log?: Logger;
  /** Called once when the leg ends (e.g. gives its capacity slot back). */
  onEnd?: () => void;
  /** Where the leg's audio can be tapped (listen-in). */
  taps?: AudioTaps;
}

/**
 * A frame whose timestamp puts it within this much of the end of the latest frame is placed
 * end to end with it: timestamps are whole ms (and may jitter by one), 20 ms of 8 kHz audio is
 * exact but e.g. 44.1 kHz is not, and a 1-sample gap or overlap must not count as loss.
 * Chunk numbers are not relied on for this (vendors differ on whether they count per track).
 */
const SNAP_MS = 2;

interface HeldFrame {
  pcm: Int16Array;
  count: number;
  pos: number;
  timestampMs: number;
  arrivalMs: number;
  used: boolean;
}

export class FrameLeg implements FrameStream {
  readonly descriptor: StreamDescriptor;
  readonly inputRate: number;
  readonly #stream: AudioStream;
  readonly #slackMs: number;
  readonly #samplesPerMs: number;
  readonly #snapSamples: number;
  readonly #held: HeldFrame[];
  #heldCount = 0;
  /** Timestamp (ms) of the leg's first frame: media position 0 (NaN until known). */
  #originMs = Number.NaN;
  #firstArrivalMs = -1;
  readonly #wallAnchorMs: number;
  /** Start and end (media positions) of the latest frame placed so far. */
  #lastStart = -1;
  #lastEnd = 0;
  /** Position where the next appended frame starts. */
  #appendPos = 0;
  /** Frames timed before the leg's first frame (cannot be placed; dropped). */
  #early = 0;
  /** Frames that were held for reordering. */
  #reordered = 0;
  #ended = false;
  readonly #onEnd: (() => void) | undefined;

  constructor(opts: FrameLegOptions) {
    this.#onEnd = opts.onEnd;
    this.descriptor = opts.descriptor;
    this.inputRate = opts.inputRate;
    this.#slackMs = opts.realtimeSlackMs;
    this.#wallAnchorMs = opts.wallAnchorMs;
    this.#samplesPerMs = opts.inputRate / 1000;
    this.#snapSamples = Math.ceil(SNAP_MS * this.#samplesPerMs);
    this.#held = [];
    for (let i = 0; i < opts.reorderFrames; i++) {
      this.#held.push({ pcm: new Int16Array(opts.maxFrameSamples), count: 0, pos: 0, timestampMs: 0, arrivalMs: 0, used: false });
    }
    this.#stream = new AudioStream({
      descriptor: opts.descriptor,
      inputRate: opts.inputRate,
      outputRate: opts.outputRate,
      ...windowOptions(opts.window),
      sink: opts.sink,
      ...(opts.log ? { log: opts.log } : {}),
      ...(opts.taps ? { taps: opts.taps } : {}),
    });
  }

  get counters(): Readonly<StreamCounters> {
    return this.#stream.counters;
  }

  /** Frames that were timed before the leg's first frame and had to be dropped. */
  get earlyFrames(): number {
    return this.#early;
  }

  /** Frames that arrived ahead of a gap and were held until it filled (or the hold ran out). */
  get reorderedFrames(): number {
    return this.#reordered;
  }

  /**
   * Place a frame stamped with `timestampMs` (media time of its first sample) and `chunk`
   * (1, 2, 3... per track; -1 when the protocol has none).
   * @returns false when the frame lies before the leg's origin and was dropped.
   */
  writeTimed(pcm: Int16Array, count: number, timestampMs: number, chunk: number, arrivalMs: number): boolean {
    if (this.#ended) return true;
    if (Number.isNaN(this.#originMs)) {
      // The leg starts at its first frame. Chunks count from 1, so a first arrival with a
      // higher chunk means earlier frames may still come: hold frames until chunk 1 shows up
      // or the hold is full, then start at the earliest timestamp seen.
      if (chunk > 1 && this.#heldCount < this.#held.length) {
        this.#hold(pcm, count, -1, timestampMs, arrivalMs);
        if (this.#heldCount === this.#held.length) this.#fixOrigin(Infinity, Infinity);
        return true;
      }
      this.#fixOrigin(timestampMs, arrivalMs);
    }
    let pos = Math.round((timestampMs - this.#originMs) * this.#samplesPerMs);
    if (pos < 0) {
      this.#early++;
      return false;
    }
    if (Math.abs(pos - this.#lastEnd) <= this.#snapSamples) pos = this.#lastEnd;
    this.#checkPace(pos, arrivalMs);
    if (pos > this.#lastStart) {
      this.#lastStart = pos;
      this.#lastEnd = pos + count;
    }
    this.#stream.counters.packetsReceived++;
    const next = this.#stream.writePosition;
    if (pos <= next || this.#held.length === 0) {
      // In order (or late: AudioStream counts it). Anything held may now be contiguous.
      this.#stream.write(pcm, 0, count, pos, arrivalMs);
      if (this.#heldCount > 0) this.#drainHeld(false);
      return true;
    }
    // Ahead of a gap: hold it; when the hold is full, give up on the oldest gap.
    if (this.#heldCount === this.#held.length) this.#releaseEarliest();
    this.#hold(pcm, count, pos, timestampMs, arrivalMs);
    this.#drainHeld(false);
    return true;
  }

  /** Copies a frame into a free hold slot (pos -1: not known until the origin is). */
  #hold(pcm: Int16Array, count: number, pos: number, timestampMs: number, arrivalMs: number): void {
    let slot = this.#held[0]!;
    for (const h of this.#held) if (!h.used) slot = h;
    const dst = slot.pcm;
    for (let i = 0; i < count; i++) dst[i] = pcm[i]!;
    slot.count = count;
    slot.pos = pos;
    slot.timestampMs = timestampMs;
    slot.arrivalMs = arrivalMs;
    slot.used = true;
    this.#heldCount++;
    this.#reordered++;
  }

  /** Media position 0 is the earliest of `timestampMs` and the frames held so far. */
  #fixOrigin(timestampMs: number, arrivalMs: number): void {
    let origin = timestampMs;
    let first = arrivalMs;
    for (const h of this.#held) {
      if (!h.used) continue;
      if (h.timestampMs < origin) origin = h.timestampMs;
      if (h.arrivalMs < first) first = h.arrivalMs;
    }
    this.#originMs = origin;
    this.#firstArrivalMs = Math.min(first, this.#wallAnchorMs);
    for (const h of this.#held) {
      if (!h.used) continue;
      h.pos = Math.round((h.timestampMs - origin) * this.#samplesPerMs);
      this.#stream.counters.packetsReceived++;
      if (h.pos > this.#lastStart) {
        this.#lastStart = h.pos;
        this.#lastEnd = h.pos + h.count;
      }
    }
    if (this.#heldCount > 0) this.#drainHeld(false);
  }

  /** Writes held frames that are now contiguous with the write head (all of them when `all`). */
  #drainHeld(all: boolean): void {
    while (this.#heldCount > 0) {
      const next = this.#stream.writePosition;
      let best: HeldFrame | undefined;
      for (const h of this.#held) if (h.used && (best === undefined || h.pos < best.pos)) best = h;
      if (best === undefined || (!all && best.pos > next)) return;
      this.#writeHeld(best);
    }
  }

  #releaseEarliest(): void {
    let best: HeldFrame | undefined;
    for (const h of this.#held) if (h.used && (best === undefined || h.pos < best.pos)) best = h;
    if (best !== undefined) this.#writeHeld(best);
  }

  #writeHeld(h: HeldFrame): void {
    h.used = false;
    this.#heldCount--;
    this.#stream.write(h.pcm, 0, h.count, h.pos, h.arrivalMs);
  }

  /** Place `count` samples of `pcm` (from `offset`) right after the previous appended frame. */
  append(pcm: Int16Array, offset: number, count: number, arrivalMs: number): void {
    if (this.#ended) return;
    if (this.#firstArrivalMs < 0) this.#firstArrivalMs = Math.min(arrivalMs, this.#wallAnchorMs);
    const pos = this.#appendPos;
    this.#checkPace(pos, arrivalMs);
    this.#appendPos = pos + count;
    this.#stream.counters.packetsReceived++;
    this.#stream.write(pcm, offset, count, pos, arrivalMs);
  }

  /** Media (by the frame's start) may not run ahead of the wall clock by more than the slack. */
  #checkPace(pos: number, arrivalMs: number): void {
    const aheadMs = pos / this.#samplesPerMs - (arrivalMs - this.#firstArrivalMs);
    if (aheadMs > this.#slackMs) {
      throw new PacingError(aheadMs, this.#slackMs);
    }
  }

  /**
   * Idempotent. Frames still held are written first (in order, gaps as loss) unless the leg
   * ends on an error: then nothing more of the offending client's audio is used.
   */
  end(reason: StreamEndReason): void {
    if (this.#ended) return;
    if (reason !== 'error') {
      if (Number.isNaN(this.#originMs) && this.#heldCount > 0) this.#fixOrigin(Infinity, Infinity);
      this.#drainHeld(true);
    }
    this.#ended = true;
    try {
      this.#stream.end(reason);
    } finally {
      this.#onEnd?.();
    }
  }
}
