/**
 * The messages a Twilio Media Streams client sends (https://www.twilio.com/docs/voice/media-streams/websocket-messages),
 * as the bench clients write them: `connected`, `start` (µ-law 8 kHz, one or two tracks), one
 * `media` per 20 ms frame, `stop`. Used by bench/websocket.ts and the soak's WebSocket calls.
 */
export const TWILIO_FRAME_MS = 20;

export function twilioConnected(): string {
  return JSON.stringify({ event: 'connected', protocol: 'Call', version: '1.0.0' });
}

export function twilioStart(callSid: string, tracks: readonly string[], customParameters: Record<string, string> = {}): string {
  return JSON.stringify({
    event: 'start',
    streamSid: `MZ${callSid}`,
    start: {
      callSid,
      streamSid: `MZ${callSid}`,
      tracks,
      customParameters,
      mediaFormat: { encoding: 'audio/x-mulaw', sampleRate: 8000, channels: 1 },
    },
  });
}

/** Frame `f` (0-based) of a track: sequenceNumber f+2 (1 was `start`), chunk f+1, timestamp f·20 ms. */
export function twilioMedia(f: number, track: string, payloadBase64: string): string {
  return `{"event":"media","sequenceNumber":"${f + 2}","media":{"track":"${track}","chunk":"${f + 1}","timestamp":"${f * TWILIO_FRAME_MS}","payload":"${payloadBase64}"}}`;
}

export function twilioStop(): string {
  return '{"event":"stop","stop":{}}';
}
