import t from 'tap';
import { loadConfig, validateConfig, ConfigError, mergeConfig, projectRoot } from '../src/config.js';

t.test('embedded defaults validate and are frozen', async (t) => {
  const c = loadConfig({ env: {} });
  t.equal(c.window.hopMs, 250);
  t.equal(c.window.lengthSec, 1);
  t.same(c.nats.servers, []);
  t.ok(Object.isFrozen(c.media));
  t.throws(() => {
    (c.media as { rtpPortMin: number }).rtpPortMin = 1;
  });
});

t.test('env overrides the deployment knobs', async (t) => {
  const c = loadConfig({
    env: { DEVOX_NATS_SERVERS: 'nats://a:4222, nats://b:4222', DEVOX_HOP_MS: '100', DEVOX_EXECUTION_PROVIDERS: 'cuda,cpu', DEVOX_MAX_STREAMS: '120',
      DEVOX_STREAM_TIMEOUT_MS: '20000' },
  });
  t.equal(c.media.streamTimeoutMs, 20000, 'DEVOX_STREAM_TIMEOUT_MS');
  t.same(c.nats.servers, ['nats://a:4222', 'nats://b:4222']);
  t.equal(c.media.maxStreams, 120, 'DEVOX_MAX_STREAMS');
  t.equal(c.window.hopMs, 100);
  t.same(c.detect.executionProviders, ['cuda', 'cpu']);
});

t.test('bad values name the key', async (t) => {
  t.throws(() => loadConfig({ env: { DEVOX_HOP_MS: 'fast' } }), { name: 'ConfigError', key: 'DEVOX_HOP_MS' });
  t.throws(() => loadConfig({ env: {}, overrides: { window: { hopMs: 5 } } }), { name: 'ConfigError', key: 'window.hopMs' });
  t.throws(() => loadConfig({ env: { DEVOX_MAX_STREAMS: '0' } }), { name: 'ConfigError', key: 'media.maxStreams' });
  t.throws(() => loadConfig({ env: { DEVOX_STREAM_TIMEOUT_MS: '50' } }), { name: 'ConfigError', key: 'media.streamTimeoutMs' });
  t.throws(() => loadConfig({ env: {}, overrides: { media: { rtpPortMin: 50000, rtpPortMax: 40000 } } }), {
    name: 'ConfigError',
    key: 'media.rtpPortMin',
  });
  t.throws(() => loadConfig({ env: {}, overrides: { detect: { executionProviders: ['tpu'] } } }), {
    name: 'ConfigError',
    key: 'detect.executionProviders.0',
  });
  const err = t.throws(() => loadConfig({ env: {}, overrides: { media: { rtpPortMinn: 1 } } })) as ConfigError;
  t.match(err.message, /media.*rtpPortMinn/);
  t.throws(() => loadConfig({ env: { DEVOX_CONFIG: '/nonexistent/devox.json' } }), { name: 'ConfigError' });
});

t.test('a wildcard RTP bind needs an announce address: refused at load, naming both keys', async (t) => {
  for (const bind of ['0.0.0.0', '::', '[::]', '0:0:0:0:0:0:0:0']) {
    const err = t.throws(() => loadConfig({ env: { DEVOX_BIND_ADDRESS: bind } }), { name: 'ConfigError', key: 'media.announceAddress' }) as ConfigError;
    t.match(err.message, /DEVOX_ANNOUNCE_ADDRESS/, `${bind}: the message names the env variable to set`);
    t.match(err.message, /hold/, `${bind}: and says why (c=0.0.0.0 reads as hold)`);
  }
  t.throws(() => loadConfig({ env: { DEVOX_BIND_ADDRESS: '0.0.0.0', DEVOX_ANNOUNCE_ADDRESS: '0.0.0.0' } }), { name: 'ConfigError', key: 'media.announceAddress' },
    'announcing the wildcard itself is refused too');
  const ok = loadConfig({ env: { DEVOX_BIND_ADDRESS: '0.0.0.0', DEVOX_ANNOUNCE_ADDRESS: '203.0.113.10' } });
  t.equal(ok.media.announceAddress, '203.0.113.10', 'wildcard bind with an announce address loads');
  t.equal(loadConfig({ env: { DEVOX_BIND_ADDRESS: '10.1.2.3' } }).media.announceAddress, '', 'a concrete bind needs no announce address');
});

t.test('merge replaces arrays and scalars, keeps siblings', async (t) => {
  t.same(mergeConfig({ a: { b: 1, c: [1, 2] } }, { a: { c: [3] } }), { a: { b: 1, c: [3] } });
  t.throws(() => validateConfig({}), ConfigError);
});

t.test('the embedded default model directory is absolute (found from any working directory); a given one is kept as given', async (t) => {
  const { isAbsolute, resolve } = await import('node:path');
  const c = loadConfig({ env: {} });
  t.ok(isAbsolute(c.detect.modelDir), c.detect.modelDir);
  t.equal(c.detect.modelDir, resolve(projectRoot, 'models/devox-phone'));
  t.equal(loadConfig({ env: { DEVOX_MODEL_DIR: 'my/model' } }).detect.modelDir, 'my/model');
});
