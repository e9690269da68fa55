/**
 * The WebRTC receive half without mediasoup: what a DirectTransport consumer hands over
 * (`consumer.on('rtp', packet)`) is a plain RTP packet; here real speech is Opus-encoded (the
 * codec browsers send) into RTP packets, some swapped in order, and fed to PacketLeg at real-time
 * pace. The windows it emits must carry the source speech.
 */
import t from 'tap';
import { pino } from 'pino';
import { createDecoder, createEncoder, opusDecodeRate } from '../../src/media/codecs.js';
import { writeRtpHeader } from '../../src/media/rtp-packet.js';
import { loadConfig } from '../../src/config.js';
import { PacketLeg } from '../../src/media/packet-leg.js';
import { CLIP_A, OUTPUT_RATE, alignAndCompare, ffmpegRaw, int16FromS16le, paced, sourceClip } from '../signaling/websocket/harness.js';
import { RecordingSink, coveredSamples } from '../helpers/recording-sink.js';
import { waitFor } from '../helpers/wait.js';
import { NEEDS_SHARED_SPEECH } from '../helpers/shared-data.js';

t.test('Opus RTP from a consumer → PacketLeg → windows that match the source', { skip: NEEDS_SHARED_SPEECH }, async (t) => {
  const cfg = loadConfig({ env: {} });
  const sink = new RecordingSink();
  const seconds = 3.1;
  const pcm48 = int16FromS16le(ffmpegRaw(CLIP_A, 48000, 's16le', seconds));
  const ref = await sourceClip(CLIP_A, seconds);
  const enc = createEncoder('opus', { bitrate: 32000 });
  t.teardown(() => enc.close());
  const PT = 100; // what a mediasoup router assigns to opus by default
  const frame = 960;
  const packets: Buffer[] = [];
  const payload = new Uint8Array(1500);
  for (let i = 0; (i + 1) * frame <= pcm48.length; i++) {
    const n = enc.encode(pcm48, i * frame, frame, payload);
    const p = Buffer.alloc(12 + n);
    writeRtpHeader(p, { marker: i === 0, payloadType: PT, sequence: (65530 + i) & 0xffff, timestamp: 4e9 + i * frame, ssrc: 0x1234abcd });
    p.set(payload.subarray(0, n), 12);
    packets.push(p);
  }
  // Reference: the same packets decoded in order, straight (no RTP receive path), by libopus at
  // 16 kHz — what the SIP/RTP path does (media-sessions: opusDecodeRate(outputRate)), no resampling.
  const dec = createDecoder({ encoding: 'opus', clockRate: 48000, channels: 2 }, { sampleRate: opusDecodeRate(OUTPUT_RATE) });
  const straight16k = new Float32Array(packets.length * frame);
  const out = new Int16Array(5760);
  let at = 0;
  for (const p of packets) {
    const n = dec.decode(p.subarray(12), out);
    for (let k = 0; k < n; k++) straight16k[at++] = out[k]! / 32768;
  }
  dec.close();
  // Swap every 7th pair: the reorder buffer must put them back.
  for (let i = 3; i + 1 < packets.length; i += 7) [packets[i], packets[i + 1]] = [packets[i + 1]!, packets[i]!];

  const leg = new PacketLeg({
    descriptor: { streamId: 'webrtc-test:microphone', callId: 'webrtc-test', leg: 'microphone', transport: 'webrtc', identity: { protocol: 'webrtc' } },
    format: { payloadType: PT, encoding: 'opus', clockRate: 48000, channels: 2 },
    media: cfg.media,
    window: cfg.window,
    outputRate: OUTPUT_RATE,
    sink,
  });
  t.equal(leg.inputRate, opusDecodeRate(OUTPUT_RATE), 'Opus is decoded at the detector rate (16 kHz), not at 48 kHz and resampled');
  await paced(packets.length, 20, (i) => leg.onRtp(packets[i]!));
  leg.end('bye');
  leg.end('bye');
  const s = sink.streams.get('webrtc-test:microphone')!;
  t.equal(s.endReason, 'bye', 'ended once, with the given reason');
  t.equal(s.descriptor.transport, 'webrtc');
  t.equal(leg.counters.packetsReceived, packets.length, 'every packet received (sequence wrap included)');
  t.equal(leg.counters.packetsLost, 0, 'reordered packets were not counted lost');
  t.equal(s.windows.length, Math.floor((seconds - 1) / 0.25) + 1, 'windows every 250 ms');
  t.ok(s.windows.every((w) => w.lostRatio === 0), 'no window has lost audio');
  const a = alignAndCompare(s.audio, ref, coveredSamples(s));
  t.comment(`Opus 32 kb/s over RTP → 16 kHz windows vs source: corr ${a.corr.toFixed(4)} lag ${a.lag} samples, SNR ${a.snrDb.toFixed(1)} dB`);
  t.ok(a.corr > 0.75 && a.lag > 0 && a.lag < 160, 'decoded speech follows the source (Opus is perceptual, so waveform correlation is modest; its 6.5 ms delay shows as the lag)');
  const d = alignAndCompare(s.audio, straight16k, coveredSamples(s));
  t.comment(`vs the same packets decoded in order by libopus at 16 kHz: corr ${d.corr.toFixed(4)} lag ${d.lag}, SNR ${d.snrDb.toFixed(1)} dB`);
  t.ok(d.snrDb > 60 && d.lag === 0, 'the receive path (wrap, reorder, placement) reproduces straight 16 kHz decoding (SNR > 60 dB: no resampler in between)');
});

t.test('a throw inside the reorder-flush timer stays inside PacketLeg (guarded like RtpSessionImpl.tick)', async (t) => {
  const cfg = loadConfig({ env: {} });
  const sink = new RecordingSink();
  // A log destination that fails on one record: the decode_error warning the timer's flush raises.
  const records: Array<Record<string, unknown>> = [];
  const log = pino({ level: 'debug' }, {
    write(line: string) {
      const r = JSON.parse(line) as Record<string, unknown>;
      if (r.kind === 'decode_error') throw new Error('log destination failed');
      records.push(r);
    },
  });
  const PT = 100;
  const leg = new PacketLeg({
    descriptor: { streamId: 'webrtc-flush', callId: 'webrtc-flush', leg: 'microphone', transport: 'webrtc' },
    format: { payloadType: PT, encoding: 'opus', clockRate: 48000, channels: 2 },
    media: cfg.media,
    window: cfg.window,
    outputRate: OUTPUT_RATE,
    sink,
    log,
  });
  const enc = createEncoder('opus', { bitrate: 32000 });
  t.teardown(() => enc.close());
  const pcm = new Int16Array(960);
  const payload = new Uint8Array(1500);
  const packet = (seq: number, body: Uint8Array): Buffer => {
    const p = Buffer.alloc(12 + body.length);
    writeRtpHeader(p, { marker: false, payloadType: PT, sequence: seq, timestamp: seq * 960, ssrc: 0x77 });
    p.set(body, 12);
    return p;
  };
  const good = (seq: number): Buffer => packet(seq, payload.subarray(0, enc.encode(pcm, 0, 960, payload)));
  leg.onRtp(good(0));
  // Sequence 2 (not an Opus packet) waits for 1, which never comes: the timer releases it.
  leg.onRtp(packet(2, Uint8Array.of(0x03, 0x00)));
  await waitFor(() => records.some((r) => r.kind === 'internal_error'), 2_000, 'the internal_error record');
  t.equal(records.filter((r) => r.kind === 'internal_error').length, 1, 'the failure was caught and logged once');
  for (let seq = 3; seq < 60; seq++) leg.onRtp(good(seq));
  t.equal(leg.counters.packetsReceived, 59, 'the leg keeps receiving');
  t.ok(sink.streams.get('webrtc-flush')!.windows.length >= 1, 'and cutting windows');
  leg.end('bye');
  t.equal(sink.streams.get('webrtc-flush')!.endReason, 'bye');
});
