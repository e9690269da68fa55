/**
 * Twilio Media Streams: JSON text frames (one per line of the input: connected, start, media with
 * base64 µ-law, mark, dtmf, stop) through TwilioStreamHandler with real FrameLegs: schema checks,
 * start description, base64 and frame-size checks, track → leg, timed placement and reordering.
 */
import { PacingError } from '../../src/media/errors.js';
import { StreamPolicyError } from '../../src/signaling/websocket/errors.js';
import { TwilioStreamHandler } from '../../src/signaling/websocket/twilio-stream-handler.js';
import { runConnection, textLines } from '../support/websocket.js';

export const expected = [StreamPolicyError, PacingError];
export const maxLen = 8192;

export function fuzz(data: Buffer): void {
  runConnection('twilio', (ctx) => new TwilioStreamHandler(ctx), textLines(data));
}
