/**
 * A SIPREC (or plain) INVITE as the SIP core reads it: the raw request (request line, headers,
 * blank line, body) → hasSdpBody / readOffer (body size, Content-Type, multipart/mixed split,
 * SDP, RFC 7865 rs-metadata XML) → planStreams (label → metadata stream → participant, identity
 * from the headers). A request whose Content-Type is application/rs-metadata+xml feeds its body
 * to parseRecordingMetadata alone, so the XML reader gets inputs of its own.
 * Expected: SipError and its kinds (400 / 413 / 415 / 488); MetadataError from the XML reader.
 */
import { MetadataError, SipError } from '../../src/signaling/sip/errors.js';
import { parseMediaType } from '../../src/signaling/sip/multipart-body.js';
import { hasSdpBody, isSiprecRequest, planStreams, readOffer } from '../../src/signaling/sip/recording-offer.js';
import { parseRecordingMetadata } from '../../src/signaling/sip/rs-metadata.js';
import { config } from '../support/media.js';
import { sipRequest } from '../support/sip.js';

export const expected = [SipError, MetadataError];
export const maxLen = 16384;

export function fuzz(data: Buffer): void {
  const req = sipRequest(data.toString('utf8'));
  const ct = parseMediaType(req.header('content-type'));
  if (ct?.type === 'application/rs-metadata+xml') {
    parseRecordingMetadata(req.body, config.sip.maxMetadataBytes);
    return;
  }
  isSiprecRequest(req);
  hasSdpBody(req);
  const offer = readOffer(req, { maxBodyBytes: config.sip.maxBodyBytes, maxMetadataBytes: config.sip.maxMetadataBytes });
  planStreams({ sipCallId: req.callId, req, passThroughHeaders: config.sip.passThroughHeaders }, offer);
}
