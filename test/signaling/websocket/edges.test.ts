/**
 * WebSocket edges a real `ws` client meets: a subprotocol the endpoint does not speak is refused
 * with HTTP 400 and a readable reason (not a 101 the client aborts with 1006); the closes `ws`
 * makes itself (1009 over maxMessageBytes, 1007 invalid UTF-8, 1002 a malformed frame) carry a non-empty reason.
 * No shared data needed: the frames are built here.
 */
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { connect } from 'node:net';
import t from 'tap';
import WebSocket from 'ws';
import { TOKEN, closed, openClient, startHarness } from './harness.js';

const MAX = 4096;
const h = await startHarness({ maxMessageBytes: MAX });
t.teardown(() => h.close());

/** The handshake outcome of a client offering `protocols`: the HTTP status and body, or the 101 and the chosen subprotocol. */
function handshake(url: string, protocols: string[]): Promise<{ status: number; body: string; protocol: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols, { headers: { authorization: `Bearer ${TOKEN}` } });
    ws.once('open', () => {
      const protocol = ws.protocol;
      ws.close(1000, 'done');
      resolve({ status: 101, body: '', protocol });
    });
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, protocol: '' }));
    });
    ws.once('error', reject);
  });
}

t.test('a wrong or unsupported subprotocol is refused with HTTP 400 and the reason; the right one is accepted', async (t) => {
  const before = h.media.counters.refused.bad_subprotocol;
  const wrong = await handshake(h.url('/audio-fork'), ['audio.jambonz.org']);
  t.equal(wrong.status, 400, 'audio-fork offered the jambonz subprotocol: 400');
  t.match(wrong.body, /unsupported subprotocol audio\.jambonz\.org: the audio-fork endpoint speaks audio\.drachtio\.org/, `reason: ${wrong.body.trim()}`);
  const unknown = await handshake(h.url('/jambonz'), ['chat', 'superchat']);
  t.equal(unknown.status, 400);
  t.match(unknown.body, /chat, superchat: the jambonz endpoint speaks audio\.jambonz\.org/);
  const onTwilio = await handshake(h.url('/twilio'), ['audio.drachtio.org']);
  t.equal(onTwilio.status, 400, 'Twilio path takes no subprotocol');
  t.match(onTwilio.body, /the twilio endpoint takes no subprotocol/);
  t.equal(h.media.counters.refused.bad_subprotocol - before, 3, 'each counted as refused bad_subprotocol');

  const right = await handshake(h.url('/audio-fork'), ['other', 'audio.drachtio.org']);
  t.equal(right.status, 101, 'offering the right one among others: accepted');
  t.equal(right.protocol, 'audio.drachtio.org', 'and it is the subprotocol chosen');
  const none = await handshake(h.url('/jambonz'), []);
  t.equal(none.status, 101, 'offering none: accepted');
});

t.test('a message over maxMessageBytes closes 1009 with a reason naming the limit', async (t) => {
  const ws = await openClient(h.url('/audio-fork'), { protocol: 'audio.drachtio.org' });
  const done = closed(ws);
  ws.send(JSON.stringify({ sampleRate: 8000, uuid: 'edge-huge' }));
  ws.send(Buffer.alloc(MAX + 1));
  const c = await done;
  t.equal(c.code, 1009);
  t.equal(c.reason, `message over websocket.maxMessageBytes (${MAX} bytes)`, 'non-empty reason');
});

t.test('a text frame that is not UTF-8 closes 1007 with a reason', async (t) => {
  const ws = await openClient(h.url('/twilio'));
  const done = closed(ws);
  ws.send(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), { binary: false }); // a text frame with bytes no UTF-8 string has
  const c = await done;
  t.equal(c.code, 1007);
  t.equal(c.reason, 'text message is not valid UTF-8', 'non-empty reason');
});

t.test('closes DevoX makes itself keep their own reason (1007 not JSON)', async (t) => {
  const ws = await openClient(h.url('/twilio'));
  const done = closed(ws);
  ws.send('{"event": "start",');
  const c = await done;
  t.equal(c.code, 1007);
  t.match(c.reason, /not JSON/, `reason "${c.reason}"`);
});

t.test('a malformed frame (a client frame without a mask) closes 1002 with a reason', async (t) => {
  const url = new URL(h.url('/twilio'));
  const sock = connect(Number(url.port), url.hostname);
  t.teardown(() => sock.destroy());
  await once(sock, 'connect');
  sock.write(
    `GET ${url.pathname} HTTP/1.1\r\nHost: ${url.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\nAuthorization: Bearer ${TOKEN}\r\n\r\n`,
  );
  let buf = Buffer.alloc(0);
  const readUntil = async (done: () => boolean): Promise<void> => {
    while (!done()) {
      const [chunk] = (await once(sock, 'data')) as [Buffer];
      buf = Buffer.concat([buf, chunk]);
    }
  };
  await readUntil(() => buf.includes('\r\n\r\n'));
  t.match(buf.toString('latin1'), /^HTTP\/1\.1 101 /, 'upgraded');
  buf = buf.subarray(buf.indexOf('\r\n\r\n') + 4);
  sock.write(Buffer.from([0x81, 0x01, 0x41])); // FIN text frame "A", MASK bit not set: RFC 6455 5.1 says close
  await readUntil(() => buf.length >= 2 && buf.length >= 2 + (buf[1]! & 0x7f));
  t.equal(buf[0], 0x88, 'a close frame');
  const payload = buf.subarray(2, 2 + (buf[1]! & 0x7f));
  t.equal(payload.readUInt16BE(0), 1002, 'code 1002 (protocol error)');
  t.equal(payload.subarray(2).toString('utf8'), 'WebSocket protocol error (malformed frame)', 'non-empty reason');
});
