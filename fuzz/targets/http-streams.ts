/**
 * POST /streams as the HTTP server reads it: the request body through readJsonBody (size cap,
 * JSON) from a stream, then parseOpenStreamRequest (schema: callId without control characters,
 * leg, codec, payloadType, clockRate, identity; the codec/rate pair checked by media). Async, as
 * the route is. Expected: HttpServerError (400, body) and StreamRequestError (400, field).
 */
import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import { HttpServerError, StreamRequestError } from '../../src/http/errors.js';
import { readJsonBody } from '../../src/http/http-server.js';
import { parseOpenStreamRequest } from '../../src/http/streams-api.js';

export const expected = [HttpServerError, StreamRequestError];
export const maxLen = 4096;

export async function fuzz(data: Buffer): Promise<void> {
  // Up to two chunks, split where the first byte says, as a socket may deliver them.
  const cut = data.length > 1 ? data[0]! % data.length : 0;
  const chunks = cut > 0 ? [data.subarray(0, cut), data.subarray(cut)] : [data];
  const body = await readJsonBody(Readable.from(chunks) as unknown as IncomingMessage);
  parseOpenStreamRequest(body);
}
