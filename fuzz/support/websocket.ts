/**
 * Drives a WebSocket protocol handler (Twilio / Telnyx JSON, audio_fork / jambonz PCM) the way
 * MediaConnection does, without a socket: a ConnectionContext whose legs are real FrameLegs and
 * whose decoders are media's, one message at a time with arrival times 20 ms apart, then the
 * connection's end (legs ended, handler closed). The expected refusals are the ones
 * MediaConnection answers with a close code: StreamPolicyError and media's PacingError.
 */
import { createDecoder } from '../../src/media/codecs.js';
import type { FrameStream } from '../../src/media/types.js';
import type { ConnectionContext, ProtocolHandler } from '../../src/signaling/websocket/media-connection.js';
import type { WsMediaCounters, WsProtocol } from '../../src/signaling/websocket/types.js';
import { config, frameLeg, silentLog } from './media.js';

function counters(): WsMediaCounters {
  return {
    connections: { twilio: 0, telnyx: 0, 'audio-fork': 0, jambonz: 0 },
    refused: { unauthorized: 0, not_found: 0, bad_subprotocol: 0 },
    closed: {} as WsMediaCounters['closed'],
    messages: 0, bytes: 0, frames: 0, ignored: 0, dropped: 0, activeConnections: 0, activeLegs: 0,
  };
}

export type Message = { text: string } | { binary: Buffer };

export function runConnection(protocol: WsProtocol, createHandler: (ctx: ConnectionContext) => ProtocolHandler, messages: Iterable<Message>): void {
  const legs: FrameStream[] = [];
  const ctx: ConnectionContext = {
    connId: 'fuzz',
    protocol,
    log: silentLog,
    counters: counters(),
    maxFrameMs: config.websocket.maxFrameMs,
    openLeg(leg, callId, inputRate, identity) {
      const reorder = protocol === 'twilio' || protocol === 'telnyx' ? config.websocket.reorderFrames : 0;
      const l = frameLeg(leg, callId, inputRate, identity, reorder);
      legs.push(l);
      return l;
    },
    createDecoder: (format) => createDecoder(format),
  };
  const handler = createHandler(ctx);
  let arrivalMs = 0;
  try {
    for (const m of messages) {
      arrivalMs += 20;
      if ('binary' in m) handler.onBinary(m.binary, arrivalMs);
      else if (handler.onText(m.text, arrivalMs) === 'stop') break;
    }
  } finally {
    for (const leg of legs) leg.end('bye');
    handler.close();
  }
}

/** One text frame per line. */
export function textLines(data: Buffer): Message[] {
  return data.toString('utf8').split('\n').filter((l) => l.length > 0).map((text) => ({ text }));
}
