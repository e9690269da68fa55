/**
 * SDP offer → answer, as the SIP core does it for a plain or SIPREC INVITE: parseSdpOffer
 * (structural checks over sdp-transform), chooseCodec per stream, buildAnswer; then the answer
 * we would send must itself read back as a well-formed SDP with one m= line per offered one
 * (RFC 3264 6), in the same order — an answer our own parser refuses is a bug even if nothing threw.
 */
import { chooseCodec } from '../../src/signaling/sip/codec-choice.js';
import { SipError } from '../../src/signaling/sip/errors.js';
import { buildAnswer, type AnswerStream } from '../../src/signaling/sip/sdp-answer.js';
import { parseSdpOffer } from '../../src/signaling/sip/sdp-offer.js';
import { InvariantError, check } from '../engine/target.js';

export const expected = [SipError];
export const maxLen = 4096;

export function fuzz(data: Buffer): void {
  const offer = parseSdpOffer(data.toString('utf8'));
  const streams: AnswerStream[] = offer.streams.map((offered, i) => {
    const d = chooseCodec(offered);
    return { offered, accepted: d.ok ? { port: 40000 + 2 * i, chosen: d.chosen } : null };
  });
  // Like SiprecCall: our own numeric o= session id, the version grown by one per answer.
  const answer = buildAnswer({ address: '192.0.2.10', sessionId: '1733550000000', version: 2, streams });
  let back;
  try {
    back = parseSdpOffer(answer);
  } catch (err) {
    throw new InvariantError(`our answer does not parse: ${(err as Error).message}\n${answer}`);
  }
  check(back.streams.length === offer.streams.length, `answer has ${back.streams.length} m= lines for ${offer.streams.length} offered`);
  back.streams.forEach((s, i) => {
    const accepted = streams[i]!.accepted;
    check((s.port === 0) === (accepted === null), `m= line ${i}: port ${s.port} but ${accepted ? 'accepted' : 'declined'}`);
  });
}
