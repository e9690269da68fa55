/**
 * telephone-event (RFC 4733) and comfort noise / DTX (RFC 3389) over real UDP:
 * recognised, not decoded, the time they cover is silence (not loss), timing unchanged.
 */
import t, { type Test } from 'tap';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { loadConfig } from '../../src/config.js';
import { MediaSessions } from '../../src/media/media-sessions.js';
import { readAudioFile } from '../../src/media/audio-file.js';
import { resampleBuffer } from '../../src/media/resampler.js';
import { packetize } from '../../src/media/rtp-sender.js';
import { writeRtpHeader } from '../../src/media/rtp-packet.js';
import type { PayloadFormat } from '../../src/media/types.js';
import { align, descriptor, rms, SPEECH_16K } from './helpers.js';
import { captureLog } from '../helpers/capture.js';
import { RecordingSink } from '../helpers/recording-sink.js';
import { waitFor } from '../helpers/wait.js';
import { NEEDS_SHARED_SPEECH } from '../helpers/shared-data.js';

const PCMU: PayloadFormat = { payloadType: 0, encoding: 'PCMU', clockRate: 8000, channels: 1 };

/**
 * One media session (a real UDP port) with the given formats, the speech sample packetised as
 * PCMU from `start`, and a sender socket on 127.0.0.1.
 */
async function session(t: Test, id: string, formats: PayloadFormat[], start: { startSeq: number; startTs: number }) {
  const cfg = loadConfig({ env: {} });
  const sink = new RecordingSink();
  const { log } = captureLog();
  const sessions = new MediaSessions({ media: { ...cfg.media, rtpPortMin: 42650, rtpPortMax: 42699 }, window: cfg.window, outputRate: 16000, sink, log });
  t.teardown(() => sessions.closeAll());
  const s = await sessions.allocate({ descriptor: descriptor(id), formats });
  const src = await readAudioFile(SPEECH_16K);
  const { packets } = packetize(src.samples, src.sampleRate, { codec: 'PCMU', ...start });
  const sock = createSocket('udp4');
  sock.bind(0, '127.0.0.1');
  await once(sock, 'listening');
  t.teardown(() => sock.close());
  const send = (b: Buffer): Promise<void> => new Promise((res, rej) => sock.send(b, s.port, '127.0.0.1', (e) => (e ? rej(e) : res())));
  return { cfg, sink, sessions, s, src, packets, send };
}

t.test('DTMF events and a CN + DTX pause are silence in place, not loss', { skip: NEEDS_SHARED_SPEECH }, async (t) => {
  const { sink, sessions, s, src, packets, send } = await session(
    t,
    'dtmf-cn',
    [PCMU, { payloadType: 101, encoding: 'telephone-event', clockRate: 8000, channels: 1 }, { payloadType: 13, encoding: 'CN', clockRate: 8000, channels: 1 }],
    { startSeq: 5000, startTs: 777 },
  );

  const DTMF = [50, 60]; // packets 50..59 replaced by one DTMF event (digit 5), RFC 4733 style
  const CN_AT = 100;
  const DTX_END = 130; // packets 101..129 not sent at all (DTX); sequence numbers stay contiguous
  for (let i = 0; i < packets.length; i++) {
    const p = packets[i]!;
    const seq = i > CN_AT ? (i < DTX_END ? -1 : p.sequence - (DTX_END - CN_AT - 1)) : p.sequence;
    if (seq < 0) continue;
    let data: Buffer;
    if (i >= DTMF[0]! && i < DTMF[1]!) {
      data = Buffer.alloc(16);
      const duration = (i - DTMF[0]! + 1) * 160;
      writeRtpHeader(data, { marker: i === DTMF[0], payloadType: 101, sequence: seq, timestamp: packets[DTMF[0]!]!.timestamp, ssrc: 0x1234abcd });
      data.set([5, i === DTMF[1]! - 1 ? 0x8a : 0x0a, duration >> 8, duration & 0xff], 12);
    } else if (i === CN_AT) {
      data = Buffer.alloc(13);
      writeRtpHeader(data, { marker: false, payloadType: 13, sequence: seq, timestamp: p.timestamp, ssrc: 0x1234abcd });
      data[12] = 60; // noise level -60 dBov
    } else {
      data = Buffer.from(p.data);
      writeRtpHeader(data, { marker: i === DTX_END, payloadType: 0, sequence: seq & 0xffff, timestamp: p.timestamp, ssrc: 0x1234abcd });
    }
    await send(data);
    if (i % 16 === 0) await new Promise((r) => setImmediate(r));
  }
  const sent = packets.length - (DTX_END - CN_AT - 1);
  await waitFor(() => s.counters.packetsReceived >= sent, 5000, 'packets delivered');
  sessions.release('dtmf-cn');
  await sink.waitFor(() => sink.hasEnded('dtmf-cn'));

  t.equal(s.rtp.telephoneEvents, 10);
  t.equal(s.rtp.comfortNoise, 1);
  t.equal(s.counters.packetsLost, 0);
  t.equal(s.counters.packetsUnknownPayload, 0);
  t.equal(s.counters.packetsMalformed, 0);
  t.equal(s.rtp.sequenceJumps, 0);
  const audio = sink.timeline('dtmf-cn');
  t.ok(rms(audio, DTMF[0]! * 320 + 12, DTMF[1]! * 320 - 12) < 1e-4, 'DTMF span is silent (tones are not decoded as speech)');
  t.ok(rms(audio, CN_AT * 320 + 12, DTX_END * 320 - 12) < 1e-4, 'CN/DTX pause is silent');
  const ws = sink.windowsOf('dtmf-cn');
  t.ok(ws.every((w) => w.lostRatio === 0), 'no window reports loss');
  t.ok(ws.every((w, i) => Math.abs(w.mediaStartSec - i * 0.25) < 1e-9), 'windows on the hop grid');
  const ref = resampleBuffer(resampleBuffer(src.samples, src.sampleRate, 8000), 8000, 16000);
  ref.fill(0, DTMF[0]! * 320, DTMF[1]! * 320);
  ref.fill(0, CN_AT * 320, DTX_END * 320);
  const r = align(ref, audio, 100, 800, audio.length - 800);
  t.equal(r.lag, 0, 'audio after the pause is at its own time');
  t.ok(r.snrDb > 25, `SNR ${r.snrDb.toFixed(1)} dB`);
});

t.test('silence suppressed without CN (G.711 VAD / Opus DTX) is silence, not loss; a real hole still is loss', { skip: NEEDS_SHARED_SPEECH }, async (t) => {
  const { cfg, sink, sessions, s, src, packets, send } = await session(t, 'dtx', [PCMU], { startSeq: 65500, startTs: 4294960000 });

  const VAD = [40, 90]; // 1 s not sent, sequence numbers contiguous, no marker on the talkspurt: contiguity alone says silence
  const DTX = [120, 150]; // 0.6 s not sent, contiguous, marker on the next talkspurt (RFC 3551 4.1)
  const HOLE = 170; // one packet lost in the network: its sequence number is missing
  const skipped = (i: number): number => (i >= VAD[1]! ? VAD[1]! - VAD[0]! : 0) + (i >= DTX[1]! ? DTX[1]! - DTX[0]! : 0);
  let sent = 0;
  for (let i = 0; i < packets.length; i++) {
    if ((i >= VAD[0]! && i < VAD[1]!) || (i >= DTX[0]! && i < DTX[1]!)) continue;
    const p = packets[i]!;
    const seq = (p.sequence - skipped(i)) & 0xffff;
    if (i === HOLE) continue;
    const data = Buffer.from(p.data);
    writeRtpHeader(data, { marker: i === DTX[1], payloadType: 0, sequence: seq, timestamp: p.timestamp, ssrc: 0x51 });
    await send(data);
    sent++;
    if (i % 16 === 0) await new Promise((r) => setImmediate(r));
  }
  await waitFor(() => s.counters.packetsReceived >= sent, 5000, 'packets delivered');
  sessions.release('dtx');
  await sink.waitFor(() => sink.hasEnded('dtx'));

  t.equal(s.counters.packetsLost, 1, 'only the missing sequence number is lost');
  t.equal(s.rtp.sequenceJumps, 0);
  const ws = sink.windowsOf('dtx');
  const lostSec = ws.reduce((sum, w) => sum + w.lostRatio, 0) * cfg.window.lengthSec;
  // The one lost packet (20 ms) appears in each window that covers it (4 at a 250 ms hop).
  t.ok(lostSec > 0 && lostSec < 0.02 * 4 + 1e-6, `lost time across windows ${lostSec.toFixed(3)} s: the hole, not the pauses`);
  const audio = sink.timeline('dtx');
  t.ok(rms(audio, VAD[0]! * 320 + 12, VAD[1]! * 320 - 12) < 1e-4, 'VAD pause is silent');
  t.ok(rms(audio, DTX[0]! * 320 + 12, DTX[1]! * 320 - 12) < 1e-4, 'DTX pause is silent');
  const ref = resampleBuffer(resampleBuffer(src.samples, src.sampleRate, 8000), 8000, 16000);
  ref.fill(0, VAD[0]! * 320, VAD[1]! * 320);
  ref.fill(0, DTX[0]! * 320, DTX[1]! * 320);
  ref.fill(0, HOLE * 320, (HOLE + 1) * 320);
  const r = align(ref, audio, 100, 800, audio.length - 800);
  t.equal(r.lag, 0, 'audio after each pause is at its own time');
});

t.test('a talkspurt marker after DTX is silence even when the sequence number before it is missing', { skip: NEEDS_SHARED_SPEECH }, async (t) => {
  const { sink, sessions, s, src, packets, send } = await session(t, 'dtx-marker', [PCMU], { startSeq: 300, startTs: 9000 });

  // 0.6 s not sent (DTX); the talkspurt after it has the marker bit and its timestamp jumps, and the one
  // sequence number just before it is missing (e.g. the pause's last packet lost): neither contiguity
  // nor CN says silence, only the marker (RFC 3551 4.1) does.
  const DTX = [60, 90];
  const TALK = DTX[1]!;
  let sent = 0;
  for (let i = 0; i < packets.length; i++) {
    if (i >= DTX[0]! && i < DTX[1]!) continue;
    const p = packets[i]!;
    const seq = (i >= TALK ? p.sequence - (DTX[1]! - DTX[0]!) + 1 : p.sequence) & 0xffff;
    const data = Buffer.from(p.data);
    writeRtpHeader(data, { marker: i === TALK, payloadType: 0, sequence: seq, timestamp: p.timestamp, ssrc: 0x77 });
    await send(data);
    sent++;
    if (i % 16 === 0) await new Promise((r) => setImmediate(r));
  }
  await waitFor(() => s.counters.packetsReceived >= sent, 5000, 'packets delivered');
  sessions.release('dtx-marker');
  await sink.waitFor(() => sink.hasEnded('dtx-marker'));

  t.equal(s.counters.packetsLost, 1, 'the missing sequence number is counted');
  t.equal(s.rtp.sequenceJumps, 0);
  const ws = sink.windowsOf('dtx-marker');
  t.ok(ws.every((w) => w.lostRatio === 0), 'no window reports the pause as loss');
  const audio = sink.timeline('dtx-marker');
  t.ok(rms(audio, DTX[0]! * 320 + 12, DTX[1]! * 320 - 12) < 1e-4, 'DTX pause is silent');
  const ref = resampleBuffer(resampleBuffer(src.samples, src.sampleRate, 8000), 8000, 16000);
  ref.fill(0, DTX[0]! * 320, DTX[1]! * 320);
  const r = align(ref, audio, 100, 800, audio.length - 800);
  t.equal(r.lag, 0, 'the talkspurt is at its own time');
});
