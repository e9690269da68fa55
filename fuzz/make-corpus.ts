/**
 * Writes the committed seed corpus, fuzz/corpus/<target>/: small real examples taken from the
 * tests and fixtures (the SIP requests of test/fixtures/sip, the Chromium offer of the WebRTC
 * tests, the Twilio / Telnyx / audio_fork messages the WebSocket harness sends, the shipped
 * config). Re-run after changing a seed: `npx tsx fuzz/make-corpus.ts`.
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createEncoder } from '../src/media/codecs.js';
import { writeRtpHeader } from '../src/media/rtp-packet.js';
import { CHROME_OFFER } from '../test/signaling/webrtc/session-harness.js';
import { FUZZ_ROOT, REPO_ROOT } from './engine/supervisor.js';

const corpus = (target: string, seeds: Record<string, string | Buffer>): void => {
  const dir = join(FUZZ_ROOT, 'corpus', target);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  for (const [name, data] of Object.entries(seeds)) writeFileSync(join(dir, name), data);
};

// --- SIP: the stored requests as they are on the wire (CRLF unless the fixture is an LF one).
const sipDir = join(REPO_ROOT, 'test', 'fixtures', 'sip');
const wire = (file: string): string => {
  const text = readFileSync(file, 'utf8');
  return file.endsWith('-lf.sip') ? text : text.replace(/\r?\n/g, '\r\n');
};
const sip: Record<string, string> = {};
for (const f of readdirSync(sipDir)) if (f.endsWith('.sip')) sip[f] = wire(join(sipDir, f));
for (const f of readdirSync(join(sipDir, 'bad'))) if (f.endsWith('.sip')) sip[`bad-${f}`] = wire(join(sipDir, 'bad', f));
const rfc = sip['rfc7866-siprec-invite.sip']!;
const xml = /<\?xml[\s\S]*?<\/recording>/.exec(rfc)?.[0] ?? '<recording xmlns="urn:ietf:params:xml:ns:recording:1"/>';
sip['metadata-only.sip'] = `INVITE sip:r@example.com SIP/2.0\r\nContent-Type: application/rs-metadata+xml\r\n\r\n${xml}`;
corpus('siprec', sip);

// --- SDP: the application/sdp parts of those requests, plus wideband offers.
const sdp: Record<string, string> = {};
for (const [name, text] of Object.entries(sip)) {
  const m = /(v=0[\s\S]*?)(?:\r?\n--|$)/.exec(text.slice(text.search(/\r?\n\r?\n/)));
  if (m) sdp[name.replace(/\.sip$/, '.sdp')] = m[1]!.trimEnd() + '\r\n';
}
sdp['opus-l16.sdp'] = ['v=0', 'o=- 1 1 IN IP4 192.0.2.1', 's=-', 'c=IN IP4 192.0.2.1', 't=0 0',
  'm=audio 5004 RTP/AVP 111 96 0 101', 'a=rtpmap:111 opus/48000/2', 'a=fmtp:111 useinbandfec=1', 'a=rtpmap:96 L16/16000',
  'a=rtpmap:101 telephone-event/8000', 'a=fmtp:101 0-15', 'a=ptime:20', 'a=sendonly', 'a=label:1',
  'm=video 0 RTP/AVP 31', ''].join('\r\n');
corpus('sdp', sdp);

// --- WebRTC: the Chromium offer of the WebRTC tests as the page sends it.
corpus('webrtc', {
  'chrome-offer.json': JSON.stringify({ type: 'offer', sdp: CHROME_OFFER, metadata: { agent: 'alice', queue: 'support' } }),
  'chrome-offer-bare.json': JSON.stringify({ type: 'offer', sdp: CHROME_OFFER.replace(/a=ssrc:.*\r\n/, '') }),
});

// --- Twilio / Telnyx: one JSON message per line, real µ-law / L16 payloads.
const mulaw = Buffer.alloc(160, 0xff);
for (let i = 0; i < 160; i++) mulaw[i] = 0x80 + (i % 40);
const media = (track: string, chunk: number, payload: Buffer, snake = false): string => JSON.stringify({
  event: 'media', ...(snake ? { sequence_number: String(chunk + 1), stream_id: 's1' } : { sequenceNumber: String(chunk + 1), streamSid: 'MZ1' }),
  media: { track, chunk: String(chunk), timestamp: String((chunk - 1) * 20), payload: payload.toString('base64') },
});
const twStart = JSON.stringify({ event: 'start', sequenceNumber: '1', start: { accountSid: 'AC0123456789abcdef0123456789abcdef', streamSid: 'MZ1',
  callSid: 'CA1', tracks: ['inbound', 'outbound'], customParameters: { agent: 'alice' }, mediaFormat: { encoding: 'audio/x-mulaw', sampleRate: 8000, channels: 1 } }, streamSid: 'MZ1' });
corpus('twilio', {
  'two-tracks.jsonl': [JSON.stringify({ event: 'connected', protocol: 'Call', version: '1.0.0' }), twStart,
    media('inbound', 1, mulaw), media('outbound', 1, mulaw), media('inbound', 3, mulaw), media('inbound', 2, mulaw),
    JSON.stringify({ event: 'mark', mark: { name: 'm1' } }), JSON.stringify({ event: 'dtmf', dtmf: { track: 'inbound_track', digit: '5' } }),
    JSON.stringify({ event: 'stop', sequenceNumber: '9', stop: { callSid: 'CA1' } })].join('\n'),
  'inbound-only.jsonl': [twStart.replace('["inbound","outbound"]', '["inbound"]'), media('inbound', 1, mulaw), media('inbound', 2, mulaw.subarray(0, 80))].join('\n'),
});
const l16 = Buffer.alloc(640);
for (let i = 0; i < 320; i++) l16.writeInt16LE(Math.round(8000 * Math.sin(i / 5)), 2 * i);
const opus = createEncoder('opus', { bitrate: 24000 });
const opusPcm = new Int16Array(960).map((_, i) => Math.round(6000 * Math.sin(i / 7)));
const opusOut = new Uint8Array(1500);
const opusPacket = Buffer.from(opusOut.subarray(0, opus.encode(opusPcm, 0, 960, opusOut)));
const txStart = (encoding: string, rate: number): string => JSON.stringify({ event: 'start', sequence_number: '1', stream_id: 's1',
  start: { call_control_id: 'v3:abc', call_session_id: 'c1', from: '+13122010000', to: '+13122020000', custom_parameters: { queue: 'q' },
    media_format: { encoding, sample_rate: rate, channels: 1 } } });
corpus('telnyx', {
  'pcmu.jsonl': [JSON.stringify({ event: 'connected', version: '1.0.0' }), txStart('PCMU', 8000), media('inbound_track', 1, mulaw, true),
    media('outbound_track', 1, mulaw, true), JSON.stringify({ event: 'error', payload: { code: 100002, title: 'x' } }), JSON.stringify({ event: 'stop', stop: { call_control_id: 'v3:abc' } })].join('\n'),
  'l16.jsonl': [txStart('L16', 16000), media('inbound', 1, l16, true), media('inbound', 2, l16, true)].join('\n'),
  'opus.jsonl': [txStart('OPUS', 48000), media('inbound', 1, opusPacket, true), media('inbound', 2, opusPacket, true)].join('\n'),
});

// --- audio_fork / jambonz: metadata line, then [kind][len u16 BE][bytes] frames (even kind: binary).
const frame = (kind: number, body: Buffer): Buffer => Buffer.concat([Buffer.from([kind, body.length >> 8, body.length & 0xff]), body]);
const stereo = Buffer.alloc(1280);
for (let i = 0; i < 320; i++) {
  stereo.writeInt16LE(l16.readInt16LE(2 * i), 4 * i);
  stereo.writeInt16LE(-l16.readInt16LE(2 * i), 4 * i + 2);
}
corpus('fork', {
  'audio-fork-mono.bin': Buffer.concat([Buffer.from(JSON.stringify({ sampleRate: 16000, callId: 'uuid-1', from: 'alice' }) + '\n'), frame(0, l16), frame(0, l16)]),
  'jambonz-stereo.bin': Buffer.concat([Buffer.from(JSON.stringify({ sampleRate: '16000', mixType: 'stereo', callSid: 'CA1', from: '+1', to: '+2', direction: 'inbound' }) + '\n'),
    frame(0, stereo), frame(1, Buffer.from(JSON.stringify({ event: 'dtmf', dtmf: '1' }))), frame(0, stereo)]),
  'mixed-8k.bin': Buffer.concat([Buffer.from(JSON.stringify({ sampleRate: 8000, mixType: 'mixed', uuid: 'u' }) + '\n'), frame(0, l16.subarray(0, 320))]),
});

// --- RTP: [setup][step][len u16][datagram]... (see fuzz/targets/rtp.ts).
const rtp = (pt: number, seq: number, ts: number, payload: Buffer, ssrc = 0x1234abcd, marker = false): Buffer => {
  const p = Buffer.alloc(12 + payload.length);
  writeRtpHeader(p, { marker, payloadType: pt, sequence: seq & 0xffff, timestamp: ts, ssrc });
  payload.copy(p, 12);
  return p;
};
const rec = (step: number, p: Buffer): Buffer => Buffer.concat([Buffer.from([step, p.length >> 8, p.length & 0xff]), p]);
const stream = (setup: number, packets: Array<[number, Buffer]>): Buffer => Buffer.concat([Buffer.from([setup]), ...packets.map(([s, p]) => rec(s, p))]);
const pcmu = (n: number, start = 65533): Array<[number, Buffer]> => [...Array(n).keys()].map((i) => [20, rtp(0, start + i, 4294967000 + i * 160, mulaw, 0x1234abcd, i === 0)]);
const swapped = pcmu(8);
[swapped[2], swapped[3]] = [swapped[3]!, swapped[2]!];
const ext = Buffer.from(rtp(0, 10, 1600, mulaw));
ext[0] = 0x90 | 0x20 | 0x01; // extension, padding, one CSRC
const withExt = Buffer.concat([ext.subarray(0, 12), Buffer.from([0, 0, 0, 1, 0xbe, 0xde, 0, 1, 0x10, 0xff, 0, 0]), mulaw, Buffer.from([0, 0, 3])]);
const dtmf = rtp(101, 65541, 4294967000 + 8 * 160, Buffer.from([5, 0x0a, 0, 160]));
corpus('rtp', {
  'pcmu-in-order.bin': stream(3 << 3, pcmu(8)),
  'pcmu-reordered-dtmf.bin': stream(3 << 3, [...swapped, [20, dtmf], [255, Buffer.alloc(0)], [20, withExt]]),
  'ssrc-change-jump.bin': stream(2 << 3, [...pcmu(4), ...pcmu(3, 30000).map(([s, p]): [number, Buffer] => [s, rtp(0, p.readUInt16BE(2), 5000, mulaw, 0xbeef)]), [20, Buffer.from([0x80, 200, 0, 0])]]),
  'l16-16k.bin': stream(2 | (3 << 3), [[20, rtp(96, 1, 0, l16)], [20, rtp(96, 2, 320, l16)], [20, rtp(96, 4, 960, l16)], [20, rtp(96, 3, 640, l16)]]),
  'opus.bin': stream(4 | (3 << 3), [[20, rtp(111, 100, 0, opusPacket)], [20, rtp(111, 101, 960, opusPacket)], [20, rtp(13, 102, 1920, Buffer.from([40]))]]),
  'reorder-only.bin': Buffer.from([0xc3, 0, 0, 5, 0, 0, 3, 0, 0, 4, 0, 0, 9, 0xff, 0xff, 0xff, 0, 0, 2, 0, 1, 0]),
});

// --- POST /streams bodies.
corpus('http-streams', {
  'empty.json': '',
  'pcmu.json': JSON.stringify({ callId: 'call-1', leg: 'caller', codec: 'PCMU', payloadType: 0, identity: { agent: 'alice' } }),
  'l16.json': JSON.stringify({ codec: 'l16', clockRate: 16000, payloadType: 96 }),
  'opus.json': JSON.stringify({ codec: 'opus', clockRate: 48000 }),
});

// --- Config: the shipped defaults as overrides, and environment overrides.
const defaults = JSON.parse(readFileSync(join(REPO_ROOT, 'config', 'default.json'), 'utf8')) as Record<string, unknown>;
corpus('config', {
  'defaults.json': JSON.stringify(defaults),
  'env.json': JSON.stringify({ env: { DEVOX_LOG_LEVEL: 'debug', DEVOX_RTP_PORT_MIN: '40000', DEVOX_RTP_PORT_MAX: '40100', DEVOX_MAX_BATCH_WAIT_MS: '2.5',
    DEVOX_SIP_ENABLED: 'true', DEVOX_NATS_SERVERS: 'nats://a:4222, nats://b:4222', DEVOX_HOP_MS: '500', DEVOX_WS_TOKENS: 't1,t2' } }),
  'partial.json': JSON.stringify({ media: { reorderDepthPackets: 5 }, window: { hopMs: 500 }, sip: { enabled: true, allowedNetworks: ['10.0.0.0/8'] } }),
});
opus.close();
console.log('corpus written under', join(FUZZ_ROOT, 'corpus'));
