/**
 * Bad input over real UDP: truncated, bad version, oversized, unknown payload type,
 * RTP from the wrong source, a packet far ahead, SSRC change, RTCP on either port, a
 * burst far ahead in sequence/time, and the stream timeout. Each is counted (and logged
 * once per kind); the process keeps going and a concurrent clean stream is unaffected.
 */
import t, { type Test } from 'tap';
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { loadConfig } from '../../src/config.js';
import { MediaSessions } from '../../src/media/media-sessions.js';
import { readAudioFile } from '../../src/media/audio-file.js';
import { resampleBuffer } from '../../src/media/resampler.js';
import { packetize, sendAudio } from '../../src/media/rtp-sender.js';
import { writeRtpHeader } from '../../src/media/rtp-packet.js';
import type { PayloadFormat } from '../../src/media/types.js';
import { align, descriptor, SPEECH_16K } from './helpers.js';
import { captureLog } from '../helpers/capture.js';
import { RecordingSink } from '../helpers/recording-sink.js';
import { waitFor } from '../helpers/wait.js';
import { NEEDS_SHARED_SPEECH, loadSharedSpeech } from '../helpers/shared-data.js';

const cfg = loadConfig({ env: {} });
const PCMU: PayloadFormat = { payloadType: 0, encoding: 'PCMU', clockRate: 8000, channels: 1 };
const src = await loadSharedSpeech(() => readAudioFile(SPEECH_16K));
const phoneRef = await loadSharedSpeech(() => resampleBuffer(resampleBuffer(src.samples, src.sampleRate, 8000), 8000, 16000));

async function udpSocket(): Promise<Socket> {
  const s = createSocket('udp4');
  s.bind(0, '127.0.0.1');
  await once(s, 'listening');
  return s;
}
function sendTo(sock: Socket, data: Uint8Array, port: number): Promise<void> {
  return new Promise((res, rej) => sock.send(data, port, '127.0.0.1', (e) => (e ? rej(e) : res())));
}
function rtp(seq: number, ts: number, ssrc: number, pt: number, payloadBytes: number): Buffer {
  const b = Buffer.alloc(12 + payloadBytes, 0xff);
  writeRtpHeader(b, { marker: false, payloadType: pt, sequence: seq, timestamp: ts, ssrc });
  return b;
}

t.test('malformed and hostile packets are counted, logged once per kind, and do not disturb another stream', { skip: NEEDS_SHARED_SPEECH }, async (t) => {
  const sink = new RecordingSink();
  const { log, lines: records } = captureLog();
  const sessions = new MediaSessions({ media: { ...cfg.media, rtpPortMin: 42400, rtpPortMax: 42499 }, window: cfg.window, outputRate: 16000, sink, log });
  t.teardown(() => sessions.closeAll());
  const victim = await sessions.allocate({ descriptor: descriptor('victim'), formats: [PCMU] });
  const control = await sessions.allocate({ descriptor: descriptor('control'), formats: [PCMU] });
  const sock = await udpSocket();
  const intruder = await udpSocket();
  t.teardown(() => {
    sock.close();
    intruder.close();
  });

  const { packets } = packetize(src.samples, src.sampleRate, { codec: 'PCMU', startSeq: 100, startTs: 5000, ssrc: 0xaaaa0001 });
  const switchAt = Math.floor((packets.length * 2) / 3);
  const tsJumpAt = 60;
  // The clean control stream runs concurrently from its own socket.
  const controlDone = sendAudio(src.samples, src.sampleRate, { to: { address: '127.0.0.1', port: control.port }, codec: 'PCMU', realtime: false });

  let expectedLost = 0;
  for (let i = 0; i < packets.length; i++) {
    let data: Buffer = packets[i]!.data;
    if (i >= switchAt) {
      // SSRC change mid-stream (new source, new random sequence and timestamp bases).
      const j = i - switchAt;
      const b = Buffer.from(data);
      writeRtpHeader(b, { marker: j === 0, payloadType: 0, sequence: (40000 + j) & 0xffff, timestamp: (900000 + j * 160) >>> 0, ssrc: 0xbbbb0002 });
      data = b;
    }
    if (i === tsJumpAt) {
      // Right sequence number, timestamp one hour ahead: suspect, dropped (its slot is lost audio).
      const b = Buffer.from(data);
      writeRtpHeader(b, { marker: false, payloadType: 0, sequence: packets[i]!.sequence, timestamp: (packets[i]!.timestamp + 8000 * 3600) >>> 0, ssrc: 0xaaaa0001 });
      data = b;
      expectedLost++;
    }
    await sendTo(sock, data, victim.port);
    switch (i) {
      case 10: // truncated header x3
        for (let k = 0; k < 3; k++) await sendTo(sock, Buffer.from([0x80, 0, 0, 1, 0]), victim.port);
        break;
      case 20: // bad version x2
        for (let k = 0; k < 2; k++) await sendTo(sock, Buffer.from([0x40, 0, 0, 7, 0, 0, 0, 1, 0, 0, 0, 1, 5, 5]), victim.port);
        break;
      case 30: // oversized x2 (valid header, 2000 bytes > media.maxPacketBytes 1500)
        for (let k = 0; k < 2; k++) await sendTo(sock, rtp(packets[i]!.sequence, packets[i]!.timestamp, 0xaaaa0001, 0, 1988), victim.port);
        break;
      case 40: // unknown payload type x3
        for (let k = 0; k < 3; k++) await sendTo(sock, rtp(packets[i]!.sequence, packets[i]!.timestamp, 0xaaaa0001, 99, 160), victim.port);
        break;
      case 50: // wrong source x4 (after the remote was learned)
        for (let k = 0; k < 4; k++) await sendTo(intruder, rtp(packets[i + 1]!.sequence, packets[i + 1]!.timestamp, 0xaaaa0001, 0, 160), victim.port);
        break;
      case 70: // one packet far ahead in sequence: suspect, dropped, no loss counted
        await sendTo(sock, rtp((packets[i]!.sequence + 20000) & 0xffff, packets[i]!.timestamp + 160, 0xaaaa0001, 0, 160), victim.port);
        break;
      case 80: // RTCP multiplexed on the RTP port, and RTCP on port+1
        await sendTo(sock, Buffer.from([0x80, 200, 0, 6, 0xaa, 0xaa, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]), victim.port);
        await sendTo(sock, Buffer.from([0x80, 200, 0, 6, 0xaa, 0xaa, 0, 1]), victim.port + 1);
        break;
    }
    if (i % 16 === 0) await new Promise((r) => setImmediate(r));
  }
  const controlStats = await controlDone;
  await waitFor(() => victim.counters.packetsReceived >= packets.length - 1 && control.counters.packetsReceived >= controlStats.sent, 10000, 'packets delivered');
  sessions.release('victim');
  sessions.release('control');
  await sink.waitFor(() => sink.ended.length === 2);

  const v = victim.counters;
  t.equal(v.packetsMalformed, 3 + 2 + 2, 'truncated + bad version + oversized');
  t.equal(v.packetsUnknownPayload, 3);
  t.equal(v.packetsWrongSource, 4);
  t.equal(v.ssrcChanges, 1);
  t.equal(v.packetsOutOfRange, 2, 'the far-ahead packet and the hour-ahead timestamp');
  t.equal(victim.rtp.sequenceJumps, 0, 'no re-sync on a single suspect packet');
  t.equal(v.packetsRtcp, 2, 'RTCP on the RTP port and on port+1');
  t.equal(v.packetsLost, expectedLost);
  t.equal(v.packetsReceived, packets.length - 1);
  for (const kind of ['truncated_header', 'bad_version', 'oversized', 'unknown_payload_type', 'wrong_source', 'ssrc_change', 'sequence_jump']) {
    t.equal(records.filter((r) => r.kind === kind && r.streamId === 'victim').length, 1, `"${kind}" logged once`);
  }
  // The victim's audio is still right, SSRC change included (continues in place).
  const audio = sink.timeline('victim');
  const ref = Float32Array.from(phoneRef);
  ref.fill(0, tsJumpAt * 320, (tsJumpAt + 1) * 320);
  const rv = align(ref, audio, 100, 800, audio.length - 800);
  t.equal(rv.lag, 0, 'victim audio in place');
  t.ok(rv.snrDb > 25, `victim SNR ${rv.snrDb.toFixed(1)} dB`);
  t.ok(audio.length < 16000 * 5, 'no hour of silence inserted');

  // The control stream saw none of it.
  const c = control.counters;
  t.same(
    [c.packetsMalformed, c.packetsUnknownPayload, c.packetsWrongSource, c.ssrcChanges, c.packetsLost, c.packetsLate, c.packetsDuplicate],
    [0, 0, 0, 0, 0, 0, 0],
  );
  t.equal(c.packetsReceived, controlStats.sent);
  const rc = align(phoneRef, sink.timeline('control'), 100, 800, sink.timeline('control').length - 800);
  t.equal(rc.lag, 0);
  t.ok(rc.snrDb > 30, `control SNR ${rc.snrDb.toFixed(1)} dB`);
});

t.test('a confirmed burst far ahead re-bases the stream instead of inserting a gap', { skip: NEEDS_SHARED_SPEECH }, async (t) => {
  const sink = new RecordingSink();
  const { log } = captureLog();
  const sessions = new MediaSessions({ media: { ...cfg.media, rtpPortMin: 42500, rtpPortMax: 42549 }, window: cfg.window, outputRate: 16000, sink, log });
  t.teardown(() => sessions.closeAll());
  const s = await sessions.allocate({ descriptor: descriptor('burst'), formats: [PCMU] });
  const sock = await udpSocket();
  t.teardown(() => sock.close());
  const { packets } = packetize(src.samples, src.sampleRate, { codec: 'PCMU', startSeq: 10, startTs: 0 });
  for (let i = 0; i < packets.length; i++) {
    let data = packets[i]!.data;
    if (i >= 100 && i < 110) {
      // ten packets 30000 sequence numbers and 10 minutes ahead
      data = Buffer.from(data);
      writeRtpHeader(data, { marker: false, payloadType: 0, sequence: packets[i]!.sequence + 30000, timestamp: packets[i]!.timestamp + 8000 * 600, ssrc: 0x1234abcd });
    }
    await sendTo(sock, data, s.port);
    if (i % 16 === 0) await new Promise((r) => setImmediate(r));
  }
  await waitFor(() => s.counters.packetsReceived >= packets.length - 2, 10000, 'packets delivered');
  sessions.release('burst');
  await sink.waitFor(() => sink.hasEnded('burst'));
  t.equal(s.rtp.sequenceJumps, 2, 'into the burst and back');
  t.equal(s.counters.packetsOutOfRange, 2, 'one probe packet each way');
  t.equal(s.counters.packetsLost, 0);
  const ws = sink.windowsOf('burst');
  t.ok(ws.every((w, i) => w.seq === i && Math.abs(w.mediaStartSec - i * 0.25) < 1e-9), 'windows stay on the grid');
  t.ok(ws.at(-1)!.mediaEndSec <= (packets.length * 0.02), `media time stays ~ the audio sent (${ws.at(-1)!.mediaEndSec} s)`);
});

/**
 * A PCMU session (real UDP port from `portMin`) and the speech sample restamped as two senders:
 * packets before `sw` and from `back` on are SSRC OLD, numbered as one stream (OLD's sequence
 * continues across the gap); packets in between are SSRC NEW with their own numbering.
 */
async function ssrcSwitch(t: Test, id: string, portMin: number, sw: number, back: number) {
  const sink = new RecordingSink();
  const { log, lines: records } = captureLog();
  const sessions = new MediaSessions({ media: { ...cfg.media, rtpPortMin: portMin, rtpPortMax: portMin + 9 }, window: cfg.window, outputRate: 16000, sink, log });
  t.teardown(() => sessions.closeAll());
  const s = await sessions.allocate({ descriptor: descriptor(id), formats: [PCMU] });
  const sock = await udpSocket();
  t.teardown(() => sock.close());
  const { packets } = packetize(src.samples, src.sampleRate, { codec: 'PCMU', startSeq: 100, startTs: 1000 });
  const OLD = 0xaaaa;
  const NEW = 0xbbbb;
  const restamp = (i: number): Buffer => {
    const d = Buffer.from(packets[i]!.data);
    const ssrc = i < sw || i >= back ? OLD : NEW;
    const k = i < sw ? i : sw + (i - back); // OLD's own packet count
    const seq = ssrc === OLD ? 100 + k : 7000 + (i - sw);
    const ts = ssrc === OLD ? 1000 + 160 * k : 555555 + 160 * (i - sw);
    writeRtpHeader(d, { marker: false, payloadType: 0, sequence: seq & 0xffff, timestamp: ts >>> 0, ssrc });
    return d;
  };
  return { sink, records, sessions, s, sock, restamp };
}

t.test('an SSRC change with an old-SSRC packet reordered behind it: one change, the straggler late; a later switch back is a change', { skip: NEEDS_SHARED_SPEECH }, async (t) => {
  const SWITCH = 50; // packets 0..49 as OLD (49 reordered behind the first NEW one), 50..149 as NEW
  const BACK = 150; // from here OLD again, continuing its own numbering: a real switch back
  const { sink, records, sessions, s, sock, restamp } = await ssrcSwitch(t, 'ssrc-straggler', 42720, SWITCH, BACK);
  const order: number[] = [];
  for (let i = 0; i < 200; i++) order.push(i);
  [order[SWITCH - 1], order[SWITCH]] = [SWITCH, SWITCH - 1];
  for (const [k, i] of order.entries()) {
    await sendTo(sock, restamp(i), s.port);
    if (k % 16 === 0) await new Promise((r) => setImmediate(r));
  }
  await waitFor(() => s.counters.packetsReceived >= 200, 10000, 'packets delivered');
  sessions.release('ssrc-straggler');
  await sink.waitFor(() => sink.hasEnded('ssrc-straggler'));
  t.equal(s.counters.ssrcChanges, 2, 'OLD -> NEW, and NEW -> OLD 100 packets later; the straggler flips nothing');
  t.equal(s.counters.packetsLate, 1, 'the straggler is late');
  t.equal(s.counters.packetsLost, 0);
  t.equal(records.filter((r) => r.kind === 'ssrc_straggler').length, 1, 'logged once');
  // Media time: every packet but the straggler, in place (the NEW segment continues where OLD stopped).
  const ws = sink.windowsOf('ssrc-straggler');
  t.ok(ws.every((w, i) => w.seq === i && Math.abs(w.mediaStartSec - i * 0.25) < 1e-9), 'windows stay on the grid');
  t.ok(ws.every((w) => w.lostRatio === 0), 'no loss reported');
});

t.test('a switch back to the old SSRC soon after a change, its sequence continuing, is a change: no packet dropped as a straggler', { skip: NEEDS_SHARED_SPEECH }, async (t) => {
  const SWITCH = 50; // packets 0..49 as OLD, 50..59 as NEW (0.2 s), 60..149 as OLD again
  const BACK = 60; // well inside the straggler window (64 packets), OLD's numbering continues from 149
  const { sink, records, sessions, s, sock, restamp } = await ssrcSwitch(t, 'ssrc-back', 42730, SWITCH, BACK);
  const TOTAL = 150;
  for (let i = 0; i < TOTAL; i++) {
    await sendTo(sock, restamp(i), s.port);
    if (i % 16 === 0) await new Promise((r) => setImmediate(r));
  }
  await waitFor(() => s.counters.packetsReceived >= TOTAL, 10000, 'packets delivered');
  sessions.release('ssrc-back');
  await sink.waitFor(() => sink.hasEnded('ssrc-back'));
  t.equal(s.counters.ssrcChanges, 2, 'OLD -> NEW, NEW -> OLD');
  t.equal(s.counters.packetsLate, 0, 'the switch back is not taken for stragglers');
  t.equal(s.counters.packetsLost, 0);
  t.equal(records.filter((r) => r.kind === 'ssrc_straggler').length, 0);
  const ws = sink.windowsOf('ssrc-back');
  t.ok(ws.every((w, i) => w.seq === i && Math.abs(w.mediaStartSec - i * 0.25) < 1e-9), 'windows stay on the grid');
  t.ok(ws.every((w) => w.lostRatio === 0), 'no loss reported');
  t.ok(ws.at(-1)!.mediaEndSec > (TOTAL - 10) * 0.02, `every packet's audio is in media time (${ws.at(-1)!.mediaEndSec} s)`);
});

t.test('a stream that stops sending ends itself with reason timeout, logs it and frees its port', { skip: NEEDS_SHARED_SPEECH }, async (t) => {
  const sink = new RecordingSink();
  const { log, lines: records } = captureLog();
  const sessions = new MediaSessions({ media: { ...cfg.media, rtpPortMin: 42550, rtpPortMax: 42553, streamTimeoutMs: 300 }, window: cfg.window, outputRate: 16000, sink, log });
  t.teardown(() => sessions.closeAll());
  const s = await sessions.allocate({ descriptor: descriptor('quiet'), formats: [PCMU] });
  const other = await sessions.allocate({ descriptor: descriptor('other'), formats: [PCMU] });
  const clip = src.samples.subarray(0, 16000 * 1.5);
  await sendAudio(clip, 16000, { to: { address: '127.0.0.1', port: s.port }, codec: 'PCMU', realtime: false });
  await sink.waitFor(() => sink.hasEnded('quiet'), 5000);
  t.equal(sink.endReason('quiet'), 'timeout');
  t.ok(s.ended);
  t.ok(records.some((r) => r.msg === 'RTP stream timed out' && r.streamId === 'quiet' && r.reason === 'timeout'), 'timeout logged with the stream id');
  t.equal(sink.windowsOf('quiet').length, 3, 'windows up to the end of the audio (1.0, 1.25, 1.5 s)');
  // The range holds two port pairs; both were used. After the timeout one is free again.
  await waitFor(() => sessions.size === 0 || !sessions.get('quiet'), 2000);
  t.equal(sink.endReason('other'), 'timeout', 'a stream that never sent anything times out too');
  await new Promise((r) => setTimeout(r, 50));
  const again = await sessions.allocate({ descriptor: descriptor('again'), formats: [PCMU] });
  t.ok([s.port, other.port].includes(again.port), `port ${again.port} reused after release`);
  await t.rejects(sessions.allocate({ descriptor: descriptor('again'), formats: [PCMU] }), { name: 'SessionStateError' });
  await t.rejects(sessions.allocate({ descriptor: descriptor('dtmf-only'), formats: [{ payloadType: 101, encoding: 'telephone-event', clockRate: 8000, channels: 1 }] }), { name: 'UnsupportedCodecError' });
});

t.test('fuzz: thousands of random datagrams never throw and never touch a concurrent stream', { skip: NEEDS_SHARED_SPEECH }, async (t) => {
  const sink = new RecordingSink();
  const { log } = captureLog();
  const sessions = new MediaSessions({ media: { ...cfg.media, rtpPortMin: 42560, rtpPortMax: 42579 }, window: cfg.window, outputRate: 16000, sink, log });
  t.teardown(() => sessions.closeAll());
  const fuzzed = await sessions.allocate({ descriptor: descriptor('fuzzed'), formats: [PCMU, { payloadType: 111, encoding: 'opus', clockRate: 48000, channels: 2 }, { payloadType: 13, encoding: 'CN', clockRate: 8000, channels: 1 }] });
  const control = await sessions.allocate({ descriptor: descriptor('control2'), formats: [PCMU] });
  const sock = await udpSocket();
  t.teardown(() => sock.close());
  const controlDone = sendAudio(src.samples, src.sampleRate, { to: { address: '127.0.0.1', port: control.port }, codec: 'PCMU', realtime: false });
  let seed = 12345;
  const rand = (): number => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
  const N = 3000;
  for (let i = 0; i < N; i++) {
    const len = Math.floor(rand() * 1600);
    const b = Buffer.alloc(len);
    for (let k = 0; k < len; k++) b[k] = Math.floor(rand() * 256);
    if (len >= 12 && rand() < 0.7) {
      // Mostly plausible headers: version 2, a negotiated payload type, random everything else.
      b[0] = 0x80 | (b[0]! & 0x3f);
      b[1] = (b[1]! & 0x80) | [0, 111, 13, 0][Math.floor(rand() * 4)]!;
    }
    await sendTo(sock, b, fuzzed.port);
    if (i % 32 === 0) await new Promise((r) => setImmediate(r));
  }
  const controlStats = await controlDone;
  await waitFor(() => control.counters.packetsReceived >= controlStats.sent, 10000, 'control packets');
  await new Promise((r) => setTimeout(r, 100));
  const f = fuzzed.counters;
  const accounted = f.packetsReceived + f.packetsMalformed + f.packetsUnknownPayload + f.packetsWrongSource + f.packetsRtcp + f.packetsOutOfRange;
  t.ok(accounted >= N * 0.95, `every datagram accounted for (${accounted} of ${N}; loopback may drop a few)`);
  t.ok(f.packetsMalformed > 0 && f.packetsReceived > 0);
  sessions.release('fuzzed');
  sessions.release('control2');
  await sink.waitFor(() => sink.ended.length === 2);
  const c = control.counters;
  t.same([c.packetsMalformed, c.packetsUnknownPayload, c.packetsWrongSource, c.ssrcChanges, c.packetsLost], [0, 0, 0, 0, 0]);
  const rc = align(phoneRef, sink.timeline('control2'), 100, 800, sink.timeline('control2').length - 800);
  t.equal(rc.lag, 0);
  t.ok(rc.snrDb > 30, `control SNR ${rc.snrDb.toFixed(1)} dB`);
});

t.test('port allocation: skips ports another process holds, names the range when exhausted, reuses released pairs', async (t) => {
  const sink = new RecordingSink();
  const { log } = captureLog();
  const squatter = createSocket('udp4');
  squatter.bind(42580, '127.0.0.1');
  await once(squatter, 'listening');
  t.teardown(() => squatter.close());
  const sessions = new MediaSessions({ media: { ...cfg.media, rtpPortMin: 42580, rtpPortMax: 42583 }, window: cfg.window, outputRate: 16000, sink, log });
  t.teardown(() => sessions.closeAll());
  const a = await sessions.allocate({ descriptor: descriptor('pa'), formats: [PCMU] });
  t.equal(a.port, 42582, 'the pair whose RTP port is taken by another socket is skipped');
  await t.rejects(sessions.allocate({ descriptor: descriptor('pb'), formats: [PCMU] }), { name: 'PortAllocationError', message: /42580-42583/ });
  sessions.release('pa');
  sessions.release('pa'); // idempotent
  await sink.waitFor(() => sink.endReason('pa') === 'released');
  await waitFor(() => sessions.size === 0, 2000);
  // The pair returns to the pool once both sockets have closed (asynchronous).
  let b: Awaited<ReturnType<typeof sessions.allocate>> | undefined;
  await waitFor(async () => (b = await sessions.allocate({ descriptor: descriptor('pb'), formats: [PCMU] }).catch(() => undefined)) !== undefined,
    2000, 'the released pair to come back', 20);
  t.equal(b?.port, 42582, 'released pair reused');
});
