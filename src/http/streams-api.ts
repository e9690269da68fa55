/**
 * The stream control API: RTP streams opened over HTTP when there is no SIP signaling.
 *
 *   POST   /streams {"callId"?, "leg"?, "codec"?: "PCMU"|"PCMA"|"L16"|"opus", "payloadType"?, "clockRate"?, "identity"?}
 *          → 201 {"streamId", "callId", "leg", "address", "port", "payloadType", "codec", "clockRate"}
 *   GET    /streams                      → live streams with their labels and RTP counters
 *   DELETE /streams?streamId=<id>        → ends the stream now (its call.ended follows)
 *
 * Every route needs the control token (`Authorization: Bearer <http.controlToken>`) when one is
 * configured; without one (allowed on a loopback http.host only) they are open.
 *
 * This file owns the request schema and the routes; what opening a stream does (a media
 * session) is the StreamControl the server hands in.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import type { Logger } from '../logger.js';
import { checkAudioFormat, defaultPayloadFormat } from '../media/codecs.js';
import { UnsupportedCodecError } from '../media/errors.js';
import { StreamCapacityError } from '../media/stream-capacity.js';
import type { CodecName, PayloadFormat } from '../media/types.js';
import { readJsonBody, sendJson, type HttpServer } from './http-server.js';
import { StreamRequestError } from './errors.js';

export { StreamRequestError };

const OpenStreamRequest = z
  .object({
    callId: z
      .string()
      .min(1)
      .max(256)
      // CR/LF and other control characters are never part of a real call id (and break headers and logs).
      .regex(/^\P{Cc}*$/u, 'must not contain control characters (CR, LF, tab, NUL...)')
      .optional(),
    leg: z.string().min(1).max(64).optional(),
    codec: z.enum(['PCMU', 'PCMA', 'L16', 'opus', 'pcmu', 'pcma', 'l16']).optional(),
    payloadType: z.number().int().min(0).max(127).optional(),
    clockRate: z.number().int().min(8000).max(48000).optional(),
    identity: z.record(z.string(), z.string()).optional(),
  })
  .strict();

export type OpenStreamRequest = z.infer<typeof OpenStreamRequest>;

export interface OpenedStream {
  streamId: string;
  callId: string;
  leg: string;
  address: string;
  port: number;
  payloadType: number;
  codec: CodecName;
  clockRate: number;
}


/** A checked open request: the fields as given, the codec named canonically and its payload format. */
export interface ParsedStreamRequest {
  request: OpenStreamRequest;
  codec: CodecName;
  format: PayloadFormat;
}

/** Validates an open request (StreamRequestError naming the field on refusal). */
export function parseOpenStreamRequest(req: unknown): ParsedStreamRequest {
  const parsed = OpenStreamRequest.safeParse(req);
  if (!parsed.success) {
    const i = parsed.error.issues[0]!;
    throw new StreamRequestError(`${i.path.join('.') || 'body'}: ${i.message}`);
  }
  const r = parsed.data;
  const codec = (r.codec ? (r.codec.toLowerCase() === 'opus' ? 'opus' : r.codec.toUpperCase()) : 'PCMU') as CodecName;
  const format = defaultPayloadFormat(codec, { payloadType: r.payloadType, sampleRate: r.clockRate });
  try {
    checkAudioFormat(format);
  } catch (err) {
    if (err instanceof UnsupportedCodecError) throw new StreamRequestError(err.message); // e.g. L16 at 47999 Hz: 400
    throw err;
  }
  return { request: r, codec, format };
}

/** What the routes act on (the server). */
export interface StreamControl {
  openStream(req: OpenStreamRequest): Promise<OpenedStream>;
  /** Ends a stream; false when no such stream is live. */
  releaseStream(streamId: string): boolean;
  /** The live streams as GET /streams lists them. */
  listStreams(): unknown[];
  /** True once shutdown began (refusals then answer 503). */
  readonly closing: boolean;
}

/** Registers POST, GET and DELETE /streams on `http`. */
export function routeStreams(http: HttpServer, control: StreamControl, opts: { log: Logger; retryAfterSec: number }): void {
  http.route('POST', '/streams', async (req: IncomingMessage, res: ServerResponse) => {
    let body: unknown;
    try {
      body = await readJsonBody(req);
    } catch (err) {
      return sendJson(res, 400, { error: (err as Error).message });
    }
    try {
      sendJson(res, 201, await control.openStream(body as OpenStreamRequest));
    } catch (err) {
      if (err instanceof StreamRequestError) return sendJson(res, control.closing ? 503 : 400, { error: err.message });
      if (err instanceof StreamCapacityError) {
        opts.log.warn({ limit: err.limit }, 'stream refused: at media.maxStreams');
        res.setHeader('retry-after', String(opts.retryAfterSec));
      } else {
        opts.log.error({ err }, 'cannot open stream');
      }
      sendJson(res, 503, { error: (err as Error).message });
    }
  }, 'control');
  http.route('GET', '/streams', (_req, res) => {
    sendJson(res, 200, { streams: control.listStreams() });
  }, 'control');
  http.route('DELETE', '/streams', (_req, res, url) => {
    const streamId = url.searchParams.get('streamId');
    if (!streamId) return sendJson(res, 400, { error: 'streamId query parameter is required' });
    const known = control.releaseStream(streamId);
    sendJson(res, known ? 200 : 404, known ? { released: streamId } : { error: 'no such stream' });
  }, 'control');
}
