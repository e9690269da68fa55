/**
 * The model registry on a REAL nats-server: `devox model` as a real process publishing a real
 * ONNX model into the Object Store bucket, promotion / rollback in the KV bucket with their
 * history and audit events, a pull checked against digests; refusals named.
 */
import t from 'tap';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { createLogger } from '../../src/logger.js';
import { loadConfig } from '../../src/config.js';
import { ensureStream } from '../../src/verdicts/nats-connection.js';
import { ModelRegistry } from '../../src/registry/registry.js';
import { NatsServer, NEEDS_NATS } from '../helpers/nats-server.js';
import { runDevoxCli } from '../helpers/child-process.js';
import { EMBEDDING_MODEL } from '../helpers/fixture-paths.js';
import { readStoredEvents } from '../helpers/events.js';
import { modelCopy } from '../helpers/model-copy.js';

t.test('publish, list, promote, rollback, pull, history: one command each, audited', { skip: NEEDS_NATS }, async (t) => {
  const nats = await NatsServer.start();
  t.teardown(() => nats.close());
  // The events stream (devox serve creates it) keeps the audit events.
  const nc0 = await connect({ servers: nats.url });
  await ensureStream(nc0, loadConfig({ env: {} }).nats, createLogger('silent'));
  await nc0.close();
  const v1 = modelCopy(EMBEDDING_MODEL, { name: 'tiny', version: '1.0.0', band: 'narrowband' });
  const v2 = modelCopy(EMBEDDING_MODEL, { name: 'tiny', version: '2.0.0', band: 'narrowband' });
  const wide = modelCopy(EMBEDDING_MODEL, { name: 'tiny-wb', version: '1.0.0' });
  const badWindow = modelCopy(EMBEDDING_MODEL, { name: 'tiny', version: '3.0.0', band: 'narrowband', input: { name: 'audio', sampleRate: 8000, windowSec: 2, shape: ['batch', 16000] } });
  const badSha = modelCopy(EMBEDDING_MODEL, { name: 'tiny', version: '4.0.0', band: 'narrowband', sha256: 'ab'.repeat(32) });
  const pulled = mkdtempSync(join(tmpdir(), 'devox-pull-'));
  t.teardown(() => [v1, v2, wide, badWindow, badSha, pulled].forEach((d) => rmSync(d, { recursive: true, force: true })));
  const cli = (...args: string[]) => runDevoxCli(['model', ...args, '--nats', nats.url, '--by', 'tester'], { timeoutMs: 60_000 });

  let r = await cli('publish', v1);
  t.equal(r.code, 0, r.stderr);
  t.match(JSON.parse(r.stdout), { published: 'tiny@1.0.0', band: 'narrowband', files: ['model.onnx', 'card.json'] });
  r = await cli('publish', v1);
  t.equal(r.code, 1, 'an existing version is refused');
  t.match(r.stderr, /already published: versions are immutable/);
  r = await cli('publish', badWindow);
  t.equal(r.code, 1);
  t.match(r.stderr, /windowSec 2 differs from the fleet's window.lengthSec 1/);
  r = await cli('publish', badSha);
  t.equal(r.code, 1);
  t.match(r.stderr, /sha256 of model.onnx is .* card.json says/);
  t.equal((await cli('publish', v2)).code, 0);
  t.equal((await cli('publish', wide)).code, 0);

  r = await cli('promote', 'tiny@1.0.0');
  t.equal(r.code, 0, r.stderr);
  t.match(JSON.parse(r.stdout).promoted, { action: 'promote', version: '1.0.0', channel: 'narrowband', from: null, by: 'tester' });
  r = await cli('promote', 'tiny-wb@1.0.0', '--channel', 'narrowband');
  t.equal(r.code, 1, 'a wideband model cannot serve narrowband');
  t.match(r.stderr, /serves wideband \(card band\), not narrowband/);
  r = await cli('promote', 'tiny@9.9.9');
  t.equal(r.code, 1);
  t.match(r.stderr, /tiny@9.9.9 is not published/);
  t.equal((await cli('promote', 'tiny@2.0.0')).code, 0);
  t.equal((await cli('promote', 'tiny-wb@1.0.0')).code, 0);

  r = await cli('list', '--json');
  t.equal(r.code, 0, r.stderr);
  const listed = JSON.parse(r.stdout);
  t.same(listed.versions.map((v: { name: string; version: string }) => `${v.name}@${v.version}`), ['tiny@1.0.0', 'tiny@2.0.0', 'tiny-wb@1.0.0'], 'the refused versions were never stored');
  t.equal(listed.serving.narrowband.version, '2.0.0');
  t.equal(listed.serving.wideband.name, 'tiny-wb');

  r = await cli('rollback');
  t.equal(r.code, 2, 'two channels have history: rollback asks which');
  r = await cli('rollback', '--channel', 'narrowband');
  t.equal(r.code, 0, r.stderr);
  t.match(JSON.parse(r.stdout).rolledBack, { action: 'rollback', version: '1.0.0', from: '2.0.0' });
  r = await cli('rollback', '--channel', 'narrowband');
  t.equal(r.code, 1, 'nothing before 1.0.0');
  t.match(r.stderr, /no earlier promotion/);

  r = await cli('history', '--channel', 'narrowband');
  const hist = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
  t.same(hist.map((h: { action: string; version: string }) => `${h.action} ${h.version}`), ['promote 1.0.0', 'promote 2.0.0', 'rollback 1.0.0']);

  r = await cli('pull', 'tiny@2.0.0', join(pulled, 'tiny-2'));
  t.equal(r.code, 0, r.stderr);
  t.same(readFileSync(join(pulled, 'tiny-2', 'model.onnx')), readFileSync(join(v2, 'model.onnx')), 'the pulled model is byte-identical');
  t.same(JSON.parse(readFileSync(join(pulled, 'tiny-2', 'card.json'), 'utf8')).version, '2.0.0');

  const audit = await readStoredEvents(nats.url, 'DEVOX', 'devox.model.audit');
  const actions = audit.map((a) => `${(a.event as unknown as { action: string }).action} ${(a.event as unknown as { version: string }).version}`);
  t.same(actions, ['publish 1.0.0', 'publish 2.0.0', 'publish 1.0.0', 'promote 1.0.0', 'promote 2.0.0', 'promote 1.0.0', 'rollback 1.0.0'], 'every change has its audit event');

  // The buckets follow the NATS KV / Object Store stream layouts.
  const nc = await connect({ servers: nats.url });
  t.teardown(() => nc.close());
  const jsm = await jetstreamManager(nc);
  t.same((await jsm.streams.info('KV_devox-serving')).config.subjects, ['$KV.devox-serving.>']);
  t.equal((await jsm.streams.info('OBJ_devox-models')).config.subjects?.length, 2);
  const reg = await ModelRegistry.open(nc, { objectBucket: 'devox-models', kvBucket: 'devox-serving', subjectPrefix: 'devox', log: createLogger('silent') });
  t.equal((await reg.serving('narrowband'))?.entry.version, '1.0.0');
});
