/**
 * Shadow and canary switched live from the registry (shadow.<channel> / canary.<channel> keys), on a
 * REAL nats-server with a real DevoxServer, real RTP and real ONNX models: `devox model shadow`
 * starts shadow scoring without a restart, a share change only re-samples, a corrupt candidate is
 * refused and the running shadow keeps scoring, a replacement happens while a call streams, --off
 * stops it; a canary judges NEW streams only (a call it judges stays with it after --off); a canary
 * with the wrong window length leaves the running canary as it was; every change is audited; the
 * keys beat the config's start-up defaults.
 */
import t from 'tap';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import { createLogger } from '../../src/logger.js';
import { setCandidate } from '../../src/registry/candidates.js';
import { ModelRegistry } from '../../src/registry/registry.js';
import type { DevoxServer } from '../../src/server.js';
import type { WindowScoredEvent } from '../../src/verdicts/types.js';
import { NatsServer, NEEDS_NATS } from '../helpers/nats-server.js';
import { metricValue, scrape, sendFile, startTestServer } from '../helpers/devox-server.js';
import { runDevoxCli } from '../helpers/child-process.js';
import { EMBEDDING_MODEL, GENUINE_FILE } from '../helpers/fixture-paths.js';
import { readStoredEvents } from '../helpers/events.js';
import { sleep, waitFor } from '../helpers/wait.js';
import { modelCopy } from '../helpers/model-copy.js';

interface ShadowPair {
  seq: number;
  serving: { version: string };
  candidate: { version: string };
}

t.test('shadow and canary follow the registry keys live; bad candidates leave things as they were', { skip: NEEDS_NATS, timeout: 240_000 }, async (t) => {
  const nats = await NatsServer.start();
  t.teardown(() => nats.close());
  const nb = (version: string, extra: Record<string, unknown> = {}) => modelCopy(EMBEDDING_MODEL, { name: 'nb', version, band: 'narrowband', ...extra });
  const dirs = {
    wb: modelCopy(EMBEDDING_MODEL, { name: 'wb', version: 'w1' }),
    nb1: nb('1'),
    sa: nb('sa'),
    sb: nb('sb'),
    c1: nb('c1', { thresholds: { eer: 0.4, suspicious: 0.3, synthetic: 0.6 } }),
    cache: mkdtempSync(join(tmpdir(), 'devox-cache-')),
  };
  t.teardown(() => Object.values(dirs).forEach((d) => rmSync(d, { recursive: true, force: true })));
  const nc = await connect({ servers: nats.url });
  t.teardown(() => nc.close());
  const registry = await ModelRegistry.open(nc, { objectBucket: 'devox-models', kvBucket: 'devox-serving', subjectPrefix: 'devox', log: createLogger('silent') });
  for (const d of [dirs.sa, dirs.sb, dirs.c1]) await registry.publish(d, { windowSec: 1, by: 'test' });
  // Published behind publish's back (it would refuse them): bytes that are not the card's sha256, and 2-s windows.
  const card = JSON.parse(readFileSync(join(dirs.sa, 'card.json'), 'utf8'));
  const onnx = readFileSync(join(dirs.sa, 'model.onnx'));
  const bad = Buffer.from(onnx);
  bad.fill(7, 100, 400);
  await registry.objects.put('nb/bad/model.onnx', bad);
  await registry.objects.put('nb/bad/card.json', Buffer.from(JSON.stringify({ ...card, version: 'bad' })));
  await registry.objects.put('nb/w2/model.onnx', onnx);
  await registry.objects.put('nb/w2/card.json', Buffer.from(JSON.stringify({ ...card, version: 'w2', input: { ...card.input, windowSec: 2 } })));

  const server = await startTestServer({
    nats: { servers: [nats.url] },
    detect: { modelDir: dirs.wb, narrowbandModelDir: dirs.nb1 },
    registry: { cacheDir: dirs.cache, pollSec: 1 },
  });
  t.teardown(() => server.close());
  const live = server.lifecycle!.candidates!;
  t.equal(live.current('shadow', 'narrowband'), undefined, 'no shadow at start-up');
  const cli = (...args: string[]) => runDevoxCli(['model', ...args, '--nats', nats.url, '--by', 'ops'], { timeoutMs: 120_000 });
  const changes = async (kind: string, result: string) => metricValue(await scrape(server), 'devox_registry_candidate_changes_total', `kind="${kind}",channel="narrowband",result="${result}"`);
  const call = async (s: DevoxServer, callId: string, sec: number, during?: () => Promise<void>) => {
    const stream = await s.openStream({ codec: 'PCMU', callId });
    const sending = sendFile(stream, GENUINE_FILE, { maxSec: sec });
    await during?.();
    await sending;
    s.releaseStream(stream.streamId);
    await waitFor(async () => (await readStoredEvents(nats.url, 'DEVOX', `devox.call.${callId}.ended`)).length === 1, 20_000, `${callId} ended`);
    return (await readStoredEvents(nats.url, 'DEVOX', `devox.call.${callId}.window`)).map((e) => e.event as WindowScoredEvent);
  };
  const pairs = async (callId: string) => (await readStoredEvents(nats.url, 'DEVOX', `devox.shadow.${callId}`)).map((e) => e.event as unknown as ShadowPair);

  // 1. `devox model shadow` starts shadow scoring on the running node.
  let r = await cli('shadow', 'nb@sa', '--share', '1');
  t.equal(r.code, 0, r.stderr);
  t.match(JSON.parse(r.stdout), { shadow: { action: 'shadow', channel: 'narrowband', candidate: { name: 'nb', version: 'sa' }, share: 1, from: null, by: 'ops' } });
  await waitFor(() => live.current('shadow', 'narrowband')?.version === 'sa', 10_000, 'shadow sa running');
  const w1 = await call(server, 'sh-1', 3);
  t.same([...new Set(w1.map((w) => w.modelVersion))], ['1'], 'the serving version judged every window');
  await waitFor(async () => (await pairs('sh-1')).length === w1.length, 10_000, 'every window shadowed (share 1)');
  t.same([...new Set((await pairs('sh-1')).map((p) => p.candidate.version))], ['sa'], 'paired with the candidate sa');

  // 2. A share change re-samples without reloading anything.
  await setCandidate(registry, 'shadow', 'narrowband', { name: 'nb', version: 'sa' }, 0.5, 'test');
  await waitFor(() => live.current('shadow', 'narrowband')?.share === 0.5, 10_000, 'share 0.5');
  t.equal(await changes('shadow', 'share'), 1, 'counted as a share change');

  // 3. A corrupt candidate is refused; sa keeps shadowing.
  await setCandidate(registry, 'shadow', 'narrowband', { name: 'nb', version: 'bad' }, 1, 'test');
  await waitFor(async () => (await changes('shadow', 'invalid_model')) === 1, 10_000, 'corrupt shadow refused');
  t.same(live.current('shadow', 'narrowband'), { name: 'nb', version: 'sa', sha256: card.sha256, share: 0.5 }, 'sa still shadows, at its share');

  // 4. Replaced while a call streams: the call goes on, its later pairs are sb's.
  const w2 = await call(server, 'sh-2', 5, async () => {
    await sleep(2000);
    await setCandidate(registry, 'shadow', 'narrowband', { name: 'nb', version: 'sb' }, 1, 'test');
    await waitFor(() => live.current('shadow', 'narrowband')?.version === 'sb', 10_000, 'shadow sb running');
  });
  const seqs = w2.map((w) => w.windowSeq);
  t.same(seqs, [...seqs.keys()], 'the call was scored window by window through the replacement');
  await sleep(500);
  const p2 = await pairs('sh-2');
  t.ok(p2.some((p) => p.candidate.version === 'sb'), `sb shadowed the rest of the call (${p2.filter((p) => p.candidate.version === 'sb').length} pairs)`);

  // 5. --off (CLI): no more shadow pairs.
  r = await cli('shadow', '--off', '--channel', 'narrowband');
  t.equal(r.code, 0, r.stderr);
  await waitFor(() => live.current('shadow', 'narrowband') === undefined, 10_000, 'shadow off');
  await call(server, 'sh-3', 2);
  await sleep(500);
  t.equal((await pairs('sh-3')).length, 0, 'no shadow pairs after --off');

  // 6. Canary: NEW streams only; a stream it judges stays with it after --off.
  await setCandidate(registry, 'canary', 'narrowband', { name: 'nb', version: 'c1' }, 1, 'test');
  await waitFor(() => live.current('canary', 'narrowband')?.version === 'c1', 10_000, 'canary c1 running');
  let w4: WindowScoredEvent[] = [];
  const wa = await call(server, 'ca-1', 5, async () => {
    await sleep(1500);
    await setCandidate(registry, 'canary', 'narrowband', null, 0, 'test');
    await waitFor(() => live.current('canary', 'narrowband') === undefined, 10_000, 'canary off');
    w4 = await call(server, 'ca-2', 2);
  });
  t.same([...new Set(wa.map((w) => w.modelVersion))], ['c1'], 'the call started under the canary was judged by it to its end');
  t.same(wa.map((w) => w.windowSeq), [...wa.keys()], 'every window of it scored once');
  t.same([...new Set(w4.map((w) => w.modelVersion))], ['1'], 'a call started after --off is judged by the serving version');

  // 7. A canary cut for 2-s windows is refused; the running canary stays as it was.
  await setCandidate(registry, 'canary', 'narrowband', { name: 'nb', version: 'c1' }, 0.5, 'test');
  await waitFor(() => live.current('canary', 'narrowband')?.share === 0.5, 10_000, 'canary c1 at 0.5');
  await setCandidate(registry, 'canary', 'narrowband', { name: 'nb', version: 'w2' }, 1, 'test');
  await waitFor(async () => (await changes('canary', 'invalid_model')) === 1, 10_000, 'wrong window length refused');
  t.same(live.current('canary', 'narrowband'), { name: 'nb', version: 'c1', sha256: card.sha256, share: 0.5 }, 'c1 still judges its share');
  const m = await scrape(server);
  t.equal(metricValue(m, 'devox_candidate_share', 'kind="canary",channel="narrowband",version="c1"'), 0.5, 'devox_candidate_share names the running canary');

  // 8. Audited like promote and rollback.
  const audit = (await readStoredEvents(nats.url, 'DEVOX', 'devox.model.audit')).map((e) => e.event as unknown as { action: string; version: string | null; share: number; off: boolean });
  t.same(audit.filter((a) => a.action === 'shadow').map((a) => [a.version, a.share]), [['sa', 1], ['sa', 0.5], ['bad', 1], ['sb', 1], [null, 0]], 'every shadow change audited');
  t.same(audit.filter((a) => a.action === 'canary').map((a) => [a.version, a.share]), [['c1', 1], [null, 0], ['c1', 0.5], ['w2', 1]], 'every canary change audited');

  // 9. The keys beat the config's start-up defaults: shadow key off, canary key w2 (refused on this node too).
  const second = await startTestServer({
    nats: { servers: [nats.url] },
    detect: { modelDir: dirs.wb, narrowbandModelDir: dirs.nb1 },
    registry: { cacheDir: mkdtempSync(join(tmpdir(), 'devox-cache-')), pollSec: 1, shadow: { version: 'nb@sa', share: 1 }, canary: { version: 'nb@c1', share: 1 } },
  });
  t.teardown(() => second.close());
  t.equal(second.lifecycle!.candidates!.current('shadow', 'narrowband'), undefined, 'shadow key off: the config default does not apply');
  t.equal(second.lifecycle!.candidates!.current('canary', 'narrowband'), undefined, 'canary key names a refused version: nothing runs');
  // Without keys (wideband never written) a config default would apply: covered by canary-shadow.test.ts.
});
