/**
 * RFC 7865 recording metadata (application/rs-metadata+xml) read with fast-xml-parser.
 *
 * Hostile input is refused before any parsing: a size cap, and no DOCTYPE / ENTITY
 * declaration at all (the metadata schema needs none; refusing them outright closes
 * billion-laughs and external-entity attacks whatever the parser's own limits are).
 * Namespace prefixes are dropped so RFC 7865 (`urn:ietf:params:xml:ns:recording:1`),
 * the pre-RFC draft namespace used by Acme Packet and Sonus/Ribbon, and prefixed
 * documents (`<tns:recording>`) all read the same. Both the RFC attribute names
 * (participant_id, stream_id, session_id) and the draft ones (id, session) are accepted,
 * and send/recv are read from <participantstreamassoc> (RFC) and from inside
 * <participant> (draft).
 */
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { MetadataError } from './errors.js';
import type { Participant, RecordingMetadata, MetadataStream } from './types.js';

const ARRAY_TAGS = new Set(['session', 'participant', 'stream', 'participantstreamassoc', 'send', 'recv', 'nameID', 'name']);

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '',
  removeNSPrefix: true,
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: true,
  // Only the five predefined XML entities can occur: declarations are refused before parsing.
  processEntities: { enabled: true, maxEntityCount: 0, maxTotalExpansions: 1000, maxExpandedLength: 100_000 },
  htmlEntities: false,
  maxNestedTags: 32,
  isArray: (tagName) => ARRAY_TAGS.has(tagName),
});

type XmlNode = Record<string, unknown>;

function asNodes(v: unknown): XmlNode[] {
  if (v === undefined || v === null) return [];
  const list = Array.isArray(v) ? v : [v];
  return list.map((x) => (typeof x === 'object' && x !== null ? (x as XmlNode) : { '#text': String(x) }));
}

function text(v: unknown): string {
  if (v === undefined || v === null) return '';
  if (Array.isArray(v)) return text(v[0]);
  if (typeof v === 'object') return text((v as XmlNode)['#text']);
  return String(v).trim();
}

function attr(node: XmlNode, ...names: string[]): string {
  for (const n of names) {
    const v = node[n];
    if (typeof v === 'string' && v.length > 0) return v.trim();
  }
  return '';
}

/** Throws MetadataError; never returns a partial result. */
export function parseRecordingMetadata(xml: string, maxBytes: number): RecordingMetadata {
  const bytes = Buffer.byteLength(xml, 'utf8');
  if (bytes > maxBytes) throw new MetadataError('too_large', `metadata is ${bytes} bytes (limit ${maxBytes})`);
  if (/<!DOCTYPE/i.test(xml) || /<!ENTITY/i.test(xml)) {
    throw new MetadataError('hostile', 'metadata contains a DOCTYPE or ENTITY declaration');
  }
  const valid = XMLValidator.validate(xml);
  if (valid !== true) {
    throw new MetadataError('broken', `metadata is not well-formed XML: ${valid.err.msg} (line ${valid.err.line})`);
  }
  let doc: XmlNode;
  try {
    doc = parser.parse(xml) as XmlNode;
  } catch (err) {
    throw new MetadataError('broken', 'metadata could not be parsed', { cause: err });
  }
  const root = doc['recording'];
  if (root === '') return readRecording({}); // <recording/>: valid, says nothing
  if (typeof root !== 'object' || root === null || Array.isArray(root)) {
    throw new MetadataError('broken', 'metadata has no <recording> root element');
  }
  return readRecording(root as XmlNode);
}

function readRecording(rec: XmlNode): RecordingMetadata {
  const sessions = asNodes(rec['session']);
  const firstSession = sessions[0];
  const sessionId = firstSession ? attr(firstSession, 'session_id', 'id') : '';
  const sipSessionId = firstSession ? text(firstSession['sipSessionID']) : '';

  const participants: Participant[] = [];
  const senders = new Map<string, string[]>();
  const receivers = new Map<string, string[]>();
  const add = (map: Map<string, string[]>, streamId: string, participantId: string): void => {
    if (!streamId || !participantId) return;
    const list = map.get(streamId);
    if (list === undefined) map.set(streamId, [participantId]);
    else if (!list.includes(participantId)) list.push(participantId);
  };

  for (const p of asNodes(rec['participant'])) {
    const id = attr(p, 'participant_id', 'id');
    if (!id) continue;
    const nameId = asNodes(p['nameID'])[0];
    // Draft style puts <aor> and <name> straight under <participant>.
    const aor = (nameId ? attr(nameId, 'aor') : '') || text(p['aor']);
    const name = nameId ? text(nameId['name']) : text(p['name']);
    participants.push({ id, aor: aor || 'unknown', name });
    for (const s of asNodes(p['send'])) add(senders, text(s), id);
    for (const s of asNodes(p['recv'])) add(receivers, text(s), id);
  }
  for (const a of asNodes(rec['participantstreamassoc'])) {
    const id = attr(a, 'participant_id', 'id');
    for (const s of asNodes(a['send'])) add(senders, text(s), id);
    for (const s of asNodes(a['recv'])) add(receivers, text(s), id);
  }

  const streams: MetadataStream[] = [];
  for (const s of asNodes(rec['stream'])) {
    const streamId = attr(s, 'stream_id', 'id');
    const label = text(s['label']);
    if (streamId && label) streams.push({ streamId, label });
  }
  return {
    ...(sessionId ? { sessionId } : {}),
    ...(sipSessionId ? { sipSessionId } : {}),
    participants,
    streams,
    senders,
    receivers,
  };
}
