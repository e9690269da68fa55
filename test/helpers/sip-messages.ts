/**
 * Test support: loads the stored SIP requests in test/fixtures/sip/ into the SipRequestView
 * the plain module reads (drachtio does this parsing in production), and variants of them.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { SipRequestView } from '../../src/signaling/sip/types.js';
import { SIP_FIXTURE_DIR } from './fixture-paths.js';

export interface StoredRequest extends SipRequestView {
  readonly headers: ReadonlyMap<string, string>;
}

/** Parses a stored SIP request (LF in the file; CRLF on the wire unless the name ends with -lf). */
export function parseSipMessage(text: string, crlf = true): StoredRequest {
  const split = /\r?\n\r?\n/.exec(text);
  if (!split) throw new Error('stored SIP message has no blank line after the headers');
  const head = text.slice(0, split.index).split(/\r?\n/);
  let body = text.slice(split.index + split[0].length);
  if (crlf) body = body.replace(/\r?\n/g, '\r\n');
  const requestLine = head.shift()!;
  const method = requestLine.split(' ')[0]!;
  const headers = new Map<string, string>();
  let last = '';
  for (const line of head) {
    if (/^[ \t]/.test(line) && last) {
      headers.set(last, `${headers.get(last)} ${line.trim()}`);
      continue;
    }
    const colon = line.indexOf(':');
    last = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers.set(last, headers.has(last) ? `${headers.get(last)}, ${value}` : value);
  }
  return makeRequest(method, headers, body);
}

export function makeRequest(method: string, headers: ReadonlyMap<string, string>, body: string): StoredRequest {
  return {
    method,
    callId: headers.get('call-id') ?? '',
    headers,
    header: (name: string) => headers.get(name.toLowerCase()),
    body,
    sourceAddress: '127.0.0.1',
  };
}

export function loadSipFixture(name: string): StoredRequest {
  return parseSipMessage(readFileSync(resolve(SIP_FIXTURE_DIR, name), 'utf8'), !name.endsWith('-lf.sip'));
}

/** The same request with another Call-ID, method, body or headers (for floods and re-offers). */
export function variant(req: StoredRequest, change: { callId?: string; method?: string; body?: string;
  headers?: Record<string, string | undefined> }): StoredRequest {
  const headers = new Map(req.headers);
  if (change.callId !== undefined) headers.set('call-id', change.callId);
  for (const [k, v] of Object.entries(change.headers ?? {})) {
    if (v === undefined) headers.delete(k.toLowerCase());
    else headers.set(k.toLowerCase(), v);
  }
  return makeRequest(change.method ?? req.method, headers, change.body ?? req.body);
}
