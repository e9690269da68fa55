/**
 * Telnyx media streaming: Twilio's event shapes with snake_case fields and `media_format`
 * (PCMU / PCMA / L16 at the supported rates, OPUS), one JSON text frame per input line, through
 * the same TwilioStreamHandler (the Telnyx start schema is picked by `media_format`).
 */
import { PacingError } from '../../src/media/errors.js';
import { StreamPolicyError } from '../../src/signaling/websocket/errors.js';
import { TwilioStreamHandler } from '../../src/signaling/websocket/twilio-stream-handler.js';
import { runConnection, textLines } from '../support/websocket.js';

export const expected = [StreamPolicyError, PacingError];
export const maxLen = 8192;

export function fuzz(data: Buffer): void {
  runConnection('telnyx', (ctx) => new TwilioStreamHandler(ctx), textLines(data));
}
