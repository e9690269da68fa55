/**
 * Builds the SDP answer with sdp-transform: one m= line per offered m= line, in the same
 * order (RFC 3264 6), each either receiving on the port of its media session (recvonly,
 * or inactive while the offerer holds it) or declined with port 0.
 */
import sdpTransform from 'sdp-transform';
import { isOnHold } from './sdp-offer.js';
import type { ChosenCodec, OfferedStream } from './types.js';

export interface AnswerStream {
  offered: OfferedStream;
  /** null: declined (port 0). */
  accepted: { port: number; chosen: ChosenCodec } | null;
}

export interface AnswerOptions {
  /** Address the RTP sockets are reachable on (c= line). */
  address: string;
  /** o= session id, fixed for the dialog. */
  sessionId: string;
  /** o= version: must grow by one with every new answer in the dialog (RFC 3264 8). */
  version: number;
  streams: AnswerStream[];
}

export function buildAnswer(opts: AnswerOptions): string {
  const ipVer = opts.address.includes(':') ? 6 : 4;
  const media: sdpTransform.MediaDescription[] = opts.streams.map(({ offered, accepted }) => {
    if (accepted === null) {
      // A declined stream repeats the offered type, protocol and at least one format (RFC 3264 6).
      const payloads = offered.fmt.split(/\s+/)[0] || '0';
      return {
        type: offered.mediaType,
        port: 0,
        protocol: offered.protocol,
        payloads,
        rtp: [],
        fmtp: [],
        ...(offered.label !== undefined ? { label: offered.label } : {}),
      };
    }
    const { chosen } = accepted;
    return {
      type: 'audio',
      port: accepted.port,
      protocol: offered.protocol,
      payloads: chosen.formats.map((f) => f.payloadType).join(' '),
      rtp: chosen.formats.map((f) => ({
        payload: f.payloadType,
        codec: offered.formats.find((o) => o.payloadType === f.payloadType)?.name ?? f.encoding,
        rate: f.clockRate,
        ...(f.channels > 1 ? { encoding: f.channels } : {}),
      })),
      fmtp: [...chosen.fmtp].map(([payload, config]) => ({ payload, config })),
      ...(chosen.ptime !== undefined ? { ptime: chosen.ptime } : {}),
      ...(offered.label !== undefined ? { label: offered.label } : {}),
      direction: isOnHold(offered) ? 'inactive' : 'recvonly',
    };
  });
  const session: sdpTransform.SessionDescription = {
    version: 0,
    origin: {
      username: 'devox',
      sessionId: opts.sessionId,
      sessionVersion: opts.version,
      netType: 'IN',
      ipVer,
      address: opts.address,
    },
    name: 'DevoX',
    connection: { version: ipVer, ip: opts.address },
    timing: { start: 0, stop: 0 },
    media,
  };
  return sdpTransform.write(session);
}
