/**
 * A SIP request as drachtio hands it to the SIP core (SipRequestView), read from the raw text of
 * a fuzz input: request line, headers (folded lines joined, repeated headers joined with ", "),
 * blank line, body. Lenient on purpose: the harness must not refuse what the code under test
 * should see.
 */
import type { SipRequestView } from '../../src/signaling/sip/types.js';

export function sipRequest(text: string): SipRequestView {
  const split = /\r?\n\r?\n/.exec(text);
  const headText = split ? text.slice(0, split.index) : text;
  const body = split ? text.slice(split.index + split[0].length) : '';
  const head = headText.split(/\r?\n/);
  const method = (head.shift() ?? '').split(' ')[0] ?? '';
  const headers = new Map<string, string>();
  let last = '';
  for (const line of head) {
    if (/^[ \t]/.test(line) && last) {
      headers.set(last, `${headers.get(last)} ${line.trim()}`);
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    last = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers.set(last, headers.has(last) ? `${headers.get(last)}, ${value}` : value);
  }
  return {
    method,
    callId: headers.get('call-id') ?? '',
    header: (name: string) => headers.get(name.toLowerCase()),
    body,
    sourceAddress: '127.0.0.1',
  };
}
