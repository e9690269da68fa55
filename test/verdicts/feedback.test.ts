/**
 * Analyst feedback: `devox feedback` as a real process publishing to a REAL nats-server's
 * JetStream, read back as an integrator would and validated against schema/feedback.schema.json;
 * bad input refused with the field named; no stream over the subject reported, not swallowed.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { connect } from '@nats-io/transport-node';
import { projectRoot, loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { ensureStream } from '../../src/verdicts/nats-connection.js';
import { buildFeedback, FeedbackError, feedbackSubject, parseFeedback } from '../../src/verdicts/feedback.js';
import { NatsServer, NEEDS_NATS } from '../helpers/nats-server.js';
import { readStoredEvents } from '../helpers/events.js';
import { runDevoxCli } from '../helpers/child-process.js';

const schema = JSON.parse(readFileSync(resolve(projectRoot, 'schema/feedback.schema.json'), 'utf8'));
const ajv = new Ajv2020({ allErrors: true, strict: true });
(addFormats as unknown as (a: Ajv2020) => void)(ajv);
const validate = ajv.compile(schema);

t.test('buildFeedback fills the event and names a bad field', async (t) => {
  const e = buildFeedback({ callId: 'call a.b*', verdict: 'confirmed_synthetic', operator: 'ana', source: 'console', leg: 'caller' }, 1_700_000_000_000);
  t.equal(e.type, 'call.feedback');
  t.equal(e.wallTime, '2023-11-14T22:13:20.000Z');
  t.ok(validate(e), ajv.errorsText(validate.errors));
  t.same(parseFeedback(JSON.parse(JSON.stringify(e))), e);
  t.not(buildFeedback({ callId: 'c', verdict: 'unsure', operator: 'a', source: 's' }).eventId, e.eventId, 'each feedback has its own id');
  t.equal(feedbackSubject('devox', 'call a.b*'), 'devox.feedback.call~20a~2Eb~2A');
  t.throws(() => buildFeedback({ callId: 'c', verdict: 'fake', operator: 'a', source: 's' }), /verdict/);
  t.throws(() => buildFeedback({ callId: '', verdict: 'unsure', operator: 'a', source: 's' }), /callId/);
  t.throws(() => buildFeedback({ callId: 'c', verdict: 'unsure', operator: 'a', source: 's', extra: 1 }), FeedbackError);
  t.throws(() => parseFeedback({ ...e, wallTime: 'yesterday' }), /wallTime/);
});

t.test('devox feedback stores one event in JetStream', { skip: NEEDS_NATS }, async (t) => {
  const nats = await NatsServer.start();
  t.teardown(() => nats.stop());
  const cfg = loadConfig({ overrides: { nats: { servers: [nats.url] } } }).nats;
  const nc = await connect({ servers: nats.url });
  await ensureStream(nc, cfg, createLogger('silent'));
  await nc.close();

  const ok = await runDevoxCli(['feedback', '--nats', nats.url, '--call', 'CA123.x', '--verdict', 'confirmed_genuine', '--operator', 'sup-1', '--leg', 'caller', '--note', 'known customer'], { timeoutMs: 60_000 });
  t.equal(ok.code, 0, ok.stderr);
  const printed = JSON.parse(ok.stdout) as { stored: { stream: string; seq: number } };
  t.equal(printed.stored.stream, 'DEVOX');

  const stored = await readStoredEvents(nats.url, 'DEVOX', 'devox.feedback.>');
  t.equal(stored.length, 1);
  const got = stored[0]!;
  t.equal(got.subject, 'devox.feedback.CA123~2Ex');
  t.ok(validate(got.event), ajv.errorsText(validate.errors));
  const fb = parseFeedback(got.event);
  t.match(fb, { callId: 'CA123.x', verdict: 'confirmed_genuine', operator: 'sup-1', leg: 'caller', source: 'cli', note: 'known customer' });
  t.equal(got.msgId, fb.eventId, 'stored under its eventId (de-duplicated on re-send)');

  const bad = await runDevoxCli(['feedback', '--nats', nats.url, '--call', 'c', '--verdict', 'maybe', '--operator', 'x'], { timeoutMs: 60_000 });
  t.equal(bad.code, 2);
  t.match(bad.stderr, /verdict/);
});

t.test('devox feedback without a stream over the subject fails loudly', { skip: NEEDS_NATS }, async (t) => {
  const nats = await NatsServer.start();
  t.teardown(() => nats.stop());
  const r = await runDevoxCli(['feedback', '--nats', nats.url, '--call', 'c', '--verdict', 'unsure', '--operator', 'x'], { timeoutMs: 60_000 });
  t.equal(r.code, 1);
  t.match(r.stderr, /not stored.*devox\.>/);
  const none = await runDevoxCli(['feedback', '--call', 'c', '--verdict', 'unsure', '--operator', 'x'], { timeoutMs: 60_000 });
  t.equal(none.code, 2);
  t.match(none.stderr, /no NATS server configured/);
});
