/**
 * JSON log lines never carry a key twice. pino writes a child logger's bindings and then the
 * fields of each call, so a field repeated in both appears twice in the line (a JSON reader keeps
 * one, a log pipeline may reject the line). Checked on the raw lines of real paths at debug level:
 * a DevoxServer with a real RTP stream (UDP) and a Twilio stream (`ws` client), and a SIPREC call
 * (CallRegistry, real RTP sockets) whose sender moves on a re-INVITE.
 */
import { createSocket, type Socket } from 'node:dgram';
import { Writable } from 'node:stream';
import t, { type Test } from 'tap';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { MediaSessions } from '../../src/media/media-sessions.js';
import { DevoxServer } from '../../src/server.js';
import { CallRegistry } from '../../src/signaling/sip/call-registry.js';
import { LineCapture } from '../helpers/capture.js';
import { sendFile, testConfig } from '../helpers/devox-server.js';
import { GENUINE_FILE } from '../helpers/fixture-paths.js';
import { RecordingSink } from '../helpers/recording-sink.js';
import { makeRequest } from '../helpers/sip-messages.js';
import { waitFor } from '../helpers/wait.js';
import { TOKEN, closed, ffmpegRaw, openClient, streamTwilio } from '../signaling/websocket/harness.js';

/** Top-level keys of one JSON object line that occur more than once (the line as written, not parsed). */
function repeatedTopLevelKeys(line: string): string[] {
  const seen = new Set<string>();
  const repeated: string[] = [];
  let depth = 0;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (c === '"') {
      let j = i + 1;
      while (line[j] !== '"') j += line[j] === '\\' ? 2 : 1;
      const text = line.slice(i + 1, j);
      i = j;
      let k = j + 1;
      while (line[k] === ' ') k++;
      if (depth === 1 && line[k] === ':') {
        if (seen.has(text)) repeated.push(text);
        seen.add(text);
      }
    } else if (c === '{' || c === '[') depth++;
    else if (c === '}' || c === ']') depth--;
  }
  return repeated;
}

function rawLog(level: string) {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString('utf8').split('\n')) if (l.trim()) lines.push(l);
      cb();
    },
  });
  return { log: createLogger(level, sink), lines };
}

function checkLines(t: Test, lines: string[]): void {
  const bad = lines.map((l) => ({ l, keys: repeatedTopLevelKeys(l) })).filter((x) => x.keys.length > 0);
  for (const b of bad.slice(0, 5)) t.fail(`key(s) ${b.keys.join(', ')} written twice: ${b.l.slice(0, 300)}`);
  t.equal(bad.length, 0, `no line of ${lines.length} repeats a key`);
}

t.test('the detector of repeated keys finds them', async (t) => {
  t.same(repeatedTopLevelKeys('{"a":1,"streamId":"x","b":{"streamId":"y"},"streamId":"x"}'), ['streamId']);
  t.same(repeatedTopLevelKeys('{"msg":"a \\"streamId\\":1","streamId":"x","c":["streamId"]}'), []);
});

t.test('DevoxServer: RTP and Twilio streams log each id once per line', async (t) => {
  const { log, lines } = rawLog('debug');
  const config = testConfig({ log: { level: 'debug' }, websocket: { tokens: [TOKEN] } });
  const server = await DevoxServer.start({ config, log, stdout: new LineCapture() });
  let open = true;
  t.teardown(() => (open ? server.close() : undefined));
  const rtp = await server.openStream({ callId: 'log-rtp', leg: 'caller', codec: 'PCMU' });
  await sendFile(rtp, GENUINE_FILE, { maxSec: 1.5 });
  const ws = await openClient(`ws://127.0.0.1:${server.http.port}${config.websocket.pathPrefix}/twilio`);
  const done = closed(ws);
  await streamTwilio(ws, [{ track: 'inbound', bytes: ffmpegRaw(GENUINE_FILE, 8000, 'mulaw', 1.5) }], { callSid: 'CAlog0000000000000000000000000001' });
  await done;
  server.releaseStream(rtp.streamId);
  await waitFor(() => server.pipeline.stats.streams === 0, 10_000, 'both streams ended');
  open = false;
  await server.close();
  t.ok(lines.some((l) => l.includes('"RTP remote learned"') && l.includes(`"streamId":"${rtp.streamId}"`)), 'the RTP stream logged with its streamId');
  t.ok(lines.some((l) => l.includes('"stream ended"') && l.includes('"callId":"CAlog0000000000000000000000000001"')), 'the Twilio leg logged with its callId');
  checkLines(t, lines);
});

t.test('SIPREC call: the call logger binds callId, its lines do not repeat it', async (t) => {
  const { log, lines } = rawLog('debug');
  const cfg = loadConfig({ env: {}, overrides: { media: { bindAddress: '127.0.0.1', rtpPortMin: 46700, rtpPortMax: 46749 } } });
  const media = new MediaSessions({ media: cfg.media, window: cfg.window, outputRate: 16000, sink: new RecordingSink(), log });
  t.teardown(() => media.closeAll());
  const registry = new CallRegistry({ media, policy: { maxConcurrentCalls: 5, maxStreamsPerCall: 4, maxBodyBytes: 65536,
    maxMetadataBytes: 65536, retryAfterSec: 5, passThroughHeaders: [], sessionExpiresSec: 1800, minSessionExpiresSec: 90 },
  address: '127.0.0.1', log });
  const socks: Socket[] = [];
  for (let i = 0; i < 2; i++) {
    const s = createSocket('udp4');
    await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
    socks.push(s);
  }
  t.teardown(() => socks.forEach((s) => s.close()));
  const sdp = (v: number, port: number) =>
    `v=0\r\no=- 1 ${v} IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio ${port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendonly\r\n`;
  const invite = (body: string) => makeRequest('INVITE', new Map([['call-id', 'log-sip-1'], ['content-type', 'application/sdp']]), body);
  const first = await registry.invite(invite(sdp(1, socks[0]!.address().port)));
  t.equal(first.status, 200);
  const session = media.get(first.call!.streams()[0]!.session.descriptor.streamId)!;
  const pkt = Buffer.alloc(172, 0xff);
  pkt[0] = 0x80;
  pkt[1] = 0;
  await new Promise<void>((r, j) => socks[0]!.send(pkt, session.port, '127.0.0.1', (e) => (e ? j(e) : r())));
  await waitFor(() => session.counters.packetsReceived === 1, 2000, 'the first packet arrived');
  t.equal((await registry.modify(invite(sdp(2, socks[1]!.address().port)))).status, 200, 're-INVITE: the sender moves');
  registry.bye('log-sip-1');
  t.ok(lines.some((l) => l.includes('"sip_stream_remote_moved"') && l.includes('"callId":"log-sip-1"')), 'the re-INVITE logged with the callId');
  checkLines(t, lines);
});
