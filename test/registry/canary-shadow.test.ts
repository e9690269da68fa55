/**
 * Canary and shadow on a REAL nats-server with a real DevoxServer: a canary candidate judges the
 * configured share of new streams of its band (its version on their events), the rest stay with the
 * serving version; a shadow candidate scores sampled windows next to the serving model, published
 * on <prefix>.shadow.<callToken>, without touching any verdict.
 */
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import { createLogger } from '../../src/logger.js';
import { ModelRegistry } from '../../src/registry/registry.js';
import type { WindowScoredEvent } from '../../src/verdicts/types.js';
import { NatsServer, NEEDS_NATS } from '../helpers/nats-server.js';
import { metricSum, scrape, sendFile, startTestServer } from '../helpers/devox-server.js';
import { EMBEDDING_MODEL, GENUINE_FILE } from '../helpers/fixture-paths.js';
import { readStoredEvents } from '../helpers/events.js';
import { waitFor } from '../helpers/wait.js';
import { modelCopy } from '../helpers/model-copy.js';

t.test('canary judges its share of new streams; shadow scores windows without judging', { skip: NEEDS_NATS }, async (t) => {
  const nats = await NatsServer.start();
  t.teardown(() => nats.close());
  const dirs = {
    wb: modelCopy(EMBEDDING_MODEL, { name: 'wb', version: 'w1' }),
    nb1: modelCopy(EMBEDDING_MODEL, { name: 'nb', version: '1', band: 'narrowband' }),
    canary: modelCopy(EMBEDDING_MODEL, { name: 'nb', version: 'canary', band: 'narrowband', thresholds: { eer: 0.4, suspicious: 0.3, synthetic: 0.6 } }),
    shadow: modelCopy(EMBEDDING_MODEL, { name: 'nb', version: 'shadow', band: 'narrowband' }),
    cache: mkdtempSync(join(tmpdir(), 'devox-cache-')),
  };
  t.teardown(() => Object.values(dirs).forEach((d) => rmSync(d, { recursive: true, force: true })));
  const nc = await connect({ servers: nats.url });
  t.teardown(() => nc.close());
  const registry = await ModelRegistry.open(nc, { objectBucket: 'devox-models', kvBucket: 'devox-serving', subjectPrefix: 'devox', log: createLogger('silent') });
  for (const d of [dirs.canary, dirs.shadow]) await registry.publish(d, { windowSec: 1, by: 'test' });

  const canaryServer = await startTestServer({
    nats: { servers: [nats.url] },
    detect: { modelDir: dirs.wb, narrowbandModelDir: dirs.nb1 },
    registry: { cacheDir: dirs.cache, canary: { version: 'nb@canary', share: 1 } },
  });
  t.teardown(() => canaryServer.close());
  const s1 = await canaryServer.openStream({ codec: 'PCMU', callId: 'canary-call' });
  await sendFile(s1, GENUINE_FILE, { maxSec: 3 });
  canaryServer.releaseStream(s1.streamId);
  await waitFor(async () => (await readStoredEvents(nats.url, 'DEVOX', 'devox.call.canary-call.ended')).length === 1, 15_000, 'canary call ended');
  const w1 = (await readStoredEvents(nats.url, 'DEVOX', 'devox.call.canary-call.window')).map((e) => e.event as WindowScoredEvent);
  t.ok(w1.length >= 5, `${w1.length} windows`);
  t.same([...new Set(w1.map((w) => w.modelVersion))], ['canary'], 'share 1: the canary judged the new stream');
  t.equal(canaryServer.detector.cardFor('narrowband').version, '1', 'the serving version is unchanged');
  t.equal(canaryServer.detector.cardOfVersion('canary')?.thresholds.synthetic, 0.6, "the verdict engine reads the canary's thresholds");

  const shadowServer = await startTestServer({
    nats: { servers: [nats.url] },
    detect: { modelDir: dirs.wb, narrowbandModelDir: dirs.nb1 },
    registry: { cacheDir: dirs.cache, shadow: { version: 'nb@shadow', share: 0.5 } },
  });
  t.teardown(() => shadowServer.close());
  const s2 = await shadowServer.openStream({ codec: 'PCMU', callId: 'shadow-call' });
  await sendFile(s2, GENUINE_FILE, { maxSec: 4 });
  shadowServer.releaseStream(s2.streamId);
  await waitFor(async () => (await readStoredEvents(nats.url, 'DEVOX', 'devox.call.shadow-call.ended')).length === 1, 15_000, 'shadow call ended');
  const w2 = (await readStoredEvents(nats.url, 'DEVOX', 'devox.call.shadow-call.window')).map((e) => e.event as WindowScoredEvent);
  t.same([...new Set(w2.map((w) => w.modelVersion))], ['1'], 'every window judged by the serving version');
  await waitFor(async () => (await readStoredEvents(nats.url, 'DEVOX', 'devox.shadow.shadow-call')).length > 0, 10_000, 'shadow records');
  const sh = (await readStoredEvents(nats.url, 'DEVOX', 'devox.shadow.shadow-call')).map((e) => e.event as unknown as { seq: number; serving: { version: string; score: number }; candidate: { version: string; score: number } });
  const share = sh.length / w2.length;
  t.ok(share > 0.25 && share < 0.75, `a sampled share of the windows was shadowed (${sh.length} of ${w2.length})`);
  for (const r of sh) {
    const w = w2.find((x) => x.windowSeq === r.seq)!;
    if (r.serving.version !== '1' || r.candidate.version !== 'shadow' || Math.abs(r.serving.score - w.score) > 1e-6 || Math.abs(r.candidate.score - w.score) > 1e-6) {
      t.fail(`shadow pair ${JSON.stringify(r)} does not match window ${w.windowSeq} (${w.score})`);
    }
  }
  t.pass('each shadow pair is the same window scored by both (identical graphs: identical scores)');
  const m = await scrape(shadowServer);
  t.equal(metricSum(m, 'devox_shadow_windows_total'), sh.length, 'devox_shadow_windows_total counts them');
});
