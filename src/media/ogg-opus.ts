/**
 * Ogg Opus files (RFC 7845) decoded the way libsndfile 1.2 decodes them, so that `readAudioFile` and the Python
 * trainer (`soundfile`, i.e. libsndfile + libopus) read the same samples from the same file:
 *
 *   - decode rate: the lowest Opus rate >= the OpusHead input sample rate (48 kHz above 24000, 24 kHz above 16000,
 *     16 kHz above 12000, 12 kHz above 8000, else 8 kHz: libsndfile's ogg_opus_setup_decoder; note an input rate
 *     of 0, "unknown", gives 8 kHz there, and here). `audio-decode` decodes at 48 kHz, and resampling that to 16 kHz
 *     is not what training saw;
 *   - OpusHead output gain applied by the decoder (OPUS_SET_GAIN);
 *   - pre-skip (48-kHz units) dropped from the start, integer-divided by 48000/rate like libsndfile;
 *   - end trimming by the EOS page's granule position, and the length capped at
 *     (last granule - first granule offset - pre-skip) / (48000/rate) frames, which is what libsndfile reports
 *     as sf.frames and soundfile reads (opusfile trims the same way at 48 kHz);
 *   - a granule offset on the first audio page (a stream cut from a longer one) is honoured.
 *
 * Differences, on purpose: libsndfile/libogg silently skip a page with a bad checksum, bridge a missing page, and
 * stop at a truncated page; here each of those is an error (a corrupt file should be refused, not scored short).
 * libopus here is opusscript's wasm build, which decodes to int16 while libsndfile decodes to float: samples differ
 * by at most ~1.5e-5 (plus clipping of any decoded value beyond full scale).
 * Only channel mapping family 0 (mono / stereo, one stream) is handled; other families return undefined and
 * the caller falls back to `audio-decode`.
 *
 * The Ogg page demuxer is hand-written: there is no maintained pure-JS Ogg demuxer among our dependencies
 * (audio-decode's Opus path, @audio/decode-opus, keeps its demuxing internal and hands back 48 kHz), and the
 * part of Ogg that Opus needs (page header, CRC, segment table, packet reassembly) is small.
 */
import { opusNative } from './opus.js';
import { MediaError } from './errors.js';

export interface DecodedAudio {
  channelData: Float32Array[];
  sampleRate: number;
}

const fail = (message: string): never => {
  throw new MediaError('ogg_opus', message);
};

// ---------------------------------------------------------------------------------------------------------------
// Ogg pages -> packets

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let r = i << 24;
    for (let k = 0; k < 8; k++) r = r & 0x80000000 ? (r << 1) ^ 0x04c11db7 : r << 1;
    t[i] = r >>> 0;
  }
  return t;
})();

/** Ogg's CRC-32 (polynomial 0x04c11db7, unreflected, zero init) of a page with its checksum field zeroed. */
function pageCrc(b: Uint8Array, start: number, end: number): number {
  let crc = 0;
  for (let i = start; i < end; i++) {
    const v = i - start >= 22 && i - start < 26 ? 0 : b[i]!;
    crc = ((crc << 8) ^ CRC_TABLE[((crc >>> 24) ^ v) & 0xff]!) >>> 0;
  }
  return crc;
}

/** The packets of one logical stream that complete on one page, with that page's granule position (null: -1). */
interface PacketGroup {
  packets: Uint8Array[];
  granule: number | null;
  eos: boolean;
}

/** Splits the logical stream of the file's first page into packets, grouped by the page they complete on. */
function demux(b: Uint8Array): PacketGroup[] {
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const groups: PacketGroup[] = [];
  let serial: number | undefined;
  let nextSeq: number | undefined;
  let partial: Uint8Array[] = [];
  let pos = 0;
  while (pos < b.length) {
    if (pos + 27 > b.length) fail(`truncated Ogg page header at byte ${pos} (file cut short?)`);
    if (b[pos] !== 0x4f || b[pos + 1] !== 0x67 || b[pos + 2] !== 0x67 || b[pos + 3] !== 0x53) fail(`no Ogg page at byte ${pos} (corrupt file)`);
    if (b[pos + 4] !== 0) fail(`unknown Ogg version ${b[pos + 4]} at byte ${pos}`);
    const flags = b[pos + 5]!;
    const nSegs = b[pos + 26]!;
    const bodyStart = pos + 27 + nSegs;
    if (bodyStart > b.length) fail(`truncated Ogg page at byte ${pos} (file cut short?)`);
    let bodyLen = 0;
    for (let i = 0; i < nSegs; i++) bodyLen += b[pos + 27 + i]!;
    const end = bodyStart + bodyLen;
    if (end > b.length) fail(`truncated Ogg page at byte ${pos} (file cut short?)`);
    if (pageCrc(b, pos, end) !== view.getUint32(pos + 22, true)) fail(`bad Ogg page checksum at byte ${pos} (corrupt file)`);
    const pageSerial = view.getUint32(pos + 14, true);
    serial ??= pageSerial;
    if (pageSerial === serial) {
      const seq = view.getUint32(pos + 18, true);
      if (nextSeq !== undefined && seq !== nextSeq) fail(`missing Ogg page: sequence ${seq} where ${nextSeq} was expected (corrupt file)`);
      nextSeq = seq + 1;
      const g = view.getBigInt64(pos + 6, true);
      if (g > BigInt(Number.MAX_SAFE_INTEGER)) fail(`Ogg granule position ${g} out of range at byte ${pos}`);
      const group: PacketGroup = { packets: [], granule: g < 0n ? null : Number(g), eos: (flags & 4) !== 0 };
      // Lacing: a packet ends at a segment shorter than 255 bytes; one ending in a 255 continues on the next page.
      if (!(flags & 1)) partial = [];
      let segStart = bodyStart;
      let p = bodyStart;
      let skipping = (flags & 1) !== 0 && partial.length === 0; // a continuation whose start we never saw
      for (let i = 0; i < nSegs; i++) {
        const len = b[pos + 27 + i]!;
        p += len;
        if (len < 255) {
          if (!skipping) {
            partial.push(b.subarray(segStart, p));
            group.packets.push(partial.length === 1 ? partial[0]! : concat(partial));
          }
          partial = [];
          skipping = false;
          segStart = p;
        }
      }
      if (segStart < p && !skipping) partial.push(b.subarray(segStart, p));
      if (group.packets.length > 0 || group.eos) groups.push(group);
      if (group.eos) break;
    }
    pos = end;
  }
  return groups;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, q) => n + q.length, 0));
  let o = 0;
  for (const q of parts) {
    out.set(q, o);
    o += q.length;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Opus

/** Samples per channel at 48 kHz in an Opus packet (opus_packet_get_nb_samples), or -1 if it is malformed. */
export function opusPacketSamples48(p: Uint8Array): number {
  if (p.length < 1) return -1;
  const toc = p[0]!;
  const config = toc >> 3;
  const frame = config < 12 ? [480, 960, 1920, 2880][config & 3]! : config < 16 ? (config & 1 ? 960 : 480) : 120 << (config & 3);
  const code = toc & 3;
  const count = code === 0 ? 1 : code < 3 ? 2 : p.length < 2 ? -1 : p[1]! & 0x3f;
  if (count < 0 || frame * count > 5760) return -1;
  return frame * count;
}

interface OpusHead {
  channels: number;
  preSkip: number;
  inputRate: number;
  gain: number;
  family: number;
}

function parseHead(p: Uint8Array): OpusHead {
  if (p.length < 19 || String.fromCharCode(...p.subarray(0, 8)) !== 'OpusHead') fail('malformed OpusHead packet');
  const v = new DataView(p.buffer, p.byteOffset, p.byteLength);
  if (p[8]! >= 16) fail(`unsupported Ogg Opus version ${p[8]}`);
  const head = { channels: p[9]!, preSkip: v.getUint16(10, true), inputRate: v.getInt32(12, true), gain: v.getInt16(16, true), family: p[18]! };
  if (head.channels === 0 || (head.family === 0 && head.channels > 2)) fail(`OpusHead: bad channel count ${head.channels}`);
  return head;
}

// opusscript's wasm libopus is shared with the RTP codecs (opus.ts): one instance per process. Same PCM convention as
// there: `_decode` writes each byte of the interleaved little-endian int16 PCM into its own uint16 heap slot.
const OPUS_SET_GAIN = 4034;
const APPLICATION_AUDIO = 2049;
const OPUS_ERRORS: Record<number, string> = { [-1]: 'bad argument', [-2]: 'buffer too small', [-3]: 'internal error', [-4]: 'invalid packet' };

/**
 * Decodes an Ogg Opus file (channel mapping family 0). Returns undefined when `bytes` is not one (not Ogg, not
 * Opus, or another mapping family), so the caller can hand it to a general decoder. Throws a MediaError naming
 * the problem for a truncated or corrupt Ogg Opus file.
 */
export function decodeOggOpus(bytes: Uint8Array): DecodedAudio | undefined {
  // "OggS", then the first page's first packet starting "OpusHead" (as far as the bytes go: a file cut inside
  // its first page is a truncated Ogg file, which demux() reports).
  if (bytes.length < 4 || String.fromCharCode(...bytes.subarray(0, 4)) !== 'OggS') return undefined;
  const headAt = 27 + (bytes[26] ?? 0);
  const magic = String.fromCharCode(...bytes.subarray(headAt, headAt + 8));
  if (magic !== 'OpusHead'.slice(0, magic.length)) return undefined;
  if (bytes.length > headAt + 18 && bytes[headAt + 18] !== 0) return undefined;

  const groups = demux(bytes);
  const packets = groups.flatMap((g) => g.packets);
  const head = parseHead(packets[0] ?? fail('no OpusHead packet'));
  if (!packets[1] || String.fromCharCode(...packets[1].subarray(0, 8)) !== 'OpusTags') fail('missing OpusTags packet (file cut short?)');
  // Audio packet groups; the packets completing on the tags' page (there should be none) count as audio, as in libsndfile.
  let skip = 2;
  const audio: PacketGroup[] = [];
  for (const g of groups) {
    const n = Math.min(skip, g.packets.length);
    skip -= n;
    if (g.packets.length > n) audio.push({ ...g, packets: g.packets.slice(n) });
  }
  if (audio.length === 0) fail('Ogg Opus file has no audio packets');
  for (const g of audio) if (g.granule === null) fail('Ogg page with audio packets has no granule position (corrupt file)');

  // The first audio page's granule position minus its packets' duration is the stream's start offset.
  const first = audio[0]!;
  const firstDur = first.packets.reduce((n, p) => n + Math.max(opusPacketSamples48(p), 0), 0);
  if (firstDur <= 0) fail('Ogg Opus first audio page holds no samples');
  let gpStart = 0;
  if (!first.eos) {
    if (firstDur > first.granule!) fail('Ogg Opus first audio page: granule position below its sample count (corrupt file)');
    gpStart = first.granule! - firstDur;
  } else if (firstDur < first.granule!) fail('Ogg Opus single audio page has an ambiguous granule offset');

  const factor = head.inputRate > 24000 ? 1 : head.inputRate > 16000 ? 2 : head.inputRate > 12000 ? 3 : head.inputRate > 8000 ? 4 : 6;
  const rate = 48000 / factor;
  const gpEnd = audio[audio.length - 1]!.granule!;
  const lengthCap = gpEnd - gpStart - head.preSkip >= 0 ? Math.floor((gpEnd - gpStart - head.preSkip) / factor) : Infinity;

  const nch = head.channels;
  let capacity = 0;
  let maxBytes = 0;
  for (const g of audio) for (const p of g.packets) {
    capacity += Math.max(opusPacketSamples48(p), 0) / factor;
    maxBytes = Math.max(maxBytes, p.length);
  }
  const out = Array.from({ length: nch }, () => new Float32Array(Math.min(capacity, lengthCap)));
  let written = 0;

  const n = opusNative();
  const handler = new n.OpusScriptHandler(rate, nch, APPLICATION_AUDIO);
  const inPtr = n._malloc(Math.max(maxBytes, 1));
  const pcmPtr = n._malloc(5760 * nch * 4);
  try {
    if (head.gain !== 0) {
      const rc = handler._decoder_ctl(OPUS_SET_GAIN, head.gain);
      if (rc < 0) fail(`opus set gain failed: ${OPUS_ERRORS[rc] ?? rc}`);
    }
    // libsndfile's ogg_opus_read_refill bookkeeping, in 48-kHz granule units.
    let pktPos = gpStart;
    let pgPos = 0;
    for (let gi = 0; gi < audio.length && written < lengthCap; gi++) {
      const g = audio[gi]!;
      if (gi > 0) pktPos = pgPos;
      pgPos = g.granule!;
      for (const p of g.packets) {
        n.HEAPU8.set(p, inPtr);
        const got = handler._decode(inPtr, p.length, pcmPtr);
        if (got < 0) fail(`opus decode failed at granule ${pktPos}: ${OPUS_ERRORS[got] ?? got} (corrupt file)`);
        const pktEnd = pktPos + got * factor;
        let len = got;
        if (pktEnd > pgPos) {
          if (!g.eos) fail(`Ogg page granule position ${pgPos} is below its samples' end ${pktEnd} (corrupt file)`);
          len = Math.max(Math.trunc((pgPos - pktPos) / factor), 0);
        }
        const loc = pktPos < head.preSkip ? Math.min(Math.trunc((head.preSkip - pktPos) / factor), len) : 0;
        const take = Math.min(len - loc, lengthCap - written);
        const u16 = n.HEAPU16;
        const base = pcmPtr >> 1;
        for (let i = 0; i < take; i++) {
          for (let c = 0; c < nch; c++) {
            const k = base + 2 * ((loc + i) * nch + c);
            const v = (u16[k]! & 0xff) | ((u16[k + 1]! & 0xff) << 8);
            out[c]![written + i] = ((v << 16) >> 16) / 32768;
          }
        }
        written += Math.max(take, 0);
        pktPos = pktEnd;
      }
    }
  } finally {
    n.OpusScriptHandler.destroy_handler(handler);
    n._free(inPtr);
    n._free(pcmPtr);
  }
  return { channelData: out.map((c) => (written === c.length ? c : c.slice(0, written))), sampleRate: rate };
}
