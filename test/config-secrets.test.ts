/**
 * Secrets in the config: the control token's loopback rule, tokens and passwords from files
 * (config keys and `<NAME>_FILE` variables), NATS credentials and TLS files checked at load,
 * and every refusal naming the key to fix.
 */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { clientControlToken, ConfigError, isLoopbackHost, loadConfig } from '../src/config.js';

const TOKEN = 'tok-' + '0123456789abcdef'.repeat(2);

function secretsDir(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'devox-secrets-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

t.test('loopback addresses', async (t) => {
  for (const h of ['127.0.0.1', '127.1.2.3', '::1', '[::1]', '0:0:0:0:0:0:0:1', 'localhost', '::ffff:127.0.0.1']) t.ok(isLoopbackHost(h), h);
  for (const h of ['0.0.0.0', '', '::', '10.0.0.5', '203.0.113.10', 'devox.example', '::2', '128.0.0.1']) t.notOk(isLoopbackHost(h), JSON.stringify(h));
});

t.test('a non-loopback HTTP bind without a control token is refused, naming what to set', async (t) => {
  for (const host of ['0.0.0.0', '', '10.1.2.3', '::']) {
    // (an empty variable is unset: '' as a host comes from a config file)
    const err = t.throws(() => loadConfig({ env: {}, overrides: { http: { host } } }), { name: 'ConfigError', key: 'http.controlToken' }) as ConfigError;
    t.match(err.message, /DEVOX_HTTP_CONTROL_TOKEN/);
    t.match(err.message, /127\.0\.0\.1/, 'and the alternative (bind loopback)');
  }
  t.equal(loadConfig({ env: {} }).http.controlToken, '', 'loopback default: no token needed');
  const c = loadConfig({ env: { DEVOX_HTTP_HOST: '0.0.0.0', DEVOX_HTTP_CONTROL_TOKEN: TOKEN } });
  t.equal(c.http.controlToken, TOKEN);
});

t.test('weak tokens are refused', async (t) => {
  t.throws(() => loadConfig({ env: { DEVOX_HTTP_CONTROL_TOKEN: 'short' } }), { name: 'ConfigError', key: 'http.controlToken' });
  t.throws(() => loadConfig({ env: {}, overrides: { http: { metricsToken: 'with space in it 0123456789' } } }), { name: 'ConfigError', key: 'http.metricsToken' });
});

t.test('tokens from files: config keys and <NAME>_FILE variables; both at once is an error', async (t) => {
  const dir = secretsDir(t);
  const file = join(dir, 'token');
  writeFileSync(file, `${TOKEN}\n`);
  t.equal(loadConfig({ env: {}, overrides: { http: { controlTokenFile: file } } }).http.controlToken, TOKEN, 'http.controlTokenFile, trailing newline dropped');
  t.equal(loadConfig({ env: {}, overrides: { http: { metricsTokenFile: file } } }).http.metricsToken, TOKEN, 'http.metricsTokenFile');
  t.equal(loadConfig({ env: { DEVOX_HTTP_CONTROL_TOKEN_FILE: file } }).http.controlToken, TOKEN, 'DEVOX_HTTP_CONTROL_TOKEN_FILE');
  writeFileSync(join(dir, 'pass'), 's3cret-pass');
  writeFileSync(join(dir, 'drachtio'), 'drachtio-secret\n');
  writeFileSync(join(dir, 'ws'), 'tok-a,tok-b\n');
  const c = loadConfig({
    env: { DEVOX_NATS_USER: 'devox', DEVOX_NATS_PASS_FILE: join(dir, 'pass'), DRACHTIO_SECRET_FILE: join(dir, 'drachtio'), DEVOX_WS_TOKENS_FILE: join(dir, 'ws') },
  });
  t.equal(c.nats.pass, 's3cret-pass', 'DEVOX_NATS_PASS_FILE');
  t.equal(c.sip.drachtioSecret, 'drachtio-secret', 'DRACHTIO_SECRET_FILE');
  t.same(c.websocket.tokens, ['tok-a', 'tok-b'], 'DEVOX_WS_TOKENS_FILE is parsed like the variable');

  t.throws(() => loadConfig({ env: { DEVOX_HTTP_CONTROL_TOKEN: TOKEN, DEVOX_HTTP_CONTROL_TOKEN_FILE: file } }), { name: 'ConfigError', key: 'DEVOX_HTTP_CONTROL_TOKEN' });
  t.throws(() => loadConfig({ env: { DEVOX_HTTP_CONTROL_TOKEN: TOKEN }, overrides: { http: { controlTokenFile: file } } }), { name: 'ConfigError', key: 'http.controlTokenFile' });
  const missing = t.throws(() => loadConfig({ env: { DEVOX_NATS_PASS_FILE: join(dir, 'nope') } }), { name: 'ConfigError', key: 'DEVOX_NATS_PASS_FILE' }) as ConfigError;
  t.match(missing.message, /ENOENT/);
  writeFileSync(join(dir, 'empty'), '\n');
  t.throws(() => loadConfig({ env: {}, overrides: { http: { controlTokenFile: join(dir, 'empty') } } }), { name: 'ConfigError', key: 'http.controlTokenFile', message: /empty/ });
  const overrides = { http: { controlTokenFile: file } };
  loadConfig({ env: {}, overrides });
  t.same(overrides, { http: { controlTokenFile: file } }, "the caller's overrides object is not written into");
});

t.test('the client side (devox send) reads the same variables', async (t) => {
  const dir = secretsDir(t);
  writeFileSync(join(dir, 'token'), `${TOKEN}\n`);
  t.equal(clientControlToken({}), undefined);
  t.equal(clientControlToken({ DEVOX_HTTP_CONTROL_TOKEN: TOKEN }), TOKEN);
  t.equal(clientControlToken({ DEVOX_HTTP_CONTROL_TOKEN_FILE: join(dir, 'token') }), TOKEN);
});

t.test('NATS credentials: one method, files checked readable at load, TLS cert and key together', async (t) => {
  const dir = secretsDir(t);
  const seed = join(dir, 'user.nk');
  writeFileSync(seed, 'SUAEXAMPLE\n');
  const c = loadConfig({ env: { DEVOX_NATS_NKEY_SEED_FILE: seed, DEVOX_NATS_TLS_CA_FILE: seed } });
  t.equal(c.nats.nkeySeedFile, seed);
  t.equal(c.nats.tls.caFile, seed);
  t.throws(() => loadConfig({ env: { DEVOX_NATS_CREDS_FILE: join(dir, 'missing.creds') } }), { name: 'ConfigError', key: 'nats.credsFile', message: /ENOENT/ });
  if (process.getuid?.() !== 0) {
    const locked = join(dir, 'locked.pem');
    writeFileSync(locked, 'x');
    chmodSync(locked, 0o000);
    t.throws(() => loadConfig({ env: { DEVOX_NATS_TLS_KEY_FILE: locked, DEVOX_NATS_TLS_CERT_FILE: seed } }), { name: 'ConfigError', key: 'nats.tls.keyFile', message: /EACCES/ });
  }
  t.throws(() => loadConfig({ env: { DEVOX_NATS_USER: 'u', DEVOX_NATS_PASS: 'p', DEVOX_NATS_NKEY_SEED_FILE: seed } }), {
    name: 'ConfigError', message: /one NATS authentication.*nats\.user and nats\.nkeySeedFile/,
  });
  t.throws(() => loadConfig({ env: { DEVOX_NATS_TOKEN: 'tok', DEVOX_NATS_CREDS_FILE: seed } }), { name: 'ConfigError', key: 'nats.credsFile' });
  t.throws(() => loadConfig({ env: { DEVOX_NATS_TLS_CERT_FILE: seed } }), { name: 'ConfigError', key: 'nats.tls.keyFile' });
});

t.test("drachtio's example secret is refused for a drachtio-server on another host", async (t) => {
  const remote = { DEVOX_SIP_ENABLED: 'true', DRACHTIO_HOST: 'drachtio' };
  const err = t.throws(() => loadConfig({ env: remote }), { name: 'ConfigError', key: 'sip.drachtioSecret' }) as ConfigError;
  t.match(err.message, /DRACHTIO_SECRET/);
  t.equal(loadConfig({ env: { ...remote, DRACHTIO_SECRET: 'x'.repeat(24) } }).sip.drachtioSecret, 'x'.repeat(24));
  t.equal(loadConfig({ env: { DEVOX_SIP_ENABLED: 'true' } }).sip.drachtioHost, '127.0.0.1', 'the one-box default (loopback drachtio) still loads');
});
