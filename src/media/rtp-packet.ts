/**
 * RTP fixed header (RFC 3550 §5.1), parsed in place into a caller-owned RtpHeader:
 * nothing is copied or allocated; the payload is located by offset/length in the
 * datagram. Big-endian fields are read with explicit byte arithmetic on the datagram's
 * Uint8Array (what DataView.getUint16/32 do) because dgram hands us a fresh Buffer per
 * datagram and a DataView per packet would be an allocation on the hot path.
 */

export interface RtpHeader {
  version: number;
  padding: boolean;
  extension: boolean;
  csrcCount: number;
  marker: boolean;
  payloadType: number;
  /** 16-bit sequence number as sent. */
  sequence: number;
  /** 32-bit timestamp as sent (unsigned). */
  timestamp: number;
  ssrc: number;
  /** Header extension profile (0 when none). */
  extensionProfile: number;
  payloadOffset: number;
  payloadLength: number;
}

export function newRtpHeader(): RtpHeader {
  return {
    version: 0, padding: false, extension: false, csrcCount: 0, marker: false, payloadType: 0,
    sequence: 0, timestamp: 0, ssrc: 0, extensionProfile: 0, payloadOffset: 0, payloadLength: 0,
  };
}

/** Why a datagram is not a usable RTP packet (also the per-kind log key). */
export type RtpParseError =
  | 'truncated_header'
  | 'bad_version'
  | 'truncated_csrc'
  | 'truncated_extension'
  | 'bad_padding'
  | 'rtcp_on_rtp_port';

export const RTP_HEADER_BYTES = 12;

/**
 * Parses `length` bytes of `buf` into `out`. Returns null when the packet is valid,
 * otherwise the reason it is malformed (`out` is then partially filled).
 */
export function parseRtpPacket(buf: Uint8Array, length: number, out: RtpHeader): RtpParseError | null {
  if (length < RTP_HEADER_BYTES) return 'truncated_header';
  const b0 = buf[0]!;
  const b1 = buf[1]!;
  out.version = b0 >> 6;
  if (out.version !== 2) return 'bad_version';
  out.padding = (b0 & 0x20) !== 0;
  out.extension = (b0 & 0x10) !== 0;
  out.csrcCount = b0 & 0x0f;
  out.marker = (b1 & 0x80) !== 0;
  out.payloadType = b1 & 0x7f;
  // RTCP multiplexed onto the RTP port (RFC 5761): packet types 200..204 land in PT 72..76.
  if (out.payloadType >= 72 && out.payloadType <= 76) return 'rtcp_on_rtp_port';
  out.sequence = (buf[2]! << 8) | buf[3]!;
  out.timestamp = ((buf[4]! << 24) | (buf[5]! << 16) | (buf[6]! << 8) | buf[7]!) >>> 0;
  out.ssrc = ((buf[8]! << 24) | (buf[9]! << 16) | (buf[10]! << 8) | buf[11]!) >>> 0;
  let offset = RTP_HEADER_BYTES + 4 * out.csrcCount;
  if (offset > length) return 'truncated_csrc';
  out.extensionProfile = 0;
  if (out.extension) {
    if (offset + 4 > length) return 'truncated_extension';
    out.extensionProfile = (buf[offset]! << 8) | buf[offset + 1]!;
    const words = (buf[offset + 2]! << 8) | buf[offset + 3]!;
    offset += 4 + 4 * words;
    if (offset > length) return 'truncated_extension';
  }
  let end = length;
  if (out.padding) {
    const pad = buf[length - 1]!;
    if (pad === 0 || offset + pad > length) return 'bad_padding';
    end -= pad;
  }
  out.payloadOffset = offset;
  out.payloadLength = end - offset;
  return null;
}

/** Writes a minimal RTP header (no CSRC, no extension) into buf; returns 12. */
export function writeRtpHeader(
  buf: Uint8Array,
  h: { marker: boolean; payloadType: number; sequence: number; timestamp: number; ssrc: number },
): number {
  buf[0] = 0x80;
  buf[1] = (h.marker ? 0x80 : 0) | (h.payloadType & 0x7f);
  buf[2] = (h.sequence >> 8) & 0xff;
  buf[3] = h.sequence & 0xff;
  const ts = h.timestamp >>> 0;
  buf[4] = ts >>> 24;
  buf[5] = (ts >>> 16) & 0xff;
  buf[6] = (ts >>> 8) & 0xff;
  buf[7] = ts & 0xff;
  const ssrc = h.ssrc >>> 0;
  buf[8] = ssrc >>> 24;
  buf[9] = (ssrc >>> 16) & 0xff;
  buf[10] = (ssrc >>> 8) & 0xff;
  buf[11] = ssrc & 0xff;
  return RTP_HEADER_BYTES;
}

/** Signed distance a - b between two 16-bit sequence numbers (-32768..32767). */
export function seqDelta(a: number, b: number): number {
  return (((a - b) & 0xffff) ^ 0x8000) - 0x8000;
}

/** Signed distance a - b between two 32-bit timestamps. */
export function tsDelta(a: number, b: number): number {
  return (a - b) | 0;
}
