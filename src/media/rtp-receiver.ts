/**
 * Per-stream RTP receive logic, independent of sockets: parse -> sequence/timestamp
 * unwrapping -> jitter -> reorder -> decode -> AudioStream at the packet's media position.
 *
 * Media position of a packet = its extended RTP timestamp relative to the first packet
 * of the current segment, plus where that segment started in the AudioStream. A new
 * segment starts on an SSRC change or a confirmed jump far ahead/behind in sequence or
 * time (the RFC 3550 A.1 probation idea: one far packet is held as suspect, the next
 * consecutive one confirms); media time then continues without a fabricated gap.
 */
import type { Logger } from '../logger.js';
import type { AudioStream } from './audio-stream.js';
import { G711LawCheck } from './g711-law-check.js';
import { createDecoder, MAX_DECODED_SAMPLES, OPUS_DECODE_RATES, type AudioDecoder } from './codecs.js';
import { newRtpHeader, parseRtpPacket, seqDelta, tsDelta, type RtpHeader } from './rtp-packet.js';
import { ReorderBuffer, type ReorderTarget } from './reorder-buffer.js';
import type { PayloadFormat, RtpExtraCounters, StreamCounters } from './types.js';

export type { RtpExtraCounters } from './types.js';

export interface RtpReceiverOptions {
  audio: AudioStream;
  formats: readonly PayloadFormat[];
  reorderDepthPackets: number;
  maxSequenceJump: number;
  /**
   * Decode scratch (>= MAX_DECODED_SAMPLES) shared by the streams of one MediaSessions:
   * decode -> write is synchronous, so one buffer serves all and saves ~11 KiB per stream.
   */
  scratch?: Int16Array;
  /** Largest timestamp jump (seconds) still treated as loss; defaults to 10. */
  maxTimestampJumpSec?: number;
  log?: Logger;
}

type PtKind = 0 | 1 | 2 | 3; // none | audio | telephone-event | CN
const KIND_NONE = 0;
const KIND_AUDIO = 1;
const KIND_DTMF = 2;
const KIND_CN = 3;
/**
 * A packet of the previous SSRC that arrives within this many packets after an SSRC change,
 * at most this many sequence numbers before (or at) the highest one seen of it, is a straggler
 * reordered across the switch: late, dropped (its media time now belongs to the new SSRC).
 * One just after that highest number is a straggler only while no more packets have arrived
 * since the change than the reorder buffer holds (it was overtaken by the first new ones).
 * Anything else from the previous SSRC, e.g. its sequence continuing later, is the sender
 * switching back: a new segment.
 */
const STRAGGLER_WINDOW = 64;

export class RtpReceiver implements ReorderTarget {
  readonly counters: StreamCounters;
  readonly extra: RtpExtraCounters = {
    telephoneEvents: 0, comfortNoise: 0, sequenceJumps: 0, lateRecovered: 0,
  };
  readonly #audio: AudioStream;
  readonly #log: Logger | undefined;
  readonly #hdr: RtpHeader = newRtpHeader();
  readonly #kind = new Uint8Array(128);
  readonly #decoders: Array<AudioDecoder | undefined> = new Array(128);
  /** RTP clock of the stream's audio (timestamps, jitter). */
  readonly #clockRate: number;
  /** AudioStream input samples per RTP timestamp unit (1, or e.g. 1/3 for Opus decoded at 16 kHz). */
  readonly #posScale: number;
  readonly #reorder: ReorderBuffer;
  readonly #pcm: Int16Array;
  readonly #maxSeqJump: number;
  readonly #maxTsJump: number;
  readonly #reorderDepth: number;
  readonly #logged = new Set<string>();
  /** Per G.711 payload type: is the payload in the negotiated law (until each has decided). */
  readonly #lawChecks = new Map<number, G711LawCheck>();

  #ssrc = -1;
  /** The SSRC before the last change (-1: none) and the highest 16-bit sequence it reached. */
  #retiredSsrc = -1;
  #retiredMaxSeq16 = 0;
  /** Packets accepted since the last SSRC change. */
  #sinceSsrcChange = 0;
  /** Old-SSRC packets past #retiredMaxSeq16 dropped as stragglers since the last change. */
  #aheadStragglers = 0;
  /** Highest 16-bit sequence seen in this segment and its extended value. */
  #maxSeq16 = 0;
  #maxExt = 0;
  /** Timestamp (32-bit) of the highest-sequence packet and its extended value relative to the segment. */
  #maxTs32 = 0;
  #maxTsRel = 0;
  /** AudioStream input position where this segment's relative timestamp 0 sits. */
  #segmentBase = 0;
  /** Suspected jump: the sequence number that would confirm it (or -1). */
  #probeSeq = -1;
  #lastTransit = Number.NaN;
  #jitter = 0;
  /** After comfort noise / DTMF, the next gap is known silence, not loss. */
  #silent = false;
  /** Extended sequence number of the last packet released in order (-1: none yet). */
  #prevSeq = -1;
  #lostReported = 0;
  #closed = false;

  constructor(opts: RtpReceiverOptions) {
    this.#audio = opts.audio;
    this.counters = opts.audio.counters;
    this.#log = opts.log;
    const inputRate = opts.audio.inputRate;
    const first = opts.formats.find((f) => f.encoding !== 'telephone-event' && f.encoding !== 'CN');
    this.#clockRate = first?.clockRate ?? inputRate;
    this.#posScale = inputRate / this.#clockRate;
    this.#pcm = opts.scratch && opts.scratch.length >= MAX_DECODED_SAMPLES ? opts.scratch : new Int16Array(MAX_DECODED_SAMPLES);
    this.#maxSeqJump = opts.maxSequenceJump;
    this.#reorderDepth = opts.reorderDepthPackets;
    this.#maxTsJump = Math.round((opts.maxTimestampJumpSec ?? 10) * this.#clockRate);
    this.#reorder = new ReorderBuffer(opts.reorderDepthPackets, this);
    for (const f of opts.formats) {
      if (f.payloadType < 0 || f.payloadType > 127) continue;
      if (f.encoding === 'telephone-event') this.#kind[f.payloadType] = KIND_DTMF;
      else if (f.encoding === 'CN') this.#kind[f.payloadType] = KIND_CN;
      else if (f.clockRate !== this.#clockRate) {
        // One stream, one RTP clock: a second audio codec at another clock rate is not decoded.
        this.#logOnce('payload_rate_mismatch', { payloadType: f.payloadType, clockRate: f.clockRate }, 'payload type ignored: clock rate differs from the stream');
      } else if (f.clockRate === inputRate) {
        this.#decoders[f.payloadType] = createDecoder(f);
        this.#kind[f.payloadType] = KIND_AUDIO;
        if (f.encoding === 'PCMU' || f.encoding === 'PCMA') this.#lawChecks.set(f.payloadType, new G711LawCheck(f.encoding));
      } else if (f.encoding === 'opus' && OPUS_DECODE_RATES.includes(inputRate)) {
        // Opus straight to the stream's input rate (e.g. 16 kHz): libopus band-limits, no resampling.
        this.#decoders[f.payloadType] = createDecoder(f, { sampleRate: inputRate });
        this.#kind[f.payloadType] = KIND_AUDIO;
      } else {
        this.#logOnce('payload_rate_mismatch', { payloadType: f.payloadType, clockRate: f.clockRate, inputRate }, 'payload type ignored: cannot decode at the stream input rate');
      }
    }
  }

  /**
   * A re-offer kept the audio payload type but renumbered telephone-event / CN: only their
   * entries change (the audio decoders stay). Audio formats in `formats` are ignored here.
   */
  updateSignalFormats(formats: readonly PayloadFormat[]): void {
    const kind = this.#kind;
    for (let pt = 0; pt < 128; pt++) if (kind[pt] === KIND_DTMF || kind[pt] === KIND_CN) kind[pt] = KIND_NONE;
    for (const f of formats) {
      if (f.payloadType < 0 || f.payloadType > 127 || kind[f.payloadType] === KIND_AUDIO) continue;
      if (f.encoding === 'telephone-event') kind[f.payloadType] = KIND_DTMF;
      else if (f.encoding === 'CN') kind[f.payloadType] = KIND_CN;
    }
  }

  /** One datagram from the stream's source. Never throws for bad input. */
  onPacket(buf: Uint8Array, length: number, arrivalMs: number): void {
    if (this.#closed) return;
    const c = this.counters;
    c.bytesReceived += length;
    const h = this.#hdr;
    const err = parseRtpPacket(buf, length, h);
    if (err !== null) {
      if (err === 'rtcp_on_rtp_port') {
        c.packetsRtcp++;
        return;
      }
      c.packetsMalformed++;
      this.#logOnce(err, { length }, 'malformed RTP packet dropped');
      return;
    }
    const kind = this.#kind[h.payloadType] as PtKind;
    if (kind === KIND_NONE) {
      c.packetsUnknownPayload++;
      this.#logOnce('unknown_payload_type', { payloadType: h.payloadType }, 'RTP packet with an unnegotiated payload type dropped');
      return;
    }
    if (this.#ssrc === -1) {
      this.#ssrc = h.ssrc;
      this.#startSegment(h);
    } else if (h.ssrc !== this.#ssrc) {
      if (h.ssrc === this.#retiredSsrc && this.#sinceSsrcChange <= STRAGGLER_WINDOW) {
        const d = seqDelta(h.sequence, this.#retiredMaxSeq16);
        const behind = d >= -STRAGGLER_WINDOW && d <= 0;
        // Sent before the change but overtaken by the new SSRC's first packets: at most as many as reorder allows.
        const overtaken = d > 0 && d <= this.#reorderDepth + 1 && this.#sinceSsrcChange + this.#aheadStragglers <= this.#reorderDepth;
        if (behind || overtaken) {
          // Its place in media time now belongs to the new SSRC's segment: late, not a switch back.
          if (overtaken) this.#aheadStragglers++;
          c.packetsReceived++;
          c.packetsLate++;
          this.#logOnce('ssrc_straggler', { ssrc: h.ssrc }, 'RTP packet of the previous SSRC after the change: late, dropped');
          return;
        }
      }
      c.ssrcChanges++;
      this.#logOnce('ssrc_change', { oldSsrc: this.#ssrc, newSsrc: h.ssrc }, 'RTP SSRC changed; continuing as a new segment');
      this.#retiredSsrc = this.#ssrc;
      this.#retiredMaxSeq16 = this.#maxSeq16;
      this.#sinceSsrcChange = 0;
      this.#aheadStragglers = 0;
      this.#ssrc = h.ssrc;
      this.#newSegment(h);
    }

    let d = seqDelta(h.sequence, this.#maxSeq16);
    let dts = tsDelta(h.timestamp, this.#maxTs32);
    if (d > this.#maxSeqJump || d < -this.#maxSeqJump || dts > this.#maxTsJump || dts < -this.#maxTsJump) {
      if (h.sequence !== this.#probeSeq) {
        // Far off: suspect until the next packet continues from it.
        this.#probeSeq = (h.sequence + 1) & 0xffff;
        c.packetsOutOfRange++;
        this.#logOnce('sequence_jump', { sequence: h.sequence, seqDelta: d, tsDelta: dts }, 'RTP packet far off in sequence/time held as suspect');
        return;
      }
      this.extra.sequenceJumps++;
      this.#newSegment(h);
      d = 0;
      dts = 0;
    }
    this.#probeSeq = -1;
    c.packetsReceived++;
    if (this.#sinceSsrcChange <= STRAGGLER_WINDOW) this.#sinceSsrcChange++;
    const ext = this.#maxExt + d;
    const tsRel = this.#maxTsRel + dts;
    if (d > 0) {
      this.#maxSeq16 = h.sequence;
      this.#maxExt = ext;
      this.#maxTs32 = h.timestamp;
      this.#maxTsRel = tsRel;
    }
    if (kind !== KIND_DTMF) this.#updateJitter(arrivalMs, tsRel);
    const pos = this.#segmentBase + (this.#posScale === 1 ? tsRel : Math.round(tsRel * this.#posScale));
    const r = this.#reorder.insert(ext, buf, h.payloadOffset, h.payloadLength, h.payloadType, pos, arrivalMs);
    if (r === 'duplicate') c.packetsDuplicate++;
    else if (r === 'late') this.#late(buf, h.payloadOffset, h.payloadLength, h.payloadType, pos);
    this.#syncLost();
  }

  /** Release held packets whose wait exceeded maxWaitMs (called from a timer). */
  flushStale(now: number, maxWaitMs: number): void {
    if (this.#reorder.held > 0 && now - this.#reorder.oldestArrivalMs() > maxWaitMs) {
      this.#reorder.flush();
      this.#syncLost();
    }
  }

  /** Releases everything held; closes decoders. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#reorder.flush();
    this.#syncLost();
    this.#closed = true;
    for (const d of this.#decoders) d?.close();
  }

  releasePacket(buf: Uint8Array, offset: number, length: number, payloadType: number, pos: number, arrivalMs: number, seq: number): void {
    // No sequence number missing before this packet: a timestamp gap is silence the sender
    // suppressed without comfort noise (Opus DTX, G.711 VAD), not loss.
    const contiguous = seq === this.#prevSeq + 1;
    this.#prevSeq = seq;
    const kind = this.#kind[payloadType];
    if (kind === KIND_DTMF) {
      this.extra.telephoneEvents++;
      this.#silent = true;
      return;
    }
    if (kind === KIND_CN) {
      this.extra.comfortNoise++;
      this.#silent = true;
      return;
    }
    if (this.#lawChecks.size > 0) this.#checkLaw(buf, offset, length, payloadType);
    const dec = this.#decoders[payloadType]!;
    let n: number;
    try {
      n = dec.decodeRange(buf, offset, length, this.#pcm);
    } catch (err) {
      // Counted as received already: undecodable is a part of it, not a second counter.
      this.counters.packetsUndecodable++;
      this.#prevSeq = -1; // its span is missing audio: the next gap is not known silence
      this.#logOnce('decode_error', { payloadType, err }, 'RTP payload could not be decoded');
      return;
    }
    // The marker bit opens a talkspurt after silence (RFC 3551 4.1); buf holds the whole packet.
    const marker = (buf[1]! & 0x80) !== 0;
    if (this.#silent || contiguous || marker) {
      this.#silent = false;
      const from = this.#audio.writePosition;
      if (pos > from) this.#audio.writeSilence(pos - from, from, arrivalMs);
    }
    this.#audio.write(this.#pcm, 0, n, pos, arrivalMs);
  }

  /**
   * A packet the reorder buffer already gave up on (counted lost): if its audio still fits
   * a gap no cut window holds yet, it goes in place and is no longer lost; otherwise late.
   */
  #late(buf: Uint8Array, offset: number, length: number, payloadType: number, pos: number): void {
    if (this.#kind[payloadType] === KIND_AUDIO) {
      let n = 0;
      try {
        n = this.#decoders[payloadType]!.decodeRange(buf, offset, length, this.#pcm);
      } catch {
        n = 0;
      }
      if (n > 0 && this.#audio.insertLate(this.#pcm, 0, n, pos) > 0) {
        this.counters.packetsLost--;
        this.extra.lateRecovered++;
        return;
      }
    }
    this.counters.packetsLate++;
  }

  #startSegment(h: RtpHeader): void {
    this.#maxSeq16 = h.sequence;
    // Extended numbers start one cycle up so reordered packets just before the first stay positive.
    this.#maxExt = this.#maxExt === 0 ? 65536 + h.sequence : this.#maxExt;
    this.#maxTs32 = h.timestamp;
    this.#maxTsRel = 0;
    this.#lastTransit = Number.NaN;
  }

  /** SSRC change or confirmed jump: release what is held, continue media time where it is. */
  #newSegment(h: RtpHeader): void {
    this.#reorder.flush();
    this.#syncLost();
    const next = this.#maxExt + 1;
    this.#startSegment(h);
    this.#maxExt = next; // the segment's first packet continues the extended sequence
    this.#reorder.restart(next);
    this.#segmentBase = this.#audio.writePosition;
  }

  #updateJitter(arrivalMs: number, tsRel: number): void {
    // RFC 3550 A.8, in RTP clock units.
    const transit = (arrivalMs * this.#clockRate) / 1000 - tsRel;
    if (!Number.isNaN(this.#lastTransit)) {
      const dd = Math.abs(transit - this.#lastTransit);
      this.#jitter += (dd - this.#jitter) / 16;
      this.counters.jitterSec = this.#jitter / this.#clockRate;
    }
    this.#lastTransit = transit;
  }

  #syncLost(): void {
    const lost = this.#reorder.lost;
    if (lost !== this.#lostReported) {
      this.counters.packetsLost += lost - this.#lostReported;
      this.#lostReported = lost;
    }
  }

  /** G.711 in the other law than negotiated (PCMA sent to a PCMU stream) is noise or silence to the detector: say so once. */
  #checkLaw(buf: Uint8Array, offset: number, length: number, payloadType: number): void {
    const check = this.#lawChecks.get(payloadType);
    const verdict = check?.feed(buf, offset, length);
    if (check === undefined || verdict === undefined) return;
    this.#lawChecks.delete(payloadType);
    if (verdict === 'match') return;
    this.counters.codecMismatches++;
    const negotiated = check.law;
    this.#logOnce('codec_mismatch', { payloadType, negotiated, looksLike: negotiated === 'PCMU' ? 'PCMA' : 'PCMU' },
      `RTP payload looks like ${negotiated === 'PCMU' ? 'A-law (PCMA)' : 'μ-law (PCMU)'} but ${negotiated} was negotiated: the audio analysed is noise or silence; check the sender's codec`);
  }

  #logOnce(kind: string, fields: Record<string, unknown>, msg: string): void {
    if (this.#logged.has(kind)) return;
    this.#logged.add(kind);
    const s = this.#audio.descriptor;
    this.#log?.warn({ streamId: s.streamId, callId: s.callId, kind, ...fields }, msg);
  }
}
