import t from 'tap';
import { newRtpHeader, parseRtpPacket, seqDelta, tsDelta, writeRtpHeader } from '../../src/media/rtp-packet.js';
import { ReorderBuffer } from '../../src/media/reorder-buffer.js';

function packet(bytes: number[]): Uint8Array {
  return Uint8Array.from(bytes);
}

t.test('parses the fixed header fields', async (t) => {
  const buf = new Uint8Array(12 + 160);
  writeRtpHeader(buf, { marker: true, payloadType: 8, sequence: 0xfffe, timestamp: 0xfffffff0, ssrc: 0xdeadbeef });
  const h = newRtpHeader();
  t.equal(parseRtpPacket(buf, buf.length, h), null);
  t.equal(h.version, 2);
  t.equal(h.marker, true);
  t.equal(h.payloadType, 8);
  t.equal(h.sequence, 0xfffe);
  t.equal(h.timestamp, 0xfffffff0);
  t.equal(h.ssrc, 0xdeadbeef);
  t.equal(h.payloadOffset, 12);
  t.equal(h.payloadLength, 160);
  t.equal(h.padding, false);
  t.equal(h.extension, false);
});

t.test('skips CSRCs and the header extension, strips padding', async (t) => {
  // V=2 P=1 X=1 CC=2, M=0 PT=0
  const bytes = [0xb2, 0x00, 0x00, 0x01, 0, 0, 0, 160, 1, 2, 3, 4];
  bytes.push(0, 0, 0, 1, 0, 0, 0, 2); // two CSRCs
  bytes.push(0xbe, 0xde, 0x00, 0x01, 0x10, 0xaa, 0x00, 0x00); // one-byte extension, 1 word
  bytes.push(0x11, 0x22, 0x33); // payload
  bytes.push(0x00, 0x00, 0x03); // padding, count 3
  const buf = packet(bytes);
  const h = newRtpHeader();
  t.equal(parseRtpPacket(buf, buf.length, h), null);
  t.equal(h.csrcCount, 2);
  t.equal(h.extension, true);
  t.equal(h.extensionProfile, 0xbede);
  t.equal(h.padding, true);
  t.equal(h.payloadOffset, 12 + 8 + 8);
  t.equal(h.payloadLength, 3);
  t.same(Array.from(buf.subarray(h.payloadOffset, h.payloadOffset + h.payloadLength)), [0x11, 0x22, 0x33]);
});

t.test('rejects malformed packets with a reason', async (t) => {
  const h = newRtpHeader();
  t.equal(parseRtpPacket(packet([0x80, 0, 0, 1, 0, 0]), 6, h), 'truncated_header');
  t.equal(parseRtpPacket(packet([0x40, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 9]), 13, h), 'bad_version');
  t.equal(parseRtpPacket(packet([0x83, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1]), 16, h), 'truncated_csrc');
  t.equal(parseRtpPacket(packet([0x90, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0xbe, 0xde, 0, 5, 0]), 17, h), 'truncated_extension');
  t.equal(parseRtpPacket(packet([0xa0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 7, 50]), 14, h), 'bad_padding');
  t.equal(parseRtpPacket(packet([0xa0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 7, 0]), 14, h), 'bad_padding');
  // RTCP sender report multiplexed on the RTP port (PT 200 -> 72 in the RTP PT field)
  t.equal(parseRtpPacket(packet([0x80, 200, 0, 6, 0, 0, 0, 0, 0, 0, 0, 1]), 12, h), 'rtcp_on_rtp_port');
});

t.test('sequence and timestamp deltas wrap', async (t) => {
  t.equal(seqDelta(2, 65534), 4);
  t.equal(seqDelta(65534, 2), -4);
  t.equal(seqDelta(100, 100), 0);
  t.equal(tsDelta(0x00000050, 0xfffffff0), 0x60);
  t.equal(tsDelta(0xfffffff0, 0x00000050), -0x60);
});

t.test('reorder buffer releases in order, counts loss, duplicates and late packets', async (t) => {
  const released: number[] = [];
  const rb = new ReorderBuffer(3, { releasePacket: (_b, _o, _l, _pt, pos) => void released.push(pos) });
  const b = new Uint8Array(1);
  const put = (seq: number): string => rb.insert(seq, b, 0, 1, 0, seq, 0);
  t.equal(put(10), 'ok');
  t.equal(put(12), 'ok'); // 11 missing: held
  t.same(released, [10]);
  t.equal(put(11), 'ok'); // hole filled: 11 and 12 released
  t.same(released, [10, 11, 12]);
  t.equal(put(12), 'duplicate');
  t.equal(put(14), 'ok');
  t.equal(put(14), 'duplicate'); // duplicate while still held
  t.equal(put(15), 'ok');
  t.equal(put(16), 'ok');
  t.equal(put(17), 'ok'); // 13 given up: 4 packets beyond it with depth 3
  t.same(released, [10, 11, 12, 14, 15, 16, 17]);
  t.equal(rb.lost, 1);
  t.equal(put(13), 'late');
  t.equal(put(1000), 'ok'); // far ahead: everything between counted lost
  t.equal(rb.lost, 1 + (1000 - 18 - 3));
  rb.flush();
  t.same(released.slice(-1), [1000]);
  t.equal(rb.held, 0);
});

t.test('RFC 3550 interarrival jitter (A.8) from controlled arrival times', async (t) => {
  const { AudioStream } = await import('../../src/media/audio-stream.js');
  const { RtpReceiver } = await import('../../src/media/rtp-receiver.js');
  const sink = { onStreamStart() {}, onWindow() {}, onStreamEnd() {} };
  const make = () => {
    const audio = new AudioStream({ descriptor: { streamId: 'j', callId: 'c', leg: 'l', transport: 'rtp' }, inputRate: 8000, outputRate: 16000, windowSec: 1, hopMs: 250, speechThresholdDbfs: -45, sink });
    return new RtpReceiver({ audio, formats: [{ payloadType: 0, encoding: 'PCMU', clockRate: 8000, channels: 1 }], reorderDepthPackets: 3, maxSequenceJump: 3000 });
  };
  const pkt = (i: number): Uint8Array => {
    const b = new Uint8Array(12 + 160).fill(0xff);
    writeRtpHeader(b, { marker: false, payloadType: 0, sequence: (65000 + i) & 0xffff, timestamp: (4294960000 + i * 160) >>> 0, ssrc: 7 });
    return b;
  };
  const steady = make();
  for (let i = 0; i < 200; i++) steady.onPacket(pkt(i), 172, 1000 + i * 20);
  t.ok(steady.counters.jitterSec < 1e-9, 'perfectly paced: zero jitter');
  const alternating = make();
  for (let i = 0; i < 400; i++) alternating.onPacket(pkt(i), 172, 1000 + i * 20 + (i % 2) * 10);
  // |D| = 10 ms for every pair, so J converges to 10 ms.
  t.ok(Math.abs(alternating.counters.jitterSec - 0.01) < 1e-4, `J = ${alternating.counters.jitterSec}`);
  t.equal(alternating.counters.packetsLost, 0, 'sequence and timestamp wrapped without loss');
  t.equal(alternating.counters.windowsEmitted, 29, '8 s of audio across both wraps: windows end at 1.0, 1.25 ... 8.0 s');
});
