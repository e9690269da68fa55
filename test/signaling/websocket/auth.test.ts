/**
 * Upgrade authentication (bearer token, signed URL as query or path suffix), 401 before any
 * audio is read, 404 for unknown paths, and websocket.maxStreamsPerToken (1013).
 */
import t from 'tap';
import { Authenticator, signMediaPath } from '../../../src/signaling/auth.js';
import { AuthError } from '../../../src/signaling/errors.js';
import { SECRET, TOKEN, TOKEN_B, closed, openClient, startHarness, upgradeStatus } from './harness.js';
import { waitFor } from '../../helpers/wait.js';

const h = await startHarness({ maxStreamsPerToken: 2 });
t.teardown(() => h.close());

const now = (): number => Math.floor(Date.now() / 1000);
const twilioPath = `${h.cfg.websocket.pathPrefix}/twilio`;

t.test('refusals are HTTP 401 and open no stream', async (t) => {
  const before = h.media.counters.refused.unauthorized;
  const streams = h.sink.streams.size;
  const cases: Array<[string, string, Record<string, string>, RegExp]> = [
    ['no credentials', h.url('/twilio'), {}, /no credentials/],
    ['wrong bearer token', h.url('/twilio'), { authorization: 'Bearer not-a-token' }, /not accepted/],
    ['not a bearer header', h.url('/twilio'), { authorization: `Basic ${Buffer.from('a:b').toString('base64')}` }, /Bearer/],
    ['signature for another path', h.url('/twilio', `auth=${signMediaPath(`${h.cfg.websocket.pathPrefix}/jambonz`, SECRET, now() + 60)}`), {}, /signature/],
    ['signed with another secret', h.url('/twilio', `auth=${signMediaPath(twilioPath, 'other-secret', now() + 60)}`), {}, /signature/],
    ['expired', h.url('/twilio', `auth=${signMediaPath(twilioPath, SECRET, now() - 5)}`), {}, /expired/],
    ['expiry beyond maxSignedUrlTtlSec', h.url('/twilio', `auth=${signMediaPath(twilioPath, SECRET, now() + 86400 * 30)}`), {}, /maxSignedUrlTtlSec/],
    ['tampered expiry', h.url('/twilio', `auth=${signMediaPath(twilioPath, SECRET, now() + 60).replace(/^\d+/, String(now() + 120))}`), {}, /signature/],
    ['garbage token', h.url('/twilio', 'auth=hello'), {}, /signed token/],
    ['Basic header and an expired signed URL', h.url('/twilio', `auth=${signMediaPath(twilioPath, SECRET, now() - 5)}`),
      { authorization: `Basic ${Buffer.from('a:b').toString('base64')}` }, /expired/],
  ];
  for (const [name, url, headers, body] of cases) {
    const r = await upgradeStatus(url, headers);
    t.equal(r.status, 401, `${name}: 401`);
    t.match(r.body, body, `${name}: says why`);
  }
  t.equal(h.media.counters.refused.unauthorized - before, cases.length, 'each refusal counted');
  t.equal(h.sink.streams.size, streams, 'no stream was opened');
  t.equal(h.media.size, 0, 'no connection is held');
});

t.test('accepted credentials', async (t) => {
  t.equal((await upgradeStatus(h.url('/twilio'), { authorization: `Bearer ${TOKEN}` })).status, 101, 'bearer token');
  t.equal((await upgradeStatus(h.url('/jambonz'), { authorization: `bearer  ${TOKEN_B}` })).status, 101, 'second token, any case');
  const tok = signMediaPath(twilioPath, SECRET, now() + 60);
  t.equal((await upgradeStatus(h.url('/twilio', `auth=${tok}`))).status, 101, 'signed query parameter');
  t.equal((await upgradeStatus(h.url(`/twilio/auth/${tok}`))).status, 101, 'signed path suffix (Twilio <Stream url> allows no query)');
  const forkTok = signMediaPath(`${h.cfg.websocket.pathPrefix}/audio-fork`, SECRET, now() + 60);
  t.equal((await upgradeStatus(h.url('/audio-fork', `auth=${forkTok}`))).status, 101, 'signed URL of another protocol path');
  // A header DevoX did not ask for does not sink a valid signed URL (docs/websocket.md).
  const jbTok = signMediaPath(`${h.cfg.websocket.pathPrefix}/jambonz`, SECRET, now() + 60);
  const basic = `Basic ${Buffer.from('user:pass').toString('base64')}`;
  t.equal((await upgradeStatus(h.url('/jambonz', `auth=${jbTok}`), { authorization: basic })).status, 101,
    'signed URL + jambonz wsAuth Basic header');
  const telnyxTok = signMediaPath(`${h.cfg.websocket.pathPrefix}/telnyx`, SECRET, now() + 60);
  t.equal((await upgradeStatus(h.url('/telnyx', `auth=${telnyxTok}`), { authorization: 'Bearer telnyx-stream-auth-token' })).status, 101,
    'signed URL + a Telnyx stream_auth_token that is not one of websocket.tokens');
});

t.test('unknown paths are 404', async (t) => {
  const r = await upgradeStatus(h.url('/nope'), { authorization: `Bearer ${TOKEN}` });
  t.equal(r.status, 404);
  const r2 = await upgradeStatus(h.url('/twilio/extra'), { authorization: `Bearer ${TOKEN}` });
  t.equal(r2.status, 404, 'no sub-paths other than /auth/<token>');
  const r3 = await upgradeStatus(h.url('/twilio/auth/%E0%A4%A'), { authorization: `Bearer ${TOKEN}` });
  t.equal(r3.status, 404, 'a malformed %-escape in the path is a 404, not a crash');
});

t.test('websocket.maxStreamsPerToken: the next stream is closed with 1013, others unaffected', async (t) => {
  const start = (callSid: string) =>
    JSON.stringify({
      event: 'start',
      start: { callSid, tracks: ['inbound'], mediaFormat: { encoding: 'audio/x-mulaw', sampleRate: 8000, channels: 1 } },
    });
  const a1 = await openClient(h.url('/twilio'));
  const a2 = await openClient(h.url('/twilio'));
  a1.send(start('CA-limit-1'));
  a2.send(start('CA-limit-2'));
  const a3 = await openClient(h.url('/twilio'));
  const c3 = await closed(a3);
  t.equal(c3.code, 1013, 'third stream on one token: 1013 try again later');
  t.match(c3.reason, /already holds 2 streams/);
  t.equal(h.media.counters.closed.too_many_streams, 1, 'counted');
  const b1 = await openClient(h.url('/twilio'), { token: TOKEN_B });
  t.equal(b1.readyState, b1.OPEN, 'another token is not affected');
  t.equal(a1.readyState, a1.OPEN, 'the first two stay open');
  t.equal(a2.readyState, a2.OPEN);
  a1.close(1000);
  await closed(a1);
  // The server frees the slot when it sees the close (a2 and b1 remain): wait for that, not a fixed time.
  await waitFor(() => h.media.size <= 2, 10_000, 'the closed stream freed its slot');
  const a4 = await openClient(h.url('/twilio'));
  const a4closed = closed(a4);
  a4.send(start('CA-limit-4'));
  a4.send(JSON.stringify({ event: 'media', media: { track: 'inbound', chunk: '1', timestamp: '0', payload: Buffer.alloc(160, 0xff).toString('base64') } }));
  await h.sink.waitFor(() => h.sink.byCall('CA-limit-4').has('inbound'));
  t.equal(a4.readyState, a4.OPEN, 'a slot freed by a closed stream is reused');
  for (const ws of [a2, a4, b1]) ws.close(1000);
  await Promise.all([closed(a2), a4closed, closed(b1)]);
});

t.test('Authenticator unit behaviour', async (t) => {
  const auth = new Authenticator({ tokens: ['x'], signingSecret: '', maxSignedUrlTtlSec: 60 });
  t.throws(() => auth.authenticate('/media/twilio', undefined, '123.abc', now()), AuthError, 'signed URLs disabled without a secret');
  t.same(auth.authenticate('/media/twilio', 'Bearer x', undefined, now()), { id: 'bearer:0', method: 'bearer' });
  t.throws(() => signMediaPath('/p', '', 10), AuthError, 'cannot sign without a secret');
  t.notOk(new Authenticator({ tokens: [], signingSecret: '', maxSignedUrlTtlSec: 60 }).enabled, 'no credentials configured: disabled');
});

t.test('identity fields are bounded (a client cannot bloat every event)', async (t) => {
  const { flattenIdentity } = await import('../../../src/signaling/websocket/identity.js');
  const big: Record<string, unknown> = { long: 'x'.repeat(1000), ['k'.repeat(100)]: 'too long a key', nested: { a: 1, b: true, c: { deep: 'dropped' } }, list: [1, 2] };
  for (let i = 0; i < 40; i++) big[`f${i}`] = `v${i}`;
  const id = flattenIdentity(big, ['f0']);
  t.equal(Object.keys(id).length, 32, 'at most 32 fields');
  t.equal(id.long!.length, 256, 'values cut at 256 characters');
  t.notOk('k'.repeat(100) in id, 'over-long keys dropped');
  t.equal(id['nested.a'], '1');
  t.equal(id['nested.b'], 'true');
  t.notOk('nested.c' in id || 'nested.c.deep' in id, 'only one level of nesting');
  t.notOk('list' in id, 'arrays dropped');
  t.notOk('f0' in id, 'skipped keys left out');
});
