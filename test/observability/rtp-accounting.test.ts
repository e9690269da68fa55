/**
 * Every UDP datagram a DevoX RTP stream receives lands in exactly one exported counter. A real
 * DevoxServer, real UDP from two sockets: good PCMU, malformed datagrams, an oversized one, an
 * unnegotiated payload type, RTCP multiplexed on the RTP port and on port + 1, a packet far
 * ahead in sequence (used to be counted nowhere), packets from a second source; and an Opus
 * stream sent payloads libopus rejects. /metrics before and after: the partition families add
 * up to the datagrams sent, each moving by exactly its own count.
 */
import { createSocket, type Socket } from 'node:dgram';
import t from 'tap';
import { metricValue, scrape, startTestServer } from '../helpers/devox-server.js';
import { waitFor } from '../helpers/wait.js';

const PARTITION = ['received', 'malformed', 'unknown_payload', 'wrong_source', 'rtcp', 'out_of_range'] as const;

function rtp(seq: number, ts: number, pt: number, payload: Buffer, ssrc = 0x5eed): Buffer {
  const b = Buffer.alloc(12 + payload.length);
  b[0] = 0x80;
  b[1] = pt;
  b.writeUInt16BE(seq & 0xffff, 2);
  b.writeUInt32BE(ts >>> 0, 4);
  b.writeUInt32BE(ssrc, 8);
  payload.copy(b, 12);
  return b;
}
const RTCP_SR = Buffer.from([0x80, 200, 0, 6, 0, 0, 0x5e, 0xed, ...new Array<number>(20).fill(0)]);

async function socket(): Promise<Socket> {
  const s = createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  return s;
}
/** One datagram, then a turn of the event loop: a handful on loopback, none dropped. */
async function send(s: Socket, b: Buffer, port: number): Promise<void> {
  await new Promise<void>((resolve, reject) => s.send(b, port, '127.0.0.1', (e) => (e ? reject(e) : resolve())));
  await new Promise((r) => setTimeout(r, 2));
}

t.test('each datagram in exactly one exported counter', async (t) => {
  const server = await startTestServer();
  t.teardown(() => server.close());
  const a = await socket();
  const b = await socket();
  t.teardown(() => { a.close(); b.close(); });
  const before = await scrape(server);

  const pcmu = await server.openStream({ callId: 'acct', leg: 'caller', codec: 'PCMU' });
  const opus = await server.openStream({ callId: 'acct', leg: 'callee', codec: 'opus' });
  const silence = Buffer.alloc(160, 0xff);
  let seq = 1000;
  let sent = 0;
  const expected = { received: 0, malformed: 0, unknown_payload: 0, wrong_source: 0, rtcp: 0, out_of_range: 0, undecodable: 0 };
  const good = async (n: number): Promise<void> => {
    for (let i = 0; i < n; i++, seq++) await send(a, rtp(seq, seq * 160, 0, silence), pcmu.port);
    sent += n;
    expected.received += n;
  };
  await good(20); // the remote is learned from the first
  await send(a, Buffer.from([0x80, 0, 0, 1, 0]), pcmu.port); // truncated header
  await send(a, rtp(seq, seq * 160, 0, silence).fill(0x40, 0, 1), pcmu.port); // version 1
  await send(a, rtp(seq, seq * 160, 0, Buffer.alloc(1600)), pcmu.port); // over media.maxPacketBytes
  sent += 3;
  expected.malformed += 3;
  await good(5);
  for (let i = 0; i < 2; i++) await send(a, rtp(seq, seq * 160, 99, silence), pcmu.port);
  sent += 2;
  expected.unknown_payload += 2;
  await send(a, RTCP_SR, pcmu.port); // rtcp-mux on the RTP port
  await send(a, RTCP_SR, pcmu.port + 1); // the RTCP port
  await send(a, RTCP_SR, pcmu.port + 1);
  sent += 3;
  expected.rtcp += 3;
  await good(5);
  await send(a, rtp(seq + 20000, (seq + 1) * 160, 0, silence), pcmu.port); // far ahead, the next packet does not continue it
  sent += 1;
  expected.out_of_range += 1;
  await good(5);
  for (let i = 0; i < 4; i++) await send(b, rtp(seq + i, (seq + i) * 160, 0, silence), pcmu.port); // another source
  sent += 4;
  expected.wrong_source += 4;
  await good(5);
  // Opus: a code-3 TOC announcing zero frames is no valid Opus packet (RFC 6716 3.2.5).
  for (let i = 0; i < 6; i++) await send(a, rtp(500 + i, i * 960, opus.payloadType, Buffer.from([0x03, 0x00])), opus.port);
  sent += 6;
  expected.received += 6;
  expected.undecodable += 6;

  const c = server.media.get(pcmu.streamId)!.counters;
  const o = server.media.get(opus.streamId)!.counters;
  const seen = () => c.packetsReceived + o.packetsReceived + c.packetsMalformed + c.packetsUnknownPayload + c.packetsWrongSource + c.packetsRtcp + c.packetsOutOfRange;
  await waitFor(() => seen() === sent, 5000, 'every datagram counted by the streams');
  await waitFor(() => o.packetsUndecodable === 6, 5000, 'the Opus payloads reached the decoder');

  const after = await scrape(server);
  const d = (family: string): number => metricValue(after, `devox_rtp_packets_${family}_total`) - metricValue(before, `devox_rtp_packets_${family}_total`);
  for (const k of PARTITION) t.equal(d(k), expected[k], `devox_rtp_packets_${k}_total += ${expected[k]}`);
  t.equal(PARTITION.reduce((s, k) => s + d(k), 0), sent, `the partition adds up to the ${sent} datagrams sent`);
  t.equal(d('undecodable'), 6, 'undecodable Opus payloads exported, as a part of received');
  t.equal(d('duplicate') + d('late'), 0, 'no duplicate or late packet here');
});

t.test('a stream that ends before its first window and before any scrape still has its datagrams exported', async (t) => {
  const server = await startTestServer();
  t.teardown(() => server.close());
  const a = await socket();
  t.teardown(() => a.close());
  const before = await scrape(server);
  const s = await server.openStream({ callId: 'acct-short', leg: 'caller', codec: 'PCMU' });
  const silence = Buffer.alloc(160, 0xff);
  for (let i = 0; i < 10; i++) await send(a, rtp(i, i * 160, 0, silence), s.port); // 200 ms: no 1-s window
  await send(a, RTCP_SR, s.port + 1);
  await send(a, Buffer.from([0x80, 0]), s.port);
  const c = server.media.get(s.streamId)!.counters;
  await waitFor(() => c.packetsReceived === 10 && c.packetsRtcp === 1 && c.packetsMalformed === 1, 5000, 'datagrams counted by the stream');
  t.equal(c.windowsEmitted, 0, 'no window was cut');
  server.releaseStream(s.streamId);
  await waitFor(() => server.pipeline.stats.streams === 0, 10_000, 'the stream ended');
  const after = await scrape(server);
  const d = (family: string): number => metricValue(after, `devox_rtp_packets_${family}_total`) - metricValue(before, `devox_rtp_packets_${family}_total`);
  t.equal(d('received'), 10, 'its 10 packets in devox_rtp_packets_received_total');
  t.equal(d('rtcp'), 1);
  t.equal(d('malformed'), 1);
});
