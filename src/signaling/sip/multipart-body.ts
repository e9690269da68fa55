/**
 * SIP message bodies: Content-Type parameters and multipart/mixed (RFC 2046 5.1) splitting.
 *
 * Hand-written on purpose: the npm multipart parsers (busboy, multiparty, formidable) are
 * streaming multipart/form-data parsers for HTTP uploads; a SIP body is a small, complete
 * string whose parts we need as text, and SBCs in the field bend RFC 2046 (LF-only line
 * ends, trailing blanks after the close delimiter, a missing close delimiter), which this
 * line-based reader tolerates on purpose.
 */
import { MultipartError } from './errors.js';

export interface MediaType {
  /** Lower-case type/subtype, e.g. 'multipart/mixed'. */
  type: string;
  /** Lower-case parameter names; quoted values unquoted. */
  params: Record<string, string>;
}

/** Parses a Content-Type value such as `multipart/mixed;boundary="OSS-unique-boundary-42"`. */
export function parseMediaType(value: string | undefined): MediaType | undefined {
  if (value === undefined) return undefined;
  const semi = value.indexOf(';');
  const type = (semi < 0 ? value : value.slice(0, semi)).trim().toLowerCase();
  if (!/^[a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+-]+$/.test(type)) return undefined;
  const params: Record<string, string> = {};
  if (semi >= 0) {
    const re = /;\s*([^=;\s]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;\s]*))/g;
    for (const m of value.slice(semi).matchAll(re)) {
      params[m[1]!.toLowerCase()] = m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : (m[3] ?? '');
    }
  }
  return { type, params };
}

export interface BodyPart {
  /** Lower-case header names. */
  headers: Record<string, string>;
  /** Parsed Content-Type (text/plain when the part has none, per RFC 2046 5.1). */
  contentType: MediaType;
  /** The part's content, line ends normalised to CRLF. */
  content: string;
}

const MAX_PARTS = 16;

/**
 * Splits a multipart body into its parts. Throws MultipartError when the boundary is
 * missing from Content-Type, never appears in the body, or a part has no header/body split.
 */
export function splitMultipart(body: string, contentType: MediaType): BodyPart[] {
  const boundary = contentType.params.boundary;
  if (!boundary) throw new MultipartError('multipart body without a boundary parameter');
  if (boundary.length > 70) throw new MultipartError('multipart boundary longer than 70 characters');
  const open = `--${boundary}`;
  const close = `--${boundary}--`;
  const lines = body.split(/\r?\n/);
  const parts: BodyPart[] = [];
  let current: string[] | null = null;
  let closed = false;
  for (const raw of lines) {
    // Delimiter lines may carry trailing whitespace (RFC 2046 "transport padding").
    const line = raw.trimEnd();
    if (line === open || line === close) {
      if (current !== null) parts.push(readPart(current, parts.length));
      if (parts.length > MAX_PARTS) throw new MultipartError(`more than ${MAX_PARTS} body parts`);
      if (line === close) {
        closed = true;
        break;
      }
      current = [];
      continue;
    }
    if (current !== null) current.push(raw);
  }
  // A missing close delimiter is tolerated (seen from Cisco CUBE): the last part runs to the end.
  if (!closed && current !== null) parts.push(readPart(trimTrailingEmpty(current), parts.length));
  if (parts.length === 0) {
    throw new MultipartError(`boundary ${JSON.stringify(boundary)} from Content-Type never appears in the body`);
  }
  return parts;
}

function trimTrailingEmpty(lines: string[]): string[] {
  let end = lines.length;
  while (end > 0 && lines[end - 1]!.trim() === '') end--;
  return lines.slice(0, end);
}

function readPart(lines: string[], index: number): BodyPart {
  const blank = lines.findIndex((l) => l.trim() === '');
  if (blank < 0) throw new MultipartError(`body part ${index} has no blank line between headers and content`);
  const headers: Record<string, string> = {};
  let last = '';
  for (const l of lines.slice(0, blank)) {
    if (/^[ \t]/.test(l) && last) {
      headers[last] += ` ${l.trim()}`; // folded header line
      continue;
    }
    const colon = l.indexOf(':');
    if (colon <= 0) throw new MultipartError(`body part ${index} has a malformed header line`);
    last = l.slice(0, colon).trim().toLowerCase();
    headers[last] = l.slice(colon + 1).trim();
  }
  // The CRLF before the next delimiter belongs to the delimiter (RFC 2046), so the last line ends the content.
  const content = lines.slice(blank + 1).join('\r\n');
  const contentType = parseMediaType(headers['content-type']) ?? { type: 'text/plain', params: {} };
  return { headers, contentType, content };
}
