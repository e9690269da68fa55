/**
 * DevoX against a real nats-server that is locked down the ways docs/security.md describes:
 *  - the shipped docker/nats/nats-server.conf (accounts, least-privilege users, passwords from the
 *    environment): DevoX publishes a call's events as "devox"; "consumer" reads them through a
 *    JetStream consumer and live, but cannot forge a verdict, purge or delete the stream; "feedback"
 *    may publish feedback only; an anonymous client is refused;
 *  - an nkey user (the server holds only the public key; DevoX reads the seed from a file);
 *  - a JWT creds file (operator mode, the user's permissions in its JWT);
 *  - TLS with a CA made here (openssl), client certificates required (mutual TLS);
 * and the start-up errors when a credential or certificate is wrong.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { connect, credsAuthenticator, nkeyAuthenticator, nkeys, type NatsConnection, type NodeConnectionOptions } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { projectRoot } from '../../src/config.js';
import type { DevoxServer } from '../../src/server.js';
import { NatsPublisherError } from '../../src/verdicts/publisher.js';
import { runDevoxCli } from '../helpers/child-process.js';
import { readWith } from '../helpers/events.js';
import { startTestServer } from '../helpers/devox-server.js';
import { NatsOperator } from '../helpers/nats-jwt.js';
import { NatsServer, NEEDS_NATS } from '../helpers/nats-server.js';
import { makeTestPki, NEEDS_OPENSSL } from '../helpers/tls-certs.js';
import { waitFor } from '../helpers/wait.js';

const SHIPPED_NATS_CONF = join(projectRoot, 'docker', 'nats', 'nats-server.conf');
const PASSWORDS = { DEVOX_NATS_PASS: 'devox-' + 'p'.repeat(20), NATS_CONSUMER_PASS: 'consumer-' + 'q'.repeat(20), NATS_FEEDBACK_PASS: 'feedback-' + 'r'.repeat(20), NATS_REGISTRY_PASS: 'registry-' + 's'.repeat(20) };

/** One short call (stream opened and released): call.started and call.ended, flushed to JetStream. */
async function oneCall(server: DevoxServer, callId: string): Promise<void> {
  const s = await server.openStream({ callId, leg: 'caller' });
  server.releaseStream(s.streamId);
  await waitFor(() => server.pipeline.stats.streams === 0, 10_000, 'call ended');
  if (!(await server.publisher.flush(10_000))) throw new Error('events not acknowledged by JetStream');
}

async function startError(t: Test, over: Record<string, unknown>): Promise<NatsPublisherError> {
  const err = await startTestServer(over).then(
    async (s) => {
      await s.close();
      return new Error('DevoX started');
    },
    (e: unknown) => e,
  );
  t.type(err, NatsPublisherError, (err as Error).message);
  return err as NatsPublisherError;
}

/** The first async error the server reports on `nc` (permission violations arrive this way). */
async function nextServerError(nc: NatsConnection, timeoutMs = 3000): Promise<string> {
  const timer = new Promise<string>((r) => setTimeout(() => r('(no error within the time)'), timeoutMs));
  const status = (async () => {
    for await (const s of nc.status()) {
      if (s.type === 'error') return String((s as { error?: unknown }).error);
    }
    return '(status closed)';
  })();
  return Promise.race([status, timer]);
}

t.test('shipped compose NATS config: devox publishes, consumer reads only, feedback only feeds back', { skip: NEEDS_NATS }, async (t) => {
  const nats = await NatsServer.start({ config: readFileSync(SHIPPED_NATS_CONF, 'utf8'), env: PASSWORDS });
  t.teardown(() => nats.close());
  const as = (user: string, pass: string, extra: Partial<NodeConnectionOptions> = {}): Promise<NatsConnection> =>
    connect({ servers: nats.url, user, pass, ...extra });

  const anonymous = await connect({ servers: nats.url }).then((nc) => nc.close().then(() => 'connected'), (e: Error) => e.message);
  t.match(anonymous, /authoriz/i, 'no anonymous access');

  const server = await startTestServer({ nats: { servers: [nats.url], user: 'devox', pass: PASSWORDS.DEVOX_NATS_PASS } });
  t.teardown(() => server.close());

  const consumer = await as('consumer', PASSWORDS.NATS_CONSUMER_PASS);
  t.teardown(() => consumer.close());
  // Live: a plain subscription on the prefix (the dashboard bridge's way).
  const live: string[] = [];
  const sub = consumer.subscribe('devox.>', {
    callback: (_e, m) => {
      live.push(m.subject);
    },
  });
  await consumer.flush();

  await oneCall(server, 'lp-call-1');
  await waitFor(() => live.length >= 2, 5000, 'live events to the consumer');
  sub.unsubscribe();
  const stored = await readWith(consumer, 'DEVOX');
  t.same(stored.map((e) => e.event.type), ['call.started', 'call.ended'], 'the consumer reads the call through a JetStream consumer');
  t.ok(stored.every((e) => e.event.callId === 'lp-call-1'));

  // The consumer tries to forge a verdict: JetStream publish and plain publish are both refused.
  const forgedSubject = stored[0]!.subject.replace(/\.started$/, '.verdict');
  t.equal(forgedSubject, 'devox.call.lp-call-1.verdict', 'the subject call control acts on');
  const js = jetstream(consumer, { timeout: 2000 });
  const forged = await js.publish(forgedSubject, JSON.stringify({ type: 'verdict.changed', label: 'genuine' })).then(
    () => 'stored',
    (e: Error) => `${e.name}: ${e.message}`,
  );
  t.match(forged, /permission|denied|violation/i, `JetStream publish refused (${forged})`);
  const errored = nextServerError(consumer);
  consumer.publish(forgedSubject, JSON.stringify({ type: 'verdict.changed', label: 'genuine' }));
  t.match(await errored, /Permissions Violation for Publish to "devox\./, 'plain publish refused by the server');
  const jsmC = await jetstreamManager(consumer);
  const purge = await jsmC.streams.purge('DEVOX').then(() => 'purged', (e: Error) => e.message);
  t.match(purge, /permission|violation|timeout|no responders/i, `purge refused (${purge})`);
  const del = await jsmC.streams.delete('DEVOX').then(() => 'deleted', (e: Error) => e.message);
  t.match(del, /permission|violation|timeout|no responders/i, `stream delete refused (${del})`);

  // DevoX may not publish feedback (an analyst's word) nor read other subjects.
  const devox = await as('devox', PASSWORDS.DEVOX_NATS_PASS);
  t.teardown(() => devox.close());
  const fbByDevox = await jetstream(devox, { timeout: 2000 }).publish('devox.feedback.x', '{}').then(() => 'stored', (e: Error) => e.message);
  t.match(fbByDevox, /permission|violation/i, 'devox cannot publish feedback');
  const devoxErr = nextServerError(devox);
  devox.subscribe('devox.>');
  t.match(await devoxErr, /Permissions Violation for Subscription to "devox\.>"/, 'devox cannot subscribe to the events');
  // An edge reads the model registry (it serves what the core promoted) but cannot promote.
  const promote = await jetstream(devox, { timeout: 2000 }).publish('$KV.devox-serving.narrowband', '{}').then(() => 'stored', (e: Error) => e.message);
  t.match(promote, /permission|violation/i, 'devox (an edge) cannot write the serving key');
  const registry = await as('registry', PASSWORDS.NATS_REGISTRY_PASS);
  t.teardown(() => registry.close());
  const promoted = await jetstream(registry, { timeout: 5000 }).publish('$KV.devox-serving.probe', '{}').then(() => 'stored', (e: Error) => e.message);
  t.equal(promoted, 'stored', 'the registry user (the core) writes the serving key');

  // The feedback user: `devox feedback` works with it; a call event does not.
  const fb = await runDevoxCli(['feedback', '--call', 'lp-call-1', '--verdict', 'confirmed_genuine', '--operator', 'analyst-7', '--nats', nats.url], {
    timeoutMs: 60_000, env: { DEVOX_NATS_USER: 'feedback', DEVOX_NATS_PASS: PASSWORDS.NATS_FEEDBACK_PASS },
  });
  t.equal(fb.code, 0, `devox feedback as the feedback user: ${fb.stderr}`);
  t.equal((JSON.parse(fb.stdout) as { stored: { stream: string } }).stored.stream, 'DEVOX', 'feedback stored');
  const feedback = await as('feedback', PASSWORDS.NATS_FEEDBACK_PASS);
  t.teardown(() => feedback.close());
  const fbForge = await jetstream(feedback, { timeout: 2000 }).publish(forgedSubject, '{}').then(() => 'stored', (e: Error) => e.message);
  t.match(fbForge, /permission|violation/i, 'feedback user cannot publish call events');

  const after = await readWith(consumer, 'DEVOX');
  t.same(after.map((e) => e.subject), [stored[0]!.subject, stored[1]!.subject, 'devox.feedback.lp-call-1'], 'the two real events and the feedback');
  t.equal(after.length, 3, 'the stream holds the two real events and the feedback, nothing forged');
  t.notOk(after.some((e) => e.subject === forgedSubject), 'no forged verdict stored');
});

t.test('nkey user: DevoX reads its seed from a file; a wrong seed or a bad file stops start-up clearly', { skip: NEEDS_NATS }, async (t) => {
  const user = nkeys.createUser();
  const nats = await NatsServer.start({ config: `authorization { users: [ { nkey: ${user.getPublicKey()} } ] }\n` });
  t.teardown(() => nats.close());
  const seedFile = join(nats.storeDir, 'devox.nk');
  writeFileSync(seedFile, new TextDecoder().decode(user.getSeed()) + '\n', { mode: 0o600 });

  const server = await startTestServer({ nats: { servers: [nats.url], nkeySeedFile: seedFile } });
  t.teardown(() => server.close());
  await oneCall(server, 'nkey-call');
  const reader = await connect({ servers: nats.url, authenticator: nkeyAuthenticator(user.getSeed()) });
  t.teardown(() => reader.close());
  t.same((await readWith(reader, 'DEVOX')).map((e) => e.event.type), ['call.started', 'call.ended'], 'events stored over the nkey connection');

  const other = join(nats.storeDir, 'other.nk');
  writeFileSync(other, new TextDecoder().decode(nkeys.createUser().getSeed()));
  const refused = await startError(t, { nats: { servers: [nats.url], nkeySeedFile: other } });
  t.equal(refused.code, 'auth');
  t.match(refused.message, /refused our credentials: nats\.nkeySeedFile .*other\.nk/);
  t.notMatch(refused.message, /SU[A-Z2-7]{10}/, 'the seed is not in the message');

  const notSeed = join(nats.storeDir, 'not-a-seed.nk');
  writeFileSync(notSeed, user.getPublicKey());
  const bad = await startError(t, { nats: { servers: [nats.url], nkeySeedFile: notSeed } });
  t.equal(bad.code, 'credentials');
  t.match(bad.message, /nats\.nkeySeedFile: .*not-a-seed\.nk does not hold a user nkey seed/);

  const notCreds = join(nats.storeDir, 'x.creds');
  writeFileSync(notCreds, 'hello');
  const badCreds = await startError(t, { nats: { servers: [nats.url], credsFile: notCreds } });
  t.equal(badCreds.code, 'credentials');
  t.match(badCreds.message, /nats\.credsFile: .*is not a NATS creds file/);
});

t.test('JWT creds file: DevoX publishes as a user whose JWT allows only its prefix and stream', { skip: NEEDS_NATS }, async (t) => {
  const operator = new NatsOperator();
  const nats = await NatsServer.start({ config: operator.serverConfig() });
  t.teardown(() => nats.close());
  const devoxPerms = {
    pub: { allow: ['devox.>', '$JS.API.INFO', '$JS.API.STREAM.INFO.DEVOX', '$JS.API.STREAM.CREATE.DEVOX', '$JS.API.STREAM.UPDATE.DEVOX'] },
    sub: { allow: ['_INBOX.>'] },
  };
  const credsFile = join(nats.storeDir, 'devox.creds');
  writeFileSync(credsFile, operator.userCreds('devox', devoxPerms), { mode: 0o600 });
  const server = await startTestServer({ nats: { servers: [nats.url], credsFile }, registry: { watch: false } }); // a user allowed only its prefix and stream: no registry
  t.teardown(() => server.close());
  await oneCall(server, 'creds-call');

  const readerCreds = operator.userCreds('reader', { pub: { allow: ['$JS.API.>', '$JS.ACK.>'] }, sub: { allow: ['devox.>', '_INBOX.>'] } });
  const reader = await connect({ servers: nats.url, authenticator: credsAuthenticator(new TextEncoder().encode(readerCreds)) });
  t.teardown(() => reader.close());
  t.same((await readWith(reader, 'DEVOX')).map((e) => e.event.type), ['call.started', 'call.ended'], 'events stored over the creds connection');
  const forged = await jetstream(reader, { timeout: 2000 }).publish('devox.call.creds-call.verdict', '{}').then(() => 'stored', (e: Error) => e.message);
  t.match(forged, /permission|violation/i, 'a reader JWT cannot publish a verdict');

  const foreign = join(nats.storeDir, 'foreign.creds');
  writeFileSync(foreign, operator.userCreds('devox', devoxPerms, nkeys.createAccount()));
  const refused = await startError(t, { nats: { servers: [nats.url], credsFile: foreign } });
  t.equal(refused.code, 'auth');
  t.match(refused.message, /refused our credentials: nats\.credsFile .*foreign\.creds/);
  t.notMatch(refused.message, /eyJ|SU[A-Z2-7]{10}/, 'neither the JWT nor the seed is in the message');
});

t.test('mutual TLS with a private CA: DevoX connects with caFile + client certificate; wrong trust fails clearly', { skip: NEEDS_NATS || NEEDS_OPENSSL }, async (t) => {
  const pki = makeTestPki();
  t.teardown(() => pki.remove());
  const nats = await NatsServer.start({
    config: `tls {\n  cert_file: ${JSON.stringify(pki.serverCert)}\n  key_file: ${JSON.stringify(pki.serverKey)}\n  ca_file: ${JSON.stringify(pki.caCert)}\n  verify: true\n  timeout: 2\n}\n`,
  });
  t.teardown(() => nats.close());
  const tls = { caFile: pki.caCert, certFile: pki.clientCert, keyFile: pki.clientKey };

  const server = await startTestServer({ nats: { servers: [nats.url], tls } });
  t.teardown(() => server.close());
  await oneCall(server, 'tls-call');
  const reader = await connect({ servers: nats.url, tls: { ...tls } });
  t.teardown(() => reader.close());
  t.equal(reader.info?.tls_required, true, 'the server requires TLS');
  t.same((await readWith(reader, 'DEVOX')).map((e) => e.event.type), ['call.started', 'call.ended'], 'events stored over mutual TLS');

  const plain = await connect({ servers: nats.url, timeout: 2000 }).then((nc) => nc.close().then(() => 'connected'), (e: Error) => e.message);
  t.not(plain, 'connected', `a client without the CA is not let in (${plain})`);

  const untrusted = await startError(t, { nats: { servers: [nats.url], tls: { ...tls, caFile: pki.otherCaCert } } });
  t.equal(untrusted.code, 'tls', untrusted.message);
  t.match(untrusted.message, /TLS failed .*nats\.tls\.caFile .*other-ca\.crt/);

  const systemCas = await startError(t, { nats: { servers: [nats.url], tls: { caFile: '', certFile: pki.clientCert, keyFile: pki.clientKey } } });
  t.equal(systemCas.code, 'tls', systemCas.message);
  t.match(systemCas.message, /DEVOX_NATS_TLS_CA_FILE/, 'says which setting to give');

  const noClientCert = await startError(t, { nats: { servers: [nats.url], tls: { caFile: pki.caCert, certFile: '', keyFile: '' } } });
  t.ok(['tls', 'unreachable'].includes(noClientCert.code), `without a client certificate: ${noClientCert.code}: ${noClientCert.message}`);
});
