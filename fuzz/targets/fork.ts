/**
 * FreeSWITCH mod_audio_fork / jambonz `listen`: the metadata text frame (the input's first line:
 * parseForkMetadata — sampleRate, mixType, ids → identity) then frames framed in the rest of the
 * input as [kind u8][length u16 BE][bytes]: an even kind is a binary 16-bit PCM frame, an odd one
 * a later text frame, through PcmForkHandler with real FrameLegs.
 */
import { PacingError } from '../../src/media/errors.js';
import { StreamPolicyError } from '../../src/signaling/websocket/errors.js';
import { PcmForkHandler } from '../../src/signaling/websocket/pcm-fork-handler.js';
import { runConnection, type Message } from '../support/websocket.js';

export const expected = [StreamPolicyError, PacingError];
export const maxLen = 8192;

function* messages(data: Buffer): Generator<Message> {
  const nl = data.indexOf(0x0a);
  yield { text: (nl < 0 ? data : data.subarray(0, nl)).toString('utf8') };
  if (nl < 0) return;
  let at = nl + 1;
  while (at + 3 <= data.length) {
    const kind = data[at]!;
    const len = Math.min(data.readUInt16BE(at + 1), data.length - at - 3);
    const body = data.subarray(at + 3, at + 3 + len);
    at += 3 + len;
    yield kind % 2 === 0 ? { binary: body } : { text: body.toString('utf8') };
  }
}

export function fuzz(data: Buffer): void {
  runConnection('audio-fork', (ctx) => new PcmForkHandler(ctx), messages(data));
}
