/**
 * Hot swap from the registry on a REAL nats-server: a real DevoxServer (real RTP, real ONNX
 * models) follows promotions between batches while a call streams, with every window of the
 * call scored exactly once (window events read back from JetStream); a corrupt publish, a
 * version with the wrong window length and a NATS outage during a swap each leave it serving.
 */
import t from 'tap';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import { createLogger } from '../../src/logger.js';
import { ModelRegistry } from '../../src/registry/registry.js';
import type { WindowScoredEvent } from '../../src/verdicts/types.js';
import { NatsServer, NEEDS_NATS } from '../helpers/nats-server.js';
import { metricValue, scrape, sendFile, startTestServer } from '../helpers/devox-server.js';
import { EMBEDDING_MODEL, GENUINE_FILE } from '../helpers/fixture-paths.js';
import { readStoredEvents } from '../helpers/events.js';
import { sleep, waitFor } from '../helpers/wait.js';
import { modelCopy } from '../helpers/model-copy.js';

t.test('a serving node follows promotions between batches; bad versions and outages leave it serving', { skip: NEEDS_NATS }, async (t) => {
  const nats = await NatsServer.start();
  t.teardown(() => nats.close());
  const dirs = {
    wb: modelCopy(EMBEDDING_MODEL, { name: 'wb', version: 'w1' }),
    nb0: modelCopy(EMBEDDING_MODEL, { name: 'nb', version: '0', band: 'narrowband' }),
    nb1: modelCopy(EMBEDDING_MODEL, { name: 'nb', version: '1', band: 'narrowband' }),
    nb2: modelCopy(EMBEDDING_MODEL, { name: 'nb', version: '2', band: 'narrowband' }),
    cache: mkdtempSync(join(tmpdir(), 'devox-cache-')),
  };
  t.teardown(() => Object.values(dirs).forEach((d) => rmSync(d, { recursive: true, force: true })));
  const nc = await connect({ servers: nats.url, maxReconnectAttempts: -1, reconnectTimeWait: 200 });
  t.teardown(() => nc.close());
  const registry = await ModelRegistry.open(nc, { objectBucket: 'devox-models', kvBucket: 'devox-serving', subjectPrefix: 'devox', log: createLogger('silent') });
  await registry.publish(dirs.nb1, { windowSec: 1, by: 'test' });
  await registry.publish(dirs.nb2, { windowSec: 1, by: 'test' });
  await registry.promote('nb', '1', 'narrowband', 'test');

  const server = await startTestServer({
    nats: { servers: [nats.url] },
    detect: { modelDir: dirs.wb, narrowbandModelDir: dirs.nb0 },
    registry: { cacheDir: dirs.cache, pollSec: 1 },
  });
  t.teardown(() => server.close());
  t.equal(server.detector.cardFor('narrowband').version, '1', 'start-up serves the promoted version, not the on-disk one');
  t.equal(server.detector.cardFor('wideband').version, 'w1', 'a channel with nothing promoted keeps its on-disk model');

  // A call streams while v2 is promoted: every window scored once, by v1 then v2.
  const stream = await server.openStream({ codec: 'PCMU', callId: 'swap-call' });
  const sending = sendFile(stream, GENUINE_FILE, { maxSec: 6 });
  await sleep(2500);
  const t0 = Date.now();
  await registry.promote('nb', '2', 'narrowband', 'test');
  await waitFor(() => server.detector.cardFor('narrowband').version === '2', 10_000, 'v2 serving');
  const swapMs = Date.now() - t0;
  t.ok(swapMs < 10_000, `swapped in ${swapMs} ms`);
  await sending;
  server.releaseStream(stream.streamId);
  await waitFor(async () => (await readStoredEvents(nats.url, 'DEVOX', 'devox.call.swap-call.ended')).length === 1, 15_000, 'call.ended');
  const windows = (await readStoredEvents(nats.url, 'DEVOX', 'devox.call.swap-call.window')).map((e) => e.event as WindowScoredEvent);
  const seqs = windows.map((w) => w.windowSeq);
  t.ok(windows.length >= 15, `${windows.length} windows scored`);
  t.same(seqs, [...seqs.keys()], 'window seqs 0..n-1: none dropped, none scored twice');
  const versions = windows.map((w) => w.modelVersion);
  const firstV2 = versions.indexOf('2');
  t.ok(firstV2 > 0, 'the call started on v1 and went on with v2');
  t.same(versions.slice(firstV2).filter((v) => v !== '2'), [], 'no window scored by v1 after v2 took over');
  let m = await scrape(server);
  t.equal(metricValue(m, 'devox_windows_shed_total', 'reason="overload"'), 0);
  t.equal(metricValue(m, 'devox_model_info', 'name="nb",version="2",band="narrowband"'), 1, 'devox_model_info names the serving version');

  // A corrupt publish: model.onnx bytes that are not what the card's sha256 says.
  const card2 = JSON.parse(readFileSync(join(dirs.nb2, 'card.json'), 'utf8'));
  const onnx = readFileSync(join(dirs.nb2, 'model.onnx'));
  const bad = Buffer.from(onnx);
  bad.fill(7, 100, 400);
  await registry.objects.put('nb/3/model.onnx', bad);
  await registry.objects.put('nb/3/card.json', Buffer.from(JSON.stringify({ ...card2, version: '3' })));
  await registry.promote('nb', '3', 'narrowband', 'test');
  await waitFor(async () => metricValue(await scrape(server), 'devox_registry_swaps_total', 'channel="narrowband",result="invalid_model"') === 1, 10_000, 'corrupt version refused');
  t.equal(server.detector.cardFor('narrowband').version, '2', 'a corrupt publish leaves v2 serving');

  // A version cut for another window length (2-s windows).
  await registry.objects.put('nb/4/model.onnx', onnx);
  await registry.objects.put('nb/4/card.json', Buffer.from(JSON.stringify({ ...card2, version: '4', input: { ...card2.input, windowSec: 2, sampleRate: 8000 } })));
  await registry.promote('nb', '4', 'narrowband', 'test');
  await waitFor(async () => metricValue(await scrape(server), 'devox_registry_swaps_total', 'channel="narrowband",result="invalid_model"') === 2, 10_000, 'wrong window length refused');
  t.equal(server.detector.cardFor('narrowband').version, '2', 'a wrong window length leaves v2 serving');

  // A NATS outage during a swap: the node keeps serving, then converges when NATS is back.
  await registry.promote('nb', '1', 'narrowband', 'test');
  await nats.stop();
  await sleep(1500);
  t.ok(['1', '2'].includes(server.detector.cardFor('narrowband').version), `serving ${server.detector.cardFor('narrowband').version} during the outage`);
  const during = await server.openStream({ codec: 'PCMU', callId: 'outage-call' });
  await sendFile(during, GENUINE_FILE, { maxSec: 2 });
  await nats.restart();
  await waitFor(() => server.detector.cardFor('narrowband').version === '1', 15_000, 'v1 serving after NATS came back');
  server.releaseStream(during.streamId);
  await waitFor(async () => (await readStoredEvents(nats.url, 'DEVOX', 'devox.call.outage-call.ended')).length === 1, 20_000, 'the outage call ended');
  const outageWindows = await readStoredEvents(nats.url, 'DEVOX', 'devox.call.outage-call.window');
  t.ok(outageWindows.length >= 4, `a call during the outage was scored (${outageWindows.length} windows)`);
  // Seen once on a loaded box: 2 at the first scrape after the outage call ended; wait for it (and fail if it never comes).
  await waitFor(async () => metricValue(await scrape(server), 'devox_registry_swaps_total', 'channel="narrowband",result="ok"') >= 3, 15_000, 'three swaps counted');
  m = await scrape(server);
  t.equal(metricValue(m, 'devox_registry_swaps_total', 'channel="narrowband",result="ok"'), 3, 'v1 at start-up, v2, v1 again: one count per swap');
});
