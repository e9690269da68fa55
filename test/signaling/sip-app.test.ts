/**
 * The drachtio-facing app without drachtio-server: source-network ACL, digest auth
 * (response computed independently per RFC 2617), and connection handling: readiness
 * stays false and drachtio-srf keeps retrying with backoff while the TCP peer refuses or
 * drops the connection; close() is idempotent. The full SIP path is in siprec-e2e.test.ts.
 */
import t from 'tap';
import { createHash } from 'node:crypto';
import { createServer, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import { loadConfig } from '../../src/config.js';
import { MediaSessions } from '../../src/media/media-sessions.js';
import { createLogger } from '../../src/logger.js';
import { NetworkAcl, NetworkAclError } from '../../src/signaling/sip/network-acl.js';
import { DigestAuthenticator, parseDigestParams } from '../../src/signaling/sip/digest-auth.js';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import Srf from 'drachtio-srf';
import { requestView, startSip } from '../../src/signaling/sip/sip-app.js';
import { readOffer } from '../../src/signaling/sip/recording-offer.js';
import { loadSipFixture } from '../helpers/sip-messages.js';
import { SIP_FIXTURE_DIR } from '../helpers/fixture-paths.js';
import { RecordingSink } from '../helpers/recording-sink.js';
import { sleep, waitFor } from '../helpers/wait.js';

t.test('network ACL: CIDRs and addresses, v4 and v6, mapped v4, empty list refuses all', async (t) => {
  const acl = new NetworkAcl(['127.0.0.0/8', '10.20.0.0/16', '192.0.2.7', '2001:db8::/32']);
  t.ok(acl.allows('127.0.0.1'));
  t.ok(acl.allows('10.20.255.1'));
  t.notOk(acl.allows('10.21.0.1'));
  t.ok(acl.allows('192.0.2.7'));
  t.notOk(acl.allows('192.0.2.8'));
  t.ok(acl.allows('2001:db8::1'));
  t.notOk(acl.allows('2001:db9::1'));
  t.ok(acl.allows('::ffff:127.0.0.1'));
  t.notOk(acl.allows('not-an-ip'));
  t.notOk(new NetworkAcl([]).allows('127.0.0.1'));
  t.ok(new NetworkAcl(['0.0.0.0/0']).allows('203.0.113.9'));
  for (const bad of ['10.0.0.0/33', 'example.com', '10.0.0.0/8/1', '::1/129', '10.0.0.0/x']) {
    t.throws(() => new NetworkAcl([bad]), NetworkAclError, bad);
  }
});

t.test('digest auth: challenge, valid response (qop=auth and RFC 2069), wrong password, stale and forged nonces', async (t) => {
  const creds = { realm: 'devox', username: 'sbc1', password: 's3cret' };
  const auth = new DigestAuthenticator(creds, 60_000);
  const none = auth.verify('INVITE', undefined);
  t.equal(none.ok, false);
  const ch = parseDigestParams(none.ok ? '' : none.challenge)!;
  t.equal(ch.realm, 'devox');
  t.equal(ch.qop, 'auth');
  const md5 = (s: string) => createHash('md5').update(s).digest('hex');
  const uri = 'sip:srs@127.0.0.1';
  const respond = (password: string, nonce: string, qop = true) => {
    const ha1 = md5(`sbc1:devox:${password}`);
    const ha2 = md5(`INVITE:${uri}`);
    const response = qop ? md5(`${ha1}:${nonce}:00000001:abcdef:auth:${ha2}`) : md5(`${ha1}:${nonce}:${ha2}`);
    return `Digest username="sbc1", realm="devox", nonce="${nonce}", uri="${uri}", response="${response}", algorithm=MD5` +
      (qop ? ', qop=auth, nc=00000001, cnonce="abcdef"' : '');
  };
  t.same(auth.verify('INVITE', respond('s3cret', ch.nonce!)), { ok: true });
  t.same(auth.verify('INVITE', respond('s3cret', ch.nonce!, false)), { ok: true });
  t.match(auth.verify('INVITE', respond('wrong', ch.nonce!)), { ok: false, why: 'wrong response' });
  t.match(auth.verify('INVITE', respond('s3cret', `${Date.now()}.deadbeef`)), { ok: false, why: 'unknown nonce' });
  const stale = auth.verify('INVITE', respond('s3cret', ch.nonce!), Date.now() + 120_000);
  t.match(stale, { ok: false, why: 'stale nonce' });
  t.match(stale.ok ? '' : stale.challenge, /stale=true/);
  t.match(auth.verify('INVITE', 'Basic Zm9vOmJhcg=='), { ok: false, why: 'malformed Authorization' });
});

class Lines extends Writable {
  readonly lines: Record<string, unknown>[] = [];
  override _write(chunk: Buffer, _e: BufferEncoding, cb: () => void): void {
    for (const l of chunk.toString().split('\n')) if (l) this.lines.push(JSON.parse(l) as Record<string, unknown>);
    cb();
  }
}

t.test('drachtio connection: not ready while the peer drops us, retries with backoff, close() idempotent', async (t) => {
  // A real TCP listener that accepts and immediately closes (a drachtio-server restarting).
  const accepted: number[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((s) => {
    accepted.push(Date.now());
    sockets.add(s);
    s.destroy();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));

  const out = new Lines();
  const log = createLogger('info', out);
  const config = loadConfig({ env: {}, overrides: { sip: { enabled: true, drachtioPort: port, reconnectMaxMs: 400 },
    media: { rtpPortMin: 47400, rtpPortMax: 47409 } } });
  const media = new MediaSessions({ media: config.media, window: config.window, outputRate: 16000, sink: new RecordingSink(), log });
  t.teardown(() => media.closeAll());
  const app = await startSip({ config, media, log });
  t.equal(app.ready, false);
  t.equal(app.readiness(), 'not connected to drachtio-server');
  await t.rejects(app.waitReady(300), /not connected after 300 ms/);
  await waitFor(() => accepted.length >= 4, 5_000, '4 reconnections');
  t.ok(accepted.length >= 4, `reconnected ${accepted.length} times`);
  t.equal(app.ready, false, 'never ready: the peer never authenticated us');
  const reconnecting = out.lines.filter((l) => l.event === 'drachtio_reconnecting');
  t.ok(reconnecting.length >= 3, 'reconnect attempts are logged');
  const delays = reconnecting.map((l) => l.delayMs as number);
  t.ok(delays.every((d) => d <= 400), 'backoff capped at sip.reconnectMaxMs');
  t.ok(delays[1]! >= delays[0]!, 'backoff grows');
  await app.close();
  await app.close();
  const n = accepted.length;
  await sleep(600);
  t.equal(accepted.length, n, 'no reconnects after close()');
  t.equal(media.size, 0);
});

t.test('bad sip.allowedNetworks fails start with a ConfigError naming the key', async (t) => {
  const config = loadConfig({ env: {}, overrides: { sip: { allowedNetworks: ['10.0.0.0/99'] } } });
  const log = createLogger('silent');
  const media = new MediaSessions({ media: config.media, window: config.window, outputRate: 16000, sink: new RecordingSink(), log });
  t.teardown(() => media.closeAll());
  await t.rejects(startSip({ config, media, log }), { name: 'ConfigError', key: 'sip.allowedNetworks' });
});

t.test('drachtio-srf parses every stored INVITE into the same view the plain module reads', async (t) => {
  // drachtio-srf's message classes (static getters, not in its .d.ts): the parser it runs on every request.
  const parserClasses = Srf as unknown as {
    SipMessage: new (raw: string) => unknown;
    SipRequest: new (msg: unknown, meta: Record<string, string>) => Parameters<typeof requestView>[0];
  };
  const limits = { maxBodyBytes: 256 * 1024, maxMetadataBytes: 64 * 1024 };
  for (const name of ['rfc7866-siprec-invite.sip', 'cisco-cube-siprec-invite.sip', 'ribbon-sbc-siprec-invite.sip',
    'opensips-siprec-invite.sip', 'plain-fork-invite.sip', 'sipp-e2e-invite.sip']) {
    const raw = readFileSync(resolve(SIP_FIXTURE_DIR, name), 'utf8').replace(/\r?\n/g, '\r\n');
    const mine = loadSipFixture(name);
    const msg = new parserClasses.SipMessage(raw.replace('Content-Length: [length]', `Content-Length: ${Buffer.byteLength(mine.body)}`));
    const req = new parserClasses.SipRequest(msg, { source: 'network', address: '10.1.2.3', port: '5060', protocol: 'udp' });
    const v = requestView(req);
    t.equal(v.method, 'INVITE', name);
    t.equal(v.callId, mine.callId, name);
    t.equal(v.sourceAddress, '10.1.2.3', name);
    t.equal(v.header('content-type'), mine.header('content-type'), name);
    t.equal(v.header('X-Original-Call-ID'), mine.header('x-original-call-id'), name);
    t.equal(v.header('p-asserted-identity'), mine.header('p-asserted-identity'), name);
    t.equal(v.header('no-such-header'), undefined, name);
    const a = readOffer(v, limits);
    const b = readOffer(mine, limits);
    t.same([a.mode, a.metadataStatus, a.streams.map((s) => s.label)], [b.mode, b.metadataStatus, b.streams.map((s) => s.label)], name);
  }
});
